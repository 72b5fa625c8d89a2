// Format 3 -> 4: privacy (see upgrade.h). Plaintext files need nothing here (open creates the
// new tables). An encrypted file gets its personal key before this step runs (open.cc,
// DatabaseImpl::upgrade: the wrap is stored in the same transaction); this step re-seals
// every customer and transaction so that their personal fields live only in the blob sealed
// under that key, and moves the external_ref, email and phone lookup keys from data-key tokens
// to personal-key tokens; the segment postings of the personal fields (city, birth date and
// its bit slices) move from data-key tokens and seals to personal-key ones, with the city
// dictionary and the birth-date extent.
#include "engine/upgrade.h"

#include "engine/db_impl.h"
#include "segment/segment_index.h"
#include "segment/slices.h"
#include "util/coding.h"

namespace custdb::detail {

namespace {

// Every record of `table` in id order, `batch` at a time, each handed to fn after its batch
// was read (no cursor lives across fn's writes).
template <class T, class Fn>
Status each_record(DatabaseImpl& d, TxnState& st, storage::Table table, Fn&& fn) {
  auto schema = d.schema_of(st);
  if (!schema) return tl::unexpected(schema.error());
  constexpr std::size_t kBatch = 10'000;
  std::uint64_t next = 0;
  for (;;) {
    std::vector<T> batch;
    bool more = false;
    Status failed;
    {
      storage::Walker walk(st.txn, table, "upgrade: records");
      coding::IdKey from(next);
      auto s = walk.from(from.span(), [&](storage::Bytes k, storage::Bytes v) {
        if (batch.size() == kBatch) return more = true, storage::Next::stop();
        Result<T> r = [&] {
          if constexpr (std::is_same_v<T, Customer>) return d.codec().decode_customer(k, v, **schema);
          else return d.codec().decode_transaction(k, v, **schema);
        }();
        if (!r) return failed = tl::unexpected(r.error()), storage::Next::stop();
        next = r->id + 1;
        batch.push_back(std::move(*r));
        return storage::Next::go_on();
      });
      if (!s) return s;
      if (!failed) return failed;
    }
    for (const T& r : batch)
      if (auto s = fn(r); !s) return s;
    if (!more || next == 0) return {};
  }
}

// A sealed meta value as format 3 wrote it (under the data key), or nullopt.
Result<std::optional<std::string>> old_sealed_meta(DatabaseImpl& d, TxnState& st,
                                                   std::string_view key) {
  auto stored = d.get(st, d.tables().meta, coding::as_bytes(key));
  if (!stored) return tl::unexpected(stored.error());
  if (!*stored) return std::optional<std::string>();
  std::vector<std::uint8_t> scratch;
  auto payload = d.codec().unwrap(codec::Table::kMeta, coding::as_bytes(key), **stored, scratch);
  if (!payload) return tl::unexpected(payload.error());
  return std::optional<std::string>(std::in_place, reinterpret_cast<const char*>(payload->data()),
                                    payload->size());
}

// Deletes every stored chunk of posting key `posting`.
Status drop_posting(DatabaseImpl& d, TxnState& st, const std::string& posting) {
  std::vector<std::string> chunks;
  storage::Walker walk(st.txn, d.tables().segments, "upgrade: segment postings");
  const std::string first = segment::chunk_key(posting, 0);
  auto s = walk.from(coding::as_bytes(first), [&](storage::Bytes k, storage::Bytes) {
    std::string_view key(reinterpret_cast<const char*>(k.data()), k.size());
    if (!segment::parse_chunk_key(key, posting)) return storage::Next::stop();
    chunks.emplace_back(key);
    return storage::Next::go_on();
  });
  if (!s) return s;
  for (const std::string& c : chunks)
    if (auto del = d.del(st, d.tables().segments, coding::as_bytes(c)); !del) return del;
  return {};
}

// The data-key postings of city and birth date (buckets and slices) and their dictionary and
// extent, all deleted: upgrade_v4_privacy writes them again under the personal key.
Status drop_personal_postings(DatabaseImpl& d, TxnState& st, const segment::SegmentKeys& old) {
  using index::SegField;
  const std::string city_key = segment::dictionary_key(SegField::kCity);
  auto dict = old_sealed_meta(d, st, city_key);
  if (!dict) return tl::unexpected(dict.error());
  if (*dict) {
    auto values = segment::decode_dictionary(**dict);
    if (!values) return make_error(ErrorCode::kCorruption, "meta " + city_key + ": malformed");
    for (const std::string& v : *values)
      if (auto s = drop_posting(d, st, old.posting_key({SegField::kCity, v})); !s) return s;
    if (auto s = d.del(st, d.tables().meta, coding::as_bytes(city_key)); !s) return s;
  }
  const std::string birth_key = segment::extent_key(SegField::kBirthDate);
  auto extent = old_sealed_meta(d, st, birth_key);
  if (!extent) return tl::unexpected(extent.error());
  if (*extent) {
    auto e = segment::decode_extent(**extent);
    if (!e) return make_error(ErrorCode::kCorruption, "meta " + birth_key + ": malformed");
    for (std::int64_t b = e->first; b <= e->second; ++b)
      if (auto s = drop_posting(d, st, old.posting_key({SegField::kBirthDate, index::encode_bucket(b)}));
          !s)
        return s;
    if (auto s = d.del(st, d.tables().meta, coding::as_bytes(birth_key)); !s) return s;
  }
  if (old.sliced())
    for (int i = 0; i < segment::kSlicesPerField; ++i)
      if (auto s = drop_posting(d, st, old.slice_key(SegField::kBirthDate, i)); !s) return s;
  return {};
}

// Queues c's city and birth-date postings (buckets and slices) under the handle's (personal)
// keys, with the dictionary and extent they feed.
void queue_personal_postings(DatabaseImpl& d, TxnState& st, const Customer& c) {
  using index::SegField;
  const segment::SegmentKeys& keys = d.seg_keys();
  const std::uint64_t chunk = segment::chunk_of(c.id);
  const std::uint32_t low = segment::low_bits(c.id);
  for (const index::Posting& p : index::customer_postings(c)) {
    if (!segment::is_personal_field(p.field)) continue;
    st.posting_deltas[segment::chunk_key(keys.posting_key(p), chunk)].push_back({low, true});
    if (p.field == SegField::kCity) {
      st.values_added[p.field].insert(p.bucket);
    } else {
      const std::int64_t b = index::decode_bucket(p.bucket);
      auto it = st.extents_added.find(p.field);
      if (it == st.extents_added.end()) st.extents_added[p.field] = {b, b};
      else it->second = {std::min(it->second.first, b), std::max(it->second.second, b)};
    }
  }
  if (!keys.sliced()) return;
  auto v = segment::sliced_value(c, SegField::kBirthDate);
  if (!v) return;
  const std::uint64_t u = segment::biased(*v);
  for (int bit = 0; bit < segment::kValueSlices; ++bit)
    if ((u >> bit) & 1)
      st.posting_deltas[segment::chunk_key(keys.slice_key(SegField::kBirthDate, bit), chunk)]
          .push_back({low, true});
  st.posting_deltas[segment::chunk_key(keys.slice_key(SegField::kBirthDate, segment::kExistsSlice),
                                       chunk)]
      .push_back({low, true});
}

}  // namespace

Status upgrade_v4_privacy(DatabaseImpl& d, TxnState& st, const segment::SegmentKeys& keys,
                          const index::IndexKeys& old_keys) {
  if (!d.split()) return {};  // plaintext (or no personal key): nothing to re-seal
  const std::uint8_t exposed = 1;
  if (auto s = d.put(st, d.tables().meta, coding::as_bytes(kDataKeyHeldPersonalKey),
                     storage::Bytes(&exposed, 1));
      !s)
    return s;
  if (auto s = drop_personal_postings(d, st, keys); !s) return s;
  std::size_t queued = 0;
  auto s = each_record<Customer>(d, st, d.tables().customers, [&](const Customer& c) -> Status {
    std::vector<index::IndexEntry> old_e, new_e;
    old_keys.customer_entries(c, old_e);
    d.keys().customer_entries(c, new_e);
    if (auto u = d.update_entries(st, std::move(old_e), std::move(new_e)); !u) return u;
    if (auto u = d.store_customer(st, c); !u) return u;
    queue_personal_postings(d, st, c);
    if (++queued % 10'000 == 0) return segment::flush(d, st);
    return {};
  });
  if (!s) return s;
  if (auto f = segment::flush(d, st); !f) return f;
  return each_record<Transaction>(d, st, d.tables().transactions,
                                  [&](const Transaction& t) -> Status {
                                    const std::string key = index::IndexKeys::id_key(t.id);
                                    auto schema = d.schema_of(st);
                                    if (!schema) return tl::unexpected(schema.error());
                                    d.codec().encode(coding::as_bytes(key), t, **schema, st.buf);
                                    return d.put(st, d.tables().transactions,
                                                 coding::as_bytes(key), st.buf);
                                  });
}

}  // namespace custdb::detail
