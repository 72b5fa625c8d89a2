// The public segment API against a brute force over the records (issue #14, "Must show"):
// range predicates on every ordered attribute at boundaries taken from the data, reports with
// zero, one and two group attributes and random measures, rank by every attribute (with ties),
// and and/or/not combinations, in plaintext and encrypted mode. The brute force decodes every
// customer once (ReadView::for_each_customer) and runs query::matches, computes each group's
// statistics in 128 bits, and sorts for rank: the definitions of docs/queries.md and
// custdb/segment.h, independent of the index.
//
// The data (tests/random_data.h): random customers plus boundary ones (dates at 1800-01-01 and
// 2200-12-31, totals at ±2^53 and beyond, equal totals, zero totals of nonzero transactions,
// customers without transactions, birth date or income band; ids across the index's 2^16-id
// chunks and beyond 2^32), scored through the engine's own
// scoring door (analytics_access::set_scores, what score_customers writes with) with int64
// extremes, 0, 1 and repeated values of clv, p_alive and expected_purchases, or never scored.
#include <algorithm>
#include <map>
#include <set>

#include "custdb/query.h"
#include "engine/analytics_access.h"
#include "random_data.h"
#include "segment_queries.h"
#include "test_util.h"
#include "util/normalize.h"

using namespace custdb;
using namespace custdb::test;
using query::Field;

