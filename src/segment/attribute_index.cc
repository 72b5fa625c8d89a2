#include "segment/attribute_index.h"

#include <sodium.h>

#include <algorithm>
#include <cassert>

#include "crypto/crypto.h"
#include "engine/db_impl.h"
#include "segment/segment_index.h"
#include "segment/slices.h"
#include "util/coding.h"
#include "util/normalize.h"

namespace custdb::segment {
namespace {

constexpr std::uint32_t kAttributeTokenField = 32u + static_cast<std::uint32_t>(SegField::kAttribute);
constexpr std::size_t kPlainHashedPrefix = 224;

void put_id(std::string& out, std::uint32_t id) {
  out += static_cast<char>(id >> 24);
  out += static_cast<char>(id >> 16);
  out += static_cast<char>(id >> 8);
  out += static_cast<char>(id);
}

std::string bucket_of(std::uint32_t id, std::string_view value) {
  std::string b;
  b.reserve(4 + value.size());
  put_id(b, id);
  b += value;
  return b;
}

const AttributeValue* value_in(const AttributeDef& def, const Customer& c) {
  auto it = c.attributes.find(def.name);
  return it == c.attributes.end() ? nullptr : &it->second;
}

std::string as_string(std::span<const std::uint8_t> t) {
  return std::string(reinterpret_cast<const char*>(t.data()), t.size());
}

}  // namespace

bool is_sliced_attribute(AttributeType t) {
  switch (t) {
    case AttributeType::kInteger: case AttributeType::kDecimal: case AttributeType::kAmount:
    case AttributeType::kDate: case AttributeType::kTimestamp:
      return true;
    default:
      return false;
  }
}

index::Posting attribute_posting(const AttributeDef& def, std::string_view value) {
  return index::Posting{SegField::kAttribute, bucket_of(def.id, value)};
}

// ---- keys ----------------------------------------------------------------------------------------

std::string SegmentKeys::attribute_key(std::uint32_t id, bool personal, std::string_view value) const {
  if (tok_) {
    const bool p = split_ && personal;
    if (p && !personal_) return std::string(kDeniedPostingKey);
    const crypto::Tokenizer* tok = p ? personal_ : tok_;
    const std::string b = bucket_of(id, value);
    auto t = tok->token(kAttributeTokenField,
                        std::span(reinterpret_cast<const std::uint8_t*>(b.data()), b.size()));
    std::string k = as_string(t);
    if (p) k += kPersonalKeyMark;
    return k;
  }
  std::string v(value);
  if (v.size() > kMaxPlainAttributeValue) {
    std::uint8_t h[16];
    crypto_generichash(h, sizeof h, reinterpret_cast<const std::uint8_t*>(value.data()),
                       value.size(), nullptr, 0);
    v.resize(kPlainHashedPrefix);
    v += static_cast<char>(0xFF);  // never in UTF-8: a hashed value is told apart
    v.append(reinterpret_cast<const char*>(h), sizeof h);
  }
  std::string k;
  k.reserve(6 + v.size());
  k += static_cast<char>(SegField::kAttribute);
  k += static_cast<char>(std::min<std::size_t>(4 + v.size(), 255));
  put_id(k, id);
  k += v;
  return k;
}

std::string SegmentKeys::attribute_slice_key(std::uint32_t id, bool personal, int slice) const {
  assert(slice >= 0 && slice < kSlicesPerField);
  if (!tok_) {
    std::string k;
    k += static_cast<char>(kSliceFieldBase + static_cast<std::uint8_t>(SegField::kAttribute));
    k += static_cast<char>(5);
    put_id(k, id);
    k += static_cast<char>(slice);
    return k;
  }
  const bool p = split_ && personal;
  if (p && !personal_) return std::string(kDeniedPostingKey);
  std::lock_guard lock(attribute_slice_mu_);
  auto& keys = attribute_slice_keys_[{id, p}];
  if (keys.empty()) {
    const crypto::Tokenizer* tok = p ? personal_ : tok_;
    keys.reserve(kSlicesPerField);
    for (int i = 0; i < kSlicesPerField; ++i) {
      std::string in(1, static_cast<char>(0xFF));
      put_id(in, id);
      in += static_cast<char>(i);
      auto t = tok->token(kAttributeTokenField,
                          std::span(reinterpret_cast<const std::uint8_t*>(in.data()), in.size()));
      std::string k = as_string(t);
      if (p) k += kPersonalKeyMark;
      keys.push_back(std::move(k));
    }
  }
  return keys[static_cast<std::size_t>(slice)];
}

// ---- values --------------------------------------------------------------------------------------

std::optional<std::int64_t> attribute_number(const AttributeValue& v) {
  if (auto* i = std::get_if<std::int64_t>(&v)) return *i;
  if (auto* d = std::get_if<std::chrono::sys_days>(&v)) return d->time_since_epoch().count();
  if (auto* t = std::get_if<std::chrono::sys_time<std::chrono::milliseconds>>(&v))
    return t->time_since_epoch().count();
  return std::nullopt;
}

std::optional<std::int64_t> attribute_number(const AttributeDef& def, const Customer& c) {
  if (!is_sliced_attribute(def.type)) return std::nullopt;
  const AttributeValue* v = value_in(def, c);
  if (!v) return std::nullopt;
  return attribute_number(*v);
}

std::vector<std::string> attribute_values(const AttributeDef& def, const Customer& c) {
  std::vector<std::string> out;
  const AttributeValue* v = value_in(def, c);
  if (!v || is_sliced_attribute(def.type)) return out;
  switch (def.type) {
    case AttributeType::kText:
      if (auto* s = std::get_if<std::string>(v)) {
        std::string f = normalize::fold(*s);
        if (!f.empty()) out.push_back(std::move(f));
      }
      break;
    case AttributeType::kEnum:
      if (auto* s = std::get_if<std::string>(v); s && !s->empty()) out.push_back(*s);
      break;
    case AttributeType::kBool:
      if (auto* b = std::get_if<bool>(v)) out.push_back(*b ? "1" : "0");
      break;
    case AttributeType::kTagSet:
      if (auto* tags = std::get_if<std::vector<std::string>>(v))
        for (const auto& t : *tags) {
          std::string f = normalize::fold(t);
          if (!f.empty()) out.push_back(std::move(f));
        }
      break;
    default: break;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string attribute_dictionary_key(const SegmentKeys& keys, const AttributeDef& def) {
  if (!keys.tokenized() || (def.type != AttributeType::kText && def.type != AttributeType::kTagSet))
    return {};
  std::string k = std::string(kAttributeDictionaryPrefix) + std::to_string(def.id);
  if (keys.split() && def.personal) k += ".personal";
  return k;
}

// ---- deltas --------------------------------------------------------------------------------------

void for_each_attribute_delta(const SegmentKeys& keys, const AttributeDef& def,
                              const Customer* before, const Customer* after,
                              const AttributeDeltaFn& fn) {
  assert(before || after);
  const CustomerId id = after ? after->id : before->id;
  const std::uint64_t chunk = chunk_of(id);
  const std::uint32_t low = low_bits(id);
  static const std::string kNoValue;
  if (is_sliced_attribute(def.type)) {
    const auto b = before ? attribute_number(def, *before) : std::nullopt;
    const auto a = after ? attribute_number(def, *after) : std::nullopt;
    if (b == a) return;
    const std::uint64_t ub = b ? biased(*b) : 0, ua = a ? biased(*a) : 0;
    for (std::uint64_t flipped = ub ^ ua; flipped; flipped &= flipped - 1) {
      const int bit = __builtin_ctzll(flipped);
      fn(chunk_key(keys.attribute_slice_key(def.id, def.personal, bit), chunk), low,
         ((ua >> bit) & 1) != 0, kNoValue);
    }
    if (b.has_value() != a.has_value())
      fn(chunk_key(keys.attribute_slice_key(def.id, def.personal, kExistsSlice), chunk), low,
         a.has_value(), kNoValue);
    return;
  }
  const auto old_v = before ? attribute_values(def, *before) : std::vector<std::string>();
  const auto new_v = after ? attribute_values(def, *after) : std::vector<std::string>();
  auto emit = [&](const std::string& v, bool present) {
    fn(chunk_key(keys.attribute_key(def.id, def.personal, v), chunk), low, present, v);
  };
  auto o = old_v.begin(), n = new_v.begin();
  while (o != old_v.end() || n != new_v.end()) {
    if (n == new_v.end() || (o != old_v.end() && *o < *n)) emit(*o++, false);
    else if (o == old_v.end() || *n < *o) emit(*n++, true);
    else ++o, ++n;
  }
}

void queue_attribute_postings(const SegmentKeys& keys, detail::TxnState& st,
                              const AttributeDef& def, const Customer* before,
                              const Customer* after) {
  if (is_sliced_attribute(def.type)) {
    // Slices: the value before the transaction's first change of this customer and now;
    // flush writes the bits that differ (flush_attribute_slices).
    const CustomerId id = after ? after->id : before->id;
    const auto b = before ? attribute_number(def, *before) : std::nullopt;
    const auto a = after ? attribute_number(def, *after) : std::nullopt;
    auto& changes = st.attribute_slice_changes[{def.id, def.personal}];
    auto it = changes.find(id);
    if (it == changes.end()) {
      if (b != a) changes.emplace(id, detail::TxnState::AttributeSliceChange{b, a});
    } else {
      it->second.to = a;
    }
    return;
  }
  const std::string dict = attribute_dictionary_key(keys, def);
  for_each_attribute_delta(keys, def, before, after,
                           [&](const std::string& key, std::uint32_t low, bool present,
                               const std::string& value) {
                             st.posting_deltas[key].push_back({low, present});
                             if (present && !dict.empty()) st.attribute_values_added[dict].insert(value);
                           });
}

void queue_schema_postings(const SegmentKeys& keys, detail::TxnState& st, const Schema& schema,
                           const Customer* before, const Customer* after) {
  // A transaction landing changes the aggregates only: no attribute posting moves.
  if (before && after && before->attributes == after->attributes) return;
  const CustomerId id = after ? after->id : before->id;
  for (const AttributeDef& def : schema.attributes)
    if (attribute_indexed_for(def, id)) queue_attribute_postings(keys, st, def, before, after);
}

// ---- reads ---------------------------------------------------------------------------------------

Result<index::IdSet> attribute_members(SegmentIndex& index, const AttributeDef& def,
                                       std::string_view value) {
  return index.members_of_key(index.db().seg_keys().attribute_key(def.id, def.personal, value));
}

Result<std::vector<std::string>> attribute_value_list(SegmentIndex& index, const AttributeDef& def) {
  std::vector<std::string> out;
  switch (def.type) {
    case AttributeType::kEnum: return def.values;
    case AttributeType::kBool: return std::vector<std::string>{"0", "1"};
    case AttributeType::kText: case AttributeType::kTagSet: break;
    default: return out;
  }
  const SegmentKeys& keys = index.db().seg_keys();
  if (keys.tokenized()) {
    auto d = read_value_dictionary(index.db(), index.state(), attribute_dictionary_key(keys, def));
    if (!d) return d;
    return std::move(*d);
  }
  // Plaintext keys: [28][len][id][value][chunk]; walk the attribute's keys, skipping each
  // value's further chunks.
  std::string prefix(1, static_cast<char>(SegField::kAttribute));
  std::string idb;
  put_id(idb, def.id);
  std::vector<std::string> hashed;  // keys (without chunk) of long values
  Status failed;
  storage::Walker walk(index.state().txn, index.db().tables().segments, "segment scan");
  auto s = walk.from(storage::Bytes(reinterpret_cast<const std::uint8_t*>(prefix.data()), prefix.size()),
                     [&](storage::Bytes k, storage::Bytes) {
    const std::string_view key(reinterpret_cast<const char*>(k.data()), k.size());
    if (key.empty() || key[0] != static_cast<char>(SegField::kAttribute)) return storage::Next::stop();
    if (key.size() < 6 + kChunkSuffixBytes)
      return failed = make_error(ErrorCode::kCorruption, "idx.segments: malformed attribute key"),
             storage::Next::stop();
    const std::string_view posting = key.substr(0, key.size() - kChunkSuffixBytes);
    std::string past = chunk_key(posting, UINT64_MAX);
    if (posting.substr(2, 4) == idb) {
      std::string v(posting.substr(6));
      if (v.size() == kPlainHashedPrefix + 17 && static_cast<unsigned char>(v[kPlainHashedPrefix]) == 0xFF)
        hashed.emplace_back(posting);
      else
        out.push_back(std::move(v));
    }
    return storage::Next::skip_past(std::move(past));
  });
  if (!s) return tl::unexpected(s.error());
  if (!failed) return tl::unexpected(failed.error());
  // A hashed value: its text from one member's record.
  for (const std::string& posting : hashed) {
    auto m = index.members_of_key(posting);
    if (!m) return tl::unexpected(m.error());
    std::optional<std::uint64_t> first;
    m->for_each([&](std::uint64_t id) { first = id; return false; });
    if (!first) continue;
    auto c = index.db().load_customer(index.state(), *first);
    if (!c) return tl::unexpected(c.error());
    if (!*c) continue;
    for (auto& v : attribute_values(def, **c))
      if (keys.attribute_key(def.id, def.personal, v) == posting) out.push_back(std::move(v));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Status prune_attribute_dictionaries(detail::DatabaseImpl& db, detail::TxnState& st,
                                    const Customer& before) {
  if (!db.seg_keys().tokenized()) return {};
  auto schema = db.schema_of(st);
  if (!schema) return tl::unexpected(schema.error());
  if (auto s = db.flush_postings(st); !s) return s;
  SegmentIndex index(db, st);
  for (const AttributeDef& def : (*schema)->attributes) {
    const std::string key = attribute_dictionary_key(db.seg_keys(), def);
    if (key.empty() || !attribute_indexed_for(def, before.id)) continue;
    auto values = read_value_dictionary(db, st, key);
    if (!values) return tl::unexpected(values.error());
    bool changed = false;
    for (const std::string& v : attribute_values(def, before)) {
      auto it = std::lower_bound(values->begin(), values->end(), v);
      if (it == values->end() || *it != v) continue;
      auto m = attribute_members(index, def, v);
      if (!m) return tl::unexpected(m.error());
      if (!m->empty()) continue;
      values->erase(it);
      changed = true;
    }
    if (changed)
      if (auto s = db.put_sealed_meta(st, key, encode_dictionary(*values)); !s) return s;
  }
  return {};
}

Status drop_attribute_index_meta(detail::DatabaseImpl& db, detail::TxnState& st,
                                 const AttributeDef& def) {
  const std::string key = attribute_dictionary_key(db.seg_keys(), def);
  if (key.empty()) return {};
  st.attribute_values_added.erase(key);
  auto k = storage::Bytes(reinterpret_cast<const std::uint8_t*>(key.data()), key.size());
  auto present = db.get(st, db.tables().meta, k);
  if (!present) return tl::unexpected(present.error());
  if (!*present) return {};
  return db.del(st, db.tables().meta, k);
}

}  // namespace custdb::segment
