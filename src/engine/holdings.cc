// Holdings (format 6, custdb/types.h Holding): the public API over the engine's operations.
// TODO(owner A, #18): every function below is a stub of the contract commit.
#include "engine/db_impl.h"
#include "engine/holding_math.h"

namespace custdb {
namespace {
Error todo(const char* what) {
  return Error(ErrorCode::kInternal, std::string(what) + ": not implemented yet (issue #18)");
}
}  // namespace

Result<std::optional<Holding>> ReadView::get_holding(HoldingId) const {
  return tl::unexpected(todo("get_holding"));
}
Result<std::vector<Holding>> ReadView::holdings_of(CustomerId) const {
  return tl::unexpected(todo("holdings_of"));
}
Result<std::optional<Holding>> ReadView::find_holding_by_account_ref(std::string_view) const {
  return tl::unexpected(todo("find_holding_by_account_ref"));
}
Status ReadView::for_each_holding(const std::function<bool(const Holding&)>&) const {
  return tl::unexpected(todo("for_each_holding"));
}
Result<std::vector<Transaction>> ReadView::postings_of(HoldingId) const {
  return tl::unexpected(todo("postings_of"));
}
Result<HoldingId> WriteTxn::insert_holding(Holding) { return tl::unexpected(todo("insert_holding")); }
Result<bool> WriteTxn::update_holding(HoldingId, const std::function<void(Holding&)>&) {
  return tl::unexpected(todo("update_holding"));
}
Result<bool> WriteTxn::remove_holding(HoldingId, DeleteMode) {
  return tl::unexpected(todo("remove_holding"));
}
Result<bool> WriteTxn::set_balance(HoldingId, const StatementBalance&) {
  return tl::unexpected(todo("set_balance"));
}
Result<HoldingId> Database::insert_holding(Holding) { return tl::unexpected(todo("insert_holding")); }
Result<std::optional<Holding>> Database::get_holding(HoldingId) const {
  return tl::unexpected(todo("get_holding"));
}

}  // namespace custdb

namespace custdb::detail {
// TODO(owner A, #18): stubs of the contract commit.
namespace {
Error todo_impl(const char* what) {
  return Error(ErrorCode::kInternal, std::string(what) + ": not implemented yet (issue #18)");
}
}  // namespace
HoldingAggregates holding_aggregates(std::span<const Holding>) { return {}; }
Result<HoldingId> DatabaseImpl::insert_holding(TxnState&, Holding) {
  return tl::unexpected(todo_impl("insert_holding"));
}
Result<bool> DatabaseImpl::update_holding(TxnState&, HoldingId, const std::function<void(Holding&)>&) {
  return tl::unexpected(todo_impl("update_holding"));
}
Result<bool> DatabaseImpl::remove_holding(TxnState&, HoldingId, DeleteMode) {
  return tl::unexpected(todo_impl("remove_holding"));
}
Result<bool> DatabaseImpl::set_balance(TxnState&, HoldingId, const StatementBalance&) {
  return tl::unexpected(todo_impl("set_balance"));
}
Result<std::optional<Holding>> DatabaseImpl::load_holding(TxnState&, HoldingId) const {
  return tl::unexpected(todo_impl("load_holding"));
}
Result<std::vector<Holding>> DatabaseImpl::holdings_of(TxnState&, CustomerId) const {
  return std::vector<Holding>{};
}
Result<std::vector<Transaction>> DatabaseImpl::postings_of(TxnState&, HoldingId) const {
  return tl::unexpected(todo_impl("postings_of"));
}
Status DatabaseImpl::restore_holding(TxnState&, const Holding&) {
  return tl::unexpected(todo_impl("restore_holding"));
}
}  // namespace custdb::detail
