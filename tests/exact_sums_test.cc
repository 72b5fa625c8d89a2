// Sums never wrap (issue 12, point 9): every aggregate over several customers or transactions
// is exact in 128 bits (AmountSum), however close each customer's total is to the int64 limit.
#include <boost/test/unit_test.hpp>

#include "custdb/money.h"
#include "program.h"
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;

namespace {

// 89,999,999,999,999,910.00 USD in cents: within a customer's int64 total, but two of them
// are not within one int64.
constexpr std::int64_t kNearLimit = 8'999'999'999'999'991'000;
const std::string kTwiceText = "179999999999999820.00";  // (a wrapped int64: -4.47e17)

// Customers 1 and 2 (both gold), each with transactions summing to kNearLimit (each amount at
// most kMaxAmount), and customer 3 (gold) with a small negative total.
void populate(Database& db) {
  auto w = must(db.begin_write());
  for (int i = 1; i <= 3; ++i) {
    Customer c = sample_customer(i);
    c.tier = Tier::kGold;
    must(w.insert_customer(c));
  }
  for (CustomerId id : {CustomerId{1}, CustomerId{2}}) {
    std::int64_t left = kNearLimit;
    int n = 0;
    while (left > 0) {
      const std::int64_t amount = std::min(left, kMaxAmount);
      Transaction t = sample_txn(id, amount, "2024-03-01T10:00:00Z");
      t.ts += std::chrono::seconds(n++);
      must(w.add_transaction(t));
      left -= amount;
    }
  }
  must(w.add_transaction(sample_txn(3, -5000, "2024-03-01T10:00:00Z")));
  must(w.commit());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(exact_sums)

BOOST_AUTO_TEST_CASE(format_amount_prints_any_sum) {
  const AmountSum twice = AmountSum{kNearLimit} * 2;
  BOOST_TEST(format_amount(twice, "USD") == kTwiceText);
  BOOST_TEST(format_amount(-twice, "USD") == "-" + kTwiceText);
  BOOST_TEST(format_amount(INT64_MIN, "JPY") == "-9223372036854775808");
  BOOST_TEST(format_amount(5, "USD") == "0.05");
  BOOST_TEST(format_amount(-5, "BHD") == "-0.005");
  const AmountSum most = -(AmountSum{1} << 126);  // 2^63 customers of -2^63
  BOOST_TEST(format_amount(most, "JPY") == "-85070591730234615865843651857942052864");
}

BOOST_AUTO_TEST_CASE(group_sums_and_report_are_exact) {
  TempDir dir;
  {
    Database db = open_db(Mode::kPlain, dir / "db");
    populate(db);
    auto rows = must(must(db.begin_read()).group_all(GroupBy::kTier));
    BOOST_TEST_REQUIRE(rows.size() == 1u);
    BOOST_TEST(rows[0].group == "gold");
    BOOST_TEST(rows[0].customers == 3u);
    BOOST_TEST((rows[0].total_amount_sum == AmountSum{kNearLimit} * 2 - 5000));
    BOOST_TEST(rows[0].total_amount_max == kNearLimit);
    BOOST_TEST(rows[0].total_amount_min == -5000);
    BOOST_TEST(rows[0].total_amount_avg > 5.9e18);
    // check() recomputes each customer's total from its transactions: still clean.
    require_clean(db);
  }
  // The CLI's report, table and JSON: the exact total, never a negative one.
  ProgramResult r = run_cli({"report", "--db", (dir / "db").string()});
  BOOST_TEST_REQUIRE(r.code == 0, r.describe());
  // The gold row and the (all) row (summed by the CLI across groups) both show it.
  const auto all = r.out.find("(all)");
  BOOST_TEST_REQUIRE(all != std::string::npos, r.out);
  BOOST_TEST(r.out.find("179999999999999770.00") < all, r.out);
  BOOST_TEST(r.out.substr(all, r.out.find('\n', all) - all).find("179999999999999770.00") != std::string::npos,
             r.out);
  r = run_cli({"report", "--json", "--db", (dir / "db").string()});
  BOOST_TEST_REQUIRE(r.code == 0, r.describe());
  const bool in_json = r.out.find("\"total_amount_sum\": \"179999999999999770.00\"") != std::string::npos ||
                       r.out.find("\"total_amount_sum\":\"179999999999999770.00\"") != std::string::npos;
  BOOST_TEST(in_json, r.out);
}

BOOST_AUTO_TEST_SUITE_END()
