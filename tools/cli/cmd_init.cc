// custdb init [--encrypt] [--currency CUR] [--phone-region CC]: create a new, empty database.
// --phone-region is the global option (main.cc): init records it.
#include "common.h"

namespace custdb::cli {

Command add_init(CLI::App& app, Globals& g) {
  struct Opts {
    bool encrypt = false;
    std::string currency = "USD";
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("init", "Create a new database (refuses an existing one)");
  sub->add_flag("--encrypt", o->encrypt,
                "Encrypt at rest, under CUSTDB_PASSPHRASE, --passphrase-file or --key-file");
  sub->add_option("--currency", o->currency, "Base currency (ISO 4217) of customers' totals")
      ->capture_default_str();
  return {sub, [&g, o] {
            Database db = create_database(g, o->encrypt, o->currency, /*error_if_exists=*/true);
            DatabaseInfo info = db.info();
            if (g.json) {
              print_json(Json::object()
                             .set("path", info.path.string())
                             .set("encrypted", info.encrypted)
                             .set("base_currency", info.base_currency)
                             .set("phone_region", info.phone_region)
                             .set("format_version", info.format_version));
            } else {
              std::printf("created %s (%s, base currency %s, phone region %s)\n", info.path.c_str(),
                          info.encrypted ? "encrypted" : "plaintext", info.base_currency.c_str(),
                          info.phone_region.empty() ? "none" : info.phone_region.c_str());
            }
            return kExitOk;
          }};
}

}  // namespace custdb::cli
