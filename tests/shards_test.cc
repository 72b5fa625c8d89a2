// Shards (custdb/shards.h): shard_of against XXH3 computed here independently (and against
// hashes written down once, so a change of the function fails), the spread of ids over shards,
// routed writes, cross-shard relationships refused with nothing stored, placement recorded
// and enforced, and the differential of the "Must show": random data (tests/
// random_data.h, with holdings, scores and custom attributes) loaded into 4 shards and into one
// database with the same customer ids; every query of the generators of the segment
// differential (tests/segment_queries.h) answered by scatter-gather equal to the one
// database: count, ids, pages, rank by every measure, group, reports with 0, 1 and 2 group
// keys and random measures; both modes. The CLI's `segment --shards` and `report --shards`
// print what `--db` prints for the one database.
#define XXH_INLINE_ALL  // the test's own XXH3, not the library's
#include <xxhash.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <fstream>
#include <sstream>

#include "custdb/query.h"
#include "custdb/shards.h"
#include "engine/analytics_access.h"
#include "engine/db_impl.h"
#include "program.h"
#include "random_data.h"
#include "segment_queries.h"
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;
using query::Field;
namespace sh = custdb::shards;

namespace {

// ---- shard_of reference --------------------------------------------------------------------------

std::uint64_t xxh3_of_id(CustomerId id) {
  unsigned char be[8];
  const std::uint64_t swapped = __builtin_bswap64(id);  // little-endian host: big-endian bytes
  std::memcpy(be, &swapped, 8);
  return XXH3_64bits(be, 8);
}

// Written down once from libxxhash's XXH3_64bits of the 8 big-endian bytes of the id (seed 0):
// the wire contract's values, whatever this build computes.
struct Known {
  CustomerId id;
  std::uint64_t hash;
  std::size_t of4, of7;
};
constexpr Known kKnown[] = {
    {0ull, 0xc77b3abb6f87acd9ull, 1, 3},
    {1ull, 0xf36b4a1a44f78bf3ull, 3, 4},
    {2ull, 0x3e6948797985511cull, 0, 5},
    {42ull, 0x2e4fe982b68910acull, 0, 2},
    {65536ull, 0xb4dbbeb97aabdc76ull, 2, 0},
    {4294967296ull, 0x1669dec6967d1424ull, 0, 6},
    {1000003ull, 0xa3e5650a8e075766ull, 2, 0},
    {18446744073709551615ull, 0x5111c7e47d784413ull, 3, 4},
};

// ---- opening -----------------------------------------------------------------------------------

Options fast(Mode m) {
  Options o = options_for(m);
  o.sync = SyncMode::kNone;  // the test loads thousands of small transactions
  return o;
}

std::vector<fs::path> shard_paths(const TempDir& dir, std::size_t n, const std::string& stem = "shard") {
  std::vector<fs::path> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(dir / (stem + std::to_string(i)));
  return out;
}

sh::ShardSet open_set(Mode m, const std::vector<fs::path>& paths) {
  auto set = sh::ShardSet::open(paths, fast(m));
  BOOST_TEST_REQUIRE(set.has_value(), (set ? "" : set.error().to_string()));
  return std::move(*set);
}

template <class T>
void require_error(const Result<T>& r, ErrorCode code, const std::string& text) {
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().code() == code, r.error().to_string());
  BOOST_TEST(contains(r.error().message(), text), r.error().message());
}

// ---- the data -------------------------------------------------------------------------------------

// Custom attributes every database of the differential declares: an enum whose declared order
// is not its byte order, a bool and an integer (reports group by the first two, rank and
// measure the third).
std::vector<AttributeDef> custom_attributes() {
  AttributeDef e;
  e.name = "band";
  e.type = AttributeType::kEnum;
  e.values = {"zeta", "alpha", "mid"};
  e.indexed = true;
  AttributeDef b;
  b.name = "flagged";
  b.type = AttributeType::kBool;
  b.indexed = true;
  AttributeDef n;
  n.name = "points";
  n.type = AttributeType::kInteger;
  n.indexed = true;
  return {e, b, n};
}

struct Data {
  std::vector<Customer> customers;
  std::vector<Transaction> txns;
  std::vector<Holding> holdings;
  std::vector<std::pair<CustomerId, std::optional<Scores>>> scores;
};

constexpr int kRandomCustomers = 400;

