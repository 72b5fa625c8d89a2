// Import and export: CSV and JSON Lines readers, row errors with their lines, all-or-nothing
// and skip-bad imports, exact amounts, masking, and export -> import round trips.
#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include "custdb/io.h"
#include "custdb/money.h"
#include "io/display.h"
#include "io/io_internal.h"
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;
// BOOST_AUTO_TEST_SUITE(io) opens a namespace ::io, which would make a plain "io::" ambiguous.
namespace cio = custdb::io;
using cio::Format;
using cio::Table;

namespace custdb::io {
inline std::ostream& operator<<(std::ostream& os, Format f) {
  return os << (f == Format::kCsv ? "csv" : "jsonl");
}
}  // namespace custdb::io

namespace {

const auto kFormats = boost::unit_test::data::make({Format::kCsv, Format::kJsonLines});

fs::path write_file(const TempDir& dir, const std::string& name, const std::string& text) {
  fs::path p = dir / name;
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

Result<cio::ImportReport> import_text(Database& db, Table table, const std::string& text,
                                     Format format = Format::kCsv,
                                     const cio::ImportOptions& options = {}) {
  std::istringstream in(text);
  return cio::import_stream(db, table, in, format, options);
}

std::string export_text(const Database& db, Table table, Format format, bool reveal) {
  std::ostringstream out;
  must(cio::export_table(db, table, out, format, cio::ExportOptions{reveal}));
  return out.str();
}

TableCounts counts(const Database& db) { return must(must(db.begin_read()).counts()); }

void require_empty(const Database& db) {
  auto c = counts(db);
  BOOST_TEST(c.customers == 0u);
  BOOST_TEST(c.relationships == 0u);
  BOOST_TEST(c.transactions == 0u);
  require_clean(db);
}

// The message of a failed import; fails the test when the import succeeded.
template <class T>
std::string error_of(const Result<T>& r) {
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST((r.error().code() == ErrorCode::kInvalidArgument));
  return r.error().message();
}

Customer customer(const Database& db, CustomerId id) { return must(db.get_customer(id)).value(); }

const char* const kCustomersCsv =
    "id,name,email,tags\n"
    "1,Anna Meyer,anna@example.com,vip\n"
    "2,Ben Ott,ben@example.com,\n";

}  // namespace

BOOST_AUTO_TEST_SUITE(io)

// ---- readers ---------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(csv_reader_quoting_and_lines) {
  static constexpr std::string_view kColumns[] = {"a", "b"};
  std::istringstream in(
      "A , b\r\n"
      "\"x, y\",\"say \"\"hi\"\"\"\r\n"
      "\r\n"
      "\"two\nlines\",plain\n"
      "only-one\n"
      "\"open\" text,z\n"
      ",\n"
      "last,\"unterminated\n");
  std::vector<cio::detail::ReadRow> rows;
  must(cio::detail::read_csv(in, kColumns, {}, "f.csv", [&](cio::detail::ReadRow& r) -> Status {
    rows.push_back(r);
    return {};
  }));
  BOOST_TEST_REQUIRE(rows.size() == 6u);
  BOOST_TEST(rows[0].line == 2u);
  BOOST_TEST(rows[0].cells[0]->text == "x, y");
  BOOST_TEST(rows[0].cells[1]->text == "say \"hi\"");
  BOOST_TEST(rows[1].line == 4u);  // after a blank line
  BOOST_TEST(rows[1].cells[0]->text == "two\nlines");
  BOOST_TEST(rows[2].line == 6u);  // the record above spanned two lines
  BOOST_TEST(rows[2].problem->field == "row");
  BOOST_TEST(rows[2].problem->reason == "expected 2 fields, found 1");
  BOOST_TEST(rows[3].line == 7u);
  BOOST_TEST(rows[3].problem->field == "a");
  BOOST_TEST(rows[3].problem->reason == "text after the closing quote");
  BOOST_TEST(rows[4].line == 8u);
  BOOST_TEST(!rows[4].problem);
  BOOST_TEST((!rows[4].cells[0] && !rows[4].cells[1]));  // empty cells are absent
  BOOST_TEST(rows[5].line == 9u);
  BOOST_TEST(rows[5].problem->field == "b");
  BOOST_TEST(rows[5].problem->reason == "unterminated quoted field (opened on line 9)");
}

