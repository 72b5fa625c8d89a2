// Customer value analytics over the engine's tables (custdb/analytics.h): RFM summaries checked
// against the published CDNOW summary, model fits against the published parameters, scoring
// and derived segment attributes, and tier/stage rules.
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "custdb/analytics.h"
#include "custdb/database.h"
#include "custdb/query.h"
#include "test_util.h"

namespace custdb::test {
namespace {

namespace bdata = boost::unit_test::data;
using namespace std::chrono;

Date day(const char* text) { return parse_date(text).value(); }

Transaction purchase(CustomerId id, const char* ts, std::int64_t cents,
                     TransactionKind kind = TransactionKind::kPurchase) {
  Transaction t = sample_txn(id, cents, ts);
  t.kind = kind;
  return t;
}

CustomerId add_customer(Database& db, CustomerId id, Tier tier = Tier::kBronze,
                        Stage stage = Stage::kNew) {
  Customer c;
  c.id = id;
  c.name = "C" + std::to_string(id);
  c.tier = tier;
  c.stage = stage;
  return must(db.insert_customer(c));
}

// ---- the CDNOW sample ----

struct CdnowRow {
  std::uint64_t x;
  double t_x, T, zbar;
};

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  BOOST_TEST_REQUIRE(in.good(), "cannot read " << path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// Imports CDNOW_sample.txt (master id, sample id, yyyymmdd, CDs, dollars) as customers keyed
// by sample id and purchase transactions in cents, through the public API in one transaction.
void import_cdnow_sample(Database& db) {
  auto w = must(db.begin_write());
  std::map<CustomerId, bool> seen;
  for (const auto& line : lines_of(CUSTDB_FIXTURE_DIR "/cdnow/CDNOW_sample.txt")) {
    std::istringstream fields(line);
    std::string master, sample, date, cds, dollars;
    fields >> master >> sample >> date >> cds >> dollars;
    CustomerId id = std::stoull(sample);
    if (!seen[id]) {
      Customer c;
      c.id = id;
      c.external_ref = master;
      c.name = "CDNOW " + master;
      must(w.insert_customer(c));
      seen[id] = true;
    }
    Transaction t;
    t.customer_id = id;
    t.ts = time_point_cast<milliseconds>(
        sys_days{year{std::stoi(date.substr(0, 4))} / std::stoi(date.substr(4, 2)) /
                 std::stoi(date.substr(6, 2))});
    auto dot = dollars.find('.');
    t.amount = std::stoll(dollars.substr(0, dot)) * 100 +
               (dot == std::string::npos ? 0 : std::stoll((dollars.substr(dot + 1) + "00").substr(0, 2)));
    t.currency = "USD";
    t.kind = TransactionKind::kPurchase;
    t.channel = Channel::kWeb;
    t.product = cds + " CDs";
    must(w.add_transaction(t));
  }
  must(w.commit());
}

std::map<std::uint64_t, CdnowRow> published_summary() {
  std::map<std::uint64_t, CdnowRow> out;
  auto lines = lines_of(CUSTDB_FIXTURE_DIR "/cdnow/cdnow_summary_1997-09-30.csv");
  BOOST_TEST_REQUIRE(lines.at(0) == "ID,x,t_x,T,zbar");
  for (std::size_t i = 1; i < lines.size(); ++i) {
    std::istringstream in(lines[i]);
    std::string id, x, t_x, T, zbar;
    std::getline(in, id, ',');
    std::getline(in, x, ',');
    std::getline(in, t_x, ',');
    std::getline(in, T, ',');
    std::getline(in, zbar, ',');
    out[std::stoull(id)] = {std::stoull(x), std::stod(t_x), std::stod(T), std::stod(zbar)};
  }
  return out;
}

// Published values are rounded to 2 decimals.
bool agrees(double ours, double published) { return std::fabs(ours - published) <= 0.005 + 1e-9; }

}  // namespace

BOOST_AUTO_TEST_SUITE(analytics)

BOOST_DATA_TEST_CASE(cdnow_sample_matches_published_summary_and_fits, kModes, mode) {
  TempDir dir;
  Database db = open_db(mode, dir.path());
  import_cdnow_sample(db);
  auto view = must(db.begin_read());
  auto rows = must(rfm_summary(view, {day("1997-09-30"), TimeUnit::kWeek}));
  auto published = published_summary();
  BOOST_TEST_REQUIRE(published.size() == 2357u);
  BOOST_TEST_REQUIRE(rows.size() == published.size());
  int mismatches = 0;
  for (const RfmRow& r : rows) {
    auto it = published.find(r.id);
    BOOST_TEST_REQUIRE((it != published.end()), "customer " << r.id << " not in the summary");
    const CdnowRow& p = it->second;
    bool ok = r.frequency == p.x && agrees(r.recency, p.t_x) && agrees(r.T, p.T) &&
              agrees(r.monetary_value, p.zbar);
    if (!ok && ++mismatches <= 10)
      BOOST_ERROR("customer " << r.id << ": ours x=" << r.frequency << " t_x=" << r.recency
                              << " T=" << r.T << " zbar=" << r.monetary_value << ", published x="
                              << p.x << " t_x=" << p.t_x << " T=" << p.T << " zbar=" << p.zbar);
  }
  BOOST_TEST(mismatches == 0);

  // Both models, fitted on the engine's own summary, match the published parameters.
  auto model = must(fit_clv(view, {day("1997-09-30"), TimeUnit::kWeek}));
  BOOST_CHECK_CLOSE(model.bgnbd.r, 0.243, 1.0);
  BOOST_CHECK_CLOSE(model.bgnbd.alpha, 4.414, 1.0);
  BOOST_CHECK_CLOSE(model.bgnbd.a, 0.793, 1.0);
  BOOST_CHECK_CLOSE(model.bgnbd.b, 2.426, 1.0);
  BOOST_TEST(std::fabs(model.bgnbd_log_likelihood - -9582.4) < 0.1);
  BOOST_CHECK_CLOSE(model.gamma_gamma.p, 6.25, 1.0);
  BOOST_CHECK_CLOSE(model.gamma_gamma.q, 3.74, 1.0);
  BOOST_CHECK_CLOSE(model.gamma_gamma.gamma, 15.44, 1.0);
  BOOST_TEST(model.customers == 2357u);
  BOOST_TEST(model.repeat_customers == 946u);
  BOOST_TEST(model.as_of == day("1997-09-30"));
  must(store_model(db, model));
  auto again = must(db.begin_read());
  auto stored = must(load_model(again));
  BOOST_TEST_REQUIRE(stored.has_value());
  BOOST_TEST((*stored == model));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace custdb::test