// Customers with explicit ids (a ShardSet needs them): sparse small ids, ids at the index's
// 2^16-id chunk edges and beyond 2^32, boundary totals, 0-5 transactions, 0-2 holdings,
// scores for about two thirds (the int64 extremes of clv included), custom attribute values
// for most.
Data make_data(std::uint32_t seed) {
  std::mt19937 r(seed);
  Data d;
  CustomerId next = 1;
  auto custom = [&](Customer& c) {
    const char* bands[] = {"zeta", "alpha", "mid"};
    if (r() % 5) c.attributes["band"] = std::string(bands[r() % 3]);
    if (r() % 4) c.attributes["flagged"] = r() % 2 == 0;
    if (r() % 3) c.attributes["points"] = static_cast<std::int64_t>(r() % 2001) - 1000;
  };
  auto holdings = [&](CustomerId id) {
    for (int k = static_cast<int>(r() % 3); k > 0; --k) {
      Holding h;
      h.customer_id = id;
      const ProductType types[] = {ProductType::kDeposit, ProductType::kSavings, ProductType::kFund,
                                   ProductType::kCreditCard, ProductType::kMortgage};
      h.product_type = types[r() % 5];
      h.currency = "USD";
      h.balance = static_cast<std::int64_t>(r() % 5'000'000);
      h.opened_on = parse_date("2015-01-01").value() + std::chrono::days(r() % 3000);
      d.holdings.push_back(h);
    }
  };
  for (int i = 0; i < kRandomCustomers; ++i) {
    Customer c = random_customer(r);
    next += 1 + r() % 3;
    c.id = next;
    custom(c);
    d.customers.push_back(c);
    for (int k = static_cast<int>(r() % 6); k > 0; --k) d.txns.push_back(random_txn(r, c.id));
    holdings(c.id);
  }
  const CustomerId spread[] = {65'535, 65'536, 65'537, 131'072, 1'000'003, (1ull << 32) - 1,
                               1ull << 32, (1ull << 32) + 1, (1ull << 40) + 7, (1ull << 62) + 1};
  std::size_t s = 0;
  for (auto& [customer, total] : boundary_customers(r)) {
    customer.id = s < std::size(spread) ? spread[s++] : 200'000 + s++;
    custom(customer);
    d.customers.push_back(customer);
    if (total)
      for (const Transaction& t : txns_totalling(r, customer.id, *total)) d.txns.push_back(t);
  }
  for (const Customer& c : d.customers)
    if (r() % 3) d.scores.emplace_back(c.id, random_scores(r));
  for (std::size_t i : {0, 1}) {  // both int64 extremes of clv: sums past 64 bits
    Scores sc = random_scores(r);
    sc.clv = i == 0 ? kI64Min : kI64Max;
    d.scores.emplace_back(d.customers[i].id, sc);
  }
  return d;
}

void declare(Database& db) {
  for (const AttributeDef& def : custom_attributes()) must(db.add_attribute(def));
}

// The one database: everything in one transaction.
void load_one(Database& db, const Data& d) {
  declare(db);
  auto txn = must(db.begin_write());
  for (const Customer& c : d.customers) must(txn.insert_customer(c));
  for (const Transaction& t : d.txns) must(txn.add_transaction(t));
  for (const Holding& h : d.holdings) must(txn.insert_holding(h));
  for (const auto& [id, sc] : d.scores) must(analytics_access::set_scores(txn, id, sc));
  must(txn.commit());
}

// The shards: through the routed writes (customers in one batch, the rest one by one), the
// scores on the customer's shard.
void load_shards(sh::ShardSet& set, const Data& d) {
  for (std::size_t i = 0; i < set.size(); ++i) declare(set.shard(i));
  auto ids = must(set.insert_customers(d.customers));
  BOOST_TEST_REQUIRE(ids.size() == d.customers.size());
  for (std::size_t i = 0; i < ids.size(); ++i) BOOST_TEST_REQUIRE(ids[i] == d.customers[i].id);
  for (const Transaction& t : d.txns) must(set.add_transaction(t));
  for (const Holding& h : d.holdings) must(set.insert_holding(h));
  for (const auto& [id, sc] : d.scores) {
    auto txn = must(set.shard_for(id).begin_write());
    BOOST_TEST_REQUIRE(must(analytics_access::set_scores(txn, id, sc)));
    must(txn.commit());
  }
}

std::vector<Customer> all_customers(const Database& db) {
  auto txn = must(db.begin_read());
  std::vector<Customer> out;
  must(txn.for_each_customer([&](const Customer& c) {
    out.push_back(c);
    return true;
  }));
  return out;
}

// ---- comparisons ----------------------------------------------------------------------------------

std::string describe(const ReportSpec& spec) {
  std::string s = "by (";
  for (const auto& g : spec.by) s += g.name() + " ";
  s += ") measures (";
  for (const auto& m : spec.measures) s += m.name() + " ";
  return s + ")";
}

