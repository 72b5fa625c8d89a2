// The reference evaluator: the semantics of custdb/query.h applied to one decoded customer,
// with no cleverness, so the index planner has something simple to be checked against.
#include <algorithm>
#include <limits>

#include "custdb/query.h"
#include "query/field_rules.h"
#include "util/normalize.h"

namespace custdb::query {
namespace {

// A customer's value for a field: a number (Value's mapping), text, or absent (neither).
struct FieldValue {
  std::optional<std::int64_t> number;
  std::optional<std::string_view> text;
};

std::int64_t millis(Timestamp t) { return t.time_since_epoch().count(); }

std::optional<std::int64_t> millis(const std::optional<Timestamp>& t) {
  if (!t) return std::nullopt;
  return millis(*t);
}

// Whole days from the UTC day of `t` to `as_of`.
std::int64_t days_between(Timestamp t, Date as_of) {
  return (as_of - std::chrono::floor<std::chrono::days>(t)).count();
}

std::optional<std::string_view> present_text(const std::string& text) {
  if (text.empty()) return std::nullopt;  // an empty address part is an unknown one
  return std::string_view(text);
}

FieldValue value_of(Field field, const Customer& c, const EvalContext& context) {
  auto number = [](auto v) { return FieldValue{static_cast<std::int64_t>(v), std::nullopt}; };
  switch (field) {
    case Field::kType: return number(c.type);
    case Field::kTier: return number(c.tier);
    case Field::kStage: return number(c.stage);
    case Field::kGender: return number(c.gender);
    case Field::kRisk: return number(c.risk);
    case Field::kConsentEmail: return number(c.consent_email.state);
    case Field::kConsentSms: return number(c.consent_sms.state);
    case Field::kConsentPhone: return number(c.consent_phone.state);
    case Field::kConsentProfiling: return number(c.consent_profiling.state);
    case Field::kConsentSharing: return number(c.consent_sharing.state);
    case Field::kAttribute: return {};  // matches_attribute reads these
    case Field::kRegion: return {std::nullopt, present_text(c.address.region)};
    case Field::kCity: return {std::nullopt, present_text(c.address.city)};
    case Field::kCountry: return {std::nullopt, present_text(c.address.country)};
    case Field::kIncomeBand:
      if (!c.income_band) return {};
      return number(*c.income_band);
    case Field::kAge:
      if (!c.birth_date) return {};
      return number(age_on(*c.birth_date, context.as_of));
    case Field::kBirthDate:
      if (!c.birth_date) return {};
      return number(c.birth_date->time_since_epoch().count());
    case Field::kTxnCount:
      return number(std::min<std::uint64_t>(c.aggregates.txn_count,
                                            std::numeric_limits<std::int64_t>::max()));
    case Field::kTotalAmount: return number(c.aggregates.total_amount);
    case Field::kCreatedAt: return number(millis(c.created_at));
    case Field::kFirstTxnAt: return {millis(c.aggregates.first_txn_at), std::nullopt};
    case Field::kLastTxnAt: return {millis(c.aggregates.last_txn_at), std::nullopt};
    case Field::kPAlive:
      if (!c.scores) return {};
      return number(to_millionths(c.scores->p_alive));
    case Field::kExpectedPurchases:
      if (!c.scores) return {};
      return number(to_millionths(c.scores->expected_purchases));
    case Field::kClv:
      if (!c.scores) return {};
      return number(c.scores->clv);
    case Field::kRScore:
      if (!c.scores) return {};
      return number(c.scores->r_score);
    case Field::kFScore:
      if (!c.scores) return {};
      return number(c.scores->f_score);
    case Field::kMScore:
      if (!c.scores) return {};
      return number(c.scores->m_score);
    case Field::kRecencyDays:
      if (!c.aggregates.last_txn_at) return {};
      return number(days_between(*c.aggregates.last_txn_at, context.as_of));
    case Field::kTenureDays:
      if (!c.aggregates.first_txn_at) return {};
      return number(days_between(*c.aggregates.first_txn_at, context.as_of));
    case Field::kAum: return number(c.holdings.aum);
    case Field::kLiabilities: return number(c.holdings.liabilities);
    case Field::kProducts: return number(c.holdings.products);
    case Field::kFirstProductOn:
      if (!c.holdings.first_product_on) return {};
      return number(c.holdings.first_product_on->time_since_epoch().count());
    // Holding fields are read from a holding (holding_value_of), never from the customer.
    case Field::kHoldingBalance: case Field::kHoldingStatus: case Field::kHoldingOpenedOn:
    case Field::kHoldingProductCode: case Field::kHoldingCurrency: return {};
  }
  return {};
}

// A holding's value of a holding field (query.h: balance is the base_balance).
FieldValue holding_value_of(Field field, const Holding& h) {
  switch (field) {
    case Field::kHoldingBalance: return {h.base_balance.value_or(h.balance), std::nullopt};
    case Field::kHoldingStatus: return {static_cast<std::int64_t>(h.status), std::nullopt};
    case Field::kHoldingOpenedOn:
      if (!h.opened_on) return {};
      return {static_cast<std::int64_t>(h.opened_on->time_since_epoch().count()), std::nullopt};
    case Field::kHoldingProductCode:
      if (h.product_code.empty()) return {};
      return {std::nullopt, std::string_view(h.product_code)};
    case Field::kHoldingCurrency:
      if (h.currency.empty()) return {};
      return {std::nullopt, std::string_view(h.currency)};
    default: return {};
  }
}

// `actual cmp expected` for a present value; kNe is handled by the caller as `not =`. A value
// of the wrong alternative for the field (a hand-made tree) matches nothing.
bool holds(const FieldValue& actual, Cmp cmp, const Value& expected, bool exact_text = false) {
  if (actual.text) {
    const auto* text = std::get_if<std::string>(&expected);
    if (exact_text) return cmp == Cmp::kEq && text && *actual.text == *text;
    return cmp == Cmp::kEq && text && normalize::same_folded(*actual.text, *text);
  }
  const auto* number = std::get_if<std::int64_t>(&expected);
  if (!actual.number || !number) return false;
  switch (cmp) {
    case Cmp::kEq: return *actual.number == *number;
    case Cmp::kNe: return *actual.number != *number;
    case Cmp::kLt: return *actual.number < *number;
    case Cmp::kLe: return *actual.number <= *number;
    case Cmp::kGt: return *actual.number > *number;
    case Cmp::kGe: return *actual.number >= *number;
  }
  return false;
}

bool is_present(const FieldValue& value) { return value.number || value.text; }

// ---- custom attributes (Field::kAttribute) ----

// The customer's value of the node's attribute, as decoded (a required attribute's default
// included); null when absent or of an alternative the node's type does not hold (a value
// decoded under another schema: matches nothing, as absent).
const AttributeValue* attribute_of(const Node& node, const Customer& c) {
  auto it = c.attributes.find(node.attribute);
  if (it == c.attributes.end()) return nullptr;
  const AttributeValue& v = it->second;
  bool fits = false;
  switch (node.attribute_type) {
    case AttributeType::kText:
    case AttributeType::kEnum: fits = std::holds_alternative<std::string>(v); break;
    case AttributeType::kInteger:
    case AttributeType::kDecimal:
    case AttributeType::kAmount: fits = std::holds_alternative<std::int64_t>(v); break;
    case AttributeType::kDate: fits = std::holds_alternative<std::chrono::sys_days>(v); break;
    case AttributeType::kTimestamp: fits = std::holds_alternative<Timestamp>(v); break;
    case AttributeType::kBool: fits = std::holds_alternative<bool>(v); break;
    case AttributeType::kTagSet: fits = std::holds_alternative<std::vector<std::string>>(v); break;
  }
  return fits ? &v : nullptr;
}

// A present ordered (or bool) attribute value as the node's int64 representation.
std::int64_t attribute_number(const AttributeValue& v) {
  if (const auto* b = std::get_if<bool>(&v)) return *b ? 1 : 0;
  if (const auto* n = std::get_if<std::int64_t>(&v)) return *n;
  if (const auto* d = std::get_if<std::chrono::sys_days>(&v)) return d->time_since_epoch().count();
  if (const auto* t = std::get_if<Timestamp>(&v)) return t->time_since_epoch().count();
  return 0;
}

// `actual cmp expected` for a present attribute value (kNe handled by the caller).
bool attribute_holds(const Node& node, const AttributeValue& actual, Cmp cmp,
                     const Value& expected) {
  switch (node.attribute_type) {
    case AttributeType::kText: {
      const auto* text = std::get_if<std::string>(&expected);
      return cmp == Cmp::kEq && text &&
             normalize::same_folded(std::get<std::string>(actual), *text);
    }
    case AttributeType::kEnum: {
      const auto* text = std::get_if<std::string>(&expected);
      return cmp == Cmp::kEq && text && std::get<std::string>(actual) == *text;
    }
    case AttributeType::kTagSet: {
      const auto* text = std::get_if<std::string>(&expected);
      if (cmp != Cmp::kEq || !text) return false;
      const auto& tags = std::get<std::vector<std::string>>(actual);
      return std::find(tags.begin(), tags.end(), *text) != tags.end();
    }
    default: {
      const auto* number = std::get_if<std::int64_t>(&expected);
      if (!number) return false;
      if (node.attribute_type == AttributeType::kBool && cmp != Cmp::kEq) return false;
      return holds(FieldValue{attribute_number(actual), std::nullopt}, cmp, expected);
    }
  }
}

bool matches_attribute(const Node& query, const Customer& customer) {
  const AttributeValue* actual = attribute_of(query, customer);
  switch (query.kind) {
    case Node::Kind::kCompare:
      if (query.cmp == Cmp::kNe)
        return !(actual && attribute_holds(query, *actual, Cmp::kEq, query.values.at(0)));
      return actual && attribute_holds(query, *actual, query.cmp, query.values.at(0));
    case Node::Kind::kIn:
      return actual && std::any_of(query.values.begin(), query.values.end(), [&](const Value& v) {
               return attribute_holds(query, *actual, Cmp::kEq, v);
             });
    case Node::Kind::kBetween:
      return actual && attribute_holds(query, *actual, Cmp::kGe, query.values.at(0)) &&
             attribute_holds(query, *actual, Cmp::kLe, query.values.at(1));
    default: return false;
  }
}

// Whether `link` (in canonical form) is of the node's type and has `customer` at the end the
// node asks for.
bool relation_matches(const Node& node, const Relationship& link, CustomerId customer) {
  if (link.type != node.rel_type) return false;
  if (node.rel_type == RelationType::kCustom &&
      !normalize::iequals(link.custom_type, node.custom_type))
    return false;
  switch (node.rel_end) {
    case RelationEnd::kEither: return link.from == customer || link.to == customer;
    case RelationEnd::kFrom: return link.from == customer;
    case RelationEnd::kTo: return link.to == customer;
  }
  return false;
}

// Whether one holding matches a holding condition (predicates on holding fields only; any
// other predicate is false, as a value of the wrong kind is).
bool holding_matches(const Node& q, const Holding& h) {
  // product_code is compared exactly, currency is stored upper case: no folding for either.
  auto value = [&] { return holding_value_of(q.field, h); };
  switch (q.kind) {
    case Node::Kind::kAnd:
      return std::all_of(q.children.begin(), q.children.end(),
                         [&](const Node& c) { return holding_matches(c, h); });
    case Node::Kind::kOr:
      return std::any_of(q.children.begin(), q.children.end(),
                         [&](const Node& c) { return holding_matches(c, h); });
    case Node::Kind::kNot: return !holding_matches(q.children.at(0), h);
    case Node::Kind::kCompare: {
      if (!is_holding_field(q.field)) return false;
      FieldValue actual = value();
      if (q.cmp == Cmp::kNe)
        return !(is_present(actual) && holds(actual, Cmp::kEq, q.values.at(0), true));
      return is_present(actual) && holds(actual, q.cmp, q.values.at(0), true);
    }
    case Node::Kind::kIn: {
      if (!is_holding_field(q.field)) return false;
      FieldValue actual = value();
      return is_present(actual) &&
             std::any_of(q.values.begin(), q.values.end(),
                         [&](const Value& v) { return holds(actual, Cmp::kEq, v, true); });
    }
    case Node::Kind::kBetween: {
      if (!is_holding_field(q.field)) return false;
      FieldValue actual = value();
      return is_present(actual) && holds(actual, Cmp::kGe, q.values.at(0), true) &&
             holds(actual, Cmp::kLe, q.values.at(1), true);
    }
    default: return false;
  }
}

// Whether holding h is of the node's product type (custom: the name, ASCII-case-insensitively).
bool product_matches(const Node& node, const Holding& h) {
  if (h.product_type != node.product_type) return false;
  return node.product_type != ProductType::kCustom ||
         normalize::iequals(h.custom_type, node.custom_type);
}

}  // namespace

bool matches(const Node& query, const Customer& customer, const EvalContext& context) {
  switch (query.kind) {
    case Node::Kind::kAnd:
      return std::all_of(query.children.begin(), query.children.end(),
                         [&](const Node& child) { return matches(child, customer, context); });
    case Node::Kind::kOr:
      return std::any_of(query.children.begin(), query.children.end(),
                         [&](const Node& child) { return matches(child, customer, context); });
    case Node::Kind::kNot: return !matches(query.children.at(0), customer, context);
    case Node::Kind::kCompare: {
      if (query.field == Field::kAttribute) return matches_attribute(query, customer);
      FieldValue actual = value_of(query.field, customer, context);
      const Value& expected = query.values.at(0);
      // `f != v` is exactly `not f = v`: true when f is absent.
      if (query.cmp == Cmp::kNe) return !(is_present(actual) && holds(actual, Cmp::kEq, expected));
      return is_present(actual) && holds(actual, query.cmp, expected);
    }
    case Node::Kind::kIn: {
      if (query.field == Field::kAttribute) return matches_attribute(query, customer);
      FieldValue actual = value_of(query.field, customer, context);
      return is_present(actual) &&
             std::any_of(query.values.begin(), query.values.end(),
                         [&](const Value& v) { return holds(actual, Cmp::kEq, v); });
    }
    case Node::Kind::kBetween: {
      if (query.field == Field::kAttribute) return matches_attribute(query, customer);
      FieldValue actual = value_of(query.field, customer, context);
      return is_present(actual) && holds(actual, Cmp::kGe, query.values.at(0)) &&
             holds(actual, Cmp::kLe, query.values.at(1));
    }
    case Node::Kind::kTag:
      return std::find(customer.tags.begin(), customer.tags.end(), query.tag) !=
             customer.tags.end();
    case Node::Kind::kRelated: {
      for (const auto& [relationship, other] : context.related(customer.id)) {
        if (!relation_matches(query, canonical(relationship), customer.id)) continue;
        if (query.children.empty() || matches(query.children[0], other, context)) return true;
      }
      return false;
    }
    case Node::Kind::kHolds: {
      if (!context.holdings) return false;
      for (const Holding& h : context.holdings(customer.id)) {
        if (h.status == HoldingStatus::kClosed || !product_matches(query, h)) continue;
        if (query.children.empty() || holding_matches(query.children[0], h)) return true;
      }
      return false;
    }
  }
  return false;
}

int age_on(Date birth_date, Date as_of) {
  std::chrono::year_month_day born{birth_date}, today{as_of};
  int years = static_cast<int>(today.year()) - static_cast<int>(born.year());
  bool birthday_not_reached =
      today.month() < born.month() || (today.month() == born.month() && today.day() < born.day());
  return birthday_not_reached ? years - 1 : years;
}

}  // namespace custdb::query
