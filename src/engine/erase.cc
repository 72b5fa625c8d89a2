// Erasure (custdb/privacy.h, docs/security.md "Erasure"): the logical part. A full erasure
// removes the customer and everything held about it; keep-ledger strips the personal fields
// and keeps the ledger under the id. Both prune what the encrypted mode keeps beside the
// postings (the value dictionaries of text fields, the birth-date extent) so no value of the
// customer survives there, and record the erasure in the journal (table erasures) and the
// audit trail, in the same transaction. The bytes the transaction frees are zeroed by
// Database::scrub (scrub.cc) after the commit.
//
// The change feed (custdb/feed.h, "Erasure"). The data-destroying part (destroy_customer:
// records, indexes, segment bits, journal entry) runs under FeedSuspend and travels as one
// erasure op (feed_erasure, which also purges the customer's earlier parts); the pruned
// encrypted-mode meta and the audit entry are recorded raw after it. A replica runs the same
// destroy_customer at the primary's transaction time (replay_erasure) and so ends equal when it
// had applied the customer's changes. One that had not (they were purged before it applied
// them): a full erasure still ends equal (nothing of the customer reached it but relationships
// other customers' parts named, which replay removes); a keep-ledger erasure cannot give it the
// ledger it never received, so the primary records a fingerprint of the ledger (meta
// erasure.check, never left stored) and replay refuses with kFailedPrecondition "re-seed the
// replica from a backup" when the replica's ledger differs. Not detected: an amendment that
// moved a transaction to the erased customer while the replica lagged (that transaction's
// record travelled in the erased customer's purged part).
#include <algorithm>

#include "custdb/privacy.h"
#include "engine/db_impl.h"
#include "engine/erase.h"
#include "segment/attribute_index.h"
#include "index/index_keys.h"
#include "segment/segment_index.h"
#include "util/coding.h"

namespace custdb {

std::string_view to_string(EraseMode m) {
  switch (m) {
    case EraseMode::kFull: return "full";
    case EraseMode::kKeepLedger: return "keep_ledger";
  }
  return "unknown";
}

}  // namespace custdb

