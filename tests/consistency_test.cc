// The consistency check must find what is wrong, not only pass what is right: each test breaks
// one invariant behind the engine's back (raw LMDB writes) and expects the matching report.
#include <lmdb.h>

#include "test_util.h"

using namespace custdb;
using namespace custdb::test;

namespace {

// Raw access to a closed database's file, for planting faults.
class RawFile {
 public:
  explicit RawFile(const fs::path& dir) {
    BOOST_TEST_REQUIRE(mdb_env_create(&env_) == 0);
    mdb_env_set_maxdbs(env_, 64);
    BOOST_TEST_REQUIRE(mdb_env_open(env_, dir.c_str(), 0, 0644) == 0);
    BOOST_TEST_REQUIRE(mdb_txn_begin(env_, nullptr, 0, &txn_) == 0);
  }
  ~RawFile() {
    if (txn_) BOOST_CHECK(mdb_txn_commit(txn_) == 0);
    mdb_env_close(env_);
  }
  MDB_dbi dbi(const char* name) {
    MDB_dbi d;
    BOOST_TEST_REQUIRE(mdb_dbi_open(txn_, name, 0, &d) == 0);
    return d;
  }
  std::vector<std::uint8_t> get(const char* table, std::uint64_t id) {
    auto k = key(id);
    MDB_val kv{8, k.data()}, v;
    BOOST_TEST_REQUIRE(mdb_get(txn_, dbi(table), &kv, &v) == 0);
    auto* p = static_cast<std::uint8_t*>(v.mv_data);
    return {p, p + v.mv_size};
  }
  void put(const char* table, std::string_view k, std::string_view v) {
    MDB_val kv{k.size(), const_cast<char*>(k.data())}, vv{v.size(), const_cast<char*>(v.data())};
    BOOST_TEST_REQUIRE(mdb_put(txn_, dbi(table), &kv, &vv, 0) == 0);
  }
  void put(const char* table, std::uint64_t id, const std::vector<std::uint8_t>& v) {
    auto k = key(id);
    MDB_val kv{8, k.data()}, vv{v.size(), const_cast<std::uint8_t*>(v.data())};
    BOOST_TEST_REQUIRE(mdb_put(txn_, dbi(table), &kv, &vv, 0) == 0);
  }
  void del_first(const char* table) {
    MDB_cursor* c;
    BOOST_TEST_REQUIRE(mdb_cursor_open(txn_, dbi(table), &c) == 0);
    MDB_val k, v;
    BOOST_TEST_REQUIRE(mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0);
    BOOST_TEST_REQUIRE(mdb_cursor_del(c, 0) == 0);
    mdb_cursor_close(c);
  }
  static std::array<std::uint8_t, 8> key(std::uint64_t id) {
    std::array<std::uint8_t, 8> k;
    for (int i = 0; i < 8; ++i) k[i] = static_cast<std::uint8_t>(id >> (8 * (7 - i)));
    return k;
  }
  static std::string key_str(std::uint64_t id) {
    auto k = key(id);
    return std::string(k.begin(), k.end());
  }

