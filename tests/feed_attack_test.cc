// Attacks on the change feed and its JetStream transport (custdb/feed.h, custdb/nats.h), as an
// administrator's mistakes and a third party with publish rights on the stream would make
// them: replicas that are not copies of the primary, and hostile messages on the feed's
// subjects. Each case states what must hold; a case marked expected_failures documents a
// defect not fixed yet (see its comment).
#include <nats/nats.h>

#include <atomic>
#include <optional>
#include <sstream>
#include <thread>

#include "custdb/feed.h"
#include "custdb/io.h"
#include "custdb/nats.h"
#include "nats/wire.h"
#include "nats_server.h"
#include "test_util.h"

namespace custdb::test {
namespace feed_attack_h {

namespace wire = nats::wire;
namespace utf = boost::unit_test;

std::string export_all(const Database& db) {
  std::string all;
  for (io::Table t : {io::Table::kCustomers, io::Table::kRelationships, io::Table::kTransactions,
                      io::Table::kHoldings}) {
    std::ostringstream out;
    io::ExportOptions eo;
    eo.reveal = true;
    must(io::export_table(db, t, out, io::Format::kCsv, eo));
    all += std::string(io::to_string(t)) + "\n" + out.str();
  }
  return all;
}

void write_some(Database& db, int first, int n) {
  for (int i = first; i < first + n; ++i) {
    CustomerId id = must(db.insert_customer(sample_customer(i)));
    must(db.add_transaction(sample_txn(id, 1000 + i, "2024-03-01T10:00:00Z")));
  }
}

feed::Seq last_of(const Database& db) { return must(feed::status(db)).last; }

// Publishes one message with JetStream (the stream's acknowledgement awaited).
void publish(const std::string& url, const wire::Message& m) {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  BOOST_TEST_REQUIRE(natsConnection_ConnectTo(&nc, url.c_str()) == NATS_OK);
  BOOST_TEST_REQUIRE(natsConnection_JetStream(&js, nc, nullptr) == NATS_OK);
  natsMsg* msg = nullptr;
  BOOST_TEST_REQUIRE(natsMsg_Create(&msg, m.subject.c_str(), nullptr, m.payload.data(),
                                    static_cast<int>(m.payload.size())) == NATS_OK);
  for (const auto& h : m.headers) natsMsgHeader_Add(msg, h.name.c_str(), h.value.c_str());
  jsPubAck* pa = nullptr;
  natsStatus s = js_PublishMsg(&pa, js, msg, nullptr, nullptr);
  natsMsg_Destroy(msg);
  if (pa) jsPubAck_Destroy(pa);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  BOOST_TEST_REQUIRE(s == NATS_OK, natsStatus_GetText(s));
}

wire::Message marker(feed::Seq seq, std::uint32_t parts) {
  wire::Message m;
  m.subject = "custdb.prim.commit._";
  m.headers = {{"Nats-Msg-Id", "prim:" + std::to_string(seq) + ":commit"},
               {"Custdb-Seq", std::to_string(seq)},
               {"Custdb-Parts", std::to_string(parts)},
               {"Custdb-Committed-At", "1700000000000"}};
  return m;
}

wire::Message part(feed::Seq seq, std::uint32_t number, std::string payload) {
  wire::Message m;
  m.subject = "custdb.prim.customers.1";
  m.headers = {{"Nats-Msg-Id", "prim:" + std::to_string(seq) + ":" + std::to_string(number)},
               {"Custdb-Seq", std::to_string(seq)},
               {"Custdb-Part", std::to_string(number)}};
  m.payload = std::move(payload);
  return m;
}

// A primary (feed "prim", written before and after the enable), its replica seeded from a
// backup, a local server; ship/follow once helpers.
struct Setup {
  Mode mode;
  NatsServer server;
  TempDir dir;
  Database primary;
  std::optional<Database> replica;

