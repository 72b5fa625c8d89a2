// The change feed's API (custdb/feed.h): enable is idempotent; every committed write
// transaction is one entry with the next seq, in the same LMDB transaction as the data (an
// aborted transaction leaves none); read pages by max_entries and max_bytes; wait is woken by
// a commit of another thread; consumer cursors; truncate keeps keep_last and what a consumer
// has not acknowledged; describe and changed_records; a replica seeded from a backup applies
// entries idempotently, refuses gaps and ordinary writes, and is promoted by disable; in
// encrypted mode no payload holds a customer's plaintext.
#include <atomic>
#include <sstream>
#include <thread>

#include "custdb/feed.h"
#include "custdb/io.h"
#include "engine/db_impl.h"
#include "engine/feed_record.h"
#include "codec/record_codec.h"
#include "util/coding.h"
#include "test_util.h"

namespace custdb::test {
namespace {

namespace data = boost::unit_test::data;
namespace cf = custdb::feed;  // the suite below is named feed

std::vector<cf::Entry> read_all(const Database& db, cf::Seq after = 0) {
  std::vector<cf::Entry> out;
  for (;;) {
    auto page = must(cf::read(db, after, 7));
    if (page.empty()) return out;
    after = page.back().seq;
    for (auto& e : page) out.push_back(std::move(e));
  }
}

std::string export_all(const Database& db) {
  std::string all;
  for (auto t : {io::Table::kCustomers, io::Table::kRelationships, io::Table::kTransactions,
                 io::Table::kHoldings}) {
    std::ostringstream os;
    io::ExportOptions o;
    o.reveal = true;
    must(io::export_table(db, t, os, io::Format::kCsv, o));
    all += os.str();
  }
  return all;
}

cf::Seq last_seq(const Database& db) { return must(cf::status(db)).last; }

BOOST_AUTO_TEST_SUITE(feed)

BOOST_DATA_TEST_CASE(off_by_default_and_enable_is_idempotent, kModes, m) {
  TempDir dir;
  Database db = open_db(m, dir / "db");
  auto st = must(cf::status(db));
  BOOST_TEST(static_cast<int>(st.role) == static_cast<int>(cf::Role::kNone));
  BOOST_TEST(!cf::read(db, 0).has_value());
  must(db.insert_customer(sample_customer(1)));
  must(cf::enable(db));
  st = must(cf::status(db));
  BOOST_TEST(static_cast<int>(st.role) == static_cast<int>(cf::Role::kPrimary));
  BOOST_TEST(st.name.size() == 14u);
  BOOST_TEST(st.name.starts_with("db"));
  BOOST_TEST(st.last == 1u);  // the enable's audit entry
  must(cf::enable(db));     // again: nothing changes
  must(cf::enable(db, {st.name, 5}));
  BOOST_TEST(must(cf::status(db)).keep_last == 5u);
  BOOST_TEST(must(cf::status(db)).last == 1u);
  auto other = cf::enable(db, {"other", 5});
  BOOST_TEST_REQUIRE(!other.has_value());
  BOOST_TEST(other.error().code() == ErrorCode::kInvalidArgument);
  BOOST_TEST(!cf::enable(db, {"Bad Name", 5}).has_value());
  auto entries = read_all(db);
  BOOST_TEST_REQUIRE(entries.size() == 1u);
  auto lines = must(cf::describe(db, entries[0], entries[0].parts.at(0)));
  BOOST_TEST(entries[0].parts[0].table == "audit");
  BOOST_TEST((std::find(lines.begin(), lines.end(), "put audit 1") != lines.end()));
}

// A follower pointed at the primary by mistake (the primary's own stream applied to it): the
// entries are all at or below its last seq, so apply skips them and the primary keeps its
// role, its feed and its consumers.
BOOST_DATA_TEST_CASE(apply_to_the_primary_itself_changes_nothing, kModes, m) {
  TempDir dir;
  Database db = open_db(m, dir / "db");
  must(cf::enable(db, {"prim", 100}));
  must(cf::register_consumer(db, "ship:S", 0));
  must(db.insert_customer(sample_customer(1)));
  must(db.insert_customer(sample_customer(2)));
  const auto entries = read_all(db);
  const cf::Seq last = last_seq(db);
  BOOST_TEST_REQUIRE(entries.size() == last);
  for (std::span<const cf::Entry> batch :
       {std::span<const cf::Entry>(entries), std::span<const cf::Entry>()}) {
    auto r = must(cf::apply(db, "prim", batch));
    BOOST_TEST(r.applied == 0u);
    BOOST_TEST(r.skipped == batch.size());
    BOOST_TEST(r.last == last);
  }
  auto st = must(cf::status(db));
  BOOST_TEST(static_cast<int>(st.role) == static_cast<int>(cf::Role::kPrimary));
  BOOST_TEST(st.entries == last);
  BOOST_TEST(st.consumers.size() == 1u);
  must(db.insert_customer(sample_customer(3)));  // still a primary: writes are recorded
  BOOST_TEST(last_seq(db) == last + 1);
  BOOST_TEST(read_all(db).size() == last + 1);
}

BOOST_DATA_TEST_CASE(entries_are_contiguous_and_aborted_transactions_leave_none, kModes, m) {
  TempDir dir;
  Database db = open_db(m, dir / "db");
  must(cf::enable(db, {"main", 100}));
  std::vector<CustomerId> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(must(db.insert_customer(sample_customer(i))));
  {
    auto txn = must(db.begin_write());
    must(txn.insert_customer(sample_customer(50)));
    txn.abort();
  }
  {  // a transaction that writes nothing is no entry
    auto txn = must(db.begin_write());
    must(txn.commit());
  }
  must(db.add_transaction(sample_txn(ids[0], 1250, "2024-03-01T10:00:00Z")));
  must(db.write([&](WriteTxn& w) -> Status {
    auto r = w.update_customer(ids[1], [](Customer& c) { c.name = "Renamed"; });
    return r ? Status{} : Status(tl::unexpected(r.error()));
  }));
  must(db.write([&](WriteTxn& w) -> Status {
    auto r = w.delete_customer(ids[2], DeleteMode::kCascade);
    return r ? Status{} : Status(tl::unexpected(r.error()));
  }));
  auto entries = read_all(db);
  BOOST_TEST_REQUIRE(entries.size() == 9u);  // enable, 5 inserts, txn, update, delete
  for (std::size_t i = 0; i < entries.size(); ++i) {
    BOOST_TEST(entries[i].seq == i + 1);
    BOOST_TEST(entries[i].part_count == entries[i].parts.size());
    BOOST_TEST(!entries[i].parts.empty());
  }
  BOOST_TEST(last_seq(db) == 9u);
  // An insert's parts: the customer's part carries its id.
  const auto& insert = entries[1];
  bool customer_part = false;
  for (const auto& p : insert.parts)
    if (p.table == "customers" && p.customer == ids[0]) customer_part = true;
  BOOST_TEST(customer_part);
  auto changes = must(cf::changed_records(db, insert));
  BOOST_TEST_REQUIRE(!changes.empty());
  BOOST_TEST(changes[0].table == "customers");
  BOOST_TEST(changes[0].id == ids[0]);
  BOOST_TEST(!changes[0].deleted);
  auto txn_changes = must(cf::changed_records(db, entries[6]));
  bool txn_seen = false, customer_seen = false;
  for (const auto& c : txn_changes) {
    if (c.table == "transactions") txn_seen = true;
    if (c.table == "customers" && c.id == ids[0]) customer_seen = true;  // its aggregates
  }
  BOOST_TEST(txn_seen);
  BOOST_TEST(customer_seen);
  auto del_changes = must(cf::changed_records(db, entries[8]));
  bool deleted = false;
  for (const auto& c : del_changes)
    if (c.table == "customers" && c.id == ids[2]) deleted = c.deleted;
  BOOST_TEST(deleted);
  // The committed time is the records' updated_at.
  auto c1 = must(db.get_customer(ids[1]));
  BOOST_TEST((entries[7].committed_at == c1->updated_at));
}

BOOST_AUTO_TEST_CASE(read_pages_by_entries_and_bytes) {
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir / "db");
  must(cf::enable(db, {"main", 100}));
  for (int i = 0; i < 20; ++i) must(db.insert_customer(sample_customer(i)));
  auto all = must(cf::read(db, 0, 1000));
  BOOST_TEST_REQUIRE(all.size() == 21u);
  auto page = must(cf::read(db, 3, 4));
  BOOST_TEST_REQUIRE(page.size() == 4u);
  BOOST_TEST(page.front().seq == 4u);
  BOOST_TEST(page.back().seq == 7u);
  BOOST_TEST((page[0] == all[3]));
  // max_bytes: the first entry whatever its size, then only what fits.
  std::size_t one = 0;
  for (const auto& p : all[5].parts) one += p.payload.size();
  auto tiny = must(cf::read(db, 5, 1000, 1));
  BOOST_TEST(tiny.size() == 1u);
  std::size_t two = one;
  for (const auto& p : all[6].parts) two += p.payload.size();
  auto fits = must(cf::read(db, 5, 1000, two));
  BOOST_TEST(fits.size() >= 2u);
  auto none = must(cf::read(db, 21, 10));
  BOOST_TEST(none.empty());
  auto beyond = must(cf::read(db, 500, 10));
  BOOST_TEST(beyond.empty());
}

BOOST_AUTO_TEST_CASE(wait_is_woken_by_another_thread) {
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir / "db");
  must(cf::enable(db, {"main", 100}));
  const cf::Seq now = last_seq(db);
  // Nothing commits: the wait times out with `after`.
  auto t0 = std::chrono::steady_clock::now();
  BOOST_TEST(must(cf::wait(db, now, std::chrono::milliseconds(120))) == now);
  BOOST_TEST((std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(100)));
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    must(db.insert_customer(sample_customer(1)));
  });
  t0 = std::chrono::steady_clock::now();
  auto woke = must(cf::wait(db, now, std::chrono::seconds(20)));
  const auto took = std::chrono::steady_clock::now() - t0;
  writer.join();
  BOOST_TEST(woke == now + 1);
  BOOST_TEST((took < std::chrono::seconds(5)));
}