BOOST_AUTO_TEST_CASE(json_object_parser) {
  auto m = cio::detail::parse_json_object(
      R"( {"s":"a\"b\\c\/d\n\t\u00e9\ud83d\ude00", "n":-12.50e1, "z":0, "t":true, "x":null,)"
      R"( "l":["p","q"], "e":[]} )");
  BOOST_TEST_REQUIRE(m.has_value(), (m ? "" : m.error().reason));
  BOOST_TEST_REQUIRE(m->size() == 7u);
  BOOST_TEST((*m)[0].second->text == "a\"b\\c/d\n\t\xC3\xA9\xF0\x9F\x98\x80");
  BOOST_TEST((*m)[1].second->text == "-12.50e1");  // numbers keep their literal text
  BOOST_TEST((*m)[2].second->text == "0");
  BOOST_TEST((*m)[3].second->boolean);
  BOOST_TEST(!(*m)[4].second.has_value());
  BOOST_TEST((*(*m)[5].second->list == std::vector<std::string>{"p", "q"}));
  BOOST_TEST((*m)[6].second->list->empty());
  BOOST_TEST(cio::detail::parse_json_object("{}")->empty());

  struct Bad {
    const char* text;
    const char* field;
    const char* reason_start;
  };
  for (const Bad& b : {
           Bad{R"({"a":"x"} x)", "row", "text after the object"},
           Bad{R"({"a":"\ud800"})", "a", "unpaired high surrogate"},
           Bad{R"({"a":"\udc00"})", "a", "unpaired low surrogate"},
           Bad{R"({"a":"\q"})", "a", "unknown escape \\q"},
           Bad{R"({"a":01})", "row", "expected ',' or '}'"},
           Bad{R"({"a":1.})", "a", "malformed number"},
           Bad{R"({"a":{"b":1}})", "a", "nested objects are not supported"},
           Bad{R"({"a":[1]})", "a", "an array may hold only strings"},
           Bad{R"({"a":"x)", "a", "unterminated string"},
           Bad{"{\"a\":\"\t\"}", "a", "control character in string"},
           Bad{R"({"a" 1})", "row", "expected ':'"},
           Bad{R"({a:1})", "row", "expected a key string"},
           Bad{R"(["a"])", "row", "expected '{'"},
       }) {
    auto r = cio::detail::parse_json_object(b.text);
    BOOST_TEST_REQUIRE(!r.has_value(), b.text);
    BOOST_TEST(r.error().field == b.field, b.text);
    BOOST_TEST(r.error().reason.starts_with(b.reason_start), b.text << " -> " << r.error().reason);
  }
}

BOOST_AUTO_TEST_CASE(writers_escape) {
  std::string out;
  cio::detail::append_csv_field(out, "plain");
  out += ',';
  cio::detail::append_csv_field(out, "a,b \"c\"\nd");
  BOOST_TEST(out == "plain,\"a,b \"\"c\"\"\nd\"");
  out.clear();
  cio::append_json_string(out, "q\"\\\n\x01\x7f\xC3\xA9");
  BOOST_TEST(out == "\"q\\\"\\\\\\n\\u0001\\u007f\xC3\xA9\"");
}

BOOST_AUTO_TEST_CASE(format_and_table_names) {
  BOOST_TEST((cio::format_for_path("a/b.CSV") == Format::kCsv));
  BOOST_TEST((cio::format_for_path("x.jsonl") == Format::kJsonLines));
  BOOST_TEST((cio::format_for_path("x.ndjson") == Format::kJsonLines));
  BOOST_TEST((cio::format_for_path("x.json") == Format::kJsonLines));
  BOOST_TEST(!cio::format_for_path("x.txt").has_value());
  BOOST_TEST(!cio::format_for_path("csv").has_value());
  BOOST_TEST((cio::table_from_string("Transactions") == Table::kTransactions));
  BOOST_TEST(cio::to_string(Table::kRelationships) == "relationships");
  BOOST_TEST(cio::columns(Table::kCustomers).size() == 33u);
}

// ---- import ----------------------------------------------------------------------------------

BOOST_DATA_TEST_CASE(csv_import_customers_any_column_order, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir / "db");
  fs::path file = write_file(dir, "c.csv",
      "tags,Name,id,email,phone,birth_date,gender,city,region,country,tier,stage,income_band,"
      "risk,created_at,consent_email,consent_email_date,external_ref,type,updated_at\n"
      "VIP|Newsletter,\"Meyer, Anna \"\"Annie\"\"\",7, Anna@Example.COM ,+49 30 1234567,"
      "1985-02-03,female,Berlin,Mitte,de,platinum,at_risk,7,high,2024-01-02T03:04:05.678Z,"
      "granted,2024-05-01,A-7,corporate,2025-01-01T00:00:00Z\n"
      ",Ben,,,,,,,,,,,,,,,,,,\n");
  auto report = must(cio::import_file(db, Table::kCustomers, file, Format::kCsv));
  BOOST_TEST(report.rows == 2u);
  BOOST_TEST(report.imported == 2u);
  BOOST_TEST(report.bad.empty());

  Customer a = customer(db, 7);
  BOOST_TEST(a.name == "Meyer, Anna \"Annie\"");
  BOOST_TEST(*a.email == "anna@example.com");
  BOOST_TEST(*a.phone == "+49301234567");
  BOOST_TEST((a.birth_date == parse_date("1985-02-03")));
  BOOST_TEST(a.gender == Gender::kFemale);
  BOOST_TEST((a.address == Address{"Berlin", "Mitte", "DE"}));
  BOOST_TEST(a.tier == Tier::kPlatinum);
  BOOST_TEST(a.stage == Stage::kAtRisk);
  BOOST_TEST(*a.income_band == 7);
  BOOST_TEST(a.risk == Risk::kHigh);
  BOOST_TEST((a.created_at == parse_timestamp("2024-01-02T03:04:05.678Z")));
  BOOST_TEST((a.consent_email == Consent{ConsentState::kGranted, parse_date("2024-05-01")}));
  BOOST_TEST(a.external_ref == "A-7");
  BOOST_TEST(a.type == CustomerType::kCorporate);
  BOOST_TEST((a.tags == std::vector<std::string>{"newsletter", "vip"}));
  // updated_at is kept from the file (the round trip restores it).
  BOOST_TEST((a.updated_at == parse_timestamp("2025-01-01T00:00:00Z")));

  Customer b = customer(db, 8);  // an empty id is assigned
  BOOST_TEST(b.name == "Ben");
  BOOST_TEST(!b.email.has_value());
  BOOST_TEST(b.tier == Tier::kBronze);
  BOOST_TEST(b.tags.empty());
  require_clean(db);
}

