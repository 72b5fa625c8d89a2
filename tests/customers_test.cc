// Customers: CRUD, normalization, unique and multi-valued lookups, validation, deletes.
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;

BOOST_AUTO_TEST_SUITE(customers)

BOOST_DATA_TEST_CASE(insert_get_round_trip, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  Customer c = sample_customer(1);
  c.email = "  Alice.Smith@Example.COM ";
  c.phone = "+44 (20) 7946-0958";
  c.address.country = "gb";
  c.tags = {"VIP", " vip", "Newsletter"};
  c.consent_sms = {ConsentState::kDenied, parse_date("2025-01-02")};
  CustomerId id = must(db.insert_customer(c));
  BOOST_TEST(id == 1u);
  auto got = must(db.get_customer(id));
  BOOST_TEST_REQUIRE(got.has_value());
  BOOST_TEST(got->name == c.name);
  BOOST_TEST(*got->email == "alice.smith@example.com");
  BOOST_TEST(*got->phone == "+442079460958");
  BOOST_TEST(got->address.country == "GB");
  BOOST_TEST((got->tags == std::vector<std::string>{"newsletter", "vip"}));
  BOOST_TEST(got->birth_date == c.birth_date);
  BOOST_TEST(got->income_band == c.income_band);
  BOOST_TEST((got->consent_sms == c.consent_sms));
  BOOST_TEST((got->consent_email == c.consent_email));
  BOOST_TEST(got->tier == c.tier);
  BOOST_TEST(got->stage == c.stage);
  BOOST_TEST(got->created_at.time_since_epoch().count() > 0);
  BOOST_TEST(got->aggregates.txn_count == 0u);
  BOOST_TEST(!must(db.get_customer(999)).has_value());  // absence is a value
  require_clean(db);
}

BOOST_DATA_TEST_CASE(given_and_assigned_ids, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  Customer a = sample_customer(1);
  a.id = 100;
  BOOST_TEST(must(db.insert_customer(a)) == 100u);
  BOOST_TEST(must(db.insert_customer(sample_customer(2))) == 101u);  // after the largest
  Customer huge = sample_customer(4);
  huge.id = ~CustomerId{0};  // would wrap the id counter
  BOOST_TEST((db.insert_customer(huge).error().code() == ErrorCode::kInvalidArgument));
  Customer dup = sample_customer(3);
  dup.id = 100;
  auto r = db.insert_customer(dup);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST((r.error().code() == ErrorCode::kAlreadyExists));
  require_clean(db);
}

BOOST_DATA_TEST_CASE(external_ref_unique, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  CustomerId a = must(db.insert_customer(sample_customer(1)));
  Customer b = sample_customer(2);
  b.external_ref = "EXT-1";
  auto r = db.insert_customer(b);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST((r.error().code() == ErrorCode::kAlreadyExists));
  BOOST_TEST(r.error().message().find("external_ref") != std::string::npos);
  auto txn = must(db.begin_read());
  auto found = must(txn.find_by_external_ref("EXT-1"));
  BOOST_TEST_REQUIRE(found.has_value());
  BOOST_TEST(found->id == a);
  BOOST_TEST(!must(txn.find_by_external_ref("nope")).has_value());
}

BOOST_DATA_TEST_CASE(shared_email_and_phone_return_every_match, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  Customer a = sample_customer(1), b = sample_customer(2), c = sample_customer(3);
  a.email = "family@example.com";
  b.email = "FAMILY@example.com";
  a.phone = b.phone = "+1-555-0100-200";
  c.phone = "+15550100200";
  CustomerId ia = must(db.insert_customer(a)), ib = must(db.insert_customer(b)),
             ic = must(db.insert_customer(c));
  auto txn = must(db.begin_read());
  auto by_email = must(txn.find_by_email(" Family@Example.com"));
  BOOST_TEST_REQUIRE(by_email.size() == 2u);
  BOOST_TEST(by_email[0].id == ia);
  BOOST_TEST(by_email[1].id == ib);
  auto by_phone = must(txn.find_by_phone("+1 (555) 0100 200"));
  BOOST_TEST(by_phone.size() == 3u);
  BOOST_TEST(must(txn.find_by_email("nobody@example.com")).empty());
  BOOST_TEST((txn.find_by_email("not an email").error().code() == ErrorCode::kInvalidArgument));
  (void)ic;
}