void require_same_report(const std::vector<ReportRow>& got, const std::vector<ReportRow>& want,
                         const std::string& context) {
  BOOST_TEST_REQUIRE(got.size() == want.size(), context << ": " << got.size() << " rows, one database " << want.size());
  for (std::size_t r = 0; r < got.size(); ++r) {
    const ReportRow& g = got[r];
    const ReportRow& w = want[r];
    BOOST_TEST_REQUIRE((g.group == w.group), context << " row " << r);
    BOOST_TEST_REQUIRE(g.customers == w.customers, context << " row " << r);
    BOOST_TEST_REQUIRE(g.measures.size() == w.measures.size(), context);
    for (std::size_t i = 0; i < w.measures.size(); ++i) {
      const MeasureStats& a = g.measures[i];
      const MeasureStats& b = w.measures[i];
      const std::string m = context + " row " + std::to_string(r) + " measure " + std::to_string(i);
      BOOST_TEST_REQUIRE(a.count == b.count, m);
      BOOST_TEST_REQUIRE(text128(a.sum) == text128(b.sum), m);
      BOOST_TEST_REQUIRE(opt_text(a.min) == opt_text(b.min), m);
      BOOST_TEST_REQUIRE(opt_text(a.max) == opt_text(b.max), m);
      BOOST_TEST_REQUIRE(opt_text(a.avg()) == opt_text(b.avg()), m);
    }
  }
}

void require_same_groups(const std::vector<GroupRow>& got, const std::vector<GroupRow>& want,
                         const std::string& context) {
  BOOST_TEST_REQUIRE(got.size() == want.size(), context);
  for (std::size_t r = 0; r < got.size(); ++r) {
    BOOST_TEST_REQUIRE(got[r].group == want[r].group, context);
    BOOST_TEST_REQUIRE(got[r].customers == want[r].customers, context);
    BOOST_TEST_REQUIRE(text128(got[r].total_amount_sum) == text128(want[r].total_amount_sum), context);
    BOOST_TEST_REQUIRE(got[r].total_amount_min == want[r].total_amount_min, context);
    BOOST_TEST_REQUIRE(got[r].total_amount_max == want[r].total_amount_max, context);
    BOOST_TEST_REQUIRE(got[r].total_amount_avg == want[r].total_amount_avg, context);
    BOOST_TEST_REQUIRE(got[r].txn_count_sum == want[r].txn_count_sum, context);
  }
}

const std::vector<MeasureKey>& all_measures() {
  static const std::vector<MeasureKey> all = [] {
    std::vector<MeasureKey> v(std::begin(kAllRankBy), std::end(kAllRankBy));
    for (RankBy m : {RankBy::kAum, RankBy::kLiabilities, RankBy::kProducts, RankBy::kFirstProductOn})
      v.emplace_back(m);
    v.push_back(MeasureKey::attribute("points"));
    return v;
  }();
  return all;
}
const std::vector<GroupKey>& all_group_keys() {
  static const std::vector<GroupKey> all = [] {
    std::vector<GroupKey> v(std::begin(kAllGroupBy), std::end(kAllGroupBy));
    v.emplace_back(GroupBy::kHolds);
    v.push_back(GroupKey::attribute("band"));
    v.push_back(GroupKey::attribute("flagged"));
    return v;
  }();
  return all;
}

ReportSpec random_spec(std::mt19937& r) {
  const auto& keys = all_group_keys();
  const auto& measures = all_measures();
  ReportSpec s;
  const int by = static_cast<int>(r() % 3);
  while (static_cast<int>(s.by.size()) < by) {
    const GroupKey& g = keys[r() % keys.size()];
    if (std::find(s.by.begin(), s.by.end(), g) == s.by.end()) s.by.push_back(g);
  }
  for (int k = 1 + static_cast<int>(r() % 4); k > 0; --k) s.measures.push_back(measures[r() % measures.size()]);
  return s;
}

struct Differential {
  const Database& one;
  const sh::ShardSet& set;
  SegmentOptions so{kAsOf};
  std::size_t calls = 0;

  void ids_and_count(const query::Node& q) {
    const std::string what = q.to_string();
    auto txn = must(one.begin_read());
    BOOST_TEST_REQUIRE(must(set.count(q, so)) == must(txn.count(q, so)), what);
    const auto want = must(txn.ids(q, so));
    BOOST_TEST_REQUIRE((must(set.ids(q, so)) == want), what);
    calls += 2;
  }

