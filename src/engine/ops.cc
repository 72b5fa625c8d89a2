// Write operations. Each validates and checks every precondition before its first write, so a
// failure leaves the transaction as it was; after the first write only a storage failure can
// stop it (and that poisons the transaction).
#include <algorithm>
#include <cassert>
#include <cmath>
#include <exception>
#include <span>
#include <unordered_map>
#include <unordered_set>

#include "engine/consent.h"
#include "engine/db_impl.h"
#include "engine/feed_record.h"
#include "engine/holding_math.h"
#include "engine/validate.h"
#include "util/message.h"

namespace custdb::detail {
namespace {

using index::IndexEntry;
using index::IndexId;
using storage::Bytes;

// Ids stay below 2^63 so `id + 1` (the next counter value) never wraps.
constexpr std::uint64_t kMaxId = (std::uint64_t{1} << 63) - 1;

using coding::as_bytes;


tl::unexpected<Error> precondition(std::string m) {
  return make_error(ErrorCode::kFailedPrecondition, std::move(m));
}

// The codes of a refused input (a batch skips that row), as against a failure of the store.
bool is_row_error(ErrorCode code) {
  return code == ErrorCode::kInvalidArgument || code == ErrorCode::kAlreadyExists ||
         code == ErrorCode::kFailedPrecondition;
}

// Aggregates after adding (sign +1) a transaction's base amount; overflow is an input error.
Result<Aggregates> add_to(Aggregates a, const Transaction& t) {
  std::int64_t total;
  if (__builtin_add_overflow(a.total_amount, *t.base_amount, &total))
    return make_error(ErrorCode::kInvalidArgument,
                      "amount: the customer's total_amount would overflow");
  a.total_amount = total;
  ++a.txn_count;
  if (!a.first_txn_at || t.ts < *a.first_txn_at) a.first_txn_at = t.ts;
  if (!a.last_txn_at || t.ts > *a.last_txn_at) a.last_txn_at = t.ts;
  return a;
}

// The ids a batch has accepted so far, for "taken earlier in the batch". An import's ids
// mostly ascend (automatic ones always do), so they are kept as an ascending vector (an id
// above the last costs an append, a lookup a comparison); the first id out of order moves
// them to a hash set.
class BatchIds {
 public:
  bool contains(std::uint64_t id) const {
    if (!set_.empty()) return set_.contains(id);
    return !ascending_.empty() && id <= ascending_.back() &&
           std::binary_search(ascending_.begin(), ascending_.end(), id);
  }
  void add(std::uint64_t id) {
    if (!set_.empty()) {
      set_.insert(id);
    } else if (ascending_.empty() || id > ascending_.back()) {
      ascending_.push_back(id);
    } else {
      set_.insert(ascending_.begin(), ascending_.end());
      set_.insert(id);
      ascending_.clear();
    }
  }

 private:
  std::vector<std::uint64_t> ascending_;
  std::unordered_set<std::uint64_t> set_;
};

// The ids of one batch of inserts into a table with an id counter (next_id.<table>): picks
// each row's id as the single-row insert would, remembers the accepted ones, and says what
// the counter must become. One per batch and table; the counter is read once, on first need.
class BatchIdAllocator {
 public:
  // The id of a row given `given` (0: the counter's next; kFailedPrecondition once the counter
  // is exhausted: 2^63 - 1 was given before); kAlreadyExists when stored or taken earlier in
  // the batch. `what` names the table in messages ("customer", "transaction").
  template <typename ReadCounter, typename IsStored>
  Result<std::uint64_t> pick(std::uint64_t given, ReadCounter read_counter, IsStored is_stored,
                             const char* what) {
    if (!counter_) {
      auto n = read_counter();
      if (!n) return tl::unexpected(n.error());
      counter_ = next_ = *n;
    }
    std::uint64_t id = given;
    if (id == 0) {
      id = next_;
      if (id > kMaxId)
        return precondition(std::string("id: no ") + what + " ids left to assign; give one explicitly");
    }
    bool exists = taken_.contains(id);
    if (!exists) {
      Result<bool> stored = is_stored(id);
      if (!stored) return tl::unexpected(stored.error());
      exists = *stored;
    }
    if (exists)
      return make_error(ErrorCode::kAlreadyExists,
                        std::string("id: ") + what + " " + std::to_string(id) + " exists");
    return id;
  }
  // Row `id` passed every check.
  void accept(std::uint64_t id) {
    taken_.add(id);
    if (id >= next_) next_ = id + 1;  // bump_counter's rule
  }
  // The counter value to store after the batch; nullopt when it need not move.
  std::optional<std::uint64_t> counter_after() const {
    if (counter_ && next_ > *counter_) return next_;
    return std::nullopt;
  }

