// The segment query language: parser, printer, builder and reference evaluator.
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "custdb/query.h"

namespace {

using namespace custdb;
using namespace custdb::query;
using namespace std::chrono_literals;

// Boost builds a check's message even when the check passes, so the messages below must only
// touch the side of the Result that exists.
Node parse_ok(std::string_view text, const ParseOptions& options = {}) {
  auto node = parse(text, options);
  if (!node) BOOST_FAIL("parse(\"" << text << "\"): " << node.error().message());
  return *node;
}

std::string parse_error(std::string_view text, const ParseOptions& options = {}) {
  auto node = parse(text, options);
  if (node) BOOST_FAIL("parse(\"" << text << "\") succeeded: " << node->to_string());
  BOOST_CHECK(node.error().code() == ErrorCode::kInvalidArgument);
  return node.error().message();
}

Date date(int y, unsigned m, unsigned d) {
  return Date{std::chrono::year{y} / std::chrono::month{m} / std::chrono::day{d}};
}

std::int64_t days(Date d) { return d.time_since_epoch().count(); }
std::int64_t millis(Timestamp t) { return t.time_since_epoch().count(); }
Timestamp midnight(Date d) { return std::chrono::time_point_cast<std::chrono::milliseconds>(d); }

std::vector<Value> numbers(std::initializer_list<std::int64_t> values) {
  return {values.begin(), values.end()};
}

}  // namespace

// ---- grammar ------------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(query_grammar)

BOOST_AUTO_TEST_CASE(every_comparison_operator) {
  const std::pair<std::string, Cmp> cases[] = {{"=", Cmp::kEq}, {"!=", Cmp::kNe},
                                               {"<", Cmp::kLt}, {"<=", Cmp::kLe},
                                               {">", Cmp::kGt}, {">=", Cmp::kGe}};
  for (const auto& [text, cmp] : cases) {
    Node n = parse_ok("txn_count " + text + " 7");
    BOOST_CHECK(n.kind == Node::Kind::kCompare);
    BOOST_CHECK(n.field == Field::kTxnCount);
    BOOST_CHECK(n.cmp == cmp);
    BOOST_CHECK(n.values == numbers({7}));
    // No spaces needed around operators.
    BOOST_CHECK(parse_ok("txn_count" + text + "7") == n);
  }
}

BOOST_AUTO_TEST_CASE(in_list) {
  Node n = parse_ok("tier in (gold, platinum)");
  BOOST_CHECK(n.kind == Node::Kind::kIn);
  BOOST_CHECK(n.field == Field::kTier);
  BOOST_CHECK(n.cmp == Cmp::kEq);
  BOOST_CHECK(n.values == numbers({2, 3}));
  BOOST_CHECK(parse_ok("tier in(gold)").values == numbers({2}));
  Node regions = parse_ok("region in (East, 'North West', south-east)");
  BOOST_CHECK(regions.values == (std::vector<Value>{"east", "north west", "south-east"}));
}

BOOST_AUTO_TEST_CASE(between_owns_its_and) {
  Node n = parse_ok("txn_count between 1 and 5");
  BOOST_CHECK(n.kind == Node::Kind::kBetween);
  BOOST_CHECK(n.values == numbers({1, 5}));

  Node chained = parse_ok("txn_count between 1 and 5 and tier = gold");
  BOOST_REQUIRE(chained.kind == Node::Kind::kAnd);
  BOOST_REQUIRE_EQUAL(chained.children.size(), 2u);
  BOOST_CHECK(chained.children[0] == n);
  BOOST_CHECK(chained.children[1] == eq(Field::kTier, Tier::kGold));

  Node two = parse_ok("age between 18 and 30 and income_band between 2 and 4");
  BOOST_CHECK(two == all_of(between(Field::kAge, 18, 30), between(Field::kIncomeBand, 2, 4)));
  BOOST_CHECK(parse_ok("tier between silver and platinum").values == numbers({1, 3}));
}

BOOST_AUTO_TEST_CASE(tag_predicate) {
  Node n = parse_ok("tag = VIP");
  BOOST_CHECK(n.kind == Node::Kind::kTag);
  BOOST_CHECK_EQUAL(n.tag, "vip");
  BOOST_CHECK_EQUAL(parse_ok("tag = ' Big Spender '").tag, "big spender");
}

BOOST_AUTO_TEST_CASE(related_predicate) {
  Node any = parse_ok("related(household)");
  BOOST_CHECK(any.kind == Node::Kind::kRelated);
  BOOST_CHECK(any.rel_type == RelationType::kHousehold);
  BOOST_CHECK(any.custom_type.empty());
  BOOST_CHECK(any.children.empty());

  Node with_query = parse_ok("related(spouse, tier = diamond or tag = vip)");
  BOOST_CHECK(with_query.rel_type == RelationType::kSpouse);
  BOOST_REQUIRE_EQUAL(with_query.children.size(), 1u);
  BOOST_CHECK(with_query.children[0] == (eq(Field::kTier, Tier::kDiamond) || tag("vip")));

  Node custom = parse_ok("related(Mentor)");
  BOOST_CHECK(custom.rel_type == RelationType::kCustom);
  BOOST_CHECK_EQUAL(custom.custom_type, "mentor");
  Node quoted_custom = parse_ok("related('Golf Buddy', age > 60)");
  BOOST_CHECK(quoted_custom.rel_type == RelationType::kCustom);
  BOOST_CHECK_EQUAL(quoted_custom.custom_type, "golf buddy");
  // A quoted built-in name is the built-in type.
  BOOST_CHECK(parse_ok("related('Household')") == any);

  Node nested = parse_ok("related(household, related(parent, stage = churned))");
  BOOST_CHECK(nested ==
              related(RelationType::kHousehold,
                      related(RelationType::kParent, eq(Field::kStage, Stage::kChurned))));
}

