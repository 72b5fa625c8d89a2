// custdb benchmarks, run on demand (not part of the test suite).
//
//   custdb_bench [--suite crypto|segments|paging|full|profile|attributes|holdings|feed] [--customers N] [--txns T] [--runs R] [--dir DIR]
//                [--engines custdb,custdb-enc,sqlite,sqlcipher,duckdb] [--query Q] [--duckdb PATH]
//
// Suite "profile" (full_bench.cc): loads one custdb database and repeats one operation (--query:
// a segment, group:tier, group:region, report:tier,region, report:tier:clv, top:clv or history)
// for R × 5 s, for `perf record -p PID`.
// Suite "full" (full_bench.cc): custdb plaintext and encrypted against SQLite, SQLCipher and
// DuckDB on load, gets, lookups, landings, segments, history, grouped aggregates, reports,
// top-N, file size and heap; --engines picks which run (default all five; duckdb needs
// --duckdb PATH or $CUSTDB_DUCKDB_LIB, from tools/bench/setup_duckdb.sh, else it is skipped),
// --txns defaults to 10.
// Suite "segments" (segments_bench.cc): custdb against SQLite and SQLCipher on segment queries
// (--txns defaults to 3).
// Suite "paging" (segments_bench.cc): one segment (--query, default related(household))
// read in pages of 100 through ReadView::select's Segment, against one ids() call and against
// re-evaluating the query for every page (ReadView::page).
// Suite "attributes" (attributes_bench.cc): 20 custom attributes per customer against none:
// load, point get, segment counts, file size, and the cost per attribute (issue #17).
// Suite "holdings" (holdings_bench.cc, issue #18): landing a transaction that moves a holding's
// balance against SQLite doing the same updates, and segments over holdings (the cross-sell
// segment) against SQLite and DuckDB (--duckdb PATH or $CUSTDB_DUCKDB_LIB; skipped without);
// --txns defaults to 3.
// Suite "crypto": custdb plaintext against custdb encrypted on the same synthetic base
// (fixed seed): bulk insert (10k customers a commit, fsync at each commit), point gets by id,
// lookups by email. Reads are medians of R runs of 200k random operations in one snapshot.
// Prints a markdown table.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "bench.h"
#include "custdb/database.h"
#include "custdb/key.h"
#include "synthetic.h"

using namespace custdb;
using namespace custdb::bench;

namespace {

struct Figures {
  double insert_rate = 0, get_rate = 0, email_rate = 0;
  std::uintmax_t file_size = 0;
};

Figures run_custdb(const Args& a, bool encrypted) {
  fs::path path = a.dir / (encrypted ? "encrypted" : "plaintext");
  fs::remove_all(path);
  Options o;
  if (encrypted) {
    std::vector<std::uint8_t> raw(32, 0x42);
    o.key = KeyMaterial::from_raw_key(raw).value();
  }
  auto db = Database::open(path, o);
  if (!db) die("open", db.error());
  synthetic::Generator gen;
  Figures f;
  auto t0 = Clock::now();
  constexpr std::uint64_t kBatch = 10'000;
  for (std::uint64_t first = 1; first <= a.customers; first += kBatch) {
    auto txn = db->begin_write();
    if (!txn) die("begin", txn.error());
    for (std::uint64_t i = first; i < first + kBatch && i <= a.customers; ++i)
      if (auto r = txn->insert_customer(gen.customer(i)); !r) die("insert", r.error());
    if (auto s = txn->commit(); !s) die("commit", s.error());
  }
  f.insert_rate = a.customers / seconds_since(t0);

  constexpr int kOps = 200'000;
  std::mt19937_64 rng(7);
  std::vector<double> gets, emails;
  for (int run = 0; run < a.runs; ++run) {
    auto txn = db->begin_read();
    if (!txn) die("begin read", txn.error());
    std::vector<std::uint64_t> ids(kOps);
    for (auto& id : ids) id = 1 + rng() % a.customers;
    auto t = Clock::now();
    std::uint64_t found = 0;
    for (auto id : ids) found += txn->get_customer(id).value().has_value();
    gets.push_back(kOps / seconds_since(t));
    if (found != static_cast<std::uint64_t>(kOps)) std::fprintf(stderr, "missing customers!\n");
    std::vector<std::string> mails;
    mails.reserve(kOps);
    for (auto id : ids) mails.push_back(synthetic::Generator::email_of(id));
    t = Clock::now();
    found = 0;
    for (const auto& m : mails) found += txn->find_by_email(m).value().size();
    emails.push_back(kOps / seconds_since(t));
    if (found != static_cast<std::uint64_t>(kOps)) std::fprintf(stderr, "missing emails!\n");
  }
  f.get_rate = median(gets);
  f.email_rate = median(emails);
  f.file_size = fs::file_size(path / "data.mdb");
  return f;
}

}  // namespace

