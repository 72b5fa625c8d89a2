// custdb stats: sizes of every table and index, and the database's parameters.
#include "common.h"

namespace custdb::cli {

Command add_stats(CLI::App& app, Globals& g) {
  CLI::App* sub = app.add_subcommand(
      "stats", "Entries, pages and bytes per table and index; file, map and format information");
  return {sub, [&g] {
            Database db = open_database(g, /*read_only=*/true);
            const DatabaseInfo info = db.info();
            auto tables = must(db.stats());
            auto counts = must(must(db.begin_read()).counts());
            if (g.json) {
              Json arr = Json::array();
              for (const auto& t : tables)
                arr.push(Json::object()
                             .set("name", t.name)
                             .set("entries", t.entries)
                             .set("pages", t.pages)
                             .set("bytes", t.pages * info.page_size)
                             .set("depth", t.depth));
              print_json(Json::object()
                             .set("path", info.path.string())
                             .set("storage_mode", info.encrypted ? "encrypted" : "plaintext")
                             .set("base_currency", info.base_currency)
                             .set("format_version", info.format_version)
                             .set("file_size", info.file_size)
                             .set("map_size", info.map_size)
                             .set("page_size", info.page_size)
                             .set("readers_in_use", info.readers_in_use)
                             .set("max_readers", info.max_readers)
                             .set("customers", counts.customers)
                             .set("relationships", counts.relationships)
                             .set("transactions", counts.transactions)
                             .set("tables", std::move(arr)));
              return kExitOk;
            }
            print_pairs({
                {"path", info.path.string()},
                {"storage mode", info.encrypted ? "encrypted" : "plaintext"},
                {"base currency", info.base_currency},
                {"format version", std::to_string(info.format_version)},
                {"file size", human_bytes(info.file_size) + " (" + std::to_string(info.file_size) + " bytes)"},
                {"map size", human_bytes(info.map_size)},
                {"page size", std::to_string(info.page_size) + " bytes"},
                {"readers", std::to_string(info.readers_in_use) + " in use of " + std::to_string(info.max_readers)},
                {"records", std::to_string(counts.customers) + " customers, " +
                                std::to_string(counts.relationships) + " relationships, " +
                                std::to_string(counts.transactions) + " transactions"},
            });
            std::printf("\n");
            TextTable table({"table", "entries", "pages", "bytes", "depth"}, {1, 2, 3, 4});
            for (const auto& t : tables)
              table.add({t.name, std::to_string(t.entries), std::to_string(t.pages),
                         human_bytes(t.pages * info.page_size), std::to_string(t.depth)});
            table.print();
            return kExitOk;
          }};
}

}  // namespace custdb::cli
