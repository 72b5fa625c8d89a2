#include "segment/slices.h"

#include <algorithm>
#include <cassert>
#include <string>
#include <vector>

#include "engine/db_impl.h"
#include "index/bitmap_ops.h"
#include "segment/segment_index.h"

namespace custdb::segment {
namespace {

// The Posting objects of every slice, built once (Delta::posting points into it).
const std::vector<Posting>& all_slice_postings() {
  static const std::vector<Posting> postings = [] {
    std::vector<Posting> v;
    v.reserve(kSlicedFields.size() * kSlicesPerField);
    for (SegField f : kSlicedFields)
      for (int i = 0; i < kSlicesPerField; ++i) v.push_back(slice_posting(f, i));
    return v;
  }();
  return postings;
}

}  // namespace

bool is_sliced(SegField f) { return sliced_index(f) >= 0; }

int sliced_index(SegField f) {
  for (std::size_t i = 0; i < kSlicedFields.size(); ++i)
    if (kSlicedFields[i] == f) return static_cast<int>(i);
  return -1;
}

Posting slice_posting(SegField f, int slice) {
  assert(is_sliced(f) && slice >= 0 && slice < kSlicesPerField);
  return Posting{static_cast<SegField>(kSliceFieldBase + static_cast<std::uint8_t>(f)),
                 std::string(1, static_cast<char>(slice))};
}

const Posting& slice_posting_ref(SegField f, int slice) {
  assert(is_sliced(f) && slice >= 0 && slice < kSlicesPerField);
  return all_slice_postings()[static_cast<std::size_t>(sliced_index(f) * kSlicesPerField + slice)];
}

bool is_slice_posting(const Posting& p, SegField* f, int* slice) {
  const auto raw = static_cast<std::uint8_t>(p.field);
  if (raw < kSliceFieldBase || p.bucket.size() != 1) return false;
  const auto base = static_cast<SegField>(raw - kSliceFieldBase);
  const int s = static_cast<std::uint8_t>(p.bucket[0]);
  if (!is_sliced(base) || s >= kSlicesPerField) return false;
  if (f) *f = base;
  if (slice) *slice = s;
  return true;
}

std::optional<std::int64_t> sliced_value(const Customer& c, SegField f) {
  // The same values index::customer_postings buckets (keep in step with it).
  switch (f) {
    case SegField::kBirthDate:
      if (c.birth_date) return c.birth_date->time_since_epoch().count();
      return std::nullopt;
    case SegField::kCreatedAt: return c.created_at.time_since_epoch().count();
    case SegField::kTxnCount: return static_cast<std::int64_t>(c.aggregates.txn_count);
    case SegField::kTotalAmount: return c.aggregates.total_amount;
    case SegField::kFirstTxnAt:
      if (c.aggregates.first_txn_at) return c.aggregates.first_txn_at->time_since_epoch().count();
      return std::nullopt;
    case SegField::kLastTxnAt:
      if (c.aggregates.last_txn_at) return c.aggregates.last_txn_at->time_since_epoch().count();
      return std::nullopt;
    case SegField::kPAlive:
      if (c.scores) return to_millionths(c.scores->p_alive);
      return std::nullopt;
    case SegField::kExpectedPurchases:
      if (c.scores) return to_millionths(c.scores->expected_purchases);
      return std::nullopt;
    case SegField::kClv:
      if (c.scores) return c.scores->clv;
      return std::nullopt;
    // Format 6: always present but first_product_on (absent without holdings).
    case SegField::kAum: return c.holdings.aum;
    case SegField::kLiabilities: return c.holdings.liabilities;
    case SegField::kProducts: return static_cast<std::int64_t>(c.holdings.products);
    case SegField::kFirstProductOn:
      if (c.holdings.first_product_on) return c.holdings.first_product_on->time_since_epoch().count();
      return std::nullopt;
    default: return std::nullopt;
  }
}

// ---- SliceReader -------------------------------------------------------------------------------

SliceReader::SliceReader(SegmentIndex& index, SegField f) : index_(index), field_(f) {
  assert(is_sliced(f));
  for (int i = 0; i < kSlicesPerField; ++i) keys_.push_back(index.db().seg_keys().slice_key(f, i));
}

SliceReader::SliceReader(SegmentIndex& index, const AttributeDef& def)
    : index_(index), field_(SegField::kAttribute) {
  const bool personal = def.personal;
  for (int i = 0; i < kSlicesPerField; ++i)
    keys_.push_back(index.db().seg_keys().attribute_slice_key(def.id, personal, i));
}

Result<const index::IdSet*> SliceReader::read(int slice) {
  auto& slot = slices_[static_cast<std::size_t>(slice)];
  if (!slot) {
    auto m = index_.members_of_key(keys_[static_cast<std::size_t>(slice)]);
    if (!m) return tl::unexpected(m.error());
    slot = std::move(*m);
  }
  return &*slot;
}

Result<const index::IdSet*> SliceReader::slice(int i) {
  assert(i >= 0 && i < kValueSlices);
  return read(i);
}

Result<const index::IdSet*> SliceReader::exists() { return read(kExistsSlice); }

Result<bool> SliceReader::chunk_words(int slice, std::uint64_t c, std::uint64_t* words) {
  const auto key = static_cast<std::uint16_t>(c & 0xFFFF);  // the container within its part
  // A slice already read in full answers from memory.
  if (const auto& full = slices_[static_cast<std::size_t>(slice)]) {
    const Roaring* part = full->part(id_set_high(c));
    return part != nullptr && index::container_words(*part, key, words);
  }
  auto bits = index_.chunk(keys_[static_cast<std::size_t>(slice)], c);
  if (!bits) return tl::unexpected(bits.error());
  return index::container_words(*bits, key, words);
}

Result<index::IdSet> SliceReader::range(std::int64_t lo, std::int64_t hi, const index::IdSet* within,
                                        std::optional<std::pair<std::int64_t, std::int64_t>> known) {
  index::IdSet out;
  int top = kValueSlices - 1;
  if (known) {
    assert(known->first <= known->second);
    lo = std::max(lo, known->first);
    hi = std::min(hi, known->second);
    // Every member's value lies in `known`, so the leading bits its two ends share are every
    // member's bits, and (after the clamp) the bounds' too: those slices cannot tell members
    // apart and are not read.
    const std::uint64_t diff = biased(known->first) ^ biased(known->second);
    top = diff == 0 ? -1 : 63 - __builtin_clzll(diff);
  }
  if (lo > hi) return out;
  const std::uint64_t ulo = biased(lo), uhi = biased(hi);
  const bool all_with_value = within == nullptr;
  if (!within) {
    auto e = exists();
    if (!e) return tl::unexpected(e.error());
    within = *e;
  }
  // O'Neil & Quass, per 2^16-id chunk on raw words (index/bitmap_ops.h: CRoaring's container
  // conversions dominated the walk): from the top bit down, eq_lo/eq_hi hold the members whose
  // bits so far equal the bound's, lt_hi those already below hi, gt_lo those already above lo;
  // a chunk stops once neither eq set has a member left.
  constexpr int W = index::kChunkWords;
  alignas(64) std::uint64_t s[W], eq_lo[W], eq_hi[W], lt_hi[W], gt_lo[W];
  for (const auto& [part_high, w] : within->parts()) {
    if (w.isEmpty()) continue;
    const std::uint32_t high = part_high;
    Roaring in;
    const std::int32_t containers = w.roaring.high_low_container.size;
    for (std::int32_t ci = 0; ci < containers; ++ci) {
      const std::uint16_t key = w.roaring.high_low_container.keys[ci];
      const std::uint64_t c = (std::uint64_t{high} << (32 - kChunkShift)) | key;
      if (!index::container_words_at(w, ci, eq_lo)) continue;
      if (!known && !all_with_value) {
        // Without known bounds a member may have no value (its bits all 0, read as INT64_MIN).
        auto any = chunk_words(kExistsSlice, c, s);
        if (!any) return tl::unexpected(any.error());
        if (!*any) continue;
        for (int j = 0; j < W; ++j) eq_lo[j] &= s[j];
      }
      std::copy(eq_lo, eq_lo + W, eq_hi);
      std::fill(lt_hi, lt_hi + W, 0);
      std::fill(gt_lo, gt_lo + W, 0);
      bool need_lo = true, need_hi = true;
      for (int i = top; i >= 0 && (need_lo || need_hi); --i) {
        auto present = chunk_words(i, c, s);
        if (!present) return tl::unexpected(present.error());
        if (!*present) {
          // An empty slice chunk (most high bits of small values): every member has bit i 0,
          // so members equal to a bound with bit i set fall below it, and the others stay.
          if (need_hi && ((uhi >> i) & 1)) {
            for (int j = 0; j < W; ++j) lt_hi[j] |= eq_hi[j];
            std::fill(eq_hi, eq_hi + W, 0);
            need_hi = false;
          }
          if (need_lo && ((ulo >> i) & 1)) {
            std::fill(eq_lo, eq_lo + W, 0);
            need_lo = false;
          }
          continue;
        }
        if (need_hi) {
          std::uint64_t any = 0;
          if ((uhi >> i) & 1) {
            for (int j = 0; j < W; ++j) {
              lt_hi[j] |= eq_hi[j] & ~s[j];
              eq_hi[j] &= s[j];
              any |= eq_hi[j];
            }
          } else {
            for (int j = 0; j < W; ++j) {
              eq_hi[j] &= ~s[j];
              any |= eq_hi[j];
            }
          }
          need_hi = any != 0;
        }
        if (need_lo) {
          std::uint64_t any = 0;
          if ((ulo >> i) & 1) {
            for (int j = 0; j < W; ++j) {
              eq_lo[j] &= s[j];
              any |= eq_lo[j];
            }
          } else {
            for (int j = 0; j < W; ++j) {
              gt_lo[j] |= eq_lo[j] & s[j];
              eq_lo[j] &= ~s[j];
              any |= eq_lo[j];
            }
          }
          need_lo = any != 0;
        }
      }
      // In range: (below hi or equal to it) and (above lo or equal to it).
      for (int j = 0; j < W; ++j) s[j] = (lt_hi[j] | eq_hi[j]) & (gt_lo[j] | eq_lo[j]);
      const std::uint64_t n = index::count_words(s);
      if (n != 0) in |= index::roaring_from_words(key, s, n);
    }
    if (!in.isEmpty()) out.merge(high, in);
  }
  return out;
}

}  // namespace custdb::segment
