// The rules stated once (issue 13, point 6), tested on their own and through the paths that
// share them: trimming and its white-space set, region/city folding (index key, query operand,
// evaluator), ASCII case-insensitive names, the enum tables (names, valid numbers, the planner's
// bucket range), and which index entries a customer derives.
#include <random>
#include <set>
#include <sstream>

#include "custdb/analytics.h"
#include "custdb/io.h"
#include "custdb/money.h"
#include "custdb/query.h"
#include "index/index_keys.h"
#include "index/segments.h"
#include "query/field_rules.h"
#include "test_util.h"
#include "util/enums.h"
#include "util/normalize.h"

using namespace custdb;
using namespace custdb::test;
using query::Field;

namespace {

// Strings over a small alphabet that has every case of interest: letters of both cases, the
// white space that is trimmed, control characters that are not, a non-ASCII byte pair.
std::string random_text(std::mt19937& r) {
  static const std::string kAlphabet[] = {"a", "A", "b", "B", " ", "\t", "\r", "\n", "\f", "\v", "\xc3\xb6", "\xc3\x96"};
  std::string s;
  for (int n = static_cast<int>(r() % 7); n > 0; --n) s += kAlphabet[r() % std::size(kAlphabet)];
  return s;
}

// The reference definitions the functions must agree with, written the obvious way.
bool is_trimmed_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
std::string reference_trim(std::string s) {
  while (!s.empty() && is_trimmed_space(s.front())) s.erase(s.begin());
  while (!s.empty() && is_trimmed_space(s.back())) s.pop_back();
  return s;
}
// normalize::fold over random_text's alphabet: ASCII lower case, and Ö (U+00D6) folds to ö.
std::string reference_fold(std::string s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] >= 'A' && s[i] <= 'Z') s[i] = static_cast<char>(s[i] - 'A' + 'a');
    if (s.compare(i, 2, "\xc3\x96") == 0) s[i + 1] = '\xb6';
  }
  return s;
}
std::string reference_lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

template <class E>
void check_enum_table(int expected_max) {
  std::set<int> named;
  for (const auto& [value, name] : enums::Table<E>::rows) {
    // A number named twice is an input alias (RelationType's "referral" for referrer): the
    // first name is the one printed.
    const bool alias = !named.insert(static_cast<int>(value)).second;
    BOOST_TEST((to_string(value) == name) == !alias, name);
    BOOST_TEST((from_string<E>(name) == std::optional<E>(value)));
    BOOST_TEST((from_string<E>(normalize::lower(name)) == std::optional<E>(value)));
    BOOST_TEST((from_string<E>(" " + std::string(name)) == std::nullopt));  // callers trim
  }
  for (int n = 0; n <= 255; ++n) {
    const E v = static_cast<E>(n);
    BOOST_TEST(enums::is_valid(v) == named.count(n) > 0, "number " << n);
    if (!named.count(n)) BOOST_TEST(to_string(v) == "invalid");
  }
  if (expected_max >= 0) BOOST_TEST(enums::max_value<E>() == expected_max);
}

