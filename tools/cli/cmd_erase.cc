// custdb erase ID... [--keep-ledger]: erase customers unrecoverably (Database::erase_customers:
// the erasures, recorded in the erasure journal and the audit trail, then a scrub of data.mdb).
// custdb erase --journal: list the erasure journal.
#include <chrono>
#include <cinttypes>

#include "common.h"

namespace custdb::cli {

Json scrub_json(const ScrubReport& r) {
  return Json::object()
      .set("complete", r.complete)
      .set("free_pages_zeroed", r.free_pages_zeroed)
      .set("free_pages_pinned", r.free_pages_pinned)
      .set("slack_bytes_zeroed", r.slack_bytes_zeroed)
      .set("tables_rebuilt", r.tables_rebuilt)
      .set("file_bytes", r.file_bytes);
}

void print_scrub(const ScrubReport& r) {
  std::printf("scrub: %" PRIu64 " free pages zeroed, %" PRIu64
              " unused bytes of live pages zeroed, %" PRIu64 " tables rebuilt (%s scanned)\n",
              r.free_pages_zeroed, r.slack_bytes_zeroed, r.tables_rebuilt,
              human_bytes(r.file_bytes).c_str());
  if (!r.complete)
    std::printf("scrub incomplete: %" PRIu64
                " free pages are still readable by a live reader that began before the "
                "erasure; run `custdb scrub` once it has ended\n",
                r.free_pages_pinned);
}

Command add_erase(CLI::App& app, Globals& g) {
  struct Opts {
    std::vector<std::string> ids;  // parsed strictly (parse_customer_id_arg)
    bool keep_ledger = false;
    bool journal = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "erase", "Erase customers unrecoverably (ID...; --keep-ledger keeps the transactions)");
  sub->add_option("ids", o->ids, "Customer ids (decimal)");
  sub->add_flag("--keep-ledger", o->keep_ledger,
                "Remove the personal fields and memos, keep the customer's id, aggregates and "
                "transactions (the customer is marked anonymized)");
  sub->add_flag("--journal", o->journal, "List the erasure journal instead (ids and dates)");
  return {sub, [&g, o] {
            if (o->journal) {
              if (!o->ids.empty()) die_usage("erase --journal takes no ids");
              Database db = open_database(g, /*read_only=*/true);
              auto txn = must(db.begin_read());
              auto entries = must(txn.erasure_journal());
              if (g.json) {
                Json arr = Json::array();
                for (const auto& e : entries)
                  arr.push(Json::object()
                               .set("seq", e.seq)
                               .set("customer", e.customer)
                               .set("mode", std::string(to_string(e.mode)))
                               .set("at", format_timestamp(e.at)));
                print_json(std::move(arr));
              } else {
                for (const auto& e : entries)
                  std::printf("%" PRIu64 "  customer %" PRIu64 "  %s  %s\n", e.seq, e.customer,
                              std::string(to_string(e.mode)).c_str(),
                              format_timestamp(e.at).c_str());
                if (entries.empty()) std::printf("no erasures recorded\n");
              }
              return kExitOk;
            }
            if (o->ids.empty()) die_usage("erase: give at least one customer id");
            // Every id checked before the database is opened: a bad one erases nothing.
            std::vector<CustomerId> ids;
            for (const auto& text : o->ids) ids.push_back(parse_customer_id_arg("erase", text));
            Database db = open_database(g, /*read_only=*/false);
            const EraseMode mode = o->keep_ledger ? EraseMode::kKeepLedger : EraseMode::kFull;
            const auto t0 = std::chrono::steady_clock::now();
            ErasureReport r = must(db.erase_customers(ids, mode));
            const double secs =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            if (g.json) {
              print_json(Json::object()
                             .set("mode", std::string(to_string(mode)))
                             .set("erased", r.erased)
                             .set("not_found", r.not_found)
                             .set("transactions_removed", r.transactions_removed)
                             .set("relationships_removed", r.relationships_removed)
                             .set("seconds", secs)
                             .set("scrub", scrub_json(r.scrub)));
            } else {
              std::printf("erased %" PRIu64 " customer%s (%s)", r.erased, r.erased == 1 ? "" : "s",
                          o->keep_ledger ? "personal fields removed, ledger kept" : "full");
              if (r.not_found)
                std::printf("; %" PRIu64 " id%s had nothing to erase", r.not_found,
                            r.not_found == 1 ? "" : "s");
              std::printf("; %" PRIu64 " transactions and %" PRIu64
                          " relationships removed (%.2f s with the scrub)\n",
                          r.transactions_removed, r.relationships_removed, secs);
              print_scrub(r.scrub);
            }
            return kExitOk;
          }};
}

}  // namespace custdb::cli
