// Damaged files must not give partial answers with success (issue 12, point 5): a torn copy, a
// duplicated or deleted index entry, a posting naming a missing customer and a poisoned LMDB
// transaction each make every read that would otherwise answer wrongly fail with kCorruption.
// Any answer either is right or is an error. Each case runs in plaintext and encrypted mode.
#include <lmdb.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "custdb/analytics.h"
#include "custdb/io.h"
#include "custdb/query.h"
#include "demo.h"
#include "engine/db_impl.h"
#include "index/segments.h"
#include "program.h"
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;

namespace {

constexpr std::size_t kPage = 4096;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string be64(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) s[static_cast<std::size_t>(i)] = static_cast<char>(v);
  return s;
}
std::string biased_ts(Timestamp t) {
  return be64(static_cast<std::uint64_t>(t.time_since_epoch().count()) ^ (std::uint64_t{1} << 63));
}

// Raw LMDB access to a closed database's file, for deleting one entry behind the engine.
class RawFile {
 public:
  explicit RawFile(const fs::path& dir) {
    BOOST_TEST_REQUIRE(mdb_env_create(&env_) == 0);
    mdb_env_set_maxdbs(env_, 64);
    BOOST_TEST_REQUIRE(mdb_env_open(env_, dir.c_str(), 0, 0600) == 0);
    BOOST_TEST_REQUIRE(mdb_txn_begin(env_, nullptr, 0, &txn_) == 0);
  }
  ~RawFile() {
    BOOST_CHECK(mdb_txn_commit(txn_) == 0);
    mdb_env_close(env_);
  }
  // Deletes the first dup value under `key` of dupsort index `name`; returns it.
  std::string del_first_dup(const char* name, const std::string& key) {
    MDB_dbi dbi;
    BOOST_TEST_REQUIRE(mdb_dbi_open(txn_, name, 0, &dbi) == 0);
    MDB_cursor* c;
    BOOST_TEST_REQUIRE(mdb_cursor_open(txn_, dbi, &c) == 0);
    MDB_val k{key.size(), const_cast<char*>(key.data())}, v;
    BOOST_TEST_REQUIRE(mdb_cursor_get(c, &k, &v, MDB_SET) == 0);
    std::string value(static_cast<const char*>(v.mv_data), v.mv_size);
    BOOST_TEST_REQUIRE(mdb_cursor_del(c, 0) == 0);
    mdb_cursor_close(c);
    return value;
  }

 private:
  MDB_env* env_ = nullptr;
  MDB_txn* txn_ = nullptr;
};

// `custdb ARGS` with the database at dir (and the test key in encrypted mode).
struct CliRun {
  int code = -1;
  std::string out, err;
};
// Runs `custdb --db dir [--key-file K] args` (tests/program.h). `args` are words separated by
// spaces; a '...' group is one word ("segment 'tier = gold' --count").
CliRun run_cli(Mode mode, const fs::path& dir, const std::string& args) {
  std::vector<std::string> argv{"--db", dir.string()};
  if (mode == Mode::kEncrypted) {
    const fs::path key = dir.parent_path() / "key.bin";
    write_file(key, std::string(32, '\x07'));  // test_key()
    argv.insert(argv.end(), {"--key-file", key.string()});
  }
  for (std::size_t i = 0; i < args.size();) {
    if (args[i] == ' ') {
      ++i;
    } else if (args[i] == '\'') {
      const std::size_t end = args.find('\'', i + 1);
      argv.push_back(args.substr(i + 1, end - i - 1));
      i = end + 1;
    } else {
      const std::size_t end = std::min(args.find(' ', i), args.size());
      argv.push_back(args.substr(i, end - i));
      i = end;
    }
  }
  const ProgramResult r = test::run_cli(argv);
  return CliRun{r.code, r.out, r.err};
}

bool is_corruption(const Error& e) { return e.code() == ErrorCode::kCorruption; }

