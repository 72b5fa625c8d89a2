// TEMPORARY (branch U only; the lead deletes this file when merging C's branch): weak stand-ins
// for ReadView::consent_history and ReadView::rule_moves (owner C), so subject_record links
// before C's code is merged. C's strong definitions replace them at link time; with C merged
// this file must go.
#include "engine/db_impl.h"

namespace custdb {

__attribute__((weak)) Result<std::vector<ConsentChange>> ReadView::consent_history(CustomerId) const {
  return std::vector<ConsentChange>{};
}
__attribute__((weak)) Result<std::vector<RuleMove>> ReadView::rule_moves(CustomerId) const {
  return std::vector<RuleMove>{};
}

}  // namespace custdb
