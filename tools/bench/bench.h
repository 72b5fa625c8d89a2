// Shared pieces of the benchmark program.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "custdb/status.h"

namespace custdb::bench {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Args {
  std::uint64_t customers = 1'000'000;
  int txns_per_customer = 3;
  int runs = 5;
  fs::path dir = fs::temp_directory_path() / "custdb-bench";
  std::string suite = "crypto";
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

int run_crypto(const Args& a);
int run_segments(const Args& a);

}  // namespace custdb::bench
