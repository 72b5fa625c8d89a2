// Transactions and the aggregates kept exact beside them.
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;

namespace {
Timestamp ts(const char* s) { return parse_timestamp(s).value(); }
}  // namespace

BOOST_AUTO_TEST_SUITE(transactions)

BOOST_DATA_TEST_CASE(aggregates_follow_insert_amend_remove, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  CustomerId a = must(db.insert_customer(sample_customer(1)));
  CustomerId b = must(db.insert_customer(sample_customer(2)));
  TransactionId t1, t2, t3;
  {
    auto txn = must(db.begin_write());
    t1 = must(txn.add_transaction(sample_txn(a, 1500, "2025-03-01T10:00:00Z")));
    t2 = must(txn.add_transaction(sample_txn(a, -250, "2025-01-15")));
    t3 = must(txn.add_transaction(sample_txn(a, 10000, "2025-06-30T23:59:59.999Z")));
    auto c = must(txn.get_customer(a)).value();  // a write txn reads its own writes
    BOOST_TEST(c.aggregates.txn_count == 3u);
    BOOST_TEST(c.aggregates.total_amount == 11250);
    BOOST_TEST((c.aggregates.first_txn_at == ts("2025-01-15")));
    BOOST_TEST((c.aggregates.last_txn_at == ts("2025-06-30T23:59:59.999Z")));
    must(txn.commit());
  }
  require_clean(db);
  {
    auto txn = must(db.begin_write());
    // Amend the last one to an earlier time: last_txn_at must fall back to t1's time.
    BOOST_TEST(must(txn.amend_transaction(t3, [](Transaction& t) {
      t.ts = ts("2024-12-31");
      t.amount = 50;
    })));
    auto c = must(txn.get_customer(a)).value();
    BOOST_TEST(c.aggregates.total_amount == 1300);
    BOOST_TEST((c.aggregates.first_txn_at == ts("2024-12-31")));
    BOOST_TEST((c.aggregates.last_txn_at == ts("2025-03-01T10:00:00Z")));
    // Move t1 to customer b.
    BOOST_TEST(must(txn.amend_transaction(t1, [&](Transaction& t) { t.customer_id = b; })));
    c = must(txn.get_customer(a)).value();
    auto cb = must(txn.get_customer(b)).value();
    BOOST_TEST(c.aggregates.txn_count == 2u);
    BOOST_TEST(c.aggregates.total_amount == -200);
    BOOST_TEST((c.aggregates.last_txn_at == ts("2025-01-15")));
    BOOST_TEST(cb.aggregates.txn_count == 1u);
    BOOST_TEST(cb.aggregates.total_amount == 1500);
    BOOST_TEST(must(txn.remove_transaction(t2)));
    BOOST_TEST(!must(txn.remove_transaction(t2)));
    BOOST_TEST(must(txn.remove_transaction(t3)));
    c = must(txn.get_customer(a)).value();
    BOOST_TEST((c.aggregates == Aggregates{}));
    BOOST_TEST(!must(txn.amend_transaction(t3, [](Transaction&) {})));
    must(txn.commit());
  }
  require_clean(db);
}

