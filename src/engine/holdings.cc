// Holdings (format 6, custdb/types.h Holding): the engine's operations, the public API over
// them, and the one derivation of a customer's HoldingAggregates (engine/holding_math.h).
//
// Every operation checks everything before its first write, so a refusal leaves the
// transaction as it was; after the first write only a storage failure can stop it (and that
// poisons the transaction), as in ops.cc.
#include <algorithm>
#include <cassert>
#include <exception>

#include "custdb/money.h"
#include "engine/db_impl.h"
#include "engine/holding_math.h"
#include "engine/validate.h"
#include "util/normalize.h"

namespace custdb::detail {

// ---- the derivation (holding_math.h) -----------------------------------------------------------

std::string_view product_type_name(const Holding& h) {
  if (h.product_type == ProductType::kCustom) return h.custom_type;
  return to_string(h.product_type);
}

HoldingAggregates holding_aggregates(std::span<const Holding> holdings) {
  HoldingAggregates a;
  for (const Holding& h : holdings) {
    ++a.holdings;
    if (h.opened_on && (!a.first_product_on || *h.opened_on < *a.first_product_on))
      a.first_product_on = h.opened_on;
    if (h.status == HoldingStatus::kActive) ++a.products;
    if (h.status == HoldingStatus::kClosed) continue;
    const std::int64_t base = h.base_balance.value_or(h.balance);
    switch (class_of(h.product_type)) {
      case ProductClass::kAsset: a.aum += base; break;
      case ProductClass::kLiability: a.liabilities += base; break;
      case ProductClass::kOther: break;
    }
    a.types_held.emplace_back(product_type_name(h));
  }
  std::sort(a.types_held.begin(), a.types_held.end());
  a.types_held.erase(std::unique(a.types_held.begin(), a.types_held.end()), a.types_held.end());
  return a;
}

Status check_posting(const Holding& h, const Transaction& t, bool onto) {
  const std::string which = "holding_id: holding " + std::to_string(h.id);
  if (h.customer_id != t.customer_id)
    return make_error(ErrorCode::kInvalidArgument,
                      which + " belongs to customer " + std::to_string(h.customer_id) +
                          ", not to customer " + std::to_string(t.customer_id));
  if (h.currency != t.currency)
    return make_error(ErrorCode::kInvalidArgument,
                      which + " is in " + h.currency + ", the transaction in " + t.currency);
  if (onto && h.status == HoldingStatus::kClosed)
    return make_error(ErrorCode::kFailedPrecondition,
                      which + " is closed: nothing posts to a closed holding");
  return {};
}

Status apply_posting(Holding& h, HoldingAggregates& agg, const Transaction& t, int sign,
                     bool move_balance) {
  assert(sign == 1 || sign == -1);
  const std::int64_t amount = sign * t.amount;
  const std::int64_t base = sign * t.base_amount.value_or(t.amount);
  Holding nh = h;
  HoldingAggregates na = agg;
  const std::string which = "holding " + std::to_string(h.id);
  if (__builtin_add_overflow(nh.posted, amount, &nh.posted) ||
      __builtin_add_overflow(nh.base_posted, base, &nh.base_posted))
    return make_error(ErrorCode::kInvalidArgument,
                      "holding_id: the sum of " + which + "'s postings would overflow");
  if (sign < 0 && nh.postings == 0)
    return make_error(ErrorCode::kCorruption, which + ": postings count disagrees with its transactions");
  nh.postings = sign > 0 ? nh.postings + 1 : nh.postings - 1;
  if (move_balance) {
    const std::int64_t old_base = h.base_balance.value_or(h.balance);
    nh.balance = h.balance + amount;  // both within ±10^15: no overflow
    const std::int64_t nb = old_base + base;
    if (nh.balance > kMaxAmount || nh.balance < -kMaxAmount)
      return make_error(ErrorCode::kInvalidArgument,
                        "balance: " + which + " would reach " + format_amount(nh.balance, h.currency) +
                            ", beyond 10^15 minor units");
    if (nb > kMaxAmount || nb < -kMaxAmount)
      return make_error(ErrorCode::kInvalidArgument,
                        "balance: " + which + "'s base_balance would reach " +
                            std::to_string(nb) + " minor units, beyond 10^15");
    nh.base_balance = nb;
    move_balance_aggregates(nh, old_base, na);
  }
  h = std::move(nh);
  agg = std::move(na);
  return {};
}

void move_balance_aggregates(const Holding& h, std::int64_t old_base, HoldingAggregates& agg) {
  if (h.status == HoldingStatus::kClosed) return;
  // At most kMaxHoldingsPerCustomer balances of at most kMaxAmount: no overflow.
  const std::int64_t delta = h.base_balance.value_or(h.balance) - old_base;
  switch (class_of(h.product_type)) {
    case ProductClass::kAsset: agg.aum += delta; break;
    case ProductClass::kLiability: agg.liabilities += delta; break;
    case ProductClass::kOther: break;
  }
}

// ---- the engine's operations ---------------------------------------------------------------------

namespace {

using index::IndexEntry;
using index::IndexId;
using index::IndexKeys;

constexpr std::uint64_t kMaxId = (std::uint64_t{1} << 63) - 1;

tl::unexpected<Error> precondition(std::string m) {
  return make_error(ErrorCode::kFailedPrecondition, std::move(m));
}
tl::unexpected<Error> invalid(std::string m) {
  return make_error(ErrorCode::kInvalidArgument, std::move(m));
}


bool has_holdings_tables(const DatabaseImpl& db) {
  return db.tables().holdings &&
         db.tables().index[static_cast<std::size_t>(IndexId::kHoldingByCustomer)];
}

Status no_table() {
  return make_error(ErrorCode::kFailedPrecondition,
                    "holdings: this handle has no holdings table (a read-only open of an older file)");
}

// The customer's holdings through idx.holding_by_customer, checked: ids ascending, each
// stored and of this customer, and (when given) exactly `expected` of them.
Result<std::vector<Holding>> read_holdings(const DatabaseImpl& db, TxnState& st, CustomerId id,
                                           std::optional<std::uint32_t> expected) {
  std::vector<Holding> out;
  if (!has_holdings_tables(db)) {
    if (expected && *expected != 0)
      return make_error(ErrorCode::kCorruption,
                        "customer " + std::to_string(id) + " counts holdings but the file has no holdings table");
    return out;
  }
  auto ids = db.index_values(st, IndexId::kHoldingByCustomer, IndexKeys::id_key(id));
  if (!ids) return tl::unexpected(ids.error());
  if (expected && ids->size() != *expected)
    return make_error(ErrorCode::kCorruption,
                      "idx.holding_by_customer holds " + std::to_string(ids->size()) +
                          " entries for customer " + std::to_string(id) +
                          ", whose aggregates count " + std::to_string(*expected) + " holdings");
  out.reserve(ids->size());
  HoldingId prev = 0;
  for (const auto& v : *ids) {
    const HoldingId hid = IndexKeys::owner_id(v);
    if (v.size() != 8 || hid <= prev)
      return make_error(ErrorCode::kCorruption, "idx.holding_by_customer names holding " +
                                                    std::to_string(hid) + " twice or out of order");
    prev = hid;
    auto h = db.load_holding(st, hid);
    if (!h) return tl::unexpected(h.error());
    if (!*h || (*h)->customer_id != id)
      return make_error(ErrorCode::kCorruption, "idx.holding_by_customer names holding " +
                                                    std::to_string(hid) + ", missing or of another customer");
    out.push_back(std::move(**h));
  }
  return out;
}

// A Holding with its customer's record: what every structural change reads first.
struct Owned {
  Customer customer;
  std::vector<Holding> holdings;  // the customer's, checked against its count
};

Result<Owned> load_owned(const DatabaseImpl& db, TxnState& st, const Holding& h) {
  auto c = db.load_customer(st, h.customer_id);
  if (!c) return tl::unexpected(c.error());
  if (!*c)
    return make_error(ErrorCode::kCorruption, "holding " + std::to_string(h.id) +
                                                  " belongs to missing customer " +
                                                  std::to_string(h.customer_id));
  auto hs = read_holdings(db, st, h.customer_id, (*c)->holdings.holdings);
  if (!hs) return tl::unexpected(hs.error());
  return Owned{std::move(**c), std::move(*hs)};
}

}  // namespace

Status DatabaseImpl::store_holding(TxnState& st, const Holding& h, OrderedWriter* holdings) {
  coding::IdKey k(h.id);
  codec().encode(k.span(), h, st.buf);
  if (holdings) return put(st, *holdings, k.span(), st.buf);
  return put(st, tables().holdings, k.span(), st.buf);
}

Result<std::optional<Holding>> DatabaseImpl::load_holding(TxnState& st, HoldingId id) const {
  return load<Holding>(st, id);
}

Result<std::vector<Holding>> DatabaseImpl::holdings_of(TxnState& st, CustomerId id) const {
  if (!has_holdings_tables(*this)) return std::vector<Holding>{};
  auto c = load_customer(st, id);
  if (!c) return tl::unexpected(c.error());
  return read_holdings(*this, st, id, *c ? (*c)->holdings.holdings : 0);
}

Result<std::vector<Transaction>> DatabaseImpl::postings_of(TxnState& st, HoldingId id) const {
  std::vector<Transaction> out;
  if (!tables().index[static_cast<std::size_t>(IndexId::kTxnByHolding)]) return out;
  auto values = index_values(st, IndexId::kTxnByHolding, IndexKeys::id_key(id));
  if (!values) return tl::unexpected(values.error());
  auto h = load_holding(st, id);
  if (!h) return tl::unexpected(h.error());
  const std::uint64_t expected = *h ? (*h)->postings : 0;
  if (values->size() != expected)
    return make_error(ErrorCode::kCorruption,
                      "idx.txn_by_holding holds " + std::to_string(values->size()) +
                          " entries for holding " + std::to_string(id) + ", which counts " +
                          std::to_string(expected) + " postings");
  out.reserve(values->size());
  for (const auto& v : *values) {
    const TransactionId tid = IndexKeys::owner_id(v);
    auto t = load_transaction(st, tid);
    if (!t) return tl::unexpected(t.error());
    if (!*t || (*t)->holding_id != id)
      return make_error(ErrorCode::kCorruption, "idx.txn_by_holding names transaction " +
                                                    std::to_string(tid) + ", missing or not posted to holding " +
                                                    std::to_string(id));
    out.push_back(std::move(**t));
  }
  std::sort(out.begin(), out.end(), [](const Transaction& a, const Transaction& b) {
    return a.ts != b.ts ? a.ts < b.ts : a.id < b.id;
  });
  return out;
}

Result<HoldingId> DatabaseImpl::insert_holding(TxnState& st, Holding h) {
  if (!has_holdings_tables(*this)) return tl::unexpected(no_table().error());
  if (auto s = validate_holding(h, base_currency()); !s) return tl::unexpected(s.error());
  if (h.id > kMaxId) return invalid("id: above 2^63 - 1");
  if (h.posted != 0 || h.base_posted != 0)
    return invalid("posted: kept by the engine from the postings; leave it zero");
  if (h.postings != 0) return invalid("postings: kept by the engine; leave it zero");
  if (h.balance_as_of)
    return invalid("balance_as_of: set by statements (set_balance); leave it empty");
  auto c = load_customer(st, h.customer_id);
  if (!c) return tl::unexpected(c.error());
  if (!*c)
    return precondition("customer_id: customer " + std::to_string(h.customer_id) +
                        " does not exist");
  if (h.id == 0) {
    auto next = next_id(st, kNextHolding);
    if (!next) return tl::unexpected(next.error());
    if (*next > kMaxId) return precondition("id: no holding ids left to assign; give one explicitly");
    h.id = *next;
    auto taken = get(st, tables().holdings, coding::IdKey(h.id).span());
    if (!taken) return tl::unexpected(taken.error());
    if (*taken)
      return make_error(ErrorCode::kCorruption,
                        std::string(kNextHolding) + " is behind existing ids");
  } else {
    auto taken = get(st, tables().holdings, coding::IdKey(h.id).span());
    if (!taken) return tl::unexpected(taken.error());
    if (*taken)
      return make_error(ErrorCode::kAlreadyExists, "id: holding " + std::to_string(h.id) + " exists");
  }
  if (!h.account_ref.empty()) {
    auto k = keys().equality_key(IndexId::kAccountRef, h.account_ref);
    auto owner = get(st, tables().index[static_cast<std::size_t>(IndexId::kAccountRef)],
                     coding::as_bytes(k));
    if (!owner) return tl::unexpected(owner.error());
    if (*owner)
      return make_error(ErrorCode::kAlreadyExists,
                        "account_ref: already the reference of holding " +
                            std::to_string(coding::get_u64((*owner)->data())));
  }
  auto held = read_holdings(*this, st, h.customer_id, (*c)->holdings.holdings);
  if (!held) return tl::unexpected(held.error());
  if (held->size() >= kMaxHoldingsPerCustomer)
    return precondition("holdings: customer " + std::to_string(h.customer_id) + " holds " +
                        std::to_string(held->size()) + " holdings, the most one customer may hold");
  h.personal_available = true;

  FeedScope scope(st, "holdings", h.customer_id);  // custdb/feed.h parts
  if (auto s = store_holding(st, h); !s) return tl::unexpected(s.error());
  std::vector<IndexEntry> entries;
  keys().holding_entries(h, entries);
  for (const auto& e : entries)
    if (auto s = put_entry(st, e); !s) return tl::unexpected(s.error());
  if (auto s = bump_counter(st, kNextHolding, h.id); !s) return tl::unexpected(s.error());
  held->push_back(h);
  Customer updated = **c;
  updated.holdings = holding_aggregates(*held);
  if (auto s = write_customer(st, &**c, &updated); !s) return tl::unexpected(s.error());
  return h.id;
}

Result<bool> DatabaseImpl::update_holding(TxnState& st, HoldingId id,
                                          const std::function<void(Holding&)>& mutate) {
  auto old = load_holding(st, id);
  if (!old) return tl::unexpected(old.error());
  if (!*old) return false;
  const Holding& was = **old;
  Holding h = was;
  if (auto s = run_callback("update_holding", [&] { mutate(h); }); !s)
    return tl::unexpected(s.error());
  if (h.id != id)
    return invalid("id: cannot be changed (holding " + std::to_string(id) + ", callback set " +
                   std::to_string(h.id) + ")");
  if (h.customer_id != was.customer_id)
    return invalid("customer_id: a holding never changes customer (holding " +
                   std::to_string(id) + " belongs to customer " +
                   std::to_string(was.customer_id) + ")");
  if (h.posted != was.posted || h.base_posted != was.base_posted)
    return invalid("posted: kept by the engine from the postings; cannot be changed");
  if (h.postings != was.postings) return invalid("postings: kept by the engine; cannot be changed");
  if (h.balance_as_of != was.balance_as_of)
    return invalid("balance_as_of: set by statements (set_balance); cannot be changed");
  if (h.personal_available != was.personal_available)
    return invalid("personal_available: not stored; cannot be changed");
  // In the base currency base_balance is derived: one the callback left as it was follows the
  // balance (as amend_transaction's base_amount).
  if (canonical_currency(h.currency) == base_currency() && h.base_balance == was.base_balance)
    h.base_balance.reset();
  if (auto s = validate_holding(h, base_currency(), &was); !s) return tl::unexpected(s.error());
  if (h.currency != was.currency && was.postings > 0)
    return invalid("currency: holding " + std::to_string(id) + " has " +
                   std::to_string(was.postings) + " postings in " + was.currency +
                   "; its currency cannot change");
  if (h == was) return true;
  if (!h.account_ref.empty() && h.account_ref != was.account_ref) {
    auto k = keys().equality_key(IndexId::kAccountRef, h.account_ref);
    auto owner = get(st, tables().index[static_cast<std::size_t>(IndexId::kAccountRef)],
                     coding::as_bytes(k));
    if (!owner) return tl::unexpected(owner.error());
    if (*owner && coding::get_u64((*owner)->data()) != id)
      return make_error(ErrorCode::kAlreadyExists,
                        "account_ref: already the reference of holding " +
                            std::to_string(coding::get_u64((*owner)->data())));
  }
  auto owned = load_owned(*this, st, was);
  if (!owned) return tl::unexpected(owned.error());

  FeedScope scope(st, "holdings", h.customer_id);  // custdb/feed.h parts
  if (auto s = store_holding(st, h); !s) return tl::unexpected(s.error());
  if (!IndexKeys::same_holding_entries(was, h)) {
    std::vector<IndexEntry> before, after;
    keys().holding_entries(was, before);
    keys().holding_entries(h, after);
    if (auto s = update_entries(st, std::move(before), std::move(after)); !s)
      return tl::unexpected(s.error());
  }
  for (Holding& x : owned->holdings)
    if (x.id == id) x = h;
  Customer updated = owned->customer;
  updated.holdings = holding_aggregates(owned->holdings);
  if (updated.holdings != owned->customer.holdings)
    if (auto s = write_customer(st, &owned->customer, &updated); !s) return tl::unexpected(s.error());
  return true;
}

Result<bool> DatabaseImpl::remove_holding(TxnState& st, HoldingId id, DeleteMode mode) {
  auto old = load_holding(st, id);
  if (!old) return tl::unexpected(old.error());
  if (!*old) return false;
  const Holding& h = **old;
  auto posts = index_values(st, IndexId::kTxnByHolding, IndexKeys::id_key(id));
  if (!posts) return tl::unexpected(posts.error());
  if (mode == DeleteMode::kRestrict && !posts->empty())
    return precondition("holding " + std::to_string(id) + " has " + std::to_string(posts->size()) +
                        " postings; remove it with cascade to detach them");
  // Load everything first: a record that fails to decode stops the removal before any write.
  std::vector<Transaction> postings;
  postings.reserve(posts->size());
  for (const auto& v : *posts) {
    auto t = load_transaction(st, IndexKeys::owner_id(v));
    if (!t) return tl::unexpected(t.error());
    if (!*t || (*t)->holding_id != id)
      return make_error(ErrorCode::kCorruption, "idx.txn_by_holding names transaction " +
                                                    std::to_string(IndexKeys::owner_id(v)) +
                                                    ", missing or not posted to holding " +
                                                    std::to_string(id));
    postings.push_back(std::move(**t));
  }
  auto owned = load_owned(*this, st, h);
  if (!owned) return tl::unexpected(owned.error());
  FeedScope scope(st, "holdings", h.customer_id);  // custdb/feed.h parts
  auto schema = schema_of(st);
  if (!schema) return tl::unexpected(schema.error());

  // Detach the postings: the transactions stay (and so do the customer's Aggregates).
  for (const Transaction& t : postings) {
    Transaction detached = t;
    detached.holding_id.reset();
    coding::IdKey k(t.id);
    codec().encode(k.span(), detached, **schema, st.buf);
    if (auto s = put(st, tables().transactions, k.span(), st.buf); !s) return tl::unexpected(s.error());
    std::vector<IndexEntry> before, after;
    keys().transaction_entries(t, before);
    keys().transaction_entries(detached, after);
    if (auto s = update_entries(st, std::move(before), std::move(after)); !s)
      return tl::unexpected(s.error());
  }
  std::vector<IndexEntry> entries;
  keys().holding_entries(h, entries);
  for (const auto& e : entries)
    if (auto s = del_entry(st, e); !s) return tl::unexpected(s.error());
  if (auto s = del(st, tables().holdings, coding::IdKey(id).span()); !s)
    return tl::unexpected(s.error());
  std::erase_if(owned->holdings, [&](const Holding& x) { return x.id == id; });
  Customer updated = owned->customer;
  updated.holdings = holding_aggregates(owned->holdings);
  if (auto s = write_customer(st, &owned->customer, &updated); !s) return tl::unexpected(s.error());
  return true;
}

Result<bool> DatabaseImpl::set_balance(TxnState& st, HoldingId id,
                                       const StatementBalance& statement) {
  auto old = load_holding(st, id);
  if (!old) return tl::unexpected(old.error());
  if (!*old) return false;
  const Holding& was = **old;
  if (statement.as_of == Date{}) return invalid("as_of: required");
  const Date lo = Date{std::chrono::year{1800} / 1 / 1}, hi = Date{std::chrono::year{2200} / 12 / 31};
  if (statement.as_of < lo || statement.as_of > hi)
    return invalid("as_of: outside 1800-01-01..2200-12-31");
  if (was.balance_as_of && statement.as_of < *was.balance_as_of)
    return precondition("as_of: the statement of " + format_date(statement.as_of) +
                        " is older than holding " + std::to_string(id) + "'s balance as of " +
                        format_date(*was.balance_as_of));
  Holding h = was;
  h.balance = statement.balance;
  h.base_balance = statement.base_balance;
  if (auto s = validate_holding(h, base_currency(), &was); !s) return tl::unexpected(s.error());
  h.balance_as_of = statement.as_of;
  if (h == was) return true;  // the same statement again
  auto c = load_customer(st, h.customer_id);
  if (!c) return tl::unexpected(c.error());
  if (!*c)
    return make_error(ErrorCode::kCorruption, "holding " + std::to_string(id) +
                                                  " belongs to missing customer " +
                                                  std::to_string(h.customer_id));
  Customer updated = **c;
  move_balance_aggregates(h, was.base_balance.value_or(was.balance), updated.holdings);
  FeedScope scope(st, "holdings", h.customer_id);  // custdb/feed.h parts
  if (auto s = store_holding(st, h); !s) return tl::unexpected(s.error());
  if (updated.holdings != (*c)->holdings)
    if (auto s = write_customer(st, &**c, &updated); !s) return tl::unexpected(s.error());
  return true;
}

Status DatabaseImpl::restore_holding(TxnState& st, const Holding& h) {
  if (!has_holdings_tables(*this)) return no_table();
  if (auto s = store_holding(st, h); !s) return s;
  std::vector<IndexEntry> entries;
  keys().holding_entries(h, entries);
  for (const auto& e : entries)
    if (auto s = put_entry(st, e); !s) return s;
  return {};
}

}  // namespace custdb::detail

