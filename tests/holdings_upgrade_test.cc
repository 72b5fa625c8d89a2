// The format 5 -> 6 upgrade (issue #18, holdings) on files written by the old build
// (tests/fixtures/v5_db, both modes) and on the older fixtures (their upgrades chain to 6):
// a read-only open keeps format 5 and reads no holdings; a read-write open upgrades, keeps the
// customers, their custom attributes and their ledger, gives every customer empty holding
// aggregates (aum = liabilities = products = 0 in the segment index too: `products = 0` and
// `aum >= 0.00` select everyone), and the file takes holdings and postings at once, with
// queries on them and check() clean, also after a reopen.
#include <algorithm>
#include <optional>

#include "custdb/query.h"
#include "custdb/segment.h"
#include "test_util.h"

namespace custdb::test {
namespace {

namespace data = boost::unit_test::data;

fs::path copy_fixture(const std::string& which, Mode m, const fs::path& dir) {
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

std::vector<CustomerId> all_ids(const Database& db) {
  std::vector<CustomerId> ids;
  auto txn = must(db.begin_read());
  must(txn.for_each_customer([&](const Customer& c) {
    ids.push_back(c.id);
    return true;
  }));
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<CustomerId> query_ids(const Database& db, const std::string& text) {
  auto txn = must(db.begin_read());
  auto po = must(txn.parse_options());
  auto q = query::parse(text, po);
  BOOST_TEST_REQUIRE(q.has_value(), text << ": " << (q ? "" : q.error().to_string()));
  auto ids = must(txn.ids(*q, SegmentOptions{}));
  std::sort(ids.begin(), ids.end());
  return ids;
}

Holding holding(CustomerId c, ProductType t, std::string currency, std::int64_t balance,
                const char* opened) {
  Holding h;
  h.customer_id = c;
  h.product_type = t;
  h.currency = std::move(currency);
  h.balance = balance;
  h.opened_on = parse_date(opened);
  return h;
}

BOOST_AUTO_TEST_SUITE(holdings_upgrade)

// The v5 fixture read-only: format 5, no holdings table, nothing to read, check clean.
BOOST_DATA_TEST_CASE(read_only_v5_reads_no_holdings, kModes, m) {
  TempDir dir;
  copy_fixture("v5_db", m, dir.path());
  Database db = must(Database::open(dir.path(), fixture_options(m, true)));
  BOOST_TEST(db.info().format_version == 5u);
  {
    auto txn = must(db.begin_read());
    BOOST_TEST(must(txn.holdings_of(9001)).empty());
    BOOST_TEST(!must(txn.get_holding(1)).has_value());
    int seen = 0;
    must(txn.for_each_holding([&](const Holding&) { return ++seen, true; }));
    BOOST_TEST(seen == 0);
    BOOST_TEST(must(txn.counts()).holdings == 0u);
    auto c = must(txn.get_customer(9001));
    BOOST_TEST_REQUIRE(c.has_value());
    BOOST_TEST((c->holdings == HoldingAggregates{}));
  }
  require_clean(db);
}

// Every fixture upgrades to 6 (v5 in one step; the older ones through the whole chain), and
// keeps what it held.
BOOST_DATA_TEST_CASE(fixtures_upgrade_to_six,
                     data::make({"v1_db", "v2_db", "v3_db", "v4_db", "v5_db"}) * kModes, which,
                     m) {
  TempDir dir;
  copy_fixture(which, m, dir.path());
  std::vector<CustomerId> before;
  TableCounts counts_before;
  {
    Database ro = must(Database::open(dir.path(), fixture_options(m, true)));
    before = all_ids(ro);
    counts_before = must(must(ro.begin_read()).counts());
  }
  BOOST_TEST_REQUIRE(before.size() > 10u);
  std::optional<Database> holder(must(Database::open(dir.path(), fixture_options(m))));
  Database& db = *holder;
  BOOST_TEST(db.info().format_version == 7u);
  BOOST_TEST(all_ids(db) == before);
  {
    auto txn = must(db.begin_read());
    const TableCounts counts = must(txn.counts());
    BOOST_TEST(counts.customers == counts_before.customers);
    // Formats 1 and 2 may store a link twice; the format-3 step keeps one.
    if (std::string(which) >= "v3_db") BOOST_TEST(counts.relationships == counts_before.relationships);
    else BOOST_TEST(counts.relationships <= counts_before.relationships);
    BOOST_TEST(counts.transactions == counts_before.transactions);
    BOOST_TEST(counts.holdings == 0u);
    must(txn.for_each_customer([&](const Customer& c) {
      BOOST_TEST((c.holdings == HoldingAggregates{}), "customer " << c.id);
      return true;
    }));
  }
  require_clean(db);
  // The upgrade posted every customer's zero aggregates.
  BOOST_TEST(query_ids(db, "products = 0") == before);
  BOOST_TEST(query_ids(db, "aum >= 0.00 and liabilities <= 0.00") == before);
  BOOST_TEST(query_ids(db, "holds(mortgage)").empty());
  BOOST_TEST(query_ids(db, "not holds(credit_card)") == before);

  // Holdings land on an upgraded file at once.
  const std::string base = db.info().base_currency;
  const CustomerId a = before[1], b = before[2];
  HoldingId deposit = 0;
  must(db.write([&](WriteTxn& txn) -> Status {
    auto h1 = txn.insert_holding(holding(a, ProductType::kMortgage, base, 30'000'000, "2019-05-01"));
    if (!h1) return tl::unexpected(h1.error());
    auto h2 = txn.insert_holding(holding(b, ProductType::kFund, base, 60'000'000, "2020-01-02"));
    if (!h2) return tl::unexpected(h2.error());
    auto h3 = txn.insert_holding(holding(b, ProductType::kDeposit, base, 1'000, "2021-03-04"));
    if (!h3) return tl::unexpected(h3.error());
    deposit = *h3;
    Transaction t;
    t.customer_id = b;
    t.ts = *parse_timestamp("2025-07-01T12:00:00Z");
    t.amount = 2'500;
    t.currency = base;
    t.holding_id = deposit;
    if (auto r = txn.add_transaction(t); !r) return tl::unexpected(r.error());
    return {};
  }));
  {
    auto txn = must(db.begin_read());
    auto h = must(txn.get_holding(deposit));
    BOOST_TEST_REQUIRE(h.has_value());
    BOOST_TEST(h->balance == 3'500);
    BOOST_TEST(h->posted == 2'500);
    BOOST_TEST(h->postings == 1u);
    auto cb = must(txn.get_customer(b));
    BOOST_TEST_REQUIRE(cb.has_value());
    BOOST_TEST(cb->holdings.aum == 60'003'500);
    BOOST_TEST(cb->holdings.products == 2u);
    BOOST_TEST((cb->holdings.types_held == std::vector<std::string>{"deposit", "fund"}));
    BOOST_TEST(format_date(*cb->holdings.first_product_on) == "2020-01-02");
    auto ca = must(txn.get_customer(a));
    BOOST_TEST(ca->holdings.liabilities == 30'000'000);
  }
  BOOST_TEST(query_ids(db, "holds(mortgage)") == std::vector<CustomerId>{a});
  BOOST_TEST(query_ids(db, "aum >= 500000.00") == std::vector<CustomerId>{b});
  BOOST_TEST(query_ids(db, "holds(fund, balance >= 500000.00) and products >= 2") ==
             std::vector<CustomerId>{b});
  BOOST_TEST(query_ids(db, "products = 0").size() == before.size() - 2);
  require_clean(db);
  holder.reset();
  Database again = must(Database::open(dir.path(), fixture_options(m)));
  BOOST_TEST(again.info().format_version == 7u);
  require_clean(again);
  BOOST_TEST(query_ids(again, "liabilities > 0") == std::vector<CustomerId>{a});
}

// The v5 fixture's custom attributes (branch, loyalty_points) and its edge records survive the
// upgrade unchanged, attribute queries included.
BOOST_DATA_TEST_CASE(v5_attributes_and_ledger_kept, kModes, m) {
  TempDir dir;
  copy_fixture("v5_db", m, dir.path());
  Customer one_before, edge_before;
  std::vector<Transaction> txns_before;
  {
    Database ro = must(Database::open(dir.path(), fixture_options(m, true)));
    auto txn = must(ro.begin_read());
    one_before = *must(txn.get_customer(9101));
    edge_before = *must(txn.get_customer(9001));
    txns_before = must(txn.transactions_of(9001));
  }
  Database db = must(Database::open(dir.path(), fixture_options(m)));
  BOOST_TEST(db.info().format_version == 7u);
  {
    auto txn = must(db.begin_read());
    auto one = must(txn.get_customer(9101));
    BOOST_TEST_REQUIRE(one.has_value());
    BOOST_TEST((one->attributes == one_before.attributes));
    BOOST_TEST(std::get<std::string>(one->attributes.at("branch")) == "north");
    BOOST_TEST(std::get<std::int64_t>(one->attributes.at("loyalty_points")) == 1500);
    auto edge = must(txn.get_customer(9001));
    BOOST_TEST(edge->name == edge_before.name);
    BOOST_TEST((edge->aggregates == edge_before.aggregates));
    auto txns = must(txn.transactions_of(9001));
    BOOST_TEST_REQUIRE(txns.size() == txns_before.size());
    for (std::size_t i = 0; i < txns.size(); ++i) {
      BOOST_TEST(txns[i].description == txns_before[i].description);
      BOOST_TEST(!txns[i].holding_id.has_value());
    }
  }
  BOOST_TEST(query_ids(db, "loyalty_points >= 1000 and products = 0") ==
             std::vector<CustomerId>{9101});
  require_clean(db);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace custdb::test