 private:
  BatchIds taken_;                        // ids accepted in this batch
  std::optional<std::uint64_t> counter_;  // the stored counter, read once
  std::uint64_t next_ = 0;                // the counter after the rows so far
};

}  // namespace

// ---- customers -------------------------------------------------------------------------------

Result<CustomerId> DatabaseImpl::insert_customer(TxnState& st, Customer c) {
  // A batch of one: a single insert and a bulk import share every check and message.
  std::vector<Result<CustomerId>> result;
  if (auto s = insert_customers(st, std::span(&c, 1), result); !s) return tl::unexpected(s.error());
  assert(result.size() == 1);
  return std::move(result[0]);
}

Status DatabaseImpl::insert_customers(TxnState& st, std::span<Customer> rows,
                                      std::vector<Result<CustomerId>>& results,
                                      bool keep_updated_at) {
  results.clear();
  results.reserve(rows.size());
  // Pass 1, in row order, writes nothing: each row is checked against the stored data plus
  // the rows accepted before it, as insert_customer one row at a time would check it (same
  // order of checks, same messages).
  std::unordered_map<std::string, CustomerId> refs;          // their external refs' index keys
  BatchIdAllocator ids;  // next_id.customer: ids taken by the batch
  std::vector<std::size_t> accepted;                         // row indices
  const storage::Table ref_index = tables().index[static_cast<std::size_t>(IndexId::kExternalRef)];
  auto schema = schema_of(st);
  if (!schema) return tl::unexpected(schema.error());
  {
    OrderedReader customers(st, tables().customers);
    for (Customer& c : rows) {
      auto row = [&]() -> Result<CustomerId> {
        if (auto s = validate_customer(c, phone_region()); !s) return tl::unexpected(s.error());
        if (auto s = validate_attributes(c.attributes, **schema, AttributeTable::kCustomers, nullptr);
            !s)
          return tl::unexpected(s.error());
        if (c.id > kMaxId) return make_error(ErrorCode::kInvalidArgument, "id: above 2^63 - 1");
        // The engine's fields start empty; given ones are refused, not silently dropped.
        if (c.aggregates != Aggregates{})
          return make_error(ErrorCode::kInvalidArgument,
                            "aggregates: kept by the engine from the transactions; leave them empty");
        if (c.scores)
          return make_error(ErrorCode::kInvalidArgument,
                            "scores: written by scoring runs (score_customers); leave them empty");
        if (c.holdings != HoldingAggregates{})
          return make_error(ErrorCode::kInvalidArgument,
                            "holdings: kept by the engine from the holdings; leave them empty");
        auto picked = ids.pick(
            c.id, [&] { return next_id(st, kNextCustomer); },
            [&](std::uint64_t id) -> Result<bool> {
              auto stored = customers.get(coding::IdKey(id).span());
              if (!stored) return tl::unexpected(stored.error());
              return stored->has_value();
            },
            "customer");
        if (!picked) return tl::unexpected(picked.error());
        const std::uint64_t id = *picked;
        if (!c.external_ref.empty()) {
          // Keyed as the unique index is, so the batch agrees with it whatever the key form.
          auto k = keys().equality_key(IndexId::kExternalRef, c.external_ref);
          std::optional<CustomerId> owner;
          if (auto it = refs.find(k); it != refs.end()) {
            owner = it->second;
          } else {
            auto stored = get(st, ref_index, as_bytes(k));
            if (!stored) return tl::unexpected(stored.error());
            if (*stored) owner = coding::get_u64((*stored)->data());
          }
          if (owner)
            return make_error(ErrorCode::kAlreadyExists,
                              "external_ref: '" + c.external_ref + "' belongs to customer " +
                                  std::to_string(*owner));
          refs.emplace(std::move(k), id);
        }
        c.id = id;
        ids.accept(id);
        return id;
      }();
      if (!row && !is_row_error(row.error().code())) return tl::unexpected(row.error());
      if (row) accepted.push_back(results.size());
      results.push_back(std::move(row));
    }
  }
  if (accepted.empty()) return {};

  // Pass 2 writes (only a storage failure stops it, and poisons st): write_customer(null, c)
  // of each, the records in id order through one cursor, the index entries sorted.
  const Timestamp now = stamp_time(st);
  std::sort(accepted.begin(), accepted.end(),
            [&](std::size_t a, std::size_t b) { return rows[a].id < rows[b].id; });
  std::vector<IndexEntry> entries;
  std::vector<ConsentChange> consent_changes;  // consent history: a new customer's consents
  {
    OrderedWriter records(st, tables().customers);
    for (std::size_t i : accepted) {
      Customer& c = rows[i];
      if (c.created_at == Timestamp{}) c.created_at = now;
      if (!keep_updated_at || c.updated_at == Timestamp{}) c.updated_at = now;
      c.aggregates = {};
      c.holdings = {};
      c.scores.reset();  // engine-maintained (set_scores)
      if (auto s = store_customer(st, c, &records); !s) return s;
      keys().customer_entries(c, entries);
      queue_postings(st, nullptr, &c);
      diff_consents(nullptr, c, consent_changes);
    }
  }
  if (auto s = put_entries_sorted(st, std::move(entries)); !s) return s;
  if (auto s = write_consent_changes(*this, st, consent_changes); !s) return s;
  if (auto next = ids.counter_after()) {
    coding::IdKey v(*next);
    if (auto s = put(st, tables().meta, as_bytes(kNextCustomer), v.span()); !s) return s;
  }
  return {};
}

Result<bool> DatabaseImpl::update_customer(TxnState& st, CustomerId id,
                                           const std::function<void(Customer&)>& mutate) {
  auto old = load_customer(st, id);
  if (!old) return tl::unexpected(old.error());
  if (!*old) return false;
  Customer c = **old;
  // Nothing is written before the callback returns, so a throw leaves the transaction as it was.
  if (auto s = run_callback("update_customer", [&] { mutate(c); }); !s) return tl::unexpected(s.error());
  // The engine's fields: a change is refused, not silently undone (the caller would believe
  // it took effect).
  if (c.id != id)
    return make_error(ErrorCode::kInvalidArgument,
                      "id: cannot be changed (customer " + std::to_string(id) + ", callback set " +
                          std::to_string(c.id) + ")");
  if (c.aggregates != (*old)->aggregates)
    return make_error(ErrorCode::kInvalidArgument,
                      "aggregates: kept by the engine from the transactions; cannot be changed");
  if (c.scores != (*old)->scores)
    return make_error(ErrorCode::kInvalidArgument,
                      "scores: written by scoring runs (score_customers); cannot be changed");
  if (c.holdings != (*old)->holdings)
    return make_error(ErrorCode::kInvalidArgument,
                      "holdings: kept by the engine from the holdings; cannot be changed");
  if (c.updated_at != (*old)->updated_at)
    return make_error(ErrorCode::kInvalidArgument,
                      "updated_at: set by the engine on every update; cannot be changed");
  if (c.created_at == Timestamp{}) return make_error(ErrorCode::kInvalidArgument, "created_at: required");
  if (auto s = validate_customer(c, phone_region(), &**old); !s) return tl::unexpected(s.error());
  {
    auto schema = schema_of(st);
    if (!schema) return tl::unexpected(schema.error());
    if (auto s = validate_attributes(c.attributes, **schema, AttributeTable::kCustomers,
                                     &(*old)->attributes);
        !s)
      return tl::unexpected(s.error());
  }
  if (!c.external_ref.empty() && c.external_ref != (*old)->external_ref) {
    auto k = keys().equality_key(IndexId::kExternalRef, c.external_ref);
    auto owner = get(st, tables().index[static_cast<std::size_t>(IndexId::kExternalRef)], as_bytes(k));
    if (!owner) return tl::unexpected(owner.error());
    if (*owner)
      return make_error(ErrorCode::kAlreadyExists,
                        "external_ref: '" + c.external_ref + "' belongs to customer " +
                            std::to_string(coding::get_u64((*owner)->data())));
  }
  // Profiling refused: the customer's scores go with it (custdb/analytics.h).
  if (c.consent_profiling.state == ConsentState::kDenied) c.scores.reset();
  std::vector<ConsentChange> consent_changes;
  diff_consents(&**old, c, consent_changes);
  c.updated_at = stamp_time(st);
  std::optional<FeedScope> scope;  // the caller's when it is this customer's (set_consent)
  if (st.feed && st.feed->scope_customer != id) scope.emplace(st, "customers", id);
  if (auto s = write_customer(st, &**old, &c); !s) return tl::unexpected(s.error());
  if (auto s = write_consent_changes(*this, st, consent_changes); !s) return tl::unexpected(s.error());
  return true;
}

Result<bool> DatabaseImpl::set_scores(TxnState& st, CustomerId id,
                                      const std::optional<Scores>& scores) {
  auto old = load_customer(st, id);
  if (!old) return tl::unexpected(old.error());
  if (!*old) return false;
  if (scores) {
    const Scores& s = *scores;
    auto score_ok = [](std::uint8_t v) { return v >= 1 && v <= 5; };
    if (!std::isfinite(s.p_alive) || s.p_alive < 0 || s.p_alive > 1 ||
        !std::isfinite(s.expected_purchases) || s.expected_purchases < 0 ||
        s.expected_purchases > 1e12 || !score_ok(s.r_score) || !score_ok(s.f_score) ||
        !score_ok(s.m_score))
      return make_error(ErrorCode::kInvalidArgument,
                        "scores of customer " + std::to_string(id) + ": out of range");
  }
  Customer c = **old;
  c.scores = scores;
  // A customer who refused profiling is never scored: scores are cleared instead, and the
  // call says it wrote none (false).
  const bool refused = c.consent_profiling.state == ConsentState::kDenied && scores.has_value();
  if (refused) c.scores.reset();
  if (c.scores) {  // held as stored, so the caller's copy compares equal to a re-read
    c.scores->p_alive = static_cast<double>(to_millionths(c.scores->p_alive)) / 1e6;
    c.scores->expected_purchases =
        static_cast<double>(to_millionths(c.scores->expected_purchases)) / 1e6;
  }
  if (c == **old) return !refused;
  if (auto s = write_customer(st, &**old, &c); !s) return tl::unexpected(s.error());
  return !refused;
}

Result<bool> DatabaseImpl::delete_customer(TxnState& st, CustomerId id, DeleteMode mode) {
  auto c = load_customer(st, id);
  if (!c) return tl::unexpected(c.error());
  if (!*c) return false;
  auto rels = index_values(st, IndexId::kRelByCustomer, index::IndexKeys::id_key(id));
  if (!rels) return tl::unexpected(rels.error());
  auto txns = index_values(st, IndexId::kTxnByCustomer, index::IndexKeys::id_key(id));
  if (!txns) return tl::unexpected(txns.error());
  auto holdings = holdings_of(st, id);  // format 6; checked against the customer's count
  if (!holdings) return tl::unexpected(holdings.error());
  if (mode == DeleteMode::kRestrict && !holdings->empty())
    return precondition("customer " + std::to_string(id) + " has " +
                        std::to_string(txns->size()) + " transactions, " +
                        std::to_string(rels->size()) + " relationships and " +
                        std::to_string(holdings->size()) +
                        " holdings; delete with cascade to remove them too");
  if (mode == DeleteMode::kRestrict && (!rels->empty() || !txns->empty()))
    return precondition("customer " + std::to_string(id) + " has " +
                        std::to_string(txns->size()) + " transactions and " +
                        std::to_string(rels->size()) +
                        " relationships; delete with cascade to remove them too");
  // Load everything first: a record that fails to decode stops the delete before any write.
  std::vector<Relationship> rel_records;
  for (const auto& v : *rels) {
    auto r = load_relationship(st, index::IndexKeys::owner_id(v));
    if (!r) return tl::unexpected(r.error());
    if (*r) rel_records.push_back(std::move(**r));
  }
  std::vector<Transaction> txn_records;
  for (const auto& v : *txns) {
    auto t = load_transaction(st, index::IndexKeys::owner_id(v));
    if (!t) return tl::unexpected(t.error());
    if (*t) txn_records.push_back(std::move(**t));
  }
  // Everything below is the customer's: one part (custdb/feed.h).
  FeedScope scope(st, "customers", id);
  std::vector<IndexEntry> entries;
  for (const auto& r : rel_records) {
    entries.clear();
    keys().relationship_entries(r, entries);
    for (const auto& e : entries)
      if (auto s = del_entry(st, e); !s) return tl::unexpected(s.error());
    coding::IdKey k(r.id);
    if (auto s = del(st, tables().relationships, k.span()); !s) return tl::unexpected(s.error());
  }
  for (const auto& t : txn_records) {
    entries.clear();
    keys().transaction_entries(t, entries);
    for (const auto& e : entries)
      if (auto s = del_entry(st, e); !s) return tl::unexpected(s.error());
    coding::IdKey k(t.id);
    if (auto s = del(st, tables().transactions, k.span()); !s) return tl::unexpected(s.error());
  }
  // Its holdings go with it (their postings were its transactions, removed above).
  for (const auto& h : *holdings) {
    entries.clear();
    keys().holding_entries(h, entries);
    for (const auto& e : entries)
      if (auto s = del_entry(st, e); !s) return tl::unexpected(s.error());
    if (auto s = del(st, tables().holdings, coding::IdKey(h.id).span()); !s)
      return tl::unexpected(s.error());
  }
  if (auto s = write_customer(st, &**c, nullptr); !s) return tl::unexpected(s.error());
  // What the engine kept about the customer goes with it.
  if (auto s = delete_consent_history(*this, st, id); !s) return tl::unexpected(s.error());
  if (auto s = delete_rule_moves(*this, st, id); !s) return tl::unexpected(s.error());
  return true;
}

// ---- relationships ---------------------------------------------------------------------------

Result<RelationshipId> DatabaseImpl::add_relationship(TxnState& st, Relationship r) {
  const Relationship as_typed = r;  // before validation turns an inverse name around
  if (auto s = validate_relationship(r); !s) return tl::unexpected(s.error());
  for (CustomerId end : {r.from, r.to}) {
    auto v = get(st, tables().customers, coding::IdKey(end).span());
    if (!v) return tl::unexpected(v.error());
    if (!*v)
      return precondition((end == r.from ? "from" : "to") + std::string(": customer ") +
                          std::to_string(end) + " does not exist");
  }
  auto existing = relationships_of(st, r.from);
  if (!existing) return tl::unexpected(existing.error());
  for (const auto& stored : *existing) {
    // Both in canonical form (a stored link read through canonical() in case a file holds one
    // typed by its inverse name): a link typed by its inverse name is `same` here.
    const Relationship e = canonical(stored);
    if (e.type != r.type || e.custom_type != r.custom_type) continue;
    bool same = e.from == r.from && e.to == r.to;
    bool mirror = is_symmetric(r.type) && e.from == r.to && e.to == r.from;
    if (same || mirror) {
      auto link = [](const Relationship& x) {
        return (x.type == RelationType::kCustom ? message::quoted(x.custom_type)
                                                : std::string(to_string(x.type))) +
               " link " + std::to_string(x.from) + " -> " + std::to_string(x.to);
      };
      std::string what = "relationship: " + link(as_typed);
      if (as_typed.type != r.type) what += " is " + link(r) + ", which";
      return make_error(ErrorCode::kAlreadyExists,
                        what + " exists as relationship " + std::to_string(e.id));
    }
  }
  auto next = next_id(st, kNextRelationship);
  if (!next) return tl::unexpected(next.error());
  r.id = *next;
  coding::IdKey k(r.id);
  auto taken = get(st, tables().relationships, k.span());
  if (!taken) return tl::unexpected(taken.error());
  if (*taken)
    return make_error(ErrorCode::kCorruption,
                      std::string(kNextRelationship) + " is behind existing ids");
  FeedScope scope(st, "relationships", r.from);
  codec().encode(k.span(), r, st.buf);
  if (auto s = put(st, tables().relationships, k.span(), st.buf); !s) return tl::unexpected(s.error());
  std::vector<IndexEntry> entries;
  keys().relationship_entries(r, entries);
  for (const auto& e : entries)
    if (auto s = put_entry(st, e); !s) return tl::unexpected(s.error());
  if (auto s = bump_counter(st, kNextRelationship, r.id); !s) return tl::unexpected(s.error());
  return r.id;
}

Result<bool> DatabaseImpl::remove_relationship(TxnState& st, RelationshipId id) {
  auto r = load_relationship(st, id);
  if (!r) return tl::unexpected(r.error());
  if (!*r) return false;
  FeedScope scope(st, "relationships", (*r)->from);
  std::vector<IndexEntry> entries;
  keys().relationship_entries(**r, entries);
  for (const auto& e : entries)
    if (auto s = del_entry(st, e); !s) return tl::unexpected(s.error());
  if (auto s = del(st, tables().relationships, coding::IdKey(id).span()); !s)
    return tl::unexpected(s.error());
  return true;
}

// ---- transactions ----------------------------------------------------------------------------

Result<TransactionId> DatabaseImpl::add_transaction(TxnState& st, Transaction t) {
  // A batch of one: a single landing and a bulk import share every check and message.
  std::vector<Result<TransactionId>> result;
  if (auto s = add_transactions(st, std::span(&t, 1), result); !s) return tl::unexpected(s.error());
  assert(result.size() == 1);
  return std::move(result[0]);
}

Status DatabaseImpl::add_transactions(TxnState& st, std::span<Transaction> rows,
                                      std::vector<Result<TransactionId>>& results,
                                      bool move_balances) {
  results.clear();
  results.reserve(rows.size());
  // Pass 1, in row order, writes nothing: each row is checked against the stored data plus
  // the rows accepted before it in this batch, exactly as add_transaction one row at a time
  // would check it (same order of checks, same messages). A customer is read and decoded
  // once; its aggregates move row by row in memory.
  struct Touched {
    Customer before;     // as stored
    Aggregates after;    // with the batch's accepted rows so far
    HoldingAggregates holdings_after;  // format 6: moved by the batch's postings so far
    bool changed = false;
  };
  // Format 6: the holdings the batch posts to, as stored and as moved by its accepted rows.
  struct TouchedHolding {
    Holding before, after;
  };
  std::vector<TouchedHolding> touched_holdings;
  std::unordered_map<HoldingId, std::ptrdiff_t> holding_slot;  // -1: no such holding
  std::vector<Touched> touched;
  std::unordered_map<CustomerId, std::ptrdiff_t> slot_of;  // -1: no such customer
  constexpr std::ptrdiff_t kUnknown = -2;
  CustomerId last_customer = 0;                             // slot_of's last answer
  std::ptrdiff_t last_slot = kUnknown;
  BatchIdAllocator ids;  // next_id.transaction: ids taken by the batch
  std::vector<std::size_t> accepted;                        // row indices
  auto schema = schema_of(st);
  if (!schema) return tl::unexpected(schema.error());
  {
    // Point reads in (usually) ascending key order: a key near the last one is found within
    // the cursor's leaf page (DatabaseImpl::OrderedReader); ids past the table's end, the
    // common case of an import, cost no descent at all.
    OrderedReader customers(st, tables().customers), transactions(st, tables().transactions);
    for (Transaction& t : rows) {
      auto row = [&]() -> Result<TransactionId> {
        if (auto s = validate_transaction(t, base_currency()); !s) return tl::unexpected(s.error());
        if (auto s = validate_attributes(t.attributes, **schema, AttributeTable::kTransactions,
                                         nullptr);
            !s)
          return tl::unexpected(s.error());
        if (t.id > kMaxId) return make_error(ErrorCode::kInvalidArgument, "id: above 2^63 - 1");
        // A file's rows come mostly in runs of one customer: the last one is at hand.
        if (t.customer_id != last_customer || last_slot == kUnknown) {
          auto [it, fresh] = slot_of.try_emplace(t.customer_id, -1);
          if (fresh) {
            auto c = load_customer(customers, t.customer_id);
            if (!c) {
              slot_of.erase(it);
              return tl::unexpected(c.error());
            }
            if (*c) {
              it->second = static_cast<std::ptrdiff_t>(touched.size());
              const Aggregates a = (*c)->aggregates;
              HoldingAggregates ha = (*c)->holdings;
              touched.push_back(Touched{std::move(**c), a, std::move(ha)});
            }
          }
          last_customer = t.customer_id;
          last_slot = it->second;
        }
        if (last_slot < 0)
          return precondition("customer_id: customer " + std::to_string(t.customer_id) +
                              " does not exist");
        auto picked = ids.pick(
            t.id, [&] { return next_id(st, kNextTransaction); },
            [&](std::uint64_t id) -> Result<bool> {
              auto stored = transactions.get(coding::IdKey(id).span());
              if (!stored) return tl::unexpected(stored.error());
              return stored->has_value();
            },
            "transaction");
        if (!picked) return tl::unexpected(picked.error());
        const std::uint64_t id = *picked;
        Touched& c = touched[static_cast<std::size_t>(last_slot)];
        auto agg = add_to(c.after, t);
        if (!agg) return tl::unexpected(agg.error());
        // Format 6: a posting moves its holding (the last checks).
        TouchedHolding* posted_to = nullptr;
        Holding moved;
        std::optional<HoldingAggregates> moved_aggregates;
        if (t.holding_id) {
          moved_aggregates = c.holdings_after;
          auto [hit, hfresh] = holding_slot.try_emplace(*t.holding_id, -1);
          if (hfresh) {
            auto h = load_holding(st, *t.holding_id);
            if (!h) {
              holding_slot.erase(hit);
              return tl::unexpected(h.error());
            }
            if (*h) {
              hit->second = static_cast<std::ptrdiff_t>(touched_holdings.size());
              Holding copy = **h;
              touched_holdings.push_back(TouchedHolding{std::move(**h), std::move(copy)});
            }
          }
          if (hit->second < 0)
            return precondition("holding_id: holding " + std::to_string(*t.holding_id) +
                                " does not exist");
          posted_to = &touched_holdings[static_cast<std::size_t>(hit->second)];
          if (auto s = check_posting(posted_to->after, t, true); !s) return tl::unexpected(s.error());
          moved = posted_to->after;
          if (auto s = apply_posting(moved, *moved_aggregates, t, +1, move_balances); !s)
            return tl::unexpected(s.error());
        }
        c.after = *agg;
        c.changed = true;
        if (posted_to) {
          posted_to->after = std::move(moved);
          c.holdings_after = std::move(*moved_aggregates);
        }
        t.id = id;
        ids.accept(id);
        return id;
      }();
      if (!row && !is_row_error(row.error().code())) return tl::unexpected(row.error());
      if (row) accepted.push_back(results.size());
      results.push_back(std::move(row));
    }
  }
  if (accepted.empty()) return {};

  // Pass 2 writes. Nothing below can refuse a row: only a storage failure stops it (and
  // poisons st). Records in id order (appends when ids ascend past the table's end), index
  // entries in key order, then each customer once: one record write, one postings diff.
  std::sort(accepted.begin(), accepted.end(),
            [&](std::size_t a, std::size_t b) { return rows[a].id < rows[b].id; });
  std::vector<IndexEntry> entries;
  entries.reserve(accepted.size());
  {
    OrderedWriter records(st, tables().transactions);
    for (std::size_t i : accepted) {
      const Transaction& t = rows[i];
      FeedScope scope(st, "transactions", t.customer_id);
      coding::IdKey k(t.id);
      codec().encode(k.span(), t, **schema, st.buf);
      if (auto s = put(st, records, k.span(), st.buf); !s) return s;
      keys().transaction_entries(t, entries);
    }
  }
  if (auto s = put_entries_sorted(st, std::move(entries)); !s) return s;
  if (!touched_holdings.empty()) {
    std::sort(touched_holdings.begin(), touched_holdings.end(),
              [](const TouchedHolding& a, const TouchedHolding& b) { return a.before.id < b.before.id; });
    OrderedWriter holdings(st, tables().holdings);
    for (const TouchedHolding& h : touched_holdings) {
      if (h.after == h.before) continue;
      FeedScope scope(st, "holdings", h.after.customer_id);
      if (auto s = store_holding(st, h.after, &holdings); !s) return s;
    }
  }
  std::sort(touched.begin(), touched.end(),
            [](const Touched& a, const Touched& b) { return a.before.id < b.before.id; });
  OrderedWriter customers(st, tables().customers);
  for (const Touched& c : touched) {
    if (!c.changed) continue;
    Customer updated = c.before;
    updated.aggregates = c.after;
    updated.holdings = c.holdings_after;
    if (auto s = write_customer(st, &c.before, &updated, &customers); !s) return s;
  }
  if (auto next = ids.counter_after()) {
    coding::IdKey v(*next);
    if (auto s = put(st, tables().meta, coding::as_bytes(kNextTransaction), v.span()); !s) return s;
  }
  return {};
}

namespace {
// The aggregates of `c` without transaction `t` (whose first/last may need a rescan).
Result<Aggregates> without(const DatabaseImpl& db, TxnState& st, const Customer& c,
                           const Transaction& t) {
  Aggregates a = c.aggregates;
  std::int64_t total;
  if (__builtin_sub_overflow(a.total_amount, *t.base_amount, &total) || a.txn_count == 0)
    return make_error(ErrorCode::kCorruption, "customer " + std::to_string(c.id) +
                                                  ": aggregates disagree with its transactions");
  a.total_amount = total;
  --a.txn_count;
  if (a.txn_count == 0) {
    a.first_txn_at.reset();
    a.last_txn_at.reset();
  } else if (t.ts == a.first_txn_at || t.ts == a.last_txn_at) {
    auto fl = db.first_last_txn(st, c.id, t.id);
    if (!fl) return tl::unexpected(fl.error());
    a.first_txn_at = fl->first;
    a.last_txn_at = fl->second;
  }
  return a;
}
}  // namespace

Result<bool> DatabaseImpl::amend_transaction(TxnState& st, TransactionId id,
                                             const std::function<void(Transaction&)>& mutate) {
  auto old = load_transaction(st, id);
  if (!old) return tl::unexpected(old.error());
  if (!*old) return false;
  Transaction t = **old;
  if (auto s = run_callback("amend_transaction", [&] { mutate(t); }); !s) return tl::unexpected(s.error());
  if (t.id != id)
    return make_error(ErrorCode::kInvalidArgument,
                      "id: cannot be changed (transaction " + std::to_string(id) +
                          ", callback set " + std::to_string(t.id) + ")");
  // In the base currency base_amount is derived (equal to amount): one the callback left as it
  // was follows the amount; one it changed must equal the amount (validate_transaction). In
  // another currency base_amount is the caller's, as given. (This used to drop a base_amount
  // equal to the stored one when the currency changed, so a given amount was reported as
  // "base_amount required".)
  if (canonical_currency(t.currency) == base_currency() && t.base_amount == (*old)->base_amount)
    t.base_amount.reset();
  if (auto s = validate_transaction(t, base_currency()); !s) return tl::unexpected(s.error());
  auto schema = schema_of(st);
  if (!schema) return tl::unexpected(schema.error());
  if (auto s = validate_attributes(t.attributes, **schema, AttributeTable::kTransactions,
                                   &(*old)->attributes);
      !s)
    return tl::unexpected(s.error());

  auto old_customer = load_customer(st, (*old)->customer_id);
  if (!old_customer) return tl::unexpected(old_customer.error());
  if (!*old_customer)
    return make_error(ErrorCode::kCorruption, "transaction " + std::to_string(id) +
                                                  " belongs to a missing customer");
  auto reduced = without(*this, st, **old_customer, **old);
  if (!reduced) return tl::unexpected(reduced.error());

  Customer old_updated = **old_customer;
  old_updated.aggregates = *reduced;
  std::optional<Customer> new_customer;  // set when the transaction moves to another customer
  if (t.customer_id != (*old)->customer_id) {
    auto nc = load_customer(st, t.customer_id);
    if (!nc) return tl::unexpected(nc.error());
    if (!*nc)
      return precondition("customer_id: customer " + std::to_string(t.customer_id) +
                          " does not exist");
    new_customer = std::move(**nc);
    auto agg = add_to(new_customer->aggregates, t);
    if (!agg) return tl::unexpected(agg.error());
    new_customer->aggregates = *agg;
  } else {
    auto agg = add_to(old_updated.aggregates, t);
    if (!agg) return tl::unexpected(agg.error());
    old_updated.aggregates = *agg;
  }
  // Format 6: the posting moves back from its old holding and onto its new one (the same one
  // when holding_id stayed), each holding's customer's aggregates with it.
  std::optional<Holding> old_holding, new_holding;  // as they will be stored
  std::optional<Holding> old_holding_stored, new_holding_stored;
  if ((*old)->holding_id) {
    auto h = load_holding(st, *(*old)->holding_id);
    if (!h) return tl::unexpected(h.error());
    if (!*h)
      return make_error(ErrorCode::kCorruption, "transaction " + std::to_string(id) +
                                                    " posts to missing holding " +
                                                    std::to_string(*(*old)->holding_id));
    old_holding_stored = **h;
    old_holding = std::move(**h);
    // The old holding belongs to the old customer.
    if (auto s = apply_posting(*old_holding, old_updated.holdings, **old, -1, true); !s)
      return tl::unexpected(s.error());
  }
  if (t.holding_id) {
    const bool same = (*old)->holding_id == t.holding_id;
    Holding* target = nullptr;
    if (same) {
      target = &*old_holding;
    } else {
      auto h = load_holding(st, *t.holding_id);
      if (!h) return tl::unexpected(h.error());
      if (!*h)
        return precondition("holding_id: holding " + std::to_string(*t.holding_id) +
                            " does not exist");
      new_holding_stored = **h;
      new_holding = std::move(**h);
      target = &*new_holding;
    }
    if (auto s = check_posting(*target, t, !same); !s) return tl::unexpected(s.error());
    HoldingAggregates& agg = new_customer ? new_customer->holdings : old_updated.holdings;
    if (auto s = apply_posting(*target, agg, t, +1, true); !s) return tl::unexpected(s.error());
  }

  coding::IdKey k(id);
  {
    // The record and its index entries travel with its (new) customer; each holding with its
    // own customer (an amend that moves customers: each side in its own part).
    FeedScope scope(st, "transactions", t.customer_id);
    codec().encode(k.span(), t, **schema, st.buf);
    if (auto s = put(st, tables().transactions, k.span(), st.buf); !s) return tl::unexpected(s.error());
  }
  if (old_holding && old_holding != old_holding_stored) {
    FeedScope scope(st, "holdings", old_holding->customer_id);
    if (auto s = store_holding(st, *old_holding); !s) return tl::unexpected(s.error());
  }
  if (new_holding && new_holding != new_holding_stored) {
    FeedScope scope(st, "holdings", new_holding->customer_id);
    if (auto s = store_holding(st, *new_holding); !s) return tl::unexpected(s.error());
  }
  std::vector<IndexEntry> before, after;
  keys().transaction_entries(**old, before);
  keys().transaction_entries(t, after);
  {
    FeedScope scope(st, "transactions", t.customer_id);
    if (auto s = update_entries(st, std::move(before), std::move(after)); !s)
      return tl::unexpected(s.error());
  }
  auto restore = [&](const Customer& was, const Customer& now) -> Status {
    return write_customer(st, &was, &now);
  };
  if (auto s = restore(**old_customer, old_updated); !s) return tl::unexpected(s.error());
  if (new_customer) {
    auto nc_before = load_customer(st, t.customer_id);  // unchanged so far in this op
    if (!nc_before || !*nc_before) return make_error(ErrorCode::kInternal, "customer vanished");
    if (auto s = restore(**nc_before, *new_customer); !s) return tl::unexpected(s.error());
  }
  return true;
}

Result<bool> DatabaseImpl::remove_transaction(TxnState& st, TransactionId id) {
  auto t = load_transaction(st, id);
  if (!t) return tl::unexpected(t.error());
  if (!*t) return false;
  auto c = load_customer(st, (*t)->customer_id);
  if (!c) return tl::unexpected(c.error());
  if (!*c)
    return make_error(ErrorCode::kCorruption, "transaction " + std::to_string(id) +
                                                  " belongs to a missing customer");
  auto reduced = without(*this, st, **c, **t);
  if (!reduced) return tl::unexpected(reduced.error());
  Customer updated = **c;
  updated.aggregates = *reduced;
  FeedScope scope(st, "transactions", (*t)->customer_id);
  std::optional<Holding> holding;  // format 6: the posting moves back
  if ((*t)->holding_id) {
    auto h = load_holding(st, *(*t)->holding_id);
    if (!h) return tl::unexpected(h.error());
    if (!*h)
      return make_error(ErrorCode::kCorruption, "transaction " + std::to_string(id) +
                                                    " posts to missing holding " +
                                                    std::to_string(*(*t)->holding_id));
    holding = std::move(**h);
    if (auto s = apply_posting(*holding, updated.holdings, **t, -1, true); !s)
      return tl::unexpected(s.error());
  }
  if (holding)
    if (auto s = store_holding(st, *holding); !s) return tl::unexpected(s.error());
  std::vector<IndexEntry> entries;
  keys().transaction_entries(**t, entries);
  for (const auto& e : entries)
    if (auto s = del_entry(st, e); !s) return tl::unexpected(s.error());
  if (auto s = del(st, tables().transactions, coding::IdKey(id).span()); !s)
    return tl::unexpected(s.error());
  if (auto s = write_customer(st, &**c, &updated); !s) return tl::unexpected(s.error());
  return true;
}

// ---- restore (key rotation) -------------------------------------------------------------------

Status DatabaseImpl::restore_customer(TxnState& st, const Customer& c) {
  return write_customer(st, nullptr, &c);
}

Status DatabaseImpl::restore_relationship(TxnState& st, const Relationship& r) {
  coding::IdKey k(r.id);
  codec().encode(k.span(), r, st.buf);
  if (auto s = put(st, tables().relationships, k.span(), st.buf); !s) return s;
  std::vector<IndexEntry> entries;
  keys().relationship_entries(r, entries);
  for (const auto& e : entries)
    if (auto s = put_entry(st, e); !s) return s;
  return {};
}

Status DatabaseImpl::restore_transaction(TxnState& st, const Transaction& t) {
  auto schema = schema_of(st);
  if (!schema) return tl::unexpected(schema.error());
  coding::IdKey k(t.id);
  codec().encode(k.span(), t, **schema, st.buf);
  if (auto s = put(st, tables().transactions, k.span(), st.buf); !s) return s;
  std::vector<IndexEntry> entries;
  keys().transaction_entries(t, entries);
  for (const auto& e : entries)
    if (auto s = put_entry(st, e); !s) return s;
  return {};
}

Status DatabaseImpl::write_customer(TxnState& st, const Customer* before,
                                    const Customer* after, OrderedWriter* customers) {
  // The record and its index entries are the customer's (custdb/feed.h parts): in the open
  // scope when it is this customer's, else in the customer's own part.
  const CustomerId whose = after ? after->id : before->id;
  std::optional<FeedScope> scope;
  if (st.feed && st.feed->scope_customer != whose) scope.emplace(st, "customers", whose);
  std::vector<index::IndexEntry> old_e, new_e;
  // Unchanged entries need no tokens (the index layer says which fields they derive from).
  const bool same_entries =
      before && after && index::IndexKeys::same_customer_entries(*before, *after);
  if (before && !same_entries) keys().customer_entries(*before, old_e);
  if (after && !same_entries) keys().customer_entries(*after, new_e);
  if (after) {
    if (auto s = store_customer(st, *after, customers); !s) return s;
  } else {
    if (auto s = del(st, tables().customers, coding::IdKey(before->id).span()); !s) return s;
  }
  if (auto s = update_entries(st, std::move(old_e), std::move(new_e)); !s) return s;
  queue_postings(st, before, after);
  return {};
}

}  // namespace custdb::detail
