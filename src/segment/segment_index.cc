#include "segment/segment_index.h"

#include <algorithm>
#include <functional>
#include <array>
#include <cassert>
#include <cstring>
#include <iterator>
#include <tuple>

#include "crypto/crypto.h"
#include "engine/db_impl.h"
#include "segment/attribute_index.h"
#include "segment/slices.h"

namespace custdb::segment {
namespace {

using storage::Bytes;

Bytes as_bytes(std::string_view s) {
  return Bytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}
std::string_view as_view(Bytes b) {
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
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

// The ids of a Roaring for messages: the first five, then the count.
std::string describe_ids(const Roaring& r) {
  std::string s;
  int n = 0;
  for (auto it = r.begin(); it != r.end() && n < 5; ++it, ++n) s += (n ? ", " : "") + std::to_string(*it);
  if (r.cardinality() > 5) s += ", ... (" + std::to_string(r.cardinality()) + ")";
  return s;
}

std::string hex(std::string_view s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

}  // namespace

// A bitmap chunk sealed for storage: personal postings (split files) under the personal key.
static void wrap_chunk(const detail::DatabaseImpl& db, const std::string& key, Bytes serialized,
                std::vector<std::uint8_t>& out) {
  if (db.codec().split() && is_personal_chunk_key(key))
    db.codec().wrap_personal(codec::Table::kPersonalPostings, as_bytes(key), serialized, out);
  else
    db.codec().wrap(codec::Table::kPostings, as_bytes(key), serialized, out);
}

static tl::unexpected<Error> denied() {
  return tl::unexpected(Error(ErrorCode::kPermissionDenied,
                              "segments on city, birth_date or a personal custom attribute "
                              "need the owner's key (opened with an analyst key)"));
}

// ---- layout ----------------------------------------------------------------------------------

SegmentKeys::SegmentKeys(const crypto::Tokenizer* tok, std::uint32_t file_format,
                         const crypto::Tokenizer* personal, bool split)
    : tok_(tok),
      personal_(personal),
      split_(split && tok != nullptr),
      sliced_(file_format >= 2),
      holdings_(file_format >= 6),
      consent_purposes_(file_format >= 4),
      text_fold_(file_format >= 3 ? index::TextFold::kUnicode : index::TextFold::kFormat2) {
  slice_keys_.reserve(kSlicedFields.size() * kSlicesPerField);
  for (SegField f : kSlicedFields)
    for (int i = 0; i < kSlicesPerField; ++i) slice_keys_.push_back(posting_key(slice_posting(f, i)));
}

const std::string& SegmentKeys::slice_key(SegField f, int slice) const {
  const int at = sliced_index(f);
  assert(at >= 0 && slice >= 0 && slice < kSlicesPerField);
  return slice_keys_[static_cast<std::size_t>(at * kSlicesPerField + slice)];
}

std::string SegmentKeys::posting_key(const Posting& p) const {
  if (tok_) {
    SegField base;
    int slice;
    const bool is_slice = is_slice_posting(p, &base, &slice);
    const SegField field = is_slice ? base : p.field;
    // Split files: the personal fields' postings come from the personal key, marked by a
    // trailing 'P' (their chunks are sealed under that key too).
    const bool personal = split_ && is_personal_field(field);
    if (personal && !personal_) return std::string(kDeniedPostingKey);
    const crypto::Tokenizer* tok = personal ? personal_ : tok_;
    crypto::Tokenizer::Token t;
    if (is_slice) {
      // Two bytes under the field's own subkey: never equal to one of its 8-byte buckets.
      const std::uint8_t v[2] = {0xFF, static_cast<std::uint8_t>(slice)};
      t = tok->token(32u + static_cast<std::uint32_t>(base), std::span(v, 2));
    } else {
      t = tok->token(32u + static_cast<std::uint32_t>(p.field),
                     std::span(reinterpret_cast<const std::uint8_t*>(p.bucket.data()),
                               p.bucket.size()));
    }
    std::string k(reinterpret_cast<const char*>(t.data()), t.size());
    if (personal) k += kPersonalKeyMark;
    return k;
  }
  // The length is one byte. Stored values are at most 200 bytes (validate.h); a longer query
  // value wraps it, and its key, longer than any stored one, matches no chunk.
  std::string k;
  k.reserve(2 + p.bucket.size());
  k += static_cast<char>(p.field);
  k += static_cast<char>(p.bucket.size());
  k += p.bucket;
  return k;
}

std::string chunk_key(std::string_view posting_key, std::uint64_t chunk) {
  std::string k(posting_key);
  k.resize(posting_key.size() + kChunkSuffixBytes);
  coding::put_u64(reinterpret_cast<std::uint8_t*>(k.data() + posting_key.size()), chunk);
  return k;
}

std::optional<std::uint64_t> parse_chunk_key(std::string_view key, std::string_view posting_key) {
  if (key.size() != posting_key.size() + kChunkSuffixBytes || !key.starts_with(posting_key))
    return std::nullopt;
  return coding::get_u64(reinterpret_cast<const std::uint8_t*>(key.data() + posting_key.size()));
}

std::optional<std::int64_t> parse_plain_bucket_key(std::string_view key, SegField f) {
  if (key.size() != kPlainOrderedKeyBytes + kChunkSuffixBytes || key[0] != static_cast<char>(f) ||
      static_cast<std::uint8_t>(key[1]) != kBucketBytes)
    return std::nullopt;
  return index::decode_bucket(key.substr(2, kBucketBytes));
}

std::size_t padded_chunk_size(std::size_t n) {
  for (std::size_t c : kPadClasses)
    if (n <= c) return c;
  constexpr std::size_t kLast = kPadClasses[std::size(kPadClasses) - 1];
  return (n + kLast - 1) / kLast * kLast;
}

void encode_bitmap(const Roaring& bits, bool pad, std::vector<std::uint8_t>& out) {
  const std::size_t n = bits.getSizeInBytes(/*portable=*/true);
  if (!pad) {
    out.resize(n);
    bits.write(reinterpret_cast<char*>(out.data()), true);
    return;
  }
  out.assign(padded_chunk_size(kPaddedChunkHeader + n), 0);
  out[0] = kPaddedChunkMagic;
  out[1] = 1;
  coding::put_le32(out.data() + 2, static_cast<std::uint32_t>(n));
  bits.write(reinterpret_cast<char*>(out.data() + kPaddedChunkHeader), true);
}

Result<Roaring> decode_bitmap(Bytes payload) {
  auto bad = [] { return make_error(ErrorCode::kCorruption, "idx.segments: malformed bitmap"); };
  if (!payload.empty() && payload[0] == kPaddedChunkMagic) {
    // Padded (encrypted mode): exactly the class size of its content, the padding all zero.
    if (payload.size() < kPaddedChunkHeader || payload[1] != 1) return bad();
    const std::size_t n = coding::get_le32(payload.data() + 2);
    if (n > payload.size() - kPaddedChunkHeader ||
        payload.size() != padded_chunk_size(kPaddedChunkHeader + n))
      return bad();
    for (std::size_t i = kPaddedChunkHeader + n; i < payload.size(); ++i)
      if (payload[i] != 0) return bad();
    payload = payload.subspan(kPaddedChunkHeader, n);
    if (!payload.empty() && payload[0] == kPaddedChunkMagic) return bad();  // no nesting
  }
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
  static_assert(kChunkShift <= 16, "a chunk must fit one Roaring container (2^16 ids)");
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

// ---- extents -----------------------------------------------------------------------------------

std::string extent_key(SegField f) { return std::string(kExtentPrefix) + index::to_string(f); }

std::string encode_extent(Extent e) {
  assert(e.first <= e.second);
  std::string s(16, '\0');
  coding::put_i64(reinterpret_cast<std::uint8_t*>(s.data()), e.first);
  coding::put_i64(reinterpret_cast<std::uint8_t*>(s.data()) + 8, e.second);
  return s;
}

std::optional<Extent> decode_extent(std::string_view bytes) {
  if (bytes.size() != 16) return std::nullopt;
  auto* b = reinterpret_cast<const std::uint8_t*>(bytes.data());
  return Extent(coding::get_i64(b), coding::get_i64(b + 8));
}

void widen(std::optional<Extent>& e, std::int64_t b) {
  if (!e) e = Extent(b, b);
  else e = Extent(std::min(e->first, b), std::max(e->second, b));
}

// ---- value dictionaries ------------------------------------------------------------------------

bool is_text_field(SegField f) {
  return f == SegField::kRegion || f == SegField::kCity || f == SegField::kCountry ||
         f == SegField::kTag || f == SegField::kHolds;
}

std::string dictionary_key(SegField f) { return std::string(kDictionaryPrefix) + index::to_string(f); }

std::string encode_dictionary(const std::vector<std::string>& values) {
  assert(std::is_sorted(values.begin(), values.end()));
  std::string s;
  for (const auto& v : values) {
    assert(v.size() <= 0xFFFF);  // stored values are at most 200 bytes (validate.h)
    s += static_cast<char>(v.size() >> 8);
    s += static_cast<char>(v.size() & 0xFF);
    s += v;
  }
  return s;
}

std::optional<std::vector<std::string>> decode_dictionary(std::string_view bytes) {
  std::vector<std::string> out;
  while (!bytes.empty()) {
    if (bytes.size() < 2) return std::nullopt;
    const std::size_t n = static_cast<std::size_t>(static_cast<std::uint8_t>(bytes[0]) << 8 |
                                                   static_cast<std::uint8_t>(bytes[1]));
    if (n == 0 || bytes.size() < 2 + n) return std::nullopt;
    std::string v(bytes.substr(2, n));
    if (!out.empty() && v <= out.back()) return std::nullopt;  // strictly ascending
    out.push_back(std::move(v));
    bytes.remove_prefix(2 + n);
  }
  return out;
}

// ---- bucket enumeration ------------------------------------------------------------------------

std::optional<std::pair<std::int64_t, std::int64_t>> bucket_span(SegField f, std::int64_t lo,
                                                                 std::int64_t hi) {
  assert(index::is_bucketed(f));
  if (lo > hi) return std::nullopt;
  auto [dlo, dhi] = index::bucket_domain(f);
  // Clamp open ends to the values any bucket can hold before bucketing them.
  lo = std::max(lo, index::bucket_bounds(f, dlo).first);
  hi = std::min(hi, index::bucket_bounds(f, dhi).second);
  if (lo > hi) return std::nullopt;
  const std::int64_t blo = index::bucket_of(f, lo), bhi = index::bucket_of(f, hi);
  // Buckets are monotonic in the value and the clamped values lie in the domain.
  assert(dlo <= blo && blo <= bhi && bhi <= dhi);
  return std::pair(blo, bhi);
}

bool bucket_within(SegField f, std::int64_t b, std::int64_t lo, std::int64_t hi) {
  auto [vlo, vhi] = index::bucket_bounds(f, b);
  assert(vlo <= vhi);
  return lo <= vlo && vhi <= hi;
}

// ---- deltas ------------------------------------------------------------------------------------

namespace {
// for_each_delta without the slices.
void for_each_posting_delta(const SegmentKeys& keys, const Customer* before, const Customer* after,
                            const std::function<void(const Delta&)>& fn);
}  // namespace

void for_each_delta(const SegmentKeys& keys, const Customer* before, const Customer* after,
                    const std::function<void(const Delta&)>& fn) {
  for_each_posting_delta(keys, before, after, fn);
  if (keys.sliced()) for_each_slice_delta(keys, before, after, fn);
}

namespace {
void for_each_posting_delta(const SegmentKeys& keys, const Customer* before, const Customer* after,
                            const std::function<void(const Delta&)>& fn) {
  assert((before || after) && "a change has a before or an after");
  assert((!before || !after || before->id == after->id) && "a change keeps the customer's id");
  std::vector<Posting> old_p, new_p;
  if (before && after && index::same_non_aggregate_postings(*before, *after)) {
    old_p = index::aggregate_postings(*before);  // a transaction landing: nothing else moves
    new_p = index::aggregate_postings(*after);
  } else {
    if (before) old_p = index::customer_postings(*before, keys.text_fold());
    if (after) new_p = index::customer_postings(*after, keys.text_fold());
    if (!keys.consent_purposes()) {
      auto purpose_posting = [](const Posting& p) {
        return p.field == SegField::kConsentProfiling || p.field == SegField::kConsentSharing;
      };
      std::erase_if(old_p, purpose_posting);
      std::erase_if(new_p, purpose_posting);
    }
  }
  // The merge below needs both sorted and unique (customer_postings promises it).
  assert(std::is_sorted(old_p.begin(), old_p.end()) && std::is_sorted(new_p.begin(), new_p.end()));
  assert(std::adjacent_find(new_p.begin(), new_p.end()) == new_p.end());
  const CustomerId id = after ? after->id : before->id;
  const std::uint64_t chunk = chunk_of(id);
  auto emit = [&](const Posting& p, bool present) {
    assert(!index::is_bucketed(p.field) || p.bucket.size() == kBucketBytes);
    fn(Delta{chunk_key(keys.posting_key(p), chunk), low_bits(id), present, &p});
  };
  auto o = old_p.begin(), n = new_p.begin();
  while (o != old_p.end() || n != new_p.end()) {
    if (n == new_p.end() || (o != old_p.end() && *o < *n)) emit(*o++, false);
    else if (o == old_p.end() || *n < *o) emit(*n++, true);
    else ++o, ++n;
  }
}

static_assert(std::tuple_size_v<decltype(detail::TxnState::SliceValues::v)> == kSlicedFields.size());

// `holdings`: whether the holdings aggregates' slices are included (SegmentKeys::holdings()).
detail::TxnState::SliceValues slice_values(const Customer* c, bool holdings) {
  detail::TxnState::SliceValues out;
  if (!c) return out;
  const std::size_t end = holdings ? kSlicedFields.size() : kFirstHoldingsSlicedField;
  for (std::size_t at = 0; at < end; ++at)
    if (auto v = sliced_value(*c, kSlicedFields[at])) {
      out.v[at] = *v;
      out.present = static_cast<std::uint16_t>(out.present | (1u << at));
    }
  return out;
}

// The slice bits that differ between two sets of values: fn(slice key index, present).
// Slices are never materialized: the two values are diffed numerically, one change per bit
// that flips (an absent value has no bits), plus "exists" when presence changes.
template <class Fn>
void for_each_slice_bit(const detail::TxnState::SliceValues& before,
                        const detail::TxnState::SliceValues& after, Fn&& fn) {
  for (std::size_t at = 0; at < kSlicedFields.size(); ++at) {
    const bool had = (before.present >> at) & 1, has = (after.present >> at) & 1;
    const std::uint64_t ub = had ? biased(before.v[at]) : 0, ua = has ? biased(after.v[at]) : 0;
    if (ub == ua && had == has) continue;
    const std::size_t base = at * kSlicesPerField;
    for (std::uint64_t flipped = ub ^ ua; flipped; flipped &= flipped - 1) {
      const int bit = __builtin_ctzll(flipped);
      fn(base + static_cast<std::size_t>(bit), ((ua >> bit) & 1) != 0);
    }
    if (had != has) fn(base + kExistsSlice, has);
  }
}
}  // namespace

void for_each_slice_delta(const SegmentKeys& keys, const Customer* before, const Customer* after,
                          const std::function<void(const Delta&)>& fn) {
  const CustomerId id = after ? after->id : before->id;
  const std::uint64_t chunk = chunk_of(id);
  for_each_slice_bit(slice_values(before, keys.holdings()), slice_values(after, keys.holdings()),
                     [&](std::size_t at, bool present) {
    const Posting& p = slice_posting_ref(kSlicedFields[at / kSlicesPerField],
                                         static_cast<int>(at % kSlicesPerField));
    fn(Delta{chunk_key(keys.slice_key_at(at), chunk), low_bits(id), present, &p});
  });
}

namespace {
// Encrypted mode: an added bucket of an ordered field must lie within the field's extent.
bool tracks_extent(const SegmentKeys& keys, const Delta& d) {
  return d.present && keys.tokenized() && index::is_bucketed(d.posting->field);
}
// Encrypted mode: an added text value must be in the field's dictionary.
// The sealed dictionaries came with format 2 (as the slices did): a format-1 file (opened
// read-only; read-write opens upgrade it) has none, and its checker must not expect them.
bool tracks_value(const SegmentKeys& keys, const Delta& d) {
  return d.present && keys.tokenized() && keys.sliced() && is_text_field(d.posting->field);
}

}  // namespace

Result<std::vector<std::string>> read_value_dictionary(const detail::DatabaseImpl& db,
                                                       detail::TxnState& st, const std::string& key) {
  auto payload = db.get_sealed_meta(st, key);
  if (!payload) return tl::unexpected(payload.error());
  if (!*payload) return std::vector<std::string>();
  auto values = decode_dictionary(**payload);
  if (!values) return make_error(ErrorCode::kCorruption, "meta " + key + ": malformed value dictionary");
  return std::move(*values);
}

namespace {
// The stored dictionary of f (empty when none).
Result<std::vector<std::string>> read_dictionary(const detail::DatabaseImpl& db,
                                                 detail::TxnState& st, SegField f) {
  return read_value_dictionary(db, st, dictionary_key(f));
}
}  // namespace

namespace {
// slices_only: the upgrade of a format-1 file, whose other postings are stored already (their
// side bookkeeping, extents and the like, is still fed: it only grows).
void queue(const SegmentKeys& keys, detail::TxnState& st, const Customer* before,
           const Customer* after, bool slices_only) {
  if (keys.sliced()) {
    // Slices: remember the values before the transaction's first change of this customer and
    // now; flush writes the difference (detail::TxnState::slice_changes).
    const CustomerId id = after ? after->id : before->id;
    auto to = slice_values(after, keys.holdings());
    auto it = st.slice_changes.find(id);
    if (it == st.slice_changes.end())
      st.slice_changes.emplace(
          id, detail::TxnState::SliceChange{slice_values(before, keys.holdings()), to});
    else
      it->second.to = to;
  }
  // The other postings (with slices_only, only their side bookkeeping below).
  for_each_posting_delta(keys, before, after, [&](const Delta& d) {
    if (!slices_only) st.posting_deltas[d.chunk_key].push_back({d.low, d.present});
    if (tracks_extent(keys, d)) {
      std::optional<Extent> e;
      if (auto it = st.extents_added.find(d.posting->field); it != st.extents_added.end())
        e = it->second;
      widen(e, index::decode_bucket(d.posting->bucket));
      st.extents_added[d.posting->field] = *e;
    }
    if (tracks_value(keys, d)) st.values_added[d.posting->field].insert(d.posting->bucket);
  });
}
}  // namespace

void queue_postings(const SegmentKeys& keys, detail::TxnState& st, const Customer* before,
                    const Customer* after) {
  queue(keys, st, before, after, /*slices_only=*/false);
}

Status build_slices(detail::DatabaseImpl& db, detail::TxnState& st, const SegmentKeys& keys,
                    std::size_t batch) {
  assert(keys.sliced() && batch > 0);
  // Customers in id order, `batch` at a time: each batch's deltas are flushed before the next
  // walk starts after its last id (no cursor lives across the writes, and the queue never
  // holds more than one batch).
  auto schema = db.schema_of(st);
  if (!schema) return tl::unexpected(schema.error());
  std::uint64_t next = 0;
  for (;;) {
    std::size_t n = 0;
    bool more = false;
    Status failed;
    storage::Walker walk(st.txn, db.tables().customers, "upgrade: customers");
    coding::IdKey from(next);
    auto s = walk.from(from.span(), [&](Bytes k, Bytes v) {
      if (n == batch) return more = true, storage::Next::stop();
      auto c = db.codec().decode_customer(k, v, **schema);
      if (!c) return failed = tl::unexpected(c.error()), storage::Next::stop();
      queue(keys, st, nullptr, &*c, /*slices_only=*/true);
      ++n;
      next = c->id + 1;
      return storage::Next::go_on();
    });
    if (!s) return s;
    if (!failed) return failed;
    if (auto f = flush(db, st); !f) return f;
    if (!more || next == 0) return {};
  }
}

Status build_holdings_postings(detail::DatabaseImpl& db, detail::TxnState& st,
                               const SegmentKeys& keys, std::size_t batch) {
  assert(keys.sliced() && keys.holdings() && batch > 0);
  // Earlier upgrade steps' queued changes first: the slice diff below starts from a customer
  // without holdings slices, which must not be merged into an earlier step's pending entry.
  if (auto f = flush(db, st); !f) return f;
  auto schema = db.schema_of(st);
  if (!schema) return tl::unexpected(schema.error());
  std::uint64_t next = 0;
  for (;;) {
    std::size_t n = 0;
    bool more = false;
    Status failed;
    storage::Walker walk(st.txn, db.tables().customers, "upgrade: customers");
    coding::IdKey from(next);
    auto s = walk.from(from.span(), [&](Bytes k, Bytes v) {
      if (n == batch) return more = true, storage::Next::stop();
      auto c = db.codec().decode_customer(k, v, **schema);
      if (!c) return failed = tl::unexpected(c.error()), storage::Next::stop();
      // The slices the older format lacked: from "no holdings slices" to the customer's values
      // (aum = liabilities = products = 0 for a customer of an older file).
      st.slice_changes[c->id] =
          detail::TxnState::SliceChange{slice_values(&*c, false), slice_values(&*c, true)};
      // kHolds buckets (none for a customer of an older file; kept for completeness).
      for (const std::string& t : c->holdings.types_held) {
        const Posting p{SegField::kHolds, t};
        st.posting_deltas[chunk_key(keys.posting_key(p), chunk_of(c->id))].push_back(
            {low_bits(c->id), true});
        if (keys.tokenized()) st.values_added[SegField::kHolds].insert(t);
      }
      ++n;
      next = c->id + 1;
      return storage::Next::go_on();
    });
    if (!s) return s;
    if (!failed) return failed;
    if (auto f = flush(db, st); !f) return f;
    if (!more || next == 0) return {};
  }
}

// ---- SegmentIndex ------------------------------------------------------------------------------

Result<Bytes> SegmentIndex::unwrap(std::string_view key, Bytes stored,
                                   std::vector<std::uint8_t>& scratch) {
  if (db_.codec().split() && is_personal_chunk_key(key))
    return db_.codec().unwrap_personal(codec::Table::kPersonalPostings, as_bytes(key), stored,
                                       scratch);
  return db_.codec().unwrap(codec::Table::kPostings, as_bytes(key), stored, scratch);
}

Result<Roaring> SegmentIndex::read_chunk(std::string_view key, Bytes stored) {
  // Chunks opened by read transactions are cached (segment/chunk_cache.h): opening them
  // (decryption or checksum, then validation) dominates a report. Writers skip the cache
  // (their chunks are about to change).
  const bool cached = !st_.write;
  if (cached)
    if (auto hit = db_.chunk_cache().get(key, stored)) return std::move(*hit);
  thread_local std::vector<std::uint8_t> scratch;
  auto payload = unwrap(key, stored, scratch);
  if (!payload) return tl::unexpected(payload.error());
  auto bits = decode_bitmap(*payload);
  if (cached && bits) db_.chunk_cache().put(key, stored, *bits);
  return bits;
}

Result<std::optional<Extent>> SegmentIndex::extent(SegField f) {
  const std::string key = extent_key(f);
  // Sealed like a record: the extent says which months and amounts occur.
  auto payload = db_.get_sealed_meta(st_, key);
  if (!payload) return tl::unexpected(payload.error());
  if (!*payload) return std::optional<Extent>();
  auto e = decode_extent(**payload);
  if (!e) return make_error(ErrorCode::kCorruption, "meta " + key + ": bad size");
  return std::optional<Extent>(*e);
}

// One chunk: read it once, change it in memory, write it back (or delete it if empty). The
// single place chunks are written (flush, and a replica's apply_bit_changes). With `report` and
// a feed recorder in st, every bit the change actually flips goes to the feed (feed_bit): the
// feed carries bits, never the chunk itself, so the chunk's own put or delete is not recorded
// (a delete's key would name the posting outside the customer's part: FeedSuspend).
static Status rewrite_chunk(detail::DatabaseImpl& db, detail::TxnState& st, SegmentIndex& index,
                            const std::string& key, const std::function<void(Roaring&)>& change,
                            bool report, std::vector<std::uint8_t>& out,
                            std::vector<std::uint8_t>& serialized) {
  auto stored = db.get(st, db.tables().segments, as_bytes(key));
  if (!stored) return tl::unexpected(stored.error());
  Roaring bits;
  if (*stored) {
    auto chunk = index.read_chunk(key, **stored);
    if (!chunk) return tl::unexpected(chunk.error());
    bits = std::move(*chunk);
  }
  if (report && st.feed) {
    const Roaring before = bits;
    change(bits);
    const Roaring flipped = bits ^ before;
    if (!flipped.isEmpty()) {
      if (key.size() < kChunkSuffixBytes)
        return make_error(ErrorCode::kCorruption, "idx.segments: malformed key " + hex(key));
      const std::string_view posting(key.data(), key.size() - kChunkSuffixBytes);
      const std::uint64_t chunk =
          coding::get_u64(reinterpret_cast<const std::uint8_t*>(key.data() + posting.size()));
      // id >> kChunkShift == chunk and the low 32 bits are stored: the high 32 bits are the
      // chunk's own high bits.
      const std::uint64_t high = (chunk >> (32 - kChunkShift)) << 32;
      for (std::uint32_t low : flipped) detail::feed_bit(st, posting, high | low, bits.contains(low));
    }
  } else {
    change(bits);
  }
  detail::FeedSuspend quiet(st);
  if (bits.isEmpty()) return db.del(st, db.tables().segments, as_bytes(key));
  bits.runOptimize();
  encode_bitmap(bits, db.codec().sealed(), serialized);
  wrap_chunk(db, key, serialized, out);
  return db.put(st, db.tables().segments, as_bytes(key), out);
}

Status flush(detail::DatabaseImpl& db, detail::TxnState& st) {
  SegmentIndex index(db, st);
  for (const auto& [field, added] : st.extents_added) {
    auto current = index.extent(field);
    if (!current) return tl::unexpected(current.error());
    std::optional<Extent> want = *current;
    widen(want, added.first);
    widen(want, added.second);
    if (*current && *want == **current) continue;
    if (auto s = db.put_sealed_meta(st, extent_key(field), encode_extent(*want)); !s) return s;
  }
  st.extents_added.clear();
  for (const auto& [field, added] : st.values_added) {
    auto current = read_dictionary(db, st, field);
    if (!current) return tl::unexpected(current.error());
    std::vector<std::string> merged;
    merged.reserve(current->size() + added.size());
    std::set_union(current->begin(), current->end(), added.begin(), added.end(),
                   std::back_inserter(merged));
    if (merged.size() == current->size()) continue;  // nothing new: no write
    if (auto s = db.put_sealed_meta(st, dictionary_key(field), encode_dictionary(merged)); !s) return s;
  }
  st.values_added.clear();
  for (const auto& [key, added] : st.attribute_values_added) {
    auto current = read_value_dictionary(db, st, key);
    if (!current) return tl::unexpected(current.error());
    std::vector<std::string> merged;
    merged.reserve(current->size() + added.size());
    std::set_union(current->begin(), current->end(), added.begin(), added.end(),
                   std::back_inserter(merged));
    if (merged.size() == current->size()) continue;
    if (auto s = db.put_sealed_meta(st, key, encode_dictionary(merged)); !s) return s;
  }
  st.attribute_values_added.clear();
  std::vector<std::uint8_t> out, serialized;
  // One chunk: read it once, change it in memory, write it back (or delete it if empty).
  auto rewrite = [&](const std::string& key, const std::function<void(Roaring&)>& change) -> Status {
    return rewrite_chunk(db, st, index, key, change, /*report=*/true, out, serialized);
  };
  // Bulk form for slices: the ids whose bit turns on, and off (each ascending, once); cleared.
  auto rewrite_bulk = [&](const std::string& key, std::vector<std::uint32_t>& on,
                          std::vector<std::uint32_t>& off) -> Status {
    auto s = rewrite(key, [&](Roaring& bits) {
      if (!on.empty()) {
        Roaring add;
        add.addMany(on.size(), on.data());
        bits |= add;
      }
      if (!off.empty()) {
        Roaring remove;
        remove.addMany(off.size(), off.data());
        bits -= remove;
      }
    });
    on.clear();
    off.clear();
    return s;
  };
  for (auto it = st.posting_deltas.begin(); it != st.posting_deltas.end();) {
    auto s = rewrite(it->first, [&](Roaring& bits) {
      for (auto [low, present] : it->second) {
        if (present) bits.add(low);
        else bits.remove(low);
      }
    });
    if (!s) return s;
    it = st.posting_deltas.erase(it);  // written: a map-full retry replays from the redo log
  }
  // Custom attribute slices: per attribute, the changed customers in id order, per chunk the
  // bits that turn on and off per slice, applied in bulk.
  for (auto& [attr, changes] : st.attribute_slice_changes) {
    std::vector<std::pair<CustomerId, const detail::TxnState::AttributeSliceChange*>> ids;
    ids.reserve(changes.size());
    for (const auto& [id, c] : changes) ids.emplace_back(id, &c);
    std::sort(ids.begin(), ids.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<std::string> slice_keys;
    for (int i = 0; i < kSlicesPerField; ++i)
      slice_keys.push_back(db.seg_keys().attribute_slice_key(attr.first, attr.second, i));
    std::vector<std::vector<std::uint32_t>> on(kSlicesPerField), off(kSlicesPerField);
    auto write = [&](std::uint64_t chunk) -> Status {
      for (std::size_t i = 0; i < on.size(); ++i) {
        if (on[i].empty() && off[i].empty()) continue;
        if (auto s = rewrite_bulk(chunk_key(slice_keys[i], chunk), on[i], off[i]); !s) return s;
      }
      return {};
    };
    std::optional<std::uint64_t> current;
    for (const auto& [id, c] : ids) {
      if (current && chunk_of(id) != *current)
        if (auto s = write(*current); !s) return s;
      current = chunk_of(id);
      const std::uint32_t low = low_bits(id);
      const std::uint64_t ub = c->from ? biased(*c->from) : 0, ua = c->to ? biased(*c->to) : 0;
      for (std::uint64_t flipped = ub ^ ua; flipped; flipped &= flipped - 1) {
        const int bit = __builtin_ctzll(flipped);
        ((ua >> bit) & 1 ? on : off)[static_cast<std::size_t>(bit)].push_back(low);
      }
      if (c->from.has_value() != c->to.has_value())
        (c->to ? on : off)[kExistsSlice].push_back(low);
    }
    if (current)
      if (auto s = write(*current); !s) return s;
  }
  st.attribute_slice_changes.clear();
  if (st.slice_changes.empty()) return {};
  // Slices: the changed customers in id order, one chunk at a time; per (slice, chunk) the ids
  // whose bit turns on and off (ascending, each once), applied in bulk to the stored bitmap.
  std::vector<std::pair<CustomerId, const detail::TxnState::SliceChange*>> changed;
  changed.reserve(st.slice_changes.size());
  for (const auto& [id, c] : st.slice_changes) changed.emplace_back(id, &c);
  std::sort(changed.begin(), changed.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  const SegmentKeys& keys = db.seg_keys();
  constexpr std::size_t kSlices = kSlicedFields.size() * kSlicesPerField;
  std::vector<std::vector<std::uint32_t>> on(kSlices), off(kSlices);
  auto write_chunk = [&](std::uint64_t chunk) -> Status {
    for (std::size_t at = 0; at < kSlices; ++at) {
      if (on[at].empty() && off[at].empty()) continue;
      if (auto s = rewrite_bulk(chunk_key(keys.slice_key_at(at), chunk), on[at], off[at]); !s)
        return s;
    }
    return {};
  };
  std::optional<std::uint64_t> current;
  for (const auto& [id, c] : changed) {
    if (current && chunk_of(id) != *current)
      if (auto s = write_chunk(*current); !s) return s;
    current = chunk_of(id);
    const std::uint32_t low = low_bits(id);
    for_each_slice_bit(c->from, c->to, [&](std::size_t at, bool present) {
      (present ? on : off)[at].push_back(low);
    });
  }
  if (current)
    if (auto s = write_chunk(*current); !s) return s;
  st.slice_changes.clear();
  return {};
}

Result<Roaring> SegmentIndex::chunk(std::string_view posting_key, std::uint64_t chunk) {
  if (posting_key == kDeniedPostingKey) return denied();
  const std::string key = chunk_key(posting_key, chunk);
  auto stored = db_.get(st_, db_.tables().segments, as_bytes(key));
  if (!stored) return tl::unexpected(stored.error());
  if (!*stored) return Roaring();
  return read_chunk(key, **stored);
}

Result<index::IdSet> SegmentIndex::members(const Posting& p) {
  return members_of_key(db_.seg_keys().posting_key(p));
}

Result<index::IdSet> SegmentIndex::members_of_key(const std::string& prefix) {
  if (prefix == kDeniedPostingKey) return denied();
  index::IdSet set;
  Status failed;
  storage::Walker walk(st_.txn, db_.tables().segments, "segment read");
  auto s = walk.from(as_bytes(chunk_key(prefix, 0)), [&](Bytes k, Bytes v) {
    auto chunk = parse_chunk_key(as_view(k), prefix);
    if (!chunk) return storage::Next::stop();  // past the posting's chunks
    auto bits = read_chunk(as_view(k), v);
    if (!bits) return failed = tl::unexpected(bits.error()), storage::Next::stop();
    set.merge(id_set_high(*chunk), *bits);
    return storage::Next::go_on();
  });
  if (!s) return tl::unexpected(s.error());
  if (!failed) return tl::unexpected(failed.error());
  return set;
}

Result<std::vector<std::int64_t>> SegmentIndex::buckets(SegField f, std::int64_t blo,
                                                        std::int64_t bhi) {
  assert(index::is_bucketed(f));
  std::vector<std::int64_t> out;
  if (blo > bhi) return out;
  if (db_.seg_keys().tokenized()) {
    // Tokens hide order: enumerate, but only over the buckets this field has ever used.
    auto e = extent(f);
    if (!e) return tl::unexpected(e.error());
    if (!*e) return out;
    for (std::int64_t b = std::max(blo, (*e)->first); b <= std::min(bhi, (*e)->second); ++b)
      out.push_back(b);
    return out;
  }
  // Plaintext keys are [field][8][bucket BE][chunk]: one ordered walk from blo, skipping the
  // further chunks of each bucket it meets.
  Status failed;
  storage::Walker walk(st_.txn, db_.tables().segments, "segment scan");
  auto s = walk.from(as_bytes(db_.seg_keys().posting_key({f, index::encode_bucket(blo)})),
                     [&](Bytes k, Bytes) {
    auto b = parse_plain_bucket_key(as_view(k), f);
    if (!b || *b > bhi) return storage::Next::stop();
    // The walk started at blo and keys are ordered, so b < blo means a damaged page.
    if (*b < blo || (!out.empty() && *b <= out.back()))
      return failed = make_error(ErrorCode::kCorruption, "idx.segments: bucket keys out of order"),
             storage::Next::stop();
    out.push_back(*b);
    if (*b == bhi) return storage::Next::stop();
    return storage::Next::skip_past(
        chunk_key(db_.seg_keys().posting_key({f, index::encode_bucket(*b)}), UINT64_MAX));
  });
  if (!s) return tl::unexpected(s.error());
  if (!failed) return tl::unexpected(failed.error());
  return out;
}

Result<std::vector<std::string>> SegmentIndex::text_values(SegField f) {
  assert(is_text_field(f));
  if (db_.seg_keys().tokenized()) return read_dictionary(db_, st_, f);
  // Plaintext keys are [field][length][value][chunk]: one ordered walk over the field's keys,
  // skipping the further chunks of each value it meets.
  std::vector<std::string> out;
  Status failed;
  const std::string first(1, static_cast<char>(f));
  storage::Walker walk(st_.txn, db_.tables().segments, "segment scan");
  auto s = walk.from(as_bytes(first), [&](Bytes k, Bytes) {
    const std::string_view key = as_view(k);
    if (key.empty() || key[0] != static_cast<char>(f)) return storage::Next::stop();
    const std::size_t n = key.size() < 2 ? 0 : static_cast<std::uint8_t>(key[1]);
    if (key.size() != 2 + n + kChunkSuffixBytes || n == 0)
      return failed = make_error(ErrorCode::kCorruption, "idx.segments: malformed key " + hex(key)),
             storage::Next::stop();
    std::string value(key.substr(2, n));
    // Keys of one length byte are ordered by value within that length only: collect, then sort.
    std::string past = chunk_key(db_.seg_keys().posting_key({f, value}), UINT64_MAX);
    out.push_back(std::move(value));
    return storage::Next::skip_past(std::move(past));
  });
  if (!s) return tl::unexpected(s.error());
  if (!failed) return tl::unexpected(failed.error());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<std::vector<CustomerId>> SegmentIndex::scored_customers() {
  std::vector<CustomerId> out;
  auto [lo, hi] = index::bucket_domain(SegField::kRScore);
  for (std::int64_t b = lo; b <= hi; ++b) {
    auto m = members({SegField::kRScore, index::encode_bucket(b)});
    if (!m) return tl::unexpected(m.error());
    m->for_each([&](std::uint64_t id) {
      out.push_back(id);
      return true;
    });
  }
  std::sort(out.begin(), out.end());
  return out;
}

Status SegmentIndex::for_each_chunk(const std::function<bool(Bytes, Bytes)>& fn) {
  storage::Walker walk(st_.txn, db_.tables().segments, "scan idx.segments");
  return walk.all([&](Bytes k, Bytes v) { return fn(k, v) ? storage::Next::go_on() : storage::Next::stop(); });
}

Result<std::vector<std::string>> SegmentIndex::extent_keys() {
  std::vector<std::string> out;
  storage::Walker walk(st_.txn, db_.tables().meta, "scan meta");
  auto s = walk.prefix(as_bytes(kExtentPrefix), [&](Bytes k, Bytes) {
    out.emplace_back(as_view(k));
    return storage::Next::go_on();
  });
  if (!s) return tl::unexpected(s.error());
  return out;
}

// ---- SegmentCheck ------------------------------------------------------------------------------

void SegmentCheck::expect(const Customer& c) {
  if (keys_.sliced()) {
    // The writer's own slice diff, without a key string per bit (named in verify).
    const std::uint64_t base = chunk_of(c.id) * kSlicedFields.size() * kSlicesPerField;
    for_each_slice_bit(detail::TxnState::SliceValues{}, slice_values(&c, keys_.holdings()),
                       [&](std::size_t at, bool) {
      slice_chunks_[base + at].add(low_bits(c.id));
    });
  }
  for_each_posting_delta(keys_, nullptr, &c, [&](const Delta& d) {
    chunks_[d.chunk_key].add(d.low);
    if (tracks_extent(keys_, d)) widen(extents_[d.posting->field], index::decode_bucket(d.posting->bucket));
    if (tracks_value(keys_, d)) values_[d.posting->field].insert(d.posting->bucket);
  });
  if (schema_)
    for (const AttributeDef& def : schema_->attributes) {
      if (!attribute_indexed_for(def, c.id)) continue;
      const std::string dict = attribute_dictionary_key(keys_, def);
      for_each_attribute_delta(keys_, def, nullptr, &c,
                               [&](const std::string& key, std::uint32_t low, bool,
                                   const std::string& value) {
                                 chunks_[key].add(low);
                                 if (!dict.empty()) attribute_values_[dict].insert(value);
                               });
    }
}

Status SegmentCheck::verify(SegmentIndex& index, std::uint64_t& chunks, const Report& problem) {
  using Kind = CheckProblem::Kind;
  constexpr std::size_t kSlices = kSlicedFields.size() * kSlicesPerField;
  for (auto& [at, bits] : slice_chunks_)
    chunks_[chunk_key(keys_.slice_key_at(at % kSlices), at / kSlices)] = std::move(bits);
  slice_chunks_.clear();
  auto s = index.for_each_chunk([&](Bytes k, Bytes v) {
    const std::string key(as_view(k));
    ++chunks;
    thread_local std::vector<std::uint8_t> scratch;
    auto payload = index.unwrap(key, v, scratch);
    if (!payload) return problem(Kind::kUndecodable, "idx.segments", payload.error().message()), true;
    auto stored = decode_bitmap(*payload);
    if (!stored) return problem(Kind::kUndecodable, "idx.segments", "malformed bitmap at key " + hex(key)), true;
    auto it = chunks_.find(key);
    Roaring want = it == chunks_.end() ? Roaring() : it->second;
    Roaring extra = *stored - want, lacking = want - *stored;
    if (!extra.isEmpty())
      problem(Kind::kOrphanIndexEntry, "idx.segments",
              "key " + hex(key) + " lists customers (low bits) " + describe_ids(extra) +
                  " that do not belong to it");
    if (!lacking.isEmpty())
      problem(Kind::kMissingIndexEntry, "idx.segments",
              "key " + hex(key) + " lacks customers (low bits) " + describe_ids(lacking));
    if (it != chunks_.end()) chunks_.erase(it);
    return true;
  });
  if (!s) return s;
  for (const auto& [key, want] : chunks_)
    problem(Kind::kMissingIndexEntry, "idx.segments",
            "key " + hex(key) + " is absent; customers (low bits) " + describe_ids(want));
  for (const auto& [field, used] : extents_) {
    auto stored = index.extent(field);
    if (!stored || !*stored || (*stored)->first > used->first || (*stored)->second < used->second)
      problem(Kind::kBadMetadata, "meta",
              extent_key(field) + " does not cover the buckets in use (queries would miss customers)");
  }
  for (const auto& [field, used] : values_) {
    auto stored = index.text_values(field);  // encrypted: the dictionary
    if (!stored) {
      problem(Kind::kBadMetadata, "meta", dictionary_key(field) + ": " + stored.error().message());
      continue;
    }
    std::vector<std::string> lacking;
    std::set_difference(used.begin(), used.end(), stored->begin(), stored->end(),
                        std::back_inserter(lacking));
    if (!lacking.empty())
      problem(Kind::kBadMetadata, "meta",
              dictionary_key(field) + " lacks " + std::to_string(lacking.size()) +
                  " values in use (reports would miss their groups)");
  }
  for (const auto& [key, used] : attribute_values_) {
    auto stored = read_value_dictionary(index.db(), index.state(), key);
    if (!stored) {
      problem(Kind::kBadMetadata, "meta", key + ": " + stored.error().message());
      continue;
    }
    std::vector<std::string> lacking;
    std::set_difference(used.begin(), used.end(), stored->begin(), stored->end(),
                        std::back_inserter(lacking));
    if (!lacking.empty())
      problem(Kind::kBadMetadata, "meta",
              key + " lacks " + std::to_string(lacking.size()) +
                  " values in use (reports would miss their groups)");
  }
  return {};
}

}  // namespace custdb::segment

namespace custdb::segment {

Status apply_bit_changes(detail::DatabaseImpl& db, detail::TxnState& st,
                         std::span<const BitChange> changes) {
  // Queued postings of this transaction would be flushed over these bits later: flush first
  // so the order of changes is the feed's.
  if (st.has_queued_postings())
    if (auto s = flush(db, st); !s) return s;
  // Per chunk, in first-seen order, the changes in the order given.
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::pair<std::uint32_t, bool>>> by_chunk;
  for (const BitChange& c : changes) {
    if (c.posting.empty() || c.posting.size() > 400)
      return make_error(ErrorCode::kCorruption, "feed: a bit change with a posting key of " +
                                                    std::to_string(c.posting.size()) + " bytes");
    std::string key = chunk_key(c.posting, chunk_of(c.id));
    auto [it, fresh] = by_chunk.try_emplace(key);
    if (fresh) order.push_back(std::move(key));
    it->second.emplace_back(low_bits(c.id), c.set);
  }
  SegmentIndex index(db, st);
  std::vector<std::uint8_t> out, serialized;
  for (const std::string& key : order) {
    const auto& bits_of = by_chunk[key];
    auto s = rewrite_chunk(db, st, index, key, [&](Roaring& bits) {
      for (auto [low, set] : bits_of) {
        if (set) bits.add(low);
        else bits.remove(low);
      }
    }, /*report=*/false, out, serialized);
    if (!s) return s;
  }
  return {};
}

}  // namespace custdb::segment
