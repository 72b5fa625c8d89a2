// custdb/segment.h — results of segment queries (see custdb/query.h for the language).
//
// Segment queries run on a ReadTxn (or a WriteTxn, which sees its own writes): the evaluator
// answers every predicate from the segment index, combines the sets by intersection, union and
// difference, and reads customer records only for candidates the index cannot decide (ranges
// that cut a bucket of an ordered attribute, see docs/queries.md). Answers are identical in
// plaintext and encrypted databases. ReadView::select evaluates a query once into a Segment;
// count, ids, pages, stream, top and group then work on that answer.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "custdb/export.h"
#include "custdb/status.h"
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

// The answer of one segment query, evaluated once by ReadView::select: the matching ids, held
// in memory (a compressed bitmap; ids() and the first page() also build an ascending array, 8
// bytes an id). count() is free; a page costs a binary search plus its ids; stream, top and
// group read the members' records.
//
// Lifetime: valid while the transaction that selected it is open (the ReadTxn alive, the
// WriteTxn neither committed nor aborted). Every call afterwards returns kFailedPrecondition;
// so does every call after a later write of that same WriteTxn (the answer would be stale:
// select again). A move-only value (a moved-from one answers kFailedPrecondition too); not
// thread-safe (use it on the transaction's thread).
// Errors of stream/top/group as ReadView's (kCorruption when a member's record is missing).
class CUSTDB_EXPORT Segment {
 public:
  Segment(Segment&&) noexcept;
  Segment& operator=(Segment&&) noexcept;
  ~Segment();

  // The number of matching customers.
  Result<std::uint64_t> count() const;
  // Every matching id, ascending.
  Result<std::vector<CustomerId>> ids() const;
  // Up to `limit` ids greater than `after`, ascending (limit 0: all of them). `next` is set
  // when more ids follow: pass it as `after` for the next page.
  Result<SegmentPage> page(std::size_t limit, CustomerId after = 0) const;
  // Calls fn with each matching customer in id order until it returns false. fn may write in
  // the segment's WriteTxn: later members read as they are then, members it deleted are
  // skipped. When fn ends the transaction (commit, abort) the stream stops with
  // kFailedPrecondition; when a write of fn fails, with that failure.
  Status stream(const std::function<bool(const Customer&)>& fn) const;
  // The n matching customers with the highest value of `by` (see RankBy).
  Result<std::vector<Customer>> top(RankBy by, std::size_t n) const;
  // One row per group value present in the segment, ordered by group.
  Result<std::vector<GroupRow>> group(GroupBy by) const;
  // The plan as text: each step with its estimated and actual sizes. Evaluates the query again
  // with tracing (only explain pays for labels and estimates).
  Result<std::string> explain() const;

 private:
  struct Rep;  // opaque: defined by the engine
  CUSTDB_LOCAL explicit Segment(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
  friend class ReadView;
};

}  // namespace custdb
