// custdb restore BACKUP [--without-journal]: replace the database with a backup (written by
// custdb backup) and re-apply every erasure the replaced database recorded after the backup
// was taken (restore_backup, custdb/database.h).
#include "common.h"

namespace custdb::cli {

Command add_restore(CLI::App& app, Globals& g) {
  struct Opts {
    std::string backup;
    bool without_journal = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("restore", "Replace the database with a backup and re-apply later erasures");
  sub->add_option("backup", o->backup, "Directory of the backup (holding its data.mdb)")->required();
  sub->add_flag("--without-journal", o->without_journal,
                "Restore even when the replaced database's erasure journal cannot be read (or "
                "there is no database): erasures recorded after the backup are NOT re-applied");
  return {sub, [&g, o] {
            Options opts = base_options(g);
            opts.key = load_key(g).key;
            auto r = restore_backup(o->backup, db_path(g), opts, o->without_journal);
            if (!r && r.error().code() == ErrorCode::kBusy)
              die(r.error().with_context("cannot restore while another process has the database open"));
            RestoreReport report = must(std::move(r));
            if (g.json) {
              print_json(Json::object()
                             .set("backup", o->backup)
                             .set("erasures_reapplied", report.erasures_reapplied)
                             .set("customers", report.customers)
                             .set("without_journal", o->without_journal)
                             .set("scrub", Json::object()
                                               .set("complete", report.scrub.complete)
                                               .set("free_pages_zeroed", report.scrub.free_pages_zeroed)
                                               .set("slack_bytes_zeroed", report.scrub.slack_bytes_zeroed)));
              return kExitOk;
            }
            std::printf("restored %s: %llu customers, %llu erasure%s re-applied%s\n", o->backup.c_str(),
                        static_cast<unsigned long long>(report.customers),
                        static_cast<unsigned long long>(report.erasures_reapplied),
                        report.erasures_reapplied == 1 ? "" : "s",
                        o->without_journal ? " (--without-journal: the replaced journal was not read)" : "");
            if (!report.scrub.complete) warn("scrub incomplete: run 'custdb scrub'");
            return kExitOk;
          }};
}

}  // namespace custdb::cli