BOOST_AUTO_TEST_CASE(consumers_and_truncate) {
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir / "db");
  BOOST_TEST(!cf::register_consumer(db, "a").has_value());  // feed off
  must(cf::enable(db, {"main", 3}));
  for (int i = 0; i < 9; ++i) must(db.insert_customer(sample_customer(i)));  // seqs 2..10
  BOOST_TEST(last_seq(db) == 10u);
  // No consumer: truncate deletes nothing.
  BOOST_TEST(must(cf::truncate(db)) == 0u);
  must(cf::register_consumer(db, "ship:s", 0));
  must(cf::register_consumer(db, "late"));  // at the last entry now
  must(cf::register_consumer(db, "late", 2));  // exists: nothing changes
  BOOST_TEST(!cf::register_consumer(db, "bad name!").has_value());
  BOOST_TEST(!cf::register_consumer(db, "x", 99).has_value());
  auto st = must(cf::status(db));
  BOOST_TEST_REQUIRE(st.consumers.size() == 2u);
  BOOST_TEST(st.consumers[0].name == "late");
  BOOST_TEST(st.consumers[0].acked == 10u);
  BOOST_TEST(st.consumers[1].acked == 0u);
  BOOST_TEST(st.entries == 10u);
  BOOST_TEST(st.first == 1u);
  BOOST_TEST(must(cf::truncate(db)) == 0u);  // ship:s acknowledged nothing
  must(cf::acknowledge(db, "ship:s", 4));
  must(cf::acknowledge(db, "ship:s", 2));  // lower: ignored
  BOOST_TEST(!cf::acknowledge(db, "ship:s", 11).has_value());
  auto unknown = cf::acknowledge(db, "nobody", 1);
  BOOST_TEST_REQUIRE(!unknown.has_value());
  BOOST_TEST(unknown.error().code() == ErrorCode::kFailedPrecondition);
  BOOST_TEST(must(cf::truncate(db)) == 4u);
  st = must(cf::status(db));
  BOOST_TEST(st.first == 5u);
  BOOST_TEST(st.entries == 6u);
  // Reading from before the oldest kept entry: truncated.
  auto old = cf::read(db, 2);
  BOOST_TEST_REQUIRE(!old.has_value());
  BOOST_TEST(old.error().code() == ErrorCode::kFailedPrecondition);
  BOOST_TEST(must(cf::read(db, 4)).front().seq == 5u);
  // keep_last 3 holds the newest three whatever is acknowledged.
  must(cf::acknowledge(db, "ship:s", 10));
  BOOST_TEST(must(cf::truncate(db)) == 3u);  // 5, 6, 7: keep_last keeps 8..10
  st = must(cf::status(db));
  BOOST_TEST(st.first == 8u);
  BOOST_TEST(st.entries == 3u);
  must(cf::remove_consumer(db, "late"));
  BOOST_TEST(!cf::remove_consumer(db, "late").has_value());
  BOOST_TEST(must(cf::status(db)).consumers.size() == 1u);
}

