// Hostile conditions around the issue-14 work (helper K): an upgrade of a format-1 file that
// cannot finish (map full) leaves the file as it was.
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "custdb/database.h"
#include "custdb/query.h"
#include "custdb/segment.h"
#include "program.h"
#include "test_util.h"

namespace custdb {
namespace {

namespace fs = std::filesystem;

std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(breaker)

// A clean format-1 file opened read-only checks clean: the checker expects neither slices nor
// the sealed value dictionaries (values.<field>) of format 2. It used to report four
// "values.<field> lacks N values in use" problems on the encrypted fixture (custdb verify: exit 1).
BOOST_DATA_TEST_CASE(format_1_file_read_only_checks_clean, test::kModes, mode) {
  using test::must;
  const bool enc = mode == test::Mode::kEncrypted;
  test::TempDir dir;
  fs::copy_file(fs::path(CUSTDB_FIXTURE_DIR) / "v1_db" / (enc ? "encrypted" : "plaintext") /
                    "data.mdb",
                dir.path() / "data.mdb");
  Options o;
  if (enc) o.key = KeyMaterial::from_passphrase("fixture-passphrase");
  o.read_only = true;
  auto db = must(Database::open(dir.path(), o));
  BOOST_TEST(db.info().format_version == 1u);
  test::require_clean(db);
}

// A read-write open of a format-1 file whose map cannot hold the slices fails with an error
// (no crash, no half-written upgrade): the header still says 1, the data reads and checks
// clean, and a later open with room upgrades it.
BOOST_DATA_TEST_CASE(upgrade_that_fills_the_map_leaves_format_1, test::kModes, mode) {
  using test::must;
  const bool enc = mode == test::Mode::kEncrypted;
  test::TempDir dir;
  const fs::path file = dir.path() / "data.mdb";
  fs::copy_file(fs::path(CUSTDB_FIXTURE_DIR) / "v1_db" / (enc ? "encrypted" : "plaintext") /
                    "data.mdb",
                file);
  Options o;
  if (enc) o.key = KeyMaterial::from_passphrase("fixture-passphrase");
  const std::uintmax_t size = fs::file_size(file);
  Options tight = o;
  tight.max_map_size = static_cast<std::size_t>(size) + 4 * 4096;  // far too small for slices
  {
    auto db = Database::open(dir.path(), tight);
    BOOST_TEST_REQUIRE(!db.has_value());
    BOOST_TEST_MESSAGE("upgrade in a full map: " << db.error().message());
  }
  Options ro = o;
  ro.read_only = true;
  {
    auto db = must(Database::open(dir.path(), ro));
    BOOST_TEST(db.info().format_version == 1u);
    test::require_clean(db);
  }
  {
    auto db = must(Database::open(dir.path(), o));
    BOOST_TEST(db.info().format_version == 2u);
    test::require_clean(db);
  }
  BOOST_TEST(!file_bytes(file).empty());
}

// A handle that opened a format-1 file read-only keeps answering, and checking, after another
// handle upgraded the file: the slices and dictionaries that appeared are the file's, not
// damage.
BOOST_DATA_TEST_CASE(read_only_handle_outlives_an_upgrade, test::kModes, mode) {
  using test::must;
  const bool enc = mode == test::Mode::kEncrypted;
  test::TempDir dir;
  fs::copy_file(fs::path(CUSTDB_FIXTURE_DIR) / "v1_db" / (enc ? "encrypted" : "plaintext") /
                    "data.mdb",
                dir.path() / "data.mdb");
  Options o;
  if (enc) o.key = KeyMaterial::from_passphrase("fixture-passphrase");
  Options ro = o;
  ro.read_only = true;
  auto old = must(Database::open(dir.path(), ro));
  BOOST_TEST(old.info().format_version == 1u);
  ReportSpec spec;
  spec.by = {GroupBy::kRegion, GroupBy::kTier};
  spec.measures = {Measure::kClv, Measure::kTotalAmount};
  auto q = must(query::parse("total_amount > 100.00 and clv < 50.00"));
  std::vector<ReportRow> before;
  std::uint64_t count_before = 0;
  {
    auto txn = must(old.begin_read());
    before = must(txn.report_all(spec));
    count_before = must(txn.count(q));
  }
  {
    // Another process opens it read-write (an import of no rows): the upgrade.
    const fs::path empty = dir.path() / "none.csv";
    std::ofstream(empty) << "id,customer_id,ts,amount,currency,kind,channel,product,description\n";
    test::RunOptions run;
    if (enc) run.env["CUSTDB_PASSPHRASE"] = "fixture-passphrase";
    auto r = test::run_cli({"--db", dir.path().string(), "import", "transactions", empty.string()}, run);
    BOOST_TEST_REQUIRE(r.code == 0, r.err);
    auto stats = test::run_cli({"--db", dir.path().string(), "--json", "stats"}, run);
    BOOST_TEST(stats.out.find("\"format_version\": 2") != std::string::npos, stats.out);
  }
  auto txn = must(old.begin_read());
  BOOST_TEST(must(txn.count(q)) == count_before);
  auto after = must(txn.report_all(spec));
  BOOST_TEST_REQUIRE(after.size() == before.size());
  for (std::size_t i = 0; i < after.size(); ++i) {
    BOOST_TEST(after[i].group == before[i].group);
    BOOST_TEST(after[i].customers == before[i].customers);
  }
  test::require_clean(old);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace custdb
