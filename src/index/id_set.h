// A set of customer ids for the segment evaluator: CRoaring bitmaps keyed by the ids' high 32 bits
// (Debian's CRoaring 0.2.66 hides Roaring64Map's parts, which set algebra on stored chunks
// needs). Ids below 2^32 live in one Roaring. A value type; not thread-safe.
#pragma once

#include <roaring/roaring.hh>

#include <cstdint>
#include <functional>
#include <map>

namespace custdb::index {

class IdSet {
 public:
  void add(std::uint64_t id) { parts_[static_cast<std::uint32_t>(id >> 32)].add(static_cast<std::uint32_t>(id)); }
  bool contains(std::uint64_t id) const {
    auto it = parts_.find(static_cast<std::uint32_t>(id >> 32));
    return it != parts_.end() && it->second.contains(static_cast<std::uint32_t>(id));
  }
  // ORs a stored chunk (a Roaring of the low 32 bits) into the part for `high`.
  void merge(std::uint32_t high, const Roaring& low) { parts_[high] |= low; }

  // The parts by the ids' high 32 bits (each a Roaring of the low 32 bits); may hold empty ones.
  const std::map<std::uint32_t, Roaring>& parts() const { return parts_; }
  // The part for `high`, null when there is none.
  const Roaring* part(std::uint32_t high) const {
    auto it = parts_.find(high);
    return it == parts_.end() ? nullptr : &it->second;
  }

  std::uint64_t size() const {
    std::uint64_t n = 0;
    for (const auto& [h, r] : parts_) n += r.cardinality();
    return n;
  }
  bool empty() const { return size() == 0; }

  IdSet& operator|=(const IdSet& o) {
    for (const auto& [h, r] : o.parts_) parts_[h] |= r;
    return *this;
  }
  IdSet& operator&=(const IdSet& o) {
    for (auto it = parts_.begin(); it != parts_.end();) {
      auto other = o.parts_.find(it->first);
      if (other == o.parts_.end()) {
        it = parts_.erase(it);
      } else {
        it->second &= other->second;
        ++it;
      }
    }
    return *this;
  }
  IdSet& operator-=(const IdSet& o) {
    for (auto& [h, r] : parts_) {
      auto other = o.parts_.find(h);
      if (other != o.parts_.end()) r -= other->second;
    }
    return *this;
  }
  friend IdSet operator|(IdSet a, const IdSet& b) { return a |= b; }
  friend IdSet operator&(IdSet a, const IdSet& b) { return a &= b; }
  friend IdSet operator-(IdSet a, const IdSet& b) { return a -= b; }
  std::uint64_t and_size(const IdSet& o) const {
    std::uint64_t n = 0;
    for (const auto& [h, r] : parts_) {
      auto other = o.parts_.find(h);
      if (other != o.parts_.end()) n += r.and_cardinality(other->second);
    }
    return n;
  }

  // Ascending; fn returns false to stop.
  void for_each(const std::function<bool(std::uint64_t)>& fn) const {
    for (const auto& [h, r] : parts_)
      for (auto it = r.begin(); it != r.end(); ++it)
        if (!fn((std::uint64_t{h} << 32) | *it)) return;
  }
  // Ascending ids greater than `after`, up to `limit` of them (0: all).
  std::vector<std::uint64_t> page(std::uint64_t after, std::size_t limit) const {
    std::vector<std::uint64_t> out;
    for (const auto& [h, r] : parts_) {
      if ((std::uint64_t{h} << 32 | 0xFFFFFFFFu) <= after && after != 0) continue;
      for (auto it = r.begin(); it != r.end(); ++it) {
        std::uint64_t id = (std::uint64_t{h} << 32) | *it;
        if (id <= after) continue;
        out.push_back(id);
        if (limit && out.size() == limit) return out;
      }
    }
    return out;
  }

 private:
  std::map<std::uint32_t, Roaring> parts_;
};

}  // namespace custdb::index