BOOST_DATA_TEST_CASE(csv_import_relationships_and_transactions, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir / "db");
  must(import_text(db, Table::kCustomers, kCustomersCsv));
  // A type that is no built-in name is a custom type of that name.
  must(import_text(db, Table::kRelationships,
                   "type,since,to,from\n"
                   "spouse,2010-06-01,2,1\n"
                   "Mentor,,1,2\n"));
  BOOST_TEST(error_of(import_text(db, Table::kRelationships, "from,to,type\n1,2,custom\n")) ==
             "<stdin>:2: type: a custom relationship type needs a name");
  auto got = must(must(db.begin_read()).relationships_of(1));
  BOOST_TEST_REQUIRE(got.size() == 2u);
  BOOST_TEST(got[0].type == RelationType::kSpouse);
  BOOST_TEST((got[0].since == parse_date("2010-06-01")));
  BOOST_TEST(got[1].type == RelationType::kCustom);
  BOOST_TEST(got[1].custom_type == "mentor");
  BOOST_TEST(got[1].from == 2u);

  must(import_text(db, Table::kTransactions,
                   "customer_id,amount,currency,ts,id,kind,channel,product,description\n"
                   "1,-12.50,usd,2025-03-01T10:00:00Z,100,withdrawal,atm,checking,"
                   "\"fee, monthly\"\n"
                   "1,1000,USD,2025-03-02,101,,,,\n"));
  Transaction t100 = must(must(db.begin_read()).get_transaction(100)).value();
  BOOST_TEST(t100.amount == -1250);
  BOOST_TEST(t100.currency == "USD");
  BOOST_TEST(t100.kind == TransactionKind::kWithdrawal);
  BOOST_TEST(t100.channel == Channel::kAtm);
  BOOST_TEST(t100.description == "fee, monthly");
  Transaction t101 = must(must(db.begin_read()).get_transaction(101)).value();
  BOOST_TEST(t101.amount == 100000);
  BOOST_TEST(t101.kind == TransactionKind::kPurchase);
  Customer c = customer(db, 1);
  BOOST_TEST(c.aggregates.txn_count == 2u);
  BOOST_TEST(c.aggregates.total_amount == 98750);
  require_clean(db);
}

BOOST_DATA_TEST_CASE(jsonl_import_each_table, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir / "db");
  fs::path file = write_file(dir, "c.jsonl",
      "{\"id\":1,\"name\":\"J\\u00fcrgen \\\"J\\\" Weiss\",\"tags\":[\"VIP\",\"gold\"],"
      "\"email\":null,\"income_band\":3,\"stage\":\"loyal\"}\r\n"
      "\n"
      "  {\"name\":\"Zoe\",\"tags\":\"a|b\",\"country\":\"fr\"}\n");
  auto report = must(cio::import_file(db, Table::kCustomers, file, Format::kJsonLines));
  BOOST_TEST(report.rows == 2u);
  Customer j = customer(db, 1);
  BOOST_TEST(j.name == "J\xC3\xBCrgen \"J\" Weiss");
  BOOST_TEST((j.tags == std::vector<std::string>{"gold", "vip"}));
  BOOST_TEST(!j.email.has_value());
  BOOST_TEST(*j.income_band == 3);
  BOOST_TEST(j.stage == Stage::kLoyal);
  Customer z = customer(db, 2);
  BOOST_TEST((z.tags == std::vector<std::string>{"a", "b"}));
  BOOST_TEST(z.address.country == "FR");

  must(import_text(db, Table::kRelationships,
                   R"({"from":1,"to":2,"type":"referral","since":"2020-01-31"})"
                   "\n"
                   R"({"from":2,"to":1,"type":"custom","custom_type":"Coach"})",
                   Format::kJsonLines));
  auto rels = must(must(db.begin_read()).relationships_of(1));
  BOOST_TEST_REQUIRE(rels.size() == 2u);
  BOOST_TEST(rels[0].type == RelationType::kReferral);
  BOOST_TEST(rels[1].custom_type == "coach");

  // Amounts as a JSON number (its literal text, never a double) or as a string.
  must(import_text(db, Table::kTransactions,
                   R"({"id":5,"customer_id":1,"ts":"2025-01-01","amount":0.10,"currency":"USD"})"
                   "\n"
                   R"({"id":6,"customer_id":1,"ts":"2025-01-02","amount":"0.20","currency":"USD"})",
                   Format::kJsonLines));
  BOOST_TEST(customer(db, 1).aggregates.total_amount == 30);
  require_clean(db);
}

