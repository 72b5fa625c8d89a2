// The change feed over NATS JetStream (custdb/nats.h): the wire format and the assembler
// without a server; then a local nats-server (tests/nats_server.h): messages through the
// server (dedupe by Nats-Msg-Id, purge by subject), and the shipper and follower end to end —
// ship once + follow once give equal exports (both modes), an encrypted stream holds no
// plaintext personal strings, a restarted shipper's duplicates are dropped, the follower
// resumes, a server SIGKILLed and restarted mid-ship, erasure purges the stream and reaches
// the replica, lag is reported; and the CLI's feed ship/follow --once.
#include <nats/nats.h>

#include <atomic>
#include <sstream>
#include <thread>

#include "custdb/feed.h"
#include "custdb/io.h"
#include "custdb/nats.h"
#include "nats/wire.h"
#include "nats_server.h"
#include "program.h"
#include "test_util.h"

namespace custdb::test {
namespace {

namespace wire = nats::wire;
namespace utf = boost::unit_test;

feed::Entry synthetic_entry(feed::Seq seq, int parts, CustomerId first_customer = 100) {
  feed::Entry e;
  e.seq = seq;
  e.committed_at = Timestamp(std::chrono::milliseconds(1'700'000'000'000 + seq));
  e.part_count = static_cast<std::uint32_t>(parts);
  for (int i = 0; i < parts; ++i) {
    feed::Part p;
    p.table = i % 2 ? "transactions" : "customers";
    p.customer = i == parts - 1 && parts > 2 ? 0 : first_customer + i;
    p.number = static_cast<std::uint32_t>(i);
    p.payload = "payload " + std::to_string(seq) + "/" + std::to_string(i) + std::string(i, '\0');
    e.parts.push_back(p);
  }
  return e;
}

// Every message of an entry, parts first then its marker, decoded back.
std::vector<wire::Decoded> decoded_entry(const feed::Entry& e) {
  std::vector<wire::Decoded> out;
  for (const auto& p : e.parts)
    out.push_back(must(wire::decode("custdb", "db1", must(wire::encode_part("custdb", "db1", e.seq, p)))));
  out.push_back(must(wire::decode("custdb", "db1", must(wire::encode_marker("custdb", "db1", e)))));
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(nats_feed)

// ---- the wire format ---------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(wire_layout_and_round_trip) {
  feed::Entry e = synthetic_entry(42, 3);
  e.erased = {7, 9};
  auto part = must(wire::encode_part("custdb", "db1", 42, e.parts[1]));
  BOOST_TEST(part.subject == "custdb.db1.transactions.101");
  BOOST_TEST(*part.header("Nats-Msg-Id") == "db1:42:1");
  BOOST_TEST(*part.header("Custdb-Seq") == "42");
  BOOST_TEST(*part.header("Custdb-Part") == "1");
  BOOST_TEST(part.payload == e.parts[1].payload);
  auto no_customer = must(wire::encode_part("custdb", "db1", 42, e.parts[2]));
  BOOST_TEST(no_customer.subject == "custdb.db1.customers._");

  auto marker = must(wire::encode_marker("custdb", "db1", e));
  BOOST_TEST(marker.subject == "custdb.db1.commit._");
  BOOST_TEST(marker.payload.empty());
  BOOST_TEST(*marker.header("Nats-Msg-Id") == "db1:42:commit");
  BOOST_TEST(*marker.header("Custdb-Parts") == "3");
  BOOST_TEST(*marker.header("Custdb-Committed-At") == "1700000000042");
  BOOST_TEST(*marker.header("Custdb-Erased") == "7,9");
  BOOST_TEST(must(wire::encode_marker("custdb", "db1", synthetic_entry(1, 1))).header("Custdb-Erased") == nullptr);

  auto d = decoded_entry(e);
  BOOST_TEST_REQUIRE(d.size() == 4u);
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST((d[i].kind == wire::Decoded::Kind::kPart));
    BOOST_TEST(d[i].seq == 42u);
    BOOST_TEST((d[i].part == e.parts[i]));
  }
  BOOST_TEST((d[3].kind == wire::Decoded::Kind::kMarker));
  BOOST_TEST(d[3].part_count == 3u);
  BOOST_TEST((d[3].committed_at == e.committed_at));
  BOOST_TEST((d[3].erased == std::vector<CustomerId>{7, 9}));