namespace {

// ---- the data ------------------------------------------------------------------------------------

constexpr int kRandomCustomers = 400;

// Random customers with 0-5 transactions, the boundary customers, transactions at the first and
// last instant the engine accepts, and scores for about two thirds of the customers.
void build(Database& db, std::uint32_t seed) {
  std::mt19937 r(seed);
  auto txn = must(db.begin_write());
  std::vector<CustomerId> ids;
  for (int i = 0; i < kRandomCustomers; ++i) {
    CustomerId id = must(txn.insert_customer(random_customer(r)));
    ids.push_back(id);
    for (int k = static_cast<int>(r() % 6); k > 0; --k) must(txn.add_transaction(random_txn(r, id)));
  }
  // The boundary customers get ids at the edges of the index's 2^16-id chunks and of the 2^32
  // parts of its id sets (slices and ranges work chunk by chunk), the rest the next free ones.
  const CustomerId spread[] = {65'535, 65'536, 65'537, 131'072, 1'000'003, (1ull << 32) - 1,
                               1ull << 32, (1ull << 32) + 1, (1ull << 40) + 7, (1ull << 62) + 1};
  std::size_t next_spread = 0;
  for (auto& [customer, total] : boundary_customers(r)) {
    if (next_spread < std::size(spread)) customer.id = spread[next_spread++];
    CustomerId id = must(txn.insert_customer(customer));
    ids.push_back(id);
    if (total)
      for (const Transaction& t : txns_totalling(r, id, *total)) must(txn.add_transaction(t));
  }
  for (const char* ts : {"1800-01-01T00:00:00Z", "2200-12-31T23:59:59.999Z"}) {
    CustomerId id = must(txn.insert_customer(random_customer(r)));
    ids.push_back(id);
    Transaction t = random_txn(r, id);
    t.ts = parse_timestamp(ts).value();
    must(txn.add_transaction(t));
  }
  for (CustomerId id : ids)
    if (r() % 3) BOOST_TEST_REQUIRE(must(analytics_access::set_scores(txn, id, random_scores(r))));
  // Both int64 extremes of clv, whatever the draw: a sum of them needs more than 64 bits.
  for (std::size_t i : {0, 1}) {
    Scores s = random_scores(r);
    s.clv = i == 0 ? kI64Min : kI64Max;
    BOOST_TEST_REQUIRE(must(analytics_access::set_scores(txn, ids[i], s)));
  }
  must(txn.commit());
}

// Random writes that move every kind of value: updated attributes, transactions added, amended
// (amount and time) and removed, scores set (boundary values included) and cleared, customers
// deleted with their transactions.
void churn(WriteTxn& txn, std::mt19937& r, std::size_t customers) {
  auto some_customer = [&] { return CustomerId{1 + r() % customers}; };
  for (std::size_t i = 0; i < customers / 2; ++i) {
    const CustomerId id = some_customer();
    switch (r() % 7) {
      case 0: (void)txn.delete_customer(id, DeleteMode::kCascade); break;
      case 1:
        (void)txn.update_customer(id, [&](Customer& c) {
          Customer fresh = random_customer(r);
          fresh.id = c.id;
          fresh.aggregates = c.aggregates;  // the engine's fields: changing them is refused
          fresh.scores = c.scores;
          fresh.updated_at = c.updated_at;
          c = fresh;
        });
        break;
      case 2: (void)txn.add_transaction(random_txn(r, id)); break;
      case 3: (void)txn.remove_transaction(1 + r() % (customers * 2)); break;
      case 4:
        (void)txn.amend_transaction(1 + r() % (customers * 2), [&](Transaction& t) {
          t.amount = r() % 2 ? -t.amount : random_txn(r, t.customer_id).amount;
          t.ts = random_ts(r);
        });
        break;
      case 5: (void)analytics_access::set_scores(txn, id, random_scores(r)); break;
      default: (void)analytics_access::set_scores(txn, id, std::nullopt);
    }
  }
}

std::vector<Customer> all_customers(const ReadView& view) {
  std::vector<Customer> out;
  must(view.for_each_customer([&](const Customer& c) {
    out.push_back(c);
    return true;
  }));
  return out;
}

// ---- the reference (queries: segment_queries.h) -----------------------------------------------------

// The value of a RankBy / Measure attribute in stored units (custdb/segment.h).
std::optional<std::int64_t> rank_value(const Customer& c, RankBy by) {
  switch (by) {
    case RankBy::kTotalAmount: return field_value(c, Field::kTotalAmount);
    case RankBy::kTxnCount: return field_value(c, Field::kTxnCount);
    case RankBy::kLastTxnAt: return field_value(c, Field::kLastTxnAt);
    case RankBy::kFirstTxnAt: return field_value(c, Field::kFirstTxnAt);
    case RankBy::kCreatedAt: return field_value(c, Field::kCreatedAt);
    case RankBy::kBirthDate: return field_value(c, Field::kBirthDate);
    case RankBy::kClv: return field_value(c, Field::kClv);
    case RankBy::kPAlive: return field_value(c, Field::kPAlive);
    case RankBy::kExpectedPurchases: return field_value(c, Field::kExpectedPurchases);
    case RankBy::kIncomeBand: return field_value(c, Field::kIncomeBand);
    case RankBy::kRScore: return field_value(c, Field::kRScore);
    case RankBy::kFScore: return field_value(c, Field::kFScore);
    case RankBy::kMScore: return field_value(c, Field::kMScore);
  }
  return std::nullopt;
}

// A group value and its place in the natural order (enum number, text bytes, number; "" first).
struct GroupKey {
  std::int64_t order = 0;
  std::string text;
  bool operator<(const GroupKey& o) const { return std::tie(order, text) < std::tie(o.order, o.text); }
};

GroupKey enum_key(auto v) { return {static_cast<std::int64_t>(v), std::string(to_string(v))}; }
GroupKey text_key(std::string s) { return {0, std::move(s)}; }
GroupKey number_key(std::optional<std::int64_t> n) {
  return n ? GroupKey{*n, std::to_string(*n)} : GroupKey{kI64Min, ""};
}

// The customer's groups under one attribute: one, or one per tag (a customer without tags is
// in the "" group).
std::vector<GroupKey> groups_of(const Customer& c, GroupBy g) {
  const auto& s = c.scores;
  auto score = [&](std::uint8_t Scores::*m) {
    return number_key(s ? std::optional<std::int64_t>((*s).*m) : std::nullopt);
  };
  switch (g) {
    case GroupBy::kTier: return {enum_key(c.tier)};
    case GroupBy::kRegion: return {text_key(normalize::fold(c.address.region))};
    case GroupBy::kStage: return {enum_key(c.stage)};
    case GroupBy::kType: return {enum_key(c.type)};
    case GroupBy::kCity: return {text_key(normalize::fold(c.address.city))};
    case GroupBy::kCountry: return {text_key(c.address.country)};
    case GroupBy::kGender: return {enum_key(c.gender)};
    case GroupBy::kRisk: return {enum_key(c.risk)};
    case GroupBy::kIncomeBand:
      return {number_key(c.income_band ? std::optional<std::int64_t>(*c.income_band) : std::nullopt)};
    case GroupBy::kTag: {
      if (c.tags.empty()) return {text_key("")};
      std::vector<GroupKey> out;
      for (const std::string& t : c.tags) out.push_back(text_key(t));
      return out;
    }
    case GroupBy::kConsentEmail: return {enum_key(c.consent_email.state)};
    case GroupBy::kConsentSms: return {enum_key(c.consent_sms.state)};
    case GroupBy::kConsentPhone: return {enum_key(c.consent_phone.state)};
    case GroupBy::kRScore: return {score(&Scores::r_score)};
    case GroupBy::kFScore: return {score(&Scores::f_score)};
    case GroupBy::kMScore: return {score(&Scores::m_score)};
  }
  return {};
}

std::vector<const Customer*> members(const std::vector<Customer>& all, const query::Node& q) {
  query::EvalContext ctx;
  ctx.as_of = kAsOf;
  std::vector<const Customer*> out;
  for (const Customer& c : all)
    if (query::matches(q, c, ctx)) out.push_back(&c);
  return out;
}

std::vector<ReportRow> brute_report(const std::vector<const Customer*>& segment, const ReportSpec& spec) {
  std::map<std::vector<GroupKey>, ReportRow> rows;
  for (const Customer* c : segment) {
    std::vector<std::vector<GroupKey>> combos{{}};
    for (const auto& key : spec.by) {
      const GroupBy g = *key.builtin;
      std::vector<std::vector<GroupKey>> next;
      for (const auto& prefix : combos)
        for (const GroupKey& k : groups_of(*c, g)) {
          next.push_back(prefix);
          next.back().push_back(k);
        }
      combos = std::move(next);
    }
    for (const auto& combo : combos) {
      ReportRow& row = rows[combo];
      if (row.measures.empty()) {
        row.measures.resize(spec.measures.size());
        for (const GroupKey& k : combo) row.group.push_back(k.text);
      }
      ++row.customers;
      for (std::size_t i = 0; i < spec.measures.size(); ++i) {
        auto v = rank_value(*c, *spec.measures[i].builtin);
        if (!v) continue;
        MeasureStats& m = row.measures[i];
        ++m.count;
        m.sum += *v;
        m.min = m.min ? std::min(*m.min, *v) : *v;
        m.max = m.max ? std::max(*m.max, *v) : *v;
      }
    }
  }
  std::vector<ReportRow> out;
  for (auto& [k, row] : rows) out.push_back(std::move(row));
  return out;
}

std::vector<Ranked> brute_rank(const std::vector<const Customer*>& segment, RankBy by, std::size_t n) {
  std::vector<Ranked> all;
  for (const Customer* c : segment)
    if (auto v = rank_value(*c, by)) all.push_back({c->id, *v});
  std::sort(all.begin(), all.end(), [](const Ranked& a, const Ranked& b) {
    return a.value != b.value ? a.value > b.value : a.id < b.id;
  });
  if (all.size() > n) all.resize(n);
  return all;
}

std::string describe(const ReportSpec& spec) {
  std::string s = "by (";
  for (const auto& g : spec.by) s += g.name() + " ";
  s += ") measures (";
  for (const auto& m : spec.measures) s += m.name() + " ";
  return s + ")";
}

void require_same_report(const std::vector<ReportRow>& got, const std::vector<ReportRow>& want,
                         const ReportSpec& spec, const std::string& what) {
  const std::string context = what + " " + describe(spec);
  BOOST_TEST_REQUIRE(got.size() == want.size(), context << ": " << got.size() << " rows, brute force " << want.size());
  for (std::size_t r = 0; r < got.size(); ++r) {
    const ReportRow& g = got[r];
    const ReportRow& w = want[r];
    BOOST_TEST_REQUIRE((g.group == w.group), context << " row " << r);
    const std::string row = context + " group " + (w.group.empty() ? "" : w.group[0]) +
                            (w.group.size() > 1 ? "/" + w.group[1] : "");
    BOOST_TEST_REQUIRE(g.customers == w.customers, row);
    BOOST_TEST_REQUIRE(g.measures.size() == w.measures.size(), row);
    for (std::size_t i = 0; i < w.measures.size(); ++i) {
      const MeasureStats& a = g.measures[i];
      const MeasureStats& b = w.measures[i];
      const std::string m = row + " measure " + spec.measures[i].name();
      BOOST_TEST_REQUIRE(a.count == b.count, m);
      BOOST_TEST_REQUIRE(text128(a.sum) == text128(b.sum), m);
      BOOST_TEST_REQUIRE(opt_text(a.min) == opt_text(b.min), m);
      BOOST_TEST_REQUIRE(opt_text(a.max) == opt_text(b.max), m);
      BOOST_TEST_REQUIRE(opt_text(a.avg()) == opt_text(b.avg()), m);
    }
  }
}

struct Fixture {
  TempDir dir;
  Database db;
  std::vector<Customer> customers;
  explicit Fixture(Mode mode, std::uint32_t seed) : db(open_db(mode, dir / "db")) {
    build(db, seed);
    auto txn = must(db.begin_read());
    customers = all_customers(txn);
  }
};

void require_same_ids(const ReadView& txn, const std::vector<Customer>& all, const query::Node& q) {
  std::vector<CustomerId> want;
  for (const Customer* c : members(all, q)) want.push_back(c->id);
  Segment seg = must(txn.select(q, SegmentOptions{kAsOf}));
  const std::uint64_t n = must(seg.count());
  const std::vector<CustomerId> got = must(seg.ids());
  BOOST_TEST_REQUIRE(n == want.size(), q.to_string() << ": count " << n << ", brute force " << want.size());
  BOOST_TEST_REQUIRE((got == want), q.to_string() << ": the ids differ from the brute force");
}

// explain() reports no candidate left for the records: every step "to check 0" and "records
// read to check candidates: 0".
void require_no_record_checks(const ReadView& txn, const query::Node& q) {
  const std::string plan = must(txn.explain(q, SegmentOptions{kAsOf}));
  BOOST_TEST_REQUIRE(plan.find("records read to check candidates: 0\n") != std::string::npos, plan);
  std::size_t steps = 0;
  for (std::size_t at = plan.find(", to check "); at != std::string::npos; at = plan.find(", to check ", at + 1), ++steps)
    BOOST_TEST_REQUIRE(plan.compare(at, 13, ", to check 0\n") == 0, plan);
  BOOST_TEST_REQUIRE(steps > 0u, plan);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(segment_differential)

// (a) Every range predicate on every ordered attribute, at bounds from the data and the limits.
BOOST_DATA_TEST_CASE(ranges_at_the_boundaries, kModes, mode) {
  Fixture f(mode, 1401);
  auto txn = must(f.db.begin_read());
  std::mt19937 r(77);
  std::size_t queries = 0, nonempty = 0, partial = 0;
  // A new file keeps the bit-sliced index (format 2 on): ranges are decided from the index alone.
  BOOST_TEST_REQUIRE(f.db.info().format_version >= 2u);
  for (Field field : kOrderedFields) {
    const auto bounds = boundaries(f.customers, field, r);
    for (const query::Node& q : range_predicates(field, bounds, r)) {
      require_same_ids(txn, f.customers, q);
      require_no_record_checks(txn, q);
      const std::size_t n = members(f.customers, q).size();
      ++queries;
      nonempty += n > 0;
      partial += n > 0 && n < f.customers.size();
    }
  }
  BOOST_TEST_MESSAGE(mode << ": " << queries << " range queries, " << partial << " cut the data");
  // The bounds must cut the data, not just select all or nothing.
  BOOST_TEST(partial > queries / 3);
  BOOST_TEST(nonempty > queries / 2);
}

// (b) Reports with 0, 1 and 2 group attributes and random measures, over every customer and
// over random segments.
BOOST_DATA_TEST_CASE(reports_equal_brute_force, kModes, mode) {
  Fixture f(mode, 1402);
  auto txn = must(f.db.begin_read());
  std::mt19937 r(78);
  std::vector<query::Node> pool = categorical_predicates();
  for (Field field : {Field::kTotalAmount, Field::kClv, Field::kBirthDate, Field::kPAlive})
    for (query::Node& q : range_predicates(field, boundaries(f.customers, field, r), r)) pool.push_back(std::move(q));
  std::vector<const Customer*> everyone;
  for (const Customer& c : f.customers) everyone.push_back(&c);

  // Every group attribute alone and every measure at least once, then random specs.
  std::vector<ReportSpec> specs;
  specs.push_back({{}, {std::begin(kAllRankBy), std::end(kAllRankBy)}});
  for (GroupBy g : kAllGroupBy) specs.push_back({{g}, {kAllRankBy[r() % 13], kAllRankBy[r() % 13]}});
  for (int i = 0; i < 40; ++i) {
    ReportSpec s;
    const int by = static_cast<int>(r() % 3);
    while (static_cast<int>(s.by.size()) < by) {
      GroupBy g = kAllGroupBy[r() % 16];
      if (std::find(s.by.begin(), s.by.end(), g) == s.by.end()) s.by.push_back(g);
    }
    for (int k = 1 + static_cast<int>(r() % 4); k > 0; --k) s.measures.push_back(kAllRankBy[r() % 13]);
    specs.push_back(std::move(s));
  }
  specs.push_back({{GroupBy::kTier, GroupBy::kRegion}, {Measure::kTotalAmount, Measure::kClv}});
  specs.push_back({{GroupBy::kTag, GroupBy::kIncomeBand}, {Measure::kPAlive, Measure::kTotalAmount}});

  for (const ReportSpec& spec : specs) {
    require_same_report(must(txn.report_all(spec)), brute_report(everyone, spec), spec, "report_all");
    for (int k = 0; k < 3; ++k) {
      query::Node q = combination(pool, r);
      auto segment = members(f.customers, q);
      auto want = brute_report(segment, spec);
      auto got = must(txn.report(q, spec, SegmentOptions{kAsOf}));
      // An empty segment without group attributes: no row, or one row of nothing.
      if (segment.empty() && spec.by.empty() && got.size() == 1 && got[0].customers == 0) continue;
      require_same_report(got, want, spec, "report of " + q.to_string());
    }
  }

  // Sums past 64 bits stay exact: the boundary clv values include both int64 extremes.
  ReportSpec clv{{}, {Measure::kClv}};
  auto rows = must(txn.report_all(clv));
  BOOST_TEST_REQUIRE(rows.size() == 1u);
  BOOST_TEST(opt_text(rows[0].measures[0].max) == std::to_string(kI64Max));
  BOOST_TEST(opt_text(rows[0].measures[0].min) == std::to_string(kI64Min));

  // Refused specs.
  auto three = txn.report_all({{GroupBy::kTier, GroupBy::kRegion, GroupBy::kStage}, {}});
  BOOST_TEST_REQUIRE(!three.has_value());
  BOOST_TEST(three.error().code() == ErrorCode::kInvalidArgument);
  auto twice = txn.report_all({{GroupBy::kTier, GroupBy::kTier}, {Measure::kClv}});
  BOOST_TEST_REQUIRE(!twice.has_value());
  BOOST_TEST(twice.error().code() == ErrorCode::kInvalidArgument);
}

// (c) Rank (and top, its records) by every attribute, ties included (equal totals, clv and income bands), for n below,
// at and above the number ranked.
BOOST_DATA_TEST_CASE(rank_by_every_attribute, kModes, mode) {
  Fixture f(mode, 1403);
  auto txn = must(f.db.begin_read());
  std::mt19937 r(79);
  std::vector<query::Node> pool = categorical_predicates();
  for (Field field : {Field::kTxnCount, Field::kLastTxnAt, Field::kExpectedPurchases})
    for (query::Node& q : range_predicates(field, boundaries(f.customers, field, r), r)) pool.push_back(std::move(q));
  std::vector<query::Node> segments = {query::ge(Field::kTxnCount, std::int64_t{0})};  // everyone
  for (int i = 0; i < 6; ++i) segments.push_back(combination(pool, r));
  std::size_t ties = 0;
  for (const query::Node& q : segments) {
    auto segment = members(f.customers, q);
    Segment seg = must(txn.select(q, SegmentOptions{kAsOf}));
    for (RankBy by : kAllRankBy) {
      const std::size_t ranked = brute_rank(segment, by, SIZE_MAX).size();
      for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{7}, ranked / 2, ranked,
                            ranked + 3}) {
        auto want = brute_rank(segment, by, n);
        auto got = must(seg.rank(by, n));
        BOOST_TEST_REQUIRE((got == want), q.to_string() << " rank by " << to_string(by) << " n " << n
                                                        << ": " << got.size() << " vs " << want.size());
        auto shorthand = must(txn.rank(q, by, n, SegmentOptions{kAsOf}));
        BOOST_TEST_REQUIRE((shorthand == want), "ReadView::rank " << to_string(by));
        if (n <= 7) {  // top: the same customers as whole records
          auto records = must(seg.top(by, n));
          BOOST_TEST_REQUIRE(records.size() == want.size(), "top " << to_string(by));
          for (std::size_t i = 0; i < want.size(); ++i) {
            BOOST_TEST_REQUIRE(records[i].id == want[i].id, "top " << to_string(by) << " #" << i);
            BOOST_TEST_REQUIRE(opt_text(rank_value(records[i], by)) == std::to_string(want[i].value));
          }
        }
        for (std::size_t i = 1; i < want.size(); ++i) ties += want[i].value == want[i - 1].value;
      }
    }
  }
  BOOST_TEST(ties > 0u);  // the data must have ties for the id order to be tested
}

