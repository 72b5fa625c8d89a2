// Regression tests for what the fuzz targets (fuzz/, docs/testing.md "Fuzzing") found, written
// as deterministic tests that do not depend on a fuzz input's interpretation.
#include <lmdb.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "codec/record_codec.h"
#include "custdb/query.h"
#include "engine/db_impl.h"
#include "index/segments.h"
#include "storage/page_check.h"
#include "raw_file_db.h"
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

// Damages, in data.mdb behind LMDB's back, the first key of every leaf page that starts with a
// bucket key of ordered field `f` ([field][8][bucket][chunk]): the bucket's sign bit flips, so
// the key now sorts far below the branch separator that still names the original. Returns the
// original buckets. LMDB page layout (mdb.c): header pgno u64, pad u16, flags u16, lower u16,
// upper u16, then u16 node offsets; a node is lo u16, hi u16, flags u16, ksize u16, key.
std::vector<std::int64_t> damage_first_bucket_key_of_leaves(const fs::path& dir, index::SegField f) {
  constexpr std::size_t kPage = 4096;
  const fs::path file = dir / "data.mdb";
  std::string bytes;
  {
    std::ifstream in(file, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto u16 = [&](std::size_t at) {
    return static_cast<std::size_t>(static_cast<std::uint8_t>(bytes[at]) |
                                    static_cast<std::uint8_t>(bytes[at + 1]) << 8);
  };
  std::vector<std::int64_t> damaged;
  for (std::size_t page = 2 * kPage; page + kPage <= bytes.size(); page += kPage) {
    const std::size_t flags = u16(page + 10), lower = u16(page + 12);
    if (flags != 0x02 || lower <= 16 || lower > kPage) continue;  // a plain leaf with nodes
    const std::size_t node = page + u16(page + 16);
    if (node + 8 + 18 > page + kPage || u16(node + 6) != 18) continue;
    char* key = bytes.data() + node + 8;
    if (key[0] != static_cast<char>(f) || key[1] != 8) continue;
    damaged.push_back(index::decode_bucket(std::string_view(key + 2, 8)));
    key[2] = static_cast<char>(key[2] ^ 0x80);
  }
  std::ofstream(file, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return damaged;
}

}  // namespace

// The file fuzz/raw_file.cc builds (tests/raw_file_db.h), so the whole-file reproducers in
// fuzz/findings/ hit the same page bytes here.
std::vector<std::uint8_t> raw_file_pristine(const fs::path& dir) {
  BOOST_TEST_REQUIRE(build_raw_file_database(dir).has_value());  // closed again at once
  std::ifstream in(dir / "data.mdb", std::ios::binary);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), {});
}

BOOST_AUTO_TEST_SUITE(fuzz_regressions)

// fuzz/findings/raw_file_whole_file: single bytes of LMDB page structure (page flags, a key
// size) that made LMDB abort, fault with SIGSEGV or return a value past the end of the file
// (SIGBUS). Each goes through verify (verify_file, then the open with check_pages and
// Database::check, as `custdb verify` and every command do) without a crash; the three that
// crashed are reported as damaged pages, and an open with the walk is kCorruption.
BOOST_AUTO_TEST_CASE(lmdb_findings_pass_through_verify) {
  TempDir dir;
  const auto pristine = raw_file_pristine(dir / "built");
  const fs::path findings = fs::path(CUSTDB_FIXTURE_DIR) / ".." / ".." / "fuzz" / "findings" /
                            "raw_file_whole_file";
  int n = 0;
  for (const auto& entry : fs::directory_iterator(findings)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::vector<std::uint8_t> input(std::istreambuf_iterator<char>(in), {});
    BOOST_TEST_REQUIRE(input.size() >= 6u);
    // raw_file's whole-file mutations: [mode] then [kind][u16 a][u8 b][u8 c]: offset
    // (a | b << 16) mod the file size, xor c.
    auto file = pristine;
    for (std::size_t i = 1; i + 5 <= input.size(); i += 5) {
      const std::size_t a = input[i + 1] | input[i + 2] << 8;
      const std::size_t off = (a | std::size_t{input[i + 3]} << 16) % file.size();
      file[off] ^= input[i + 4];
    }
    const fs::path copy = dir / entry.path().filename().string();
    fs::create_directories(copy);
    std::ofstream(copy / "data.mdb", std::ios::binary)
        .write(reinterpret_cast<const char*>(file.data()), static_cast<std::streamsize>(file.size()));
    const std::string name = entry.path().filename().string();
    auto pages = verify_file(copy);
    BOOST_TEST_REQUIRE(pages.has_value(), name);
    const bool crashed_lmdb = name.rfind("lmdb-", 0) == 0;
    if (crashed_lmdb) {
      BOOST_TEST(!pages->clean(), name);
      BOOST_TEST(pages->problems.front().kind == CheckProblem::Kind::kDamagedPage, name);
      BOOST_TEST_MESSAGE(name << ": " << pages->problems.front().where << ": "
                              << pages->problems.front().what);
    }
    Options o;
    o.create_if_missing = false;
    o.read_only = true;
    o.check_pages = true;
    auto db = Database::open(copy, o);
    if (crashed_lmdb) {
      BOOST_TEST_REQUIRE(!db.has_value(), name);
      BOOST_TEST(db.error().code() == ErrorCode::kCorruption, name);
    } else if (db) {
      auto r = db->check();  // walks again, then the record checks: no crash
      if (r) BOOST_TEST_MESSAGE(name << ": check: " << r->problems.size() << " problems");
    }
    ++n;
  }
  BOOST_TEST(n == 4);
}

