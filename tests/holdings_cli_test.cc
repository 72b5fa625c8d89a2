// The CLI's holdings commands (issue #18), driven as a subprocess: import holdings and
// balances, export holdings (masked unless --reveal), `custdb holdings`, `get` with the
// holdings aggregates, `segment --top --by aum`, `report --by tier --measure aum`,
// `report --by holds`, and the usage errors of the new options.
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <fstream>
#include <sstream>

#include "program.h"
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;

namespace {

ProgramResult expect_cli(int code, const std::vector<std::string>& args) {
  ProgramResult o = run_cli(args);
  BOOST_TEST_REQUIRE(o.code == code, "custdb " << args.front() << ": " << o);
  return o;
}

boost::property_tree::ptree json_of(const std::string& text) {
  boost::property_tree::ptree pt;
  std::istringstream in(text);
  try {
    boost::property_tree::read_json(in, pt);
  } catch (const std::exception& e) {
    BOOST_FAIL("not JSON (" << e.what() << "):\n" << text);
  }
  return pt;
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

// A database with three customers and five holdings (customer 1: savings 1500.25 + fund
// 600000.00 + mortgage; customer 2: card + closed custom; customer 3: none).
std::string make_db(const TempDir& dir) {
  const std::string db = (dir / "db").string();
  expect_cli(0, {"init", "--db", db});
  write_file(dir / "c.csv",
             "id,name,tier\n1,Anna Meyer,gold\n2,Ben Okafor,silver\n3,Chloe Rossi,gold\n");
  expect_cli(0, {"import", "customers", (dir / "c.csv").string(), "--db", db});
  write_file(dir / "h.csv",
             "id,customer_id,product_type,product_code,account_ref,currency,balance,"
             "base_balance,credit_limit,opened_on,closed_on,status\n"
             "1,1,savings,GOLD-SAVER,SE4550000000058398257466,USD,1500.25,,,2020-01-15,,active\n"
             "2,1,wealth,FUND-A,,USD,600000.00,,,2019-01-01,,active\n"
             "3,1,mortgage,HOME-30,MORT-0001-2345,USD,250000.00,,,2021-03-01,,active\n"
             "4,2,credit_card,CARD,CARD-9999-0000-1111,USD,120.50,,5000.00,2019-06-30,,dormant\n"
             "5,2,crypto_wallet,,,USD,10.00,,,2022-02-02,2023-01-01,closed\n");
  ProgramResult o =
      expect_cli(0, {"import", "holdings", (dir / "h.csv").string(), "--db", db});
  BOOST_TEST(contains(o.out, "imported 5 of 5 rows into holdings"), o.out);
  return db;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(holdings_cli)

BOOST_AUTO_TEST_CASE(usage_errors_exit_2) {
  TempDir dir;
  const std::string db = (dir / "db").string();
  expect_cli(0, {"init", "--db", db});
  write_file(dir / "x.csv", "id,balance\n");
  const std::string x = (dir / "x.csv").string();
  BOOST_TEST(contains(expect_cli(2, {"import", "holdings", x, "--as-of", "2024-01-01", "--db", db}).err,
                      "--as-of applies to balances only"));
  BOOST_TEST(contains(expect_cli(2, {"import", "holdings", x, "--keep-balances", "--db", db}).err,
                      "--keep-balances applies to transactions only"));
  BOOST_TEST(contains(expect_cli(2, {"import", "balances", x, "--as-of", "2024-13-01", "--db", db}).err,
                      "--as-of: not a date"));
  expect_cli(2, {"holdings", "--db", db});
  expect_cli(2, {"holdings", "1", "--customer", "1", "--db", db});
  expect_cli(2, {"holdings", "01", "--db", db});
  expect_cli(2, {"import", "accounts", x, "--db", db});
}

BOOST_AUTO_TEST_CASE(holdings_show_list_and_mask) {
  TempDir dir;
  const std::string db = make_db(dir);
  ProgramResult o = expect_cli(0, {"holdings", "1", "--db", db});
  BOOST_TEST(contains(o.out, "********************7466"), o.out);
  BOOST_TEST(!contains(o.out, "SE4550000000058398257466"), o.out);
  BOOST_TEST(contains(o.out, "1500.25 USD"), o.out);
  o = expect_cli(0, {"holdings", "1", "--reveal", "--db", db});
  BOOST_TEST(contains(o.out, "SE4550000000058398257466"), o.out);
  o = expect_cli(0, {"holdings", "--customer", "1", "--db", db});
  BOOST_TEST(contains(o.out, "3 holdings, 3 active; aum 601500.25 USD, liabilities 250000.00 USD"),
             o.out);
  auto pt = json_of(expect_cli(0, {"holdings", "--customer", "2", "--json", "--db", db}).out);
  BOOST_TEST(pt.size() == 2u);
  BOOST_TEST(pt.begin()->second.get<std::string>("account_ref") == "***************1111");
  BOOST_TEST(pt.begin()->second.get<std::string>("credit_limit") == "5000.00");
  expect_cli(1, {"holdings", "99", "--db", db});
  expect_cli(1, {"holdings", "--customer", "99", "--db", db});
  // get shows the aggregates.
  auto c = json_of(expect_cli(0, {"get", "1", "--json", "--db", db}).out);
  BOOST_TEST(c.get<std::string>("holdings.aum") == "601500.25");
  BOOST_TEST(c.get<std::string>("holdings.liabilities") == "250000.00");
  BOOST_TEST(c.get<int>("holdings.products") == 3);
  BOOST_TEST(c.get<std::string>("holdings.first_product_on") == "2019-01-01");
  o = expect_cli(0, {"get", "2", "--db", db});
  BOOST_TEST(contains(o.out, "0 active of 2 holdings"), o.out);
  // Export masks unless --reveal.
  o = expect_cli(0, {"export", "holdings", "--db", db});
  BOOST_TEST(contains(o.out, ",********************7466,"), o.out);
  o = expect_cli(0, {"export", "holdings", "--reveal", "--db", db});
  BOOST_TEST(contains(o.out, ",SE4550000000058398257466,"), o.out);
  BOOST_TEST(contains(o.out, ",crypto_wallet,"), o.out);
  expect_cli(0, {"verify", "--db", db});
}

BOOST_AUTO_TEST_CASE(import_balances_and_postings) {
  TempDir dir;
  const std::string db = make_db(dir);
  // A posting moves the balance; --keep-balances does not.
  write_file(dir / "t.csv",
             "id,customer_id,ts,amount,currency,holding_id\n10,1,2024-01-02T10:00:00Z,99.75,USD,1\n");
  expect_cli(0, {"import", "transactions", (dir / "t.csv").string(), "--db", db});
  auto h = json_of(expect_cli(0, {"holdings", "1", "--json", "--db", db}).out);
  BOOST_TEST(h.get<std::string>("balance") == "1600.00");
  BOOST_TEST(h.get<int>("postings") == 1);
  // Statements: all or nothing (line 3 names a missing holding), then --as-of.
  write_file(dir / "b.csv", "id,balance\n1,2000.00\n77,1.00\n");
  ProgramResult o =
      expect_cli(1, {"import", "balances", (dir / "b.csv").string(), "--as-of", "2024-06-30", "--db", db});
  BOOST_TEST(contains(o.err, "b.csv:3: id: no holding 77"), o.err);
  BOOST_TEST(contains(o.err, "nothing imported"), o.err);
  o = expect_cli(0, {"import", "balances", (dir / "b.csv").string(), "--as-of", "2024-06-30",
                     "--skip-bad", "--db", db});
  BOOST_TEST(contains(o.out, "imported 1 of 2 rows into balances"), o.out);
  h = json_of(expect_cli(0, {"holdings", "1", "--json", "--db", db}).out);
  BOOST_TEST(h.get<std::string>("balance") == "2000.00");
  BOOST_TEST(h.get<std::string>("balance_as_of") == "2024-06-30");
  // Without a date anywhere: a bad row.
  write_file(dir / "nodate.csv", "id,balance\n1,5.00\n");
  o = expect_cli(1, {"import", "balances", (dir / "nodate.csv").string(), "--db", db});
  BOOST_TEST(contains(o.err, "nodate.csv:2: as_of: required"), o.err);
  expect_cli(0, {"verify", "--db", db});
}

BOOST_AUTO_TEST_CASE(top_and_reports_by_aum_and_holds) {
  TempDir dir;
  const std::string db = make_db(dir);
  ProgramResult o = expect_cli(0, {"segment", "tier = gold", "--top", "2", "--by", "aum", "--db", db});
  BOOST_TEST(contains(o.out, "601500.25"), o.out);
  auto pt = json_of(expect_cli(0, {"report", "--by", "tier", "--measure", "aum", "--json", "--db", db}).out);
  BOOST_TEST(contains(expect_cli(0, {"report", "--by", "tier", "--measure", "aum", "--db", db}).out,
                      "601500.25"));
  o = expect_cli(0, {"report", "--by", "holds", "--db", db});
  BOOST_TEST(contains(o.out, "mortgage"), o.out);
  BOOST_TEST(contains(o.out, "credit_card"), o.out);
  BOOST_TEST(!contains(o.out, "crypto_wallet"), o.out);  // closed: not held
  (void)pt;
}

BOOST_AUTO_TEST_SUITE_END()