// (d) and/or/not over range predicates of every ordered attribute and categorical ones.
BOOST_DATA_TEST_CASE(combinations_equal_brute_force, kModes, mode) {
  Fixture f(mode, 1404);
  auto txn = must(f.db.begin_read());
  std::mt19937 r(80);
  std::vector<query::Node> pool = categorical_predicates();
  for (Field field : kOrderedFields) {
    auto preds = range_predicates(field, boundaries(f.customers, field, r), r);
    for (int i = 0; i < 8; ++i) pool.push_back(preds[r() % preds.size()]);
  }
  std::size_t nonempty = 0;
  const int kQueries = 400;
  for (int i = 0; i < kQueries; ++i) {
    query::Node q = combination(pool, r);
    require_same_ids(txn, f.customers, q);
    require_no_record_checks(txn, q);
    nonempty += !members(f.customers, q).empty();
  }
  BOOST_TEST(nonempty > static_cast<std::size_t>(kQueries / 4));
}

// After random writes: inside a write transaction that then aborts and after the abort, inside
// the write transaction (its queued index changes flushed before each query) and after commit, ranges, reports and ranks still equal the brute force, and the
// consistency check (which recomputes the index from the records) finds nothing.
BOOST_DATA_TEST_CASE(after_random_writes, kModes, mode) {
  Fixture f(mode, 1405);
  std::mt19937 r(81);
  std::vector<query::Node> pool = categorical_predicates();
  for (Field field : kOrderedFields) {
    auto preds = range_predicates(field, boundaries(f.customers, field, r), r);
    for (int i = 0; i < 6; ++i) pool.push_back(preds[r() % preds.size()]);
  }
  const ReportSpec spec{{GroupBy::kTier, GroupBy::kTag},
                        {Measure::kTotalAmount, Measure::kClv, Measure::kLastTxnAt, Measure::kPAlive}};
  auto compare = [&](const ReadView& view, const char* when) {
    BOOST_TEST_CONTEXT(when) {
      const std::vector<Customer> all = all_customers(view);
      std::vector<const Customer*> everyone;
      for (const Customer& c : all) everyone.push_back(&c);
      for (int i = 0; i < 60; ++i) require_same_ids(view, all, combination(pool, r));
      require_same_report(must(view.report_all(spec)), brute_report(everyone, spec), spec, when);
      for (RankBy by : kAllRankBy)
        BOOST_TEST_REQUIRE((must(view.rank(query::ge(Field::kTxnCount, std::int64_t{0}), by, 25,
                                           SegmentOptions{kAsOf})) == brute_rank(everyone, by, 25)),
                           "rank by " << to_string(by));
    }
  };
  {  // Written, queried (so flushed, and its chunks read), then aborted: nothing of it may show.
    auto txn = must(f.db.begin_write());
    churn(txn, r, f.customers.size());
    compare(txn, "inside a write transaction that aborts");
    txn.abort();
    auto read = must(f.db.begin_read());
    compare(read, "after the abort");
  }
  {
    auto txn = must(f.db.begin_write());
    churn(txn, r, f.customers.size());
    compare(txn, "inside the write transaction");
    churn(txn, r, f.customers.size());  // more writes after the flush a query made
    compare(txn, "after more writes");
    must(txn.commit());
  }
  auto txn = must(f.db.begin_read());
  compare(txn, "after commit");
  require_clean(f.db);
}