// A replica seeded from a backup applies the primary's entries: equal records; redelivery is
// skipped; a gap is refused with nothing applied; ordinary writes are refused until disable.
BOOST_DATA_TEST_CASE(replica_applies_entries, kModes, m) {
  TempDir dir;
  Database primary = open_db(m, dir / "primary");
  std::vector<CustomerId> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(must(primary.insert_customer(sample_customer(i))));
  must(cf::enable(primary, {"main", 100}));
  must(primary.backup(dir / "replica"));
  const cf::Seq base = last_seq(primary);
  for (int i = 3; i < 8; ++i) ids.push_back(must(primary.insert_customer(sample_customer(i))));
  must(primary.add_transaction(sample_txn(ids[0], 1250, "2024-03-01T10:00:00Z")));
  must(primary.add_transaction(sample_txn(ids[4], -300, "2024-03-02T10:00:00Z")));
  must(primary.write([&](WriteTxn& w) -> Status {
    auto r = w.update_customer(ids[1], [](Customer& c) { c.email = "changed@example.org"; });
    return r ? Status{} : Status(tl::unexpected(r.error()));
  }));
  must(primary.write([&](WriteTxn& w) -> Status {
    auto r = w.delete_customer(ids[2], DeleteMode::kCascade);
    return r ? Status{} : Status(tl::unexpected(r.error()));
  }));
  {
    auto txn = must(primary.begin_write());
    Relationship r;
    r.from = ids[3];
    r.to = ids[4];
    r.type = RelationType::kSpouse;
    must(txn.add_relationship(r));
    must(txn.insert_customer(sample_customer(30)));
    must(txn.commit());
  }
  auto entries = read_all(primary, base);
  BOOST_TEST_REQUIRE(!entries.empty());

  Database replica = open_db(m, dir / "replica");
  BOOST_TEST(static_cast<int>(must(cf::status(replica)).role) ==
             static_cast<int>(cf::Role::kPrimary));  // the backup's
  // A gap: nothing applied.
  auto gap = cf::apply(replica, "main", std::span(entries).subspan(1), "x");
  BOOST_TEST_REQUIRE(!gap.has_value());
  BOOST_TEST(gap.error().code() == ErrorCode::kFailedPrecondition);
  BOOST_TEST(contains(gap.error().message(), "gap"));
  // In two batches, the second redelivering part of the first.
  const std::size_t half = entries.size() / 2;
  auto r1 = must(cf::apply(replica, "main", std::span(entries).first(half), "pos-1"));
  BOOST_TEST(r1.applied == half);
  BOOST_TEST(r1.last == base + half);
  auto r2 = must(cf::apply(replica, "main", std::span(entries).subspan(half / 2), "pos-2"));
  BOOST_TEST(r2.skipped == half - half / 2);
  BOOST_TEST(r2.applied == entries.size() - half);
  BOOST_TEST(r2.last == last_seq(primary));
  auto rs = must(cf::status(replica));
  BOOST_TEST(static_cast<int>(rs.role) == static_cast<int>(cf::Role::kReplica));
  BOOST_TEST(rs.name == "main");
  BOOST_TEST(rs.source == "pos-2");
  BOOST_TEST(rs.entries == 0u);  // the backup's copy of the feed is dropped
  BOOST_TEST(export_all(replica) == export_all(primary));
  // Another primary's feed is refused.
  BOOST_TEST(!cf::apply(replica, "other", std::span(entries).first(1)).has_value());
  // Ordinary writes are refused.
  auto w = replica.insert_customer(sample_customer(99));
  BOOST_TEST_REQUIRE(!w.has_value());
  BOOST_TEST(w.error().code() == ErrorCode::kFailedPrecondition);
  BOOST_TEST(contains(w.error().message(), "replica of main"));
  BOOST_TEST(!cf::enable(replica).has_value());
  // Promotion.
  must(cf::disable(replica));
  BOOST_TEST(static_cast<int>(must(cf::status(replica)).role) ==
             static_cast<int>(cf::Role::kNone));
  must(replica.insert_customer(sample_customer(99)));
}

