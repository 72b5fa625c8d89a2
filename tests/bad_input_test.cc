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
