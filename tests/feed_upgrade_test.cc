// The format 6 -> 7 upgrade (issue #19, the change feed) on files written by the format-6
// build (tests/fixtures/v6_db, both modes) and on the older fixtures (their upgrades chain to
// 7): a read-only open keeps format 6, reads the feed as off and cannot enable it; a
// read-write open upgrades, creates the feed tables (the feed stays off: no entry appears by
// itself), keeps every record, and the feed then enables and records at once; a replica seeded
// from a backup of the upgraded file applies its entries; check() clean, also after a reopen.
#include <algorithm>
#include <sstream>

#include <lmdb.h>

#include "custdb/feed.h"
#include "custdb/io.h"
#include "test_util.h"

namespace custdb::test {
namespace {

namespace data = boost::unit_test::data;
namespace cf = custdb::feed;

fs::path copy_fixture(const std::string& which, Mode m, const fs::path& dir) {
  fs::create_directories(dir);
  fs::copy_file(fs::path(CUSTDB_FIXTURE_DIR) / which /
                    (m == Mode::kEncrypted ? "encrypted" : "plaintext") / "data.mdb",
                dir / "data.mdb");
  return dir;
}

Options fixture_options(Mode m, bool read_only = false) {
  Options o;
  if (m == Mode::kEncrypted) o.key = KeyMaterial::from_passphrase("fixture-passphrase");
  o.read_only = read_only;
  return o;
}

// Whether data.mdb in `dir` (closed) has the named LMDB database.
bool has_table(const fs::path& dir, const char* name) {
  MDB_env* env;
  BOOST_TEST_REQUIRE(mdb_env_create(&env) == 0);
  mdb_env_set_maxdbs(env, 64);
  BOOST_TEST_REQUIRE(mdb_env_open(env, dir.c_str(), MDB_RDONLY, 0600) == 0);
  MDB_txn* txn;
  BOOST_TEST_REQUIRE(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0);
  MDB_dbi dbi;
  const bool found = mdb_dbi_open(txn, name, 0, &dbi) == 0;
  mdb_txn_abort(txn);
  mdb_env_close(env);
  return found;
}

std::string export_all(const Database& db) {
  std::string all;
  for (auto t : {io::Table::kCustomers, io::Table::kRelationships, io::Table::kTransactions,
                 io::Table::kHoldings}) {
    std::ostringstream os;
    io::ExportOptions o;
    o.reveal = true;
    must(io::export_table(db, t, os, io::Format::kCsv, o));
    all += os.str();
  }
  return all;
}

BOOST_AUTO_TEST_SUITE(feed_upgrade)

// Read-only: format 6 stays, the feed reads as off, nothing can enable it, check clean.
BOOST_DATA_TEST_CASE(read_only_v6_has_no_feed, kModes, m) {
  TempDir dir;
  copy_fixture("v6_db", m, dir / "db");
  BOOST_TEST(!has_table(dir / "db", "feed"));
  {
    Database db = must(Database::open(dir / "db", fixture_options(m, true)));
    BOOST_TEST(db.info().format_version == 6u);
    auto st = must(cf::status(db));
    BOOST_TEST(static_cast<int>(st.role) == static_cast<int>(cf::Role::kNone));
    BOOST_TEST(st.entries == 0u);
    auto r = cf::read(db, 0);
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST(r.error().code() == ErrorCode::kFailedPrecondition);
    auto e = cf::enable(db);
    BOOST_TEST_REQUIRE(!e.has_value());
    BOOST_TEST(e.error().code() == ErrorCode::kReadOnly);
    require_clean(db);
  }
  BOOST_TEST(!has_table(dir / "db", "feed"));  // the read-only open wrote nothing
}

// Every fixture upgrades to 7 (v6 in one step; the older ones through the whole chain): the
// feed tables exist, the feed is off and empty, the records are kept, and the feed works.
BOOST_DATA_TEST_CASE(fixtures_upgrade_to_seven,
                     data::make({"v1_db", "v3_db", "v5_db", "v6_db"}) * kModes, which, m) {
  TempDir dir;
  copy_fixture(which, m, dir / "db");
  std::string before;
  {
    Database ro = must(Database::open(dir / "db", fixture_options(m, true)));
    // Older formats export what they hold; v1/v2 relationships may be stored twice (the
    // format-3 step keeps one), so the comparison below is of customers and transactions.
    std::ostringstream os;
    io::ExportOptions o;
    o.reveal = true;
    must(io::export_table(ro, io::Table::kCustomers, os, io::Format::kCsv, o));
    before = os.str();
  }
  {
    Database db = must(Database::open(dir / "db", fixture_options(m)));
    BOOST_TEST(db.info().format_version == 7u);
    auto st = must(cf::status(db));
    BOOST_TEST(static_cast<int>(st.role) == static_cast<int>(cf::Role::kNone));
    BOOST_TEST(st.last == 0u);
    BOOST_TEST(st.entries == 0u);
    std::ostringstream os;
    io::ExportOptions o;
    o.reveal = true;
    must(io::export_table(db, io::Table::kCustomers, os, io::Format::kCsv, o));
    if (std::string(which) >= "v3_db") BOOST_TEST(os.str() == before);  // (v1: NFC re-folds)
    require_clean(db);
  }
  BOOST_TEST(has_table(dir / "db", "feed"));
  BOOST_TEST(has_table(dir / "db", "feed_consumers"));
  Database db = must(Database::open(dir / "db", fixture_options(m)));
  BOOST_TEST(db.info().format_version == 7u);
  BOOST_TEST(must(cf::status(db)).last == 0u);  // reopening records nothing
  must(cf::enable(db, {"upgraded", 100}));
  must(db.backup(dir / "replica"));
  Customer c = sample_customer(4242);
  auto id = must(db.insert_customer(c));
  must(db.add_transaction(sample_txn(id, 700, "2025-02-03T04:05:06Z")));
  auto entries = must(cf::read(db, 0));
  BOOST_TEST_REQUIRE(entries.size() == 3u);  // enable, insert, transaction
  BOOST_TEST(entries[1].seq == 2u);
  require_clean(db);
  Database replica = must(Database::open(dir / "replica", fixture_options(m)));
  auto r = must(cf::apply(replica, "upgraded", std::span(entries).subspan(1)));
  BOOST_TEST(r.applied == 2u);
  BOOST_TEST(r.skipped == 0u);
  BOOST_TEST(export_all(replica) == export_all(db));
}

// The v6 fixture's custom attributes, relationships and holdings-era edge records travel
// through the feed after the upgrade: an update of an attribute-bearing customer and of an
// edge customer reach a replica seeded from the upgraded file.
BOOST_DATA_TEST_CASE(v6_records_travel_after_upgrade, kModes, m) {
  TempDir dir;
  copy_fixture("v6_db", m, dir / "db");
  Database db = must(Database::open(dir / "db", fixture_options(m)));
  BOOST_TEST(db.info().format_version == 7u);
  must(cf::enable(db, {"v6", 100}));
  must(db.backup(dir / "replica"));
  const feed::Seq base = must(cf::status(db)).last;
  must(db.write([&](WriteTxn& txn) -> Status {
    auto u = txn.update_customer(9101, [](Customer& c) {
      c.attributes["loyalty_points"] = std::int64_t{2500};
    });
    if (!u) return tl::unexpected(u.error());
    auto v = txn.update_customer(9001, [](Customer& c) { c.name = "Edge Renamed"; });
    if (!v) return tl::unexpected(v.error());
    return {};
  }));
  auto entries = must(cf::read(db, base));
  BOOST_TEST_REQUIRE(entries.size() == 1u);
  bool p9101 = false, p9001 = false;
  for (const auto& p : entries[0].parts) {
    p9101 = p9101 || (p.table == "customers" && p.customer == 9101);
    p9001 = p9001 || (p.table == "customers" && p.customer == 9001);
  }
  BOOST_TEST(p9101);
  BOOST_TEST(p9001);
  Database replica = must(Database::open(dir / "replica", fixture_options(m)));
  must(cf::apply(replica, "v6", entries));
  BOOST_TEST(export_all(replica) == export_all(db));
  auto one = must(must(replica.begin_read()).get_customer(9101));
  BOOST_TEST_REQUIRE(one.has_value());
  BOOST_TEST(std::get<std::int64_t>(one->attributes.at("loyalty_points")) == 2500);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace custdb::test
