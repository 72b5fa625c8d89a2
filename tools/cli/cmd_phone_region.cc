// custdb phone-region [CC]: print the database's phone region, or set (change) it.
// Setting opens the database read-write with Options::phone_region = CC: the file records it,
// and phones a format-3 upgrade kept in national form are read again in it.
#include "common.h"

namespace custdb::cli {

Command add_phone_region(CLI::App& app, Globals& g) {
  auto region = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand(
      "phone-region", "Print the region national phone forms are read in, or set it (CC)");
  sub->add_option("region", *region, "ISO 3166-1 alpha-2 code, e.g. SE");
  return {sub, [&g, region] {
            if (!region->empty()) g.phone_region = *region;
            Database db = open_database(g, /*read_only=*/region->empty());
            DatabaseInfo info = db.info();
            if (g.json) {
              print_json(Json::object()
                             .set("phone_region", info.phone_region)
                             .set("phones_not_e164", static_cast<std::uint64_t>(info.phones_not_e164)));
            } else {
              std::printf("phone region %s", info.phone_region.empty() ? "none" : info.phone_region.c_str());
              if (info.phones_not_e164)
                std::printf(" (%zu stored phones are not E.164: set a region to convert them)",
                            info.phones_not_e164);
              std::printf("\n");
            }
            return kExitOk;
          }};
}

}  // namespace custdb::cli
