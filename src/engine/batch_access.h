// The engine's batch writes, for the bulk import (src/io/import.cc): calls the public WriteTxn
// does not offer because their shape (a span of rows in, one result per row out) serves a
// loader, not an application. io includes this header and no other engine header.
//
// Implemented in src/engine/batch_access.cc. Thread-safety: as the WriteTxn passed (one thread
// at a time).
#pragma once

#include <span>
#include <vector>

#include "custdb/database.h"
#include "custdb/status.h"
#include "custdb/types.h"

namespace custdb::detail {

// WriteTxn::add_transaction of each row in order, as one batch: each customer the rows touch
// is read and decoded once, its aggregates move row by row in memory, and it is encoded, stored
// and its segment postings diffed once; the transaction records are written in id order and
// their index entries in key order. The outcome is the same as the one-by-one calls' (the
// same ids, aggregates, postings, counters, and for each row the same result and message),
// except that a refused row does not stop the batch:
//   results[i]   the id of rows[i], or the refusal add_transaction would have returned after
//                the rows before it (kInvalidArgument, kAlreadyExists, kFailedPrecondition):
//                nothing of a refused row is written, and the rows after it see the batch
//                without it. Accepted rows are left with their id and canonical form.
//   returned     any other error (kCorruption, a storage failure; kFailedPrecondition when
//                the transaction has finished) ends the call. results then holds one entry per
//                row checked before it: results.size() is the index of the row whose check
//                failed, or rows.size() when the failure came while writing (which poisons the
//                transaction, as any failed write does).
// A caller wanting all or nothing stops at the first refusal and drops the transaction.
// move_balances (format 6, io::ImportOptions::move_balances): false links postings to their
// holdings (posted sums and counts move) but leaves the holdings' balances.
Status add_transactions(WriteTxn& txn, std::span<Transaction> rows,
                        std::vector<Result<TransactionId>>& results, bool move_balances = true);

// WriteTxn::insert_customer of each row in order, as one batch: the records written in id
// order through one cursor, the index entries (external ref, email, phone) sorted, the id
// counter read and written once. results, refusals and errors as add_transactions; accepted
// rows are left with their id and normalized fields. Unlike insert_customer, a row's
// updated_at is kept when set (not the epoch): an import restores the exported one, so that
// export -> import -> export is byte-identical; at the epoch it is now.
Status insert_customers(WriteTxn& txn, std::span<Customer> rows,
                        std::vector<Result<CustomerId>>& results);

}  // namespace custdb::detail
