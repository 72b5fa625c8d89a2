#include "segment/slices.h"

#include <cassert>
#include <string>
#include <vector>

#include "engine/db_impl.h"
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

// The 16-bit container keys (chunks within one 2^32 part) a Roaring occupies, ascending.
std::vector<std::uint16_t> containers_of(const Roaring& r) {
  const auto& ra = r.roaring.high_low_container;
  return std::vector<std::uint16_t>(ra.keys, ra.keys + ra.size);
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
    default: return std::nullopt;
  }
}

// ---- SliceReader -------------------------------------------------------------------------------

SliceReader::SliceReader(SegmentIndex& index, SegField f) : index_(index), field_(f) {
  assert(is_sliced(f));
}

Result<const index::IdSet*> SliceReader::read(int slice) {
  auto& slot = slices_[static_cast<std::size_t>(slice)];
  if (!slot) {
    auto m = index_.members_of_key(index_.db().seg_keys().slice_key(field_, slice));
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

Result<Roaring> SliceReader::chunk(int slice, std::uint64_t c) {
  // A slice already read in full answers from memory.
  if (const auto& full = slices_[static_cast<std::size_t>(slice)]) {
    Roaring out;
    if (const Roaring* part = full->part(id_set_high(c))) {
      Roaring mask;
      const std::uint64_t base = (c << kChunkShift) & 0xFFFFFFFFu;
      mask.addRange(base, base + (std::uint64_t{1} << kChunkShift));
      out = *part & mask;
    }
    return out;
  }
  return index_.chunk(index_.db().seg_keys().slice_key(field_, slice), c);
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
  if (!within) {
    auto e = exists();
    if (!e) return tl::unexpected(e.error());
    within = *e;
  }
  for (const auto& [high, w] : within->parts()) {
    if (w.isEmpty()) continue;
    const std::vector<std::uint16_t> keys = containers_of(w);
    // The slice restricted to the chunks the part's members occupy.
    auto restricted = [&](int slice) -> Result<Roaring> {
      Roaring s;
      for (std::uint16_t k : keys) {
        const std::uint64_t c = (std::uint64_t{high} << (32 - kChunkShift)) | k;
        auto bits = chunk(slice, c);
        if (!bits) return tl::unexpected(bits.error());
        s |= *bits;
      }
      return s;
    };
    Roaring members = w;
    if (!known) {
      // Without known bounds a member may have no value (its bits all 0, read as INT64_MIN).
      auto e = restricted(kExistsSlice);
      if (!e) return tl::unexpected(e.error());
      members &= *e;
    }
    // O'Neil & Quass: walk the bits from the top; eq_* hold the members whose bits so far equal
    // the bound's, lt_hi those already below hi, gt_lo those already above lo.
    Roaring eq_lo = members, eq_hi = members, lt_hi, gt_lo;
    for (int i = top; i >= 0; --i) {
      const bool need_lo = !eq_lo.isEmpty(), need_hi = !eq_hi.isEmpty();
      if (!need_lo && !need_hi) break;
      auto s = restricted(i);
      if (!s) return tl::unexpected(s.error());
      if (need_hi) {
        if ((uhi >> i) & 1) {
          lt_hi |= eq_hi - *s;
          eq_hi &= *s;
        } else {
          eq_hi -= *s;
        }
      }
      if (need_lo) {
        if ((ulo >> i) & 1) {
          eq_lo &= *s;
        } else {
          gt_lo |= eq_lo & *s;
          eq_lo -= *s;
        }
      }
    }
    Roaring below = lt_hi | eq_hi, above = gt_lo | eq_lo;
    Roaring in = below & above;
    if (!in.isEmpty()) out.merge(high, in);
  }
  return out;
}

}  // namespace custdb::segment
