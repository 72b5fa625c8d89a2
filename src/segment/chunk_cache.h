// A per-database cache of opened segment chunks (encrypted mode): the bitmap of a sealed chunk
// keyed by its chunk key, valid only while the stored value is the one it was opened from.
//
// Why: a report reads every chunk of 65 slices per measure (segment/slice_math.h); opening a
// sealed chunk (AEAD decryption, then bitmap validation) costs several times a plaintext one
// (checksum), and bounded encrypted reports at about 0.4× plaintext (docs/performance.md).
// Validity: a sealed value's nonce is never reused under a key and its tag authenticates the
// ciphertext together with the chunk key (the AEAD's associated data), so a stored value whose
// leading bytes (version, flags, nonce) and tag equal the cached ones, with the same length,
// is the value the bitmap was opened from. A chunk rewritten by any writer, in any process,
// gets a fresh nonce: the entry no longer matches and is replaced.
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

  // The identity of a sealed value: its length, leading 26 bytes (version, flags, nonce) and
  // trailing 16 (tag).
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
