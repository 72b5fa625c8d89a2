// custdb rekey [--rotate-data-key]: wrap the data key under a new passphrase or key
// (Database::change_key), and/or re-encrypt everything under a new data key
// (rotate_data_key); --add-analyst-key / --revoke-analyst-keys manage analyst keys
// (Database::add_analyst_key, revoke_analyst_keys).
#include "common.h"

namespace custdb::cli {

Command add_rekey(CLI::App& app, Globals& g) {
  struct Opts {
    std::string new_passphrase_file, new_key_file;
    bool rotate = false;
    bool add_analyst = false, revoke_analysts = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "rekey", "Change the passphrase or key (instant); --rotate-data-key re-encrypts all data");
  auto* npf = sub->add_option("--new-passphrase-file", o->new_passphrase_file,
                              "File holding the new passphrase (or set CUSTDB_NEW_PASSPHRASE)");
  auto* nkf = sub->add_option("--new-key-file", o->new_key_file,
                              "File holding the new raw 32-byte key (or 64 hex digits)");
  npf->excludes(nkf);
  auto* add = sub->add_flag("--add-analyst-key", o->add_analyst,
                            "Make the new secret (--new-passphrase-file or --new-key-file) an "
                            "analyst key: it opens the database for segments, reports and "
                            "analytics but cannot decrypt personal fields");
  auto* revoke = sub->add_flag("--revoke-analyst-keys", o->revoke_analysts,
                               "Remove every analyst key (nothing is re-encrypted)");
  add->excludes(revoke);
  sub->add_flag("--rotate-data-key", o->rotate,
                "Re-encrypt every record under a new random data key (needs the database to "
                "itself)");
  return {sub, [&g, o] {
            if (o->add_analyst || o->revoke_analysts) {
              if (o->rotate)
                die_usage("--add-analyst-key and --revoke-analyst-keys do not combine with "
                          "--rotate-data-key (a rotation drops analyst keys anyway)");
              std::shared_ptr<const KeyMaterial> analyst;
              if (o->add_analyst) {
                analyst = load_new_key(o->new_passphrase_file, o->new_key_file);
                if (!analyst)
                  die_usage("--add-analyst-key needs the analyst's secret: "
                            "--new-passphrase-file F or --new-key-file F");
              }
              std::shared_ptr<const KeyMaterial> secret = load_key(g).key;
              if (!secret)
                die(Error(ErrorCode::kAuthentication,
                          "rekey needs the owner's secret: set CUSTDB_PASSPHRASE, or give "
                          "--passphrase-file or --key-file"));
              Options opts = base_options(g);
              opts.create_if_missing = false;
              opts.key = secret;
              Database db = must(Database::open(db_path(g), opts));
              std::uint64_t revoked = 0;
              if (analyst) must(db.add_analyst_key(*analyst));
              else revoked = must(db.revoke_analyst_keys());
              if (g.json)
                print_json(o->add_analyst ? Json::object().set("added_analyst_key", true)
                                          : Json::object().set("revoked_analyst_keys", revoked));
              else if (o->add_analyst)
                std::printf("analyst key added\n");
              else
                std::printf("%llu analyst key(s) revoked\n",
                            static_cast<unsigned long long>(revoked));
              return kExitOk;
            }
            auto new_key = load_new_key(o->new_passphrase_file, o->new_key_file);
            if (!new_key && !o->rotate)
              die_usage("rekey needs a new secret: set CUSTDB_NEW_PASSPHRASE, or give "
                        "--new-passphrase-file or --new-key-file (or use --rotate-data-key)");
            std::shared_ptr<const KeyMaterial> secret = load_key(g).key;
            if (!secret)
              die(Error(ErrorCode::kAuthentication,
                        "rekey needs the current secret: set CUSTDB_PASSPHRASE, or give "
                        "--passphrase-file or --key-file"));
            {
              Options opts = base_options(g);
              opts.create_if_missing = false;
              opts.key = secret;
              Database db = must(Database::open(db_path(g), opts));
              if (new_key) {
                must(db.change_key(*new_key));
                secret = new_key;
              }
            }  // closed: rotation needs the database to itself
            if (o->rotate) {
              Options opts = base_options(g);
              opts.create_if_missing = false;
              opts.key = secret;
              Progress bar("rotate");
              Status s = rotate_data_key(db_path(g), opts, [&](const RotationProgress& p) {
                bar.set_label("rotate " + p.table + (p.resumed ? " (resumed)" : ""));
                bar.set_total(p.total);
                bar.update(p.done);
              });
              bar.finish();
              if (!s && s.error().code() == ErrorCode::kBusy)
                die(s.error().with_context("cannot rotate while another process has the database "
                                           "open"));
              must(s);
            }
            const char* what = new_key && o->rotate ? "new secret set and data key rotated"
                               : new_key            ? "new secret set"
                                                    : "data key rotated";
            if (g.json)
              print_json(Json::object().set("changed_key", new_key != nullptr).set("rotated_data_key", o->rotate));
            else
              std::printf("%s\n", what);
            return kExitOk;
          }};
}

}  // namespace custdb::cli
