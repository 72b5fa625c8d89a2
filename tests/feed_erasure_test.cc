// Erasure reaches every copy (custdb/feed.h, "Erasure"): after a customer's erasure on a
// primary with the feed on, no part of the primary's feed holds the customer's personal
// strings, a replica that applied the customer's changes before the erasure ends (after the
// erasure entry and a scrub) equal to the primary with none of the strings anywhere in its
// file, and a replica that applies the purged feed only afterwards ends equal too (full
// erasure) or is told to re-seed (keep-ledger: it never received the ledger it would keep).
#include "erasure_scan.h"
#include "feed_harness.h"

namespace custdb::test {
namespace {

using namespace feedh;

// The victim's personal strings: each occurs nowhere else.
const std::vector<std::string> kSecrets = {"Zorblax Quentinova", "zorblax.quentinova@victim.example",
                                           "VICTIM-REF-7731", "Quxvillezz", "VICTIMMEMO-993",
                                           "VICTIMACCT-55123"};

Customer victim() {
  Customer c;
  c.name = kSecrets[0];
  c.email = kSecrets[1];
  c.external_ref = kSecrets[2];
  c.address.city = kSecrets[3];
  c.address.country = "DE";
  c.birth_date = parse_date("1977-07-07");
  c.tags = {"vip"};
  return c;
}

// Writes the victim with a transaction, a holding, a relationship and a consent change, among
// other customers' writes; returns its id.
CustomerId write_victim(Database& db, Workload& w) {
  for (int i = 0; i < 6; ++i) w.step();
  const CustomerId id = must(db.insert_customer(victim()));
  const CustomerId other = must(db.insert_customer(w.new_customer()));
  must(db.write([&](WriteTxn& t) -> Status {
    Transaction x;
    x.customer_id = id;
    x.ts = parse_timestamp("2025-03-03T10:00:00Z").value();
    x.amount = 12345;
    x.currency = "USD";
    x.description = kSecrets[4];
    if (auto a = t.add_transaction(x); !a) return tl::unexpected(a.error());
    Holding h;
    h.customer_id = id;
    h.product_type = ProductType::kSavings;
    h.currency = "USD";
    h.balance = 777;
    h.opened_on = parse_date("2024-02-02");
    h.account_ref = kSecrets[5];
    if (auto a = t.insert_holding(h); !a) return tl::unexpected(a.error());
    if (auto a = t.add_relationship({0, other, id, RelationType::kHousehold, "", {}}); !a)
      return tl::unexpected(a.error());
    if (auto a = t.set_consent(id, ConsentPurpose::kSmsMarketing,
                               {ConsentState::kGranted, parse_date("2025-01-01")});
        !a)
      return tl::unexpected(a.error());
    return {};
  }));
  must(db.write([&](WriteTxn& t) -> Status {
    auto d = t.update_customer(id, [](Customer& c) { c.tier = Tier::kGold; });
    if (!d) return tl::unexpected(d.error());
    return {};
  }));
  for (int i = 0; i < 6; ++i) w.step();
  return id;
}

// Every stored part of the primary's feed, raw as read.
std::string feed_bytes(const Database& db) {
  std::string all;
  for (const auto& e : must(feed::read(db, 0, 1'000'000)))
    for (const auto& p : e.parts) all += p.table + "|" + p.payload;
  return all;
}

std::vector<std::string> found(const std::string& haystack) {
  std::vector<std::string> out;
  for (const auto& s : kSecrets)
    if (haystack.find(s) != std::string::npos) out.push_back(s);
  return out;
}

Status apply_all(Database& replica, const Database& primary, const std::string& name,
                 feed::Seq& last) {
  for (;;) {
    auto entries = must(feed::read(primary, last, 7));
    if (entries.empty()) return {};
    auto res = feed::apply(replica, name, entries);
    if (!res) return tl::unexpected(res.error());
    last = res->last;
    if (res->erased) must(replica.scrub());
  }
}

void erase_reaches_every_copy(Mode mode, EraseMode how) {
  TempDir dir;
  Database primary = open_db(mode, dir / "primary");
  must(feed::enable(primary, {"pri", 100000}));
  const std::string name = must(feed::status(primary)).name;
  Workload w(primary, 3, dir.path());
  for (int i = 0; i < 5; ++i) w.step();
  // Two replicas seeded before the victim exists: one follows closely, one only later.
  must(primary.backup(dir / "close"));
  must(primary.backup(dir / "late"));
  feed::Seq close_last = must(feed::status(primary)).last, late_last = close_last;
  Database close = open_db(mode, dir / "close");

  const CustomerId id = write_victim(primary, w);
  must(apply_all(close, primary, name, close_last));
  if (mode == Mode::kPlain) {
    // The test can fail: before the erasure the strings are in the feed and the replica.
    BOOST_TEST_REQUIRE(found(feed_bytes(primary)).size() == kSecrets.size(),
                       "found " << erasure_scan::joined(found(feed_bytes(primary))));
    BOOST_TEST(found(stored_state(close) + exports(close)).size() >= 4u);
  }

  auto report = must(primary.erase_customer(id, how));
  BOOST_TEST(report.erased == 1u);
  for (int i = 0; i < 4; ++i) w.step();
  auto entries = must(feed::read(primary, 0, 1'000'000));
  bool listed = false;
  for (const auto& e : entries) listed |= std::find(e.erased.begin(), e.erased.end(), id) != e.erased.end();
  BOOST_TEST(listed, "no entry names the erasure");
  BOOST_TEST(found(feed_bytes(primary)).empty(), "the feed still holds "
                                                   << erasure_scan::joined(found(feed_bytes(primary))));
  // Nor the feed table's raw bytes (a sealed part would not show them; a plaintext one must
  // have lost them).
  must(primary.scrub());

  must(apply_all(close, primary, name, close_last));
  BOOST_TEST(close_last == must(feed::status(primary)).last);
  BOOST_TEST(state(close) == state(primary), first_difference(state(primary), state(close)));
  require_clean(close, "replica");
  close_last = must(feed::status(close)).last;
  const fs::path close_file = dir / "close" / "data.mdb";
  {
    Database gone = std::move(close);  // closed at the end of this scope
  }
  BOOST_TEST(erasure_scan::found_in(close_file, kSecrets).empty(),
             "the replica's file holds " << erasure_scan::joined(erasure_scan::found_in(close_file, kSecrets)));
  BOOST_TEST(erasure_scan::found_in(dir / "primary" / "data.mdb", kSecrets).empty(),
             "the primary's file holds "
                 << erasure_scan::joined(erasure_scan::found_in(dir / "primary" / "data.mdb", kSecrets)));

  // The late replica never saw the victim: the purged feed gives it nothing of the victim.
  Database late = open_db(mode, dir / "late");
  auto s = apply_all(late, primary, name, late_last);
  if (how == EraseMode::kFull) {
    BOOST_TEST_REQUIRE(s.has_value(), (s ? "" : s.error().to_string()));
    BOOST_TEST(state(late) == state(primary), first_difference(state(primary), state(late)));
    require_clean(late, "late replica");
  } else {
    // It cannot keep a ledger it never received: refused, with the way out named.
    BOOST_TEST_REQUIRE(!s.has_value());
    BOOST_TEST(s.error().code() == ErrorCode::kFailedPrecondition);
    BOOST_TEST(contains(s.error().message(), "re-seed"), s.error().message());
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(feed_erasure)

BOOST_DATA_TEST_CASE(full_erasure_reaches_feed_and_replicas, kModes, mode) {
  erase_reaches_every_copy(mode, EraseMode::kFull);
}

BOOST_DATA_TEST_CASE(keep_ledger_erasure_reaches_feed_and_replicas, kModes, mode) {
  erase_reaches_every_copy(mode, EraseMode::kKeepLedger);
}

// A replica that holds the customer but missed part of its ledger (a transaction whose part
// the keep-ledger erasure purged before the replica applied it) would keep another ledger
// than the primary: the replay compares the primary's fingerprint and refuses, nothing of the
// batch applied, and a replica seeded again from a backup follows.
BOOST_DATA_TEST_CASE(keep_ledger_detects_a_replica_missing_ledger, kModes, mode) {
  TempDir dir;
  Database primary = open_db(mode, dir / "primary");
  must(feed::enable(primary, {"pri", 100000}));
  const std::string name = must(feed::status(primary)).name;
  Workload w(primary, 9, dir.path());
  for (int i = 0; i < 4; ++i) w.step();
  const CustomerId id = must(primary.insert_customer(victim()));
  must(primary.backup(dir / "replica"));
  Database replica = open_db(mode, dir / "replica");
  feed::Seq last = must(feed::status(replica)).last;
  Transaction x;
  x.customer_id = id;
  x.ts = parse_timestamp("2025-04-04T10:00:00Z").value();
  x.amount = 4242;
  x.currency = "USD";
  must(primary.add_transaction(x));
  w.step();
  must(primary.erase_customer(id, EraseMode::kKeepLedger));
  auto entries = must(feed::read(primary, last, 1000));
  auto res = feed::apply(replica, name, entries);
  BOOST_TEST_REQUIRE(!res.has_value());
  BOOST_TEST(res.error().code() == ErrorCode::kFailedPrecondition);
  BOOST_TEST(contains(res.error().message(), "re-seed"), res.error().message());
  BOOST_TEST(must(feed::status(replica)).last == last);  // nothing of the batch applied
  // Seeded again, the replica follows.
  must(primary.backup(dir / "replica2"));
  Database fresh = open_db(mode, dir / "replica2");
  feed::Seq l2 = must(feed::status(fresh)).last;
  w.step();
  w.step();
  must(apply_all(fresh, primary, name, l2));
  BOOST_TEST(state(fresh) == state(primary), first_difference(state(primary), state(fresh)));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace custdb::test
