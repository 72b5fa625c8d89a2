// Segment queries: the planner against the brute-force definition (decode every customer and
// run query::matches), on random data and thousands of random queries, in both storage modes,
// before and after random updates and deletes. Plus the result shapes: pages, streams, top-N,
// groups and explain.
#include <map>
#include <set>

#include "custdb/query.h"
#include "random_data.h"
#include "test_util.h"
#include "util/normalize.h"

// AmountSum (__int128) has no operator<<: Boost.Test prints it in decimal.
namespace boost::test_tools::tt_detail {
template <>
struct print_log_value<custdb::AmountSum> {
  void operator()(std::ostream& os, custdb::AmountSum v) {
    __extension__ using U128 = unsigned __int128;
    U128 m = v < 0 ? U128(0) - static_cast<U128>(v) : static_cast<U128>(v);
    std::string digits;
    do {
      digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(m % 10)));
      m /= 10;
    } while (m != 0);
    os << (v < 0 ? "-" : "") << digits;
  }
};
}  // namespace boost::test_tools::tt_detail

using namespace custdb;
using namespace custdb::test;

namespace {

const Date kAsOf = parse_date("2026-06-15").value();

// Random query text from the grammar.
class QueryGen {
 public:
  explicit QueryGen(std::uint32_t seed) : r_(seed) {}

  std::string query(int depth = 0) {
    int roll = static_cast<int>(r_() % 10);
    if (depth < 3 && roll < 2) return "(" + query(depth + 1) + " and " + query(depth + 1) + ")";
    if (depth < 3 && roll < 3) return "(" + query(depth + 1) + " or " + query(depth + 1) + ")";
    if (depth < 3 && roll < 4) return "not " + query(depth + 1);
    if (depth < 2 && roll == 4 && r_() % 2) {
      const char* types[] = {"household", "spouse", "referral", "godparent"};
      std::string t = types[r_() % 4];
      return r_() % 3 ? "related(" + t + ", " + query(depth + 2) + ")" : "related(" + t + ")";
    }
    return predicate();
  }

 private:
  std::string cmp(bool ordered) {
    const char* all[] = {"=", "!=", "<", "<=", ">", ">="};
    return ordered ? all[r_() % 6] : all[r_() % 2];
  }
  std::string date() {
    int y = 2022 + static_cast<int>(r_() % 5), m = 1 + static_cast<int>(r_() % 12),
        d = 1 + static_cast<int>(r_() % 28);
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
    return buf;
  }
  std::string birth() {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", 1940 + static_cast<int>(r_() % 66),
                  1 + static_cast<int>(r_() % 12), 1 + static_cast<int>(r_() % 28));
    return buf;
  }
  std::string amount() {
    std::int64_t cents = static_cast<std::int64_t>(r_() % 20'000'000) - 1'000'000;
    if (r_() % 4 == 0) cents = static_cast<std::int64_t>(r_() % 200'000);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%lld.%02lld", cents < 0 ? "-" : "",
                  static_cast<long long>(std::llabs(cents) / 100), static_cast<long long>(std::llabs(cents) % 100));
    return buf;
  }
  template <std::size_t N>
  std::string one_of(const char* const (&names)[N]) { return names[r_() % N]; }