// fuzz_raw_file (whole-file mode) found: meta byte 28 (the free list's md_flags) xor 0x35 sets
// MDB_DUPSORT on the free list; the walk called the file clean and LMDB aborted on an
// assertion in mdb_cursor_init at the first page allocation of a write. Now the walk refuses
// free-list flags other than MDB_INTEGERKEY, and a named DB's flags other than custdb's;
// and (the next finding) tree pages carrying P_DIRTY or unknown flag bits.
BOOST_AUTO_TEST_CASE(free_list_and_named_db_flags_are_damage) {
  TempDir dir;
  const auto pristine = raw_file_pristine(dir / "built");
  std::uint64_t t0, t1;
  std::memcpy(&t0, pristine.data() + 16 + 128, 8);
  std::memcpy(&t1, pristine.data() + 4096 + 16 + 128, 8);
  for (int which : {0, 1, 2}) {
    auto file = pristine;
    const std::size_t meta = t1 > t0 ? 4096 : 0;
    if (which == 2) {
      // fuzz_raw_file found next: P_DIRTY (0x10) set on a leaf in use; LMDB's next write
      // modified the page in place, in the read-only map: SIGSEGV in mdb_cursor_put.
      std::vector<std::uint8_t> use;
      storage::PageCheckOptions po;
      po.page_use = &use;
      BOOST_TEST_REQUIRE(storage::check_pages(file, po).clean());
      std::size_t leaf = 0;
      for (std::size_t pg = 2; pg < use.size() && !leaf; ++pg)
        if (use[pg] == 1 && file[pg * 4096 + 10] == 0x02) leaf = pg;
      BOOST_TEST_REQUIRE(leaf != 0u);
      file[leaf * 4096 + 10] ^= 0x10;
    } else if (which == 0) {
      file[meta + 16 + 28] ^= 0x35;
    } else {
      // The main DB's record of 'customers' (its key, then the 48-byte MDB_db): flip
      // MDB_INTEGERKEY into md_flags (offset 4). Free pages may hold older copies of the
      // main DB's leaf: flip every copy.
      const std::string name = "customers";
      int copies = 0;
      for (auto it = file.begin() + 2 * 4096;
           (it = std::search(it, file.end(), name.begin(), name.end())) != file.end(); ++it) {
        file[static_cast<std::size_t>(it - file.begin()) + name.size() + 4] ^= 0x08;
        ++copies;
      }
      BOOST_TEST_REQUIRE(copies > 0);
    }
    const fs::path copy = dir / ("copy" + std::to_string(which));
    fs::create_directories(copy);
    std::ofstream(copy / "data.mdb", std::ios::binary)
        .write(reinterpret_cast<const char*>(file.data()), static_cast<std::streamsize>(file.size()));
    auto pages = verify_file(copy);
    BOOST_TEST_REQUIRE(pages.has_value());
    BOOST_TEST(!pages->clean(), which);
    Options o;
    o.create_if_missing = false;
    o.check_pages = true;
    auto db = Database::open(copy, o);
    BOOST_TEST_REQUIRE(!db.has_value(), which);
    BOOST_TEST(db.error().code() == ErrorCode::kCorruption, which);
  }
}

