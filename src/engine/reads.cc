// Index-backed reads.
#include <algorithm>
#include <set>

#include "engine/db_impl.h"
#include "util/message.h"
#include "util/normalize.h"

namespace custdb {
namespace detail {

using index::IndexId;
using index::IndexKeys;

Result<std::vector<Customer>> DatabaseImpl::customers_by(TxnState& st, IndexId id,
                                                         std::string_view key) const {
  return customers_by(st, id, key, {});
}

Result<std::vector<Customer>> DatabaseImpl::customers_by(
    TxnState& st, IndexId id, std::string_view key,
    const std::function<bool(const Customer&)>& agrees) const {
  std::vector<Customer> out;
  std::vector<std::string> owners;
  if (index::spec(id).unique) {
    auto v = get(st, tables().index[static_cast<std::size_t>(id)], coding::as_bytes(key));
    if (!v) return tl::unexpected(v.error());
    if (*v) owners.emplace_back(reinterpret_cast<const char*>((*v)->data()), (*v)->size());
  } else {
    auto v = index_values(st, id, key);
    if (!v) return tl::unexpected(v.error());
    owners = std::move(*v);
  }
  // Dup values are 8-byte ids in ascending order: one owner named twice is a damaged page
  // (LMDB never stores a dup value twice), and would list the customer twice.
  for (std::size_t i = 1; i < owners.size(); ++i)
    if (IndexKeys::owner_id(owners[i - 1]) >= IndexKeys::owner_id(owners[i]))
      return make_error(ErrorCode::kCorruption,
                        std::string(index::spec(id).dbi_name) + " names a customer twice");
  for (const auto& o : owners) {
    auto c = load_customer(st, IndexKeys::owner_id(o));
    if (!c) return tl::unexpected(c.error());
    if (!*c)
      return make_error(ErrorCode::kCorruption,
                        std::string(index::spec(id).dbi_name) + " names a missing customer");
    // The record must carry the value its index entry claims (a tampered or stale index
    // would otherwise answer with the wrong customers).
    if (agrees && !agrees(**c))
      return make_error(ErrorCode::kCorruption, std::string(index::spec(id).dbi_name) +
                                                    " disagrees with customer " + std::to_string((*c)->id));
    out.push_back(std::move(**c));
  }
  return out;
}

Result<std::vector<Relationship>> DatabaseImpl::relationships_of(TxnState& st,
                                                                 CustomerId id) const {
  auto ids = index_values(st, IndexId::kRelByCustomer, IndexKeys::id_key(id));
  if (!ids) return tl::unexpected(ids.error());
  std::vector<Relationship> out;
  out.reserve(ids->size());
  RelationshipId prev = 0;
  for (const auto& v : *ids) {
    // Dup values are ids in ascending order (LMDB never stores one twice): a repeat or a step
    // back is a damaged page, and would list a relationship twice.
    const RelationshipId rid = IndexKeys::owner_id(v);
    if (rid <= prev)
      return make_error(ErrorCode::kCorruption, "idx.rel_by_customer names relationship " +
                                                    std::to_string(rid) + " twice or out of order");
    prev = rid;
    auto r = load_relationship(st, rid);
    if (!r) return tl::unexpected(r.error());
    if (!*r || ((*r)->from != id && (*r)->to != id))
      return make_error(ErrorCode::kCorruption, "idx.rel_by_customer names a missing relationship");
    out.push_back(std::move(**r));
  }
  return out;
}

Result<std::vector<Transaction>> DatabaseImpl::transactions_of(TxnState& st, CustomerId id,
                                                               std::optional<Timestamp> from,
                                                               std::optional<Timestamp> to) const {
  std::vector<Transaction> out;
  // The customer's sealed aggregates say how many transactions it has: the index must hold
  // exactly that many entries under its key, or a filtered or unfiltered answer could miss
  // (a lost entry) or repeat (a duplicated one) a transaction without anyone noticing.
  // Only the count is needed: the facet decode skips the rest of the record (plaintext).
  std::uint64_t expected = 0;
  coding::IdKey owner_key(id);
  auto owner = get(st, tables().customers, owner_key.span());
  if (!owner) return tl::unexpected(owner.error());
  if (*owner) {
    auto facets = codec().decode_customer_facets(owner_key.span(), **owner);
    if (!facets) return tl::unexpected(facets.error());
    expected = facets->txn_count;
  }
  storage::Walker walk(st.txn, tables().index[static_cast<std::size_t>(IndexId::kTxnByCustomer)],
                       "history");
  const std::string key = IndexKeys::id_key(id);
  // The whole run's size, from its sub-database record: no walk, whatever from/to select.
  auto counted = walk.dup_count(coding::as_bytes(key));
  if (!counted) return tl::unexpected(counted.error());
  const std::size_t entries = *counted;
  if (entries != expected)
    return make_error(ErrorCode::kCorruption,
                      "idx.txn_by_customer holds " + std::to_string(entries) +
                          " entries for customer " + std::to_string(id) + ", whose aggregates count " +
                          std::to_string(expected) + " transactions");
  if (entries == 0) return out;
  const bool ordered = keys().txn_values_ordered_by_time();
  std::optional<std::string> seek;
  if (ordered && from) seek = IndexKeys::txn_time_seek(*from);
  std::string limit;
  if (ordered && to) limit = IndexKeys::txn_time_seek(*to);
  std::vector<TransactionId> seen;
  Status failed;
  auto walked = walk.dups(
      coding::as_bytes(key), storage::Walker::Order::kForward,
      [&](storage::Bytes, storage::Bytes v) {
        const std::string_view value = coding::as_view(v);
        TransactionId tid = IndexKeys::owner_id(value);
        if (ordered && to && value >= std::string_view(limit)) return storage::Next::stop();
        auto t = load_transaction(st, tid);
        if (!t) return failed = tl::unexpected(t.error()), storage::Next::stop();
        if (!*t || (*t)->customer_id != id)
          return failed = make_error(ErrorCode::kCorruption,
                                     "idx.txn_by_customer names a missing transaction"),
                 storage::Next::stop();
        // Plaintext values carry the time the range seeks use: it must be the record's.
        if (ordered && (value.size() != 16 || coding::get_i64(v.data()) !=
                                                  (*t)->ts.time_since_epoch().count()))
          return failed = make_error(ErrorCode::kCorruption,
                                     "idx.txn_by_customer disagrees with transaction " +
                                         std::to_string(tid)),
                 storage::Next::stop();
        seen.push_back(tid);
        if ((!from || (*t)->ts >= *from) && (!to || (*t)->ts < *to)) out.push_back(std::move(**t));
        return storage::Next::go_on();
      },
      seek ? std::optional(coding::as_bytes(*seek)) : std::nullopt);
  if (!failed) return tl::unexpected(failed.error());
  if (!walked) return tl::unexpected(walked.error());
  // A value repeated in place of another keeps the count right: look for repeats too.
  std::sort(seen.begin(), seen.end());
  if (auto dup = std::adjacent_find(seen.begin(), seen.end()); dup != seen.end())
    return make_error(ErrorCode::kCorruption,
                      "idx.txn_by_customer names transaction " + std::to_string(*dup) + " twice");
  if (!ordered)
    std::sort(out.begin(), out.end(), [](const Transaction& a, const Transaction& b) {
      return a.ts != b.ts ? a.ts < b.ts : a.id < b.id;
    });
  return out;
}

Result<std::pair<std::optional<Timestamp>, std::optional<Timestamp>>> DatabaseImpl::first_last_txn(
    TxnState& st, CustomerId id, TransactionId excluded) const {
  std::pair<std::optional<Timestamp>, std::optional<Timestamp>> fl;
  if (keys().txn_values_ordered_by_time()) {
    // The index is in (ts, id) order: the first and last entries not excluded are the answer.
    storage::Walker walk(st.txn, tables().index[static_cast<std::size_t>(IndexId::kTxnByCustomer)],
                         "scan");
    const std::string key = IndexKeys::id_key(id);
    for (auto order : {storage::Walker::Order::kForward, storage::Walker::Order::kBackward}) {
      auto& end = order == storage::Walker::Order::kForward ? fl.first : fl.second;
      auto s = walk.dups(coding::as_bytes(key), order, [&](storage::Bytes, storage::Bytes v) {
        if (IndexKeys::owner_id(coding::as_view(v)) == excluded) return storage::Next::go_on();
        end = Timestamp{std::chrono::milliseconds{coding::get_i64(v.data())}};
        return storage::Next::stop();
      });
      if (!s) return tl::unexpected(s.error());
    }
    return fl;
  }
  auto all = transactions_of(st, id, std::nullopt, std::nullopt);
  if (!all) return tl::unexpected(all.error());
  for (const auto& t : *all) {
    if (t.id == excluded) continue;
    if (!fl.first || t.ts < *fl.first) fl.first = t.ts;
    if (!fl.second || t.ts > *fl.second) fl.second = t.ts;
  }
  return fl;
}

Result<std::vector<ReadView::Hop>> DatabaseImpl::neighborhood(
    TxnState& st, CustomerId id, int depth, std::optional<RelationType> type) const {
  using Hop = ReadView::Hop;
  if (depth < 1) return make_error(ErrorCode::kInvalidArgument, "depth: must be at least 1");
  std::vector<Hop> out;
  std::set<RelationshipId> seen_rel;
  std::set<CustomerId> seen{id};
  std::vector<CustomerId> frontier{id};
  for (int d = 1; d <= depth && !frontier.empty(); ++d) {
    std::vector<CustomerId> next;
    for (CustomerId c : frontier) {
      auto rels = relationships_of(st, c);
      if (!rels) return tl::unexpected(rels.error());
      for (auto& r : *rels) {
        // A type and its inverse name one kind of link (format-2 files opened read-only may
        // still hold links typed by the inverse name).
        if (type && canonical(r).type != canonical(Relationship{.type = *type}).type) continue;
        if (!seen_rel.insert(r.id).second) continue;
        CustomerId other = r.from == c ? r.to : r.from;
        if (seen.insert(other).second) next.push_back(other);
        out.push_back({std::move(r), d});
      }
    }
    frontier = std::move(next);
  }
  return out;
}

}  // namespace detail

Result<std::vector<Customer>> ReadView::find_by_email(std::string_view email) const {
  if (!state_) return make_error(ErrorCode::kFailedPrecondition, "transaction finished");
  if (db_->keys().personal_denied())
    return make_error(ErrorCode::kPermissionDenied,
                      "lookups by email need the owner's key (opened with an analyst key)");
  // The function validation stores with: every written form of an address finds it.
  if (!normalize::is_utf8(email)) return make_error(ErrorCode::kInvalidArgument, "email: not UTF-8");
  auto e = normalize::email(email);
  if (!e)
    return make_error(ErrorCode::kInvalidArgument,
                      "email: not an email address: " + message::quoted(email));
  return db_->customers_by(*state_, index::IndexId::kEmail,
                           db_->keys().equality_key(index::IndexId::kEmail, *e),
                           [&](const Customer& c) { return c.email == *e; });
}

Result<std::vector<Customer>> ReadView::find_by_phone(std::string_view phone) const {
  if (!state_) return make_error(ErrorCode::kFailedPrecondition, "transaction finished");
  if (db_->keys().personal_denied())
    return make_error(ErrorCode::kPermissionDenied,
                      "lookups by phone need the owner's key (opened with an analyst key)");
  // E.164 in the database's phone region, as validation stores it.
  if (!normalize::is_utf8(phone)) return make_error(ErrorCode::kInvalidArgument, "phone: not UTF-8");
  auto p = normalize::phone(phone, db_->phone_region());
  if (!p.e164) return make_error(ErrorCode::kInvalidArgument, normalize::phone_error(p.error, phone));
  return db_->customers_by(*state_, index::IndexId::kPhone,
                           db_->keys().equality_key(index::IndexId::kPhone, *p.e164),
                           [&](const Customer& c) { return c.phone == *p.e164; });
}

}  // namespace custdb
