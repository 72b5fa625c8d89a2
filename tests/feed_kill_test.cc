// The "Must show" integration test for the change feed over NATS JetStream: a primary
// under random writes (bin/custdb_feed_writer, tests/feed_writer.cc), `custdb feed ship` and
// `custdb feed follow` running as processes, and a local nats-server, each of them SIGKILLed at
// random moments and restarted (at least 20 kills in all). At the end `feed ship --once` and
// `feed follow --once` catch up, and then:
// - the replica's applied seq equals the primary's last (nothing lost);
// - the primary's feed holds every seq from its first to its last (no gap where entries are);
// - the replica's export of every table (CSV, revealed) equals the primary's, and so do the
//   audit trails (recorded raw: a duplicated or missing entry shows) and the erasure journals
//   (an erasure is replayed on the replica, so one applied twice would journal twice);
// - both pass the consistency check.
// Seeds are printed (BOOST_TEST_MESSAGE) so a failing run can be repeated.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "custdb/feed.h"
#include "custdb/io.h"
#include "custdb/privacy.h"
#include "program.h"
#include "test_util.h"

namespace custdb::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A TCP port nobody listens on now (bound to 0 and released: a race with other programs is
// possible in principle; the server's start fails loudly then).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool port_open(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

std::string find_nats_server() {
  for (const char* p : {"/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"})
    if (fs::exists(p)) return p;
  return {};
}

// A local `nats-server -js` on 127.0.0.1, its JetStream store in a directory that outlives
// kills (so a restarted server has the stream again).
class LocalNats {
 public:
  LocalNats(fs::path store) : store_(std::move(store)), port_(free_port()) {}
  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
  void start() {
    const std::string bin = find_nats_server();
    BOOST_TEST_REQUIRE(!bin.empty(), "nats-server is not installed (Debian package nats-server)");
    proc_ = std::make_unique<Program>(std::vector<std::string>{bin, "-js", "-a", "127.0.0.1", "-p",
                                                               std::to_string(port_), "-sd",
                                                               store_.string()},
                                      RunOptions{.merge_output = true, .timeout_seconds = 600});
    const auto deadline = Clock::now() + 10s;
    while (!port_open(port_)) {
      if (!proc_->running()) BOOST_FAIL("nats-server ended at start:\n" << proc_->wait());
      BOOST_TEST_REQUIRE((Clock::now() < deadline), "nats-server did not listen within 10 s");
      std::this_thread::sleep_for(20ms);
    }
  }
  Program& proc() { return *proc_; }
  void kill9() {
    ::kill(proc_->pid(), SIGKILL);
    proc_->wait();
  }

 private:
  fs::path store_;
  int port_;
  std::unique_ptr<Program> proc_;
};

// One of the killed programs: its command line, restarted the same way after every kill.
struct Managed {
  std::string name;
  std::vector<std::string> argv;
  std::unique_ptr<Program> proc;
  int kills = 0;
  int starts = 0;
  void start() {
    proc = std::make_unique<Program>(argv, RunOptions{.timeout_seconds = 600});
    ++starts;
  }
  // Kills the program; fails the test when it had ended by itself (a crash or an error exit:
  // the shipper and the follower reconnect forever, the writer writes forever).
  void kill9() {
    // (Not proc->wait() inside the assertion: Boost.Test builds the message first.)
    if (!proc->running()) BOOST_FAIL(name << " ended by itself:\n" << proc->wait());
    ::kill(proc->pid(), SIGKILL);
    const ProgramResult r = proc->wait();
    BOOST_TEST_REQUIRE(r.code == 128 + SIGKILL, name << " was not ended by the SIGKILL:\n" << r);
    ++kills;
  }
};

std::string export_all(const Database& db) {
  std::ostringstream out;
  for (io::Table t : {io::Table::kCustomers, io::Table::kRelationships, io::Table::kTransactions,
                      io::Table::kHoldings}) {
    out << "== " << io::to_string(t) << "\n";
    must(io::export_table(db, t, out, io::Format::kCsv, {.reveal = true}));
  }
  return out.str();
}

std::string audit_text(const Database& db) {
  auto view = must(db.begin_read());
  std::ostringstream out;
  for (const AuditEntry& e : must(view.audit_log()))
  {
    out << e.seq << " " << format_timestamp(e.at) << " " << e.pid << " " << e.event.command << " "
        << e.event.count << " " << e.event.detail << " [";
    for (CustomerId id : e.event.subjects) out << id << ",";
    out << "]\n";
  }
  return out.str();
}

std::string journal_text(const Database& db) {
  auto view = must(db.begin_read());
  std::ostringstream out;
  for (const ErasureEntry& e : must(view.erasure_journal()))
    out << e.seq << " " << e.customer << " " << static_cast<int>(e.mode) << " "
        << format_timestamp(e.at) << "\n";
  return out.str();
}

BOOST_AUTO_TEST_SUITE(feed_kill)

BOOST_DATA_TEST_CASE(kill_writer_shipper_follower_and_server, kModes, mode) {
  const std::uint32_t seed = std::random_device{}();
  BOOST_TEST_MESSAGE("feed_kill " << mode << " seed " << seed);
  std::mt19937 r(seed);
  TempDir tmp;
  const fs::path primary = tmp / "primary", replica = tmp / "replica", key = tmp / "key";
  write_bytes(key, std::string(32, '\x07'));  // test_key(): 32 bytes of 7
  std::vector<std::string> key_args;
  if (mode == Mode::kEncrypted) key_args = {"--key-file", key.string()};

  // The primary with the feed on and some customers, then the replica: a backup of it.
  {
    Database db = open_db(mode, primary);
    must(feed::enable(db, {.name = "prim"}));
    for (int i = 0; i < 20; ++i) must(db.insert_customer(sample_customer(i)));
    must(db.backup(replica));
  }

  LocalNats nats(tmp / "js");
  nats.start();
  const std::string bin_dir = cli_path().parent_path().string();
  auto with_key = [&](std::vector<std::string> v) {
    v.insert(v.end(), key_args.begin(), key_args.end());
    return v;
  };
  Managed writer{"writer", with_key({bin_dir + "/custdb_feed_writer", primary.string(),
                                     std::to_string(seed), "--erase"})};
  Managed shipper{"shipper", cli_argv(with_key({"feed", "ship", "--nats", nats.url(), "--stream",
                                                "KILL", "--db", primary.string()}))};
  Managed follower{"follower",
                   cli_argv(with_key({"feed", "follow", "--nats", nats.url(), "--stream", "KILL",
                                      "--feed", "prim", "--db", replica.string()}))};
  writer.start();
  shipper.start();
  follower.start();

  // 24 kills: each of the four 6 times, in random order, 150..650 ms apart, each restarted
  // after 0..300 ms. The writer's seed changes per start so it does not redo the same writes.
  std::vector<int> victims;
  for (int v = 0; v < 4; ++v) victims.insert(victims.end(), 6, v);
  std::shuffle(victims.begin(), victims.end(), r);
  int server_kills = 0;
  const auto started = Clock::now();
  for (int v : victims) {
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + r() % 500));
    if (v == 3) {
      if (!nats.proc().running()) BOOST_FAIL("nats-server ended by itself:\n" << nats.proc().wait());
      nats.kill9();
      ++server_kills;
      std::this_thread::sleep_for(std::chrono::milliseconds(r() % 300));
      nats.start();
      continue;
    }
    Managed& m = v == 0 ? writer : v == 1 ? shipper : follower;
    m.kill9();
    std::this_thread::sleep_for(std::chrono::milliseconds(r() % 300));
    if (v == 0) m.argv[2] = std::to_string(seed + static_cast<std::uint32_t>(m.starts));
    m.start();
  }
  // Let everyone run a moment after the last restart, then stop the writer for good (its
  // last transaction either committed or not: LMDB), and the shipper and the follower.
  std::this_thread::sleep_for(500ms);
  writer.kill9();
  shipper.kill9();
  follower.kill9();
  const int kills = writer.kills + shipper.kills + follower.kills + server_kills;
  BOOST_TEST_MESSAGE("kills: writer " << writer.kills << ", shipper " << shipper.kills
                     << ", follower " << follower.kills << ", nats-server " << server_kills
                     << " in " << std::chrono::duration<double>(Clock::now() - started).count()
                     << " s");
  BOOST_TEST(kills >= 20);

  // Catch up: ship what committed, then apply what the stream holds.
  const ProgramResult ship = run_cli(with_key({"feed", "ship", "--once", "--nats", nats.url(),
                                               "--stream", "KILL", "--db", primary.string()}),
                                     {.timeout_seconds = 120});
  BOOST_TEST_REQUIRE(ship.code == 0, ship);
  const ProgramResult follow = run_cli(with_key({"feed", "follow", "--once", "--nats", nats.url(),
                                                 "--stream", "KILL", "--feed", "prim", "--db",
                                                 replica.string()}),
                                       {.timeout_seconds = 120});
  BOOST_TEST_REQUIRE(follow.code == 0, follow);
  BOOST_TEST_MESSAGE("ship --once: " << ship.out << "follow --once: " << follow.out);
  nats.kill9();

  Database p = open_db(mode, primary);
  Database q = open_db(mode, replica);
  const feed::FeedStatus ps = must(feed::status(p));
  const feed::FeedStatus qs = must(feed::status(q));
  BOOST_TEST_MESSAGE("primary last " << ps.last << " (first " << ps.first << ", "
                     << ps.entries << " kept); replica last " << qs.last);
  BOOST_TEST((ps.role == feed::Role::kPrimary));
  BOOST_TEST((qs.role == feed::Role::kReplica));
  BOOST_TEST(qs.name == "prim");
  // The writer did write through the kills (each start commits within milliseconds).
  BOOST_TEST(ps.last > 100u);
  BOOST_TEST(qs.last == ps.last);

  // The primary's kept entries are contiguous: seq first..last, each once.
  feed::Seq expect = ps.first;
  for (feed::Seq after = ps.first - 1;;) {
    const auto entries = must(feed::read(p, after, 500));
    if (entries.empty()) break;
    for (const feed::Entry& e : entries) {
      BOOST_TEST_REQUIRE(e.seq == expect);
      ++expect;
    }
    after = entries.back().seq;
  }
  BOOST_TEST(expect == ps.last + 1);

  BOOST_TEST(export_all(q) == export_all(p));
  BOOST_TEST(audit_text(q) == audit_text(p));
  BOOST_TEST(journal_text(q) == journal_text(p));
  BOOST_TEST_MESSAGE("check: the primary");
  require_clean(p);
  BOOST_TEST_MESSAGE("check: the replica");
  require_clean(q);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace custdb::test