BOOST_DATA_TEST_CASE(history_in_time_order_and_ranges, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  CustomerId a = must(db.insert_customer(sample_customer(1)));
  CustomerId other = must(db.insert_customer(sample_customer(2)));
  const char* times[] = {"2025-05-01", "2025-01-01", "2025-03-01", "2025-03-01", "2025-12-31"};
  auto txn = must(db.begin_write());
  for (int i = 0; i < 5; ++i) must(txn.add_transaction(sample_txn(a, 100 + i, times[i])));
  must(txn.add_transaction(sample_txn(other, 7, "2025-02-01")));
  must(txn.commit());
  auto read = must(db.begin_read());
  auto all = must(read.transactions_of(a));
  BOOST_TEST_REQUIRE(all.size() == 5u);
  for (std::size_t i = 1; i < all.size(); ++i) {
    BOOST_TEST(all[i - 1].ts <= all[i].ts);
    if (all[i - 1].ts == all[i].ts) BOOST_TEST(all[i - 1].id < all[i].id);
  }
  auto range = must(read.transactions_of(a, ts("2025-03-01"), ts("2025-05-01")));
  BOOST_TEST_REQUIRE(range.size() == 2u);  // from inclusive, to exclusive
  BOOST_TEST(range[0].amount == 102);
  BOOST_TEST(range[1].amount == 103);
  BOOST_TEST(must(read.transactions_of(a, ts("2026-01-01"))).empty());
  BOOST_TEST(must(read.transactions_of(a, std::nullopt, ts("2025-01-02"))).size() == 1u);
  BOOST_TEST(must(read.transactions_of(999)).empty());
}

BOOST_DATA_TEST_CASE(rules_and_currencies, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path(), Options{.base_currency = "EUR"});
  CustomerId a = must(db.insert_customer(sample_customer(1)));
  auto txn = must(db.begin_write());
  auto fails = [&](Transaction t, ErrorCode code, const char* field) {
    auto r = txn.add_transaction(t);
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST((r.error().code() == code));
    BOOST_TEST(r.error().message().rfind(field, 0) == 0u, r.error().message());
  };
  Transaction usd = sample_txn(a, 1000, "2025-01-01");  // USD in an EUR database
  fails(usd, ErrorCode::kInvalidArgument, "base_amount");
  Transaction t = sample_txn(999, 1, "2025-01-01");
  t.currency = "EUR";
  fails(t, ErrorCode::kFailedPrecondition, "customer_id");
  t = sample_txn(a, 1, "2025-01-01");
  t.currency = "EURO";
  fails(t, ErrorCode::kInvalidArgument, "currency");
  t = sample_txn(a, kMaxAmount + 1, "2025-01-01");
  t.currency = "EUR";
  fails(t, ErrorCode::kInvalidArgument, "amount");
  t = sample_txn(a, 1, "2025-01-01");
  t.currency = "EUR";
  t.kind = static_cast<TransactionKind>(20);
  fails(t, ErrorCode::kInvalidArgument, "kind");
  t.kind = TransactionKind::kLoan;
  t.channel = static_cast<Channel>(9);
  fails(t, ErrorCode::kInvalidArgument, "channel");

  usd.base_amount = 920;  // converted by the application
  TransactionId id = must(txn.add_transaction(usd));
  Transaction eur = sample_txn(a, 500, "2025-01-02");
  eur.currency = "eur";
  eur.base_amount = 1;  // the base currency: must equal amount (it was silently replaced)
  fails(eur, ErrorCode::kInvalidArgument, "base_amount");
  eur.base_amount.reset();  // absent: the amount
  must(txn.add_transaction(eur));
  auto c = must(txn.get_customer(a)).value();
  BOOST_TEST(c.aggregates.total_amount == 1420);
  auto stored = must(txn.get_transaction(id)).value();
  BOOST_TEST(stored.amount == 1000);
  BOOST_TEST(stored.currency == "USD");
  BOOST_TEST(*stored.base_amount == 920);
  must(txn.commit());
  require_clean(db);
}

BOOST_DATA_TEST_CASE(total_overflow_is_rejected, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  CustomerId a = must(db.insert_customer(sample_customer(1)));
  auto txn = must(db.begin_write());
  int added = 0;
  for (;; ++added) {
    auto r = txn.add_transaction(sample_txn(a, kMaxAmount, "2025-01-01"));
    if (!r) {
      BOOST_TEST((r.error().code() == ErrorCode::kInvalidArgument));
      break;
    }
  }
  BOOST_TEST(added == 9223);
  must(txn.commit());
  require_clean(db);
}

BOOST_AUTO_TEST_SUITE_END()
