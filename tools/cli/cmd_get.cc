// custdb get ID: one customer with its aggregates.
#include "common.h"

namespace custdb::cli {

Command add_get(CLI::App& app, Globals& g) {
  auto id_text = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand("get", "Show one customer with its aggregates");
  sub->add_option("id", *id_text, "Customer id (decimal)")->required();
  return {sub, [&g, id_text] {
            const auto id = std::make_shared<CustomerId>(parse_customer_id_arg("get", *id_text));
            // With --reveal: recorded in the audit trail before anything is shown.
            Database db = open_database_recorded(g, /*record=*/false, /*read_only=*/true);
            const std::string currency = db.info().base_currency;
            auto txn = must(db.begin_read());
            auto c = must(txn.get_customer(*id));
            const Schema schema = must(txn.schema());
            if (g.reveal)
              record_access(db, g, "get --reveal", {*id}, c ? 1 : 0, c ? "" : "no such customer");
            if (!c) die_failure("no customer " + std::to_string(*id));
            if (g.json) print_json(customer_json(g, *c, currency, &schema));
            else print_customer(g, *c, currency, &schema);
            return kExitOk;
          }};
}

}  // namespace custdb::cli
