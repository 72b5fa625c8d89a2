// The schema of custom attributes (custdb/attributes.h; engine/schema.cc): declaring, naming
// rules, the stored bytes (meta "schema"), renames, drops, indexing and its bounded resumable
// work, audit entries, references from rules and retention, analysts, old files, the CLI.
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <sstream>

#include "custdb/analytics.h"
#include "custdb/privacy.h"
#include "custdb/query.h"
#include "custdb/segment.h"
#include "engine/db_impl.h"
#include "engine/schema.h"
#include "util/coding.h"
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

Status upd(Database& db, CustomerId id, const std::function<void(Customer&)>& f) {
  return db.write([&](WriteTxn& t) -> Status {
    auto r = t.update_customer(id, f);
    if (!r) return tl::unexpected(r.error());
    return {};
  });
}

ErrorCode code_of(const Result<AttributeDef>& r) { return r ? ErrorCode::kInternal : r.error().code(); }
std::string message_of(const Result<AttributeDef>& r) { return r ? "" : r.error().message(); }

std::vector<AuditEntry> audit_of(const Database& db) {
  auto txn = must(db.begin_read());
  return must(txn.audit_log({}));
}


query::Node attr_ge(const AttributeDef& d, std::int64_t v) {
  query::Node n;
  n.kind = query::Node::Kind::kCompare;
  n.field = query::Field::kAttribute;
  n.cmp = query::Cmp::kGe;
  n.values = {query::Value(v)};
  n.attribute = d.name;
  n.attribute_type = d.type;
  n.attribute_scale = d.scale;
  return n;
}

query::Node attr_eq(const AttributeDef& d, std::string v) {
  query::Node n;
  n.kind = query::Node::Kind::kCompare;
  n.field = query::Field::kAttribute;
  n.cmp = query::Cmp::kEq;
  n.values = {query::Value(std::move(v))};
  n.attribute = d.name;
  n.attribute_type = d.type;
  n.attribute_scale = d.scale;
  return n;
}

// The customers query `q` selects, from the index (or the scan fallback).
std::vector<CustomerId> ids_of(const Database& db, const query::Node& q) {
  auto txn = must(db.begin_read());
  std::vector<CustomerId> out = must(txn.ids(q, SegmentOptions{}));
  std::sort(out.begin(), out.end());
  return out;
}

// Brute force: the customers whose integer attribute `name` is >= v.
std::vector<CustomerId> brute_ge(const Database& db, const std::vector<CustomerId>& all,
                                 const std::string& name, std::int64_t v) {
  std::vector<CustomerId> out;
  auto txn = must(db.begin_read());
  for (CustomerId id : all) {
    auto c = must(txn.get_customer(id));
    if (!c) continue;
    auto it = c->attributes.find(name);
    if (it != c->attributes.end() && std::get<std::int64_t>(it->second) >= v) out.push_back(id);
  }
  return out;
}

