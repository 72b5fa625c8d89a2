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
#include "cdnow.h"
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

// Known answers: one purchase, same-day purchases, a zero-value purchase, purchases after the
// as-of date, other kinds, the edges of the as-of day, both units.
BOOST_DATA_TEST_CASE(rfm_follows_the_definitions, kModes, mode) {
  TempDir dir;
  Database db = open_db(mode, dir.path());
  for (CustomerId id = 1; id <= 6; ++id) add_customer(db, id);
  auto w = must(db.begin_write());
  must(w.add_transaction(purchase(1, "2026-01-10T12:00:00Z", 1000)));  // one purchase
  must(w.add_transaction(purchase(2, "2026-01-01T10:00:00Z", 500)));   // same day: 12.00
  must(w.add_transaction(purchase(2, "2026-01-01T18:00:00Z", 700)));
  must(w.add_transaction(purchase(2, "2026-01-15T00:00:00Z", 300)));   // same day: 7.00
  must(w.add_transaction(purchase(2, "2026-01-15T23:59:59.999Z", 400)));
  must(w.add_transaction(purchase(2, "2026-02-02T00:00:00Z", 9900)));  // after the as-of day
  must(w.add_transaction(purchase(3, "2026-01-05T00:00:00Z", 2000)));
  must(w.add_transaction(purchase(3, "2026-01-12T00:00:00Z", 0)));     // zero value repeat
  must(w.add_transaction(purchase(4, "2026-02-10T00:00:00Z", 100)));   // first purchase later
  must(w.add_transaction(purchase(5, "2026-01-20T00:00:00Z", 100, TransactionKind::kDeposit)));
  must(w.add_transaction(purchase(6, "2026-01-01T00:00:00Z", 100)));
  must(w.add_transaction(purchase(6, "2026-02-01T23:59:59.999Z", 250)));  // last ms of as-of day
  must(w.commit());

  auto view = must(db.begin_read());
  auto rows = must(rfm_summary(view, {day("2026-02-01"), TimeUnit::kDay}));
  BOOST_TEST_REQUIRE(rows.size() == 4u);  // customer 4: not yet; customer 5: no purchase
  std::map<CustomerId, RfmRow> by_id;
  for (auto& r : rows) by_id[r.id] = r;
  BOOST_TEST(by_id[1].frequency == 0u);
  BOOST_TEST(by_id[1].recency == 0.0);
  BOOST_TEST(by_id[1].T == 22.0);
  BOOST_TEST(by_id[1].monetary_value == 0.0);
  BOOST_TEST(by_id[2].frequency == 1u);
  BOOST_TEST(by_id[2].recency == 14.0);
  BOOST_TEST(by_id[2].T == 31.0);
  BOOST_TEST(by_id[2].monetary_value == 7.0);
  BOOST_TEST(by_id[3].frequency == 1u);
  BOOST_TEST(by_id[3].monetary_value == 0.0);
  BOOST_TEST(by_id[6].frequency == 1u);
  BOOST_TEST(by_id[6].recency == 31.0);
  BOOST_TEST(by_id[6].monetary_value == 2.5);

  auto weeks = must(rfm_summary(view, {day("2026-02-01"), TimeUnit::kWeek}));
  BOOST_TEST(weeks.at(1).id == 2u);
  BOOST_TEST(weeks.at(1).recency == 2.0);
  BOOST_TEST(weeks.at(1).T == 31.0 / 7);

  auto deposits = must(rfm_summary(view, {day("2026-02-01"), TimeUnit::kDay, {TransactionKind::kDeposit}}));
  BOOST_TEST_REQUIRE(deposits.size() == 1u);
  BOOST_TEST(deposits[0].id == 5u);
  BOOST_TEST(deposits[0].T == 12.0);

  // Before anyone's first purchase: nobody is summarised.
  BOOST_TEST(must(rfm_summary(view, {day("2025-12-31"), TimeUnit::kDay})).empty());
  // Kinds must not be empty.
  auto none = rfm_summary(view, {day("2026-02-01"), TimeUnit::kDay, {}});
  BOOST_TEST_REQUIRE(!none.has_value());
  BOOST_TEST(none.error().code() == ErrorCode::kInvalidArgument);
}

