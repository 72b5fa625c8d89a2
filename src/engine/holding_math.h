// The one derivation of a customer's HoldingAggregates from its holdings (custdb/types.h): the
// write path recounts with it after a structural change of a holding, the consistency check
// recounts with it, tests compare with it. Pure; thread-safe.
#pragma once

#include <span>

#include "custdb/types.h"

namespace custdb::detail {

// aum / liabilities: sums of base_balance (base_balance of a holding in the base currency is its
// balance: callers pass holdings as decoded, where it is always set) over holdings not closed,
// by class_of(product_type); products: holdings kActive; holdings: all; types_held: the
// product type names (custom_type for kCustom) of holdings not closed, sorted and unique;
// first_product_on: the least opened_on.
// TODO(owner A, #18): implemented by A.
HoldingAggregates holding_aggregates(std::span<const Holding> holdings);

}  // namespace custdb::detail