  void pages(const query::Node& q, std::mt19937& r, bool walk_by_one) {
    const std::string what = q.to_string();
    auto txn = must(one.begin_read());
    std::vector<std::size_t> limits = {7, 64, 0};
    if (walk_by_one) limits.push_back(1);
    for (std::size_t limit : limits) {
      CustomerId after = 0;
      for (int page = 0; page < 1000; ++page) {
        SegmentPage want = must(txn.page(q, limit, after, so));
        SegmentPage got = must(set.page(q, limit, after, so));
        ++calls;
        BOOST_TEST_REQUIRE((got.ids == want.ids), what << " limit " << limit << " after " << after);
        BOOST_TEST_REQUIRE((got.next == want.next), what << " limit " << limit << " after " << after);
        if (!want.next) break;
        after = *want.next;
      }
    }
    // From an arbitrary cursor (an id that may or may not be a member).
    for (CustomerId after : {CustomerId{r() % 1500}, CustomerId{1ull << 32}, CustomerId{UINT64_MAX}}) {
      SegmentPage want = must(txn.page(q, 5, after, so));
      SegmentPage got = must(set.page(q, 5, after, so));
      BOOST_TEST_REQUIRE((got.ids == want.ids), what << " after " << after);
      BOOST_TEST_REQUIRE((got.next == want.next), what << " after " << after);
    }
  }

  void ranks(const query::Node& q) {
    const std::string what = q.to_string();
    auto txn = must(one.begin_read());
    for (const MeasureKey& by : all_measures()) {
      const std::size_t ranked = must(txn.rank(q, by, SIZE_MAX, so)).size();
      for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{7}, ranked / 2, ranked, ranked + 3}) {
        auto want = must(txn.rank(q, by, n, so));
        auto got = must(set.rank(q, by, n, so));
        ++calls;
        BOOST_TEST_REQUIRE((got == want), what << " rank by " << by.name() << " n " << n);
      }
    }
  }

  void groups(const query::Node& q) {
    auto txn = must(one.begin_read());
    for (GroupBy g : {GroupBy::kTier, GroupBy::kRegion, GroupBy::kStage, GroupBy::kType}) {
      require_same_groups(must(set.group(q, g, so)), must(txn.group(q, g, so)),
                          q.to_string() + " group by " + to_string(g));
      ++calls;
    }
  }

  void report(const query::Node& q, const ReportSpec& spec) {
    auto txn = must(one.begin_read());
    require_same_report(must(set.report(q, spec, so)), must(txn.report(q, spec, so)),
                        q.to_string() + " report " + describe(spec));
    ++calls;
  }
};

const query::Node& everyone() {
  static const query::Node all = query::ge(Field::kTxnCount, std::int64_t{0});
  return all;
}

// ---- the CLI ---------------------------------------------------------------------------------------

// The first line where two outputs differ, for the failure message.
std::string first_difference(const std::string& got, const std::string& want) {
  std::istringstream a(got), b(want);
  std::string la, lb;
  for (int line = 1;; ++line) {
    const bool ha = static_cast<bool>(std::getline(a, la)), hb = static_cast<bool>(std::getline(b, lb));
    if (!ha && !hb) return "equal";
    if (!ha || !hb || la != lb)
      return "line " + std::to_string(line) + ":\n  shards: " + (ha ? la : "(end)") + "\n  one:    " + (hb ? lb : "(end)");
  }
}

// The output without the customers' updated_at: the engine stamps it at the write, which
// happened at another moment in the one database than in the shards (data, not merging).
std::string without_updated_at(const std::string& text) {
  std::istringstream in(text);
  std::string out;
  for (std::string line; std::getline(in, line);)
    if (line.find("\"updated_at\"") == std::string::npos) out += line + "\n";
  return out;
}

std::string joined(const std::vector<fs::path>& paths) {
  std::string s;
  for (const auto& p : paths) s += (s.empty() ? "" : ",") + p.string();
  return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(shards)

BOOST_AUTO_TEST_CASE(shard_of_is_xxh3_of_the_big_endian_id) {
  for (const Known& k : kKnown) {
    BOOST_TEST(xxh3_of_id(k.id) == k.hash, "id " << k.id);
    BOOST_TEST(sh::shard_of(k.id, 4) == k.of4, "id " << k.id);
    BOOST_TEST(sh::shard_of(k.id, 7) == k.of7, "id " << k.id);
    BOOST_TEST(sh::shard_of(k.id, 1) == 0u);
  }
  std::mt19937_64 r(19);
  for (int i = 0; i < 20000; ++i) {
    const CustomerId id = i < 10000 ? CustomerId(i) : r();
    for (std::size_t n : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{4},
                          std::size_t{16}, std::size_t{1024}})
      BOOST_TEST_REQUIRE(sh::shard_of(id, n) == xxh3_of_id(id) % n, "id " << id << " of " << n);
  }
}

BOOST_AUTO_TEST_CASE(ids_spread_evenly) {
  for (std::size_t n : {std::size_t{2}, std::size_t{4}, std::size_t{16}}) {
    std::vector<std::size_t> per(n);
    const std::size_t kIds = 64000;
    for (CustomerId id = 1; id <= kIds; ++id) ++per[sh::shard_of(id, n)];
    for (std::size_t i = 0; i < n; ++i) {
      const double share = static_cast<double>(per[i]) * static_cast<double>(n) / kIds;
      BOOST_TEST(share > 0.95, n << " shards: shard " << i << " holds " << per[i]);
      BOOST_TEST(share < 1.05, n << " shards: shard " << i << " holds " << per[i]);
    }
  }
}

