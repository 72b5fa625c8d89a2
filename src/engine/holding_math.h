// The one derivation of a customer's HoldingAggregates from its holdings (custdb/types.h): the
// write path recounts with it after a structural change of a holding, the consistency check
// recounts with it, tests compare with it. Also the one rule of how a posting (a transaction
// with Transaction::holding_id) moves a holding and its customer's aggregates. Pure;
// thread-safe.
#pragma once

#include <span>
#include <string_view>

#include "custdb/status.h"
#include "custdb/types.h"

namespace custdb::detail {

// aum / liabilities: sums of base_balance (base_balance of a holding in the base currency is its
// balance: callers pass holdings as decoded, where it is always set) over holdings not closed,
// by class_of(product_type); products: holdings kActive; holdings: all; types_held: the
// product type names (custom_type for kCustom) of holdings not closed, sorted and unique;
// first_product_on: the least opened_on.
HoldingAggregates holding_aggregates(std::span<const Holding> holdings);

// The name types_held and holds() use for h's type: custom_type for kCustom, else the
// built-in name ("fund", "mortgage").
std::string_view product_type_name(const Holding& h);

// Whether t may post to h: h belongs to t.customer_id and has its currency
// (kInvalidArgument "holding_id: ..."); `onto` (a new posting, or one moved onto h): h is not
// closed (kFailedPrecondition "holding_id: ..."). t is validated (canonical currency).
Status check_posting(const Holding& h, const Transaction& t, bool onto);

// Moves h (in memory) by one posting of t: sign +1 adds it, -1 takes it back. posted,
// base_posted and postings always move; with move_balance, balance and base_balance move by
// t.amount / *t.base_amount, and `agg` (h's customer's aggregates) moves aum or liabilities
// by the base amount when h is not closed (the same result as a recount). A balance beyond
// ±kMaxAmount is kInvalidArgument "balance: ..."; h and agg are left unchanged on any error.
Status apply_posting(Holding& h, HoldingAggregates& agg, const Transaction& t, int sign,
                     bool move_balance);

// Moves `agg` by a change of h's base_balance from `old_base` to its current one (a statement).
// h's status and type decide where it counts, as in holding_aggregates.
void move_balance_aggregates(const Holding& h, std::int64_t old_base, HoldingAggregates& agg);

}  // namespace custdb::detail
