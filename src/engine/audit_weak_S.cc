// Stand-in for DatabaseImpl::append_audit until owner U's src/engine/audit.cc is merged (issue
// #16): a weak definition recording nothing, which U's strong definition replaces at link time.
// Delete this file once audit.cc is in the tree.
#include "engine/db_impl.h"

namespace custdb::detail {

[[gnu::weak]] Result<std::uint64_t> DatabaseImpl::append_audit(TxnState&, const AuditEvent&) {
  return std::uint64_t{0};
}

}  // namespace custdb::detail
