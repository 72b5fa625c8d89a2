// The schema of custom attributes (custdb/attributes.h): loading it per transaction, and the
// Database calls that change it. TODO(owner A, #17): meta "schema" coding, the changes, the
// backfill / index drop / value removal work in bounded transactions.
#include "engine/db_impl.h"
#include "custdb/query.h"

namespace custdb {
namespace detail {

Result<std::shared_ptr<const Schema>> DatabaseImpl::schema_of(TxnState& st) const {
  if (!st.schema) st.schema = std::make_shared<const Schema>();  // stub: the empty schema
  return st.schema;
}

}  // namespace detail

namespace {
Error not_yet() { return Error(ErrorCode::kUnsupported, "custom attributes: not built yet (#17)"); }
}  // namespace

Result<Schema> Database::schema() const {
  auto txn = begin_read();
  if (!txn) return tl::unexpected(txn.error());
  return txn->schema();
}
Result<AttributeDef> Database::add_attribute(const AttributeDef&, const SchemaWorkOptions&) {
  return tl::unexpected(not_yet());
}
Status Database::drop_attribute(std::string_view, AttributeTable, const SchemaWorkOptions&) {
  return tl::unexpected(not_yet());
}
Status Database::rename_attribute(std::string_view, std::string_view, AttributeTable) {
  return tl::unexpected(not_yet());
}
Status Database::set_indexed(std::string_view, bool, const SchemaWorkOptions&) {
  return tl::unexpected(not_yet());
}
Status Database::finish_schema_work(const SchemaWorkOptions&) { return {}; }

Result<Schema> ReadView::schema() const {
  detail::TxnState* st = State::of(*this);
  if (!st) return make_error(ErrorCode::kFailedPrecondition, "transaction already finished");
  auto s = db_->schema_of(*st);
  if (!s) return tl::unexpected(s.error());
  return **s;
}

Result<query::ParseOptions> ReadView::parse_options() const {
  detail::TxnState* st = State::of(*this);
  if (!st) return make_error(ErrorCode::kFailedPrecondition, "transaction already finished");
  auto s = db_->schema_of(*st);
  if (!s) return tl::unexpected(s.error());
  query::ParseOptions o = query::parse_options_for(db_->base_currency());
  o.schema = *s;
  return o;
}

}  // namespace custdb
