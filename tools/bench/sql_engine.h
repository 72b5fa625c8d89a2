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

// Tables customers, customer_tags, relationships, transactions; indexes on the 27 customer
// attributes custdb indexes (the six scores included), tags (both ways), relationship ends, transactions (customer, ts).
void create_schema(SqlDb& db);

// Every column of customers, in the order row_to_customer reads them.
constexpr const char* kCustomerColumns =
    "id, external_ref, type, name, email, phone, birth_date, gender, city, region, country, "
    "tier, stage, income_band, risk, consent_email, consent_email_date, consent_sms, "
    "consent_sms_date, consent_phone, consent_phone_date, created_at, updated_at, txn_count, "
    "total_amount, first_txn_at, last_txn_at, p_alive, expected_purchases, expected_value, clv, "
    "r_score, f_score, m_score, scores_as_of";
constexpr int kCustomerColumnCount = 35;
constexpr const char* kTransactionColumns =
    "id, customer_id, ts, amount, currency, base_amount, kind, channel, product, description";

// The statements that write: a customer with its tags, a transaction landing on a customer
// (insert + aggregate update: txn_count, total_amount, first/last_txn_at, and so every index
// on them), a relationship. customer() writes `scores` too (NULL columns when absent).
class SqlWriter {
 public:
  explicit SqlWriter(SqlDb& db);
  void customer(const Customer& c, const std::optional<Scores>& scores);
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

// After the load, like custdb's write_scores_custdb (workload.h): the generator's scores of
// customers 1..a.customers by UPDATE, kLoadBatch customers a BEGIN/COMMIT. Returns seconds.
double write_scores_sql(SqlDb& db, const Args& a);

// Reads the row `s` stands on (columns kCustomerColumns from index 0) into a Customer and its
// tags with `tags` (SELECT tag ... WHERE customer_id = ?1).
Customer row_to_customer(SqlDb::Stmt& s, SqlDb::Stmt& tags);
Transaction row_to_transaction(SqlDb::Stmt& s);

// The same for any row type with col(i) (int64), is_null(i) and text(i): SqlDb::Stmt and
// DuckDB's rows (duckdb_engine.h). Tags are not read here.
template <class Row>
Customer customer_from_row(Row& s) {
  auto day = [&](int i) -> std::optional<Date> {
    if (s.is_null(i)) return std::nullopt;
    return Date{std::chrono::days{s.col(i)}};
  };
  auto ts = [&](int i) -> std::optional<Timestamp> {
    if (s.is_null(i)) return std::nullopt;
    return Timestamp{std::chrono::milliseconds{s.col(i)}};
  };
  Customer c;
  c.id = static_cast<CustomerId>(s.col(0));
  c.external_ref = s.text(1);
  c.type = static_cast<CustomerType>(s.col(2));
  c.name = s.text(3);
  if (!s.is_null(4)) c.email = s.text(4);
  if (!s.is_null(5)) c.phone = s.text(5);
  c.birth_date = day(6);
  c.gender = static_cast<Gender>(s.col(7));
  c.address = {s.text(8), s.text(9), s.text(10)};
  c.tier = static_cast<Tier>(s.col(11));
  c.stage = static_cast<Stage>(s.col(12));
  if (!s.is_null(13)) c.income_band = static_cast<std::uint8_t>(s.col(13));
  c.risk = static_cast<Risk>(s.col(14));
  c.consent_email = {static_cast<ConsentState>(s.col(15)), day(16)};
  c.consent_sms = {static_cast<ConsentState>(s.col(17)), day(18)};
  c.consent_phone = {static_cast<ConsentState>(s.col(19)), day(20)};
  c.created_at = *ts(21);
  c.updated_at = *ts(22);
  c.aggregates.txn_count = static_cast<std::uint64_t>(s.col(23));
  c.aggregates.total_amount = s.col(24);
  c.aggregates.first_txn_at = ts(25);
  c.aggregates.last_txn_at = ts(26);
  if (!s.is_null(30)) {  // scored
    Scores sc;
    sc.p_alive = static_cast<double>(s.col(27)) / 1e6;
    sc.expected_purchases = static_cast<double>(s.col(28)) / 1e6;
    sc.expected_value = s.col(29);
    sc.clv = s.col(30);
    sc.r_score = static_cast<std::uint8_t>(s.col(31));
    sc.f_score = static_cast<std::uint8_t>(s.col(32));
    sc.m_score = static_cast<std::uint8_t>(s.col(33));
    sc.as_of = Date{std::chrono::days{s.col(34)}};
    c.scores = sc;
  }
  return c;
}

template <class Row>
Transaction transaction_from_row(Row& s) {
  Transaction t;
  t.id = static_cast<TransactionId>(s.col(0));
  t.customer_id = static_cast<CustomerId>(s.col(1));
  t.ts = Timestamp{std::chrono::milliseconds{s.col(2)}};
  t.amount = s.col(3);
  t.currency = s.text(4);
  t.base_amount = s.col(5);
  t.kind = static_cast<TransactionKind>(s.col(6));
  t.channel = static_cast<Channel>(s.col(7));
  t.product = s.text(8);
  t.description = s.text(9);
  return t;
}

}  // namespace custdb::bench