BOOST_DATA_TEST_CASE(bad_row_stops_import_and_stores_nothing, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir / "db");
  fs::path file = write_file(dir, "c.csv",
                             "id,name,email\n"
                             "1,Anna,anna@example.com\n"
                             "2,\"Ben\nOtt\",ben@example.com\n"  // a name with a line break
                             "3,Cleo,cleo@example.com\n");
  std::string expected = file.string() + ":3: name: contains control characters";
  BOOST_TEST(error_of(cio::import_file(db, Table::kCustomers, file, Format::kCsv)) == expected);
  require_empty(db);

  // The line of a row after a multi-line record counts physical lines. (The engine trims
  // line breaks at the ends of a city, so that record itself is good.)
  file = write_file(dir, "d.csv",
                    "id,city,name,email\n"
                    "1,\"Berlin\n\n\",Anna,anna@example.com\n"
                    "2,,Ben,not-an-email\n");
  BOOST_TEST(error_of(cio::import_file(db, Table::kCustomers, file, Format::kCsv)) ==
             file.string() + ":5: email: not an email address: 'not-an-email'");
  file = write_file(dir, "e.csv",
                    "id,city,name,email\n"
                    "1,\"a, b\",Anna,anna@example.com\n"
                    "2,\"x\",Ben,not-an-email\n");
  BOOST_TEST(error_of(cio::import_file(db, Table::kCustomers, file, Format::kCsv)) ==
             file.string() + ":3: email: not an email address: 'not-an-email'");
  require_empty(db);

  // JSON Lines: the object's line; parse errors name the key when there is one.
  BOOST_TEST(error_of(import_text(db, Table::kCustomers,
                                  "{\"name\":\"A\"}\n\n{\"name\":\"B\",\"income_band\":\"x\"}\n",
                                  Format::kJsonLines)) ==
             "<stdin>:3: income_band: must be 1 to 10: 'x'");
  BOOST_TEST(error_of(import_text(db, Table::kCustomers, "{\"name\":\"A\"}\n{\"name\":\"B\"\n",
                                  Format::kJsonLines)) ==
             "<stdin>:2: row: expected ',' or '}' at column 12");
  require_empty(db);

  // A foreign-key problem is a bad row too, named by the engine's field.
  must(import_text(db, Table::kCustomers, kCustomersCsv));
  BOOST_TEST(error_of(import_text(db, Table::kTransactions,
                                  "customer_id,ts,amount,currency\n"
                                  "1,2025-01-01,1.00,USD\n"
                                  "99,2025-01-01,1.00,USD\n")) ==
             "<stdin>:3: customer_id: customer 99 does not exist");
  BOOST_TEST(error_of(import_text(db, Table::kRelationships,
                                  "from,to,type\n1,2,spouse\n1,42,spouse\n")) ==
             "<stdin>:3: to: customer 42 does not exist");
  BOOST_TEST(error_of(import_text(db, Table::kCustomers, "id,name\n3,C\n1,Again\n")) ==
             "<stdin>:3: id: customer 1 exists");
  auto c = counts(db);
  BOOST_TEST(c.customers == 2u);
  BOOST_TEST(c.relationships == 0u);
  BOOST_TEST(c.transactions == 0u);
  BOOST_TEST(customer(db, 1).aggregates.txn_count == 0u);
  require_clean(db);
}

