// DuckDB as suite full sets it up (engine "duckdb"): the synthetic base written once as CSV
// files, the schema (the SQL engines' tables and columns, sql_engine.h, so the same WHERE
// clauses select the same customers), and the load through DuckDB's own CSV reader.
//
// The customers' aggregates (txn_count, total_amount, first/last_txn_at) are not in the CSV:
// DuckDB derives them from the transactions it loaded, in the same INSERT that loads the
// customers (the other engines maintain them per transaction insert); the scores are in it
// (synthetic.h, Generator::scores).
#pragma once

#include <string>

#include "bench.h"
#include "duckdb_api.h"

namespace custdb::bench {

// The base as CSV files (header line, comma-separated, text quoted, NULL as an empty field),
// columns as in the SQL schema: customers (kCustomerColumns without the four aggregates),
// customer_tags, transactions (ids 1.. in generation order, as SQLite numbers them),
// relationships. Generated in the same order as load_custdb / load_sql, so the data is
// identical to theirs.
struct CsvBase {
  fs::path customers, tags, transactions, relationships;
  std::uint64_t rows = 0;      // customers + transactions + relationships, as the loads count
  std::uintmax_t bytes = 0;    // of the four files
  double seconds = 0;          // to write them
};
CsvBase write_csv_base(const Args& a, const fs::path& dir);

// The DuckDB library to dlopen: --duckdb, else $CUSTDB_DUCKDB_LIB; "" when neither is set.
std::string duckdb_library(const Args& a);

// DuckDB's settings for the benchmark: threads = 2 (the machine's cores).
constexpr const char* kDuckThreads = "2";

// Creates the tables and loads `csv` into an empty database: transactions, tags and
// relationships by COPY ... FROM (DuckDB's CSV reader), customers by INSERT ... SELECT from
// read_csv joined with the transactions' per-customer aggregates; then the indexes (customers'
// primary key is declared with the table; email, customer_tags(customer_id),
// transactions(customer_id)) and a CHECKPOINT, so the file holds everything. Returns seconds.
double load_duckdb(DuckDb& db, const CsvBase& csv);

// The same load without CSV files: the generator's rows go through DuckDB's appender into the
// tables (customers through a staging table of the CSV's columns, then the same INSERT ...
// SELECT with the aggregates), then the same indexes and CHECKPOINT. Generation is timed, as in
// the other engines' loads. Returns seconds.
double load_duckdb_appender(DuckDb& db, const Args& a);

}  // namespace custdb::bench
