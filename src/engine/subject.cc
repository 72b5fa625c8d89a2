// Subject access (custdb/privacy.h SubjectRecord): everything held about one customer, read in
// one snapshot.
#include <algorithm>

#include "engine/db_impl.h"

namespace custdb {

Result<std::optional<SubjectRecord>> ReadView::subject_record(CustomerId id) const {
  if (!state_) return make_error(ErrorCode::kFailedPrecondition, "transaction finished");
  if (state_->poisoned) return tl::unexpected(*state_->failure);
  auto c = db_->load_customer(*state_, id);
  if (!c) return tl::unexpected(c.error());
  if (!*c) return std::optional<SubjectRecord>();
  // A key that cannot open personal fields (an analyst key) cannot give a subject access copy.
  if (!(*c)->personal_available)
    return make_error(ErrorCode::kPermissionDenied,
                      "subject access needs the owner's key: this key cannot read personal fields");
  SubjectRecord r;
  r.customer = std::move(**c);
  auto schema = db_->schema_of(*state_);
  if (!schema) return tl::unexpected(schema.error());
  r.schema = **schema;
  auto history = consent_history(id);
  if (!history) return tl::unexpected(history.error());
  r.consent_history = std::move(*history);
  auto rels = db_->relationships_of(*state_, id);
  if (!rels) return tl::unexpected(rels.error());
  r.relationships = std::move(*rels);
  std::sort(r.relationships.begin(), r.relationships.end(),
            [](const Relationship& a, const Relationship& b) { return a.id < b.id; });
  auto txns = db_->transactions_of(*state_, id, std::nullopt, std::nullopt);
  if (!txns) return tl::unexpected(txns.error());
  r.transactions = std::move(*txns);
  std::sort(r.transactions.begin(), r.transactions.end(), [](const Transaction& a, const Transaction& b) {
    return a.ts != b.ts ? a.ts < b.ts : a.id < b.id;
  });
  // Format 6: the customer's holdings by id, account references as stored (the owner's key
  // opened them: personal_available was checked above for the customer).
  auto holdings = db_->holdings_of(*state_, id);
  if (!holdings) return tl::unexpected(holdings.error());
  r.holdings = std::move(*holdings);
  std::sort(r.holdings.begin(), r.holdings.end(),
            [](const Holding& a, const Holding& b) { return a.id < b.id; });
  auto moves = rule_moves(id);
  if (!moves) return tl::unexpected(moves.error());
  r.rule_moves = std::move(*moves);
  AuditFilter f;
  f.subject = id;
  auto audit = db_->audit_entries(*state_, f);
  if (!audit) return tl::unexpected(audit.error());
  r.audit = std::move(*audit);
  return std::optional<SubjectRecord>(std::move(r));
}

}  // namespace custdb