// ---- the public API ------------------------------------------------------------------------------

namespace custdb {

using detail::TxnState;

#define CUSTDB_REQUIRE_STATE()                                                             \
  if (!state_) return make_error(ErrorCode::kFailedPrecondition, "transaction finished");  \
  if (state_->poisoned) return tl::unexpected(*state_->failure)

Result<std::optional<Holding>> ReadView::get_holding(HoldingId id) const {
  CUSTDB_REQUIRE_STATE();
  return db_->load_holding(*state_, id);
}
Result<std::vector<Holding>> ReadView::holdings_of(CustomerId id) const {
  CUSTDB_REQUIRE_STATE();
  return db_->holdings_of(*state_, id);
}
Result<std::optional<Holding>> ReadView::find_holding_by_account_ref(std::string_view ref) const {
  CUSTDB_REQUIRE_STATE();
  if (db_->keys().personal_denied())
    return make_error(ErrorCode::kPermissionDenied,
                      "lookups by account_ref need the owner's key (opened with an analyst key)");
  const std::string want = normalize::trim(ref);
  const auto index = db_->tables().index[static_cast<std::size_t>(index::IndexId::kAccountRef)];
  if (want.empty() || !index) return std::optional<Holding>();
  auto k = db_->keys().equality_key(index::IndexId::kAccountRef, want);
  auto owner = db_->get(*state_, index, coding::as_bytes(k));
  if (!owner) return tl::unexpected(owner.error());
  if (!*owner) return std::optional<Holding>();
  if ((*owner)->size() != 8)
    return make_error(ErrorCode::kCorruption, "idx.account_ref: value is not an 8-byte id");
  const HoldingId hid = coding::get_u64((*owner)->data());
  auto h = db_->load_holding(*state_, hid);
  if (!h) return tl::unexpected(h.error());
  if (!*h)
    return make_error(ErrorCode::kCorruption,
                      "idx.account_ref names missing holding " + std::to_string(hid));
  if ((*h)->account_ref != want) return std::optional<Holding>();  // a token collision
  return h;
}
Result<std::vector<Transaction>> ReadView::postings_of(HoldingId id) const {
  CUSTDB_REQUIRE_STATE();
  return db_->postings_of(*state_, id);
}
#undef CUSTDB_REQUIRE_STATE

Result<HoldingId> WriteTxn::insert_holding(Holding h) {
  return detail::run_write<HoldingId>(
      *this, [&](TxnState& st) { return db_->insert_holding(st, std::move(h)); });
}
Result<bool> WriteTxn::update_holding(HoldingId id, const std::function<void(Holding&)>& fn) {
  return detail::run_write<bool>(*this,
                                 [&](TxnState& st) { return db_->update_holding(st, id, fn); });
}
Result<bool> WriteTxn::remove_holding(HoldingId id, DeleteMode mode) {
  return detail::run_write<bool>(*this,
                                 [&](TxnState& st) { return db_->remove_holding(st, id, mode); });
}
Result<bool> WriteTxn::set_balance(HoldingId id, const StatementBalance& statement) {
  return detail::run_write<bool>(
      *this, [&](TxnState& st) { return db_->set_balance(st, id, statement); });
}

Result<HoldingId> Database::insert_holding(Holding holding) {
  auto txn = begin_write();
  if (!txn) return tl::unexpected(txn.error());
  auto id = txn->insert_holding(std::move(holding));
  if (!id) return id;
  if (auto s = txn->commit(); !s) return tl::unexpected(s.error());
  return id;
}
Result<std::optional<Holding>> Database::get_holding(HoldingId id) const {
  auto txn = begin_read();
  if (!txn) return tl::unexpected(txn.error());
  return txn->get_holding(id);
}

}  // namespace custdb