BOOST_AUTO_TEST_CASE(rfm_scores_are_quintiles_with_shared_ties) {
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir.path());
  // Customer i buys on days 1..i (i purchase days, so frequency i - 1), 1.00 each, the last
  // on day i: recency grows with i.
  auto w = must(db.begin_write());
  for (int i = 1; i <= 10; ++i) {
    Customer c;
    c.id = static_cast<CustomerId>(i);
    c.name = "C";
    must(w.insert_customer(c));
    for (int d = 1; d <= i; ++d) {
      std::string ts = "2026-01-" + std::string(d < 10 ? "0" : "") + std::to_string(d);
      must(w.add_transaction(purchase(c.id, ts.c_str(), 100 * i)));
    }
  }
  must(w.commit());
  auto view = must(db.begin_read());
  auto rows = must(rfm_summary(view, {day("2026-01-31"), TimeUnit::kDay}));
  BOOST_TEST_REQUIRE(rows.size() == 10u);
  const std::uint8_t expected[] = {1, 1, 2, 2, 3, 3, 4, 4, 5, 5};
  for (int i = 0; i < 10; ++i) {
    BOOST_TEST(rows[i].f_score == expected[i]);
    BOOST_TEST(rows[i].r_score == expected[i]);  // the later the last purchase, the better
  }
  // Customer 1 has no repeat (monetary 0); 2..10 spend 2.00..10.00 per repeat day.
  BOOST_TEST(rows[0].m_score == 1);
  BOOST_TEST(rows[9].m_score == 5);
}

// The published CDNOW parameters as a stored model, fitted "as of" 2026-01-01.
ClvModel published_model() {
  ClvModel m;
  m.bgnbd = {0.243, 4.414, 0.793, 2.426};
  m.gamma_gamma = {6.25, 3.74, 15.44};
  m.as_of = day("2026-01-01");
  m.unit = TimeUnit::kWeek;
  m.kinds = {TransactionKind::kPurchase};
  m.customers = 1;
  m.fitted_at = Timestamp{milliseconds{1}};
  return m;
}

// A small base with varied histories for scoring, rules and derived attributes.
void populate_histories(Database& db, int customers) {
  auto w = must(db.begin_write());
  for (int i = 1; i <= customers; ++i) {
    Customer c = sample_customer(i);
    c.id = static_cast<CustomerId>(i);
    c.external_ref.clear();
    must(w.insert_customer(c));
    // Customer i: (i % 7) purchases, every (3 + i % 11) days from day (i % 60) of 2025;
    // every 9th customer never buys.
    if (i % 9 == 0) continue;
    Date first = day("2025-01-01") + days{i % 60};
    for (int k = 0; k <= i % 7; ++k) {
      Transaction t = purchase(c.id, "2025-01-01", 500 + 137 * ((i * 31 + k * 7) % 50));
      t.ts = time_point_cast<milliseconds>(sys_days{first + days{k * (3 + i % 11) * (1 + i % 5)}}) +
             hours{(i * k) % 24};
      must(w.add_transaction(t));
    }
  }
  must(w.commit());
}