  std::string predicate() {
    static const char* types[] = {"individual", "corporate", "prospect"};
    static const char* tiers[] = {"bronze", "silver", "gold", "platinum", "diamond"};
    static const char* stages[] = {"prospect", "new", "active", "loyal", "at_risk", "churned"};
    static const char* genders[] = {"female", "male", "other", "unknown"};
    static const char* risks[] = {"low", "medium", "high"};
    static const char* consents[] = {"granted", "denied", "unknown"};
    switch (r_() % 18) {
      case 0: return "type " + cmp(false) + " " + one_of(types);
      case 1: {
        if (r_() % 3 == 0) return "tier in (" + one_of(tiers) + ", " + one_of(tiers) + ")";
        if (r_() % 4 == 0) return "tier between " + one_of(tiers) + " and " + one_of(tiers);
        return "tier " + cmp(true) + " " + one_of(tiers);
      }
      case 2: return "stage " + cmp(false) + " " + one_of(stages);
      case 3: return "region " + cmp(false) + " " + std::string(kRegions[r_() % 4]);
      case 4: return "city " + cmp(false) + " '" + std::string(kCities[r_() % 4]) + "'";
      case 5: return "country in (" + std::string(kCountries[r_() % 3]) + ", " + kCountries[r_() % 3] + ")";
      case 6: return "gender " + cmp(false) + " " + one_of(genders);
      case 7: return "income_band " + cmp(true) + " " + std::to_string(1 + r_() % 10);
      case 8: return "risk " + cmp(true) + " " + one_of(risks);
      case 9: return "birth_date " + cmp(true) + " " + birth();
      case 10: return r_() % 3 ? "age " + cmp(true) + " " + std::to_string(15 + r_() % 70)
                               : "age between " + std::to_string(20 + r_() % 30) + " and " + std::to_string(40 + r_() % 40);
      case 11: return "created_at " + cmp(true) + " " + date();
      case 12: return std::string("consent_") + (r_() % 2 ? "email" : "sms") + " " + cmp(false) + " " + one_of(consents);
      case 13: return "txn_count " + cmp(true) + " " + std::to_string(r_() % 7);
      case 14: return r_() % 4 ? "total_amount " + cmp(true) + " " + amount()
                               : "total_amount between " + amount() + " and " + amount();
      case 15: return "first_txn_at " + cmp(true) + " " + date();
      case 16: return "last_txn_at " + cmp(true) + " " + date();
      default: return "tag = " + std::string(kTags[r_() % 4]);
    }
  }
  std::mt19937 r_;
};

void fill(Database& db, std::mt19937& r, int n) {
  auto txn = must(db.begin_write());
  for (int i = 0; i < n; ++i) {
    CustomerId id = must(txn.insert_customer(random_customer(r)));
    for (int k = static_cast<int>(r() % 6); k > 0; --k) must(txn.add_transaction(random_txn(r, id)));
  }
  const char* types[] = {"household", "spouse", "referral", "godparent"};
  for (int i = 0; i < n / 2; ++i) {
    Relationship rel;
    rel.from = 1 + r() % n;
    rel.to = 1 + r() % n;
    std::string t = types[r() % 4];
    if (t == "godparent") rel.type = RelationType::kCustom, rel.custom_type = t;
    else rel.type = *from_string<RelationType>(t);
    (void)txn.add_relationship(rel);  // self-links and duplicates are refused: fine
  }
  must(txn.commit());
}

void churn(Database& db, std::mt19937& r, int n) {
  auto txn = must(db.begin_write());
  for (int i = 0; i < n / 3; ++i) {
    CustomerId id = 1 + r() % n;
    switch (r() % 5) {
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
      case 3: (void)txn.remove_transaction(1 + r() % (n * 2)); break;
      default: (void)txn.amend_transaction(1 + r() % (n * 2), [&](Transaction& t) {
                 t.amount = random_txn(r, t.customer_id).amount;
                 t.ts = random_ts(r);
               });
    }
  }
  must(txn.commit());
}

// The brute-force answer.
std::vector<CustomerId> brute(const Database& db, const query::Node& q) {
  auto txn = must(db.begin_read());
  query::EvalContext ctx;
  ctx.as_of = kAsOf;
  ctx.related = [&](CustomerId id) {
    std::vector<std::pair<Relationship, Customer>> out;
    for (auto& rel : must(txn.relationships_of(id)))
      out.emplace_back(rel, must(txn.get_customer(rel.from == id ? rel.to : rel.from)).value());
    return out;
  };
  std::vector<CustomerId> ids;
  must(txn.for_each_customer([&](const Customer& c) {
    if (query::matches(q, c, ctx)) ids.push_back(c.id);
    return true;
  }));
  return ids;
}

