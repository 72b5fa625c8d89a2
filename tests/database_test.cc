// The database as a whole: transactions, persistence, growth, concurrency, corruption.
#include <lmdb.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "test_util.h"

using namespace custdb;
using namespace custdb::test;

BOOST_AUTO_TEST_SUITE(database)

BOOST_DATA_TEST_CASE(uncommitted_transaction_aborts_in_destructor, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  {
    auto txn = must(db.begin_write());
    (void)must(txn.insert_customer(sample_customer(1)));
  }
  BOOST_TEST(must(must(db.begin_read()).counts()).customers == 0u);
  {
    auto txn = must(db.begin_write());
    (void)must(txn.insert_customer(sample_customer(1)));
    txn.abort();
    BOOST_TEST((txn.commit().error().code() == ErrorCode::kFailedPrecondition));
  }
  BOOST_TEST(must(must(db.begin_read()).counts()).customers == 0u);
}

BOOST_DATA_TEST_CASE(reopen_keeps_committed_data, kModes, mode) {
  TempDir dir;
  CustomerId id;
  {
    auto db = open_db(mode, dir.path());
    id = must(db.insert_customer(sample_customer(7)));
    (void)must(db.add_transaction(sample_txn(id, 4200, "2025-04-01")));
  }
  auto db = open_db(mode, dir.path());
  auto c = must(db.get_customer(id)).value();
  BOOST_TEST(c.name == "Customer 7");
  BOOST_TEST(c.aggregates.total_amount == 4200);
  BOOST_TEST(db.info().encrypted == (mode == Mode::kEncrypted));
  // The id counter persisted too: the next id does not reuse 1.
  BOOST_TEST(must(db.insert_customer(sample_customer(8))) == id + 1);
  require_clean(db);
}

// The map is sized once at open (Options::max_map_size, default kDefaultMapSize) and never
// grows: a large transaction and many small ones leave it as it was.
BOOST_DATA_TEST_CASE(default_map_is_large_and_never_grows, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  BOOST_TEST(db.info().map_size == kDefaultMapSize);
  {
    auto txn = must(db.begin_write());
    for (int i = 1; i <= 3000; ++i) {
      CustomerId id = must(txn.insert_customer(sample_customer(i)));
      BOOST_TEST_REQUIRE(id == static_cast<CustomerId>(i));
    }
    must(txn.commit());
  }
  for (int i = 3001; i <= 3300; ++i) (void)must(db.insert_customer(sample_customer(i)));
  BOOST_TEST(db.info().map_size == kDefaultMapSize);
  // Only what is used is on disk: a few MiB, not the map.
  BOOST_TEST(db.info().file_size < std::size_t{64} << 20);
  BOOST_TEST(must(must(db.begin_read()).counts()).customers == 3300u);
  require_clean(db);
}

// One transaction, one time: every record a transaction stamps carries the same time.
BOOST_DATA_TEST_CASE(a_transaction_stamps_one_time, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  Customer first_seen, updated_seen;
  {
    auto txn = must(db.begin_write());
    CustomerId first = must(txn.insert_customer(sample_customer(1)));  // created_at left at 0
    first_seen = must(txn.get_customer(first)).value();
    BOOST_TEST_REQUIRE(first_seen.created_at != Timestamp{});
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    BOOST_TEST_REQUIRE(must(txn.update_customer(first, [](Customer& c) { c.name = "Renamed"; })));
    updated_seen = must(txn.get_customer(first)).value();
    BOOST_TEST((updated_seen.updated_at == first_seen.updated_at));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    for (int i = 2; i <= 300; ++i) (void)must(txn.insert_customer(sample_customer(i)));
    must(txn.commit());
  }
  auto read = must(db.begin_read());
  Customer stored = must(read.get_customer(first_seen.id)).value();
  BOOST_TEST((stored.created_at == first_seen.created_at));
  BOOST_TEST((stored.updated_at == updated_seen.updated_at));
  BOOST_TEST((must(read.get_customer(300)).value().updated_at == first_seen.updated_at));
}

