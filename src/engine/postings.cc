// Segment postings: queued per transaction, written per chunk, read per posting.
#include <lmdb.h>

#include <roaring/roaring.hh>

#include <cstring>

#include "engine/db_impl.h"

namespace custdb::detail {
namespace {

using index::Posting;
using index::SegmentKeys;
using storage::Bytes;

constexpr int kChunkShift = 16;  // 65,536 ids a stored bitmap

Bytes as_bytes(std::string_view s) {
  return Bytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

// Decodes one stored chunk; kCorruption when its envelope or bitmap is damaged.
Result<Roaring> read_chunk(const DatabaseImpl& db, std::string_view key, Bytes stored) {
  thread_local std::vector<std::uint8_t> scratch;
  auto payload = db.codec->unwrap(codec::Table::kPostings, as_bytes(key), stored, scratch);
  if (!payload) return tl::unexpected(payload.error());
  return decode_bitmap(*payload);
}

// Set bits in `words` 64-bit words. Every chunk a query reads that is a bitset passes here, so
// use the POPCNT instruction where the CPU has it (the baseline x86-64 target lacks it).
__attribute__((target_clones("popcnt", "default")))
std::uint64_t count_bits(const std::uint8_t* p, std::size_t words) {
  std::uint64_t count = 0;
  for (std::size_t w = 0; w < words; ++w) {
    std::uint64_t word;
    std::memcpy(&word, p + 8 * w, 8);
    count += static_cast<std::uint64_t>(__builtin_popcountll(word));  // byte order irrelevant
  }
  return count;
}

// Whether `count` little-endian u16 values strictly increase (an array container's body).
bool strictly_increasing_u16le(const std::uint8_t* p, std::size_t count) {
  bool ok = true;  // no early exit: the loop vectorizes, and damage is the rare case
  std::uint32_t prev = static_cast<std::uint32_t>(p[0] | p[1] << 8);
  for (std::size_t i = 1; i < count; ++i) {
    const std::uint32_t v = static_cast<std::uint32_t>(p[2 * i] | p[2 * i + 1] << 8);
    ok &= v > prev;
    prev = v;
  }
  return ok;
}

}  // namespace

Result<Roaring> decode_bitmap(storage::Bytes payload) {
  auto bad = [] { return make_error(ErrorCode::kCorruption, "idx.segments: malformed bitmap"); };
  const std::uint8_t* u = payload.data();
  const std::size_t n = payload.size();
  const char* p = reinterpret_cast<const char*>(u);
  auto le16 = [&](std::size_t at) { return static_cast<std::uint32_t>(u[at] | u[at + 1] << 8); };
  auto le32 = [&](std::size_t at) { return le16(at) | le16(at + 2) << 16; };
  // CRoaring 0.2.66 trusts the containers it reads: a negative container count wraps its size
  // arithmetic (readSafe then throws), a run container with zero runs crashes its iterator, and
  // unsorted arrays, overlapping runs or a bitset whose count disagrees with its bits make the
  // set operations inconsistent. A chunk holds ids of one 2^16 block, so it has at most one
  // container; check it here before CRoaring reads it. Portable format, one container:
  //   cookie 12346, u32 count, key u16, cardinality-1 u16, u32 offset, body; or
  //   cookie 12347 | (count-1) << 16, run flags (1 byte), key u16, cardinality-1 u16, body.
  //   body: run (flag set): u16 runs, runs × (start u16, length-1 u16); array (cardinality
  //   <= 4096): sorted u16 values; bitset: 8 KiB.
  if (n < 8) return bad();
  const std::uint32_t cookie = le32(0);
  std::uint32_t containers;
  std::size_t header;
  bool run = false;
  if (cookie == 12346) {
    containers = le32(4);
    header = 8;
  } else if ((cookie & 0xFFFF) == 12347) {
    containers = (cookie >> 16) + 1;
    header = 4 + (containers + 7) / 8;
    run = containers == 1 && (u[4] & 1);
  } else {
    return bad();
  }
  if (containers > 1) return bad();
  if (roaring_bitmap_portable_deserialize_size(p, n) != n) return bad();
  std::uint64_t declared = 0;
  if (containers == 1) {
    if (n < header + 4) return bad();
    declared = std::uint64_t{le16(header + 2)} + 1;
    std::size_t body = header + 4 + (cookie == 12346 ? 4 : 0);
    if (run) {
      if (n < body + 2) return bad();
      const std::uint32_t runs = le16(body);
      if (runs == 0 || n != body + 2 + 4 * std::size_t{runs}) return bad();
      std::uint64_t count = 0;
      std::int64_t next = 0;  // the smallest start the next run may have
      for (std::uint32_t i = 0; i < runs; ++i) {
        const std::uint32_t start = le16(body + 2 + 4 * i), length = le16(body + 4 + 4 * i);
        if (start < next || start + length > 0xFFFF) return bad();
        next = static_cast<std::int64_t>(start) + length + 1;
        count += length + 1;
      }
      if (count != declared) return bad();
    } else if (declared <= 4096) {
      if (n != body + 2 * declared || !strictly_increasing_u16le(u + body, declared)) return bad();
    } else {
      if (n != body + 8192 || count_bits(u + body, 1024) != declared) return bad();
    }
  }
  try {
    return Roaring::readSafe(p, n);  // the body matches the header's cardinality (checked above)
  } catch (const std::exception&) {  // readSafe throws on a damaged bitmap
    return bad();
  }
}

void DatabaseImpl::queue_postings(TxnState& st, const Customer* before,
                                  const Customer* after) {
  std::vector<Posting> old_p, new_p;
  if (before && after && index::same_non_aggregate_postings(*before, *after)) {
    old_p = index::aggregate_postings(*before);  // a transaction landing: nothing else moves
    new_p = index::aggregate_postings(*after);
  } else {
    if (before) old_p = index::customer_postings(*before);
    if (after) new_p = index::customer_postings(*after);
  }
  const CustomerId id = after ? after->id : before->id;
  const std::uint64_t chunk = id >> kChunkShift;
  const auto low = static_cast<std::uint32_t>(id);
  auto queue = [&](const Posting& p, bool present) {
    st.posting_deltas[SegmentKeys::chunk_key(seg_keys->posting_key(p), chunk)].push_back({low, present});
    if (present && seg_keys->tokenized() && index::is_bucketed(p.field)) {
      std::int64_t b = index::decode_bucket(p.bucket);
      auto [it, fresh] = st.extents_added.try_emplace(p.field, b, b);
      if (!fresh) it->second = {std::min(it->second.first, b), std::max(it->second.second, b)};
    }
  };
  auto o = old_p.begin(), n = new_p.begin();
  while (o != old_p.end() || n != new_p.end()) {
    if (n == new_p.end() || (o != old_p.end() && *o < *n)) queue(*o++, false);
    else if (o == old_p.end() || *n < *o) queue(*n++, true);
    else ++o, ++n;
  }
}

namespace {
std::string extent_key(index::SegField f) {
  return std::string("extent.") + index::to_string(f);
}
}  // namespace

Result<std::optional<std::pair<std::int64_t, std::int64_t>>> DatabaseImpl::bucket_extent(
    TxnState& st, index::SegField f) const {
  const std::string key = extent_key(f);
  // Sealed like a record: the extent says which months and amounts occur.
  auto payload = get_sealed_meta(st, key);
  if (!payload) return tl::unexpected(payload.error());
  if (!*payload) return std::optional<std::pair<std::int64_t, std::int64_t>>();
  if ((*payload)->size() != 16) return make_error(ErrorCode::kCorruption, "meta " + key + ": bad size");
  auto* bytes = reinterpret_cast<const std::uint8_t*>((*payload)->data());
  return std::optional(std::pair(storage::get_i64(bytes), storage::get_i64(bytes + 8)));
}

Status DatabaseImpl::flush_postings(TxnState& st) {
  for (const auto& [field, added] : st.extents_added) {
    auto current = bucket_extent(st, field);
    if (!current) return tl::unexpected(current.error());
    auto want = added;
    if (*current) want = {std::min(want.first, (*current)->first), std::max(want.second, (*current)->second)};
    if (*current && want == **current) continue;
    std::uint8_t bytes[16];
    storage::put_i64(bytes, want.first);
    storage::put_i64(bytes + 8, want.second);
    if (auto s = put_sealed_meta(st, extent_key(field), std::string_view(reinterpret_cast<char*>(bytes), 16)); !s)
      return s;
  }
  st.extents_added.clear();
  std::vector<std::uint8_t> out, serialized;
  for (auto it = st.posting_deltas.begin(); it != st.posting_deltas.end();) {
    const std::string& key = it->first;
    auto stored = get(st, dbi_segments, as_bytes(key));
    if (!stored) return tl::unexpected(stored.error());
    Roaring bits;
    if (*stored) {
      auto chunk = read_chunk(*this, key, **stored);
      if (!chunk) return tl::unexpected(chunk.error());
      bits = std::move(*chunk);
    }
    for (auto [low, present] : it->second) {
      if (present) bits.add(low);
      else bits.remove(low);
    }
    if (bits.isEmpty()) {
      if (auto s = del(st, dbi_segments, as_bytes(key)); !s) return s;
    } else {
      bits.runOptimize();
      serialized.resize(bits.getSizeInBytes(/*portable=*/true));
      bits.write(reinterpret_cast<char*>(serialized.data()), true);
      codec->wrap(codec::Table::kPostings, as_bytes(key), serialized, out);
      if (auto s = put(st, dbi_segments, as_bytes(key), out); !s) return s;
    }
    it = st.posting_deltas.erase(it);  // written: a map-full retry replays from the redo log
  }
  return {};
}

Result<index::IdSet> DatabaseImpl::posting_members(TxnState& st, const Posting& p) const {
  index::IdSet set;
  const std::string prefix = seg_keys->posting_key(p);
  storage::Cursor cur(st.txn.get(), dbi_segments);
  if (cur.open_rc()) return tl::unexpected(storage::lmdb_error(cur.open_rc(), "cursor"));
  std::string first = SegmentKeys::chunk_key(prefix, 0);
  MDB_val k = storage::to_val(first), v;
  int rc = cur.get(k, v, MDB_SET_RANGE);
  while (rc == 0) {
    std::string_view key = storage::to_view(k);
    if (key.size() != prefix.size() + SegmentKeys::kChunkBytes ||
        key.substr(0, prefix.size()) != prefix)
      break;
    auto chunk = read_chunk(*this, key, storage::to_bytes(v));
    if (!chunk) return tl::unexpected(chunk.error());
    std::uint64_t c = storage::get_u64(reinterpret_cast<const std::uint8_t*>(key.data() + prefix.size()));
    set.merge(static_cast<std::uint32_t>(c >> (32 - kChunkShift)), *chunk);
    rc = cur.get(k, v, MDB_NEXT);
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return tl::unexpected(storage::lmdb_error(rc, "segment read"));
  return set;
}

Result<std::vector<std::int64_t>> DatabaseImpl::stored_buckets(TxnState& st, index::SegField f,
                                                               std::int64_t lo,
                                                               std::int64_t hi) const {
  // Plaintext keys are [field][8][bucket BE][chunk]: one ordered cursor walk.
  std::vector<std::int64_t> out;
  if (lo > hi) return out;
  storage::Cursor cur(st.txn.get(), dbi_segments);
  if (cur.open_rc()) return tl::unexpected(storage::lmdb_error(cur.open_rc(), "cursor"));
  std::string seek = seg_keys->posting_key({f, index::encode_bucket(lo)});
  MDB_val k = storage::to_val(seek), v;
  int rc = cur.get(k, v, MDB_SET_RANGE);
  while (rc == 0) {
    std::string_view key = storage::to_view(k);
    if (key.size() != 2 + 8 + SegmentKeys::kChunkBytes || key[0] != static_cast<char>(f) || key[1] != 8)
      break;
    std::int64_t b = index::decode_bucket(key.substr(2, 8));
    if (b > hi) break;
    // The walk started at lo and keys are ordered, so b < lo means a damaged page.
    if (b < lo) return make_error(ErrorCode::kCorruption, "idx.segments: bucket keys out of order");
    if (out.empty() || out.back() != b) out.push_back(b);
    // Skip the rest of this bucket's chunks.
    std::string next = seg_keys->posting_key({f, index::encode_bucket(b)});
    next = SegmentKeys::chunk_key(next, ~std::uint64_t{0});
    k = storage::to_val(next);
    rc = cur.get(k, v, MDB_SET_RANGE);
    if (rc == 0 && storage::to_view(k) == std::string_view(next)) rc = cur.get(k, v, MDB_NEXT);
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return tl::unexpected(storage::lmdb_error(rc, "segment scan"));
  return out;
}

}  // namespace custdb::detail
