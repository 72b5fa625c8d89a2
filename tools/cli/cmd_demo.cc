// custdb demo [--customers N] [--txns-per-customer T] [--seed S] [--encrypt]: create (if missing) and fill a synthetic
// customer base (tools/common/demo.h).
#include "common.h"
#include "demo.h"

namespace custdb::cli {

Command add_demo(CLI::App& app, Globals& g) {
  struct Opts {
    std::uint64_t customers = 10000;
    std::uint64_t seed = 42;
    int txns = 0;
    bool encrypt = false;
    std::string currency = "USD";
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "demo", "Create (if missing) and fill a database with synthetic customers, relationships "
              "and two years of transactions");
  sub->add_option("--customers", o->customers, "Customers to add")->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100'000'000}));
  sub->add_option("--txns-per-customer", o->txns,
                  "Transactions per customer (default: 5 to 10, drawn per customer)")
      ->check(CLI::Range(0, 1000));
  sub->add_option("--seed", o->seed, "Random seed (same seed, same data)")->capture_default_str();
  sub->add_flag("--encrypt", o->encrypt, "Create the database encrypted (when it does not exist)");
  sub->add_option("--currency", o->currency, "Base currency when the database is created")
      ->capture_default_str();
  return {sub, [&g, o] {
            Database db = db_exists(g) ? open_database(g, /*read_only=*/false)
                                       : create_database(g, o->encrypt, o->currency, false);
            {
              Progress bar("demo", o->customers);
              must(synthetic::populate_demo(db, o->customers, o->seed,
                                            [&](std::uint64_t done, std::uint64_t) {
                                              bar.update(done);
                                            },
                                            o->txns));
            }
            auto txn = must(db.begin_read());
            TableCounts c = must(txn.counts());
            if (g.json) {
              print_json(Json::object()
                             .set("added_customers", o->customers)
                             .set("customers", c.customers)
                             .set("relationships", c.relationships)
                             .set("transactions", c.transactions));
            } else {
              std::printf("added %llu demo customers; the database now holds %llu customers, "
                          "%llu relationships, %llu transactions\n",
                          static_cast<unsigned long long>(o->customers),
                          static_cast<unsigned long long>(c.customers),
                          static_cast<unsigned long long>(c.relationships),
                          static_cast<unsigned long long>(c.transactions));
            }
            return kExitOk;
          }};
}

}  // namespace custdb::cli
