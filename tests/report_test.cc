// Segment::rank, report, top and group (src/engine/report.cc) against brute force over the
// records, in both storage modes: random customers (several tags, some without region, income
// band or scores), random transactions, scores with negative and near-limit clv, every
// measure, every group-by attribute alone and in pairs, sparse and dense segments, after
// updates and deletes. The broader differential suite over random queries is elsewhere
// (issue #14's CLI/differential tests); this one is the engine's own.
#include <algorithm>
#include <map>
#include <tuple>

#include "custdb/query.h"
#include "engine/analytics_access.h"
#include "random_data.h"
#include "test_util.h"
#include "util/normalize.h"

using namespace custdb;
using namespace custdb::test;

namespace {

const Date kAsOf = parse_date("2026-06-15").value();

std::optional<std::int64_t> value_of(const Customer& c, RankBy m) {
  auto ms = [](std::optional<Timestamp> t) -> std::optional<std::int64_t> {
    if (!t) return std::nullopt;
    return t->time_since_epoch().count();
  };
  switch (m) {
    case RankBy::kTotalAmount: return c.aggregates.total_amount;
    case RankBy::kTxnCount: return static_cast<std::int64_t>(c.aggregates.txn_count);
    case RankBy::kLastTxnAt: return ms(c.aggregates.last_txn_at);
    case RankBy::kFirstTxnAt: return ms(c.aggregates.first_txn_at);
    case RankBy::kCreatedAt: return c.created_at.time_since_epoch().count();
    case RankBy::kBirthDate:
      if (!c.birth_date) return std::nullopt;
      return c.birth_date->time_since_epoch().count();
    case RankBy::kIncomeBand:
      if (!c.income_band) return std::nullopt;
      return *c.income_band;
    default: break;
  }
  if (!c.scores) return std::nullopt;
  switch (m) {
    case RankBy::kClv: return c.scores->clv;
    case RankBy::kPAlive: return to_millionths(c.scores->p_alive);
    case RankBy::kExpectedPurchases: return to_millionths(c.scores->expected_purchases);
    case RankBy::kRScore: return c.scores->r_score;
    case RankBy::kFScore: return c.scores->f_score;
    case RankBy::kMScore: return c.scores->m_score;
    default: return std::nullopt;
  }
}

// A group value with its place in the contract's order: "" first, then enum number / number,
// then text bytes.
using Key = std::tuple<int, std::int64_t, std::string>;
Key none() { return {0, 0, ""}; }
Key text(std::string s) { return s.empty() ? none() : Key{1, 0, std::move(s)}; }

std::vector<Key> keys_of(const Customer& c, GroupBy g) {
  auto e = [](auto v) { return Key{1, static_cast<std::int64_t>(v), to_string(v)}; };
  auto num = [](std::optional<std::int64_t> v) {
    return v ? Key{1, *v, std::to_string(*v)} : none();
  };
  switch (g) {
    case GroupBy::kTier: return {e(c.tier)};
    case GroupBy::kStage: return {e(c.stage)};
    case GroupBy::kType: return {e(c.type)};
    case GroupBy::kGender: return {e(c.gender)};
    case GroupBy::kRisk: return {e(c.risk)};
    case GroupBy::kConsentEmail: return {e(c.consent_email.state)};
    case GroupBy::kConsentSms: return {e(c.consent_sms.state)};
    case GroupBy::kConsentPhone: return {e(c.consent_phone.state)};
    case GroupBy::kRegion: return {text(normalize::fold(c.address.region))};
    case GroupBy::kCity: return {text(normalize::fold(c.address.city))};
    case GroupBy::kCountry: return {text(c.address.country)};
    case GroupBy::kTag: {
      if (c.tags.empty()) return {none()};
      std::vector<Key> out;
      for (const auto& t : c.tags) out.push_back(text(t));
      return out;
    }
    case GroupBy::kIncomeBand: return {num(value_of(c, RankBy::kIncomeBand))};
    case GroupBy::kRScore: return {num(value_of(c, RankBy::kRScore))};
    case GroupBy::kFScore: return {num(value_of(c, RankBy::kFScore))};
    case GroupBy::kMScore: return {num(value_of(c, RankBy::kMScore))};
  }
  return {none()};
}

void add(MeasureStats& m, std::int64_t v) {
  if (m.count == 0 || v < *m.min) m.min = v;
  if (m.count == 0 || v > *m.max) m.max = v;
  ++m.count;
  m.sum += v;
}

std::vector<ReportRow> brute_report(const std::vector<Customer>& members, const ReportSpec& spec) {
  std::map<std::vector<Key>, ReportRow> rows;
  // Without attributes, one row for the whole segment, even an empty one.
  if (spec.by.empty()) rows[{}].measures.resize(spec.measures.size());
  for (const Customer& c : members) {
    std::vector<std::vector<Key>> combos = {{}};
    for (const GroupKey& key : spec.by) {
      const GroupBy g = *key.builtin;
      std::vector<std::vector<Key>> next;
      for (const auto& prefix : combos)
        for (const Key& k : keys_of(c, g)) {
          next.push_back(prefix);
          next.back().push_back(k);
        }
      combos = std::move(next);
    }
    for (const auto& combo : combos) {
      ReportRow& r = rows[combo];
      if (r.customers == 0) {
        for (const Key& k : combo) r.group.push_back(std::get<2>(k));
        r.measures.resize(spec.measures.size());
      }
      ++r.customers;
      for (std::size_t i = 0; i < spec.measures.size(); ++i)
        if (auto v = value_of(c, *spec.measures[i].builtin)) add(r.measures[i], *v);
    }
  }
  std::vector<ReportRow> out;
  for (auto& [k, r] : rows) out.push_back(std::move(r));
  return out;
}

std::vector<Ranked> brute_rank(const std::vector<Customer>& members, RankBy by, std::size_t n) {
  std::vector<Ranked> all;
  for (const Customer& c : members)
    if (auto v = value_of(c, by)) all.push_back({c.id, *v});
  std::sort(all.begin(), all.end(), [](const Ranked& a, const Ranked& b) {
    return a.value != b.value ? a.value > b.value : a.id < b.id;
  });
  if (all.size() > n) all.resize(n);
  return all;
}

void fill(Database& db, std::mt19937& r, int n) {
  auto txn = must(db.begin_write());
  for (int i = 0; i < n; ++i) {
    CustomerId id = must(txn.insert_customer(random_customer(r)));
    for (int k = static_cast<int>(r() % 6); k > 0; --k) must(txn.add_transaction(random_txn(r, id)));
    if (r() % 3) {  // two in three scored
      Scores s;
      s.as_of = kAsOf;
      s.p_alive = static_cast<double>(r() % 1'000'001) / 1e6;
      s.expected_purchases = static_cast<double>(r() % 50'000'000) / 1e6;
      const std::int64_t clvs[] = {static_cast<std::int64_t>(r() % 2'000'000) - 500'000, INT64_MAX,
                                   INT64_MIN, INT64_MAX - 1, 0};
      s.clv = clvs[r() % 20 == 0 ? 1 + r() % 4 : 0];
      s.r_score = static_cast<std::uint8_t>(1 + r() % 5);
      s.f_score = static_cast<std::uint8_t>(1 + r() % 5);
      s.m_score = static_cast<std::uint8_t>(1 + r() % 5);
      must(analytics_access::set_scores(txn, id, s));
    }
  }
  must(txn.commit());
}

void churn(Database& db, std::mt19937& r, int n) {
  auto txn = must(db.begin_write());
  for (int i = 0; i < n / 4; ++i) {
    CustomerId id = 1 + r() % n;
    switch (r() % 4) {
      case 0: (void)txn.delete_customer(id, DeleteMode::kCascade); break;
      case 1: (void)txn.update_customer(id, [&](Customer& c) {
                Customer fresh = random_customer(r);
                fresh.id = c.id;
                fresh.aggregates = c.aggregates;  // the engine's fields: changing them is refused
                fresh.scores = c.scores;
                fresh.updated_at = c.updated_at;
                c = fresh;
              }); break;
      case 2: (void)txn.add_transaction(random_txn(r, id)); break;
      default: (void)analytics_access::set_scores(txn, id, std::nullopt);
    }
  }
  must(txn.commit());
}

std::vector<Customer> members_of(const ReadView& txn, const query::Node& q) {
  std::vector<Customer> out;
  must(txn.stream(q, [&](const Customer& c) {
    out.push_back(c);
    return true;
  }, {kAsOf}));
  return out;
}

void require_same(const std::vector<ReportRow>& got, const std::vector<ReportRow>& want,
                  const std::string& what) {
  BOOST_TEST_REQUIRE(got.size() == want.size(), what);
  for (std::size_t i = 0; i < got.size(); ++i) {
    BOOST_TEST_REQUIRE((got[i].group == want[i].group), what << " row " << i);
    BOOST_TEST(got[i].customers == want[i].customers, what << " row " << i);
    BOOST_TEST_REQUIRE(got[i].measures.size() == want[i].measures.size(), what);
    for (std::size_t m = 0; m < got[i].measures.size(); ++m) {
      const MeasureStats &g = got[i].measures[m], &w = want[i].measures[m];
      BOOST_TEST(g.count == w.count, what << " row " << i << " measure " << m);
      BOOST_TEST((g.sum == w.sum), what << " row " << i << " measure " << m);
      BOOST_TEST((g.min == w.min), what << " row " << i << " measure " << m);
      BOOST_TEST((g.max == w.max), what << " row " << i << " measure " << m);
    }
  }
}

const char* const kQueries[] = {"tier = gold or not tier = gold", "tier >= silver", "tag = vip and region != east",
                                "total_amount < 0", "tier = gold and tier = silver"};

std::vector<RankBy> all_measures() {
  std::vector<RankBy> out;
  for (int i = 0; i <= static_cast<int>(RankBy::kMScore); ++i) out.push_back(static_cast<RankBy>(i));
  return out;
}

void check_all(const Database& db, std::uint32_t seed) {
  auto txn = must(db.begin_read());
  std::mt19937 r(seed);
  const auto all = all_measures();
  const std::vector<MeasureKey> measures(all.begin(), all.end());
  for (const char* text : kQueries) {
    const auto q = query::parse(text).value();
    const auto members = members_of(txn, q);
    auto seg = must(txn.select(q, {kAsOf}));
    const std::string what = std::string(text);
    // No grouping; each attribute alone; random pairs.
    require_same(must(seg.report({{}, measures})), brute_report(members, {{}, measures}), what);
    for (int g = 0; g <= static_cast<int>(GroupBy::kMScore); ++g) {
      ReportSpec spec{{static_cast<GroupBy>(g)}, measures};
      require_same(must(seg.report(spec)), brute_report(members, spec),
                   what + " by " + to_string(static_cast<GroupBy>(g)));
    }
    for (int k = 0; k < 12; ++k) {
      auto a = static_cast<GroupBy>(r() % 16), b = static_cast<GroupBy>(r() % 16);
      if (a == b) continue;
      ReportSpec spec{{a, b}, {measures[r() % measures.size()], measures[r() % measures.size()]}};
      require_same(must(seg.report(spec)), brute_report(members, spec),
                   what + " by " + to_string(a) + "," + to_string(b));
    }
    // Ranks and tops.
    for (RankBy by : all)
      for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{100000}}) {
        auto got = must(seg.rank(by, n));
        auto want = brute_rank(members, by, n);
        BOOST_TEST_REQUIRE(got.size() == want.size(), what << " rank " << to_string(by) << " " << n);
        for (std::size_t i = 0; i < got.size(); ++i)
          BOOST_TEST_REQUIRE((got[i] == want[i]), what << " rank " << to_string(by) << " at " << i);
        if (n == 7) {
          auto top = must(seg.top(by, n));
          BOOST_TEST_REQUIRE(top.size() == want.size());
          for (std::size_t i = 0; i < top.size(); ++i) BOOST_TEST(top[i].id == want[i].id);
        }
      }
    // group(): the wave-1 rows, ordered by group text.
    for (GroupBy by : {GroupBy::kTier, GroupBy::kRegion, GroupBy::kStage, GroupBy::kType}) {
      auto rows = brute_report(members, {{by}, {RankBy::kTotalAmount, RankBy::kTxnCount}});
      std::sort(rows.begin(), rows.end(), [](auto& x, auto& y) { return x.group < y.group; });
      auto got = must(seg.group(by));
      BOOST_TEST_REQUIRE(got.size() == rows.size(), what);
      for (std::size_t i = 0; i < got.size(); ++i) {
        BOOST_TEST(got[i].group == rows[i].group[0]);
        BOOST_TEST(got[i].customers == rows[i].customers);
        BOOST_TEST((got[i].total_amount_sum == rows[i].measures[0].sum));
        BOOST_TEST(got[i].total_amount_min == *rows[i].measures[0].min);
        BOOST_TEST(got[i].total_amount_max == *rows[i].measures[0].max);
        BOOST_TEST((static_cast<AmountSum>(got[i].txn_count_sum) == rows[i].measures[1].sum));
      }
    }
  }
  // report_all is the report of every customer.
  const auto everyone = members_of(txn, query::parse("tier = gold or not tier = gold").value());
  ReportSpec spec{{GroupBy::kTier, GroupBy::kTag}, {RankBy::kClv, RankBy::kTotalAmount}};
  require_same(must(txn.report_all(spec)), brute_report(everyone, spec), "report_all");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(reports)

