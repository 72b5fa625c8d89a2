// Issue #18, the query side of holdings: holds(t [, q]) and the customer aggregates aum,
// liabilities, products and first_product_on in the language (parse / print / builder / error
// messages), the reference evaluator's semantics (closed holdings, base balances, custom
// types), and the segment index planner against the reference evaluator on random data with
// holdings in both storage modes, reports / rank / top against a brute force, a tier rule on
// aum, and old (format-5) files read through the planner.
#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "custdb/analytics.h"
#include "custdb/query.h"
#include "custdb/segment.h"
#include "engine/open.h"
#include "index/segments.h"
#include "random_data.h"
#include "segment/segment_index.h"
#include "segment/slices.h"
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;
using query::Amount;
using query::Field;
using query::Node;

namespace {

const Date kAsOf = parse_date("2026-06-15").value();
Date day(const char* s) { return parse_date(s).value(); }

Node parsed(std::string_view text) {
  auto n = query::parse(text);
  BOOST_TEST_REQUIRE(n.has_value(), std::string(text) + ": " + (n ? "" : n.error().to_string()));
  return *n;
}

std::string parse_error(std::string_view text) {
  auto n = query::parse(text);
  BOOST_TEST_REQUIRE(!n.has_value(), std::string(text) + " parsed as " + (n ? n->to_string() : ""));
  return n.error().message();
}

// ---- random trees ---------------------------------------------------------------------------------

const char* const kProductWords[] = {"deposit",     "savings",       "term_deposit", "fund",
                                     "insurance",   "credit_card",   "personal_loan",
                                     "mortgage",    "pension",       "safe box"};

Node random_product(std::mt19937& r, std::optional<Node> q) {
  std::string_view w = kProductWords[r() % std::size(kProductWords)];
  auto t = from_string<ProductType>(w);
  if (t) return query::holds(*t, std::move(q));
  return query::holds_custom(w, std::move(q));
}

std::int64_t random_amount(std::mt19937& r) {
  const std::int64_t mags[] = {1, 100, 10'000, 5'000'000, 200'000'000, 10'000'000'000};
  std::int64_t v = static_cast<std::int64_t>(r() % static_cast<std::uint64_t>(mags[r() % 6]));
  return r() % 6 == 0 ? -v : v;
}

Date random_day(std::mt19937& r) { return day("2005-01-01") + std::chrono::days(r() % 8000); }

Node random_holding_condition(std::mt19937& r, int depth) {
  const int pick = depth <= 0 ? static_cast<int>(r() % 5) : static_cast<int>(r() % 8);
  switch (pick) {
    case 0: {
      Amount a{random_amount(r)};
      switch (r() % 4) {
        case 0: return query::ge(Field::kHoldingBalance, a);
        case 1: return query::lt(Field::kHoldingBalance, a);
        case 2: return query::between(Field::kHoldingBalance, a, Amount{a.minor_units + random_amount(r)});
        default: return query::ne(Field::kHoldingBalance, a);
      }
    }
    case 1:
      return r() % 2 ? query::eq(Field::kHoldingStatus, HoldingStatus::kDormant)
                     : query::in(Field::kHoldingStatus, {HoldingStatus::kActive, HoldingStatus::kClosed});
    case 2: return query::lt(Field::kHoldingOpenedOn, random_day(r));
    case 3: return query::eq(Field::kHoldingProductCode, r() % 2 ? "GOLD-1" : "basic plan");
    case 4: return query::in(Field::kHoldingCurrency, {"usd", r() % 2 ? "EUR" : "JPY"});
    case 5: return query::negate(random_holding_condition(r, depth - 1));
    case 6: return query::all_of(random_holding_condition(r, depth - 1), random_holding_condition(r, depth - 1));
    default: return query::any_of(random_holding_condition(r, depth - 1), random_holding_condition(r, depth - 1));
  }
}

Node random_query(std::mt19937& r, int depth) {
  const int pick = depth <= 0 ? static_cast<int>(r() % 8) : static_cast<int>(r() % 11);
  switch (pick) {
    case 0: return random_product(r, std::nullopt);
    case 1: return random_product(r, random_holding_condition(r, 1));
    case 2: {
      Amount a{random_amount(r)};
      return r() % 2 ? query::ge(Field::kAum, a) : query::lt(Field::kAum, a);
    }
    case 3: {
      Amount a{random_amount(r)};
      return r() % 2 ? query::gt(Field::kLiabilities, a)
                     : query::between(Field::kLiabilities, a, Amount{a.minor_units + random_amount(r)});
    }
    case 4: {
      std::int64_t n = static_cast<std::int64_t>(r() % 5);
      switch (r() % 3) {
        case 0: return query::ge(Field::kProducts, n);
        case 1: return query::eq(Field::kProducts, n);
        default: return query::in(Field::kProducts, {n, n + 2});
      }
    }
    case 5:
      return r() % 2 ? query::lt(Field::kFirstProductOn, random_day(r))
                     : query::ne(Field::kFirstProductOn, random_day(r));
    case 6: return query::in(Field::kTier, {Tier::kGold, Tier::kPlatinum});
    case 7: return query::eq(Field::kRegion, "east");
    case 8: return query::negate(random_query(r, depth - 1));
    case 9: return query::all_of(random_query(r, depth - 1), random_query(r, depth - 1));
    default: return query::any_of(random_query(r, depth - 1), random_query(r, depth - 1));
  }
}

// ---- data with holdings ----------------------------------------------------------------------------

Holding random_holding(std::mt19937& r, CustomerId customer) {
  Holding h;
  h.customer_id = customer;
  std::string_view w = kProductWords[r() % std::size(kProductWords)];
  if (auto t = from_string<ProductType>(w)) {
    h.product_type = *t;
  } else {
    h.product_type = ProductType::kCustom;
    h.custom_type = std::string(w);
  }
  h.product_code = r() % 3 == 0 ? "GOLD-1" : (r() % 2 ? "basic plan" : "");
  h.opened_on = random_day(r);
  switch (r() % 5) {
    case 0: h.status = HoldingStatus::kDormant; break;
    case 1:
      h.status = HoldingStatus::kClosed;
      h.closed_on = *h.opened_on + std::chrono::days(r() % 400);
      break;
    default: h.status = HoldingStatus::kActive;
  }
  h.balance = random_amount(r) % 1'000'000'000'000;
  if (r() % 4 == 0) {
    h.currency = "EUR";
    h.base_balance = h.balance + h.balance / 10;
  } else {
    h.currency = "USD";
  }
  if (class_of(h.product_type) != ProductClass::kAsset && r() % 2)
    h.credit_limit = static_cast<std::int64_t>(r() % 10'000'000);
  return h;
}

// Customers (some with equal aum, some without holdings) and their holdings.
std::vector<CustomerId> build(Database& db, std::uint32_t seed, int customers = 150) {
  std::mt19937 r(seed);
  std::vector<CustomerId> ids;
  auto txn = must(db.begin_write());
  for (int i = 0; i < customers; ++i) {
    CustomerId id = must(txn.insert_customer(random_customer(r)));
    ids.push_back(id);
    const int n = i % 7 == 0 ? 0 : static_cast<int>(r() % 5);
    for (int k = 0; k < n; ++k) must(txn.insert_holding(random_holding(r, id)));
    if (i % 11 == 0) {  // ties on aum
      Holding h;
      h.customer_id = id;
      h.product_type = ProductType::kSavings;
      h.currency = "USD";
      h.balance = 100'000'000;
      h.opened_on = day("2020-02-29");
      must(txn.insert_holding(h));
    }
  }
  must(txn.commit());
  return ids;
}

struct Brute {
  std::vector<Customer> customers;
  std::map<CustomerId, std::vector<Holding>> holdings;
  query::EvalContext ctx;