// fuzz_raw_file (CI, stop 10): a segment key whose bucket bytes were damaged in place, so that
// an ordered walk starting at bucket lo meets a bucket far below lo. The planner computed that
// bucket's value bounds with a negative shift (undefined behaviour, caught by UBSan in
// index::bucket_bounds). Keys out of order are kCorruption; bucket_bounds is total.
BOOST_AUTO_TEST_CASE(a_damaged_bucket_key_out_of_order_is_corruption) {
  using index::SegField;
  TempDir dir;
  {
    // One customer per total_amount bucket, each in its own 2^16-id chunk: ~25 segment keys
    // each, so idx.segments spans many leaf pages and some begin with a total_amount key.
    auto db = open_db(Mode::kPlain, dir.path());
    auto txn = must(db.begin_write());
    for (int i = 1; i <= 300; ++i) {
      Customer c = sample_customer(i);
      c.id = static_cast<CustomerId>(i) << 16;
      (void)must(txn.insert_customer(c));
      auto amount = index::bucket_bounds(SegField::kTotalAmount, 7 + i).first;
      (void)must(txn.add_transaction(sample_txn(c.id, amount, "2025-03-01")));
    }
    must(txn.commit());
  }
  auto damaged = damage_first_bucket_key_of_leaves(dir.path(), SegField::kTotalAmount);
  BOOST_TEST_REQUIRE(!damaged.empty());

  auto db = open_db(Mode::kPlain, dir.path());
  auto txn = must(db.begin_read());
  int corrupt = 0;
  for (std::int64_t b : damaged) {
    // A range starting at the damaged bucket: LMDB's seek lands on the leaf before (the
    // separator is larger), finds nothing there and returns the next leaf's first key.
    auto lo = index::bucket_bounds(SegField::kTotalAmount, b).first;
    auto q = query::parse("total_amount >= " + std::to_string(lo / 100) + "." +
                          (lo % 100 < 10 ? "0" : "") + std::to_string(lo % 100)).value();
    auto n = txn.count(q, {parse_date("2026-01-01")});
    auto ids = txn.ids(q, {parse_date("2026-01-01")});
    for (const Status& s : {n ? Status{} : Status(tl::unexpected(n.error())),
                            ids ? Status{} : Status(tl::unexpected(ids.error()))}) {
      if (s) continue;
      BOOST_TEST(s.error().code() == ErrorCode::kCorruption, "bucket " << b << ": " << s.error().to_string());
      ++corrupt;
    }
  }
  BOOST_TEST(corrupt > 0);
  auto report = db.check();
  if (report) BOOST_TEST(!report->clean());
  else BOOST_TEST(report.error().code() == ErrorCode::kCorruption, report.error().to_string());
}

// Every bucket number, even one only a damaged file holds, has defined value bounds.
BOOST_AUTO_TEST_CASE(bucket_bounds_are_total) {
  using index::SegField;
  for (SegField f : {SegField::kIncomeBand, SegField::kBirthDate, SegField::kCreatedAt,
                     SegField::kTxnCount, SegField::kTotalAmount, SegField::kFirstTxnAt,
                     SegField::kLastTxnAt, SegField::kPAlive, SegField::kExpectedPurchases,
                     SegField::kClv, SegField::kRScore}) {
    auto [dlo, dhi] = index::bucket_domain(f);
    for (std::int64_t b : {INT64_MIN, INT64_MIN + 1, std::int64_t{-(1LL << 34)}, dlo - 1, dlo,
                           dhi, dhi + 1, std::int64_t{1} << 34, INT64_MAX}) {
      auto [lo, hi] = index::bucket_bounds(f, b);
      BOOST_TEST(lo <= hi, index::to_string(f) << " bucket " << b);
      if (f != SegField::kIncomeBand && f != SegField::kRScore) {
        auto inside = index::bucket_bounds(f, std::clamp(b, dlo, dhi));
        BOOST_TEST((std::pair(lo, hi) == inside), index::to_string(f) << " bucket " << b);
      }
    }
  }
}

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

// fuzz_record_decode, fuzz/corpus/record_decode/regress-empty-run-container: a bitmap in the
// run-container layout (cookie 12347, one container, key 0x0010, cardinality 1) whose run
// container has zero runs. CRoaring 0.2.66 deserializes it (sizes agree) and then dereferences
// null when iterating it. It must be kCorruption, never a crash.
BOOST_AUTO_TEST_CASE(bitmap_with_an_empty_run_container_is_corruption) {
  const std::vector<std::uint8_t> payload = {0x3b, 0x30, 0, 0, 0x01, 0x10, 0, 0, 0, 0, 0};
  BOOST_TEST(!segment::decode_bitmap(payload).has_value());
  TempDir dir;
  {
    auto db = open_db(Mode::kPlain, dir.path());
    for (int i = 1; i <= 3; ++i) (void)must(db.insert_customer(sample_customer(i)));
  }
  overwrite_bitmaps(dir.path(), payload);
  auto db = open_db(Mode::kPlain, dir.path());
  auto txn = must(db.begin_read());
  for (const char* text : {"tier = silver or tag = vip", "not region = east", "stage in (new, loyal)"}) {
    auto ids = txn.ids(query::parse(text).value(), {parse_date("2026-01-01")});
    BOOST_TEST_REQUIRE(!ids.has_value(), text);
    BOOST_TEST(ids.error().code() == ErrorCode::kCorruption, ids.error().to_string());
  }
  auto report = db.check();
  if (report) BOOST_TEST(!report->clean());
  else BOOST_TEST(report.error().code() == ErrorCode::kCorruption, report.error().to_string());
}

