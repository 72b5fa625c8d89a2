// custdb get ID: one customer with its aggregates.
#include "common.h"

namespace custdb::cli {

Command add_get(CLI::App& app, Globals& g) {
  auto id = std::make_shared<CustomerId>(0);
  CLI::App* sub = app.add_subcommand("get", "Show one customer with its aggregates");
  sub->add_option("id", *id, "Customer id")->required();
  return {sub, [&g, id] {
            Database db = open_database(g, /*read_only=*/true);
            const std::string currency = db.info().base_currency;
            auto c = must(db.get_customer(*id));
            if (!c) die_failure("no customer " + std::to_string(*id));
            if (g.json) print_json(customer_json(g, *c, currency));
            else print_customer(g, *c, currency);
            return kExitOk;
          }};
}

}  // namespace custdb::cli
