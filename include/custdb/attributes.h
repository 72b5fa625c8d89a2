// custdb/attributes.h — custom attributes: the schema an application or admin extends the
// customer and transaction records with, and the values records carry.
//
// A custom attribute is declared once (Database::add_attribute, `custdb schema add`) with a
// name, a table, a type and flags; from then on records carry values of it in
// Customer::attributes / Transaction::attributes, keyed by name, and customer attributes work
// wherever built-in ones do: validation, encryption, the segment language, the segment index,
// reports, rules, import and export (docs/queries.md, "Custom attributes").
//
// The schema is stored in the database (meta "schema", sealed in encrypted files, docs/
// format.md) and versioned: every change bumps Schema::version. Records store values by the
// attribute's id, never by its name, so a rename is O(1) and an id is never reused.
//
// Thread-safety: plain values.
#pragma once

#include "custdb/export.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "custdb/status.h"

namespace custdb {

// Which records an attribute belongs to. On-disk format: never renumber.
enum class AttributeTable : std::uint8_t { kCustomers = 0, kTransactions = 1 };

// On-disk format: never renumber; add at the end.
enum class AttributeType : std::uint8_t {
  kText = 0,       // UTF-8 text: trimmed, NFC; compared folded (as region is) in queries
  kEnum = 1,       // one of AttributeDef::values (input case-insensitive, stored as declared)
  kInteger = 2,    // int64
  kDecimal = 3,    // a decimal with AttributeDef::scale fraction digits, held scaled (int64)
  kAmount = 4,     // an amount in minor units of the database's base currency (int64)
  kDate = 5,       // a calendar date, 1800-01-01 .. 2200-12-31
  kTimestamp = 6,  // an instant (ms, UTC), 1800 .. 2200
  kBool = 7,
  kTagSet = 8,     // a set of tags: folded as Customer::tags are; restricted to
                   // AttributeDef::values when that is not empty
};

// "text", "enum", "integer", "decimal", "amount", "date", "timestamp", "bool", "tag_set";
// "tagset" and "boolean" are read too (case-insensitive).
CUSTDB_EXPORT std::string_view to_string(AttributeType t);
CUSTDB_EXPORT std::optional<AttributeType> attribute_type_from_string(std::string_view name);
// "customers", "transactions".
CUSTDB_EXPORT std::string_view to_string(AttributeTable t);
CUSTDB_EXPORT std::optional<AttributeTable> attribute_table_from_string(std::string_view name);

// One value of a custom attribute. The alternative is fixed by the attribute's type:
//   kText, kEnum             std::string
//   kInteger                 std::int64_t
//   kDecimal                 std::int64_t, scaled: 12.50 with scale 2 is 1250
//   kAmount                  std::int64_t, minor units of the base currency, |v| <= kMaxAmount
//   kDate                    std::chrono::sys_days (custdb::Date)
//   kTimestamp               std::chrono::sys_time<milliseconds> (custdb::Timestamp)
//   kBool                    bool
//   kTagSet                  std::vector<std::string> (stored folded, sorted, unique)
// A value of another alternative is kInvalidArgument "attribute NAME: expected ...".
using AttributeValue =
    std::variant<bool, std::int64_t, std::string, std::chrono::sys_days,
                 std::chrono::sys_time<std::chrono::milliseconds>, std::vector<std::string>>;

// A record's custom attribute values by attribute name. Absent attribute: no entry.
using Attributes = std::map<std::string, AttributeValue, std::less<>>;

// Where an attribute's segment index is (customer attributes only). On-disk format: never
// renumber.
enum class IndexState : std::uint8_t {
  kNone = 0,      // no index: segment predicates on it read records (explain says "scan")
  kBuilding = 1,  // being built: customers with id < work_cursor are indexed
  kReady = 2,     // complete: answered from the index like a built-in attribute
  kDropping = 3,  // being removed: customers with id < work_cursor are no longer indexed
};
CUSTDB_EXPORT std::string_view to_string(IndexState s);  // "none", "building", "ready", "dropping"

// ---- limits (docs/queries.md, "Custom attributes") ----
inline constexpr std::size_t kMaxAttributesPerTable = 256;  // declared, including dropping ones
inline constexpr std::size_t kMaxAttributeNameBytes = 64;
inline constexpr std::size_t kMaxEnumValues = 256;
inline constexpr std::size_t kMaxEnumValueBytes = 64;
inline constexpr std::size_t kMaxAttributeTextBytes = 1024;  // a text value
inline constexpr std::size_t kMaxTagSetTags = 64;
inline constexpr std::size_t kMaxTagSetTagBytes = 100;
inline constexpr int kMaxDecimalScale = 9;

// One declared attribute.
//
// Names: 1..64 bytes, a lower-case ASCII letter then lower-case letters, digits and '_'
// (given in any case, stored lower case); not a built-in field of the table (the query
// language's fields, the import/export columns: "id", "name", "tier", "region", "tag", ...),
// not a keyword of the query language, unique within the table.
struct AttributeDef {
  std::string name;
  AttributeTable table = AttributeTable::kCustomers;
  AttributeType type = AttributeType::kText;
  // kEnum: the declared values, 1..kMaxEnumValues, each a bare word of 1..64 bytes, unique
  // case-insensitively. kTagSet: the allowed tags (folded); empty allows any tag. Empty for
  // every other type.
  std::vector<std::string> values;
  int scale = 0;  // kDecimal: fraction digits, 0..kMaxDecimalScale; 0 for other types
  // Every record has a value. A required attribute needs default_value unless its table is
  // empty when it is added; records without a stored value (written before the attribute
  // existed) read as having the default. Optional attributes take no default.
  bool required = false;
  std::optional<AttributeValue> default_value;
  // Personal data: sealed under the personal key in encrypted files (absent under an analyst
  // key), masked in masked output, removed by erasure (EraseMode::kKeepLedger too).
  bool personal = false;
  // Customer attributes only: whether a segment index is wanted. Database::set_indexed
  // changes it; index_state says how far the index is.
  bool indexed = false;

