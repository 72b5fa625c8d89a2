// The segment index (LMDB database "idx.segments" and the meta "extent.<field>" values): the
// one owner of its key and chunk layout, its bitmap validation, its extent bookkeeping, and
// every read and write of it. A change of the chunk size or of the key layout touches this file
// pair only. What postings a customer has (and the bucket math of ordered fields) is
// src/index/segments.h; how a query combines postings is src/engine/segment_query.cc.
//
// Layout (docs/format.md, "idx.segments"), one value per 2^kChunkShift ids:
//   key   = posting key || chunk (id >> kChunkShift, u64 big-endian)
//   value = envelope(Roaring portable serialization of the low 32 bits of the member ids)
//   posting key: plaintext  [field u8][bucket length u8][bucket bytes]
//                encrypted  token(32 + field, bucket bytes), 16 bytes
// Format 5 adds custom attribute postings and slices (SegField::kAttribute, keyed by the
// attribute's id: attribute_index.h, SegmentKeys::attribute_key / attribute_slice_key).
// Format 2 adds the bit slices of the exact values (slices.h): postings like the buckets, with
// their own key shape, queued per customer (TxnState::slice_changes) and flushed per chunk.
// Encrypted mode hides bucket order, so the lowest and highest bucket ever used per ordered
// field is kept in sealed meta "extent.<field>" (two i64, sign-biased big-endian): range
// queries enumerate tokens over it. Extents only grow.
//
// Who calls what:
//   write path   queue_postings (per customer change, into TxnState) then flush
//                (at commit, or before a segment read in the same transaction);
//   queries      SegmentIndex::members / buckets;
//   analytics    SegmentIndex::scored_customers;
//   checker      SegmentCheck, built with the writer's own chunk and extent code.
// Thread-safety: the free functions are pure; SegmentIndex and SegmentCheck are used by the
// thread that owns the transaction they were made for.
#pragma once

#include <roaring/roaring.hh>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "custdb/attributes.h"
#include "custdb/check.h"
#include "custdb/status.h"
#include "custdb/types.h"
#include "index/id_set.h"
#include "index/segments.h"
#include "storage/lmdb.h"

namespace custdb::crypto {
class Tokenizer;
}
namespace custdb::detail {
class DatabaseImpl;
struct TxnState;
}  // namespace custdb::detail

namespace custdb::segment {

using index::Posting;
using index::SegField;

// ---- chunk layout (pure) ------------------------------------------------------------------------
inline constexpr int kChunkShift = 16;                // 65,536 ids a stored bitmap
inline constexpr std::size_t kChunkSuffixBytes = 8;  // the chunk number after the posting key
// Plaintext posting keys of ordered fields: [field][8][bucket, 8 bytes].
inline constexpr std::size_t kBucketBytes = 8;
inline constexpr std::size_t kPlainOrderedKeyBytes = 2 + kBucketBytes;

inline std::uint64_t chunk_of(CustomerId id) { return id >> kChunkShift; }
// The bits of an id a chunk's bitmap stores (the low 32; the chunk repeats the upper ones).
inline std::uint32_t low_bits(CustomerId id) { return static_cast<std::uint32_t>(id); }
// The IdSet part (ids' high 32 bits) a chunk's bitmap belongs to.
inline std::uint32_t id_set_high(std::uint64_t chunk) {
  return static_cast<std::uint32_t>(chunk >> (32 - kChunkShift));
}

// Posting keys: plaintext or tokenized (tok non-null). `sliced`: the file keeps the bit-sliced
// index (format 2, slices.h); a format-1 file opened read-only has none. The keys of the
// 9 × 65 slice postings are fixed: computed once here (tokenizing one per delta was too slow).
// Immutable after construction; thread-safe.
class SegmentKeys {
 public:
  // The keys of a file of format `file_format` (open.h): sliced from 2 on, Unicode-folded
  // region and city buckets from 3 on.
  // `split` (format 4, encrypted, docs/security.md "Analyst key"): the postings of the
  // personal fields (is_personal_field: city, birth date and its slices) are keyed by tokens of
  // `personal` (the personal key's tokenizer) with a 'P' byte appended (17 bytes, so their
  // chunks, sealed under the personal key, are told apart by length). With `split` and no
  // `personal` (an analyst key) their keys are kDeniedPostingKey, which reads refuse.
  SegmentKeys(const crypto::Tokenizer* tok, std::uint32_t file_format,
              const crypto::Tokenizer* personal = nullptr, bool split = false);
  SegmentKeys(const crypto::Tokenizer*, bool) = delete;  // a format number, not a flag
  bool tokenized() const { return tok_ != nullptr; }
  bool split() const { return split_; }
  bool sliced() const { return sliced_; }
  // Whether the file has the format-6 holdings postings (the slices of aum, liabilities,
  // products, first_product_on and the kHolds buckets); a format-5 or older file opened
  // read-only has none (every customer's aggregates are zero there), and its check expects none.
  bool holdings() const { return holdings_; }
  // Whether the file has the postings of consent_profiling and consent_sharing (format 4 on;
  // a format-3 or older file opened read-only has none, and its check expects none).
  bool consent_purposes() const { return consent_purposes_; }
  index::TextFold text_fold() const { return text_fold_; }
  std::string posting_key(const Posting& p) const;
  // The posting key of slice `slice` (0..64) of sliced field f (slices.h), memoized.
  const std::string& slice_key(SegField f, int slice) const;
  // The same by index: sliced_index(f) * kSlicesPerField + slice (0..584).
  const std::string& slice_key_at(std::size_t at) const { return slice_keys_[at]; }