BOOST_DATA_TEST_CASE(report_rank_top_group_equal_brute_force, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  std::mt19937 r(1414);
  fill(db, r, 240);
  check_all(db, 1);
  churn(db, r, 240);
  require_clean(db);
  check_all(db, 2);
}

BOOST_DATA_TEST_CASE(refuses_bad_specs, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  std::mt19937 r(3);
  fill(db, r, 10);
  auto txn = must(db.begin_read());
  auto seg = must(txn.select(query::parse("tier = gold or not tier = gold").value()));
  auto three = seg.report({{GroupBy::kTier, GroupBy::kRegion, GroupBy::kStage}, {}});
  BOOST_TEST_REQUIRE(!three.has_value());
  BOOST_TEST(three.error().code() == ErrorCode::kInvalidArgument);
  auto twice = seg.report({{GroupBy::kTag, GroupBy::kTag}, {RankBy::kClv}});
  BOOST_TEST_REQUIRE(!twice.has_value());
  BOOST_TEST(twice.error().code() == ErrorCode::kInvalidArgument);
  auto group = seg.group(GroupBy::kCity);  // group keeps the wave-1 shape
  BOOST_TEST_REQUIRE(!group.has_value());
  BOOST_TEST(group.error().code() == ErrorCode::kInvalidArgument);
}

