// TEMPORARY (builder A, #17): weak stand-ins for builder D's segment::attribute_index.h until
// branch D is merged; D's definitions override these. Removed at that merge.
#include "segment/attribute_index.h"

namespace custdb::segment {

__attribute__((weak)) void queue_attribute_postings(const SegmentKeys&, detail::TxnState&,
                                                    const AttributeDef&, const Customer*,
                                                    const Customer*) {}

__attribute__((weak)) Status drop_attribute_index_meta(detail::DatabaseImpl&, detail::TxnState&,
                                                       const AttributeDef&) {
  return {};
}

}  // namespace custdb::segment
