// Validation that means what it says (issue #15, points 5 and 6): ISO 3166-1 / ISO 4217 codes
// from Debian's iso-codes, birth dates not in the future, transaction times required,
// base_amount never silently replaced, engine-owned fields never silently kept, and leap
// seconds only where they can happen. Through the public API and the CLI; a refused write
// leaves nothing behind.
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <fstream>
#include <set>

#include "custdb/money.h"
#include "engine/validate.h"
#include "util/iso_codes.h"
#include "program.h"
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;

namespace {

Timestamp ts(const char* s) {
  auto t = parse_timestamp(s);
  BOOST_TEST_REQUIRE(t.has_value(), s);
  return *t;
}

Date today_utc() { return std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now()); }


// The error of a failed result, required to be kInvalidArgument with a message starting with
// `field` + ":".
template <class T>
void require_field_error(const Result<T>& r, const std::string& field, const std::string& also = "") {
  BOOST_TEST_REQUIRE(!r.has_value(), "expected an error naming " << field);
  BOOST_TEST((r.error().code() == ErrorCode::kInvalidArgument), r.error().to_string());
  BOOST_TEST(r.error().message().rfind(field + ":", 0) == 0u, r.error().message());
  if (!also.empty()) BOOST_TEST(contains(r.error().message(), also), r.error().message());
}

std::uint64_t customer_count(const Database& db) {
  auto read = must(db.begin_read());
  std::uint64_t n = 0;
  must(read.for_each_customer([&](const Customer&) {
    ++n;
    return true;
  }));
  return n;
}

