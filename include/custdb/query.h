// custdb/query.h — segment queries over customers: parse, build, print and evaluate them.
//
// The text form (keywords, field names and enum names are case-insensitive):
//
//   query     := or_expr
//   or_expr   := and_expr { "or" and_expr }
//   and_expr  := unary { "and" unary }
//   unary     := "not" unary | "(" query ")" | predicate
//   predicate := field cmp value
//              | field "in" "(" value { "," value } ")"
//              | field "between" value "and" value     -- this "and" belongs to between
//              | "tag" "=" value
//              | "related" "(" reltype [ "," query ] ")"
//              | "holds" "(" product_type [ "," holding_query ] ")"
//   cmp       := "=" | "!=" | "<" | "<=" | ">" | ">="
//   value     := integer | decimal | 'quoted text' | bare_word | date | timestamp
//
// e.g. `tier in (gold, platinum) and region = east and last_txn_at < 2026-08-01`.
// Precedence: not > and > or. A bare word is a letter, '_' or non-ASCII byte followed by those,
// digits and '-'; other text is quoted, with '' for a quote inside ('o''brien'). A date is
// YYYY-MM-DD (years 1800..2200); a timestamp is a date followed by T and a time, as
// parse_timestamp() reads it (2026-08-01T10:30:00Z), and is only accepted by timestamp fields.
// Each field takes one kind of value (see Value below); anything else is an error, never a
// false predicate: `tier = 5`, `total_amount = gold`, `region < x`, `income_band = 11`,
// `region = ''`. total_amount is written in major units (1000.50) and held in minor units.
// reltype is a built-in relation type's name other than "custom" (bare or quoted), such a
// name followed by "_of" (employer_of, employee_of: one direction, below), or any other word
// or 'quoted text', which names a custom type (held lower case).
//
// holding_query is a query whose predicates name holding fields only: balance (amount, base
// currency), status (active | dormant), opened_on (date), product_code (text, compared
// exactly), currency (ISO 4217 code). product_type is a built-in product type's name (custdb/
// types.h ProductType; "wealth" reads as fund) or any other word or 'quoted text', a custom
// type (held lower case).
//
// Semantics. Two-valued logic; the engine's index planner must reproduce these exactly.
//  * A comparison, `in` or `between` on an absent value is false. Absent means: no birth_date
//    (so no age either), no income_band, no first_txn_at / last_txn_at, an empty region, city
//    or country. Enum fields (gender and consent states included: `unknown` is a value),
//    txn_count, total_amount and created_at are always present.
//  * `not p` is the complement of p over all customers: it is true wherever p is false,
//    including where p is false because a value is absent.
//  * `f != v` means exactly `not f = v`, so it is true where f is absent.
//  * `f in (a, b)` is `f = a or f = b`; `f between a and b` is `a <= f and f <= b` (an empty
//    range when a > b).
//  * <, <=, >, >= and between apply to numbers, amounts, dates, timestamps, and to the enums
//    tier and risk (by enum number: bronze < ... < diamond, low < medium < high). Text fields
//    and the other enums take only =, != and in. `tag` takes only =.
//  * region and city are compared folded (trimmed, Unicode NFC + full case folding, the
//    function that keys the stored values: `city = MÜNCHEN` finds `München`), country
//    ASCII-case-insensitively; query values are held normalized (region and city folded,
//    country upper case).
//  * `tag = t`: the fold of t (trimmed, NFC, full case folding) is one of the customer's tags.
//  * `age`: whole years completed on EvalContext::as_of, see age_on(); absent birth_date makes
//    every age predicate false (and `age != n` true).
//  * Timestamp fields compare instants: a date value means midnight UTC of that day, so
//    `last_txn_at = 2026-08-01` matches only that exact millisecond; `< 2026-08-01` means
//    "before that day".
//  * `related(t, q)`: true iff some relationship of type t has this customer at either end
//    (from or to) and the customer at the other end matches q; without q, any customer does.
//    A directed type and its inverse name the same links (custdb/types.h): `related(employer,
//    q)` and `related(employee, q)` both mean "linked by employment, either way, to someone
//    matching q", and both print as `related(employer, q)`.
//  * `related(t_of, q)` asks one direction: true iff this customer IS THE t OF some customer
//    matching q. `related(employer_of, q)`: this customer employs someone matching q;
//    `related(employee_of, q)`: this customer is employed by someone matching q (the same
//    links as employer, read from the other end). Every directed built-in name takes `_of`:
//    parent_of, child_of, employer_of, employee_of, referrer_of, referred_of, guarantor_of,
//    guaranteed_of, beneficiary_of, benefactor_of (and referral_of, read as referrer_of). For
//    the symmetric types household_of and spouse_of are accepted and mean household and spouse.
//    Custom types are asked for at either end only (a custom name ending in a built-in name +
//    "_of" is refused when stored, so that reading is never ambiguous).
//    A custom type matches kCustom relationships whose custom_type equals the name
//    ASCII-case-insensitively. q is evaluated with the same as-of date.
//  * `holds(t, q)` (format 6): true iff one of the customer's holdings has product type t, a
//    status other than closed, and matches q (each holding on its own: `holds(fund, balance
//    >= 100 and balance < 200)` needs one fund in that range); without q, any such holding.
//    Inside q, `balance` is the holding's base_balance. `not holds(t)` is its complement.
//  * aum, liabilities, products (custdb/types.h HoldingAggregates) are always present (0 for a
//    customer without holdings); first_product_on is absent without holdings.
//
// Thread-safety: everything here is a plain value or a pure function.
#pragma once

