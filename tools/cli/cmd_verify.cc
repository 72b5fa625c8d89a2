// custdb verify: the full consistency check (Database::check); exit 0 only when clean.
// LMDB's page structure is walked first without opening the database (verify_file), so a
// file LMDB cannot open, or would crash on, is reported page by page (exit 1).
#include "common.h"
#include "custdb/check.h"

namespace custdb::cli {

Command add_verify(CLI::App& app, Globals& g) {
  CLI::App* sub = app.add_subcommand(
      "verify", "Check every record, index entry and aggregate; exit 1 listing any problem");
  return {sub, [&g] {
            Result<CheckReport> result;
            {
              Progress bar("verify");
              ProgressTicker ticker(bar, nullptr);  // check() reports no progress: elapsed time
              if (!db_exists(g)) (void)open_database(g, /*read_only=*/true);  // its usual error
              result = verify_file(db_path(g));
              if (result) {
                // The walk above holds no reader slot: a writer in another process may have
                // reused pages under it. The open walks again (inside a read transaction when
                // only tree pages looked damaged) and check() walks once more under its own;
                // a damaged file fails the open with kCorruption, and the page list above is
                // the report.
                Options o = base_options(g);
                o.read_only = true;
                o.create_if_missing = false;
                o.check_pages = true;
                o.key = load_key(g).key;
                auto db = Database::open(db_path(g), o);
                if (db) result = db->check();
                else if (result->clean() || db.error().code() != ErrorCode::kCorruption)
                  result = tl::unexpected(db.error());
              }
            }
            CheckReport report = must(std::move(result));
            if (g.json) {
              Json problems = Json::array();
              for (const auto& p : report.problems)
                problems.push(Json::object()
                                  .set("kind", to_string(p.kind))
                                  .set("where", p.where)
                                  .set("what", p.what));
              print_json(Json::object()
                             .set("clean", report.clean())
                             .set("customers", report.customers)
                             .set("relationships", report.relationships)
                             .set("transactions", report.transactions)
                             .set("index_entries", report.index_entries)
                             .set("segment_bitmaps", report.segment_bitmaps)
                             .set("problems", std::move(problems)));
            } else {
              std::printf("checked %llu customers, %llu relationships, %llu transactions, "
                          "%llu index entries, %llu segment bitmaps\n",
                          static_cast<unsigned long long>(report.customers),
                          static_cast<unsigned long long>(report.relationships),
                          static_cast<unsigned long long>(report.transactions),
                          static_cast<unsigned long long>(report.index_entries),
                          static_cast<unsigned long long>(report.segment_bitmaps));
              if (report.clean()) {
                std::printf("clean\n");
              } else {
                TextTable table({"kind", "where", "what"});
                for (const auto& p : report.problems) table.add({to_string(p.kind), p.where, p.what});
                table.print();
              }
            }
            if (!report.clean()) {
              warn(std::to_string(report.problems.size()) + " problem" +
                   (report.problems.size() == 1 ? "" : "s") + " found");
              return kExitFailure;
            }
            return kExitOk;
          }};
}

}  // namespace custdb::cli