// What validation makes of a code: blanks trimmed, ASCII upper case.
std::string normalize_for_test(std::string_view code) {
  std::string out;
  for (char ch : code)
    if (ch != ' ') out += static_cast<char>(ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch);
  return out;
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(validation_edges)

// ---- ISO 3166-1 ------------------------------------------------------------------------------

BOOST_DATA_TEST_CASE(countries_are_the_iso_3166_1_list, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  // Not in iso_3166-1.json: the XX; user-assigned ZZ, AA, QM, XA, XK (Kosovo's
  // placeholder); reserved UK (the UK is GB) and EU; withdrawn YU, CS, AN (iso_3166-3);
  // non-letters and wrong lengths.
  for (const char* bad : {"XX", "ZZ", "AA", "QM", "XA", "XK", "UK", "uk", "EU", "YU", "CS", "AN",
                          "D1", "DEU", "D", "Ü1", "G\xC3"}) {
    Customer c = sample_customer(1);
    c.address.country = bad;
    require_field_error(db.insert_customer(c), "country", "ISO 3166-1");
  }
  Customer uk = sample_customer(1);
  uk.address.country = "UK";
  auto r = db.insert_customer(uk);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(contains(r.error().message(), "GB"), r.error().message());
  BOOST_TEST(customer_count(db) == 0u);  // nothing written by any refusal

  // Listed ones, including territories and ones a hand-typed list tends to miss; lower case and
  // surrounding blanks are normalized.
  int i = 0;
  for (const char* good : {"GB", "de", " se ", "AQ", "BQ", "CW", "SS", "TW", "PS", "AX", "VA"}) {
    Customer c = sample_customer(++i);
    c.address.country = good;
    CustomerId id = must(db.insert_customer(c));
    auto back = must(must(db.begin_read()).get_customer(id)).value();
    std::string want = normalize_for_test(good);
    BOOST_TEST(back.address.country == want);
  }
  require_clean(db);
}

// The code lists are iso-codes' own: every two-letter (three-letter) combination is accepted
// exactly when the JSON the build read lists it (minus XXX and XTS), so a list typed by hand,
// or one that drifted from the installed package, fails here.
std::set<std::string> iso_json_codes(const std::string& file, const std::string& key,
                                     const std::string& field) {
  boost::property_tree::ptree pt;
  boost::property_tree::read_json(std::string(CUSTDB_ISO_CODES_DIR) + "/" + file, pt);
  std::set<std::string> out;
  for (const auto& [_, entry] : pt.get_child(key)) out.insert(entry.get<std::string>(field));
  return out;
}

BOOST_AUTO_TEST_CASE(code_lists_are_exactly_the_iso_codes_json) {
  const auto countries = iso_json_codes("iso_3166-1.json", "3166-1", "alpha_2");
  const auto currencies = iso_json_codes("iso_4217.json", "4217", "alpha_3");
  BOOST_TEST(countries.size() > 240u);
  BOOST_TEST(currencies.size() > 150u);
  BOOST_TEST(countries.count("GB") == 1u);
  BOOST_TEST(countries.count("UK") == 0u);
  int accepted = 0;
  for (char a = 'A'; a <= 'Z'; ++a)
    for (char b = 'A'; b <= 'Z'; ++b) {
      const std::string code{a, b};
      const bool listed = countries.count(code) > 0;
      BOOST_TEST(iso_codes::is_country(code) == listed, code);
      accepted += iso_codes::is_country(code);
    }
  BOOST_TEST(accepted == static_cast<int>(countries.size()));
  accepted = 0;
  for (char a = 'A'; a <= 'Z'; ++a)
    for (char b = 'A'; b <= 'Z'; ++b)
      for (char c = 'A'; c <= 'Z'; ++c) {
        const std::string code{a, b, c};
        const bool listed = currencies.count(code) > 0 && code != "XXX" && code != "XTS";
        if (iso_codes::is_currency(code) != listed) BOOST_ERROR(code);
        if (detail::is_currency_code(code) != listed) BOOST_ERROR(code);
        const std::string lower{char(a + 32), char(b + 32), char(c + 32)};
        if (detail::is_currency_code(lower) != listed) BOOST_ERROR(lower);
        accepted += iso_codes::is_currency(code);
      }
  BOOST_TEST(accepted == static_cast<int>(currencies.size()) - 2);
  // Every currency of the minor-unit table (which stays custdb's own) is a listed one.
  for (const char* code : {"JPY", "KRW", "VND", "CLP", "ISK", "BHD", "KWD", "OMR", "JOD", "TND"})
    BOOST_TEST(currencies.count(code) == 1u, code);
}

// ---- ISO 4217 --------------------------------------------------------------------------------

BOOST_DATA_TEST_CASE(currencies_are_the_iso_4217_list, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  const CustomerId a = must(db.insert_customer(sample_customer(1)));
  // XYZ (the issue's), XXX ("no currency"), XTS (testing), withdrawn DEM/FRF/ITL, made-up ABC,
  // and shapes that are not codes at all.
  for (const char* bad : {"XYZ", "xyz", "XXX", "XTS", "DEM", "FRF", "ITL", "ABC", "EU", "EURO",
                          "US$", ""}) {
    Transaction t = sample_txn(a, 1000, "2025-01-01T10:00:00Z");
    t.currency = bad;
    t.base_amount = 1000;
    require_field_error(db.add_transaction(t), "currency");
  }
  BOOST_TEST(must(db.begin_read()).get_customer(a)->value().aggregates.txn_count == 0u);
  // Listed: lower case is stored upper case; precious metals and SDR are ISO 4217 codes too.
  for (const char* good : {"eur", "GBP", "JPY", "XAU", "XDR", "CHE", "KWD", "SEK"}) {
    Transaction t = sample_txn(a, 1000, "2025-01-01T10:00:00Z");
    t.currency = good;
    t.base_amount = 1100;
    TransactionId id = must(db.add_transaction(t));
    auto back = must(must(db.begin_read()).get_transaction(id)).value();
    BOOST_TEST(back.currency == normalize_for_test(good));
    BOOST_TEST((back.base_amount == std::optional<std::int64_t>(1100)));
  }
  require_clean(db);
}

BOOST_AUTO_TEST_CASE(base_currency_option_is_checked_against_iso_4217) {
  TempDir dir;
  for (const char* bad : {"XYZ", "XXX", "XTS", "DEM", "US", "usdollar", "\x1b[2J"}) {
    Options o;
    o.base_currency = bad;
    auto db = Database::open(dir / "db", o);
    require_field_error(db, "base_currency", "ISO 4217");
    BOOST_TEST(!fs::exists(dir / "db" / "data.mdb"));  // nothing created
  }
  Options o;
  o.base_currency = "sek";
  auto db = open_db(Mode::kPlain, dir / "db", o);
  BOOST_TEST(db.info().base_currency == "SEK");
}

BOOST_AUTO_TEST_CASE(amounts_need_a_known_currency) {
  BOOST_TEST(must(parse_amount("12.50", "eur")) == 1250);
  BOOST_TEST(must(parse_amount("1.234", "BHD")) == 1234);
  for (const char* bad : {"XYZ", "DEM", "XXX", ""}) {
    auto r = parse_amount("12.50", bad);
    BOOST_TEST_REQUIRE(!r.has_value(), bad);
    BOOST_TEST(contains(r.error().message(), "currency: not an ISO 4217 code"), r.error().message());
  }
  // The minor-unit table (iso-codes has no minor units) only names listed currencies.
  for (const char* code : {"JPY", "KRW", "VND", "CLP", "ISK", "BHD", "KWD", "OMR", "JOD", "TND"})
    BOOST_TEST(parse_amount("1", code).has_value(), code);
}

// ---- birth dates -----------------------------------------------------------------------------

BOOST_DATA_TEST_CASE(birth_dates_are_not_in_the_future, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  const Date today = today_utc();
  for (Date bad : {parse_date("2100-01-01").value(), parse_date("2200-12-31").value(),
                   today + std::chrono::days(1), today + std::chrono::days(366)}) {
    Customer c = sample_customer(1);
    c.birth_date = bad;
    require_field_error(db.insert_customer(c), "birth_date", "future");
  }
  Customer old = sample_customer(1);
  old.birth_date = Date{std::chrono::year{1799} / 12 / 31};
  require_field_error(db.insert_customer(old), "birth_date");
  BOOST_TEST(customer_count(db) == 0u);
  // Today, leap days (a 29 February of a leap year, 2000 being one), the oldest allowed date.
  int i = 0;
  for (Date good : {today, parse_date("2000-02-29").value(), parse_date("1964-02-29").value(),
                    parse_date("1904-02-29").value(), parse_date("1800-01-01").value()}) {
    Customer c = sample_customer(++i);
    c.birth_date = good;
    CustomerId id = must(db.insert_customer(c));
    BOOST_TEST((must(must(db.begin_read()).get_customer(id)).value().birth_date == good));
  }
  // Not a date at all: 29 February of a common year, and 1900 (not a leap year).
  BOOST_TEST(!parse_date("2023-02-29").has_value());
  BOOST_TEST(!parse_date("1900-02-29").has_value());
  // An update cannot move a birth date into the future either.
  auto w = must(db.begin_write());
  require_field_error(w.update_customer(1, [&](Customer& c) { c.birth_date = today + std::chrono::days(1); }),
                      "birth_date");
  must(w.commit());
  require_clean(db);
}

// ---- transaction times and base amounts --------------------------------------------------------

BOOST_DATA_TEST_CASE(transaction_time_is_required, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  const CustomerId a = must(db.insert_customer(sample_customer(1)));
  Transaction t = sample_txn(a, 1000, "2025-01-01");
  t.ts = Timestamp{};  // never set
  require_field_error(db.add_transaction(t), "ts", "required");
  // The epoch written out is the same value, so it reads as unset too.
  t.ts = ts("1970-01-01T00:00:00.000Z");
  require_field_error(db.add_transaction(t), "ts", "required");
  t.ts = ts("1970-01-01T01:00:00+01:00");
  require_field_error(db.add_transaction(t), "ts", "required");
  // A millisecond either side is a time.
  t.ts = ts("1970-01-01T00:00:00.001Z");
  must(db.add_transaction(t));
  t.ts = ts("1969-12-31T23:59:59.999Z");
  TransactionId id = must(db.add_transaction(t));
  // Amending a time back to unset is refused too.
  auto w = must(db.begin_write());
  require_field_error(w.amend_transaction(id, [](Transaction& x) { x.ts = Timestamp{}; }), "ts", "required");
  must(w.commit());
  BOOST_TEST(must(db.begin_read()).get_customer(a)->value().aggregates.txn_count == 2u);
  require_clean(db);
}

BOOST_DATA_TEST_CASE(base_amount_of_a_base_currency_transaction_must_equal_amount, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());  // base currency USD
  const CustomerId a = must(db.insert_customer(sample_customer(1)));
  Transaction t = sample_txn(a, 1000, "2025-01-01");
  t.base_amount = 999;  // was silently replaced by 1000
  require_field_error(db.add_transaction(t), "base_amount", "differs from amount");
  t.currency = "usd";  // the same currency, in lower case
  require_field_error(db.add_transaction(t), "base_amount", "differs from amount");
  BOOST_TEST(must(db.begin_read()).get_customer(a)->value().aggregates.txn_count == 0u);
  t.base_amount = 1000;  // equal: fine
  TransactionId t1 = must(db.add_transaction(t));
  t.base_amount.reset();  // absent: the amount
  TransactionId t2 = must(db.add_transaction(t));
  auto r = must(db.begin_read());
  BOOST_TEST((must(r.get_transaction(t1)).value().base_amount == std::optional<std::int64_t>(1000)));
  BOOST_TEST((must(r.get_transaction(t2)).value().base_amount == std::optional<std::int64_t>(1000)));
  // A database in JPY: a yen transaction with another base amount is refused the same way.
  Options o;
  o.base_currency = "JPY";
  auto jdb = open_db(mode, dir / "jpy", o);
  const CustomerId j = must(jdb.insert_customer(sample_customer(1)));
  Transaction y = sample_txn(j, 5000, "2025-01-01");
  y.currency = "JPY";
  y.base_amount = 50;
  require_field_error(jdb.add_transaction(y), "base_amount");
  y.currency = "USD";  // now a foreign transaction: base_amount is the caller's
  y.amount = 50'00;
  y.base_amount = 7400;
  must(jdb.add_transaction(y));
}

