#include "query/field_rules.h"

#include <algorithm>
#include <limits>

#include "util/enums.h"
#include "util/normalize.h"

namespace custdb::query::field_rules {
namespace {

char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

bool is_word_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool is_word_char(char c) { return is_word_start(c) || (c >= '0' && c <= '9') || c == '-'; }

template <class E>
std::optional<std::int64_t> number_of(std::string_view name) {
  auto value = from_string<E>(name);
  if (!value) return std::nullopt;
  return static_cast<std::int64_t>(*value);
}

template <class E>
std::string_view name_of(std::int64_t number) {
  if (number < 0 || number > 255) return "invalid";
  return custdb::to_string(static_cast<E>(number));
}

template <class E>
std::string names_of() {
  std::string out;
  for (const auto& [value, name] : enums::Table<E>::rows) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

}  // namespace

bool is_keyword(std::string_view word) {
  for (std::string_view keyword : {"and", "or", "not", "in", "between", "tag", "related", "holds"})
    if (normalize::iequals(word, keyword)) return true;
  return false;
}

bool is_bare_word(std::string_view text) {
  return !text.empty() && is_word_start(text[0]) &&
         std::all_of(text.begin(), text.end(), is_word_char) && !is_keyword(text);
}

std::optional<std::int64_t> enum_number(Field field, std::string_view name) {
  return with_enum_type(field, [&]<class E>(E) { return number_of<E>(name); })
      .value_or(std::nullopt);
}

std::string_view enum_name(Field field, std::int64_t number) {
  return with_enum_type(field, [&]<class E>(E) { return name_of<E>(number); })
      .value_or(std::string_view("invalid"));
}

std::string enum_names(Field field) {
  return with_enum_type(field, []<class E>(E) { return names_of<E>(); }).value_or(std::string());
}

int enum_max(Field field) {
  return with_enum_type(field, []<class E>(E) { return enums::max_value<E>(); }).value_or(-1);
}

std::optional<std::string> normalize_text(Field field, std::string_view text) {
  if (field == Field::kHoldingProductCode) {
    // Compared exactly (the stored product code's bytes); at most 64 bytes as stored ones.
    if (text.empty() || text.size() > 64) return std::nullopt;
    return std::string(text);
  }
  if (field == Field::kHoldingCurrency) {
    std::string value = normalize::trim(text);
    std::transform(value.begin(), value.end(), value.begin(), upper);
    if (value.size() != 3 ||
        !std::all_of(value.begin(), value.end(), [](char c) { return c >= 'A' && c <= 'Z'; }))
      return std::nullopt;
    return value;
  }
  if (field != Field::kCountry) {
    std::string folded = normalize::fold(text);
    if (folded.empty()) return std::nullopt;
    return folded;
  }
  std::string value = normalize::trim(text);
  std::transform(value.begin(), value.end(), value.begin(), upper);
  bool letters =
      std::all_of(value.begin(), value.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
  if (value.size() != 2 || !letters) return std::nullopt;
  return value;
}

std::string text_expectation(Field field) {
  if (field == Field::kCountry) return "a 2-letter country code (ISO 3166-1 alpha-2) for country";
  if (field == Field::kHoldingCurrency) return "a 3-letter currency code (ISO 4217) for currency";
  if (field == Field::kHoldingProductCode)
    return "a non-empty product_code of at most 64 bytes (a word or 'quoted text')";
  return "a non-empty " + std::string(to_string(field)) + " (a word or 'quoted text')";
}

std::optional<std::string> integer_range_violation(Field field, std::int64_t value) {
  std::string name(to_string(field));
  if (field == Field::kIncomeBand && (value < 1 || value > 10))
    return "an income_band from 1 to 10";
  if ((field == Field::kRScore || field == Field::kFScore || field == Field::kMScore) &&
      (value < 1 || value > 5))
    return "a " + name + " from 1 to 5";
  if (field == Field::kRecencyDays || field == Field::kTenureDays) return std::nullopt;  // any day
  if (value < 0) return "a " + name + " of 0 or more";
  return std::nullopt;
}

NumberError parse_scaled(std::string_view text, int decimals, std::int64_t& out) {
  bool negative = !text.empty() && text[0] == '-';
  if (negative) text.remove_prefix(1);
  auto dot = text.find('.');
  std::string_view whole = text.substr(0, dot);
  std::string_view fraction = dot == std::string_view::npos ? "" : text.substr(dot + 1);
  auto all_digits = [](std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (!all_digits(whole) || (dot != std::string_view::npos && !all_digits(fraction)))
    return NumberError::kSyntax;
  if (fraction.size() > static_cast<std::size_t>(std::max(decimals, 0)))
    return NumberError::kTooManyDecimals;

  // Accumulate the magnitude, padded with zeros to `decimals` fraction digits, in unsigned
  // arithmetic so that the most negative int64 is reachable.
  const std::uint64_t limit =
      static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + (negative ? 1 : 0);
  std::uint64_t magnitude = 0;
  auto push = [&](unsigned digit) {
    if (magnitude > (limit - digit) / 10) return false;
    magnitude = magnitude * 10 + digit;
    return true;
  };
  for (char c : whole)
    if (!push(static_cast<unsigned>(c - '0'))) return NumberError::kOutOfRange;
  for (int i = 0; i < decimals; ++i) {
    unsigned digit = static_cast<std::size_t>(i) < fraction.size()
                         ? static_cast<unsigned>(fraction[static_cast<std::size_t>(i)] - '0')
                         : 0;
    if (!push(digit)) return NumberError::kOutOfRange;
  }
  out = negative ? static_cast<std::int64_t>(0 - magnitude) : static_cast<std::int64_t>(magnitude);
  return NumberError::kNone;
}

std::string format_scaled(std::int64_t value, int decimals) {
  decimals = std::clamp(decimals, 0, 18);
  std::uint64_t magnitude =
      value < 0 ? 0 - static_cast<std::uint64_t>(value) : static_cast<std::uint64_t>(value);
  std::string digits = std::to_string(magnitude);
  if (digits.size() <= static_cast<std::size_t>(decimals))
    digits.insert(0, static_cast<std::size_t>(decimals) + 1 - digits.size(), '0');
  if (decimals > 0) digits.insert(digits.size() - static_cast<std::size_t>(decimals), ".");
  return value < 0 ? "-" + digits : digits;
}

std::optional<std::string> normalize_tag(std::string_view text) {
  // The fold tags are stored in (normalize::tag): "Ärzte" finds "ärzte".
  std::string value = normalize::fold(text);
  if (value.empty()) return std::nullopt;
  return value;
}

std::string quote_if_needed(std::string_view text) {
  if (is_bare_word(text)) return std::string(text);
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::optional<Relation> relation_from_name(std::string_view text) {
  std::string name = normalize::lower(normalize::trim_view(text));
  if (name.empty()) return std::nullopt;
  auto type = from_string<RelationType>(name);
  if (type == RelationType::kCustom) return std::nullopt;
  if (type) return Relation{canonical(Relationship{.type = *type}).type, {}, RelationEnd::kEither};
  if (name.size() > 3 && name.ends_with("_of")) {
    auto role = from_string<RelationType>(std::string_view(name).substr(0, name.size() - 3));
    if (role == RelationType::kCustom) return std::nullopt;
    if (role) {
      if (is_symmetric(*role)) return Relation{*role, {}, RelationEnd::kEither};
      if (is_canonical(*role)) return Relation{*role, {}, RelationEnd::kFrom};
      return Relation{inverse_of(*role), {}, RelationEnd::kTo};
    }
  }
  return Relation{RelationType::kCustom, std::move(name), RelationEnd::kEither};
}

std::string relation_text(const Node& node) {
  if (node.rel_type == RelationType::kCustom) return quote_if_needed(node.custom_type);
  switch (node.rel_end) {
    case RelationEnd::kEither: return std::string(to_string(node.rel_type));
    case RelationEnd::kFrom: return std::string(to_string(node.rel_type)) + "_of";
    case RelationEnd::kTo: return std::string(to_string(inverse_of(node.rel_type))) + "_of";
  }
  return "invalid";
}

std::string relation_names() {
  std::string out;
  for (const auto& [type, name] : enums::Table<RelationType>::rows) {
    if (type == RelationType::kCustom || to_string(type) != name) continue;  // aliases
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

std::optional<std::pair<ProductType, std::string>> product_from_name(std::string_view text) {
  std::string name = normalize::lower(normalize::trim_view(text));
  if (name.empty()) return std::nullopt;
  auto type = from_string<ProductType>(name);
  if (type == ProductType::kCustom) return std::nullopt;
  if (type) return std::pair{*type, std::string()};
  return std::pair{ProductType::kCustom, std::move(name)};
}

std::string product_text(const Node& node) {
  if (node.product_type == ProductType::kCustom) return quote_if_needed(node.custom_type);
  return std::string(to_string(node.product_type));
}

std::string product_names() {
  std::string out;
  for (const auto& [type, name] : enums::Table<ProductType>::rows) {
    if (type == ProductType::kCustom) continue;
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

bool attribute_ordered(AttributeType type) {
  switch (type) {
    case AttributeType::kInteger:
    case AttributeType::kDecimal:
    case AttributeType::kAmount:
    case AttributeType::kDate:
    case AttributeType::kTimestamp: return true;
    case AttributeType::kText:
    case AttributeType::kEnum:
    case AttributeType::kBool:
    case AttributeType::kTagSet: return false;
  }
  return false;
}

bool attribute_takes(AttributeType type, Cmp cmp) {
  if (cmp == Cmp::kEq) return true;
  if (cmp == Cmp::kNe) return type != AttributeType::kTagSet;
  return attribute_ordered(type);
}

FieldKind attribute_kind(AttributeType type) {
  switch (type) {
    case AttributeType::kText:
    case AttributeType::kEnum:
    case AttributeType::kTagSet: return FieldKind::kText;
    case AttributeType::kInteger:
    case AttributeType::kBool: return FieldKind::kInteger;
    case AttributeType::kDecimal: return FieldKind::kDecimal;
    case AttributeType::kAmount: return FieldKind::kAmount;
    case AttributeType::kDate: return FieldKind::kDate;
    case AttributeType::kTimestamp: return FieldKind::kTimestamp;
  }
  return FieldKind::kText;
}

namespace {
std::string joined(const std::vector<std::string>& values) {
  std::string out;
  for (const std::string& v : values) {
    if (!out.empty()) out += ", ";
    out += v;
  }
  return out;
}
}  // namespace

std::string attribute_expectation(const AttributeDef& def, int amount_decimals) {
  switch (def.type) {
    case AttributeType::kText:
      return "a non-empty text of at most " + std::to_string(kMaxAttributeTextBytes) +
             " bytes (a word or 'quoted text')";
    case AttributeType::kEnum: return "one of " + joined(def.values);
    case AttributeType::kTagSet:
      if (def.values.empty()) return "a non-empty tag (a word or 'quoted text')";
      return "one of the declared tags " + joined(def.values);
    case AttributeType::kBool: return "true or false";
    case AttributeType::kInteger: return "an integer";
    case AttributeType::kDecimal:
      return def.scale == 0 ? std::string("a whole number")
                            : "a number with at most " + std::to_string(def.scale) +
                                  " decimal places";
    case AttributeType::kAmount:
      return "an amount (a number like " + std::string(amount_decimals > 0 ? "1000.50" : "1000") +
             ", at most " + std::to_string(amount_decimals) + " decimal places)";
    case AttributeType::kDate: return "a date (YYYY-MM-DD, years 1800 to 2200)";
    case AttributeType::kTimestamp: return "a date (YYYY-MM-DD) or timestamp";
  }
  return "a value";
}

std::optional<Value> attribute_text_value(const AttributeDef& def, std::string_view text) {
  switch (def.type) {
    case AttributeType::kText: {
      std::string folded = normalize::fold(text);
      if (folded.empty() || normalize::trim_view(text).size() > kMaxAttributeTextBytes)
        return std::nullopt;
      return Value(std::move(folded));
    }
    case AttributeType::kEnum: {
      std::string_view word = normalize::trim_view(text);
      for (const std::string& v : def.values)
        if (normalize::iequals(v, word)) return Value(v);
      return std::nullopt;
    }
    case AttributeType::kTagSet: {
      auto tag = normalize_tag(text);
      if (!tag || tag->size() > kMaxTagSetTagBytes) return std::nullopt;
      if (!def.values.empty()) {
        bool declared = false;
        for (const std::string& v : def.values) declared |= normalize::same_folded(v, *tag);
        if (!declared) return std::nullopt;
      }
      return Value(std::move(*tag));
    }
    case AttributeType::kBool: {
      std::string_view word = normalize::trim_view(text);
      if (normalize::iequals(word, "true")) return Value(std::int64_t{1});
      if (normalize::iequals(word, "false")) return Value(std::int64_t{0});
      return std::nullopt;
    }
    default: return std::nullopt;
  }
}

NumberError attribute_number_value(const AttributeDef& def, std::string_view text,
                                   int amount_decimals, std::int64_t& out) {
  switch (def.type) {
    case AttributeType::kInteger: return parse_scaled(text, 0, out);
    case AttributeType::kDecimal: return parse_scaled(text, std::clamp(def.scale, 0, 18), out);
    case AttributeType::kAmount: {
      NumberError e = parse_scaled(text, amount_decimals, out);
      if (e == NumberError::kNone && (out > kMaxAmount || out < -kMaxAmount))
        return NumberError::kOutOfRange;
      return e;
    }
    default: return NumberError::kSyntax;
  }
}

std::vector<std::string> attribute_names(const Schema* schema) {
  std::vector<std::string> out;
  if (!schema) return out;
  for (const AttributeDef& a : schema->attributes)
    if (!a.dropping && a.table == AttributeTable::kCustomers) out.push_back(a.name);
  return out;
}

}  // namespace custdb::query::field_rules