// Bitmaps the engine writes (one container per chunk, run-optimized or not, and empty) decode;
// more than one container (never written: a chunk is one 2^16 block) is refused.
BOOST_AUTO_TEST_CASE(decode_bitmap_accepts_what_the_engine_writes) {
  auto serialize = [](Roaring r, bool optimize) {
    if (optimize) r.runOptimize();
    std::vector<std::uint8_t> out(r.getSizeInBytes(true));
    r.write(reinterpret_cast<char*>(out.data()), true);
    return out;
  };
  Roaring run, array, bits, two;
  run.addRange(5 << 16 | 10, 5 << 16 | 3000);
  for (std::uint32_t i = 0; i < 50; ++i) array.add(7 << 16 | i * 3);
  for (std::uint32_t i = 0; i < 20000; ++i) bits.add(9 << 16 | i * 3);
  two.add(1);
  two.add(1 << 16 | 1);
  for (const Roaring& r : {Roaring(), run, array, bits})
    for (bool optimize : {false, true}) {
      auto decoded = segment::decode_bitmap(serialize(r, optimize));
      BOOST_TEST_REQUIRE(decoded.has_value(), (decoded ? "" : decoded.error().to_string()));
      BOOST_TEST((*decoded == r));
    }
  BOOST_TEST(!segment::decode_bitmap(serialize(two, false)).has_value());
}

// fuzz_record_decode, fuzz/corpus/record_decode/regress-unsorted-array-container: containers
// CRoaring 0.2.66 reads without complaint but whose set operations disagree (|a ∪ b| + |a ∩ b|
// != |a| + |b|). Each is refused; the well-formed twin of each is accepted.
BOOST_AUTO_TEST_CASE(decode_bitmap_refuses_malformed_containers) {
  auto u16 = [](std::vector<std::uint8_t>& out, std::uint32_t v) {
    out.push_back(static_cast<std::uint8_t>(v));
    out.push_back(static_cast<std::uint8_t>(v >> 8));
  };
  // Cookie 12346 (no run containers), one container with key 7.
  auto array = [&](std::vector<std::uint32_t> values) {
    std::vector<std::uint8_t> out = {0x3a, 0x30, 0, 0, 1, 0, 0, 0};
    u16(out, 7);
    u16(out, static_cast<std::uint32_t>(values.size() - 1));
    out.insert(out.end(), {16, 0, 0, 0});
    for (auto v : values) u16(out, v);
    return out;
  };
  // Cookie 12347, one run container with key 7: (start, length - 1) pairs.
  auto runs = [&](std::vector<std::pair<std::uint32_t, std::uint32_t>> rs) {
    std::vector<std::uint8_t> out = {0x3b, 0x30, 0, 0, 1};
    std::uint32_t card = 0;
    for (auto [start, len] : rs) card += len + 1;
    u16(out, 7);
    u16(out, card - 1);
    u16(out, static_cast<std::uint32_t>(rs.size()));
    for (auto [start, len] : rs) u16(out, start), u16(out, len);
    return out;
  };
  // One bitset container (cardinality 5000 declared) with `bits` bits set.
  auto bitset = [&](std::uint32_t bits) {
    std::vector<std::uint8_t> out = {0x3a, 0x30, 0, 0, 1, 0, 0, 0};
    u16(out, 7);
    u16(out, 4999);
    out.insert(out.end(), {16, 0, 0, 0});
    std::vector<std::uint8_t> words(8192, 0);
    for (std::uint32_t i = 0; i < bits; ++i) words[i / 8] |= static_cast<std::uint8_t>(1u << (i % 8));
    out.insert(out.end(), words.begin(), words.end());
    return out;
  };
  auto ok = [](const std::vector<std::uint8_t>& b) { return segment::decode_bitmap(b).has_value(); };
  BOOST_TEST(ok(array({3, 5, 9})));
  BOOST_TEST(!ok(array({5, 3, 9})));   // unsorted
  BOOST_TEST(!ok(array({3, 3, 9})));   // a value twice
  BOOST_TEST(ok(runs({{10, 5}, {20, 1}})));
  BOOST_TEST(!ok(runs({{10, 5}, {12, 1}})));   // overlapping runs
  BOOST_TEST(!ok(runs({{20, 1}, {10, 5}})));   // runs out of order
  BOOST_TEST(!ok(runs({{0xFFF0, 0x20}})));     // a run past the container's 65,536 values
  BOOST_TEST(ok(runs({{0xFFF0, 0x0F}})));      // the last value exactly
  BOOST_TEST(ok(bitset(5000)));
  BOOST_TEST(!ok(bitset(10)));                 // the header's count disagrees with the bits
  // The fuzz input itself is replayed by the CTest test fuzz_replay_record_decode.
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
