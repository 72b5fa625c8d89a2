// Record storage: get/put/delete with failure poisoning, index entries, meta values and id
// counters, and decoding records by id.
#include <algorithm>
#include <cassert>
#include <type_traits>

#include "engine/db_impl.h"
#include "engine/feed_record.h"

namespace custdb::detail {
namespace {

using coding::as_bytes;
using storage::Bytes;

}  // namespace

// ---- storage primitives -----------------------------------------------------------------------

Result<std::optional<Bytes>> DatabaseImpl::get(TxnState& st, storage::Table table,
                                               Bytes key) const {
  return storage::get(st.txn, table, key, "read");
}

Status DatabaseImpl::put(TxnState& st, storage::Table table, Bytes key, Bytes val,
                         storage::Put how) {
  assert(st.write && !st.poisoned);
  if (auto s = storage::put(st.txn, table, key, val, how, "write"); !s)
    return tl::unexpected(fail(st, std::move(s.error())));
  ++st.writes;
  if (st.feed) feed_capture(*this, st, table, FeedOpKind::kPut, key, val);
  return {};
}

Status DatabaseImpl::put(TxnState& st, OrderedWriter& writer, Bytes key, Bytes val,
                         storage::Put how) {
  assert(st.write && !st.poisoned);
  if (auto s = writer.writer_.put(key, val, how, "write"); !s)
    return tl::unexpected(fail(st, std::move(s.error())));
  ++st.writes;
  if (st.feed) feed_capture(*this, st, writer.table_, FeedOpKind::kPut, key, val);
  return {};
}

Status DatabaseImpl::del(TxnState& st, storage::Table table, Bytes key,
                         std::optional<Bytes> val) {
  assert(st.write && !st.poisoned);
  auto r = storage::del(st.txn, table, key, val, "delete");
  if (!r) return tl::unexpected(fail(st, std::move(r.error())));
  st.writes += *r;
  // Only a delete that removed something is recorded: the replica holds the same state.
  if (*r && st.feed) feed_capture(*this, st, table, FeedOpKind::kDel, key, val);
  return {};  // deleted, or nothing was there
}

Status DatabaseImpl::put_entry(TxnState& st, const index::IndexEntry& e) {
  return put(st, tables().index[static_cast<std::size_t>(e.index)], as_bytes(e.key), as_bytes(e.value),
             index::spec(e.index).unique ? storage::Put::kOverwrite : storage::Put::kNoDupData);
}

Status DatabaseImpl::del_entry(TxnState& st, const index::IndexEntry& e) {
  return del(st, tables().index[static_cast<std::size_t>(e.index)], as_bytes(e.key),
             index::spec(e.index).unique ? std::nullopt : std::optional(as_bytes(e.value)));
}

Status DatabaseImpl::update_entries(TxnState& st, std::vector<index::IndexEntry> old_entries,
                                    std::vector<index::IndexEntry> new_entries) {
  const index::EntryDiff diff = index::diff_entries(std::move(old_entries), std::move(new_entries));
  for (const auto& e : diff.removed)
    if (auto s = del_entry(st, e); !s) return s;
  for (const auto& e : diff.added)
    if (auto s = put_entry(st, e); !s) return s;
  return {};
}

Status DatabaseImpl::put_entries_sorted(TxnState& st, std::vector<index::IndexEntry> entries) {
  std::sort(entries.begin(), entries.end());  // by index, then key and value
  for (std::size_t from = 0; from < entries.size();) {
    const index::IndexId id = entries[from].index;
    const auto how =
        index::spec(id).unique ? storage::Put::kOverwrite : storage::Put::kNoDupData;  // put_entry's
    OrderedWriter writer(st, tables().index[static_cast<std::size_t>(id)]);
    for (; from < entries.size() && entries[from].index == id; ++from)
      if (auto s = put(st, writer, as_bytes(entries[from].key), as_bytes(entries[from].value), how); !s)
        return s;
  }
  return {};
}

Result<std::vector<std::string>> DatabaseImpl::index_values(TxnState& st, index::IndexId id,
                                                            std::string_view key) const {
  std::vector<std::string> out;
  storage::Walker walk(st.txn, tables().index[static_cast<std::size_t>(id)], "index read");
  if (auto s = walk.dups(as_bytes(key), storage::Walker::Order::kForward,
                         [&](Bytes, Bytes v) {
                           out.emplace_back(coding::as_view(v));
                           return storage::Next::go_on();
                         });
      !s)
    return tl::unexpected(s.error());
  return out;
}

// ---- meta values -----------------------------------------------------------------------------

Result<std::optional<std::string>> DatabaseImpl::get_sealed_meta(TxnState& st,
                                                                 std::string_view key) const {
  auto stored = get(st, tables().meta, as_bytes(key));
  if (!stored) return tl::unexpected(stored.error());
  if (!*stored) return std::optional<std::string>();
  thread_local std::vector<std::uint8_t> scratch;
  auto payload = personal_meta(key) ? codec().unwrap_personal(codec::Table::kPersonalMeta,
                                                              as_bytes(key), **stored, scratch)
                                    : codec().unwrap(codec::Table::kMeta, as_bytes(key),
                                                     **stored, scratch);
  if (!payload) return tl::unexpected(payload.error());
  return std::optional<std::string>(std::in_place, reinterpret_cast<const char*>(payload->data()),
                                    payload->size());
}

Status DatabaseImpl::put_sealed_meta(TxnState& st, std::string_view key,
                                     std::string_view value) {
  std::vector<std::uint8_t> sealed;
  if (personal_meta(key))
    codec().wrap_personal(codec::Table::kPersonalMeta, as_bytes(key), as_bytes(value), sealed);
  else
    codec().wrap(codec::Table::kMeta, as_bytes(key), as_bytes(value), sealed);
  return put(st, tables().meta, as_bytes(key), sealed);
}

// ---- meta counters ---------------------------------------------------------------------------

Result<std::uint64_t> parse_id_counter(Bytes value) {
  if (value.size() != 8)
    return make_error(ErrorCode::kCorruption,
                      std::to_string(value.size()) + " bytes, expected 8");
  const std::uint64_t next = coding::get_u64(value.data());
  // Ids are 1..2^63-1, so the next one is 1..2^63 (2^63: none left to assign automatically).
  if (next == 0 || next > kMaxIdCounter)
    return make_error(ErrorCode::kCorruption,
                      std::to_string(next) + " is outside 1..2^63, where no id can be assigned");
  return next;
}

Result<std::uint64_t> DatabaseImpl::next_id(TxnState& st, std::string_view counter) const {
  auto v = get(st, tables().meta, as_bytes(counter));
  if (!v) return tl::unexpected(v.error());
  if (!*v) return std::uint64_t{1};
  auto next = parse_id_counter(**v);
  if (!next)
    return make_error(ErrorCode::kCorruption, "meta " + std::string(counter) + ": " + next.error().message());
  return *next;
}

Status DatabaseImpl::bump_counter(TxnState& st, std::string_view counter,
                                  std::uint64_t used_id) {
  auto next = next_id(st, counter);
  if (!next) return tl::unexpected(next.error());
  if (used_id < *next) return {};
  coding::IdKey v(used_id + 1);
  return put(st, tables().meta, as_bytes(counter), v.span());
}

// ---- records ---------------------------------------------------------------------------------

namespace {

// The codec's decoder of record type T (a record's key is its 8-byte id).
template <class T>
Result<T> decode_record(const codec::RecordCodec& codec, Bytes key, Bytes stored,
                        const Schema& schema) {
  if constexpr (std::is_same_v<T, Customer>) return codec.decode_customer(key, stored, schema);
  else if constexpr (std::is_same_v<T, Relationship>) return codec.decode_relationship(key, stored);
  else if constexpr (std::is_same_v<T, Holding>) return codec.decode_holding(key, stored);
  else return codec.decode_transaction(key, stored, schema);
}

// A point read's result decoded as T: nullopt when the key is absent.
template <class T>
Result<std::optional<T>> decode_found(const codec::RecordCodec& codec, Bytes key,
                                      const Result<std::optional<Bytes>>& stored,
                                      const Schema& schema) {
  if (!stored) return tl::unexpected(stored.error());
  if (!*stored) return std::optional<T>();
  auto r = decode_record<T>(codec, key, **stored, schema);
  if (!r) return tl::unexpected(r.error());
  return std::optional<T>(std::move(*r));
}

}  // namespace

template <class T>
storage::Table DatabaseImpl::table_of() const {
  if constexpr (std::is_same_v<T, Customer>) return tables().customers;
  else if constexpr (std::is_same_v<T, Relationship>) return tables().relationships;
  else if constexpr (std::is_same_v<T, Holding>) return tables().holdings;
  else return tables().transactions;
}

template <class T>
Result<std::optional<T>> DatabaseImpl::load(TxnState& st, std::uint64_t id) const {
  // Format 6: a read-only handle on an older file has no holdings table (none stored).
  if constexpr (std::is_same_v<T, Holding>)
    if (!tables().holdings) return std::optional<T>();
  auto schema = schema_of(st);
  if (!schema) return tl::unexpected(schema.error());
  coding::IdKey k(id);
  return decode_found<T>(codec(), k.span(), get(st, table_of<T>(), k.span()), **schema);
}

template <class T>
Result<std::optional<T>> DatabaseImpl::load(OrderedReader& reader, std::uint64_t id) const {
  if constexpr (std::is_same_v<T, Holding>)
    if (!tables().holdings) return std::optional<T>();
  auto schema = schema_of(reader.state());
  if (!schema) return tl::unexpected(schema.error());
  coding::IdKey k(id);
  return decode_found<T>(codec(), k.span(), reader.get(k.span()), **schema);
}

template storage::Table DatabaseImpl::table_of<Customer>() const;
template storage::Table DatabaseImpl::table_of<Relationship>() const;
template storage::Table DatabaseImpl::table_of<Transaction>() const;
template Result<std::optional<Customer>> DatabaseImpl::load(TxnState&, std::uint64_t) const;
template Result<std::optional<Relationship>> DatabaseImpl::load(TxnState&, std::uint64_t) const;
template Result<std::optional<Transaction>> DatabaseImpl::load(TxnState&, std::uint64_t) const;
template storage::Table DatabaseImpl::table_of<Holding>() const;
template Result<std::optional<Holding>> DatabaseImpl::load(TxnState&, std::uint64_t) const;
template Result<std::optional<Holding>> DatabaseImpl::load(OrderedReader&, std::uint64_t) const;
template Result<std::optional<Customer>> DatabaseImpl::load(OrderedReader&, std::uint64_t) const;
template Result<std::optional<Relationship>> DatabaseImpl::load(OrderedReader&, std::uint64_t) const;
template Result<std::optional<Transaction>> DatabaseImpl::load(OrderedReader&, std::uint64_t) const;

Status DatabaseImpl::store_customer(TxnState& st, const Customer& c, OrderedWriter* customers) {
  auto schema = schema_of(st);
  if (!schema) return tl::unexpected(schema.error());
  coding::IdKey k(c.id);
  codec().encode(k.span(), c, **schema, st.buf);
  if (customers) return put(st, *customers, k.span(), st.buf);
  return put(st, tables().customers, k.span(), st.buf);
}

}  // namespace custdb::detail