  BOOST_TEST(wire::feed_filter("custdb", "db1") == "custdb.db1.>");
  BOOST_TEST(wire::customer_filter("custdb", "db1", 77) == "custdb.db1.*.77");
  BOOST_TEST(wire::stream_subject("a.b") == "a.b.>");
}

BOOST_AUTO_TEST_CASE(wire_rejects_damage) {
  const auto good_part = must(wire::encode_part("custdb", "db1", 5, synthetic_entry(5, 1).parts[0]));
  const auto good_marker = must(wire::encode_marker("custdb", "db1", synthetic_entry(5, 1)));
  auto expect_corrupt = [](const wire::Message& m, const char* why) {
    auto d = wire::decode("custdb", "db1", m);
    BOOST_TEST(!d.has_value(), why);
    if (!d) BOOST_TEST((d.error().code() == ErrorCode::kCorruption), why);
  };
  auto with_header = [](wire::Message m, std::string name, std::string value) {
    for (auto& h : m.headers)
      if (h.name == name) h.value = value;
    return m;
  };
  auto without_header = [](wire::Message m, std::string name) {
    std::erase_if(m.headers, [&](const wire::Header& h) { return h.name == name; });
    return m;
  };
  wire::Message m = good_part;
  m.subject = "custdb.db2.customers.100";
  expect_corrupt(m, "another feed");
  m.subject = "custdb.db1.customers";
  expect_corrupt(m, "too few tokens");
  m.subject = "custdb.db1.customers.100.x";
  expect_corrupt(m, "too many tokens");
  m.subject = "custdb.db1.customers.0100";
  expect_corrupt(m, "leading zero id");
  m.subject = "custdb.db1.customers.0";
  expect_corrupt(m, "id 0");
  m.subject = "custdb.db1.customers.-1";
  expect_corrupt(m, "negative id");
  expect_corrupt(without_header(good_part, "Custdb-Seq"), "no seq");
  expect_corrupt(with_header(good_part, "Custdb-Seq", "0"), "seq 0");
  expect_corrupt(with_header(good_part, "Custdb-Seq", "6"), "seq disagrees with msg id");
  expect_corrupt(with_header(good_part, "Custdb-Seq", "99999999999999999999999"), "seq overflow");
  expect_corrupt(with_header(good_part, "Custdb-Part", "x"), "bad part");
  expect_corrupt(with_header(good_part, "Custdb-Part", "4294967296"), "part overflow");
  expect_corrupt(with_header(good_part, "Nats-Msg-Id", "db1:5:1"), "msg id disagrees");
  expect_corrupt(without_header(good_part, "Custdb-Part"), "a part subject without Custdb-Part");
  expect_corrupt(without_header(good_marker, "Custdb-Parts"), "marker without parts");
  expect_corrupt(without_header(good_marker, "Custdb-Committed-At"), "marker without time");
  expect_corrupt(with_header(good_marker, "Custdb-Committed-At", "-5"), "negative time");
  m = good_marker;
  m.payload = "x";
  expect_corrupt(m, "marker with payload");
  m = good_marker;
  m.headers.push_back({"Custdb-Erased", "1,,2"});
  expect_corrupt(m, "bad erased list");
  m = good_marker;
  m.headers.push_back({"Custdb-Erased", "0"});
  expect_corrupt(m, "erased id 0");

  feed::Part bad;
  bad.table = "cust.omers";
  BOOST_TEST(!wire::encode_part("custdb", "db1", 1, bad).has_value());
  bad.table = "commit";  // would be a marker's subject
  BOOST_TEST(!wire::encode_part("custdb", "db1", 1, bad).has_value());
  BOOST_TEST(!wire::check_stream_name("a.b").has_value());
  BOOST_TEST(!wire::check_stream_name("").has_value());
  BOOST_TEST(wire::check_stream_name("CUSTDB_feed-1").has_value());
  BOOST_TEST(!wire::check_prefix("a..b").has_value());
  BOOST_TEST(!wire::check_prefix("a.*").has_value());
  BOOST_TEST(wire::check_prefix("org.custdb").has_value());
  BOOST_TEST(!wire::check_feed_name("DB").has_value());
  BOOST_TEST(wire::check_feed_name("db0123abcd-x_").has_value());
}

BOOST_AUTO_TEST_CASE(subject_cover) {
  BOOST_TEST(wire::subject_covers("custdb.>", "custdb.db1.>"));
  BOOST_TEST(wire::subject_covers(">", "custdb.db1.>"));
  BOOST_TEST(wire::subject_covers("custdb.db1.>", "custdb.db1.>"));
  BOOST_TEST(wire::subject_covers("custdb.*.>", "custdb.db1.>"));
  BOOST_TEST(!wire::subject_covers("custdb.db2.>", "custdb.db1.>"));
  BOOST_TEST(!wire::subject_covers("custdb.db1.*", "custdb.db1.>"));
  BOOST_TEST(!wire::subject_covers("custdb.db1.*.*", "custdb.db1.>"));
  BOOST_TEST(!wire::subject_covers("other.>", "custdb.db1.>"));
  BOOST_TEST(!wire::subject_covers("custdb", "custdb.db1.>"));
  BOOST_TEST(wire::subject_covers("custdb.*.*.*", "custdb.db1.customers.5"));
}

BOOST_AUTO_TEST_CASE(assembler_orders_dedupes_and_resumes) {
  // Entries 4..6 after applied 3, the stream starting after position 10. A batch's parts come
  // before its markers (as the shipper publishes them), with duplicates and an old entry.
  const feed::Entry e4 = synthetic_entry(4, 2), e5 = synthetic_entry(5, 3), e6 = synthetic_entry(6, 1);
  auto d4 = decoded_entry(e4), d5 = decoded_entry(e5), d6 = decoded_entry(e6);
  wire::Assembler a(3, 10);
  BOOST_TEST(a.resume_position() == 10u);
  std::uint64_t s = 10;
  for (auto& d : decoded_entry(synthetic_entry(3, 2))) a.add(++s, d);  // applied already
  BOOST_TEST(a.duplicates() == 3u);
  BOOST_TEST(a.resume_position() == s);
  const std::uint64_t first_part = s + 1;
  a.add(++s, d4[0]);
  a.add(++s, d4[1]);
  a.add(++s, d5[0]);
  a.add(++s, d4[1]);  // duplicate part
  a.add(++s, d5[2]);
  a.add(++s, d5[1]);  // out of order
  a.add(++s, d6[0]);
  BOOST_TEST(a.ready_entries() == 0u);
  BOOST_TEST(a.resume_position() == first_part - 1);
  a.add(++s, d5[3]);  // entry 5's marker before entry 4's: 5 waits for 4
  BOOST_TEST(a.ready_entries() == 0u);
  BOOST_TEST(a.blocked_at().value() == 4u);
  a.add(++s, d4[2]);
  BOOST_TEST(!a.blocked_at().has_value());
  BOOST_TEST(a.ready_entries() == 2u);
  a.add(++s, d4[2]);  // duplicate marker
  BOOST_TEST(a.duplicates() == 5u);

  auto taken = must(a.take(1, 1 << 20));
  BOOST_TEST_REQUIRE(taken.size() == 1u);
  BOOST_TEST((taken[0] == e4));
  // Entry 5's first message is still needed: the resume position stays before it.
  BOOST_TEST(a.resume_position() == first_part + 1);
  taken = must(a.take(10, 1 << 20));
  BOOST_TEST_REQUIRE(taken.size() == 1u);
  BOOST_TEST((taken[0] == e5));
  BOOST_TEST(a.taken() == 5u);
  // Entry 6 (its part received, no marker yet) keeps the position before its part.
  BOOST_TEST(a.resume_position() == first_part + 5);
  BOOST_TEST(a.buffered_messages() == 1u);
  a.add(++s, d6[1]);
  taken = must(a.take(10, 1 << 20));
  BOOST_TEST((taken.size() == 1u && taken[0] == e6));
  BOOST_TEST(a.resume_position() == s);
  BOOST_TEST(a.buffered_messages() == 0u);
  a.add(++s, d5[1]);  // a late copy of an applied entry
  BOOST_TEST(a.ready_entries() == 0u);
  BOOST_TEST(a.resume_position() == s);
}

BOOST_AUTO_TEST_CASE(assembler_limits_missing_parts_and_damage) {
  wire::Assembler a(0, 0);
  std::uint64_t s = 0;
  feed::Entry big = synthetic_entry(1, 2), small = synthetic_entry(2, 1), erased = synthetic_entry(3, 3);
  big.parts[0].payload.assign(1000, 'x');
  for (auto& d : decoded_entry(big)) a.add(++s, d);
  for (auto& d : decoded_entry(small)) a.add(++s, d);
  // Entry 3 lost part 1 to an erasure purge: it is handed out without it.
  auto d3 = decoded_entry(erased);
  a.add(++s, d3[0]);
  a.add(++s, d3[2]);
  a.add(++s, d3[3]);
  BOOST_TEST(a.ready_entries() == 3u);
  auto first = must(a.take(10, 100));  // the first entry whatever its size, then the limit
  BOOST_TEST(first.size() == 1u);
  auto rest = must(a.take(10, 1 << 20));
  BOOST_TEST_REQUIRE(rest.size() == 2u);
  BOOST_TEST(rest[1].parts.size() == 2u);
  BOOST_TEST(rest[1].part_count == 3u);
  BOOST_TEST(rest[1].parts[1].number == 2u);

  wire::Assembler b(0, 0);
  feed::Entry bad = synthetic_entry(1, 2);
  auto db = decoded_entry(bad);
  db[2].part_count = 1;  // part 1 of an entry of 1 part
  for (auto& d : db) b.add(++s, d);
  auto r = b.take(10, 1 << 20);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST((r.error().code() == ErrorCode::kCorruption));
}

// ---- through a server ----------------------------------------------------------------------

// (Not in an anonymous namespace: test-case lambdas capture it.)
struct RawNats {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  explicit RawNats(const std::string& url) {
    BOOST_TEST_REQUIRE(natsConnection_ConnectTo(&nc, url.c_str()) == NATS_OK);
    BOOST_TEST_REQUIRE(natsConnection_JetStream(&js, nc, nullptr) == NATS_OK);
  }
  ~RawNats() {
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
  }
  void add_stream(const std::string& name, const std::string& subject) {
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char* subjects[] = {subject.c_str()};
    cfg.Name = name.c_str();
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Duplicates = std::int64_t{600} * 1'000'000'000;
    jsStreamInfo* si = nullptr;
    BOOST_TEST_REQUIRE(js_AddStream(&si, js, &cfg, nullptr, nullptr) == NATS_OK);
    jsStreamInfo_Destroy(si);
  }
  // Publishes and returns (stream seq, duplicate).
  std::pair<std::uint64_t, bool> publish(const wire::Message& m) {
    natsMsg* msg = nullptr;
    BOOST_TEST_REQUIRE(natsMsg_Create(&msg, m.subject.c_str(), nullptr, m.payload.data(),
                                      static_cast<int>(m.payload.size())) == NATS_OK);
    for (const auto& h : m.headers) natsMsgHeader_Set(msg, h.name.c_str(), h.value.c_str());
    jsPubAck* pa = nullptr;
    natsStatus s = js_PublishMsg(&pa, js, msg, nullptr, nullptr);
    natsMsg_Destroy(msg);
    BOOST_TEST_REQUIRE(s == NATS_OK, natsStatus_GetText(s));
    std::pair<std::uint64_t, bool> r{pa->Sequence, pa->Duplicate};
    jsPubAck_Destroy(pa);
    return r;
  }
  // Every message the stream holds, with its stream seq.
  std::vector<std::pair<std::uint64_t, wire::Message>> all(const std::string& stream) {
    std::vector<std::pair<std::uint64_t, wire::Message>> out;
    jsStreamInfo* si = nullptr;
    BOOST_TEST_REQUIRE(js_GetStreamInfo(&si, js, stream.c_str(), nullptr, nullptr) == NATS_OK);
    const std::uint64_t first = si->State.FirstSeq, last = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    for (std::uint64_t seq = first; seq && seq <= last; ++seq) {
      natsMsg* msg = nullptr;
      if (js_GetMsg(&msg, js, stream.c_str(), seq, nullptr, nullptr) != NATS_OK) continue;
      wire::Message m;
      m.subject = natsMsg_GetSubject(msg);
      if (natsMsg_GetData(msg)) m.payload.assign(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
      const char** keys = nullptr;
      int n = 0;
      if (natsMsgHeader_Keys(msg, &keys, &n) == NATS_OK) {
        for (int i = 0; i < n; ++i) {
          const char* v = nullptr;
          natsMsgHeader_Get(msg, keys[i], &v);
          m.headers.push_back({keys[i], v ? v : ""});
        }
        free(keys);
      }
      natsMsg_Destroy(msg);
      out.emplace_back(seq, std::move(m));
    }
    return out;
  }
};

BOOST_AUTO_TEST_CASE(messages_through_server_dedupe_and_purge,
                     *utf::precondition(nats_server_available)) {
  NatsServer server;
  RawNats raw(server.url());
  raw.add_stream("S1", "custdb.>");
  std::vector<feed::Entry> entries;
  for (feed::Seq seq = 1; seq <= 5; ++seq) entries.push_back(synthetic_entry(seq, 3, 100));
  std::uint64_t marker3 = 0;
  for (int round = 0; round < 2; ++round)  // the second round: all duplicates
    for (const auto& e : entries) {
      for (const auto& p : e.parts) {
        auto [seq, dup] = raw.publish(must(wire::encode_part("custdb", "db1", e.seq, p)));
        BOOST_TEST(dup == (round == 1));
      }
      auto [seq, dup] = raw.publish(must(wire::encode_marker("custdb", "db1", e)));
      BOOST_TEST(dup == (round == 1));
      if (e.seq == 3) marker3 = seq;
    }
  BOOST_TEST(raw.all("S1").size() == 20u);
  // A SIGKILLed server keeps what it acknowledged.
  server.kill();
  server.restart();
  RawNats again(server.url());
  BOOST_TEST(again.all("S1").size() == 20u);

  // Customer 101's messages up to entry 3's marker go; its part of entries 4 and 5 stays.
  jsOptions jo;
  jsOptions_Init(&jo);
  const std::string subject = wire::customer_filter("custdb", "db1", 101);
  jo.Stream.Purge.Subject = subject.c_str();
  jo.Stream.Purge.Sequence = marker3;
  BOOST_TEST_REQUIRE(js_PurgeStream(again.js, "S1", &jo, nullptr) == NATS_OK);
  wire::Assembler a(0, 0);
  for (auto& [seq, m] : again.all("S1")) a.add(seq, must(wire::decode("custdb", "db1", m)));
  auto got = must(a.take(100, 1 << 30));
  BOOST_TEST_REQUIRE(got.size() == 5u);
  for (std::size_t i = 0; i < 5; ++i) {
    feed::Entry want = entries[i];
    if (want.seq <= 3) std::erase_if(want.parts, [](const feed::Part& p) { return p.customer == 101; });
    BOOST_TEST((got[i] == want), "entry " << want.seq);
  }
}


// ---- shipper and follower end to end --------------------------------------------------------

namespace nats_e2e {

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

// Distinct personal strings per customer: what must never be in an encrypted stream.
Customer personal_customer(int i) {
  Customer c = sample_customer(i);
  c.name = "Quorra Vantablack" + std::to_string(i);
  c.email = "qvb" + std::to_string(i) + "@feedtest.example";
  return c;
}

// A primary with the feed on and a replica seeded from its backup, in one temporary directory.
struct Pair {
  Mode mode;
  TempDir dir;
  fs::path primary_dir = dir / "primary";
  fs::path replica_dir = dir / "replica";
  std::optional<Database> handle;
  std::vector<CustomerId> ids;
  int next = 1;
  feed::Seq seed = 0;  // the primary's last seq in the replica's seed (the backup)