// ---- engine-owned fields ----------------------------------------------------------------------

BOOST_DATA_TEST_CASE(update_customer_refuses_changes_to_engine_fields, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  const CustomerId a = must(db.insert_customer(sample_customer(1)));
  must(db.add_transaction(sample_txn(a, 1000, "2025-01-01")));
  const Customer before = must(must(db.begin_read()).get_customer(a)).value();
  auto w = must(db.begin_write());
  require_field_error(w.update_customer(a, [](Customer& c) { c.id = 77; }), "id");
  require_field_error(w.update_customer(a, [](Customer& c) { c.aggregates.txn_count = 9; }), "aggregates");
  require_field_error(w.update_customer(a, [](Customer& c) { c.aggregates.total_amount += 1; }),
                      "aggregates");
  require_field_error(w.update_customer(a, [](Customer& c) { c.aggregates.last_txn_at.reset(); }),
                      "aggregates");
  require_field_error(w.update_customer(a, [](Customer& c) { c.scores = Scores{}; }), "scores");
  require_field_error(w.update_customer(a, [](Customer& c) { c.updated_at = ts("2020-01-01"); }),
                      "updated_at");
  require_field_error(w.update_customer(a, [](Customer& c) { c.created_at = Timestamp{}; }),
                      "created_at", "required");
  // Together with a legitimate change: still refused, and the legitimate change not applied.
  require_field_error(w.update_customer(a, [](Customer& c) {
                        c.name = "Renamed";
                        c.aggregates = {};
                      }),
                      "aggregates");
  BOOST_TEST((must(w.get_customer(a)).value() == before));
  // Leaving them as they are is fine; created_at may be corrected by the application.
  BOOST_TEST(must(w.update_customer(a, [](Customer& c) {
    c.name = "Renamed";
    c.created_at = ts("2001-02-03T04:05:06Z");
  })));
  must(w.commit());
  auto after = must(must(db.begin_read()).get_customer(a)).value();
  BOOST_TEST(after.name == "Renamed");
  BOOST_TEST((after.created_at == ts("2001-02-03T04:05:06Z")));
  BOOST_TEST((after.aggregates == before.aggregates));
  require_clean(db);
}

