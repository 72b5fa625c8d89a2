// The engine as the analytics layer (src/analytics) sees it: the public API (ReadView,
// WriteTxn, Database) plus the few reads and writes below, which the public API does not offer.
// Analytics includes this header and no other engine header: DatabaseImpl, TxnState, LMDB and
// the segment index stay out of its sight, so they can change without touching it.
//
// Implemented in src/engine/analytics_access.cc. Thread-safety: as the view, transaction or
// database passed (one thread at a time per ReadView or WriteTxn; Database is thread-safe).
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "custdb/database.h"
#include "custdb/status.h"
#include "custdb/types.h"

namespace custdb::analytics_access {

// The database's base currency (ISO 4217, upper case): what Transaction::base_amount and the
// customers' totals are in.
const std::string& base_currency(const ReadView& view);
const std::string& base_currency(const Database& db);

// Today's date in UTC, and now: the default as-of day of analytics and the fitted_at stamp.
Date today_utc();
Timestamp now_ms();

// ---- reads ----

// Calls fn(customer, transactions) once for every customer that has transactions, with all of
// that customer's transactions (owned copies, in the index's order; the span is valid during
// the call only). Customers come in the index's key order: ascending ids in a plaintext
// database, token order in an encrypted one. Reads one customer's transactions at a time, so
// memory does not grow with the table.
// The scan must see every transaction exactly once, so damage is kCorruption rather than a
// partial answer: index keys out of order (a torn file), an entry naming a missing transaction
// or one of another customer, a customer's transaction named twice, a walk that saw another
// number of entries than the index records, or an index that records another number than the
// transactions table. kFailedPrecondition when the view's transaction has finished.
Status for_each_customer_transactions(
    const ReadView& view,
    const std::function<void(CustomerId customer, std::span<const Transaction> transactions)>& fn);

// The customers that hold scores (Customer::scores set by score_customers), ascending.
// kCorruption when the segment postings are damaged; kFailedPrecondition as above.
Result<std::vector<CustomerId>> scored_customers(const ReadView& view);

// The customers whose profiling consent is denied (consent_profiling = denied), ascending:
// never scored, summarised, ranked or moved by rules (docs/analytics.md, "Consent").
Result<std::vector<CustomerId>> profiling_denied(const ReadView& view);

// ---- sealed meta values owned by analytics ----

// Each is stored sealed (encrypted mode) or checksummed (plaintext), like a record, and key
// rotation re-seals it (db_impl.h, kSealedMetaKeys).
enum class MetaKey {
  kClvModel,  // "analytics.model": the fitted CLV model (clv_store.cc)
  kRules,     // "analytics.rules": the tier/stage rules (rules.cc)
};
// nullopt when never stored. kCorruption when the value does not open.
Result<std::optional<std::string>> get_sealed_meta(const ReadView& view, MetaKey key);
Status put_sealed_meta(WriteTxn& txn, MetaKey key, std::string_view value);

// ---- writes ----

// Replaces a customer's scores (nullopt clears them) and its segment postings, leaving
// updated_at alone: the customer's own attributes did not change. false when there is no such
// customer. Errors and poisoning as WriteTxn's writes.
Result<bool> set_scores(WriteTxn& txn, CustomerId id, const std::optional<Scores>& scores);

// Appends a tier/stage rule move to the rule-move log (table rule_moves; seq and time set by
// the engine).
Status record_rule_move(WriteTxn& txn, const RuleMove& move);

// Runs fn(txn, from, to) for the ranges [0, batch), [batch, 2·batch), ... of [0, n), each in
// its own write transaction (Database::write: a busy write lock is waited for and retried)
// committed before the next begins, so no write transaction holds the lock or pins freed pages
// for the whole run. Stops at the first error, fn's or a commit's, and returns it; the batches
// committed before stay. batch must be at least 1. n == 0 writes nothing.
Status write_batches(
    Database& db, std::size_t n, std::size_t batch,
    const std::function<Status(WriteTxn& txn, std::size_t from, std::size_t to)>& fn);

}  // namespace custdb::analytics_access