  Database& primary() { return *handle; }
  explicit Pair(Mode m) : mode(m), handle(open_db(m, dir / "primary")) {
    write(3);  // before the feed: travels in the backup
    feed::FeedOptions fo;
    fo.name = "prim";
    must(feed::enable(primary(), fo));
    must(primary().backup(replica_dir));
    seed = last();
  }
  // `customers` new customers with two transactions each, and an update of an older one.
  void write(int customers) {
    for (int i = 0; i < customers; ++i) {
      CustomerId id = must(primary().insert_customer(personal_customer(next++)));
      ids.push_back(id);
      must(primary().add_transaction(sample_txn(id, 1000 + i, "2024-03-01T10:00:00Z")));
      must(primary().add_transaction(sample_txn(id, -250, "2024-03-02T11:00:00Z")));
    }
    if (ids.size() > 1) {
      must(primary().write([&](WriteTxn& w) -> Status {
        auto r = w.update_customer(ids[ids.size() / 2], [](Customer& c) { c.tier = Tier::kGold; });
        if (!r) return tl::unexpected(r.error());
        return {};
      }));
    }
  }
  feed::Seq last() { return must(feed::status(primary())).last; }
  Database open_replica() { return open_db(mode, replica_dir); }
};

nats::ShipperOptions ship_options(const NatsServer& server, std::string stream = "FEED") {
  nats::ShipperOptions o;
  o.connect.url = server.url();
  o.connect.stream = std::move(stream);
  o.connect.connect_timeout = std::chrono::milliseconds(3000);
  o.connect.reconnect_wait = std::chrono::milliseconds(50);
  return o;
}

nats::FollowerOptions follow_options(const NatsServer& server, std::string stream = "FEED") {
  nats::FollowerOptions o;
  o.connect.url = server.url();
  o.connect.stream = std::move(stream);
  o.connect.connect_timeout = std::chrono::milliseconds(3000);
  o.connect.reconnect_wait = std::chrono::milliseconds(50);
  o.feed_name = "prim";
  return o;
}

nats::ShipReport ship_once(Database& db, const NatsServer& server, nats::ShipperOptions o = {}) {
  if (o.connect.stream.empty()) o = ship_options(server);
  auto shipper = must(nats::Shipper::create(db, o));
  return must(shipper->ship_once());
}

nats::FollowReport follow_once(Database& replica, const NatsServer& server,
                               nats::FollowerOptions o = {}) {
  if (o.connect.stream.empty()) o = follow_options(server);
  auto follower = must(nats::Follower::create(replica, o));
  return must(follower->follow_once());
}

bool holds(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace nats_e2e
using namespace nats_e2e;

BOOST_DATA_TEST_CASE(ship_once_follow_once_equal_exports, kModes, mode) {
  if (nats_server_path().empty()) {
    BOOST_TEST_MESSAGE("nats-server not found: skipped");
    return;
  }
  NatsServer server;
  Pair pair(mode);
  pair.write(12);
  auto sr = ship_once(pair.primary(), server);
  BOOST_TEST(sr.entries == pair.last());
  BOOST_TEST(sr.shipped == pair.last());
  BOOST_TEST(sr.lag() == 0u);
  {
    Database replica = pair.open_replica();
    auto fr = follow_once(replica, server);
    BOOST_TEST(fr.entries == pair.last() - pair.seed);
    BOOST_TEST(fr.applied == pair.last());
    BOOST_TEST(export_all(replica) == export_all(pair.primary()));
    require_clean(replica);
    auto st = must(feed::status(replica));
    BOOST_TEST((st.role == feed::Role::kReplica));
    BOOST_TEST(st.source.rfind("nats:FEED:", 0) == 0u, st.source);
  }
  // More writes; a new shipper and follower carry on where the stored cursors are.
  const feed::Seq before = pair.last();
  pair.write(5);
  sr = ship_once(pair.primary(), server);
  BOOST_TEST(sr.entries == pair.last() - before);
  Database replica = pair.open_replica();
  auto fr = follow_once(replica, server);
  BOOST_TEST(fr.entries == pair.last() - before);
  BOOST_TEST(export_all(replica) == export_all(pair.primary()));
  // Nothing new: both report nothing to do.
  BOOST_TEST(ship_once(pair.primary(), server).entries == 0u);
  BOOST_TEST(follow_once(replica, server).entries == 0u);

  // The stream's payloads: sealed in encrypted mode (no personal string), plain otherwise
  // (which shows the check can fail).
  RawNats raw(server.url());
  std::size_t with_plaintext = 0;
  auto messages = raw.all("FEED");
  BOOST_TEST(messages.size() > 0u);
  for (auto& [seq, m] : messages)
    for (int i = 1; i < pair.next; ++i)
      if (holds(m.payload, "Quorra Vantablack" + std::to_string(i)) ||
          holds(m.payload, "qvb" + std::to_string(i) + "@feedtest"))
        ++with_plaintext;
  if (mode == Mode::kEncrypted) BOOST_TEST(with_plaintext == 0u);
  else BOOST_TEST(with_plaintext > 0u);
}

BOOST_AUTO_TEST_CASE(duplicates_dropped_after_shipper_restart,
                     *utf::precondition(nats_server_available)) {
  NatsServer server;
  Pair pair(Mode::kPlain);
  pair.write(6);
  ship_once(pair.primary(), server);
  RawNats raw(server.url());
  const std::size_t stored = raw.all("FEED").size();
  // A shipper killed after the server stored a batch but before its cursor moved: the same
  // entries are published again. Simulated by dropping the cursor (the next one starts at
  // the oldest entry kept).
  must(feed::remove_consumer(pair.primary(), "ship:FEED"));
  auto again = ship_once(pair.primary(), server);
  BOOST_TEST(again.entries == pair.last());
  BOOST_TEST(raw.all("FEED").size() == stored);  // every copy dropped by Nats-Msg-Id
  Database replica = pair.open_replica();
  follow_once(replica, server);
  BOOST_TEST(export_all(replica) == export_all(pair.primary()));
}

// A server killed with SIGKILL may come back without the tail of what it had acknowledged
// (its file store writes after the ack): simulated by deleting the last commit markers from
// the stream. The next shipper finds the stream's last marker below its cursor, ships again
// from there, and a replica following afterwards gets every entry (without the rewind it
// reports a gap).
BOOST_AUTO_TEST_CASE(shipper_rewinds_to_what_the_stream_holds,
                     *utf::precondition(nats_server_available)) {
  NatsServer server;
  Pair pair(Mode::kPlain);
  pair.write(6);
  ship_once(pair.primary(), server);
  RawNats raw(server.url());
  std::vector<std::uint64_t> markers;
  for (const auto& [stream_seq, m] : raw.all("FEED"))
    if (m.subject.ends_with(".commit._")) markers.push_back(stream_seq);
  BOOST_TEST_REQUIRE(markers.size() >= 3u);
  for (std::size_t i = markers.size() - 2; i < markers.size(); ++i) {
    jsErrCode ec = static_cast<jsErrCode>(0);
    BOOST_TEST_REQUIRE(js_DeleteMsg(raw.js, "FEED", markers[i], nullptr, &ec) == NATS_OK);
  }
  server.restart();  // as after the crash: its duplicate window holds only what it stored
  auto again = ship_once(pair.primary(), server);
  BOOST_TEST(again.shipped == pair.last());
  Database replica = pair.open_replica();
  follow_once(replica, server);
  BOOST_TEST(export_all(replica) == export_all(pair.primary()));
  BOOST_TEST(must(feed::status(replica)).last == pair.last());
}

BOOST_AUTO_TEST_CASE(follower_resumes_in_bounded_transactions,
                     *utf::precondition(nats_server_available)) {
  NatsServer server;
  Pair pair(Mode::kPlain);
  pair.write(10);
  ship_once(pair.primary(), server);
  auto fo = follow_options(server);
  fo.max_entries_per_txn = 4;
  {
    Database replica = pair.open_replica();
    auto r = follow_once(replica, server, fo);
    BOOST_TEST(r.entries == pair.last() - pair.seed);
    BOOST_TEST(r.transactions == (pair.last() - pair.seed + 3) / 4);
  }
  const feed::Seq before = pair.last();
  pair.write(3);
  ship_once(pair.primary(), server);
  Database replica = pair.open_replica();
  auto r = follow_once(replica, server, fo);
  BOOST_TEST(r.entries == pair.last() - before);  // resumed: nothing applied twice
  BOOST_TEST(r.applied == pair.last());
  BOOST_TEST(export_all(replica) == export_all(pair.primary()));
}

BOOST_AUTO_TEST_CASE(server_killed_and_restarted_mid_ship,
                     *utf::precondition(nats_server_available)) {
  NatsServer server;
  Pair pair(Mode::kPlain);
  auto so = ship_options(server);
  so.max_entries_per_batch = 5;
  auto shipper = must(nats::Shipper::create(pair.primary(), so));
  std::atomic<std::uint64_t> batches{0};
  Result<nats::ShipReport> result = nats::ShipReport{};
  std::thread runner([&] { result = shipper->run([&](const nats::ShipReport&) { ++batches; }); });
  pair.write(10);
  for (int i = 0; i < 200 && batches.load() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  server.kill();
  pair.write(10);  // committed while the server is down
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  server.start();
  pair.write(5);
  const feed::Seq last = pair.last();
  feed::Seq acked = 0;
  for (int i = 0; i < 1000 && acked < last; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (const auto& c : must(feed::status(pair.primary())).consumers)
      if (c.name == "ship:FEED") acked = c.acked;
  }
  shipper->stop();
  runner.join();
  BOOST_TEST_REQUIRE(result.has_value(), (result ? "" : result.error().to_string()));
  BOOST_TEST(acked == last);
  BOOST_TEST(result->shipped == last);
  BOOST_TEST(result->lag() == 0u);
  Database replica = pair.open_replica();
  auto r = follow_once(replica, server);
  BOOST_TEST(r.applied == last);
  BOOST_TEST(export_all(replica) == export_all(pair.primary()));
}

BOOST_AUTO_TEST_CASE(shipper_and_follower_run_through_a_server_restart,
                     *utf::precondition(nats_server_available)) {
  // Both long-running forms at once, the way `custdb feed ship` and `custdb feed follow` run:
  // writes go on, the server is SIGKILLed and restarted, and the replica catches up.
  NatsServer server;
  Pair pair(Mode::kPlain);
  auto so = ship_options(server);
  so.max_entries_per_batch = 4;
  auto shipper = must(nats::Shipper::create(pair.primary(), so));
  Database replica = pair.open_replica();
  auto fo = follow_options(server);
  fo.max_entries_per_txn = 3;
  auto follower = must(nats::Follower::create(replica, fo));
  Result<nats::ShipReport> shipped = nats::ShipReport{};
  Result<nats::FollowReport> followed = nats::FollowReport{};
  std::thread ship_thread([&] { shipped = shipper->run(); });
  std::thread follow_thread([&] { followed = follower->run(); });
  auto applied = [&] { return must(feed::status(replica)).last; };
  auto wait_for = [&](feed::Seq seq) {
    for (int i = 0; i < 1500 && applied() < seq; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return applied();
  };
  pair.write(6);
  BOOST_TEST(wait_for(pair.last()) == pair.last());
  server.kill();
  pair.write(4);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  server.start();
  pair.write(3);
  BOOST_TEST(wait_for(pair.last()) == pair.last());
  shipper->stop();
  follower->stop();
  ship_thread.join();
  follow_thread.join();
  BOOST_TEST_REQUIRE(shipped.has_value(), (shipped ? "" : shipped.error().to_string()));
  BOOST_TEST_REQUIRE(followed.has_value(), (followed ? "" : followed.error().to_string()));
  BOOST_TEST(shipped->lag() == 0u);
  BOOST_TEST(followed->applied == pair.last());
  BOOST_TEST(followed->entries == pair.last() - pair.seed);  // none twice, none skipped
  BOOST_TEST(export_all(replica) == export_all(pair.primary()));
  require_clean(replica);
}

BOOST_AUTO_TEST_CASE(keep_ledger_erasure_keeps_later_changes,
                     *utf::precondition(nats_server_available)) {
  // A keep-ledger erasure keeps the customer: a transaction booked after it, shipped in the
  // same ship_once, must survive the purge (which takes only what came before the erasure).
  NatsServer server;
  Pair pair(Mode::kPlain);
  pair.write(4);
  const CustomerId victim = pair.ids[4];
  ship_once(pair.primary(), server);
  {
    Database replica = pair.open_replica();
    follow_once(replica, server);
  }
  must(pair.primary().erase_customer(victim, EraseMode::kKeepLedger));
  must(pair.primary().add_transaction(sample_txn(victim, 4242, "2024-05-01T09:00:00Z")));
  pair.write(1);
  auto sr = ship_once(pair.primary(), server);
  BOOST_TEST(sr.purges == 1u);
  RawNats raw(server.url());
  std::size_t erasure_marker = 0, later = 0;
  for (auto& [seq, m] : raw.all("FEED")) {
    if (m.header("Custdb-Erased")) erasure_marker = seq;
    if (m.subject == "custdb.prim.transactions." + std::to_string(victim)) later = seq;
  }
  BOOST_TEST(erasure_marker > 0u);
  BOOST_TEST(later > erasure_marker);  // the later transaction's part is still there
  Database replica = pair.open_replica();
  auto r = follow_once(replica, server);
  BOOST_TEST(r.applied == pair.last());
  BOOST_TEST(export_all(replica) == export_all(pair.primary()));
  require_clean(replica);
}

BOOST_AUTO_TEST_CASE(follower_reports_a_gap, *utf::precondition(nats_server_available)) {
  // The replica's seed is older than what the stream holds (the primary truncated its feed
  // before the first ship): follow_once must say so, not apply later entries.
  NatsServer server;
  Pair pair(Mode::kPlain);
  pair.write(3);
  feed::FeedOptions fo;
  fo.keep_last = 1;
  must(feed::enable(pair.primary(), fo));  // already on: updates keep_last
  must(feed::register_consumer(pair.primary(), "everything-read"));
  BOOST_TEST(must(feed::truncate(pair.primary())) > 0u);
  ship_once(pair.primary(), server);
  Database replica = pair.open_replica();
  auto follower = must(nats::Follower::create(replica, follow_options(server)));
  auto r = follower->follow_once();
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST((r.error().code() == ErrorCode::kFailedPrecondition));
  BOOST_TEST(contains(r.error().message(), "gap"), r.error().message());
  BOOST_TEST(must(feed::status(replica)).last == pair.seed);  // nothing applied
}

BOOST_DATA_TEST_CASE(erasure_purges_stream_and_reaches_replicas, kModes, mode) {
  if (nats_server_path().empty()) {
    BOOST_TEST_MESSAGE("nats-server not found: skipped");
    return;
  }
  NatsServer server;
  Pair pair(mode);
  // A second replica (a copy of the first's seed) follows only after the purge: it never sees
  // the victim's parts (gone from the stream) and must end equal all the same (kFull).
  fs::copy(pair.replica_dir, pair.dir / "late", fs::copy_options::recursive);
  pair.write(6);
  const CustomerId victim = pair.ids[4];
  const int victim_n = 5;  // personal_customer(5) went to ids[4]
  must(pair.primary().add_transaction(sample_txn(victim, 777, "2024-04-01T09:00:00Z")));
  pair.write(2);
  ship_once(pair.primary(), server);
  {
    Database replica = pair.open_replica();
    follow_once(replica, server);
    BOOST_TEST(must(replica.get_customer(victim)).has_value());
  }
  RawNats raw(server.url());
  auto victim_messages = [&] {
    std::size_t n = 0;
    for (auto& [seq, m] : raw.all("FEED"))
      if (m.subject.ends_with("." + std::to_string(victim))) ++n;
    return n;
  };
  BOOST_TEST(victim_messages() > 0u);

  must(pair.primary().erase_customer(victim, EraseMode::kFull));
  pair.write(1);
  auto sr = ship_once(pair.primary(), server);
  BOOST_TEST(sr.purges == 1u);
  BOOST_TEST(victim_messages() == 0u);
  for (auto& [seq, m] : raw.all("FEED")) {
    BOOST_TEST(!holds(m.payload, "Quorra Vantablack" + std::to_string(victim_n)), "stream seq " << seq);
    BOOST_TEST(!holds(m.payload, "qvb" + std::to_string(victim_n) + "@"), "stream seq " << seq);
  }
  for (const fs::path& dir : {pair.replica_dir, pair.dir / "late"}) {
    Database replica = open_db(mode, dir);
    auto r = follow_once(replica, server);
    BOOST_TEST(r.applied == pair.last());
    BOOST_TEST(!must(replica.get_customer(victim)).has_value());
    BOOST_TEST(export_all(replica) == export_all(pair.primary()), dir.filename());
  }
  if (mode == Mode::kPlain) {  // no byte of the replica's file holds the erased strings
    std::ifstream f(pair.replica_dir / "data.mdb", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    BOOST_TEST(!holds(bytes, "Quorra Vantablack" + std::to_string(victim_n)));
    BOOST_TEST(!holds(bytes, "qvb" + std::to_string(victim_n) + "@"));
    BOOST_TEST(holds(bytes, "Quorra Vantablack" + std::to_string(victim_n + 1)));  // others stay
  }
}

BOOST_AUTO_TEST_CASE(lag_reported, *utf::precondition(nats_server_available)) {
  NatsServer server;
  Pair pair(Mode::kPlain);
  pair.write(4);
  const feed::Seq last = pair.last();
  BOOST_TEST_REQUIRE(last >= 8u);
  auto so = ship_options(server);
  so.max_entries_per_batch = 3;
  auto shipper = must(nats::Shipper::create(pair.primary(), so));
  std::vector<nats::ShipReport> seen;
  auto r = must(shipper->run([&](const nats::ShipReport& r) {
    seen.push_back(r);
    if (r.lag() == 0) shipper->stop();
  }));
  BOOST_TEST_REQUIRE(seen.size() == (last + 2) / 3);
  for (std::size_t i = 0; i < seen.size(); ++i) {
    BOOST_TEST(seen[i].shipped == std::min<feed::Seq>(last, 3 * (i + 1)));
    BOOST_TEST(seen[i].last == last);
    BOOST_TEST(seen[i].lag() == last - seen[i].shipped);
  }
  BOOST_TEST(r.lag() == 0u);
  for (const auto& c : must(feed::status(pair.primary())).consumers)
    if (c.name == "ship:FEED") BOOST_TEST(c.acked == last);
}

BOOST_AUTO_TEST_CASE(cli_ship_and_follow_once, *utf::precondition(nats_server_available)) {
  NatsServer server;
  Pair pair(Mode::kPlain);
  pair.write(4);
  const feed::Seq last = pair.last();
  pair.handle.reset();  // the CLI opens it
  const std::string primary = pair.primary_dir.string(), replica = pair.replica_dir.string();
  auto r = run_cli({"--db", primary, "feed", "enable"});
  BOOST_TEST_REQUIRE(r.code == 0, r);
  BOOST_TEST(contains(r.out, "feed 'prim' enabled"), r);
  r = run_cli({"--db", primary, "feed", "ship", "--nats", server.url(), "--stream", "CLI", "--once"});
  BOOST_TEST_REQUIRE(r.code == 0, r);
  BOOST_TEST(contains(r.out, "shipped " + std::to_string(last) + " entries"), r);
  BOOST_TEST(contains(r.out, "lag 0"), r);
  r = run_cli({"--db", replica, "feed", "follow", "--nats", server.url(), "--stream", "CLI",
               "--feed", "prim", "--once", "--json"});
  BOOST_TEST_REQUIRE(r.code == 0, r);
  BOOST_TEST(contains(r.out, "\"applied\": " + std::to_string(last)), r);
  r = run_cli({"--db", replica, "feed", "status", "--json"});
  BOOST_TEST_REQUIRE(r.code == 0, r);
  BOOST_TEST(contains(r.out, "\"role\": \"replica\""), r);
  r = run_cli({"--db", primary, "feed", "consumers"});
  BOOST_TEST(contains(r.out, "ship:CLI"), r);
  r = run_cli({"--db", primary, "feed", "show", "--limit", "2"});
  BOOST_TEST_REQUIRE(r.code == 0, r);
  BOOST_TEST(contains(r.out, "entry 1"), r);
  // No server: --once gives up with an I/O error naming it.
  r = run_cli({"--db", primary, "feed", "ship", "--nats", "nats://127.0.0.1:1", "--stream", "CLI",
               "--once", "--timeout-ms", "300"});
  BOOST_TEST(r.code == 1, r);
  BOOST_TEST(contains(r.err, "nats://127.0.0.1:1"), r);
  Database p = open_db(Mode::kPlain, pair.primary_dir), q = open_db(Mode::kPlain, pair.replica_dir);
  BOOST_TEST(export_all(q) == export_all(p));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace custdb::test
