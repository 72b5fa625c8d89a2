// The audit trail (docs/security.md, "Audit trail"): by use (record, list, filter, limits) and
// by attack (entries edited, deleted, swapped or inserted behind the engine's back, through
// LMDB directly and through the engine's own codec; raw bytes of data.mdb flipped), in both
// storage modes. Every attack must be found by check() as a kAuditChain problem.
#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>

#include "engine/audit.h"
#include "engine/db_impl.h"
#include "test_util.h"
#include "util/coding.h"

namespace custdb::test {
namespace {

using Kind = CheckProblem::Kind;

AuditEvent event(std::string command, std::vector<CustomerId> subjects, std::uint64_t count,
                 std::string detail = {}) {
  AuditEvent e;
  e.command = std::move(command);
  e.subjects = std::move(subjects);
  e.count = count;
  e.detail = std::move(detail);
  return e;
}

// A database with five audit entries (seq 1..5), each naming customer 100 + seq.
void make_trail(Mode m, const fs::path& dir) {
  auto db = open_db(m, dir);
  for (int i = 1; i <= 5; ++i)
    BOOST_TEST(must(db.record_audit_event(
                   event("test-event", {static_cast<CustomerId>(100 + i)}, i,
                         "marker-" + std::to_string(i) + "-xyzzy"))) ==
               static_cast<std::uint64_t>(i));
  require_clean(db);
}

std::size_t chain_problems(Mode m, const fs::path& dir) {
  auto db = open_db(m, dir);
  auto report = must(db.check());
  std::size_t n = 0;
  for (const auto& p : report.problems) {
    BOOST_TEST_MESSAGE(to_string(p.kind) << " in " << p.where << ": " << p.what);
    if (p.kind == Kind::kAuditChain) ++n;
  }
  return n;
}

// Runs fn(txn, audit dbi) in a write transaction straight on LMDB (the database closed):
// tampering behind the engine's back, as anyone who can write the file can.
template <class Fn>
void raw_audit(const fs::path& dir, Fn fn, const char* table = "audit") {
  MDB_env* env;
  BOOST_TEST_REQUIRE(mdb_env_create(&env) == 0);
  mdb_env_set_maxdbs(env, 64);
  BOOST_TEST_REQUIRE(mdb_env_open(env, dir.c_str(), 0, 0600) == 0);
  MDB_txn* txn;
  BOOST_TEST_REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  MDB_dbi dbi;
  BOOST_TEST_REQUIRE(mdb_dbi_open(txn, table, 0, &dbi) == 0);
  fn(txn, dbi);
  BOOST_TEST_REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);
}

std::string key_of(std::uint64_t seq) { return coding::be64(seq); }

std::string raw_get(MDB_txn* txn, MDB_dbi dbi, const std::string& key) {
  MDB_val k{key.size(), const_cast<char*>(key.data())}, v;
  BOOST_TEST_REQUIRE(mdb_get(txn, dbi, &k, &v) == 0);
  return std::string(static_cast<const char*>(v.mv_data), v.mv_size);
}
void raw_put(MDB_txn* txn, MDB_dbi dbi, const std::string& key, const std::string& val) {
  MDB_val k{key.size(), const_cast<char*>(key.data())};
  MDB_val v{val.size(), const_cast<char*>(val.data())};
  BOOST_TEST_REQUIRE(mdb_put(txn, dbi, &k, &v, 0) == 0);
}
void raw_del(MDB_txn* txn, MDB_dbi dbi, const std::string& key) {
  MDB_val k{key.size(), const_cast<char*>(key.data())};
  BOOST_TEST_REQUIRE(mdb_del(txn, dbi, &k, nullptr) == 0);
}

// Rewrites entry `seq`'s payload through the engine's own codec (a valid envelope: in
// encrypted mode only someone holding the key can do this), editing it with `edit`.
template <class Fn>
void engine_edit(Mode m, const fs::path& dir, std::uint64_t seq, Fn edit) {
  auto db = open_db(m, dir);
  auto& impl = Database::Impl::of(db);
  auto st = must(impl.begin(true));
  const std::string k = key_of(seq);
  auto stored = must(impl.get(*st, impl.tables().audit, coding::as_bytes(k)));
  BOOST_TEST_REQUIRE(stored.has_value());
  std::vector<std::uint8_t> scratch;
  auto payload = must(impl.codec().unwrap(codec::Table::kAudit, coding::as_bytes(k), *stored, scratch));
  std::string p(reinterpret_cast<const char*>(payload.data()), payload.size());
  edit(p);
  std::vector<std::uint8_t> sealed;
  impl.codec().wrap(codec::Table::kAudit, coding::as_bytes(k), coding::as_bytes(p), sealed);
  must(impl.put(*st, impl.tables().audit, coding::as_bytes(k), sealed));
  must(impl.commit(*st));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(audit_trail)

BOOST_DATA_TEST_CASE(records_lists_and_filters, kModes, m) {
  TempDir dir;
  auto db = open_db(m, dir.path());
  const auto before = detail::now_ms();
  BOOST_TEST(must(db.record_audit_event(event("export", {1, 2, 3}, 3, "--segment tier = gold"))) == 1u);
  {
    auto txn = must(db.begin_write());
    BOOST_TEST(must(txn.record_audit_event(event("get --reveal", {2}, 1))) == 2u);
    // Aborted: its entry never existed, and the next one takes seq 3.
  }
  {
    auto txn = must(db.begin_write());
    BOOST_TEST(must(txn.record_audit_event(event("get --reveal", {2}, 1))) == 2u);
    BOOST_TEST(must(txn.record_audit_event(event("erase", {7}, 1, "mode=full"))) == 3u);
    must(txn.commit());
  }
  auto r = must(db.begin_read());
  auto all = must(r.audit_log());
  BOOST_TEST_REQUIRE(all.size() == 3u);
  for (std::size_t i = 0; i < all.size(); ++i) {
    BOOST_TEST(all[i].seq == i + 1);
    BOOST_TEST((all[i].at >= before));
    BOOST_TEST(all[i].uid == static_cast<std::uint32_t>(::geteuid()));
    BOOST_TEST(all[i].pid == static_cast<std::uint32_t>(::getpid()));
    BOOST_TEST(!all[i].os_user.empty());
  }
  BOOST_TEST(all[0].event.command == "export");
  BOOST_TEST(all[0].event.detail == "--segment tier = gold");
  BOOST_TEST((all[0].event.subjects == std::vector<CustomerId>{1, 2, 3}));
  BOOST_TEST(all[0].event.count == 3u);
  BOOST_TEST(all[2].event.command == "erase");

  AuditFilter by2;
  by2.subject = 2;
  auto two = must(r.audit_log(by2));
  BOOST_TEST_REQUIRE(two.size() == 2u);
  BOOST_TEST(two[0].seq == 1u);
  BOOST_TEST(two[1].seq == 2u);
  AuditFilter future;
  future.since = detail::now_ms() + std::chrono::hours(1);
  BOOST_TEST(must(r.audit_log(future)).empty());
  AuditFilter past;
  past.since = before;
  BOOST_TEST(must(r.audit_log(past)).size() == 3u);
  require_clean(db);
}

BOOST_DATA_TEST_CASE(hostile_text_is_refused_and_nothing_written, kModes, m) {
  TempDir dir;
  auto db = open_db(m, dir.path());
  const std::vector<AuditEvent> bad = {
      event("", {}, 0),
      event("get\n--reveal", {}, 0),
      event("get \x1b]0;owned\x07", {}, 0),
      event("get", {}, 0, "detail with a newline\nforged entry 99"),
      event("get", {}, 0, "Jos\xc3\xa9 Mart\xc3\xadnez"),  // non-ASCII: not a place for names
      event(std::string(201, 'c'), {}, 0),
      event("get", {}, 0, std::string(1001, 'd')),
      event("get", std::vector<CustomerId>(10001, 5), 0),
      event(std::string("nul\0byte", 8), {}, 0),
  };
  for (const auto& e : bad) {
    auto r = db.record_audit_event(e);
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST((r.error().code() == ErrorCode::kInvalidArgument));
    // The message never carries a raw control byte.
    for (char c : r.error().message()) BOOST_TEST((c == '\t' || (c >= 0x20 && c != 0x7f) || (c & 0x80)));
  }
  // The limits themselves are accepted.
  BOOST_TEST(must(db.record_audit_event(event(std::string(200, 'c'), std::vector<CustomerId>(10000, 5), 1,
                                               std::string(1000, '~')))) == 1u);
  auto r = must(db.begin_read());
  BOOST_TEST(must(r.audit_log()).size() == 1u);
  require_clean(db);
}

BOOST_DATA_TEST_CASE(survives_reopen_and_read_only, kModes, m) {
  TempDir dir;
  make_trail(m, dir.path());
  Options ro;
  ro.read_only = true;
  auto db = open_db(m, dir.path(), ro);
  auto r = must(db.begin_read());
  BOOST_TEST(must(r.audit_log()).size() == 5u);
  auto w = db.record_audit_event(event("x", {}, 0));
  BOOST_TEST(!w.has_value());
}

BOOST_DATA_TEST_CASE(plaintext_mode_leaves_text_readable_encrypted_seals_it, kModes, m) {
  TempDir dir;
  make_trail(m, dir.path());
  std::ifstream in(dir.path() / "data.mdb", std::ios::binary);
  const std::string file((std::istreambuf_iterator<char>(in)), {});
  BOOST_TEST(contains(file, "marker-3-xyzzy") == (m == Mode::kPlain));
}

// ---- attacks: each must be found ------------------------------------------------------------

BOOST_DATA_TEST_CASE(edit_of_an_entry_is_found, kModes, m) {
  for (std::uint64_t victim : {1u, 3u, 5u}) {
    TempDir dir;
    make_trail(m, dir.path());
    BOOST_TEST(chain_problems(m, dir.path()) == 0u);
    // A valid envelope around an edited body: the count (offset 1+8+4+4 + user + command)
    // changed. Find "test-event" and change the count after it.
    engine_edit(m, dir.path(), victim, [](std::string& p) {
      const auto at = p.find("test-event");
      BOOST_TEST_REQUIRE(at != std::string::npos);
      p[at + 10 + 7] ^= 0x01;  // low byte of the u64 count
    });
    BOOST_TEST(chain_problems(m, dir.path()) >= 1u, "victim " << victim);
  }
}

BOOST_DATA_TEST_CASE(edit_of_the_subject_with_a_forged_previous_hash_is_found, kModes, m) {
  // The editor also copies the edited entry's new chain hash into the next entry: that entry's
  // own hash then changes, and so on to the head, which it cannot forge without the chain key
  // (encrypted) — in plaintext it is found here because the head was not rewritten.
  TempDir dir;
  make_trail(m, dir.path());
  engine_edit(m, dir.path(), 2, [](std::string& p) {
    const auto at = p.find("marker-2");
    BOOST_TEST_REQUIRE(at != std::string::npos);
    p[at + 7] = '9';
  });
  BOOST_TEST(chain_problems(m, dir.path()) >= 1u);
}

BOOST_DATA_TEST_CASE(raw_byte_flip_in_the_file_is_found, kModes, m) {
  TempDir dir;
  make_trail(m, dir.path());
  std::string stored;
  raw_audit(dir.path(), [&](MDB_txn* txn, MDB_dbi dbi) { stored = raw_get(txn, dbi, key_of(3)); });
  const fs::path file = dir.path() / "data.mdb";
  std::string bytes;
  {
    std::ifstream in(file, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  // Every copy (LMDB's free pages may hold older ones): the live one among them.
  std::size_t copies = 0;
  for (auto at = bytes.find(stored); at != std::string::npos; at = bytes.find(stored, at + 1)) {
    bytes[at + stored.size() - 20] ^= 0x20;
    ++copies;
  }
  BOOST_TEST_REQUIRE(copies >= 1u);
  write_bytes(file, bytes);
  BOOST_TEST(chain_problems(m, dir.path()) >= 1u);
}

BOOST_DATA_TEST_CASE(deleting_the_last_entry_is_found, kModes, m) {
  TempDir dir;
  make_trail(m, dir.path());
  raw_audit(dir.path(), [&](MDB_txn* txn, MDB_dbi dbi) { raw_del(txn, dbi, key_of(5)); });
  BOOST_TEST(chain_problems(m, dir.path()) == 1u);
}

BOOST_DATA_TEST_CASE(deleting_every_entry_is_found, kModes, m) {
  TempDir dir;
  make_trail(m, dir.path());
  raw_audit(dir.path(), [&](MDB_txn* txn, MDB_dbi dbi) {
    for (std::uint64_t s = 1; s <= 5; ++s) raw_del(txn, dbi, key_of(s));
  });
  BOOST_TEST(chain_problems(m, dir.path()) == 1u);
}

BOOST_DATA_TEST_CASE(deleting_a_middle_entry_is_found, kModes, m) {
  TempDir dir;
  make_trail(m, dir.path());
  raw_audit(dir.path(), [&](MDB_txn* txn, MDB_dbi dbi) { raw_del(txn, dbi, key_of(3)); });
  BOOST_TEST(chain_problems(m, dir.path()) >= 1u);
}

BOOST_DATA_TEST_CASE(deleting_a_middle_entry_and_renumbering_is_found, kModes, m) {
  // Entries 4 and 5 moved down to 3 and 4 (values copied as they are) and the head left: the
  // envelopes bind the seq (checksum / AEAD associated data), and the chain binds it too.
  TempDir dir;
  make_trail(m, dir.path());
  raw_audit(dir.path(), [&](MDB_txn* txn, MDB_dbi dbi) {
    const std::string v4 = raw_get(txn, dbi, key_of(4)), v5 = raw_get(txn, dbi, key_of(5));
    raw_put(txn, dbi, key_of(3), v4);
    raw_put(txn, dbi, key_of(4), v5);
    raw_del(txn, dbi, key_of(5));
  });
  BOOST_TEST(chain_problems(m, dir.path()) >= 1u);
}

BOOST_DATA_TEST_CASE(swapping_two_entries_is_found, kModes, m) {
  TempDir dir;
  make_trail(m, dir.path());
  raw_audit(dir.path(), [&](MDB_txn* txn, MDB_dbi dbi) {
    const std::string a = raw_get(txn, dbi, key_of(2)), b = raw_get(txn, dbi, key_of(4));
    raw_put(txn, dbi, key_of(2), b);
    raw_put(txn, dbi, key_of(4), a);
  });
  BOOST_TEST(chain_problems(m, dir.path()) >= 1u);
}

BOOST_DATA_TEST_CASE(swapping_two_payloads_through_the_codec_is_found, kModes, m) {
  // Stronger than a raw swap: each payload re-wrapped under the other's key, so both envelopes
  // are valid; the chain still breaks.
  TempDir dir;
  make_trail(m, dir.path());
  std::string p2, p4;
  {
    auto db = open_db(m, dir.path());
    auto& impl = Database::Impl::of(db);
    auto st = must(impl.begin(false));
    std::vector<std::uint8_t> scratch;
    for (auto [seq, out] : {std::pair{2, &p2}, std::pair{4, &p4}}) {
      const std::string k = key_of(seq);
      auto stored = must(impl.get(*st, impl.tables().audit, coding::as_bytes(k)));
      auto payload = must(impl.codec().unwrap(codec::Table::kAudit, coding::as_bytes(k), *stored, scratch));
      out->assign(reinterpret_cast<const char*>(payload.data()), payload.size());
    }
  }
  engine_edit(m, dir.path(), 2, [&](std::string& p) { p = p4; });
  engine_edit(m, dir.path(), 4, [&](std::string& p) { p = p2; });
  BOOST_TEST(chain_problems(m, dir.path()) >= 1u);
}

BOOST_DATA_TEST_CASE(an_inserted_entry_is_found, kModes, m) {
  // A copy of entry 5 re-wrapped as entry 6 (a valid envelope), the head not updated.
  TempDir dir;
  make_trail(m, dir.path());
  {
    auto db = open_db(m, dir.path());
    auto& impl = Database::Impl::of(db);
    auto st = must(impl.begin(true));
    std::vector<std::uint8_t> scratch;
    const std::string k5 = key_of(5), k6 = key_of(6);
    auto stored = must(impl.get(*st, impl.tables().audit, coding::as_bytes(k5)));
    auto payload = must(impl.codec().unwrap(codec::Table::kAudit, coding::as_bytes(k5), *stored, scratch));
    std::vector<std::uint8_t> p(payload.begin(), payload.end()), sealed;
    impl.codec().wrap(codec::Table::kAudit, coding::as_bytes(k6), p, sealed);
    must(impl.put(*st, impl.tables().audit, coding::as_bytes(k6), sealed));
    must(impl.commit(*st));
  }
  BOOST_TEST(chain_problems(m, dir.path()) >= 1u);
  // And the engine refuses to append after a head that is not the last entry... it appends at
  // head+1 = 6, which exists: refused, not overwritten.
  auto db = open_db(m, dir.path());
  auto r = db.record_audit_event(event("x", {}, 0));
  BOOST_TEST(!r.has_value());
}

BOOST_DATA_TEST_CASE(a_removed_head_is_found, kModes, m) {
  TempDir dir;
  make_trail(m, dir.path());
  raw_audit(dir.path(), [&](MDB_txn* txn, MDB_dbi dbi) { raw_del(txn, dbi, "audit.head"); }, "meta");
  BOOST_TEST(chain_problems(m, dir.path()) == 1u);
}

// The documented limit (docs/security.md §8b): a rollback to a head value the file once held
// gives a valid, shorter chain. Only an anchor kept outside the file (the last seq) finds it.
// This test pins the limit so the documentation cannot silently become wrong.
BOOST_DATA_TEST_CASE(rollback_to_an_old_head_is_not_found_inside_the_file, kModes, m) {
  TempDir dir;
  make_trail(m, dir.path());
  std::string head4;
  {
    // Entry 6 appended; the head before it (naming entry 5) kept, as a backup would keep it.
    raw_audit(dir.path(), [&](MDB_txn* txn, MDB_dbi dbi) { head4 = raw_get(txn, dbi, "audit.head"); }, "meta");
    auto db = open_db(m, dir.path());
    BOOST_TEST(must(db.record_audit_event(event("erase", {9}, 1))) == 6u);
  }
  raw_audit(dir.path(), [&](MDB_txn* txn, MDB_dbi dbi) { raw_del(txn, dbi, key_of(6)); });
  raw_audit(dir.path(), [&](MDB_txn* txn, MDB_dbi dbi) { raw_put(txn, dbi, "audit.head", head4); }, "meta");
  BOOST_TEST(chain_problems(m, dir.path()) == 0u);
  auto db = open_db(m, dir.path());
  auto r = must(db.begin_read());
  BOOST_TEST(must(r.audit_log()).size() == 5u);  // an outside anchor saying 6 finds it
}

BOOST_AUTO_TEST_CASE(key_rotation_keeps_the_trail_and_rechains_it) {
  TempDir dir;
  make_trail(Mode::kEncrypted, dir.path());
  must(rotate_data_key(dir.path(), options_for(Mode::kEncrypted)));
  auto db = open_db(Mode::kEncrypted, dir.path());
  require_clean(db);
  auto r = must(db.begin_read());
  auto all = must(r.audit_log());
  BOOST_TEST_REQUIRE(all.size() == 6u);  // the five copied, then the rotation's own
  BOOST_TEST(all[4].event.detail == "marker-5-xyzzy");
  BOOST_TEST(all[5].event.command == "rotate_data_key");
}

BOOST_AUTO_TEST_CASE(key_rotation_refuses_a_broken_trail) {
  TempDir dir;
  make_trail(Mode::kEncrypted, dir.path());
  raw_audit(dir.path(), [&](MDB_txn* txn, MDB_dbi dbi) { raw_del(txn, dbi, key_of(2)); });
  auto s = rotate_data_key(dir.path(), options_for(Mode::kEncrypted));
  BOOST_TEST_REQUIRE(!s.has_value());
  BOOST_TEST((s.error().code() == ErrorCode::kCorruption));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace custdb::test
