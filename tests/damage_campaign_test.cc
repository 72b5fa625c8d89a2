// The small damaged-copy campaign (the large one is fuzz/damage_campaign.py, docs/testing.md
// "Damaged files"): a demo database, plaintext and encrypted, 36 damaged copies of each (1, 4
// and 32 random bytes, a zeroed page, a truncation at a page boundary, a torn copy), each run
// through the read commands of build/bin/custdb. No command may be killed by a signal, report
// a sanitizer error or hang; each exits 0 or 1 (corruption is 1).
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "program.h"
#include "test_util.h"

namespace custdb {
namespace {

using test::TempDir;
namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;
constexpr std::size_t kPage = 4096;

struct Run {
  int code = 0;       // exit code, 128 + signal, or -1 for a timeout
  std::string err;    // stderr
};

// Runs custdb with `args` and `env` ("NAME=value") added to a CUSTDB_-free environment
// (tests/program.h); kills it after `timeout`.
Run run(const std::vector<std::string>& args, const std::vector<std::string>& env,
        std::chrono::seconds timeout = std::chrono::seconds(20)) {
  test::RunOptions options;
  for (const auto& e : env) options.env[e.substr(0, e.find('='))] = e.substr(e.find('=') + 1);
  options.timeout_seconds = static_cast<int>(timeout.count());
  const test::ProgramResult r = test::run_cli(args, options);
  return Run{r.timed_out ? -1 : r.code, r.err};
}

Bytes read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

// Damage kind k of fuzz/damage_campaign.py (the same six, in the same order).
Bytes damaged(int kind, std::mt19937_64& rng, const Bytes& final_file, const Bytes& early) {
  Bytes f = final_file;
  const std::size_t pages = f.size() / kPage;
  switch (kind) {
    case 0: case 1: case 2: {
      const int n = kind == 0 ? 1 : kind == 1 ? 4 : 32;
      for (int i = 0; i < n; ++i) f[rng() % f.size()] = static_cast<std::uint8_t>(rng());
      break;
    }
    case 3: {
      const std::size_t p = 2 + rng() % (pages - 2);
      std::memset(f.data() + p * kPage, 0, kPage);
      break;
    }
    case 4: f.resize((1 + rng() % (pages - 1)) * kPage); break;
    default: {
      const std::size_t n = 2 + rng() % (early.size() / kPage - 1);
      std::memcpy(f.data(), early.data(), n * kPage);
    }
  }
  return f;
}

BOOST_AUTO_TEST_SUITE(damage_campaign)

// 2 modes x 36 copies x 8 commands.
BOOST_AUTO_TEST_CASE(damaged_copies_never_crash_nor_hang) {
  TempDir dir;
  const std::vector<std::vector<std::string>> commands = {
      {"stats"}, {"verify"}, {"get", "42"}, {"find", "--email", "c42@mail.example"},
      {"segment", "tier in (gold, platinum) and region = east", "--count"},
      {"report", "--by", "tier"}, {"export", "customers"},
      {"rfm", "--as-of", "2026-09-30", "--format", "csv"}};
  std::map<std::string, int> outcomes;
  int crashes = 0, hangs = 0, runs = 0;
  for (bool encrypted : {false, true}) {
    const fs::path base = dir / (encrypted ? "enc" : "plain");
    std::vector<std::string> env{"CUSTDB_DB=" + base.string()};
    if (encrypted) env.push_back("CUSTDB_PASSPHRASE=campaign");
    std::vector<std::string> demo{"demo", "--customers", "900", "--seed", "42"};
    if (encrypted) demo.push_back("--encrypt");
    BOOST_TEST_REQUIRE(run(demo, env).code == 0);
    const Bytes early = read_all(base / "data.mdb");
    BOOST_TEST_REQUIRE(run({"demo", "--customers", "100", "--seed", "43"}, env).code == 0);
    const Bytes final_file = read_all(base / "data.mdb");
    std::mt19937_64 rng(encrypted ? 2 : 1);
    for (int i = 0; i < 36; ++i) {
      const int kind = i % 6;
      const Bytes f = damaged(kind, rng, final_file, early);
      const fs::path copy = dir / ("copy" + std::to_string(i));
      fs::remove_all(copy);
      fs::create_directories(copy);
      std::ofstream(copy / "data.mdb", std::ios::binary)
          .write(reinterpret_cast<const char*>(f.data()), static_cast<std::streamsize>(f.size()));
      std::vector<std::string> cenv{"CUSTDB_DB=" + copy.string()};
      if (encrypted) cenv.push_back("CUSTDB_PASSPHRASE=campaign");
      for (const auto& cmd : commands) {
        Run r = run(cmd, cenv);
        ++runs;
        const bool sanitizer = r.err.find("Sanitizer") != std::string::npos ||
                               r.err.find("runtime error:") != std::string::npos;
        if (r.code == -1) ++hangs;
        if (r.code >= 128 || sanitizer) ++crashes;
        BOOST_TEST((r.code == 0 || r.code == 1),
                   (encrypted ? "encrypted" : "plain") << " copy " << i << " (kind " << kind
                                                       << ") custdb " << cmd.front() << ": exit "
                                                       << r.code << "\n" << r.err);
        ++outcomes[cmd.front() + " exit " + std::to_string(r.code)];
      }
      fs::remove_all(copy);
    }
  }
  for (const auto& [k, n] : outcomes) BOOST_TEST_MESSAGE(k << ": " << n);
  BOOST_TEST_MESSAGE(runs << " runs, " << crashes << " crashes, " << hangs << " hangs");
  BOOST_TEST(crashes == 0);
  BOOST_TEST(hangs == 0);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace custdb
