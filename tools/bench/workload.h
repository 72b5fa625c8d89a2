// What the SQL suites share on the custdb side: the segment list (with its SQL translation),
// opening a custdb database for a benchmark, and loading the synthetic base into it.
#pragma once

#include <string>
#include <vector>

#include "bench.h"
#include "custdb/database.h"

namespace custdb::bench {

// The day `age` is computed on, in custdb (SegmentOptions::as_of) and in the SQL translation.
Date as_of();

// A representative segment: custdb's query text and the SQL WHERE clause over the schema of
// sql_engine.h that selects the same customers.
struct Segment {
  std::string name, query, sql_where;
};
std::vector<Segment> segments();

constexpr std::uint64_t kLoadBatch = 10'000;  // customers (with their transactions) a commit
constexpr std::uint8_t kRawKeyByte = 0x42;    // the raw 256-bit key is 32 of these bytes

// A fresh database in `path` (whatever is there is removed). Encrypted: the raw 32-byte key,
// so no passphrase stretching. The map starts at 1 GiB and grows by itself.
Database open_custdb(const fs::path& path, bool encrypted, SyncMode sync, bool fresh = true);

// Loads customers 1..a.customers, each with a.txns_per_customer transactions (every insert
// updates the customer's aggregates and the indexes), kLoadBatch customers a write
// transaction, then the generator's relationships, kLoadBatch a write transaction. Samples the
// heap after every commit.
LoadStats load_custdb(Database& db, const Args& a, const std::string& label);

// After the load, like a scoring run: writes the generator's scores (synthetic.h,
// Generator::scores) of customers 1..a.customers, kLoadBatch customers a write transaction,
// through the door score_customers uses (scores are read-only to the public API). Returns
// seconds.
double write_scores_custdb(Database& db, const Args& a);

}  // namespace custdb::bench