// Measures whose sums exceed 64 bits stay exact: clv at the int64 limits.
BOOST_DATA_TEST_CASE(sums_beyond_64_bits_are_exact, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  {
    auto txn = must(db.begin_write());
    for (int i = 0; i < 40; ++i) {
      Customer c = sample_customer(i);
      CustomerId id = must(txn.insert_customer(c));
      Scores s;
      s.clv = i % 4 == 0 ? INT64_MIN : INT64_MAX;
      s.r_score = s.f_score = s.m_score = 3;
      must(analytics_access::set_scores(txn, id, s));
    }
    must(txn.commit());
  }
  auto txn = must(db.begin_read());
  auto rows = must(txn.report_all({{GroupBy::kRegion}, {RankBy::kClv}}));
  BOOST_TEST_REQUIRE(rows.size() == 2u);  // east, west
  AmountSum total = 0;
  for (const auto& row : rows) total += row.measures[0].sum;
  BOOST_TEST((total == AmountSum{30} * INT64_MAX + AmountSum{10} * INT64_MIN));
  auto all = must(txn.report_all({{}, {RankBy::kClv}}));
  BOOST_TEST((all[0].measures[0].sum == total));
  BOOST_TEST(*all[0].measures[0].min == INT64_MIN);
  BOOST_TEST(*all[0].measures[0].max == INT64_MAX);
  auto top = must(txn.rank(query::parse("tier = gold or not tier = gold").value(), RankBy::kClv, 3));
  BOOST_TEST_REQUIRE(top.size() == 3u);
  for (const auto& t : top) BOOST_TEST(t.value == INT64_MAX);
  BOOST_TEST(top[0].id < top[1].id);  // ties by ascending id
}

