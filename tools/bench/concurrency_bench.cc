// custdb_concurrency_bench: one writer loads a large database with default options while
// threads of the writing process and other processes keep beginning and ending read
// transactions (issue 12, "Must show"). Reports how long begin_read waited (median, p99,
// longest, in the writer process and in the reader processes), whether any committed
// transaction was lost (customers counted at the end = customers whose commit succeeded),
// the final file size and the writer's resident memory.
//
//   custdb_concurrency_bench [--dir DIR] [--gb 2] [--batch 5000] [--threads 3] [--procs 3]
//                            [--pause-us 200]
//   custdb_concurrency_bench --map-cost [--dir DIR]
//     what the large default map and reader table cost: for a map of 64 MiB and the default
//     1 TiB, and 126 and 4096 reader slots, a 10,000-customer database's data.mdb and lock.mdb
//     sizes (apparent and allocated) and the process's VSZ and RSS after loading and scanning.
#include <poll.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "custdb/database.h"
#include "synthetic.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace custdb;

struct Args {
  fs::path dir = fs::temp_directory_path() / "custdb-concurrency-bench";
  double gb = 2.0;
  int batch = 5000;
  int threads = 3;  // reader threads in the writing process (one more holds long reads)
  int procs = 3;    // reader processes
  int pause_us = 200;
};

[[noreturn]] void die(const std::string& what, const Error& e) {
  std::fprintf(stderr, "%s: %s\n", what.c_str(), e.to_string().c_str());
  std::exit(1);
}

// begin_read waits in microseconds: a histogram with 1 us buckets up to 100 ms, plus the max.
struct Waits {
  static constexpr std::size_t kBuckets = 100'000;
  std::vector<std::uint64_t> hist = std::vector<std::uint64_t>(kBuckets + 1, 0);
  std::uint64_t max_us = 0;
  std::uint64_t n = 0;
  void add(std::uint64_t us) {
    ++hist[std::min<std::uint64_t>(us, kBuckets)];
    max_us = std::max(max_us, us);
    ++n;
  }
  void merge(const Waits& o) {
    for (std::size_t i = 0; i <= kBuckets; ++i) hist[i] += o.hist[i];
    max_us = std::max(max_us, o.max_us);
    n += o.n;
  }
  std::uint64_t quantile(double q) const {
    std::uint64_t want = static_cast<std::uint64_t>(q * static_cast<double>(n)), seen = 0;
    for (std::size_t i = 0; i <= kBuckets; ++i)
      if ((seen += hist[i]) > want) return i;
    return max_us;
  }
};

// Begins and ends read transactions (each reading one customer) until `stop` says so.
template <class Stop>
Waits read_loop(const Database& db, Stop&& stop, int pause_us, unsigned seed) {
  Waits w;
  std::mt19937 rng(seed);
  while (!stop()) {
    auto t0 = Clock::now();
    auto r = db.begin_read();
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
    if (!r) die("begin_read", r.error());
    w.add(static_cast<std::uint64_t>(us));
    if (auto c = r->get_customer(1 + rng() % 1000); !c) die("get_customer", c.error());
    if (pause_us) std::this_thread::sleep_for(std::chrono::microseconds(pause_us));
  }
  return w;
}

std::string status_field(const char* name) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(name, 0) == 0) {
      std::string v = line.substr(std::string(name).size());
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  return "?";
}

std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

void print(const char* who, const Waits& w) {
  std::printf("| %s | %llu | %llu | %llu | %llu | %.3f |\n", who, static_cast<unsigned long long>(w.n),
              static_cast<unsigned long long>(w.quantile(0.5)),
              static_cast<unsigned long long>(w.quantile(0.99)),
              static_cast<unsigned long long>(w.quantile(0.9999)), w.max_us / 1000.0);
}

std::uint64_t allocated(const fs::path& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_blocks) * 512 : 0;
}