void differential(const Database& db, std::uint32_t seed, int queries) {
  QueryGen gen(seed);
  auto txn = must(db.begin_read());
  SegmentOptions o{kAsOf};
  int nonempty = 0;
  for (int i = 0; i < queries; ++i) {
    std::string text = gen.query();
    auto q = query::parse(text);
    BOOST_TEST_REQUIRE(q.has_value(), text << ": " << (q ? "" : q.error().message()));
    auto want = brute(db, *q);
    auto got = must(txn.ids(*q, o));
    BOOST_TEST_REQUIRE((got == want), "query " << i << ": " << text << " planner " << got.size()
                                                << " brute force " << want.size());
    nonempty += !want.empty();
  }
  BOOST_TEST(nonempty > queries / 4);  // the generator must produce queries that select
}

}  // namespace

BOOST_AUTO_TEST_SUITE(segments)

BOOST_DATA_TEST_CASE(planner_equals_brute_force, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  std::mt19937 r(2026);
  fill(db, r, 300);
  require_clean(db);
  differential(db, 11, 1200);
  churn(db, r, 300);
  churn(db, r, 300);
  require_clean(db);
  differential(db, 12, 1200);
}

BOOST_AUTO_TEST_CASE(both_modes_give_identical_answers) {
  TempDir a, b;
  auto plain = open_db(Mode::kPlain, a.path());
  auto enc = open_db(Mode::kEncrypted, b.path());
  std::mt19937 r1(5), r2(5);
  fill(plain, r1, 200);
  fill(enc, r2, 200);
  QueryGen gen(99);
  auto tp = must(plain.begin_read());
  auto te = must(enc.begin_read());
  for (int i = 0; i < 300; ++i) {
    auto q = query::parse(gen.query()).value();
    BOOST_TEST_REQUIRE((must(tp.ids(q, {kAsOf})) == must(te.ids(q, {kAsOf}))), q.to_string());
  }
}

BOOST_DATA_TEST_CASE(result_shapes, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  std::mt19937 r(77);
  fill(db, r, 250);
  auto txn = must(db.begin_read());
  auto q = query::parse("tier >= silver or tag = vip").value();
  auto all = must(txn.ids(q, {kAsOf}));
  BOOST_TEST_REQUIRE(all.size() > 20u);
  BOOST_TEST(must(txn.count(q, {kAsOf})) == all.size());
  // Pages of 7 with the resume cursor reassemble the whole list.
  std::vector<CustomerId> paged;
  CustomerId after = 0;
  for (;;) {
    auto p = must(txn.page(q, 7, after, {kAsOf}));
    BOOST_TEST(p.ids.size() <= 7u);
    paged.insert(paged.end(), p.ids.begin(), p.ids.end());
    if (!p.next) break;
    after = *p.next;
  }
  BOOST_TEST((paged == all));
  // Streaming yields the records of those ids, in order, and can stop.
  std::vector<CustomerId> streamed;
  must(txn.stream(q, [&](const Customer& c) {
    streamed.push_back(c.id);
    return streamed.size() < 10;
  }, {kAsOf}));
  BOOST_TEST((streamed == std::vector<CustomerId>(all.begin(), all.begin() + 10)));
  // Top 15 by total_amount equals sorting the brute-force set.
  std::vector<Customer> members;
  for (auto id : all) members.push_back(must(txn.get_customer(id)).value());
  std::sort(members.begin(), members.end(), [](const Customer& a, const Customer& b) {
    return a.aggregates.total_amount != b.aggregates.total_amount
               ? a.aggregates.total_amount > b.aggregates.total_amount : a.id < b.id;
  });
  auto top = must(txn.top(q, RankBy::kTotalAmount, 15, {kAsOf}));
  BOOST_TEST_REQUIRE(top.size() == 15u);
  for (int i = 0; i < 15; ++i) BOOST_TEST(top[i].id == members[i].id);
  // Top by last activity leaves out customers without transactions.
  auto recent = must(txn.top(q, RankBy::kLastTxnAt, 1000, {kAsOf}));
  auto with_txns = std::count_if(members.begin(), members.end(),
                                 [](const Customer& c) { return c.aggregates.txn_count > 0; });
  BOOST_TEST(recent.size() == static_cast<std::size_t>(with_txns));
  // Groups by tier add up to the segment, with exact sums.
  auto groups = must(txn.group(q, GroupBy::kTier, {kAsOf}));
  std::uint64_t n = 0;
  for (const auto& g : groups) {
    n += g.customers;
    std::int64_t sum = 0, mx = INT64_MIN;
    for (const auto& c : members)
      if (to_string(c.tier) == g.group) sum += c.aggregates.total_amount, mx = std::max(mx, c.aggregates.total_amount);
    BOOST_TEST(g.total_amount_sum == sum);
    BOOST_TEST(g.total_amount_max == mx);
  }
  BOOST_TEST(n == all.size());
  auto plan = must(txn.explain(query::parse("region = east and total_amount > 100.00").value(), {kAsOf}));
  BOOST_TEST(plan.find("and (intersect)") != std::string::npos, plan);
  BOOST_TEST(plan.find("est ") != std::string::npos, plan);
  BOOST_TEST(plan.find("records read to check candidates") != std::string::npos, plan);
}