BOOST_DATA_TEST_CASE(insert_customer_refuses_engine_fields, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  Customer c = sample_customer(1);
  c.aggregates.txn_count = 3;
  require_field_error(db.insert_customer(c), "aggregates");
  c = sample_customer(1);
  c.scores = Scores{};
  require_field_error(db.insert_customer(c), "scores");
  BOOST_TEST(customer_count(db) == 0u);
}

BOOST_DATA_TEST_CASE(amend_transaction_refuses_an_id_change, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  const CustomerId a = must(db.insert_customer(sample_customer(1)));
  const TransactionId t = must(db.add_transaction(sample_txn(a, 1000, "2025-01-01")));
  auto w = must(db.begin_write());
  require_field_error(w.amend_transaction(t, [](Transaction& x) {
                        x.id = 999;
                        x.amount = 5;
                      }),
                      "id");
  must(w.commit());
  auto r = must(db.begin_read());
  BOOST_TEST(must(r.get_transaction(t)).value().amount == 1000);
  BOOST_TEST(!must(r.get_transaction(999)).has_value());
}

// ---- changing a transaction's currency ---------------------------------------------------------

BOOST_DATA_TEST_CASE(amend_changes_currency_with_the_base_amount_given, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());  // USD
  const CustomerId a = must(db.insert_customer(sample_customer(1)));
  const TransactionId usd = must(db.add_transaction(sample_txn(a, 1000, "2025-01-01")));
  Transaction e = sample_txn(a, 2000, "2025-01-02");
  e.currency = "EUR";
  e.base_amount = 2200;
  const TransactionId eur = must(db.add_transaction(e));
  auto w = must(db.begin_write());
  // The bug: USD 10.00 -> EUR 10.00 worth USD 10.00 (base_amount given, equal to the
  // stored one) was "base_amount required".
  BOOST_TEST(must(w.amend_transaction(usd, [](Transaction& t) {
    t.currency = "EUR";
    t.base_amount = 1000;
  })));
  // EUR -> GBP with the same base amount given again, then with a new one.
  BOOST_TEST(must(w.amend_transaction(eur, [](Transaction& t) {
    t.currency = "gbp";
    t.base_amount = 2200;
  })));
  BOOST_TEST(must(w.amend_transaction(eur, [](Transaction& t) {
    t.currency = "SEK";
    t.amount = 23000'00;
    t.base_amount = 2150'00;
  })));
  auto got = must(w.get_transaction(eur)).value();
  BOOST_TEST(got.currency == "SEK");
  BOOST_TEST((got.base_amount == std::optional<std::int64_t>(2150'00)));
  // Back to the base currency, base_amount left as it was: it follows the amount.
  BOOST_TEST(must(w.amend_transaction(eur, [](Transaction& t) {
    t.currency = "USD";
    t.amount = 2100;
  })));
  got = must(w.get_transaction(eur)).value();
  BOOST_TEST((got.base_amount == std::optional<std::int64_t>(2100)));
  // A base-currency amount change without touching base_amount: follows too.
  BOOST_TEST(must(w.amend_transaction(eur, [](Transaction& t) { t.amount = 2500; })));
  BOOST_TEST((must(w.get_transaction(eur)).value().base_amount == std::optional<std::int64_t>(2500)));
  // ... but a base_amount set to something else is refused, not replaced.
  require_field_error(w.amend_transaction(eur, [](Transaction& t) { t.base_amount = 1; }), "base_amount");
  // To a foreign currency without any base amount: required.
  require_field_error(w.amend_transaction(eur, [](Transaction& t) {
                        t.currency = "NOK";
                        t.base_amount.reset();
                      }),
                      "base_amount", "required");
  require_field_error(w.amend_transaction(eur, [](Transaction& t) { t.currency = "XYZ"; }), "currency");
  auto c = must(w.get_customer(a)).value();
  BOOST_TEST(c.aggregates.total_amount == 1000 + 2500);
  must(w.commit());
  require_clean(db);
}

// ---- leap seconds ----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(leap_second_is_the_last_millisecond_of_the_minute) {
  // The value: held at 23:59:59.999, so it sorts after 23:59:59.900.
  const Timestamp leap = ts("2016-12-31T23:59:60.100Z");
  BOOST_TEST((leap == ts("2016-12-31T23:59:59.999Z")));
  BOOST_TEST((leap > ts("2016-12-31T23:59:59.900Z")));
  BOOST_TEST((leap < ts("2017-01-01T00:00:00Z")));
  BOOST_TEST(format_timestamp(leap) == "2016-12-31T23:59:59.999Z");
  BOOST_TEST((ts("2016-12-31T23:59:60Z") == leap));
  BOOST_TEST((ts("2016-12-31T23:59:60.999Z") == leap));
  BOOST_TEST((ts("2016-12-31 23:59:60") == leap));  // no zone: UTC
  // With an offset, the UTC minute counts: 00:59:60 at +01:00 is 23:59:60 UTC.
  BOOST_TEST((ts("2017-01-01T00:59:60+01:00") == leap));
  BOOST_TEST((ts("2017-01-01T05:29:60+05:30") == leap));
  BOOST_TEST((ts("2016-12-31T18:59:60-05:00") == leap));
  BOOST_TEST((ts("2016-12-31T18:29:60-0530") == leap));
  // Other real leap seconds (end of June) and any month's last day (ITU-R allows them).
  BOOST_TEST((ts("2015-06-30T23:59:60Z") == ts("2015-06-30T23:59:59.999Z")));
  BOOST_TEST((ts("1972-06-30T23:59:60Z") == ts("1972-06-30T23:59:59.999Z")));
  BOOST_TEST((ts("2015-02-28T23:59:60Z") == ts("2015-02-28T23:59:59.999Z")));
  BOOST_TEST((ts("2016-02-29T23:59:60Z") == ts("2016-02-29T23:59:59.999Z")));
  BOOST_TEST((ts("2025-04-30T23:59:60Z") == ts("2025-04-30T23:59:59.999Z")));
}

BOOST_AUTO_TEST_CASE(leap_second_elsewhere_is_refused) {
  for (const char* bad : {
           "2016-12-31T23:58:60Z",       // not the last minute
           "2016-12-31T12:59:60Z",       // not the last hour
           "2016-12-30T23:59:60Z",       // not the last day
           "2016-02-28T23:59:60Z",       // 2016 is a leap year: 29 February is the last day
           "2016-06-15T23:59:60Z",
           "2016-12-31T23:59:60+01:00",  // 22:59 UTC
           "2017-01-01T00:59:60Z",       // 00:59 UTC
           "2016-12-31T23:59:61Z", "2016-12-31T23:59:99Z", "2016-12-31T24:00:00Z",
       }) {
    BOOST_TEST(!parse_timestamp(bad).has_value(), bad);
  }
  // An offset in minutes moves the UTC minute to 23:59 of 31 December: accepted.
  BOOST_TEST((ts("2017-01-01T00:00:60+00:01") == ts("2016-12-31T23:59:59.999Z")));
}

BOOST_DATA_TEST_CASE(leap_second_transactions_keep_their_order, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  const CustomerId a = must(db.insert_customer(sample_customer(1)));
  auto w = must(db.begin_write());
  // Added out of order; read back in time order, the leap second between :59.900 and midnight.
  const TransactionId after = must(w.add_transaction(sample_txn(a, 3, "2017-01-01T00:00:00Z")));
  const TransactionId leap = must(w.add_transaction(sample_txn(a, 2, "2016-12-31T23:59:60.100Z")));
  const TransactionId before = must(w.add_transaction(sample_txn(a, 1, "2016-12-31T23:59:59.900Z")));
  must(w.commit());
  auto all = must(must(db.begin_read()).transactions_of(a));
  BOOST_TEST_REQUIRE(all.size() == 3u);
  BOOST_TEST(all[0].id == before);
  BOOST_TEST(all[1].id == leap);
  BOOST_TEST(all[2].id == after);
  BOOST_TEST((must(db.begin_read()).get_customer(a)->value().aggregates.last_txn_at == ts("2017-01-01")));
}

// ---- through the CLI ---------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(cli_refuses_fake_codes_future_births_and_misplaced_leap_seconds) {
  TempDir dir;
  const std::string db = (dir / "db").string();
  ProgramResult o = run_cli({"init", "--currency", "XYZ", "--db", db});
  BOOST_TEST(o.code != 0, o.describe());
  BOOST_TEST(contains(o.err, "base_currency"), o.describe());
  BOOST_TEST(!fs::exists(dir / "db" / "data.mdb"));
  o = run_cli({"init", "--currency", "eur", "--db", db});
  BOOST_TEST_REQUIRE(o.code == 0, o.describe());

  const fs::path people = dir / "people.csv";
  write_text(people,
             "id,name,country,birth_date\n"
             "1,Anna Meyer,DE,1980-02-29\n"
             "2,Olaf Berg,XX,1975-01-01\n");  // line 3: not a country
  o = run_cli({"import", "customers", people.string(), "--db", db});
  BOOST_TEST(o.code == 1, o.describe());
  BOOST_TEST(contains(o.err, people.string() + ":3: country:"), o.describe());
  write_text(people, "id,name,country,birth_date\n1,Anna Meyer,DE,1980-02-29\n2,Tom Hill,UK,1990-01-01\n");
  o = run_cli({"import", "customers", people.string(), "--db", db});
  BOOST_TEST(o.code == 1, o.describe());
  BOOST_TEST(contains(o.err, ":3: country:"), o.describe());
  write_text(people, "id,name,country,birth_date\n1,Anna Meyer,DE,1980-02-29\n2,Tom Hill,GB,2100-01-01\n");
  o = run_cli({"import", "customers", people.string(), "--db", db});
  BOOST_TEST(o.code == 1, o.describe());
  BOOST_TEST(contains(o.err, ":3: birth_date:"), o.describe());
  write_text(people, "id,name,country,birth_date\n1,Anna Meyer,DE,1980-02-29\n2,Tom Hill,gb,1999-12-31\n");
  o = run_cli({"import", "customers", people.string(), "--db", db});
  BOOST_TEST_REQUIRE(o.code == 0, o.describe());

  const fs::path txns = dir / "txns.csv";
  write_text(txns,
             "id,customer_id,ts,amount,currency,base_amount\n"
             "1,1,2016-12-31T23:59:60.100Z,10.00,EUR,\n"
             "2,1,2016-12-31T23:58:60Z,10.00,EUR,\n");  // line 3: not a leap second
  o = run_cli({"import", "transactions", txns.string(), "--db", db});
  BOOST_TEST(o.code == 1, o.describe());
  BOOST_TEST(contains(o.err, ":3: ts:"), o.describe());
  write_text(txns,
             "id,customer_id,ts,amount,currency,base_amount\n"
             "1,1,2016-12-31T23:59:60.100Z,10.00,EUR,\n"
             "2,1,2017-01-01T00:59:60+01:00,10.00,XYZ,10.00\n");  // line 3: not a currency
  o = run_cli({"import", "transactions", txns.string(), "--db", db});
  BOOST_TEST(o.code == 1, o.describe());
  BOOST_TEST(contains(o.err, ":3: currency:"), o.describe());
  write_text(txns,
             "id,customer_id,ts,amount,currency,base_amount\n"
             "1,1,2016-12-31T23:59:60.100Z,10.00,EUR,\n"
             "2,1,2017-01-01T00:59:60+01:00,10.00,EUR,9.00\n");  // line 3: base_amount differs
  o = run_cli({"import", "transactions", txns.string(), "--db", db});
  BOOST_TEST(o.code == 1, o.describe());
  BOOST_TEST(contains(o.err, ":3: base_amount:"), o.describe());
  write_text(txns,
             "id,customer_id,ts,amount,currency,base_amount\n"
             "1,1,2016-12-31T23:59:60.100Z,10.00,EUR,\n"
             "2,1,2017-01-01T00:59:60+01:00,10.00,SEK,0.90\n");
  o = run_cli({"import", "transactions", txns.string(), "--db", db});
  BOOST_TEST_REQUIRE(o.code == 0, o.describe());
  o = run_cli({"export", "transactions", "--format", "csv", "--db", db});
  BOOST_TEST_REQUIRE(o.code == 0, o.describe());
  BOOST_TEST(contains(o.out, "2016-12-31T23:59:59.999Z"), o.out);
}

