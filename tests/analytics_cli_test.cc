// The analytics commands of the CLI (custdb rfm, clv, rules; docs/analytics.md), driven as a
// subprocess: build/bin/custdb next to this test binary, on databases built through the library
// or imported from the CDNOW sample with scripts/cdnow_to_csv.sh. Each test checks exit codes,
// stdout and stderr, and compares what the commands wrote with the library's view.

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "custdb/analytics.h"
#include "custdb/database.h"
#include "program.h"
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;

namespace {

// ---- running programs ---------------------------------------------------------------------------

fs::path source_dir() { return fs::path(CUSTDB_FIXTURE_DIR).parent_path().parent_path(); }

using Output = ProgramResult;

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

// `custdb args... --db db`, requiring the exit code and printing everything otherwise.
Output expect(int code, const fs::path& db, std::vector<std::string> args,
              const std::string& input = "") {
  args.push_back("--db");
  args.push_back(db.string());
  Output o = run_cli(args, RunOptions{.input = input});
  BOOST_TEST_REQUIRE(o.code == code, "custdb " << args.front() << ": " << o);
  return o;
}


std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(line);
  }
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

std::vector<std::string> split(const std::string& line, char sep = ',') {
  std::vector<std::string> out;
  std::string cell;
  std::istringstream in(line);
  while (std::getline(in, cell, sep)) out.push_back(cell);
  if (!line.empty() && line.back() == sep) out.emplace_back();
  return out;
}

// ---- a small database with known purchase days ----------------------------------------------------

// As of 2024-02-05 (a Monday):
//   1  purchases 01-01 10.00 + 01-01 5.00 (one day: 15.00), 01-08 20.00, 01-22 30.00; a deposit
//      01-29 100.00 (not a purchase by default)     x 2, t_x 21 d = 3 w, T 35 d = 5 w, zbar 25.00
//   2  one purchase 01-15 12.34                      x 0, T 21 d = 3 w
//   3  purchases 01-03 1.00, 01-10 2.00 + 01-10 0.01 (one day: 2.01), 01-13 3.00
//                                                    x 2, t_x 10 d, T 33 d, zbar 2.505 -> 2.51
//   4  a purchase 03-01 70.00, after the as-of date  no row; tier gold from the start
//   5  no transactions                               no row
//   6  one purchase on the as-of day, 23:00         x 0, t_x 0, T 0
constexpr const char* kAsOf = "2024-02-05";

void build_small(const fs::path& path) {
  Database db = open_db(Mode::kPlain, path);
  auto txn = must(db.begin_write());
  for (CustomerId id = 1; id <= 6; ++id) {
    Customer c;
    c.id = id;
    c.name = "Customer " + std::to_string(id);
    c.tier = id == 4 ? Tier::kGold : Tier::kBronze;
    c.stage = Stage::kNew;
    must(txn.insert_customer(c));
  }
  auto add = [&](CustomerId id, const char* ts, std::int64_t cents,
                 TransactionKind kind = TransactionKind::kPurchase) {
    Transaction t = sample_txn(id, cents, ts);
    t.kind = kind;
    must(txn.add_transaction(t));
  };
  add(1, "2024-01-01T09:00:00Z", 1000);
  add(1, "2024-01-01T18:30:00Z", 500);
  add(1, "2024-01-08T12:00:00Z", 2000);
  add(1, "2024-01-22T12:00:00Z", 3000);
  add(1, "2024-01-29T12:00:00Z", 10000, TransactionKind::kDeposit);
  add(2, "2024-01-15T08:00:00Z", 1234);
  add(3, "2024-01-03T10:00:00Z", 100);
  add(3, "2024-01-10T10:00:00Z", 200);
  add(3, "2024-01-10T23:59:59Z", 1);
  add(3, "2024-01-13T10:00:00Z", 300);
  add(4, "2024-03-01T10:00:00Z", 7000);
  add(6, "2024-02-05T23:00:00Z", 999);
  must(txn.commit());
}

