// The engine's side of analytics_access.h: each function reaches the engine through the
// handles' opaque types (Database::Impl, ReadView::State in db_impl.h).
#include "engine/analytics_access.h"

#include <algorithm>

#include "custdb/query.h"
#include "engine/consent.h"
#include "engine/db_impl.h"
#include "index/index_keys.h"
#include "segment/segment_index.h"
#include "storage/lmdb.h"

namespace custdb::analytics_access {
namespace {

using detail::DatabaseImpl;
using detail::TxnState;

std::string_view meta_key(MetaKey key) {
  switch (key) {
    case MetaKey::kClvModel: return detail::kMetaClvModel;
    case MetaKey::kRules: return detail::kMetaRules;
  }
  return {};
}

// The view's state, or kFailedPrecondition once its transaction has finished.
Result<TxnState*> state_of(const ReadView& view) {
  TxnState* st = ReadView::State::of(view);
  if (!st) return make_error(ErrorCode::kFailedPrecondition, "transaction finished");
  return st;
}

}  // namespace

const std::string& base_currency(const ReadView& view) {
  return ReadView::State::db_of(view).base_currency();
}
const std::string& base_currency(const Database& db) {
  return Database::Impl::of(db).base_currency();
}

Date today_utc() { return detail::today_utc(); }
Timestamp now_ms() { return detail::now_ms(); }

Status for_each_customer_transactions(
    const ReadView& view,
    const std::function<void(CustomerId, std::span<const Transaction>)>& fn) {
  auto st = state_of(view);
  if (!st) return tl::unexpected(st.error());
  const storage::Txn& txn = (*st)->txn;
  const DatabaseImpl& db = ReadView::State::db_of(view);
  const storage::Table index =
      db.tables().index[static_cast<std::size_t>(index::IndexId::kTxnByCustomer)];
  auto index_entries = storage::entry_count(txn, index, "idx.txn_by_customer");
  if (!index_entries) return tl::unexpected(index_entries.error());
  auto table_entries = storage::entry_count(txn, db.tables().transactions, "transactions");
  if (!table_entries) return tl::unexpected(table_entries.error());

  // Each key of idx.txn_by_customer holds one customer's transactions as its duplicates, which
  // the walk visits together: a customer is handed over when the key changes.
  std::uint64_t walked = 0;
  std::string key;                  // the current customer's index key
  CustomerId customer = 0;          // 0 until the run's first transaction is read
  std::vector<Transaction> run;     // its transactions
  std::vector<TransactionId> ids;   // their ids, to find repeats
  std::optional<Error> failure;
  auto finish_run = [&]() -> Status {
    if (run.empty()) return {};
    std::sort(ids.begin(), ids.end());
    if (std::adjacent_find(ids.begin(), ids.end()) != ids.end())
      return make_error(ErrorCode::kCorruption,
                        "idx.txn_by_customer names a transaction of customer " +
                            std::to_string(customer) + " twice");
    fn(customer, run);
    run.clear();
    ids.clear();
    customer = 0;
    return {};
  };
  storage::Walker walker(txn, index, "idx.txn_by_customer");
  auto walk = walker.all([&](storage::Bytes k, storage::Bytes v) -> storage::Next {
    const std::string_view k_view = coding::as_view(k);
    if (walked == 0 || k_view != key) {
      // Keys ascend strictly in an intact tree; a stale page (torn copy) breaks the order.
      if (walked > 0 && !(std::string_view(key) < k_view)) {
        failure = Error(ErrorCode::kCorruption,
                        "idx.txn_by_customer: keys out of order (damaged or torn file)");
        return storage::Next::stop();
      }
      if (auto s = finish_run(); !s) {
        failure = s.error();
        return storage::Next::stop();
      }
      key.assign(k_view);
    }
    ++walked;
    ids.push_back(index::IndexKeys::owner_id(coding::as_view(v)));
    auto t = db.load_transaction(**st, ids.back());
    if (!t) {
      failure = t.error();
      return storage::Next::stop();
    }
    if (!*t || (customer != 0 && (*t)->customer_id != customer)) {
      failure = Error(ErrorCode::kCorruption, "idx.txn_by_customer names a wrong transaction");
      return storage::Next::stop();
    }
    customer = (*t)->customer_id;
    run.push_back(std::move(**t));
    return storage::Next::go_on();
  });
  if (!walk) return walk;
  if (failure) return tl::unexpected(*failure);
  if (auto s = finish_run(); !s) return s;
  if (auto s = storage::check_walked("idx.txn_by_customer", walked, *index_entries); !s) return s;
  if (*index_entries != *table_entries)
    return make_error(ErrorCode::kCorruption,
                      "idx.txn_by_customer records " + std::to_string(*index_entries) +
                          " entries where the transactions table records " +
                          std::to_string(*table_entries));
  return {};
}

Result<std::vector<CustomerId>> scored_customers(const ReadView& view) {
  auto st = state_of(view);
  if (!st) return tl::unexpected(st.error());
  const DatabaseImpl& db = ReadView::State::db_of(view);
  return segment::SegmentIndex(db, **st).scored_customers();
}

Result<std::vector<CustomerId>> profiling_denied(const ReadView& view) {
  return view.ids(query::eq(query::Field::kConsentProfiling, ConsentState::kDenied));
}

Result<std::optional<std::string>> get_sealed_meta(const ReadView& view, MetaKey key) {
  auto st = state_of(view);
  if (!st) return tl::unexpected(st.error());
  return ReadView::State::db_of(view).get_sealed_meta(**st, meta_key(key));
}

Status put_sealed_meta(WriteTxn& txn, MetaKey key, std::string_view value) {
  DatabaseImpl& db = ReadView::State::db_of(txn);
  return detail::run_write<void>(
      txn, [&](TxnState& st) { return db.put_sealed_meta(st, meta_key(key), value); });
}

Result<bool> set_scores(WriteTxn& txn, CustomerId id, const std::optional<Scores>& scores) {
  DatabaseImpl& db = ReadView::State::db_of(txn);
  return detail::run_write<bool>(
      txn, [&](TxnState& st) { return db.set_scores(st, id, scores); });
}

Status record_rule_move(WriteTxn& txn, const RuleMove& move) {
  DatabaseImpl& db = ReadView::State::db_of(txn);
  return detail::run_write<void>(
      txn, [&](TxnState& st) { return detail::write_rule_move(db, st, move); });
}

Status write_batches(Database& db, std::size_t n, std::size_t batch,
                     const std::function<Status(WriteTxn&, std::size_t, std::size_t)>& fn) {
  if (batch == 0) return make_error(ErrorCode::kInvalidArgument, "batch: at least 1");
  for (std::size_t from = 0; from < n; from += batch) {
    const std::size_t to = std::min(n, from + batch);
    if (auto s = db.write([&](WriteTxn& txn) { return fn(txn, from, to); }); !s) return s;
  }
  return {};
}

}  // namespace custdb::analytics_access
