// The segment index of custom attributes (custdb/attributes.h; issue #17): which postings an
// indexed customer attribute gives a customer, and how the planner and reports read them.
// Owned with the rest of the segment index (segment_index.h owns the key and chunk layout;
// this file says what an attribute puts there). TODO(owner D, #17): implement.
//
// Layout (docs/format.md, "Custom attribute postings"):
//   categorical (text, enum, bool, tag_set): one posting per value, SegField::kAttribute with
//     bucket [attribute id u32 BE][value bytes] (text and tags folded, enum the declared
//     spelling, bool "0" / "1"): plaintext key [28][len][bucket], encrypted token(32 + 28,
//     bucket); personal attributes in split files as personal postings (17-byte keys, 'P').
//   ordered (integer, decimal, amount, date, timestamp): bit slices only (exact), 64 value
//     slices and an exists slice per attribute: plaintext key [0x40 + 28][5][id u32 BE][slice],
//     encrypted token(32 + 28, [0xFF][id u32 BE][slice]).
// A customer's attribute postings exist exactly when attribute_indexed_for(def, id).
#pragma once

#include <cstdint>
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

// Removes what the index keeps per attribute besides its postings (the encrypted text value
// dictionary), when an index drop ends.
Status drop_attribute_index_meta(detail::DatabaseImpl& db, detail::TxnState& st,
                                 const AttributeDef& def);

}  // namespace custdb::segment