// The customers' (tier, stage), read through the library.
std::map<CustomerId, std::pair<Tier, Stage>> tiers_and_stages(const fs::path& path) {
  Options o;
  o.read_only = true;
  o.create_if_missing = false;
  Database db = open_db(Mode::kPlain, path, o);
  std::map<CustomerId, std::pair<Tier, Stage>> out;
  for (CustomerId id = 1; id <= 6; ++id) {
    auto c = must(db.get_customer(id));
    BOOST_TEST_REQUIRE(c.has_value());
    out[id] = {c->tier, c->stage};
  }
  return out;
}

// ---- the CDNOW sample, through scripts/cdnow_to_csv.sh and `custdb import` -------------------------

void import_cdnow_sample(const TempDir& dir, const fs::path& db) {
  const fs::path csv = dir / "cdnow-csv";
  Output o = run_program((source_dir() / "scripts" / "cdnow_to_csv.sh").string(),
                         {(fs::path(CUSTDB_FIXTURE_DIR) / "cdnow" / "CDNOW_sample.txt").string(),
                          csv.string()});
  BOOST_TEST_REQUIRE(o.code == 0, "cdnow_to_csv.sh: " << o);
  BOOST_TEST(contains(o.err, "2357 customers, 6919 purchases"));
  expect(0, db, {"init", "--currency", "USD"});
  o = expect(0, db, {"import", "customers", (csv / "customers.csv").string()});
  BOOST_TEST(contains(o.out, "imported 2357 of 2357 rows"));
  o = expect(0, db, {"import", "transactions", (csv / "transactions.csv").string()});
  BOOST_TEST(contains(o.out, "imported 6919 of 6919 rows"));
}