#include "custdb/export.h"

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "custdb/attributes.h"
#include "custdb/status.h"
#include "custdb/types.h"

namespace custdb::query {

// ---- fields -----------------------------------------------------------------------------------

enum class Field : std::uint8_t {
  kType, kTier, kStage, kRegion, kCity, kCountry, kGender, kIncomeBand, kRisk, kBirthDate, kAge,
  kCreatedAt, kConsentEmail, kConsentSms, kConsentPhone, kTxnCount, kTotalAmount, kFirstTxnAt,
  kLastTxnAt,
  // Derived from the last scoring run (Customer::scores, custdb/analytics.h); absent for a
  // customer never scored, or with no purchase by the scoring date.
  kPAlive, kExpectedPurchases, kClv, kRScore, kFScore, kMScore,
  // Whole days from the UTC day of last_txn_at (first_txn_at) to the query's as-of date;
  // absent without transactions. Negative when that day is after the as-of date.
  kRecencyDays, kTenureDays,
  // Consents by purpose (format 4, custdb/privacy.h): ConsentState like consent_email.
  kConsentProfiling, kConsentSharing,
  // A custom attribute of the customers table (custdb/attributes.h): Node::attribute names it.
  // Never returned by field_from_string; the parser makes it for a word the schema declares.
  kAttribute,
  // Format 6: the customer's HoldingAggregates (custdb/types.h): aum and liabilities amounts
  // in the base currency, products an integer, first_product_on a date.
  kAum, kLiabilities, kProducts, kFirstProductOn,
  // Holding fields, valid only inside holds(t, q) (never returned by field_from_string; the
  // parser reads these names inside holds(), holding_field_from_string): balance (kAmount:
  // the holding's base_balance), status (kEnum: HoldingStatus), opened_on (kDate),
  // product_code (kText, exact bytes), currency (kText, upper case).
  kHoldingBalance, kHoldingStatus, kHoldingOpenedOn, kHoldingProductCode, kHoldingCurrency,
};

// The query-language name: "type", "tier", ..., "income_band", "last_txn_at".
CUSTDB_EXPORT std::string_view to_string(Field field);
// Case-insensitive inverse of to_string(Field) for customer fields (never a holding field).
CUSTDB_EXPORT std::optional<Field> field_from_string(std::string_view name);
// The holding field of that name ("balance", "status", "opened_on", "product_code",
// "currency"), case-insensitive; to_string(Field) prints them so.
CUSTDB_EXPORT std::optional<Field> holding_field_from_string(std::string_view name);
// Whether `field` is one of the holding fields (valid only inside holds()).
CUSTDB_EXPORT bool is_holding_field(Field field);

// What a field's values are, which fixes how they are held in a Value (see Value).
enum class FieldKind : std::uint8_t { kEnum, kText, kInteger, kAmount, kDate, kTimestamp, kDecimal };
CUSTDB_EXPORT FieldKind kind_of(Field field);
// Whether <, <=, >, >= and between apply: every field but text fields and the enums other
// than tier and risk.
CUSTDB_EXPORT bool is_ordered(Field field);

enum class Cmp : std::uint8_t { kEq, kNe, kLt, kLe, kGt, kGe };

// Which end of a stored (canonical) link a related() predicate puts this customer at: either,
// `from` (related(employer_of, q): the employer) or `to` (related(employee_of, q)).
enum class RelationEnd : std::uint8_t { kEither, kFrom, kTo };
// "=", "!=", "<", "<=", ">", ">=".
CUSTDB_EXPORT std::string_view to_string(Cmp cmp);

// ---- the tree ---------------------------------------------------------------------------------

// One comparison operand, in the one representation the planner compares:
//   kEnum      type, tier, stage, gender, risk, consent_* (email, sms, phone, profiling,
//              sharing)                    int64: the enum's number
//   kText      region, city (folded), country (upper case, 2 letters)       string, trimmed
//   kInteger   income_band (1..10), txn_count (>= 0), age (>= 0, years),    int64
//              r_score, f_score, m_score (1..5), recency_days, tenure_days (any)
//   kAmount    total_amount, clv           int64: minor units of the base currency
//   kDecimal   p_alive, expected_purchases int64: millionths (0.3 is 300000; at most 6 decimals)
//   kDate      birth_date                  int64: days since 1970-01-01
//   kTimestamp created_at, first_txn_at, last_txn_at   int64: milliseconds since the epoch (UTC)
// Custom attributes (Field::kAttribute, Node::attribute_type says which representation):
//   text       string, folded (trimmed, NFC, full case folding), as region
//   enum       string: the declared value's spelling (names are matched case-insensitively)
//   tag_set    string, folded: `attr = t` is true when t is one of the record's tags
//   bool       int64: 0 or 1 (written true / false)
//   integer    int64; decimal int64 scaled by 10^scale; amount int64 minor units
//   date       int64 days; timestamp int64 ms (as birth_date and created_at)
// Text, enum, bool and tag_set attributes take =, != and in (tag_set: = and in only);
// the others are ordered. Absent (no stored value and no default) is absent as for built-ins.
using Value = std::variant<std::int64_t, std::string>;

struct ParseOptions {
  // Fraction digits of the base currency (2 for USD/EUR, 0 for JPY), 0..9. Amounts in query
  // text are decimals in major units converted exactly to minor units; more fraction digits
  // than this is an error (with 2, 1000.5 is 100050 and 1000.505 is rejected).
  int amount_decimals = 2;
  // The custom attributes the text may name (ReadView::parse_options gives the database's);
  // null or without a name: that word is an unknown field, as before format 5. A built-in
  // field name always means the built-in field (the schema cannot declare one).
  std::shared_ptr<const Schema> schema;
};

// The options for queries over a database whose base currency is `currency` (ISO 4217, as in
// DatabaseInfo::base_currency): amount_decimals = currency_digits(currency) (custdb/money.h).
// Every tool that parses queries or rules for a database derives its options this way.
CUSTDB_EXPORT ParseOptions parse_options_for(std::string_view currency);

struct CUSTDB_EXPORT Node {
  enum class Kind : std::uint8_t {
    kAnd, kOr, kNot, kCompare, kIn, kBetween, kTag, kRelated,
    kHolds,  // format 6: holds(product_type [, holding query])
  };