BOOST_DATA_TEST_CASE(skip_bad_imports_good_rows_and_lists_bad_ones, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir / "db");
  cio::ImportOptions options;
  options.skip_bad = true;
  options.batch = 2;  // several commits
  auto report = must(import_text(db, Table::kCustomers,
                                 "id,name,email,tier\n"
                                 "1,Anna,anna@example.com,gold\n"
                                 "2,Ben,bad,gold\n"
                                 "3,Cleo,,shiny\n"
                                 "4,\"Dan\",,,extra\n"
                                 "5,Eve,,\n"
                                 "1,Anna again,,\n"
                                 "6,\"Fay\nFox\",,\n"
                                 "7,Gus,,silver\n",
                                 Format::kCsv, options));
  BOOST_TEST(report.rows == 8u);
  BOOST_TEST(report.imported == 3u);
  BOOST_TEST_REQUIRE(report.bad.size() == 5u);
  auto expect_bad = [&](std::size_t i, std::uint64_t line, const char* field,
                        const char* reason) {
    BOOST_TEST(report.bad[i].line == line);
    BOOST_TEST(report.bad[i].field == field);
    BOOST_TEST(report.bad[i].reason == reason);
  };
  expect_bad(0, 3, "email", "not an email address: 'bad'");
  expect_bad(1, 4, "tier", "unknown value 'shiny'");
  expect_bad(2, 5, "row", "expected 4 fields, found 5");
  expect_bad(3, 7, "id", "customer 1 exists");
  expect_bad(4, 8, "name", "contains control characters");
  BOOST_TEST(counts(db).customers == 3u);
  BOOST_TEST(customer(db, 7).tier == Tier::kSilver);
  BOOST_TEST(!must(db.get_customer(2)).has_value());
  require_clean(db);

  report = must(import_text(db, Table::kTransactions,
                            "{\"customer_id\":1,\"ts\":\"2025-01-01\",\"amount\":\"1.50\","
                            "\"currency\":\"USD\"}\n"
                            "{\"customer_id\":2,\"ts\":\"2025-01-01\",\"amount\":\"1\","
                            "\"currency\":\"USD\"}\n"
                            "{\"customer_id\":1,\"ts\":\"2025-01-01\",\"amount\":1,"
                            "\"currency\":\"USD\",\"colour\":\"red\"}\n"
                            "{\"customer_id\":1,\"amount\":1,\"currency\":\"USD\"}\n"
                            "{\"customer_id\":5,\"ts\":\"2025-02-01\",\"amount\":2.5,"
                            "\"currency\":\"USD\",\"amount\":3}\n"
                            "{\"customer_id\":5,\"ts\":\"2025-02-01\",\"amount\":-2.5,"
                            "\"currency\":\"USD\"}\n",
                            Format::kJsonLines, options));
  BOOST_TEST(report.imported == 2u);
  BOOST_TEST_REQUIRE(report.bad.size() == 4u);
  expect_bad(0, 2, "customer_id", "customer 2 does not exist");
  expect_bad(1, 3, "colour", cio::detail::kUnknownColumn.data());
  expect_bad(2, 4, "ts", "required");
  expect_bad(3, 5, "amount", "duplicate key");
  BOOST_TEST(customer(db, 1).aggregates.total_amount == 150);
  BOOST_TEST(customer(db, 5).aggregates.total_amount == -250);
  require_clean(db);
}

BOOST_AUTO_TEST_CASE(amounts_are_exact) {
  BOOST_TEST(must(parse_amount("0.10", "USD")) == 10);
  BOOST_TEST(must(parse_amount("-1234.5", "usd")) == -123450);
  BOOST_TEST(must(parse_amount("+7", "EUR")) == 700);
  BOOST_TEST(must(parse_amount("1000", "JPY")) == 1000);
  BOOST_TEST(must(parse_amount("1.234", "KWD")) == 1234);
  BOOST_TEST(must(parse_amount("10000000000000.00", "USD")) == kMaxAmount);
  BOOST_TEST(!parse_amount("10000000000000.01", "USD").has_value());
  BOOST_TEST(!parse_amount("99999999999999999999999", "USD").has_value());
  for (const char* bad : {"", "-", "1.", ".5", "1e3", "1,00", "0x10", "1.2.3", "- 1", "NaN"})
    BOOST_TEST(!parse_amount(bad, "USD").has_value(), bad);
  BOOST_TEST(parse_amount("1.005", "USD").error().message() ==
             "'1.005' has more than 2 decimal places for USD");
  BOOST_TEST(parse_amount("10.5", "jpy").error().message() ==
             "'10.5' has more than 0 decimal places for JPY");

  BOOST_TEST(format_amount(-1250, "USD") == "-12.50");
  BOOST_TEST(format_amount(5, "EUR") == "0.05");
  BOOST_TEST(format_amount(-5, "EUR") == "-0.05");
  BOOST_TEST(format_amount(0, "USD") == "0.00");
  BOOST_TEST(format_amount(1000, "JPY") == "1000");
  BOOST_TEST(format_amount(1234, "BHD") == "1.234");
  BOOST_TEST(currency_digits("isk") == 0);
  BOOST_TEST(currency_digits("TND") == 3);
  BOOST_TEST(currency_digits("CHF") == 2);
}

BOOST_DATA_TEST_CASE(imported_amounts_are_exact, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir / "db");
  must(import_text(db, Table::kCustomers, kCustomersCsv));
  must(import_text(db, Table::kTransactions,
                   "customer_id,ts,amount,currency\n"
                   "1,2025-01-01,0.10,USD\n"
                   "1,2025-01-02,0.20,USD\n"));
  BOOST_TEST(customer(db, 1).aggregates.total_amount == 30);  // not 0.30000000000000004

  BOOST_TEST(error_of(import_text(db, Table::kTransactions,
                                  "customer_id,ts,amount,currency\n"
                                  "2,2025-01-01,1.005,USD\n")) ==
             "<stdin>:2: amount: '1.005' has more than 2 decimal places for USD");
  // JPY in a USD database: base_amount (in USD) is required and has USD's two decimals.
  must(import_text(db, Table::kTransactions,
                   "id,customer_id,ts,amount,currency,base_amount\n"
                   "50,2,2025-01-01,1000,JPY,6.70\n"));
  Transaction jpy = must(must(db.begin_read()).get_transaction(50)).value();
  BOOST_TEST(jpy.amount == 1000);
  BOOST_TEST(*jpy.base_amount == 670);
  BOOST_TEST(error_of(import_text(db, Table::kTransactions,
                                  "customer_id,ts,amount,currency,base_amount\n"
                                  "2,2025-01-01,10.5,JPY,0.07\n")) ==
             "<stdin>:2: amount: '10.5' has more than 0 decimal places for JPY");
  BOOST_TEST(error_of(import_text(db, Table::kTransactions,
                                  "customer_id,ts,amount,currency\n"
                                  "2,2025-01-01,10,JPY\n")) ==
             "<stdin>:2: base_amount: required for a JPY transaction in a USD database");
  BOOST_TEST(error_of(import_text(db, Table::kTransactions,
                                  "{\"customer_id\":2,\"ts\":\"2025-01-01\",\"amount\":1e2,"
                                  "\"currency\":\"USD\"}",
                                  Format::kJsonLines)) ==
             "<stdin>:1: amount: not a decimal amount: '1e2'");
  BOOST_TEST(customer(db, 2).aggregates.total_amount == 670);
  require_clean(db);
}