BOOST_DATA_TEST_CASE(partial_update_moves_index_entries, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  CustomerId id = must(db.insert_customer(sample_customer(1)));
  auto before = must(db.get_customer(id)).value();
  {
    auto txn = must(db.begin_write());
    bool found = must(txn.update_customer(id, [](Customer& c) {
      c.email = "new@example.com";
      c.phone.reset();
      c.tier = Tier::kPlatinum;
      c.external_ref = "EXT-NEW";
    }));
    BOOST_TEST(found);
    // The id and the aggregates are the engine's: changing them is refused (it used to be
    // silently undone), and the refused update changes nothing.
    auto moved = txn.update_customer(id, [](Customer& c) {
      c.tier = Tier::kBronze;
      c.id = 555;
    });
    BOOST_TEST_REQUIRE(!moved.has_value());
    BOOST_TEST(moved.error().message().rfind("id:", 0) == 0u, moved.error().message());
    auto summed = txn.update_customer(id, [](Customer& c) { c.aggregates.total_amount = 12345; });
    BOOST_TEST_REQUIRE(!summed.has_value());
    BOOST_TEST(summed.error().message().rfind("aggregates:", 0) == 0u, summed.error().message());
    BOOST_TEST((must(txn.get_customer(id)).value().tier == Tier::kPlatinum));
    BOOST_TEST(!must(txn.update_customer(999, [](Customer&) {})));
    must(txn.commit());
  }
  auto after = must(db.get_customer(id)).value();
  BOOST_TEST(*after.email == "new@example.com");
  BOOST_TEST(!after.phone.has_value());
  BOOST_TEST(after.tier == Tier::kPlatinum);
  BOOST_TEST(after.name == before.name);  // untouched fields stay
  BOOST_TEST(after.aggregates.total_amount == 0);
  BOOST_TEST(after.created_at == before.created_at);
  BOOST_TEST(after.updated_at >= before.updated_at);
  auto txn = must(db.begin_read());
  BOOST_TEST(must(txn.find_by_email(*before.email)).empty());
  BOOST_TEST(must(txn.find_by_email("new@example.com")).size() == 1u);
  BOOST_TEST(must(txn.find_by_phone(*before.phone)).empty());
  BOOST_TEST(!must(txn.find_by_external_ref("EXT-1")).has_value());
  BOOST_TEST(must(txn.find_by_external_ref("EXT-NEW")).has_value());
  require_clean(db);
}

BOOST_DATA_TEST_CASE(delete_restrict_and_cascade, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  CustomerId a = must(db.insert_customer(sample_customer(1)));
  CustomerId b = must(db.insert_customer(sample_customer(2)));
  CustomerId lone = must(db.insert_customer(sample_customer(3)));
  {
    auto txn = must(db.begin_write());
    must(txn.add_relationship({0, a, b, RelationType::kSpouse, "", parse_date("2010-06-01")}));
    must(txn.add_transaction(sample_txn(a, 1000, "2025-01-01")));
    must(txn.add_transaction(sample_txn(a, 2000, "2025-02-01")));
    must(txn.commit());
  }
  {
    auto txn = must(db.begin_write());
    auto r = txn.delete_customer(a);
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST((r.error().code() == ErrorCode::kFailedPrecondition));
    BOOST_TEST(r.error().message().find("cascade") != std::string::npos);
    BOOST_TEST(must(txn.delete_customer(lone)));      // no dependents: fine
    BOOST_TEST(!must(txn.delete_customer(12345)));    // absent: false, not an error
    BOOST_TEST(must(txn.delete_customer(a, DeleteMode::kCascade)));
    must(txn.commit());
  }
  auto txn = must(db.begin_read());
  BOOST_TEST(!must(txn.get_customer(a)).has_value());
  BOOST_TEST(must(txn.relationships_of(b)).empty());
  auto counts = must(txn.counts());
  BOOST_TEST(counts.customers == 1u);
  BOOST_TEST(counts.transactions == 0u);
  BOOST_TEST(counts.relationships == 0u);
  BOOST_TEST(must(txn.find_by_email("user1@example.com")).empty());
  require_clean(db);
}

struct BadCase {
  const char* field;
  std::function<void(Customer&)> spoil;
};