// Grouped aggregates equal grouping the brute-force members, for every GroupBy, on a sparse
// set (read by ordered point reads) and dense ones (one cursor pass over the table).
BOOST_DATA_TEST_CASE(groups_equal_brute_force_on_sparse_and_dense_sets, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  std::mt19937 r(31);
  fill(db, r, 300);
  churn(db, r, 100);
  auto txn = must(db.begin_read());
  const auto total = must(txn.counts()).customers;
  bool sparse = false, dense = false;
  for (const char* text : {"tier = diamond and tag = vip", "region = east", "tier >= silver or tag = vip",
                           "not tag = none-such"}) {
    auto q = query::parse(text).value();
    std::map<CustomerId, Customer> members;
    for (auto id : brute(db, q)) members.emplace(id, must(txn.get_customer(id)).value());
    (members.size() * 4 < total ? sparse : dense) = true;
    for (GroupBy by : {GroupBy::kTier, GroupBy::kStage, GroupBy::kType, GroupBy::kRegion}) {
      std::map<std::string, GroupRow> want;
      for (const auto& [id, c] : members) {
        std::string key = by == GroupBy::kTier    ? std::string(to_string(c.tier))
                          : by == GroupBy::kStage ? std::string(to_string(c.stage))
                          : by == GroupBy::kType  ? std::string(to_string(c.type))
                                                  : normalize::fold(c.address.region);
        GroupRow& g = want[key];
        const std::int64_t t = c.aggregates.total_amount;
        if (g.customers == 0) g.group = key, g.total_amount_min = g.total_amount_max = t;
        ++g.customers;
        g.total_amount_sum += t;
        g.total_amount_min = std::min(g.total_amount_min, t);
        g.total_amount_max = std::max(g.total_amount_max, t);
        g.txn_count_sum += c.aggregates.txn_count;
      }
      auto got = must(txn.group(q, by, {kAsOf}));
      BOOST_TEST_REQUIRE(got.size() == want.size(), text);
      for (const auto& g : got) {
        auto w = want.find(g.group);
        BOOST_TEST_REQUIRE((w != want.end()), text << ": group " << g.group);
        BOOST_TEST(g.customers == w->second.customers, text << ": " << g.group);
        BOOST_TEST(g.total_amount_sum == w->second.total_amount_sum, text << ": " << g.group);
        BOOST_TEST(g.total_amount_min == w->second.total_amount_min, text << ": " << g.group);
        BOOST_TEST(g.total_amount_max == w->second.total_amount_max, text << ": " << g.group);
        BOOST_TEST(g.txn_count_sum == w->second.txn_count_sum, text << ": " << g.group);
      }
    }
  }
  BOOST_TEST(sparse);
  BOOST_TEST(dense);
}

BOOST_DATA_TEST_CASE(write_transaction_sees_its_own_changes, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  auto q = query::parse("tier = diamond and tag = vip").value();
  auto txn = must(db.begin_write());
  Customer c = sample_customer(1);
  c.tier = Tier::kDiamond;
  CustomerId id = must(txn.insert_customer(c));
  BOOST_TEST(must(txn.count(q)) == 1u);
  must(txn.update_customer(id, [](Customer& x) { x.tags.clear(); }));
  BOOST_TEST(must(txn.count(q)) == 0u);
  must(txn.commit());
  require_clean(db);
}