BOOST_DATA_TEST_CASE(writes_go_to_the_customers_shard, kModes, mode) {
  TempDir dir;
  const auto paths = shard_paths(dir, 4);
  auto set = open_set(mode, paths);
  BOOST_TEST_REQUIRE(set.size() == 4u);
  std::mt19937 r(5);
  std::vector<Customer> batch;
  for (CustomerId id = 1; id <= 120; ++id) {
    Customer c = random_customer(r);
    c.id = id * 7;
    if (id <= 40) BOOST_TEST_REQUIRE(must(set.insert_customer(c)) == c.id);
    else batch.push_back(c);
  }
  auto ids = must(set.insert_customers(batch));
  for (std::size_t i = 0; i < batch.size(); ++i) BOOST_TEST_REQUIRE(ids[i] == batch[i].id);
  for (CustomerId id = 7; id <= 840; id += 7) {
    must(set.add_transaction(sample_txn(id, 1000 + static_cast<std::int64_t>(id), "2025-03-01T10:00:00Z")));
    Holding h;
    h.customer_id = id;
    h.currency = "USD";
    h.balance = 500;
    h.opened_on = parse_date("2024-01-01");
    must(set.insert_holding(h));
  }
  // Every customer, its transaction and its holding on its shard, and nowhere else.
  std::size_t used = 0;
  for (std::size_t s = 0; s < 4; ++s) {
    auto txn = must(set.shard(s).begin_read());
    const TableCounts n = must(txn.counts());
    used += n.customers > 0;
    BOOST_TEST(n.transactions == n.customers);
    BOOST_TEST(n.holdings == n.customers);
    for (CustomerId id = 7; id <= 840; id += 7) {
      const bool here = sh::shard_of(id, 4) == s;
      BOOST_TEST_REQUIRE(must(txn.get_customer(id)).has_value() == here, "customer " << id << " shard " << s);
      if (here) {
        BOOST_TEST_REQUIRE(must(txn.transactions_of(id)).size() == 1u);
        BOOST_TEST_REQUIRE(must(txn.holdings_of(id)).size() == 1u);
      }
    }
    require_clean(set.shard(s));
  }
  BOOST_TEST(used == 4u);
  BOOST_TEST(&set.shard_for(7) == &set.shard(sh::shard_of(7, 4)));
  BOOST_TEST(must(set.count(everyone())) == 120u);

  // The id is required: 0 would let each shard pick its own next id.
  Customer anonymous = random_customer(r);
  require_error(set.insert_customer(anonymous), ErrorCode::kInvalidArgument, "id: ");
  require_error(set.insert_customers(std::vector<Customer>{batch[0], anonymous}),
                ErrorCode::kInvalidArgument, "id: ");
  require_error(set.add_transaction(sample_txn(0, 5, "2025-03-01T10:00:00Z")), ErrorCode::kInvalidArgument, "id: ");
  // A duplicate id is refused by its shard, naming it.
  require_error(set.insert_customer(batch[0]), ErrorCode::kAlreadyExists, "");
  BOOST_TEST(must(set.count(everyone())) == 120u);
}

BOOST_DATA_TEST_CASE(relationships_across_shards_are_refused, kModes, mode) {
  TempDir dir;
  auto set = open_set(mode, shard_paths(dir, 4));
  std::mt19937 r(6);
  for (CustomerId id = 1; id <= 40; ++id) {
    Customer c = random_customer(r);
    c.id = id;
    must(set.insert_customer(c));
  }
  // Two customers of different shards, and two of the same shard.
  CustomerId a = 1, other = 0, same = 0;
  for (CustomerId id = 2; id <= 40; ++id) {
    if (!other && sh::shard_of(id, 4) != sh::shard_of(a, 4)) other = id;
    if (!same && sh::shard_of(id, 4) == sh::shard_of(a, 4)) same = id;
  }
  BOOST_TEST_REQUIRE(other != 0u);
  BOOST_TEST_REQUIRE(same != 0u);
  Relationship across;
  across.from = a;
  across.to = other;
  across.type = RelationType::kHousehold;
  require_error(set.add_relationship(across), ErrorCode::kInvalidArgument,
                "relationships across shards are not supported");
  std::swap(across.from, across.to);
  require_error(set.add_relationship(across), ErrorCode::kInvalidArgument,
                "relationships across shards are not supported");
  // Nothing stored on either side.
  for (std::size_t s = 0; s < 4; ++s) {
    auto txn = must(set.shard(s).begin_read());
    BOOST_TEST(must(txn.counts()).relationships == 0u);
    BOOST_TEST(must(txn.relationships_of(a)).empty());
    BOOST_TEST(must(txn.relationships_of(other)).empty());
  }
  Relationship within;
  within.from = a;
  within.to = same;
  within.type = RelationType::kHousehold;
  const RelationshipId id = must(set.add_relationship(within));
  auto txn = must(set.shard_for(a).begin_read());
  BOOST_TEST_REQUIRE(must(txn.get_relationship(id)).has_value());
  BOOST_TEST(must(txn.relationships_of(same)).size() == 1u);
  // related() answered within the shard is exact.
  auto q = query::parse("related(household, region = \"nowhere\") or related(household, txn_count >= 0)",
                        must(txn.parse_options()));
  BOOST_TEST_REQUIRE(q.has_value(), (q ? "" : q.error().to_string()));
  auto ids = must(set.ids(*q, {}));
  BOOST_TEST((ids == std::vector<CustomerId>{std::min(a, same), std::max(a, same)}));
}