// The format-1 fixtures (tests/fixtures/v1_db, written before the bit-sliced index): opened
// read-only they stay format 1 and answer from buckets, record checks and record scans; opened
// read-write they are upgraded (slices and value dictionaries built). Both answer ranges,
// reports and ranks as the brute force does, and the upgraded file checks no record.
BOOST_DATA_TEST_CASE(format_1_files_read_only_and_upgraded, kModes, mode) {
  TempDir dir;
  fs::copy_file(fs::path(CUSTDB_FIXTURE_DIR) / "v1_db" /
                    (mode == Mode::kEncrypted ? "encrypted" : "plaintext") / "data.mdb",
                dir / "data.mdb");
  Options o;
  if (mode == Mode::kEncrypted) o.key = KeyMaterial::from_passphrase("fixture-passphrase");
  auto compare = [&](const Database& db, bool sliced) {
    auto txn = must(db.begin_read());
    const std::vector<Customer> all = all_customers(txn);
    std::vector<const Customer*> everyone;
    for (const Customer& c : all) everyone.push_back(&c);
    std::mt19937 r(82);
    for (Field field : kOrderedFields) {
      auto preds = range_predicates(field, boundaries(all, field, r), r);
      for (int i = 0; i < 12; ++i) {
        const query::Node& q = preds[r() % preds.size()];
        require_same_ids(txn, all, q);
        if (sliced) require_no_record_checks(txn, q);
      }
    }
    for (GroupBy g : kAllGroupBy) {
      const ReportSpec spec{{g, kAllGroupBy[r() % 16]}, {kAllRankBy[r() % 13], kAllRankBy[r() % 13]}};
      if (spec.by[0] == spec.by[1]) continue;
      require_same_report(must(txn.report_all(spec)), brute_report(everyone, spec), spec, "report_all");
    }
    for (RankBy by : kAllRankBy)
      BOOST_TEST_REQUIRE((must(txn.rank(query::ge(Field::kTxnCount, std::int64_t{0}), by, 30,
                                        SegmentOptions{kAsOf})) == brute_rank(everyone, by, 30)),
                         "rank by " << to_string(by));
  };
  {
    Options ro = o;
    ro.read_only = true;
    ro.create_if_missing = false;
    auto db = must(Database::open(dir.path(), ro));
    BOOST_TEST_REQUIRE(db.info().format_version == 1u);
    compare(db, false);
  }
  auto db = must(Database::open(dir.path(), o));
  BOOST_TEST_REQUIRE(db.info().format_version == 7u);  // upgraded 1 -> 2 -> 3
  compare(db, true);
}

BOOST_AUTO_TEST_SUITE_END()
