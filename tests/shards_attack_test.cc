// Shards (custdb/shards.h) under attack: what users and attackers do that the design's own
// tests do not: a failed open that must leave the files as they were, ties in rank across
// shards, pages walked across shard boundaries, ids at the edges of the id space, batches
// with duplicate ids, groups present in only some shards; each compared with one database
// holding everything where that makes sense.
#include <atomic>
#include <limits>
#include <thread>

#include "custdb/query.h"
#include "custdb/shards.h"
#include "program.h"
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

// Shards that declare a measured attribute differently (an integer on one, an amount or a
// decimal of another scale on the other): their stored values are in other units and must not
// be added or ranked together. Refused naming the shard, as different base currencies are.
BOOST_AUTO_TEST_CASE(measures_of_attributes_declared_differently_are_refused) {
  TempDir dir;
  auto set = open_set(Mode::kPlain, {dir / "s0", dir / "s1"});
  AttributeDef as_int;
  as_int.name = "points";
  as_int.type = AttributeType::kInteger;
  as_int.indexed = true;
  AttributeDef as_decimal = as_int;
  as_decimal.type = AttributeType::kDecimal;
  as_decimal.scale = 3;
  AttributeDef band;
  band.name = "band";
  band.type = AttributeType::kEnum;
  band.values = {"low", "high"};
  band.indexed = true;
  AttributeDef band_reordered = band;
  band_reordered.values = {"high", "low"};
  must(set.shard(0).add_attribute(as_int));
  must(set.shard(1).add_attribute(as_decimal));
  must(set.shard(0).add_attribute(band));
  must(set.shard(1).add_attribute(band_reordered));
  for (CustomerId id : ids_on_every_shard(2, 3, 1)) {
    Customer c = plain(id);
    c.attributes["points"] = static_cast<std::int64_t>(id * 1000);
    c.attributes["band"] = std::string(id % 2 ? "low" : "high");
    must(set.insert_customer(c));
  }
  auto check = [](const auto& r, const char* what) {
    BOOST_TEST_REQUIRE(!r.has_value(), what << ": answered as if the units were the same");
    BOOST_TEST_MESSAGE(what << ": " << r.error().to_string());
    BOOST_TEST(r.error().code() == ErrorCode::kFailedPrecondition, r.error().to_string());
    BOOST_TEST(contains(r.error().message(), "shard 1"), r.error().message());
    BOOST_TEST((contains(r.error().message(), "points") || contains(r.error().message(), "band")),
               r.error().message());
  };
  check(set.rank(all_customers(), MeasureKey::attribute("points"), 3), "rank");
  check(set.report(all_customers(), {{}, {MeasureKey::attribute("points")}}), "report measure");
  // An enum declared in another order: the report's row order would be shard 0's only.
  check(set.report(all_customers(), {{GroupKey::attribute("band")}, {}}), "report group");
  // Built-in keys are unaffected.
  BOOST_TEST(set.rank(all_customers(), RankBy::kTotalAmount, 3).has_value());
  BOOST_TEST(set.report(all_customers(), {{GroupBy::kTier}, {RankBy::kTxnCount}}).has_value());
}

// A damaged record on one shard: `segment --shards` (the table reads each shown customer from
// its shard) fails as `--db` does (exit 1), and the message names the shard, as every other
// error of a shard does.
BOOST_AUTO_TEST_CASE(cli_names_the_shard_of_a_damaged_record) {
  TempDir dir;
  const std::vector<fs::path> paths = {dir / "s0", dir / "s1"};
  const auto ids = ids_on_every_shard(2, 3, 1);
  CustomerId victim = 0;
  {
    auto set = open_set(Mode::kPlain, paths);
    for (CustomerId id : ids) {
      Customer c = plain(id);
      c.tier = Tier::kGold;
      must(set.insert_customer(c));
      if (!victim && sh::shard_of(id, 2) == 1) victim = id;
    }
  }
  corrupt_customer_value(paths[1], victim, 20);
  const std::string shard_arg = paths[0].string() + "," + paths[1].string();
  ProgramResult counted = run_cli({"segment", "tier = gold", "--count", "--shards", shard_arg});
  BOOST_TEST(counted.code == 0, counted);  // from the index: no record read
  ProgramResult one = run_cli({"segment", "tier = gold", "--db", paths[1].string()});
  BOOST_TEST(one.code == 1, one);
  ProgramResult o = run_cli({"segment", "tier = gold", "--shards", shard_arg});
  BOOST_TEST(o.code == 1, o);
  BOOST_TEST(contains(o.err, "shard 1 (" + paths[1].string() + ")"), o);
}

