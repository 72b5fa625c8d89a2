// The batched paths (detail::add_transactions and detail::insert_customers, used by the bulk
// import) against WriteTxn::add_transaction and insert_customer one row at a time: the same results row by row (ids, refusals and
// their messages), the same customers (aggregates), records, counters and segment answers,
// a clean check; and through import, a bad row mid-batch leaves nothing half-written.
#include <map>
#include <random>
#include <sstream>

#include "custdb/io.h"
#include "custdb/money.h"
#include "custdb/query.h"
#include "engine/batch_access.h"
#include "random_data.h"
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;
namespace cio = custdb::io;

namespace {

// One row's outcome, comparable across the two paths.
struct Outcome {
  bool ok = false;
  TransactionId id = 0;
  ErrorCode code{};
  std::string message;
  bool operator==(const Outcome&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  if (o.ok) return os << "id " << o.id;
  return os << to_string(o.code) << ": " << o.message;
}

Outcome outcome(const Result<TransactionId>& r) {
  if (r) return {true, *r, ErrorCode{}, ""};
  return {false, 0, r.error().code(), r.error().message()};
}

// Rows of every kind the batch must treat as the one-by-one calls do: customers touched many
// times in an unsorted order, automatic and given ids (taken before, taken earlier in the
// batch, beyond the counter), missing customers, invalid fields, a foreign currency without a
// base amount, lower-case currencies (canonicalized), negative amounts.
std::vector<Transaction> random_rows(std::mt19937& r, std::size_t n, CustomerId customers) {
  std::vector<Transaction> rows;
  for (std::size_t i = 0; i < n; ++i) {
    // Mostly runs of one customer (an export's order), now and then any customer.
    CustomerId c = r() % 3 ? 1 + (i / 4) % customers : 1 + r() % customers;
    Transaction t = random_txn(r, c);
    switch (r() % 20) {
      case 0: t.customer_id = customers + 1 + r() % 3; break;        // no such customer
      case 1: t.id = 1 + r() % (n + 20); break;                      // a given id, maybe taken
      case 2: t.id = 1000 + r() % 5; break;                          // beyond the counter
      case 3: t.currency = "usd"; break;                              // canonicalized
      case 4: t.currency = "EUR"; break;                              // needs base_amount
      case 5: t.currency = "EUR"; t.base_amount = t.amount / 2; break;
      case 6: t.amount = std::int64_t{2'000'000'000'000'000}; break;  // above 10^15
      case 7: t.product = std::string(300, 'p'); break;              // too long
      case 8: t.customer_id = 0; break;                              // required
      default: break;
    }
    rows.push_back(std::move(t));
  }
  return rows;
}

Database with_customers(Mode mode, const fs::path& dir, std::uint32_t seed, CustomerId n) {
  Database db = open_db(mode, dir);
  std::mt19937 r(seed);
  auto txn = must(db.begin_write());
  for (CustomerId i = 1; i <= n; ++i) {
    Customer c = random_customer(r);
    c.id = i;
    must(txn.insert_customer(std::move(c)));
  }
  // A few transactions stored before the batch (ids 1..5 taken).
  for (int k = 0; k < 5; ++k) must(txn.add_transaction(random_txn(r, 1 + k % n)));
  must(txn.commit());
  return db;
}

std::vector<Customer> all_customers(const Database& db) {
  std::vector<Customer> out;
  auto txn = must(db.begin_read());
  must(txn.for_each_customer([&](const Customer& c) {
    out.push_back(c);
    return true;
  }));
  return out;
}

std::vector<Transaction> all_transactions(const Database& db) {
  std::vector<Transaction> out;
  auto txn = must(db.begin_read());
  must(txn.for_each_transaction([&](const Transaction& t) {
    out.push_back(t);
    return true;
  }));
  return out;
}

// Segment answers that read the aggregate postings.
std::vector<std::uint64_t> segment_counts(const Database& db) {
  std::vector<std::uint64_t> out;
  auto txn = must(db.begin_read());
  for (const char* q : {"txn_count >= 3", "txn_count = 0", "total_amount > 1000.00",
                        "total_amount < 0", "last_txn_at >= 2025-01-01",
                        "first_txn_at < 2023-06-01 and tier = gold"})
    out.push_back(must(txn.count(must(query::parse(q, query::parse_options_for("USD"))))));
  return out;
}

void require_same(const Database& a, const Database& b) {
  auto ca = all_customers(a), cb = all_customers(b);
  BOOST_TEST_REQUIRE(ca.size() == cb.size());
  for (std::size_t i = 0; i < ca.size(); ++i) {
    BOOST_TEST(ca[i].aggregates.txn_count == cb[i].aggregates.txn_count);
    BOOST_TEST(ca[i].aggregates.total_amount == cb[i].aggregates.total_amount);
    BOOST_TEST((ca[i].aggregates.first_txn_at == cb[i].aggregates.first_txn_at));
    BOOST_TEST((ca[i].aggregates.last_txn_at == cb[i].aggregates.last_txn_at));
    // Everything else too; updated_at is the time each database stored the customer.
    Customer same = cb[i];
    same.updated_at = ca[i].updated_at;
    BOOST_TEST((ca[i] == same), "customer " << ca[i].id);
  }
  auto ta = all_transactions(a), tb = all_transactions(b);
  BOOST_TEST_REQUIRE(ta.size() == tb.size());
  for (std::size_t i = 0; i < ta.size(); ++i) BOOST_TEST((ta[i] == tb[i]), "transaction " << ta[i].id);
  BOOST_TEST(segment_counts(a) == segment_counts(b), boost::test_tools::per_element());
  require_clean(a);
  require_clean(b);
}

// The id the next automatic transaction gets: the counters agree.
TransactionId next_auto_id(Database& db) {
  auto txn = must(db.begin_write());
  TransactionId id = must(txn.add_transaction(sample_txn(1, 1, "2025-03-03")));
  txn.abort();
  return id;
}

std::string amount_text(std::int64_t minor) { return format_amount(minor, "USD"); }

}  // namespace

BOOST_AUTO_TEST_SUITE(batch_import)

BOOST_DATA_TEST_CASE(batch_matches_one_by_one, kModes, mode) {
  TempDir dir;
  constexpr CustomerId kCustomers = 40;
  Database one = with_customers(mode, dir / "one", 11, kCustomers);
  Database batch = with_customers(mode, dir / "batch", 11, kCustomers);
  std::mt19937 r(20261130);
  const std::vector<Transaction> rows = random_rows(r, 600, kCustomers);

  // One by one, in two write transactions.
  std::vector<Outcome> expected;
  for (std::size_t part : {0, 1}) {
    auto txn = must(one.begin_write());
    for (std::size_t i = part * 300; i < (part + 1) * 300; ++i)
      expected.push_back(outcome(txn.add_transaction(rows[i])));
    must(txn.commit());
  }
  // Batches of varied sizes (1, a few, many), several per write transaction.
  std::vector<Outcome> got;
  std::size_t at = 0;
  std::vector<Result<TransactionId>> results;
  for (std::size_t part : {0, 1}) {
    auto txn = must(batch.begin_write());
    while (at < (part + 1) * 300) {
      const std::size_t size = std::min<std::size_t>((part + 1) * 300 - at, 1 + r() % 130);
      std::vector<Transaction> chunk(rows.begin() + at, rows.begin() + at + size);
      must(detail::add_transactions(txn, chunk, results));
      BOOST_TEST_REQUIRE(results.size() == size);
      for (std::size_t i = 0; i < size; ++i) {
        got.push_back(outcome(results[i]));
        if (results[i]) BOOST_TEST(chunk[i].id == *results[i]);  // given back in place
      }
      at += size;
    }
    must(txn.commit());
  }
  BOOST_TEST_REQUIRE(got.size() == expected.size());
  std::size_t refused = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    BOOST_TEST(got[i] == expected[i], "row " << i);
    refused += !expected[i].ok;
  }
  // The rows exercise both sides.
  BOOST_TEST(refused > 30u);
  BOOST_TEST(refused < 300u);
  require_same(one, batch);
  BOOST_TEST(next_auto_id(one) == next_auto_id(batch));
}

// Through a file: an all-or-nothing import whose bad row lies past several batches stores
// nothing; skipping bad rows gives what one-by-one calls give, batches spanning commits.
BOOST_DATA_TEST_CASE(import_bad_row_mid_batch, kModes, mode) {
  TempDir dir;
  constexpr CustomerId kCustomers = 30;
  Database one = with_customers(mode, dir / "one", 5, kCustomers);
  Database imported = with_customers(mode, dir / "imported", 5, kCustomers);
  const auto before = all_customers(imported);

  // 20,000 rows (more than two import batches), customers interleaved, one bad row deep in.
  std::mt19937 r(7);
  std::vector<Transaction> rows;
  std::ostringstream csv;
  csv << "customer_id,ts,amount,currency\n";
  constexpr std::size_t kRows = 20000, kBad = 17000;
  for (std::size_t i = 0; i < kRows; ++i) {
    Transaction t = random_txn(r, 1 + r() % kCustomers);
    if (i == kBad) t.customer_id = kCustomers + 7;
    t.kind = TransactionKind::kPurchase;  // the import's defaults for the absent columns
    t.channel = Channel::kWeb;
    csv << t.customer_id << ',' << format_timestamp(t.ts) << ',' << amount_text(t.amount)
        << ",USD\n";
    rows.push_back(std::move(t));
  }
  std::istringstream all_or_nothing(csv.str());
  auto failed = cio::import_stream(imported, cio::Table::kTransactions, all_or_nothing,
                                   cio::Format::kCsv);
  BOOST_TEST_REQUIRE(!failed.has_value());
  BOOST_TEST(failed.error().message() ==
             "<stdin>:" + std::to_string(kBad + 2) + ": customer_id: customer " +
                 std::to_string(kCustomers + 7) + " does not exist");
  BOOST_TEST(must(must(imported.begin_read()).counts()).transactions == 5u);
  const auto after = all_customers(imported);
  BOOST_TEST_REQUIRE(after.size() == before.size());
  for (std::size_t i = 0; i < after.size(); ++i) BOOST_TEST((after[i] == before[i]));
  require_clean(imported);

  cio::ImportOptions skip;
  skip.skip_bad = true;
  skip.batch = 3001;  // commits that cut the import's own batches
  std::istringstream again(csv.str());
  auto report = must(cio::import_stream(imported, cio::Table::kTransactions, again,
                                        cio::Format::kCsv, skip));
  BOOST_TEST(report.imported == kRows - 1);
  BOOST_TEST_REQUIRE(report.bad.size() == 1u);
  BOOST_TEST(report.bad[0].line == kBad + 2);
  BOOST_TEST(report.bad[0].field == "customer_id");

  auto txn = must(one.begin_write());
  for (const Transaction& t : rows) (void)txn.add_transaction(t);
  must(txn.commit());
  require_same(one, imported);
}

// An aggregate that would overflow refuses exactly the row that overflows it; the customer's
// later rows that fit are accepted, as one by one.
BOOST_AUTO_TEST_CASE(overflow_refuses_the_row_that_overflows) {
  TempDir dir;
  Database one = with_customers(Mode::kPlain, dir / "one", 3, 2);
  Database batch = with_customers(Mode::kPlain, dir / "batch", 3, 2);
  constexpr std::int64_t kMax = 1'000'000'000'000'000;  // 10^15, the largest amount
  std::vector<Transaction> rows;
  // 9,224 × 10^15 > 2^63 - 1: the total overflows near the end; then a refund fits again.
  for (int i = 0; i < 9230; ++i) rows.push_back(sample_txn(1, kMax, "2025-01-01"));
  rows.push_back(sample_txn(1, -kMax, "2025-01-02"));
  rows.push_back(sample_txn(2, 5, "2025-01-03"));
  std::vector<Outcome> expected, got;
  auto t1 = must(one.begin_write());
  for (const auto& t : rows) expected.push_back(outcome(t1.add_transaction(t)));
  must(t1.commit());
  auto t2 = must(batch.begin_write());
  std::vector<Transaction> copy = rows;
  std::vector<Result<TransactionId>> results;
  must(detail::add_transactions(t2, copy, results));
  for (const auto& res : results) got.push_back(outcome(res));
  must(t2.commit());
  BOOST_TEST_REQUIRE(got.size() == expected.size());
  std::size_t overflowed = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    BOOST_TEST(got[i] == expected[i], "row " << i);
    overflowed += !expected[i].ok;
  }
  BOOST_TEST(overflowed > 0u);
  BOOST_TEST(expected.back().ok);
  BOOST_TEST(expected[expected.size() - 2].ok);  // the refund after the overflow
  require_same(one, batch);
}

