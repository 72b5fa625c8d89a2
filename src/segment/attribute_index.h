// The segment index of custom attributes (custdb/attributes.h; issue #17): which postings an
// indexed customer attribute gives a customer, and how the planner and reports read them.
// Owned with the rest of the segment index (segment_index.h owns the key and chunk layout;
// this file says what an attribute puts there).
//
// Layout (docs/format.md, "Custom attribute postings"):
//   categorical (text, enum, bool, tag_set): one posting per value, SegField::kAttribute with
//     bucket [attribute id u32 BE][value bytes] (text and tags folded, enum the declared
//     spelling, bool "0" / "1"): plaintext key [28][len][bucket], encrypted token(32 + 28,
//     bucket); personal attributes in split files as personal postings (17-byte keys, 'P').
//   ordered (integer, decimal, amount, date, timestamp): bit slices only (exact), 64 value
//     slices and an exists slice per attribute: plaintext key [0x40 + 28][5][id u32 BE][slice],
//     encrypted token(32 + 28, [0xFF][id u32 BE][slice]).
//   Plaintext values longer than kMaxPlainAttributeValue (240) bytes are keyed by a 224-byte
//   prefix, 0xFF and a 16-byte BLAKE2b (LMDB keys are at most 511 bytes).
//   Encrypted files also keep a sealed value dictionary per text / tag_set attribute
//   (meta "values.attribute.<id>[.personal]") for group-by; plaintext reads the keys.
// A customer's attribute postings exist exactly when attribute_indexed_for(def, id).
//
// Who calls what: the write path (DatabaseImpl::queue_postings -> queue_schema_postings), the
// schema work (queue_attribute_postings, drop_attribute_index_meta), the planner and reports
// (attribute_members, SliceReader(index, def), attribute_value_list), SegmentCheck
// (for_each_attribute_delta), erasure (prune_attribute_dictionaries).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "custdb/attributes.h"
#include "custdb/status.h"
#include "custdb/types.h"
#include "index/id_set.h"
#include "index/segments.h"

namespace custdb::detail {
class DatabaseImpl;
struct TxnState;
}

namespace custdb::segment {

class SegmentKeys;
class SegmentIndex;

// Whether the index holds def's postings for customer `id`: kReady; kBuilding and
// id < work_cursor; kDropping and id >= work_cursor. Never for a transactions attribute or a
// dropping (dropped) attribute.
inline bool attribute_indexed_for(const AttributeDef& def, CustomerId id) {
  if (def.table != AttributeTable::kCustomers || def.dropping) return false;
  switch (def.index_state) {
    case IndexState::kNone: return false;
    case IndexState::kReady: return true;
    case IndexState::kBuilding: return id < def.work_cursor;
    case IndexState::kDropping: return id >= def.work_cursor;
  }
  return false;
}
// Whether the planner and reports may answer from def's index (every customer indexed).
inline bool attribute_queryable(const AttributeDef& def) {
  return def.table == AttributeTable::kCustomers && !def.dropping &&
         def.index_state == IndexState::kReady;
}
// integer, decimal, amount, date, timestamp: sliced. The others: one posting per value.
bool is_sliced_attribute(AttributeType t);

// The posting of one value of categorical attribute `def` (value as query::Value holds it:
// folded text or tag, the enum's declared spelling, "0" / "1" for bool).
index::Posting attribute_posting(const AttributeDef& def, std::string_view value);

// Queues the postings change of attribute `def` alone for one customer, whatever the index
// state says (the schema work calls it: backfill (null, c), index drop (c, null)). before and
// after have the same id; either may be null, not both. Flushed with the rest (flush()).
void queue_attribute_postings(const SegmentKeys& keys, detail::TxnState& st,
                              const AttributeDef& def, const Customer* before,
                              const Customer* after);

// ---- what a customer's value gives (pure) ----
// The categorical values of def a customer has, as postings key them (sorted, unique):
// text folded (empty: none), enum as stored, bool "0" / "1", each tag folded.
std::vector<std::string> attribute_values(const AttributeDef& def, const Customer& c);
// The value of ordered attribute def as its slices hold it (int64: the stored units; a date
// as days, a timestamp as ms); nullopt when absent.
std::optional<std::int64_t> attribute_number(const AttributeDef& def, const Customer& c);
std::optional<std::int64_t> attribute_number(const AttributeValue& v);

// Encrypted files: the sealed meta key of text / tag_set attribute def's value dictionary
// ("values.attribute.<id>", "+ ".personal" for a personal attribute of a split file, sealed
// under the personal key); empty when the attribute keeps none (plaintext, other types).
std::string attribute_dictionary_key(const SegmentKeys& keys, const AttributeDef& def);
inline constexpr std::string_view kAttributeDictionaryPrefix = "values.attribute.";

// The chunk-level changes that move customer `before` to `after` in def's postings
// (categorical postings and slices alike): fn(chunk key, id's low bits, present, value),
// value the categorical value added or removed (empty for slices). Shared by the writer and
// SegmentCheck.
using AttributeDeltaFn =
    std::function<void(const std::string& chunk_key, std::uint32_t low, bool present,
                       const std::string& value)>;
void for_each_attribute_delta(const SegmentKeys& keys, const AttributeDef& def,
                              const Customer* before, const Customer* after,
                              const AttributeDeltaFn& fn);

// Every attribute of `schema` attribute_indexed_for says, for one customer change (the write
// path: DatabaseImpl::queue_postings).
void queue_schema_postings(const SegmentKeys& keys, detail::TxnState& st, const Schema& schema,
                           const Customer* before, const Customer* after);

// ---- reads ----
// The members of categorical attribute def's value (the posting of attribute_posting).
Result<index::IdSet> attribute_members(SegmentIndex& index, const AttributeDef& def,
                                       std::string_view value);
// The values of text / tag_set attribute def with members, ascending: plaintext from the
// stored keys (a long value's hashed key is resolved by reading one member's record);
// encrypted from the dictionary (a superset). Enum: the declared values; bool: "0", "1".
Result<std::vector<std::string>> attribute_value_list(SegmentIndex& index, const AttributeDef& def);

// Erasure (encrypted files): removes from the attribute value dictionaries the values of
// `before` (a customer whose postings were just flushed away or changed) that no customer has
// any more, so no dictionary keeps an erased customer's value.
Status prune_attribute_dictionaries(detail::DatabaseImpl& db, detail::TxnState& st,
                                    const Customer& before);

// Removes what the index keeps per attribute besides its postings (the encrypted text value
// dictionary), when an index drop ends.
Status drop_attribute_index_meta(detail::DatabaseImpl& db, detail::TxnState& st,
                                 const AttributeDef& def);

}  // namespace custdb::segment