// Encrypted: the first apply raises the replica's nonce epoch into [2^31, 2^32 - 2^24), before
// the handle seals anything; a handle that sealed already must be reopened first.
BOOST_AUTO_TEST_CASE(encrypted_replica_moves_its_nonce_epochs) {
  TempDir dir;
  Database primary = open_db(Mode::kEncrypted, dir / "primary");
  must(cf::enable(primary, {"main", 100}));
  must(primary.insert_customer(sample_customer(1)));
  must(primary.backup(dir / "r1"));
  must(primary.backup(dir / "r2"));
  must(primary.insert_customer(sample_customer(2)));
  must(primary.insert_customer(sample_customer(4)));
  // Entries 3 and 4: r2 below records a write of its own as its entry 3, so only entry 4 is
  // beyond it (a file turns into a replica only for an entry beyond its own last).
  auto entries = read_all(primary, 2);
  BOOST_TEST_REQUIRE(entries.size() == 2u);
  auto epoch_of = [](Database& db) {
    detail::DatabaseImpl& d = Database::Impl::of(db);
    auto st = must(d.begin(false));
    auto v = must(d.get(*st, d.tables().meta, coding::as_bytes(detail::kEpochKey)));
    BOOST_TEST_REQUIRE(v.has_value());
    BOOST_TEST_REQUIRE(v->size() == 4u);
    return coding::get_u32(v->data());
  };
  {
    Database r1 = open_db(Mode::kEncrypted, dir / "r1");
    BOOST_TEST(epoch_of(r1) < 0x80000000u);
    must(cf::apply(r1, "main", entries));
    const auto e = epoch_of(r1);
    BOOST_TEST(e >= 0x80000000u);
    BOOST_TEST(e < 0xFF000000u + 2u);
  }
  {
    Database r2 = open_db(Mode::kEncrypted, dir / "r2");
    must(r2.insert_customer(sample_customer(3)));  // still a copy of a primary: it seals
    auto refused = cf::apply(r2, "main", entries);
    BOOST_TEST_REQUIRE(!refused.has_value());
    BOOST_TEST(refused.error().code() == ErrorCode::kFailedPrecondition);
    BOOST_TEST(contains(refused.error().message(), "reopen the replica"));
  }
}