BOOST_DATA_TEST_CASE(scoring_writes_model_scores_and_clears_stale_ones, kModes, mode) {
  TempDir dir;
  Database db = open_db(mode, dir.path());
  populate_histories(db, 300);

  auto no_model = score_customers(db, {day("2025-06-30")});
  BOOST_TEST_REQUIRE(!no_model.has_value());
  BOOST_TEST(no_model.error().code() == ErrorCode::kFailedPrecondition);

  const ClvModel model = published_model();
  must(store_model(db, model));
  ScoreOptions so;
  so.as_of = day("2025-06-30");
  so.horizon = 26;
  so.annual_discount = 0.1;
  so.batch = 7;  // many write transactions
  auto report = must(score_customers(db, so));
  std::vector<RfmRow> rows;
  {
    auto view = must(db.begin_read());
    rows = must(rfm_summary(view, {day("2025-06-30"), TimeUnit::kWeek}));
  }
  BOOST_TEST(report.scored == rows.size());
  BOOST_TEST(report.cleared == 0u);
  auto view = must(db.begin_read());
  std::map<CustomerId, const RfmRow*> row_of;
  for (const auto& r : rows) row_of[r.id] = &r;
  int checked = 0;
  must(view.for_each_customer([&](const Customer& c) {
    auto it = row_of.find(c.id);
    if (it == row_of.end()) {
      BOOST_TEST(!c.scores.has_value());
      return true;
    }
    BOOST_TEST_REQUIRE(c.scores.has_value());
    const RfmRow& r = *it->second;
    clv::Summary s{static_cast<double>(r.frequency), r.recency, r.T, r.monetary_value};
    BOOST_TEST(c.scores->as_of == day("2025-06-30"));
    BOOST_TEST(to_millionths(c.scores->p_alive) == to_millionths(clv::p_alive(model.bgnbd, s)));
    BOOST_TEST(to_millionths(c.scores->expected_purchases) ==
               to_millionths(clv::expected_purchases(model.bgnbd, s, 26)));
    BOOST_TEST(c.scores->expected_value == std::llround(clv::expected_value(model.gamma_gamma, s) * 100));
    BOOST_TEST(c.scores->clv == std::llround(clv::lifetime_value(model.bgnbd, model.gamma_gamma, s,
                                                                  26, 0.1, TimeUnit::kWeek) * 100));
    BOOST_TEST(c.scores->r_score == r.r_score);
    BOOST_TEST(c.scores->f_score == r.f_score);
    BOOST_TEST(c.scores->m_score == r.m_score);
    BOOST_TEST(c.scores->p_alive <= 1.0);
    ++checked;
    return true;
  }));
  BOOST_TEST(checked == static_cast<int>(rows.size()));
  // Scores survive an application's update, which cannot change them: refused (naming the
  // field), the rest of that update not applied; an update leaving them alone keeps them.
  auto before = must(view.get_customer(rows[0].id));
  {
    auto w = must(db.begin_write());
    auto refused = w.update_customer(rows[0].id, [](Customer& c) {
      c.name = "Renamed";
      c.scores.reset();
    });
    BOOST_TEST_REQUIRE(!refused.has_value());
    BOOST_TEST(refused.error().message().rfind("scores:", 0) == 0u, refused.error().message());
    BOOST_TEST(must(w.update_customer(rows[0].id, [](Customer& c) { c.name = "Renamed"; })));
    must(w.commit());
  }
  view = must(db.begin_read());
  BOOST_TEST((must(view.get_customer(rows[0].id))->scores == before->scores));

  // Scored again as of a day before some customers' first purchase: their scores go.
  so.as_of = day("2025-01-20");
  view = must(db.begin_read());
  auto early_rows = must(rfm_summary(view, {day("2025-01-20"), TimeUnit::kWeek}));
  auto again = must(score_customers(db, so));
  BOOST_TEST(again.scored == early_rows.size());
  BOOST_TEST(again.cleared == rows.size() - early_rows.size());
  BOOST_TEST(again.cleared > 0u);
  require_clean(db);
}

