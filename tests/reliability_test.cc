// Crashes, corruption, exhaustion and concurrency: the database must lose nothing committed,
// say what is wrong, never crash, and work again once the cause is gone.
#include <fcntl.h>
#include <lmdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "custdb/query.h"
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;

namespace {

// Commit k of the crash stream: customer k (ref "K<k>"), one transaction of k cents on it, and
// for k > 1 a referral from k to k-1. All in one write transaction.
Status commit_step(Database& db, std::uint64_t k) {
  auto txn = db.begin_write();
  if (!txn) return tl::unexpected(txn.error());
  Customer c = sample_customer(static_cast<int>(k));
  c.id = k;
  c.external_ref = "K" + std::to_string(k);
  if (auto r = txn->insert_customer(c); !r) return tl::unexpected(r.error());
  Transaction t = sample_txn(k, static_cast<std::int64_t>(k), "2025-06-01");
  t.id = k;
  if (auto r = txn->add_transaction(t); !r) return tl::unexpected(r.error());
  if (k > 1)
    if (auto r = txn->add_relationship({0, k, k - 1, RelationType::kReferral, "", {}}); !r)
      return tl::unexpected(r.error());
  return txn->commit();
}

// Child: resumes after the last commit present and acknowledges each new one on `ack`.
[[noreturn]] void crash_writer(const fs::path& dir, Mode mode, int ack) {
  auto db = Database::open(dir, options_for(mode));
  if (!db) _exit(10);
  std::uint64_t next = db->begin_read().value().counts().value().customers + 1;
  for (;; ++next) {
    if (!commit_step(*db, next)) _exit(11);
    if (write(ack, &next, sizeof next) != sizeof next) _exit(12);
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(reliability)

BOOST_DATA_TEST_CASE(sigkill_loses_nothing_committed, kModes, mode) {
  TempDir dir;
  { auto db = open_db(mode, dir.path()); }
  std::mt19937 rng(mode == Mode::kPlain ? 1 : 2);
  std::uint64_t acknowledged = 0;  // the highest commit ever acknowledged
  std::uint64_t present = 0;       // commits found after the previous round
  for (int round = 0; round < 50; ++round) {
    int fds[2];
    BOOST_TEST_REQUIRE(pipe(fds) == 0);
    pid_t pid = fork();
    BOOST_TEST_REQUIRE(pid >= 0);
    if (pid == 0) {
      close(fds[0]);
      crash_writer(dir.path(), mode, fds[1]);
    }
    close(fds[1]);
    // Let it run a random while (including "killed while opening"), then kill it.
    usleep(static_cast<useconds_t>(rng() % 40'000));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    BOOST_TEST_REQUIRE(WIFSIGNALED(status), "the writer exited by itself: " << WEXITSTATUS(status));
    std::uint64_t k, acked_now = present;  // this round starts after what was present
    while (read(fds[0], &k, sizeof k) == sizeof k) acked_now = std::max(acked_now, k);
    close(fds[0]);
    acknowledged = std::max(acknowledged, acked_now);

    auto db = open_db(mode, dir.path());
    auto txn = must(db.begin_read());
    const std::uint64_t n = must(txn.counts()).customers;
    // Every acknowledged commit is there; beyond them, at most the one commit that was in
    // flight when this round's writer died (a commit can land without its acknowledgement).
    BOOST_TEST_REQUIRE(n >= acknowledged);
    BOOST_TEST_REQUIRE(n <= acked_now + 1);
    present = n;
    // Nothing half-present: each commit's three writes are all there, with exact aggregates.
    for (std::uint64_t id : {n, n > 1 ? n - 1 : n, std::uint64_t{1}}) {
      if (id == 0 || n == 0) continue;  // killed before its first commit: nothing to look at
      auto c = must(txn.get_customer(id));
      BOOST_TEST_REQUIRE(c.has_value());
      BOOST_TEST_REQUIRE(c->aggregates.txn_count == 1u);
      BOOST_TEST_REQUIRE(c->aggregates.total_amount == static_cast<std::int64_t>(id));
      BOOST_TEST_REQUIRE(must(txn.relationships_of(id)).size() == (id == 1 ? (n > 1 ? 1u : 0u) : (id == n ? 1u : 2u)));
    }
    auto counts = must(txn.counts());
    BOOST_TEST_REQUIRE(counts.transactions == n);
    BOOST_TEST_REQUIRE(counts.relationships == (n ? n - 1 : 0));
    require_clean(db);
  }
  BOOST_TEST(acknowledged > 0u);  // the writer made progress between kills
}

// ---- corruption ---------------------------------------------------------------------------------

namespace {
void build_sample(const fs::path& dir, Mode mode, int customers = 300) {
  auto db = open_db(mode, dir);
  auto txn = must(db.begin_write());
  for (int i = 1; i <= customers; ++i) {
    CustomerId id = must(txn.insert_customer(sample_customer(i)));
    must(txn.add_transaction(sample_txn(id, i, "2025-01-01")));
  }
  must(txn.commit());
}

// Reads everything a user might: errors are fine, crashes are not. Returns how many reads failed.
int exercise(Database& db) {
  int failures = 0;
  auto txn = db.begin_read();
  if (!txn) return 1;
  for (CustomerId id = 1; id <= 300; ++id) {
    auto c = txn->get_customer(id);
    failures += !c;
    failures += !txn->transactions_of(id);
  }
  failures += !txn->find_by_email("user5@example.com");
  auto q = query::parse("tier >= gold and region = east").value();
  failures += !txn->count(q);
  auto report = db.check();
  failures += !report || !report->clean();
  return failures;
}
}  // namespace

BOOST_DATA_TEST_CASE(flipped_bytes_in_record_values_are_reported, kModes, mode) {
  TempDir dir;
  build_sample(dir.path(), mode);
  // Flip bytes inside stored customer values (found through LMDB itself), several at a time.
  {
    MDB_env* env;
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 64);
    BOOST_TEST_REQUIRE(mdb_env_open(env, dir.path().c_str(), 0, 0600) == 0);
    MDB_txn* t;
    mdb_txn_begin(env, nullptr, 0, &t);
    MDB_dbi dbi;
    mdb_dbi_open(t, "customers", 0, &dbi);
    MDB_cursor* cur;
    mdb_cursor_open(t, dbi, &cur);
    MDB_val k, v;
    std::mt19937 rng(3);
    int n = 0;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      if (++n % 10) continue;
      std::vector<std::uint8_t> bytes(static_cast<std::uint8_t*>(v.mv_data),
                                      static_cast<std::uint8_t*>(v.mv_data) + v.mv_size);
      bytes[rng() % bytes.size()] ^= static_cast<std::uint8_t>(1 + rng() % 255);
      MDB_val nv{bytes.size(), bytes.data()};
      mdb_cursor_put(cur, &k, &nv, MDB_CURRENT);
    }
    mdb_cursor_close(cur);
    mdb_txn_commit(t);
    mdb_env_close(env);
  }
  auto db = open_db(mode, dir.path());
  int bad = 0;
  auto txn = must(db.begin_read());
  for (CustomerId id = 1; id <= 300; ++id) {
    auto c = txn.get_customer(id);
    if (!c) {
      BOOST_TEST((c.error().code() == ErrorCode::kCorruption));
      ++bad;
    }
  }
  BOOST_TEST(bad == 30);
  // Every kind of read meets the damage as an error, never a crash.
  BOOST_TEST(exercise(db) > 0);
  auto report = must(db.check());
  std::size_t undecodable = 0;
  for (auto& p : report.problems) undecodable += p.kind == CheckProblem::Kind::kUndecodable;
  BOOST_TEST(undecodable == 30u);
}

BOOST_AUTO_TEST_CASE(truncated_file_is_corruption_not_a_crash) {
  TempDir dir;
  build_sample(dir.path(), Mode::kPlain);
  auto size = fs::file_size(dir / "data.mdb");
  fs::resize_file(dir / "data.mdb", size / 2);
  auto db = Database::open(dir.path());
  BOOST_TEST_REQUIRE(!db.has_value());
  BOOST_TEST((db.error().code() == ErrorCode::kCorruption));
  BOOST_TEST(db.error().message().find("truncated") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(file_from_another_program_is_refused) {
  TempDir dir;
  {
    std::ofstream f(dir / "data.mdb", std::ios::binary);
    f << "SQLite format 3";
    std::mt19937 rng(9);
    for (int i = 0; i < 64 * 1024; ++i) f.put(static_cast<char>(rng()));
  }
  auto db = Database::open(dir.path());
  BOOST_TEST_REQUIRE(!db.has_value());
  BOOST_TEST((db.error().code() == ErrorCode::kCorruption));
  // And a valid LMDB file that is not a custdb database.
  TempDir other;
  {
    MDB_env* env;
    mdb_env_create(&env);
    BOOST_TEST_REQUIRE(mdb_env_open(env, other.path().c_str(), 0, 0600) == 0);
    MDB_txn* t;
    mdb_txn_begin(env, nullptr, 0, &t);
    MDB_dbi dbi;
    mdb_dbi_open(t, nullptr, 0, &dbi);
    MDB_val k{3, const_cast<char*>("abc")}, v{3, const_cast<char*>("xyz")};
    mdb_put(t, dbi, &k, &v, 0);
    mdb_txn_commit(t);
    mdb_env_close(env);
  }
  Options ro;
  ro.read_only = true;
  auto db2 = Database::open(other.path(), ro);
  BOOST_TEST_REQUIRE(!db2.has_value());
  BOOST_TEST((db2.error().code() == ErrorCode::kCorruption));
}

BOOST_DATA_TEST_CASE(full_disk_is_an_error_and_recoverable, kModes, mode) {
  TempDir dir;
  build_sample(dir.path(), mode, 50);
  const auto before = fs::file_size(dir / "data.mdb");
  // A child whose files may not grow: LMDB's writes past the limit fail with EFBIG, as on a
  // full disk. It must get an error, not a crash, and commit nothing half-way.
  pid_t pid = fork();
  BOOST_TEST_REQUIRE(pid >= 0);
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);
    rlimit lim{before + 64 * 1024, before + 64 * 1024};
    setrlimit(RLIMIT_FSIZE, &lim);
    auto db = Database::open(dir.path(), options_for(mode));
    if (!db) _exit(20);
    for (int i = 0; i < 200; ++i) {
      auto txn = db->begin_write();
      if (!txn) _exit(0);  // refused cleanly
      for (int j = 0; j < 100; ++j) (void)txn->insert_customer(sample_customer(1000 + i * 100 + j));
      auto s = txn->commit();
      if (!s) _exit(s.error().code() == ErrorCode::kIOError ? 0 : 21);
    }
    _exit(22);  // never ran out: the limit did not apply
  }
  int status = 0;
  waitpid(pid, &status, 0);
  BOOST_TEST_REQUIRE(WIFEXITED(status), "writer crashed with signal " << WTERMSIG(status));
  BOOST_TEST(WEXITSTATUS(status) == 0);
  // The cause is gone: the database reads, checks clean, and takes writes again.
  auto db = open_db(mode, dir.path());
  require_clean(db);
  auto n = must(must(db.begin_read()).counts()).customers;
  BOOST_TEST(n >= 50u);
  BOOST_TEST((n - 50) % 100 == 0u);  // whole transactions only
  (void)must(db.insert_customer(sample_customer(99999)));
  require_clean(db);
}

// ---- concurrency --------------------------------------------------------------------------------

BOOST_DATA_TEST_CASE(segment_queries_see_consistent_snapshots, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  {
    auto txn = must(db.begin_write());
    for (int i = 1; i <= 200; ++i) (void)must(txn.insert_customer(sample_customer(i)));
    must(txn.commit());
  }
  auto active = query::parse("txn_count >= 1").value();
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r)
    readers.emplace_back([&] {
      while (!stop) {
        auto txn = db.begin_read();
        if (!txn) { ++bad; continue; }
        // In one snapshot the index and the records agree.
        auto n = txn->count(active);
        std::uint64_t with_txns = 0, txns = 0;
        auto s = txn->for_each_customer([&](const Customer& c) {
          with_txns += c.aggregates.txn_count > 0;
          txns += c.aggregates.txn_count;
          return true;
        });
        auto counts = txn->counts();
        if (!n || !s || !counts || *n != with_txns || counts->transactions != txns) ++bad;
        ++reads;
      }
    });
  std::mt19937 rng(4);
  for (int i = 0; i < 150; ++i) {
    auto txn = must(db.begin_write());
    must(txn.add_transaction(sample_txn(1 + rng() % 200, 10, "2025-02-02")));
    must(txn.commit());
  }
  stop = true;
  for (auto& t : readers) t.join();
  BOOST_TEST(bad.load() == 0);
  BOOST_TEST(reads.load() > 0);
}

BOOST_AUTO_TEST_CASE(reader_slots_of_killed_processes_are_reclaimed) {
  TempDir dir;
  Options o;
  o.max_readers = 3;
  { auto db = open_db(Mode::kPlain, dir.path(), o); (void)must(db.insert_customer(sample_customer(1))); }
  // Three processes take every slot and die holding them.
  std::vector<pid_t> pids;
  for (int i = 0; i < 3; ++i) {
    int fds[2];
    BOOST_TEST_REQUIRE(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      auto db = Database::open(dir.path(), o);
      auto txn = db ? db->begin_read() : Result<ReadTxn>(tl::unexpected(Error(ErrorCode::kInternal, "")));
      char c = txn ? 'y' : 'n';
      (void)!write(fds[1], &c, 1);
      pause();
      _exit(0);
    }
    close(fds[1]);
    char c = 0;
    BOOST_TEST_REQUIRE(read(fds[0], &c, 1) == 1);
    BOOST_TEST_REQUIRE(c == 'y');
    close(fds[0]);
    pids.push_back(pid);
  }
  for (pid_t p : pids) {
    kill(p, SIGKILL);
    waitpid(p, nullptr, 0);
  }
  // All three slots are free again: three readers at once.
  auto db = open_db(Mode::kPlain, dir.path(), o);
  auto a = must(db.begin_read()), b = must(db.begin_read()), c = must(db.begin_read());
  BOOST_TEST(must(c.get_customer(1)).has_value());
  BOOST_TEST(db.info().readers_in_use <= 3u);
}

BOOST_AUTO_TEST_SUITE_END()
