// Fuzz target import_rows: the bytes as a CSV or JSON Lines file for one table, imported with
// io::import_stream (custdb/io.h) into a small database.
//
// Input: [0] format: even CSV, odd JSON Lines  [1] options  [2..] the file
//   byte 1: table = byte % 3 (customers, relationships, transactions); bit 2: skip_bad;
//           bits 3-4: batch size 1..4 (skip_bad only)
//
// The database starts every input in the same state: five customers (ids 1..5, external refs
// R1..R5, emails c<i>@x.io), a few transactions and one relationship, restored from a copy of
// its data.mdb whenever an input may have changed it. Properties:
// - nothing crashes; import returns a report or an error;
// - without skip_bad an import is all or nothing: a failure is kInvalidArgument and leaves the
//   tables as they were; a success stores every row (no bad rows);
// - with skip_bad, rows = imported + bad rows, failures are only kInvalidArgument (the header);
// - the table grows by exactly `imported` records;
// - afterwards Database::check() is clean, and exporting the table (CSV and JSON Lines) works.
#include <sstream>

#include "custdb/check.h"
#include "custdb/database.h"
#include "custdb/io.h"
#include "fuzz_util.h"

using namespace custdb;
using custdb::fuzz::must;

namespace {

void seed(Database& db) {
  auto txn = must(db.begin_write(), "begin_write");
  for (int i = 1; i <= 5; ++i) {
    Customer c;
    c.id = static_cast<CustomerId>(i);
    c.name = "Seed " + std::to_string(i);
    c.external_ref = "R" + std::to_string(i);
    c.email = "c" + std::to_string(i) + "@x.io";
    c.tier = static_cast<Tier>(i % 5);
    c.address = {"Lyon", "east", "FR"};
    c.created_at = parse_timestamp("2024-01-01").value();
    must(txn.insert_customer(c), "insert_customer");
  }
  for (int i = 1; i <= 6; ++i) {
    Transaction t;
    t.customer_id = static_cast<CustomerId>(1 + i % 3);
    t.ts = parse_timestamp("2025-01-01").value() + std::chrono::hours(i);
    t.amount = 1000 * i;
    t.currency = "USD";
    must(txn.add_transaction(t), "add_transaction");
  }
  must(txn.add_relationship({0, 1, 2, RelationType::kHousehold, "", {}}), "add_relationship");
  must(txn.commit(), "commit");
}

Options options() {
  Options o;
  o.sync = SyncMode::kNone;
  return o;
}

struct State {
  fuzz::ScratchDir dir{"import"};
  std::vector<std::uint8_t> pristine;  // data.mdb of the seeded database
  std::optional<Database> db;
  bool dirty = false;

  State() {
    {
      Database d = must(Database::open(dir.path(), options()), "open");
      seed(d);
    }
    pristine = fuzz::read_file(dir.path() / "data.mdb");
    reopen();
  }
  void reopen() {
    db.reset();
    fuzz::remove_database_files(dir.path());
    fuzz::write_file(dir.path() / "data.mdb", pristine.data(), pristine.size());
    db.emplace(must(Database::open(dir.path(), options()), "reopen"));
    dirty = false;
  }
};

State& state() {
  static State s;
  return s;
}

std::uint64_t count_of(const TableCounts& c, io::Table t) {
  switch (t) {
    case io::Table::kCustomers: return c.customers;
    case io::Table::kRelationships: return c.relationships;
    case io::Table::kTransactions: return c.transactions;
  }
  return 0;
}

TableCounts counts(const Database& db) {
  auto txn = must(db.begin_read(), "begin_read");
  return must(txn.counts(), "counts");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  State& s = state();
  if (s.dirty) s.reopen();
  fuzz::Bytes in(data, size);
  const io::Format format = in.u8() % 2 ? io::Format::kJsonLines : io::Format::kCsv;
  const std::uint8_t o = in.u8();
  const io::Table table = static_cast<io::Table>(o % 3);
  io::ImportOptions opts;
  opts.skip_bad = (o >> 2) & 1;
  opts.batch = 1 + ((o >> 3) & 3);
  std::istringstream file{std::string(in.rest())};

  Database& db = *s.db;
  const TableCounts before = counts(db);
  auto report = io::import_stream(db, table, file, format, opts);
  const TableCounts after = counts(db);
  if (fuzz::tracing()) {
    if (report)
      std::fprintf(stderr, "import: %llu rows, %llu imported, %zu bad%s%s\n",
                   (unsigned long long)report->rows, (unsigned long long)report->imported,
                   report->bad.size(), report->bad.empty() ? "" : "; first: ",
                   report->bad.empty() ? "" : report->bad[0].reason.c_str());
    else
      std::fprintf(stderr, "import: %s\n", report.error().to_string().c_str());
  }
  if (!report) {
    FUZZ_CHECK(report.error().code() == ErrorCode::kInvalidArgument, "import failed with %s",
               report.error().to_string().c_str());
    if (!opts.skip_bad) {
      FUZZ_CHECK(after.customers == before.customers &&
                     after.relationships == before.relationships &&
                     after.transactions == before.transactions,
                 "a failed all-or-nothing import stored rows: %s",
                 report.error().to_string().c_str());
    } else {
      s.dirty = true;  // batches committed before the failure stay
    }
  } else {
    s.dirty = true;
    FUZZ_CHECK(report->rows == report->imported + report->bad.size(),
               "rows %llu != imported %llu + bad %zu", (unsigned long long)report->rows,
               (unsigned long long)report->imported, report->bad.size());
    FUZZ_CHECK(opts.skip_bad || report->bad.empty(), "bad rows without skip_bad");
    FUZZ_CHECK(count_of(after, table) == count_of(before, table) + report->imported,
               "the table grew by %llu, the report says %llu imported",
               (unsigned long long)(count_of(after, table) - count_of(before, table)),
               (unsigned long long)report->imported);
  }
  auto check = must(db.check(), "check");
  if (!check.clean()) {
    for (const auto& p : check.problems)
      std::fprintf(stderr, "%s in %s: %s\n", to_string(p.kind).c_str(), p.where.c_str(),
                   p.what.c_str());
    FUZZ_CHECK(check.clean(), "check() found %zu problems after an import",
               check.problems.size());
  }
  if (s.dirty) {
    for (io::Format f : {io::Format::kCsv, io::Format::kJsonLines}) {
      std::ostringstream out;
      io::ExportOptions eo;
      eo.reveal = true;
      must(io::export_table(db, table, out, f, eo), "export_table");
    }
  }
  return 0;
}