// Customers: a batch gives what insert_customer one row at a time gives (ids automatic and
// given, taken before or earlier in the batch, external refs taken before or earlier in the
// batch, invalid fields), the same records, index lookups and segment answers.
BOOST_DATA_TEST_CASE(customer_batch_matches_one_by_one, kModes, mode) {
  TempDir dir;
  Database one = with_customers(mode, dir / "one", 4, 10);
  Database batch = with_customers(mode, dir / "batch", 4, 10);
  std::mt19937 r(99);
  std::vector<Customer> rows;
  for (int i = 0; i < 400; ++i) {
    Customer c = random_customer(r);
    switch (r() % 12) {
      case 0: c.id = 1 + r() % 40; break;                                // maybe taken
      case 1: c.id = 500 + r() % 5; break;                               // beyond the counter
      case 2: c.external_ref = "REF-" + std::to_string(r() % 30); break;  // maybe taken
      case 3: c.name.clear(); break;                                     // required
      case 4: c.email = "not an email"; break;
      case 5: c.email = " Mixed@Example.COM "; break;                    // normalized
      case 6: c.phone = "+1 555 0100 " + std::to_string(r() % 9); break;
      default: break;
    }
    rows.push_back(std::move(c));
  }
  std::vector<Outcome> expected, got;
  auto t1 = must(one.begin_write());
  for (const auto& c : rows) {
    auto id = t1.insert_customer(c);
    expected.push_back(id ? Outcome{true, *id, ErrorCode{}, ""}
                          : Outcome{false, 0, id.error().code(), id.error().message()});
  }
  must(t1.commit());
  auto t2 = must(batch.begin_write());
  std::vector<Result<CustomerId>> results;
  for (std::size_t at = 0; at < rows.size();) {
    const std::size_t size = std::min<std::size_t>(rows.size() - at, 1 + r() % 90);
    std::vector<Customer> chunk(rows.begin() + at, rows.begin() + at + size);
    must(detail::insert_customers(t2, chunk, results));
    BOOST_TEST_REQUIRE(results.size() == size);
    for (const auto& res : results)
      got.push_back(res ? Outcome{true, *res, ErrorCode{}, ""}
                        : Outcome{false, 0, res.error().code(), res.error().message()});
    at += size;
  }
  must(t2.commit());
  BOOST_TEST_REQUIRE(got.size() == expected.size());
  std::size_t refused = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    BOOST_TEST(got[i] == expected[i], "row " << i);
    refused += !expected[i].ok;
  }
  BOOST_TEST(refused > 20u);
  require_same(one, batch);
  // Index lookups agree too (external refs, normalized emails).
  auto r1 = must(one.begin_read()), r2 = must(batch.begin_read());
  for (int k = 0; k < 30; ++k) {
    const std::string ref = "REF-" + std::to_string(k);
    auto a = must(r1.find_by_external_ref(ref)), b = must(r2.find_by_external_ref(ref));
    BOOST_TEST(a.has_value() == b.has_value());
    if (a && b) BOOST_TEST(a->id == b->id);
  }
  BOOST_TEST(must(r1.find_by_email("mixed@example.com")).size() ==
             must(r2.find_by_email("mixed@example.com")).size());
  auto next_customer = [](Database& db) {
    auto txn = must(db.begin_write());
    CustomerId id = must(txn.insert_customer(sample_customer(1)));
    txn.abort();
    return id;
  };
  BOOST_TEST(next_customer(one) == next_customer(batch));
}

// A finished transaction is refused before anything is read.
BOOST_AUTO_TEST_CASE(finished_transaction_is_refused) {
  TempDir dir;
  Database db = with_customers(Mode::kPlain, dir / "db", 1, 1);
  auto txn = must(db.begin_write());
  must(txn.commit());
  std::vector<Transaction> rows{sample_txn(1, 1, "2025-01-01")};
  std::vector<Result<TransactionId>> results;
  auto s = detail::add_transactions(txn, rows, results);
  BOOST_TEST_REQUIRE(!s.has_value());
  BOOST_TEST((s.error().code() == ErrorCode::kFailedPrecondition));
  BOOST_TEST(results.empty());
}

BOOST_AUTO_TEST_SUITE_END()