  Kind kind = Kind::kAnd;
  // kAnd, kOr: the operands, at least two, none of the same kind (chains are flat: `a and b
  // and c` and `(a and b) and c` are one kAnd of three). kNot: the one operand.
  // kRelated: the sub-query, or none for "any customer". kHolds: the holding query (its
  // predicates on holding fields only), or none for "any holding". Empty for the other kinds.
  std::vector<Node> children;
  // kCompare, kIn, kBetween: the field and its values (see Value). kCompare holds one value;
  // kIn one or more, in written order; kBetween two, {low, high}. Defaults elsewhere.
  Field field = Field::kType;
  Cmp cmp = Cmp::kEq;  // kCompare only; kEq for every other kind
  std::vector<Value> values;
  // kTag: the tag, folded as stored tags are (trimmed, NFC, full Unicode case folding).
  std::string tag;
  // kRelated: the relation type, always the canonical one of its pair (employee is held as
  // employer); for kCustom, custom_type holds its name (trimmed, lower case), otherwise
  // custom_type is empty. rel_end: kEither, or for a directed built-in type the end of the
  // canonical link this customer is at (employer_of: kFrom, employee_of: kTo).
  RelationType rel_type = RelationType::kHousehold;
  std::string custom_type;
  RelationEnd rel_end = RelationEnd::kEither;
  // kHolds: the product type; for ProductType::kCustom, custom_type (above) holds its name
  // (trimmed, lower case), otherwise custom_type is empty.
  ProductType product_type = ProductType::kDeposit;
  // field == Field::kAttribute: the custom attribute's name (lower case, as declared), its
  // type and scale (kDecimal) as the schema said when the node was made; empty / defaults
  // otherwise. The engine resolves the name against the transaction's schema: a name it does
  // not declare (dropped, renamed) or of another type is kInvalidArgument, never a guess.
  std::string attribute;
  AttributeType attribute_type = AttributeType::kText;
  int attribute_scale = 0;

