// Format 2 -> 3, text (docs/format.md, "Upgrade to format 3"): every stored canonical value
// re-derived with the format-3 rules of util/normalize.h, and every key derived from one moved.
//
//   email        normalize::email (local part NFC + full case fold, domain IDNA U-label);
//   phone        normalize::phone in the database's phone region, E.164; a national form with
//                no region to read it in is kept as stored and its customer listed in sealed
//                meta "phones.not_e164" (DatabaseInfo::phones_not_e164, `custdb stats`);
//                setting a region later (set_phone_region) converts them;
//   tags         normalize::tag (NFC + full case fold): "Ärzte" and "ärzte" become one tag;
//   city, region stored NFC (as typed otherwise), keyed by normalize::fold.
// Lookup keys (idx.email, idx.phone; tokens in encrypted mode) move from the stored value's key
// to the new one. The text postings (region, city, tag) were keyed by format 2's ASCII-only fold,
// which the new fold cannot reproduce from the stored value ("MÜNCHEN" was "mÜnchen"): every
// stored chunk of those three fields is deleted (found through the stored keys in plaintext,
// through the value dictionaries in encrypted mode: they list every value ever used) together
// with the dictionaries, and rebuilt from the customers. Values that are not UTF-8 (format 2
// stored them) keep their old canonical form: their fold is format 2's.
#include <algorithm>
#include <array>

#include "engine/db_impl.h"
#include "engine/upgrade.h"
#include "segment/segment_index.h"
#include "util/coding.h"
#include "util/normalize.h"

