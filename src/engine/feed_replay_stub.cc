// CONTRACT STUB (issue #19): replay_erasure belongs in erase.cc (owner B). Delete this file
// when erase.cc defines it.
#include "engine/db_impl.h"

namespace custdb::detail {

Status replay_erasure(DatabaseImpl&, TxnState&, CustomerId, EraseMode, Timestamp) {
  return make_error(ErrorCode::kUnsupported, "replay_erasure is not built yet");
}

}  // namespace custdb::detail