template <class T>
void require_corruption(const Result<T>& r, const char* what) {
  BOOST_TEST(!r.has_value(), what << ": answered with success on a damaged file");
  if (!r) BOOST_TEST(is_corruption(r.error()), what << ": " << r.error().to_string());
}

std::string export_of(const Database& db, io::Table table, Status* status) {
  std::ostringstream out;
  *status = io::export_table(db, table, out, io::Format::kCsv, {});
  return out.str();
}

constexpr std::uint64_t kTxnIdBase = 1'000'000'000;
const Timestamp kInstant = parse_timestamp("2025-02-03T04:05:06Z").value();

// Customers 1..n, each with `per` transactions at one shared instant (so index values differ
// only in the transaction id) and a chain of relationships.
void populate(Database& db, int n, int per) {
  auto w = must(db.begin_write());
  for (int i = 1; i <= n; ++i) {
    CustomerId id = must(w.insert_customer(sample_customer(i)));
    for (int j = 0; j < per; ++j) {
      // Ids far from any customer or relationship id, so their bytes are found only where
      // transactions are stored or indexed.
      Transaction t = sample_txn(id, 100 + j, "2025-02-03T04:05:06Z");
      t.id = kTxnIdBase * static_cast<std::uint64_t>(i) + static_cast<std::uint64_t>(j);
      (void)must(w.add_transaction(t));
    }
    if (i > 1) (void)must(w.add_relationship({0, id - 1, id, RelationType::kReferral, "", {}}));
  }
  must(w.commit());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(damaged_answers)

// (a) Torn copies: data.mdb assembled from two real copies of one database, the later one
// taken after more write transactions: its meta pages and most pages from the later copy, a
// stretch of pages from the earlier one (a copy that read part of the file before a write
// landed). Pages the later tree references there hold stale content, so walks come up short
// or long. Through the CLI (as a user meets it; a crash inside LMDB on such a page is point 4
// of issue 12 and only counted here), every command either prints exactly what it prints on
// the later database or exits 1 naming corruption; at least one stretch makes the customer
// export fail, where it used to print part of the table with exit 0.
BOOST_DATA_TEST_CASE(a_torn_copy_is_corruption_not_a_partial_answer, kModes, mode) {
  TempDir tmp;
  const fs::path live = tmp / "live", early = tmp / "early";
  {
    auto db = open_db(mode, live);
    must(synthetic::populate_demo(db, 3000, 42));
  }
  fs::create_directories(early);
  fs::copy_file(live / "data.mdb", early / "data.mdb");
  {
    // Several transactions, so later ones reuse pages the earlier copy's tree still used.
    auto db = open_db(mode, live);
    for (int t = 0; t < 6; ++t) {
      auto w = must(db.begin_write());
      for (CustomerId id = 1 + t; id <= 3000; id += 97)
        (void)must(w.update_customer(id, [](Customer& c) { c.tier = Tier::kGold; }));
      must(w.commit());
    }
  }
  const std::string before = read_file(early / "data.mdb"), after = read_file(live / "data.mdb");
  BOOST_TEST_REQUIRE(before.size() >= 600 * kPage);
  const std::vector<std::string> commands = {
      "export customers", "export transactions", "export relationships",
      "segment 'tier = gold' --count", "rfm --as-of 2026-01-01", "history 5", "report"};
  std::vector<CliRun> want, stale;
  for (const auto& c : commands) {
    want.push_back(run_cli(mode, live, c));
    stale.push_back(run_cli(mode, early, c));
    BOOST_TEST_REQUIRE(want.back().code == 0, want.back().err);
  }
  // The rows' first fields (ids) in order; a header line included.
  auto first_fields = [](const std::string& out) {
    std::vector<std::string> ids;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) ids.push_back(line.substr(0, line.find_first_of(", ")));
    return ids;
  };
  auto total_line = [](const std::string& out) {
    auto at = out.find("(all)");
    return at == std::string::npos ? std::string() : out.substr(at, out.find('\n', at) - at);
  };

  int export_refused = 0, crashed = 0;
  for (std::size_t from : {20, 100, 400})
    for (std::size_t span : {50, 200}) {
      const fs::path torn = tmp / ("torn-" + std::to_string(from) + "-" + std::to_string(span));
      fs::create_directories(torn);
      write_file(torn / "data.mdb", after.substr(0, from * kPage) +
                                        before.substr(from * kPage, span * kPage) +
                                        after.substr((from + span) * kPage));
      for (std::size_t i = 0; i < commands.size(); ++i) {
        BOOST_TEST_CONTEXT("pages " << from << "+" << span << ": custdb " << commands[i]) {
          const std::string& cmd = commands[i];
          CliRun got = run_cli(mode, torn, cmd);
          if (got.code >= 128) {
            ++crashed;
          } else if (got.code != 0) {
            BOOST_TEST(got.code == 1);
            // history first looks the customer up: a lost leaf reads as "no customer".
            if (cmd.rfind("history", 0) != 0)
              BOOST_TEST(got.err.find("corruption") != std::string::npos, got.err);
            if (i == 0) ++export_refused;
          } else if (cmd.rfind("export", 0) == 0 || cmd.rfind("rfm", 0) == 0) {
            // A stale page may hold an older version of a record (LMDB 0.9 pages carry no
            // version to tell), but no record may be missing or extra.
            BOOST_TEST(first_fields(got.out) == first_fields(want[i].out), "a partial table with exit 0");
          } else if (cmd == "report") {
            BOOST_TEST(total_line(got.out).substr(0, 20) == total_line(want[i].out).substr(0, 20), got.out);
          } else {
            BOOST_TEST((got.out == want[i].out || got.out == stale[i].out), got.out);
          }
        }
      }
    }
  BOOST_TEST_MESSAGE(mode << ": torn copies: export customers refused " << export_refused
                          << " of 6; commands killed inside LMDB: " << crashed);
  BOOST_TEST(export_refused > 0);
}

