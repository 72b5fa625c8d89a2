// Erasure and scrub (issue #16 point 2; docs/security.md "Erasure"), by use and by attack:
// the plaintext file scanned for every personal value of the erased customer (found before the
// scrub, never after), the encrypted file's free pages and gaps all zero and every live value
// opened with the database's key free of them, a reader pinning pages, stale branch keys,
// backups keeping what they hold, and SIGKILL during erasure and scrub.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <set>

#include "codec/record_codec.h"
#include "engine/db_impl.h"
#include "program.h"
#include "storage/page_check.h"
#include "storage/scrub.h"
#include "test_util.h"
#include "util/coding.h"

namespace custdb {
namespace {

using namespace test;
namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Which of `values` occur anywhere in the file (memmem of the whole data.mdb).
std::vector<std::string> found_in(const fs::path& file, const std::vector<std::string>& values) {
  const std::string bytes = read_file(file);
  std::vector<std::string> out;
  for (const auto& v : values)
    if (bytes.find(v) != std::string::npos) out.push_back(v);
  return out;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// The fixture's customer 9001 (tests/fixtures/v3_db/README.md).
// "uppsala": the city as its segment posting holds it (folded).
const std::vector<std::string> k9001 = {"Özdemir", "unal.ozdemir@example.com", "+46701234567",
                                        "Uppsala", "uppsala", "card ending 4242"};

void copy_v3(Mode m, const fs::path& dir) {
  fs::create_directories(dir);
  fs::copy_file(fs::path(CUSTDB_FIXTURE_DIR) / "v3_db" /
                    (m == Mode::kPlain ? "plaintext" : "encrypted") / "data.mdb",
                dir / "data.mdb");
}

Options fixture_options(Mode m) {
  Options o;
  if (m == Mode::kEncrypted) o.key = KeyMaterial::from_passphrase("fixture-passphrase");
  return o;
}

// ---- an independent look at the file: page_check's walk, gaps parsed here -------------------

std::uint16_t rd16(const std::string& f, std::size_t at) {
  std::uint16_t v;
  std::memcpy(&v, f.data() + at, 2);
  return v;
}
std::uint64_t rd64(const std::string& f, std::size_t at) {
  std::uint64_t v;
  std::memcpy(&v, f.data() + at, 8);
  return v;
}

struct FileLook {
  std::size_t nonzero_free_pages = 0;   // free in the newest snapshot, in no snapshot, not zero
  std::size_t pages_with_dirty_gap = 0; // branch/leaf pages of either snapshot
  std::size_t free_pages = 0;
};

// Walks the newest snapshot (page_check) and the previous one (the same walk on a copy whose
// newest meta is broken, so the older is picked): a free page of the newest snapshot that the
// previous one does not reach must be all zero; every branch or leaf page either reaches must
// have zeros between mp_lower and mp_upper.
FileLook look_at(const fs::path& data_mdb) {
  const std::string f = read_file(data_mdb);
  std::vector<std::uint8_t> use_new, use_old;
  storage::PageCheckOptions o;
  o.page_use = &use_new;
  auto r = storage::check_pages(std::span(reinterpret_cast<const std::uint8_t*>(f.data()), f.size()), o);
  BOOST_TEST_REQUIRE(r.clean(), r.summary());
  const std::size_t ps = r.page_size;
  std::string older = f;
  const std::size_t txn_at = 16 + 24 + 2 * 48 + 8;
  const bool newer1 = rd64(f, txn_at) < rd64(f, ps + txn_at);
  std::memset(older.data() + (newer1 ? ps : 0) + txn_at, 0, 8);  // the newest meta's txnid
  storage::PageCheckOptions o2;
  o2.page_use = &use_old;
  o2.max_problems = 1'000'000;  // the older free list does not describe the newest file
  (void)storage::check_pages(std::span(reinterpret_cast<const std::uint8_t*>(older.data()), older.size()), o2);
  FileLook look;
  for (std::size_t p = 2; p < use_new.size() && (p + 1) * ps <= f.size(); ++p) {
    const bool in_old = p < use_old.size() && use_old[p] == 1;
    const char* page = f.data() + p * ps;
    if (use_new[p] == 2) {
      ++look.free_pages;
      if (!in_old && std::any_of(page, page + ps, [](char c) { return c != 0; }))
        ++look.nonzero_free_pages;
    }
    if (use_new[p] == 1 || in_old) {
      const std::uint16_t flags = rd16(f, p * ps + 10) & 0x3f;
      if (flags != 0x01 && flags != 0x02) continue;  // branch or leaf (not LEAF2, overflow)
      const std::size_t lower = rd16(f, p * ps + 12), upper = rd16(f, p * ps + 14);
      if (lower > upper || upper > ps) continue;
      if (std::any_of(page + lower, page + upper, [](char c) { return c != 0; }))
        ++look.pages_with_dirty_gap;
    }
  }
  return look;
}

// Every live value of every table, opened with the database's key where it is sealed (the
// envelope of its table), searched for `values`: what someone holding the key reads.
std::vector<std::string> found_in_live_values(Database& db, const std::vector<std::string>& values) {
  auto& d = Database::Impl::of(db);
  auto st = d.begin(false);
  BOOST_TEST_REQUIRE(st.has_value());
  const auto& t = d.tables();
  std::vector<std::pair<storage::Table, std::optional<codec::Table>>> tables = {
      {t.customers, codec::Table::kCustomers}, {t.relationships, codec::Table::kRelationships},
      {t.transactions, codec::Table::kTransactions}, {t.meta, codec::Table::kMeta},
      {t.segments, codec::Table::kPostings}, {t.erasures, codec::Table::kErasures},
      {t.audit, codec::Table::kAudit}, {t.consent_history, codec::Table::kConsentHistory},
      {t.rule_moves, codec::Table::kRuleMoves}};
  for (auto idx : t.index) tables.push_back({idx, std::nullopt});
  std::set<std::string> found;
  std::vector<std::uint8_t> scratch;
  std::size_t opened = 0;
  for (auto [table, kind] : tables) {
    if (!table) continue;
    storage::Walker w((*st)->txn, table, "test");
    auto s = w.all([&](storage::Bytes k, storage::Bytes v) {
      std::string text(coding::as_view(k));
      text += coding::as_view(v);
      if (kind) {
        auto p = d.codec().unwrap(*kind, k, v, scratch);
        if (p) {
          text += coding::as_view(*p);
          ++opened;
        }
        // Split files (format 4, encrypted): the personal fields sit in a blob sealed under
        // the personal key inside the record, and personal postings and meta values are
        // sealed under it whole. Open those too, with the owner's personal key.
        if (*kind == codec::Table::kCustomers) {
          if (auto c = d.codec().decode_customer(k, v))
            text += c->name + "|" + c->email.value_or("") + "|" + c->phone.value_or("") + "|" +
                    c->external_ref + "|" + c->address.city + "|" + c->address.region;
        } else if (*kind == codec::Table::kTransactions) {
          if (auto t = d.codec().decode_transaction(k, v)) text += t->description;
        } else {
          for (codec::Table personal : {codec::Table::kPersonalPostings, codec::Table::kPersonalMeta})
            if (auto p2 = d.codec().unwrap_personal(personal, k, v, scratch)) {
              text += coding::as_view(*p2);
              ++opened;
            }
        }
      }
      for (const auto& x : values)
        if (text.find(x) != std::string::npos) found.insert(x);
      return storage::Next::go_on();
    });
    BOOST_TEST_REQUIRE(s.has_value());
  }
  BOOST_TEST(opened > 0u);
  return {found.begin(), found.end()};
}

BOOST_AUTO_TEST_SUITE(erasure)

// Plaintext: the values are in the file before the erasure, still there after its commit
// (LMDB's free pages and gaps), and nowhere once scrubbed.
BOOST_AUTO_TEST_CASE(plaintext_scan_finds_nothing_after_scrub) {
  TempDir dir;
  copy_v3(Mode::kPlain, dir.path());
  auto db = must(Database::open(dir.path(), fixture_options(Mode::kPlain)));
  const fs::path file = dir.path() / "data.mdb";
  BOOST_TEST_REQUIRE(found_in(file, k9001).size() == k9001.size(), joined(found_in(file, k9001)));
  {
    auto w = must(db.begin_write());
    BOOST_TEST_REQUIRE(must(w.erase_customer(9001, EraseMode::kFull)));
    must(w.commit());
  }
  // The logical erasure alone leaves the bytes: the scan can fail.
  BOOST_TEST(!found_in(file, k9001).empty(), "before the scrub: " << joined(found_in(file, k9001)));
  ScrubReport r = must(db.scrub());
  BOOST_TEST(r.complete);
  BOOST_TEST(r.free_pages_zeroed > 0u);
  BOOST_TEST(found_in(file, k9001).empty(), "after the scrub: " << joined(found_in(file, k9001)));
  // Customer 9002 (a relationship to 9001 removed) is intact.
  auto c = must(db.get_customer(9002));
  BOOST_TEST_REQUIRE(c.has_value());
  auto txn = must(db.begin_read());
  BOOST_TEST(!must(txn.get_customer(9001)).has_value());
  BOOST_TEST(must(txn.transactions_of(9001)).empty());
  BOOST_TEST(must(txn.relationships_of(9002)).empty());
  auto journal = must(txn.erasure_journal());
  BOOST_TEST_REQUIRE(journal.size() == 1u);
  BOOST_TEST(journal[0].customer == 9001u);
  BOOST_TEST(journal[0].mode == EraseMode::kFull);
  BOOST_TEST(journal[0].seq == 1u);
  require_clean(db);
  FileLook look = look_at(file);
  BOOST_TEST(look.nonzero_free_pages == 0u);
  BOOST_TEST(look.pages_with_dirty_gap == 0u);
}

// Encrypted: every free page no snapshot reaches is zero, every gap is zero, and no live value,
// opened with the data key, holds a personal value of the erased customer.
BOOST_AUTO_TEST_CASE(encrypted_free_pages_gaps_and_sealed_values) {
  TempDir dir;
  copy_v3(Mode::kEncrypted, dir.path());
  auto db = must(Database::open(dir.path(), fixture_options(Mode::kEncrypted)));
  const fs::path file = dir.path() / "data.mdb";
  BOOST_TEST(found_in(file, k9001).empty());  // sealed and tokenized from the start
  // Present before: the attack finds them while the customer exists (it can fail).
  BOOST_TEST_REQUIRE(found_in_live_values(db, k9001).size() >= 4u,
                     joined(found_in_live_values(db, k9001)));
  ErasureReport r = must(db.erase_customer(9001, EraseMode::kFull));
  BOOST_TEST(r.erased == 1u);
  BOOST_TEST(r.scrub.complete);
  BOOST_TEST(found_in_live_values(db, k9001).empty(), joined(found_in_live_values(db, k9001)));
  FileLook look = look_at(file);
  BOOST_TEST(look.free_pages > 0u);
  BOOST_TEST(look.nonzero_free_pages == 0u);
  BOOST_TEST(look.pages_with_dirty_gap == 0u);
  require_clean(db);
}

// Keep-ledger: the personal fields and memos go, the ledger stays under the id; a second
// keep-ledger is a no-op; a full erasure afterwards removes the rest.
BOOST_DATA_TEST_CASE(keep_ledger_then_full, kModes, mode) {
  TempDir dir;
  copy_v3(mode, dir.path());
  auto db = must(Database::open(dir.path(), fixture_options(mode)));
  const fs::path file = dir.path() / "data.mdb";
  std::vector<Transaction> before;
  {
    auto txn = must(db.begin_read());
    before = must(txn.transactions_of(9001));
  }
  BOOST_TEST_REQUIRE(!before.empty());
  ErasureReport r = must(db.erase_customer(9001, EraseMode::kKeepLedger));
  BOOST_TEST(r.erased == 1u);
  BOOST_TEST(r.scrub.complete);
  {
    auto txn = must(db.begin_read());
    auto c = must(txn.get_customer(9001));
    BOOST_TEST_REQUIRE(c.has_value());
    BOOST_TEST(c->anonymized);
    BOOST_TEST(c->name.empty());
    BOOST_TEST(!c->email.has_value());
    BOOST_TEST(!c->phone.has_value());
    BOOST_TEST(!c->birth_date.has_value());
    BOOST_TEST(c->external_ref.empty());
    BOOST_TEST(c->address.city.empty());
    BOOST_TEST(c->address.country.empty());
    auto after = must(txn.transactions_of(9001));
    BOOST_TEST_REQUIRE(after.size() == before.size());
    for (std::size_t i = 0; i < after.size(); ++i) {
      BOOST_TEST(after[i].amount == before[i].amount);
      BOOST_TEST(after[i].description.empty());
    }
    BOOST_TEST(must(txn.relationships_of(9001)).empty());
    BOOST_TEST(c->aggregates.txn_count == before.size());
  }
  if (mode == Mode::kPlain)
    BOOST_TEST(found_in(file, k9001).empty(), joined(found_in(file, k9001)));
  else
    BOOST_TEST(found_in_live_values(db, k9001).empty(), joined(found_in_live_values(db, k9001)));
  // Again: nothing to do.
  ErasureReport again = must(db.erase_customer(9001, EraseMode::kKeepLedger));
  BOOST_TEST(again.erased == 0u);
  ErasureReport full = must(db.erase_customer(9001, EraseMode::kFull));
  BOOST_TEST(full.erased == 1u);
  BOOST_TEST(full.transactions_removed == before.size());
  auto txn = must(db.begin_read());
  BOOST_TEST(!must(txn.get_customer(9001)).has_value());
  auto journal = must(txn.erasure_journal());
  BOOST_TEST_REQUIRE(journal.size() == 2u);
  BOOST_TEST(journal[0].mode == EraseMode::kKeepLedger);
  BOOST_TEST(journal[1].mode == EraseMode::kFull);
  BOOST_TEST(journal[1].seq == 2u);
  BOOST_TEST(must(db.erase_customer(424242, EraseMode::kFull)).not_found == 1u);
  require_clean(db);
}

// A reader that began before the erasure pins the freed pages: the scrub says so, and a later
// scrub (the reader gone) completes.
BOOST_AUTO_TEST_CASE(reader_pins_pages_until_it_ends) {
  TempDir dir;
  copy_v3(Mode::kPlain, dir.path());
  auto db = must(Database::open(dir.path(), fixture_options(Mode::kPlain)));
  const fs::path file = dir.path() / "data.mdb";
  std::optional<ReadTxn> reader(must(db.begin_read()));
  ErasureReport r = must(db.erase_customer(9001, EraseMode::kFull));
  BOOST_TEST(!r.scrub.complete);
  BOOST_TEST(r.scrub.free_pages_pinned > 0u);
  // The reader still reads its snapshot, whole.
  auto c = must(reader->get_customer(9001));
  BOOST_TEST_REQUIRE(c.has_value());
  BOOST_TEST(contains(c->name, "Özdemir"));
  reader.reset();
  ScrubReport s = must(db.scrub());
  BOOST_TEST(s.complete);
  BOOST_TEST(found_in(file, k9001).empty(), joined(found_in(file, k9001)));
}

// Branch pages keep separators of deleted keys: with enough customers the index trees have
// branch levels, and erasing many of them leaves some separators that only a rebuild removes.
BOOST_AUTO_TEST_CASE(stale_separators_are_rebuilt_away) {
  TempDir dir;
  auto db = open_db(Mode::kPlain, dir.path());
  std::vector<Customer> rows;
  for (int i = 0; i < 4000; ++i) {
    Customer c = sample_customer(i);
    char email[64];
    std::snprintf(email, sizeof email, "zq%05dperson@erase-test.example", i);
    c.email = email;
    c.external_ref = "ERX-" + std::to_string(100000 + i);
    rows.push_back(c);
  }
  auto ids = must(db.insert_customers(rows));
  std::vector<CustomerId> victims;
  std::vector<std::string> values;
  for (std::size_t i = 0; i < ids.size(); i += 5) {
    victims.push_back(ids[i]);
    values.push_back(*rows[i].email);
    values.push_back(rows[i].external_ref);
  }
  const fs::path file = dir.path() / "data.mdb";
  BOOST_TEST_REQUIRE(found_in(file, values).size() == values.size());
  ErasureReport r = must(db.erase_customers(victims, EraseMode::kFull));
  BOOST_TEST(r.erased == victims.size());
  BOOST_TEST(r.scrub.complete);
  BOOST_TEST(r.scrub.tables_rebuilt >= 1u);
  auto left = found_in(file, values);
  BOOST_TEST(left.empty(), left.size() << " left, e.g. " << (left.empty() ? "" : left[0]));
  // The survivors are still found through the rebuilt indexes.
  auto txn = must(db.begin_read());
  auto hit = must(txn.find_by_email(*rows[1].email));
  BOOST_TEST_REQUIRE(hit.size() == 1u);
  BOOST_TEST(hit[0].id == ids[1]);
  require_clean(db);
}

// A backup taken before the erasure keeps the customer: backups are outside the file the scrub
// reaches (docs/security.md, "Erasure": restore re-applies the journal).
BOOST_AUTO_TEST_CASE(backup_taken_before_keeps_the_values) {
  TempDir dir;
  copy_v3(Mode::kPlain, dir.path() / "db");
  auto db = must(Database::open(dir.path() / "db", fixture_options(Mode::kPlain)));
  must(db.backup(dir.path() / "backup"));
  must(db.erase_customer(9001, EraseMode::kFull));
  BOOST_TEST(found_in(dir.path() / "db" / "data.mdb", k9001).empty());
  BOOST_TEST(found_in(dir.path() / "backup" / "data.mdb", k9001).size() == k9001.size());
}

// The CLI: erase (full and keep-ledger), the journal, scrub; an id with nothing to erase is
// counted, not an error.
BOOST_AUTO_TEST_CASE(cli_erase_journal_scrub) {
  TempDir dir;
  copy_v3(Mode::kPlain, dir.path());
  const std::string db = dir.path().string();
  auto r = run_cli({"--db", db, "erase", "9001", "424242"});
  BOOST_TEST_REQUIRE(r.code == 0, r.describe());
  BOOST_TEST(contains(r.out, "erased 1 customer (full)"), r.out);
  BOOST_TEST(contains(r.out, "1 id had nothing to erase"), r.out);
  BOOST_TEST(found_in(dir.path() / "data.mdb", k9001).empty());
  r = run_cli({"--db", db, "--json", "erase", "--keep-ledger", "9002"});
  BOOST_TEST_REQUIRE(r.code == 0, r.describe());
  BOOST_TEST(contains(r.out, "\"erased\": 1"), r.out);
  BOOST_TEST(contains(r.out, "\"complete\": true"), r.out);
  r = run_cli({"--db", db, "erase", "--journal"});
  BOOST_TEST_REQUIRE(r.code == 0, r.describe());
  BOOST_TEST(contains(r.out, "1  customer 9001  full"), r.out);
  BOOST_TEST(contains(r.out, "2  customer 9002  keep_ledger"), r.out);
  r = run_cli({"--db", db, "scrub"});
  BOOST_TEST(r.code == 0, r.describe());
  BOOST_TEST(contains(r.out, "0 tables rebuilt"), r.out);
  r = run_cli({"--db", db, "erase"});
  BOOST_TEST(r.code == 2, r.describe());
  r = run_cli({"--db", db, "verify"});
  BOOST_TEST(r.code == 0, r.describe());
}

// ---- SIGKILL ------------------------------------------------------------------------------------

constexpr int kCrashCustomers = 400;

void crash_child(const fs::path& dir, Mode mode, int fd) {
  auto db = Database::open(dir, options_for(mode));
  if (!db) _exit(2);
  for (int i = 0; i < kCrashCustomers; ++i) {
    const CustomerId id = static_cast<CustomerId>(i + 1);
    const EraseMode m = i % 3 == 0 ? EraseMode::kKeepLedger : EraseMode::kFull;
    auto r = db->erase_customer(id, m);
    if (!r) _exit(3);
    std::uint64_t done = id;
    if (write(fd, &done, sizeof done) != sizeof done) _exit(4);
    if (i % 4 == 0 && !db->scrub()) _exit(5);
  }
  _exit(0);
}

BOOST_DATA_TEST_CASE(sigkill_during_erasure_and_scrub, kModes, mode) {
  TempDir dir;
  {
    auto db = open_db(mode, dir.path());
    for (int i = 0; i < kCrashCustomers + 20; ++i) {
      Customer c = sample_customer(i);
      c.external_ref = "K-" + std::to_string(i);
      auto id = must(db.insert_customer(c));
      auto t = sample_txn(id, 100 + i, "2024-03-01T10:00:00Z");
      t.description = "memo of " + std::to_string(id);
      must(db.add_transaction(t));
    }
    must(db.write([&](WriteTxn& w) -> Status {
      for (int i = 1; i < kCrashCustomers; i += 2) {
        Relationship r;
        r.from = static_cast<CustomerId>(i);
        r.to = static_cast<CustomerId>(i + 1);
        r.type = RelationType::kHousehold;
        if (auto x = w.add_relationship(r); !x) return tl::unexpected(x.error());
      }
      return {};
    }));
  }
  std::mt19937 rng(mode == Mode::kPlain ? 5 : 6);
  std::uint64_t acked = 0;
  int killed = 0;
  for (int round = 0; round < 25; ++round) {
    int fds[2];
    BOOST_TEST_REQUIRE(pipe(fds) == 0);
    pid_t pid = fork();
    BOOST_TEST_REQUIRE(pid >= 0);
    if (pid == 0) {
      close(fds[0]);
      crash_child(dir.path(), mode, fds[1]);
    }
    close(fds[1]);
    usleep(static_cast<useconds_t>(5'000 + rng() % 60'000));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    std::uint64_t k;
    while (read(fds[0], &k, sizeof k) == sizeof k) acked = std::max(acked, k);
    close(fds[0]);
    BOOST_TEST_REQUIRE(storage::check_pages_file(dir.path() / "data.mdb")->clean());
    auto db = open_db(mode, dir.path());
    require_clean(db);
    auto txn = must(db.begin_read());
    auto journal = must(txn.erasure_journal());
    std::map<CustomerId, std::vector<EraseMode>> erased;
    for (std::size_t i = 0; i < journal.size(); ++i) {
      BOOST_TEST_REQUIRE(journal[i].seq == i + 1);
      erased[journal[i].customer].push_back(journal[i].mode);
    }
    // Each customer wholly erased (with its journal entry) or wholly not.
    for (int i = 0; i < kCrashCustomers; ++i) {
      const CustomerId id = static_cast<CustomerId>(i + 1);
      auto c = must(txn.get_customer(id));
      auto it = erased.find(id);
      if (id <= acked) BOOST_TEST_REQUIRE((it != erased.end()), "customer " << id << " acknowledged, not journaled");
      if (it == erased.end()) {
        BOOST_TEST_REQUIRE(c.has_value());
        BOOST_TEST_REQUIRE(!c->anonymized);
        BOOST_TEST_REQUIRE(c->name == "Customer " + std::to_string(i));
        continue;
      }
      if (i % 3 == 0) {
        BOOST_TEST_REQUIRE(c.has_value());
        BOOST_TEST_REQUIRE(c->anonymized);
        BOOST_TEST_REQUIRE(c->name.empty());
        auto ts = must(txn.transactions_of(id));
        BOOST_TEST_REQUIRE(ts.size() == 1u);
        BOOST_TEST_REQUIRE(ts[0].description.empty());
      } else {
        BOOST_TEST_REQUIRE(!c.has_value());
        BOOST_TEST_REQUIRE(must(txn.transactions_of(id)).empty());
      }
      BOOST_TEST_REQUIRE(must(txn.relationships_of(id)).empty());
    }
    if (WIFEXITED(status)) {
      BOOST_TEST_REQUIRE(WEXITSTATUS(status) == 0);
      break;  // the child finished before the kill
    }
    ++killed;
  }
  BOOST_TEST(acked > 0u);
  BOOST_TEST(killed >= 3);  // killed mid-way several times
  BOOST_TEST_MESSAGE(mode << ": killed " << killed << " times, " << acked << " erasures acknowledged");
  // A scrub after the crashes completes and leaves none of the erased names behind.
  auto db = open_db(mode, dir.path());
  ScrubReport s = must(db.scrub());
  BOOST_TEST(s.complete);
  if (mode == Mode::kPlain) {
    std::vector<std::string> gone;
    for (std::uint64_t id = 1; id <= acked; ++id)
      gone.push_back("user" + std::to_string(id - 1) + "@example.com");
    auto left = found_in(dir.path() / "data.mdb", gone);
    BOOST_TEST(left.empty(), joined(left));
  }
  require_clean(db);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace custdb