// A query inside a write transaction writes the pending segment postings first; when that
// fills the map the query fails with kResourceExhausted, the transaction is poisoned and
// nothing of it is stored.
BOOST_DATA_TEST_CASE(query_in_a_write_transaction_that_fills_the_map, kModes, mode) {
  TempDir dir;
  Options o;
  o.max_map_size = 1024 * 1024;
  auto db = open_db(mode, dir.path(), o);
  (void)must(db.insert_customer(sample_customer(1)));
  auto all = query::parse("tier >= bronze").value();
  auto txn = must(db.begin_write());
  std::optional<Error> failed;
  for (int i = 2; i <= 20000 && !failed; ++i) {
    if (auto r = txn.insert_customer(sample_customer(i)); !r) failed = r.error();
    // Every 500 inserts a query flushes the postings queued so far.
    else if (i % 500 == 0) {
      if (auto n = txn.count(all); !n) failed = n.error();
      else BOOST_TEST_REQUIRE(*n == static_cast<std::uint64_t>(i));
    }
  }
  BOOST_TEST_REQUIRE(failed.has_value());
  BOOST_TEST((failed->code() == ErrorCode::kResourceExhausted), failed->to_string());
  auto n = txn.count(all);
  BOOST_TEST_REQUIRE(!n.has_value());
  BOOST_TEST((n.error().code() == ErrorCode::kResourceExhausted));
  txn.abort();
  BOOST_TEST(must(must(db.begin_read()).count(all)) == 1u);
  require_clean(db);
}