 private:
  MDB_env* env_ = nullptr;
  MDB_txn* txn_ = nullptr;
};

void populate(Database& db) {
  auto txn = must(db.begin_write());
  for (int i = 1; i <= 5; ++i) (void)must(txn.insert_customer(sample_customer(i)));
  must(txn.add_relationship({0, 1, 2, RelationType::kHousehold, "", {}}));
  for (int i = 0; i < 4; ++i) must(txn.add_transaction(sample_txn(1 + i % 2, 100 * (i + 1), "2025-01-01")));
  must(txn.commit());
}

std::vector<CheckProblem::Kind> kinds(const CheckReport& r) {
  std::vector<CheckProblem::Kind> k;
  for (const auto& p : r.problems) {
    BOOST_TEST_MESSAGE(to_string(p.kind) << " in " << p.where << ": " << p.what);
    k.push_back(p.kind);
  }
  return k;
}

bool has(const CheckReport& r, CheckProblem::Kind kind, std::string_view where) {
  for (const auto& p : r.problems)
    if (p.kind == kind && p.where == where) return true;
  return false;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(consistency)

BOOST_DATA_TEST_CASE(clean_database_reports_counts, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  populate(db);
  auto r = must(db.check());
  BOOST_TEST(r.clean());
  BOOST_TEST(r.customers == 5u);
  BOOST_TEST(r.relationships == 1u);
  BOOST_TEST(r.transactions == 4u);
  // 5 refs + 5 emails + 5 phones + 2 relationship ends + 4 transactions
  BOOST_TEST(r.index_entries == 21u);
  BOOST_TEST(r.segment_bitmaps > 20u);  // every customer has ~20 postings, all in chunk 0
}

BOOST_DATA_TEST_CASE(missing_index_entry, kModes, mode) {
  TempDir dir;
  { auto db = open_db(mode, dir.path()); populate(db); }
  { RawFile raw(dir.path()); raw.del_first("idx.email"); }
  auto db = open_db(mode, dir.path());
  auto r = must(db.check());
  kinds(r);
  BOOST_TEST(has(r, CheckProblem::Kind::kMissingIndexEntry, "idx.email"));
}

BOOST_DATA_TEST_CASE(orphan_index_entry, kModes, mode) {
  TempDir dir;
  { auto db = open_db(mode, dir.path()); populate(db); }
  {
    RawFile raw(dir.path());
    raw.put("idx.email", "ghost@example.com", RawFile::key_str(99));   // no such customer
    raw.put("idx.phone", "+15550000000", RawFile::key_str(3));        // real customer, wrong key
  }
  auto db = open_db(mode, dir.path());
  auto r = must(db.check());
  kinds(r);
  BOOST_TEST(has(r, CheckProblem::Kind::kOrphanIndexEntry, "idx.email"));
  BOOST_TEST(has(r, CheckProblem::Kind::kOrphanIndexEntry, "idx.phone"));
  BOOST_TEST(r.problems.size() == 2u);
}

BOOST_AUTO_TEST_CASE(stale_entry_with_equal_count_is_named) {
  // An email changed without its index entry: the count stays equal, yet both the missing new
  // entry and the stale old one must be reported.
  TempDir dir;
  { auto db = open_db(Mode::kPlain, dir.path()); populate(db); }
  {
    RawFile raw(dir.path());
    raw.del_first("idx.email");  // user1@example.com -> 1
    raw.put("idx.email", "stale@example.com", RawFile::key_str(1));
  }
  auto db = open_db(Mode::kPlain, dir.path());
  auto r = must(db.check());
  kinds(r);
  BOOST_TEST(has(r, CheckProblem::Kind::kMissingIndexEntry, "idx.email"));
  BOOST_TEST(has(r, CheckProblem::Kind::kOrphanIndexEntry, "idx.email"));
}

BOOST_DATA_TEST_CASE(segment_bitmaps_are_checked_both_ways, kModes, mode) {
  TempDir dir;
  std::string some_key;
  { auto db = open_db(mode, dir.path()); populate(db); }
  {
    // Drop one stored bitmap chunk: every customer in it now lacks that posting.
    RawFile raw(dir.path());
    raw.del_first("idx.segments");
  }
  auto db = open_db(mode, dir.path());
  auto r = must(db.check());
  kinds(r);
  BOOST_TEST(has(r, CheckProblem::Kind::kMissingIndexEntry, "idx.segments"));
}

BOOST_AUTO_TEST_CASE(stale_aggregate_and_dangling_reference) {
  // Plaintext only: rewriting a record behind the engine's back needs the codec, which is
  // exactly what encryption denies an attacker (covered by the authentication tests).
  TempDir dir;
  { auto db = open_db(Mode::kPlain, dir.path()); populate(db); }
  {
    // Move a transaction's record under a key its index entry does not name, and swap two
    // customers' values: each breaks a different invariant.
    RawFile raw(dir.path());
    auto c1 = raw.get("customers", 1), c3 = raw.get("customers", 3);
    raw.put("customers", 1, c3);
    raw.put("customers", 3, c1);
  }
  auto db = open_db(Mode::kPlain, dir.path());
  auto r = must(db.check());
  kinds(r);
  // A value moved under another key fails its checksum (the key is bound into it).
  BOOST_TEST(has(r, CheckProblem::Kind::kUndecodable, "customers"));
}

BOOST_AUTO_TEST_CASE(stale_aggregates_are_found) {
  TempDir dir;
  {
    auto db = open_db(Mode::kPlain, dir.path());
    populate(db);
  }
  {
    // Remove a transaction record and its index entry: customer 1's aggregates go stale.
    RawFile raw(dir.path());
    raw.del_first("transactions");
    raw.del_first("idx.txn_by_customer");
  }
  auto db = open_db(Mode::kPlain, dir.path());
  auto r = must(db.check());
  kinds(r);
  BOOST_TEST(has(r, CheckProblem::Kind::kStaleAggregate, "customers"));
}

BOOST_DATA_TEST_CASE(counter_behind_existing_ids, kModes, mode) {
  TempDir dir;
  { auto db = open_db(mode, dir.path()); populate(db); }
  { RawFile raw(dir.path()); raw.put("meta", "next_id.customer", RawFile::key_str(2)); }
  auto db = open_db(mode, dir.path());
  auto r = must(db.check());
  kinds(r);
  BOOST_TEST(has(r, CheckProblem::Kind::kBadMetadata, "meta"));
}

BOOST_AUTO_TEST_SUITE_END()
