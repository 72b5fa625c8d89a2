// Malformed values for every field of every table, through the API: each is rejected with a
// message that names the field, and nothing of the write is stored.
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;

namespace {

struct CustomerCase {
  const char* field;
  std::function<void(Customer&)> spoil;
};
struct RelationshipCase {
  const char* field;
  std::function<void(Relationship&)> spoil;
  ErrorCode code = ErrorCode::kInvalidArgument;
};
struct TransactionCase {
  const char* field;
  std::function<void(Transaction&)> spoil;
  ErrorCode code = ErrorCode::kInvalidArgument;
};

const Date kTooEarly = Date{std::chrono::year{1799} / 12 / 31};
const Date kTooLate = Date{std::chrono::year{2201} / 1 / 1};

const std::vector<CustomerCase>& customer_cases() {
  static const std::vector<CustomerCase> cases = {
      {"name", [](Customer& c) { c.name = ""; }},
      {"name", [](Customer& c) { c.name = std::string(201, 'x'); }},
      {"name", [](Customer& c) { c.name = "tab\there"; }},
      {"external_ref", [](Customer& c) { c.external_ref = std::string(201, 'r'); }},
      {"external_ref", [](Customer& c) { c.external_ref = "bell\a"; }},
      {"type", [](Customer& c) { c.type = static_cast<CustomerType>(7); }},
      {"email", [](Customer& c) { c.email = ""; }},
      {"email", [](Customer& c) { c.email = "@example.com"; }},
      {"email", [](Customer& c) { c.email = "a b@example.com"; }},
      {"email", [](Customer& c) { c.email = "a@example..com"; }},
      {"email", [](Customer& c) { c.email = std::string(250, 'a') + "@x.io"; }},
      {"phone", [](Customer& c) { c.phone = ""; }},
      {"phone", [](Customer& c) { c.phone = "123456"; }},
      {"phone", [](Customer& c) { c.phone = "1234567890123456"; }},
      {"phone", [](Customer& c) { c.phone = "555-CALL"; }},
      {"phone", [](Customer& c) { c.phone = "12+3456789"; }},
      {"birth_date", [](Customer& c) { c.birth_date = kTooEarly; }},
      {"birth_date", [](Customer& c) { c.birth_date = kTooLate; }},
      {"gender", [](Customer& c) { c.gender = static_cast<Gender>(9); }},
      {"city", [](Customer& c) { c.address.city = std::string(201, 'c'); }},
      {"region", [](Customer& c) { c.address.region = "new\nline"; }},
      {"country", [](Customer& c) { c.address.country = "D"; }},
      {"country", [](Customer& c) { c.address.country = "D1"; }},
      {"tier", [](Customer& c) { c.tier = static_cast<Tier>(5); }},
      {"stage", [](Customer& c) { c.stage = static_cast<Stage>(6); }},
      {"income_band", [](Customer& c) { c.income_band = 0; }},
      {"income_band", [](Customer& c) { c.income_band = 11; }},
      {"risk", [](Customer& c) { c.risk = static_cast<Risk>(3); }},
      {"consent_email", [](Customer& c) { c.consent_email = {static_cast<ConsentState>(3), parse_date("2024-01-01")}; }},
      {"consent_email", [](Customer& c) { c.consent_email = {ConsentState::kUnknown, parse_date("2024-01-01")}; }},
      {"consent_sms", [](Customer& c) { c.consent_sms = {ConsentState::kDenied, std::nullopt}; }},
      {"consent_phone", [](Customer& c) { c.consent_phone = {ConsentState::kGranted, std::nullopt}; }},
      {"tags", [](Customer& c) { c.tags = {" "}; }},
      {"tags", [](Customer& c) { c.tags = {std::string(65, 't')}; }},
      {"tags", [](Customer& c) { c.tags = {"a,b"}; }},
      {"tags", [](Customer& c) { c.tags = std::vector<std::string>(65, "t"); }},
      {"created_at", [](Customer& c) { c.created_at = parse_timestamp("1799-01-01T00:00:00Z").value_or(Timestamp{std::chrono::milliseconds{-6'000'000'000'000}}); }},
  };
  return cases;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(bad_input)

BOOST_DATA_TEST_CASE(every_customer_field, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  CustomerId existing = must(db.insert_customer(sample_customer(1)));
  const Customer before = must(db.get_customer(existing)).value();
  for (const auto& bc : customer_cases()) {
    Customer c = sample_customer(2);
    bc.spoil(c);
    auto r = db.insert_customer(c);
    BOOST_TEST_REQUIRE(!r.has_value(), "accepted bad " << bc.field);
    BOOST_TEST((r.error().code() == ErrorCode::kInvalidArgument));
    BOOST_TEST(r.error().message().rfind(bc.field, 0) == 0u,
               "expected '" << bc.field << "', got: " << r.error().message());
    auto txn = must(db.begin_write());
    auto u = txn.update_customer(existing, bc.spoil);
    BOOST_TEST_REQUIRE(!u.has_value(), "update accepted bad " << bc.field);
    BOOST_TEST(u.error().message().rfind(bc.field, 0) == 0u, u.error().message());
    must(txn.commit());  // the failed update left nothing to commit
  }
  auto read = must(db.begin_read());
  BOOST_TEST(must(read.counts()).customers == 1u);
  auto after = must(read.get_customer(existing)).value();
  BOOST_TEST((after == before));
  require_clean(db);
}

BOOST_DATA_TEST_CASE(every_relationship_field, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  CustomerId a = must(db.insert_customer(sample_customer(1)));
  CustomerId b = must(db.insert_customer(sample_customer(2)));
  const std::vector<RelationshipCase> cases = {
      {"from", [](Relationship& r) { r.from = 0; }},
      {"to", [](Relationship& r) { r.to = 0; }},
      {"to", [&](Relationship& r) { r.to = r.from; }},
      {"type", [](Relationship& r) { r.type = static_cast<RelationType>(42); }},
      {"type", [](Relationship& r) { r.type = RelationType::kCustom; r.custom_type = ""; }},
      {"type", [](Relationship& r) { r.type = RelationType::kCustom; r.custom_type = "household"; }},
      {"type", [](Relationship& r) { r.custom_type = "stray"; }},
      {"since", [](Relationship& r) { r.since = kTooEarly; }},
      {"from", [](Relationship& r) { r.from = 999; }, ErrorCode::kFailedPrecondition},
      {"to", [](Relationship& r) { r.to = 999; }, ErrorCode::kFailedPrecondition},
  };
  for (const auto& bc : cases) {
    Relationship r{0, a, b, RelationType::kHousehold, "", parse_date("2020-01-01")};
    bc.spoil(r);
    auto txn = must(db.begin_write());
    auto res = txn.add_relationship(r);
    BOOST_TEST_REQUIRE(!res.has_value(), "accepted bad " << bc.field);
    BOOST_TEST((res.error().code() == bc.code), bc.field << ": " << res.error().to_string());
    BOOST_TEST(res.error().message().rfind(bc.field, 0) == 0u, res.error().message());
    must(txn.commit());
  }
  BOOST_TEST(must(must(db.begin_read()).counts()).relationships == 0u);
  require_clean(db);
}

BOOST_DATA_TEST_CASE(every_transaction_field, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  CustomerId a = must(db.insert_customer(sample_customer(1)));
  const std::vector<TransactionCase> cases = {
      {"customer_id", [](Transaction& t) { t.customer_id = 0; }},
      {"customer_id", [](Transaction& t) { t.customer_id = 999; }, ErrorCode::kFailedPrecondition},
      {"ts", [](Transaction& t) { t.ts = std::chrono::time_point_cast<std::chrono::milliseconds>(kTooEarly); }},
      {"ts", [](Transaction& t) { t.ts = std::chrono::time_point_cast<std::chrono::milliseconds>(kTooLate); }},
      {"amount", [](Transaction& t) { t.amount = kMaxAmount + 1; }},
      {"amount", [](Transaction& t) { t.amount = -kMaxAmount - 1; }},
      {"currency", [](Transaction& t) { t.currency = ""; }},
      {"currency", [](Transaction& t) { t.currency = "US"; }},
      {"currency", [](Transaction& t) { t.currency = "U$D"; }},
      {"base_amount", [](Transaction& t) { t.currency = "EUR"; t.base_amount.reset(); }},
      {"base_amount", [](Transaction& t) { t.currency = "EUR"; t.base_amount = kMaxAmount + 1; }},
      {"kind", [](Transaction& t) { t.kind = static_cast<TransactionKind>(7); }},
      {"channel", [](Transaction& t) { t.channel = static_cast<Channel>(5); }},
      {"product", [](Transaction& t) { t.product = std::string(201, 'p'); }},
      {"description", [](Transaction& t) { t.description = std::string(1001, 'd'); }},
      {"description", [](Transaction& t) { t.description = "nul\x01"; }},
      {"id", [](Transaction& t) { t.id = ~std::uint64_t{0}; }},
  };
  for (const auto& bc : cases) {
    Transaction t = sample_txn(a, 100, "2025-01-01");
    bc.spoil(t);
    auto txn = must(db.begin_write());
    auto res = txn.add_transaction(t);
    BOOST_TEST_REQUIRE(!res.has_value(), "accepted bad " << bc.field);
    BOOST_TEST((res.error().code() == bc.code), bc.field << ": " << res.error().to_string());
    BOOST_TEST(res.error().message().rfind(bc.field, 0) == 0u, res.error().message());
    must(txn.commit());
  }
  auto read = must(db.begin_read());
  BOOST_TEST(must(read.counts()).transactions == 0u);
  BOOST_TEST((must(read.get_customer(a)).value().aggregates == Aggregates{}));
  require_clean(db);
}

BOOST_AUTO_TEST_SUITE_END()

// ---- the same through import: a CSV row with one bad cell names the file, line and field ----

#include <sstream>

#include "custdb/io.h"

namespace {

struct ImportCase {
  custdb::io::Table table;
  const char* column;
  const char* value;
  const char* field;  // the field the error must name (engine or parser)
};

// A valid row per table; the case replaces one column's value.
std::string row_for(custdb::io::Table t, const char* column, const char* value) {
  std::vector<std::pair<std::string, std::string>> cells;
  switch (t) {
    case custdb::io::Table::kCustomers:
      cells = {{"id", "7"}, {"external_ref", "X-7"}, {"type", "individual"}, {"name", "Ann Lee"},
               {"email", "ann@example.com"}, {"phone", "+15550100777"}, {"birth_date", "1980-02-03"},
               {"gender", "female"}, {"city", "Boston"}, {"region", "east"}, {"country", "US"},
               {"tier", "gold"}, {"stage", "active"}, {"income_band", "5"}, {"risk", "low"},
               {"created_at", "2024-01-01T00:00:00Z"}, {"tags", "vip|newsletter"},
               {"consent_email", "granted"}, {"consent_email_date", "2024-01-01"}};
      break;
    case custdb::io::Table::kRelationships:
      cells = {{"from", "1"}, {"to", "2"}, {"type", "household"}, {"since", "2020-01-01"}};
      break;
    case custdb::io::Table::kTransactions:
      cells = {{"id", "9"}, {"customer_id", "1"}, {"ts", "2025-01-01T10:00:00Z"}, {"amount", "12.50"},
               {"currency", "USD"}, {"kind", "purchase"}, {"channel", "web"}, {"product", "p"},
               {"description", "d"}};
      break;
  }
  for (auto& [c, v] : cells)
    if (c == column) v = value;
  std::string header, line;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    header += (i ? "," : "") + cells[i].first;
    line += (i ? "," : "") + cells[i].second;
  }
  return header + "\n" + line + "\n";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(bad_import)

BOOST_DATA_TEST_CASE(every_field_through_import, kModes, mode) {
  using custdb::io::Table;
  const ImportCase cases[] = {
      {Table::kCustomers, "id", "abc", "id"},
      {Table::kCustomers, "id", "-4", "id"},
      {Table::kCustomers, "name", "", "name"},
      {Table::kCustomers, "type", "alien", "type"},
      {Table::kCustomers, "email", "no-at-sign", "email"},
      {Table::kCustomers, "phone", "12", "phone"},
      {Table::kCustomers, "birth_date", "1980-02-30", "birth_date"},
      {Table::kCustomers, "gender", "x", "gender"},
      {Table::kCustomers, "country", "USA", "country"},
      {Table::kCustomers, "tier", "golden", "tier"},
      {Table::kCustomers, "stage", "sleepy", "stage"},
      {Table::kCustomers, "income_band", "11", "income_band"},
      {Table::kCustomers, "risk", "extreme", "risk"},
      {Table::kCustomers, "created_at", "yesterday", "created_at"},
      {Table::kCustomers, "consent_email", "maybe", "consent_email"},
      {Table::kCustomers, "consent_email_date", "2024-13-01", "consent_email_date"},
      {Table::kRelationships, "from", "x", "from"},
      {Table::kRelationships, "to", "1", "to"},
      {Table::kRelationships, "to", "99", "to"},
      {Table::kRelationships, "since", "2020/01/01", "since"},
      {Table::kTransactions, "customer_id", "99", "customer_id"},
      {Table::kTransactions, "ts", "2025-01-01T25:00:00Z", "ts"},
      {Table::kTransactions, "amount", "12.505", "amount"},
      {Table::kTransactions, "amount", "1e3", "amount"},
      {Table::kTransactions, "currency", "DOLLARS", "currency"},
      {Table::kTransactions, "kind", "gift", "kind"},
      {Table::kTransactions, "channel", "pigeon", "channel"},
  };
  TempDir dir;
  auto db = open_db(mode, dir.path());
  (void)must(db.insert_customer(sample_customer(1)));
  (void)must(db.insert_customer(sample_customer(2)));
  const auto before = must(must(db.begin_read()).counts());
  for (const auto& c : cases) {
    std::istringstream in(row_for(c.table, c.column, c.value));
    auto r = custdb::io::import_stream(db, c.table, in, custdb::io::Format::kCsv);
    BOOST_TEST_REQUIRE(!r.has_value(), "accepted " << c.column << "=" << c.value);
    // "<stdin>:2: field: reason" — line 2 is the data row under the header.
    const std::string want = std::string("<stdin>:2: ") + c.field + ":";
    BOOST_TEST(r.error().message().rfind(want, 0) == 0u,
               c.column << "=" << c.value << " gave: " << r.error().message());
  }
  auto after = must(must(db.begin_read()).counts());
  BOOST_TEST(after.customers == before.customers);
  BOOST_TEST(after.relationships == 0u);
  BOOST_TEST(after.transactions == 0u);
  require_clean(db);
}

BOOST_AUTO_TEST_SUITE_END()
