// custdb stats: sizes of every table and index, and the database's parameters.
#include <algorithm>

#include "common.h"

namespace custdb::cli {

Command add_stats(CLI::App& app, Globals& g) {
  CLI::App* sub = app.add_subcommand(
      "stats", "Entries, pages and bytes per table and index; file, map and format information");
  return {sub, [&g] {
            // The reader table first, read without a reader slot: when the table is full this is
            // what explains why everything else fails, and it is shown before that failure.
            auto readers = must(Database::reader_table(db_path(g)));
            auto reader_json = [&] {
              Json slots = Json::array();
              for (const auto& r : readers.slots)
                slots.push(Json::object()
                               .set("pid", r.pid)
                               .set("thread", r.thread)
                               .set("snapshot", r.snapshot ? Json(r.snapshot) : Json()));
              return Json::object()
                  .set("max_readers", readers.max_readers)
                  .set("in_use", static_cast<unsigned long>(readers.slots.size()))
                  .set("stale_cleared", readers.stale)
                  .set("slots", std::move(slots));
            };
            auto reader_pairs = [&] {
              std::vector<long> pids;
              for (const auto& r : readers.slots)
                if (std::find(pids.begin(), pids.end(), r.pid) == pids.end()) pids.push_back(r.pid);
              std::vector<std::string> shown;
              for (std::size_t i = 0; i < pids.size() && i < 20; ++i) shown.push_back(std::to_string(pids[i]));
              if (pids.size() > 20) shown.push_back("... (" + std::to_string(pids.size()) + " processes)");
              return std::vector<std::pair<std::string, std::string>>{
                  {"readers", std::to_string(readers.slots.size()) + " in use of " +
                                  std::to_string(readers.max_readers) + ", " +
                                  std::to_string(readers.stale) + " stale cleared"},
                  {"reader pids", shown.empty() ? "-" : join(shown, " ")}};
            };
            auto opened = [&]() -> Result<Database> {
              Options o = base_options(g);
              o.read_only = true;
              o.create_if_missing = false;
              o.key = load_key(g).key;
              auto db = Database::open(db_path(g), o);
              if (!db && o.key && load_key(g).from_env &&
                  db.error().code() == ErrorCode::kInvalidArgument) {
                o.key = nullptr;
                db = Database::open(db_path(g), o);
              }
              return db;
            }();
            if (!opened && opened.error().code() == ErrorCode::kBusy) {
              // The reader table is full: say so, with what holds it, then fail.
              if (g.json) print_json(Json::object().set("path", db_path(g).string()).set("readers", reader_json()));
              else print_pairs(reader_pairs());
              die(opened.error());
            }
            Database db = must(std::move(opened));
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
                             .set("phone_region", info.phone_region)
                             .set("phones_not_e164", static_cast<std::uint64_t>(info.phones_not_e164))
                             .set("format_version", info.format_version)
                             .set("role", std::string(to_string(info.role)))
                             .set("file_size", info.file_size)
                             .set("map_size", info.map_size)
                             .set("page_size", info.page_size)
                             .set("readers_in_use", static_cast<unsigned long>(readers.slots.size()))
                             .set("max_readers", info.max_readers)
                             .set("readers", reader_json())
                             .set("customers", counts.customers)
                             .set("relationships", counts.relationships)
                             .set("transactions", counts.transactions)
                             .set("holdings", counts.holdings)
                             .set("tables", std::move(arr)));
              return kExitOk;
            }
            std::vector<std::pair<std::string, std::string>> pairs = {
                {"path", info.path.string()},
                {"storage mode", info.encrypted ? "encrypted" : "plaintext"},
                {"base currency", info.base_currency},
                {"phone region", info.phone_region.empty() ? "none" : info.phone_region},
                {"phones not E.164", std::to_string(info.phones_not_e164)},
                {"format version", std::to_string(info.format_version)},
                {"key role", std::string(to_string(info.role))},
                {"file size", human_bytes(info.file_size) + " (" + std::to_string(info.file_size) + " bytes)"},
                {"map size", human_bytes(info.map_size)},
                {"page size", std::to_string(info.page_size) + " bytes"},
            };
            for (auto& p : reader_pairs()) pairs.push_back(std::move(p));
            pairs.push_back({"records", std::to_string(counts.customers) + " customers, " +
                                            std::to_string(counts.relationships) + " relationships, " +
                                            std::to_string(counts.transactions) + " transactions, " +
                                            std::to_string(counts.holdings) + " holdings"});
            print_pairs(pairs);
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