BOOST_AUTO_TEST_CASE(placement_is_recorded_and_enforced) {
  TempDir dir;
  const auto paths = shard_paths(dir, 4);
  { auto set = open_set(Mode::kPlain, paths); }
  { auto set = open_set(Mode::kPlain, paths); }  // same order and number: fine
  std::vector<fs::path> reversed(paths.rbegin(), paths.rend());
  require_error(sh::ShardSet::open(reversed, fast(Mode::kPlain)), ErrorCode::kFailedPrecondition,
                "placed as shard 3 of 4, not 0 of 4");
  std::vector<fs::path> three(paths.begin(), paths.begin() + 3);
  require_error(sh::ShardSet::open(three, fast(Mode::kPlain)), ErrorCode::kFailedPrecondition,
                "placed as shard 0 of 4, not 0 of 3");
  auto five = paths;
  five.push_back(dir / "shard4");
  require_error(sh::ShardSet::open(five, fast(Mode::kPlain)), ErrorCode::kFailedPrecondition,
                "not 0 of 5");
  // The error names the shard's path.
  require_error(sh::ShardSet::open(reversed, fast(Mode::kPlain)), ErrorCode::kFailedPrecondition,
                paths[3].string());
  // Bad path lists.
  require_error(sh::ShardSet::open(std::vector<fs::path>{}, fast(Mode::kPlain)),
                ErrorCode::kInvalidArgument, "paths");
  require_error(sh::ShardSet::open(std::vector<fs::path>{paths[0], paths[1], dir / "x" / ".." / "shard0"},
                                       fast(Mode::kPlain)),
                ErrorCode::kInvalidArgument, "twice");
  // A shard opened alone is a normal database; its file checks clean with the placement.
  {
    auto db = open_db(Mode::kPlain, paths[2]);
    require_clean(db);
  }
  // Read-only: checked when placed; an unplaced file is accepted (nothing can be recorded).
  Options ro = fast(Mode::kPlain);
  ro.read_only = true;
  ro.create_if_missing = false;
  BOOST_TEST(sh::ShardSet::open(paths, ro).has_value());
  require_error(sh::ShardSet::open(reversed, ro), ErrorCode::kFailedPrecondition, "placed as shard");
  {
    auto fresh = open_db(Mode::kPlain, dir / "fresh");
  }
  {
    auto lone = sh::ShardSet::open(std::vector<fs::path>{dir / "fresh"}, ro);
    BOOST_TEST_REQUIRE(lone.has_value());
    BOOST_TEST(lone->size() == 1u);
  }
  // A damaged placement is corruption, named, not a crash or a silent re-placement.
  for (const std::string& bad : {std::string("abc"), std::string("\0\0\0\5\0\0\0\4", 8),
                                 std::string(8, '\0')}) {
    {
      auto db = open_db(Mode::kPlain, paths[1]);
      auto txn = must(db.begin_write());
      auto& impl = Database::Impl::of(db);
      auto put = detail::run_write<bool>(txn, [&](detail::TxnState& st) -> Result<bool> {
        auto s = impl.put(st, impl.tables().meta, coding::as_bytes(std::string_view("shard")),
                          coding::as_bytes(bad));
        if (!s) return tl::unexpected(s.error());
        return true;
      });
      BOOST_TEST_REQUIRE(put.has_value());
      must(txn.commit());
    }
    require_error(sh::ShardSet::open(paths, fast(Mode::kPlain)), ErrorCode::kCorruption, "meta shard");
  }
  // Different base currencies do not add.
  Options eur = fast(Mode::kPlain);
  eur.base_currency = "EUR";
  { auto db = Database::open(dir / "eur", eur); BOOST_TEST_REQUIRE(db.has_value()); }
  require_error(sh::ShardSet::open(std::vector<fs::path>{dir / "fresh", dir / "eur"}, fast(Mode::kPlain)),
                ErrorCode::kFailedPrecondition, "base currency");
}