BOOST_DATA_TEST_CASE(derived_attributes_agree_with_the_reference_evaluator, kModes, mode) {
  TempDir dir;
  Database db = open_db(mode, dir.path());
  populate_histories(db, 400);
  must(store_model(db, published_model()));
  ScoreOptions so;
  so.as_of = day("2025-06-30");
  must(score_customers(db, so));
  const std::vector<std::string> texts = {
      "clv > 20.00 and p_alive < 0.3",
      "p_alive >= 0.5",
      "p_alive between 0.2 and 0.8",
      "expected_purchases > 1.5",
      "expected_purchases <= 0.25",
      "clv between 5.00 and 40.00",
      "r_score = 5",
      "f_score >= 4 and m_score <= 2",
      "not r_score in (1, 2)",
      "recency_days > 90",
      "recency_days between 30 and 60",
      "recency_days = 100",
      "recency_days != 100",
      "tenure_days >= 150 and recency_days < 120",
      "tenure_days < 160",
      "not tenure_days > 170",
      "p_alive != 1",
  };
  auto view = must(db.begin_read());
  std::vector<Customer> all;
  must(view.for_each_customer([&](const Customer& c) {
    all.push_back(c);
    return true;
  }));
  for (const char* as_of : {"2025-06-30", "2025-09-15"}) {
    SegmentOptions o;
    o.as_of = day(as_of);
    query::EvalContext ctx;
    ctx.as_of = *o.as_of;
    // Boundaries taken from the data, so every comparison meets values equal to its operand.
    std::vector<std::string> cases = texts;
    for (std::size_t i = 0; i < all.size(); i += 37) {
      const Customer& c = all[i];
      std::vector<std::pair<std::string, std::string>> values;
      if (c.aggregates.last_txn_at) {
        auto days_to = [&](Timestamp t) {
          return std::to_string((*o.as_of - floor<days>(t)).count());
        };
        values.push_back({"recency_days", days_to(*c.aggregates.last_txn_at)});
        values.push_back({"tenure_days", days_to(*c.aggregates.first_txn_at)});
      }
      if (c.scores) {
        auto q = query::parse("p_alive = 0").value();
        q.values[0] = to_millionths(c.scores->p_alive);
        values.push_back({"p_alive", q.to_string().substr(10)});
        q = query::parse("expected_purchases = 0").value();
        q.values[0] = to_millionths(c.scores->expected_purchases);
        values.push_back({"expected_purchases", q.to_string().substr(21)});
        q = query::parse("clv = 0").value();
        q.values[0] = c.scores->clv;
        values.push_back({"clv", q.to_string().substr(6)});
      }
      for (const auto& [field, v] : values)
        for (const char* cmp : {" = ", " < ", " <= ", " > ", " >= ", " != "})
          cases.push_back(field + cmp + v);
    }
    BOOST_TEST_REQUIRE(cases.size() > texts.size() + 30);
    for (const auto& text : cases) {
      auto q = must(query::parse(text));
      std::vector<CustomerId> expected;
      for (const auto& c : all)
        if (query::matches(q, c, ctx)) expected.push_back(c.id);
      auto got = must(view.ids(q, o));
      BOOST_TEST(got == expected, text << " as of " << as_of << ": " << got.size() << " vs "
                                       << expected.size());
      BOOST_TEST(must(view.count(q, o)) == expected.size());
    }
  }
  // Every query above matched something somewhere, or the test proves little.
  SegmentOptions o;
  o.as_of = day("2025-06-30");
  BOOST_TEST(must(view.count(must(query::parse("p_alive < 0.3")), o)) > 0u);
  BOOST_TEST(must(view.count(must(query::parse("recency_days > 90")), o)) > 0u);
}

BOOST_AUTO_TEST_CASE(derived_fields_parse_print_and_reject_bad_values) {
  auto q = must(query::parse("p_alive < 0.25 and clv >= 500.00 and r_score = 5 and recency_days > 90"));
  BOOST_TEST(q.to_string() == "p_alive < 0.25 and clv >= 500.00 and r_score = 5 and recency_days > 90");
  BOOST_TEST((must(query::parse(q.to_string())) == q));
  BOOST_TEST(std::get<std::int64_t>(q.children[0].values[0]) == 250000);
  using namespace custdb::query;
  BOOST_TEST((lt(Field::kPAlive, Decimal{250000}) == q.children[0]));
  for (const char* bad : {"p_alive < 0.1234567", "r_score = 6", "f_score = 0", "p_alive = high",
                          "clv > 1.234", "tenure_days > 1.5", "m_score < gold"}) {
    auto r = query::parse(bad);
    BOOST_TEST(!r.has_value(), bad);
    if (!r) BOOST_TEST(r.error().code() == ErrorCode::kInvalidArgument);
  }
}