BOOST_AUTO_TEST_CASE(header_problems_fail_even_with_skip_bad) {
  TempDir dir;
  auto db = open_db(Mode::kPlain, dir / "db");
  cio::ImportOptions skip;
  skip.skip_bad = true;
  BOOST_TEST(error_of(import_text(db, Table::kCustomers, "id,name,nickname\n1,A,a\n",
                                  Format::kCsv, skip)) == "<stdin>:1: nickname: " + std::string(cio::detail::kUnknownColumn));
  BOOST_TEST(error_of(import_text(db, Table::kCustomers, "id,email\n1,a@b.co\n", Format::kCsv,
                                  skip)) == "<stdin>:1: name: missing required column");
  BOOST_TEST(error_of(import_text(db, Table::kTransactions, "customer_id,ts,amount\n",
                                  Format::kCsv, skip)) ==
             "<stdin>:1: currency: missing required column");
  BOOST_TEST(error_of(import_text(db, Table::kCustomers, "id,name,Name\n", Format::kCsv,
                                  skip)) == "<stdin>:1: name: duplicate column");
  BOOST_TEST(error_of(import_text(db, Table::kCustomers, "", Format::kCsv, skip)) ==
             "<stdin>:1: row: no header row");
  // JSON Lines has no header: an unknown key is a bad row.
  BOOST_TEST(error_of(import_text(db, Table::kCustomers, "{\"name\":\"A\",\"nick\":\"a\"}",
                                  Format::kJsonLines)) == "<stdin>:1: nick: " + std::string(cio::detail::kUnknownColumn));
  // A header alone (and an empty JSON Lines file) imports nothing, successfully.
  BOOST_TEST(must(import_text(db, Table::kCustomers, "\xEF\xBB\xBFid,name\r\n")).rows == 0u);
  BOOST_TEST(must(import_text(db, Table::kCustomers, "", Format::kJsonLines)).rows == 0u);
  require_empty(db);

  auto missing = cio::import_file(db, Table::kCustomers, dir / "nope.csv", Format::kCsv);
  BOOST_TEST_REQUIRE(!missing.has_value());
  BOOST_TEST((missing.error().code() == ErrorCode::kIOError));
}

BOOST_AUTO_TEST_CASE(progress_is_reported) {
  TempDir dir;
  auto db = open_db(Mode::kPlain, dir / "db", Options{.sync = SyncMode::kNone});
  std::string csv = "id,name\n";
  for (int i = 1; i <= 25000; ++i) csv += std::to_string(i) + ",C" + std::to_string(i) + "\n";
  std::vector<std::uint64_t> calls;
  cio::ImportOptions options;
  options.progress = [&](std::uint64_t n) { calls.push_back(n); };
  auto report = must(import_text(db, Table::kCustomers, csv, Format::kCsv, options));
  BOOST_TEST(report.imported == 25000u);
  BOOST_TEST((calls == std::vector<std::uint64_t>{10000, 20000, 25000}));
}

// ---- export ----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(masking) {
  BOOST_TEST(cio::mask_name("Anna Meyer") == "A*** M****");
  BOOST_TEST(cio::mask_name("J\xC3\xBCrgen  O") == "J*****  O");  // characters, not bytes
  BOOST_TEST(cio::mask_name("") == "");
  BOOST_TEST(cio::mask_email("anna@example.com") == "a***@example.com");
  BOOST_TEST(cio::mask_email("noatsign") == "n*******");
  BOOST_TEST(cio::mask_phone("+15551234567") == "+*******4567");
  BOOST_TEST(cio::mask_phone("5551234") == "***1234");
  BOOST_TEST(cio::mask_phone("123") == "***");
  BOOST_TEST(cio::kMaskedDate == "****-**-**");
}

