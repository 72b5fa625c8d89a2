// Segment postings: the engine's entry points into src/segment (which owns the index), and
// the write of one customer change.
#include "engine/db_impl.h"

namespace custdb::detail {

void DatabaseImpl::queue_postings(TxnState& st, const Customer* before,
                                  const Customer* after) {
  segment::queue_postings(seg_keys(), st, before, after);
}

Status DatabaseImpl::flush_postings(TxnState& st) { return segment::flush(*this, st); }

}  // namespace custdb::detail
