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

}  // namespace custdb::index
