// Bitmap operations the library's build makes slow. Debian's CRoaring 0.2.66 is built for the
// baseline x86-64 target, without POPCNT: the cardinality of an intersection of two bitset
// containers (8 KiB each) then counts bits in software, and the aggregates of a report
// (segment/slice_math.h: 64 intersection cardinalities per measure and group) spend most of
// their time there. Pure functions; thread-safe.
#pragma once

#include <roaring/roaring.hh>

#include <cstdint>

namespace custdb::index {

// |a ∧ b|, exactly as Roaring::and_cardinality, with POPCNT for bitset ∧ bitset containers where
// the CPU has it.
std::uint64_t and_cardinality(const Roaring& a, const Roaring& b);

// One Roaring container (2^16 ids: a stored segment chunk) as raw 64-bit words, bit j of word w
// = id w·64 + j of the container. Range and aggregate walks run on these words: CRoaring
// converts between array and bitset containers on every operation of a walk, which dominated
// them (docs/performance.md).
inline constexpr int kChunkWords = 1024;

// Writes the container of key `key` (the high 16 bits of the 32-bit ids) of r into `words`.
// Returns whether any bit is set; when not, `words` may be left as they were.
bool container_words(const Roaring& r, std::uint16_t key, std::uint64_t* words);
// The same for r's container at position `index` (0 <= index < its number of containers).
bool container_words_at(const Roaring& r, std::int32_t index, std::uint64_t* words);
// The number of bits set in the 1024 words.
std::uint64_t count_words(const std::uint64_t* words);
// The Roaring holding exactly the bits of `words` as the container of key `key`; `count` is
// count_words(words).
Roaring roaring_from_words(std::uint16_t key, const std::uint64_t* words, std::uint64_t count);

}  // namespace custdb::index