  // Canonical query text; parse(n.to_string(o), o) == n for trees in the form parse() and the
  // builder produce. Amounts print with `options.amount_decimals` fraction digits.
  std::string to_string(const ParseOptions& options = {}) const;

  friend bool operator==(const Node&, const Node&) = default;
};

// Errors are kInvalidArgument with "at <position>: expected ..., found ..." where position is
// the 1-based character (UTF-8 code point) where the problem starts.
CUSTDB_EXPORT Result<Node> parse(std::string_view text, const ParseOptions& options = {});

// ---- the builder ------------------------------------------------------------------------------
//
// Builds the same trees as parse(), for code:
//   using namespace custdb::query;
//   Node q = all_of(in(Field::kTier, {Tier::kGold, Tier::kPlatinum}), eq(Field::kRegion, "east"),
//                   lt(Field::kLastTxnAt, Date{2026y / 8 / 1}));
// Values are normalized and checked as the parser does (text folded, country upper-cased,
// integer ranges, ordering only on ordered fields). A mistake there is a programming error and
// throws std::invalid_argument.

// total_amount takes its value as an Amount, in minor units: Amount{123450} is 1234.50 USD.
// A plain integer is refused there, because the text form reads integers as major units.
struct Amount {
  std::int64_t minor_units = 0;
};
// p_alive and expected_purchases take a Decimal, in millionths: Decimal{300000} is 0.3.
struct Decimal {
  std::int64_t millionths = 0;
};

// A builder operand: an enum of the field's type, text (for text fields, or an enum value's
// name), an integer, an Amount, a Date or a Timestamp (a Date on a timestamp field means
// midnight UTC, as in the text form).
struct Operand {
  using Alternatives = std::variant<CustomerType, Tier, Stage, Gender, Risk, ConsentState,
                                    std::int64_t, Amount, Decimal, Date, Timestamp, std::string,
                                    HoldingStatus>;

  Operand(CustomerType v) : value(v) {}
  Operand(Tier v) : value(v) {}
  Operand(Stage v) : value(v) {}
  Operand(Gender v) : value(v) {}
  Operand(Risk v) : value(v) {}
  Operand(ConsentState v) : value(v) {}
  Operand(std::int64_t v) : value(v) {}
  Operand(Amount v) : value(v) {}
  Operand(Decimal v) : value(v) {}
  Operand(Date v) : value(v) {}
  Operand(Timestamp v) : value(v) {}
  Operand(HoldingStatus v) : value(v) {}
  // A template so that the literal 0 stays an integer rather than a null const char*.
  template <class Text>
    requires std::is_convertible_v<const Text&, std::string_view>
  Operand(const Text& text) : value(std::string(std::string_view(text))) {}

