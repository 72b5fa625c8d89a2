// The per-field value rules shared by the parser and the builder, so both normalize and reject
// exactly the same values: enum names, text normalization, integer ranges, amounts, names of
// relation types. Internal to src/query. (Not the analytics tier/stage rules of
// custdb/analytics.h: these are rules on query operands.) Trimming, case folding and ASCII
// case-insensitive comparison are util/normalize.h's.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "custdb/query.h"

namespace custdb::query::field_rules {

// Limits recursion over user-supplied text (parser, printer, evaluator all recurse on depth).
inline constexpr int kMaxDepth = 100;

// Whether `text` prints bare (a bare word that is no keyword); otherwise it needs quotes.
bool is_bare_word(std::string_view text);
// `text` bare if it can be, else in quotes with '' for a quote inside.
std::string quote_if_needed(std::string_view text);
bool is_keyword(std::string_view word);

// Every field with its query-language name, in declaration order: stored attributes and the
// derived ones (age, the transaction aggregates, the scores, recency and tenure) alike.
std::span<const std::pair<Field, std::string_view>> field_names();

// ---- enums (fields of FieldKind::kEnum) ----
// The one map from a field to its enum: fn(E{}) for a field whose values are the enum E,
// nullopt for every other field. No default: a new field must say here whether it is an enum
// (-Wswitch names a forgotten one).
template <class Fn>
auto with_enum_type(Field field, Fn fn) -> std::optional<decltype(fn(Tier{}))> {
  switch (field) {
    case Field::kType: return fn(CustomerType{});
    case Field::kTier: return fn(Tier{});
    case Field::kStage: return fn(Stage{});
    case Field::kGender: return fn(Gender{});
    case Field::kRisk: return fn(Risk{});
    case Field::kConsentEmail:
    case Field::kConsentSms:
    case Field::kConsentPhone:
    case Field::kConsentProfiling:
    case Field::kConsentSharing: return fn(ConsentState{});
    case Field::kRegion: case Field::kCity: case Field::kCountry: case Field::kIncomeBand:
    case Field::kBirthDate: case Field::kAge: case Field::kCreatedAt: case Field::kTxnCount:
    case Field::kTotalAmount: case Field::kFirstTxnAt: case Field::kLastTxnAt:
    case Field::kPAlive: case Field::kExpectedPurchases: case Field::kClv: case Field::kRScore:
    case Field::kFScore: case Field::kMScore: case Field::kRecencyDays:
    case Field::kTenureDays: case Field::kAttribute: return std::nullopt;
    case Field::kHoldingStatus: return fn(HoldingStatus{});
    case Field::kAum: case Field::kLiabilities: case Field::kProducts:
    case Field::kFirstProductOn: case Field::kHoldingBalance: case Field::kHoldingOpenedOn:
    case Field::kHoldingProductCode: case Field::kHoldingCurrency: return std::nullopt;
  }
  return std::nullopt;
}
// The largest number of an enum field, whose values are 0..enum_max (util/enums.h); -1 for
// other fields.
int enum_max(Field field);
// The field's enum number for a case-insensitive name.
std::optional<std::int64_t> enum_number(Field field, std::string_view name);
std::string_view enum_name(Field field, std::int64_t number);  // "invalid" if none
// "bronze, silver, gold, platinum, diamond", for error messages.
std::string enum_names(Field field);

// ---- text (FieldKind::kText) ----
// The normalized value, or nullopt if the text is not acceptable for the field: region and city
// normalize::fold()ed (the segment index's key), country trimmed and upper-cased.
std::optional<std::string> normalize_text(Field field, std::string_view text);
// What normalize_text accepts, after "expected ": "a non-empty region", ...
std::string text_expectation(Field field);

// ---- integers (FieldKind::kInteger) ----
// After "expected " when `value` is out of the field's range; nullopt when in range.
std::optional<std::string> integer_range_violation(Field field, std::int64_t value);

// ---- numbers in text: -?digits[.digits] ----
enum class NumberError { kNone, kSyntax, kTooManyDecimals, kOutOfRange };
// The number scaled by 10^decimals, exactly: ("1000.5", 2) -> 100050.
NumberError parse_scaled(std::string_view text, int decimals, std::int64_t& out);
std::string format_scaled(std::int64_t value, int decimals);

// ---- tags and relation types ----
std::optional<std::string> normalize_tag(std::string_view text);
// What a reltype word names: a built-in type held as the canonical one of its pair (custom
// name empty), with the end `name_of` asks for (kEither for a plain name), or {kCustom,
// lower-cased name, kEither}.
struct Relation {
  RelationType type = RelationType::kHousehold;
  std::string custom_type;
  RelationEnd end = RelationEnd::kEither;
};
// nullopt for empty text and for "custom" (and "custom_of"), which name no type.
std::optional<Relation> relation_from_name(std::string_view text);
// The reltype word of a kRelated node: "employer", "employee_of", "'my type'".
std::string relation_text(const Node& node);
// "household, spouse, parent, child, ..., beneficiary, benefactor" (no input aliases).
std::string relation_names();

// ---- product types (holds()) ----
// What a product_type word names: a built-in type (custom name empty; "wealth" is fund) or
// {kCustom, trimmed lower-cased name}. nullopt for empty text and for "custom".
std::optional<std::pair<ProductType, std::string>> product_from_name(std::string_view text);
// The product_type word of a kHolds node: "mortgage", "'my type'".
std::string product_text(const Node& node);
// "deposit, savings, ..., mortgage", for error messages.
std::string product_names();

// ---- custom attributes (Field::kAttribute, custdb/attributes.h) ----
// Whether <, <=, >, >= and between apply to an attribute of this type: integer, decimal,
// amount, date, timestamp. Text, enum, bool and tag_set take =, != and in (tag_set: = and in).
bool attribute_ordered(AttributeType type);
// Whether `cmp` applies to an attribute of this type (kNe: every type but tag_set).
bool attribute_takes(AttributeType type, Cmp cmp);
// The FieldKind whose Value representation an attribute of this type uses: kText for text,
// enum and tag_set (strings), kInteger for integer and bool, kDecimal, kAmount, kDate,
// kTimestamp.
FieldKind attribute_kind(AttributeType type);
// What a value of the attribute looks like, for "expected ... for NAME" messages: "one of
// north, south", "true or false", "a non-empty text", "an integer", "a number with at most 2
// decimal places", ...
std::string attribute_expectation(const AttributeDef& def, int amount_decimals);
// The Value a word or quoted text denotes for a text, enum, tag_set or bool attribute
// (text and tags folded, enum as declared, bool 0/1); nullopt when not acceptable (an
// undeclared enum value or tag, empty or too long text, a bool that is not true/false).
// Other types: nullopt.
std::optional<Value> attribute_text_value(const AttributeDef& def, std::string_view text);
// The Value a number denotes for an integer, decimal (scaled by def.scale) or amount
// (amount_decimals) attribute; NumberError as parse_scaled, plus kOutOfRange for an amount
// beyond kMaxAmount.
NumberError attribute_number_value(const AttributeDef& def, std::string_view text,
                                   int amount_decimals, std::int64_t& out);
// The declared attribute names of the customers table (live ones), for error messages.
std::vector<std::string> attribute_names(const Schema* schema);

}  // namespace custdb::query::field_rules