// ReadView::select evaluates once: its Segment answers equal the brute-force definition and
// the ReadView shorthands, pages reassemble the whole answer for any page size, `after` need
// not be a member, and a segment is refused once its transaction has ended or written again.
BOOST_DATA_TEST_CASE(select_equals_brute_force_and_pages_to_the_end, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  std::mt19937 r(404);
  fill(db, r, 300);
  churn(db, r, 100);
  QueryGen gen(405);
  auto txn = must(db.begin_read());
  const SegmentOptions o{kAsOf};
  int multi_page = 0;
  for (int i = 0; i < 150; ++i) {
    const std::string text = gen.query();
    auto q = query::parse(text).value();
    const auto want = brute(db, q);
    Segment seg = must(txn.select(q, o));
    BOOST_TEST_REQUIRE((must(seg.ids()) == want), text);
    BOOST_TEST_REQUIRE(must(seg.count()) == want.size(), text);
    BOOST_TEST_REQUIRE(must(txn.count(q, o)) == want.size(), text);
    BOOST_TEST_REQUIRE((must(txn.ids(q, o)) == want), text);
    // Paging to the end with the resume cursor, in pages of 1..9.
    const std::size_t limit = 1 + r() % 9;
    std::vector<CustomerId> paged;
    CustomerId after = 0;
    int pages = 0;
    for (;; ++pages) {
      auto p = must(seg.page(limit, after));
      BOOST_TEST_REQUIRE(p.ids.size() <= limit, text);
      auto old = must(txn.page(q, limit, after, o));
      BOOST_TEST_REQUIRE((p.ids == old.ids && p.next == old.next), text);
      paged.insert(paged.end(), p.ids.begin(), p.ids.end());
      if (!p.next) break;
      BOOST_TEST_REQUIRE(p.ids.size() == limit, text);  // only the last page may be short
      BOOST_TEST_REQUIRE(*p.next == p.ids.back(), text);
      after = *p.next;
    }
    multi_page += pages > 1;
    BOOST_TEST_REQUIRE((paged == want), text << " in pages of " << limit);
    // `after` between members, past the last, and limit 0 (everything after).
    const CustomerId probe = r() % 400;
    std::vector<CustomerId> tail;
    for (CustomerId id : want)
      if (id > probe) tail.push_back(id);
    auto rest = must(seg.page(0, probe));
    BOOST_TEST_REQUIRE((rest.ids == tail), text << " after " << probe);
    BOOST_TEST_REQUIRE(!rest.next.has_value());
    auto past = must(seg.page(5, want.empty() ? 0 : want.back()));
    BOOST_TEST_REQUIRE(past.ids.empty());
    BOOST_TEST_REQUIRE(!past.next.has_value());
    if (i % 10 == 0) {
      std::vector<CustomerId> streamed;
      must(seg.stream([&](const Customer& c) {
        streamed.push_back(c.id);
        return true;
      }));
      BOOST_TEST_REQUIRE((streamed == want), text);
      auto top = must(seg.top(RankBy::kTotalAmount, 7));
      auto old_top = must(txn.top(q, RankBy::kTotalAmount, 7, o));
      BOOST_TEST_REQUIRE(top.size() == old_top.size(), text);
      for (std::size_t k = 0; k < top.size(); ++k) BOOST_TEST_REQUIRE(top[k].id == old_top[k].id, text);
      auto groups = must(seg.group(GroupBy::kTier));
      auto old_groups = must(txn.group(q, GroupBy::kTier, o));
      BOOST_TEST_REQUIRE(groups.size() == old_groups.size(), text);
      for (std::size_t k = 0; k < groups.size(); ++k) {
        BOOST_TEST_REQUIRE(groups[k].group == old_groups[k].group, text);
        BOOST_TEST_REQUIRE(groups[k].customers == old_groups[k].customers, text);
      }
      BOOST_TEST_REQUIRE((must(seg.explain()) == must(txn.explain(q, o))), text);
    }
  }
  BOOST_TEST(multi_page > 30);  // the queries must select enough to page

  // A Segment outlives its transaction only as an error.
  auto q = query::parse("tier >= bronze").value();
  auto failed_precondition = [](const auto& r) {
    return !r.has_value() && r.error().code() == ErrorCode::kFailedPrecondition;
  };
  std::optional<Segment> kept;
  {
    auto read = must(db.begin_read());
    kept.emplace(must(read.select(q, o)));
    BOOST_TEST(must(kept->count()) > 0u);
  }
  BOOST_TEST(failed_precondition(kept->count()));
  BOOST_TEST(failed_precondition(kept->ids()));
  BOOST_TEST(failed_precondition(kept->page(10)));
  BOOST_TEST(failed_precondition(kept->top(RankBy::kTxnCount, 3)));
  BOOST_TEST(failed_precondition(kept->group(GroupBy::kType)));
  BOOST_TEST(failed_precondition(kept->explain()));
  BOOST_TEST(!kept->stream([](const Customer&) { return true; }).has_value());

  auto w = must(db.begin_write());
  Segment before = must(w.select(q, o));
  const std::uint64_t n = must(before.count());
  (void)must(w.insert_customer(sample_customer(9001)));
  BOOST_TEST(failed_precondition(before.count()));  // its own transaction wrote since
  Segment after = must(w.select(q, o));
  BOOST_TEST(must(after.count()) == n + 1);
  Segment taken = std::move(after);
  BOOST_TEST(failed_precondition(after.count()));  // NOLINT(bugprone-use-after-move): the point
  after = std::move(taken);
  must(w.commit());
  BOOST_TEST(failed_precondition(after.page(3)));
  auto aborted = must(db.begin_write());
  Segment dropped = must(aborted.select(q, o));
  aborted.abort();
  BOOST_TEST(failed_precondition(dropped.ids()));
}

