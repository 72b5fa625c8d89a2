#include "index/bitmap_ops.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <vector>

namespace custdb::index {
namespace {

// Set bits of a ∧ b over one bitset container's 1024 words.
__attribute__((target_clones("popcnt", "default")))
std::uint64_t bitset_and_count(const std::uint64_t* a, const std::uint64_t* b) {
  std::uint64_t n = 0;
  for (int i = 0; i < 1024; ++i) n += static_cast<std::uint64_t>(__builtin_popcountll(a[i] & b[i]));
  return n;
}

__attribute__((target_clones("popcnt", "default")))
std::uint64_t popcount_words(const std::uint64_t* a) {
  std::uint64_t n = 0;
  for (int i = 0; i < kChunkWords; ++i) n += static_cast<std::uint64_t>(__builtin_popcountll(a[i]));
  return n;
}

// Writes one container (unwrapped) as words.
bool write_words(const void* c, std::uint8_t type, std::uint64_t* words) {
  switch (type) {
    case BITSET_CONTAINER_TYPE_CODE: {
      const auto* b = static_cast<const bitset_container_t*>(c);
      std::memcpy(words, b->array, sizeof(std::uint64_t) * kChunkWords);
      return b->cardinality != 0;
    }
    case ARRAY_CONTAINER_TYPE_CODE: {
      const auto* a = static_cast<const array_container_t*>(c);
      std::memset(words, 0, sizeof(std::uint64_t) * kChunkWords);
      for (std::int32_t i = 0; i < a->cardinality; ++i)
        words[a->array[i] >> 6] |= std::uint64_t{1} << (a->array[i] & 63);
      return a->cardinality != 0;
    }
    case RUN_CONTAINER_TYPE_CODE: {
      const auto* r = static_cast<const run_container_t*>(c);
      std::memset(words, 0, sizeof(std::uint64_t) * kChunkWords);
      for (std::int32_t i = 0; i < r->n_runs; ++i) {
        // [start, end] inclusive; end <= 65535 (decode_bitmap checked stored runs).
        const std::uint32_t start = r->runs[i].value;
        const std::uint32_t end = std::min<std::uint32_t>(start + r->runs[i].length, 65535);
        std::uint32_t w0 = start >> 6, w1 = end >> 6;
        const std::uint64_t first = ~std::uint64_t{0} << (start & 63);
        const std::uint64_t last = ~std::uint64_t{0} >> (63 - (end & 63));
        if (w0 == w1) {
          words[w0] |= first & last;
        } else {
          words[w0] |= first;
          for (std::uint32_t w = w0 + 1; w < w1; ++w) words[w] = ~std::uint64_t{0};
          words[w1] |= last;
        }
      }
      return r->n_runs != 0;
    }
    default:
      assert(false && "unknown container type");
      std::memset(words, 0, sizeof(std::uint64_t) * kChunkWords);
      return false;
  }
}

}  // namespace

bool container_words_at(const Roaring& r, std::int32_t index, std::uint64_t* words) {
  const roaring_array_t& a = r.roaring.high_low_container;
  assert(index >= 0 && index < a.size);
  std::uint8_t type = a.typecodes[index];
  const void* c = container_unwrap_shared(a.containers[index], &type);
  return write_words(c, type, words);
}

bool container_words(const Roaring& r, std::uint16_t key, std::uint64_t* words) {
  const roaring_array_t& a = r.roaring.high_low_container;
  std::int32_t lo = 0, hi = a.size;  // keys ascending
  while (lo < hi) {
    const std::int32_t mid = lo + (hi - lo) / 2;
    if (a.keys[mid] < key) lo = mid + 1; else hi = mid;
  }
  if (lo < a.size && a.keys[lo] == key) return container_words_at(r, lo, words);
  return false;
}

std::uint64_t count_words(const std::uint64_t* words) { return popcount_words(words); }

Roaring roaring_from_words(std::uint16_t key, const std::uint64_t* words, std::uint64_t count) {
  if (count == 0) return Roaring();
  // Portable serialization of one container (cookie 12346, count, key, cardinality - 1,
  // offset, body: sorted u16 values up to 4,096 bits, else the 8 KiB bitset), read back.
  constexpr std::size_t kHeader = 16;
  const bool bitset = count > 4096;
  const std::size_t size = kHeader + (bitset ? sizeof(std::uint64_t) * kChunkWords : 2 * count);
  thread_local std::vector<char> buf;
  buf.resize(size);
  auto* u = reinterpret_cast<std::uint8_t*>(buf.data());
  auto put16 = [&](std::size_t at, std::uint32_t v) { u[at] = v & 0xFF, u[at + 1] = (v >> 8) & 0xFF; };
  auto put32 = [&](std::size_t at, std::uint32_t v) { put16(at, v & 0xFFFF), put16(at + 2, v >> 16); };
  put32(0, 12346);
  put32(4, 1);
  put16(8, key);
  put16(10, static_cast<std::uint32_t>(count - 1));
  put32(12, kHeader);
  if (bitset) {
    static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "portable format is little-endian");
    std::memcpy(u + kHeader, words, sizeof(std::uint64_t) * kChunkWords);
  } else {
    std::size_t at = kHeader;
    for (int w = 0; w < kChunkWords; ++w)
      for (std::uint64_t bits = words[w]; bits != 0; bits &= bits - 1) {
        put16(at, static_cast<std::uint32_t>(w * 64 + __builtin_ctzll(bits)));
        at += 2;
      }
  }
  return Roaring::readSafe(buf.data(), size);
}

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
