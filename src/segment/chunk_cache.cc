#include "segment/chunk_cache.h"

#include <algorithm>

namespace custdb::segment {

std::string ChunkCache::identity(storage::Bytes stored) {
  constexpr std::size_t kHead = 26, kTag = 16;  // version, flags, nonce (≤ 24); AEAD tag
  const auto* p = reinterpret_cast<const char*>(stored.data());
  const std::size_t n = stored.size();
  std::string id(reinterpret_cast<const char*>(&n), sizeof n);
  id.append(p, std::min(n, kHead));
  if (n > kHead) id.append(p + n - std::min(n - kHead, kTag), std::min(n - kHead, kTag));
  return id;
}

std::optional<Roaring> ChunkCache::get(std::string_view key, storage::Bytes stored) {
  const std::string id = identity(stored);
  MutexLock l(&mu_);
  auto it = entries_.find(std::string(key));
  if (it == entries_.end() || it->second.identity != id) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.bits;
}

void ChunkCache::put(std::string_view key, storage::Bytes stored, const Roaring& bits) {
  const std::size_t size = key.size() + bits.getSizeInBytes(false) + 128;  // + bookkeeping
  if (size > capacity_) return;
  std::string id = identity(stored);
  MutexLock l(&mu_);
  auto [it, fresh] = entries_.try_emplace(std::string(key));
  Entry& e = it->second;
  if (fresh) {
    lru_.push_front(it->first);
    e.lru = lru_.begin();
  } else {
    bytes_ -= e.bytes;
    lru_.splice(lru_.begin(), lru_, e.lru);
  }
  e.identity = std::move(id);
  e.bits = bits;
  e.bytes = size;
  bytes_ += size;
  evict_locked();
}

void ChunkCache::evict_locked() {
  while (bytes_ > capacity_ && !lru_.empty()) {
    auto it = entries_.find(lru_.back());
    bytes_ -= it->second.bytes;
    entries_.erase(it);
    lru_.pop_back();
  }
}

}  // namespace custdb::segment