BOOST_DATA_TEST_CASE(export_masks_personal_columns_unless_revealed, kModes * kFormats, mode,
                     format) {
  TempDir dir;
  auto db = open_db(mode, dir / "db");
  Customer c;
  c.name = "Anna Meyer";
  c.email = "anna@example.com";
  c.phone = "+15551234567";
  c.birth_date = parse_date("1985-02-03");
  c.address.city = "Springfield, IL";
  c.created_at = parse_timestamp("2024-01-02T03:04:05Z").value();
  must(db.insert_customer(c));

  std::string masked = export_text(db, Table::kCustomers, format, false);
  std::string shown = export_text(db, Table::kCustomers, format, true);
  for (const char* secret : {"Anna", "Meyer", "anna@", "555123", "1985"}) {
    BOOST_TEST(masked.find(secret) == std::string::npos, secret);
    BOOST_TEST(shown.find(secret) != std::string::npos, secret);
  }
  for (const char* mask : {"A*** M****", "a***@example.com", "+*******4567", "****-**-**"})
    BOOST_TEST(masked.find(mask) != std::string::npos, mask);
  if (format == Format::kCsv) {
    std::string header = masked.substr(0, masked.find('\n'));
    BOOST_TEST(header ==
               "id,external_ref,type,name,email,phone,birth_date,gender,city,region,country,tier,"
               "stage,income_band,risk,created_at,tags,consent_email,consent_email_date,"
               "consent_sms,consent_sms_date,consent_phone,consent_phone_date,updated_at,"
               "consent_profiling,consent_profiling_date,consent_sharing,consent_sharing_date,"
               "consent_email_source,consent_sms_source,consent_phone_source,"
               "consent_profiling_source,consent_sharing_source");
    // The phone starts with '+': neutralized for spreadsheets (ExportOptions::neutralize).
    BOOST_TEST(masked.find("\n1,,individual,A*** M****,a***@example.com,'+*******4567,"
                           "****-**-**,unknown,\"Springfield, IL\",,,bronze,prospect,,low,"
                           "2024-01-02T03:04:05Z,,unknown,,unknown,,unknown,,") !=
               std::string::npos, masked);
  } else {
    BOOST_TEST(masked.starts_with("{\"id\":1,\"external_ref\":null,\"type\":\"individual\","
                                  "\"name\":\"A*** M****\",\"email\":\"a***@example.com\","),
               masked);
    BOOST_TEST(masked.find("\"tags\":[]") != std::string::npos);
  }
}

namespace {

// A database with a bit of everything export and import must carry.
void fill(Database& db) {
  auto txn = must(db.begin_write());
  for (int i = 1; i <= 30; ++i) {
    Customer c = sample_customer(i);
    c.id = static_cast<CustomerId>(i * 10);  // ids survive the round trip, gaps included
    c.created_at = parse_timestamp("2023-05-06T07:08:09.123Z").value() + std::chrono::hours(i);
    if (i % 3 == 0) {
      c.name = "O'Neil, \"Pat\" J\xC3\xBCrgen";
      c.email.reset();
      c.phone.reset();
      c.birth_date.reset();
      c.income_band.reset();
      c.tags.clear();
      c.external_ref.clear();
      c.address = {};
    }
    if (i % 4 == 0) {
      c.consent_sms = {ConsentState::kDenied, parse_date("2024-02-29")};
      c.consent_phone = {ConsentState::kGranted, parse_date("2023-01-01")};
      c.type = CustomerType::kCorporate;
      c.tags = {"b2b", "key account", "\xC3\xA9t\xC3\xA9"};
    }
    must(txn.insert_customer(c));
  }
  for (int i = 1; i < 30; i += 2) {
    Relationship r;
    r.from = static_cast<CustomerId>(i * 10);
    r.to = static_cast<CustomerId>((i + 1) * 10);
    r.type = static_cast<RelationType>(i % 9);
    if (i % 5 == 0) r.since = parse_date("2015-07-01");
    must(txn.add_relationship(r));
  }
  Relationship custom;
  custom.from = 300;
  custom.to = 10;
  custom.type = RelationType::kCustom;
  custom.custom_type = "mentor";
  must(txn.add_relationship(custom));
  for (int i = 1; i <= 60; ++i) {
    Transaction t = sample_txn(static_cast<CustomerId>((i % 30 + 1) * 10), (i % 7 - 3) * 12345,
                               "2025-01-01T00:00:00Z");
    t.id = static_cast<TransactionId>(1000 - i * 3);  // ids not in customer or time order
    t.ts += std::chrono::minutes(i * 97) + std::chrono::milliseconds(i);
    t.kind = static_cast<TransactionKind>(i % 7);
    t.channel = static_cast<Channel>(i % 5);
    t.description = i % 2 ? "note, with \"quotes\"" : "";
    if (i % 10 == 0) {
      t.currency = i % 20 ? "JPY" : "KWD";
      t.amount = i % 20 ? 1000 : -1234;
      t.base_amount = 667;
    }
    must(txn.add_transaction(t));
  }
  must(txn.commit());
}

std::vector<Customer> all_customers(const Database& db) {
  std::vector<Customer> out;
  must(must(db.begin_read()).for_each_customer([&](const Customer& c) {
    out.push_back(c);
    return true;
  }));
  return out;
}

using RelKey = std::tuple<CustomerId, CustomerId, RelationType, std::string, std::optional<Date>>;
std::vector<RelKey> all_relationships(const Database& db, const std::vector<Customer>& cs) {
  std::vector<RelKey> out;
  auto txn = must(db.begin_read());
  for (const auto& c : cs)
    for (const auto& r : must(txn.relationships_of(c.id)))
      if (r.from == c.id) out.emplace_back(r.from, r.to, r.type, r.custom_type, r.since);
  std::sort(out.begin(), out.end());
  return out;
}

std::map<TransactionId, Transaction> all_transactions(const Database& db,
                                                      const std::vector<Customer>& cs) {
  std::map<TransactionId, Transaction> out;
  auto txn = must(db.begin_read());
  for (const auto& c : cs)
    for (const auto& t : must(txn.transactions_of(c.id))) out.emplace(t.id, t);
  return out;
}

}  // namespace