// Reaching max_map_size: kResourceExhausted (not kIOError), from the write that hit it, from
// every later call of the transaction and from its commit; abort works, nothing of the
// transaction is stored, earlier commits are intact, and a later transaction works.
BOOST_DATA_TEST_CASE(full_map_is_resource_exhausted_and_abortable, kModes, mode) {
  TempDir dir;
  Options o;
  o.max_map_size = 512 * 1024;
  o.sync = SyncMode::kNone;  // many small commits below
  auto db = open_db(mode, dir.path(), o);
  BOOST_TEST(db.info().map_size == 512u * 1024);
  std::vector<Customer> first(20);
  for (int i = 0; i < 20; ++i) first[i] = sample_customer(i + 1);
  (void)must(db.insert_customers(first));

  auto txn = must(db.begin_write());
  Error failed(ErrorCode::kInternal, "no failure");
  for (int i = 21; i <= 20000; ++i) {
    auto r = txn.insert_customer(sample_customer(i));
    if (!r) {
      failed = r.error();
      break;
    }
  }
  BOOST_TEST_REQUIRE((failed.code() == ErrorCode::kResourceExhausted), failed.to_string());
  BOOST_TEST(failed.message().find("max_map_size") != std::string::npos);
  // Poisoned: later writes, reads and the commit say why.
  auto again = txn.insert_customer(sample_customer(99999));
  BOOST_TEST_REQUIRE(!again.has_value());
  BOOST_TEST((again.error().code() == ErrorCode::kResourceExhausted));
  auto read_in = txn.get_customer(1);
  BOOST_TEST_REQUIRE(!read_in.has_value());
  BOOST_TEST((read_in.error().code() == ErrorCode::kResourceExhausted));
  auto committed = txn.commit();
  BOOST_TEST_REQUIRE(!committed.has_value());
  BOOST_TEST((committed.error().code() == ErrorCode::kResourceExhausted));
  txn.abort();  // idempotent after the failed commit

  // Nothing of it is stored; the earlier commit is intact; the write lock is free again.
  BOOST_TEST(must(must(db.begin_read()).counts()).customers == 20u);
  CustomerId next = must(db.insert_customer(sample_customer(30000)));
  BOOST_TEST(next == 21u);

  // Fill the map with one-shot writes until one fails; each failure stored nothing.
  std::uint64_t stored = 21;
  for (int i = 30001;; ++i) {
    auto r = db.insert_customer(sample_customer(i));
    if (!r) {
      BOOST_TEST_REQUIRE((r.error().code() == ErrorCode::kResourceExhausted), r.error().to_string());
      break;
    }
    ++stored;
    BOOST_TEST_REQUIRE(i < 60000);
  }
  BOOST_TEST(must(must(db.begin_read()).counts()).customers == stored);
  require_clean(db);
  // Raising the limit makes room: reopened with a larger map, writes work again.
  {
    Database closing = std::move(db);
  }
  o.max_map_size = 4 << 20;
  auto bigger = open_db(mode, dir.path(), o);
  (void)must(bigger.insert_customer(sample_customer(70000)));
  BOOST_TEST(must(must(bigger.begin_read()).counts()).customers == stored + 1);
  require_clean(bigger);
}

// A map larger than the address space allows (RLIMIT_AS) is halved at open until it maps:
// the default never makes open fail on a small address-space limit.
BOOST_AUTO_TEST_CASE(default_map_shrinks_to_the_address_space) {
#if defined(__SANITIZE_ADDRESS__)
  BOOST_TEST_MESSAGE("skipped under AddressSanitizer (it reserves terabytes of shadow memory)");
#else
  TempDir dir;
  { auto db = open_db(Mode::kPlain, dir.path()); (void)must(db.insert_customer(sample_customer(1))); }
  pid_t pid = fork();
  BOOST_TEST_REQUIRE(pid >= 0);
  if (pid == 0) {
    // Whatever the process maps now, plus 8 GiB: far below the 1 TiB default map.
    std::size_t vm = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
      unsigned long pages = 0;
      if (std::fscanf(f, "%lu", &pages) == 1) vm = pages * ::sysconf(_SC_PAGESIZE);
      std::fclose(f);
    }
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = vm + (std::size_t{8} << 30);
    if (::setrlimit(RLIMIT_AS, &rl) != 0) _exit(2);
    auto db = Database::open(dir.path());
    if (!db) _exit(3);
    if (db->info().map_size >= kDefaultMapSize || db->info().map_size > (std::size_t{8} << 30)) _exit(4);
    if (!db->insert_customer(sample_customer(2))) _exit(5);
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  BOOST_TEST_REQUIRE(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 0);
  auto db = open_db(Mode::kPlain, dir.path());
  BOOST_TEST(must(must(db.begin_read()).counts()).customers == 2u);
#endif
}