BOOST_AUTO_TEST_CASE(not_and_parentheses) {
  Node n = parse_ok("not tier = gold");
  BOOST_REQUIRE(n.kind == Node::Kind::kNot);
  BOOST_CHECK(n.children.at(0) == eq(Field::kTier, Tier::kGold));
  BOOST_CHECK(parse_ok("not not tier = gold") == negate(n));
  BOOST_CHECK(parse_ok("((tier = gold))") == n.children[0]);
  BOOST_CHECK(parse_ok("not (tier = gold)") == n);
}

BOOST_AUTO_TEST_CASE(precedence_not_over_and_over_or) {
  Node a = eq(Field::kTier, Tier::kGold), b = eq(Field::kRegion, "east"),
       c = eq(Field::kStage, Stage::kActive);
  const char* A = "tier = gold";
  const char* B = "region = east";
  const char* C = "stage = active";
  auto text = [](std::string s) { return s; };
  BOOST_CHECK(parse_ok(text(A) + " or " + B + " and " + C) == any_of(a, all_of(b, c)));
  BOOST_CHECK(parse_ok(text(A) + " and " + B + " or " + C) == any_of(all_of(a, b), c));
  BOOST_CHECK(parse_ok("not " + text(A) + " and " + B) == all_of(!a, b));
  BOOST_CHECK(parse_ok("not " + text(A) + " or " + B) == any_of(!a, b));
  BOOST_CHECK(parse_ok("(" + text(A) + " or " + B + ") and " + C) == all_of(any_of(a, b), c));
  BOOST_CHECK(parse_ok("not (" + text(A) + " and " + B + ")") == !all_of(a, b));
  BOOST_CHECK(parse_ok(text(A) + " or not " + B + " and " + C) == any_of(a, all_of(!b, c)));
}

BOOST_AUTO_TEST_CASE(chains_are_flat) {
  Node a = eq(Field::kTier, Tier::kGold), b = eq(Field::kRegion, "east"),
       c = eq(Field::kStage, Stage::kActive);
  Node flat = parse_ok("tier = gold and region = east and stage = active");
  BOOST_REQUIRE(flat.kind == Node::Kind::kAnd);
  BOOST_CHECK_EQUAL(flat.children.size(), 3u);
  BOOST_CHECK(parse_ok("(tier = gold and region = east) and stage = active") == flat);
  BOOST_CHECK(parse_ok("tier = gold and (region = east and stage = active)") == flat);
  BOOST_CHECK((a && b && c) == flat);
  BOOST_CHECK(all_of(all_of(a, b), c) == flat);
  BOOST_CHECK(parse_ok("tier = gold or (region = east or stage = active)") == any_of(a, b, c));
  BOOST_CHECK(all_of(a) == a);
}

BOOST_AUTO_TEST_CASE(keywords_fields_and_names_are_case_insensitive) {
  Node lower = parse_ok(
      "tier in (gold, platinum) and not region = east or tag = x and txn_count between 1 and 2 "
      "or related(household, stage = at_risk)");
  Node upper = parse_ok(
      "TIER IN (Gold, PLATINUM) AND NOT Region = EAST Or TAG = X aNd Txn_Count BETWEEN 1 AND 2 "
      "OR RELATED(HOUSEHOLD, STAGE = AT_RISK)");
  BOOST_CHECK(lower == upper);
}

BOOST_AUTO_TEST_CASE(quoted_strings) {
  BOOST_CHECK(parse_ok("city = 'New York'").values == std::vector<Value>{"new york"});
  BOOST_CHECK(parse_ok("city = 'O''Fallon'").values == std::vector<Value>{"o'fallon"});
  BOOST_CHECK(parse_ok("city = 'and or not'").values == std::vector<Value>{"and or not"});
  BOOST_CHECK(parse_ok("tier = 'gold'") == eq(Field::kTier, Tier::kGold));
  // Non-ASCII letters may be written bare; only ASCII is case-folded.
  BOOST_CHECK(parse_ok("city = Zürich").values == std::vector<Value>{"zürich"});
}

BOOST_AUTO_TEST_CASE(value_mapping_per_field) {
  BOOST_CHECK(parse_ok("type = corporate").values == numbers({1}));
  BOOST_CHECK(parse_ok("stage = at_risk").values == numbers({4}));
  BOOST_CHECK(parse_ok("gender = female").values == numbers({1}));
  BOOST_CHECK(parse_ok("risk >= medium").values == numbers({1}));
  BOOST_CHECK(parse_ok("consent_email = denied").values == numbers({2}));
  BOOST_CHECK(parse_ok("consent_sms = granted").values == numbers({1}));
  BOOST_CHECK(parse_ok("consent_phone = unknown").values == numbers({0}));
  BOOST_CHECK(parse_ok("country = de").values == std::vector<Value>{"DE"});
  BOOST_CHECK(parse_ok("region = ' East '").values == std::vector<Value>{"east"});
  BOOST_CHECK(parse_ok("income_band = 10").values == numbers({10}));
  BOOST_CHECK(parse_ok("age >= 0").values == numbers({0}));
  BOOST_CHECK(parse_ok("birth_date < 1990-05-17").values == numbers({days(date(1990, 5, 17))}));
  BOOST_CHECK(parse_ok("birth_date < 1969-12-31").values == numbers({-1}));
  BOOST_CHECK(parse_ok("created_at >= 2026-08-01").values ==
              numbers({millis(midnight(date(2026, 8, 1)))}));
  BOOST_CHECK(parse_ok("first_txn_at < 2026-08-01T10:30:00.250Z").values ==
              numbers({millis(midnight(date(2026, 8, 1)) + 10h + 30min + 250ms)}));
  BOOST_CHECK(parse_ok("last_txn_at < 2026-08-01T12:00+02:00").values ==
              numbers({millis(midnight(date(2026, 8, 1)) + 10h)}));
}

