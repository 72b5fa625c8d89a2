// Segment postings: the engine's entry points into src/segment (which owns the index), and
// the write of one customer change.
#include "engine/db_impl.h"

namespace custdb::detail {

void DatabaseImpl::queue_postings(TxnState& st, const Customer* before,
                                  const Customer* after) const {
  segment::queue_postings(*seg_keys, st, before, after);
}

Status DatabaseImpl::flush_postings(TxnState& st) const {
  return segment::SegmentIndex(*this, st).flush();
}

Status DatabaseImpl::write_customer(TxnState& st, const Customer* before,
                                    const Customer* after) const {
  std::vector<index::IndexEntry> old_e, new_e;
  // Entries derive from external_ref, email and phone only: unchanged ones need no tokens.
  const bool same_entries = before && after && before->external_ref == after->external_ref &&
                            before->email == after->email && before->phone == after->phone;
  if (before && !same_entries) keys->customer_entries(*before, old_e);
  if (after && !same_entries) keys->customer_entries(*after, new_e);
  if (after) {
    if (auto s = store_customer(st, *after); !s) return s;
  } else {
    if (auto s = del(st, dbi_customers, storage::IdKey(before->id).span()); !s) return s;
  }
  if (auto s = update_entries(st, std::move(old_e), std::move(new_e)); !s) return s;
  queue_postings(st, before, after);
  return {};
}

}  // namespace custdb::detail
