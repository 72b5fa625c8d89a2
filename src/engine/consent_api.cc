// The public calls of consent by purpose and the rule-move log (custdb/database.h, section
// "privacy"; custdb/privacy.h), each a thin call into engine/consent.h.
#include "engine/consent.h"
#include "engine/db_impl.h"

namespace custdb {

using detail::TxnState;

#define CUSTDB_REQUIRE_STATE()                                                             \
  if (!state_) return make_error(ErrorCode::kFailedPrecondition, "transaction finished");  \
  if (state_->poisoned) return tl::unexpected(*state_->failure)

Result<std::vector<ConsentChange>> ReadView::consent_history(CustomerId id) const {
  CUSTDB_REQUIRE_STATE();
  return detail::read_consent_history(*db_, *state_, id);
}

Result<std::vector<RuleMove>> ReadView::rule_moves(CustomerId id) const {
  CUSTDB_REQUIRE_STATE();
  return detail::read_rule_moves(*db_, *state_, id);
}

Result<bool> WriteTxn::set_consent(CustomerId id, ConsentPurpose purpose, const Consent& consent) {
  return detail::run_write<bool>(
      *this, [&](TxnState& st) { return detail::set_consent(*db_, st, id, purpose, consent); });
}

#undef CUSTDB_REQUIRE_STATE

}  // namespace custdb