// (b) One 8-byte overwrite inside idx.txn_by_customer's sub-page of customer 5 makes its
// second value repeat its first: the entry count still equals the customer's txn_count, but
// history would list one transaction twice and drop another. Values are (ts, id) in plaintext
// (all at one instant here) and id when encrypted, packed (MDB_DUPFIXED).
BOOST_DATA_TEST_CASE(a_duplicated_index_value_is_corruption, kModes, mode) {
  TempDir tmp;
  const fs::path dir = tmp / "db";
  { auto db = open_db(mode, dir); populate(db, 20, 3); }
  const std::uint64_t id1 = kTxnIdBase * 5, id2 = id1 + 1;
  const std::string prefix = mode == Mode::kPlain ? biased_ts(kInstant) : "";
  const std::string pattern = prefix + be64(id1) + prefix + be64(id2);
  std::string bytes = read_file(dir / "data.mdb");
  const std::size_t at = bytes.find(pattern);
  BOOST_TEST_REQUIRE(at != std::string::npos);
  BOOST_TEST_REQUIRE(bytes.find(pattern, at + 1) == std::string::npos);
  bytes.replace(at + pattern.size() - 8, 8, be64(id1));
  write_file(dir / "data.mdb", bytes);

  auto db = open_db(mode, dir);
  auto r = must(db.begin_read());
  require_corruption(r.transactions_of(5), "history");
  require_corruption(r.transactions_of(5, kInstant - std::chrono::hours(1), kInstant + std::chrono::hours(1)),
                     "history --from --to");
  RfmOptions o;
  o.as_of = parse_date("2026-01-01");
  require_corruption(rfm_summary(r, o), "rfm");
  // The table is intact: export reads it, so it lists every transaction once (a right answer).
  Status s;
  std::string csv = export_of(db, io::Table::kTransactions, &s);
  must(s);
  BOOST_TEST(std::count(csv.begin(), csv.end(), '\n') == 1 + 60);
  BOOST_TEST(csv.find("\n" + std::to_string(id2) + ",") != std::string::npos);
  // Other customers are unaffected.
  BOOST_TEST(must(r.transactions_of(6)).size() == 3u);

  auto h = run_cli(mode, dir, "history 5");
  BOOST_TEST(h.code == 1, "history: exit " << h.code << "\n" << h.out);
  BOOST_TEST(h.err.find("corruption") != std::string::npos, h.err);
}

