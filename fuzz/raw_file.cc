// Fuzz target raw_file: a small valid database file with the input applied as mutations, then
// opened, read, queried, written (and aborted) and checked. Everything must come back as a
// Result: no crash, hang or abort; and never kInternal ("a bug in custdb").
//
// The file: 30 customers (synthetic generator), 0-4 transactions each, the generator's
// relationships plus a custom one, a EUR transaction; plaintext. It is built once per process
// and its data.mdb kept in memory; each input writes a mutated copy to a per-process directory
// (lock.mdb removed) and opens it.
//
// Where mutations land. Either only in bytes custdb controls: the keys and values of the
// named databases (meta, the three tables, the indexes, idx.segments), located once with LMDB's
// own cursors on the pristine file; or anywhere in the file (mode bit 1, or
// CUSTDB_FUZZ_RAW_WHOLE_FILE=1 for every input). LMDB trusts its page structure (node offsets,
// page numbers, sizes) and crashes on damage there; the database is opened with
// Options::check_pages, so the page walk (storage/page_check.h) must report such damage as
// kCorruption first. The walk also runs on the image in memory, where ASan sees every read.
//
// Input: [0] mode, then 5-byte mutations until the input ends (at most 64):
//   mode bit 0: re-checksum: after mutating, every plaintext record envelope touched gets a
//               valid checksum again, so damage reaches FlatBuffers verification and the
//               engine's logic (records under another key, stale aggregates, bad ids...).
//   mode bit 1: whole-file mutations (below).
//   mutation [kind][u16 a][u8 b][u8 c]; region r = a % (2 * regions), even r: a value, odd r:
//   a key. kind % 3 == 0: xor byte b % size with c; 1: set byte b % size to c; 2: copy region r's
//   bytes over region (b | c << 8) % (2 * regions) (as many as both have).
//   Whole-file mode: offset = a | b << 16 (mod file size), xor with c.
#include <lmdb.h>

#include <cstring>

#include "codec/record_codec.h"
#include "custdb/check.h"
#include "custdb/database.h"
#include "custdb/query.h"
#include "fuzz_util.h"
#include "storage/page_check.h"
#include "raw_file_db.h"
#include "synthetic.h"

using namespace custdb;
using custdb::fuzz::must;

namespace {

bool g_whole_file = false;    // this input's mutations go anywhere in the file
std::size_t g_page_size = 4096;  // LMDB's, from the pristine file

struct Region {
  std::size_t key_off = 0, key_len = 0, val_off = 0, val_len = 0;
  std::optional<codec::Table> table;  // set for values in a record envelope
};

// The file of tests/raw_file_db.h (the regression tests rebuild the same bytes).
void build(const fuzz::fs::path& dir) {
  Database db = must(test::build_raw_file_database(dir), "build the raw_file database");
  auto report = must(db.check(), "check");
  FUZZ_CHECK(report.clean(), "the raw_file database is not clean");
}

// Keys and values of every named database, as offsets into data.mdb, found with LMDB cursors
// on a read-only environment. A pointer into the map lies in a page whose header starts with
// its page number (LMDB's mp_pgno, 8 bytes, native order): file offset = pgno * page size +
// the pointer's offset in that page. Overflow values and dupsort sub-pages work the same way.
std::vector<Region> locate(const fuzz::fs::path& dir, const std::vector<std::uint8_t>& file) {
  MDB_env* env = nullptr;
  FUZZ_CHECK(mdb_env_create(&env) == 0, "mdb_env_create");
  mdb_env_set_maxdbs(env, 64);
  int rc = mdb_env_open(env, dir.c_str(), MDB_RDONLY | MDB_NOTLS, 0644);
  FUZZ_CHECK(rc == 0, "mdb_env_open: %s", mdb_strerror(rc));
  MDB_stat st;
  mdb_env_stat(env, &st);
  const std::uintptr_t page = st.ms_psize;
  g_page_size = st.ms_psize;
  MDB_txn* txn = nullptr;
  FUZZ_CHECK(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0, "mdb_txn_begin");
  struct Named {
    const char* name;
    std::optional<codec::Table> table;
  };
  const Named names[] = {{"meta", std::nullopt},
                         {"customers", codec::Table::kCustomers},
                         {"relationships", codec::Table::kRelationships},
                         {"transactions", codec::Table::kTransactions},
                         {"idx.segments", codec::Table::kPostings},
                         {"idx.external_ref", std::nullopt},
                         {"idx.email", std::nullopt},
                         {"idx.phone", std::nullopt},
                         {"idx.rel_by_customer", std::nullopt},
                         {"idx.txn_by_customer", std::nullopt}};
  std::vector<Region> out;
  auto offset = [&](const MDB_val& v) -> std::optional<std::size_t> {
    const auto p = reinterpret_cast<std::uintptr_t>(v.mv_data);
    std::uint64_t pgno;
    std::memcpy(&pgno, reinterpret_cast<const void*>(p / page * page), sizeof pgno);
    const std::size_t off = static_cast<std::size_t>(pgno * page + p % page);
    if (off + v.mv_size > file.size()) return std::nullopt;
    FUZZ_CHECK(std::memcmp(file.data() + off, v.mv_data, v.mv_size) == 0,
               "locating bytes in data.mdb went wrong at offset %zu", off);
    return off;
  };
  for (const auto& n : names) {
    MDB_dbi dbi;
    rc = mdb_dbi_open(txn, n.name, 0, &dbi);
    FUZZ_CHECK(rc == 0, "mdb_dbi_open(%s): %s", n.name, mdb_strerror(rc));
    MDB_cursor* cur = nullptr;
    FUZZ_CHECK(mdb_cursor_open(txn, dbi, &cur) == 0, "mdb_cursor_open");
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      auto ko = offset(k), vo = offset(v);
      if (!ko || !vo) continue;  // overflow pages outside the file cannot happen; be safe
      out.push_back({*ko, k.mv_size, *vo, v.mv_size, n.table});
    }
    mdb_cursor_close(cur);
  }
  mdb_txn_abort(txn);
  mdb_env_close(env);
  FUZZ_CHECK(out.size() > 100, "only %zu regions located", out.size());
  return out;
}

