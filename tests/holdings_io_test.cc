// Holdings import/export (issue #18): the holdings table as CSV and JSON Lines, the
// transactions' holding_id column, balances moved or kept on import, statement balances
// (io::import_balances), account_ref masking, FILE:LINE errors with nothing stored.
#include <fstream>
#include <sstream>

#include "custdb/io.h"
#include "custdb/money.h"
#include "io/display.h"
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;
namespace cio = custdb::io;
using cio::Format;
using cio::Table;

namespace {

constexpr const char* kHeader =
    "id,customer_id,product_type,product_code,account_ref,currency,balance,base_balance,"
    "credit_limit,opened_on,closed_on,status\n";

// Three customers (ids 1..3) and, when `holdings`, four holdings of customers 1 and 2.
std::string holdings_csv() {
  return std::string(kHeader) +
         "1,1,savings,GOLD-SAVER,SE4550000000058398257466,USD,1500.25,,,2020-01-15,,active\n"
         "2,1,mortgage,HOME-30,MORT-0001-2345,EUR,250000.00,270000.00,,2021-03-01,,active\n"
         "3,2,credit_card,=CARD,CARD-9999-0000-1111,USD,120.50,,5000.00,2019-06-30,,dormant\n"
         "4,2,crypto_wallet,,,USD,10.00,,,2022-02-02,2023-01-01,closed\n"
         "5,2,wealth,FUND-A,,USD,-0.01,,,2018-05-05,,active\n";
}

Database fresh(Mode m, const fs::path& dir) {
  Database db = open_db(m, dir);
  for (int i = 1; i <= 3; ++i) {
    Customer c = sample_customer(i);
    c.id = static_cast<CustomerId>(i);
    must(db.insert_customer(c));
  }
  return db;
}

Result<cio::ImportReport> import_text(Database& db, Table t, const std::string& text,
                                      Format f = Format::kCsv, cio::ImportOptions o = {}) {
  std::istringstream in(text);
  return cio::import_stream(db, t, in, f, o);
}

std::string export_text(const Database& db, Table t, Format f, bool reveal) {
  std::ostringstream out;
  cio::ExportOptions o;
  o.reveal = reveal;
  must(cio::export_table(db, t, out, f, o));
  return out.str();
}

void require_error(const Result<cio::ImportReport>& r, const std::string& text) {
  BOOST_TEST_REQUIRE(!r.has_value(), "expected an error containing " << text);
  BOOST_TEST(r.error().code() == ErrorCode::kInvalidArgument);
  BOOST_TEST(contains(r.error().message(), text), r.error().message());
}

std::uint64_t holding_count(const Database& db) {
  return must(must(db.begin_read()).counts()).holdings;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(holdings_io)

// ---- pure: names, columns, masking ------------------------------------------------------------

BOOST_AUTO_TEST_CASE(table_names_and_columns) {
  BOOST_TEST(cio::to_string(Table::kHoldings) == "holdings");
  BOOST_TEST((cio::table_from_string("HOLDINGS") == Table::kHoldings));
  std::string joined;
  for (auto c : cio::columns(Table::kHoldings)) joined += (joined.empty() ? "" : ",") + std::string(c);
  BOOST_TEST(joined + "\n" == kHeader);
  BOOST_TEST(cio::columns(Table::kTransactions).back() == "holding_id");
}

BOOST_AUTO_TEST_CASE(account_ref_masks_all_but_the_last_four) {
  BOOST_TEST(cio::mask_account_ref("SE4550000000058398257466") == "********************7466");
  BOOST_TEST(cio::mask_account_ref("12345") == "*2345");
  BOOST_TEST(cio::mask_account_ref("1234") == "****");  // short: masked whole
  BOOST_TEST(cio::mask_account_ref("") == "");
  BOOST_TEST(cio::mask_account_ref("ÅÄÖ-12345") == "*****2345");  // characters, not bytes
}

// ---- parse errors before the engine: FILE:LINE: field, nothing stored ----------------------

BOOST_DATA_TEST_CASE(bad_cells_name_line_and_field, kModes, mode) {
  TempDir dir;
  Database db = fresh(mode, dir / "db");
  const std::string ok = "1,1,savings,,,USD,1.00,,,2020-01-01,,active\n";
  struct Case {
    std::string row, field, reason;
  };
  const std::vector<Case> cases = {
      {"2,1,savings,,,XXX,1.00,,,2020-01-01,,active\n", "currency", "not an ISO 4217 code"},
      {"2,1,savings,,,USD,1.001,,,2020-01-01,,active\n", "balance", ""},
      {"2,1,savings,,,JPY,1.5,,,2020-01-01,,active\n", "balance", ""},
      {"2,1,savings,,,USD,1.00,,,2020-13-01,,active\n", "opened_on", "not a date"},
      {"2,1,savings,,,USD,1.00,,,,,active\n", "opened_on", "required"},
      {"2,1,savings,,,USD,1.00,,,2020-01-01,,gone\n", "status", "unknown value"},
      {"2,1,custom,,,USD,1.00,,,2020-01-01,,active\n", "product_type", "'custom' is not a type"},
      {"2,,savings,,,USD,1.00,,,2020-01-01,,active\n", "customer_id", "required"},
      {"2,x,savings,,,USD,1.00,,,2020-01-01,,active\n", "customer_id", "not a positive integer"},
      {"2,1,savings,,,USD,abc,,,2020-01-01,,active\n", "balance", ""},
      {"2,1,savings,,,USD,1.00,,1.234,2020-01-01,,active\n", "credit_limit", ""},
  };
  for (const Case& c : cases) {
    auto r = import_text(db, Table::kHoldings, std::string(kHeader) + ok + c.row);
    BOOST_TEST_CONTEXT(c.row) {
      require_error(r, "<stdin>:3: " + c.field + ": " + c.reason);
    }
  }
  // Nothing of any attempt stored (the good first row neither).
  auto counts = must(must(db.begin_read()).counts());
  BOOST_TEST(counts.holdings == 0u);
}

BOOST_AUTO_TEST_CASE(header_needs_the_required_columns) {
  TempDir dir;
  Database db = fresh(Mode::kPlain, dir / "db");
  require_error(import_text(db, Table::kHoldings, "customer_id,product_type,currency\n1,savings,USD\n"),
                "<stdin>:1: opened_on: missing required column");
  require_error(import_text(db, Table::kHoldings, "customer_id,product_type,currency,opened_on,x\n"),
                "<stdin>:1: x: unknown column");
}

BOOST_AUTO_TEST_CASE(json_lines_cells_are_checked_too) {
  TempDir dir;
  Database db = fresh(Mode::kPlain, dir / "db");
  const std::string text =
      "{\"customer_id\":1,\"product_type\":\"savings\",\"currency\":\"USD\",\"opened_on\":"
      "\"2020-01-01\",\"balance\":\"1.00\"}\n"
      "{\"customer_id\":1,\"product_type\":\"savings\",\"currency\":\"USD\",\"opened_on\":"
      "\"2020-01-01\",\"balance\":true}\n";
  require_error(import_text(db, Table::kHoldings, text, Format::kJsonLines),
                "<stdin>:2: balance: true/false");
  require_error(import_text(db, Table::kTransactions,
                            "{\"customer_id\":1,\"ts\":\"2024-01-01T00:00:00Z\",\"amount\":\"1\","
                            "\"currency\":\"USD\",\"holding_id\":0}\n",
                            Format::kJsonLines),
                "<stdin>:1: holding_id: not a positive integer");
}

BOOST_AUTO_TEST_CASE(balance_rows_name_the_holding_once) {
  TempDir dir;
  Database db = fresh(Mode::kPlain, dir / "db");
  const fs::path file = dir / "b.csv";
  auto run = [&](const std::string& text, std::optional<Date> as_of = {}) {
    write_bytes(file, text);
    cio::ImportBalancesOptions o;
    o.as_of = as_of;
    return cio::import_balances(db, file, Format::kCsv, o);
  };
  const Date d = *parse_date("2024-06-30");
  auto both = run("id,account_ref,balance\n1,ABC,1.00\n", d);
  require_error(both, ":2: id: give id or account_ref, not both");
  require_error(run("id,account_ref,balance\n,,1.00\n", d), ":2: id: required (or account_ref)");
  require_error(run("id,balance\n1,1.00\n"), ":2: as_of: required");
  require_error(run("id,as_of\n1,2024-01-01\n"), ":1: balance: missing required column");
  require_error(run("id,balance,as_of\n1,1.00,2024-02-30\n"), ":2: as_of: not a date");
}

// ---- with the engine (A's holdings) ---------------------------------------------------------

BOOST_DATA_TEST_CASE(round_trip_csv_and_jsonl_with_postings, kModes, mode) {
  for (Format format : {Format::kCsv, Format::kJsonLines}) {
    TempDir dir;
    Database source = fresh(mode, dir / "source");
    must(import_text(source, Table::kHoldings, holdings_csv()));
    // Postings: transactions naming holdings move their balances (the default).
    const std::string txns =
        "id,customer_id,ts,amount,currency,base_amount,holding_id\n"
        "10,1,2024-01-02T10:00:00Z,100.00,USD,,1\n"
        "11,1,2024-01-03T10:00:00Z,-1000.00,EUR,-1080.00,2\n"
        "12,2,2024-01-04T10:00:00Z,25.50,USD,,3\n"
        "13,2,2024-01-05T10:00:00Z,7.00,USD,,\n";
    auto rep = must(import_text(source, Table::kTransactions, txns));
    BOOST_TEST(rep.imported == 4u);
    auto h1 = must(source.get_holding(1));
    BOOST_TEST_REQUIRE(h1.has_value());
    BOOST_TEST(h1->balance == 160025);  // 1500.25 + 100.00
    BOOST_TEST(h1->postings == 1u);
    auto h2 = must(source.get_holding(2));
    BOOST_TEST(h2->balance == 24900000);
    BOOST_TEST((h2->base_balance == std::optional<std::int64_t>(26892000)));

    const std::string customers = export_text(source, Table::kCustomers, format, true);
    const std::string holdings = export_text(source, Table::kHoldings, format, true);
    const std::string transactions = export_text(source, Table::kTransactions, format, true);
    BOOST_TEST(contains(holdings, "crypto_wallet"));
    BOOST_TEST(contains(holdings, "SE4550000000058398257466"));
    if (format == Format::kCsv) BOOST_TEST(contains(holdings, ",'=CARD,"));

    // Restore: customers, holdings, then transactions keeping the balances.
    Database copy = open_db(mode, dir / "copy");
    must(import_text(copy, Table::kCustomers, customers, format));
    must(import_text(copy, Table::kHoldings, holdings, format));
    cio::ImportOptions keep;
    keep.move_balances = false;
    must(import_text(copy, Table::kTransactions, transactions, format, keep));
    BOOST_TEST(export_text(copy, Table::kHoldings, format, true) == holdings);
    BOOST_TEST(export_text(copy, Table::kTransactions, format, true) == transactions);
    auto c1 = must(copy.get_holding(1));
    BOOST_TEST(c1->postings == 1u);
    BOOST_TEST(c1->posted == 10000);
    BOOST_TEST(c1->balance == 160025);
    require_clean(copy);
  }
}

BOOST_DATA_TEST_CASE(export_masks_account_ref_unless_reveal, kModes, mode) {
  TempDir dir;
  Database db = fresh(mode, dir / "db");
  must(import_text(db, Table::kHoldings, holdings_csv()));
  const std::string masked = export_text(db, Table::kHoldings, Format::kCsv, false);
  BOOST_TEST(!contains(masked, "SE4550000000058398257466"));
  BOOST_TEST(contains(masked, "********************7466"));
  BOOST_TEST(contains(masked, "**********2345"));
  const std::string json = export_text(db, Table::kHoldings, Format::kJsonLines, false);
  BOOST_TEST(contains(json, "\"account_ref\":\"********************7466\""));
  BOOST_TEST(contains(json, "\"account_ref\":null"));
}

BOOST_DATA_TEST_CASE(engine_refusals_fail_all_or_nothing_or_skip, kModes, mode) {
  TempDir dir;
  Database db = fresh(mode, dir / "db");
  const std::string text = std::string(kHeader) +
                           "1,1,savings,,,USD,1.00,,,2020-01-01,,active\n"
                           "2,99,savings,,,USD,1.00,,,2020-01-01,,active\n"
                           "3,1,savings,,,USD,1.00,,5.00,2020-01-01,,active\n"
                           "4,2,mortgage,,,USD,1.00,,,2020-01-01,,active\n";
  auto r = import_text(db, Table::kHoldings, text);
  require_error(r, "<stdin>:3: customer_id: ");
  BOOST_TEST(holding_count(db) == 0u);
  cio::ImportOptions skip;
  skip.skip_bad = true;
  auto rep = must(import_text(db, Table::kHoldings, text, Format::kCsv, skip));
  BOOST_TEST(rep.imported == 2u);
  BOOST_TEST_REQUIRE(rep.bad.size() == 2u);
  BOOST_TEST(rep.bad[0].line == 3u);
  BOOST_TEST(rep.bad[0].field == "customer_id");
  BOOST_TEST(rep.bad[1].line == 4u);
  BOOST_TEST(rep.bad[1].field == "credit_limit");
  BOOST_TEST(holding_count(db) == 2u);
  require_clean(db);
}

BOOST_DATA_TEST_CASE(statement_balances_all_or_nothing_and_ordering, kModes, mode) {
  TempDir dir;
  Database db = fresh(mode, dir / "db");
  must(import_text(db, Table::kHoldings, holdings_csv()));
  const fs::path file = dir / "balances.csv";
  auto run = [&](const std::string& text, std::optional<Date> as_of, bool skip_bad = false) {
    write_bytes(file, text);
    cio::ImportBalancesOptions o;
    o.as_of = as_of;
    o.import.skip_bad = skip_bad;
    return cio::import_balances(db, file, Format::kCsv, o);
  };
  const Date june = *parse_date("2024-06-30");
  // A bad row (no holding 77) stores nothing: holding 1 keeps its balance.
  require_error(run("id,balance\n1,2000.00\n77,1.00\n", june), ":3: id: no holding 77");
  BOOST_TEST(must(db.get_holding(1))->balance == 150025);
  // By id and by account_ref; base_balance for the foreign-currency holding.
  auto rep = must(run(
      "id,account_ref,balance,base_balance\n1,,2000.00,\n,MORT-0001-2345,240000.00,259200.00\n",
      june));
  BOOST_TEST(rep.imported == 2u);
  auto h1 = must(db.get_holding(1));
  BOOST_TEST(h1->balance == 200000);
  BOOST_TEST((h1->balance_as_of == june));
  auto h2 = must(db.get_holding(2));
  BOOST_TEST(h2->balance == 24000000);
  BOOST_TEST((h2->base_balance == std::optional<std::int64_t>(25920000)));
  // The same date again is accepted (idempotent re-import); an older one is refused.
  must(run("id,balance\n1,2000.00\n", june));
  auto older = run("id,balance,as_of\n1,1.00,2024-05-31\n", std::nullopt);
  require_error(older, ":2: ");
  BOOST_TEST(must(db.get_holding(1))->balance == 200000);
  // skip_bad: the good rows stored, the bad ones listed.
  auto skipped = must(run("id,balance,as_of\n1,1.00,2024-05-31\n3,99.00,2024-07-01\n",
                          std::nullopt, true));
  BOOST_TEST(skipped.imported == 1u);
  BOOST_TEST(skipped.bad.size() == 1u);
  BOOST_TEST(must(db.get_holding(3))->balance == 9900);
  require_clean(db);
}

BOOST_DATA_TEST_CASE(subject_json_lists_holdings_unmasked, kModes, mode) {
  TempDir dir;
  Database db = fresh(mode, dir / "db");
  must(import_text(db, Table::kHoldings, holdings_csv()));
  auto record = must(must(db.begin_read()).subject_record(1));
  BOOST_TEST_REQUIRE(record.has_value());
  std::ostringstream out;
  must(cio::write_subject_json(*record, "USD", out));
  BOOST_TEST(contains(out.str(), "\"account_ref\": \"SE4550000000058398257466\""));
  BOOST_TEST(contains(out.str(), "\"aum\": \"1500.25\""));
}

BOOST_AUTO_TEST_SUITE_END()