  explicit Brute(const Database& db) {
    auto view = must(db.begin_read());
    must(view.for_each_customer([&](const Customer& c) {
      customers.push_back(c);
      return true;
    }));
    for (const Customer& c : customers) holdings[c.id] = must(view.holdings_of(c.id));
    ctx.as_of = kAsOf;
    ctx.holdings = [this](CustomerId id) { return holdings.at(id); };
    ctx.related = [](CustomerId) { return std::vector<std::pair<Relationship, Customer>>{}; };
  }
  std::vector<CustomerId> ids(const Node& q) const {
    std::vector<CustomerId> out;
    for (const Customer& c : customers)
      if (query::matches(q, c, ctx)) out.push_back(c.id);
    return out;
  }
};

void check_against_brute(const Database& db, std::uint32_t seed, int trees) {
  Brute brute(db);
  auto view = must(db.begin_read());
  SegmentOptions o;
  o.as_of = kAsOf;
  const char* const fixed[] = {
      "holds(mortgage)",
      "not holds(credit_card)",
      "holds(fund, balance >= 100000.00)",
      "holds(wealth, balance >= 100000.00 and status = active)",
      "aum >= 500000.00",
      "liabilities > 0",
      "products >= 3",
      "products = 0",
      "first_product_on < 2010-01-01",
      "first_product_on != 2020-02-29",
      "tier in (gold, platinum) and aum >= 500000.00 and holds(mortgage) and not holds(credit_card)",
      "holds(pension) or holds('safe box', currency = eur)",
      "not holds(savings, not balance between 0 and 1000000.00)",
      "aum between -5.00 and 1000000.00 and holds(deposit, opened_on < 2012-06-01)",
      "holds(fund, product_code = 'basic plan') and products >= 1",
  };
  for (const char* text : fixed) {
    Node q = parsed(text);
    auto got = must(view.ids(q, o));
    BOOST_TEST(got == brute.ids(q), text);
  }
  std::mt19937 r(seed);
  for (int i = 0; i < trees; ++i) {
    Node q = random_query(r, 3);
    auto got = must(view.ids(q, o));
    BOOST_TEST(got == brute.ids(q), "seed " << seed << " tree " << i << ": " << q.to_string());
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(holdings_query)

// ---- the language --------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(canonical_text) {
  const std::pair<const char*, const char*> cases[] = {
      {"holds(mortgage)", "holds(mortgage)"},
      {"HOLDS( Wealth )", "holds(fund)"},
      {"not holds(credit_card)", "not holds(credit_card)"},
      {"holds(fund, balance >= 100000)", "holds(fund, balance >= 100000.00)"},
      {"holds(Pension, Status = DORMANT or currency = eur)",
       "holds(pension, status = dormant or currency = EUR)"},
      {"holds('Safe Box', product_code = 'GOLD 1')", "holds('safe box', product_code = 'GOLD 1')"},
      {"aum >= 500000.00 and liabilities > 0 and products >= 3",
       "aum >= 500000.00 and liabilities > 0.00 and products >= 3"},
      {"first_product_on < 2010-01-01", "first_product_on < 2010-01-01"},
      {"holds(fund, (balance > 1 or balance < -1) and opened_on between 2020-01-01 and 2021-01-01)",
       "holds(fund, (balance > 1.00 or balance < -1.00) and opened_on between 2020-01-01 and 2021-01-01)"},
      {"region = holds", "region = 'holds'"},
  };
  for (const auto& [text, canonical] : cases) {
    Node n = parsed(text);
    BOOST_TEST(n.to_string() == canonical, text);
    BOOST_TEST((parsed(n.to_string()) == n), text);
  }
  Node n = parsed("holds(pension)");
  BOOST_TEST((n.kind == Node::Kind::kHolds));
  BOOST_TEST((n.product_type == ProductType::kCustom));
  BOOST_TEST(n.custom_type == "pension");
  // Amounts follow the base currency's digits.
  query::ParseOptions jpy;
  jpy.amount_decimals = 0;
  auto j = query::parse("holds(fund, balance >= 100) and aum > 5", jpy);
  BOOST_TEST_REQUIRE(j.has_value());
  BOOST_TEST(j->to_string(jpy) == "holds(fund, balance >= 100) and aum > 5");
  BOOST_TEST(std::get<std::int64_t>(j->children[0].children[0].values[0]) == 100);
}

BOOST_AUTO_TEST_CASE(random_trees_round_trip) {
  std::mt19937 r(18);
  for (int i = 0; i < 2000; ++i) {
    Node q = random_query(r, 4);
    const std::string text = q.to_string();
    auto back = query::parse(text);
    BOOST_TEST_REQUIRE(back.has_value(), text + ": " + (back ? "" : back.error().to_string()));
    BOOST_TEST_REQUIRE((*back == q), text);
    BOOST_TEST(back->to_string() == text);
  }
}

BOOST_AUTO_TEST_CASE(builder_equals_parser) {
  using namespace query;
  BOOST_TEST((holds(ProductType::kFund, ge(Field::kHoldingBalance, Amount{10'000'000})) ==
              parsed("holds(fund, balance >= 100000.00)")));
  BOOST_TEST((holds(ProductType::kMortgage) == parsed("holds(mortgage)")));
  BOOST_TEST((negate(holds(ProductType::kCreditCard)) == parsed("not holds(credit_card)")));
  BOOST_TEST((holds_custom("  Pension ") == parsed("holds(pension)")));
  BOOST_TEST((holds(ProductType::kSavings,
                    all_of(eq(Field::kHoldingStatus, HoldingStatus::kActive),
                           eq(Field::kHoldingCurrency, "eur"),
                           lt(Field::kHoldingOpenedOn, day("2020-01-01")))) ==
              parsed("holds(savings, status = active and currency = EUR and opened_on < 2020-01-01)")));
  BOOST_TEST((eq(Field::kHoldingStatus, "dormant") == parsed("holds(fund, status = dormant)").children[0]));
  BOOST_TEST((all_of(ge(Field::kAum, Amount{50'000'000}), gt(Field::kLiabilities, Amount{0}),
                     ge(Field::kProducts, std::int64_t{3}), lt(Field::kFirstProductOn, day("2010-01-01"))) ==
              parsed("aum >= 500000.00 and liabilities > 0 and products >= 3 and first_product_on < 2010-01-01")));
  // Misuse throws.
  BOOST_CHECK_THROW(holds(ProductType::kCustom), std::invalid_argument);
  BOOST_CHECK_THROW(holds_custom("mortgage"), std::invalid_argument);
  BOOST_CHECK_THROW(holds_custom("wealth"), std::invalid_argument);
  BOOST_CHECK_THROW(holds_custom("custom"), std::invalid_argument);
  BOOST_CHECK_THROW(holds_custom("  "), std::invalid_argument);
  BOOST_CHECK_THROW(holds(ProductType::kFund, eq(Field::kTier, Tier::kGold)), std::invalid_argument);
  BOOST_CHECK_THROW(holds(ProductType::kFund, holds(ProductType::kFund)), std::invalid_argument);
  BOOST_CHECK_THROW(holds(ProductType::kFund, tag("vip")), std::invalid_argument);
  BOOST_CHECK_THROW(holds(static_cast<ProductType>(42)), std::invalid_argument);
  BOOST_CHECK_THROW(lt(Field::kHoldingStatus, HoldingStatus::kActive), std::invalid_argument);
  BOOST_CHECK_THROW(eq(Field::kHoldingStatus, Tier::kGold), std::invalid_argument);
  BOOST_CHECK_THROW(eq(Field::kHoldingBalance, std::int64_t{5}), std::invalid_argument);
  BOOST_CHECK_THROW(eq(Field::kHoldingCurrency, "euro"), std::invalid_argument);
  BOOST_CHECK_THROW(ge(Field::kProducts, std::int64_t{-1}), std::invalid_argument);
  BOOST_CHECK_THROW(eq(Field::kAum, std::int64_t{5}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(field_names) {
  BOOST_TEST((query::field_from_string("AUM") == Field::kAum));
  BOOST_TEST((query::field_from_string("first_product_on") == Field::kFirstProductOn));
  BOOST_TEST(!query::field_from_string("balance").has_value());
  BOOST_TEST((query::holding_field_from_string("Balance") == Field::kHoldingBalance));
  BOOST_TEST((query::holding_field_from_string("opened_on") == Field::kHoldingOpenedOn));
  BOOST_TEST(!query::holding_field_from_string("aum").has_value());
  BOOST_TEST((query::to_string(Field::kHoldingProductCode) == "product_code"));
  BOOST_TEST((query::is_holding_field(Field::kHoldingCurrency)));
  BOOST_TEST((!query::is_holding_field(Field::kAum)));
  BOOST_TEST((query::kind_of(Field::kAum) == query::FieldKind::kAmount));
  BOOST_TEST((query::kind_of(Field::kProducts) == query::FieldKind::kInteger));
  BOOST_TEST((query::kind_of(Field::kFirstProductOn) == query::FieldKind::kDate));
  BOOST_TEST((!query::is_ordered(Field::kHoldingStatus)));
  BOOST_TEST((query::is_ordered(Field::kHoldingBalance)));
}

BOOST_AUTO_TEST_CASE(error_messages) {
  auto has = [](const std::string& message, const std::string& part) {
    BOOST_TEST(contains(message, part), message + " lacks " + part);
  };
  has(parse_error("balance > 5"), "at 1: expected a field, found 'balance'");
  has(parse_error("balance > 5"), "is a holding field: write it inside holds(");
  has(parse_error("holds(fund, tier = gold)"), "at 13: expected a holding field, found 'tier'");
  has(parse_error("holds(fund, tier = gold)"), "write it outside holds()");
  has(parse_error("holds(fund, holds(fund))"), "at 13: expected a holding field");
  has(parse_error("holds(fund, tag = vip)"), "at 13: expected a holding field");
  has(parse_error("holds(custom)"), "at 7: expected a product type (deposit, savings, term_deposit, fund, insurance, credit_card, personal_loan, mortgage) or a custom type's name");
  has(parse_error("holds(5)"), "at 7: expected a product type");
  has(parse_error("holds fund"), "at 7: expected '(' after 'holds'");
  has(parse_error("holds(fund"), "at 11: expected ',' or ')' after the product type");
  has(parse_error("holds(fund, balance > 1"), "to close 'holds(' at 1");
  has(parse_error("holds(fund, balance >= 1.005)"), "at most 2 decimal places for balance");
  has(parse_error("holds(fund, status = open)"), "one of active, dormant, closed for status");
  has(parse_error("holds(fund, status > active)"), "status has no order");
  has(parse_error("holds(fund, currency = euro)"), "a 3-letter currency code");
  has(parse_error("holds(fund, product_code = '')"), "a non-empty product_code");
  has(parse_error("holds(fund, opened_on < 2020)"), "a date (YYYY-MM-DD) for opened_on");
  has(parse_error("aum = gold"), "an amount for aum");
  has(parse_error("products = -1"), "a products of 0 or more");
  has(parse_error("first_product_on > 5"), "a date (YYYY-MM-DD) for first_product_on");
  has(parse_error("holdz(fund)"), "did you mean 'holds'?");
  has(parse_error("au > 5"), "did you mean 'aum'?");
}

// ---- the reference evaluator ---------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(evaluator_semantics) {
  Customer c;
  c.id = 7;
  c.holdings.aum = 60'000'000;
  c.holdings.liabilities = 0;
  c.holdings.products = 1;
  c.holdings.first_product_on = day("2015-03-01");
  std::vector<Holding> hs(4);
  hs[0].product_type = ProductType::kFund;  // a fund in EUR: balance reads its base_balance
  hs[0].currency = "EUR";
  hs[0].balance = 10'000'000;
  hs[0].base_balance = 11'000'000;
  hs[0].status = HoldingStatus::kDormant;
  hs[0].opened_on = day("2015-03-01");
  hs[0].product_code = "GOLD-1";
  hs[1].product_type = ProductType::kMortgage;  // closed: never held
  hs[1].currency = "USD";
  hs[1].balance = 50'000'000;
  hs[1].status = HoldingStatus::kClosed;
  hs[1].opened_on = day("2016-01-01");
  hs[1].closed_on = day("2020-01-01");
  hs[2].product_type = ProductType::kCustom;
  hs[2].custom_type = "pension";
  hs[2].currency = "USD";
  hs[2].balance = 5;
  hs[2].opened_on = day("2019-01-01");
  hs[3].product_type = ProductType::kFund;  // a second fund, active, small
  hs[3].currency = "USD";
  hs[3].balance = 100;
  hs[3].opened_on = day("2018-01-01");
  query::EvalContext ctx;
  ctx.as_of = kAsOf;
  ctx.holdings = [&](CustomerId id) {
    BOOST_TEST(id == 7u);
    return hs;
  };
  auto is = [&](const char* text) { return query::matches(parsed(text), c, ctx); };
  BOOST_TEST(is("holds(fund)"));
  BOOST_TEST(is("holds(wealth)"));
  BOOST_TEST(!is("holds(mortgage)"));  // closed
  BOOST_TEST(is("not holds(mortgage)"));
  BOOST_TEST(!is("holds(mortgage, status = closed)"));
  BOOST_TEST(is("holds(pension)"));
  BOOST_TEST(is("holds('PENSION', balance = 0.05)"));
  BOOST_TEST(!is("holds(credit_card)"));
  BOOST_TEST(is("holds(fund, balance = 110000.00)"));   // base balance
  BOOST_TEST(!is("holds(fund, balance = 100000.00)"));  // not the EUR balance
  // Each holding on its own: no fund is both large and active.
  BOOST_TEST(!is("holds(fund, balance >= 100000.00 and status = active)"));
  BOOST_TEST(is("holds(fund, balance >= 100000.00 and status = dormant)"));
  BOOST_TEST(is("holds(fund, balance >= 100000.00) and holds(fund, status = active)"));
  BOOST_TEST(is("holds(fund, currency = eur and product_code = GOLD-1)"));
  BOOST_TEST(!is("holds(fund, product_code = gold-1)"));  // exact bytes
  BOOST_TEST(is("holds(fund, product_code != GOLD-1)"));   // the USD fund has none: != is true
  BOOST_TEST(!is("holds(fund, product_code in (GOLD-1) and currency = USD)"));
  BOOST_TEST(is("holds(fund, opened_on between 2015-03-01 and 2015-03-01)"));
  BOOST_TEST(is("holds(fund, not balance > 1.00)"));
  BOOST_TEST(is("aum = 600000.00 and liabilities = 0 and products = 1"));
  BOOST_TEST(is("first_product_on = 2015-03-01"));
  Customer none;  // no holdings: aggregates zero, first_product_on absent
  none.id = 7;
  BOOST_TEST(query::matches(parsed("aum = 0 and liabilities <= 0 and products = 0"), none, ctx));
  BOOST_TEST(!query::matches(parsed("first_product_on < 2100-01-01"), none, ctx));
  BOOST_TEST(!query::matches(parsed("first_product_on >= 1800-01-01"), none, ctx));
  BOOST_TEST(query::matches(parsed("first_product_on != 2015-03-01"), none, ctx));
  hs.clear();
  BOOST_TEST(!query::matches(parsed("holds(fund)"), none, ctx));
  BOOST_TEST(query::matches(parsed("not holds(fund, balance > 0)"), none, ctx));
}

// ---- postings ----------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(postings_of_the_holdings_aggregates) {
  using index::SegField;
  Customer c = sample_customer(3);
  c.id = 70'000;
  c.holdings.aum = -5;
  c.holdings.liabilities = 1'000;
  c.holdings.products = 2;
  c.holdings.types_held = {"fund", "pension"};
  c.holdings.first_product_on = day("1999-12-31");
  // kHolds: one bucket per type held, as stored.
  std::set<std::string> held;
  for (const auto& p : index::customer_postings(c))
    if (p.field == SegField::kHolds) held.insert(p.bucket);
  BOOST_TEST((held == std::set<std::string>{"fund", "pension"}));
  // Only the types held change between these two: not an aggregates-only change.
  Customer d = c;
  d.holdings.types_held = {"fund"};
  BOOST_TEST(!index::same_non_aggregate_postings(c, d));
  BOOST_TEST(segment::is_text_field(SegField::kHolds));
  // Slices: sliced_value is the aggregates; format 6 keys have them, format 5 keys none.
  BOOST_TEST((segment::sliced_value(c, SegField::kAum) == std::optional<std::int64_t>(-5)));
  BOOST_TEST((segment::sliced_value(c, SegField::kProducts) == std::optional<std::int64_t>(2)));
  BOOST_TEST((segment::sliced_value(c, SegField::kFirstProductOn) ==
              std::optional<std::int64_t>(day("1999-12-31").time_since_epoch().count())));
  Customer none = sample_customer(4);
  BOOST_TEST((segment::sliced_value(none, SegField::kLiabilities) == std::optional<std::int64_t>(0)));
  BOOST_TEST(!segment::sliced_value(none, SegField::kFirstProductOn).has_value());
  for (std::uint32_t format : {5u, detail::kFileFormat}) {
    segment::SegmentKeys keys(nullptr, format);
    BOOST_TEST(keys.holdings() == (format >= 6));
    std::set<SegField> fields;
    segment::for_each_slice_delta(keys, nullptr, &c, [&](const segment::Delta& delta) {
      SegField f;
      BOOST_TEST_REQUIRE(segment::is_slice_posting(*delta.posting, &f));
      fields.insert(f);
    });
    for (SegField f : {SegField::kAum, SegField::kLiabilities, SegField::kProducts,
                       SegField::kFirstProductOn})
      BOOST_TEST(fields.count(f) == (format >= 6 ? 1u : 0u));
    BOOST_TEST(fields.count(SegField::kTotalAmount) == 1u);
  }
}

// ---- the planner on real holdings -----------------------------------------------------------------

BOOST_DATA_TEST_CASE(planner_matches_reference, kModes, mode) {
  TempDir dir;
  Database db = open_db(mode, dir.path());
  auto ids = build(db, 1801);
  check_against_brute(db, 77, 150);
  // Structural changes move the postings: close, reopen as dormant, remove, add.
  std::mt19937 r(5);
  {
    auto txn = must(db.begin_write());
    for (CustomerId id : ids) {
      auto hs = must(txn.holdings_of(id));
      for (const Holding& h : hs) {
        switch (r() % 6) {
          case 0:
            if (h.status != HoldingStatus::kClosed)
              BOOST_TEST(must(txn.update_holding(h.id, [](Holding& x) {
                x.status = HoldingStatus::kClosed;
                x.closed_on = *x.opened_on + std::chrono::days(1);
              })));
            break;
          case 1: BOOST_TEST(must(txn.remove_holding(h.id, DeleteMode::kCascade))); break;
          case 2:
            BOOST_TEST(must(txn.update_holding(h.id, [](Holding& x) {
              x.balance = 123'456;
              x.base_balance = x.currency == "USD" ? 123'456 : 100'000;
            })));
            break;
          default: break;
        }
      }
      if (r() % 4 == 0) must(txn.insert_holding(random_holding(r, id)));
    }
    must(txn.commit());
  }
  check_against_brute(db, 78, 150);
  // The segment index (this suite's part) is consistent; the holdings tables' own checks are
  // tests/holdings_privacy_test.cc's and holdings_ledger_test.cc's.
  auto report = must(db.check());
  for (const auto& p : report.problems)
    BOOST_TEST((p.where != "idx.segments" && p.where != "meta"), p.where << ": " << p.what);
}

BOOST_DATA_TEST_CASE(explain_says_holdings_are_read, kModes, mode) {
  TempDir dir;
  Database db = open_db(mode, dir.path());
  build(db, 9, 40);
  auto view = must(db.begin_read());
  auto text = must(view.explain(parsed("tier = gold and holds(fund, balance >= 1000.00)")));
  BOOST_TEST(contains(text, "holds(fund, balance >= 1000.00): "), text);
  BOOST_TEST(contains(text, " candidates, holdings read"), text);
  auto plain = must(view.explain(parsed("holds(mortgage)")));
  BOOST_TEST(contains(plain, "index holds(mortgage)"), plain);
  BOOST_TEST(contains(plain, "records read to check candidates: 0"), plain);
}

// ---- reports, rank, top -----------------------------------------------------------------------------

BOOST_DATA_TEST_CASE(reports_and_rank_match_brute_force, kModes, mode) {
  TempDir dir;
  Database db = open_db(mode, dir.path());
  build(db, 4242);
  Brute brute(db);
  auto view = must(db.begin_read());
  const Node q = parsed("not tier = bronze");
  SegmentOptions o;
  o.as_of = kAsOf;
  auto seg = must(view.select(q, o));
  auto members = brute.ids(q);
  std::map<CustomerId, const Customer*> by_id;
  for (const Customer& c : brute.customers) by_id[c.id] = &c;
  auto value = [&](const Customer& c, RankBy m) -> std::optional<std::int64_t> {
    switch (m) {
      case RankBy::kAum: return c.holdings.aum;
      case RankBy::kLiabilities: return c.holdings.liabilities;
      case RankBy::kProducts: return static_cast<std::int64_t>(c.holdings.products);
      case RankBy::kFirstProductOn:
        if (!c.holdings.first_product_on) return std::nullopt;
        return c.holdings.first_product_on->time_since_epoch().count();
      default: return std::nullopt;
    }
  };
  for (RankBy m : {RankBy::kAum, RankBy::kLiabilities, RankBy::kProducts, RankBy::kFirstProductOn}) {
    std::vector<Ranked> want;
    for (CustomerId id : members)
      if (auto v = value(*by_id[id], m)) want.push_back({id, *v});
    std::sort(want.begin(), want.end(), [](const Ranked& a, const Ranked& b) {
      return a.value != b.value ? a.value > b.value : a.id < b.id;
    });
    want.resize(std::min<std::size_t>(want.size(), 12));
    auto got = must(seg.rank(m, 12));
    BOOST_TEST((got == want), to_string(m));
    auto top = must(seg.top(m, 12));
    BOOST_TEST_REQUIRE(top.size() == want.size());
    for (std::size_t i = 0; i < top.size(); ++i) BOOST_TEST(top[i].id == want[i].id);
  }
  BOOST_TEST(to_string(RankBy::kAum) == std::string("aum"));
  BOOST_TEST((rank_by_from_string("first_product_on") == RankBy::kFirstProductOn));
  BOOST_TEST((group_by_from_string("holds") == GroupBy::kHolds));

  // report --by holds / tier --measure aum, liabilities, products, first_product_on.
  for (GroupBy g : {GroupBy::kHolds, GroupBy::kTier}) {
    ReportSpec spec;
    spec.by = {g};
    spec.measures = {RankBy::kAum, RankBy::kLiabilities, RankBy::kProducts, RankBy::kFirstProductOn};
    auto rows = must(seg.report(spec));
    std::map<std::string, std::pair<std::uint64_t, std::vector<MeasureStats>>> want;
    for (CustomerId id : members) {
      const Customer& c = *by_id[id];
      std::vector<std::string> groups;
      if (g == GroupBy::kTier) groups = {std::string(to_string(c.tier))};
      else groups = c.holdings.types_held;
      if (groups.empty()) groups = {""};
      for (const std::string& group : groups) {
        auto& w = want[group];
        w.first++;
        w.second.resize(spec.measures.size());
        for (std::size_t i = 0; i < spec.measures.size(); ++i)
          if (auto v = value(c, *spec.measures[i].builtin)) {
            auto& s = w.second[i];
            s.count++;
            s.sum += *v;
            s.min = s.min ? std::min(*s.min, *v) : *v;
            s.max = s.max ? std::max(*s.max, *v) : *v;
          }
      }
    }
    BOOST_TEST_REQUIRE(rows.size() == want.size(), to_string(g));
    for (const ReportRow& row : rows) {
      BOOST_TEST_REQUIRE(row.group.size() == 1u);
      auto it = want.find(row.group[0]);
      BOOST_TEST_REQUIRE((it != want.end()), row.group[0]);
      BOOST_TEST(row.customers == it->second.first, row.group[0]);
      for (std::size_t i = 0; i < row.measures.size(); ++i) {
        const MeasureStats& got = row.measures[i];
        const MeasureStats& w = it->second.second[i];
        BOOST_TEST(got.count == w.count);
        BOOST_TEST((got.sum == w.sum), row.group[0] << " measure " << i);
        BOOST_TEST((got.min == w.min));
        BOOST_TEST((got.max == w.max));
      }
    }
    if (g == GroupBy::kHolds && !rows.empty()) {
      // "" first, then text bytes.
      for (std::size_t i = 1; i < rows.size(); ++i) {
        const bool ascending = rows[i - 1].group[0] < rows[i].group[0];
        BOOST_TEST(ascending, rows[i - 1].group[0] << " before " << rows[i].group[0]);
      }
    }
  }
}

// ---- a tier rule on aum ------------------------------------------------------------------------------

BOOST_DATA_TEST_CASE(aum_tier_rule, kModes, mode) {
  TempDir dir;
  Database db = open_db(mode, dir.path());
  build(db, 31337);
  // A few customers well above the threshold, one exactly at it.
  {
    auto txn = must(db.begin_write());
    Customer c = sample_customer(1);
    c.tier = Tier::kBronze;
    CustomerId at = must(txn.insert_customer(c));
    Holding h;
    h.customer_id = at;
    h.product_type = ProductType::kFund;
    h.currency = "USD";
    h.balance = 100'000'000;  // 1,000,000.00 exactly
    h.opened_on = day("2021-01-01");
    must(txn.insert_holding(h));
    must(txn.commit());
  }
  std::map<CustomerId, Tier> before;
  std::map<CustomerId, std::int64_t> aum;
  {
    auto view = must(db.begin_read());
    must(view.for_each_customer([&](const Customer& c) {
      before[c.id] = c.tier;
      aum[c.id] = c.holdings.aum;
      return true;
    }));
  }
  auto rule = parse_rule("tier = platinum when aum >= 1000000.00");
  BOOST_TEST_REQUIRE(rule.has_value(), (rule ? "" : rule.error().to_string()));
  BOOST_TEST(rule->when == "aum >= 1000000.00");
  std::vector<Rule> rules{*rule};
  must(set_rules(db, rules));
  ApplyOptions o;
  o.as_of = kAsOf;
  auto report = must(apply_rules(db, o));
  std::uint64_t moved = 0;
  auto view = must(db.begin_read());
  must(view.for_each_customer([&](const Customer& c) {
    const bool rich = aum.at(c.id) >= 100'000'000;
    const Tier want = rich ? Tier::kPlatinum : before.at(c.id);
    BOOST_TEST((c.tier == want), "customer " << c.id << " aum " << aum.at(c.id));
    if (rich && before.at(c.id) != Tier::kPlatinum &&
        c.consent_profiling.state != ConsentState::kDenied)
      ++moved;
    return true;
  }));
  BOOST_TEST(report.changed == moved);
  BOOST_TEST(moved > 0u);
}

// ---- files of format 5 --------------------------------------------------------------------------

BOOST_DATA_TEST_CASE(format5_file_through_the_planner, kModes, mode) {
  TempDir dir;
  const fs::path src = fs::path(CUSTDB_FIXTURE_DIR) / "v5_db" /
                       (mode == Mode::kPlain ? "plaintext" : "encrypted");
  auto opts = [&](bool read_only) {
    Options o;
    o.read_only = read_only;
    if (mode == Mode::kEncrypted) o.key = KeyMaterial::from_passphrase("fixture-passphrase");
    return o;
  };
  for (bool read_only : {true, false}) {
    const fs::path copy = dir / (read_only ? "ro" : "rw");
    fs::create_directories(copy);
    for (const auto& e : fs::directory_iterator(src)) fs::copy(e.path(), copy / e.path().filename());
    auto db = Database::open(copy, opts(read_only));
    BOOST_TEST_REQUIRE(db.has_value(), (db ? "" : db.error().to_string()));
    auto view = must(db->begin_read());
    const std::uint64_t all = must(view.count(parsed("txn_count >= 0")));
    BOOST_TEST(all > 0u);
    BOOST_TEST(must(view.count(parsed("aum = 0 and liabilities = 0 and products = 0"))) == all);
    BOOST_TEST(must(view.count(parsed("aum > 0 or products >= 1 or first_product_on < 2200-01-01"))) == 0u);
    BOOST_TEST(must(view.count(parsed("holds(fund) or holds(pension, balance > 0)"))) == 0u);
    BOOST_TEST(must(view.count(parsed("not holds(mortgage)"))) == all);
    auto seg = must(view.select(parsed("txn_count >= 0")));
    ReportSpec spec;
    spec.by = {GroupBy::kHolds};
    spec.measures = {RankBy::kAum, RankBy::kFirstProductOn};
    auto rows = must(seg.report(spec));
    BOOST_TEST_REQUIRE(rows.size() == 1u);
    BOOST_TEST(rows[0].group[0] == "");
    BOOST_TEST(rows[0].customers == all);
    BOOST_TEST(rows[0].measures[0].count == all);
    BOOST_TEST((rows[0].measures[0].sum == 0));
    BOOST_TEST(rows[0].measures[1].count == 0u);
    auto top = must(seg.rank(RankBy::kAum, 3));
    BOOST_TEST(top.size() == std::min<std::uint64_t>(3, all));
    if (!read_only) require_clean(*db);
  }
}

BOOST_AUTO_TEST_SUITE_END()
