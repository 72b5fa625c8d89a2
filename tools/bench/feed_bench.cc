// Suite "feed" (issue #19): what the change feed costs and how fast it travels over NATS
// JetStream. Plaintext, the synthetic base (fixed seed), medians of --runs runs.
//
//  * Overhead: the same work on a database with the feed off and on, durable (SyncMode::kFull,
//    fsync at every commit) and relaxed (SyncMode::kNone):
//      - load: --customers customers with --txns transactions each, 1,000 customers a commit
//        (rows/s: customers + transactions);
//      - landing one transaction a commit (kSingleLandings durable, 5x that relaxed), and
//        kBatchLandings transactions 1,000 a commit (transactions/s).
//    Off and on run alternately within a run on fresh databases, so the shared machine's noise
//    falls on both.
//  * Shipping and following: a primary with the feed on, a replica seeded from its backup,
//    then kShipEntries entries (one landing each, every tenth also updating the customer) are
//    shipped with Shipper::ship_once to a local nats-server (started here: `nats-server -js`
//    on 127.0.0.1, a free port, a temporary store) and applied with Follower::follow_once.
//    entries/s, messages/s (parts + commit markers) and changes/s (the lines feed::describe
//    gives: one per key/value write or bit change).
//  * End-to-end lag at a steady write rate: kLagRate landings a second (durable, one a commit)
//    for kLagSeconds while a Shipper::run and a Follower::run run in threads of this process;
//    a poller reads the replica's applied seq every millisecond. Lag of an entry = when the
//    replica had it applied - when its commit returned on the primary. Median, p99, max.
//
// Checks (exit 1 on a difference): after following, the replica's applied seq is the primary's
// last and both export the same transactions.
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench.h"
#include "custdb/database.h"
#include "custdb/feed.h"
#include "custdb/io.h"
#include "custdb/nats.h"
#include "synthetic.h"

extern char** environ;

namespace custdb::bench {
namespace {

constexpr int kSingleLandings = 500;    // durable; relaxed lands 5x as many
constexpr int kBatchLandings = 10'000;  // 1,000 a commit
constexpr int kShipEntries = 5'000;
constexpr int kLagRate = 50;            // landings a second (durable: this machine fsyncs ~85/s)
constexpr int kLagSeconds = 10;

// ---- a local nats-server ----

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
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

class NatsServer {
 public:
  explicit NatsServer(const fs::path& store) : port_(free_port()) {
    std::string bin;
    for (const char* p : {"/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"})
      if (fs::exists(p)) bin = p;
    if (bin.empty()) {
      std::fprintf(stderr, "nats-server not found (Debian package nats-server)\n");
      std::exit(1);
    }
    std::vector<std::string> args{bin, "-js", "-a", "127.0.0.1", "-p", std::to_string(port_), "-sd",
                                  store.string()};
    std::vector<char*> argv;
    for (auto& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&pid_, bin.c_str(), &fa, nullptr, argv.data(), environ) != 0) {
      std::fprintf(stderr, "cannot start %s\n", bin.c_str());
      std::exit(1);
    }
    posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 500 && !port_open(port_); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ~NatsServer() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }

 private:
  int port_;
  pid_t pid_ = -1;
};

// ---- the work ----

Database open_fresh(const fs::path& path, SyncMode sync, bool feed_on) {
  fs::remove_all(path);
  Options o;
  o.sync = sync;
  auto db = Database::open(path, o);
  if (!db) die("open", db.error());
  if (feed_on)
    if (auto s = feed::enable(*db, {.name = "bench"}); !s) die("feed enable", s.error());
  return std::move(*db);
}

// Rows a second.
double load(Database& db, const Args& a) {
  synthetic::Generator gen;
  std::uint64_t rows = 0;
  auto t0 = Clock::now();
  constexpr std::uint64_t kBatch = 1000;
  for (std::uint64_t first = 1; first <= a.customers; first += kBatch) {
    auto txn = db.begin_write();
    if (!txn) die("begin", txn.error());
    for (std::uint64_t i = first; i < first + kBatch && i <= a.customers; ++i) {
      if (auto r = txn->insert_customer(gen.customer(i)); !r) die("insert", r.error());
      for (Transaction& t : gen.transactions(i, a.txns_per_customer))
        if (auto r = txn->add_transaction(std::move(t)); !r) die("add_transaction", r.error());
      rows += 1 + static_cast<std::uint64_t>(a.txns_per_customer);
    }
    if (auto s = txn->commit(); !s) die("commit", s.error());
  }
  return rows / seconds_since(t0);
}

// Landings a second: n transactions of random customers, `per_commit` a commit.
double land(Database& db, const Args& a, int n, int per_commit, std::uint64_t seed) {
  synthetic::Generator gen(synthetic::Params{seed});
  std::mt19937_64 rng(seed);
  std::vector<Transaction> ts;
  for (int i = 0; i < n; ++i) ts.push_back(std::move(gen.transactions(1 + rng() % a.customers, 1)[0]));
  auto t0 = Clock::now();
  for (int i = 0; i < n; i += per_commit) {
    auto txn = db.begin_write();
    if (!txn) die("begin", txn.error());
    for (int k = i; k < i + per_commit && k < n; ++k)
      if (auto r = txn->add_transaction(ts[k]); !r) die("add_transaction", r.error());
    if (auto s = txn->commit(); !s) die("commit", s.error());
  }
  return n / seconds_since(t0);
}

struct Overhead {
  std::vector<double> load_off, load_on, single_off, single_on, batch_off, batch_on;
};

void overhead(const Args& a, SyncMode sync, Overhead& o, int run) {
  const int singles = sync == SyncMode::kFull ? kSingleLandings : 5 * kSingleLandings;
  for (bool on : {false, true}) {
    Database db = open_fresh(a.dir / (on ? "on" : "off"), sync, on);
    (on ? o.load_on : o.load_off).push_back(load(db, a));
    (on ? o.single_on : o.single_off).push_back(land(db, a, singles, 1, 100 + run));
    (on ? o.batch_on : o.batch_off).push_back(land(db, a, kBatchLandings, 1000, 200 + run));
  }
}

std::uint64_t count_changes(const Database& db) {
  std::uint64_t n = 0;
  for (feed::Seq after = 0;;) {
    auto es = feed::read(db, after, 1000);
    if (!es) die("feed read", es.error());
    if (es->empty()) return n;
    for (const feed::Entry& e : *es)
      for (const feed::Part& p : e.parts) {
        auto lines = feed::describe(db, e, p);
        if (!lines) die("describe", lines.error());
        n += lines->size();
      }
    after = es->back().seq;
  }
}

std::string export_txns(const Database& db) {
  std::ostringstream out;
  if (auto s = io::export_table(db, io::Table::kTransactions, out, io::Format::kCsv); !s)
    die("export", s.error());
  return out.str();
}

struct Travel {
  std::vector<double> ship_entries, ship_msgs, ship_changes, follow_entries, follow_changes;
  std::uint64_t entries = 0, messages = 0, changes = 0;
};

bool g_mismatch = false;

void travel(const Args& a, const std::string& url, Travel& tr, int run) {
  const fs::path primary = a.dir / "ship-primary", replica = a.dir / "ship-replica";
  fs::remove_all(replica);
  Database p = open_fresh(primary, SyncMode::kNone, true);
  {
    Args small = a;
    small.customers = std::min<std::uint64_t>(a.customers, 2000);
    small.txns_per_customer = 1;
    load(p, small);
  }
  if (auto s = p.backup(replica); !s) die("backup", s.error());
  const std::uint64_t before = feed::status(p).value().last;
  {
    Args small = a;
    small.customers = std::min<std::uint64_t>(a.customers, 2000);
    land(p, small, kShipEntries, 1, 300 + run);
  }
  const std::uint64_t changes = count_changes(p);
  nats::ShipperOptions so;
  so.connect.url = url;
  so.connect.stream = "BENCH" + std::to_string(run);
  so.connect.subject_prefix = "bench" + std::to_string(run);  // one stream per prefix
  auto shipper = nats::Shipper::create(p, so);
  if (!shipper) die("shipper", shipper.error());
  auto t0 = Clock::now();
  auto shipped = (*shipper)->ship_once();
  const double ship_s = seconds_since(t0);
  if (!shipped) die("ship_once", shipped.error());
  shipper->reset();

  Options ro;
  ro.sync = SyncMode::kNone;
  auto q = Database::open(replica, ro);
  if (!q) die("open replica", q.error());
  nats::FollowerOptions fo;
  fo.connect = so.connect;
  fo.feed_name = "bench";
  auto follower = nats::Follower::create(*q, fo);
  if (!follower) die("follower", follower.error());
  t0 = Clock::now();
  auto followed = (*follower)->follow_once();
  const double follow_s = seconds_since(t0);
  if (!followed) die("follow_once", followed.error());
  follower->reset();

  const std::uint64_t entries = shipped->entries;
  tr.entries = entries;
  tr.messages = shipped->messages;
  tr.changes = changes;
  tr.ship_entries.push_back(entries / ship_s);
  tr.ship_msgs.push_back(shipped->messages / ship_s);
  tr.ship_changes.push_back(changes / ship_s);
  tr.follow_entries.push_back(followed->entries / follow_s);
  tr.follow_changes.push_back(changes * (static_cast<double>(followed->entries) / std::max<std::uint64_t>(entries, 1)) / follow_s);
  const auto last = feed::status(p).value().last;
  const auto applied = feed::status(*q).value().last;
  if (applied != last || export_txns(p) != export_txns(*q)) {
    g_mismatch = true;
    std::fprintf(stderr, "MISMATCH: replica applied %llu of %llu (from %llu), exports %s\n",
                 static_cast<unsigned long long>(applied), static_cast<unsigned long long>(last),
                 static_cast<unsigned long long>(before),
                 export_txns(p) == export_txns(*q) ? "equal" : "differ");
  }
}

struct Lag {
  std::vector<double> median_ms, p99_ms, max_ms, rate;
};

void lag(const Args& a, const std::string& url, Lag& out, int run) {
  const fs::path primary = a.dir / "lag-primary", replica = a.dir / "lag-replica";
  fs::remove_all(replica);
  Database p = open_fresh(primary, SyncMode::kFull, true);
  Args small = a;
  small.customers = std::min<std::uint64_t>(a.customers, 2000);
  small.txns_per_customer = 1;
  load(p, small);
  if (auto s = p.backup(replica); !s) die("backup", s.error());
  auto q = Database::open(replica);
  if (!q) die("open replica", q.error());
  nats::ShipperOptions so;
  so.connect.url = url;
  so.connect.stream = "LAG" + std::to_string(run);
  so.connect.subject_prefix = "lag" + std::to_string(run);
  auto shipper = nats::Shipper::create(p, so);
  if (!shipper) die("shipper", shipper.error());
  nats::FollowerOptions fo;
  fo.connect = so.connect;
  fo.feed_name = "bench";
  auto follower = nats::Follower::create(*q, fo);
  if (!follower) die("follower", follower.error());
  std::thread ship_thread([&] { (void)(*shipper)->run(); });
  std::thread follow_thread([&] { (void)(*follower)->run(); });

  const feed::Seq first = feed::status(p).value().last + 1;
  const int n = kLagRate * kLagSeconds;
  std::vector<Clock::time_point> committed(n), applied(n);
  std::atomic<bool> done{false};
  std::thread poller([&] {
    feed::Seq seen = first - 1;
    while (seen < first + n - 1) {
      auto st = feed::status(*q);
      if (st && st->last > seen) {
        const auto now = Clock::now();
        for (feed::Seq s = seen + 1; s <= st->last && s < first + n; ++s) applied[s - first] = now;
        seen = st->last;
      }
      if (done && Clock::now() - committed[n - 1] > std::chrono::seconds(30)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  synthetic::Generator gen(synthetic::Params{400u + static_cast<unsigned>(run)});
  std::mt19937_64 rng(400 + run);
  const auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    std::this_thread::sleep_until(start + std::chrono::microseconds(1'000'000LL * i / kLagRate));
    Transaction t = std::move(gen.transactions(1 + rng() % small.customers, 1)[0]);
    if (auto r = p.add_transaction(t); !r) die("add_transaction", r.error());
    committed[i] = Clock::now();
  }
  out.rate.push_back(n / seconds_since(start));
  done = true;
  poller.join();
  (*shipper)->stop();
  (*follower)->stop();
  ship_thread.join();
  follow_thread.join();
  std::vector<double> ms;
  for (int i = 0; i < n; ++i) {
    if (applied[i] == Clock::time_point{}) {
      g_mismatch = true;
      std::fprintf(stderr, "MISMATCH: entry %d of the lag run never reached the replica\n", i);
      return;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(applied[i] - committed[i]).count());
  }
  std::sort(ms.begin(), ms.end());
  out.median_ms.push_back(ms[ms.size() / 2]);
  out.p99_ms.push_back(ms[ms.size() * 99 / 100]);
  out.max_ms.push_back(ms.back());
}

}  // namespace

int run_feed(const Args& a) {
  std::printf("custdb change feed (issue #19): %llu customers, %d transactions each, plaintext, "
              "median of %d runs\n\n",
              static_cast<unsigned long long>(a.customers), a.txns_per_customer, a.runs);
  Overhead durable, relaxed;
  for (int run = 0; run < a.runs; ++run) {
    std::fprintf(stderr, "  overhead run %d\n", run + 1);
    overhead(a, SyncMode::kFull, durable, run);
    overhead(a, SyncMode::kNone, relaxed, run);
  }
  std::printf("| operation | feed off | feed on | on / off |\n|---|---|---|---|\n");
  auto row = [](const std::string& name, const std::vector<double>& off, const std::vector<double>& on,
                const char* unit) {
    std::printf("| %s | %.0f %s | %.0f %s | %.2f |\n", name.c_str(), median(off), unit, median(on),
                unit, median(on) / median(off));
  };
  row("load, durable (1,000 customers + their transactions a commit)", durable.load_off, durable.load_on, "rows/s");
  row("load, relaxed", relaxed.load_off, relaxed.load_on, "rows/s");
  row("landing, durable, 1 transaction a commit", durable.single_off, durable.single_on, "txns/s");
  row("landing, relaxed, 1 transaction a commit", relaxed.single_off, relaxed.single_on, "txns/s");
  row("landing, durable, 1,000 transactions a commit", durable.batch_off, durable.batch_on, "txns/s");
  row("landing, relaxed, 1,000 transactions a commit", relaxed.batch_off, relaxed.batch_on, "txns/s");
  std::fflush(stdout);

  fs::remove_all(a.dir / "jetstream");  // streams of an earlier, interrupted run
  NatsServer server(a.dir / "jetstream");
  Travel tr;
  Lag lg;
  for (int run = 0; run < a.runs; ++run) {
    std::fprintf(stderr, "  shipping run %d\n", run + 1);
    travel(a, server.url(), tr, run);
  }
  std::printf("\n| transport (%llu entries, %llu messages, %llu changes a run) | entries/s | "
              "messages/s | changes/s |\n|---|---|---|---|\n",
              static_cast<unsigned long long>(tr.entries), static_cast<unsigned long long>(tr.messages),
              static_cast<unsigned long long>(tr.changes));
  std::printf("| ship (Shipper::ship_once) | %.0f | %.0f | %.0f |\n", median(tr.ship_entries),
              median(tr.ship_msgs), median(tr.ship_changes));
  std::printf("| follow (Follower::follow_once) | %.0f | %.0f | %.0f |\n", median(tr.follow_entries),
              median(tr.follow_entries) * tr.messages / std::max<std::uint64_t>(tr.entries, 1),
              median(tr.follow_changes));
  std::fflush(stdout);
  for (int run = 0; run < a.runs; ++run) {
    std::fprintf(stderr, "  lag run %d\n", run + 1);
    lag(a, server.url(), lg, run);
  }
  std::printf("\n| end-to-end lag, %d landings/s durable for %d s (achieved %.0f/s) | median | p99 | max |\n"
              "|---|---|---|---|\n| commit on the primary -> applied on the replica | %.1f ms | %.1f ms | %.1f ms |\n",
              kLagRate, kLagSeconds, median(lg.rate), median(lg.median_ms), median(lg.p99_ms),
              median(lg.max_ms));
  if (g_mismatch) std::printf("\nMISMATCH: see stderr\n");
  return g_mismatch ? 1 : 0;
}

}  // namespace custdb::bench