namespace custdb::detail {

using coding::as_bytes;
using index::IndexId;
using storage::Bytes;

// ---- the journal ----------------------------------------------------------------------------

std::string encode_erasure(const ErasureEntry& e) {
  std::string v(17, '\0');
  auto* p = reinterpret_cast<std::uint8_t*>(v.data());
  coding::put_u64(p, e.customer);
  p[8] = static_cast<std::uint8_t>(e.mode);
  coding::put_i64(p + 9, e.at.time_since_epoch().count());
  return v;
}

Result<ErasureEntry> decode_erasure(std::uint64_t seq, std::string_view payload) {
  if (payload.size() != 17)
    return make_error(ErrorCode::kCorruption, "erasures: entry " + std::to_string(seq) + " has " +
                                                  std::to_string(payload.size()) + " bytes, expected 17");
  const auto* p = reinterpret_cast<const std::uint8_t*>(payload.data());
  ErasureEntry e;
  e.seq = seq;
  e.customer = coding::get_u64(p);
  if (p[8] > static_cast<std::uint8_t>(EraseMode::kKeepLedger))
    return make_error(ErrorCode::kCorruption,
                      "erasures: entry " + std::to_string(seq) + " has mode " + std::to_string(p[8]));
  e.mode = static_cast<EraseMode>(p[8]);
  e.at = Timestamp(std::chrono::milliseconds(coding::get_i64(p + 9)));
  return e;
}

Result<std::vector<ErasureEntry>> read_erasure_journal(const DatabaseImpl& db, TxnState& st) {
  std::vector<ErasureEntry> out;
  if (!db.tables().erasures) return out;  // a read-only open of an older file
  Status failed;
  std::vector<std::uint8_t> scratch;
  storage::Walker walk(st.txn, db.tables().erasures, "erasure journal");
  auto s = walk.all([&](Bytes k, Bytes v) {
    if (k.size() != 8) {
      failed = make_error(ErrorCode::kCorruption, "erasures: a key of " + std::to_string(k.size()) + " bytes");
      return storage::Next::stop();
    }
    auto payload = db.codec().unwrap(codec::Table::kErasures, k, v, scratch);
    if (!payload) {
      failed = tl::unexpected(payload.error());
      return storage::Next::stop();
    }
    auto e = decode_erasure(coding::get_u64(k.data()), coding::as_view(*payload));
    if (!e) {
      failed = tl::unexpected(e.error());
      return storage::Next::stop();
    }
    out.push_back(*e);
    return storage::Next::go_on();
  });
  if (!s) return tl::unexpected(s.error());
  if (!failed) return tl::unexpected(failed.error());
  return out;
}

Status put_erasure(DatabaseImpl& db, TxnState& st, const ErasureEntry& e) {
  const std::string key = coding::be64(e.seq);
  std::vector<std::uint8_t> sealed;
  db.codec().wrap(codec::Table::kErasures, as_bytes(key), as_bytes(encode_erasure(e)), sealed);
  return db.put(st, db.tables().erasures, as_bytes(key), sealed, storage::Put::kNoOverwrite);
}

namespace {

Status append_journal(DatabaseImpl& db, TxnState& st, CustomerId id, EraseMode mode) {
  auto last = storage::last_key(st.txn, db.tables().erasures, "erasure journal");
  if (!last) return tl::unexpected(last.error());
  std::uint64_t seq = 1;
  if (*last) {
    if ((*last)->size() != 8)
      return make_error(ErrorCode::kCorruption, "erasures: a key of " + std::to_string((*last)->size()) + " bytes");
    seq = coding::get_u64(reinterpret_cast<const std::uint8_t*>((*last)->data())) + 1;
  }
  return put_erasure(db, st, ErasureEntry{seq, id, mode, stamp_time(st)});
}

// Deletes every row of a table keyed be64(customer) || ... for this customer.
Status delete_prefixed(DatabaseImpl& db, TxnState& st, storage::Table table, CustomerId id,
                       const char* what) {
  if (!table) return {};
  const std::string prefix = coding::be64(id);
  std::vector<std::string> keys;
  storage::Walker walk(st.txn, table, what);
  auto s = walk.prefix(as_bytes(prefix), [&](Bytes k, Bytes) {
    keys.emplace_back(coding::as_view(k));
    return storage::Next::go_on();
  });
  if (!s) return s;
  for (const auto& k : keys)
    if (auto d = db.del(st, table, as_bytes(k)); !d) return d;
  return {};
}

// Encrypted mode keeps, beside the postings, every value a text field has had (meta
// "values.<field>") and the lowest and highest bucket of ordered fields (meta "extent.<field>"):
// both only grow. After the customer's postings are gone, drop its text values that no
// customer has any more, and shrink the birth-date extent to the buckets still in use, so
// neither keeps a value of the erased customer.
Status prune_encrypted_meta(DatabaseImpl& db, TxnState& st, const Customer& before) {
  if (!db.encrypted() || !db.sliced()) return {};
  if (auto s = db.flush_postings(st); !s) return s;
  segment::SegmentIndex index(db, st);
  for (const index::Posting& p : index::customer_postings(before, db.seg_keys().text_fold())) {
    if (segment::is_text_field(p.field)) {
      auto members = index.members(p);
      if (!members) return tl::unexpected(members.error());
      if (!members->empty()) continue;
      const std::string key = segment::dictionary_key(p.field);
      auto stored = db.get_sealed_meta(st, key);
      if (!stored) return tl::unexpected(stored.error());
      if (!*stored) continue;
      auto values = segment::decode_dictionary(**stored);
      if (!values) return make_error(ErrorCode::kCorruption, "meta " + key + ": malformed");
      auto it = std::lower_bound(values->begin(), values->end(), p.bucket);
      if (it == values->end() || *it != p.bucket) continue;
      values->erase(it);
      if (auto s = db.put_sealed_meta(st, key, segment::encode_dictionary(*values)); !s) return s;
    } else if (p.field == index::SegField::kBirthDate) {
      auto e = index.extent(p.field);
      if (!e) return tl::unexpected(e.error());
      if (!*e) continue;
      const std::int64_t b = index::decode_bucket(p.bucket);
      auto [lo, hi] = **e;
      if (b != lo && b != hi) continue;
      auto used = [&](std::int64_t bucket) -> Result<bool> {
        auto m = index.members(index::Posting{p.field, index::encode_bucket(bucket)});
        if (!m) return tl::unexpected(m.error());
        return !m->empty();
      };
      while (lo <= hi) {
        auto u = used(lo);
        if (!u) return tl::unexpected(u.error());
        if (*u) break;
        ++lo;
      }
      while (hi >= lo) {
        auto u = used(hi);
        if (!u) return tl::unexpected(u.error());
        if (*u) break;
        --hi;
      }
      const std::string key = segment::extent_key(p.field);
      if (lo > hi) {
        if (auto s = db.del(st, db.tables().meta, as_bytes(key)); !s) return s;
      } else if (auto s = db.put_sealed_meta(st, key, segment::encode_extent({lo, hi})); !s) {
        return s;
      }
    }
  }
  return segment::prune_attribute_dictionaries(db, st, before);  // D (#17)
}

}  // namespace

// Erasure (kKeepLedger) of a record's personal custom attributes: each is removed, except a
// required one with a default, which takes the default (not the subject's data).
void remove_personal_attributes(const Schema& schema, AttributeTable table, Attributes& attrs) {
  for (const AttributeDef& def : schema.attributes) {
    if (def.dropping || def.table != table || !def.personal) continue;
    if (def.required && def.default_value) attrs.insert_or_assign(def.name, *def.default_value);
    else attrs.erase(def.name);
  }
}

namespace {

// The data-destroying part of an erasure of `before` (stored, id == before.id): everything it
// changes except the pruning of encrypted-mode meta and the audit entry. The change feed does
// not record these changes (they would carry the customer's data into entries the erasure is
// about to purge): it records the erasure as one op, and a replica runs this same function
// (replay_erasure) at the primary's transaction time, on the same stored state, so it makes
// the same changes: records, indexes, segment bits, the journal entry.
Status destroy_customer(DatabaseImpl& db, TxnState& st, const Customer& before, EraseMode mode,
                        ErasureCounts* counts) {
  const CustomerId id = before.id;
  auto rels = db.relationships_of(st, id);
  if (!rels) return tl::unexpected(rels.error());
  if (mode == EraseMode::kFull) {
    auto txns = db.index_values(st, IndexId::kTxnByCustomer, index::IndexKeys::id_key(id));
    if (!txns) return tl::unexpected(txns.error());
    auto done = db.delete_customer(st, id, DeleteMode::kCascade);
    if (!done) return tl::unexpected(done.error());
    if (counts) {
      counts->transactions += txns->size();
      counts->relationships += rels->size();
    }
    if (auto s = delete_prefixed(db, st, db.tables().rule_moves, id, "rule moves"); !s) return s;
  } else {
    for (const auto& r : *rels) {
      auto done = db.remove_relationship(st, r.id);
      if (!done) return tl::unexpected(done.error());
    }
    if (counts) counts->relationships += rels->size();
    auto txns = db.transactions_of(st, id, std::nullopt, std::nullopt);
    if (!txns) return tl::unexpected(txns.error());
    auto schema = db.schema_of(st);
    if (!schema) return tl::unexpected(schema.error());
    for (const auto& t : *txns) {
      Transaction x = t;
      x.description.clear();
      remove_personal_attributes(**schema, AttributeTable::kTransactions, x.attributes);
      if (x.description == t.description && x.attributes == t.attributes) continue;
      auto done = db.amend_transaction(st, t.id, [&](Transaction& y) {
        y.description.clear();
        y.attributes = x.attributes;
      });
      // A required personal attribute without a default cannot be removed by an amendment
      // (it would be "required"): the record is rewritten as is, its index entries and the
      // customer's aggregates being unchanged (neither the memo nor attributes are in them).
      if (!done && done.error().code() == ErrorCode::kInvalidArgument) {
        if (auto s = db.restore_transaction(st, x); !s) return s;
        continue;
      }
      if (!done) return tl::unexpected(done.error());
    }
    // Holdings stay (their balances are ledger) but lose their account reference, a personal
    // value, and with it its blind-index entry (idx.account_ref).
    auto holdings = db.holdings_of(st, id);
    if (!holdings) return tl::unexpected(holdings.error());
    for (const Holding& h : *holdings) {
      if (h.account_ref.empty()) continue;
      auto done = db.update_holding(st, h.id, [](Holding& y) { y.account_ref.clear(); });
      if (!done) return tl::unexpected(done.error());
    }
    // Reloaded: amending transactions moved nothing of the customer's own fields, but the
    // stored record is the one to diff against.
    auto now = db.load_customer(st, id);
    if (!now) return tl::unexpected(now.error());
    if (!*now) return make_error(ErrorCode::kCorruption, "customer " + std::to_string(id) + " vanished");
    Customer after = **now;
    const Customer stored = after;
    // The personal fields (docs/security.md, "Personal fields"); tags, consents, tier, stage,
    // risk, income band, aggregates and scores stay.
    after.name.clear();
    after.email.reset();
    after.phone.reset();
    after.external_ref.clear();
    after.birth_date.reset();
    after.gender = Gender::kUnknown;
    after.address = Address{};
    // Personal custom attributes too (a required one with a default reads as its default).
    remove_personal_attributes(**schema, AttributeTable::kCustomers, after.attributes);
    after.anonymized = true;
    after.updated_at = stamp_time(st);
    if (auto s = db.write_customer(st, &stored, &after); !s) return s;
  }
  if (auto s = delete_prefixed(db, st, db.tables().consent_history, id, "consent history"); !s)
    return s;
  // The segment bits the erasure clears are written here, while the feed is suspended: they
  // would name the customer's values (plaintext posting keys) in the erasure's own entry.
  if (auto s = db.flush_postings(st); !s) return s;
  return append_journal(db, st, id, mode);
}

// A keep-ledger erasure keeps the customer's ledger on the primary, but the feed loses the
// parts that built it (they hold the customer's data and are purged). A replica that had not
// applied all of them would keep another ledger, silently. So the primary records, just before
// the erasure op, a fingerprint of what the erasure starts from — the customer's transactions,
// holdings and relationships (ids, amounts, balances: no personal value; sealed meta in
// encrypted mode) — under this meta key, and deletes it after: a replica's replay compares it
// with its own copy and refuses ("re-seed") when they differ. The key never stays stored.
constexpr std::string_view kErasureCheckKey = "erasure.check";

Result<std::string> ledger_fingerprint(DatabaseImpl& db, TxnState& st, const Customer& c) {
  std::string s = coding::be64(c.id) + coding::be64(c.aggregates.txn_count);
  auto txns = db.transactions_of(st, c.id, std::nullopt, std::nullopt);
  if (!txns) return tl::unexpected(txns.error());
  auto holdings = db.holdings_of(st, c.id);
  if (!holdings) return tl::unexpected(holdings.error());
  auto rels = db.relationships_of(st, c.id);
  if (!rels) return tl::unexpected(rels.error());
  s += coding::be64(txns->size()) + coding::be64(holdings->size()) + coding::be64(rels->size());
  std::string body;
  for (const Transaction& t : *txns)
    body += coding::be64(t.id) + coding::be64(static_cast<std::uint64_t>(t.amount)) +
            coding::be64(static_cast<std::uint64_t>(t.ts.time_since_epoch().count())) +
            coding::be64(static_cast<std::uint64_t>(t.base_amount.value_or(0))) +
            coding::be64(t.holding_id.value_or(0)) + t.currency;
  for (const Holding& h : *holdings)
    body += coding::be64(h.id) + coding::be64(static_cast<std::uint64_t>(h.balance)) +
            coding::be64(static_cast<std::uint64_t>(h.base_balance.value_or(0))) +
            static_cast<char>(h.status);
  for (const Relationship& r : *rels) body += coding::be64(r.id) + coding::be64(r.from) + coding::be64(r.to);
  std::uint64_t hash = 14695981039346656037ull;  // FNV-1a 64: a check, not a secret
  for (unsigned char ch : body) hash = (hash ^ ch) * 1099511628211ull;
  return s + coding::be64(hash);
}

}  // namespace

Result<bool> erase_customer(DatabaseImpl& db, TxnState& st, CustomerId id, EraseMode mode,
                            ErasureCounts* counts) {
  if (mode != EraseMode::kFull && mode != EraseMode::kKeepLedger)
    return make_error(ErrorCode::kInvalidArgument, "mode: not an erase mode");
  if (!db.tables().erasures)
    return make_error(ErrorCode::kFailedPrecondition, "the file has no erasure journal (format " +
                                                          std::to_string(db.file_format()) + ")");
  auto c = db.load_customer(st, id);
  if (!c) return tl::unexpected(c.error());
  if (!*c) return false;
  const Customer before = **c;
  if (mode == EraseMode::kKeepLedger && before.anonymized) return false;  // done already

  if (st.feed) {
    // The segment bits of this transaction's earlier writes are flushed (and recorded) now:
    // the suspended part's flush below must write the erasure's bits alone.
    if (auto s = db.flush_postings(st); !s) return tl::unexpected(s.error());
    // The stamp the journal (and a keep-ledger record) carries is the entry's committed_at,
    // which the replica replays with: take it now, before the suspended part.
    (void)stamp_time(st);
    if (mode == EraseMode::kKeepLedger) {
      auto fp = ledger_fingerprint(db, st, before);
      if (!fp) return tl::unexpected(fp.error());
      if (auto s = db.put_sealed_meta(st, kErasureCheckKey, *fp); !s) return tl::unexpected(s.error());
    }
  }
  {
    FeedSuspend quiet(st);
    if (auto s = destroy_customer(db, st, before, mode, counts); !s) return tl::unexpected(s.error());
  }
  if (auto s = feed_erasure(db, st, id, mode); !s) return tl::unexpected(s.error());
  if (st.feed && mode == EraseMode::kKeepLedger)
    if (auto s = db.del(st, db.tables().meta, as_bytes(kErasureCheckKey)); !s)
      return tl::unexpected(s.error());
  // Recorded raw (sealed meta): a replica takes the pruned dictionaries and extents as they
  // are, even one that never held the customer (its earlier entries purged before it applied
  // them).
  if (auto s = prune_encrypted_meta(db, st, before); !s) return tl::unexpected(s.error());
  AuditEvent ev;
  ev.command = mode == EraseMode::kFull ? "erase" : "erase --keep-ledger";
  ev.subjects = {id};
  ev.count = 1;
  if (auto a = db.append_audit(st, ev); !a) return tl::unexpected(a.error());
  if (counts) ++counts->erased;
  return true;
}

Status replay_erasure(DatabaseImpl& d, TxnState& st, CustomerId id, EraseMode mode,
                      Timestamp stamp) {
  if (mode != EraseMode::kFull && mode != EraseMode::kKeepLedger)
    return make_error(ErrorCode::kCorruption, "feed: an erasure with an unknown mode");
  if (!d.tables().erasures)
    return make_error(ErrorCode::kFailedPrecondition, "the replica has no erasure journal");
  // The primary's transaction time for the journal entry and a keep-ledger record; the
  // replica's own apply transaction keeps its stamp otherwise.
  const std::optional<Timestamp> saved = std::exchange(st.stamp, stamp);
  struct Restore {
    TxnState& st;
    std::optional<Timestamp> saved;
    ~Restore() { st.stamp = saved; }
  } restore{st, saved};
  FeedSuspend quiet(st);  // a replica records nothing; and a primary would not record this
  if (st.has_queued_postings())
    if (auto s = d.flush_postings(st); !s) return s;
  auto c = d.load_customer(st, id);
  if (!c) return tl::unexpected(c.error());
  if (*c && !(mode == EraseMode::kKeepLedger && (*c)->anonymized)) {
    if (mode == EraseMode::kKeepLedger) {
      // The primary's fingerprint of the ledger it kept (applied raw just before this op).
      auto want = d.get_sealed_meta(st, kErasureCheckKey);
      if (!want) return tl::unexpected(want.error());
      if (*want) {
        auto have = ledger_fingerprint(d, st, **c);
        if (!have) return tl::unexpected(have.error());
        if (*have != **want)
          return make_error(ErrorCode::kFailedPrecondition,
                            "feed: the replica's ledger of customer " + std::to_string(id) +
                                " differs from the one the primary kept at its keep-ledger "
                                "erasure (changes purged before this replica applied them): "
                                "re-seed the replica from a backup");
      }
    }
    return destroy_customer(d, st, **c, mode, nullptr);
  }
  if (mode == EraseMode::kKeepLedger)
    // The primary anonymized a customer this replica does not hold as it was (its earlier
    // entries were purged by this erasure before the replica applied them): the replica
    // cannot keep the ledger it never received. custdb/feed.h: re-seed from a backup.
    return make_error(ErrorCode::kFailedPrecondition,
                      "feed: the replica lacks customer " + std::to_string(id) +
                          " (its changes were purged by a keep-ledger erasure before this "
                          "replica applied them): re-seed the replica from a backup");
  // kFull of a customer the replica never received: nothing of it is here but what other
  // customers' parts wrote about it (a relationship from another customer to it, recorded in
  // that customer's part) and what is keyed by its id; the journal entry makes the journals
  // equal.
  auto rels = d.relationships_of(st, id);
  if (!rels) return tl::unexpected(rels.error());
  for (const auto& r : *rels) {
    auto done = d.remove_relationship(st, r.id);
    if (!done) return tl::unexpected(done.error());
  }
  if (auto s = delete_prefixed(d, st, d.tables().rule_moves, id, "rule moves"); !s) return s;
  if (auto s = delete_prefixed(d, st, d.tables().consent_history, id, "consent history"); !s)
    return s;
  if (auto s = d.flush_postings(st); !s) return s;
  return append_journal(d, st, id, mode);
}

}  // namespace custdb::detail