// A stream's callback may write in the segment's WriteTxn: members it deletes are skipped (not
// reported as damage); for_each_customer's callback may insert and delete too. When it ends the transaction the stream stops with
// kFailedPrecondition, and when one of its writes fails (the map full), with that failure; the
// same for for_each_customer. Nothing is read through the ended transaction (the sanitizer
// build would see it).
BOOST_DATA_TEST_CASE(stream_callbacks_that_write_or_end_the_transaction, kModes, mode) {
  TempDir dir;
  Options small;
  small.max_map_size = 1024 * 1024;
  auto db = open_db(mode, dir.path(), small);
  for (int i = 1; i <= 20; ++i) (void)must(db.insert_customer(sample_customer(i)));
  const auto all = query::parse("tier >= bronze").value();
  {
    auto w = must(db.begin_write());
    std::vector<CustomerId> seen;
    must(w.stream(all, [&](const Customer& c) {
      seen.push_back(c.id);
      if (c.id % 4 == 1) (void)must(w.delete_customer(c.id + 1, DeleteMode::kCascade));
      else if (c.id % 4 == 3) (void)must(w.update_customer(c.id + 1, [](Customer& x) { x.name = "renamed"; }));
      else if (c.id % 4 == 0) BOOST_TEST(c.name == "renamed");
      return true;
    }));
    BOOST_TEST(seen.size() == 15u);  // 2, 6, 10, 14, 18 deleted before their turn
    w.abort();
  }
  {
    // for_each_customer's count check is for damage, not for the callback's own inserts and
    // deletes (they were reported as kCorruption).
    auto w = must(db.begin_write());
    int added = 0, walked = 0;
    must(w.for_each_customer([&](const Customer& c) {
      ++walked;
      if (c.id <= 20 && c.id % 5 == 0) (void)must(w.insert_customer(sample_customer(500 + static_cast<int>(c.id)))), ++added;
      if (c.id == 4) BOOST_TEST(must(w.delete_customer(3, DeleteMode::kCascade)));  // visited already
      return true;
    }));
    BOOST_TEST(added == 4);
    BOOST_TEST(walked == 24);  // the 20, then the 4 inserted behind the walk
    w.abort();
  }
  auto failed_with = [](const Status& s, ErrorCode code) {
    return !s.has_value() && s.error().code() == code;
  };
  for (int end = 0; end < 2; ++end) {
    auto w = must(db.begin_write());
    Segment seg = must(w.select(all));
    int visits = 0;
    auto s = seg.stream([&](const Customer&) {
      if (++visits == 3) end == 0 ? (void)w.commit() : w.abort();
      return true;
    });
    BOOST_TEST(visits == 3);
    BOOST_TEST(failed_with(s, ErrorCode::kFailedPrecondition), (s ? "ok" : s.error().to_string()));
    int walked = 0;
    auto w2 = must(db.begin_write());
    auto f = w2.for_each_customer([&](const Customer&) {
      if (++walked == 3) end == 0 ? (void)w2.commit() : w2.abort();
      return true;
    });
    BOOST_TEST(walked == 3);
    BOOST_TEST(failed_with(f, ErrorCode::kFailedPrecondition), (f ? "ok" : f.error().to_string()));
  }
  {
    auto r = must(db.begin_read());
    int visits = 0;
    auto s = r.stream(all, [&](const Customer&) {
      if (++visits == 2) ReadTxn gone = std::move(r);
      return true;
    });
    BOOST_TEST(visits == 2);
    BOOST_TEST(failed_with(s, ErrorCode::kFailedPrecondition), (s ? "ok" : s.error().to_string()));
  }
  // Writes in the callback fill the map: the failure, and the transaction poisoned.
  for (int walk = 0; walk < 2; ++walk) {
    auto w = must(db.begin_write());
    int next = 1000;
    std::optional<Error> write_failed;
    auto fill = [&](const Customer&) {
      for (int k = 0; k < 100 && !write_failed; ++k) {
        Customer c = sample_customer(next++);
        c.name = std::string(150, 'n');
        if (auto id = w.insert_customer(c); !id) write_failed = id.error();
      }
      return true;  // keep going: the walk itself must stop
    };
    Status s = walk == 0 ? w.stream(all, fill) : w.for_each_customer(fill);
    BOOST_TEST_REQUIRE(write_failed.has_value());
    BOOST_TEST(write_failed->code() == ErrorCode::kResourceExhausted);
    BOOST_TEST(failed_with(s, ErrorCode::kResourceExhausted), (s ? "ok" : s.error().to_string()));
    BOOST_TEST(failed_with(w.commit(), ErrorCode::kResourceExhausted));
  }
  BOOST_TEST(must(must(db.begin_read()).count(all)) == 20u);
  require_clean(db);
}

BOOST_AUTO_TEST_SUITE_END()
