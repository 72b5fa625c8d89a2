#include "index/bitmap_ops.h"

namespace custdb::index {
namespace {

// Set bits of a ∧ b over one bitset container's 1024 words.
__attribute__((target_clones("popcnt", "default")))
std::uint64_t bitset_and_count(const std::uint64_t* a, const std::uint64_t* b) {
  std::uint64_t n = 0;
  for (int i = 0; i < 1024; ++i) n += static_cast<std::uint64_t>(__builtin_popcountll(a[i] & b[i]));
  return n;
}

}  // namespace

std::uint64_t and_cardinality(const Roaring& x, const Roaring& y) {
  const roaring_array_t& a = x.roaring.high_low_container;
  const roaring_array_t& b = y.roaring.high_low_container;
  std::uint64_t n = 0;
  std::int32_t i = 0, j = 0;
  while (i < a.size && j < b.size) {  // containers in ascending key order
    const std::uint16_t ka = a.keys[i], kb = b.keys[j];
    if (ka < kb) {
      ++i;
    } else if (kb < ka) {
      ++j;
    } else {
      std::uint8_t ta = a.typecodes[i], tb = b.typecodes[j];
      const void* ca = container_unwrap_shared(a.containers[i], &ta);
      const void* cb = container_unwrap_shared(b.containers[j], &tb);
      if (ta == BITSET_CONTAINER_TYPE_CODE && tb == BITSET_CONTAINER_TYPE_CODE)
        n += bitset_and_count(static_cast<const bitset_container_t*>(ca)->array,
                              static_cast<const bitset_container_t*>(cb)->array);
      else
        n += static_cast<std::uint64_t>(container_and_cardinality(ca, ta, cb, tb));
      ++i, ++j;
    }
  }
  return n;
}

}  // namespace custdb::index
