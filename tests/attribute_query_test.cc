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

#include "custdb/query.h"

namespace {

using namespace custdb;
using namespace custdb::query;
using namespace std::chrono_literals;

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

}  // namespace
