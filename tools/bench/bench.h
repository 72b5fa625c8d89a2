// Shared pieces of the benchmark program.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <malloc.h>
#include <string>
#include <vector>

#include "custdb/status.h"

namespace custdb::bench {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Args {
  std::uint64_t customers = 1'000'000;
  int txns_per_customer = -1;  // -1: the suite's default (full: 10, segments: 3)
  int runs = 5;
  fs::path dir = fs::temp_directory_path() / "custdb-bench";
  std::string suite = "crypto";
  // Suite "full": which engines run, any of custdb, custdb-enc, sqlite, sqlcipher, duckdb.
  std::string engines = "custdb,custdb-enc,sqlite,sqlcipher,duckdb";
  // Suite "full", engine duckdb: the libduckdb.so to dlopen (tools/bench/setup_duckdb.sh);
  // empty: $CUSTDB_DUCKDB_LIB. Without either the engine is skipped with a message.
  std::string duckdb_lib;
  std::string query;  // suite "profile": the operation to repeat
};

inline double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

[[noreturn]] inline void die(const std::string& what, const Error& e) {
  std::fprintf(stderr, "%s: %s\n", what.c_str(), e.to_string().c_str());
  std::exit(1);
}

// Runs fn repeatedly for about `budget` seconds (at least once); returns calls per second.
template <class Fn>
double rate(Fn&& fn, double budget = 0.3) {
  auto t = Clock::now();
  std::uint64_t n = 0;
  do {
    fn();
    ++n;
  } while (seconds_since(t) < budget);
  return n / seconds_since(t);
}

// Bytes of heap in use (glibc mallinfo2: small chunks in use + mmap()ed large chunks, over all
// arenas). Not RSS: LMDB's memory map and the OS page cache are not heap.
inline std::int64_t heap_in_use() {
  struct mallinfo2 m = mallinfo2();
  return static_cast<std::int64_t>(m.uordblks + m.hblkhd);
}

// What a bulk load took, with the heap sampled after every commit.
struct LoadStats {
  double seconds = 0;
  std::uint64_t rows = 0;  // customers + transactions + relationships
  std::int64_t heap_before = 0, heap_peak = 0;  // mallinfo2 bytes
  std::int64_t sql_highwater = 0;               // SQLite's own allocator high-water mark
  // `held_by_bench`: bytes the benchmark itself holds (e.g. the generated relationship list,
  // which grows with N), not counted.
  void sample_heap(std::int64_t held_by_bench = 0) {
    heap_peak = std::max(heap_peak, heap_in_use() - held_by_bench);
  }
};

// Load progress on stderr (about every 10 %), so long runs can be followed from a log file.
class Progress {
 public:
  Progress(std::string label, std::uint64_t total) : label_(std::move(label)), total_(total) {}
  void update(std::uint64_t done) {
    if (done * 10 / std::max<std::uint64_t>(total_, 1) == shown_ && done < total_) return;
    shown_ = done * 10 / std::max<std::uint64_t>(total_, 1);
    std::fprintf(stderr, "  %s: %llu / %llu customers loaded, %.0f s\n", label_.c_str(),
                 static_cast<unsigned long long>(done), static_cast<unsigned long long>(total_),
                 seconds_since(start_));
  }

 private:
  std::string label_;
  std::uint64_t total_;
  std::uint64_t shown_ = 0;
  Clock::time_point start_ = Clock::now();
};

int run_crypto(const Args& a);
int run_segments(const Args& a);
int run_paging(const Args& a);
int run_full(const Args& a);
int run_profile(const Args& a);
int run_attributes(const Args& a);
int run_holdings(const Args& a);
int run_feed(const Args& a);

}  // namespace custdb::bench
