#include "engine/upgrade.h"

#include "engine/db_impl.h"

namespace custdb::detail {

// TODO(#15): not yet written; format-2 files are marked format 3 unchanged.
Status upgrade_v3_relationships(DatabaseImpl&, TxnState&, const segment::SegmentKeys&) { return {}; }

}  // namespace custdb::detail
