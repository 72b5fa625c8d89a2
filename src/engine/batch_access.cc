// The engine's side of batch_access.h.
#include "engine/batch_access.h"

#include "engine/db_impl.h"

namespace custdb::detail {

Status add_transactions(WriteTxn& txn, std::span<Transaction> rows,
                        std::vector<Result<TransactionId>>& results, bool move_balances) {
  results.clear();
  // run_write refuses a finished transaction before the lambda asks for its database.
  return run_write<void>(txn, [&](TxnState& st) {
    return ReadView::State::db_of(txn).add_transactions(st, rows, results, move_balances);
  });
}

Status insert_customers(WriteTxn& txn, std::span<Customer> rows,
                        std::vector<Result<CustomerId>>& results) {
  results.clear();
  return run_write<void>(txn, [&](TxnState& st) {
    return ReadView::State::db_of(txn).insert_customers(st, rows, results,
                                                        /*keep_updated_at=*/true);
  });
}

}  // namespace custdb::detail