Customer with_region(std::string region, std::string city) {
  Customer c = sample_customer(1);
  c.address.region = std::move(region);
  c.address.city = std::move(city);
  return c;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(single_rules)

BOOST_AUTO_TEST_CASE(trim_removes_space_tab_cr_lf_only) {
  BOOST_TEST(normalize::kWhitespace == " \t\r\n");
  BOOST_TEST(normalize::trim(" \t\r\n x y \n\r\t ") == "x y");
  BOOST_TEST(normalize::trim("\fx\v") == "\fx\v");  // control characters: validation's business
  BOOST_TEST(normalize::trim(" \t ").empty());
  BOOST_TEST(normalize::trim_view("").empty());
  std::mt19937 r(13);
  for (int i = 0; i < 2000; ++i) {
    const std::string s = random_text(r);
    BOOST_TEST(normalize::trim(s) == reference_trim(s), "'" << s << "'");
    BOOST_TEST(normalize::trim_view(s) == reference_trim(s));
  }
}

BOOST_AUTO_TEST_CASE(fold_iequals_and_same_folded_agree) {
  BOOST_TEST(normalize::fold("  North\t") == "north");
  BOOST_TEST(normalize::iequals("AT_RISK", "at_risk"));
  BOOST_TEST(!normalize::iequals("\xc3\x96", "\xc3\xb6"));  // ASCII only: Ö is not ö
  BOOST_TEST(normalize::same_folded("\xc3\x96", "\xc3\xb6"));  // Unicode folding: Ö is ö
  BOOST_TEST(!normalize::iequals("ab", "abc"));
  std::mt19937 r(14);
  for (int i = 0; i < 5000; ++i) {
    const std::string a = random_text(r), b = i % 3 ? random_text(r) : reference_lower(a) + " ";
    BOOST_TEST(normalize::fold(a) == reference_fold(reference_trim(a)));
    BOOST_TEST(normalize::iequals(a, b) == (reference_lower(a) == reference_lower(b)));
    BOOST_TEST(normalize::same_folded(a, b) == (normalize::fold(a) == normalize::fold(b)),
               "'" << a << "' vs '" << b << "'");
  }
}

// One region equality: the index keys the posting by fold(), the query language holds the
// operand folded, and the evaluator's comparison agrees with both.
BOOST_AUTO_TEST_CASE(region_and_city_compare_one_way) {
  std::mt19937 r(15);
  for (int i = 0; i < 500; ++i) {
    const std::string stored = normalize::trim(random_text(r) + "x" + random_text(r));
    const std::string asked = normalize::trim(random_text(r) + "x" + random_text(r));
    const Customer c = with_region(stored, stored);
    for (Field f : {Field::kRegion, Field::kCity}) {
      const auto operand = query::field_rules::normalize_text(f, asked);
      BOOST_TEST_REQUIRE(operand.has_value());
      BOOST_TEST(*operand == normalize::fold(asked));
      const auto field = f == Field::kRegion ? index::SegField::kRegion : index::SegField::kCity;
      const auto postings = index::customer_postings(c);
      const bool indexed = std::binary_search(postings.begin(), postings.end(),
                                              index::Posting{field, *operand});
      const bool evaluated = query::matches(query::eq(f, *operand), c, {});
      BOOST_TEST(indexed == evaluated, "stored '" << stored << "' asked '" << asked << "'");
      BOOST_TEST(indexed == normalize::same_folded(stored, asked));
    }
  }
}

// Through the database: stored trimmed, found by any case and surrounding white space; a
// form feed is no white space, so 'east\f' names another region (none).
BOOST_DATA_TEST_CASE(region_query_trims_and_folds, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  Customer c = with_region(" East\t", "Lyon\r\n");
  CustomerId id = must(db.insert_customer(c));
  auto view = must(db.begin_read());
  auto stored = must(view.get_customer(id));
  BOOST_TEST_REQUIRE(stored.has_value());
  BOOST_TEST(stored->address.region == "East");
  BOOST_TEST(stored->address.city == "Lyon");
  for (const char* q : {"region = east", "region = 'EAST'", "region = ' east\t'", "city = lyon"})
    BOOST_TEST(must(view.ids(must(query::parse(q)))) == std::vector<CustomerId>{id}, q);
  BOOST_TEST(must(view.count(must(query::parse("region = 'east\f'")))) == 0u);
}

// Import cells are trimmed with the same set: a quoted cell may carry a CR or LF around an
// enum name, a date or a currency (it was refused when import trimmed only space and tab);
// a form feed is still no white space.
BOOST_AUTO_TEST_CASE(import_cells_trim_the_same_white_space) {
  TempDir dir;
  auto db = open_db(Mode::kPlain, dir.path());
  std::istringstream ok("id,name,tier,birth_date,region\n7,\"Ann\r\n\",\" gold\r\n\",\"\t1980-02-03\n\",\" North\r\"\n");
  auto report = must(io::import_stream(db, io::Table::kCustomers, ok, io::Format::kCsv));
  BOOST_TEST(report.imported == 1u);
  auto view = must(db.begin_read());
  auto c = must(view.get_customer(7));
  BOOST_TEST_REQUIRE(c.has_value());
  BOOST_TEST(c->name == "Ann");
  BOOST_TEST(c->tier == Tier::kGold);
  BOOST_TEST((c->birth_date == parse_date("1980-02-03")));
  BOOST_TEST(c->address.region == "North");
  std::istringstream bad("id,name,tier\n8,Bob,\"gold\f\"\n");
  BOOST_TEST(!io::import_stream(db, io::Table::kCustomers, bad, io::Format::kCsv).has_value());
}

// Amounts too (parse_amount trimmed only space and tab): a quoted amount cell with a CR or LF
// imports; a form feed is refused. And a rule's words end at any of the four.
BOOST_AUTO_TEST_CASE(amount_cells_and_rule_words_use_the_same_white_space) {
  BOOST_TEST(must(parse_amount("\r\n 12.50\t\r\n", "USD")) == 1250);
  BOOST_TEST(!parse_amount("12.50\f", "USD").has_value());
  TempDir dir;
  auto db = open_db(Mode::kPlain, dir.path());
  (void)must(db.insert_customer(sample_customer(1)));
  std::istringstream ok("customer_id,ts,amount,currency\n1,2026-01-02T03:04:05Z,\"12.50\r\n\",\"USD\r\"\n");
  auto report = must(io::import_stream(db, io::Table::kTransactions, ok, io::Format::kCsv));
  BOOST_TEST(report.imported == 1u);
  BOOST_TEST(must(must(db.begin_read()).get_customer(1))->aggregates.total_amount == 1250);
  std::istringstream bad("customer_id,ts,amount,currency\n1,2026-01-02T03:04:05Z,\"12.50\f\",USD\n");
  BOOST_TEST(!io::import_stream(db, io::Table::kTransactions, bad, io::Format::kCsv).has_value());

  auto rule = parse_rule("tier\r=\ngold\rwhen\ttier = silver", {});
  BOOST_TEST_REQUIRE(rule.has_value(), (rule ? "" : rule.error().to_string()));
  BOOST_TEST((std::get<Tier>(rule->assign) == Tier::kGold));
  BOOST_TEST(!parse_rule("tier = gold\fwhen tier = silver", {}).has_value());
}

// An external reference that trims to nothing finds nobody (it was an internal error: LMDB
// refuses an empty key).
BOOST_DATA_TEST_CASE(blank_external_ref_finds_nobody, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  Customer c = sample_customer(1);
  c.external_ref.clear();
  (void)must(db.insert_customer(c));
  auto view = must(db.begin_read());
  for (const char* ref : {"", " \t\r\n"})
    BOOST_TEST(!must(view.find_by_external_ref(ref)).has_value());
}

BOOST_AUTO_TEST_CASE(enum_tables_name_every_valid_number) {
  check_enum_table<CustomerType>(2);
  check_enum_table<Gender>(3);
  check_enum_table<Tier>(4);
  check_enum_table<Stage>(5);
  check_enum_table<Risk>(2);
  check_enum_table<ConsentState>(2);
  check_enum_table<RelationType>(-1);
  check_enum_table<TransactionKind>(6);
  check_enum_table<Channel>(4);
  BOOST_TEST(enums::is_valid(RelationType::kCustom));
  BOOST_TEST(enums::is_valid(RelationType::kBenefactor));
  BOOST_TEST(!enums::is_valid(static_cast<RelationType>(12)));
}

// One map from field to enum: the enum fields (FieldKind::kEnum) have a range and names, the
// others none; the query language accepts exactly the names of 0..enum_max.
BOOST_AUTO_TEST_CASE(enum_fields_have_their_enum_range) {
  for (const auto& [field, name] : query::field_rules::field_names()) {
    const bool is_enum = query::kind_of(field) == query::FieldKind::kEnum;
    const int max = query::field_rules::enum_max(field);
    BOOST_TEST((max >= 0) == is_enum, name);
    if (!is_enum) continue;
    for (int n = 0; n <= max + 1; ++n) {
      const std::string_view enum_name = query::field_rules::enum_name(field, n);
      BOOST_TEST((enum_name != "invalid") == (n <= max), name << " " << n);
      if (n <= max)
        BOOST_TEST((query::field_rules::enum_number(field, enum_name) == std::optional<std::int64_t>(n)));
    }
  }
  BOOST_TEST(query::field_rules::enum_max(Field::kTier) == 4);
  BOOST_TEST(query::field_rules::enum_max(Field::kConsentSms) == 2);
  // Every customer field but kAttribute (named by the schema), up to first_product_on (format 6).
  BOOST_TEST(query::field_rules::field_names().size() == static_cast<std::size_t>(Field::kFirstProductOn));
  BOOST_TEST(query::field_rules::enum_max(Field::kHoldingStatus) == 2);
  BOOST_TEST(query::field_rules::enum_max(Field::kConsentProfiling) == 2);
}

// Validation accepts exactly the table's numbers; the planner's ordered-enum range covers them.
BOOST_AUTO_TEST_CASE(validation_and_planner_use_the_enum_range) {
  TempDir dir;
  auto db = open_db(Mode::kPlain, dir.path());
  Customer c = sample_customer(1);
  c.tier = static_cast<Tier>(enums::max_value<Tier>() + 1);
  auto refused = db.insert_customer(c);
  BOOST_TEST_REQUIRE(!refused.has_value());
  BOOST_TEST((refused.error().code() == ErrorCode::kInvalidArgument));
  c.tier = static_cast<Tier>(enums::max_value<Tier>());
  c.risk = static_cast<Risk>(enums::max_value<Risk>());
  CustomerId id = must(db.insert_customer(c));
  auto view = must(db.begin_read());
  BOOST_TEST(must(view.ids(must(query::parse("tier > platinum and risk >= high")))) ==
             std::vector<CustomerId>{id});
  BOOST_TEST(must(view.count(must(query::parse("tier < diamond or risk < high")))) == 0u);
}

// customer_entries reads only the fields same_customer_entries compares.
BOOST_AUTO_TEST_CASE(same_customer_entries_matches_the_derived_entries) {
  index::IndexKeys keys(nullptr);
  std::mt19937 r(16);
  auto vary = [&](Customer c) {
    switch (r() % 8) {
      case 0: c.external_ref = "EXT-" + std::to_string(r() % 3); break;
      case 1: c.email = r() % 2 ? std::optional<std::string>("a" + std::to_string(r() % 2) + "@x.org") : std::nullopt; break;
      case 2: c.phone = r() % 2 ? std::optional<std::string>("+1555010" + std::to_string(1000 + r() % 2)) : std::nullopt; break;
      case 3: c.name = "renamed"; break;
      case 4: c.address.region = "north"; break;
      case 5: c.tier = Tier::kGold; break;
      case 6: c.tags = {"x"}; break;
      default: c.id = 1 + r() % 2; break;
    }
    return c;
  };
  for (int i = 0; i < 1000; ++i) {
    Customer a = sample_customer(static_cast<int>(r() % 3));
    a.id = 1;
    Customer b = vary(vary(a));
    std::vector<index::IndexEntry> ea, eb;
    keys.customer_entries(a, ea);
    keys.customer_entries(b, eb);
    std::sort(ea.begin(), ea.end());
    std::sort(eb.begin(), eb.end());
    BOOST_TEST(index::IndexKeys::same_customer_entries(a, b) == (ea == eb));
  }
}

BOOST_AUTO_TEST_SUITE_END()