BOOST_DATA_TEST_CASE(rules_move_tiers_and_stages_first_match_wins, kModes, mode) {
  TempDir dir;
  Database db = open_db(mode, dir.path());
  populate_histories(db, 200);
  {
    auto view = must(db.begin_read());
    BOOST_TEST(must(rules(view)).empty());
  }
  std::vector<Rule> list;
  for (const char* text : {"tier = platinum when total_amount >= 60.00",
                           "tier = gold when total_amount >= 30.00",
                           "stage = churned when recency_days > 180",
                           "stage = at_risk when recency_days > 90",
                           "stage = active when recency_days <= 90 and txn_count >= 2",
                           "tier = diamond when total_amount >= 10.00"})
    list.push_back(must(parse_rule(text)));
  BOOST_TEST(to_string(list[3]) == "stage = at_risk when recency_days > 90");
  must(set_rules(db, list));

  const Date as_of = day("2025-08-01");
  // What the rules say, computed here by brute force.
  std::map<CustomerId, std::pair<Tier, Stage>> want;
  {
    auto view = must(db.begin_read());
    query::EvalContext ctx;
    ctx.as_of = as_of;
    must(view.for_each_customer([&](const Customer& c) {
      Tier t = c.tier;
      Stage s = c.stage;
      bool tier_set = false, stage_set = false;
      for (const Rule& r : list) {
        if (!query::matches(must(query::parse(r.when)), c, ctx)) continue;
        if (auto* v = std::get_if<Tier>(&r.assign); v && !tier_set) t = *v, tier_set = true;
        if (auto* v = std::get_if<Stage>(&r.assign); v && !stage_set) s = *v, stage_set = true;
      }
      want[c.id] = {t, s};
      return true;
    }));
  }
  ApplyOptions ao;
  ao.as_of = as_of;
  ao.batch = 13;
  ao.dry_run = true;
  auto dry = must(apply_rules(db, ao));
  BOOST_TEST(dry.customers == 200u);
  BOOST_TEST(dry.changed > 0u);
  std::uint64_t tier_moves = 0, stage_moves = 0;
  for (const auto& m : dry.moves) (m.field == "tier" ? tier_moves : stage_moves) += m.customers;
  BOOST_TEST(tier_moves > 0u);
  BOOST_TEST(stage_moves > 0u);
  {
    // A dry run writes nothing.
    auto view = must(db.begin_read());
    BOOST_TEST(must(view.get_customer(1))->tier == sample_customer(1).tier);
  }
  ao.dry_run = false;
  auto applied = must(apply_rules(db, ao));
  BOOST_TEST(applied.changed == dry.changed);
  BOOST_TEST(applied.moves.size() == dry.moves.size());
  {
    auto view = must(db.begin_read());
    must(view.for_each_customer([&](const Customer& c) {
      BOOST_TEST(c.tier == want[c.id].first, "customer " << c.id);
      BOOST_TEST(c.stage == want[c.id].second, "customer " << c.id);
      return true;
    }));
  }
  // Applying again as of the same day changes nothing; later, time alone moves stages.
  BOOST_TEST(must(apply_rules(db, ao)).changed == 0u);
  ao.as_of = day("2026-03-01");
  auto later = must(apply_rules(db, ao));
  BOOST_TEST(later.changed > 0u);
  for (const auto& m : later.moves) BOOST_TEST(m.field == "stage");
  require_clean(db);

  // A bad rule stores nothing: the old list stays.
  std::vector<Rule> bad = list;
  bad.push_back(Rule{Tier::kGold, "total_amount > lots"});
  BOOST_TEST(!set_rules(db, bad).has_value());
  for (const char* text : {"tier = gold", "tier = golden when txn_count > 1",
                           "region = east when txn_count > 1", "stage = new where txn_count > 1",
                           "stage = new when txn_count >"})
    BOOST_TEST(!parse_rule(text).has_value(), text);
  auto view = must(db.begin_read());
  BOOST_TEST((must(rules(view)) == list));
}

BOOST_AUTO_TEST_CASE(key_rotation_keeps_the_model_and_rules) {
  TempDir dir;
  {
    Database db = open_db(Mode::kEncrypted, dir.path());
    populate_histories(db, 20);
    must(store_model(db, published_model()));
    Rule r = must(parse_rule("stage = at_risk when recency_days > 90"));
    must(set_rules(db, std::span(&r, 1)));
  }
  must(rotate_data_key(dir.path(), options_for(Mode::kEncrypted)));
  Database db = open_db(Mode::kEncrypted, dir.path());
  auto view = must(db.begin_read());
  BOOST_TEST((must(load_model(view)) == published_model()));
  BOOST_TEST(must(rules(view)).size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace custdb::test
