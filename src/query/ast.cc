// Field names, the canonical printer and the builder.
#include <algorithm>
#include <array>
#include <limits>
#include <stdexcept>

#include "custdb/query.h"
#include "query/field_rules.h"
#include "util/enums.h"
#include "util/normalize.h"

namespace custdb::query {
namespace {

constexpr std::array<std::pair<Field, std::string_view>, 33> kFieldNames = {{
    {Field::kType, "type"},
    {Field::kTier, "tier"},
    {Field::kStage, "stage"},
    {Field::kRegion, "region"},
    {Field::kCity, "city"},
    {Field::kCountry, "country"},
    {Field::kGender, "gender"},
    {Field::kIncomeBand, "income_band"},
    {Field::kRisk, "risk"},
    {Field::kBirthDate, "birth_date"},
    {Field::kAge, "age"},
    {Field::kCreatedAt, "created_at"},
    {Field::kConsentEmail, "consent_email"},
    {Field::kConsentSms, "consent_sms"},
    {Field::kConsentPhone, "consent_phone"},
    {Field::kTxnCount, "txn_count"},
    {Field::kTotalAmount, "total_amount"},
    {Field::kFirstTxnAt, "first_txn_at"},
    {Field::kLastTxnAt, "last_txn_at"},
    {Field::kPAlive, "p_alive"},
    {Field::kExpectedPurchases, "expected_purchases"},
    {Field::kClv, "clv"},
    {Field::kRScore, "r_score"},
    {Field::kFScore, "f_score"},
    {Field::kMScore, "m_score"},
    {Field::kRecencyDays, "recency_days"},
    {Field::kTenureDays, "tenure_days"},
    {Field::kConsentProfiling, "consent_profiling"},
    {Field::kConsentSharing, "consent_sharing"},
    {Field::kAum, "aum"},
    {Field::kLiabilities, "liabilities"},
    {Field::kProducts, "products"},
    {Field::kFirstProductOn, "first_product_on"},
}};

// The holding fields, valid only inside holds() (holding_field_from_string).
constexpr std::array<std::pair<Field, std::string_view>, 5> kHoldingFieldNames = {{
    {Field::kHoldingBalance, "balance"},
    {Field::kHoldingStatus, "status"},
    {Field::kHoldingOpenedOn, "opened_on"},
    {Field::kHoldingProductCode, "product_code"},
    {Field::kHoldingCurrency, "currency"},
}};

// In declaration order, every customer field once (kAttribute, which has no name of its own,
// left out): the list an unknown-field error prints.
static_assert([] {
  for (std::size_t i = 0; i < kFieldNames.size(); ++i) {
    const std::size_t expected = i < 29 ? i : i + 1;  // kAttribute (29) has no entry
    if (static_cast<std::size_t>(kFieldNames[i].first) != expected) return false;
  }
  return kFieldNames.back().first == Field::kFirstProductOn;
}());

constexpr std::int64_t kMillisPerDay = 86'400'000;

// ---- printing ----

using field_rules::quote_if_needed;

std::string print_value(Field field, const Value& value, const ParseOptions& options) {
  if (const auto* text = std::get_if<std::string>(&value)) return quote_if_needed(*text);
  std::int64_t number = std::get<std::int64_t>(value);
  switch (kind_of(field)) {
    case FieldKind::kEnum: return std::string(field_rules::enum_name(field, number));
    case FieldKind::kText:
    case FieldKind::kInteger: return std::to_string(number);
    case FieldKind::kAmount: return field_rules::format_scaled(number, options.amount_decimals);
    case FieldKind::kDecimal: {
      std::string text = field_rules::format_scaled(number, 6);  // trailing zeros dropped: 0.3
      while (text.back() == '0') text.pop_back();
      if (text.back() == '.') text.pop_back();
      return text;
    }
    case FieldKind::kDate: return format_date(Date{std::chrono::days{number}});
    case FieldKind::kTimestamp: {
      Timestamp t{std::chrono::milliseconds{number}};
      // Midnight prints as a plain date, the way it is usually written.
      if (number % kMillisPerDay == 0) return format_date(std::chrono::floor<std::chrono::days>(t));
      return format_timestamp(t);
    }
  }
  return std::to_string(number);
}

// A custom attribute's value as the parser reads it back (see the Value comment in query.h).
std::string print_attribute_value(const Node& node, const Value& value,
                                  const ParseOptions& options) {
  if (const auto* text = std::get_if<std::string>(&value)) return quote_if_needed(*text);
  std::int64_t number = std::get<std::int64_t>(value);
  switch (node.attribute_type) {
    case AttributeType::kBool: return number != 0 ? "true" : "false";
    case AttributeType::kDecimal: return field_rules::format_scaled(number, node.attribute_scale);
    case AttributeType::kAmount: return field_rules::format_scaled(number, options.amount_decimals);
    case AttributeType::kDate: return format_date(Date{std::chrono::days{number}});
    case AttributeType::kTimestamp: {
      Timestamp t{std::chrono::milliseconds{number}};
      if (number % kMillisPerDay == 0) return format_date(std::chrono::floor<std::chrono::days>(t));
      return format_timestamp(t);
    }
    default: return std::to_string(number);
  }
}

// The predicate's left side: a built-in field's name or the attribute's.
std::string_view subject_of(const Node& node) {
  return node.field == Field::kAttribute ? std::string_view(node.attribute) : to_string(node.field);
}

std::string print_operand_value(const Node& node, const Value& value, const ParseOptions& options) {
  if (node.field == Field::kAttribute) return print_attribute_value(node, value, options);
  return print_value(node.field, value, options);
}

void print(const Node& node, const ParseOptions& options, std::string& out) {
  auto print_operand = [&](const Node& child, bool parenthesize) {
    if (parenthesize) out += '(';
    print(child, options, out);
    if (parenthesize) out += ')';
  };
  switch (node.kind) {
    case Node::Kind::kAnd:
    case Node::Kind::kOr: {
      bool is_and = node.kind == Node::Kind::kAnd;
      for (std::size_t i = 0; i < node.children.size(); ++i) {
        if (i > 0) out += is_and ? " and " : " or ";
        const Node& child = node.children[i];
        // `and` binds tighter than `or`: only an `or` inside an `and` needs parentheses.
        print_operand(child, is_and && child.kind == Node::Kind::kOr);
      }
      return;
    }
    case Node::Kind::kNot: {
      out += "not ";
      const Node& child = node.children.at(0);
      print_operand(child, child.kind == Node::Kind::kAnd || child.kind == Node::Kind::kOr);
      return;
    }
    case Node::Kind::kCompare:
      out += subject_of(node);
      out += ' ';
      out += to_string(node.cmp);
      out += ' ';
      out += print_operand_value(node, node.values.at(0), options);
      return;
    case Node::Kind::kIn:
      out += subject_of(node);
      out += " in (";
      for (std::size_t i = 0; i < node.values.size(); ++i) {
        if (i > 0) out += ", ";
        out += print_operand_value(node, node.values[i], options);
      }
      out += ')';
      return;
    case Node::Kind::kBetween:
      out += subject_of(node);
      out += " between ";
      out += print_operand_value(node, node.values.at(0), options);
      out += " and ";
      out += print_operand_value(node, node.values.at(1), options);
      return;
    case Node::Kind::kTag:
      out += "tag = ";
      out += quote_if_needed(node.tag);
      return;
    case Node::Kind::kRelated:
      out += "related(";
      out += field_rules::relation_text(node);
      if (!node.children.empty()) {
        out += ", ";
        print(node.children[0], options, out);
      }
      out += ')';
      return;
    case Node::Kind::kHolds:
      out += "holds(";
      out += field_rules::product_text(node);
      if (!node.children.empty()) {
        out += ", ";
        print(node.children[0], options, out);
      }
      out += ')';
      return;
  }
}

// ---- building ----

[[noreturn]] void misuse(std::string message) {
  throw std::invalid_argument("custdb::query builder: " + message);
}

template <class E>
bool field_takes(Field field) {
  return field_rules::with_enum_type(field, []<class F>(F) { return std::is_same_v<F, E>; })
      .value_or(false);
}

// The Value the parser would produce for the same operand written as text.
Value to_value(Field field, const Operand& operand) {
  if (field == Field::kAttribute)
    misuse("Field::kAttribute: use the overloads on a custom attribute's AttributeDef");
  std::string name(to_string(field));
  const auto& v = operand.value;
  switch (kind_of(field)) {
    case FieldKind::kEnum: {
      if (const auto* text = std::get_if<std::string>(&v)) {
        if (auto number = field_rules::enum_number(field, *text)) return *number;
        misuse("unknown " + name + " '" + *text + "'; expected one of " +
               field_rules::enum_names(field));
      }
      std::optional<std::int64_t> number = std::visit(
          [&]<class T>(const T& x) -> std::optional<std::int64_t> {
            if constexpr (std::is_enum_v<T>) {
              if (field_takes<T>(field)) return static_cast<std::int64_t>(x);
            }
            return std::nullopt;
          },
          v);
      if (!number)
        misuse(name + " takes its own enum type or one of " + field_rules::enum_names(field));
      return *number;
    }
    case FieldKind::kText: {
      const auto* text = std::get_if<std::string>(&v);
      if (!text) misuse(name + " takes text");
      auto normalized = field_rules::normalize_text(field, *text);
      if (!normalized)
        misuse("expected " + field_rules::text_expectation(field) + ", got '" + *text + "'");
      return *normalized;
    }
    case FieldKind::kInteger: {
      const auto* number = std::get_if<std::int64_t>(&v);
      if (!number) misuse(name + " takes an integer");
      if (auto violation = field_rules::integer_range_violation(field, *number))
        misuse("expected " + *violation + ", got " + std::to_string(*number));
      return *number;
    }
    case FieldKind::kAmount: {
      const auto* amount = std::get_if<Amount>(&v);
      if (!amount) misuse(name + " takes query::Amount{minor units}");
      return amount->minor_units;
    }
    case FieldKind::kDecimal: {
      const auto* decimal = std::get_if<Decimal>(&v);
      if (!decimal) misuse(name + " takes query::Decimal{millionths}");
      return decimal->millionths;
    }
    case FieldKind::kDate: {
      const auto* date = std::get_if<Date>(&v);
      if (!date) misuse(name + " takes a Date");
      return static_cast<std::int64_t>(date->time_since_epoch().count());
    }
    case FieldKind::kTimestamp: {
      if (const auto* date = std::get_if<Date>(&v))
        return std::chrono::time_point_cast<std::chrono::milliseconds>(*date)
            .time_since_epoch()
            .count();
      const auto* timestamp = std::get_if<Timestamp>(&v);
      if (!timestamp) misuse(name + " takes a Timestamp or a Date");
      return timestamp->time_since_epoch().count();
    }
  }
  misuse("invalid field");
}

Node compare(Field field, Cmp cmp, const Operand& operand) {
  if (cmp != Cmp::kEq && cmp != Cmp::kNe && !is_ordered(field))
    misuse(std::string(to_string(field)) + " takes only =, != and in, not " +
           std::string(to_string(cmp)));
  Node node;
  node.kind = Node::Kind::kCompare;
  node.field = field;
  node.cmp = cmp;
  node.values.push_back(to_value(field, operand));
  return node;
}

Node combine(Node::Kind kind, std::vector<Node> operands) {
  if (operands.empty()) misuse("all_of/any_of need at least one operand");
  if (operands.size() == 1) return std::move(operands[0]);
  Node node;
  node.kind = kind;
  for (Node& operand : operands) {
    if (operand.kind == kind) {
      for (Node& grandchild : operand.children) node.children.push_back(std::move(grandchild));
    } else {
      node.children.push_back(std::move(operand));
    }
  }
  return node;
}

}  // namespace

namespace field_rules {
std::span<const std::pair<Field, std::string_view>> field_names() { return kFieldNames; }
}  // namespace field_rules

std::string_view to_string(Field field) {
  for (const auto& [f, name] : kFieldNames)
    if (f == field) return name;
  for (const auto& [f, name] : kHoldingFieldNames)
    if (f == field) return name;
  return "invalid";
}

std::optional<Field> field_from_string(std::string_view name) {
  for (const auto& [field, n] : kFieldNames)
    if (normalize::iequals(n, name)) return field;
  return std::nullopt;
}

FieldKind kind_of(Field field) {
  switch (field) {
    case Field::kType:
    case Field::kTier:
    case Field::kStage:
    case Field::kGender:
    case Field::kRisk:
    case Field::kConsentEmail:
    case Field::kConsentSms:
    case Field::kConsentPhone:
    case Field::kConsentProfiling:
    case Field::kConsentSharing: return FieldKind::kEnum;
    case Field::kRegion:
    case Field::kCity:
    case Field::kCountry: return FieldKind::kText;
    case Field::kIncomeBand:
    case Field::kAge:
    case Field::kTxnCount:
    case Field::kRScore:
    case Field::kFScore:
    case Field::kMScore:
    case Field::kRecencyDays:
    case Field::kTenureDays: return FieldKind::kInteger;
    case Field::kProducts: return FieldKind::kInteger;
    case Field::kTotalAmount:
    case Field::kAum:
    case Field::kLiabilities:
    case Field::kHoldingBalance:
    case Field::kClv: return FieldKind::kAmount;
    case Field::kHoldingStatus: return FieldKind::kEnum;
    case Field::kHoldingProductCode:
    case Field::kHoldingCurrency: return FieldKind::kText;
    case Field::kFirstProductOn:
    case Field::kHoldingOpenedOn: return FieldKind::kDate;
    case Field::kPAlive:
    case Field::kExpectedPurchases: return FieldKind::kDecimal;
    case Field::kBirthDate: return FieldKind::kDate;
    case Field::kCreatedAt:
    case Field::kFirstTxnAt:
    case Field::kLastTxnAt: return FieldKind::kTimestamp;
    case Field::kAttribute: return FieldKind::kText;  // TODO(owner C, #17): by the node's type
  }
  return FieldKind::kInteger;
}

bool is_ordered(Field field) {
  switch (kind_of(field)) {
    case FieldKind::kEnum: return field == Field::kTier || field == Field::kRisk;
    case FieldKind::kText: return false;
    default: return true;
  }
}

std::string_view to_string(Cmp cmp) {
  switch (cmp) {
    case Cmp::kEq: return "=";
    case Cmp::kNe: return "!=";
    case Cmp::kLt: return "<";
    case Cmp::kLe: return "<=";
    case Cmp::kGt: return ">";
    case Cmp::kGe: return ">=";
  }
  return "?";
}

std::string Node::to_string(const ParseOptions& options) const {
  std::string out;
  print(*this, options, out);
  return out;
}

Node eq(Field field, Operand value) { return compare(field, Cmp::kEq, value); }
Node ne(Field field, Operand value) { return compare(field, Cmp::kNe, value); }
Node lt(Field field, Operand value) { return compare(field, Cmp::kLt, value); }
Node le(Field field, Operand value) { return compare(field, Cmp::kLe, value); }
Node gt(Field field, Operand value) { return compare(field, Cmp::kGt, value); }
Node ge(Field field, Operand value) { return compare(field, Cmp::kGe, value); }

Node in(Field field, std::initializer_list<Operand> values) {
  if (values.size() == 0) misuse("in() needs at least one value");
  Node node;
  node.kind = Node::Kind::kIn;
  node.field = field;
  for (const Operand& value : values) node.values.push_back(to_value(field, value));
  return node;
}

Node between(Field field, Operand low, Operand high) {
  if (!is_ordered(field)) misuse(std::string(to_string(field)) + " has no order for between");
  Node node;
  node.kind = Node::Kind::kBetween;
  node.field = field;
  node.values = {to_value(field, low), to_value(field, high)};
  return node;
}

// ---- the builder on custom attributes ----
namespace {

// The Value the parser would produce for `operand` written as text for `def`.
Value attribute_value(const AttributeDef& def, const Operand& operand) {
  const auto& v = operand.value;
  const std::string& name = def.name;
  auto refuse = [&](std::string_view takes) -> Value {
    misuse(name + " (a " + std::string(to_string(def.type)) + " attribute) takes " +
           std::string(takes));
  };
  switch (def.type) {
    case AttributeType::kText:
    case AttributeType::kEnum:
    case AttributeType::kTagSet:
    case AttributeType::kBool: {
      if (def.type == AttributeType::kBool) {
        if (const auto* number = std::get_if<std::int64_t>(&v)) {
          if (*number != 0 && *number != 1) misuse(name + " takes 0 or 1 (false or true)");
          return *number;
        }
      }
      const auto* text = std::get_if<std::string>(&v);
      if (!text) return refuse(def.type == AttributeType::kBool ? "\"true\", \"false\", 0 or 1" : "text");
      auto value = field_rules::attribute_text_value(def, *text);
      if (!value)
        misuse("expected " + field_rules::attribute_expectation(def, 2) + " for " + name +
               ", got '" + *text + "'");
      return *value;
    }
    case AttributeType::kInteger: {
      const auto* number = std::get_if<std::int64_t>(&v);
      if (!number) return refuse("an integer");
      return *number;
    }
    case AttributeType::kDecimal: {
      const auto* decimal = std::get_if<Decimal>(&v);
      if (!decimal) return refuse("query::Decimal{millionths}");
      const int scale = std::clamp(def.scale, 0, kMaxDecimalScale);
      std::int64_t value = decimal->millionths;
      if (scale <= 6) {
        std::int64_t divisor = 1;
        for (int i = scale; i < 6; ++i) divisor *= 10;
        if (value % divisor != 0)
          misuse(name + " has " + std::to_string(scale) + " decimal places; Decimal{" +
                 std::to_string(value) + "} has more");
        return value / divisor;
      }
      for (int i = 6; i < scale; ++i) {
        if (value > std::numeric_limits<std::int64_t>::max() / 10 ||
            value < std::numeric_limits<std::int64_t>::min() / 10)
          misuse(name + ": Decimal out of range");
        value *= 10;
      }
      return value;
    }
    case AttributeType::kAmount: {
      const auto* amount = std::get_if<Amount>(&v);
      if (!amount) return refuse("query::Amount{minor units}");
      if (amount->minor_units > kMaxAmount || amount->minor_units < -kMaxAmount)
        misuse(name + ": an amount beyond kMaxAmount");
      return amount->minor_units;
    }
    case AttributeType::kDate: {
      const auto* date = std::get_if<Date>(&v);
      if (!date) return refuse("a Date");
      return static_cast<std::int64_t>(date->time_since_epoch().count());
    }
    case AttributeType::kTimestamp: {
      if (const auto* date = std::get_if<Date>(&v))
        return std::chrono::time_point_cast<std::chrono::milliseconds>(*date)
            .time_since_epoch()
            .count();
      const auto* timestamp = std::get_if<Timestamp>(&v);
      if (!timestamp) return refuse("a Timestamp or a Date");
      return timestamp->time_since_epoch().count();
    }
  }
  misuse("invalid attribute type");
}

Node attribute_node(const AttributeDef& def, Node::Kind kind) {
  if (def.table != AttributeTable::kCustomers)
    misuse("attribute " + def.name + " is a transactions attribute: not in the segment language");
  if (def.dropping) misuse("attribute " + def.name + " is being dropped");
  if (def.name.empty()) misuse("an attribute without a name");
  Node node;
  node.kind = kind;
  node.field = Field::kAttribute;
  node.attribute = normalize::lower(def.name);
  node.attribute_type = def.type;
  node.attribute_scale = def.type == AttributeType::kDecimal ? def.scale : 0;
  return node;
}

Node attribute_compare(const AttributeDef& def, Cmp cmp, const Operand& operand) {
  if (!field_rules::attribute_takes(def.type, cmp))
    misuse(def.name + " (a " + std::string(to_string(def.type)) + " attribute) does not take " +
           std::string(to_string(cmp)));
  Node node = attribute_node(def, Node::Kind::kCompare);
  node.cmp = cmp;
  node.values.push_back(attribute_value(def, operand));
  return node;
}

}  // namespace

Node eq(const AttributeDef& a, Operand v) { return attribute_compare(a, Cmp::kEq, v); }
Node ne(const AttributeDef& a, Operand v) { return attribute_compare(a, Cmp::kNe, v); }
Node lt(const AttributeDef& a, Operand v) { return attribute_compare(a, Cmp::kLt, v); }
Node le(const AttributeDef& a, Operand v) { return attribute_compare(a, Cmp::kLe, v); }
Node gt(const AttributeDef& a, Operand v) { return attribute_compare(a, Cmp::kGt, v); }
Node ge(const AttributeDef& a, Operand v) { return attribute_compare(a, Cmp::kGe, v); }
Node in(const AttributeDef& a, std::initializer_list<Operand> values) {
  if (values.size() == 0) misuse("in() needs at least one value");
  Node node = attribute_node(a, Node::Kind::kIn);
  for (const Operand& value : values) node.values.push_back(attribute_value(a, value));
  return node;
}
Node between(const AttributeDef& a, Operand low, Operand high) {
  if (!field_rules::attribute_ordered(a.type))
    misuse(a.name + " (a " + std::string(to_string(a.type)) + " attribute) has no order for between");
  Node node = attribute_node(a, Node::Kind::kBetween);
  node.values = {attribute_value(a, low), attribute_value(a, high)};
  return node;
}

Node tag(std::string_view name) {
  auto normalized = field_rules::normalize_tag(name);
  if (!normalized) misuse("tag() needs a non-empty tag");
  Node node;
  node.kind = Node::Kind::kTag;
  node.tag = std::move(*normalized);
  return node;
}

Node related(RelationType type, std::optional<Node> subquery) {
  if (type == RelationType::kCustom) misuse("related(kCustom): use related_custom(name)");
  if (!enums::is_valid(type)) misuse("related(): not a relation type");
  Node node;
  node.kind = Node::Kind::kRelated;
  node.rel_type = canonical(Relationship{.type = type}).type;
  if (subquery) node.children.push_back(std::move(*subquery));
  return node;
}

Node related_as(RelationType role, std::optional<Node> subquery) {
  if (role == RelationType::kCustom) misuse("related_as(kCustom): custom types have no direction here");
  Node node = related(role, std::move(subquery));
  if (!is_symmetric(role))
    node.rel_end = is_canonical(role) ? RelationEnd::kFrom : RelationEnd::kTo;
  return node;
}

Node related_custom(std::string_view name, std::optional<Node> subquery) {
  auto relation = field_rules::relation_from_name(name);
  if (!relation || relation->type != RelationType::kCustom)
    misuse("related_custom('" + std::string(name) + "'): not a custom type name");
  Node node;
  node.kind = Node::Kind::kRelated;
  node.rel_type = RelationType::kCustom;
  node.custom_type = std::move(relation->custom_type);
  if (subquery) node.children.push_back(std::move(*subquery));
  return node;
}

Node all_of(std::vector<Node> operands) { return combine(Node::Kind::kAnd, std::move(operands)); }
Node any_of(std::vector<Node> operands) { return combine(Node::Kind::kOr, std::move(operands)); }

Node negate(Node operand) {
  Node node;
  node.kind = Node::Kind::kNot;
  node.children.push_back(std::move(operand));
  return node;
}

}  // namespace custdb::query

