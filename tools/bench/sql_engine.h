// SQLite / SQLCipher as the benchmarks set them up: the schema (the same columns as custdb's
// records and one single-column index per attribute custdb indexes), the bulk loader, and
// reading rows back into custdb's record structs so both sides return the same objects.
#pragma once

#include <memory>
#include <string>

#include "bench.h"
#include "custdb/types.h"
#include "sql_api.h"

namespace custdb::bench {

// The page cache each SQL connection gets (PRAGMA cache_size, KiB): about as large as the data,
// since custdb reads through the OS page cache (mmap) and SQLite should have the same chance to
// keep everything in memory.
constexpr long long kSqlCacheKib = 2'000'000;

// Opens (creating) `path` with WAL, the given synchronous setting ("FULL", "NORMAL", "OFF") and
// the page cache above. cipher: keyed with the same raw 256-bit key custdb-enc uses, so neither
// side pays for passphrase stretching. fresh: remove the database and its -wal / -shm first.
std::unique_ptr<SqlDb> open_sql(const SqlApi& api, const fs::path& path, bool cipher,
                                const std::string& synchronous, bool fresh = true);
void remove_sql_files(const fs::path& path);
// Bytes of the database file plus its WAL.
std::uintmax_t sql_file_size(const fs::path& path);

// Tables customers, customer_tags, relationships, transactions; indexes on the 21 customer
// attributes custdb indexes, tags (both ways), relationship ends, transactions (customer, ts).
void create_schema(SqlDb& db);

// Every column of customers, in the order row_to_customer reads them.
constexpr const char* kCustomerColumns =
    "id, external_ref, type, name, email, phone, birth_date, gender, city, region, country, "
    "tier, stage, income_band, risk, consent_email, consent_email_date, consent_sms, "
    "consent_sms_date, consent_phone, consent_phone_date, created_at, updated_at, txn_count, "
    "total_amount, first_txn_at, last_txn_at";
constexpr const char* kTransactionColumns =
    "id, customer_id, ts, amount, currency, base_amount, kind, channel, product, description";

// The statements that write: a customer with its tags, a transaction landing on a customer
// (insert + aggregate update: txn_count, total_amount, first/last_txn_at, and so every index
// on them), a relationship.
class SqlWriter {
 public:
  explicit SqlWriter(SqlDb& db);
  void customer(const Customer& c);
  void transaction(const Transaction& t);
  void relationship(const Relationship& r);

 private:
  SqlDb::Stmt ins_, tag_, txn_, agg_, rel_;
};

// The same load as load_custdb (workload.h): kLoadBatch customers with their transactions a
// BEGIN/COMMIT, then the relationships kLoadBatch a commit. Samples the heap (mallinfo2) after
// every commit and reads SQLite's own high-water mark (reset at the start). ANALYZE is not
// part of it (see analyze()).
LoadStats load_sql(SqlDb& db, const Args& a, const std::string& label);

// Reads the row `s` stands on (columns kCustomerColumns from index 0) into a Customer and its
// tags with `tags` (SELECT tag ... WHERE customer_id = ?1).
Customer row_to_customer(SqlDb::Stmt& s, SqlDb::Stmt& tags);
Transaction row_to_transaction(SqlDb::Stmt& s);

}  // namespace custdb::bench
