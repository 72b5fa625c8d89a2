// Format 3 -> 4: privacy (see upgrade.h). Scaffolding: owner K replaces the body.
#include "engine/upgrade.h"

#include "engine/db_impl.h"

namespace custdb::detail {

Status upgrade_v4_privacy(DatabaseImpl& d, TxnState& st, const segment::SegmentKeys& keys) {
  (void)d;
  (void)st;
  (void)keys;
  return {};
}

}  // namespace custdb::detail