BOOST_AUTO_TEST_CASE(amounts_convert_exactly_to_minor_units) {
  auto amount = [](std::string_view text, ParseOptions options = {}) {
    Node n = parse_ok("total_amount = " + std::string(text), options);
    return std::get<std::int64_t>(n.values.at(0));
  };
  BOOST_CHECK_EQUAL(amount("1000.5"), 100050);
  BOOST_CHECK_EQUAL(amount("1000.50"), 100050);
  BOOST_CHECK_EQUAL(amount("50000"), 5000000);
  BOOST_CHECK_EQUAL(amount("-3.25"), -325);
  BOOST_CHECK_EQUAL(amount("-0.05"), -5);
  BOOST_CHECK_EQUAL(amount("0"), 0);
  BOOST_CHECK_EQUAL(amount("0.07"), 7);
  BOOST_CHECK_EQUAL(amount("92233720368547758.07"), 9223372036854775807);
  BOOST_CHECK_EQUAL(amount("-92233720368547758.08"), std::numeric_limits<std::int64_t>::min());
  BOOST_CHECK_EQUAL(amount("1000", {.amount_decimals = 0}), 1000);
  BOOST_CHECK_EQUAL(amount("1.5", {.amount_decimals = 3}), 1500);

  BOOST_CHECK_EQUAL(parse_error("total_amount = 1000.505"),
                    "at 16: expected at most 2 decimal places for total_amount, found '1000.505'");
  BOOST_CHECK_EQUAL(parse_error("total_amount > 1000.5", {.amount_decimals = 0}),
                    "at 16: expected at most 0 decimal places for total_amount, found '1000.5'");
  BOOST_CHECK_EQUAL(parse_error("total_amount = 92233720368547758.08"),
                    "at 16: expected an amount within 64 bits of minor units, "
                    "found '92233720368547758.08'");
  BOOST_CHECK_EQUAL(parse_error("total_amount = 1.", {}),
                    "at 16: expected a number, date or timestamp, found '1.' "
                    "(quote text that starts with a digit)");
  BOOST_CHECK_EQUAL(parse_error("tier = gold", {.amount_decimals = 10}),
                    "amount_decimals must be 0 to 9, not 10");
}

BOOST_AUTO_TEST_SUITE_END()

// ---- errors -------------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(query_errors)

BOOST_AUTO_TEST_CASE(malformed_queries_name_position_expectation_and_finding) {
  const std::pair<std::string, std::string> cases[] = {
      {"", "at 1: expected a condition (a field, tag, related, holds, not or '('), found end of query"},
      {"   ", "at 4: expected a condition (a field, tag, related, holds, not or '('), found end of query"},
      {"not (txn_count =)", "at 17: expected a value after '=', found ')'"},
      {"tier = ", "at 8: expected a value after '=', found end of query"},
      {"tier == gold", "at 7: expected a value after '=', found '='"},
      {"tier gold",
       "at 6: expected a comparison (=, !=, <, <=, >, >=, in or between) after "
       "'tier', found 'gold'"},
      {"(tier = gold", "at 13: expected 'and', 'or' or ')' to close '(' at 1, found end of query"},
      {"((tier = gold) or (stage = new)",
       "at 32: expected 'and', 'or' or ')' to close '(' at 1, found end of query"},
      {"(tier = gold region = east)",
       "at 14: expected 'and', 'or' or ')' to close '(' at 1, found 'region'"},
      {"tier = gold)",
       "at 12: expected 'and', 'or' or end of query, found ')' (no '(' matches it)"},
      {"tier = gold region = east", "at 13: expected 'and', 'or' or end of query, found 'region'"},
      {"()", "at 2: expected a condition (a field, tag, related, holds, not or '('), found ')'"},
      {"not", "at 4: expected a condition (a field, tag, related, holds, not or '('), found end of query"},
      {"tier = gold and",
       "at 16: expected a condition (a field, tag, related, holds, not or '('), "
       "found end of query"},
      {"tier = gold or or stage = new",
       "at 16: expected a condition (a field, tag, related, holds, not or '('), found 'or'"},
      {"and tier = gold",
       "at 1: expected a condition (a field, tag, related, holds, not or '('), found 'and'"},
      {"tier in ()", "at 10: expected a value after '(', found ')'"},
      {"tier in (gold,", "at 15: expected a value after ',', found end of query"},
      {"tier in (gold silver)",
       "at 15: expected ',' or ')' in the list after 'in', found 'silver'"},
      {"tier in gold", "at 9: expected '(' after 'in', found 'gold'"},
      {"txn_count between 1 5", "at 21: expected 'and' after between's lower bound, found '5'"},
      {"txn_count between 1 and", "at 24: expected a value after 'and', found end of query"},
      {"txn_count between and 5", "at 19: expected an integer for txn_count, found 'and'"},
      {"tag != vip", "at 5: expected '=' after 'tag', found '!='"},
      {"tag = ", "at 7: expected a value after '=', found end of query"},
      {"tag = 2024", "at 7: expected a tag (a word or 'quoted text'), found '2024'"},
      {"tag = ''", "at 7: expected a non-empty tag, found ''"},
      {"related household", "at 9: expected '(' after 'related', found 'household'"},
      {"related(household",
       "at 18: expected ',' or ')' after the relation type, found end of query"},
      {"related(household tier = gold)",
       "at 19: expected ',' or ')' after the relation type, found 'tier'"},
      {"related(household, tier = gold",
       "at 31: expected 'and', 'or' or ')' to close 'related(' at 1, found end of query"},
      {"related(household,)",
       "at 19: expected a condition (a field, tag, related, holds, not or '('), found ')'"},
      {"related()",
       "at 9: expected "
       "a relation type (household, spouse, parent, child, employer, employee, referrer, "
       "referred, guarantor, guaranteed, beneficiary, benefactor; a directed one also as "
       "name_of) or a custom type's name, found ')'"},
      {"related(custom)",
       "at 9: expected "
       "a relation type (household, spouse, parent, child, employer, employee, referrer, "
       "referred, guarantor, guaranteed, beneficiary, benefactor; a directed one also as "
       "name_of) or a custom type's name, found 'custom'"},
      {"related(5)",
       "at 9: expected "
       "a relation type (household, spouse, parent, child, employer, employee, referrer, "
       "referred, guarantor, guaranteed, beneficiary, benefactor; a directed one also as "
       "name_of) or a custom type's name, found '5'"},
      {"region = 'east",
       "at 10: expected a closing quote for the text starting here, "
       "found end of query"},
      {"tier = gold # x", "at 13: expected a condition, value or operator, found '#'"},
      {"tier = gold ! stage = new", "at 13: expected a condition, value or operator, found '!'"},
      {"txn_count = 5x",
       "at 13: expected a number, date or timestamp, found '5x' (quote text that starts with a "
       "digit)"},
      {"birth_date > 2026-02-30",
       "at 14: expected a valid date (YYYY-MM-DD, years 1800 to 2200), found '2026-02-30'"},
      {"birth_date > 1799-12-31",
       "at 14: expected a valid date (YYYY-MM-DD, years 1800 to 2200), found '1799-12-31'"},
      {"last_txn_at > 2026-13-01",
       "at 15: expected a valid date (YYYY-MM-DD, years 1800 to 2200), found '2026-13-01'"},
      {"last_txn_at > 2026-01-01T25:00",
       "at 15: expected a valid timestamp (YYYY-MM-DDTHH:MM[:SS[.mmm]][Z|+HH:MM]), "
       "found '2026-01-01T25:00'"},
      // An earlier syntax error wins over a later unlexable character.
      {"tier = and #",
       "at 8: expected one of bronze, silver, gold, platinum, diamond for tier, "
       "found 'and'"},
      // Positions count characters, not bytes.
      {"city = 'Zürich' and tier = 5",
       "at 28: expected one of bronze, silver, gold, platinum, diamond for tier, found '5'"},
  };
  for (const auto& [text, message] : cases) {
    BOOST_TEST_CONTEXT("query: " << text) { BOOST_CHECK_EQUAL(parse_error(text), message); }
  }
}