int custdb::bench::run_crypto(const Args& a) {
  std::printf("custdb encrypted vs plaintext: %llu customers, median of %d runs\n\n",
              static_cast<unsigned long long>(a.customers), a.runs);
  Figures plain = run_custdb(a, false);
  Figures enc = run_custdb(a, true);
  std::printf("| operation | plaintext | encrypted | encrypted / plaintext |\n|---|---|---|---|\n");
  auto row = [](const char* name, double p, double e, const char* unit) {
    std::printf("| %s | %.0f %s | %.0f %s | %.2f |\n", name, p, unit, e, unit, e / p);
  };
  row("bulk insert (10k a commit, fsync)", plain.insert_rate, enc.insert_rate, "customers/s");
  row("point get by id", plain.get_rate, enc.get_rate, "gets/s");
  row("lookup by email", plain.email_rate, enc.email_rate, "lookups/s");
  std::printf("| file size | %.1f MiB | %.1f MiB | %.2f |\n", plain.file_size / 1048576.0,
              enc.file_size / 1048576.0, static_cast<double>(enc.file_size) / plain.file_size);
  return 0;
}

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--customers") a.customers = std::stoull(next());
    else if (arg == "--runs") a.runs = std::stoi(next());
    else if (arg == "--dir") a.dir = next();
    else if (arg == "--suite") a.suite = next();
    else if (arg == "--txns") a.txns_per_customer = std::stoi(next());
    else if (arg == "--engines") a.engines = next();
    else if (arg == "--query") a.query = next();
    else if (arg == "--duckdb") a.duckdb_lib = next();
    else {
      std::fprintf(stderr, "usage: custdb_bench [--suite crypto|segments|paging|full|profile|attributes|holdings|feed] [--customers N] "
                           "[--txns T] [--runs R] [--dir DIR] [--engines LIST] [--query Q] [--duckdb LIBDUCKDB_SO]\n");
      return 2;
    }
  }
  if (a.customers == 0 || a.runs < 1) {
    std::fprintf(stderr, "--customers and --runs must be at least 1\n");
    return 2;
  }
  if (a.txns_per_customer < 0) a.txns_per_customer = a.suite == "full" ? 10 : 3;
  fs::create_directories(a.dir);
  int rc = a.suite == "segments" ? run_segments(a)
           : a.suite == "paging" ? run_paging(a)
           : a.suite == "crypto" ? run_crypto(a)
           : a.suite == "full"   ? run_full(a)
           : a.suite == "profile" ? run_profile(a)
           : a.suite == "attributes" ? run_attributes(a)
           : a.suite == "holdings" ? run_holdings(a)
           : a.suite == "feed" ? run_feed(a)
                                 : 2;
  if (rc == 2) std::fprintf(stderr, "unknown suite %s\n", a.suite.c_str());
  // A profile run's database stays for the next run under CUSTDB_BENCH_REUSE=1 (full_bench.cc).
  const char* reuse = std::getenv("CUSTDB_BENCH_REUSE");
  if (!(a.suite == "profile" && reuse && std::string(reuse) == "1")) fs::remove_all(a.dir);
  return rc;
}
