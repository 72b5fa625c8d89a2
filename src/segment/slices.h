// The bit-sliced index (BSI) of the ordered attributes that need exact values (O'Neil & Quass
// 1997, "Improved query performance with variant indexes"): per sliced field, 64 value slices
// and one "exists" slice, each stored exactly like a bucket posting (segment_index.h: one
// enveloped Roaring per 2^16 ids in idx.segments), so the write queue, flush, sealing and
// SegmentCheck cover them. Only files of format 2 have slices (SegmentKeys::sliced()).
//
// A value v (int64, stored units: days, ms, minor units, counts, millionths) is sliced as
// u = biased(v) = uint64(v) XOR 2^63, which orders like v. Slice i (0..63) holds the customers
// whose u has bit i set; slice kExistsSlice the customers that have a value at all. An empty
// slice has no stored chunk (absent = empty).
//
// Keys (docs/format.md, "Slices"): plaintext posting key [0x40 + field][1][slice]; encrypted
// token(32 + field, [0xFF, slice]) (two bytes: never an 8-byte bucket of the same field).
//
// Who calls what: the writer diffs a customer's values numerically (queue_postings keeps the
// values before and after, flush writes the flipped bits per chunk); for_each_delta lists the
// same bits as deltas (checker, tests); the evaluator and the aggregates (slice_math.h) read
// them through SliceReader. Thread-safety: the free functions are pure; a SliceReader belongs
// to the thread of the transaction its SegmentIndex was made for.
#pragma once

#include <roaring/roaring.hh>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "custdb/attributes.h"

#include "custdb/status.h"
#include "custdb/types.h"
#include "index/id_set.h"
#include "index/segments.h"

namespace custdb::segment {

class SegmentIndex;
using index::Posting;
using index::SegField;

inline constexpr int kValueSlices = 64, kExistsSlice = 64;
inline constexpr int kSlicesPerField = kValueSlices + 1;
// Plaintext posting keys of slices start with this plus the field (never a SegField value).
inline constexpr std::uint8_t kSliceFieldBase = 0x40;
// The sliced fields, in SegField order.
// The last four (format 6, the HoldingAggregates) have slices and no bucket postings; a file
// of format 5 or older (opened read-only) has none of their slices (SegmentKeys::holdings()).
inline constexpr std::array<SegField, 13> kSlicedFields = {
    SegField::kBirthDate, SegField::kCreatedAt,  SegField::kTxnCount,
    SegField::kTotalAmount, SegField::kFirstTxnAt, SegField::kLastTxnAt,
    SegField::kPAlive,    SegField::kExpectedPurchases, SegField::kClv,
    SegField::kAum, SegField::kLiabilities, SegField::kProducts, SegField::kFirstProductOn};
// The first of kSlicedFields that format 6 added: indexes at and after it are holdings fields.
inline constexpr std::size_t kFirstHoldingsSlicedField = 9;

// birth_date, created_at, txn_count, total_amount, first/last_txn_at, p_alive,
// expected_purchases, clv, aum, liabilities, products, first_product_on. (income_band and
// r/f/m scores are exact through their buckets.)
bool is_sliced(SegField f);
// Whether f is one of the format-6 holdings aggregates (aum, liabilities, products,
// first_product_on): sliced, never bucketed.
inline bool is_holdings_field(SegField f) {
  return f == SegField::kAum || f == SegField::kLiabilities || f == SegField::kProducts ||
         f == SegField::kFirstProductOn;
}
// 0..12 for a sliced field (its place in kSlicedFields), -1 otherwise.
int sliced_index(SegField f);
// The posting of slice `slice` (0..kExistsSlice) of sliced field f.
Posting slice_posting(SegField f, int slice);
// The same, one static object per slice (Delta::posting points at it).
const Posting& slice_posting_ref(SegField f, int slice);
// Whether p is a slice posting; then *f and *slice say which (plaintext key shape).
bool is_slice_posting(const Posting& p, SegField* f = nullptr, int* slice = nullptr);

inline std::uint64_t biased(std::int64_t v) {
  return static_cast<std::uint64_t>(v) ^ (std::uint64_t{1} << 63);
}
inline std::int64_t unbiased(std::uint64_t u) {
  return static_cast<std::int64_t>(u ^ (std::uint64_t{1} << 63));
}

// The value of sliced field f a customer has (the one its buckets are made of); nullopt when
// it has none (no birth date, no transaction yet, never scored).
std::optional<std::int64_t> sliced_value(const Customer& c, SegField f);

// One field's slices read in one transaction: slice() and exists() read a slice once and keep
// it; range() reads only the chunks it needs (from a kept slice when there is one). Not thread-safe; valid while the SegmentIndex (and its transaction) lives.
// Errors: kCorruption for a malformed chunk; storage errors as read.
class SliceReader {
 public:
  SliceReader(SegmentIndex& index, SegField f);
  // The slices of ordered custom attribute `def` (attribute_index.h); field() is kAttribute.
  SliceReader(SegmentIndex& index, const AttributeDef& def);

  SegField field() const { return field_; }
  // Slice i (0..63) in full: every chunk. The empty set when absent.
  Result<const index::IdSet*> slice(int i);
  // The customers with a value.
  Result<const index::IdSet*> exists();

  // Members of `within` (every customer with a value when null) whose value is in [lo, hi]
  // (inclusive, stored units). Evaluated per 2^16-id chunk, reading only the slice chunks the
  // members of `within` occupy, from the highest bit down, stopping once no member still
  // equals a bound's prefix. `known`, when given, is an interval every member of `within` is
  // known to lie in (the bounds of its bucket): the leading bits all its values share are
  // then not read. Cost: O(bits below the shared prefix × chunks of within) chunk reads.
  Result<index::IdSet> range(std::int64_t lo, std::int64_t hi, const index::IdSet* within = nullptr,
                             std::optional<std::pair<std::int64_t, std::int64_t>> known = std::nullopt);

 private:
  Result<const index::IdSet*> read(int slice);
  // Chunk `chunk` of slice i as index::kChunkWords words; false (words untouched) when no bit
  // is set. For range().
  Result<bool> chunk_words(int slice, std::uint64_t chunk, std::uint64_t* words);

  SegmentIndex& index_;
  SegField field_;
  std::vector<std::string> keys_;  // the posting key of each slice
  std::array<std::optional<index::IdSet>, kSlicesPerField> slices_;
};

}  // namespace custdb::segment