namespace custdb {

using detail::TxnState;

Result<bool> WriteTxn::erase_customer(CustomerId id, EraseMode mode) {
  return detail::run_write<bool>(*this, [&](TxnState& st) -> Result<bool> {
    return detail::erase_customer(*db_, st, id, mode, nullptr);
  });
}

Result<std::vector<ErasureEntry>> ReadView::erasure_journal() const {
  if (!state_) return make_error(ErrorCode::kFailedPrecondition, "transaction finished");
  if (state_->poisoned) return tl::unexpected(*state_->failure);
  return detail::read_erasure_journal(*db_, *state_);
}

Result<ErasureReport> Database::erase_customers(std::span<const CustomerId> ids, EraseMode mode) {
  ErasureReport report;
  detail::DatabaseImpl& d = *impl_;
  constexpr std::size_t kBatch = 1000;
  for (std::size_t from = 0; from < ids.size(); from += kBatch) {
    const std::size_t to = std::min(ids.size(), from + kBatch);
    detail::ErasureCounts counts;
    auto s = d.write_retrying([&](TxnState& st) -> Status {
      counts = {};
      for (std::size_t i = from; i < to; ++i) {
        auto done = detail::erase_customer(d, st, ids[i], mode, &counts);
        if (!done) return tl::unexpected(done.error());
        if (!*done) ++counts.not_found;
      }
      return {};
    });
    if (!s) return tl::unexpected(s.error());
    report.erased += counts.erased;
    report.not_found += counts.not_found;
    report.transactions_removed += counts.transactions;
    report.relationships_removed += counts.relationships;
  }
  auto scrubbed = scrub();
  if (!scrubbed) return tl::unexpected(scrubbed.error());
  report.scrub = *scrubbed;
  return report;
}

Result<ErasureReport> Database::erase_customer(CustomerId id, EraseMode mode) {
  const CustomerId one[] = {id};
  return erase_customers(one, mode);
}

}  // namespace custdb