BOOST_AUTO_TEST_CASE(unknown_fields_list_the_valid_ones) {
  const std::string fields =
      "fields: type, tier, stage, region, city, country, gender, income_band, risk, birth_date, "
      "age, created_at, consent_email, consent_sms, consent_phone, txn_count, total_amount, "
      "first_txn_at, last_txn_at, p_alive, expected_purchases, clv, r_score, f_score, m_score, "
      "recency_days, tenure_days, consent_profiling, consent_sharing, aum, liabilities, products, first_product_on, tag, related, holds)";
  BOOST_CHECK_EQUAL(parse_error("teir = gold"),
                    "at 1: expected a field, found 'teir' (did you mean 'tier'? " + fields);
  BOOST_CHECK_EQUAL(
      parse_error("tier = gold and last_txn < 2026-01-01"),
      "at 17: expected a field, found 'last_txn' (did you mean 'last_txn_at'? " + fields);
  BOOST_CHECK_EQUAL(parse_error("x = 1"), "at 1: expected a field, found 'x' (" + fields);
  // The derived fields are fields too: suggested like the others.
  BOOST_CHECK_EQUAL(parse_error("recency_day > 30"),
                    "at 1: expected a field, found 'recency_day' (did you mean 'recency_days'? " + fields);
  BOOST_CHECK_EQUAL(parse_error("email = 'a@b.c'"),
                    "at 1: expected a field, found 'email' (" + fields);
}

BOOST_AUTO_TEST_CASE(type_mismatches) {
  const std::pair<std::string, std::string> cases[] = {
      {"tier = 5",
       "at 8: expected one of bronze, silver, gold, platinum, diamond for tier, "
       "found '5'"},
      {"tier = golden",
       "at 8: expected one of bronze, silver, gold, platinum, diamond for tier, "
       "found 'golden'"},
      {"stage in (new, vip)",
       "at 16: expected one of prospect, new, active, loyal, at_risk, "
       "churned for stage, found 'vip'"},
      {"consent_sms = yes",
       "at 15: expected one of unknown, granted, denied for consent_sms, found 'yes'"},
      {"type = 2026-01-01",
       "at 8: expected one of individual, corporate, prospect for type, found '2026-01-01'"},
      {"total_amount = gold",
       "at 16: expected an amount for total_amount (a number like 1000.50), found 'gold'"},
      {"total_amount = '5'",
       "at 16: expected an amount for total_amount (a number like 1000.50), found '5'"},
      {"birth_date > 12", "at 14: expected a date (YYYY-MM-DD) for birth_date, found '12'"},
      {"birth_date = '2000-01-01'",
       "at 14: expected a date (YYYY-MM-DD) for birth_date, found '2000-01-01'"},
      {"birth_date = 2026-08-01T10:00",
       "at 14: expected a date (YYYY-MM-DD) for birth_date, found '2026-08-01T10:00'"},
      {"last_txn_at < tomorrow",
       "at 15: expected a date (YYYY-MM-DD) or timestamp for last_txn_at, found 'tomorrow'"},
      {"created_at > 1700000000000",
       "at 14: expected a date (YYYY-MM-DD) or timestamp for created_at, found '1700000000000'"},
      {"region < x", "at 8: expected =, != or in after 'region' (region has no order), found '<'"},
      {"city between a and b",
       "at 6: expected =, != or in after 'city' (city has no order), found 'between'"},
      {"stage < active",
       "at 7: expected =, != or in after 'stage' (stage has no order), found '<'"},
      {"gender >= male",
       "at 8: expected =, != or in after 'gender' (gender has no order), found '>='"},
      {"region = 5", "at 10: expected a non-empty region (a word or 'quoted text'), found '5'"},
      {"region = ''", "at 10: expected a non-empty region (a word or 'quoted text'), found ''"},
      {"country = deu",
       "at 11: expected a 2-letter country code (ISO 3166-1 alpha-2) for country, found 'deu'"},
      {"country = 'd1'",
       "at 11: expected a 2-letter country code (ISO 3166-1 alpha-2) for country, found 'd1'"},
      {"income_band = 11", "at 15: expected an income_band from 1 to 10, found '11'"},
      {"income_band in (1, 0)", "at 20: expected an income_band from 1 to 10, found '0'"},
      {"txn_count = -1", "at 13: expected a txn_count of 0 or more, found '-1'"},
      {"age = 1.5", "at 7: expected an integer for age, found '1.5'"},
      {"age = old", "at 7: expected an integer for age, found 'old'"},
      {"txn_count = 99999999999999999999",
       "at 13: expected an integer within 64 bits, found '99999999999999999999'"},
  };
  for (const auto& [text, message] : cases) {
    BOOST_TEST_CONTEXT("query: " << text) { BOOST_CHECK_EQUAL(parse_error(text), message); }
  }
}

