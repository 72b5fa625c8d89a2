// Shards (custdb/shards.h) under attack: what users and attackers do that the design's own
// tests do not: a failed open that must leave the files as they were, ties in rank across
// shards, pages walked across shard boundaries, ids at the edges of the id space, batches
// with duplicate ids, groups present in only some shards; each compared with one database
// holding everything where that makes sense.
#include <limits>

#include "custdb/query.h"
#include "custdb/shards.h"
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;
namespace sh = custdb::shards;

namespace {

Options fast(Mode m) {
  Options o = options_for(m);
  o.sync = SyncMode::kNone;
  return o;
}

const query::Node& all_customers() {
  static const query::Node all = [] {
    query::Node none;
    none.kind = query::Node::Kind::kIn;
    none.field = query::Field::kRegion;
    none.values = {std::string()};
    query::Node n;
    n.kind = query::Node::Kind::kNot;
    n.children = {none};
    return n;
  }();
  return all;
}

sh::ShardSet open_set(Mode m, const std::vector<fs::path>& paths) {
  auto set = sh::ShardSet::open(paths, fast(m));
  BOOST_TEST_REQUIRE(set.has_value(), (set ? "" : set.error().to_string()));
  return std::move(*set);
}

Customer plain(CustomerId id) {
  Customer c;
  c.id = id;
  c.name = "C" + std::to_string(id);
  c.address = {"Springfield", "east", "US"};
  return c;
}

// Ids spread over every shard of a set of n: the first `per` ids (from `from`) of each shard.
std::vector<CustomerId> ids_on_every_shard(std::size_t n, std::size_t per, CustomerId from = 1) {
  std::vector<std::size_t> got(n);
  std::vector<CustomerId> out;
  for (CustomerId id = from; out.size() < n * per; ++id) {
    const std::size_t s = sh::shard_of(id, n);
    if (got[s] < per) {
      ++got[s];
      out.push_back(id);
    }
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(shards_attack)

// A read-write open that fails on a later shard (a path given in the wrong place) must not
// leave placements on the earlier shards: otherwise the mistaken order is recorded for good
// and the right order is refused afterwards.
BOOST_AUTO_TEST_CASE(failed_open_records_no_placement) {
  TempDir dir;
  const fs::path a = dir / "a", b = dir / "b", x = dir / "x";
  { auto set = open_set(Mode::kPlain, {a, x}); }  // a placed as shard 0 of 2
  { auto fresh = open_db(Mode::kPlain, b, fast(Mode::kPlain)); }  // b: a new, unplaced file
  // Wrong order: b first. Refused, naming a.
  auto wrong = sh::ShardSet::open(std::vector<fs::path>{b, a}, fast(Mode::kPlain));
  BOOST_TEST_REQUIRE(!wrong.has_value());
  BOOST_TEST(wrong.error().code() == ErrorCode::kFailedPrecondition);
  BOOST_TEST(contains(wrong.error().message(), a.string()), wrong.error().message());
  // The right order still opens: b was not placed by the failed open.
  auto right = sh::ShardSet::open(std::vector<fs::path>{a, b}, fast(Mode::kPlain));
  BOOST_TEST(right.has_value(), (right ? "" : right.error().to_string()));
}

// Ties in rank across shards: one database breaks ties by ascending id; so does the merge.
BOOST_DATA_TEST_CASE(rank_ties_across_shards, kModes, mode) {
  TempDir dir;
  Database one = open_db(mode, dir / "one", fast(mode));
  auto set = open_set(mode, {dir / "s0", dir / "s1", dir / "s2"});
  const auto ids = ids_on_every_shard(3, 4, 100);
  for (CustomerId id : ids) {
    must(set.insert_customer(plain(id)));
    must(one.insert_customer(plain(id)));
  }
  // Half of them with equal totals, the rest without transactions (total 0: also a tie).
  for (std::size_t i = 0; i < ids.size(); i += 2) {
    must(set.add_transaction(sample_txn(ids[i], 500, "2025-03-01T00:00:00Z")));
    must(one.add_transaction(sample_txn(ids[i], 500, "2025-03-01T00:00:00Z")));
  }
  auto read = must(one.begin_read());
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{7}, ids.size(),
                        std::numeric_limits<std::size_t>::max()}) {
    for (MeasureKey by : {MeasureKey(RankBy::kTotalAmount), MeasureKey(RankBy::kTxnCount),
                          MeasureKey(RankBy::kLastTxnAt), MeasureKey(RankBy::kProducts)}) {
      auto want = must(read.rank(all_customers(), by, n));
      auto got = must(set.rank(all_customers(), by, n));
      BOOST_TEST((got == want), "rank by " << by.name() << " n " << n);
    }
  }
}

// Pages walked across shard boundaries, with every limit, equal one database's pages; `after`
// at the edges (0, past the last id, the largest id).
BOOST_AUTO_TEST_CASE(pages_across_shard_boundaries) {
  TempDir dir;
  Database one = open_db(Mode::kPlain, dir / "one", fast(Mode::kPlain));
  auto set = open_set(Mode::kPlain, {dir / "s0", dir / "s1", dir / "s2", dir / "s3"});
  const auto ids = ids_on_every_shard(4, 5, 1);
  for (CustomerId id : ids) {
    must(set.insert_customer(plain(id)));
    must(one.insert_customer(plain(id)));
  }
  auto read = must(one.begin_read());
  for (std::size_t limit = 0; limit <= ids.size() + 1; ++limit) {
    CustomerId after = 0;
    for (int step = 0; step < 40; ++step) {
      auto want = must(read.page(all_customers(), limit, after));
      auto got = must(set.page(all_customers(), limit, after));
      BOOST_TEST((got.ids == want.ids), "limit " << limit << " after " << after);
      BOOST_TEST((got.next == want.next), "limit " << limit << " after " << after);
      if (!want.next) break;
      after = *want.next;
    }
  }
  for (CustomerId after : {ids.back(), ids.back() + 1, std::numeric_limits<CustomerId>::max()}) {
    auto want = must(read.page(all_customers(), 3, after));
    auto got = must(set.page(all_customers(), 3, after));
    BOOST_TEST((got.ids == want.ids));
    BOOST_TEST((got.next == want.next));
  }
}

// Ids at the edges of the id space behave as in one database: accepted or refused alike, and
// answered alike.
BOOST_AUTO_TEST_CASE(ids_at_the_edges) {
  TempDir dir;
  Database one = open_db(Mode::kPlain, dir / "one", fast(Mode::kPlain));
  auto set = open_set(Mode::kPlain, {dir / "s0", dir / "s1", dir / "s2"});
  const CustomerId big = CustomerId{1} << 63;
  std::vector<CustomerId> stored;
  for (CustomerId id : {CustomerId{1}, big - 2, big - 1, big, big + 1,
                        std::numeric_limits<CustomerId>::max() - 1,
                        std::numeric_limits<CustomerId>::max()}) {
    auto a = one.insert_customer(plain(id));
    auto b = set.insert_customer(plain(id));
    BOOST_TEST(a.has_value() == b.has_value(), "id " << id << ": one "
                                                     << (a ? "ok" : a.error().to_string()) << ", set "
                                                     << (b ? "ok" : b.error().to_string()));
    if (a && b) {
      BOOST_TEST(*a == *b);
      stored.push_back(id);
      auto t1 = one.add_transaction(sample_txn(id, 100, "2025-01-01T00:00:00Z"));
      auto t2 = set.add_transaction(sample_txn(id, 100, "2025-01-01T00:00:00Z"));
      BOOST_TEST(t1.has_value() == t2.has_value());
    } else if (!a && !b) {
      BOOST_TEST(a.error().code() == b.error().code(), a.error().to_string() << " / " << b.error().to_string());
    }
  }
  auto read = must(one.begin_read());
  BOOST_TEST((must(set.ids(all_customers())) == must(read.ids(all_customers()))));
  BOOST_TEST(must(set.count(all_customers())) == must(read.count(all_customers())));
  BOOST_TEST((must(set.rank(all_customers(), RankBy::kTotalAmount, 100)) ==
              must(read.rank(all_customers(), RankBy::kTotalAmount, 100))));
  auto p1 = must(set.page(all_customers(), 2, big - 2));
  auto p2 = must(read.page(all_customers(), 2, big - 2));
  BOOST_TEST((p1.ids == p2.ids));
  BOOST_TEST((p1.next == p2.next));
  // Relationships among the edge ids: refused across shards, stored within one.
  for (std::size_t i = 0; i < stored.size(); ++i)
    for (std::size_t j = i + 1; j < stored.size(); ++j) {
      Relationship rel{0, stored[i], stored[j], RelationType::kHousehold, "", {}};
      auto r = set.add_relationship(rel);
      const bool same = sh::shard_of(stored[i], 3) == sh::shard_of(stored[j], 3);
      BOOST_TEST(r.has_value() == same, (r ? "stored" : r.error().to_string()));
    }
}

// A batch with one id twice, or an id that exists already: as one database (refused), and the
// error names the shard; the other shards' parts of the batch are written (documented).
BOOST_AUTO_TEST_CASE(batch_with_duplicate_ids) {
  TempDir dir;
  Database one = open_db(Mode::kPlain, dir / "one", fast(Mode::kPlain));
  auto set = open_set(Mode::kPlain, {dir / "s0", dir / "s1"});
  const auto ids = ids_on_every_shard(2, 2, 10);
  std::vector<Customer> batch;
  for (CustomerId id : ids) batch.push_back(plain(id));
  batch.push_back(plain(ids[1]));  // twice
  auto a = one.insert_customers(batch);
  auto b = set.insert_customers(batch);
  BOOST_TEST(a.has_value() == b.has_value());
  if (!a && !b) {
    BOOST_TEST(a.error().code() == b.error().code());
    BOOST_TEST(contains(b.error().message(), "shard " + std::to_string(sh::shard_of(ids[1], 2))),
               b.error().message());
  }
}

// A report grouped by a custom text attribute whose values are present in some shards only,
// and by tags: as one database.
BOOST_DATA_TEST_CASE(groups_present_in_some_shards, kModes, mode) {
  TempDir dir;
  Database one = open_db(mode, dir / "one", fast(mode));
  auto set = open_set(mode, {dir / "s0", dir / "s1", dir / "s2"});
  AttributeDef def;
  def.name = "branch";
  def.type = AttributeType::kText;
  def.indexed = true;
  AttributeDef pts;
  pts.name = "points";
  pts.type = AttributeType::kInteger;
  pts.indexed = true;
  must(one.add_attribute(def));
  must(one.add_attribute(pts));
  for (std::size_t i = 0; i < set.size(); ++i) {
    must(set.shard(i).add_attribute(def));
    must(set.shard(i).add_attribute(pts));
  }
  const auto ids = ids_on_every_shard(3, 6, 1);
  for (std::size_t k = 0; k < ids.size(); ++k) {
    Customer c = plain(ids[k]);
    const std::size_t s = sh::shard_of(ids[k], 3);
    // Branch values: "b<shard>" only on that shard, "Zed" on shard 2 only, none on some.
    if (k % 3 != 0) c.attributes["branch"] = AttributeValue(std::string(s == 2 && k % 2 ? "Zed" : "b" + std::to_string(s)));
    if (k % 4 != 0) c.attributes["points"] = AttributeValue(static_cast<std::int64_t>(k * 7) - 40);
    c.tags = {s == 0 ? "only0" : "common"};
    must(one.insert_customer(c));
    must(set.insert_customer(c));
  }
  auto read = must(one.begin_read());
  for (const ReportSpec& spec :
       {ReportSpec{{GroupKey::attribute("branch")}, {MeasureKey::attribute("points")}},
        ReportSpec{{GroupKey(GroupBy::kTag), GroupKey::attribute("branch")},
                   {MeasureKey::attribute("points"), RankBy::kTotalAmount}},
        ReportSpec{{GroupKey::attribute("branch"), GroupKey(GroupBy::kTier)}, {}}}) {
    auto want = must(read.report(all_customers(), spec));
    auto got = must(set.report(all_customers(), spec));
    BOOST_TEST_REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      BOOST_TEST((got[i].group == want[i].group), "row " << i);
      BOOST_TEST(got[i].customers == want[i].customers);
      BOOST_TEST_REQUIRE(got[i].measures.size() == want[i].measures.size());
      for (std::size_t m = 0; m < want[i].measures.size(); ++m) {
        BOOST_TEST(got[i].measures[m].count == want[i].measures[m].count);
        BOOST_TEST((got[i].measures[m].sum == want[i].measures[m].sum));
        BOOST_TEST((got[i].measures[m].min == want[i].measures[m].min));
        BOOST_TEST((got[i].measures[m].max == want[i].measures[m].max));
      }
    }
  }
  BOOST_TEST((must(set.rank(all_customers(), MeasureKey::attribute("points"), 5)) ==
              must(read.rank(all_customers(), MeasureKey::attribute("points"), 5))));
}

// The caller may hold a read or write transaction on a shard while asking the set.
BOOST_AUTO_TEST_CASE(caller_holds_a_transaction) {
  TempDir dir;
  auto set = open_set(Mode::kPlain, {dir / "s0", dir / "s1"});
  for (CustomerId id : ids_on_every_shard(2, 3, 1)) must(set.insert_customer(plain(id)));
  {
    auto r = must(set.shard(0).begin_read());
    BOOST_TEST(must(set.count(all_customers())) == 6u);
  }
  {
    auto w = must(set.shard(1).begin_write());
    BOOST_TEST(must(set.count(all_customers())) == 6u);
  }
}

BOOST_AUTO_TEST_SUITE_END()
