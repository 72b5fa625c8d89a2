// The schema of custom attributes (custdb/attributes.h; engine/schema.cc): declaring, naming
// rules, the stored bytes (meta "schema"), renames, drops, indexing and its bounded resumable
// work, audit entries, references from rules and retention, analysts, old files, the CLI.
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <sstream>

#include "custdb/analytics.h"
#include "custdb/privacy.h"
#include "engine/schema.h"
#include "program.h"
#include "test_util.h"

namespace custdb::test {
namespace {

namespace pt = boost::property_tree;

AttributeDef def_of(std::string name, AttributeType type) {
  AttributeDef d;
  d.name = std::move(name);
  d.type = type;
  return d;
}

AttributeDef enum_def(std::string name, std::vector<std::string> values) {
  AttributeDef d = def_of(std::move(name), AttributeType::kEnum);
  d.values = std::move(values);
  return d;
}

ErrorCode code_of(const Result<AttributeDef>& r) { return r ? ErrorCode::kInternal : r.error().code(); }
std::string message_of(const Result<AttributeDef>& r) { return r ? "" : r.error().message(); }

std::vector<AuditEntry> audit_of(const Database& db) {
  auto txn = must(db.begin_read());
  return must(txn.audit_log({}));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(schema)

BOOST_DATA_TEST_CASE(add_persists_with_ids_versions_and_audit, kModes, m) {
  TempDir dir;
  {
    Database db = open_db(m, dir.path());
    BOOST_TEST(must(db.schema()).version == 0u);
    BOOST_TEST(must(db.schema()).attributes.empty());
    const auto audit_before = audit_of(db).size();
    AttributeDef branch = enum_def("Branch", {"B017", "b020", "North_1"});
    branch.indexed = true;
    AttributeDef a = must(db.add_attribute(branch));
    BOOST_TEST(a.name == "branch");  // stored lower case
    BOOST_TEST(a.id == 1u);
    BOOST_TEST(a.added_in == 1u);
    BOOST_TEST(a.index_state == IndexState::kReady);  // empty table: nothing to build
    AttributeDef pts = def_of("loyalty_points", AttributeType::kInteger);
    pts.required = true;
    pts.default_value = std::int64_t{0};
    AttributeDef b = must(db.add_attribute(pts));
    BOOST_TEST(b.id == 2u);
    AttributeDef note = def_of("note", AttributeType::kText);
    note.table = AttributeTable::kTransactions;
    note.personal = true;
    must(db.add_attribute(note));
    AttributeDef price = def_of("price", AttributeType::kDecimal);
    price.scale = 3;
    must(db.add_attribute(price));
    AttributeDef kinds = def_of("kinds", AttributeType::kTagSet);
    kinds.values = {"Gold", " silver "};
    const AttributeDef k = must(db.add_attribute(kinds));
    BOOST_TEST((k.values == std::vector<std::string>{"gold", "silver"}));

    const auto entries = audit_of(db);
    BOOST_TEST_REQUIRE(entries.size() == audit_before + 5);
    BOOST_TEST(entries[audit_before].event.command == "schema add");
    BOOST_TEST(contains(entries[audit_before].event.detail, "name=branch"));
  }
  Database db = open_db(m, dir.path());
  const Schema s = must(db.schema());
  BOOST_TEST(s.version == 5u);
  BOOST_TEST_REQUIRE(s.attributes.size() == 5u);
  const AttributeDef* branch = s.find("BRANCH");
  BOOST_TEST_REQUIRE(branch);
  BOOST_TEST((branch->values == std::vector<std::string>{"B017", "b020", "North_1"}));
  BOOST_TEST(branch->indexed);
  const AttributeDef* pts = s.find("loyalty_points");
  BOOST_TEST_REQUIRE(pts);
  BOOST_TEST(pts->required);
  BOOST_TEST((pts->default_value == std::optional<AttributeValue>(std::int64_t{0})));
  BOOST_TEST(!s.find("note"));  // a transactions attribute
  const AttributeDef* note = s.find("note", AttributeTable::kTransactions);
  BOOST_TEST_REQUIRE(note);
  BOOST_TEST(note->personal);
  BOOST_TEST(s.find("price")->scale == 3);
  // A read view sees the same schema, and so do its parse options.
  auto txn = must(db.begin_read());
  BOOST_TEST((must(txn.schema()) == s));
  auto po = must(txn.parse_options());
  BOOST_TEST_REQUIRE(po.schema);
  BOOST_TEST((*po.schema == s));
}

BOOST_AUTO_TEST_CASE(names_and_type_rules_are_enforced) {
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir.path());
  auto refused = [&](const AttributeDef& d, const std::string& part) {
    auto r = db.add_attribute(d);
    BOOST_TEST(code_of(r) == ErrorCode::kInvalidArgument, d.name);
    BOOST_TEST(contains(message_of(r), part), message_of(r) << " lacks " << part);
  };
  // Built-ins, keywords, columns, shapes.
  for (const char* n : {"region", "tier", "tag", "and", "between", "id", "email", "created_at",
                        "consent_email_date", "total_amount", "age"})
    refused(def_of(n, AttributeType::kText), n);
  refused(def_of("", AttributeType::kText), "name");
  refused(def_of("9lives", AttributeType::kText), "letter");
  refused(def_of("has-dash", AttributeType::kText), "letter");
  refused(def_of(std::string(65, 'a'), AttributeType::kText), "longer");
  // Transactions columns are taken on that table only.
  AttributeDef amount = def_of("amount", AttributeType::kInteger);
  amount.table = AttributeTable::kTransactions;
  refused(amount, "amount");
  // Types.
  refused(def_of("e", AttributeType::kEnum), "values");
  refused(enum_def("e", {"a", "A"}), "twice");
  refused(enum_def("e", {"two words"}), "bare word");
  refused(enum_def("e", {"and"}), "bare word");
  AttributeDef scaled = def_of("n", AttributeType::kInteger);
  scaled.scale = 2;
  refused(scaled, "scale");
  AttributeDef bad_scale = def_of("d", AttributeType::kDecimal);
  bad_scale.scale = 10;
  refused(bad_scale, "scale");
  AttributeDef vals = def_of("n", AttributeType::kInteger);
  vals.values = {"x"};
  refused(vals, "values");
  AttributeDef opt_default = def_of("n", AttributeType::kInteger);
  opt_default.default_value = std::int64_t{3};
  refused(opt_default, "default");
  AttributeDef wrong_default = def_of("n", AttributeType::kInteger);
  wrong_default.required = true;
  wrong_default.default_value = std::string("three");
  refused(wrong_default, "default");
  AttributeDef enum_default = enum_def("e", {"a", "b"});
  enum_default.required = true;
  enum_default.default_value = std::string("c");
  refused(enum_default, "default");
  AttributeDef txn_indexed = def_of("n", AttributeType::kInteger);
  txn_indexed.table = AttributeTable::kTransactions;
  txn_indexed.indexed = true;
  refused(txn_indexed, "indexed");
  // Nothing of the refused ones was stored.
  BOOST_TEST(must(db.schema()).attributes.empty());
  BOOST_TEST(must(db.schema()).version == 0u);

  // Taken names: per table, case-insensitively.
  must(db.add_attribute(def_of("segment_a", AttributeType::kText)));
  refused(def_of("SEGMENT_A", AttributeType::kInteger), "already");
  AttributeDef other_table = def_of("segment_a", AttributeType::kText);
  other_table.table = AttributeTable::kTransactions;
  must(db.add_attribute(other_table));
  // An enum default is stored in its declared spelling.
  AttributeDef e = enum_def("level", {"Low", "High"});
  e.required = true;
  e.default_value = std::string("high");
  BOOST_TEST((must(db.add_attribute(e)).default_value == std::optional<AttributeValue>(std::string("High"))));
}

BOOST_AUTO_TEST_CASE(required_without_default_needs_an_empty_table) {
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir.path());
  AttributeDef r = def_of("kyc_level", AttributeType::kInteger);
  r.required = true;
  must(db.add_attribute(r));  // no customers yet
  must(db.insert_customer(sample_customer(1))) ;
  AttributeDef r2 = def_of("kyc_score", AttributeType::kInteger);
  r2.required = true;
  auto refused = db.add_attribute(r2);
  BOOST_TEST(code_of(refused) == ErrorCode::kInvalidArgument);
  BOOST_TEST(contains(message_of(refused), "default"));
  r2.default_value = std::int64_t{5};
  must(db.add_attribute(r2));
}

BOOST_AUTO_TEST_CASE(limit_per_table) {
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir.path());
  for (std::size_t i = 0; i < kMaxAttributesPerTable; ++i)
    must(db.add_attribute(def_of("a" + std::to_string(i), AttributeType::kBool)));
  auto r = db.add_attribute(def_of("one_more", AttributeType::kBool));
  BOOST_TEST(code_of(r) == ErrorCode::kResourceExhausted);
  AttributeDef t = def_of("one_more", AttributeType::kBool);
  t.table = AttributeTable::kTransactions;
  must(db.add_attribute(t));  // the other table has its own limit
}