// One variant in a child process of its own, so VSZ/RSS are its alone.
void map_cost_variant(const fs::path& dir, std::size_t map, unsigned readers) {
  std::fflush(stdout);  // or the child prints the parent's buffer again
  pid_t pid = fork();
  if (pid != 0) {
    waitpid(pid, nullptr, 0);
    return;
  }
  fs::remove_all(dir);
  Options o;
  o.max_map_size = map;
  o.max_readers = readers;
  const std::string rss0 = status_field("VmRSS:");
  {
    auto db = Database::open(dir, o);
    if (!db) die("open", db.error());
    synthetic::Generator gen;
    std::vector<Customer> batch;
    for (int i = 1; i <= 10000; ++i) batch.push_back(gen.customer(static_cast<std::uint64_t>(i)));
    if (auto r = db->insert_customers(batch); !r) die("insert", r.error());
    auto r = db->begin_read();
    if (!r) die("read", r.error());
    std::uint64_t n = 0;
    if (auto s = r->for_each_customer([&](const Customer&) { return ++n > 0; }); !s) die("scan", s.error());
    const DatabaseInfo info = db->info();
    std::printf("| %.0f MiB | %u | %llu / %llu | %llu / %llu | %s | %s | %s |\n", info.map_size / 1048576.0,
                info.max_readers, static_cast<unsigned long long>(fs::file_size(dir / "data.mdb")),
                static_cast<unsigned long long>(allocated(dir / "data.mdb")),
                static_cast<unsigned long long>(fs::file_size(dir / "lock.mdb")),
                static_cast<unsigned long long>(allocated(dir / "lock.mdb")),
                status_field("VmSize:").c_str(), rss0.c_str(), status_field("VmRSS:").c_str());
    std::fflush(stdout);
  }
  fs::remove_all(dir);
  _exit(0);
}