  // ---- set by the engine (ignored by add_attribute) ----
  std::uint32_t id = 0;  // stable, never reused; what records store values under
  IndexState index_state = IndexState::kNone;
  // kBuilding / kDropping, and a dropped attribute whose values are being removed: customers
  // (or transactions) with id < work_cursor are done. 0 otherwise.
  std::uint64_t work_cursor = 0;
  // The attribute was dropped and its values are still being removed (Database::
  // drop_attribute did not finish): invisible to records, queries and imports; its name is
  // taken until the removal ends.
  bool dropping = false;
  std::uint64_t added_in = 0;  // the schema version that added it

  friend bool operator==(const AttributeDef&, const AttributeDef&) = default;
};

// The schema of one database as of one snapshot.
struct Schema {
  std::uint64_t version = 0;  // 0: nothing was ever declared; +1 per change
  // Every declared attribute (dropping ones included), in id order.
  std::vector<AttributeDef> attributes;

  // The live (not dropping) attribute of `table` named `name` (case-insensitive); null if none.
  CUSTDB_EXPORT const AttributeDef* find(std::string_view name,
                                         AttributeTable table = AttributeTable::kCustomers) const;
  CUSTDB_EXPORT const AttributeDef* by_id(std::uint32_t id) const;
  // Whether schema work is unfinished: an index building or dropping, a drop removing values.
  CUSTDB_EXPORT bool has_pending_work() const;

  friend bool operator==(const Schema&, const Schema&) = default;
};

// Progress of schema work run in bounded write transactions (index backfill, index drop,
// value removal of a drop): reported after each committed batch.
struct SchemaProgress {
  std::string attribute;
  std::string work;          // "index", "unindex" or "drop"
  std::uint64_t done = 0;    // records processed so far
  std::uint64_t total = 0;   // records in the table when the work started (an estimate)
  bool resumed = false;      // continues work an earlier call (or a crash) left unfinished
};

struct SchemaWorkOptions {
  // Records per write transaction: each commits its progress, so a crash loses at most one
  // batch of work and other writers wait at most one batch. Default 1000; 1 .. 1,000,000.
  std::size_t batch = 1000;
  std::function<void(const SchemaProgress&)> progress;  // called after each batch
};

// The value text as the CLI and export print it and import reads it: text and enum as is,
// integers in decimal, decimals with `def.scale` fraction digits ("12.50"), amounts in major
// units with `amount_decimals` digits, dates YYYY-MM-DD, timestamps as format_timestamp,
// bools "true"/"false" (read also as "1"/"0", any case), tag sets joined by '|'.
CUSTDB_EXPORT std::string format_attribute_value(const AttributeDef& def, const AttributeValue& v,
                                                 int amount_decimals);
// The inverse: the value of `def` that `text` denotes, normalized (enum to its declared
// spelling, tags folded sorted unique, text trimmed NFC). kInvalidArgument saying what was
// expected, without the attribute's name ("expected a date (YYYY-MM-DD), found ..."): callers
// prefix "attribute NAME: " (and FILE:LINE: for imports).
CUSTDB_EXPORT Result<AttributeValue> parse_attribute_value(const AttributeDef& def,
                                                           std::string_view text,
                                                           int amount_decimals);

}  // namespace custdb