// A ShardSet shared between threads: readers ask while a writer inserts through it; each
// reader's counts never go back (every shard's snapshot is at least as new as the last one)
// and the end count is everything written.
BOOST_AUTO_TEST_CASE(shared_between_threads) {
  TempDir dir;
  auto set = open_set(Mode::kPlain, shard_paths(dir, 4));
  constexpr CustomerId kCustomers = 300;
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t)
    readers.emplace_back([&] {
      std::uint64_t last = 0;
      while (!done.load()) {
        auto n = set.count(everyone());
        auto ids = set.ids(everyone());
        if (!n || !ids || *n < last || !std::is_sorted(ids->begin(), ids->end())) ++failures;
        else last = *n;
      }
    });
  std::mt19937 r(7);
  for (CustomerId id = 1; id <= kCustomers; ++id) {
    Customer c = random_customer(r);
    c.id = id * 11;
    BOOST_TEST_REQUIRE(set.insert_customer(c).has_value());
  }
  done = true;
  for (auto& t : readers) t.join();
  BOOST_TEST(failures.load() == 0);
  BOOST_TEST(must(set.count(everyone())) == kCustomers);
  BOOST_TEST(must(set.ids(everyone())).size() == kCustomers);
}

// The "Must show": 4 shards answer every query as one database holding everything.
BOOST_DATA_TEST_CASE(four_shards_equal_one_database, kModes, mode) {
  TempDir dir;
  const Data data = make_data(1901);
  Database one = open_db(mode, dir / "one", fast(mode));
  load_one(one, data);
  auto set = open_set(mode, shard_paths(dir, 4));
  load_shards(set, data);
  for (std::size_t s = 0; s < 4; ++s) BOOST_TEST_REQUIRE(must(must(set.shard(s).begin_read()).counts()).customers > 50u);

  const std::vector<Customer> customers = all_customers(one);
  BOOST_TEST_REQUIRE(customers.size() == data.customers.size());
  std::mt19937 r(1902);
  std::vector<query::Node> pool = categorical_predicates();
  std::vector<query::Node> ranges;
  for (Field field : kOrderedFields) {
    auto preds = range_predicates(field, boundaries(customers, field, r), r);
    for (int i = 0; i < 6; ++i) pool.push_back(preds[r() % preds.size()]);
    for (int i = 0; i < 3; ++i) ranges.push_back(preds[r() % preds.size()]);
  }
  Differential diff{one, set};

  // Every range predicate sample and the categorical ones: count, ids, pages, groups.
  for (const query::Node& q : ranges) {
    diff.ids_and_count(q);
    diff.pages(q, r, false);
  }
  for (const query::Node& q : categorical_predicates()) {
    diff.ids_and_count(q);
    diff.pages(q, r, true);
    diff.groups(q);
  }
  // Random combinations: everything.
  std::vector<query::Node> segments = {everyone()};
  for (int i = 0; i < 80; ++i) segments.push_back(combination(pool, r));
  std::size_t nonempty = 0;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const query::Node& q = segments[i];
    diff.ids_and_count(q);
    diff.pages(q, r, i < 3);
    diff.groups(q);
    if (i % 8 == 0) diff.ranks(q);
    for (int k = 0; k < 2; ++k) diff.report(q, random_spec(r));
    nonempty += must(set.count(q, diff.so)) > 0;
  }
  // Every group key alone and in pairs over everyone, with every measure.
  const auto& keys = all_group_keys();
  diff.report(everyone(), {{}, all_measures()});
  for (std::size_t i = 0; i < keys.size(); ++i) {
    diff.report(everyone(), {{keys[i]}, all_measures()});
    const GroupKey& second = keys[(i + 1 + r() % (keys.size() - 1)) % keys.size()];
    diff.report(everyone(), {{keys[i], second}, {all_measures()[r() % all_measures().size()]}});
  }
  // The clv sum needs more than 64 bits: both int64 extremes are among the values.
  auto clv = must(set.report(everyone(), {{}, {RankBy::kClv}}, diff.so));
  BOOST_TEST_REQUIRE(clv.size() == 1u);
  BOOST_TEST(opt_text(clv[0].measures[0].min) == std::to_string(kI64Min));
  BOOST_TEST(opt_text(clv[0].measures[0].max) == std::to_string(kI64Max));
  BOOST_TEST(nonempty > segments.size() / 4);
  BOOST_TEST_MESSAGE(mode << ": " << diff.calls << " scatter-gather answers compared");

  // Errors come back as one database's would, naming the shard.
  require_error(set.report(everyone(), {{GroupBy::kTier, GroupBy::kTier}, {}}, diff.so),
                ErrorCode::kInvalidArgument, "shard 0");
  require_error(set.rank(everyone(), MeasureKey::attribute("nope"), 3, diff.so),
                ErrorCode::kInvalidArgument, "nope");
  require_error(set.group(everyone(), GroupBy::kCity, diff.so), ErrorCode::kInvalidArgument, "use report");
}

