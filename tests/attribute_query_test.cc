// Custom attributes in the segment query language (custdb/query.h, custdb/attributes.h):
// parser and printer with a schema, the builder on AttributeDef, error messages, and the
// reference evaluator's semantics per attribute type (absent vs default).
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/test/data/test_case.hpp>
#include <fstream>
#include <optional>
#include <sstream>

#include "custdb/analytics.h"
#include "custdb/io.h"
#include "custdb/privacy.h"
#include "custdb/query.h"
#include "program.h"
#include "test_util.h"

namespace {

using namespace custdb;
using namespace custdb::query;
using namespace std::chrono_literals;
using custdb::test::Mode;
using custdb::test::TempDir;
using custdb::test::must;

AttributeDef def(std::string name, AttributeType type, std::vector<std::string> values = {},
                 int scale = 0) {
  AttributeDef d;
  d.name = std::move(name);
  d.type = type;
  d.values = std::move(values);
  d.scale = scale;
  return d;
}

// One customers attribute of each type, plus a transactions attribute and a dropping one.
std::shared_ptr<Schema> every_type() {
  auto s = std::make_shared<Schema>();
  s->version = 3;
  std::vector<AttributeDef> defs = {
      def("note", AttributeType::kText),
      def("branch", AttributeType::kEnum, {"B017", "north", "South"}),
      def("loyalty_points", AttributeType::kInteger),
      def("ratio", AttributeType::kDecimal, {}, 3),
      def("credit", AttributeType::kAmount),
      def("kyc_review", AttributeType::kDate),
      def("seen_at", AttributeType::kTimestamp),
      def("vip", AttributeType::kBool),
      def("labels", AttributeType::kTagSet),
      def("colors", AttributeType::kTagSet, {"red", "green"}),
  };
  AttributeDef txn = def("channel", AttributeType::kText);
  txn.table = AttributeTable::kTransactions;
  defs.push_back(txn);
  AttributeDef gone = def("old_score", AttributeType::kInteger);
  gone.dropping = true;
  defs.push_back(gone);
  for (std::size_t i = 0; i < defs.size(); ++i) defs[i].id = static_cast<std::uint32_t>(i + 1);
  s->attributes = defs;
  return s;
}

ParseOptions with(std::shared_ptr<const Schema> schema, int amount_decimals = 2) {
  ParseOptions o;
  o.amount_decimals = amount_decimals;
  o.schema = std::move(schema);
  return o;
}

const AttributeDef& attr(const ParseOptions& o, std::string_view name) {
  const AttributeDef* d = o.schema->find(name);
  BOOST_REQUIRE(d);
  return *d;
}

Node parse_ok(std::string_view text, const ParseOptions& options) {
  auto node = parse(text, options);
  if (!node) BOOST_FAIL("parse(\"" << text << "\"): " << node.error().message());
  return *node;
}

std::string parse_error(std::string_view text, const ParseOptions& options) {
  auto node = parse(text, options);
  if (node) BOOST_FAIL("parse(\"" << text << "\") succeeded: " << node->to_string(options));
  BOOST_CHECK(node.error().code() == ErrorCode::kInvalidArgument);
  return node.error().message();
}

void check_round_trip(const Node& node, const ParseOptions& options) {
  const std::string text = node.to_string(options);
  auto again = parse(text, options);
  BOOST_REQUIRE_MESSAGE(again.has_value(),
                        "'" << text << "': " << (again ? "" : again.error().message()));
  BOOST_CHECK_MESSAGE(*again == node, "'" << text << "' parses to another tree");
  BOOST_CHECK_EQUAL(again->to_string(options), text);
}

bool eval(std::string_view text, const Customer& c, const ParseOptions& o) {
  EvalContext ctx;
  ctx.as_of = Date{2026y / 6 / 15};
  return matches(parse_ok(text, o), c, ctx);
}

BOOST_AUTO_TEST_SUITE(attribute_query)

BOOST_AUTO_TEST_CASE(schema_words_become_attribute_nodes) {
  const ParseOptions o = with(every_type());
  Node n = parse_ok("kyc_review < 2025-01-01 and branch = \"B017\" and loyalty_points >= 1000", o);
  BOOST_REQUIRE(n.kind == Node::Kind::kAnd);
  BOOST_REQUIRE_EQUAL(n.children.size(), 3u);
  const Node& date = n.children[0];
  BOOST_CHECK(date.field == Field::kAttribute);
  BOOST_CHECK_EQUAL(date.attribute, "kyc_review");
  BOOST_CHECK(date.attribute_type == AttributeType::kDate);
  BOOST_CHECK(date.cmp == Cmp::kLt);
  BOOST_CHECK(date.values[0] ==
              Value(std::int64_t{Date{2025y / 1 / 1}.time_since_epoch().count()}));
  BOOST_CHECK(n.children[1].values[0] == Value(std::string("B017")));
  BOOST_CHECK(n.children[2].values[0] == Value(std::int64_t{1000}));
  // Names and enum values are case-insensitive; enum values held as declared.
  Node e = parse_ok("BRANCH = b017", o);
  BOOST_CHECK_EQUAL(e.attribute, "branch");
  BOOST_CHECK(e.values[0] == Value(std::string("B017")));
  BOOST_CHECK_EQUAL(e.to_string(o), "branch = B017");
  // Per-type representations.
  BOOST_CHECK(parse_ok("ratio = 1.5", o).values[0] == Value(std::int64_t{1500}));
  BOOST_CHECK_EQUAL(parse_ok("ratio = 1.5", o).attribute_scale, 3);
  BOOST_CHECK(parse_ok("credit = 12.5", o).values[0] == Value(std::int64_t{1250}));
  BOOST_CHECK(parse_ok("credit = 12", with(every_type(), 0)).values[0] == Value(std::int64_t{12}));
  BOOST_CHECK(parse_ok("vip = TRUE", o).values[0] == Value(std::int64_t{1}));
  BOOST_CHECK(parse_ok("vip = false", o).values[0] == Value(std::int64_t{0}));
  BOOST_CHECK(parse_ok("note = ' Straße '", o).values[0] == Value(std::string("strasse")));
  BOOST_CHECK(parse_ok("labels = VIP", o).values[0] == Value(std::string("vip")));
  BOOST_CHECK(parse_ok("seen_at >= 2026-01-01", o).values[0] ==
              Value(std::int64_t{std::chrono::sys_days{2026y / 1 / 1}.time_since_epoch().count() *
                                 86'400'000}));
  BOOST_CHECK_EQUAL(parse_ok("seen_at < 2026-01-01T10:30:00Z", o).to_string(o),
                    "seen_at < 2026-01-01T10:30:00Z");
}

BOOST_AUTO_TEST_CASE(double_quoted_text) {
  const ParseOptions o = with(every_type());
  BOOST_CHECK(parse_ok("note = \"a b\"", o) == parse_ok("note = 'a b'", o));
  BOOST_CHECK(parse_ok("note = \"say \"\"hi\"\"\"", o).values[0] ==
              Value(std::string("say \"hi\"")));
  BOOST_CHECK(parse_ok("note = \"it's\"", o).values[0] == Value(std::string("it's")));
  // Built-in fields take them too, without a schema.
  BOOST_CHECK(parse_ok("region = \"New York\"", {}) == parse_ok("region = 'new york'", {}));
  BOOST_CHECK_NE(parse_error("note = \"open", o).find("closing quote"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(without_the_schema_the_name_is_unknown) {
  const std::string e = parse_error("branch = B017", ParseOptions{});
  BOOST_CHECK_EQUAL(e.substr(0, 18), "at 1: expected a f");
  const ParseOptions o = with(every_type());
  // Transactions attributes and dropping ones are not in the segment language.
  BOOST_CHECK_NE(parse_error("channel = web", o).find("expected a field"), std::string::npos);
  BOOST_CHECK_NE(parse_error("old_score = 1", o).find("expected a field"), std::string::npos);
  // The list of fields and the suggestion include attributes.
  const std::string typo = parse_error("loyalty_point > 3", o);
  BOOST_CHECK_NE(typo.find("did you mean 'loyalty_points'?"), std::string::npos);
  BOOST_CHECK_NE(typo.find("kyc_review"), std::string::npos);
  BOOST_CHECK_EQUAL(typo.find("channel"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_built_in_name_means_the_built_in) {
  auto s = every_type();
  s->attributes.push_back(def("tier", AttributeType::kInteger));  // a schema can't, but if
  s->attributes.back().id = 99;
  Node n = parse_ok("tier = gold", with(s));
  BOOST_CHECK(n.field == Field::kTier);
}

BOOST_AUTO_TEST_CASE(values_are_checked_per_type) {
  const ParseOptions o = with(every_type());
  auto has = [&](std::string_view text, std::string_view part) {
    const std::string e = parse_error(text, o);
    BOOST_CHECK_MESSAGE(e.find(part) != std::string::npos, text << " -> " << e);
  };
  has("branch = east", "at 10: expected one of B017, north, South for branch, found 'east'");
  has("branch < north", "at 8: expected =, != or in after 'branch' (branch is a enum attribute");
  has("branch between a and b", "expected =, != or in after 'branch'");
  has("loyalty_points = many", "expected an integer for loyalty_points");
  has("loyalty_points = 1.5", "expected an integer for loyalty_points");
  has("loyalty_points = 99999999999999999999", "a number within 64 bits");
  has("ratio = 1.2345", "at most 3 decimal places for ratio");
  has("credit = 1.005", "at most 2 decimal places");
  has("credit = 2000000000000000000", "an amount of at most");
  has("kyc_review = 2025-02-30", "a valid date");
  has("kyc_review = 2025", "a date (YYYY-MM-DD");
  has("kyc_review = 2025-01-01T10:00", "a date (YYYY-MM-DD");
  has("seen_at = yesterday", "a date (YYYY-MM-DD) or timestamp for seen_at");
  has("vip = yes", "true or false for vip");
  has("vip > false", "=, != or in after 'vip'");
  has("note = ''", "a non-empty text");
  has("note < a", "=, != or in after 'note'");
  has("note = 5", "a non-empty text");
  has("labels != a", "= or in after 'labels'");
  has("labels > a", "= or in after 'labels'");
  has("colors = blue", "one of the declared tags red, green for colors");
  has("note = '" + std::string(kMaxAttributeTextBytes + 1, 'x') + "'", "at most 1024 bytes");
  has("loyalty_points", "a comparison (=, !=, <, <=, >, >=, in or between) after 'loyalty_points'");
  has("branch in (north,", "a value after ','");
}

BOOST_AUTO_TEST_CASE(printing_round_trips) {
  const ParseOptions o = with(every_type());
  for (std::string_view text : {
           "note = 'new york' or note in (a, 'and', 'o''brien')",
           "branch != South and not branch in (B017, north)",
           "loyalty_points between -5 and 10 and loyalty_points != 3",
           "ratio > 0.125 and ratio <= -2.000",
           "credit >= 1000.50 or credit < 0.01",
           "kyc_review < 2025-01-01 and kyc_review between 1800-01-01 and 2200-12-31",
           "seen_at = 2026-01-01 or seen_at < 2026-01-01T10:30:00.001Z",
           "vip = true and vip != false",
           "labels = vip and labels in (a, b) and colors = RED",
           "tier = gold and branch = north and tag = x",
       })
    check_round_trip(parse_ok(text, o), o);
  BOOST_CHECK_EQUAL(parse_ok("ratio = 1.5", o).to_string(o), "ratio = 1.500");
  BOOST_CHECK_EQUAL(parse_ok("credit = 7", o).to_string(o), "credit = 7.00");
  BOOST_CHECK_EQUAL(parse_ok("vip = TRUE", o).to_string(o), "vip = true");
  BOOST_CHECK_EQUAL(parse_ok("branch = 'and'", with([] {
                               auto s = every_type();
                               s->attributes[1].values.push_back("and");
                               return s;
                             }())).to_string(o),
                    "branch = 'and'");
}

BOOST_AUTO_TEST_CASE(builder_equals_parser) {
  const ParseOptions o = with(every_type());
  const AttributeDef& branch = attr(o, "branch");
  const AttributeDef& points = attr(o, "loyalty_points");
  const AttributeDef& ratio = attr(o, "ratio");
  const AttributeDef& credit = attr(o, "credit");
  const AttributeDef& review = attr(o, "kyc_review");
  const AttributeDef& seen = attr(o, "seen_at");
  const AttributeDef& vip = attr(o, "vip");
  const AttributeDef& labels = attr(o, "labels");
  const AttributeDef& note = attr(o, "note");
  BOOST_CHECK(eq(branch, "b017") == parse_ok("branch = B017", o));
  BOOST_CHECK(in(branch, {"north", "SOUTH"}) == parse_ok("branch in (north, South)", o));
  BOOST_CHECK(ge(points, std::int64_t{1000}) == parse_ok("loyalty_points >= 1000", o));
  BOOST_CHECK(between(points, std::int64_t{-1}, std::int64_t{7}) ==
              parse_ok("loyalty_points between -1 and 7", o));
  BOOST_CHECK(lt(ratio, Decimal{1'500'000}) == parse_ok("ratio < 1.5", o));
  BOOST_CHECK(eq(credit, Amount{1250}) == parse_ok("credit = 12.50", o));
  BOOST_CHECK(lt(review, Date{2025y / 1 / 1}) == parse_ok("kyc_review < 2025-01-01", o));
  BOOST_CHECK(ge(seen, Date{2026y / 1 / 1}) == parse_ok("seen_at >= 2026-01-01", o));
  BOOST_CHECK(eq(vip, "true") == parse_ok("vip = true", o));
  BOOST_CHECK(ne(vip, std::int64_t{0}) == parse_ok("vip != false", o));
  BOOST_CHECK(eq(labels, "VIP") == parse_ok("labels = vip", o));
  BOOST_CHECK(eq(note, " A b ") == parse_ok("note = 'a b'", o));
  BOOST_CHECK((eq(branch, "north") && gt(points, std::int64_t{5})) ==
              parse_ok("branch = north and loyalty_points > 5", o));
  // Mistakes throw.
  BOOST_CHECK_THROW(eq(branch, "east"), std::invalid_argument);
  BOOST_CHECK_THROW(lt(branch, "north"), std::invalid_argument);
  BOOST_CHECK_THROW(ne(labels, "x"), std::invalid_argument);
  BOOST_CHECK_THROW(between(vip, std::int64_t{0}, std::int64_t{1}), std::invalid_argument);
  BOOST_CHECK_THROW(eq(points, "5"), std::invalid_argument);
  BOOST_CHECK_THROW(eq(ratio, Decimal{1}), std::invalid_argument);  // 0.000001: past scale 3
  BOOST_CHECK_THROW(eq(credit, std::int64_t{5}), std::invalid_argument);
  BOOST_CHECK_THROW(eq(vip, std::int64_t{2}), std::invalid_argument);
  BOOST_CHECK_THROW(eq(Field::kAttribute, "x"), std::invalid_argument);
  AttributeDef txn = def("channel", AttributeType::kText);
  txn.table = AttributeTable::kTransactions;
  BOOST_CHECK_THROW(eq(txn, "web"), std::invalid_argument);
}

// Random schemas and random trees built with the builder: printed, they parse back to the
// same tree (and print the same).
BOOST_AUTO_TEST_CASE(random_schemas_round_trip) {
  std::mt19937_64 r(17);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(r() % n); };
  const std::vector<std::string> words = {"alpha", "Beta", "x y", "o'brien", "and", "Ünïcode",
                                          "9lives", "tag-1"};
  for (int round = 0; round < 60; ++round) {
    auto schema = std::make_shared<Schema>();
    const std::size_t n = 1 + pick(8);
    for (std::size_t i = 0; i < n; ++i) {
      auto type = static_cast<AttributeType>(pick(9));
      AttributeDef d = def("a" + std::to_string(round) + "_" + std::to_string(i), type);
      d.id = static_cast<std::uint32_t>(i + 1);
      if (type == AttributeType::kEnum) d.values = {"x" + std::to_string(i), "Y", "and", "b-2"};
      if (type == AttributeType::kDecimal) d.scale = static_cast<int>(pick(10));
      if (type == AttributeType::kTagSet && pick(2)) d.values = {"red", "x y"};
      schema->attributes.push_back(d);
    }
    const ParseOptions o = with(schema, static_cast<int>(pick(4)));
    auto predicate = [&]() -> Node {
      const AttributeDef& d = schema->attributes[pick(schema->attributes.size())];
      auto operand = [&]() -> Operand {
        switch (d.type) {
          case AttributeType::kText: return words[pick(words.size())];
          case AttributeType::kEnum: return d.values[pick(d.values.size())];
          case AttributeType::kTagSet:
            return d.values.empty() ? words[pick(words.size())] : d.values[pick(d.values.size())];
          case AttributeType::kBool: return std::int64_t(pick(2));
          case AttributeType::kInteger:
            return static_cast<std::int64_t>(r());
          case AttributeType::kDecimal: {
            std::int64_t step = 1;
            for (int i = d.scale; i < 6; ++i) step *= 10;
            return Decimal{(static_cast<std::int64_t>(r() % 2'000'001) - 1'000'000) * step};
          }
          case AttributeType::kAmount:
            return Amount{static_cast<std::int64_t>(r() % 2'000'000'000) - 1'000'000'000};
          case AttributeType::kDate:
            return Date{std::chrono::days{static_cast<int>(r() % 100'000) - 50'000}};
          case AttributeType::kTimestamp:
            return Timestamp{std::chrono::milliseconds{static_cast<std::int64_t>(r() % 4'000'000'000'000ULL)}};
        }
        return std::int64_t{0};
      };
      const bool ordered = d.type != AttributeType::kText && d.type != AttributeType::kEnum &&
                           d.type != AttributeType::kBool && d.type != AttributeType::kTagSet;
      switch (pick(ordered ? 5 : 3)) {
        case 0: return eq(d, operand());
        case 1: return in(d, {operand(), operand()});
        case 2: return d.type == AttributeType::kTagSet ? eq(d, operand()) : ne(d, operand());
        case 3: return pick(2) ? lt(d, operand()) : ge(d, operand());
        default: return between(d, operand(), operand());
      }
    };
    for (int k = 0; k < 10; ++k) {
      std::vector<Node> parts;
      for (std::size_t i = 1 + pick(3); i > 0; --i)
        parts.push_back(pick(4) == 0 ? negate(predicate()) : predicate());
      Node tree = pick(2) ? all_of(parts) : any_of(parts);
      check_round_trip(tree, o);
    }
  }
}

BOOST_AUTO_TEST_CASE(evaluator_semantics_per_type) {
  const ParseOptions o = with(every_type());
  Customer c;
  c.id = 1;
  c.attributes["note"] = std::string("Straße 1");
  c.attributes["branch"] = std::string("South");
  c.attributes["loyalty_points"] = std::int64_t{1500};
  c.attributes["ratio"] = std::int64_t{1250};  // 1.250
  c.attributes["credit"] = std::int64_t{-100};
  c.attributes["kyc_review"] = std::chrono::sys_days{2024y / 12 / 31};
  c.attributes["seen_at"] = Timestamp{std::chrono::sys_days{2026y / 1 / 1}} + 1h;
  c.attributes["vip"] = true;
  c.attributes["labels"] = std::vector<std::string>{"gold", "vip"};
  Customer empty;
  empty.id = 2;

  struct Case {
    std::string text;
    bool set, absent;
  };
  const std::vector<Case> cases = {
      {"note = 'STRASSE 1'", true, false},   // folded
      {"note != 'strasse 1'", false, true},  // != is not =, true when absent
      {"note in (x, \"straße 1\")", true, false},
      {"branch = south", true, false},
      {"branch != South", false, true},
      {"branch in (north, B017)", false, false},
      {"loyalty_points >= 1000", true, false},
      {"loyalty_points < 1000", false, false},
      {"loyalty_points between 1500 and 1500", true, false},
      {"loyalty_points between 2000 and 1000", false, false},  // empty range
      {"not loyalty_points >= 1000", false, true},
      {"ratio = 1.25", true, false},
      {"ratio > 1.249", true, false},
      {"credit < 0", true, false},
      {"credit = -1.00", true, false},
      {"kyc_review < 2025-01-01", true, false},
      {"kyc_review >= 2025-01-01", false, false},
      {"seen_at > 2026-01-01", true, false},
      {"seen_at = 2026-01-01T01:00Z", true, false},
      {"vip = true", true, false},
      {"vip = false", false, false},
      {"vip != false", true, true},
      {"labels = VIP", true, false},
      {"labels in (silver, gold)", true, false},
      {"labels = silver", false, false},
      {"not labels = silver", true, true},
  };
  for (const Case& k : cases) {
    BOOST_CHECK_MESSAGE(eval(k.text, c, o) == k.set, k.text << " on the customer with values");
    BOOST_CHECK_MESSAGE(eval(k.text, empty, o) == k.absent, k.text << " on a customer without");
  }
  // A value of another alternative than the node's type (decoded under another schema)
  // matches nothing, as absent.
  Customer odd;
  odd.attributes["loyalty_points"] = std::string("1500");
  BOOST_CHECK(!eval("loyalty_points = 1500", odd, o));
  BOOST_CHECK(eval("loyalty_points != 1500", odd, o));
}

// A required attribute's default is a value (the decoder puts it into Customer::attributes),
// so it matches like any stored value; an optional attribute without a value is absent.
BOOST_AUTO_TEST_CASE(absent_versus_default) {
  auto s = every_type();
  AttributeDef& points = s->attributes[2];
  points.required = true;
  points.default_value = std::int64_t{0};
  const ParseOptions o = with(s);
  Customer defaulted;
  defaulted.attributes["loyalty_points"] = std::int64_t{0};  // as decoded
  Customer absent;
  BOOST_CHECK(eval("loyalty_points = 0", defaulted, o));
  BOOST_CHECK(eval("loyalty_points < 1", defaulted, o));
  BOOST_CHECK(!eval("loyalty_points != 0", defaulted, o));
  BOOST_CHECK(!eval("loyalty_points = 0", absent, o));
  BOOST_CHECK(!eval("loyalty_points < 1", absent, o));
  BOOST_CHECK(eval("loyalty_points != 0", absent, o));
  BOOST_CHECK(eval("not loyalty_points < 1", absent, o));
}

BOOST_AUTO_TEST_SUITE_END()

// ---- end to end: a database's schema reaches every parse -------------------------------------

// A database with `branch` (enum, indexed), `loyalty_points` (integer, indexed), `credit`
// (amount, not indexed: queries scan) and 60 customers with values; `points_of` and
// `branch_of` say what each got.
struct AttributeDb {
  TempDir dir;
  std::optional<Database> handle;
  Database& db;
  std::map<CustomerId, std::int64_t> points_of;
  std::map<CustomerId, std::string> branch_of;

  explicit AttributeDb(Mode mode)
      : handle(test::open_db(mode, dir.path() / "db")), db(*handle) {
    AttributeDef branch = def("branch", AttributeType::kEnum, {"B017", "north", "south"});
    branch.indexed = true;
    AttributeDef points = def("loyalty_points", AttributeType::kInteger);
    points.indexed = true;
    must(db.add_attribute(branch));
    must(db.add_attribute(points));
    must(db.add_attribute(def("credit", AttributeType::kAmount)));
    auto w = must(db.begin_write());
    const char* branches[] = {"B017", "north", "south"};
    for (int i = 0; i < 60; ++i) {
      Customer c = test::sample_customer(i);
      if (i % 7 != 0) c.attributes["branch"] = std::string(branches[i % 3]);
      if (i % 5 != 0) c.attributes["loyalty_points"] = std::int64_t{i * 50};
      c.attributes["credit"] = std::int64_t{i * 1234};
      CustomerId id = must(w.insert_customer(c));
      if (i % 5 != 0) points_of[id] = i * 50;
      if (i % 7 != 0) branch_of[id] = branches[i % 3];
    }
    must(w.commit());
  }

  std::vector<CustomerId> expected(std::string_view branch, std::int64_t min_points) const {
    std::vector<CustomerId> out;
    for (const auto& [id, p] : points_of) {
      auto b = branch_of.find(id);
      if (p >= min_points && b != branch_of.end() && b->second == branch) out.push_back(id);
    }
    return out;
  }
};

BOOST_AUTO_TEST_SUITE(attribute_query_db)

BOOST_DATA_TEST_CASE(library_parses_with_the_database_schema, test::kModes, mode) {
  AttributeDb t(mode);
  auto view = must(t.db.begin_read());
  const ParseOptions po = must(view.parse_options());
  BOOST_REQUIRE(po.schema);
  BOOST_TEST(po.schema->find("loyalty_points") != nullptr);
  // The query, with double quotes, answered by the engine as the evaluator says.
  Node q = parse_ok("branch = \"B017\" and loyalty_points >= 1000", po);
  BOOST_TEST(must(must(view.select(q)).ids()) == t.expected("B017", 1000));
  // credit is not indexed: the planner scans with query::matches; the answer agrees.
  Node scan = parse_ok("credit >= 500.00 and branch != north", po);
  std::vector<CustomerId> want;
  EvalContext ctx;
  must(view.for_each_customer([&](const Customer& c) {
    if (matches(scan, c, ctx)) want.push_back(c.id);
    return true;
  }));
  BOOST_TEST(!want.empty());
  BOOST_TEST(must(must(view.select(scan)).ids()) == want);

  // Export's --segment parses with the schema.
  io::ExportOptions eo;
  eo.segment = "loyalty_points >= 2500";
  std::ostringstream out;
  must(io::export_table(t.db, io::Table::kCustomers, out, io::Format::kCsv, eo));
  std::size_t rows = 0;
  for (char ch : out.str()) rows += ch == '\n';
  std::size_t want_rows = 0;
  for (const auto& [id, p] : t.points_of) want_rows += p >= 2500;
  BOOST_TEST(rows == want_rows + 1);  // + the header
}

// Tier rules on a custom attribute: stored, read back, applied.
BOOST_DATA_TEST_CASE(tier_rules_on_custom_attributes, test::kModes, mode) {
  AttributeDb t(mode);
  const ParseOptions po = must(must(t.db.begin_read()).parse_options());
  Rule rule = must(parse_rule("tier = platinum when branch = north and loyalty_points >= 1000", po));
  BOOST_TEST(rule.when == "branch = north and loyalty_points >= 1000");
  must(set_rules(t.db, std::span<const Rule>(&rule, 1)));
  auto stored = must(rules(must(t.db.begin_read())));
  BOOST_REQUIRE(stored.size() == 1u);
  BOOST_TEST(stored[0].when == rule.when);
  // Without the schema the rule does not parse: the library must pass it.
  BOOST_TEST(!parse_rule("tier = gold when loyalty_points > 1", ParseOptions{}).has_value());
  must(apply_rules(t.db));
  auto view = must(t.db.begin_read());
  const std::vector<CustomerId> want = t.expected("north", 1000);
  BOOST_TEST(!want.empty());
  const std::vector<CustomerId> platinum = must(must(view.select(parse_ok("tier = platinum", {}))).ids());
  for (CustomerId id : want)  // (sample customers start with every tier, platinum included)
    BOOST_TEST(std::binary_search(platinum.begin(), platinum.end(), id), id);
  const ParseOptions po2 = must(view.parse_options());
  BOOST_TEST(must(view.count(parse_ok("branch = north and loyalty_points >= 1000 and tier != platinum", po2))) == 0u);
  // The stored rule names the attribute: rename and drop are refused.
  BOOST_TEST(!t.db.rename_attribute("branch", "office").has_value());
  BOOST_TEST(!t.db.drop_attribute("loyalty_points").has_value());
}

BOOST_DATA_TEST_CASE(retention_policies_on_custom_attributes, test::kModes, mode) {
  AttributeDb t(mode);
  must(t.db.set_retention_policy("erase when loyalty_points >= 2500 and branch = south"));
  RetentionOptions ro;
  ro.dry_run = true;
  RetentionReport report = must(t.db.apply_retention(ro));
  BOOST_REQUIRE(report.actions.size() == 1u);
  BOOST_TEST(report.actions[0].customers == t.expected("south", 2500).size());
  BOOST_TEST(!t.db.set_retention_policy("erase when nothing_declared = 1").has_value());
}

// The CLI: segment (count, explain, --top --by an attribute), report --by / --measure on
// attributes, rules from a file, export --segment.
BOOST_AUTO_TEST_CASE(cli_on_custom_attributes) {
  AttributeDb t(Mode::kPlain);
  const std::string db = (t.dir.path() / "db").string();
  t.handle.reset();  // closed: the CLI opens it
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", db});
    return test::run_cli(args);
  };
  auto ok = [&](std::vector<std::string> args) {
    auto r = run(args);
    BOOST_TEST_REQUIRE(r.code == 0, r);
    return r.out;
  };
  BOOST_TEST(ok({"segment", "--count", "branch = \"B017\" and loyalty_points >= 1000"}) ==
             std::to_string(t.expected("B017", 1000).size()) + "\n");
  BOOST_TEST(ok({"segment", "--count", "loyalty_points", ">=", "1000"}) ==
             std::to_string(std::count_if(t.points_of.begin(), t.points_of.end(),
                                          [](const auto& e) { return e.second >= 1000; })) + "\n");
  // A bad value names the attribute; exit code 2 (usage).
  auto bad = run({"segment", "--count", "branch = east"});
  BOOST_TEST(bad.code == 2);
  BOOST_TEST(bad.err.find("one of B017, north, south for branch") != std::string::npos, bad);
  // --top --by an attribute: the highest loyalty_points first.
  const std::string top = ok({"segment", "--top", "3", "--by", "loyalty_points", "branch = north"});
  std::vector<std::int64_t> north;
  for (const auto& [id, p] : t.points_of)
    if (t.branch_of.count(id) && t.branch_of.at(id) == "north") north.push_back(p);
  std::sort(north.rbegin(), north.rend());
  BOOST_TEST(top.find(std::to_string(north[0])) != std::string::npos, top);
  BOOST_TEST(top.find("by loyalty_points") != std::string::npos, top);
  // report --by branch --measure loyalty_points: one row per branch plus (none).
  const std::string report = ok({"report", "--by", "branch", "--measure", "loyalty_points"});
  BOOST_TEST(report.find("loyalty_points_sum") != std::string::npos, report);
  for (const char* b : {"B017", "north", "south", "(none)"})
    BOOST_TEST(report.find(b) != std::string::npos, report);
  std::int64_t north_sum = 0;
  for (std::int64_t p : north) north_sum += p;
  BOOST_TEST(report.find(std::to_string(north_sum)) != std::string::npos, report);
  // Unknown names list the attributes; a measure must be ordered.
  auto unknown = run({"report", "--by", "nope"});
  BOOST_TEST(unknown.code == 2);
  BOOST_TEST(unknown.err.find("branch") != std::string::npos, unknown);
  auto unordered = run({"report", "--measure", "branch"});
  BOOST_TEST(unordered.code == 2);
  BOOST_TEST(unordered.err.find("enum attribute") != std::string::npos, unordered);
  // Rules from a file name attributes.
  const std::filesystem::path rules_file = t.dir.path() / "rules.txt";
  {
    std::ofstream f(rules_file);
    f << "stage = loyal when loyalty_points >= 2000\n";
  }
  ok({"rules", "set", rules_file.string()});
  BOOST_TEST(ok({"rules", "list"}).find("loyalty_points >= 2000") != std::string::npos);
  // export --segment on an attribute.
  const std::string csv = ok({"export", "customers", "--segment", "branch in (north, south)"});
  std::size_t lines = std::count(csv.begin(), csv.end(), '\n');
  std::size_t want = 0;
  for (const auto& [id, b] : t.branch_of) want += b != "B017";
  BOOST_TEST(lines == want + 1);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