  // ---- custom attributes (attribute_index.h) ----
  // The posting key of categorical attribute `id`'s value (folded text, enum spelling, "0" /
  // "1", tag): plaintext [28][min(len, 255)][id u32 BE][value'] (value' the value when at most
  // kMaxPlainAttributeValue bytes, else its first 224 bytes, 0xFF and a 16-byte BLAKE2b of
  // it: LMDB keys are at most 511 bytes); tokenized token(32 + 28, [id u32 BE][value]), and
  // with `personal` in a split file the personal key's token then 'P' (kDeniedPostingKey
  // without the personal key).
  std::string attribute_key(std::uint32_t id, bool personal, std::string_view value) const;
  // The posting key of slice `slice` (0..64) of ordered attribute `id`: plaintext
  // [0x40 + 28][5][id u32 BE][slice]; tokenized token(32 + 28, [0xFF][id u32 BE][slice])
  // (personal as above). Memoized (thread-safe).
  std::string attribute_slice_key(std::uint32_t id, bool personal, int slice) const;

 private:
  const crypto::Tokenizer* tok_;
  const crypto::Tokenizer* personal_ = nullptr;
  bool split_ = false;
  bool sliced_;
  bool holdings_;
  bool consent_purposes_;
  index::TextFold text_fold_;
  std::vector<std::string> slice_keys_;  // [sliced_index(f) * 65 + slice]
  // Tokenized attribute slice keys by (id, personal): 65 each, computed on first use.
  mutable std::mutex attribute_slice_mu_;
  mutable std::map<std::pair<std::uint32_t, bool>, std::vector<std::string>> attribute_slice_keys_;
};
// Plaintext attribute values longer than this are keyed by a prefix and a hash.
inline constexpr std::size_t kMaxPlainAttributeValue = 240;

// The personal fields of the segment index (format 4, encrypted): city and birth date.
inline bool is_personal_field(SegField f) {
  return f == SegField::kCity || f == SegField::kBirthDate;
}
// A posting key of a personal field: a token of the personal key then this byte (17 bytes).
inline constexpr char kPersonalKeyMark = 'P';
inline constexpr std::size_t kPersonalPostingKeyBytes = 17;
// The key SegmentKeys gives a personal posting under an analyst key; reading it is
// kPermissionDenied.
inline constexpr std::string_view kDeniedPostingKey = "\x00denied";
// Whether a stored chunk key (of a split file) is a personal posting's: sealed under the
// personal key.
inline bool is_personal_chunk_key(std::string_view chunk_key) {
  return chunk_key.size() == kPersonalPostingKeyBytes + kChunkSuffixBytes &&
         chunk_key[kPersonalPostingKeyBytes - 1] == kPersonalKeyMark;
}

std::string chunk_key(std::string_view posting_key, std::uint64_t chunk);
// The chunk number of a stored key that belongs to `posting_key`; nullopt when the key is of
// another posting or malformed (wrong length).
std::optional<std::uint64_t> parse_chunk_key(std::string_view key, std::string_view posting_key);
// Plaintext keys only: the bucket of a stored chunk key of ordered field f; nullopt when the
// key is not one of f's bucket chunks.
std::optional<std::int64_t> parse_plain_bucket_key(std::string_view key, SegField f);

// A stored segment bitmap (Roaring portable format, one container, or that padded: see
// encode_bitmap), refusing damaged ones with kCorruption instead of letting CRoaring throw or
// read out of bounds.
Result<Roaring> decode_bitmap(storage::Bytes payload);

// The payload of a chunk: `bits` in Roaring's portable format, and with `pad` (encrypted mode:
// the sealed length must not give the member count) padded to a size class:
//   u8 0xFA (no Roaring cookie starts so), u8 1 (version), u32 little-endian L, the L bytes of
//   the portable bitmap, zero bytes up to padded_chunk_size(6 + L).
// Unpadded payloads (plaintext mode, and every chunk written before padding existed) are read
// as they are. docs/security.md ("Segment bitmap sizes") has the arithmetic.
void encode_bitmap(const Roaring& bits, bool pad, std::vector<std::uint8_t>& out);
inline constexpr std::uint8_t kPaddedChunkMagic = 0xFA;
inline constexpr std::size_t kPaddedChunkHeader = 6;
// The size classes: 256, 512, 1024, 2048, 4096 and 8256 bytes (the largest holds an 8 KiB
// bitset container, the largest a one-container chunk can be), then multiples of 8256.
inline constexpr std::size_t kPadClasses[] = {256, 512, 1024, 2048, 4096, 8256};
std::size_t padded_chunk_size(std::size_t n);

// ---- extents -----------------------------------------------------------------------------------
using Extent = std::pair<std::int64_t, std::int64_t>;  // lowest, highest bucket (inclusive)
std::string extent_key(SegField f);
inline constexpr std::string_view kExtentPrefix = "extent.";
std::string encode_extent(Extent e);  // 16 bytes
std::optional<Extent> decode_extent(std::string_view bytes);
// Widens *e to cover b (sets it when empty).
void widen(std::optional<Extent>& e, std::int64_t b);

// ---- value dictionaries (encrypted mode) ---------------------------------------------------------
// Tokens hide the values of text fields (region, city, country, tag), so grouping by one needs
// their values: sealed meta "values.<field>" lists every value the field has ever had (grows
// only, like the extents; written at flush). Plaintext needs none: the keys hold the values.
bool is_text_field(SegField f);
std::string dictionary_key(SegField f);
inline constexpr std::string_view kDictionaryPrefix = "values.";
// [u16 BE length][bytes] per value, strictly ascending.
std::string encode_dictionary(const std::vector<std::string>& sorted_values);
std::optional<std::vector<std::string>> decode_dictionary(std::string_view bytes);
// The stored dictionary under meta key `key` (empty when absent); kCorruption when malformed.
Result<std::vector<std::string>> read_value_dictionary(const detail::DatabaseImpl& db,
                                                       detail::TxnState& st, const std::string& key);

// ---- bucket enumeration (pure) -----------------------------------------------------------------
// The buckets of ordered field f whose values can lie in [lo, hi] (values as bucket_of takes
// them), both ends clamped to the field's domain; nullopt when none can.
std::optional<std::pair<std::int64_t, std::int64_t>> bucket_span(SegField f, std::int64_t lo,
                                                                 std::int64_t hi);
// Whether every value bucket b holds lies in [lo, hi] (its members are sure, not candidates).
bool bucket_within(SegField f, std::int64_t b, std::int64_t lo, std::int64_t hi);

// ---- deltas ------------------------------------------------------------------------------------
// One change of one chunk: which chunk key, the id's low bits, added or removed. Also the
// posting it came from (for extents).
struct Delta {
  std::string chunk_key;
  std::uint32_t low;
  bool present;
  const Posting* posting;
};
// The deltas that move customer `before` to `after` (either may be null, not both; both have
// the same id). The writer queues them; the checker feeds a customer as (null, c) through the
// same code, so the two cannot disagree on chunk keys or extents.
void for_each_delta(const SegmentKeys& keys, const Customer* before, const Customer* after,
                    const std::function<void(const Delta&)>& fn);

// The slice deltas alone (part of for_each_delta when keys.sliced()); the upgrade of a
// format-1 file feeds each customer as (null, c) through it.
void for_each_slice_delta(const SegmentKeys& keys, const Customer* before, const Customer* after,
                          const std::function<void(const Delta&)>& fn);

// Queues the postings change of one customer in st (flushed by flush_postings).
void queue_postings(const SegmentKeys& keys, detail::TxnState& st, const Customer* before,
                    const Customer* after);

// The upgrade of a format-1 file (no slices) to format 2: queues the slice deltas of every
// stored customer (keys.sliced() must be set) and flushes them every `batch` customers, in
// st (a write transaction; the caller writes the new header and commits).
Status build_slices(detail::DatabaseImpl& db, detail::TxnState& st, const SegmentKeys& keys,
                    std::size_t batch = 10'000);

// The upgrade of a format-2..5 file to format 6: queues the postings of the holdings
// aggregates of every stored customer (the slices of aum, liabilities, products and
// first_product_on, and kHolds buckets; keys.holdings() must be set) and flushes them every
// `batch` customers, in st (a write transaction; the caller writes the new header and commits).
Status build_holdings_postings(detail::DatabaseImpl& db, detail::TxnState& st,
                               const SegmentKeys& keys, std::size_t batch = 10'000);

// ---- writes and reads in one transaction --------------------------------------------------------
// Writes st's queued deltas and extents (one read-modify-write per chunk). A storage failure
// poisons st. When st records the change feed (st.feed), every bit it actually changes is
// reported to the recorder as a BitChange (the feed carries bits, never whole chunks).
Status flush(detail::DatabaseImpl& db, detail::TxnState& st);

// One bit of the segment index a transaction changed (format 7, the change feed): the stored
// posting key (without the chunk suffix), the customer, and whether the bit was set or cleared.
struct BitChange {
  std::string posting;
  CustomerId id = 0;
  bool set = false;
  friend bool operator==(const BitChange&, const BitChange&) = default;
};

// A replica applying the feed: sets or clears each bit (one read-modify-write per chunk, in
// the order given per chunk; a chunk left empty is deleted, as flush does), sealed in
// encrypted mode as flush seals. Extents and value dictionaries are not touched: they travel
// as the meta writes the primary's flush made. A storage failure poisons st.
Status apply_bit_changes(detail::DatabaseImpl& db, detail::TxnState& st,
                         std::span<const BitChange> changes);

class SegmentIndex {
 public:
  SegmentIndex(const detail::DatabaseImpl& db, detail::TxnState& st) : db_(db), st_(st) {}

  // The members of one posting (all its chunks).
  Result<index::IdSet> members(const Posting& p);
  // The same, the posting named by its key.
  Result<index::IdSet> members_of_key(const std::string& posting_key);
  const detail::DatabaseImpl& db() const { return db_; }
  detail::TxnState& state() const { return st_; }
  // The buckets of ordered field f in [blo, bhi] that may have members, ascending:
  // plaintext, the stored ones (one ordered walk); encrypted, every bucket within the extent.
  Result<std::vector<std::int64_t>> buckets(SegField f, std::int64_t blo, std::int64_t bhi);
  // One stored chunk of posting p (its key given, e.g. SegmentKeys::slice_key); the empty
  // bitmap when absent.
  Result<Roaring> chunk(std::string_view posting_key, std::uint64_t chunk);
  // Encrypted only: the bucket range f has ever used; nullopt when none.
  Result<std::optional<Extent>> extent(SegField f);
  // The values of text field f with members, ascending (bytes): plaintext, the stored keys (one
  // walk skipping each value's further chunks); encrypted, the value dictionary (a superset:
  // a value may have no members left). kCorruption for a malformed dictionary.
  Result<std::vector<std::string>> text_values(SegField f);
  // The ids of every customer with scores (each has exactly one r_score posting), ascending.
  Result<std::vector<CustomerId>> scored_customers();

  // Every stored chunk in key order: fn(key, value as stored); fn returns false to stop.
  Status for_each_chunk(const std::function<bool(storage::Bytes, storage::Bytes)>& fn);
  // The meta keys of every stored extent.
  Result<std::vector<std::string>> extent_keys();
  // A stored chunk's payload (the envelope opened; scratch may hold it), and its bitmap.
  Result<storage::Bytes> unwrap(std::string_view key, storage::Bytes stored,
                                std::vector<std::uint8_t>& scratch);
  Result<Roaring> read_chunk(std::string_view key, storage::Bytes stored);

 private:

  const detail::DatabaseImpl& db_;
  detail::TxnState& st_;
};

// ---- consistency check ---------------------------------------------------------------------------
// Builds the index the customers derive (expect, once per stored customer), then compares the
// stored chunks and extents with it (verify), reporting each difference as a problem.
class SegmentCheck {
 public:
  // problem(kind, where: "idx.segments" or "meta", what)
  using Report = std::function<void(CheckProblem::Kind, std::string where, std::string what)>;
  explicit SegmentCheck(const SegmentKeys& keys) : keys_(keys) {}
  // The schema of the checked snapshot: expect() then expects the postings of every custom
  // attribute attribute_indexed_for says (attribute_index.h), and verify() their dictionaries.
  void set_schema(std::shared_ptr<const Schema> schema) { schema_ = std::move(schema); }
  void expect(const Customer& c);
  // Walks the stored index; `chunks` counts the stored bitmaps.
  Status verify(SegmentIndex& index, std::uint64_t& chunks, const Report& problem);

 private:
  const SegmentKeys& keys_;
  std::map<std::string, Roaring> chunks_;  // chunk key -> low 32 bits of members
  // Slices (~200 bits a customer): by chunk * 585 + slice key index until verify names them.
  std::map<std::uint64_t, Roaring> slice_chunks_;
  std::map<SegField, std::optional<Extent>> extents_;
  std::map<SegField, std::set<std::string>> values_;  // encrypted: text values in use
  std::shared_ptr<const Schema> schema_;
  // Encrypted: the values in use per attribute dictionary (meta key).
  std::map<std::string, std::set<std::string>> attribute_values_;
};

}  // namespace custdb::segment