// A shard's placement is part of its file: rotating the data key of an encrypted shard (a
// rewrite into a new file) keeps it, so the shards still open only in their order.
BOOST_AUTO_TEST_CASE(placement_survives_data_key_rotation) {
  TempDir dir;
  const std::vector<fs::path> paths = {dir / "s0", dir / "s1"};
  {
    auto set = open_set(Mode::kEncrypted, paths);
    for (CustomerId id : ids_on_every_shard(2, 2, 1)) must(set.insert_customer(plain(id)));
  }
  must(rotate_data_key(paths[1], fast(Mode::kEncrypted)));
  // Read-only: nothing is recorded, so the answer is the rotated file's own placement.
  Options ro = fast(Mode::kEncrypted);
  ro.read_only = true;
  ro.create_if_missing = false;
  auto swapped = sh::ShardSet::open(std::vector<fs::path>{paths[0], dir / "other", paths[1]}, ro);
  BOOST_TEST_REQUIRE(!swapped.has_value());
  BOOST_TEST(swapped.error().code() == ErrorCode::kIOError, swapped.error().to_string());  // "other"
  auto alone = sh::ShardSet::open(std::vector<fs::path>{paths[1]}, ro);
  BOOST_TEST_REQUIRE(!alone.has_value(), "the rotated shard forgot its place");
  BOOST_TEST(alone.error().code() == ErrorCode::kFailedPrecondition);
  BOOST_TEST(contains(alone.error().message(), "placed as shard 1 of 2"), alone.error().message());
  auto set = open_set(Mode::kEncrypted, paths);
  BOOST_TEST(must(set.count(all_customers())) == 4u);
}

// Scatter-gather reports, ranks and pages while a writer adds customers and transactions
// through the set: every answer succeeds and is well formed (ranks ordered, pages ascending,
// report customers never fewer than an earlier report's).
BOOST_AUTO_TEST_CASE(reads_during_writes) {
  TempDir dir;
  auto set = open_set(Mode::kPlain, {dir / "s0", dir / "s1", dir / "s2"});
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t)
    readers.emplace_back([&, t] {
      std::uint64_t last = 0;
      while (!done.load()) {
        auto rep = set.report(all_customers(), {{GroupBy::kTier}, {RankBy::kTotalAmount}});
        auto rk = set.rank(all_customers(), RankBy::kTotalAmount, 5);
        auto pg = set.page(all_customers(), 7, static_cast<CustomerId>(t * 50));
        if (!rep || !rk || !pg) {
          ++failures;
          continue;
        }
        std::uint64_t n = 0;
        for (const auto& row : *rep) n += row.customers;
        if (n < last) ++failures;
        last = n;
        for (std::size_t i = 1; i < rk->size(); ++i)
          if ((*rk)[i - 1].value < (*rk)[i].value) ++failures;
        if (!std::is_sorted(pg->ids.begin(), pg->ids.end()) || pg->ids.size() > 7) ++failures;
      }
    });
  for (CustomerId id = 1; id <= 150; ++id) {
    must(set.insert_customer(plain(id)));
    must(set.add_transaction(sample_txn(id, static_cast<std::int64_t>(id % 13) * 100, "2025-02-01T00:00:00Z")));
  }
  done = true;
  for (auto& t : readers) t.join();
  BOOST_TEST(failures.load() == 0);
  BOOST_TEST(must(set.count(all_customers())) == 150u);
}

// Shards loaded without a ShardSet (each file on its own, e.g. by `custdb import --db`) have no
// placement, and `segment --shards` opens read-only, where an unplaced file is accepted in any
// order ("reads do not depend on the order"). The table reads each shown customer: it must
// find it whatever the order, not skip it silently.
BOOST_AUTO_TEST_CASE(cli_table_of_unplaced_shards_in_another_order) {
  TempDir dir;
  const std::vector<fs::path> paths = {dir / "a", dir / "b"};
  const auto ids = ids_on_every_shard(2, 3, 1);
  {
    Database a = open_db(Mode::kPlain, paths[0], fast(Mode::kPlain));
    Database b = open_db(Mode::kPlain, paths[1], fast(Mode::kPlain));
    for (CustomerId id : ids) must((sh::shard_of(id, 2) == 0 ? a : b).insert_customer(plain(id)));
  }
  auto run = [&](const std::string& shard_arg) {
    ProgramResult o = run_cli({"--json", "segment", "txn_count >= 0", "--shards", shard_arg});
    BOOST_TEST_REQUIRE(o.code == 0, o);
    return o.out;
  };
  const std::string in_order = run(paths[0].string() + "," + paths[1].string());
  const std::string swapped = run(paths[1].string() + "," + paths[0].string());
  BOOST_TEST(contains(in_order, "\"id\": " + std::to_string(ids[0])), in_order);
  BOOST_TEST(in_order == swapped);
}

BOOST_AUTO_TEST_SUITE_END()
