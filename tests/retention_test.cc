// Retention policies (Database::set_retention_policy / apply_retention) and restoring a backup
// with the replaced database's later erasures re-applied (restore_backup): by use, by dry run
// against the real run, and by SIGKILL in the middle of both.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <iterator>
#include <set>

#include "custdb/database.h"
#include "custdb/privacy.h"
#include "engine/db_impl.h"
#include "erasure_scan.h"
#include "program.h"
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;

namespace {

std::string file_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// A customer whose personal values appear nowhere else in the file.
Customer distinctive(int i) {
  Customer c = sample_customer(i);
  c.name = "Zebulon Quaxworth " + std::to_string(i);
  c.email = "zebulon.quaxworth" + std::to_string(i) + "@retention-test.example";
  c.external_ref = "ZQ-REF-" + std::to_string(7700 + i);
  c.address.city = "Quaxhampton" + std::to_string(i);
  return c;
}

std::vector<std::string> personal_values(const Customer& c) {
  return {c.name, *c.email, c.external_ref, c.address.city};
}

// 120 customers: every 3rd has last bought in 2010 (recency > 3650 days), every 3rd + 1 in
// 2019 (between 5 and 10 years), the rest this year; every 5th carries tag legal_hold.
struct Population {
  std::set<CustomerId> old10, old5, hold;
};

Population fill(Database& db, int n = 120) {
  Population p;
  must(db.write([&](WriteTxn& txn) -> Status {
    for (int i = 1; i <= n; ++i) {
      Customer c = distinctive(i);
      if (i % 5 == 0) c.tags.push_back("legal_hold");
      auto id = txn.insert_customer(c);
      if (!id) return tl::unexpected(id.error());
      const char* ts = i % 3 == 0 ? "2010-03-01T10:00:00Z" : i % 3 == 1 ? "2019-06-01T10:00:00Z"
                                                                         : "2026-09-01T10:00:00Z";
      auto t = txn.add_transaction(sample_txn(*id, 1000 + i, ts));
      if (!t) return tl::unexpected(t.error());
      if (i % 3 == 0) p.old10.insert(*id);
      if (i % 3 == 1) p.old5.insert(*id);
      if (i % 5 == 0) p.hold.insert(*id);
    }
    return {};
  }));
  return p;
}

constexpr const char* kPolicy =
    "erase when recency_days > 3650 and not tag = legal_hold; "
    "anonymize when recency_days > 1825";

// What the policy does to a Population: erased (old10 without hold), anonymized (old5, and
// old10 held).
std::pair<std::uint64_t, std::uint64_t> expected_counts(const Population& p) {
  std::uint64_t erase = 0, anon = 0;
  for (CustomerId id : p.old10) (p.hold.count(id) ? anon : erase)++;
  anon += p.old5.size();
  return {erase, anon};
}

std::vector<std::uint64_t> counts_of(const RetentionReport& r) {
  std::vector<std::uint64_t> out;
  for (const auto& a : r.actions) out.push_back(a.customers);
  return out;
}

std::uint64_t customer_count(const Database& db) {
  return must(must(db.begin_read()).counts()).customers;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(retention)

BOOST_DATA_TEST_CASE(policy_is_stored_canonical_and_refused_when_bad, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  BOOST_TEST(!must(must(db.begin_read()).retention_policy()).has_value());
  // No policy: nothing to apply.
  auto none = db.apply_retention();
  BOOST_TEST_REQUIRE(!none.has_value());
  BOOST_TEST((none.error().code() == ErrorCode::kFailedPrecondition));

  must(db.set_retention_policy("  ERASE   WHEN recency_days>3650 and not tag=legal_hold ;"
                               "anonymize when region = 'a;b'  "));
  auto stored = must(must(db.begin_read()).retention_policy());
  BOOST_TEST_REQUIRE(stored.has_value());
  BOOST_TEST(contains(*stored, "erase when "));
  BOOST_TEST(contains(*stored, "; anonymize when "));
  BOOST_TEST(contains(*stored, "'a;b'"));  // a ';' inside quotes does not split rules
  // Storing the stored text again changes nothing (canonical).
  must(db.set_retention_policy(*stored));
  BOOST_TEST(*must(must(db.begin_read()).retention_policy()) == *stored);

  for (const char* bad : {"delete when tier = gold", "erase tier = gold", "erase when tier = nosuch",
                          "erase when recency_days > 10; anonymize when", ";;"}) {
    auto s = db.set_retention_policy(bad);
    BOOST_TEST_REQUIRE(!s.has_value(), bad);
    BOOST_TEST((s.error().code() == ErrorCode::kInvalidArgument), bad);
    // Unchanged.
    BOOST_TEST(*must(must(db.begin_read()).retention_policy()) == *stored);
  }
  auto s = db.set_retention_policy("erase when tier = gold; anonymise when tier = nosuch");
  BOOST_TEST_REQUIRE(!s.has_value());
  BOOST_TEST(contains(s.error().message(), "retention rule 2"));

  must(db.set_retention_policy(""));  // removes it
  BOOST_TEST(!must(must(db.begin_read()).retention_policy()).has_value());
}

BOOST_DATA_TEST_CASE(dry_run_counts_equal_the_real_run, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  const Population pop = fill(db);
  const auto [want_erase, want_anon] = expected_counts(pop);
  BOOST_TEST_REQUIRE(want_erase > 0u);
  BOOST_TEST_REQUIRE(want_anon > 0u);
  must(db.set_retention_policy(kPolicy));

  RetentionOptions dry;
  dry.dry_run = true;
  const std::uint64_t before = customer_count(db);
  const RetentionReport planned = must(db.apply_retention(dry));
  BOOST_TEST(planned.dry_run);
  BOOST_TEST_REQUIRE(planned.actions.size() == 2u);
  BOOST_TEST((planned.actions[0].mode == EraseMode::kFull));
  BOOST_TEST((planned.actions[1].mode == EraseMode::kKeepLedger));
  BOOST_TEST(planned.actions[0].customers == want_erase);
  BOOST_TEST(planned.actions[1].customers == want_anon);
  // A dry run changes nothing (and a second one says the same).
  BOOST_TEST(customer_count(db) == before);
  BOOST_TEST((counts_of(must(db.apply_retention(dry))) == counts_of(planned)));

  RetentionOptions real;
  real.batch = 7;  // many bounded transactions
  std::vector<std::pair<std::uint64_t, std::uint64_t>> progress;
  real.progress = [&](std::uint64_t done, std::uint64_t total) { progress.emplace_back(done, total); };
  const RetentionReport applied = must(db.apply_retention(real));
  BOOST_TEST(!applied.dry_run);
  BOOST_TEST(!applied.resumed);
  BOOST_TEST((counts_of(applied) == counts_of(planned)));
  BOOST_TEST(applied.actions[0].rule == planned.actions[0].rule);
  BOOST_TEST_REQUIRE(!progress.empty());
  BOOST_TEST(progress.size() == (want_erase + want_anon + 6) / 7);
  BOOST_TEST(progress.back().first == want_erase + want_anon);
  BOOST_TEST(progress.back().second == want_erase + want_anon);

  // What it did: erased customers are gone, anonymized ones stripped with their ledger kept,
  // the rest untouched; the journal holds one entry per customer.
  BOOST_TEST(customer_count(db) == before - want_erase);
  {
    auto txn = must(db.begin_read());
    for (CustomerId id : pop.old10) {
      auto c = must(txn.get_customer(id));
      if (pop.hold.count(id)) {
        BOOST_TEST_REQUIRE(c.has_value());
        BOOST_TEST(c->anonymized);
        BOOST_TEST(!c->email.has_value());
        BOOST_TEST(c->aggregates.txn_count == 1u);
      } else {
        BOOST_TEST(!c.has_value());
      }
    }
    for (CustomerId id : pop.old5) BOOST_TEST(must(txn.get_customer(id))->anonymized);
    auto journal = must(txn.erasure_journal());
    BOOST_TEST(journal.size() == want_erase + want_anon);
    // The run's state is gone once it finished.
    BOOST_TEST(!must(Database::Impl::of(db).get_sealed_meta(*ReadView::State::of(txn), "retention.run")));
  }
  require_clean(db);

  // Applied again: the erased are gone and the anonymized stay anonymized: nothing to do,
  // and the dry run says so too.
  BOOST_TEST((counts_of(must(db.apply_retention(dry))) == std::vector<std::uint64_t>{0, 0}));
  BOOST_TEST((counts_of(must(db.apply_retention(real))) == std::vector<std::uint64_t>{0, 0}));
}

// A customer matched by an earlier rule is not counted (or erased) by a later one.
BOOST_DATA_TEST_CASE(first_matching_rule_wins, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  const Population pop = fill(db, 30);
  must(db.set_retention_policy("anonymize when recency_days > 1825; erase when recency_days > 3650"));
  RetentionOptions dry;
  dry.dry_run = true;
  auto planned = counts_of(must(db.apply_retention(dry)));
  BOOST_TEST((planned == std::vector<std::uint64_t>{pop.old10.size() + pop.old5.size(), 0}));
  auto applied = counts_of(must(db.apply_retention()));
  BOOST_TEST((applied == planned));
  BOOST_TEST(customer_count(db) == 30u);
}

// SIGKILL between two committed batches, and again after the last batch: the database stays
// consistent, and the next call resumes the stored plan and ends with the counts the dry run
// promised before the first run.
BOOST_DATA_TEST_CASE(retention_killed_part_way_resumes, kModes, mode) {
  for (int kill_after : {3, 1000}) {  // after the 3rd batch; after the last one
    BOOST_TEST_CONTEXT("killed after batch " << kill_after) {
      TempDir dir;
      Population pop;
      std::vector<std::uint64_t> planned;
      {
        auto db = open_db(mode, dir.path());
        pop = fill(db);
        must(db.set_retention_policy(kPolicy));
        RetentionOptions dry;
        dry.dry_run = true;
        planned = counts_of(must(db.apply_retention(dry)));
      }
      const std::uint64_t total = planned[0] + planned[1];
      const pid_t pid = ::fork();
      BOOST_TEST_REQUIRE(pid >= 0);
      if (pid == 0) {
        auto db = Database::open(dir.path(), options_for(mode));
        if (!db) ::_exit(2);
        int batches = 0;
        RetentionOptions o;
        o.batch = 5;
        o.progress = [&](std::uint64_t done, std::uint64_t all) {
          if (++batches == kill_after || done == all) ::raise(SIGKILL);
        };
        auto r = db->apply_retention(o);
        ::_exit(r ? 0 : 1);
      }
      int status = 0;
      ::waitpid(pid, &status, 0);
      BOOST_TEST_REQUIRE(WIFSIGNALED(status));
      BOOST_TEST_REQUIRE(WTERMSIG(status) == SIGKILL);

      auto db = open_db(mode, dir.path());
      require_clean(db);
      const std::uint64_t erased_so_far = must(must(db.begin_read()).erasure_journal()).size();
      if (kill_after == 3) BOOST_TEST(erased_so_far == 15u);
      else BOOST_TEST(erased_so_far == total);
      // A dry run now reports what the resumed run will end with.
      RetentionOptions dry;
      dry.dry_run = true;
      const RetentionReport pending = must(db.apply_retention(dry));
      BOOST_TEST(pending.resumed);
      BOOST_TEST((counts_of(pending) == planned));
      std::vector<std::uint64_t> seen;
      RetentionOptions o;
      o.batch = 5;
      o.progress = [&](std::uint64_t done, std::uint64_t) { seen.push_back(done); };
      const RetentionReport resumed = must(db.apply_retention(o));
      BOOST_TEST(resumed.resumed);
      BOOST_TEST((counts_of(resumed) == planned));
      if (kill_after == 3) {
        BOOST_TEST_REQUIRE(!seen.empty());
        BOOST_TEST(seen.front() == 20u);  // continued after the 15 committed, not from zero
      } else {
        BOOST_TEST(seen.empty());  // nothing left to erase; only the scrub ran
      }
      BOOST_TEST(must(must(db.begin_read()).erasure_journal()).size() == total);
      BOOST_TEST(customer_count(db) == 120u - planned[0]);
      require_clean(db);
      BOOST_TEST(!must(db.apply_retention(dry)).resumed);
    }
  }
}

// SIGKILL from outside at arbitrary moments (inside a batch, between batches, while planning or
// scrubbing): whatever the moment, the database is consistent and the next call ends where an
// uninterrupted run would have.
BOOST_DATA_TEST_CASE(retention_killed_at_any_moment_finishes_on_the_next_call, kModes, mode) {
  int resumed_runs = 0;
  for (int delay_us : {0, 2000, 10000, 40000, 150000}) {
    BOOST_TEST_CONTEXT("killed after " << delay_us << " us") {
      TempDir dir;
      std::vector<std::uint64_t> planned;
      {
        auto db = open_db(mode, dir.path());
        fill(db, 600);
        must(db.set_retention_policy(kPolicy));
        RetentionOptions dry;
        dry.dry_run = true;
        planned = counts_of(must(db.apply_retention(dry)));
      }
      const pid_t pid = ::fork();
      BOOST_TEST_REQUIRE(pid >= 0);
      if (pid == 0) {
        auto db = Database::open(dir.path(), options_for(mode));
        if (!db) ::_exit(2);
        RetentionOptions o;
        o.batch = 20;
        ::_exit(db->apply_retention(o) ? 0 : 1);
      }
      ::usleep(static_cast<useconds_t>(delay_us));
      ::kill(pid, SIGKILL);
      int status = 0;
      ::waitpid(pid, &status, 0);
      const bool finished = WIFEXITED(status);
      if (finished) BOOST_TEST(WEXITSTATUS(status) == 0);
      auto db = open_db(mode, dir.path());
      require_clean(db);
      const RetentionReport next = must(db.apply_retention());
      if (next.resumed) {
        ++resumed_runs;
        BOOST_TEST((counts_of(next) == planned));
      }
      BOOST_TEST(customer_count(db) == 600u - planned[0]);
      BOOST_TEST(must(must(db.begin_read()).erasure_journal()).size() == planned[0] + planned[1]);
      require_clean(db);
    }
  }
  BOOST_TEST_MESSAGE("runs resumed after the kill: " << resumed_runs);
}

BOOST_DATA_TEST_CASE(retention_changes_need_the_owner_and_a_writable_handle, kModes, mode) {
  TempDir dir;
  {
    auto db = open_db(mode, dir.path());
    fill(db, 9);
    must(db.set_retention_policy(kPolicy));
  }
  Options ro;
  ro.read_only = true;
  auto db = open_db(mode, dir.path(), ro);
  RetentionOptions dry;
  dry.dry_run = true;
  BOOST_TEST(must(db.apply_retention(dry)).actions.size() == 2u);  // a dry run only reads
  BOOST_TEST(!db.apply_retention().has_value());
  BOOST_TEST(!db.set_retention_policy("erase when tier = gold").has_value());
  RetentionOptions zero;
  zero.batch = 0;
  auto z = db.apply_retention(zero);
  BOOST_TEST_REQUIRE(!z.has_value());
  BOOST_TEST((z.error().code() == ErrorCode::kInvalidArgument));
}

// The policy is sealed under the data key: a rotation carries it to the new key.
BOOST_AUTO_TEST_CASE(data_key_rotation_keeps_the_policy) {
  TempDir dir;
  std::string stored;
  {
    auto db = open_db(Mode::kEncrypted, dir.path());
    fill(db, 5);
    must(db.set_retention_policy(kPolicy));
    stored = *must(must(db.begin_read()).retention_policy());
  }
  must(rotate_data_key(dir.path(), options_for(Mode::kEncrypted)));
  auto db = open_db(Mode::kEncrypted, dir.path());
  BOOST_TEST(must(must(db.begin_read()).retention_policy()) == std::optional<std::string>(stored));
  require_clean(db);
}

// ---- restore ---------------------------------------------------------------------------------

// A backup taken before an erasure, restored: the erasure is re-applied and the erased
// customer's values are in no byte of the restored data.mdb (plaintext: a scan of the file;
// the same scan finds them in the backup, so it can fail).
BOOST_DATA_TEST_CASE(restore_reapplies_later_erasures, kModes, mode) {
  TempDir dir;
  const fs::path db_dir = dir / "db", backup = dir / "backup";
  CustomerId erased_full = 0, erased_ledger = 0, kept = 0;
  Customer gone, stripped;
  {
    auto db = open_db(mode, db_dir);
    fill(db, 40);
    erased_full = 7;
    erased_ledger = 8;
    kept = 9;
    gone = *must(db.get_customer(erased_full));
    stripped = *must(db.get_customer(erased_ledger));
    must(db.backup(backup));
    must(db.write([&](WriteTxn& txn) -> Status {
      if (auto r = txn.erase_customer(erased_full, EraseMode::kFull); !r) return tl::unexpected(r.error());
      if (auto r = txn.erase_customer(erased_ledger, EraseMode::kKeepLedger); !r)
        return tl::unexpected(r.error());
      return {};
    }));
    must(db.scrub());
    BOOST_TEST(must(must(db.begin_read()).erasure_journal()).size() == 2u);
  }
  const std::string backup_bytes = file_bytes(backup / "data.mdb");
  if (mode == Mode::kPlain) {
    for (const auto& v : personal_values(gone)) BOOST_TEST(contains(backup_bytes, v), v);
    for (const auto& v : personal_values(stripped)) BOOST_TEST(contains(backup_bytes, v), v);
  }

  // The database is open elsewhere: refused.
  {
    auto busy_holder = open_db(mode, db_dir);
    auto busy = restore_backup(backup, db_dir, options_for(mode));
    BOOST_TEST_REQUIRE(!busy.has_value());
    BOOST_TEST((busy.error().code() == ErrorCode::kBusy));
  }

  const RestoreReport report = must(restore_backup(backup, db_dir, options_for(mode)));
  BOOST_TEST(report.erasures_reapplied == 2u);
  BOOST_TEST(report.customers == 39u);
  BOOST_TEST(report.scrub.complete);
  BOOST_TEST(!fs::exists(db_dir / "restore.tmp"));
  {
    auto db = open_db(mode, db_dir);
    require_clean(db);
    auto txn = must(db.begin_read());
    BOOST_TEST(!must(txn.get_customer(erased_full)).has_value());
    auto s = must(txn.get_customer(erased_ledger));
    BOOST_TEST_REQUIRE(s.has_value());
    BOOST_TEST(s->anonymized);
    BOOST_TEST(!s->email.has_value());
    BOOST_TEST(must(txn.get_customer(kept)).has_value());
    BOOST_TEST(must(txn.erasure_journal()).size() == 2u);
  }
  const std::string restored = file_bytes(db_dir / "data.mdb");
  for (const auto& v : personal_values(gone)) BOOST_TEST(!contains(restored, v), v);
  for (const auto& v : personal_values(stripped)) BOOST_TEST(!contains(restored, v), v);
  const Customer other = distinctive(9);
  if (mode == Mode::kPlain) BOOST_TEST(contains(restored, other.name));  // the scan can find
  // The attack with the key: the restored file's free pages and page gaps are zero, and no
  // live value, opened with the database's key, holds the erased values — while the same
  // attack finds them in the backup (so it can fail).
  std::vector<std::string> erased_values = personal_values(gone);
  for (const auto& v : personal_values(stripped)) erased_values.push_back(v);
  {
    const fs::path probe = dir / "backup-probe";
    fs::create_directories(probe);
    fs::copy_file(backup / "data.mdb", probe / "data.mdb");
    Options ro;
    ro.read_only = true;
    auto old = open_db(mode, probe, ro);
    BOOST_TEST(erasure_scan::found_in_live_values(old, erased_values).size() == erased_values.size());
  }
  {
    const auto look = erasure_scan::look_at(db_dir / "data.mdb");
    BOOST_TEST(look.nonzero_free_pages == 0u);
    BOOST_TEST(look.pages_with_dirty_gap == 0u);
    auto db = open_db(mode, db_dir);
    BOOST_TEST(erasure_scan::found_in_live_values(db, erased_values).empty());
    BOOST_TEST(!erasure_scan::found_in_live_values(db, personal_values(other)).empty());
  }

  // Restoring the same backup again: the journal now holds both erasures, re-applied once
  // more to the fresh copy; nothing comes back.
  BOOST_TEST(must(restore_backup(backup, db_dir, options_for(mode))).erasures_reapplied == 2u);
  {
    auto db = open_db(mode, db_dir);
    BOOST_TEST(!must(db.get_customer(erased_full)).has_value());
  }
}

// Restoring an older backup, then a newer one: an erasure of a customer only the newer backup
// holds must survive the first restore (carried in the journal) to be re-applied by the second.
BOOST_DATA_TEST_CASE(an_erasure_the_backup_cannot_apply_is_kept_for_the_next_restore, kModes, mode) {
  TempDir dir;
  const fs::path db_dir = dir / "db", older = dir / "older", newer = dir / "newer";
  CustomerId x = 0;
  {
    auto db = open_db(mode, db_dir);
    fill(db, 10);
    must(db.backup(older));
    x = must(db.insert_customer(distinctive(77)));
    must(db.backup(newer));
    must(db.write([&](WriteTxn& txn) -> Status {
      auto r = txn.erase_customer(x, EraseMode::kFull);
      if (!r) return tl::unexpected(r.error());
      return {};
    }));
  }
  BOOST_TEST(must(restore_backup(older, db_dir, options_for(mode))).erasures_reapplied == 1u);
  {
    auto db = open_db(mode, db_dir);
    auto journal = must(must(db.begin_read()).erasure_journal());
    BOOST_TEST_REQUIRE(journal.size() == 1u);
    BOOST_TEST(journal[0].customer == x);
  }
  BOOST_TEST(must(restore_backup(newer, db_dir, options_for(mode))).erasures_reapplied == 1u);
  auto db = open_db(mode, db_dir);
  BOOST_TEST(!must(db.get_customer(x)).has_value());
  BOOST_TEST(must(db.get_customer(1)).has_value());
  require_clean(db);
}

namespace {
std::uint32_t nonce_epoch_of(const Database& db) {
  auto txn = must(db.begin_read());
  const auto& d = Database::Impl::of(db);
  auto v = must(d.get(*ReadView::State::of(txn), d.tables().meta, coding::as_bytes(detail::kEpochKey)));
  BOOST_TEST_REQUIRE((v.has_value() && v->size() == 4u));
  return coding::get_u32(v->data());
}
}  // namespace

// Encrypted: the restored file's writers take nonce epochs above every epoch the replaced file
// used, not the backup's next ones (docs/security.md §2, "Nonce uniqueness").
BOOST_AUTO_TEST_CASE(restore_raises_the_nonce_epoch_to_the_replaced_files) {
  TempDir dir;
  const fs::path db_dir = dir / "db", backup = dir / "backup";
  std::uint32_t at_backup = 0, replaced = 0;
  {
    auto db = open_db(Mode::kEncrypted, db_dir);
    fill(db, 5);
    must(db.backup(backup));
    at_backup = nonce_epoch_of(db);
  }
  for (int i = 0; i < 3; ++i) {  // each handle that writes reserves an epoch
    auto db = open_db(Mode::kEncrypted, db_dir);
    must(db.insert_customer(distinctive(100 + i)));
    replaced = nonce_epoch_of(db);
  }
  BOOST_TEST_REQUIRE(replaced >= at_backup + 3);
  must(restore_backup(backup, db_dir, options_for(Mode::kEncrypted)));
  auto db = open_db(Mode::kEncrypted, db_dir);
  BOOST_TEST(nonce_epoch_of(db) >= replaced);
  must(db.insert_customer(distinctive(200)));
  BOOST_TEST(nonce_epoch_of(db) > replaced);
  require_clean(db);
}

BOOST_DATA_TEST_CASE(restore_needs_a_journal_or_without_journal, kModes, mode) {
  TempDir dir;
  const fs::path src = dir / "src", backup = dir / "backup", fresh = dir / "fresh";
  {
    auto db = open_db(mode, src);
    fill(db, 10);
    must(db.backup(backup));
  }
  auto r = restore_backup(backup, fresh, options_for(mode));
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST((r.error().code() == ErrorCode::kFailedPrecondition));
  BOOST_TEST(!fs::exists(fresh / "data.mdb"));
  BOOST_TEST(must(restore_backup(backup, fresh, options_for(mode), /*without_journal=*/true)).customers == 10u);
  auto db = open_db(mode, fresh);
  require_clean(db);
  // No backup there: an I/O error naming it.
  auto missing = restore_backup(dir / "nowhere", fresh, options_for(mode));
  BOOST_TEST_REQUIRE(!missing.has_value());
  BOOST_TEST((missing.error().code() == ErrorCode::kIOError));
}

// SIGKILL at different points of a restore: the database is always either the replaced one
// or the restored one, whole (verify clean), and the next restore finishes.
BOOST_DATA_TEST_CASE(restore_killed_leaves_a_whole_database, kModes, mode) {
  TempDir dir;
  const fs::path db_dir = dir / "db", backup = dir / "backup";
  CustomerId late = 0;
  {
    auto db = open_db(mode, db_dir);
    fill(db, 600);
    must(db.backup(backup));
    must(db.write([&](WriteTxn& txn) -> Status {
      for (CustomerId id = 1; id <= 300; ++id)
        if (auto r = txn.erase_customer(id, EraseMode::kFull); !r) return tl::unexpected(r.error());
      return {};
    }));
    Customer c = distinctive(5000);
    c.id = late = 5000;
    must(db.insert_customer(c));  // only in the replaced database
    must(db.scrub());
  }
  int saw_old = 0, saw_new = 0;
  for (int delay_us : {0, 200, 1000, 3000, 10000, 30000, 100000}) {
    BOOST_TEST_CONTEXT("killed after " << delay_us << " us") {
      const pid_t pid = ::fork();
      BOOST_TEST_REQUIRE(pid >= 0);
      if (pid == 0) {
        auto r = restore_backup(backup, db_dir, options_for(mode));
        ::_exit(r ? 0 : 1);
      }
      ::usleep(static_cast<useconds_t>(delay_us));
      ::kill(pid, SIGKILL);
      int status = 0;
      ::waitpid(pid, &status, 0);
      BOOST_TEST(((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ||
                  (WIFEXITED(status) && WEXITSTATUS(status) == 0)));
      auto db = open_db(mode, db_dir);
      require_clean(db);
      auto txn = must(db.begin_read());
      // Erased customers never come back, whichever file this is.
      for (CustomerId id : {CustomerId{1}, CustomerId{150}, CustomerId{300}})
        BOOST_TEST(!must(txn.get_customer(id)).has_value());
      BOOST_TEST(must(txn.get_customer(301)).has_value());
      if (must(txn.get_customer(late)).has_value()) ++saw_old;
      else ++saw_new;
      BOOST_TEST(must(txn.counts()).customers == (must(txn.get_customer(late)) ? 301u : 300u));
    }
    // Put the replaced database back for the next round when the restore completed.
    {
      auto db = open_db(mode, db_dir);
      if (!must(db.get_customer(late)).has_value()) {
        Customer c = distinctive(5000);
        c.id = late;
        must(db.insert_customer(c));
      }
    }
  }
  BOOST_TEST_MESSAGE("restore killed: old database " << saw_old << " times, restored " << saw_new);
  // The next restore finishes.
  const RestoreReport r = must(restore_backup(backup, db_dir, options_for(mode)));
  BOOST_TEST(r.erasures_reapplied == 300u);
  BOOST_TEST(!fs::exists(db_dir / "restore.tmp"));
  auto db = open_db(mode, db_dir);
  require_clean(db);
  BOOST_TEST(must(must(db.begin_read()).counts()).customers == 300u);
}

// ---- CLI ------------------------------------------------------------------------------------

namespace {
ProgramResult cli(std::vector<std::string> args) {
  args.insert(args.begin(), cli_path().string());
  Program p(args);
  return p.wait();
}
}  // namespace

BOOST_AUTO_TEST_CASE(cli_retention_and_restore) {
  TempDir dir;
  const std::string db = (dir / "db").string(), backup = (dir / "backup").string();
  {
    auto d = open_db(Mode::kPlain, db);
    fill(d, 30);
  }
  ProgramResult r = cli({"retention", "show", "--db", db});
  BOOST_TEST_REQUIRE(r.code == 0, r.describe());
  BOOST_TEST(contains(r.out, "no retention policy"));
  r = cli({"retention", "apply", "--dry-run", "--db", db});
  BOOST_TEST(r.code == 1, r.describe());
  BOOST_TEST(contains(r.err, "no retention policy"), r.describe());
  r = cli({"retention", "set", "erase when nosuch > 3", "--db", db});
  BOOST_TEST(r.code == 2, r.describe());
  r = cli({"retention", "set", kPolicy, "--db", db});
  BOOST_TEST_REQUIRE(r.code == 0, r.describe());
  r = cli({"retention", "show", "--db", db});
  BOOST_TEST(contains(r.out, "anonymize when"), r.describe());
  r = cli({"backup", backup, "--db", db});
  BOOST_TEST_REQUIRE(r.code == 0, r.describe());

  r = cli({"retention", "apply", "--dry-run", "--json", "--db", db});
  BOOST_TEST_REQUIRE(r.code == 0, r.describe());
  BOOST_TEST(contains(r.out, "\"dry_run\": true"), r.out);
  auto actions_of = [](const std::string& out) {
    const auto from = out.find("\"actions\"");
    return from == std::string::npos ? std::string() : out.substr(from, out.find(']', from) - from);
  };
  const std::string dry_counts = actions_of(r.out);
  BOOST_TEST(contains(dry_counts, "anonymize"), r.out);
  r = cli({"retention", "apply", "--batch", "4", "--json", "--db", db});
  BOOST_TEST_REQUIRE(r.code == 0, r.describe());
  BOOST_TEST(actions_of(r.out) == dry_counts, r.out << "\nvs dry run\n" << dry_counts);
  r = cli({"retention", "apply", "--dry-run", "--db", db});
  BOOST_TEST(contains(r.out, "0 customers would be"), r.describe());

  r = cli({"restore", backup, "--db", db});
  BOOST_TEST_REQUIRE(r.code == 0, r.describe());
  BOOST_TEST(contains(r.out, "erasures re-applied"), r.describe());
  r = cli({"verify", "--db", db});
  BOOST_TEST(r.code == 0, r.describe());
  r = cli({"retention", "apply", "--dry-run", "--db", db});
  BOOST_TEST(contains(r.out, "0 customers would be"), r.describe());  // nothing came back
  r = cli({"restore", backup, "--db", (dir / "elsewhere").string()});
  BOOST_TEST(r.code == 1, r.describe());
  BOOST_TEST(contains(r.err, "--without-journal"), r.describe());
}

BOOST_AUTO_TEST_SUITE_END()
