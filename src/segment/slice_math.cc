#include "segment/slice_math.h"

#include <algorithm>
#include <cassert>

namespace custdb::segment {
namespace {

using index::IdSet;

// The value's bits from the top, narrowing `c` (non-empty, every member with a value) to the
// members that share the highest (want_max) or lowest prefix so far: O'Neil & Quass's walk.
std::uint64_t walk_extreme(const Slices& s, IdSet c, bool want_max) {
  std::uint64_t u = 0, size = c.size();
  assert(size > 0);
  for (int i = 63; i >= 0; --i) {
    const std::uint64_t ones = c.and_size(*s.bit[i]);
    if (want_max) {
      if (ones == 0) continue;  // nobody left has bit i: it is 0
      u |= std::uint64_t{1} << i;
      if (ones != size) c &= *s.bit[i], size = ones;
    } else {
      if (ones == size) {  // everybody left has bit i
        u |= std::uint64_t{1} << i;
        continue;
      }
      if (ones != 0) c -= *s.bit[i], size -= ones;
    }
  }
  return u;
}

}  // namespace

void accumulate(MeasureStats& m, std::int64_t v) {
  if (m.count == 0 || v < *m.min) m.min = v;
  if (m.count == 0 || v > *m.max) m.max = v;
  ++m.count;
  m.sum += v;
}

MeasureStats slice_stats(const Slices& s, const IdSet& group, bool want_min_max) {
  MeasureStats m;
  m.count = s.exists->and_size(group);
  if (m.count == 0) return m;
  // Σ u over the members, u = v + 2^63: each term below 2^64·2^32.
  AmountSum biased = 0;
  for (int i = 0; i < 64; ++i)
    biased += static_cast<AmountSum>(s.bit[i]->and_size(group)) << i;
  m.sum = biased - (static_cast<AmountSum>(m.count) << 63);
  if (want_min_max) {
    IdSet c = *s.exists & group;
    m.max = unbiased(walk_extreme(s, c, true));
    m.min = unbiased(walk_extreme(s, std::move(c), false));
  }
  return m;
}

static std::vector<CustomerId> ids_of(const IdSet& set) {
  std::vector<CustomerId> v;
  v.reserve(set.size());
  set.for_each([&](std::uint64_t id) {
    v.push_back(id);
    return true;
  });
  return v;
}

std::vector<std::int64_t> slice_values(const Slices& s, const std::vector<CustomerId>& ids) {
  assert(std::is_sorted(ids.begin(), ids.end()));
  std::vector<std::uint64_t> u(ids.size(), 0);
  if (ids.empty()) return {};
  IdSet want;
  for (CustomerId id : ids) want.add(id);
  for (int i = 0; i < 64; ++i) {
    const IdSet hit = *s.bit[i] & want;
    auto pos = ids.begin();
    hit.for_each([&](std::uint64_t id) {  // ascending, like ids: one forward search
      pos = std::lower_bound(pos, ids.end(), id);
      assert(pos != ids.end() && *pos == id);
      u[static_cast<std::size_t>(pos - ids.begin())] |= std::uint64_t{1} << i;
      return true;
    });
  }
  std::vector<std::int64_t> out(ids.size());
  for (std::size_t k = 0; k < ids.size(); ++k) out[k] = unbiased(u[k]);
  return out;
}

std::vector<Ranked> slice_top(const Slices& s, const IdSet& group, std::size_t n) {
  std::vector<Ranked> out;
  if (n == 0) return out;
  // sure: members certainly in the top n (a higher prefix than every candidate);
  // tied: candidates sharing the prefix walked so far.
  IdSet sure, tied = *s.exists & group;
  std::uint64_t sure_n = 0, tied_n = tied.size();
  {
    // Stops once every candidate fits (or the top is full).
    for (int i = 63; i >= 0 && sure_n < n && sure_n + tied_n > n; --i) {
      IdSet ones = tied & *s.bit[i];
      const std::uint64_t ones_n = ones.size();
      if (sure_n + ones_n > n) {  // too many with bit i: the top lies among them
        tied = std::move(ones);
        tied_n = ones_n;
      } else {  // all of them are in; the rest is among those with bit i clear
        sure |= ones;
        sure_n += ones_n;
        tied -= ones;
        tied_n -= ones_n;
        if (sure_n == n) tied = IdSet();
      }
    }
  }
  // Every tied candidate now has one same value (or all of them fit): the smallest ids win.
  std::vector<CustomerId> chosen = ids_of(sure);
  std::size_t room = n - std::min<std::size_t>(n, chosen.size());
  tied.for_each([&](std::uint64_t id) {
    if (room == 0) return false;
    chosen.push_back(id);
    --room;
    return true;
  });
  std::sort(chosen.begin(), chosen.end());
  const std::vector<std::int64_t> values = slice_values(s, chosen);
  out.reserve(chosen.size());
  for (std::size_t k = 0; k < chosen.size(); ++k) out.push_back({chosen[k], values[k]});
  std::sort(out.begin(), out.end(), [](const Ranked& a, const Ranked& b) {
    return a.value != b.value ? a.value > b.value : a.id < b.id;
  });
  return out;
}

MeasureStats bucket_stats(const std::vector<ValueBucket>& buckets, const IdSet& group) {
  MeasureStats m;
  for (const auto& b : buckets) {
    const std::uint64_t k = b.members->and_size(group);
    if (k == 0) continue;
    if (m.count == 0 || b.value < *m.min) m.min = b.value;
    if (m.count == 0 || b.value > *m.max) m.max = b.value;
    m.count += k;
    m.sum += static_cast<AmountSum>(b.value) * static_cast<AmountSum>(k);
  }
  return m;
}

std::vector<Ranked> bucket_top(const std::vector<ValueBucket>& buckets, const IdSet& group,
                               std::size_t n) {
  std::vector<const ValueBucket*> order;
  for (const auto& b : buckets) order.push_back(&b);
  std::stable_sort(order.begin(), order.end(),
                   [](const ValueBucket* a, const ValueBucket* b) { return a->value > b->value; });
  std::vector<Ranked> out;
  for (const ValueBucket* b : order) {
    if (out.size() >= n) break;
    const IdSet hit = *b->members & group;
    hit.for_each([&](std::uint64_t id) {
      if (out.size() >= n) return false;
      out.push_back({id, b->value});
      return true;
    });
  }
  return out;
}

}  // namespace custdb::segment