// (c) A deleted index entry: export reads the tables and still lists every record; history
// and rfm, which read through the index, report corruption instead of dropping it.
BOOST_DATA_TEST_CASE(a_deleted_index_entry_loses_nothing, kModes, mode) {
  TempDir tmp;
  const fs::path dir = tmp / "db";
  { auto db = open_db(mode, dir); populate(db, 20, 3); }
  {
    RawFile raw(dir);
    raw.del_first_dup("idx.txn_by_customer", be64(5));
    raw.del_first_dup("idx.rel_by_customer", be64(5));
  }
  auto db = open_db(mode, dir);
  Status s;
  std::string csv = export_of(db, io::Table::kTransactions, &s);
  must(s);
  BOOST_TEST(std::count(csv.begin(), csv.end(), '\n') == 1 + 60);
  BOOST_TEST(csv.find("\n" + std::to_string(kTxnIdBase * 5) + ",") != std::string::npos);
  csv = export_of(db, io::Table::kRelationships, &s);
  must(s);
  BOOST_TEST(std::count(csv.begin(), csv.end(), '\n') == 1 + 19);
  BOOST_TEST(csv.find("\n4,5,") != std::string::npos);

  auto r = must(db.begin_read());
  require_corruption(r.transactions_of(5), "history");
  require_corruption(r.transactions_of(5, kInstant, kInstant + std::chrono::seconds(1)), "history --from --to");
  RfmOptions o;
  o.as_of = parse_date("2026-01-01");
  require_corruption(rfm_summary(r, o), "rfm");
  BOOST_TEST(must(r.transactions_of(6)).size() == 3u);

  auto e = run_cli(mode, dir, "export transactions");
  BOOST_TEST(e.code == 0, e.err);
  BOOST_TEST(std::count(e.out.begin(), e.out.end(), '\n') == 1 + 60);
  auto h = run_cli(mode, dir, "history 5");
  BOOST_TEST(h.code == 1, "history: exit " << h.code << "\n" << h.out);
  BOOST_TEST(h.err.find("corruption") != std::string::npos, h.err);
}

// (d) A posting bit naming a deleted customer, set through the engine's own posting writer:
// first in the tier posting only (the answer leaves the universe), then in the universe
// posting too (the universe no longer matches the customers table). Every segment read fails.
BOOST_DATA_TEST_CASE(a_posting_naming_a_missing_customer_is_corruption, kModes, mode) {
  TempDir tmp;
  const fs::path dir = tmp / "db";
  auto db = open_db(mode, dir);
  populate(db, 20, 1);
  constexpr CustomerId kGone = 7;
  const Tier tier = sample_customer(static_cast<int>(kGone)).tier;
  auto q = query::parse("tier = " + std::string(to_string(tier))).value();
  const std::uint64_t members = must(must(db.begin_read()).count(q));
  {
    auto w = must(db.begin_write());
    BOOST_TEST_REQUIRE(must(w.delete_customer(kGone, DeleteMode::kCascade)));
    must(w.commit());
  }
  BOOST_TEST_REQUIRE(must(must(db.begin_read()).count(q)) == members - 1);

  auto& impl = Database::Impl::of(db);
  auto plant = [&](index::Posting p) {
    auto st = must(impl.begin(true));
    st->posting_deltas[segment::chunk_key(impl.seg_keys().posting_key(p), 0)].push_back(
        {static_cast<std::uint32_t>(kGone), true});
    must(impl.commit(*st));
  };
  auto all_reads_fail = [&](const char* stage) {
    BOOST_TEST_CONTEXT(stage) {
      auto r = must(db.begin_read());
      require_corruption(r.count(q), "count");
      require_corruption(r.ids(q), "ids");
      require_corruption(r.page(q, 100), "page");
      require_corruption(r.top(q, RankBy::kTotalAmount, 100), "top");
      require_corruption(r.group(q, GroupBy::kRegion), "group");
      require_corruption(r.explain(q), "explain");
      Status s = r.stream(q, [](const Customer&) { return true; });
      BOOST_TEST(!s.has_value(), "stream succeeded");
      if (!s) BOOST_TEST(is_corruption(s.error()), s.error().to_string());
    }
  };
  plant({index::SegField::kTier, std::string(1, static_cast<char>(tier))});
  all_reads_fail("tier posting");
  plant({index::SegField::kAll, std::string()});
  all_reads_fail("tier and universe postings");
  require_corruption(must(db.begin_read()).group_all(GroupBy::kTier), "group_all (report)");
}

