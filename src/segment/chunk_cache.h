// A per-database cache of opened segment chunks: the bitmap of a stored chunk keyed by its
// chunk key, valid only while the stored value is the one it was opened from.
//
// Why: a report reads every chunk of 65 slices per measure (segment/slice_math.h); opening a
// chunk (AEAD decryption or checksum, then bitmap validation) dominated reports, and bounded
// encrypted ones at about 0.4× plaintext (docs/performance.md).
// Validity: the identity of a stored value is its length, leading bytes and trailing 16.
// Sealed: a nonce is never reused under a key and the tag authenticates the ciphertext together
// with the chunk key (the AEAD's associated data), so equal version, flags, nonce and tag mean
// the value the bitmap was opened from; a chunk rewritten by any writer, in any process, gets a
// fresh nonce, so the entry no longer matches and is replaced. Plaintext: the leading bytes hold
// the XXH3-64 checksum of (table, key, version, flags, payload): a rewritten chunk matches an
// entry only on a 64-bit checksum collision (plaintext mode does not resist deliberate
// tampering anyway: docs/security.md §8).
//
// Thread-safety: every call takes the cache's mutex (read transactions of several threads
// share it). Bounded: least recently used entries are dropped beyond `capacity` bytes.
#pragma once

#include <roaring/roaring.hh>

#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "storage/lmdb.h"
#include "util/mutex.h"
#include "util/thread_annotations.h"

namespace custdb::segment {

class ChunkCache {
 public:
  explicit ChunkCache(std::size_t capacity_bytes = std::size_t{64} << 20) : capacity_(capacity_bytes) {}
  ChunkCache(const ChunkCache&) = delete;
  ChunkCache& operator=(const ChunkCache&) = delete;

  // The bitmap opened from `stored` under `key`, when cached; nullopt otherwise.
  std::optional<Roaring> get(std::string_view key, storage::Bytes stored) EXCLUDES(mu_);
  // Remembers the bitmap opened from `stored` under `key`.
  void put(std::string_view key, storage::Bytes stored, const Roaring& bits) EXCLUDES(mu_);

  // The identity of a stored value: its length, leading 26 bytes (version, flags, and the
  // nonce or the checksum) and trailing 16 (the tag when sealed).
  static std::string identity(storage::Bytes stored);

 private:
  struct Entry {
    std::string identity;
    Roaring bits;
    std::size_t bytes = 0;
    std::list<std::string>::iterator lru;
  };
  void evict_locked() REQUIRES(mu_);

  const std::size_t capacity_;
  Mutex mu_;
  std::unordered_map<std::string, Entry> entries_ GUARDED_BY(mu_);
  std::list<std::string> lru_ GUARDED_BY(mu_);  // most recent first
  std::size_t bytes_ GUARDED_BY(mu_) = 0;
};

}  // namespace custdb::segment