BOOST_AUTO_TEST_CASE(new_empty_replica_follows_a_feed_from_entry_one) {
  TempDir dir;
  Database primary = open_db(Mode::kPlain, dir / "primary");
  must(cf::enable(primary, {"main", 100}));
  auto c = must(primary.insert_customer(sample_customer(1)));
  must(primary.add_transaction(sample_txn(c, 500, "2024-01-01T00:00:00Z")));
  Database replica = open_db(Mode::kPlain, dir / "replica");
  auto entries = read_all(primary);
  auto r = must(cf::apply(replica, "main", entries));
  BOOST_TEST(r.applied == entries.size());
  BOOST_TEST(export_all(replica) == export_all(primary));
  // Its audit trail equals the primary's (the enable's entry came through the feed).
  auto a = must(must(primary.begin_read()).audit_log({}));
  auto b = must(must(replica.begin_read()).audit_log({}));
  BOOST_TEST_REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) BOOST_TEST(a[i].event.command == b[i].event.command);
}

// Encrypted mode: no payload holds a customer's personal strings; a replica of another key
// cannot apply (kCorruption).
BOOST_AUTO_TEST_CASE(encrypted_payloads_hold_no_plaintext) {
  TempDir dir;
  Database db = open_db(Mode::kEncrypted, dir / "db");
  must(cf::enable(db, {"main", 100}));
  Customer c = sample_customer(7);
  c.name = "Zebulon Quixotic";
  c.email = "zebulon.quixotic@example.com";
  c.external_ref = "REF-QUIXOTIC";
  auto id = must(db.insert_customer(c));
  auto t = sample_txn(id, 100, "2024-01-01T00:00:00Z");
  t.description = "quixotic memo";
  must(db.add_transaction(t));
  auto entries = read_all(db);
  std::string all;
  for (const auto& e : entries)
    for (const auto& p : e.parts) all += p.payload;
  BOOST_TEST(!all.empty());
  for (const char* s : {"Zebulon", "Quixotic", "quixotic", "zebulon", "QUIXOTIC", "example.com"})
    BOOST_TEST(!contains(all, s), s);
  // Plaintext mode, for contrast, carries them (the check above can fail).
  Database plain = open_db(Mode::kPlain, dir / "plain");
  must(cf::enable(plain, {"main", 100}));
  must(plain.insert_customer(c));
  std::string plain_all;
  for (const auto& e : read_all(plain))
    for (const auto& p : e.parts) plain_all += p.payload;
  BOOST_TEST(contains(plain_all, "Zebulon"));
  // A replica under another key does not open the seals.
  Options o;
  o.key = test_key(9);
  Database stranger = open_db(Mode::kEncrypted, dir / "stranger", o);
  auto r = cf::apply(stranger, "main", entries);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().code() == ErrorCode::kCorruption);
  // A damaged payload is kCorruption for describe too.
  auto bad = entries.back();
  bad.parts[0].payload[bad.parts[0].payload.size() / 2] ^= 0x20;
  BOOST_TEST(!cf::describe(db, bad, bad.parts[0]).has_value());
  // A payload moved to another seq does not authenticate.
  auto moved = entries.back();
  moved.seq += 1;
  BOOST_TEST(!cf::describe(db, moved, moved.parts[0]).has_value());
}

