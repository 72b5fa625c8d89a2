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
#include <string_view>
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

// The ordered (numeric) attributes of a customer: what a segment is ranked by (top, rank) and
// what a report measures. Values are in stored units: total_amount and clv in minor units of
// the base currency; p_alive and expected_purchases in millionths; birth_date in days since
// 1970-01-01; created_at, first_txn_at and last_txn_at in ms since 1970-01-01T00:00:00Z;
// txn_count, income_band and r/f/m_score as integers. A customer without a value (no
// transactions for first/last_txn_at, no birth date, no income band, never scored for the six
// scores) has none: it is not ranked and not measured. total_amount, txn_count and created_at
// always have one (0 without transactions). The first six keep their numbers from wave 1.
enum class RankBy {
  kTotalAmount, kTxnCount, kLastTxnAt, kFirstTxnAt, kCreatedAt, kBirthDate,
  kClv, kPAlive, kExpectedPurchases, kIncomeBand, kRScore, kFScore, kMScore,
  // Format 6 (HoldingAggregates): aum and liabilities in minor units of the base currency,
  // products a count (always present), first_product_on in days (absent without holdings).
  kAum, kLiabilities, kProducts, kFirstProductOn,
};
using Measure = RankBy;  // a report measures the same attributes a segment is ranked by
CUSTDB_EXPORT const char* to_string(RankBy a);                        // "total_amount", "clv", ...
CUSTDB_EXPORT std::optional<RankBy> rank_by_from_string(std::string_view name);  // the inverse

// The categorical attributes a segment can be grouped by (one group per value). The first
// four keep their numbers from wave 1.
enum class GroupBy {
  kTier, kRegion, kStage, kType, kCity, kCountry, kGender, kRisk, kIncomeBand, kTag,
  kConsentEmail, kConsentSms, kConsentPhone, kRScore, kFScore, kMScore,
  kConsentProfiling, kConsentSharing,
  // Format 6: one group per product type held (HoldingAggregates::types_held; a customer in
  // one group per type, "" without any), as kTag.
  kHolds,
};
CUSTDB_EXPORT const char* to_string(GroupBy g);                          // "tier", "consent_email", ...
CUSTDB_EXPORT std::optional<GroupBy> group_by_from_string(std::string_view name);  // the inverse

// A report's group-by attribute: a built-in (GroupBy, converts implicitly) or a custom
// attribute of the customers table by name (GroupKey::attribute("branch")): enum, text, bool
// and tag_set attributes, grouped by value ("true"/"false" for bool, one group per tag), ""
// for a customer without a value. A custom attribute must be indexed (IndexState::kReady),
// else kFailedPrecondition naming it; an unknown name or another type is kInvalidArgument.
struct CUSTDB_EXPORT GroupKey {
  GroupKey(GroupBy g) : builtin(g) {}  // NOLINT: implicit by design
  static GroupKey attribute(std::string name) {
    GroupKey k(GroupBy::kTier);
    k.builtin.reset();
    k.custom = std::move(name);
    return k;
  }
  std::optional<GroupBy> builtin;  // set for a built-in
  std::string custom;              // the attribute's name otherwise
  std::string name() const;        // "tier" or the attribute's name
  friend bool operator==(const GroupKey&, const GroupKey&) = default;
};
// A measure or ranking attribute: a built-in (RankBy, converts implicitly) or an ordered
// custom attribute of the customers table (integer, decimal, amount, date, timestamp) by
// name, in its stored units (custdb/attributes.h). Indexed, as GroupKey says.
struct CUSTDB_EXPORT MeasureKey {
  MeasureKey(RankBy m) : builtin(m) {}  // NOLINT: implicit by design
  static MeasureKey attribute(std::string name) {
    MeasureKey k(RankBy::kTotalAmount);
    k.builtin.reset();
    k.custom = std::move(name);
    return k;
  }
  std::optional<RankBy> builtin;
  std::string custom;
  std::string name() const;  // "total_amount" or the attribute's name
  friend bool operator==(const MeasureKey&, const MeasureKey&) = default;
};

// Grouped aggregates of a segment (Segment::group, the wave-1 shape): count and total_amount
// and txn_count statistics per value of one attribute. Amounts in minor units of the base
// currency. Segment::report is the general form.
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

// One measure (an attribute's statistics) over one group. Exact integers in the attribute's
// stored units (see RankBy): the sum is 128 bits, so it never wraps (at most 2^32 customers,
// each value an int64). Customers without a value are not counted.
struct CUSTDB_EXPORT MeasureStats {
  std::uint64_t count = 0;  // members with a value
  AmountSum sum = 0;
  std::optional<std::int64_t> min, max;  // absent when count == 0
  // sum / count rounded half away from zero to an integer of the stored unit; absent when
  // count == 0. Exact (128-bit division), no floating point.
  std::optional<std::int64_t> avg() const;
};

// What Segment::report computes: groups by zero, one or two attributes (zero: one row for the
// whole segment), and for each group the number of customers and the statistics of each
// measure, in the order given.
struct ReportSpec {
  std::vector<GroupKey> by;          // at most 2; no attribute twice
  std::vector<MeasureKey> measures;  // any number, repeats allowed
};

// One group of a report. `group` holds one value per ReportSpec::by attribute: the enum
// name (tier "gold", consent "granted"), the text as indexed (region and city folded to lower
// case, country as stored, the tag), the number for income_band and r/f/m_score ("7"), and ""
// for a customer without the attribute (no region, no tag, no income band, never scored).
// A customer with several tags is in one group per tag.
struct ReportRow {
  std::vector<std::string> group;
  std::uint64_t customers = 0;
  std::vector<MeasureStats> measures;  // one per ReportSpec::measures, same order
};

// One ranked customer: its id and its value of the ranking attribute (stored units).
struct Ranked {
  CustomerId id = 0;
  std::int64_t value = 0;
  friend bool operator==(const Ranked&, const Ranked&) = default;
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
  // The n matching customers with the highest value of `by` (see RankBy), highest first;
  // ties by ascending id.
  Result<std::vector<Customer>> top(const MeasureKey& by, std::size_t n) const;
  // The same ranking as ids and values only, answered from the segment index without
  // reading records.
  Result<std::vector<Ranked>> rank(const MeasureKey& by, std::size_t n) const;
  // One row per group value present in the segment (by must be kTier, kRegion, kStage or
  // kType: the wave-1 shape), ordered by group.
  Result<std::vector<GroupRow>> group(GroupBy by) const;
  // Grouped measures from the segment index: one row per combination of group values present
  // in the segment, ordered by the attributes' natural order (enum number, text bytes,
  // number; "" first). kInvalidArgument for more than two `by` attributes or one twice.
  Result<std::vector<ReportRow>> report(const ReportSpec& spec) const;
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