BOOST_AUTO_TEST_CASE(nesting_depth_is_bounded) {
  std::string deep = std::string(150, '(') + "tier = gold" + std::string(150, ')');
  BOOST_CHECK_EQUAL(parse_error(deep),
                    "at 102: expected at most 100 levels of nesting, found '(' at a deeper level");
  std::string nots;
  for (int i = 0; i < 150; ++i) nots += "not ";
  // The 101st `not` is at level 100, its operand would be at 101.
  BOOST_CHECK_EQUAL(
      parse_error(nots + "tier = gold"),
      "at 405: expected at most 100 levels of nesting, found 'not' at a deeper level");
  std::string ok = std::string(100, '(') + "tier = gold" + std::string(100, ')');
  BOOST_CHECK(parse_ok(ok) == eq(Field::kTier, Tier::kGold));
}

BOOST_AUTO_TEST_SUITE_END()

// ---- printing and the builder -------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(query_text_and_builder)

BOOST_AUTO_TEST_CASE(to_string_is_canonical) {
  const std::pair<std::string, std::string> cases[] = {
      {"TIER IN (Gold,platinum) AND Region='East'", "tier in (gold, platinum) and region = east"},
      {"stage = at_risk and total_amount >= 50000 and not consent_email = denied",
       "stage = at_risk and total_amount >= 50000.00 and not consent_email = denied"},
      {"(tier = gold or tier = silver) and not (risk = high or age < 18)",
       "(tier = gold or tier = silver) and not (risk = high or age < 18)"},
      {"tier = gold or (region = east and stage = new)",
       "tier = gold or region = east and stage = new"},
      {"not (not tier = gold)", "not not tier = gold"},
      {"city = 'New York'", "city = 'new york'"},
      {"city = 'O''Fallon'", "city = 'o''fallon'"},
      {"region = 'and'", "region = 'and'"},
      {"tag = 'Big Spender'", "tag = 'big spender'"},
      {"country = de", "country = DE"},
      {"last_txn_at < 2026-08-01", "last_txn_at < 2026-08-01"},
      {"last_txn_at < 2026-08-01T10:30", "last_txn_at < 2026-08-01T10:30:00Z"},
      {"total_amount between -3.25 and 1000.5", "total_amount between -3.25 and 1000.50"},
      {"related(household, tier = diamond) and tier != diamond",
       "related(household, tier = diamond) and tier != diamond"},
      {"related('Golf Buddy')", "related('golf buddy')"},
      {"related(MENTOR, related(spouse))", "related(mentor, related(spouse))"},
  };
  for (const auto& [text, canonical] : cases) {
    BOOST_TEST_CONTEXT("query: " << text) {
      BOOST_CHECK_EQUAL(parse_ok(text).to_string(), canonical);
    }
  }
  ParseOptions yen{.amount_decimals = 0};
  BOOST_CHECK_EQUAL(parse_ok("total_amount > 1000", yen).to_string(yen), "total_amount > 1000");
}

