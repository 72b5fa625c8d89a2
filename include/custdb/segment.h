// custdb/segment.h — results of segment queries (see custdb/query.h for the language).
//
// Segment queries run on a ReadTxn (or a WriteTxn, which sees its own writes): the planner
// answers every predicate from the segment index, combines the sets by intersection, union and
// difference, and reads customer records only for candidates the index cannot decide (ranges
// that cut a bucket of an ordered attribute, see docs/queries.md). Answers are identical in
// plaintext and encrypted databases.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "custdb/types.h"

namespace custdb {

struct SegmentOptions {
  // The date `age` is computed on. Default: today (UTC).
  std::optional<Date> as_of;
};

// One page of ids in ascending order. `next` is the resume cursor: pass it as `after` to get
// the following page; absent on the last page.
struct SegmentPage {
  std::vector<CustomerId> ids;
  std::optional<CustomerId> next;
};

// Fields a segment can be ordered by for top-N (descending; ties by ascending id). Customers
// without a value are not ranked: no transactions for kLastTxnAt / kFirstTxnAt, no birth date
// for kBirthDate. total_amount and txn_count always have one (0 without transactions).
enum class RankBy { kTotalAmount, kTxnCount, kLastTxnAt, kFirstTxnAt, kCreatedAt, kBirthDate };

enum class GroupBy { kTier, kRegion, kStage, kType };

// Grouped aggregates of a segment. Amounts in minor units of the base currency.
struct GroupRow {
  std::string group;  // the enum name, or the region as stored (lower case); "" for none
  std::uint64_t customers = 0;
  // Exact: 128 bits (see AmountSum), since a group of two customers near the int64 limit of a
  // customer's total already exceeds 64 bits. Print it with format_amount (custdb/money.h).
  AmountSum total_amount_sum = 0;
  std::int64_t total_amount_min = 0;
  std::int64_t total_amount_max = 0;
  double total_amount_avg = 0;
  std::uint64_t txn_count_sum = 0;
};

}  // namespace custdb