// ---- holdings (format 6) ----
namespace custdb::query {

std::optional<Field> holding_field_from_string(std::string_view name) {
  for (const auto& [field, n] : kHoldingFieldNames)
    if (normalize::iequals(n, name)) return field;
  return std::nullopt;
}

bool is_holding_field(Field field) {
  return field == Field::kHoldingBalance || field == Field::kHoldingStatus ||
         field == Field::kHoldingOpenedOn || field == Field::kHoldingProductCode ||
         field == Field::kHoldingCurrency;
}

namespace {

// Whether every predicate of a holding condition names a holding field (and no tag, related or
// holds): what holds() accepts as its condition.
bool holding_condition_ok(const Node& n, std::string& why) {
  switch (n.kind) {
    case Node::Kind::kAnd:
    case Node::Kind::kOr:
    case Node::Kind::kNot:
      for (const Node& c : n.children)
        if (!holding_condition_ok(c, why)) return false;
      return true;
    case Node::Kind::kCompare:
    case Node::Kind::kIn:
    case Node::Kind::kBetween:
      if (is_holding_field(n.field)) return true;
      why = n.field == Field::kAttribute ? "attribute " + n.attribute
                                         : std::string(to_string(n.field));
      why += " is a customer field";
      return false;
    case Node::Kind::kTag: why = "tag is a customer condition"; return false;
    case Node::Kind::kRelated: why = "related() is a customer condition"; return false;
    case Node::Kind::kHolds: why = "holds() does not nest"; return false;
  }
  return false;
}

Node holds_node(ProductType type, std::string custom, std::optional<Node> condition) {
  Node node;
  node.kind = Node::Kind::kHolds;
  node.product_type = type;
  node.custom_type = std::move(custom);
  if (condition) {
    std::string why;
    if (!holding_condition_ok(*condition, why))
      misuse("holds(): the condition takes holding fields only (balance, status, opened_on, "
             "product_code, currency): " + why);
    node.children.push_back(std::move(*condition));
  }
  return node;
}

}  // namespace

Node holds(ProductType type, std::optional<Node> condition) {
  if (type == ProductType::kCustom) misuse("holds(kCustom): use holds_custom(name)");
  if (!enums::is_valid(type)) misuse("holds(): not a product type");
  return holds_node(type, {}, std::move(condition));
}

Node holds_custom(std::string_view name, std::optional<Node> condition) {
  auto product = field_rules::product_from_name(name);
  if (!product || product->first != ProductType::kCustom)
    misuse("holds_custom('" + std::string(name) + "'): not a custom product type name");
  return holds_node(ProductType::kCustom, std::move(product->second), std::move(condition));
}

}  // namespace custdb::query
