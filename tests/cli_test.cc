// The admin CLI, driven as a subprocess: build/bin/custdb next to this test binary. Each test
// checks exit codes, stdout and stderr, and compares answers with the library's on the same
// database.

#include <atomic>
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "custdb/io.h"
#include "custdb/money.h"
#include "custdb/query.h"
#include "demo.h"
#include "engine/analytics_access.h"
#include "io/display.h"
#include "program.h"
#include "random_data.h"
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;

namespace {

// ---- running the binary -------------------------------------------------------------------------

using Output = ProgramResult;
using Env = std::map<std::string, std::string>;

Output run(const std::vector<std::string>& args, const Env& env = {}, const std::string& input = "") {
  return run_cli(args, RunOptions{.env = env, .input = input});
}

// Runs and requires the expected exit code, printing everything otherwise.
Output expect(int code, const std::vector<std::string>& args, const Env& env = {},
              const std::string& input = "") {
  Output o = run(args, env, input);
  BOOST_TEST_REQUIRE(o.code == code, "custdb " << (args.empty() ? std::string() : args.front()) << ": " << o);
  return o;
}


std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

boost::property_tree::ptree parse_json(const std::string& text) {
  boost::property_tree::ptree pt;
  std::istringstream in(text);
  try {
    boost::property_tree::read_json(in, pt);
  } catch (const std::exception& e) {
    BOOST_FAIL("not JSON (" << e.what() << "):\n" << text);
  }
  return pt;
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

// A raw key file (64 hex digits) for encrypted databases without Argon2's cost.
fs::path key_file(const TempDir& dir, const std::string& name, char digit) {
  fs::path p = dir / name;
  write_text(p, std::string(64, digit) + "\n");
  return p;
}

// ---- the shared demo database ---------------------------------------------------------------

constexpr std::uint64_t kDemoCustomers = 300;

// One demo database made by `custdb demo`, shared by the read-only tests.
const fs::path& demo_db() {
  static TempDir dir;
  static fs::path path = [] {
    fs::path p = dir / "demo";
    Output o = run({"demo", "--customers", std::to_string(kDemoCustomers), "--seed", "7", "--db", p.string()});
    BOOST_TEST_REQUIRE(o.code == 0, o);
    return p;
  }();
  return path;
}

Options read_only() {
  Options o;
  o.read_only = true;
  o.create_if_missing = false;
  return o;
}

void corrupt_customer(const fs::path& dir, CustomerId id) { corrupt_customer_value(dir, id, 40); }

// The CSV without its last column (customers' updated_at, which an import sets anew).
std::string without_last_column(const std::string& csv) {
  std::string out;
  for (const std::string& line : lines_of(csv)) out += line.substr(0, line.rfind(',')) + "\n";
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cli)

BOOST_AUTO_TEST_CASE(init_creates_and_refuses_an_existing_database) {
  TempDir dir;
  const std::string db = (dir / "db").string();
  Output o = expect(0, {"init", "--db", db});
  BOOST_TEST(contains(o.out, "created"));
  o = expect(1, {"init", "--db", db});
  BOOST_TEST(contains(o.err, "custdb: "));
  BOOST_TEST(contains(o.err, "exists"));
  // --db from the environment, and a base currency.
  expect(0, {"init", "--currency", "JPY"}, {{"CUSTDB_DB", (dir / "jpy").string()}});
  o = expect(0, {"stats", "--json"}, {{"CUSTDB_DB", (dir / "jpy").string()}});
  BOOST_TEST(parse_json(o.out).get<std::string>("base_currency") == "JPY");
  // --encrypt without a secret is a usage error; nothing is created.
  expect(2, {"init", "--encrypt", "--db", (dir / "enc").string()});
  BOOST_TEST(!fs::exists(dir / "enc" / "data.mdb"));
}

BOOST_AUTO_TEST_CASE(usage_errors_exit_2) {
  TempDir dir;
  expect(2, {});                                              // no subcommand
  expect(2, {"bogus"});                                       // unknown subcommand
  expect(2, {"get"});                                         // missing argument
  expect(2, {"get", "1"});                                    // no --db, no CUSTDB_DB
  expect(2, {"get", "x", "--db", demo_db().string()});        // not an id
  expect(2, {"report", "--by", "color", "--db", demo_db().string()});
  expect(2, {"history", "1", "--from", "2025-13-01", "--db", demo_db().string()});
  // A database that does not exist is a failed operation, and is not created by a read.
  Output o = expect(1, {"get", "1", "--db", (dir / "none").string()});
  BOOST_TEST(contains(o.err, "custdb: "));
  BOOST_TEST(!fs::exists(dir / "none" / "data.mdb"));
  expect(0, {"--help"});
}

BOOST_AUTO_TEST_CASE(demo_fills_a_consistent_database) {
  auto db = must(Database::open(demo_db(), read_only()));
  auto counts = must(must(db.begin_read()).counts());
  BOOST_TEST(counts.customers == kDemoCustomers);
  BOOST_TEST(counts.transactions >= 5 * kDemoCustomers);
  BOOST_TEST(counts.transactions <= 10 * kDemoCustomers);
  BOOST_TEST(counts.relationships > kDemoCustomers / 10);
  require_clean(db);
  // The library call behind it, in this process: same seed, same records.
  TempDir dir;
  auto mine = open_db(Mode::kPlain, dir / "db");
  must(synthetic::populate_demo(mine, kDemoCustomers, 7));
  Customer a = *must(mine.get_customer(42)), b = *must(db.get_customer(42));
  a.updated_at = b.updated_at;  // the time of the insert
  BOOST_TEST((a == b));
  BOOST_TEST(must(must(mine.begin_read()).counts()).transactions == counts.transactions);
}

BOOST_AUTO_TEST_CASE(get_shows_one_customer) {
  const std::string db = demo_db().string();
  Customer c = [&] {
    auto d = must(Database::open(demo_db(), read_only()));
    return *must(d.get_customer(5));
  }();
  // --db after the subcommand, before it, and from the environment.
  Output o = expect(0, {"get", "5", "--db", db});
  BOOST_TEST(o.out == expect(0, {"--db", db, "get", "5"}).out);
  BOOST_TEST(o.out == expect(0, {"get", "5"}, {{"CUSTDB_DB", db}}).out);
  BOOST_TEST(contains(o.out, c.external_ref));
  BOOST_TEST(contains(o.out, format_amount(c.aggregates.total_amount, "USD") + " USD"));
  BOOST_TEST(contains(o.out, "txn_count"));
  expect(1, {"get", "999999", "--db", db});
}

BOOST_AUTO_TEST_CASE(masking_unless_reveal) {
  const std::string db = demo_db().string();
  Customer c = [&] {
    auto d = must(Database::open(demo_db(), read_only()));
    for (CustomerId id = 1;; ++id) {  // an individual: it has a birth date
      auto x = *must(d.get_customer(id));
      if (x.birth_date) return x;
    }
  }();
  const std::string id = std::to_string(c.id);
  Output masked = expect(0, {"get", id, "--db", db});
  BOOST_TEST(!contains(masked.out, c.name));
  BOOST_TEST(contains(masked.out, io::mask_name(c.name)));
  BOOST_TEST(!contains(masked.out, *c.email));
  BOOST_TEST(contains(masked.out, io::mask_email(*c.email)));
  BOOST_TEST(!contains(masked.out, *c.phone));
  BOOST_TEST(contains(masked.out, io::mask_phone(*c.phone)));
  BOOST_TEST(contains(masked.out, "****-**-**"));
  BOOST_TEST(!contains(masked.out, format_date(*c.birth_date)));
  Output shown = expect(0, {"get", id, "--reveal", "--db", db});
  BOOST_TEST(contains(shown.out, c.name));
  BOOST_TEST(contains(shown.out, *c.email));
  BOOST_TEST(contains(shown.out, *c.phone));
  BOOST_TEST(contains(shown.out, format_date(*c.birth_date)));
  // JSON and segment tables mask too; export masks its personal columns.
  Output json = expect(0, {"get", id, "--json", "--db", db});
  BOOST_TEST(parse_json(json.out).get<std::string>("name") == io::mask_name(c.name));
  Output seg = expect(0, {"segment", "txn_count >= 0", "--limit", "400", "--db", db});
  BOOST_TEST(contains(seg.out, io::mask_name(c.name)));
  BOOST_TEST(!contains(seg.out, c.name));
  Output exp = expect(0, {"export", "customers", "--db", db});
  BOOST_TEST(!contains(exp.out, *c.email));
  BOOST_TEST(contains(exp.out, io::mask_email(*c.email)));
  BOOST_TEST(contains(expect(0, {"export", "customers", "--reveal", "--db", db}).out, *c.email));
}

BOOST_AUTO_TEST_CASE(find_by_email_phone_and_ref) {
  const std::string db = demo_db().string();
  Customer c = [&] {
    auto d = must(Database::open(demo_db(), read_only()));
    return *must(d.get_customer(17));
  }();
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--email", *c.email}, {"--phone", *c.phone}, {"--ref", c.external_ref}}) {
    std::vector<std::string> cmd{"find", "--json", "--db", db};
    cmd.insert(cmd.end(), args.begin(), args.end());
    auto pt = parse_json(expect(0, cmd).out);
    BOOST_TEST_REQUIRE(pt.size() >= 1u);
    bool found = false;
    for (const auto& [k, row] : pt) found |= row.get<CustomerId>("id") == 17;
    BOOST_TEST(found, args.front());
  }
  Output table = expect(0, {"find", "--ref", c.external_ref, "--db", db});
  BOOST_TEST(contains(table.out, "external_ref"));
  expect(1, {"find", "--ref", "no-such-ref", "--db", db});
  expect(2, {"find", "--email", "not an email", "--db", db});
  expect(2, {"find", "--db", db});
  expect(2, {"find", "--email", "a@b.c", "--ref", "x", "--db", db});
}

BOOST_AUTO_TEST_CASE(history_in_time_order) {
  const std::string db = demo_db().string();
  std::vector<Transaction> all, in_2025;
  {
    auto d = must(Database::open(demo_db(), read_only()));
    auto txn = must(d.begin_read());
    all = must(txn.transactions_of(9));
    in_2025 = must(txn.transactions_of(9, parse_timestamp("2025-01-01"), parse_timestamp("2026-01-01")));
  }
  auto pt = parse_json(expect(0, {"history", "9", "--json", "--db", db}).out);
  BOOST_TEST(pt.size() == all.size());
  std::string last;
  for (const auto& [k, row] : pt) {
    auto ts = row.get<std::string>("ts");
    BOOST_TEST(last <= ts);
    last = ts;
  }
  pt = parse_json(expect(0, {"history", "9", "--from", "2025-01-01", "--to", "2025-12-31", "--json",
                             "--db", db}).out);
  BOOST_TEST(pt.size() == in_2025.size());
  Output table = expect(0, {"history", "9", "--db", db});
  BOOST_TEST(contains(table.out, std::to_string(all.size()) + " transactions"));
  expect(1, {"history", "999999", "--db", db});
  expect(2, {"history", "9", "--to", "yesterday", "--db", db});
}

BOOST_AUTO_TEST_CASE(related_prints_links_with_depth) {
  const std::string db = demo_db().string();
  std::vector<ReadView::Hop> hops;
  {
    auto d = must(Database::open(demo_db(), read_only()));
    hops = must(must(d.begin_read()).neighborhood(1, 2));
  }
  BOOST_TEST_REQUIRE(!hops.empty());
  auto pt = parse_json(expect(0, {"related", "1", "--depth", "2", "--json", "--db", db}).out);
  BOOST_TEST(pt.size() == hops.size());
  for (const auto& [k, row] : pt) {
    BOOST_TEST(row.get<int>("depth") >= 1);
    BOOST_TEST(row.get<int>("depth") <= 2);
    BOOST_TEST(!row.get<std::string>("type").empty());
  }
  Output table = expect(0, {"related", "1", "--type", "household", "--db", db});
  BOOST_TEST(contains(table.out, "household"));
  BOOST_TEST(!contains(table.out, "referral"));
  expect(2, {"related", "1", "--type", "cousin", "--db", db});
}

BOOST_AUTO_TEST_CASE(segment_count_ids_explain_and_errors) {
  const std::string db = demo_db().string();
  auto d = must(Database::open(demo_db(), read_only()));
  auto txn = must(d.begin_read());
  const std::vector<std::string> queries = {
      "tier in (gold, platinum) and region = east",
      "total_amount > 1000.50 or txn_count >= 9",
      "not stage = churned and related(household)",
      "age between 30 and 50",
  };
  for (const std::string& q : queries) {
    auto expected = must(txn.count(must(query::parse(q)), SegmentOptions{parse_date("2026-01-01")}));
    Output o = expect(0, {"segment", q, "--count", "--as-of", "2026-01-01", "--db", db});
    BOOST_TEST(o.out == std::to_string(expected) + "\n", q);
    auto ids = lines_of(expect(0, {"segment", q, "--ids", "--as-of", "2026-01-01", "--db", db}).out);
    BOOST_TEST(ids.size() == expected, q);
  }
  // Words are joined: an unquoted query works too.
  BOOST_TEST(expect(0, {"segment", "tier", "=", "gold", "--count", "--db", db}).out ==
             std::to_string(must(txn.count(must(query::parse("tier = gold"))))) + "\n");
  Output plan = expect(0, {"segment", "tier = gold and region = west", "--explain", "--db", db});
  BOOST_TEST(contains(plan.out, "result:"));
  Output table = expect(0, {"segment", "tier = gold", "--limit", "5", "--db", db});
  BOOST_TEST(contains(table.out, "txn_count"));
  BOOST_TEST(lines_of(table.out).size() == 2u + 5u + 1u);  // header, rule, rows, footer
  // --limit 0 is every match; a negative limit is refused (it wrapped to "all" before).
  const auto gold = must(txn.count(must(query::parse("tier = gold"))));
  BOOST_TEST(lines_of(expect(0, {"segment", "tier = gold", "--limit", "0", "--db", db}).out).size() ==
             2u + gold + 1u);
  BOOST_TEST(lines_of(expect(0, {"segment", "tier = gold", "--ids", "--limit", "0", "--db", db}).out).size() ==
             gold);
  expect(2, {"segment", "tier = gold", "--ids", "--limit", "-1", "--db", db});
  auto pt = parse_json(expect(0, {"segment", "tier = gold", "--json", "--db", db}).out);
  BOOST_TEST(pt.get<std::uint64_t>("count") == must(txn.count(must(query::parse("tier = gold")))));
  BOOST_TEST(pt.get_child("customers").size() <= 20u);
  Output bad = expect(2, {"segment", "tier = ", "--count", "--db", db});
  BOOST_TEST(contains(bad.err, "custdb: at "));
  expect(2, {"segment", "tier = 5", "--db", db});
  expect(2, {"segment", "total_amount > 10.505", "--count", "--db", db});  // 3 decimals in USD
  expect(2, {"segment", "age > 3", "--as-of", "someday", "--db", db});
}

BOOST_AUTO_TEST_CASE(report_groups_every_customer) {
  const std::string db = demo_db().string();
  auto pt = parse_json(expect(0, {"report", "--by", "region", "--json", "--db", db}).out);
  BOOST_TEST(pt.get<std::string>("by") == "region");
  std::uint64_t customers = 0;
  for (const auto& [k, row] : pt.get_child("groups")) {
    customers += row.get<std::uint64_t>("customers");
    for (const char* key : {"region", "total_amount_sum", "total_amount_min", "total_amount_max",
                            "total_amount_avg", "txn_count"})
      BOOST_TEST(row.count(key) == 1u, key);
  }
  BOOST_TEST(customers == kDemoCustomers);
  Output table = expect(0, {"report", "--db", db});  // by tier
  BOOST_TEST(contains(table.out, "bronze"));
  BOOST_TEST(contains(table.out, "total_avg"));
}

// A measure's value as report --json and segment --top --json print it, computed here from
// the library's answer: amounts with format_amount, decimals from millionths, ISO dates and
// times, integers as numbers.
std::string expected_measure_text(RankBy m, std::int64_t v) {
  switch (m) {
    case RankBy::kTotalAmount:
    case RankBy::kClv: return format_amount(v, "USD");
    case RankBy::kPAlive:
    case RankBy::kExpectedPurchases: {
      std::string s = std::to_string(v < 0 ? -v : v);
      if (s.size() < 7) s.insert(0, 7 - s.size(), '0');
      std::string whole = s.substr(0, s.size() - 6), fraction = s.substr(s.size() - 6);
      while (!fraction.empty() && fraction.back() == '0') fraction.pop_back();
      return (v < 0 ? "-" : "") + whole + (fraction.empty() ? "" : "." + fraction);
    }
    case RankBy::kBirthDate: return format_date(Date{std::chrono::days{v}});
    case RankBy::kCreatedAt:
    case RankBy::kFirstTxnAt:
    case RankBy::kLastTxnAt: return format_timestamp(Timestamp{std::chrono::milliseconds{v}});
    default: return std::to_string(v);
  }
}

// A small demo database whose customers are partly scored (clv, p_alive, ... with boundary
// values), for the measures the demo alone leaves empty.
const fs::path& scored_db() {
  static TempDir dir;
  static fs::path path = [] {
    fs::path p = dir / "scored";
    Output o = run({"demo", "--customers", "80", "--seed", "11", "--db", p.string()});
    BOOST_TEST_REQUIRE(o.code == 0, o);
    auto db = must(Database::open(p));
    std::mt19937 r(5);
    auto txn = must(db.begin_write());
    for (CustomerId id = 1; id <= 80; ++id)
      if (r() % 3) must(analytics_access::set_scores(txn, id, random_scores(r)));
    must(txn.commit());
    return p;
  }();
  return path;
}

BOOST_AUTO_TEST_CASE(report_by_two_attributes_with_measures) {
  const std::string db = scored_db().string();
  auto lib = must(Database::open(scored_db(), read_only()));
  auto txn = must(lib.begin_read());
  const std::vector<MeasureKey> measures = {RankBy::kTotalAmount, RankBy::kClv, RankBy::kPAlive,
                                        RankBy::kTxnCount, RankBy::kBirthDate, RankBy::kLastTxnAt};
  const ReportSpec spec{{GroupBy::kTier, GroupBy::kRegion}, measures};
  const std::string measure_arg = "total_amount,clv,p_alive,txn_count,birth_date,last_txn_at";

  auto check_json = [&](const boost::property_tree::ptree& pt, const std::vector<ReportRow>& want) {
    BOOST_TEST(pt.get<std::string>("currency") == "USD");
    BOOST_TEST_REQUIRE(pt.get_child("groups").size() == want.size());
    std::size_t i = 0;
    for (const auto& [k, row] : pt.get_child("groups")) {
      const ReportRow& w = want[i++];
      BOOST_TEST(row.get<std::string>("tier") == w.group[0]);
      BOOST_TEST(row.get<std::string>("region") == w.group[1]);
      BOOST_TEST(row.get<std::uint64_t>("customers") == w.customers);
      std::size_t j = 0;
      for (const auto& [k2, m] : row.get_child("measures")) {
        const RankBy by = *measures[j].builtin;
        const MeasureStats& s = w.measures[j++];
        BOOST_TEST(m.get<std::string>("measure") == to_string(by));
        BOOST_TEST(m.get<std::uint64_t>("count") == s.count);
        const bool has_sum = by != RankBy::kBirthDate && by != RankBy::kLastTxnAt;
        BOOST_TEST(m.count("sum") == (has_sum ? 1u : 0u), to_string(by));
        if (has_sum && s.sum >= INT64_MIN && s.sum <= INT64_MAX && by != RankBy::kTotalAmount &&
            by != RankBy::kClv)
          BOOST_TEST(m.get<std::string>("sum") == expected_measure_text(by, static_cast<std::int64_t>(s.sum)));
        if (has_sum && (by == RankBy::kTotalAmount || by == RankBy::kClv))
          BOOST_TEST(m.get<std::string>("sum") == format_amount(s.sum, "USD"));
        for (const char* stat : {"min", "max", "avg"}) {
          const auto v = std::string(stat) == "min" ? s.min : std::string(stat) == "max" ? s.max : s.avg();
          if (v) BOOST_TEST(m.get<std::string>(stat) == expected_measure_text(by, *v), to_string(by) << " " << stat);
          else BOOST_TEST(m.get<std::string>(stat) == "null", to_string(by) << " " << stat);
        }
      }
      BOOST_TEST(j == measures.size());
    }
  };

  // Every customer.
  auto want = must(txn.report_all(spec));
  BOOST_TEST_REQUIRE(!want.empty());
  // Birth dates are personal: their min/max/avg show with --reveal only (masked below).
  check_json(parse_json(expect(0, {"report", "--by", "tier,region", "--measure", measure_arg, "--json",
                                   "--reveal", "--db", db}).out), want);
  {
    auto masked = parse_json(expect(0, {"report", "--by", "tier", "--measure", "birth_date", "--json", "--db", db}).out);
    std::size_t shown = 0;
    for (const auto& [k, row] : masked.get_child("groups"))
      for (const auto& [k2, m] : row.get_child("measures"))
        for (const char* stat : {"min", "max", "avg"})
          if (m.get<std::string>(stat) != "null") {
            BOOST_TEST(m.get<std::string>(stat) == "****-**-**");
            ++shown;
          }
    BOOST_TEST(shown > 0u);
    BOOST_TEST(contains(expect(0, {"report", "--by", "tier", "--measure", "birth_date", "--db", db}).out, "****-**-**"));
  }
  // A segment.
  const std::string q = "tier >= silver and total_amount > 0";
  want = must(txn.report(must(query::parse(q)), spec));
  check_json(parse_json(expect(0, {"report", "--segment", q, "--by", "tier,region", "--measure", measure_arg,
                                   "--json", "--reveal", "--db", db}).out), want);

  // The table: a column group per measure (no sum of dates), one line per group.
  Output table = expect(0, {"report", "--by", "tier,region", "--measure", measure_arg, "--db", db});
  const auto lines = lines_of(table.out);
  for (const char* h : {"tier", "region", "customers", "total_amount_sum", "clv_avg", "p_alive_max",
                        "txn_count_min", "birth_date_min", "last_txn_at_max"})
    BOOST_TEST(contains(lines.at(0), h), h);
  BOOST_TEST(!contains(lines.at(0), "birth_date_sum"));
  BOOST_TEST(lines.size() == 2u + must(txn.report_all(spec)).size() + 1u);  // header, rule, rows, currency
  BOOST_TEST(lines.back() == "amounts in USD");

  // One group attribute beyond the wave-1 four, no --measure: total_amount and txn_count.
  auto pt = parse_json(expect(0, {"report", "--by", "income_band", "--json", "--db", db}).out);
  auto rows = must(txn.report_all({{GroupBy::kIncomeBand}, {RankBy::kTotalAmount, RankBy::kTxnCount}}));
  BOOST_TEST_REQUIRE(pt.get_child("groups").size() == rows.size());
  BOOST_TEST(pt.get_child("groups").front().second.get_child("measures").size() == 2u);
  // No group attribute (--by ''): one row of everyone.
  pt = parse_json(expect(0, {"report", "--by", "", "--measure", "clv", "--json", "--db", db}).out);
  rows = must(txn.report_all({{}, {RankBy::kClv}}));
  BOOST_TEST_REQUIRE(pt.get_child("groups").size() == 1u);
  BOOST_TEST(pt.get_child("groups").front().second.get<std::uint64_t>("customers") == rows.at(0).customers);
  BOOST_TEST(pt.get_child("groups").front().second.get_child("measures").front().second.get<std::string>("sum") ==
             format_amount(rows.at(0).measures.at(0).sum, "USD"));
  // A segment with one wave-1 attribute and no --measure keeps the totals table.
  pt = parse_json(expect(0, {"report", "--segment", "tier = gold", "--by", "region", "--json", "--db", db}).out);
  std::uint64_t customers = 0;
  for (const auto& [k, row] : pt.get_child("groups")) customers += row.get<std::uint64_t>("customers");
  BOOST_TEST(customers == must(txn.count(must(query::parse("tier = gold")))));

  // Usage errors name the valid attributes.
  Output bad = expect(2, {"report", "--measure", "bogus", "--db", db});
  BOOST_TEST(contains(bad.err, "expected one of total_amount, txn_count"));
  bad = expect(2, {"report", "--by", "tier,colour", "--db", db});
  BOOST_TEST(contains(bad.err, "expected one of tier, region"));
  expect(2, {"report", "--by", "tier,region,stage", "--db", db});
  expect(2, {"report", "--by", "tier,tier", "--measure", "clv", "--db", db});
  expect(2, {"report", "--segment", "tier = ", "--db", db});
}

BOOST_AUTO_TEST_CASE(segment_top_by_any_attribute) {
  const std::string db = scored_db().string();
  auto lib = must(Database::open(scored_db(), read_only()));
  auto txn = must(lib.begin_read());
  const std::string q = "txn_count >= 0";
  for (RankBy by : {RankBy::kTotalAmount, RankBy::kClv, RankBy::kPAlive, RankBy::kLastTxnAt,
                    RankBy::kIncomeBand, RankBy::kBirthDate}) {
    auto want = must(txn.rank(must(query::parse(q)), by, 7));
    // A birth date is personal data: shown with --reveal only (below).
    std::vector<std::string> args{"segment", q, "--top", "7", "--by", to_string(by), "--json", "--db", db};
    if (by == RankBy::kBirthDate) args.push_back("--reveal");
    auto pt = parse_json(expect(0, args).out);
    BOOST_TEST(pt.get<std::string>("by") == to_string(by));
    BOOST_TEST_REQUIRE(pt.get_child("top").size() == want.size(), to_string(by));
    std::size_t i = 0;
    for (const auto& [k, row] : pt.get_child("top")) {
      BOOST_TEST(row.get<CustomerId>("id") == want[i].id);
      BOOST_TEST(row.get<std::string>(to_string(by)) == expected_measure_text(by, want[i].value));
      ++i;
    }
  }
  // Without --reveal, the birth dates next to the ids are masked (table and JSON), as get
  // and export mask them; the order (and the ids) stay.
  {
    auto want_bd = must(txn.rank(must(query::parse(q)), RankBy::kBirthDate, 5));
    auto pt = parse_json(expect(0, {"segment", q, "--top", "5", "--by", "birth_date", "--json", "--db", db}).out);
    BOOST_TEST_REQUIRE(pt.get_child("top").size() == want_bd.size());
    std::size_t i = 0;
    for (const auto& [k, row] : pt.get_child("top")) {
      BOOST_TEST(row.get<CustomerId>("id") == want_bd[i++].id);
      BOOST_TEST(row.get<std::string>("birth_date") == "****-**-**");
    }
    Output t = expect(0, {"segment", q, "--top", "5", "--by", "birth_date", "--db", db});
    BOOST_TEST(contains(t.out, "****-**-**"));
    BOOST_TEST(!contains(t.out, expected_measure_text(RankBy::kBirthDate, want_bd[0].value)));
  }
  // The default ranking attribute is total_amount; the table has rank, id and value.
  auto want = must(txn.rank(must(query::parse("tier = gold")), RankBy::kTotalAmount, 3));
  Output table = expect(0, {"segment", "tier = gold", "--top", "3", "--db", db});
  auto lines = lines_of(table.out);
  BOOST_TEST_REQUIRE(lines.size() == 2u + want.size() + 1u);
  BOOST_TEST(contains(lines[0], "total_amount"));
  for (std::size_t i = 0; i < want.size(); ++i) {
    BOOST_TEST(contains(lines[2 + i], std::to_string(want[i].id)));
    BOOST_TEST(contains(lines[2 + i], format_amount(want[i].value, "USD")));
  }
  // Unknown attributes list the valid ones; --by needs --top; --top excludes the other outputs.
  Output bad = expect(2, {"segment", "tier = gold", "--top", "3", "--by", "colour", "--db", db});
  BOOST_TEST(contains(bad.err, "expected one of total_amount, txn_count, last_txn_at"));
  BOOST_TEST(contains(bad.err, "m_score"));
  expect(2, {"segment", "tier = gold", "--by", "clv", "--db", db});
  expect(2, {"segment", "tier = gold", "--top", "3", "--count", "--db", db});
  bad = expect(2, {"segment", "tier = gold", "--top", "0", "--db", db});
  BOOST_TEST(contains(bad.err, "not in range 1 to 18446744073709551615"), bad.err);
}

// Encrypted: text groups come from the sealed value dictionaries, measures from sealed slices;
// the CLI prints what the library answers.
BOOST_AUTO_TEST_CASE(report_and_top_on_an_encrypted_database) {
  TempDir dir;
  fs::path keyfile = dir / "key";
  std::string hex;
  for (int i = 0; i < 32; ++i) hex += "07";  // test_key(7): 32 bytes of 0x07
  write_text(keyfile, hex + "\n");
  {
    auto db = open_db(Mode::kEncrypted, dir / "db");
    std::mt19937 r(9);
    auto txn = must(db.begin_write());
    for (int i = 0; i < 60; ++i) {
      CustomerId id = must(txn.insert_customer(random_customer(r)));
      for (int k = static_cast<int>(r() % 4); k > 0; --k) must(txn.add_transaction(random_txn(r, id)));
      if (r() % 3) must(analytics_access::set_scores(txn, id, random_scores(r)));
    }
    must(txn.commit());
  }
  const std::string db = (dir / "db").string(), key = keyfile.string();
  auto pt = parse_json(expect(0, {"report", "--by", "tag,city", "--measure", "clv,total_amount", "--json",
                                  "--key-file", key, "--db", db}).out);
  auto lib = must(Database::open(dir / "db", options_for(Mode::kEncrypted, read_only())));
  auto txn = must(lib.begin_read());
  auto want = must(txn.report_all({{GroupBy::kTag, GroupBy::kCity}, {RankBy::kClv, RankBy::kTotalAmount}}));
  BOOST_TEST_REQUIRE(pt.get_child("groups").size() == want.size());
  std::size_t i = 0;
  for (const auto& [k, row] : pt.get_child("groups")) {
    BOOST_TEST(row.get<std::string>("tag") == want[i].group[0]);
    BOOST_TEST(row.get<std::string>("city") == want[i].group[1]);
    BOOST_TEST(row.get<std::uint64_t>("customers") == want[i].customers);
    BOOST_TEST(row.get_child("measures").front().second.get<std::string>("sum") ==
               format_amount(want[i].measures[0].sum, "USD"));
    ++i;
  }
  auto top = must(txn.rank(must(query::parse("tag = vip")), RankBy::kClv, 5));
  pt = parse_json(expect(0, {"segment", "tag = vip", "--top", "5", "--by", "clv", "--json", "--key-file", key,
                             "--db", db}).out);
  BOOST_TEST_REQUIRE(pt.get_child("top").size() == top.size());
  i = 0;
  for (const auto& [k, row] : pt.get_child("top")) {
    BOOST_TEST(row.get<CustomerId>("id") == top[i].id);
    BOOST_TEST(row.get<std::string>("clv") == format_amount(top[i].value, "USD"));
    ++i;
  }
}

BOOST_AUTO_TEST_CASE(stats_lists_tables_and_info) {
  const std::string db = demo_db().string();
  Output o = expect(0, {"stats", "--db", db});
  for (const char* s : {"customers", "transactions", "storage mode", "plaintext", "base currency",
                        "format version", "page size", "map size", "readers"})
    BOOST_TEST(contains(o.out, s), s);
  auto pt = parse_json(expect(0, {"stats", "--json", "--db", db}).out);
  BOOST_TEST(pt.get<std::uint64_t>("customers") == kDemoCustomers);
  BOOST_TEST(pt.get<std::string>("storage_mode") == "plaintext");
  bool customers_table = false;
  for (const auto& [k, t] : pt.get_child("tables")) {
    BOOST_TEST(t.count("bytes") == 1u);
    if (t.get<std::string>("name") == "customers") {
      customers_table = true;
      BOOST_TEST(t.get<std::uint64_t>("entries") == kDemoCustomers);
    }
  }
  BOOST_TEST(customers_table);
}

BOOST_AUTO_TEST_CASE(verify_clean_and_corrupted) {
  TempDir dir;
  const std::string db = (dir / "db").string();
  expect(0, {"demo", "--customers", "50", "--db", db});
  Output o = expect(0, {"verify", "--db", db});
  BOOST_TEST(contains(o.out, "clean"));
  BOOST_TEST(parse_json(expect(0, {"verify", "--json", "--db", db}).out).get<bool>("clean"));
  corrupt_customer(dir / "db", 3);
  o = expect(1, {"verify", "--db", db});
  BOOST_TEST(contains(o.out, "undecodable"));
  BOOST_TEST(contains(o.out, "customers"));
  BOOST_TEST(contains(o.err, "problem"));
  auto pt = parse_json(expect(1, {"verify", "--json", "--db", db}).out);
  BOOST_TEST(!pt.get<bool>("clean"));
  BOOST_TEST_REQUIRE(pt.get_child("problems").size() >= 1u);
  auto first = pt.get_child("problems").begin()->second;
  for (const char* key : {"kind", "where", "what"}) BOOST_TEST(first.count(key) == 1u, key);
}

BOOST_AUTO_TEST_CASE(export_import_round_trip) {
  TempDir dir;
  const std::string src = demo_db().string(), dst = (dir / "copy").string();
  // Holdings before transactions, which are imported --keep-balances: the exported balances
  // already include the postings (format 6).
  const char* tables[] = {"customers", "relationships", "holdings", "transactions"};
  expect(0, {"init", "--db", dst});
  for (const char* t : tables) {
    // Customers as JSON Lines, the rest as CSV: both formats make the trip.
    const std::string file = (dir / (std::string(t) + (t == tables[0] ? ".jsonl" : ".csv"))).string();
    Output o = expect(0, {"export", t, "--reveal", "--out", file, "--db", src});
    BOOST_TEST(contains(o.out, "exported"));
    std::vector<std::string> args = {"import", t, file, "--db", dst};
    if (std::string(t) == "transactions") args.push_back("--keep-balances");
    o = expect(0, args);
    BOOST_TEST(contains(o.out, "imported"));
  }
  for (const char* t : tables) {
    std::string a = expect(0, {"export", t, "--reveal", "--db", src}).out;
    std::string b = expect(0, {"export", t, "--reveal", "--db", dst}).out;
    if (t == tables[0]) {  // updated_at is the import's time
      a = without_last_column(a);
      b = without_last_column(b);
    }
    BOOST_TEST(a == b, t);
    if (std::string(t) != "holdings") BOOST_TEST(lines_of(a).size() > 1u, t);
  }
  expect(0, {"verify", "--db", dst});
  auto pt = parse_json(expect(0, {"stats", "--json", "--db", dst}).out);
  BOOST_TEST(pt.get<std::uint64_t>("customers") == kDemoCustomers);
}

BOOST_AUTO_TEST_CASE(import_bad_row_stores_nothing_unless_skip_bad) {
  TempDir dir;
  const std::string db = (dir / "db").string();
  expect(0, {"init", "--db", db});
  const fs::path file = dir / "people.csv";
  write_text(file,
             "id,name,email,tier\n"
             "1,Anna Meyer,anna@example.com,gold\n"
             "2,Ben Okafor,ben@example.com,silver\n"
             "3,Chloe Rossi,chloe@example.com,golden\n"  // line 4: bad tier
             "4,David Novak,david@example.com,bronze\n");
  Output o = expect(1, {"import", "customers", file.string(), "--db", db});
  BOOST_TEST(contains(o.err, file.string() + ":4: tier:"), o.err);
  auto customers = [&] {
    return parse_json(expect(0, {"stats", "--json", "--db", db}).out).get<std::uint64_t>("customers");
  };
  BOOST_TEST(customers() == 0u);
  o = expect(0, {"import", "customers", file.string(), "--skip-bad", "--db", db});
  BOOST_TEST(contains(o.err, file.string() + ":4: tier:"), o.err);
  BOOST_TEST(contains(o.out, "imported 3 of 4"));
  BOOST_TEST(customers() == 3u);
  // JSON Lines: a bad row further down, reported with its line; --json lists it.
  const fs::path jl = dir / "more.jsonl";
  write_text(jl, "{\"id\": 10, \"name\": \"Emma Silva\"}\n\n{\"id\": 11, \"name\": \"\"}\n");
  o = expect(1, {"import", "customers", jl.string(), "--db", db});
  BOOST_TEST(contains(o.err, jl.string() + ":3: name:"), o.err);
  BOOST_TEST(customers() == 3u);
  auto pt = parse_json(expect(0, {"import", "customers", jl.string(), "--skip-bad", "--json", "--db", db}).out);
  BOOST_TEST(pt.get<int>("imported") == 1);
  BOOST_TEST(pt.get_child("bad").begin()->second.get<int>("line") == 3);
  // Unknown extension: a usage error; standard input with --format works.
  expect(2, {"import", "customers", (dir / "x.txt").string(), "--db", db});
  expect(0, {"import", "customers", "-", "--format", "csv", "--db", db}, {},
         "id,name\n20,Felix Larsen\n");
  BOOST_TEST(customers() == 5u);
}

BOOST_AUTO_TEST_CASE(encrypted_database_needs_its_secret) {
  TempDir dir;
  const std::string db = (dir / "db").string();
  const std::string key = key_file(dir, "key", 'a').string();
  const std::string wrong = key_file(dir, "wrong", 'b').string();
  expect(0, {"init", "--encrypt", "--key-file", key, "--db", db});
  expect(0, {"demo", "--customers", "30", "--key-file", key, "--db", db});
  Output o = expect(0, {"get", "3", "--key-file", key, "--db", db});
  BOOST_TEST(contains(o.out, "CRM-"));
  BOOST_TEST(parse_json(expect(0, {"stats", "--json", "--key-file", key, "--db", db}).out)
                 .get<std::string>("storage_mode") == "encrypted");
  o = expect(3, {"get", "3", "--db", db});  // no secret
  BOOST_TEST(contains(o.err, "custdb: "));
  expect(3, {"get", "3", "--key-file", wrong, "--db", db});
  expect(3, {"get", "3", "--db", db}, {{"CUSTDB_PASSPHRASE", "guess"}});
  expect(0, {"verify", "--key-file", key, "--db", db});
  // A secret from any source, the environment included, is refused by a plaintext database
  // (issue 12, point 11: a plaintext file swapped in must not take data in the clear).
  expect(3, {"get", "1", "--db", demo_db().string()}, {{"CUSTDB_PASSPHRASE", "unrelated"}});
}

BOOST_AUTO_TEST_CASE(rekey_passphrase_and_rotate_data_key) {
  TempDir dir;
  const std::string db = (dir / "db").string();
  expect(0, {"init", "--encrypt", "--db", db}, {{"CUSTDB_PASSPHRASE", "old secret"}});
  expect(0, {"demo", "--customers", "40", "--db", db}, {{"CUSTDB_PASSPHRASE", "old secret"}});
  const std::string before = expect(0, {"export", "customers", "--reveal", "--db", db},
                                    {{"CUSTDB_PASSPHRASE", "old secret"}}).out;
  // Without a new secret: a usage error. With one: old fails (3), new works.
  expect(2, {"rekey", "--db", db}, {{"CUSTDB_PASSPHRASE", "old secret"}});
  expect(0, {"rekey", "--db", db}, {{"CUSTDB_PASSPHRASE", "old secret"}, {"CUSTDB_NEW_PASSPHRASE", "new secret"}});
  expect(3, {"get", "1", "--db", db}, {{"CUSTDB_PASSPHRASE", "old secret"}});
  expect(0, {"get", "1", "--db", db}, {{"CUSTDB_PASSPHRASE", "new secret"}});
  // Rekey with the wrong current secret: 3, and nothing changes.
  expect(3, {"rekey", "--db", db}, {{"CUSTDB_PASSPHRASE", "old secret"}, {"CUSTDB_NEW_PASSPHRASE", "x"}});
  // To a raw key file and rotate the data key in one go: change_key first, then rotation.
  const std::string key = key_file(dir, "key", 'c').string();
  Output o = expect(0, {"rekey", "--rotate-data-key", "--new-key-file", key, "--db", db},
                    {{"CUSTDB_PASSPHRASE", "new secret"}});
  BOOST_TEST(contains(o.out, "rotated"));
  expect(3, {"get", "1", "--db", db}, {{"CUSTDB_PASSPHRASE", "new secret"}});
  expect(0, {"verify", "--key-file", key, "--db", db});
  BOOST_TEST(expect(0, {"export", "customers", "--reveal", "--key-file", key, "--db", db}).out == before);
  // Rotation alone, with the same key; refused (busy) while another process has it open.
  {
    Options opts;
    opts.key = must(KeyMaterial::from_file(key, true));
    auto held = must(Database::open(dir / "db", opts));
    o = expect(1, {"rekey", "--rotate-data-key", "--key-file", key, "--db", db});
    BOOST_TEST(contains(o.err, "open"), o.err);
  }
  expect(0, {"rekey", "--rotate-data-key", "--key-file", key, "--db", db});
  expect(0, {"verify", "--key-file", key, "--db", db});
  // A plaintext database cannot be rekeyed: it refuses the secret (exit 3).
  expect(3, {"rekey", "--db", demo_db().string()}, {{"CUSTDB_PASSPHRASE", "p"}, {"CUSTDB_NEW_PASSPHRASE", "q"}});
}

BOOST_AUTO_TEST_CASE(backup_while_another_process_writes) {
  TempDir dir;
  const std::string db = (dir / "db").string();
  expect(0, {"demo", "--customers", "200", "--db", db});
  // A writer in another process: a demo big enough to be committing during the backups.
  Program writer(cli_argv({"demo", "--customers", "20000", "--seed", "9", "--db", db}));
  // And one in this process, committing small transactions continuously through the library
  // (to existing customers: the demo takes the next ids).
  std::atomic<bool> stop{false};
  std::atomic<int> commits{0};
  std::thread local([&] {
    Options o;
    o.create_if_missing = false;
    auto d = Database::open(dir / "db", o);
    if (!d) return;
    for (int i = 1; !stop; ++i) {
      auto txn = d->begin_write();
      if (!txn) break;
      (void)txn->add_transaction(sample_txn(1 + i % 200, 100 + i, "2025-06-01"));
      if (txn->commit()) ++commits;
    }
  });
  // Backups, plain and compacted, for as long as the demo writes (a few seconds).
  std::vector<std::string> copies;
  for (int k = 0; k < 12 && (k < 2 || writer.running()); ++k) {
    copies.push_back((dir / ("backup" + std::to_string(k))).string());
    Output o = run({"backup", copies.back(), k % 2 ? "--compact" : "--json", "--db", db});
    BOOST_TEST(o.code == 0, o);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  stop = true;
  local.join();
  Output w = writer.wait();
  BOOST_TEST(w.code == 0, w);
  BOOST_TEST(commits > 0);
  // And one after the writer finished: it must see the demo's last commits, which came after
  // the first backup's snapshot (backups now fsync their copy, so under load the loop above may
  // end after two backups that both waited out one long demo transaction).
  copies.push_back((dir / "backup_final").string());
  Output last = run({"backup", copies.back(), "--db", db});
  BOOST_TEST(last.code == 0, last);
  // Every copy is consistent, and they saw the database grow.
  std::vector<std::uint64_t> seen;
  for (const std::string& copy : copies) {
    Output o = run({"verify", "--json", "--db", copy});
    BOOST_TEST(o.code == 0, copy << ": " << o);
    if (o.code == 0) seen.push_back(parse_json(o.out).get<std::uint64_t>("transactions"));
  }
  BOOST_TEST(seen.front() < seen.back());
  // A backup never overwrites a database.
  expect(1, {"backup", copies.front(), "--db", db});
}

BOOST_AUTO_TEST_CASE(json_output_parses_for_every_read_command) {
  const std::string db = demo_db().string();
  auto pt = parse_json(expect(0, {"get", "2", "--json", "--db", db}).out);
  for (const char* key : {"id", "external_ref", "name", "email", "tier", "stage", "tags",
                          "created_at", "aggregates.txn_count", "aggregates.total_amount",
                          "aggregates.currency"})
    BOOST_TEST(pt.get_optional<std::string>(key).has_value(), key);
  pt = parse_json(expect(0, {"segment", "tier = bronze", "--count", "--json", "--db", db}).out);
  BOOST_TEST(pt.count("count") == 1u);
  pt = parse_json(expect(0, {"segment", "tier = bronze", "--ids", "--limit", "3", "--json", "--db", db}).out);
  BOOST_TEST(pt.size() == 3u);
  pt = parse_json(expect(0, {"segment", "tier = bronze", "--explain", "--json", "--db", db}).out);
  BOOST_TEST(contains(pt.get<std::string>("plan"), "result:"));
  pt = parse_json(expect(0, {"report", "--json", "--db", db}).out);
  BOOST_TEST(pt.get<std::string>("currency") == "USD");
  TempDir dir;
  pt = parse_json(expect(0, {"init", "--json", "--db", (dir / "db").string()}).out);
  BOOST_TEST(pt.get<bool>("encrypted") == false);
  pt = parse_json(expect(0, {"demo", "--customers", "5", "--json", "--db", (dir / "db").string()}).out);
  BOOST_TEST(pt.get<int>("customers") == 5);
}

BOOST_AUTO_TEST_SUITE_END()
