// Custom attributes on records (issue #17, owner B): the codec (values under ids, personal ones
// sealed in the personal blob, defaults presented, type checks), validation on every write
// with "attribute NAME: reason", the text form, import/export columns and keys with
// FILE:LINE errors and nothing stored on a bad row, masking, the analyst key, erasure, the
// consistency check, subject export and rotation. Both storage modes.
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <random>
#include <sstream>

#include "codec/record_codec.h"
#include "custdb/attributes.h"
#include "custdb/database.h"
#include "custdb/io.h"
#include "custdb/privacy.h"
#include "engine/db_impl.h"
#include "io/io_internal.h"
#include "erasure_scan.h"
#include "test_util.h"
#include "util/coding.h"

using namespace custdb;
using namespace custdb::test;
namespace cio = custdb::io;
namespace bdata = boost::unit_test::data;

namespace {

// Every value type on customers, two personal; a required one with a default.
std::vector<AttributeDef> customer_defs() {
  auto def = [](std::string name, AttributeType type) {
    AttributeDef d;
    d.name = std::move(name);
    d.type = type;
    return d;
  };
  std::vector<AttributeDef> out;
  out.push_back(def("nickname", AttributeType::kText));
  out.back().personal = true;
  out.push_back(def("branch", AttributeType::kEnum));
  out.back().values = {"B017", "B020", "North"};
  out.push_back(def("loyalty_points", AttributeType::kInteger));
  out.push_back(def("discount", AttributeType::kDecimal));
  out.back().scale = 2;
  out.push_back(def("credit_limit", AttributeType::kAmount));
  out.push_back(def("kyc_review", AttributeType::kDate));
  out.push_back(def("last_login", AttributeType::kTimestamp));
  out.push_back(def("vip", AttributeType::kBool));
  out.push_back(def("interests", AttributeType::kTagSet));
  out.push_back(def("secret_code", AttributeType::kText));
  out.back().personal = true;
  out.push_back(def("segment_level", AttributeType::kInteger));
  out.back().required = true;
  out.back().default_value = AttributeValue(std::int64_t{3});
  return out;
}

std::vector<AttributeDef> transaction_defs() {
  std::vector<AttributeDef> out;
  AttributeDef memo;
  memo.name = "memo_code";
  memo.table = AttributeTable::kTransactions;
  memo.type = AttributeType::kText;
  memo.personal = true;
  out.push_back(memo);
  AttributeDef fee;
  fee.name = "fee";
  fee.table = AttributeTable::kTransactions;
  fee.type = AttributeType::kAmount;
  out.push_back(fee);
  return out;
}

void declare(Database& db) {
  for (const auto& d : customer_defs()) must(db.add_attribute(d));
  for (const auto& d : transaction_defs()) must(db.add_attribute(d));
}

Attributes full_values() {
  return {{"nickname", std::string("Zqnick")},
          {"branch", std::string("b017")},  // stored as declared: B017
          {"loyalty_points", std::int64_t{1500}},
          {"discount", std::int64_t{1250}},
          {"credit_limit", std::int64_t{-500000}},
          {"kyc_review", *parse_date("2024-12-31")},
          {"last_login", *parse_timestamp("2025-02-03T04:05:06.789Z")},
          {"vip", true},
          {"interests", std::vector<std::string>{"Golf", "chess", "golf"}},
          {"secret_code", std::string("ZqSecret42Q")}};
}

std::string read_file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

template <class T>
std::string error_of(const Result<T>& r) {
  return r ? std::string() : r.error().message();
}

Result<cio::ImportReport> import_text(Database& db, cio::Table table, const std::string& text,
                                      cio::Format format = cio::Format::kCsv) {
  std::istringstream in(text);
  return cio::import_stream(db, table, in, format);
}

std::string export_text(const Database& db, cio::Table table, cio::Format format, bool reveal) {
  std::ostringstream out;
  cio::ExportOptions o;
  o.reveal = reveal;
  must(cio::export_table(db, table, out, format, o));
  return out.str();
}

std::size_t customer_count(const Database& db) {
  auto r = must(db.begin_read());
  std::size_t n = 0;
  must(r.for_each_customer([&](const Customer&) { return ++n, true; }));
  return n;
}

// A schema built in the test (no database): ids as given.
Schema schema_of(std::vector<AttributeDef> defs) {
  Schema s;
  s.version = 1;
  std::uint32_t id = 0;
  for (auto& d : defs) {
    d.id = ++id;
    s.attributes.push_back(std::move(d));
  }
  return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(attribute_records)

// ---- codec, with schemas built here -----------------------------------------------------------

BOOST_AUTO_TEST_CASE(codec_round_trip_skips_dropped_adds_defaults_checks_types) {
  codec::RecordCodec codec(nullptr);
  Schema s = schema_of(customer_defs());
  Customer c = sample_customer(1);
  c.id = 5;
  c.attributes = full_values();
  c.attributes["branch"] = std::string("B017");
  c.attributes["interests"] = std::vector<std::string>{"chess", "golf"};
  c.attributes["segment_level"] = std::int64_t{9};
  coding::IdKey k(5);
  std::vector<std::uint8_t> bytes;
  codec.encode(k.span(), c, s, bytes);
  auto back = codec.decode_customer(k.span(), bytes, s);
  BOOST_TEST_REQUIRE(back.has_value(), (back ? "" : back.error().to_string()));
  BOOST_TEST((back->attributes == c.attributes));

  // A renamed attribute keeps its value (stored under the id).
  Schema renamed = s;
  renamed.attributes[2].name = "points";
  auto r = must(codec.decode_customer(k.span(), bytes, renamed));
  BOOST_TEST(r.attributes.count("points") == 1u);
  BOOST_TEST(r.attributes.count("loyalty_points") == 0u);

  // A dropping attribute is skipped; the rewrite drops its value for good.
  Schema dropping = s;
  dropping.attributes[2].dropping = true;
  auto d = must(codec.decode_customer(k.span(), bytes, dropping));
  BOOST_TEST(d.attributes.count("loyalty_points") == 0u);
  std::vector<std::uint8_t> rewritten;
  codec.encode(k.span(), d, dropping, rewritten);
  BOOST_TEST(must(codec.decode_customer(k.span(), rewritten, s)).attributes.count("loyalty_points") == 0u);

  // A record without a value of a required attribute reads its default.
  Customer old = sample_customer(2);
  old.id = 5;
  codec.encode(k.span(), old, Schema{}, bytes);
  auto o = must(codec.decode_customer(k.span(), bytes, s));
  BOOST_TEST_REQUIRE(o.attributes.size() == 1u);
  BOOST_TEST((o.attributes.at("segment_level") == AttributeValue(std::int64_t{3})));

  // The stored field must fit the type: an integer read as a text attribute is corruption.
  Customer one = sample_customer(3);
  one.attributes = {{"loyalty_points", std::int64_t{7}}};
  codec.encode(k.span(), one, s, bytes);
  Schema retyped = s;
  retyped.attributes[2].type = AttributeType::kText;
  auto bad = codec.decode_customer(k.span(), bytes, retyped);
  BOOST_TEST_REQUIRE(!bad.has_value());
  BOOST_TEST((bad.error().code() == ErrorCode::kCorruption));
  BOOST_TEST(contains(bad.error().message(), "loyalty_points"), bad.error().message());
  // A bool stored as 0/1; another number is corruption.
  Schema as_bool = s;
  as_bool.attributes[2].type = AttributeType::kBool;
  BOOST_TEST(!codec.decode_customer(k.span(), bytes, as_bool).has_value());
}

BOOST_AUTO_TEST_CASE(text_form_round_trips_and_refuses) {
  const Schema s = schema_of(customer_defs());
  auto def = [&](const char* n) { return *s.find(n); };
  std::mt19937_64 rng(17);
  for (const AttributeDef& d : s.attributes) {
    Attributes v = full_values();
    v["segment_level"] = std::int64_t{static_cast<std::int64_t>(rng() % 1000) - 500};
    auto it = v.find(d.name);
    BOOST_TEST_REQUIRE((it != v.end()));
    // Normalize first (enum spelling, tags), then text -> value -> text is the identity.
    auto parsed = parse_attribute_value(d, format_attribute_value(d, it->second, 2), 2);
    BOOST_TEST_REQUIRE(parsed.has_value(), d.name << ": " << error_of(parsed));
    const std::string text = format_attribute_value(d, *parsed, 2);
    auto again = parse_attribute_value(d, text, 2);
    BOOST_TEST_REQUIRE(again.has_value(), d.name);
    BOOST_TEST((*again == *parsed), d.name);
    BOOST_TEST(format_attribute_value(d, *again, 2) == text, d.name);
  }
  BOOST_TEST(format_attribute_value(def("discount"), std::int64_t{-5}, 2) == "-0.05");
  BOOST_TEST(format_attribute_value(def("credit_limit"), std::int64_t{123456}, 2) == "1234.56");
  BOOST_TEST(format_attribute_value(def("credit_limit"), std::int64_t{123456}, 0) == "123456");
  BOOST_TEST(std::get<std::int64_t>(*parse_attribute_value(def("discount"), "12.5", 2)) == 1250);
  BOOST_TEST(std::get<std::string>(*parse_attribute_value(def("branch"), " north ", 2)) == "North");
  BOOST_TEST((std::get<std::vector<std::string>>(*parse_attribute_value(def("interests"), "B|a|b", 2)) ==
              std::vector<std::string>{"a", "b"}));
  for (auto [name, text, needle] :
       {std::tuple{"discount", "1.234", "at most 2 fraction digits"},
        std::tuple{"loyalty_points", "12x", "expected an integer"},
        std::tuple{"loyalty_points", "99999999999999999999", "expected an integer"},
        std::tuple{"kyc_review", "2025-02-30", "expected a date"},
        std::tuple{"branch", "B999", "not one of the declared values"},
        std::tuple{"vip", "maybe", "expected true or false"},
        std::tuple{"credit_limit", "10000000000000.01", "10^15"},
        std::tuple{"interests", "a||b", "bad tag"}}) {
    auto r = parse_attribute_value(def(name), text, 2);
    BOOST_TEST_REQUIRE(!r.has_value(), name << " " << text);
    BOOST_TEST((r.error().code() == ErrorCode::kInvalidArgument));
    BOOST_TEST(contains(r.error().message(), needle), r.error().message());
  }
}

// ---- the engine, both modes ------------------------------------------------------------------

BOOST_DATA_TEST_CASE(every_type_round_trips_and_validates, kModes, mode) {
  TempDir dir;
  Database db = open_db(mode, dir / "db");
  // An older customer, written before the attributes existed.
  const CustomerId old_id = must(db.insert_customer(sample_customer(1)));
  declare(db);
  Customer c = sample_customer(2);
  c.attributes = full_values();
  const CustomerId id = must(db.insert_customer(c));
  auto got = must(db.get_customer(id));
  BOOST_TEST_REQUIRE(got.has_value());
  Attributes expected = full_values();
  expected["branch"] = std::string("B017");
  expected["interests"] = std::vector<std::string>{"chess", "golf"};
  expected["segment_level"] = std::int64_t{3};  // the default, applied on insert
  BOOST_TEST((got->attributes == expected));
  // The older record reads the required attribute's default, and nothing else.
  auto old = must(db.get_customer(old_id));
  BOOST_TEST_REQUIRE(old->attributes.size() == 1u);
  BOOST_TEST((old->attributes.at("segment_level") == AttributeValue(std::int64_t{3})));

  // Validation on insert: the attribute's name and the reason; nothing stored.
  const std::size_t before = customer_count(db);
  for (auto [attrs, needle] :
       {std::pair{Attributes{{"loyalty_points", std::string("many")}},
                  "attribute loyalty_points: expected an integer"},
        std::pair{Attributes{{"branch", std::string("B999")}}, "attribute branch: not one of"},
        std::pair{Attributes{{"no_such", std::int64_t{1}}}, "attribute no_such: unknown attribute"},
        std::pair{Attributes{{"credit_limit", std::int64_t{kMaxAmount + 1}}},
                  "attribute credit_limit: magnitude"},
        std::pair{Attributes{{"kyc_review", Date{std::chrono::year{1700} / 1 / 1}}},
                  "attribute kyc_review: date outside"},
        std::pair{Attributes{{"nickname", std::string("  ")}}, "attribute nickname: empty text"},
        std::pair{Attributes{{"interests", std::vector<std::string>{"a|b"}}},
                  "attribute interests: bad tag"}}) {
    Customer bad = sample_customer(3);
    bad.attributes = attrs;
    auto r = db.insert_customer(bad);
    BOOST_TEST_REQUIRE(!r.has_value(), needle);
    BOOST_TEST((r.error().code() == ErrorCode::kInvalidArgument));
    BOOST_TEST(contains(r.error().message(), needle), r.error().message());
  }
  BOOST_TEST(customer_count(db) == before);

  // Update: a value changes, a required one cannot be removed, an optional one can.
  {
    auto w = must(db.begin_write());
    BOOST_TEST(must(w.update_customer(id, [](Customer& x) {
      x.attributes["loyalty_points"] = std::int64_t{2000};
      x.attributes.erase("vip");
    })));
    auto r = w.update_customer(id, [](Customer& x) { x.attributes.erase("segment_level"); });
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST(error_of(r) == "attribute segment_level: required");
    must(w.commit());
  }
  got = must(db.get_customer(id));
  BOOST_TEST((got->attributes.at("loyalty_points") == AttributeValue(std::int64_t{2000})));
  BOOST_TEST(got->attributes.count("vip") == 0u);

  // Transactions: stored, validated, amended.
  Transaction t = sample_txn(id, 1000, "2025-03-01T10:00:00Z");
  t.attributes = {{"memo_code", std::string("ZqMemo7Q")}, {"fee", std::int64_t{250}}};
  const TransactionId tid = must(db.add_transaction(t));
  {
    auto r = must(db.begin_read());
    auto list = must(r.transactions_of(id, std::nullopt, std::nullopt));
    BOOST_TEST_REQUIRE(list.size() == 1u);
    BOOST_TEST((list[0].attributes == t.attributes));
  }
  Transaction bad_t = sample_txn(id, 1000, "2025-03-02T10:00:00Z");
  bad_t.attributes = {{"fee", std::string("1.00")}};
  BOOST_TEST(contains(error_of(db.add_transaction(bad_t)), "attribute fee: expected an integer"));
  bad_t.attributes = {{"loyalty_points", std::int64_t{1}}};  // a customers attribute
  BOOST_TEST(contains(error_of(db.add_transaction(bad_t)),
                      "attribute loyalty_points: unknown attribute of transactions"));
  {
    auto w = must(db.begin_write());
    BOOST_TEST(must(w.amend_transaction(tid, [](Transaction& x) { x.attributes["fee"] = std::int64_t{300}; })));
    must(w.commit());
  }
  require_clean(db);
}

BOOST_DATA_TEST_CASE(required_without_default_on_an_empty_table, kModes, mode) {
  TempDir dir;
  Database db = open_db(mode, dir / "db");
  AttributeDef d;
  d.name = "contract_no";
  d.type = AttributeType::kText;
  d.required = true;
  must(db.add_attribute(d));
  auto r = db.insert_customer(sample_customer(1));
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(error_of(r) == "attribute contract_no: required");
  Customer c = sample_customer(1);
  c.attributes["Contract_No"] = std::string(" C-1 ");  // any case; trimmed
  const CustomerId id = must(db.insert_customer(c));
  BOOST_TEST((must(db.get_customer(id))->attributes.at("contract_no") == AttributeValue(std::string("C-1"))));
}

BOOST_DATA_TEST_CASE(personal_values_are_sealed_and_follow_the_analyst_key, kModes, mode) {
  TempDir dir;
  const fs::path path = dir / "db";
  CustomerId id = 0;
  {
    Database db = open_db(mode, path);
    declare(db);
    Customer c = sample_customer(1);
    c.attributes = full_values();
    id = must(db.insert_customer(c));
    Transaction t = sample_txn(id, 1000, "2025-03-01T10:00:00Z");
    t.attributes = {{"memo_code", std::string("ZqMemo7Q")}, {"fee", std::int64_t{250}}};
    must(db.add_transaction(t));
    if (mode == Mode::kEncrypted) must(db.add_analyst_key(*test_key(9)));
  }
  const std::string file = read_file_bytes(path / "data.mdb");
  for (const char* personal : {"ZqSecret42Q", "ZqMemo7Q", "Zqnick"})
    BOOST_TEST((file.find(personal) != std::string::npos) == (mode == Mode::kPlain), personal);
  if (mode == Mode::kPlain) return;
  Options o;
  o.key = test_key(9);
  o.create_if_missing = false;
  Database analyst = must(Database::open(path, o));
  BOOST_TEST((analyst.info().role == KeyRole::kAnalyst));
  auto c = must(analyst.get_customer(id));
  BOOST_TEST_REQUIRE(c.has_value());
  BOOST_TEST(!c->personal_available);
  BOOST_TEST(c->attributes.count("nickname") == 0u);
  BOOST_TEST(c->attributes.count("secret_code") == 0u);
  BOOST_TEST((c->attributes.at("loyalty_points") == AttributeValue(std::int64_t{1500})));
  BOOST_TEST((c->attributes.at("segment_level") == AttributeValue(std::int64_t{3})));
  auto r = must(analyst.begin_read());
  auto list = must(r.transactions_of(id, std::nullopt, std::nullopt));
  BOOST_TEST_REQUIRE(list.size() == 1u);
  BOOST_TEST(list[0].attributes.count("memo_code") == 0u);
  BOOST_TEST((list[0].attributes.at("fee") == AttributeValue(std::int64_t{250})));
  // Export under the analyst key: personal columns read (unavailable).
  const std::string csv = export_text(analyst, cio::Table::kCustomers, cio::Format::kCsv, true);
  BOOST_TEST(csv.find("ZqSecret42Q") == std::string::npos);
  BOOST_TEST(contains(csv, "(unavailable)"));
}

BOOST_DATA_TEST_CASE(erasure_removes_personal_attributes, kModes, mode) {
  TempDir dir;
  Database db = open_db(mode, dir / "db");
  declare(db);
  Customer c = sample_customer(1);
  c.attributes = full_values();
  const CustomerId id = must(db.insert_customer(c));
  Transaction t = sample_txn(id, 1000, "2025-03-01T10:00:00Z");
  t.attributes = {{"memo_code", std::string("ZqMemo7Q")}, {"fee", std::int64_t{250}}};
  must(db.add_transaction(t));
  Customer other = sample_customer(2);
  other.attributes = {{"secret_code", std::string("ZqKeepMeQ")}};
  const CustomerId other_id = must(db.insert_customer(other));

  must(db.erase_customer(id, EraseMode::kKeepLedger));
  auto after = must(db.get_customer(id));
  BOOST_TEST_REQUIRE(after.has_value());
  BOOST_TEST(after->attributes.count("nickname") == 0u);
  BOOST_TEST(after->attributes.count("secret_code") == 0u);
  BOOST_TEST((after->attributes.at("loyalty_points") == AttributeValue(std::int64_t{1500})));
  auto r = must(db.begin_read());
  auto list = must(r.transactions_of(id, std::nullopt, std::nullopt));
  BOOST_TEST_REQUIRE(list.size() == 1u);
  BOOST_TEST(list[0].attributes.count("memo_code") == 0u);
  BOOST_TEST((list[0].attributes.at("fee") == AttributeValue(std::int64_t{250})));
  auto found = erasure_scan::found_in_live_values(db, {"ZqSecret42Q", "ZqMemo7Q", "Zqnick"});
  BOOST_TEST(found.empty(), erasure_scan::joined(found));
  BOOST_TEST(erasure_scan::found_in_live_values(db, {"ZqKeepMeQ"}).size() == 1u);
  BOOST_TEST((must(db.get_customer(other_id))->attributes.at("secret_code") ==
              AttributeValue(std::string("ZqKeepMeQ"))));
  require_clean(db);
}

BOOST_DATA_TEST_CASE(import_export_by_name_with_located_errors, kModes, mode) {
  TempDir dir;
  Database db = open_db(mode, dir / "db");
  declare(db);
  const std::string header = "id,name,loyalty_points,branch,kyc_review,interests,vip,discount,credit_limit,nickname\n";
  auto r = must(import_text(db, cio::Table::kCustomers,
                            header + "1,Ann,1000,b017,2024-12-31,golf|Chess,true,1.5,12.34,Annie\n"
                                     "2,Bob,,,,,,,,\n"));
  BOOST_TEST(r.imported == 2u);
  auto ann = must(db.get_customer(1));
  BOOST_TEST((ann->attributes.at("branch") == AttributeValue(std::string("B017"))));
  BOOST_TEST((ann->attributes.at("discount") == AttributeValue(std::int64_t{150})));
  BOOST_TEST((ann->attributes.at("credit_limit") == AttributeValue(std::int64_t{1234})));
  BOOST_TEST((ann->attributes.at("interests") == AttributeValue(std::vector<std::string>{"chess", "golf"})));
  auto bob = must(db.get_customer(2));
  BOOST_TEST(bob->attributes.size() == 1u);  // the required default only

  // A bad value: FILE:LINE: NAME: reason, and nothing of the file stored.
  const std::size_t before = customer_count(db);
  auto bad = import_text(db, cio::Table::kCustomers,
                         header + "3,Cy,5,,,,,,,\n4,Di,lots,,,,,,,\n");
  BOOST_TEST(error_of(bad) == "<stdin>:3: loyalty_points: expected an integer, found 'lots'");
  bad = import_text(db, cio::Table::kCustomers, header + "3,Cy,,B999,,,,,,\n");
  BOOST_TEST(contains(error_of(bad), "<stdin>:2: branch: not one of the declared values"), error_of(bad));
  bad = import_text(db, cio::Table::kCustomers, "id,name,shoe_size\n3,Cy,44\n");
  BOOST_TEST(error_of(bad) == "<stdin>:1: shoe_size: " + std::string(cio::detail::kUnknownColumn));
  bad = import_text(db, cio::Table::kCustomers,
                    "{\"id\":3,\"name\":\"Cy\",\"vip\":\"perhaps\"}\n", cio::Format::kJsonLines);
  BOOST_TEST(error_of(bad) == "<stdin>:1: vip: expected true or false, found 'perhaps'");
  bad = import_text(db, cio::Table::kCustomers,
                    "{\"id\":3,\"name\":\"Cy\",\"loyalty_points\":true}\n", cio::Format::kJsonLines);
  BOOST_TEST(contains(error_of(bad), "<stdin>:1: loyalty_points: true/false"), error_of(bad));
  BOOST_TEST(customer_count(db) == before);
  // JSON Lines: numbers, booleans and arrays.
  must(import_text(db, cio::Table::kCustomers,
                   "{\"id\":5,\"name\":\"Ed\",\"loyalty_points\":-7,\"vip\":false,\"interests\":[\"A\",\"b\"]}\n",
                   cio::Format::kJsonLines));
  auto ed = must(db.get_customer(5));
  BOOST_TEST((ed->attributes.at("loyalty_points") == AttributeValue(std::int64_t{-7})));
  BOOST_TEST((ed->attributes.at("vip") == AttributeValue(false)));
  BOOST_TEST((ed->attributes.at("interests") == AttributeValue(std::vector<std::string>{"a", "b"})));
  // Transactions by name too; a bad one names its line.
  must(import_text(db, cio::Table::kTransactions,
                   "customer_id,ts,amount,currency,fee,memo_code\n1,2025-01-01T00:00:00Z,10.00,USD,0.25,M1\n"));
  bad = import_text(db, cio::Table::kTransactions,
                    "customer_id,ts,amount,currency,fee\n1,2025-01-02T00:00:00Z,10.00,USD,0.255\n");
  BOOST_TEST(contains(error_of(bad), "<stdin>:2: fee: expected an amount"), error_of(bad));

  // Export (reveal) -> import into a database with the same schema -> export: identical.
  for (cio::Format f : {cio::Format::kCsv, cio::Format::kJsonLines}) {
    TempDir dir2;
    Database copy = open_db(mode, dir2 / "db");
    declare(copy);
    for (cio::Table table : {cio::Table::kCustomers, cio::Table::kTransactions}) {
      const std::string first = export_text(db, table, f, true);
      must(import_text(copy, table, first, f));
      BOOST_TEST(export_text(copy, table, f, true) == first);
    }
  }
  // Masked export: personal attributes masked like names, others as they are.
  const std::string masked = export_text(db, cio::Table::kCustomers, cio::Format::kCsv, false);
  BOOST_TEST(masked.find("Annie") == std::string::npos);
  BOOST_TEST(contains(masked, "A****"));
  BOOST_TEST(contains(masked, "B017"));
  BOOST_TEST(contains(export_text(db, cio::Table::kCustomers, cio::Format::kCsv, true), "Annie"));
  require_clean(db);
}

BOOST_DATA_TEST_CASE(subject_export_and_check, kModes, mode) {
  TempDir dir;
  Database db = open_db(mode, dir / "db");
  declare(db);
  Customer c = sample_customer(1);
  c.attributes = full_values();
  const CustomerId id = must(db.insert_customer(c));
  Transaction t = sample_txn(id, 1000, "2025-03-01T10:00:00Z");
  t.attributes = {{"memo_code", std::string("ZqMemo7Q")}, {"fee", std::int64_t{250}}};
  must(db.add_transaction(t));
  auto r = must(db.begin_read());
  auto rec = must(r.subject_record(id));
  BOOST_TEST_REQUIRE(rec.has_value());
  std::ostringstream out;
  must(cio::write_subject_json(*rec, "USD", out));
  const std::string doc = out.str();
  for (const char* needle : {"\"attributes\"", "\"secret_code\": \"ZqSecret42Q\"",
                             "\"discount\": \"12.50\"", "\"kyc_review\": \"2024-12-31\"",
                             "\"memo_code\": \"ZqMemo7Q\"", "\"fee\": \"2.50\""})
    BOOST_TEST(contains(doc, needle), needle);
  require_clean(db);
}

BOOST_AUTO_TEST_CASE(check_reports_a_stored_value_failing_the_schema) {
  // A value written under one schema, read under a stricter one (an enum value the schema no
  // longer declares): check() names the customer and the attribute.
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir / "db");
  declare(db);
  Customer c = sample_customer(1);
  c.attributes = {{"branch", std::string("B020")}};
  const CustomerId id = must(db.insert_customer(c));
  require_clean(db);
  // Behind the engine's back: re-encode the record with a schema whose branch has another
  // value list is impossible through the API, so encode "B999" with the codec directly.
  {
    auto& d = Database::Impl::of(db);
    auto st = must(d.begin(true));
    Customer stored = *must(d.load_customer(*st, id));
    stored.attributes["branch"] = std::string("B999");
    must(d.store_customer(*st, stored));
    must(d.commit(*st));
  }
  auto report = must(db.check());
  bool found = false;
  for (const auto& p : report.problems)
    found = found || (contains(p.what, "customer " + std::to_string(id)) &&
                      contains(p.what, "attribute branch"));
  BOOST_TEST(found);
}

BOOST_AUTO_TEST_CASE(rotation_keeps_values) {
  TempDir dir;
  const fs::path path = dir / "db";
  CustomerId id = 0;
  {
    Database db = open_db(Mode::kEncrypted, path);
    declare(db);
    Customer c = sample_customer(1);
    c.attributes = full_values();
    id = must(db.insert_customer(c));
    Transaction t = sample_txn(id, 1000, "2025-03-01T10:00:00Z");
    t.attributes = {{"memo_code", std::string("ZqMemo7Q")}, {"fee", std::int64_t{250}}};
    must(db.add_transaction(t));
  }
  must(rotate_data_key(path, options_for(Mode::kEncrypted), {}, 1));
  Database db = open_db(Mode::kEncrypted, path);
  auto c = must(db.get_customer(id));
  BOOST_TEST_REQUIRE(c.has_value());
  BOOST_TEST((c->attributes.at("secret_code") == AttributeValue(std::string("ZqSecret42Q"))));
  BOOST_TEST((c->attributes.at("discount") == AttributeValue(std::int64_t{1250})));
  auto r = must(db.begin_read());
  auto list = must(r.transactions_of(id, std::nullopt, std::nullopt));
  BOOST_TEST_REQUIRE(list.size() == 1u);
  BOOST_TEST((list[0].attributes.at("memo_code") == AttributeValue(std::string("ZqMemo7Q"))));
  require_clean(db);
}

BOOST_AUTO_TEST_SUITE_END()