namespace custdb::detail {
namespace {

using index::SegField;
using storage::Bytes;

constexpr std::array<SegField, 3> kFoldedFields = {SegField::kRegion, SegField::kCity,
                                                   SegField::kTag};

bool is_folded_field(SegField f) {
  return std::find(kFoldedFields.begin(), kFoldedFields.end(), f) != kFoldedFields.end();
}

// ---- the list of customers whose phone is not E.164 ---------------------------------------------

Result<std::vector<CustomerId>> read_not_e164(DatabaseImpl& d, TxnState& st) {
  auto v = d.get_sealed_meta(st, kMetaPhonesNotE164);
  if (!v) return tl::unexpected(v.error());
  std::vector<CustomerId> ids;
  if (!*v) return ids;
  if ((*v)->size() % 8 != 0)
    return make_error(ErrorCode::kCorruption,
                      "meta " + std::string(kMetaPhonesNotE164) + ": not a list of 8-byte ids");
  for (std::size_t i = 0; i < (*v)->size(); i += 8)
    ids.push_back(coding::get_u64(reinterpret_cast<const std::uint8_t*>((*v)->data() + i)));
  return ids;
}

Status write_not_e164(DatabaseImpl& d, TxnState& st, const std::vector<CustomerId>& ids) {
  if (ids.empty()) return d.del(st, d.tables().meta, coding::as_bytes(kMetaPhonesNotE164));
  std::string bytes(ids.size() * 8, '\0');
  for (std::size_t i = 0; i < ids.size(); ++i)
    coding::put_u64(reinterpret_cast<std::uint8_t*>(bytes.data() + i * 8), ids[i]);
  return d.put_sealed_meta(st, kMetaPhonesNotE164, bytes);
}

// ---- re-normalizing one customer -----------------------------------------------------------------

// `c` with its email, phone, tags, city and region in format-3 canonical form. A value the new
// rules refuse (stored by an older release that allowed it) is kept as it is; *phone_kept says
// whether the phone is one of those.
Customer renormalized(const Customer& c, const std::string& region, bool* phone_kept) {
  Customer n = c;
  *phone_kept = false;
  if (n.email)
    if (auto e = normalize::email(*n.email)) n.email = std::move(*e);
  if (n.phone) {
    auto p = normalize::phone(*n.phone, region);
    if (p.e164)
      n.phone = std::move(*p.e164);
    else
      *phone_kept = true;
  }
  std::vector<std::string> tags;
  tags.reserve(n.tags.size());
  for (const std::string& t : n.tags) {
    auto folded = normalize::tag(t);
    tags.push_back(folded ? std::move(*folded) : t);
  }
  std::sort(tags.begin(), tags.end());
  tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
  n.tags = std::move(tags);
  if (normalize::is_utf8(n.address.city)) n.address.city = normalize::stored_text(n.address.city);
  if (normalize::is_utf8(n.address.region))
    n.address.region = normalize::stored_text(n.address.region);
  return n;
}

// Deletes every stored chunk of the region, city and tag postings, and (encrypted mode) their
// value dictionaries.
Status drop_folded_postings(DatabaseImpl& d, TxnState& st, const segment::SegmentKeys& keys) {
  segment::SegmentIndex index(d, st);
  for (SegField f : kFoldedFields) {
    auto values = index.text_values(f);
    if (!values) return tl::unexpected(values.error());
    for (const std::string& v : *values) {
      const std::string posting = keys.posting_key({f, v});
      std::vector<std::string> chunks;
      storage::Walker walk(st.txn, d.tables().segments, "upgrade: segment postings");
      const std::string first = segment::chunk_key(posting, 0);
      auto s = walk.from(coding::as_bytes(first), [&](Bytes k, Bytes) {
        std::string_view key(reinterpret_cast<const char*>(k.data()), k.size());
        if (!segment::parse_chunk_key(key, posting)) return storage::Next::stop();
        chunks.emplace_back(key);
        return storage::Next::go_on();
      });
      if (!s) return s;
      for (const std::string& c : chunks)
        if (auto del = d.del(st, d.tables().segments, coding::as_bytes(c)); !del) return del;
    }
    if (keys.tokenized())
      if (auto s = d.del(st, d.tables().meta, coding::as_bytes(segment::dictionary_key(f))); !s)
        return s;
  }
  return {};
}

}  // namespace

Status upgrade_v3_text(DatabaseImpl& d, TxnState& st, const segment::SegmentKeys& keys) {
  if (auto s = drop_folded_postings(d, st, keys); !s) return s;
  std::vector<CustomerId> kept;
  // Customers in id order, a batch at a time: no cursor lives across the writes.
  auto schema = d.schema_of(st);
  if (!schema) return tl::unexpected(schema.error());
  constexpr std::size_t kBatch = 10'000;
  std::uint64_t next = 0;
  for (;;) {
    std::vector<Customer> batch;
    bool more = false;
    Status failed;
    {
      storage::Walker walk(st.txn, d.tables().customers, "upgrade: customers");
      coding::IdKey from(next);
      auto s = walk.from(from.span(), [&](Bytes k, Bytes v) {
        if (batch.size() == kBatch) return more = true, storage::Next::stop();
        auto c = d.codec().decode_customer(k, v, **schema);
        if (!c) return failed = tl::unexpected(c.error()), storage::Next::stop();
        next = c->id + 1;
        batch.push_back(std::move(*c));
        return storage::Next::go_on();
      });
      if (!s) return s;
      if (!failed) return failed;
    }
    for (const Customer& old : batch) {
      bool phone_kept = false;
      Customer now = renormalized(old, d.phone_region(), &phone_kept);
      if (phone_kept) kept.push_back(old.id);
      if (!(now == old)) {
        // Lookup keys: the old ones derive from the stored values exactly as format 2 wrote them.
        std::vector<index::IndexEntry> old_e, new_e;
        d.keys().customer_entries(old, old_e);
        d.keys().customer_entries(now, new_e);
        if (auto s = d.update_entries(st, std::move(old_e), std::move(new_e)); !s) return s;
        if (auto s = d.store_customer(st, now); !s) return s;
      }
      for (const index::Posting& p : index::customer_postings(now)) {
        if (!is_folded_field(p.field)) continue;
        st.posting_deltas[segment::chunk_key(keys.posting_key(p), segment::chunk_of(now.id))]
            .push_back({segment::low_bits(now.id), true});
        if (keys.tokenized()) st.values_added[p.field].insert(p.bucket);
      }
    }
    if (auto f = segment::flush(d, st); !f) return f;
    if (!more || next == 0) break;
  }
  return write_not_e164(d, st, kept);
}

Status set_phone_region(DatabaseImpl& d, TxnState& st, const std::string& region) {
  if (auto s = d.put(st, d.tables().meta, coding::as_bytes(kPhoneRegionKey), coding::as_bytes(region)); !s)
    return s;
  auto ids = read_not_e164(d, st);
  if (!ids) return tl::unexpected(ids.error());
  std::vector<CustomerId> still;
  for (CustomerId id : *ids) {
    auto c = d.load_customer(st, id);
    if (!c) return tl::unexpected(c.error());
    if (!*c || !(*c)->phone) continue;  // deleted, or the phone removed since
    auto p = normalize::phone(*(*c)->phone, region);
    if (!p.e164) {
      still.push_back(id);
      continue;
    }
    if (*p.e164 == *(*c)->phone) continue;
    Customer now = **c;
    now.phone = std::move(*p.e164);
    if (auto s = d.write_customer(st, &**c, &now); !s) return s;
  }
  if (still == *ids) return {};
  return write_not_e164(d, st, still);
}

Result<std::size_t> count_phones_not_e164(DatabaseImpl& d, TxnState& st) {
  auto ids = read_not_e164(d, st);
  if (!ids) return tl::unexpected(ids.error());
  return ids->size();
}

}  // namespace custdb::detail
