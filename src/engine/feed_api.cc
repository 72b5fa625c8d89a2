// The change feed's public calls (custdb/feed.h). CONTRACT STUB: replaced by the feed's owner.
#include "custdb/feed.h"

#include "custdb/database.h"
#include "engine/db_impl.h"

namespace custdb::detail {

FeedScope::FeedScope(TxnState& st, std::string_view, CustomerId) : st_(&st) {}
FeedScope::~FeedScope() = default;
void feed_bit(TxnState&, std::string_view, CustomerId, bool) {}
Status feed_erasure(DatabaseImpl&, TxnState&, CustomerId, EraseMode) { return {}; }

}  // namespace custdb::detail

namespace custdb::feed {
namespace {
tl::unexpected<Error> not_built() {
  return make_error(ErrorCode::kUnsupported, "the change feed is not built yet");
}
}  // namespace

Status enable(Database&, const FeedOptions&) { return not_built(); }
Status disable(Database&) { return not_built(); }
Result<FeedStatus> status(const Database&) { return not_built(); }
Result<std::vector<Entry>> read(const Database&, Seq, std::size_t, std::size_t) {
  return not_built();
}
Result<Seq> wait(const Database&, Seq, std::chrono::milliseconds) { return not_built(); }
Status register_consumer(Database&, std::string_view, std::optional<Seq>) {
  return not_built();
}
Status acknowledge(Database&, std::string_view, Seq) { return not_built(); }
Status remove_consumer(Database&, std::string_view) { return not_built(); }
Result<std::uint64_t> truncate(Database&) { return not_built(); }
Result<ApplyResult> apply(Database&, std::string_view, std::span<const Entry>, std::string_view) {
  return not_built();
}
Result<std::vector<std::string>> describe(const Database&, const Entry&, const Part&) {
  return not_built();
}
Result<std::vector<RecordChange>> changed_records(const Database&, const Entry&) {
  return not_built();
}

}  // namespace custdb::feed