// feed_erasure (the erasure's hook): the erased customer's parts of earlier entries leave the
// feed, those of the erasure's own transaction too, and the entry carries one erasure part
// (no customer) that describe and changed_records read.
BOOST_DATA_TEST_CASE(erasure_purges_the_customers_parts, kModes, m) {
  TempDir dir;
  Database db = open_db(m, dir / "db");
  must(cf::enable(db, {"main", 100}));
  const auto a = must(db.insert_customer(sample_customer(1)));
  const auto b = must(db.insert_customer(sample_customer(2)));
  must(db.add_transaction(sample_txn(a, 900, "2024-02-02T00:00:00Z")));
  must(db.add_transaction(sample_txn(b, 400, "2024-02-03T00:00:00Z")));
  auto count_parts = [&](CustomerId id) {
    int n = 0;
    for (const auto& e : read_all(db))
      for (const auto& p : e.parts) n += p.customer == id;
    return n;
  };
  BOOST_TEST(count_parts(a) >= 2);
  const int b_parts = count_parts(b);
  BOOST_TEST(b_parts >= 2);
  must(db.write([&](WriteTxn& txn) -> Status {
    auto u = txn.update_customer(a, [](Customer& c) { c.name = "Last Words"; });
    if (!u) return tl::unexpected(u.error());
    auto& st = *ReadView::State::of(txn);
    return detail::feed_erasure(Database::Impl::of(db), st, a, EraseMode::kFull);
  }));
  BOOST_TEST(count_parts(a) == 0);
  BOOST_TEST(count_parts(b) == b_parts);
  auto entries = read_all(db);
  const auto& last = entries.back();
  BOOST_TEST((last.erased == std::vector<CustomerId>{a}));
  BOOST_TEST_REQUIRE(last.parts.size() == 1u);
  BOOST_TEST(last.parts[0].table == "erasure");
  BOOST_TEST(last.parts[0].customer == 0u);
  auto lines = must(cf::describe(db, last, last.parts[0]));
  BOOST_TEST_REQUIRE(lines.size() == 1u);
  BOOST_TEST(lines[0] == "erase " + std::to_string(a) + " full");
  auto changes = must(cf::changed_records(db, last));
  BOOST_TEST_REQUIRE(changes.size() == 1u);
  BOOST_TEST((changes[0] == cf::RecordChange{"customers", a, true}));
  // Entries keep their seqs and part counts; only parts went.
  for (std::size_t i = 0; i < entries.size(); ++i) BOOST_TEST(entries[i].seq == i + 1);
  bool fewer = false;
  for (const auto& e : entries) fewer = fewer || e.parts.size() < e.part_count;
  BOOST_TEST(fewer);
  if (m == Mode::kPlain) {
    std::string all;
    for (const auto& e : entries)
      for (const auto& p : e.parts) all += p.payload;
    BOOST_TEST(!contains(all, "user1@example.com"));
    BOOST_TEST(!contains(all, "Last Words"));
    BOOST_TEST(contains(all, "user2@example.com"));  // the other customer's stay
  }
}