  explicit Setup(Mode m) : mode(m), primary(open_db(m, dir / "primary")) {
    write_some(primary, 1, 3);
    must(feed::enable(primary, {"prim", 10000}));
    must(primary.backup(dir / "replica"));
    replica.emplace(open_db(m, dir / "replica"));
  }
  nats::ConnectOptions connect() const {
    nats::ConnectOptions c;
    c.url = server.url();
    c.stream = "FEED";
    c.connect_timeout = std::chrono::milliseconds(2000);
    c.reconnect_wait = std::chrono::milliseconds(50);
    return c;
  }
  void ship() {
    nats::ShipperOptions o;
    o.connect = connect();
    auto s = must(nats::Shipper::create(primary, o));
    must(s->ship_once());
  }
  Result<nats::FollowReport> follow() {
    nats::FollowerOptions o;
    o.connect = connect();
    o.feed_name = "prim";
    auto f = nats::Follower::create(*replica, o);
    if (!f) return tl::unexpected(f.error());
    return (*f)->follow_once();
  }
};

}  // namespace feed_attack_h
using namespace feed_attack_h;

BOOST_AUTO_TEST_SUITE(feed_attack)

// Only a copy of the primary becomes its replica: another database with records (never a
// feed) and a backup of a database whose own feed has another name are refused, and nothing
// of the primary's entries lands in them. (Before the fix both took the entries on top of
// their own records: `custdb verify` then found hundreds of problems.)
BOOST_DATA_TEST_CASE(replica_must_be_a_copy_of_the_primary, kModes, mode) {
  TempDir dir;
  Database primary = open_db(mode, dir / "primary");
  write_some(primary, 1, 4);
  must(feed::enable(primary, {"prim", 10000}));
  write_some(primary, 10, 3);
  auto entries = must(feed::read(primary, 0, 1000));
  BOOST_TEST_REQUIRE(!entries.empty());

  // Another database with its own records, same key, feed never enabled.
  // (Reopened: an encrypted handle that sealed something refuses a first apply for another
  // reason.)
  { Database w = open_db(mode, dir / "other"); write_some(w, 100, 2); }
  Database other = open_db(mode, dir / "other");
  const std::string before = export_all(other);
  auto r = feed::apply(other, "prim", entries);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST((r.error().code() == ErrorCode::kFailedPrecondition), r.error().to_string());
  BOOST_TEST(export_all(other) == before);
  BOOST_TEST((must(feed::status(other)).role != feed::Role::kReplica));

  // A database whose own feed is another one's.
  { Database w = open_db(mode, dir / "named"); must(feed::enable(w, {"other", 10000})); }
  Database named = open_db(mode, dir / "named");
  auto r2 = feed::apply(named, "prim", entries);
  BOOST_TEST_REQUIRE(!r2.has_value());
  BOOST_TEST((r2.error().code() == ErrorCode::kFailedPrecondition), r2.error().to_string());
  BOOST_TEST((must(feed::status(named)).role == feed::Role::kPrimary));

  // The control: a backup of the primary applies them, and a new empty database too (the
  // design allows it; it cannot tell that this primary was not empty at its enable).
  must(primary.backup(dir / "copy"));
  write_some(primary, 20, 2);
  Database copy = open_db(mode, dir / "copy");
  auto all = must(feed::read(primary, 0, 1000));
  auto ok = feed::apply(copy, "prim", all);
  BOOST_TEST_REQUIRE(ok.has_value(), (ok ? "" : ok.error().to_string()));
  BOOST_TEST(ok->last == last_of(primary));
  BOOST_TEST(export_all(copy) == export_all(primary));
  require_clean(copy);
}

// `feed disable` then `feed enable` on the primary: the changes made while the feed was off
// are in no entry, so a replica that applied the old feed must not carry on with the new one
// as if nothing were missing (it would silently lack them). The new feed's first seq leaves a
// gap after the old one's last: the replica is refused ("gap", re-seed from a backup), while
// a replica seeded after the new enable follows it.
BOOST_DATA_TEST_CASE(reenabled_feed_is_a_gap_for_old_replicas, kModes, mode) {
  TempDir dir;
  Database primary = open_db(mode, dir / "primary");
  must(feed::enable(primary, {"prim", 10000}));
  write_some(primary, 1, 2);
  must(primary.backup(dir / "replica"));
  Database replica = open_db(mode, dir / "replica");
  must(feed::apply(replica, "prim", must(feed::read(primary, 0, 1000))));
  BOOST_TEST_REQUIRE(export_all(replica) == export_all(primary));
  const feed::Seq old_last = last_of(primary);

  must(feed::disable(primary));
  write_some(primary, 10, 1);  // in no entry
  must(feed::enable(primary, {"prim", 10000}));
  write_some(primary, 20, 1);
  auto fresh = must(feed::read(primary, must(feed::status(primary)).first - 1, 1000));
  BOOST_TEST_REQUIRE(!fresh.empty());
  auto r = feed::apply(replica, "prim", fresh);
  const bool refused = !r.has_value();
  BOOST_TEST(refused, "the replica at " << old_last << " applied the re-enabled feed from "
                                        << fresh.front().seq << " and silently lacks a customer");
  if (refused)
    BOOST_TEST((r.error().code() == ErrorCode::kFailedPrecondition), r.error().to_string());
  BOOST_TEST(must(feed::status(replica)).last == old_last);

  // A replica seeded after the new enable follows it.
  must(primary.backup(dir / "late"));
  write_some(primary, 30, 1);
  Database late = open_db(mode, dir / "late");
  must(feed::apply(late, "prim",
                   must(feed::read(primary, must(feed::status(primary)).first - 1, 1000))));
  BOOST_TEST(export_all(late) == export_all(primary));
}

// Hostile messages on the feed's subjects for the next entry: a part with a garbage payload,
// headers that do not parse, a marker far ahead. The follower refuses each with an error and
// the replica is left exactly as it was (nothing applied, position unchanged).
BOOST_DATA_TEST_CASE(hostile_messages_refused_nothing_applied, kModes, mode) {
  if (nats_server_path().empty()) return;
  Setup t(mode);
  write_some(t.primary, 10, 3);
  t.ship();
  must(t.follow());
  BOOST_TEST_REQUIRE(export_all(*t.replica) == export_all(t.primary));
  const feed::Seq next = last_of(t.primary) + 1;
  const auto status_before = must(feed::status(*t.replica));
  const std::string export_before = export_all(*t.replica);

  // A marker far ahead: a gap, not applied.
  publish(t.server.url(), marker(next + 1000, 0));
  auto far = t.follow();
  BOOST_TEST_REQUIRE(!far.has_value());
  BOOST_TEST((far.error().code() == ErrorCode::kFailedPrecondition), far.error().to_string());

  // Garbage payload (and a 60 KB header) on the next entry's part, with its marker.
  wire::Message bad = part(next, 0, std::string("\x01garbage\xff\x00 payload", 19));
  bad.headers.push_back({"X-Big", std::string(60000, 'a')});
  publish(t.server.url(), bad);
  publish(t.server.url(), marker(next, 1));
  auto r = t.follow();
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST((r.error().code() == ErrorCode::kCorruption), r.error().to_string());
  auto after = must(feed::status(*t.replica));
  BOOST_TEST(after.last == status_before.last);
  BOOST_TEST(after.source == status_before.source);
  BOOST_TEST(export_all(*t.replica) == export_before);
  require_clean(*t.replica);
}

// A running follower (custdb feed follow without --once) on a stream that holds a later
// entry's marker but never the next entry (a forged marker far ahead, or entries the stream
// lost) reports the gap as follow_once does, instead of waiting forever while it buffers every
// later message. (Before the fix run() never returned.)
BOOST_AUTO_TEST_CASE(running_follower_reports_a_gap) {
  if (nats_server_path().empty()) return;
  Setup t(Mode::kPlain);
  write_some(t.primary, 10, 2);
  t.ship();
  must(t.follow());
  publish(t.server.url(), marker(last_of(t.primary) + 50, 0));
  nats::FollowerOptions o;
  o.connect = t.connect();
  o.gap_timeout = std::chrono::milliseconds(1500);
  o.feed_name = "prim";
  auto f = must(nats::Follower::create(*t.replica, o));
  std::atomic<bool> done{false};
  std::optional<Result<nats::FollowReport>> result;
  std::thread runner([&] {
    result.emplace(f->run());
    done = true;
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (!done && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const bool returned = done.load();
  if (!returned) f->stop();
  runner.join();
  BOOST_TEST_REQUIRE(returned, "run() still waiting after 15 s on a stream with a gap");
  BOOST_TEST_REQUIRE(!result->has_value());
  BOOST_TEST((result->error().code() == ErrorCode::kFailedPrecondition), result->error().to_string());
  BOOST_TEST(result->error().message().find("gap") != std::string::npos);
}

// A third party that publishes under the Nats-Msg-Id of an entry not shipped yet makes the
// server drop the real message as a duplicate, forever within the duplicate window. The
// shipper checks what the stream keeps under each id it was told is a duplicate and fails with
// kCorruption naming the message, instead of reporting the entry shipped. (Before the fix
// ship_once succeeded and the stream never held the real part.) A genuine duplicate (the same
// batch shipped again after a lost cursor) still passes.
BOOST_AUTO_TEST_CASE(shipper_detects_a_forged_msg_id) {
  if (nats_server_path().empty()) return;
  Setup t(Mode::kPlain);
  t.ship();
  const feed::Seq next = last_of(t.primary) + 1;
  publish(t.server.url(), part(next, 0, "forged"));
  write_some(t.primary, 60, 1);
  nats::ShipperOptions o;
  o.connect = t.connect();
  auto shipper = must(nats::Shipper::create(t.primary, o));
  auto r = shipper->ship_once();
  BOOST_TEST_REQUIRE(!r.has_value(), "shipped over a forged Nats-Msg-Id");
  BOOST_TEST((r.error().code() == ErrorCode::kCorruption), r.error().to_string());
  BOOST_TEST(r.error().message().find("prim:" + std::to_string(next) + ":0") != std::string::npos,
             r.error().message());
  // Its cursor did not move past the entry.
  for (const auto& c : must(feed::status(t.primary)).consumers)
    if (c.name == "ship:FEED") BOOST_TEST(c.acked < next);

  // Genuine duplicates: a second stream shipped twice from a lost cursor.
  Setup u(Mode::kEncrypted);
  write_some(u.primary, 70, 2);
  u.ship();
  must(feed::remove_consumer(u.primary, "ship:FEED"));
  must(feed::register_consumer(u.primary, "ship:FEED", 0));
  u.ship();
  must(u.follow());
  BOOST_TEST(export_all(*u.replica) == export_all(u.primary));
}

// DEFECT (not fixed in the follower): a commit marker published by a third party for the next
// seq before the shipper publishes that entry makes the follower apply the entry without any
// of its parts (missing parts are legitimate after an erasure purge, so it cannot tell),
// advance past it, and drop the real parts when they arrive as copies of an applied entry; the
// server also drops the shipper's real marker as a duplicate of the forged Nats-Msg-Id. The
// replica then lacks the entry's changes and follow_once reports success. Since
// shipper_detects_a_forged_msg_id's fix the shipper at least fails loudly (kCorruption) when
// the forged marker took its Nats-Msg-Id; a marker without that header is not even seen by
// the shipper. Markers are not authenticated (not even in encrypted mode), so a follower-side
// fix needs a wire change: e.g. a sealed marker payload binding (feed, seq, part_count, the
// part numbers present), or refusing an incomplete entry unless a later erasure marker
// explains it.
BOOST_AUTO_TEST_CASE(forged_marker_before_parts_loses_an_entry, *utf::expected_failures(1)) {
  if (nats_server_path().empty()) return;
  Setup t(Mode::kPlain);
  t.ship();
  must(t.follow());
  const feed::Seq next = last_of(t.primary) + 1;
  publish(t.server.url(), marker(next, 1));
  auto early = t.follow();  // the follower runs before the shipper's next batch
  write_some(t.primary, 50, 1);
  BOOST_TEST_REQUIRE(last_of(t.primary) >= next);
  nats::ShipperOptions o;
  o.connect = t.connect();
  auto shipped = must(nats::Shipper::create(t.primary, o))->ship_once();
  BOOST_TEST(!shipped.has_value(), "the shipper did not notice the forged marker");
  auto late = t.follow();
  const bool refused = !early.has_value() || !late.has_value();
  BOOST_TEST((refused || export_all(*t.replica) == export_all(t.primary)),
             "the replica silently lacks entry " << next << "'s changes");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace custdb::test