BOOST_AUTO_TEST_SUITE_END()

// A format-1 file opened read-only has no slices (and, encrypted, no value dictionaries): the
// same answers come from the records of the segment (the fallback).
BOOST_AUTO_TEST_SUITE(reports_format1)

BOOST_DATA_TEST_CASE(read_only_format1_answers_from_records, kModes, mode) {
  TempDir dir;
  const bool enc = mode == Mode::kEncrypted;
  fs::copy(fs::path(CUSTDB_FIXTURE_DIR) / "v1_db" / (enc ? "encrypted" : "plaintext"), dir.path(),
           fs::copy_options::recursive);
  Options o;
  o.read_only = true;
  if (enc) o.key = KeyMaterial::from_passphrase("fixture-passphrase");
  {
    auto ro = Database::open(dir.path(), o);
    BOOST_TEST_REQUIRE(ro.has_value(), (ro ? "" : ro.error().to_string()));
    check_all(*ro, 3);
  }
  // Opened read-write, the file is upgraded (slices, and value dictionaries when encrypted):
  // the same answers from the index, and the checker agrees with the new structures.
  Options rw;
  rw.key = o.key;
  auto db = Database::open(dir.path(), rw);
  BOOST_TEST_REQUIRE(db.has_value(), (db ? "" : db.error().to_string()));
  require_clean(*db);
  check_all(*db, 4);
}

BOOST_AUTO_TEST_SUITE_END()