// The value of attribute `id` stored in customer `cid`'s record, decoded with `schema` (which
// may still declare an attribute the database dropped): what is really in the record.
std::optional<AttributeValue> stored_value(Database& db, CustomerId cid, const Schema& schema,
                                           const std::string& name) {
  auto& d = Database::Impl::of(db);
  auto st = d.begin(false);
  BOOST_TEST_REQUIRE(st.has_value());
  coding::IdKey k(cid);
  auto raw = must(d.get(**st, d.tables().customers, k.span()));
  BOOST_TEST_REQUIRE(raw.has_value());
  auto c = d.codec().decode_customer(k.span(), *raw, schema);
  BOOST_TEST_REQUIRE(c.has_value(), (c ? "" : c.error().to_string()));
  auto it = c->attributes.find(name);
  if (it == c->attributes.end()) return std::nullopt;
  return it->second;
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
  Customer c = sample_customer(1);
  c.attributes["kyc_level"] = std::int64_t{1};  // required, no default: every insert gives it
  must(db.insert_customer(c));
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


BOOST_DATA_TEST_CASE(index_build_and_drop_in_batches_with_progress, kModes, m) {
  TempDir dir;
  Database db = open_db(m, dir.path());
  AttributeDef points = must(db.add_attribute(def_of("points", AttributeType::kInteger)));
  AttributeDef branch = must(db.add_attribute(enum_def("branch", {"B017", "B020"})));
  std::vector<CustomerId> ids;
  for (int i = 0; i < 61; ++i) {
    Customer c = sample_customer(i);
    if (i % 5 != 0) c.attributes["points"] = std::int64_t{(i * 37) % 100};
    if (i % 3 != 0) c.attributes["branch"] = std::string(i % 2 ? "b017" : "B020");
    ids.push_back(must(db.insert_customer(c)));
  }
  // Unindexed: the scan fallback answers.
  BOOST_TEST(ids_of(db, attr_ge(points, 50)) == brute_ge(db, ids, "points", 50));
  std::vector<SchemaProgress> seen;
  SchemaWorkOptions o;
  o.batch = 7;
  o.progress = [&](const SchemaProgress& p) { seen.push_back(p); };
  must(db.set_indexed("points", true, o));
  BOOST_TEST_REQUIRE(!seen.empty());
  BOOST_TEST(seen.size() >= 61u / 7);
  BOOST_TEST(seen.back().done == 61u);
  BOOST_TEST(seen.back().total == 61u);
  BOOST_TEST(seen.back().work == "index");
  BOOST_TEST(seen.back().attribute == "points");
  for (std::size_t i = 1; i < seen.size(); ++i) BOOST_TEST(seen[i].done >= seen[i - 1].done);
  Schema s = must(db.schema());
  BOOST_TEST(s.find("points")->index_state == IndexState::kReady);
  BOOST_TEST(s.find("points")->work_cursor == 0u);
  BOOST_TEST(!s.has_pending_work());
  require_clean(db);
  for (std::int64_t v : {0, 1, 50, 99, 100})
    BOOST_TEST(ids_of(db, attr_ge(points, v)) == brute_ge(db, ids, "points", v));
  // Writers after the build keep the index exact.
  must(upd(db, ids[0], [](Customer& c) { c.attributes["points"] = std::int64_t{77}; }));
  must(upd(db, ids[1], [](Customer& c) { c.attributes.erase("points"); }));
  require_clean(db);
  BOOST_TEST(ids_of(db, attr_ge(points, 60)) == brute_ge(db, ids, "points", 60));
  // set_indexed again: no-op.
  must(db.set_indexed("points", true, o));
  // A categorical index built, then dropped.
  must(db.set_indexed("branch", true, o));
  require_clean(db);
  const auto b017 = ids_of(db, attr_eq(branch, "B017"));
  BOOST_TEST(b017.size() == 20u);  // i odd and not a multiple of 3, i < 61
  seen.clear();
  must(db.set_indexed("branch", false, o));
  BOOST_TEST_REQUIRE(!seen.empty());
  BOOST_TEST(seen.back().work == "unindex");
  s = must(db.schema());
  BOOST_TEST(s.find("branch")->index_state == IndexState::kNone);
  BOOST_TEST(!s.find("branch")->indexed);
  require_clean(db);
  BOOST_TEST(ids_of(db, attr_eq(branch, "B017")) == b017);  // now by scan
  // Audit: add, add, index, index, index --off.
  std::vector<std::string> commands;
  for (const auto& e : audit_of(db))
    if (e.event.command.rfind("schema", 0) == 0) commands.push_back(e.event.command);
  BOOST_TEST((commands == std::vector<std::string>{"schema add", "schema add", "schema index",
                                                   "schema index", "schema index --off"}));
  // Transactions attributes are not indexable.
  AttributeDef note = def_of("note", AttributeType::kText);
  note.table = AttributeTable::kTransactions;
  must(db.add_attribute(note));
  auto refused = db.set_indexed("note", true);
  BOOST_TEST_REQUIRE(!refused.has_value());
  BOOST_TEST(refused.error().code() == ErrorCode::kInvalidArgument);
  BOOST_TEST(db.set_indexed("nothing", true).error().code() == ErrorCode::kFailedPrecondition);
}

BOOST_DATA_TEST_CASE(drop_removes_values_and_index_then_the_name_is_free, kModes, m) {
  TempDir dir;
  Database db = open_db(m, dir.path());
  AttributeDef tier2 = def_of("level", AttributeType::kInteger);
  tier2.indexed = true;
  must(db.add_attribute(tier2));
  AttributeDef nick = def_of("nick", AttributeType::kText);
  nick.personal = true;
  must(db.add_attribute(nick));
  AttributeDef memo = def_of("memo", AttributeType::kText);
  memo.table = AttributeTable::kTransactions;
  must(db.add_attribute(memo));
  std::vector<CustomerId> ids;
  for (int i = 0; i < 30; ++i) {
    Customer c = sample_customer(i);
    c.attributes["level"] = std::int64_t{i};
    c.attributes["nick"] = "nick " + std::to_string(i);
    ids.push_back(must(db.insert_customer(c)));
  }
  TransactionId tid = 0;
  {
    Transaction t = sample_txn(ids[3], 1500, "2025-01-02T03:04:05Z");
    t.attributes["memo"] = std::string("hello");
    tid = must(db.add_transaction(t));
  }
  const Schema before = must(db.schema());
  SchemaWorkOptions o;
  o.batch = 4;
  std::vector<std::string> works;
  o.progress = [&](const SchemaProgress& p) {
    if (works.empty() || works.back() != p.work) works.push_back(p.work);
  };
  must(db.drop_attribute("level", AttributeTable::kCustomers, o));
  BOOST_TEST((works == std::vector<std::string>{"unindex", "drop"}));
  must(db.drop_attribute("NICK", AttributeTable::kCustomers, o));
  must(db.drop_attribute("memo", AttributeTable::kTransactions, o));
  const Schema after = must(db.schema());
  BOOST_TEST(after.attributes.empty());
  BOOST_TEST(after.version > before.version);
  require_clean(db);
  for (CustomerId id : ids) {
    auto c = must(must(db.begin_read()).get_customer(id));
    BOOST_TEST_REQUIRE(c.has_value());
    BOOST_TEST(c->attributes.empty());
    // Not only hidden: gone from the record (decoded with the old schema).
    BOOST_TEST(!stored_value(db, id, before, "level").has_value());
    BOOST_TEST(!stored_value(db, id, before, "nick").has_value());
  }
  {
    auto t = must(must(db.begin_read()).get_transaction(tid));
    BOOST_TEST_REQUIRE(t.has_value());
    BOOST_TEST(t->attributes.empty());
  }
  // The names are free again; ids are never reused.
  AttributeDef again = must(db.add_attribute(def_of("level", AttributeType::kText)));
  BOOST_TEST(again.id > before.find("nick")->id);
  auto c = must(must(db.begin_read()).get_customer(ids[5]));
  BOOST_TEST(!c->attributes.contains("level"));
  // Unknown attribute.
  auto missing = db.drop_attribute("nothing");
  BOOST_TEST_REQUIRE(!missing.has_value());
  BOOST_TEST(missing.error().code() == ErrorCode::kFailedPrecondition);
  BOOST_TEST(contains(missing.error().message(), "nothing"));
}

BOOST_DATA_TEST_CASE(rename_is_o1_and_references_block_rename_and_drop, kModes, m) {
  TempDir dir;
  Database db = open_db(m, dir.path());
  AttributeDef pts = def_of("points", AttributeType::kInteger);
  pts.indexed = true;
  must(db.add_attribute(pts));
  must(db.add_attribute(def_of("other", AttributeType::kBool)));
  const CustomerId id = must(db.insert_customer([] {
    Customer c = sample_customer(1);
    c.attributes["points"] = std::int64_t{42};
    return c;
  }()));
  must(db.rename_attribute("points", "Loyalty"));
  Schema s = must(db.schema());
  BOOST_TEST(!s.find("points"));
  const AttributeDef* l = s.find("loyalty");
  BOOST_TEST_REQUIRE(l);
  BOOST_TEST(l->index_state == IndexState::kReady);
  auto c = must(must(db.begin_read()).get_customer(id));
  BOOST_TEST((c->attributes.at("loyalty") == AttributeValue(std::int64_t{42})));
  BOOST_TEST(ids_of(db, attr_ge(*l, 40)) == std::vector<CustomerId>{id});
  require_clean(db);
  // Bad or taken new names.
  BOOST_TEST(db.rename_attribute("loyalty", "other").error().code() == ErrorCode::kInvalidArgument);
  BOOST_TEST(db.rename_attribute("loyalty", "region").error().code() == ErrorCode::kInvalidArgument);
  BOOST_TEST(db.rename_attribute("nope", "x").error().code() == ErrorCode::kFailedPrecondition);
  // Stored rules or a retention policy naming it block rename and drop.
  auto& d = Database::Impl::of(db);
  auto put_meta = [&](std::string_view key, std::string_view value) {
    auto st = d.begin(true);
    BOOST_TEST_REQUIRE(st.has_value());
    if (value.empty()) must(d.del(**st, d.tables().meta, coding::as_bytes(key)));
    else must(d.put_sealed_meta(**st, key, value));
    must(d.commit(**st));
  };
  for (auto key : {detail::kMetaRules, detail::kMetaRetentionPolicy}) {
    put_meta(key, key == detail::kMetaRules ? "tier = gold when loyalty >= 10 and name = 'other'\n"
                                            : "erase when LOYALTY < 1");
    auto r = db.rename_attribute("loyalty", "points");
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST(r.error().code() == ErrorCode::kFailedPrecondition);
    BOOST_TEST(contains(r.error().message(), "loyalty"));
    BOOST_TEST(db.drop_attribute("loyalty").error().code() == ErrorCode::kFailedPrecondition);
    must(db.rename_attribute("other", "other2"));  // 'other' only inside quotes
    must(db.rename_attribute("other2", "other"));
    put_meta(key, "");
  }
  must(db.rename_attribute("loyalty", "points"));
  const auto entries = audit_of(db);
  BOOST_TEST(entries.back().event.command == "schema rename");
}

BOOST_AUTO_TEST_CASE(analyst_may_not_change_the_schema) {
  TempDir dir;
  {
    Database owner = open_db(Mode::kEncrypted, dir.path());
    must(owner.add_attribute(def_of("points", AttributeType::kInteger)));
    must(owner.add_analyst_key(*test_key(9)));
  }
  Options o;
  o.key = test_key(9);
  Database analyst = open_db(Mode::kEncrypted, dir.path(), o);
  BOOST_TEST(must(analyst.schema()).attributes.size() == 1u);  // readable
  auto denied = [](const Status& s) {
    BOOST_TEST_REQUIRE(!s.has_value());
    BOOST_TEST(s.error().code() == ErrorCode::kPermissionDenied);
  };
  auto r = analyst.add_attribute(def_of("x", AttributeType::kInteger));
  BOOST_TEST(code_of(r) == ErrorCode::kPermissionDenied);
  denied(analyst.drop_attribute("points"));
  denied(analyst.rename_attribute("points", "p"));
  denied(analyst.set_indexed("points", true));
  must(analyst.finish_schema_work());  // nothing pending: nothing to do
}

// The format 1..4 fixtures open read-write, gain the schema, and index an attribute over
// their existing customers.
BOOST_DATA_TEST_CASE(old_fixtures_gain_the_schema,
                     boost::unit_test::data::make({"v1_db", "v2_db", "v3_db", "v4_db"}) * kModes,
                     which, m) {
  TempDir dir;
  fs::copy_file(fs::path(CUSTDB_FIXTURE_DIR) / which /
                    (m == Mode::kEncrypted ? "encrypted" : "plaintext") / "data.mdb",
                dir.path() / "data.mdb");
  Options o;
  if (m == Mode::kEncrypted) o.key = KeyMaterial::from_passphrase("fixture-passphrase");
  auto opened = Database::open(dir.path(), o);
  BOOST_TEST_REQUIRE(opened.has_value(), (opened ? "" : opened.error().to_string()));
  Database db = std::move(*opened);
  BOOST_TEST(must(db.schema()).attributes.empty());
  AttributeDef score = def_of("kyc_score", AttributeType::kInteger);
  score.required = true;
  score.default_value = std::int64_t{7};
  score.indexed = true;
  const AttributeDef a = must(db.add_attribute(score));
  BOOST_TEST(a.index_state == IndexState::kReady);
  std::vector<CustomerId> ids;
  {
    auto txn = must(db.begin_read());
    must(txn.for_each_customer([&](const Customer& c) {
      ids.push_back(c.id);
      return true;
    }));
  }
  BOOST_TEST_REQUIRE(ids.size() > 10u);
  // Records older than the attribute read as having the default.
  BOOST_TEST(ids_of(db, attr_ge(a, 7)).size() == ids.size());
  must(upd(db, ids[2], [](Customer& c) { c.attributes["kyc_score"] = std::int64_t{99}; }));
  BOOST_TEST(ids_of(db, attr_ge(a, 8)) == std::vector<CustomerId>{ids[2]});
  require_clean(db);
}

BOOST_DATA_TEST_CASE(cli_schema_commands, kModes, m) {
  TempDir dir;
  const fs::path db = dir / "db";
  std::vector<std::string> globals;
  if (m == Mode::kEncrypted) {
    std::string hex;
    for (int i = 0; i < 32; ++i) hex += "07";
    write_bytes(dir / "key.hex", hex);
    globals = {"--key-file", (dir / "key.hex").string()};
  }
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", db.string()});
    args.insert(args.end(), globals.begin(), globals.end());
    return run_cli(args);
  };
  auto expect = [&](int code, std::vector<std::string> args) {
    auto r = run(args);
    BOOST_TEST_REQUIRE(r.code == code, args[0] << " " << args[1] << ": " << r);
    return r;
  };
  expect(0, {"init", m == Mode::kEncrypted ? "--encrypt" : "--json"});
  {
    Database d = open_db(m, db);
    for (int i = 0; i < 12; ++i) must(d.insert_customer(sample_customer(i)));
  }
  expect(0, {"schema", "add", "branch", "enum", "--values", "B017,B020", "--required",
             "--default", "b017", "--indexed", "--batch", "5"});
  expect(0, {"schema", "add", "points", "integer"});
  expect(0, {"schema", "add", "price", "decimal", "--scale", "2", "--table", "transactions"});
  auto bad = run({"schema", "add", "region", "text"});
  BOOST_TEST(bad.code != 0);
  BOOST_TEST(contains(bad.err, "attribute region"));
  BOOST_TEST(run({"schema", "add", "x", "color"}).code == 2);
  expect(0, {"schema", "index", "points", "--batch", "3"});
  expect(0, {"schema", "rename", "points", "loyalty_points"});
  auto listed = expect(0, {"--json", "schema", "list"});
  pt::ptree tree;
  std::istringstream in(listed.out);
  pt::read_json(in, tree);
  std::map<std::string, std::string> state, defaults;
  for (const auto& [_, a] : tree.get_child("attributes")) {
    state[a.template get<std::string>("name")] = a.template get<std::string>("index_state");
    defaults[a.template get<std::string>("name")] = a.template get<std::string>("default", "");
  }
  BOOST_TEST(state["branch"] == "ready");
  BOOST_TEST(state["loyalty_points"] == "ready");
  BOOST_TEST(state["price"] == "none");
  BOOST_TEST(defaults["branch"] == "B017");
  auto text = expect(0, {"schema", "list"});
  BOOST_TEST(contains(text.out, "loyalty_points"));
  BOOST_TEST(contains(text.out, "transactions"));
  expect(0, {"schema", "index", "loyalty_points", "--off"});
  expect(0, {"schema", "drop", "branch", "--batch", "4"});
  expect(0, {"schema", "drop", "price", "--table", "transactions"});
  auto after = expect(0, {"schema", "list"});
  BOOST_TEST(!contains(after.out, "branch"));
  BOOST_TEST(!contains(after.out, "price"));
  BOOST_TEST(run({"schema", "drop", "branch"}).code != 0);
  Database d = open_db(m, db);
  require_clean(d);
  BOOST_TEST(must(d.schema()).find("loyalty_points")->index_state == IndexState::kNone);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace custdb::test