BOOST_AUTO_TEST_CASE(disable_drops_entries_and_consumers) {
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir / "db");
  must(cf::enable(db, {"main", 100}));
  must(db.insert_customer(sample_customer(1)));
  must(cf::register_consumer(db, "c", 0));
  must(cf::disable(db));
  must(cf::disable(db));  // already off
  auto st = must(cf::status(db));
  BOOST_TEST(static_cast<int>(st.role) == static_cast<int>(cf::Role::kNone));
  BOOST_TEST(st.entries == 0u);
  BOOST_TEST(st.consumers.empty());
  must(db.insert_customer(sample_customer(2)));  // not recorded
  must(cf::enable(db, {"again", 100}));
  st = must(cf::status(db));
  // Seqs never restart: 1 and 2 were dropped, 3 is skipped (a replica of the old feed meets a
  // gap: it lacks the change made while the feed was off), 4 is the new enable's audit entry.
  BOOST_TEST(st.last == 4u);
  auto entries = must(cf::read(db, 3));
  BOOST_TEST(entries.size() == 1u);
  auto gone = cf::read(db, 0);
  BOOST_TEST_REQUIRE(!gone.has_value());
  BOOST_TEST(contains(gone.error().message(), "truncated"));
}

BOOST_AUTO_TEST_CASE(damaged_bytes_are_corruption_not_crashes) {
  // Every prefix and every single-byte change of the stored codings decodes or fails cleanly.
  detail::FeedState s;
  s.role = cf::Role::kPrimary;
  s.last = 9;
  s.floor = 2;
  s.name = "main";
  s.source = "stream:12";
  const std::string bytes = detail::encode_feed_state(s);
  auto back = detail::decode_feed_state(bytes);
  BOOST_TEST_REQUIRE(back.has_value());
  BOOST_TEST(back->source == "stream:12");
  for (std::size_t n = 0; n < bytes.size(); ++n)
    BOOST_TEST(!detail::decode_feed_state(bytes.substr(0, n)).has_value());
  detail::EntryHeader h{1234, 3, {7, 8}};
  const std::string hb = detail::encode_entry_header(h);
  for (std::size_t n = 0; n < hb.size(); ++n)
    BOOST_TEST(!detail::decode_entry_header(hb.substr(0, n)).has_value());
  BOOST_TEST(detail::decode_entry_header(hb)->erased.size() == 2u);
  codec::RecordCodec plain(nullptr);
  std::vector<detail::FeedOp> ops(3);
  ops[0].kind = detail::FeedOpKind::kPut;
  ops[0].table = 2;
  ops[0].key = std::string(8, '\1');
  ops[0].value = "value";
  ops[1].ordinal = 1;
  ops[1].kind = detail::FeedOpKind::kBitSet;
  ops[1].key = "tier=gold";
  ops[1].id = 77;
  ops[2].ordinal = 2;
  ops[2].kind = detail::FeedOpKind::kErase;
  ops[2].id = 5;
  ops[2].mode = EraseMode::kKeepLedger;
  ops[2].stamp = 99;
  const std::string p = detail::encode_part_payload(plain, "main", 4, 2, "customers", 9, ops);
  auto decoded = detail::decode_part_payload(plain, "main", 4, "customers", 9, p);
  BOOST_TEST_REQUIRE(decoded.has_value());
  BOOST_TEST((*decoded == ops));
  BOOST_TEST(!detail::decode_part_payload(plain, "main", 4, "customers", 8, p).has_value());
  BOOST_TEST(!detail::decode_part_payload(plain, "main", 5, "customers", 9, p).has_value());
  BOOST_TEST(!detail::decode_part_payload(plain, "other", 4, "customers", 9, p).has_value());
  for (std::size_t n = 0; n < p.size(); ++n)
    BOOST_TEST(!detail::decode_part_payload(plain, "main", 4, "customers", 9, p.substr(0, n))
                    .has_value());
  for (std::size_t i = 0; i < p.size(); ++i) {
    std::string q = p;
    q[i] ^= 0x01;
    (void)detail::decode_part_payload(plain, "main", 4, "customers", 9, q);  // never crashes
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace custdb::test
