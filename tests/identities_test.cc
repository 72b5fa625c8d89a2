// Issue #15, points 1-4 (API side), helper T: identities that are equal must match. Phones in
// E.164 through libphonenumber with a database phone region, emails with an IDNA domain and a
// fully case-folded local part, folded text attributes (tags, city, region) with NFC + full
// Unicode case folding in storage, index keys and the query parser alike, the format-3 upgrade of
// keys folded the old way (tests/fixtures/v2_db and v1_db), and invalid UTF-8 refused in every
// text field. Through the public API and the CLI.

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>

#include "custdb/analytics.h"
#include "custdb/database.h"
#include "custdb/key.h"
#include "custdb/query.h"
#include "program.h"
#include "test_util.h"
#include "util/normalize.h"

using namespace custdb;
namespace fs = std::filesystem;
using test::contains;
using test::must;
using test::with_region;

namespace {


Customer person(std::string name) {
  Customer c;
  c.name = std::move(name);
  return c;
}

std::vector<CustomerId> ids_of(const std::vector<Customer>& cs) {
  std::vector<CustomerId> out;
  for (const auto& c : cs) out.push_back(c.id);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<CustomerId> query_ids(const Database& db, const std::string& text) {
  auto q = query::parse(text);
  BOOST_TEST_REQUIRE(q.has_value(), text << ": " << (q ? "" : q.error().message()));
  auto txn = must(db.begin_read());
  return must(txn.ids(*q));
}

std::string error_of(const Result<CustomerId>& r) { return r ? std::string() : r.error().message(); }


// Copies fixture `which` ("v2_db" or "v1_db") in `mode` into dir.
void copy_fixture(const char* which, test::Mode mode, const fs::path& dir) {
  fs::copy_file(fs::path(CUSTDB_FIXTURE_DIR) / which /
                    (mode == test::Mode::kEncrypted ? "encrypted" : "plaintext") / "data.mdb",
                dir / "data.mdb");
}

Options fixture_options(test::Mode mode, std::string region = "") {
  Options o;
  if (mode == test::Mode::kEncrypted) o.key = KeyMaterial::from_passphrase("fixture-passphrase");
  o.phone_region = std::move(region);
  return o;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(identities)

// ---- the canonical functions ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(phone_forms_of_many_countries) {
  struct Case {
    const char* text;
    const char* region;
    const char* e164;
  };
  const Case cases[] = {
      {"+46 70 123 4567", "", "+46701234567"},
      {"+46 70 123 4567", "SE", "+46701234567"},
      {"0046 70 123 4567", "SE", "+46701234567"},
      {"070 123 4567", "SE", "+46701234567"},
      {"070-123 45 67", "SE", "+46701234567"},
      {"(+49) 170 1234567", "", "+491701234567"},
      {"0170 1234567", "DE", "+491701234567"},
      {"0049 170 1234567", "SE", "+491701234567"},    // SE's international prefix 00
      {"011 46 70 123 4567", "US", "+46701234567"},   // US's international prefix is 011
      {"(415) 555-2671", "US", "+14155552671"},
      {"1-415-555-2671", "US", "+14155552671"},
      {"07700 900123", "GB", "+447700900123"},
      {"+44 (0)7700 900123", "", "+447700900123"},
      {"090-1234-5678", "JP", "+819012345678"},
      {"098765 43210", "IN", "+919876543210"},
      {"+91 98765 43210", "SE", "+919876543210"},    // a +CC form ignores the region
      {"\uFF0B46 70 123 4567", "", "+46701234567"},  // full-width plus
      {"+1 800 FLOWERS", "", "+18003569377"},         // letters are keypad digits
  };
  for (const Case& c : cases) {
    auto p = normalize::phone(c.text, c.region);
    BOOST_TEST_REQUIRE(p.e164.has_value(), c.text << " in '" << c.region << "'");
    BOOST_TEST(*p.e164 == c.e164, c.text << " in '" << c.region << "'");
  }
  // 00 is not the US international prefix: there "0046..." is no number of anyone.
  auto us = normalize::phone("0046 70 123 4567", "US");
  BOOST_TEST((!us.e164 || *us.e164 != "+46701234567"));
  // National forms need a region.
  for (const char* national : {"070 123 4567", "0046 70 123 4567", "0170 1234567"}) {
    auto p = normalize::phone(national, "");
    BOOST_TEST(!p.e164.has_value(), national);
    BOOST_TEST((p.error == normalize::PhoneError::kNeedsRegion), national);
  }
  // Impossible numbers.
  for (const char* bad : {"+46 1", "+1 23", "12", "call me", "+999 123 456 789", "", "   ",
                          "+1 555 0100" /* local-only: no area code */,
                          "+46 70 123 4567 8901 2345 6789"}) {
    auto p = normalize::phone(bad, "SE");
    BOOST_TEST(!p.e164.has_value(), "'" << bad << "'");
    BOOST_TEST((p.error == normalize::PhoneError::kNotANumber), bad);
  }
}

BOOST_AUTO_TEST_CASE(email_forms) {
  const std::string want = "ünal@bücher.de";
  for (const char* form : {"ÜNAL@BÜCHER.DE", "ünal@bücher.de", "ünal@xn--bcher-kva.de",
                           "Ünal@bÜcher.de", "  ÜNAL@XN--BCHER-KVA.DE ",
                           "u\u0308nal@bu\u0308cher.de"}) {  // decomposed ü
    auto e = normalize::email(form);
    BOOST_TEST_REQUIRE(e.has_value(), form);
    BOOST_TEST(*e == want, form);
  }
  // Full case folding of the local part: ß folds to ss, final sigma to σ, Cyrillic, Armenian.
  BOOST_TEST(*normalize::email("STRASSE@example.com") == *normalize::email("straße@example.com"));
  BOOST_TEST(*normalize::email("ΟΔΥΣΣΕΥΣ@example.gr") == *normalize::email("οδυσσευς@example.gr"));
  BOOST_TEST(*normalize::email("ΟΔΥΣΣΕΥΣ@example.gr") == *normalize::email("οδυσσευσ@example.gr"));
  BOOST_TEST(*normalize::email("ИВАН@пример.рф") == "иван@пример.рф");
  BOOST_TEST(*normalize::email("ИВАН@xn--e1afmkfd.xn--p1ai") == "иван@пример.рф");
  BOOST_TEST(*normalize::email("John.Doe@Example.COM") == "john.doe@example.com");
  for (const char* bad : {"no-at-sign", "@example.com", "a@b@c.de", "a@nodot", "a@.de", "a@de.",
                          "a b@example.com", "a@exa..mple.com", "a@xn--zz.de", "Jos\xe9@example.com"})
    BOOST_TEST(!normalize::email(bad).has_value(), bad);
}

// What full case folding does (and does not) with scripts: documented in docs/format.md.
BOOST_AUTO_TEST_CASE(folding_of_scripts) {
  using normalize::fold;
  BOOST_TEST(fold("Ärzte") == fold("ärzte"));
  BOOST_TEST(fold("КЛИЕНТ") == fold("клиент"));
  BOOST_TEST(fold("MÜNCHEN") == fold("München"));
  BOOST_TEST(fold("Île-de-France") == fold("île-de-france"));
  BOOST_TEST(fold("Straße") == fold("STRASSE"));
  BOOST_TEST(fold("ΣΊΣΥΦΟΣ") == fold("σίσυφος"));           // final sigma
  BOOST_TEST(fold("ᏣᎳᎩ") == fold("ꮳꮃꭹ"));                    // Cherokee (folds to upper case)
  BOOST_TEST(fold("ᲥᲐᲠᲗᲣᲚᲘ") == fold("ქართული"));          // Georgian Mtavruli / Mkhedruli
  BOOST_TEST(fold("ՀԱՅԵՐԵՆ") == fold("հայերեն"));          // Armenian
  BOOST_TEST(fold("caf\u00e9") == fold("cafe\u0301"));      // precomposed and decomposed é
  BOOST_TEST(fold("CAFE\u0301") == "caf\u00e9");             // NFC after folding
  BOOST_TEST(fold("  Vip\t") == "vip");
  // Turkish dotted/dotless I: full case folding is not Turkic: "İ" folds to "i" + U+0307 and
  // "I" to "i", so "İSTANBUL" does not equal "istanbul", "ISTANBUL" does.
  BOOST_TEST(fold("İSTANBUL") == "i\u0307stanbul");
  BOOST_TEST(fold("İSTANBUL") != fold("istanbul"));
  BOOST_TEST(fold("ISTANBUL") == fold("istanbul"));
  BOOST_TEST(fold("ı") == "ı");  // dotless i has no fold
  // Stored form of city/region: NFC only, capitals kept.
  BOOST_TEST(normalize::stored_text(" Cafe\u0301 ") == "Caf\u00e9");
  // Bytes that are not UTF-8 fold as format 2 did (ASCII only).
  BOOST_TEST(fold("JOS\xe9") == "jos\xe9");
}

// ---- through the API -----------------------------------------------------------------------------

BOOST_DATA_TEST_CASE(every_phone_form_finds_the_customer, test::kModes, mode) {
  test::TempDir dir;
  auto db = must(Database::open(dir.path(), with_region(mode, "SE")));
  BOOST_TEST(db.info().phone_region == "SE");
  Customer a = person("Anna");
  a.phone = "070 123 4567";
  CustomerId id = must(db.insert_customer(a));
  BOOST_TEST(*must(db.get_customer(id))->phone == "+46701234567");
  Customer b = person("Bernd");
  b.phone = "(+49) 170 1234567";
  CustomerId bid = must(db.insert_customer(b));
  auto txn = must(db.begin_read());
  for (const char* form : {"+46 70 123 4567", "0046 70 123 4567", "070 123 4567", "+46701234567",
                           "0701234567"}) {
    auto found = must(txn.find_by_phone(form));
    BOOST_TEST((ids_of(found) == std::vector<CustomerId>{id}), form);
  }
  for (const char* form : {"0170 1234567" /* SE reading: not Bernd's */}) {
    auto found = txn.find_by_phone(form);
    if (found) BOOST_TEST(ids_of(*found).empty(), form);
  }
  BOOST_TEST((ids_of(must(txn.find_by_phone("0049 170 1234567"))) == std::vector<CustomerId>{bid}));
  auto bad = txn.find_by_phone("12");
  BOOST_TEST_REQUIRE(!bad.has_value());
  BOOST_TEST((bad.error().code() == ErrorCode::kInvalidArgument));
  BOOST_TEST(contains(bad.error().message(), "phone: not a phone number: '12'"));
}

BOOST_DATA_TEST_CASE(impossible_phone_is_an_error_naming_the_field, test::kModes, mode) {
  test::TempDir dir;
  auto db = must(Database::open(dir.path(), with_region(mode, "SE")));
  for (const char* bad : {"+46 1", "12345", "phone me", "+999 555 0100"}) {
    Customer c = person("X");
    c.phone = bad;
    auto r = db.insert_customer(c);
    BOOST_TEST_REQUIRE(!r.has_value(), bad);
    BOOST_TEST((r.error().code() == ErrorCode::kInvalidArgument));
    BOOST_TEST(contains(r.error().message(), "phone: not a phone number: '"), r.error().message());
  }
  BOOST_TEST(must(must(db.begin_read()).counts()).customers == 0u);  // nothing written
}

BOOST_DATA_TEST_CASE(national_form_without_region_says_to_set_it, test::kModes, mode) {
  test::TempDir dir;
  auto db = test::open_db(mode, dir.path());
  BOOST_TEST(db.info().phone_region.empty());
  Customer c = person("Anna");
  c.phone = "070 123 4567";
  auto r = db.insert_customer(c);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(contains(r.error().message(), "phone: '070 123 4567' has no country code"));
  BOOST_TEST(contains(r.error().message(), "--phone-region"));
  BOOST_TEST(contains(r.error().message(), "custdb phone-region CC"));
  c.phone = "+46 70 123 4567";  // international forms need no region
  CustomerId id = must(db.insert_customer(c));
  BOOST_TEST(*must(db.get_customer(id))->phone == "+46701234567");
}

BOOST_DATA_TEST_CASE(phone_region_is_stored_and_can_change, test::kModes, mode) {
  test::TempDir dir;
  { auto db = must(Database::open(dir.path(), with_region(mode, "se"))); }
  {
    auto db = must(Database::open(dir.path(), with_region(mode, "")));  // the file's
    BOOST_TEST(db.info().phone_region == "SE");
    Customer c = person("Anna");
    c.phone = "070 123 4567";
    must(db.insert_customer(c));
  }
  {
    auto db = must(Database::open(dir.path(), with_region(mode, "DE")));  // a change
    BOOST_TEST(db.info().phone_region == "DE");
    auto txn = must(db.begin_read());
    BOOST_TEST(must(txn.find_by_phone("+46 70 123 4567")).size() == 1u);  // stored E.164
    test::require_clean(db);
  }
  {
    Options o = with_region(mode, "");
    o.read_only = true;
    auto db = must(Database::open(dir.path(), o));
    BOOST_TEST(db.info().phone_region == "DE");
  }
  auto bad = Database::open(dir.path(), with_region(mode, "XX"));
  BOOST_TEST_REQUIRE(!bad.has_value());
  BOOST_TEST(contains(bad.error().message(), "phone_region: not a region"));
}

BOOST_DATA_TEST_CASE(every_email_form_finds_the_customer, test::kModes, mode) {
  test::TempDir dir;
  auto db = test::open_db(mode, dir.path());
  Customer c = person("Ünal");
  c.email = "ÜNAL@BÜCHER.DE";
  CustomerId id = must(db.insert_customer(c));
  BOOST_TEST(*must(db.get_customer(id))->email == "ünal@bücher.de");
  Customer g = person("Odysseus");
  g.email = "ΟΔΥΣΣΕΥΣ@example.gr";
  CustomerId gid = must(db.insert_customer(g));
  auto txn = must(db.begin_read());
  for (const char* form : {"ÜNAL@BÜCHER.DE", "ünal@bücher.de", "ünal@xn--bcher-kva.de",
                           "u\u0308nal@BU\u0308CHER.de"})
    BOOST_TEST((ids_of(must(txn.find_by_email(form))) == std::vector<CustomerId>{id}), form);
  BOOST_TEST((ids_of(must(txn.find_by_email("οδυσσευς@EXAMPLE.gr"))) == std::vector<CustomerId>{gid}));
  test::require_clean(db);
}

BOOST_DATA_TEST_CASE(folded_attributes_match_in_queries, test::kModes, mode) {
  test::TempDir dir;
  auto db = test::open_db(mode, dir.path());
  Customer a = person("A");
  a.tags = {"Ärzte", "КЛИЕНТ", "ΣΊΣΥΦΟΣ"};
  a.address = {"MÜNCHEN", "Île-de-France", "DE"};
  Customer b = person("B");
  b.tags = {"ärzte", "клиент"};
  b.address = {"München", "île-de-france", "DE"};
  Customer s = person("S");
  s.tags = {"Straße"};
  s.address = {"Straße", "Cafe\u0301", "DE"};  // decomposed é
  CustomerId ia = must(db.insert_customer(a)), ib = must(db.insert_customer(b)),
             is = must(db.insert_customer(s));
  // Stored: tags folded; city and region as typed (NFC).
  auto sa = *must(db.get_customer(ia));
  BOOST_TEST((sa.tags == std::vector<std::string>{"ärzte", "σίσυφοσ", "клиент"}));
  BOOST_TEST(sa.address.city == "MÜNCHEN");
  BOOST_TEST(must(db.get_customer(is))->address.region == "Caf\u00e9");
  const std::vector<CustomerId> ab{ia, ib};
  for (const char* q : {"tag = Ärzte", "tag = ärzte", "tag = ÄRZTE", "tag = КЛИЕНТ",
                        "tag = клиент", "city = MÜNCHEN", "city = münchen", "city = 'München'",
                        "region = 'Île-de-France'", "region = 'île-de-france'",
                        "region = 'ÎLE-DE-FRANCE'"})
    BOOST_TEST(query_ids(db, q) == ab, q);
  BOOST_TEST((query_ids(db, "tag = σίσυφος") == std::vector<CustomerId>{ia}));
  BOOST_TEST((query_ids(db, "tag = STRASSE") == std::vector<CustomerId>{is}));
  BOOST_TEST((query_ids(db, "city = strasse") == std::vector<CustomerId>{is}));
  BOOST_TEST((query_ids(db, "region = 'CAF\u00c9'") == std::vector<CustomerId>{is}));
  BOOST_TEST((query_ids(db, "region = 'cafe\u0301'") == std::vector<CustomerId>{is}));
  // Grouping by region folds too: one group for Île-de-France/île-de-france.
  auto txn = must(db.begin_read());
  auto rows = must(txn.group(*query::parse("city = münchen"), GroupBy::kRegion));
  BOOST_TEST_REQUIRE(rows.size() == 1u);
  BOOST_TEST(rows[0].customers == 2u);
  test::require_clean(db);
}

BOOST_DATA_TEST_CASE(invalid_utf8_is_refused_in_every_text_field, test::kModes, mode) {
  test::TempDir dir;
  auto db = must(Database::open(dir.path(), with_region(mode, "SE")));
  const std::string latin1 = "Jos\xe9";
  struct Field {
    const char* name;
    std::function<void(Customer&)> set;
  };
  const Field fields[] = {
      {"name", [&](Customer& c) { c.name = latin1; }},
      {"external_ref", [&](Customer& c) { c.external_ref = latin1; }},
      {"email", [&](Customer& c) { c.email = latin1 + "@example.com"; }},
      {"phone", [&](Customer& c) { c.phone = "+46 70 123 4567\xff"; }},
      {"tags", [&](Customer& c) { c.tags = {"ok", latin1}; }},
      {"city", [&](Customer& c) { c.address.city = latin1; }},
      {"region", [&](Customer& c) { c.address.region = latin1; }},
      {"city", [&](Customer& c) { c.address.city = "\xed\xa0\x80"; }},  // a surrogate
      {"email", [&](Customer& c) { c.email = "a@b\xc0\xaf.de"; }},        // overlong '/'
  };
  for (const Field& f : fields) {
    Customer c = person("Valid");
    f.set(c);
    auto r = db.insert_customer(c);
    BOOST_TEST_REQUIRE(!r.has_value(), f.name);
    BOOST_TEST(error_of(r) == std::string(f.name) + ": not UTF-8");
  }
  BOOST_TEST(must(must(db.begin_read()).counts()).customers == 0u);
  auto txn = must(db.begin_read());
  auto e = txn.find_by_email(latin1 + "@example.com");
  BOOST_TEST_REQUIRE(!e.has_value());
  BOOST_TEST(e.error().message() == "email: not UTF-8");
}

// ---- the format-3 upgrade of old keys -------------------------------------------------------------

// tests/fixtures/v2_db: customers 9001..9003 hold one person's forms of one phone, email, tags,
// city and region (README.md there). Opened read-write with phone region SE the file upgrades
// to format 3: every form finds all three, and the check is clean.
BOOST_DATA_TEST_CASE(v2_fixture_upgrades_so_every_form_finds_all_three, test::kModes, mode) {
  test::TempDir dir;
  copy_fixture("v2_db", mode, dir.path());
  const std::vector<CustomerId> three{9001, 9002, 9003};
  {
    // Read-only: the file stays format 2 and answers with its old keys (no upgrade).
    Options o = fixture_options(mode, "SE");
    o.read_only = true;
    auto db = must(Database::open(dir.path(), o));
    BOOST_TEST(db.info().format_version == 2u);
  }
  auto db = must(Database::open(dir.path(), fixture_options(mode, "SE")));
  BOOST_TEST(db.info().format_version == 7u);
  BOOST_TEST(db.info().phones_not_e164 == 0u);
  test::require_clean(db);
  auto txn = must(db.begin_read());
  for (const char* form : {"+46 70 123 4567", "0046 70 123 4567", "070 123 4567"})
    BOOST_TEST(ids_of(must(txn.find_by_phone(form))) == three, form);
  for (const char* form : {"ÜNAL@BÜCHER.DE", "ünal@bücher.de", "ünal@xn--bcher-kva.de"}) {
    auto found = ids_of(must(txn.find_by_email(form)));
    // 9003's local part is "info": the same domain, another address.
    BOOST_TEST((found == std::vector<CustomerId>{9001, 9002}), form);
  }
  BOOST_TEST((ids_of(must(txn.find_by_email("INFO@BÜCHER.DE"))) == std::vector<CustomerId>{9003}));
  BOOST_TEST((ids_of(must(txn.find_by_phone("(+49) 170 1234567"))) == std::vector<CustomerId>{9004}));
  for (const char* q : {"tag = Ärzte", "tag = ärzte", "tag = КЛИЕНТ", "tag = клиент"})
    BOOST_TEST((query_ids(db, q) == std::vector<CustomerId>{9001, 9002}), q);
  for (const char* q : {"city = MÜNCHEN", "city = München"})
    BOOST_TEST((query_ids(db, q) == std::vector<CustomerId>{9001, 9002}), q);
  for (const char* q : {"region = 'Île-de-France'", "region = 'île-de-france'", "region = 'ÎLE-DE-FRANCE'"})
    BOOST_TEST(query_ids(db, q) == three, q);
  BOOST_TEST((query_ids(db, "city = STRASSE") == std::vector<CustomerId>{9003}));
  BOOST_TEST((query_ids(db, "region = 'são paulo'") == std::vector<CustomerId>{9004}));
  auto c1 = *must(db.get_customer(9001));
  BOOST_TEST(*c1.email == "ünal@bücher.de");
  BOOST_TEST(*c1.phone == "+46701234567");
  BOOST_TEST((c1.tags == std::vector<std::string>{"ärzte", "клиент"}));
  BOOST_TEST(c1.address.city == "MÜNCHEN");  // stored as typed
  // The demo customers' queries still answer (the ASCII keys were rebuilt, not lost).
  BOOST_TEST(query_ids(db, "tag = vip").size() >= 1u);
}

// Without a region the national forms cannot become E.164: kept as stored, counted, and
// converted once a region is set (the documented mechanism).
BOOST_DATA_TEST_CASE(v2_fixture_without_region_keeps_national_phones, test::kModes, mode) {
  test::TempDir dir;
  copy_fixture("v2_db", mode, dir.path());
  {
    auto db = must(Database::open(dir.path(), fixture_options(mode)));
    BOOST_TEST(db.info().format_version == 7u);
    BOOST_TEST(db.info().phones_not_e164 == 2u);  // 9002 0701234567, 9003 0046701234567
    BOOST_TEST(*must(db.get_customer(9002))->phone == "0701234567");
    test::require_clean(db);
    auto txn = must(db.begin_read());
    BOOST_TEST((ids_of(must(txn.find_by_phone("+46 70 123 4567"))) == std::vector<CustomerId>{9001}));
  }
  auto db = must(Database::open(dir.path(), fixture_options(mode, "SE")));
  BOOST_TEST(db.info().phones_not_e164 == 0u);
  BOOST_TEST(*must(db.get_customer(9002))->phone == "+46701234567");
  BOOST_TEST(*must(db.get_customer(9003))->phone == "+46701234567");
  test::require_clean(db);
  auto txn = must(db.begin_read());
  BOOST_TEST((ids_of(must(txn.find_by_phone("070 123 4567"))) == std::vector<CustomerId>{9001, 9002, 9003}));
}

// A phone the upgrade could not make E.164 (no region yet) must not stop updates that leave it
// alone: a rules run that moves tiers, or an application changing a customer's name. A phone
// that is written (changed) meets today's rules.
BOOST_DATA_TEST_CASE(values_kept_from_an_older_release_do_not_stop_updates, test::kModes, mode) {
  test::TempDir dir;
  copy_fixture("v2_db", mode, dir.path());
  auto db = must(Database::open(dir.path(), fixture_options(mode)));
  BOOST_TEST_REQUIRE(db.info().phones_not_e164 == 2u);
  BOOST_TEST(must(db.write([](WriteTxn& w) {
    return w.update_customer(9002, [](Customer& c) { c.name = "Ünal Yılmaz"; });
  })));
  BOOST_TEST(*must(db.get_customer(9002))->phone == "0701234567");  // kept as stored
  must(set_rules(db, std::vector<Rule>{must(parse_rule("tier = gold when txn_count >= 0"))}));
  const RuleReport report = must(apply_rules(db));
  BOOST_TEST(must(db.get_customer(9002))->tier == Tier::kGold);
  BOOST_TEST(must(db.get_customer(9003))->tier == Tier::kGold);
  BOOST_TEST(report.changed > 0u);
  // Writing a national form now is refused (no region), and nothing changes.
  auto r = db.write([](WriteTxn& w) {
    return w.update_customer(9002, [](Customer& c) { c.phone = "070 123 4568"; });
  });
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().message().find("phone") != std::string::npos);
  BOOST_TEST(*must(db.get_customer(9002))->phone == "0701234567");
  test::require_clean(db);
}

BOOST_DATA_TEST_CASE(v1_fixture_upgrades_to_3_and_checks_clean, test::kModes, mode) {
  test::TempDir dir;
  copy_fixture("v1_db", mode, dir.path());
  std::uint64_t before = 0;
  {
    Options o = fixture_options(mode);
    o.read_only = true;
    auto db = must(Database::open(dir.path(), o));
    BOOST_TEST(db.info().format_version == 1u);
    before = query_ids(db, "tier >= silver").size();
  }
  auto db = must(Database::open(dir.path(), fixture_options(mode, "US")));
  BOOST_TEST(db.info().format_version == 7u);
  test::require_clean(db);
  BOOST_TEST(query_ids(db, "tier >= silver").size() == before);
  // Every stored phone is E.164 now (the demo wrote +1 numbers).
  BOOST_TEST(db.info().phones_not_e164 == 0u);
}

// ---- the CLI ---------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(cli_init_phone_region_and_find) {
  test::TempDir dir;
  const std::string db = (dir.path() / "db").string();
  auto init = test::run_cli({"--db", db, "init", "--phone-region", "SE"});
  BOOST_TEST_REQUIRE(init.code == 0, init);
  BOOST_TEST(contains(init.out, "phone region SE"), init);
  const fs::path csv = dir.path() / "c.csv";
  std::ofstream(csv) << "id,name,email,phone,tags,city,region\n"
                        ",Ünal,ÜNAL@BÜCHER.DE,070 123 4567,Ärzte|КЛИЕНТ,MÜNCHEN,Île-de-France\n";
  auto imp = test::run_cli({"--db", db, "import", "customers", csv.string()});
  BOOST_TEST_REQUIRE(imp.code == 0, imp);
  for (const char* form : {"+46 70 123 4567", "0046 70 123 4567", "070 123 4567"}) {
    auto f = test::run_cli({"--db", db, "--json", "find", "--phone", form});
    BOOST_TEST(f.code == 0, form << ": " << f);
  }
  for (const char* form : {"ünal@bücher.de", "ünal@xn--bcher-kva.de"}) {
    auto f = test::run_cli({"--db", db, "--json", "find", "--email", form});
    BOOST_TEST(f.code == 0, form << ": " << f);
  }
  auto seg = test::run_cli({"--db", db, "segment", "--count", "tag = ärzte and city = münchen and region = 'île-de-france'"});
  BOOST_TEST(seg.code == 0, seg);
  auto bad = test::run_cli({"--db", db, "find", "--phone", "12"});
  BOOST_TEST(bad.code == 2, bad);
  BOOST_TEST(contains(bad.err, "phone: not a phone number: '12'"), bad);
  // Changing the region of an existing database.
  auto show = test::run_cli({"--db", db, "phone-region"});
  BOOST_TEST(contains(show.out, "phone region SE"), show);
  auto set = test::run_cli({"--db", db, "phone-region", "de"});
  BOOST_TEST_REQUIRE(set.code == 0, set);
  BOOST_TEST(contains(set.out, "phone region DE"), set);
  auto stats = test::run_cli({"--db", db, "--json", "stats"});
  BOOST_TEST(contains(stats.out, "\"phone_region\": \"DE\""), stats);
  auto verify = test::run_cli({"--db", db, "verify"});
  BOOST_TEST(verify.code == 0, verify);
}

BOOST_AUTO_TEST_CASE(cli_upgrade_of_v2_fixture_with_region_then_verify) {
  for (auto mode : {test::Mode::kPlain, test::Mode::kEncrypted}) {
    test::TempDir dir;
    copy_fixture("v2_db", mode, dir.path());
    std::map<std::string, std::string> env;
    if (mode == test::Mode::kEncrypted) env["CUSTDB_PASSPHRASE"] = "fixture-passphrase";
    const std::string db = dir.path().string();
    auto set = test::run_cli({"--db", db, "phone-region", "SE"}, test::RunOptions{.env = env});
    BOOST_TEST_REQUIRE(set.code == 0, set);
    auto verify = test::run_cli({"--db", db, "verify"}, test::RunOptions{.env = env});
    BOOST_TEST(verify.code == 0, verify);
    for (const char* form : {"+46 70 123 4567", "0046 70 123 4567", "070 123 4567"}) {
      auto f = test::run_cli({"--db", db, "--json", "find", "--phone", form}, test::RunOptions{.env = env});
      BOOST_TEST(f.code == 0, f);
      BOOST_TEST((contains(f.out, "9001") && contains(f.out, "9002") && contains(f.out, "9003")), f);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