BOOST_AUTO_TEST_CASE(stored_bytes_round_trip_and_damage_is_corruption) {
  detail::StoredSchema s;
  s.next_id = 9;
  s.schema.version = 12;
  AttributeDef a = enum_def("branch", {"B017", "B020"});
  a.id = 3;
  a.indexed = true;
  a.index_state = IndexState::kBuilding;
  a.work_cursor = 77;
  a.added_in = 4;
  a.required = true;
  a.default_value = std::string("B020");
  AttributeDef b = def_of("seen", AttributeType::kTimestamp);
  b.id = 5;
  b.table = AttributeTable::kTransactions;
  b.dropping = true;
  b.added_in = 12;
  AttributeDef c = def_of("labels", AttributeType::kTagSet);
  c.id = 8;
  c.required = true;
  c.default_value = std::vector<std::string>{"a", "b"};
  AttributeDef d = def_of("born", AttributeType::kDate);
  d.id = 6;
  d.required = true;
  d.default_value = parse_date("1999-12-31").value();
  s.schema.attributes = {a, b, d, c};
  s.drop_requested = {6};
  const std::string bytes = detail::encode_schema(s);
  auto back = detail::decode_schema(bytes);
  BOOST_TEST_REQUIRE(back.has_value(), (back ? "" : back.error().to_string()));
  BOOST_TEST((back->schema == s.schema));
  BOOST_TEST(back->next_id == 9u);
  BOOST_TEST((back->drop_requested == std::vector<std::uint32_t>{6}));
  // Every truncation, a trailing byte, and flipped structural bytes: kCorruption, no crash.
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    auto r = detail::decode_schema(std::string_view(bytes).substr(0, n));
    BOOST_TEST(!r.has_value());
    if (!r) BOOST_TEST(r.error().code() == ErrorCode::kCorruption);
  }
  BOOST_TEST(!detail::decode_schema(bytes + "x").has_value());
  std::string wrong_coding = bytes;
  wrong_coding[0] = 2;
  BOOST_TEST(!detail::decode_schema(wrong_coding).has_value());
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    std::string flipped = bytes;
    flipped[i] = static_cast<char>(flipped[i] ^ 0xff);
    auto r = detail::decode_schema(flipped);  // may decode (a value byte) but must not crash
    if (!r) BOOST_TEST(r.error().code() == ErrorCode::kCorruption);
  }
}

BOOST_DATA_TEST_CASE(schema_meta_is_sealed_and_checked, kModes, m) {
  TempDir dir;
  {
    Database db = open_db(m, dir.path());
    must(db.add_attribute(def_of("secret_name_marker", AttributeType::kText)));
  }
  // The name's bytes appear in the file only in plaintext mode.
  std::ifstream in(dir.path() / "data.mdb", std::ios::binary);
  const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  BOOST_TEST(contains(file, "secret_name_marker") == (m == Mode::kPlain));
  Database db = open_db(m, dir.path());
  require_clean(db);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace custdb::test
