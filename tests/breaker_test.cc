// Hostile conditions around the issue-14 work (helper K): an upgrade of a format-1 file that
// cannot finish (map full) leaves the file as it was.
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <atomic>
#include <random>
#include <thread>
#include <algorithm>
#include <string>

#include "custdb/database.h"
#include "custdb/query.h"
#include "custdb/segment.h"
#include "program.h"
#include "random_data.h"
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
    BOOST_TEST(db.info().format_version == 7u);  // upgraded 1 -> 2 -> 3
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
    BOOST_TEST(stats.out.find("\"format_version\": 7") != std::string::npos, stats.out);
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

// Group values no customer holds any more give no row, in both modes: the encrypted mode's
// sealed dictionary (values.<field>) only grows, so a value that came and went stays in it.
// Tags: several per customer; a customer counts once in each of its tags' rows.
BOOST_DATA_TEST_CASE(report_groups_of_values_gone, test::kModes, mode) {
  using test::must;
  test::TempDir dir;
  auto db = test::open_db(mode, dir.path());
  std::mt19937 r(5);
  for (int i = 0; i < 40; ++i) must(db.insert_customer(test::random_customer(r)));
  const CustomerId gone = must(db.insert_customer(test::random_customer(r)));
  {
    auto w = must(db.begin_write());
    must(w.update_customer(gone, [](Customer& c) {
      c.address.city = "Zanzibar";
      c.address.region = "faraway";
      c.tags = {"zz-one", "zz-two"};
    }));
    must(w.commit());
  }
  {
    auto w = must(db.begin_write());
    must(w.delete_customer(gone));
    must(w.commit());
  }
  auto txn = must(db.begin_read());
  std::vector<Customer> all;
  must(txn.for_each_customer([&](const Customer& c) { return all.push_back(c), true; }));
  std::uint64_t tag_memberships = 0;
  for (const Customer& c : all) tag_memberships += c.tags.empty() ? 1 : c.tags.size();
  for (GroupBy g : {GroupBy::kCity, GroupBy::kRegion, GroupBy::kTag}) {
    ReportSpec spec;
    spec.by = {g};
    spec.measures = {Measure::kTxnCount};
    std::uint64_t total = 0;
    for (const ReportRow& row : must(txn.report_all(spec))) {
      // Values are folded to lower case in groups (custdb/segment.h).
      BOOST_TEST(row.customers > 0u, to_string(g) << " '" << row.group[0] << "' has no customers");
      BOOST_TEST(row.group[0] != "zanzibar");
      BOOST_TEST(row.group[0] != "faraway");
      BOOST_TEST(row.group[0].rfind("zz-", 0) != 0);
      total += row.customers;
    }
    // Each customer once (tags: once per tag, or once in '' without tags).
    BOOST_TEST(total == (g == GroupBy::kTag ? tag_memberships : all.size()), to_string(g));
  }
  test::require_clean(db);
}

// Several threads report through one handle (sharing its chunk cache) while another thread
// writes: each report equals the brute force over the records of its own snapshot, so no
// thread sees a chunk cached from another snapshot.
BOOST_DATA_TEST_CASE(reports_from_threads_while_writing, test::kModes, mode) {
  using test::must;
  test::TempDir dir;
  auto db = test::open_db(mode, dir.path());
  std::mt19937 r(9);
  std::vector<CustomerId> ids;
  for (int i = 0; i < 60; ++i) ids.push_back(must(db.insert_customer(test::random_customer(r))));
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, reports{0};
  auto reader = [&] {
    ReportSpec spec;
    spec.by = {GroupBy::kTier};
    spec.measures = {Measure::kTotalAmount, Measure::kTxnCount};
    while (!stop.load()) {
      auto txn = db.begin_read();
      if (!txn) return void(++failures);
      auto rows = txn->report_all(spec);
      if (!rows) return void(++failures);
      AmountSum sum = 0, want = 0;
      std::uint64_t n = 0, want_n = 0;
      for (const ReportRow& row : *rows) sum += row.measures[0].sum, n += row.measures[1].sum;
      auto s = txn->for_each_customer([&](const Customer& c) {
        want += c.aggregates.total_amount;
        want_n += c.aggregates.txn_count;
        return true;
      });
      if (!s || sum != want || n != want_n) return void(++failures);
      ++reports;
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) threads.emplace_back(reader);
  for (int i = 0; i < 150; ++i) {
    auto w = must(db.begin_write());
    for (int k = 0; k < 3; ++k) must(w.add_transaction(test::random_txn(r, ids[r() % ids.size()])));
    if (i % 5 == 4) {
      w.abort();  // an aborted write leaves nothing in the cache either
      continue;
    }
    must(w.commit());
  }
  stop = true;
  for (auto& t : threads) t.join();
  BOOST_TEST(failures.load() == 0);
  BOOST_TEST(reports.load() > 0);
  test::require_clean(db);
}

// A write transaction that fills the map (slices and sealed dictionaries make each customer
// costlier than before) fails with kResourceExhausted and leaves the committed data as it was:
// same answers, clean check, and the handle writes again after the abort.
BOOST_DATA_TEST_CASE(map_full_mid_write_keeps_the_file_sound, test::kModes, mode) {
  using test::must;
  test::TempDir dir;
  Options o;
  o.max_map_size = std::size_t{2} << 20;
  auto db = test::open_db(mode, dir.path(), o);
  std::mt19937 r(13);
  for (int i = 0; i < 30; ++i) must(db.insert_customer(test::random_customer(r)));
  ReportSpec spec;
  spec.by = {GroupBy::kCity};
  spec.measures = {Measure::kTotalAmount};
  auto report = [&] {
    auto txn = must(db.begin_read());
    auto rows = must(txn.report_all(spec));
    std::vector<std::pair<std::string, std::uint64_t>> out;
    for (const ReportRow& row : rows) out.emplace_back(row.group[0], row.customers);
    return out;
  };
  const auto before = report();
  {
    auto w = must(db.begin_write());
    Error failure(ErrorCode::kInternal, "");
    bool full = false;
    for (int i = 0; i < 200000 && !full; ++i) {
      Customer c = test::random_customer(r);
      c.address.city = "city-" + std::to_string(i);  // a new group value each time
      auto id = w.insert_customer(std::move(c));
      if (!id) full = true, failure = id.error();
    }
    BOOST_TEST_REQUIRE(full);
    BOOST_TEST((failure.code() == ErrorCode::kResourceExhausted), failure.message());
    BOOST_TEST(!w.commit().has_value());
  }
  BOOST_TEST((report() == before));
  test::require_clean(db);
  must(db.insert_customer(test::random_customer(r)));
  test::require_clean(db);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace custdb