int map_cost(const fs::path& dir) {
  std::printf("| map | reader slots | data.mdb bytes (size / allocated) | lock.mdb bytes (size / "
              "allocated) | VSZ | RSS before open | RSS after load + scan |\n|---|---|---|---|---|---|---|\n");
  map_cost_variant(dir, std::size_t{64} << 20, 126);
  map_cost_variant(dir, std::size_t{64} << 20, 4096);
  map_cost_variant(dir, 0, 126);
  map_cost_variant(dir, 0, 4096);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  bool cost = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--map-cost") cost = true;
    else if (arg == "--dir") a.dir = next();
    else if (arg == "--gb") a.gb = std::stod(next());
    else if (arg == "--batch") a.batch = std::stoi(next());
    else if (arg == "--threads") a.threads = std::stoi(next());
    else if (arg == "--procs") a.procs = std::stoi(next());
    else if (arg == "--pause-us") a.pause_us = std::stoi(next());
    else {
      std::fprintf(stderr, "usage: custdb_concurrency_bench [--dir DIR] [--gb G] [--batch N] "
                           "[--threads T] [--procs P] [--pause-us U]\n");
      return 2;
    }
  }
  if (cost) return map_cost(a.dir);
  std::fflush(stdout);
  fs::remove_all(a.dir);
  const std::uint64_t target = static_cast<std::uint64_t>(a.gb * (1ull << 30));
  synthetic::Generator gen;
  std::uint64_t committed = 0;  // customers whose commit succeeded
  {
    // A first batch so readers have customers to read, all with default options.
    auto db = Database::open(a.dir);
    if (!db) die("create", db.error());
    std::vector<Customer> first;
    for (int i = 1; i <= 1000; ++i) first.push_back(gen.customer(static_cast<std::uint64_t>(i)));
    if (auto r = db->insert_customers(first); !r) die("insert", r.error());
    committed = 1000;
  }
  std::printf("load average at start: %s\n", loadavg().c_str());
  std::fflush(stdout);

  // Reader processes; each sends its histogram back through a pipe when the stop pipe closes.
  int stop_pipe[2], result_pipe[2];
  if (pipe(stop_pipe) || pipe(result_pipe)) return 1;
  std::vector<pid_t> pids;
  for (int p = 0; p < a.procs; ++p) {
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
      close(stop_pipe[1]);
      auto db = Database::open(a.dir);
      if (!db) die("reader open", db.error());
      auto stopped = [&] {
        pollfd f{stop_pipe[0], POLLIN, 0};
        return poll(&f, 1, 0) > 0;
      };
      Waits w = read_loop(*db, stopped, a.pause_us, 100 + p);
      std::uint64_t header[2] = {w.max_us, w.n};
      (void)!write(result_pipe[1], header, sizeof header);
      (void)!write(result_pipe[1], w.hist.data(), w.hist.size() * sizeof(std::uint64_t));
      _exit(0);
    }
    pids.push_back(pid);
  }
  close(stop_pipe[0]);

  auto db = Database::open(a.dir);
  if (!db) die("open", db.error());
  std::atomic<bool> done{false};
  std::vector<Waits> thread_waits(a.threads);
  std::vector<std::thread> threads;
  for (int t = 0; t < a.threads; ++t)
    threads.emplace_back([&, t] {
      thread_waits[t] = read_loop(*db, [&] { return done.load(); }, a.pause_us, 7 + t);
    });
  // A report: long read transactions (5 s each), as the repro holds one.
  std::thread reporter([&] {
    while (!done) {
      auto r = db->begin_read();
      if (!r) die("long read", r.error());
      for (int i = 0; i < 50 && !done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });

  auto start = Clock::now();
  std::uint64_t next = committed + 1, batches = 0;
  std::vector<Customer> batch;
  while (db->info().file_size < target) {
    batch.clear();
    for (int i = 0; i < a.batch; ++i) batch.push_back(gen.customer(next + static_cast<std::uint64_t>(i)));
    auto r = db->insert_customers(batch);
    if (!r) die("insert batch " + std::to_string(batches), r.error());
    committed += batch.size();
    next += batch.size();
    ++batches;
    if (batches % 50 == 0)
      std::fprintf(stderr, "%llu customers, %.2f GB\n", static_cast<unsigned long long>(committed),
                   db->info().file_size / 1e9);
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  done = true;
  for (auto& t : threads) t.join();
  reporter.join();
  close(stop_pipe[1]);
  Waits procs;
  for (int p = 0; p < a.procs; ++p) {
    Waits w;
    std::uint64_t header[2];
    if (read(result_pipe[0], header, sizeof header) != sizeof header) return 1;
    std::size_t want = w.hist.size() * sizeof(std::uint64_t), got = 0;
    auto* bytes = reinterpret_cast<char*>(w.hist.data());
    while (got < want) {
      ssize_t n = read(result_pipe[0], bytes + got, want - got);
      if (n <= 0) return 1;
      got += static_cast<std::size_t>(n);
    }
    w.max_us = header[0];
    w.n = header[1];
    procs.merge(w);
  }
  for (pid_t p : pids) waitpid(p, nullptr, 0);

  Waits here;
  for (auto& w : thread_waits) here.merge(w);
  Waits all = here;
  all.merge(procs);
  auto r = db->begin_read();
  if (!r) die("final read", r.error());
  auto counts = r->counts();
  if (!counts) die("counts", counts.error());
  const DatabaseInfo info = db->info();
  std::printf("load average at end: %s\n", loadavg().c_str());
  std::printf("loaded %llu customers in %llu commits of %d, %.1f s (%.0f customers/s)\n",
              static_cast<unsigned long long>(committed), static_cast<unsigned long long>(batches),
              a.batch, secs, (committed - 1000) / secs);
  std::printf("\nbegin_read waits (us; 0 = under 1 us):\n| begin_read in | reads | median us | p99 us | p99.99 us | longest ms |\n|---|---|---|---|---|---|\n");
  print("writer process (threads)", here);
  print("reader processes", procs);
  print("all", all);
  std::printf("\ncommitted customers %llu, counted %llu: %lld lost\n",
              static_cast<unsigned long long>(committed),
              static_cast<unsigned long long>(counts->customers),
              static_cast<long long>(committed) - static_cast<long long>(counts->customers));
  std::printf("file size %.2f GB (%llu bytes), map size %.0f GiB\n", info.file_size / 1e9,
              static_cast<unsigned long long>(info.file_size), info.map_size / 1073741824.0);
  std::printf("writer RSS %s (peak %s): anonymous %s, file pages (the map, page cache) %s\n",
              status_field("VmRSS:").c_str(), status_field("VmHWM:").c_str(),
              status_field("RssAnon:").c_str(), status_field("RssFile:").c_str());
  r = Result<ReadTxn>(tl::unexpected(Error(ErrorCode::kInternal, "")));
  const bool lost = counts->customers != committed;
  db = Result<Database>(tl::unexpected(Error(ErrorCode::kInternal, "")));
  fs::remove_all(a.dir);
  return lost ? 1 : 0;
}