BOOST_DATA_TEST_CASE(read_only_open, kModes, mode) {
  TempDir dir;
  { auto db = open_db(mode, dir.path()); (void)must(db.insert_customer(sample_customer(1))); }
  Options o;
  o.read_only = true;
  auto db = open_db(mode, dir.path(), o);
  BOOST_TEST(must(db.get_customer(1)).has_value());
  auto w = db.begin_write();
  BOOST_TEST_REQUIRE(!w.has_value());
  BOOST_TEST((w.error().code() == ErrorCode::kReadOnly));
  require_clean(db);
}

BOOST_AUTO_TEST_CASE(open_errors) {
  TempDir dir;
  Options o;
  o.create_if_missing = false;
  BOOST_TEST((Database::open(dir / "none", o).error().code() == ErrorCode::kIOError));
  auto db = open_db(Mode::kPlain, dir / "db");
  // LMDB's rule: one open per process.
  BOOST_TEST((Database::open(dir / "db").error().code() == ErrorCode::kBusy));
  Options bad_currency;
  bad_currency.base_currency = "1$";
  BOOST_TEST((Database::open(dir / "other", bad_currency).error().code() ==
              ErrorCode::kInvalidArgument));
  Options excl;
  excl.error_if_exists = true;
  BOOST_TEST((Database::open(dir / "db", excl).error().code() == ErrorCode::kAlreadyExists));
}

BOOST_DATA_TEST_CASE(snapshot_isolation_and_reader_threads, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  CustomerId id = must(db.insert_customer(sample_customer(1)));
  auto snapshot = must(db.begin_read());
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0}, bad{0};
  // Readers check an invariant the writer keeps in every commit: total == 100 * count.
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r)
    readers.emplace_back([&] {
      while (!stop) {
        auto txn = db.begin_read();
        if (!txn) { ++bad; continue; }
        auto c = txn->get_customer(id);
        auto hist = txn->transactions_of(id);
        if (!c || !*c || !hist) { ++bad; continue; }
        const auto& a = (*c)->aggregates;
        if (a.total_amount != 100 * static_cast<std::int64_t>(a.txn_count) ||
            hist->size() != a.txn_count)
          ++bad;
        ++reads;
      }
    });
  for (int i = 0; i < 200; ++i) {
    auto txn = must(db.begin_write());
    (void)must(txn.add_transaction(sample_txn(id, 100, "2025-01-01")));
    must(txn.commit());
  }
  stop = true;
  for (auto& t : readers) t.join();
  BOOST_TEST(bad.load() == 0);
  BOOST_TEST(reads.load() > 0);
  // The snapshot taken before the writes still sees none of them.
  BOOST_TEST(must(snapshot.get_customer(id)).value().aggregates.txn_count == 0u);
  BOOST_TEST(must(db.get_customer(id)).value().aggregates.txn_count == 200u);
}

BOOST_DATA_TEST_CASE(reader_in_another_process, kModes, mode) {
  TempDir dir;
  CustomerId id;
  {
    auto db = open_db(mode, dir.path());
    id = must(db.insert_customer(sample_customer(1)));
  }
  auto db = open_db(mode, dir.path());
  int to_child[2];
  BOOST_TEST_REQUIRE(pipe(to_child) == 0);
  pid_t pid = fork();
  BOOST_TEST_REQUIRE(pid >= 0);
  if (pid == 0) {
    // Child: its own open of the same file, read-only, reading while the parent writes.
    close(to_child[1]);
    Options o = options_for(mode);
    o.read_only = true;
    // The parent's registry entry was inherited; a child is its own process for LMDB.
    auto child_db = Database::open(dir.path(), o);
    int status = child_db ? 0 : 10;
    std::uint64_t last = 0;
    for (int i = 0; status == 0 && i < 2000; ++i) {
      auto c = child_db->get_customer(id);
      if (!c || !*c) { status = 11; break; }
      const auto& a = (*c)->aggregates;
      if (a.total_amount != 100 * static_cast<std::int64_t>(a.txn_count)) status = 12;
      if (a.txn_count < last) status = 13;  // snapshots move forward only
      last = a.txn_count;
      if (last == 50) break;
    }
    char done;
    if (status == 0 && last < 50) (void)!read(to_child[0], &done, 1);  // wait for the writer
    if (status == 0) {
      auto c = child_db->get_customer(id);
      if (!c || !*c || (*c)->aggregates.txn_count != 50) status = 14;
    }
    _exit(status);
  }
  close(to_child[0]);
  for (int i = 0; i < 50; ++i) (void)must(db.add_transaction(sample_txn(id, 100, "2025-01-01")));
  (void)!write(to_child[1], "x", 1);
  close(to_child[1]);
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  BOOST_TEST(WIFEXITED(wstatus));
  BOOST_TEST(WEXITSTATUS(wstatus) == 0);
}

