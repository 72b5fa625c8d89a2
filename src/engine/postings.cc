// Segment postings: the engine's entry points into src/segment (which owns the index), and
// the write of one customer change.
#include "engine/db_impl.h"
#include "segment/attribute_index.h"

namespace custdb::detail {

void DatabaseImpl::queue_postings(TxnState& st, const Customer* before,
                                  const Customer* after) {
  segment::queue_postings(seg_keys(), st, before, after);
  // Indexed custom attributes, exactly for the ids attribute_indexed_for says.
  auto schema = schema_of(st);
  if (!schema) {
    fail(st, schema.error());
    return;
  }
  if (!(*schema)->attributes.empty())
    segment::queue_schema_postings(seg_keys(), st, **schema, before, after);
}

Status DatabaseImpl::flush_postings(TxnState& st) { return segment::flush(*this, st); }

}  // namespace custdb::detail