struct State {
  fuzz::ScratchDir dir{"raw"};
  std::vector<std::uint8_t> pristine;
  std::vector<Region> regions;
  bool whole_file = false;

  State() {
    const auto built = dir.path() / "built";
    build(built);
    pristine = fuzz::read_file(built / "data.mdb");
    regions = locate(built, pristine);
    const char* w = std::getenv("CUSTDB_FUZZ_RAW_WHOLE_FILE");
    whole_file = w && *w == '1';
  }
};

State& state() {
  static State s;
  return s;
}

// Rewrites the envelope checksum of a plaintext record after its key or value changed.
void reseal(std::vector<std::uint8_t>& file, const Region& r) {
  if (!r.table || r.val_len < codec::kPlainHeaderSize) return;
  std::uint8_t* v = file.data() + r.val_off;
  if (v[0] != codec::kFormatVersion || v[1] != 0) return;
  static const codec::RecordCodec plain(nullptr);
  std::vector<std::uint8_t> out;
  plain.wrap(*r.table, codec::Bytes(file.data() + r.key_off, r.key_len),
             codec::Bytes(v + codec::kPlainHeaderSize, r.val_len - codec::kPlainHeaderSize), out);
  std::memcpy(v + 2, out.data() + 2, 8);
}

void mutate(const State& s, fuzz::Bytes& in, std::vector<std::uint8_t>& file, bool fix,
            bool whole_file) {
  const std::size_t n = 2 * s.regions.size();
  std::vector<std::size_t> touched;
  auto span_of = [&](std::size_t r) {
    const Region& g = s.regions[r / 2];
    return r % 2 ? std::pair(g.key_off, g.key_len) : std::pair(g.val_off, g.val_len);
  };
  for (int i = 0; i < 64 && !in.empty(); ++i) {
    const std::uint8_t kind = in.u8();
    const std::uint16_t a = in.u16();
    const std::uint8_t b = in.u8(), c = in.u8();
    if (whole_file) {
      const std::size_t off = (a | std::size_t{b} << 16) % file.size();
      if (fuzz::tracing()) {
        // LMDB's page header: mp_pgno (8 bytes), mp_pad (2), mp_flags (2), mp_lower, mp_upper.
        const std::size_t page = off / g_page_size * g_page_size;
        const unsigned flags = file[page + 10] | file[page + 11] << 8;
        std::fprintf(stderr, "mutation: byte %zu (page %zu, flags 0x%x, offset %zu) ^= 0x%02x\n",
                     off, off / g_page_size, flags, off % g_page_size, c);
      }
      file[off] ^= c;
      continue;
    }
    const std::size_t r = a % n;
    auto [off, len] = span_of(r);
    if (len == 0) continue;
    if (fuzz::tracing())
      std::fprintf(stderr, "mutation: %s of region %zu (%zu bytes at %zu), kind %d\n",
                   r % 2 ? "key" : "value", r / 2, len, off, kind % 3);
    touched.push_back(r / 2);
    switch (kind % 3) {
      case 0: file[off + b % len] ^= c; break;
      case 1: file[off + b % len] = c; break;
      default: {
        const std::size_t to = (b | std::size_t{c} << 8) % n;
        auto [off2, len2] = span_of(to);
        std::memmove(file.data() + off2, file.data() + off, std::min(len, len2));
        touched.push_back(to / 2);
      }
    }
  }
  if (fix)
    for (std::size_t r : touched) reseal(file, s.regions[r]);
}