BOOST_DATA_TEST_CASE(export_import_round_trip, kModes * kFormats, mode, format) {
  TempDir dir;
  auto source = open_db(mode, dir / "source");
  fill(source);
  const std::string ext = format == Format::kCsv ? ".csv" : ".jsonl";
  for (Table t : {Table::kCustomers, Table::kRelationships, Table::kTransactions}) {
    std::ofstream out(dir / (std::string(cio::to_string(t)) + ext), std::ios::binary);
    must(cio::export_table(source, t, out, format, cio::ExportOptions{.reveal = true}));
  }

  auto copy = open_db(mode, dir / "copy");
  for (Table t : {Table::kCustomers, Table::kRelationships, Table::kTransactions}) {
    fs::path file = dir / (std::string(cio::to_string(t)) + ext);
    BOOST_TEST_REQUIRE((cio::format_for_path(file) == format));
    auto report = must(cio::import_file(copy, t, file, format));
    BOOST_TEST(report.bad.empty());
    BOOST_TEST(report.imported == report.rows);
  }
  require_clean(copy);

  auto before = all_customers(source), after = all_customers(copy);
  BOOST_TEST_REQUIRE(before.size() == 30u);
  BOOST_TEST_REQUIRE(after.size() == before.size());
  for (std::size_t i = 0; i < before.size(); ++i) {
    Customer a = before[i], b = after[i];
    BOOST_TEST(a.id == b.id);
    BOOST_TEST(a.name == b.name);
    BOOST_TEST(a.email == b.email);
    BOOST_TEST(a.phone == b.phone);
    BOOST_TEST((a.tags == b.tags));
    BOOST_TEST((a.aggregates == b.aggregates), "customer " << a.id);  // recomputed from txns
    a.updated_at = b.updated_at;  // the engine's own; an import cannot restore it
    BOOST_TEST((a == b), "customer " << a.id);  // every other field
  }
  auto rels = all_relationships(source, before);
  BOOST_TEST(rels.size() == 16u);
  BOOST_TEST((rels == all_relationships(copy, after)));
  auto txns = all_transactions(source, before);
  BOOST_TEST(txns.size() == 60u);
  BOOST_TEST((txns == all_transactions(copy, after)));

  // Exporting the copy gives the same transactions and relationships files byte for byte.
  for (Table t : {Table::kRelationships, Table::kTransactions})
    BOOST_TEST(export_text(source, t, format, true) == export_text(copy, t, format, true));
}

BOOST_AUTO_TEST_CASE(export_orders_by_id) {
  TempDir dir;
  auto db = open_db(Mode::kPlain, dir / "db");
  fill(db);
  std::string csv = export_text(db, Table::kTransactions, Format::kCsv, true);
  std::istringstream in(csv);
  std::string line;
  std::getline(in, line);
  BOOST_TEST(line == "id,customer_id,ts,amount,currency,kind,channel,product,description,"
                     "base_amount,holding_id");
  std::vector<std::uint64_t> ids;
  while (std::getline(in, line)) ids.push_back(std::stoull(line.substr(0, line.find(','))));
  BOOST_TEST(ids.size() == 60u);
  BOOST_TEST(std::is_sorted(ids.begin(), ids.end()));
  BOOST_TEST(csv.find("\n820,10,") != std::string::npos);  // i = 60: KWD, amount -1.234
  BOOST_TEST(csv.find(",-1.234,KWD,") != std::string::npos, csv);
  BOOST_TEST(csv.find(",10.00,JPY,") == std::string::npos);
  BOOST_TEST(csv.find(",1000,JPY,") != std::string::npos);
  BOOST_TEST(csv.find(",\"note, with \"\"quotes\"\"\",") != std::string::npos);

  std::string rels = export_text(db, Table::kRelationships, Format::kCsv, false);
  // `30,40,child` was added; links are stored and exported in canonical direction.
  BOOST_TEST(rels.starts_with("from,to,type,since\n10,20,spouse,\n40,30,parent,\n"), rels);
  BOOST_TEST(rels.ends_with("\n300,10,mentor,\n"), rels);
}

BOOST_AUTO_TEST_SUITE_END()