  Alternatives value;
};

CUSTDB_EXPORT Node eq(Field field, Operand value);
CUSTDB_EXPORT Node ne(Field field, Operand value);
CUSTDB_EXPORT Node lt(Field field, Operand value);
CUSTDB_EXPORT Node le(Field field, Operand value);
CUSTDB_EXPORT Node gt(Field field, Operand value);
CUSTDB_EXPORT Node ge(Field field, Operand value);
CUSTDB_EXPORT Node in(Field field, std::initializer_list<Operand> values);  // at least one value
CUSTDB_EXPORT Node between(Field field, Operand low, Operand high);
CUSTDB_EXPORT Node tag(std::string_view name);
// The same on a custom attribute (a customers attribute of the schema, Schema::find): the
// operand as the text form reads it for the attribute's type: text (enum value names, text,
// tags; "true"/"false" for bool), an integer (integer; bool 0/1), Decimal for decimals (in
// millionths: Decimal{12500000} is 12.5; more digits than the scale throw), Amount, Date,
// Timestamp. Throws std::invalid_argument as the Field forms do.
CUSTDB_EXPORT Node eq(const AttributeDef& attribute, Operand value);
CUSTDB_EXPORT Node ne(const AttributeDef& attribute, Operand value);
CUSTDB_EXPORT Node lt(const AttributeDef& attribute, Operand value);
CUSTDB_EXPORT Node le(const AttributeDef& attribute, Operand value);
CUSTDB_EXPORT Node gt(const AttributeDef& attribute, Operand value);
CUSTDB_EXPORT Node ge(const AttributeDef& attribute, Operand value);
CUSTDB_EXPORT Node in(const AttributeDef& attribute, std::initializer_list<Operand> values);
CUSTDB_EXPORT Node between(const AttributeDef& attribute, Operand low, Operand high);
// `type` must not be kCustom; use related_custom for custom types. Either direction:
// related(kEmployee) is related(kEmployer), `related(employer, ...)` in text.
CUSTDB_EXPORT Node related(RelationType type, std::optional<Node> subquery = {});
// One direction: this customer is the `role` of a customer matching subquery.
// related_as(kEmployer, q) is `related(employer_of, q)`, related_as(kEmployee, q) is
// `related(employee_of, q)`. A symmetric role is the same as related(role). Not kCustom.
CUSTDB_EXPORT Node related_as(RelationType role, std::optional<Node> subquery = {});
// `name` must not be a built-in type's name (nor "custom"): the text form would read it as one.
CUSTDB_EXPORT Node related_custom(std::string_view name, std::optional<Node> subquery = {});
// holds(t [, condition]): `condition` over holding fields only (Field::kHoldingBalance takes
// an Amount in base-currency minor units, kHoldingStatus a HoldingStatus, kHoldingOpenedOn a
// Date, kHoldingProductCode / kHoldingCurrency text); a customer field in it throws. `type`
// must not be kCustom: use holds_custom (whose name must not be a built-in type's name).
CUSTDB_EXPORT Node holds(ProductType type, std::optional<Node> condition = {});
CUSTDB_EXPORT Node holds_custom(std::string_view name, std::optional<Node> condition = {});

// Conjunction / disjunction, flattened like the parser's: all_of(a) is a, and operands that
// are themselves all_of (any_of) are spliced in. Empty operand lists throw.
CUSTDB_EXPORT Node all_of(std::vector<Node> operands);
CUSTDB_EXPORT Node any_of(std::vector<Node> operands);
template <class... Rest>
  requires(std::is_same_v<std::remove_cvref_t<Rest>, Node> && ...)
CUSTDB_EXPORT Node all_of(Node first, Rest&&... rest) {
  return all_of(std::vector<Node>{std::move(first), std::forward<Rest>(rest)...});
}
template <class... Rest>
  requires(std::is_same_v<std::remove_cvref_t<Rest>, Node> && ...)
CUSTDB_EXPORT Node any_of(Node first, Rest&&... rest) {
  return any_of(std::vector<Node>{std::move(first), std::forward<Rest>(rest)...});
}
CUSTDB_EXPORT Node negate(Node operand);
inline Node operator!(Node operand) { return negate(std::move(operand)); }
inline Node operator&&(Node a, Node b) { return all_of(std::move(a), std::move(b)); }
inline Node operator||(Node a, Node b) { return any_of(std::move(a), std::move(b)); }

// ---- the reference evaluator ------------------------------------------------------------------

struct EvalContext {
  // The day `age`, `recency_days` and `tenure_days` are computed on.
  Date as_of{};
  // Every relationship that has the given customer at either end, each paired with the
  // customer at the other end. Relationships may be as stored or typed by an inverse name
  // (matches() reads each through canonical()). Called only for related(); must be set if the query uses it.
  std::function<std::vector<std::pair<Relationship, Customer>>(CustomerId)> related;
  // The customer's holdings (closed ones included: matches() skips them). Called only for
  // holds(); must be set if the query uses it.
  std::function<std::vector<Holding>(CustomerId)> holdings;
};

// Whether `customer` is in the segment `query`: the brute-force definition the planner is
// checked against. A kAttribute predicate reads customer.attributes by Node::attribute (the
// value as decoded: a required attribute's default included) and compares by
// Node::attribute_type.
CUSTDB_EXPORT bool matches(const Node& query, const Customer& customer, const EvalContext& context);

// Whole years completed from `birth_date` to `as_of`: the count goes up on the birthday
// itself, i.e. when (month, day) of as_of reaches (month, day) of birth_date. Someone born on
// Feb 29 turns a year older on Mar 1 in common years. Negative if born after as_of.
CUSTDB_EXPORT int age_on(Date birth_date, Date as_of);

}  // namespace custdb::query