// Any result is fine but kInternal, which means custdb itself went wrong. Exception, in
// whole-file mode only: after LMDB finds a damaged page in a transaction it fails every later
// call of that transaction with MDB_BAD_TXN, which custdb reports as kInternal (a known
// finding, docs/testing.md).
template <class T>
void ok_or_reported(const Result<T>& r, const char* what) {
  if (!r && fuzz::tracing()) std::fprintf(stderr, "%s: %s\n", what, r.error().to_string().c_str());
  if (!r && g_whole_file && r.error().message().find("MDB_BAD_TXN") != std::string::npos) return;
  if (!r) FUZZ_CHECK(r.error().code() != ErrorCode::kInternal, "%s: %s", what,
                     r.error().to_string().c_str());
}

void exercise(Database& db) {
  {
    auto txn = db.begin_read();
    ok_or_reported(txn, "begin_read");
    if (txn) {
      ok_or_reported(txn->counts(), "counts");
      for (CustomerId id : {1, 2, 3, 5, 8, 13, 30, 31}) {
        ok_or_reported(txn->get_customer(id), "get_customer");
        ok_or_reported(txn->relationships_of(id), "relationships_of");
        ok_or_reported(txn->transactions_of(id), "transactions_of");
        ok_or_reported(txn->transactions_of(id, parse_timestamp("2025-01-01"),
                                            parse_timestamp("2025-07-01")),
                       "transactions_of range");
        ok_or_reported(txn->find_by_email(synthetic::Generator::email_of(id)), "find_by_email");
        ok_or_reported(txn->find_by_external_ref("CRM-" + std::to_string(1000000 + id)),
                       "find_by_external_ref");
        ok_or_reported(txn->get_relationship(id), "get_relationship");
        ok_or_reported(txn->get_transaction(id), "get_transaction");
      }
      ok_or_reported(txn->neighborhood(1, 3), "neighborhood");
      SegmentOptions o;
      o.as_of = parse_date("2026-06-15");
      for (const char* text : {"tier >= gold or tag = vip", "related(household, txn_count > 1)",
                               "total_amount > 10.00 and region = east or age < 40"}) {
        auto q = query::parse(text).value();
        ok_or_reported(txn->count(q, o), "count");
        ok_or_reported(txn->ids(q, o), "ids");
      }
      auto q = query::parse("not last_txn_at < 2025-06-01").value();
      ok_or_reported(txn->top(q, RankBy::kTotalAmount, 5, o), "top");
      ok_or_reported(txn->group(q, GroupBy::kRegion, o), "group");
      ok_or_reported(txn->group_all(GroupBy::kTier), "group_all");
    }
  }
  ok_or_reported(db.check(), "check");
  // Writes over damaged records: each must fail cleanly or succeed; then everything is undone.
  auto w = db.begin_write();
  ok_or_reported(w, "begin_write");
  if (!w) return;
  ok_or_reported(w->update_customer(4, [](Customer& c) { c.tier = Tier::kGold; }), "update_customer");
  ok_or_reported(w->amend_transaction(3, [](Transaction& t) { t.amount += 1; t.customer_id = 5; }),
                 "amend_transaction");
  ok_or_reported(w->remove_transaction(7), "remove_transaction");
  Transaction t;
  t.customer_id = 6;
  t.ts = parse_timestamp("2025-05-05").value();
  t.amount = 700;
  t.currency = "USD";
  ok_or_reported(w->add_transaction(t), "add_transaction");
  ok_or_reported(w->add_relationship({0, 9, 10, RelationType::kSpouse, "", {}}), "add_relationship");
  ok_or_reported(w->remove_relationship(2), "remove_relationship");
  ok_or_reported(w->delete_customer(1, DeleteMode::kCascade), "delete_customer");
  ok_or_reported(w->delete_customer(12, DeleteMode::kRestrict), "delete_customer restrict");
  Customer c;
  c.name = "New";
  c.email = "c7@mail.example";
  c.external_ref = "CRM-1000008";
  ok_or_reported(w->insert_customer(c), "insert_customer");
  ok_or_reported(w->ids(query::parse("tier = gold").value(), {}), "ids in the write");
  w->abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  State& s = state();
  fuzz::Bytes in(data, size);
  const std::uint8_t mode = in.u8();
  const bool fix = mode & 1;
  g_whole_file = s.whole_file || (mode & 2);
  std::vector<std::uint8_t> file = s.pristine;
  mutate(s, in, file, fix, g_whole_file);
  // The walk on the image itself: every byte it reads must lie inside the vector (ASan).
  const auto pages = storage::check_pages(file);
  if (fuzz::tracing()) std::fprintf(stderr, "page walk: %s\n", pages.summary().c_str());
  const auto dir = s.dir.path() / "run";
  fuzz::fs::create_directories(dir);
  fuzz::remove_database_files(dir);
  fuzz::write_file(dir / "data.mdb", file.data(), file.size());
  Options o;
  o.sync = SyncMode::kNone;
  o.create_if_missing = false;
  o.check_pages = true;
  auto db = Database::open(dir, o);
  ok_or_reported(db, "open");
  // The walk at open saw the same bytes: damage it found in memory must fail the open.
  FUZZ_CHECK(pages.clean() || !db, "the page walk found damage but the open succeeded: %s",
             pages.summary().c_str());
  if (db) exercise(*db);
  return 0;
}