BOOST_AUTO_TEST_SUITE_END()

// Control characters are refused in every text field, C1 controls (U+0080..U+009F) included:
// U+009B is a CSI that terminals obey like ESC [, and U+0085 a line break. Printable
// characters just above them (U+00A0 no-break space, U+00A9 ©) are text.
BOOST_DATA_TEST_CASE(c1_controls_are_refused_like_c0, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  for (const char* control : {"\xC2\x9B" "2J", "\xC2\x85", "\xC2\x80", "\xC2\x9F", "\x1b[2J"}) {
    Customer c = sample_customer(1);
    c.name = std::string("Ana ") + control;
    require_field_error(db.insert_customer(c), "name", "control");
    c = sample_customer(1);
    c.address.city = std::string("Oslo") + control;
    require_field_error(db.insert_customer(c), "city", "control");
  }
  BOOST_TEST(customer_count(db) == 0u);
  Customer ok = sample_customer(1);
  ok.name = "Ana\xC2\xA0Lima \xC2\xA9";
  const CustomerId id = must(db.insert_customer(ok));
  for (const char* control : {"\xC2\x9B" "2J", "\xC2\x85"}) {
    Transaction t = sample_txn(id, 1000, "2025-01-01T10:00:00Z");
    t.description = std::string("memo\n\tline ") + control;
    require_field_error(db.add_transaction(t), "description", "control");
  }
  Transaction memo = sample_txn(id, 1000, "2025-01-01T10:00:00Z");
  memo.description = "memo\n\tline two \xC2\xA0";
  must(db.add_transaction(memo));
}
