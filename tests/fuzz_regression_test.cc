// Regression tests for what the fuzz targets (fuzz/, docs/testing.md "Fuzzing") found, written
// as deterministic tests that do not depend on a fuzz input's interpretation.
#include <lmdb.h>

#include <vector>

#include "codec/record_codec.h"
#include "custdb/query.h"
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;

namespace {

constexpr std::uint64_t kMaxId = (std::uint64_t{1} << 63) - 1;

// Replaces every stored segment bitmap of a plaintext database with `payload`, in a valid
// envelope (checksum included), through LMDB directly.
void overwrite_bitmaps(const fs::path& dir, const std::vector<std::uint8_t>& payload) {
  MDB_env* env;
  BOOST_TEST_REQUIRE(mdb_env_create(&env) == 0);
  mdb_env_set_maxdbs(env, 64);
  BOOST_TEST_REQUIRE(mdb_env_open(env, dir.c_str(), 0, 0644) == 0);
  MDB_txn* txn;
  BOOST_TEST_REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  MDB_dbi dbi;
  BOOST_TEST_REQUIRE(mdb_dbi_open(txn, "idx.segments", 0, &dbi) == 0);
  MDB_cursor* cur;
  BOOST_TEST_REQUIRE(mdb_cursor_open(txn, dbi, &cur) == 0);
  std::vector<std::vector<std::uint8_t>> keys;
  MDB_val k, v;
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    keys.emplace_back(static_cast<std::uint8_t*>(k.mv_data),
                      static_cast<std::uint8_t*>(k.mv_data) + k.mv_size);
  mdb_cursor_close(cur);
  BOOST_TEST_REQUIRE(!keys.empty());
  codec::RecordCodec plain(nullptr);
  std::vector<std::uint8_t> value;
  for (auto& key : keys) {
    plain.wrap(codec::Table::kPostings, key, payload, value);
    MDB_val mk{key.size(), key.data()}, mv{value.size(), value.data()};
    BOOST_TEST_REQUIRE(mdb_put(txn, dbi, &mk, &mv, 0) == 0);
  }
  BOOST_TEST_REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(fuzz_regressions)

// fuzz_raw_file, fuzz/corpus/raw_file/regress-bitmap-negative-container-count: a serialized
// Roaring bitmap whose container count is negative passes CRoaring's
// roaring_bitmap_portable_deserialize_size check (8 == size) but cannot be read:
// Roaring::readSafe throws std::runtime_error. A damaged bitmap must be kCorruption (and a
// problem found by check()), not an uncaught exception.
BOOST_AUTO_TEST_CASE(bitmap_with_a_negative_container_count_is_corruption) {
  TempDir dir;
  {
    auto db = open_db(Mode::kPlain, dir.path());
    for (int i = 1; i <= 3; ++i) (void)must(db.insert_customer(sample_customer(i)));
  }
  overwrite_bitmaps(dir.path(), {0x3a, 0x30, 0, 0, 0, 0, 0, 0x80});
  auto db = open_db(Mode::kPlain, dir.path());
  auto txn = must(db.begin_read());
  auto n = txn.count(query::parse("tier = silver or tag = vip").value(), {parse_date("2026-01-01")});
  BOOST_TEST_REQUIRE(!n.has_value());
  BOOST_TEST(n.error().code() == ErrorCode::kCorruption, n.error().to_string());
  auto report = db.check();
  if (report) BOOST_TEST(!report->clean());
  else BOOST_TEST(report.error().code() == ErrorCode::kCorruption, report.error().to_string());
}

// fuzz_api_sequence, fuzz/corpus/api_sequence/id-limits: after the explicit id 2^63 - 1 the
// id counter is exhausted; an id must never be assigned beyond the documented range.
BOOST_DATA_TEST_CASE(ids_are_never_assigned_past_2_pow_63_minus_1, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  Customer last = sample_customer(1);
  last.id = kMaxId;
  BOOST_TEST(must(db.insert_customer(last)) == kMaxId);
  auto next = db.insert_customer(sample_customer(2));
  BOOST_TEST_REQUIRE(!next.has_value(), "assigned id " << *next);
  BOOST_TEST(next.error().code() == ErrorCode::kFailedPrecondition, next.error().to_string());

  Transaction t = sample_txn(kMaxId, 100, "2025-01-01");
  t.id = kMaxId;
  BOOST_TEST(must(db.add_transaction(t)) == kMaxId);
  auto again = db.add_transaction(sample_txn(kMaxId, 100, "2025-01-02"));
  BOOST_TEST_REQUIRE(!again.has_value(), "assigned id " << *again);
  BOOST_TEST(again.error().code() == ErrorCode::kFailedPrecondition, again.error().to_string());
  require_clean(db);
}

BOOST_AUTO_TEST_SUITE_END()