// `custdb segment --shards` and `custdb report --shards` print what `--db` prints for the one
// database.
BOOST_DATA_TEST_CASE(cli_shards_equal_one_database, kModes, mode) {
  TempDir dir;
  const Data data = make_data(1903);
  {
    Database one = open_db(mode, dir / "one", fast(mode));
    load_one(one, data);
    auto set = open_set(mode, shard_paths(dir, 4));
    load_shards(set, data);
  }
  std::vector<std::string> key_args;
  if (mode == Mode::kEncrypted) {
    const fs::path key = dir / "key";
    write_bytes(key, std::string(32, '\x07'));  // test_key()
    key_args = {"--key-file", key.string()};
  }
  const std::string shard_arg = joined(shard_paths(dir, 4));
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.end(), key_args.begin(), key_args.end());
    ProgramResult o = run_cli(args);
    BOOST_TEST_REQUIRE(o.code == 0, o);
    return o.out;
  };
  const std::vector<std::vector<std::string>> cases = {
      {"tier in (gold, platinum) or tag = vip", "--count"},
      {"total_amount > 100.00", "--ids"},
      {"region = east", "--ids", "--limit", "5"},
      {"txn_count >= 0", "--top", "10", "--by", "clv"},
      {"txn_count >= 0", "--top", "6", "--by", "points"},
      {"stage in (active, loyal) and not country = DE", "--limit", "12"},
      {"txn_count >= 1"},
  };
  for (const auto& c : cases)
    for (bool json : {false, true}) {
      std::vector<std::string> base = {"segment"};
      if (json) base.insert(base.begin(), "--json");
      base.insert(base.end(), c.begin(), c.end());
      base.insert(base.end(), {"--as-of", "2026-06-15"});
      auto with_db = base;
      with_db.insert(with_db.end(), {"--db", (dir / "one").string()});
      auto with_shards = base;
      with_shards.insert(with_shards.end(), {"--shards", shard_arg});
      const std::string want = without_updated_at(run(with_db));
      BOOST_TEST_REQUIRE(!want.empty());
      const std::string got = without_updated_at(run(with_shards));
      BOOST_TEST_REQUIRE(got == want, c[0] << (json ? " --json" : "") << ": " << first_difference(got, want));
    }
  // Reports: the wave-1 table, general reports with custom group keys and measures, a segment.
  const std::vector<std::vector<std::string>> reports = {
      {"report", "--by", "tier"},
      {"report", "--by", "region", "--segment", "txn_count >= 1"},
      {"report", "--by", "band,flagged", "--measure", "points,clv,total_amount"},
      {"report", "--by", "tag,income_band", "--measure", "p_alive,aum"},
      {"report", "--by", "", "--measure", "clv,txn_count", "--segment", "tag = vip or region = east"},
  };
  for (const auto& c : reports)
    for (bool json : {false, true}) {
      std::vector<std::string> base = c;
      if (json) base.insert(base.begin(), "--json");
      auto with_db = base;
      with_db.insert(with_db.end(), {"--db", (dir / "one").string()});
      auto with_shards = base;
      with_shards.insert(with_shards.end(), {"--shards", shard_arg});
      const std::string want = run(with_db);
      BOOST_TEST_REQUIRE(!want.empty());
      const std::string got = run(with_shards);
      BOOST_TEST_REQUIRE(got == want, c[2] << (json ? " --json" : "") << ": " << first_difference(got, want));
    }
  // What cannot be merged is refused, saying so.
  for (std::vector<std::string> bad : {std::vector<std::string>{"segment", "tier = gold", "--explain"},
                                       std::vector<std::string>{"--reveal", "segment", "tier = gold"},
                                       std::vector<std::string>{"--reveal", "report", "--by", "tier"},
                                       std::vector<std::string>{"--db", (dir / "one").string(), "segment", "tier = gold"}}) {
    bad.insert(bad.end(), {"--shards", shard_arg});
    bad.insert(bad.end(), key_args.begin(), key_args.end());
    ProgramResult o = run_cli(bad);
    BOOST_TEST(o.code == 2, o);
    BOOST_TEST(contains(o.err, "--shards"), o);
  }
}

BOOST_AUTO_TEST_SUITE_END()
