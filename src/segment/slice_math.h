// Aggregates over a bit-sliced index (BSI): sum, count, min, max and top-k of one attribute over
// a group of customers, computed from the slices' bitmaps without reading records.
// After O'Neil & Quass 1997, "Improved query performance with variant indexes" (SIGMOD), the
// bit-sliced sum and the slice walks for min/max and for a top-k threshold.
//
// The slices (src/segment/slices.h, owned by the segment index): a value v (int64, stored
// units) is held as u = uint64(v) XOR 2^63, which orders like v; slice i (0..63) is the set of
// customers whose u has bit i set, and `exists` the customers that have a value. A customer
// without a value is in no slice.
//
// Pure functions over in-memory sets: they never read storage and never fail. The caller owns
// the Slices (pointers into a SliceReader, say) and keeps them alive during a call.
// Thread-safety: none needed (no shared state).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "custdb/segment.h"
#include "index/id_set.h"
#include "segment/slices.h"

namespace custdb::segment {

// One attribute's slices: bit[i] is slice i, `exists` the customers with a value. Every
// pointer non-null (an absent slice is an empty set). Every bit[i] must lie within `exists`.
struct Slices {
  std::array<const index::IdSet*, 64> bit{};
  const index::IdSet* exists = nullptr;
};

// The order-preserving bias of a value is slices.h's biased(); unbiased() its inverse.

// count, sum, min and max of the attribute over the members of `group` that have a value.
// sum = Σ_i 2^i·|slice_i ∧ group| − n·2^63 (n = |exists ∧ group|), exact in 128 bits: at most
// 2^32 customers, so |sum| < 2^95. Costs 65 intersection cardinalities (no materialized
// intersections) plus, for min and max, one walk of the slices each from the top (64 steps).
MeasureStats slice_stats(const Slices& s, const index::IdSet& group, bool want_min_max = true);

// The n members of `group` with the highest values, highest first, ties by ascending id; fewer
// when fewer have a value. The threshold walk keeps the members sure to be in the top
// (a higher bit than the rest) and the still-tied candidates; the last tie is broken by the
// candidates' smallest ids. Then the chosen ids' values are read back from the slices.
std::vector<Ranked> slice_top(const Slices& s, const index::IdSet& group, std::size_t n);

// The values of `ids` (ascending, each with a value: within `exists`), in the same order,
// read from the slices: Σ over slices of |slice_i ∧ ids| lookups.
std::vector<std::int64_t> slice_values(const Slices& s, const std::vector<CustomerId>& ids);

// ---- exact buckets (income_band, r/f/m_score: one bucket posting per value) ----------------------
// buckets[k] = (value, members of that value). count, sum Σ value·|bucket ∧ group|, min, max.
struct ValueBucket {
  std::int64_t value;
  const index::IdSet* members;
};
MeasureStats bucket_stats(const std::vector<ValueBucket>& buckets, const index::IdSet& group);
// Top n by value, ties by ascending id (buckets in any order).
std::vector<Ranked> bucket_top(const std::vector<ValueBucket>& buckets, const index::IdSet& group,
                               std::size_t n);

// Adds one value to running statistics (the record-scan fallback and the tests' reference).
void accumulate(MeasureStats& m, std::int64_t v);

}  // namespace custdb::segment
