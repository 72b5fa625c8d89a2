// The small database whose data.mdb the raw-file fuzzer (fuzz/raw_file.cc) mutates, and whose
// bytes the regression tests (tests/fuzz_regression_test.cc) damage the same way: the whole-
// file reproducers in fuzz/findings/ hit the same page bytes only if both build exactly this.
// Deterministic: the synthetic generator's fixed stream, plaintext, no sync.
#pragma once

#include <filesystem>
#include <utility>

#include "custdb/database.h"
#include "synthetic.h"

namespace custdb::test {

inline constexpr int kRawFileCustomers = 30;

// Creates a database in `dir` (which must not hold one) with 30 synthetic customers, 0-4
// transactions each (i % 5 for customer i), the generator's relationships (refusals ignored),
// a custom "godparent" link 3 -> 4 and a EUR transaction of customer 2, committed. Returns the
// open database (close it before reading data.mdb), or the first error.
inline Result<Database> build_raw_file_database(const std::filesystem::path& dir) {
  Options o;
  o.sync = SyncMode::kNone;
  auto db = Database::open(dir, o);
  if (!db) return tl::unexpected(db.error());
  // The transaction ends before the database is handed over.
  auto fill = [&]() -> Status {
    synthetic::Generator gen;
    auto txn = db->begin_write();
    if (!txn) return tl::unexpected(txn.error());
    for (int i = 1; i <= kRawFileCustomers; ++i) {
      if (auto c = txn->insert_customer(gen.customer(static_cast<std::uint64_t>(i))); !c)
        return tl::unexpected(c.error());
      for (auto& t : gen.transactions(static_cast<CustomerId>(i), i % 5))
        if (auto s = txn->add_transaction(t); !s) return tl::unexpected(s.error());
    }
    for (auto& r : gen.relationships(kRawFileCustomers)) (void)txn->add_relationship(r);
    if (auto s = txn->add_relationship({0, 3, 4, RelationType::kCustom, "godparent", {}}); !s)
      return tl::unexpected(s.error());
    Transaction eur;
    eur.customer_id = 2;
    eur.ts = parse_timestamp("2025-02-02T12:00:00Z").value();
    eur.amount = 5000;
    eur.currency = "EUR";
    eur.base_amount = 5400;
    if (auto s = txn->add_transaction(eur); !s) return tl::unexpected(s.error());
    return txn->commit();
  };
  if (auto s = fill(); !s) return tl::unexpected(s.error());
  return std::move(*db);
}

}  // namespace custdb::test
