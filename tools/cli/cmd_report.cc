// custdb report [--by tier|region|stage|type]: grouped aggregates over every customer.
#include <cmath>

#include "common.h"

namespace custdb::cli {

Command add_report(CLI::App& app, Globals& g) {
  auto by = std::make_shared<std::string>("tier");
  CLI::App* sub = app.add_subcommand(
      "report", "Customers, totals (sum/min/max/avg) and transaction counts per group");
  sub->add_option("--by", *by, "tier, region, stage or type")->capture_default_str()
      ->check(CLI::IsMember({"tier", "region", "stage", "type"}));
  return {sub, [&g, by] {
            const GroupBy group = *by == "tier"     ? GroupBy::kTier
                                  : *by == "region" ? GroupBy::kRegion
                                  : *by == "stage"  ? GroupBy::kStage
                                                    : GroupBy::kType;
            Database db = open_database(g, /*read_only=*/true);
            const std::string currency = db.info().base_currency;
            auto txn = must(db.begin_read());
            auto rows = must(txn.group_all(group));
            // The average, rounded to the currency's minor unit.
            auto avg = [&](const GroupRow& r) {
              return format_amount(static_cast<std::int64_t>(std::llround(r.total_amount_avg)), currency);
            };
            if (g.json) {
              Json arr = Json::array();
              for (const GroupRow& r : rows)
                arr.push(Json::object()
                             .set(*by, r.group)
                             .set("customers", r.customers)
                             .set("total_amount_sum", format_amount(r.total_amount_sum, currency))
                             .set("total_amount_min", format_amount(r.total_amount_min, currency))
                             .set("total_amount_max", format_amount(r.total_amount_max, currency))
                             .set("total_amount_avg", avg(r))
                             .set("txn_count", r.txn_count_sum));
              print_json(Json::object().set("by", *by).set("currency", currency).set("groups", std::move(arr)));
              return kExitOk;
            }
            TextTable table({*by, "customers", "total_sum", "total_min", "total_max", "total_avg",
                             "txn_count"},
                            {1, 2, 3, 4, 5, 6});
            std::uint64_t customers = 0, txns = 0;
            AmountSum sum = 0;  // exact: never wraps (see custdb/types.h)
            for (const GroupRow& r : rows) {
              customers += r.customers;
              txns += r.txn_count_sum;
              sum += r.total_amount_sum;
              table.add({r.group.empty() ? "(none)" : r.group, std::to_string(r.customers),
                         format_amount(r.total_amount_sum, currency),
                         format_amount(r.total_amount_min, currency),
                         format_amount(r.total_amount_max, currency), avg(r),
                         std::to_string(r.txn_count_sum)});
            }
            table.add({"(all)", std::to_string(customers), format_amount(sum, currency), "", "",
                       "", std::to_string(txns)});
            table.print();
            std::printf("amounts in %s\n", currency.c_str());
            return kExitOk;
          }};
}

}  // namespace custdb::cli