BOOST_DATA_TEST_CASE(validation_names_field_and_stores_nothing, kModes, mode) {
  const BadCase cases[] = {
      {"name", [](Customer& c) { c.name = "   "; }},
      {"email", [](Customer& c) { c.email = "no-at-sign.example.com"; }},
      {"email", [](Customer& c) { c.email = "a@b@example.com"; }},
      {"email", [](Customer& c) { c.email = "user@localhost"; }},
      {"phone", [](Customer& c) { c.phone = "12345"; }},
      // Letters are keypad digits to libphonenumber (+1 555 CALL NOW is +1 555 225 5669), but
      // +1 555 CALL has 7 digits: a local-only number, not a whole one.
      {"phone", [](Customer& c) { c.phone = "+1 555 CALL"; }},
      {"phone", [](Customer& c) { c.phone = "+46 70 123 4567 8901 2345"; }},
      {"country", [](Customer& c) { c.address.country = "USA"; }},
      {"income_band", [](Customer& c) { c.income_band = 11; }},
      {"income_band", [](Customer& c) { c.income_band = 0; }},
      {"tier", [](Customer& c) { c.tier = static_cast<Tier>(9); }},
      {"stage", [](Customer& c) { c.stage = static_cast<Stage>(6); }},
      {"type", [](Customer& c) { c.type = static_cast<CustomerType>(3); }},
      {"gender", [](Customer& c) { c.gender = static_cast<Gender>(4); }},
      {"risk", [](Customer& c) { c.risk = static_cast<Risk>(3); }},
      {"birth_date", [](Customer& c) { c.birth_date = Date{std::chrono::year{1700} / 1 / 1}; }},
      {"consent_email", [](Customer& c) { c.consent_email = {ConsentState::kGranted, {}}; }},
      {"tags", [](Customer& c) { c.tags = {"ok", "bad|tag"}; }},
      {"name", [](Customer& c) { c.name = "line\nbreak"; }},
  };
  TempDir dir;
  auto db = open_db(mode, dir.path());
  CustomerId keep = must(db.insert_customer(sample_customer(50)));
  for (const auto& bc : cases) {
    auto txn = must(db.begin_write());
    CustomerId good = must(txn.insert_customer(sample_customer(1)));
    Customer c = sample_customer(2);
    bc.spoil(c);
    auto r = txn.insert_customer(c);
    BOOST_TEST_REQUIRE(!r.has_value(), bc.field);
    BOOST_TEST((r.error().code() == ErrorCode::kInvalidArgument));
    BOOST_TEST(r.error().message().rfind(bc.field, 0) == 0u, r.error().message());
    // The same rule applies to updates, which leave the record as it was.
    auto u = txn.update_customer(keep, bc.spoil);
    BOOST_TEST_REQUIRE(!u.has_value(), bc.field);
    BOOST_TEST(u.error().message().rfind(bc.field, 0) == 0u, u.error().message());
    (void)good;
    // Abandon the transaction: nothing of it may remain, the good insert included.
  }
  auto txn = must(db.begin_read());
  BOOST_TEST(must(txn.counts()).customers == 1u);
  BOOST_TEST((must(txn.get_customer(keep)).value() == must(db.get_customer(keep)).value()));
  require_clean(db);
}

BOOST_DATA_TEST_CASE(failed_write_leaves_transaction_usable, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  auto txn = must(db.begin_write());
  CustomerId a = must(txn.insert_customer(sample_customer(1)));
  Customer bad = sample_customer(2);
  bad.email = "broken";
  BOOST_TEST(!txn.insert_customer(bad).has_value());
  CustomerId b = must(txn.insert_customer(sample_customer(3)));
  must(txn.commit());
  BOOST_TEST(must(db.get_customer(a)).has_value());
  BOOST_TEST(must(db.get_customer(b)).has_value());
  require_clean(db);
}

BOOST_DATA_TEST_CASE(batch_insert_all_or_nothing, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  std::vector<Customer> batch;
  for (int i = 1; i <= 20; ++i) batch.push_back(sample_customer(i));
  batch[13].email = "bad email";
  auto r = db.insert_customers(batch);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().message().find("customer #14") != std::string::npos);
  BOOST_TEST(must(must(db.begin_read()).counts()).customers == 0u);
  batch[13].email = "fixed@example.com";
  auto ids = must(db.insert_customers(batch));
  BOOST_TEST(ids.size() == 20u);
  BOOST_TEST(must(must(db.begin_read()).counts()).customers == 20u);
  require_clean(db);
}

BOOST_DATA_TEST_CASE(scan_in_id_order, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  for (int i = 1; i <= 30; ++i) (void)must(db.insert_customer(sample_customer(i)));
  auto txn = must(db.begin_read());
  std::vector<CustomerId> seen;
  must(txn.for_each_customer([&](const Customer& c) {
    seen.push_back(c.id);
    return seen.size() < 25;
  }));
  BOOST_TEST(seen.size() == 25u);
  BOOST_TEST(std::is_sorted(seen.begin(), seen.end()));
}

BOOST_AUTO_TEST_SUITE_END()
