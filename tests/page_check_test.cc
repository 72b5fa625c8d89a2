// The bounds-checked LMDB page walk (storage/page_check.h): clean on files LMDB wrote, every
// crafted kind of damage reported with its page, and random damage never crashing it nor
// (when the walk calls a file clean) LMDB reading the file afterwards.
#include <cstring>
#include <fstream>
#include <random>

#include "storage/page_check.h"
#include "test_util.h"

namespace custdb {
namespace {

using test::TempDir;
using Bytes = std::vector<std::uint8_t>;
constexpr std::size_t kPage = 4096;

Bytes read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

void write_all(const std::filesystem::path& p, const Bytes& b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

#define LMDB_OK(expr) BOOST_REQUIRE_EQUAL((expr), 0)

// A small LMDB file with every structure the walk knows: a multi-level tree ("plain"), values
// on overflow pages ("big"), dupsort sub-pages and a sub-DB ("dups"), DUPFIXED sub-pages and
// a LEAF2 sub-DB ("fixed"), and a free list (half of "plain" deleted in a second commit).
Bytes make_file(const TempDir& dir) {
  MDB_env* env;
  LMDB_OK(mdb_env_create(&env));
  mdb_env_set_maxdbs(env, 8);
  mdb_env_set_mapsize(env, 32u << 20);
  LMDB_OK(mdb_env_open(env, dir.path().c_str(), MDB_NOSYNC, 0600));
  MDB_txn* txn;
  LMDB_OK(mdb_txn_begin(env, nullptr, 0, &txn));
  MDB_dbi plain, big, dups, fixed;
  LMDB_OK(mdb_dbi_open(txn, "plain", MDB_CREATE, &plain));
  LMDB_OK(mdb_dbi_open(txn, "big", MDB_CREATE, &big));
  LMDB_OK(mdb_dbi_open(txn, "dups", MDB_CREATE | MDB_DUPSORT, &dups));
  LMDB_OK(mdb_dbi_open(txn, "fixed", MDB_CREATE | MDB_DUPSORT | MDB_DUPFIXED, &fixed));
  auto put = [&](MDB_dbi dbi, const std::string& k, const std::string& v) {
    MDB_val key{k.size(), const_cast<char*>(k.data())}, val{v.size(), const_cast<char*>(v.data())};
    LMDB_OK(mdb_put(txn, dbi, &key, &val, 0));
  };
  char buf[32];
  for (int i = 0; i < 3000; ++i) {
    std::snprintf(buf, sizeof buf, "key%06d", i);
    put(plain, buf, std::string(100, static_cast<char>('a' + i % 26)));
  }
  for (int i = 0; i < 3; ++i) put(big, "big" + std::to_string(i), std::string(10000 + i, 'b'));
  for (int i = 0; i < 5; ++i) put(dups, "a", "dup" + std::to_string(i));
  for (int i = 0; i < 2000; ++i) {
    std::snprintf(buf, sizeof buf, "value%06d", i);
    put(dups, "b", buf);
  }
  for (int i = 0; i < 3; ++i) put(fixed, "x", std::string(8, static_cast<char>('0' + i)));
  for (int i = 0; i < 3000; ++i) {
    std::snprintf(buf, sizeof buf, "%08d", i);
    put(fixed, "y", buf);
  }
  LMDB_OK(mdb_txn_commit(txn));
  LMDB_OK(mdb_txn_begin(env, nullptr, 0, &txn));
  for (int i = 0; i < 3000; i += 2) {
    std::snprintf(buf, sizeof buf, "key%06d", i);
    MDB_val key{std::strlen(buf), buf};
    LMDB_OK(mdb_del(txn, plain, &key, nullptr));
  }
  LMDB_OK(mdb_txn_commit(txn));
  mdb_env_close(env);
  std::filesystem::remove(dir / "lock.mdb");
  return read_all(dir / "data.mdb");
}

std::uint16_t flags_of(const Bytes& f, std::size_t pg) {
  std::uint16_t v;
  std::memcpy(&v, f.data() + pg * kPage + 10, 2);
  return v;
}
void put16(Bytes& f, std::size_t off, std::uint16_t v) { std::memcpy(f.data() + off, &v, 2); }
void put32(Bytes& f, std::size_t off, std::uint32_t v) { std::memcpy(f.data() + off, &v, 4); }

// The first page in use (by number, after the metas) whose kind flags are exactly `want`.
std::size_t find_page(const Bytes& f, std::uint16_t want) {
  std::vector<std::uint8_t> use;
  storage::PageCheckOptions o;
  o.page_use = &use;
  BOOST_REQUIRE(storage::check_pages(f, o).clean());
  for (std::size_t pg = 2; pg < use.size(); ++pg) {
    if (use[pg] != 1) continue;
    std::uint64_t no;
    std::memcpy(&no, f.data() + pg * kPage, 8);
    if (no == pg && (flags_of(f, pg) & 0x7f) == want) return pg;
  }
  BOOST_FAIL("no page with flags " << want);
  return 0;
}

bool reports(const storage::PageCheckReport& r, std::uint64_t pgno, const std::string& text) {
  for (const auto& p : r.problems)
    if (p.pgno == pgno && p.what.find(text) != std::string::npos) return true;
  BOOST_TEST_MESSAGE("problems: " << r.problems.size() << "; first: " << r.summary());
  return false;
}

// Reads every entry of every named DB through LMDB: what a command would do. Crashes (and so
// fails the test run) where LMDB faults.
void read_everything(const std::filesystem::path& dir) {
  MDB_env* env;
  LMDB_OK(mdb_env_create(&env));
  mdb_env_set_maxdbs(env, 8);
  if (mdb_env_open(env, dir.c_str(), MDB_RDONLY | MDB_NOTLS, 0600) != 0) {
    mdb_env_close(env);
    return;
  }
  MDB_txn* txn;
  if (mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0) {
    for (const char* name : {"plain", "big", "dups", "fixed"}) {
      MDB_dbi dbi;
      if (mdb_dbi_open(txn, name, 0, &dbi) != 0) continue;
      MDB_cursor* cur;
      if (mdb_cursor_open(txn, dbi, &cur) != 0) continue;
      MDB_val k, v;
      std::size_t sum = 0;
      for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
           rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        sum += k.mv_size + v.mv_size + (v.mv_size ? static_cast<const char*>(v.mv_data)[v.mv_size - 1] : 0);
      BOOST_TEST(sum > 0u);
      mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
  }
  mdb_env_close(env);
}

struct Fixture {
  TempDir dir;
  Bytes pristine = make_file(dir);
  storage::PageCheckReport walk(const Bytes& f) { return storage::check_pages(f); }
};

BOOST_AUTO_TEST_SUITE(page_check)

BOOST_FIXTURE_TEST_CASE(clean_file_walks_clean, Fixture) {
  auto r = walk(pristine);
  BOOST_TEST(r.clean(), r.summary());
  BOOST_TEST(r.named_dbs == 4u);
  BOOST_TEST(r.free_pages > 0u);
  BOOST_TEST(r.pages_walked + r.free_pages + 2 == r.last_pgno + 1);
  auto f = storage::check_pages_file(dir / "data.mdb");
  BOOST_REQUIRE(f.has_value());
  BOOST_TEST(f->clean(), f->summary());
  BOOST_TEST(!storage::check_pages_file(dir / "absent.mdb").has_value());
}

BOOST_FIXTURE_TEST_CASE(branch_child_past_the_end, Fixture) {
  Bytes f = pristine;
  const std::size_t pg = find_page(f, 0x01);
  std::uint16_t off;
  std::memcpy(&off, f.data() + pg * kPage + 16 + 2, 2);  // node 1
  put16(f, pg * kPage + off, 0xFFFF);                    // mn_lo
  put16(f, pg * kPage + off + 2, 0x7FFF);                // mn_hi
  BOOST_TEST(reports(walk(f), pg, "past the last page"));
}

BOOST_FIXTURE_TEST_CASE(node_offset_past_the_page, Fixture) {
  for (std::uint16_t kind : {0x01, 0x02}) {
    Bytes f = pristine;
    const std::size_t pg = find_page(f, kind);
    put16(f, pg * kPage + 16, 0xFFF0);  // mp_ptrs[0]
    BOOST_TEST(reports(walk(f), pg, "outside the node area"));
  }
  // A key size running past the page.
  Bytes f = pristine;
  const std::size_t pg = find_page(f, 0x02);
  std::uint16_t off;
  std::memcpy(&off, f.data() + pg * kPage + 16, 2);
  put16(f, pg * kPage + off + 6, 4000);
  BOOST_TEST(!walk(f).clean());
  // Data size running past the page.
  f = pristine;
  put16(f, pg * kPage + off + 2, 0x10);
  BOOST_TEST(!walk(f).clean());  // reported on the leaf, or on its overflow run
}

BOOST_FIXTURE_TEST_CASE(zeroed_page, Fixture) {
  for (std::uint16_t kind : {0x01, 0x02, 0x04}) {
    Bytes f = pristine;
    const std::size_t pg = find_page(f, kind);
    std::memset(f.data() + pg * kPage, 0, kPage);
    auto r = walk(f);
    BOOST_TEST(!r.clean());
    BOOST_TEST((reports(r, pg, "page header names page 0") ||
                reports(r, pg, "not an overflow page")));
  }
}

BOOST_FIXTURE_TEST_CASE(truncated_file, Fixture) {
  for (std::size_t pages : {std::size_t{1}, std::size_t{7}, pristine.size() / kPage - 1,
                            std::size_t{0}}) {
    Bytes f(pristine.begin(), pristine.end() - static_cast<std::ptrdiff_t>(pages * kPage));
    if (pages == 0) f.resize(kPage + 100);  // half a meta page
    auto r = walk(f);
    BOOST_TEST(!r.clean(), "cut " << pages);
  }
  auto cut = walk(Bytes(pristine.begin(), pristine.end() - kPage));
  BOOST_TEST((reports(cut, 1, "truncated") || reports(cut, 0, "truncated")));
  BOOST_TEST(!walk(Bytes()).clean());
}

BOOST_FIXTURE_TEST_CASE(overflow_run_past_the_end, Fixture) {
  Bytes f = pristine;
  const std::size_t pg = find_page(f, 0x04);
  put32(f, pg * kPage + 12, 100000);  // mp_pages
  BOOST_TEST(reports(walk(f), pg, "overflow run"));
  f = pristine;
  put32(f, pg * kPage + 12, 1);  // too short for its 10000-byte value
  BOOST_TEST(reports(walk(f), pg, "cannot hold"));
}

BOOST_FIXTURE_TEST_CASE(bad_meta, Fixture) {
  Bytes f = pristine;
  f[16] ^= 1;  // meta 0's magic
  BOOST_TEST(reports(walk(f), 0, "bad magic"));
  f = pristine;
  put32(f, 16 + 24, 3000);  // meta 0's page size
  BOOST_TEST(reports(walk(f), 0, "page size"));
  // The newest meta's last page past the file, and its main DB root past it.
  std::uint64_t t0, t1;
  std::memcpy(&t0, pristine.data() + 16 + 128, 8);
  std::memcpy(&t1, pristine.data() + kPage + 16 + 128, 8);
  const std::size_t newest = t1 > t0 ? 1 : 0;
  f = pristine;
  std::uint64_t big = 1u << 30;
  std::memcpy(f.data() + newest * kPage + 16 + 120, &big, 8);
  auto r = walk(f);
  BOOST_TEST((reports(r, newest, "map size") || reports(r, newest, "truncated")));
  f = pristine;
  std::uint64_t root = 99999;
  std::memcpy(f.data() + newest * kPage + 16 + 72 + 40, &root, 8);
  BOOST_TEST(reports(walk(f), newest, "past the last page"));
  f = pristine;
  put16(f, newest * kPage + 10, 0x02);  // not P_META
  BOOST_TEST(reports(walk(f), newest, "P_META"));
  // The free list's flags made MDB_DUPSORT: LMDB asserted in mdb_cursor_init on the next
  // page allocation (found by fuzz_raw_file).
  f = pristine;
  f[newest * kPage + 16 + 28] ^= 0x35;
  BOOST_TEST(reports(walk(f), newest, "free list flags"));
}

// A named DB whose stored flags differ from what its owner opens it with.
BOOST_FIXTURE_TEST_CASE(named_db_flags, Fixture) {
  storage::PageCheckOptions o;
  o.db_flags = {{"plain", 0}, {"dups", MDB_DUPSORT}, {"fixed", MDB_DUPSORT | MDB_DUPFIXED}};
  BOOST_TEST(storage::check_pages(pristine, o).clean());
  o.db_flags["dups"] = MDB_DUPSORT | MDB_DUPFIXED;
  auto r = storage::check_pages(pristine, o);
  BOOST_TEST(!r.clean());
  BOOST_TEST(r.summary().find("DB 'dups' has flags") != std::string::npos, r.summary());
}

BOOST_FIXTURE_TEST_CASE(unsorted_keys_and_duplicates, Fixture) {
  // Swap the first two values of the LEAF2 sub-DB's first leaf.
  Bytes f = pristine;
  const std::size_t pg = find_page(f, 0x22);
  std::uint8_t* k = f.data() + pg * kPage + 16;
  std::swap_ranges(k, k + 8, k + 8);
  BOOST_TEST(reports(walk(f), pg, "out of order"));
  // Two leaf nodes pointing at the same node: keys equal, not increasing.
  f = pristine;
  const std::size_t leaf = find_page(f, 0x02);
  std::uint16_t off0;
  std::memcpy(&off0, f.data() + leaf * kPage + 16, 2);
  put16(f, leaf * kPage + 18, off0);
  BOOST_TEST(reports(walk(f), leaf, "out of order"));
}

// mp_upper no longer where the nodes begin: LMDB's next write on the page would move bytes by
// the wrong amount. Only the node-area accounting sees it.
BOOST_FIXTURE_TEST_CASE(node_area_must_match_the_nodes, Fixture) {
  for (std::uint16_t kind : {0x01, 0x02}) {
    Bytes f = pristine;
    const std::size_t pg = find_page(f, kind);
    std::uint16_t lower, upper;
    std::memcpy(&lower, f.data() + pg * kPage + 12, 2);
    std::memcpy(&upper, f.data() + pg * kPage + 14, 2);
    BOOST_TEST_REQUIRE(upper - lower >= 2);
    put16(f, pg * kPage + 14, static_cast<std::uint16_t>(upper - 2));
    BOOST_TEST(reports(walk(f), pg, "node area"));
  }
}

// P_DIRTY on a page of a tree: LMDB's next write would modify it in place, in the read-only
// map (SIGSEGV; found by fuzz_raw_file). Unknown flag bits are damage too.
BOOST_FIXTURE_TEST_CASE(dirty_or_unknown_page_flags, Fixture) {
  for (std::uint16_t kind : {0x01, 0x02, 0x04})
    for (std::uint16_t bit : {0x10, 0x80, 0x1000}) {
      Bytes f = pristine;
      const std::size_t pg = find_page(f, kind);
      put16(f, pg * kPage + 10, static_cast<std::uint16_t>(flags_of(f, pg) | bit));
      BOOST_TEST(!walk(f).clean(), "kind " << kind << " bit " << bit);
    }
}

BOOST_FIXTURE_TEST_CASE(page_reached_twice_and_counts, Fixture) {
  // A branch whose two children are the same page.
  Bytes f = pristine;
  const std::size_t pg = find_page(f, 0x01);
  std::uint16_t o0, o1;
  std::memcpy(&o0, f.data() + pg * kPage + 16, 2);
  std::memcpy(&o1, f.data() + pg * kPage + 18, 2);
  std::memcpy(f.data() + pg * kPage + o1, f.data() + pg * kPage + o0, 6);
  BOOST_TEST(reports(walk(f), pg, "reached twice"));
}

// Random damage: the walk never crashes (this suite runs under ASan in build-asan), and when
// it calls a damaged file clean, LMDB reads all of it without faulting.
BOOST_FIXTURE_TEST_CASE(random_damage_never_crashes, Fixture) {
  std::mt19937_64 rng(12);
  int clean_after_damage = 0, reported = 0;
  TempDir copy;
  for (int i = 0; i < 600; ++i) {
    Bytes f = pristine;
    const int n = i % 3 == 0 ? 1 : i % 3 == 1 ? 4 : 32;
    // Most bytes of this file are values; aim half the damage at page headers and node
    // headers (the first 64 bytes of a page, the last 512) where LMDB's trust lies.
    for (int j = 0; j < n; ++j) {
      std::size_t pg = rng() % (f.size() / kPage);
      std::size_t at = rng() % 2 ? rng() % 64 : kPage - 1 - rng() % 512;
      if (rng() % 4 == 0) at = rng() % kPage;
      f[pg * kPage + at] = static_cast<std::uint8_t>(rng());
    }
    auto r = walk(f);
    if (r.clean()) {
      ++clean_after_damage;
      write_all(copy / "data.mdb", f);
      std::filesystem::remove(copy / "lock.mdb");
      read_everything(copy.path());
    } else {
      ++reported;
    }
  }
  BOOST_TEST_MESSAGE("random damage: " << reported << " reported, " << clean_after_damage
                                       << " clean and read by LMDB");
  BOOST_TEST(reported > 300);
}

BOOST_AUTO_TEST_CASE(custdb_database_walks_clean) {
  TempDir dir;
  {
    Options o;
    o.sync = SyncMode::kNone;
    Database db = Database::open(dir.path(), o).value();
    auto w = db.begin_write().value();
    for (int i = 0; i < 300; ++i) {
      Customer c;
      c.name = "Customer " + std::to_string(i);
      c.email = "c" + std::to_string(i) + "@mail.example";
      w.insert_customer(c).value();
    }
    BOOST_REQUIRE(w.commit().has_value());
    auto w2 = db.begin_write().value();
    for (CustomerId id = 1; id <= 300; id += 3) BOOST_REQUIRE(w2.delete_customer(id, DeleteMode::kCascade).has_value());
    BOOST_REQUIRE(w2.commit().has_value());
  }
  auto r = storage::check_pages_file(dir / "data.mdb");
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(r->clean(), r->summary());
  BOOST_TEST(r->named_dbs >= 10u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace custdb