BOOST_DATA_TEST_CASE(corrupted_value_is_reported_as_corruption, kModes, mode) {
  TempDir dir;
  {
    auto db = open_db(mode, dir.path());
    for (int i = 1; i <= 3; ++i) (void)must(db.insert_customer(sample_customer(i)));
  }
  corrupt_customer_value(dir.path(), 2, 40);
  auto db = open_db(mode, dir.path());
  auto r = db.get_customer(2);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST((r.error().code() == ErrorCode::kCorruption));
  BOOST_TEST(must(db.get_customer(1)).has_value());  // the rest stays readable
  auto report = must(db.check());
  BOOST_TEST_REQUIRE(report.problems.size() >= 1u);
  BOOST_TEST((report.problems[0].kind == CheckProblem::Kind::kUndecodable));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(database_tools)

BOOST_DATA_TEST_CASE(hot_backup_while_writing_is_consistent, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir / "db");
  CustomerId id = must(db.insert_customer(sample_customer(1)));
  std::atomic<bool> stop{false};
  std::atomic<int> commits{0};
  std::thread writer([&] {
    for (int i = 2; !stop; ++i) {
      auto txn = db.begin_write();
      if (!txn) break;
      (void)txn->insert_customer(sample_customer(i));
      (void)txn->add_transaction(sample_txn(id, 100, "2025-01-01"));
      if (txn->commit()) ++commits;
    }
  });
  while (commits < 20) std::this_thread::yield();
  must(db.backup(dir / "copy", false));
  must(db.backup(dir / "compact", true));
  stop = true;
  writer.join();
  BOOST_TEST((db.backup(dir / "copy").error().code() == ErrorCode::kAlreadyExists));
  for (const char* name : {"copy", "compact"}) {
    auto copy = open_db(mode, dir / name);
    require_clean(copy);
    auto c = must(copy.get_customer(id)).value();
    BOOST_TEST(c.aggregates.txn_count >= 20u);
    BOOST_TEST(must(must(copy.begin_read()).counts()).customers == c.aggregates.txn_count + 1);
  }
}

BOOST_DATA_TEST_CASE(stats_neighborhood_and_groups, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  auto txn = must(db.begin_write());
  for (int i = 1; i <= 6; ++i) (void)must(txn.insert_customer(sample_customer(i)));
  must(txn.add_relationship({0, 1, 2, RelationType::kHousehold, "", {}}));
  must(txn.add_relationship({0, 2, 3, RelationType::kHousehold, "", {}}));
  must(txn.add_relationship({0, 3, 4, RelationType::kReferral, "", {}}));
  must(txn.add_relationship({0, 5, 6, RelationType::kSpouse, "", {}}));
  must(txn.commit());
  auto stats = must(db.stats());
  auto find = [&](const std::string& n) {
    for (auto& s : stats)
      if (s.name == n) return s.entries;
    return std::uint64_t{999};
  };
  BOOST_TEST(find("customers") == 6u);
  BOOST_TEST(find("relationships") == 4u);
  BOOST_TEST(find("idx.email") == 6u);
  auto read = must(db.begin_read());
  BOOST_TEST(must(read.neighborhood(1, 1)).size() == 1u);
  auto two = must(read.neighborhood(1, 2));
  BOOST_TEST(two.size() == 2u);
  BOOST_TEST(two[1].depth == 2);
  BOOST_TEST(must(read.neighborhood(1, 5)).size() == 3u);
  BOOST_TEST(must(read.neighborhood(1, 5, RelationType::kHousehold)).size() == 2u);
  BOOST_TEST((read.neighborhood(1, 0).error().code() == ErrorCode::kInvalidArgument));
  auto groups = must(read.group_all(GroupBy::kRegion));
  BOOST_TEST_REQUIRE(groups.size() == 2u);  // sample customers alternate east and west
  BOOST_TEST(groups[0].group == "east");
  BOOST_TEST(groups[0].customers + groups[1].customers == 6u);
}

BOOST_AUTO_TEST_SUITE_END()