double number_at(const boost::property_tree::ptree& pt, const std::string& path) {
  return pt.get<double>(path);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(analytics_cli)

BOOST_AUTO_TEST_CASE(rfm_csv_is_exact) {
  TempDir dir;
  const fs::path db = dir / "db";
  build_small(db);

  // Weeks (the default): recency and T to 6 decimals, trailing zeros dropped; monetary_value
  // rounded half away from zero to the cent from the exact sum (2.505 -> 2.51).
  // Scores over the 4 rows: R by days since the last purchase (3: 23, 2: 21, 1: 14, 6: 0),
  // F by frequency (2 and 6 tie at 0, 1 and 3 at 2), M by monetary_value.
  Output o = expect(0, db, {"rfm", "--as-of", kAsOf, "--format", "csv"});
  BOOST_TEST(o.out ==
             "id,frequency,recency,T,monetary_value,r_score,f_score,m_score\n"
             "1,2,3,5,25.00,3,3,4\n"
             "2,0,0,3,0.00,2,1,1\n"
             "3,2,1.428571,4.714286,2.51,1,3,3\n"
             "6,0,0,0,0.00,4,1,1\n");
  BOOST_TEST(o.err.empty());

  // Days.
  o = expect(0, db, {"rfm", "--as-of", kAsOf, "--period", "day", "--format", "csv"});
  BOOST_TEST(o.out ==
             "id,frequency,recency,T,monetary_value,r_score,f_score,m_score\n"
             "1,2,21,35,25.00,3,3,4\n"
             "2,0,0,21,0.00,2,1,1\n"
             "3,2,10,33,2.51,1,3,3\n"
             "6,0,0,0,0.00,4,1,1\n");

  // Deposits counted too: customer 1 gains a fourth purchase day (01-29, 100.00).
  o = expect(0, db, {"rfm", "--as-of", kAsOf, "--period", "day", "--kinds", "purchase,deposit",
                     "--format", "csv"});
  auto rows = lines_of(o.out);
  BOOST_TEST_REQUIRE(rows.size() == 5u);
  BOOST_TEST(rows[1].rfind("1,3,28,35,50.00,", 0) == 0, rows[1]);

  // An earlier as-of date: customer 6's purchase and customer 1's third day drop out.
  o = expect(0, db, {"rfm", "--as-of", "2024-01-20", "--period", "day", "--format", "csv"});
  rows = lines_of(o.out);
  BOOST_TEST_REQUIRE(rows.size() == 4u, o.out);
  BOOST_TEST(rows[1].rfind("1,1,7,19,20.00,", 0) == 0, rows[1]);

  // JSON (global --json or --format json) carries the full doubles.
  o = expect(0, db, {"rfm", "--as-of", kAsOf, "--json"});
  auto pt = parse_json(o.out);
  BOOST_TEST(pt.get<std::string>("as_of") == kAsOf);
  BOOST_TEST(pt.get<std::string>("period") == "week");
  BOOST_TEST(pt.get<std::uint64_t>("customers") == 4u);
  std::vector<boost::property_tree::ptree> jrows;
  for (const auto& [_, row] : pt.get_child("rows")) jrows.push_back(row);
  BOOST_TEST_REQUIRE(jrows.size() == 4u);
  BOOST_TEST(jrows[2].get<std::uint64_t>("id") == 3u);
  BOOST_TEST(std::fabs(jrows[2].get<double>("recency") - 10.0 / 7) < 1e-12);
  BOOST_TEST(std::fabs(jrows[2].get<double>("monetary_value") - 2.505) < 1e-12);

  // The table: a header, a rule, 4 rows, a footer.
  o = expect(0, db, {"rfm", "--as-of", kAsOf});
  rows = lines_of(o.out);
  BOOST_TEST_REQUIRE(rows.size() == 7u, o.out);
  BOOST_TEST(contains(rows[0], "monetary_value"));
  BOOST_TEST(contains(rows[6], "4 customers as of 2024-02-05"));
}

BOOST_AUTO_TEST_CASE(usage_errors_exit_2) {
  TempDir dir;
  const fs::path db = dir / "db";
  build_small(db);
  expect(2, db, {"rfm", "--as-of", "2024-02-30"});
  expect(2, db, {"rfm", "--period", "month"});
  expect(2, db, {"rfm", "--kinds", "purchase,gift"});
  expect(2, db, {"rfm", "--format", "xml"});
  expect(2, db, {"clv"});                         // a subcommand is required
  expect(2, db, {"clv", "fit", "--as-of", "x"});
  expect(2, db, {"clv", "score", "--horizon", "-1"});
  expect(2, db, {"clv", "score", "--discount", "-0.1"});
  expect(2, db, {"rules", "apply", "--batch", "0"});
  expect(2, db, {"rules", "set"});                // FILE is required
  // A missing database is a failed operation, not created by a read.
  Output o = expect(1, dir / "none", {"rfm"});
  BOOST_TEST(contains(o.err, "custdb: "));
  BOOST_TEST(!fs::exists(dir / "none" / "data.mdb"));
}

BOOST_AUTO_TEST_CASE(clv_on_too_little_data_fails_cleanly) {
  TempDir dir;
  const fs::path db = dir / "db";
  build_small(db);
  // As of 2024-01-05 two customers have bought once each: no repeat purchase to fit on.
  Output o = expect(1, db, {"clv", "fit", "--as-of", "2024-01-05"});
  BOOST_TEST(contains(o.err, "custdb: "), o);
  BOOST_TEST(contains(o.err, "repeat"), o);
  BOOST_TEST(o.out.empty(), o);
  // Before any purchase: no customer at all.
  o = expect(1, db, {"clv", "fit", "--as-of", "2023-12-31", "--json"});
  BOOST_TEST(contains(o.err, "custdb: "), o);
  BOOST_TEST(o.out.empty(), o);
  // Nothing stored: show and score say so.
  o = expect(1, db, {"clv", "show"});
  BOOST_TEST(contains(o.err, "no CLV model stored"), o);
  o = expect(1, db, {"clv", "score", "--as-of", kAsOf});
  BOOST_TEST(contains(o.err, "no CLV model stored"), o);
}

BOOST_AUTO_TEST_CASE(cdnow_sample_rfm_fit_and_score) {
  TempDir dir;
  const fs::path db = dir / "db";
  import_cdnow_sample(dir, db);

  // The RFM summary equals the published calibration-period summary (2 decimals there).
  Output o = expect(0, db, {"rfm", "--as-of", "1997-09-30", "--format", "csv"});
  auto mine = lines_of(o.out);
  auto ref = lines_of(read_text(fs::path(CUSTDB_FIXTURE_DIR) / "cdnow" / "cdnow_summary_1997-09-30.csv"));
  BOOST_TEST_REQUIRE(mine.size() == 2358u);
  BOOST_TEST_REQUIRE(ref.size() >= 2358u);
  BOOST_TEST(mine[0] == "id,frequency,recency,T,monetary_value,r_score,f_score,m_score");
  int mismatches = 0;
  for (std::size_t i = 1; i < 2358; ++i) {
    auto a = split(mine[i]), b = split(ref[i]);  // ID,x,t_x,T,zbar
    BOOST_TEST_REQUIRE(a.size() == 8u);
    BOOST_TEST_REQUIRE(b.size() == 5u);
    const bool same = a[0] == b[0] && a[1] == b[1] &&
                      std::fabs(std::stod(a[2]) - std::stod(b[2])) <= 0.005 &&
                      std::fabs(std::stod(a[3]) - std::stod(b[3])) <= 0.005 &&
                      std::stod(a[4]) == std::stod(b[4]);
    if (!same && ++mismatches <= 5) BOOST_TEST_MESSAGE("mine " << mine[i] << " | published " << ref[i]);
  }
  BOOST_TEST(mismatches == 0);

  // The fit reproduces the published parameters, and is stored.
  o = expect(0, db, {"clv", "fit", "--as-of", "1997-09-30", "--json"});
  auto fit = parse_json(o.out);
  BOOST_TEST(fit.get<std::string>("as_of") == "1997-09-30");
  BOOST_TEST(fit.get<std::string>("unit") == "week");
  BOOST_TEST(fit.get<std::uint64_t>("customers") == 2357u);
  BOOST_TEST(fit.get<std::uint64_t>("repeat_customers") == 946u);
  BOOST_TEST(number_at(fit, "bgnbd.r") == 0.243, boost::test_tools::tolerance(0.005));
  BOOST_TEST(number_at(fit, "bgnbd.alpha") == 4.414, boost::test_tools::tolerance(0.005));
  BOOST_TEST(number_at(fit, "bgnbd.a") == 0.793, boost::test_tools::tolerance(0.005));
  BOOST_TEST(number_at(fit, "bgnbd.b") == 2.426, boost::test_tools::tolerance(0.005));
  BOOST_TEST(number_at(fit, "bgnbd.log_likelihood") == -9582.4, boost::test_tools::tolerance(1e-5));
  BOOST_TEST(number_at(fit, "gamma_gamma.p") == 6.25, boost::test_tools::tolerance(0.01));
  BOOST_TEST(number_at(fit, "gamma_gamma.q") == 3.74, boost::test_tools::tolerance(0.01));
  BOOST_TEST(number_at(fit, "gamma_gamma.gamma") == 15.44, boost::test_tools::tolerance(0.01));

  // show prints what was stored: the same document minus the run's own fields.
  o = expect(0, db, {"clv", "show", "--json"});
  auto shown = parse_json(o.out);
  for (const char* key : {"as_of", "unit", "customers", "repeat_customers", "summary_hash",
                          "fitted_at", "bgnbd.r", "bgnbd.alpha", "bgnbd.a", "bgnbd.b",
                          "gamma_gamma.p", "gamma_gamma.q", "gamma_gamma.gamma"})
    BOOST_TEST(shown.get<std::string>(key) == fit.get<std::string>(key), key);
  o = expect(0, db, {"clv", "show"});
  BOOST_TEST(contains(o.out, "BG/NBD r"));
  BOOST_TEST(contains(o.out, "1997-09-30"));

  // Scoring writes every summarised customer's scores; the segment language reads them.
  o = expect(0, db, {"clv", "score", "--as-of", "1997-09-30", "--batch", "500", "--json"});
  auto score = parse_json(o.out);
  BOOST_TEST(score.get<std::uint64_t>("scored") == 2357u);
  BOOST_TEST(score.get<std::uint64_t>("cleared") == 0u);
  o = expect(0, db, {"segment", "p_alive >= 0", "--count"});
  BOOST_TEST(o.out == "2357\n");
  {
    Options ro;
    ro.read_only = true;
    ro.create_if_missing = false;
    Database lib = open_db(Mode::kPlain, db, ro);
    auto c = must(lib.get_customer(1));
    BOOST_TEST_REQUIRE(c.has_value());
    BOOST_TEST_REQUIRE(c->scores.has_value());
    BOOST_TEST(c->scores->p_alive > 0);
    BOOST_TEST(c->scores->p_alive <= 1);
    BOOST_TEST(c->scores->r_score == 5u);  // the published row: x 2, t_x 30.43, T 38.86
  }
  // Scoring an earlier day, before some customers' first purchase, clears their old scores.
  o = expect(0, db, {"clv", "score", "--as-of", "1997-01-31"});
  BOOST_TEST(contains(o.out, "scored "));
  BOOST_TEST(!contains(o.out, "cleared the scores of 0,"), o.out);
}

BOOST_AUTO_TEST_CASE(rules_set_list_and_apply) {
  TempDir dir;
  const fs::path db = dir / "db";
  build_small(db);

  Output o = expect(0, db, {"rules", "list"});
  BOOST_TEST(o.out == "no rules stored\n");
  o = expect(0, db, {"rules", "list", "--json"});
  BOOST_TEST(o.out == "[]\n");

  // As of 2024-02-05: total_amount 1: 165.00, 2: 12.34, 3: 6.01, 4: 70.00, 5: none, 6: 9.99;
  // recency_days (from last_txn_at) 1: 7, 2: 21, 3: 23, 4: -25, 5: absent, 6: 0.
  write_text(dir / "rules.txt",
             "# tiers first\n"
             "tier = gold when total_amount >= 50.00\r\n"
             "\n"
             "   # lifecycle: the first matching stage rule wins\n"
             "stage = at_risk when recency_days > 20\n"
             "stage = active when txn_count > 0\n");
  o = expect(0, db, {"rules", "set", (dir / "rules.txt").string()});
  BOOST_TEST(contains(o.out, "stored 3 rules"));
  o = expect(0, db, {"rules", "list", "--json"});
  const std::string stored = o.out;
  auto list = parse_json(o.out);
  std::vector<std::string> texts;
  for (const auto& [_, r] : list) texts.push_back(r.get<std::string>("rule"));
  BOOST_TEST_REQUIRE(texts.size() == 3u);
  BOOST_TEST(texts[0] == "tier = gold when total_amount >= 50.00");
  BOOST_TEST(texts[1] == "stage = at_risk when recency_days > 20");
  BOOST_TEST(texts[2] == "stage = active when txn_count > 0");

  // A bad line anywhere: exit 2 naming the line, nothing stored.
  write_text(dir / "bad.txt",
             "tier = platinum when total_amount > 1.00\n"
             "# fine so far\n"
             "stage = sleepy when txn_count > 0\n");
  o = expect(2, db, {"rules", "set", (dir / "bad.txt").string()});
  BOOST_TEST(contains(o.err, "bad.txt:3: "), o);
  BOOST_TEST(contains(o.err, "sleepy"), o);
  o = expect(2, db, {"rules", "set", "-"}, "tier = gold when total_amount >\n");
  BOOST_TEST(contains(o.err, "<stdin>:1: "), o);
  BOOST_TEST(expect(0, db, {"rules", "list", "--json"}).out == stored);

  // Dry run: the moves, nothing written.
  const auto before = tiers_and_stages(db);
  o = expect(0, db, {"rules", "apply", "--as-of", kAsOf, "--dry-run", "--json"});
  auto report = parse_json(o.out);
  BOOST_TEST(report.get<bool>("dry_run"));
  BOOST_TEST(report.get<std::uint64_t>("customers") == 6u);
  BOOST_TEST(report.get<std::uint64_t>("changed") == 5u);  // all but 5 (no transactions)
  std::vector<std::string> moves;
  for (const auto& [_, m] : report.get_child("moves"))
    moves.push_back(m.get<std::string>("field") + " " + m.get<std::string>("from") + "->" +
                    m.get<std::string>("to") + " " + m.get<std::string>("customers"));
  const std::vector<std::string> expected_moves = {"stage new->active 3", "stage new->at_risk 2",
                                                   "tier bronze->gold 1"};
  BOOST_TEST(moves == expected_moves, boost::test_tools::per_element());
  BOOST_TEST((tiers_and_stages(db) == before));
  o = expect(0, db, {"rules", "apply", "--as-of", kAsOf, "--dry-run"});
  BOOST_TEST(contains(o.out, "would change"));
  BOOST_TEST(contains(o.out, "dry run: nothing written"));

  // For real, in batches of 2: the same report, and the values change as decided.
  o = expect(0, db, {"rules", "apply", "--as-of", kAsOf, "--batch", "2"});
  BOOST_TEST(contains(o.out, "bronze"));
  BOOST_TEST(contains(o.out, "examined 6 customers as of 2024-02-05: 5 changed"), o.out);
  auto after = tiers_and_stages(db);
  using P = std::pair<Tier, Stage>;
  BOOST_TEST((after[1] == P{Tier::kGold, Stage::kActive}));
  BOOST_TEST((after[2] == P{Tier::kBronze, Stage::kAtRisk}));
  BOOST_TEST((after[3] == P{Tier::kBronze, Stage::kAtRisk}));
  BOOST_TEST((after[4] == P{Tier::kGold, Stage::kActive}));
  BOOST_TEST((after[5] == P{Tier::kBronze, Stage::kNew}));  // no rule matches: kept
  BOOST_TEST((after[6] == P{Tier::kBronze, Stage::kActive}));

  // Idempotent: a second run changes nothing.
  o = expect(0, db, {"rules", "apply", "--as-of", kAsOf, "--json"});
  report = parse_json(o.out);
  BOOST_TEST(report.get<std::uint64_t>("changed") == 0u);
  BOOST_TEST(report.get_child("moves").empty());

  // Time passes: a month later customer 1 (last transaction 01-29) is at risk too.
  o = expect(0, db, {"rules", "apply", "--as-of", "2024-03-05", "--json"});
  report = parse_json(o.out);
  moves.clear();
  for (const auto& [_, m] : report.get_child("moves"))
    moves.push_back(m.get<std::string>("field") + " " + m.get<std::string>("from") + "->" +
                    m.get<std::string>("to") + " " + m.get<std::string>("customers"));
  // 1: 36 days, 6: 29 days since the last transaction; 4 (03-01) stays active.
  const std::vector<std::string> later = {"stage active->at_risk 2"};
  BOOST_TEST(moves == later, boost::test_tools::per_element());

  // An empty file clears the rules.
  o = expect(0, db, {"rules", "set", "-"}, "# nothing\n");
  BOOST_TEST(contains(o.out, "stored 0 rules"));
  BOOST_TEST(expect(0, db, {"rules", "list", "--json"}).out == "[]\n");
}

BOOST_AUTO_TEST_SUITE_END()