BOOST_AUTO_TEST_CASE(round_trip) {
  const char* queries[] = {
      "tier in (gold, platinum) and region = east and last_txn_at < 2026-08-01",
      "stage = at_risk and total_amount >= 50000 and not consent_email = denied",
      "related(household, tier = diamond) and tier != diamond",
      "type = corporate or type = prospect and not (gender = unknown or risk >= medium)",
      "city in ('New York', 'São Paulo', 'O''Hare', and) or country != us",
      "income_band between 3 and 7 and age >= 65 and txn_count > 0",
      "birth_date between 1960-01-01 and 1969-12-31",
      "created_at >= 2025-01-01T08:15:30.123Z and first_txn_at <= 2025-02-01",
      "total_amount between -0.01 and 0.99 or total_amount < -1000000",
      "tag = vip and not tag = 'do not call' or tag = '2024-promo'",
      "related(spouse) or related(parent, related(child, stage = churned)) or related('x y')",
      "not not not (tier = bronze)",
      "((tier = gold or tier = silver) and (risk = low or risk = medium)) or stage = loyal",
      "consent_email = granted and consent_sms != denied and consent_phone in (unknown)",
      "region = 'north-east' or region = north-east or city = 'a,b(c)'",
  };
  for (const char* text : queries) {
    for (ParseOptions options : {ParseOptions{}, ParseOptions{.amount_decimals = 3}}) {
      BOOST_TEST_CONTEXT("query: " << text) {
        Node n = parse_ok(text, options);
        std::string printed = n.to_string(options);
        Node again = parse_ok(printed, options);
        BOOST_CHECK(again == n);
        BOOST_CHECK_EQUAL(again.to_string(options), printed);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(builder_equals_parser) {
  Timestamp aug1 = midnight(date(2026, 8, 1));
  BOOST_CHECK(parse_ok("tier in (gold, platinum) and region = east and last_txn_at < 2026-08-01") ==
              all_of(in(Field::kTier, {Tier::kGold, Tier::kPlatinum}), eq(Field::kRegion, "east"),
                     lt(Field::kLastTxnAt, aug1)));
  // A Date on a timestamp field is midnight UTC, as in the text.
  BOOST_CHECK(lt(Field::kLastTxnAt, date(2026, 8, 1)) == lt(Field::kLastTxnAt, aug1));
  BOOST_CHECK(
      parse_ok("stage = at_risk and total_amount >= 50000 and not consent_email = denied") ==
      (eq(Field::kStage, Stage::kAtRisk) && ge(Field::kTotalAmount, Amount{5'000'000}) &&
       !eq(Field::kConsentEmail, ConsentState::kDenied)));
  BOOST_CHECK(parse_ok("related(household, tier = diamond) and tier != diamond") ==
              (related(RelationType::kHousehold, eq(Field::kTier, Tier::kDiamond)) &&
               ne(Field::kTier, Tier::kDiamond)));
  BOOST_CHECK(parse_ok("City = 'New York' or Country = de or region in (East, west)") ==
              any_of(eq(Field::kCity, "New York"), eq(Field::kCountry, std::string("de")),
                     in(Field::kRegion, {"East", std::string_view("west")})));
  BOOST_CHECK(
      parse_ok("income_band between 2 and 4 and age > 30 and txn_count <= 0") ==
      all_of(between(Field::kIncomeBand, 2, 4), gt(Field::kAge, 30), le(Field::kTxnCount, 0)));
  BOOST_CHECK(
      parse_ok("birth_date >= 1990-02-28 and created_at < 2026-08-01T10:30:00Z") ==
      all_of(ge(Field::kBirthDate, date(1990, 2, 28)), lt(Field::kCreatedAt, aug1 + 10h + 30min)));
  BOOST_CHECK(parse_ok("tag = VIP or not related(Mentor) or related(spouse)") ==
              any_of(tag("vip"), negate(related_custom("Mentor")), related(RelationType::kSpouse)));
  // Text on an enum field is the value's name, as the parser reads it.
  BOOST_CHECK(parse_ok("tier = gold") == eq(Field::kTier, "Gold"));
  BOOST_CHECK(parse_ok("risk between low and medium or type != corporate or gender in (male)") ==
              any_of(between(Field::kRisk, Risk::kLow, Risk::kMedium),
                     ne(Field::kType, CustomerType::kCorporate),
                     in(Field::kGender, {Gender::kMale})));
  BOOST_CHECK(parse_ok("total_amount between -3.25 and 1000.5") ==
              between(Field::kTotalAmount, Amount{-325}, Amount{100050}));
}

BOOST_AUTO_TEST_CASE(builder_rejects_what_the_parser_rejects) {
  BOOST_CHECK_THROW(eq(Field::kTier, 5), std::invalid_argument);
  BOOST_CHECK_THROW(eq(Field::kTier, Stage::kNew), std::invalid_argument);
  BOOST_CHECK_THROW(eq(Field::kTier, "golden"), std::invalid_argument);
  BOOST_CHECK_THROW(eq(Field::kTotalAmount, 500), std::invalid_argument);  // needs Amount
  BOOST_CHECK_THROW(eq(Field::kTotalAmount, "gold"), std::invalid_argument);
  BOOST_CHECK_THROW(gt(Field::kBirthDate, 12), std::invalid_argument);
  BOOST_CHECK_THROW(gt(Field::kBirthDate, midnight(date(2000, 1, 1))), std::invalid_argument);
  BOOST_CHECK_THROW(lt(Field::kRegion, "x"), std::invalid_argument);
  BOOST_CHECK_THROW(lt(Field::kStage, Stage::kActive), std::invalid_argument);
  BOOST_CHECK_THROW(between(Field::kCity, "a", "b"), std::invalid_argument);
  BOOST_CHECK_THROW(eq(Field::kRegion, ""), std::invalid_argument);
  BOOST_CHECK_THROW(eq(Field::kCountry, "deu"), std::invalid_argument);
  BOOST_CHECK_THROW(eq(Field::kIncomeBand, 11), std::invalid_argument);
  BOOST_CHECK_THROW(eq(Field::kTxnCount, -1), std::invalid_argument);
  BOOST_CHECK_THROW(eq(Field::kAge, "old"), std::invalid_argument);
  BOOST_CHECK_THROW(in(Field::kTier, {}), std::invalid_argument);
  BOOST_CHECK_THROW(tag(" "), std::invalid_argument);
  BOOST_CHECK_THROW(related(RelationType::kCustom), std::invalid_argument);
  BOOST_CHECK_THROW(related_custom("household"), std::invalid_argument);
  BOOST_CHECK_THROW(related_custom("custom"), std::invalid_argument);
  BOOST_CHECK_THROW(all_of(std::vector<Node>{}), std::invalid_argument);
  BOOST_CHECK_NO_THROW(eq(Field::kTxnCount, 0));
}

BOOST_AUTO_TEST_CASE(field_names_and_kinds) {
  BOOST_CHECK_EQUAL(to_string(Field::kIncomeBand), "income_band");
  BOOST_CHECK(field_from_string("Last_Txn_At") == Field::kLastTxnAt);
  BOOST_CHECK(!field_from_string("email"));
  for (int f = 0; f <= static_cast<int>(Field::kLastTxnAt); ++f) {
    auto field = static_cast<Field>(f);
    BOOST_CHECK(field_from_string(to_string(field)) == field);
  }
  BOOST_CHECK(is_ordered(Field::kTier) && is_ordered(Field::kRisk) && is_ordered(Field::kAge));
  BOOST_CHECK(!is_ordered(Field::kStage) && !is_ordered(Field::kCountry));
  BOOST_CHECK(kind_of(Field::kCreatedAt) == FieldKind::kTimestamp);
  BOOST_CHECK(kind_of(Field::kBirthDate) == FieldKind::kDate);
}

BOOST_AUTO_TEST_SUITE_END()

// ---- the reference evaluator --------------------------------------------------------------------

namespace {

// A customer with every optional value present; tests erase what they need absent.
Customer full_customer() {
  Customer c;
  c.id = 1;
  c.name = "Ada";
  c.type = CustomerType::kIndividual;
  c.tier = Tier::kGold;
  c.stage = Stage::kAtRisk;
  c.gender = Gender::kFemale;
  c.risk = Risk::kMedium;
  c.address = {"New York", "East", "US"};
  c.income_band = 6;
  c.birth_date = date(1990, 6, 15);
  c.consent_email = {ConsentState::kDenied, date(2024, 1, 1)};
  c.consent_sms = {ConsentState::kGranted, date(2024, 1, 1)};
  c.tags = {"newsletter", "vip"};
  c.created_at = midnight(date(2020, 3, 1));
  c.aggregates.txn_count = 12;
  c.aggregates.total_amount = 5'000'050;
  c.aggregates.first_txn_at = midnight(date(2020, 3, 2)) + 9h;
  c.aggregates.last_txn_at = midnight(date(2026, 7, 31)) + 23h + 59min + 59s + 999ms;
  return c;
}

// A customer with every optional value absent.
Customer bare_customer() {
  Customer c;
  c.id = 2;
  c.name = "Bob";
  return c;
}

EvalContext context_on(Date as_of) {
  EvalContext context;
  context.as_of = as_of;
  context.related = [](CustomerId) { return std::vector<std::pair<Relationship, Customer>>{}; };
  return context;
}

bool eval(std::string_view text, const Customer& c, const EvalContext& context) {
  return matches(parse_ok(text), c, context);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(query_eval)

BOOST_AUTO_TEST_CASE(present_values) {
  Customer c = full_customer();
  EvalContext ctx = context_on(date(2026, 8, 1));
  const std::pair<const char*, bool> cases[] = {
      {"type = individual", true},
      {"type != individual", false},
      {"tier = gold", true},
      {"tier > silver", true},
      {"tier >= platinum", false},
      {"tier between bronze and gold", true},
      {"tier in (silver, platinum)", false},
      {"stage = at_risk", true},
      {"gender = female", true},
      {"risk < high", true},
      {"risk <= low", false},
      {"consent_email = denied", true},
      {"consent_sms = granted", true},
      {"consent_phone = unknown", true},
      {"consent_phone = granted", false},
      {"region = EAST", true},
      {"region = west", false},
      {"city = 'new york'", true},
      {"city in (boston, 'NEW YORK')", true},
      {"country = us", true},
      {"country != us", false},
      {"income_band = 6", true},
      {"income_band between 6 and 6", true},
      {"income_band > 6", false},
      {"age = 36", true},
      {"age > 36", false},
      {"birth_date = 1990-06-15", true},
      {"birth_date < 1990-06-15", false},
      {"birth_date <= 1990-06-15", true},
      {"created_at = 2020-03-01", true},
      {"created_at > 2020-03-01", false},
      {"txn_count = 12", true},
      {"txn_count >= 13", false},
      {"total_amount = 50000.50", true},
      {"total_amount > 50000.5", false},
      {"total_amount between 50000 and 50000.50", true},
      {"first_txn_at = 2020-03-02T09:00Z", true},
      {"last_txn_at < 2026-08-01", true},
      {"last_txn_at >= 2026-07-31", true},
      {"last_txn_at = 2026-07-31", false},  // a date is midnight, not the whole day
      {"tag = VIP", true},
      {"tag = gold", false},
      {"not tag = vip", false},
  };
  for (const auto& [text, expected] : cases) {
    BOOST_TEST_CONTEXT("query: " << text) { BOOST_CHECK_EQUAL(eval(text, c, ctx), expected); }
  }
}

BOOST_AUTO_TEST_CASE(absent_values_make_predicates_false_and_ne_true) {
  Customer c = bare_customer();
  EvalContext ctx = context_on(date(2026, 8, 1));
  const std::pair<const char*, bool> cases[] = {
      {"birth_date < 2100-01-01", false},
      {"birth_date >= 1800-01-01", false},
      {"birth_date = 1990-06-15", false},
      {"birth_date != 1990-06-15", true},
      {"birth_date in (1990-06-15)", false},
      {"birth_date between 1800-01-01 and 2200-01-01", false},
      {"not birth_date < 2100-01-01", true},
      {"age >= 0", false},
      {"age < 200", false},
      {"age != 30", true},
      {"not age >= 0", true},
      {"income_band >= 1", false},
      {"income_band != 5", true},
      {"income_band in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)", false},
      {"first_txn_at < 2200-01-01", false},
      {"last_txn_at > 1800-01-01", false},
      {"last_txn_at != 2026-01-01", true},
      {"region = east", false},
      {"region != east", true},
      {"city in (boston)", false},
      {"country = us", false},
      {"country != us", true},
      {"tag = vip", false},
      // Always-present values of a fresh customer.
      {"txn_count = 0", true},
      {"total_amount = 0", true},
      {"gender = unknown", true},
      {"consent_email = unknown", true},
      {"created_at = 1970-01-01", true},
  };
  for (const auto& [text, expected] : cases) {
    BOOST_TEST_CONTEXT("query: " << text) { BOOST_CHECK_EQUAL(eval(text, c, ctx), expected); }
  }
}

BOOST_AUTO_TEST_CASE(boolean_connectives_truth_tables) {
  Customer c = full_customer();
  EvalContext ctx = context_on(date(2026, 8, 1));
  const char* truths[] = {"tier = gold", "region = east"};
  const char* falsehoods[] = {"tier = bronze", "age > 100"};
  for (bool a : {false, true}) {
    for (bool b : {false, true}) {
      std::string p = a ? truths[0] : falsehoods[0], q = b ? truths[1] : falsehoods[1];
      BOOST_TEST_CONTEXT(p << " / " << q) {
        BOOST_CHECK_EQUAL(eval(p + " and " + q, c, ctx), a && b);
        BOOST_CHECK_EQUAL(eval(p + " or " + q, c, ctx), a || b);
        BOOST_CHECK_EQUAL(eval("not " + p, c, ctx), !a);
        BOOST_CHECK_EQUAL(eval("not (" + p + " and " + q + ")", c, ctx), !(a && b));
        BOOST_CHECK_EQUAL(eval("not " + p + " and " + q, c, ctx), !a && b);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(not_is_the_complement_and_ne_is_not_eq) {
  Customer with_values = full_customer(), without_values = bare_customer();
  EvalContext ctx = context_on(date(2026, 8, 1));
  const char* pairs[][2] = {
      {"birth_date != 1990-06-15", "not birth_date = 1990-06-15"},
      {"income_band != 6", "not income_band = 6"},
      {"age != 36", "not age = 36"},
      {"region != East", "not region = east"},
      {"country != us", "not country = us"},
      {"last_txn_at != 2026-07-31", "not last_txn_at = 2026-07-31"},
      {"tier != gold", "not tier = gold"},
      {"total_amount != 0", "not total_amount = 0"},
  };
  for (const Customer* c : {&with_values, &without_values}) {
    for (const auto& pair : pairs) {
      BOOST_TEST_CONTEXT(pair[0] << ", customer " << c->id) {
        BOOST_CHECK_EQUAL(eval(pair[0], *c, ctx), eval(pair[1], *c, ctx));
        BOOST_CHECK_EQUAL(eval(pair[1], *c, ctx), !eval(std::string(pair[1]).substr(4), *c, ctx));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(age_counts_whole_years_on_the_as_of_date) {
  // Born 1990-06-15.
  Customer c = full_customer();
  BOOST_CHECK(eval("age = 36", c, context_on(date(2026, 6, 15))));  // the birthday counts
  BOOST_CHECK(eval("age = 35", c, context_on(date(2026, 6, 14))));  // the day before
  BOOST_CHECK(eval("age = 35", c, context_on(date(2025, 12, 31))));
  BOOST_CHECK(eval("age between 18 and 35", c, context_on(date(2026, 6, 14))));
  BOOST_CHECK(!eval("age between 18 and 35", c, context_on(date(2026, 6, 15))));

  BOOST_CHECK_EQUAL(age_on(date(2000, 2, 29), date(2023, 2, 28)), 22);
  BOOST_CHECK_EQUAL(age_on(date(2000, 2, 29), date(2023, 3, 1)), 23);
  BOOST_CHECK_EQUAL(age_on(date(2000, 2, 29), date(2024, 2, 29)), 24);
  BOOST_CHECK_EQUAL(age_on(date(2000, 1, 1), date(2000, 1, 1)), 0);
  BOOST_CHECK_EQUAL(age_on(date(2000, 12, 31), date(2001, 12, 30)), 0);
  BOOST_CHECK_EQUAL(age_on(date(2010, 1, 1), date(2009, 12, 31)), -1);
}

namespace {

// customer 10 (gold) -household- 11 (diamond); 12 (bronze) -spouse-> 10; 11 -"Mentor"-> 12;
// 13 (diamond) has no relationships.
struct Graph {
  std::map<CustomerId, Customer> customers;
  std::vector<Relationship> relationships;

  Graph() {
    auto add = [&](CustomerId id, Tier tier) {
      Customer c = bare_customer();
      c.id = id;
      c.tier = tier;
      customers[id] = c;
    };
    add(10, Tier::kGold);
    add(11, Tier::kDiamond);
    add(12, Tier::kBronze);
    add(13, Tier::kDiamond);
    relationships = {
        {1, 10, 11, RelationType::kHousehold, "", std::nullopt},
        {2, 12, 10, RelationType::kSpouse, "", std::nullopt},
        {3, 11, 12, RelationType::kCustom, "Mentor", std::nullopt},
    };
  }

  EvalContext context() const {
    EvalContext ctx = context_on(date(2026, 8, 1));
    ctx.related = [this](CustomerId id) {
      std::vector<std::pair<Relationship, Customer>> out;
      for (const Relationship& r : relationships) {
        if (r.from == id)
          out.emplace_back(r, customers.at(r.to));
        else if (r.to == id)
          out.emplace_back(r, customers.at(r.from));
      }
      return out;
    };
    return ctx;
  }

  // The ids of the customers matching `text`, ascending.
  std::vector<CustomerId> segment(std::string_view text) const {
    Node query = parse_ok(text);
    EvalContext ctx = context();
    std::vector<CustomerId> ids;
    for (const auto& [id, c] : customers)
      if (matches(query, c, ctx)) ids.push_back(id);
    return ids;
  }
};

using Ids = std::vector<CustomerId>;

}  // namespace

BOOST_AUTO_TEST_CASE(related_in_either_direction) {
  Graph g;
  BOOST_CHECK(g.segment("related(household)") == (Ids{10, 11}));
  BOOST_CHECK(g.segment("related(household, tier = diamond)") == (Ids{10}));
  BOOST_CHECK(g.segment("related(household, tier = diamond) and tier != diamond") == (Ids{10}));
  BOOST_CHECK(g.segment("related(spouse)") == (Ids{10, 12}));
  BOOST_CHECK(g.segment("related(spouse, tier = gold)") == (Ids{12}));
  BOOST_CHECK(g.segment("related(parent)").empty());
  BOOST_CHECK(g.segment("not related(household)") == (Ids{12, 13}));
  BOOST_CHECK(g.segment("related(household, related(spouse, tier = bronze))") == (Ids{11}));
  BOOST_CHECK(g.segment("related(household, not tier = gold)") == (Ids{10}));
}

BOOST_AUTO_TEST_CASE(related_custom_types) {
  Graph g;
  BOOST_CHECK(g.segment("related(mentor)") == (Ids{11, 12}));
  BOOST_CHECK(g.segment("related('MENTOR', tier = bronze)") == (Ids{11}));
  BOOST_CHECK(g.segment("related(mentee)").empty());
  // A custom relation never matches a built-in type and vice versa.
  g.relationships.push_back({4, 13, 10, RelationType::kCustom, "household", std::nullopt});
  BOOST_CHECK(g.segment("related(household)") == (Ids{10, 11}));
  BOOST_CHECK(matches(related_custom("Mentor", eq(Field::kTier, Tier::kDiamond)),
                      g.customers.at(12), g.context()));
}

BOOST_AUTO_TEST_SUITE_END()