// (e) A leaf page of the transactions table whose flags no longer say leaf: LMDB answers the
// read that reaches it with MDB_CORRUPTED and marks the transaction failed, so every later
// call in it returns MDB_BAD_TXN. Both are kCorruption (MDB_BAD_TXN was kInternal).
BOOST_DATA_TEST_CASE(a_poisoned_transaction_is_corruption, kModes, mode) {
  TempDir tmp;
  const fs::path dir = tmp / "db";
  { auto db = open_db(mode, dir); populate(db, 20, 30); }
  std::string bytes = read_file(dir / "data.mdb");
  auto u16 = [&](std::size_t at) {
    return static_cast<std::size_t>(static_cast<std::uint8_t>(bytes[at]) |
                                    static_cast<std::uint8_t>(bytes[at + 1]) << 8);
  };
  // Page header (mdb.c): pgno u64, pad u16, flags u16, lower u16, upper u16, node offsets u16;
  // a node: lo u16, hi u16, flags u16, ksize u16, key. Find a leaf whose first key is a
  // transaction id (only the transactions table has such keys) and clear its flags.
  // Freed pages keep stale content, so a candidate counts only if LMDB now fails to read
  // its first key: then it is a live leaf of the table.
  auto lmdb_fails_on = [&](std::uint64_t id) {
    MDB_env* env;
    BOOST_TEST_REQUIRE(mdb_env_create(&env) == 0);
    mdb_env_set_maxdbs(env, 64);
    BOOST_TEST_REQUIRE(mdb_env_open(env, dir.c_str(), MDB_RDONLY, 0600) == 0);
    MDB_txn* txn;
    BOOST_TEST_REQUIRE(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0);
    MDB_dbi dbi;
    BOOST_TEST_REQUIRE(mdb_dbi_open(txn, "transactions", 0, &dbi) == 0);
    std::string k = be64(id);
    MDB_val kv{8, k.data()}, v;
    const int rc = mdb_get(txn, dbi, &kv, &v);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return rc == MDB_CORRUPTED;
  };
  std::optional<std::uint64_t> victim;
  for (std::size_t page = 2 * kPage; page + kPage <= bytes.size() && !victim; page += kPage) {
    if (u16(page + 10) != 0x02 || u16(page + 12) <= 16) continue;
    const std::size_t node = page + u16(page + 16);
    if (node + 16 > page + kPage || u16(node + 6) != 8) continue;
    std::uint64_t key = 0;
    for (int i = 0; i < 8; ++i) key = key << 8 | static_cast<std::uint8_t>(bytes[node + 8 + i]);
    if (key < kTxnIdBase) continue;
    bytes[page + 10] = 0;
    write_file(dir / "data.mdb", bytes);
    if (lmdb_fails_on(key)) victim = key;
    else bytes[page + 10] = 0x02;
  }
  BOOST_TEST_REQUIRE(victim.has_value());

  auto db = open_db(mode, dir);
  auto r = must(db.begin_read());
  require_corruption(r.get_transaction(*victim), "the damaged leaf");
  require_corruption(r.get_customer(1), "a later read in the same transaction");
  require_corruption(r.transactions_of(2), "history in the same transaction");
  // A new transaction is not poisoned: reads that avoid the page work.
  auto r2 = must(db.begin_read());
  BOOST_TEST(must(r2.get_customer(1)).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
