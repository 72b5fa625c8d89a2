// Fixed-width integer codings of custdb's keys and values, as leveldb's util/coding.h.
//
// Keys use big-endian integers so that byte order (LMDB's memcmp key order) is numeric order;
// signed values are biased (sign bit flipped) so that negative numbers sort first. The file
// header and checksums (docs/format.md) are little-endian. Every function reads or writes
// exactly the stated number of bytes at `p`; callers size their buffers. No state, thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace custdb::coding {

// A view of stored or encoded bytes (into an LMDB page or a caller's buffer).
using Bytes = std::span<const std::uint8_t>;

inline Bytes as_bytes(std::string_view s) {
  return Bytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}
inline std::string_view as_view(Bytes b) {
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}

// ---- big-endian (key order) ----
inline void put_u64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<std::uint8_t>(v);
}
inline std::uint64_t get_u64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}
inline void put_u32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 3; i >= 0; --i, v >>= 8) p[i] = static_cast<std::uint8_t>(v);
}
inline std::uint32_t get_u32(const std::uint8_t* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | p[i];
  return v;
}
// Signed, biased: put_i64(INT64_MIN) is 8 zero bytes, put_i64(0) is 80 00 .. 00.
inline void put_i64(std::uint8_t* p, std::int64_t v) {
  put_u64(p, static_cast<std::uint64_t>(v) ^ (std::uint64_t{1} << 63));
}
inline std::int64_t get_i64(const std::uint8_t* p) {
  return static_cast<std::int64_t>(get_u64(p) ^ (std::uint64_t{1} << 63));
}
inline void put_i32(std::uint8_t* p, std::int32_t v) {
  put_u32(p, static_cast<std::uint32_t>(v) ^ 0x80000000u);
}
inline std::int32_t get_i32(const std::uint8_t* p) {
  return static_cast<std::int32_t>(get_u32(p) ^ 0x80000000u);
}

// 8 bytes big-endian as a string (index keys and values are strings).
inline std::string be64(std::uint64_t v) {
  std::string s(8, '\0');
  put_u64(reinterpret_cast<std::uint8_t*>(s.data()), v);
  return s;
}

// ---- little-endian (file header, checksums) ----
inline void put_le32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
inline std::uint32_t get_le32(const std::uint8_t* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= std::uint32_t{p[i]} << (8 * i);
  return v;
}
inline void put_le64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
inline std::uint64_t get_le64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t{p[i]} << (8 * i);
  return v;
}

// A record's key: its id as 8 big-endian bytes, held by value (no allocation).
struct IdKey {
  std::uint8_t bytes[8];
  explicit IdKey(std::uint64_t id) { put_u64(bytes, id); }
  Bytes span() const { return Bytes(bytes, 8); }
};

}  // namespace custdb::coding
