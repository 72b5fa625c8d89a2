// Erasure and scrub inside the engine (erase.cc, scrub.cc): what Database::erase_customer(s),
// WriteTxn::erase_customer, Database::scrub and restore/retention (owner R) share.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "custdb/privacy.h"
#include "custdb/status.h"

namespace custdb::detail {

class DatabaseImpl;
struct TxnState;

// What erase_customer did, summed over calls.
struct ErasureCounts {
  std::uint64_t erased = 0;
  std::uint64_t not_found = 0;  // no such customer, or keep-ledger of an anonymized one
  std::uint64_t transactions = 0;
  std::uint64_t relationships = 0;
};

// The logical erasure of one customer in st (a write transaction): false when there is no such
// customer (or keep-ledger of one already anonymized). Journal and audit entries are written in
// st. kFailedPrecondition when the file has no erasure journal (a read-only older file).
Result<bool> erase_customer(DatabaseImpl& db, TxnState& st, CustomerId id, EraseMode mode,
                            ErasureCounts* counts);

// The erasure journal (table erasures): key be64(seq), value the envelope of
// be64(customer) || u8 mode || i64 ms (sign-biased big-endian).
std::string encode_erasure(const ErasureEntry& e);
Result<ErasureEntry> decode_erasure(std::uint64_t seq, std::string_view payload);
// Stores one entry under its seq (kAlreadyExists when that seq is taken): rotation's copy.
Status put_erasure(DatabaseImpl& db, TxnState& st, const ErasureEntry& e);
// Every entry, by seq (empty when the file has no journal).
Result<std::vector<ErasureEntry>> read_erasure_journal(const DatabaseImpl& db, TxnState& st);

// The named DBs whose branch keys scrub checks for separators of removed keys: those whose keys
// are personal values (plaintext) or tokens of them (encrypted).
std::vector<std::string> personal_key_tables();

}  // namespace custdb::detail
