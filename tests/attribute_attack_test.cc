// Attacks on custom attributes (#17) by the breaker: each case is a bug found by trying the
// feature as users and attackers would (docs/queries.md "Custom attributes").
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "custdb/analytics.h"
#include "custdb/attributes.h"
#include "custdb/database.h"
#include "custdb/query.h"
#include "test_util.h"

namespace custdb::test {
namespace {

AttributeDef def_of(std::string name, AttributeType type) {
  AttributeDef d;
  d.name = std::move(name);
  d.type = type;
  return d;
}

void set_rules_text(Database& db, const std::vector<std::string>& lines) {
  auto options = must(must(db.begin_read()).parse_options());
  std::vector<Rule> rules;
  for (const auto& l : lines) rules.push_back(must(parse_rule(l, options)));
  must(set_rules(db, rules));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(attribute_attack)

// Bug: rename/drop of an attribute were refused when a stored rule or the retention policy
// merely held its name as a word anywhere, e.g. the tier value in `tier = gold when ...` blocked
// dropping an attribute named `gold`, and `region = north` one named `north`. Only a query
// that uses the attribute as a field references it.
BOOST_DATA_TEST_CASE(rule_values_are_no_reference_to_an_attribute, kModes, m) {
  TempDir dir;
  Database db = open_db(m, dir.path());
  must(db.add_attribute(def_of("gold", AttributeType::kInteger)));
  must(db.add_attribute(def_of("north", AttributeType::kBool)));
  must(db.add_attribute(def_of("pts", AttributeType::kInteger)));
  must(db.insert_customer(sample_customer(1)));
  set_rules_text(db, {"tier = gold when pts > 10", "stage = active when region = north"});
  must(db.set_retention_policy("anonymize when tier = gold and region = north"));
  // The attribute the rules use as a field stays protected.
  auto r = db.rename_attribute("pts", "points");
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().code() == ErrorCode::kFailedPrecondition);
  BOOST_TEST(db.drop_attribute("pts").error().code() == ErrorCode::kFailedPrecondition);
  // The words that are values in the rules name no attribute.
  auto g = db.rename_attribute("gold", "gold_points");
  BOOST_TEST(g.has_value(), (g ? "" : g.error().to_string()));
  auto n = db.drop_attribute("north");
  BOOST_TEST(n.has_value(), (n ? "" : n.error().to_string()));
  // A policy that uses an attribute as a field protects it.
  must(db.set_retention_policy("erase when gold_points > 5"));
  BOOST_TEST(db.drop_attribute("gold_points").error().code() == ErrorCode::kFailedPrecondition);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace custdb::test
