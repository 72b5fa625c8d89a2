// Issue #18, builder A: the holdings engine through the public API. Holdings insert/get/
// holdings_of with the customer's HoldingAggregates, validation messages, postings moving
// balances exactly (and back on amend/remove), statements and their ordering, remove
// restrict/cascade, delete_customer restrict/cascade, the batch path with move_balances, the
// account_ref blind index, both storage modes, check() clean.

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <random>

#include "custdb/database.h"
#include "engine/batch_access.h"
#include "engine/holding_math.h"
#include "test_util.h"

using namespace custdb;
namespace fs = std::filesystem;
using test::must;

namespace {

Date day(int y, unsigned m, unsigned d) {
  return Date{std::chrono::year{y} / std::chrono::month{m} / std::chrono::day{d}};
}

Holding holding(CustomerId c, ProductType t, std::int64_t balance, std::string ref = {}) {
  Holding h;
  h.customer_id = c;
  h.product_type = t;
  h.currency = "USD";
  h.balance = balance;
  h.account_ref = std::move(ref);
  h.opened_on = day(2020, 1, 1);
  return h;
}

Transaction posting(CustomerId c, HoldingId h, std::int64_t amount, int n = 1) {
  Transaction t;
  t.customer_id = c;
  t.ts = Timestamp{std::chrono::milliseconds{1'600'000'000'000LL + n * 1000LL}};
  t.amount = amount;
  t.currency = "USD";
  t.holding_id = h;
  return t;
}

CustomerId add_customer(Database& db, std::string name) {
  Customer c;
  c.name = std::move(name);
  return must(db.insert_customer(c));
}

std::string error_of(const auto& r) { return r ? std::string() : r.error().message(); }

// The customer's aggregates equal a recount from its holdings.
void expect_recount(const Database& db, CustomerId id) {
  auto txn = must(db.begin_read());
  auto c = must(txn.get_customer(id));
  BOOST_TEST_REQUIRE(c.has_value());
  auto hs = must(txn.holdings_of(id));
  BOOST_TEST((c->holdings == detail::holding_aggregates(hs)));
}

// Each holding's balance / posted equal the sums over its postings (started at `start`).
void expect_posted(const Database& db, HoldingId id, std::int64_t start) {
  auto txn = must(db.begin_read());
  auto h = must(txn.get_holding(id));
  BOOST_TEST_REQUIRE(h.has_value());
  auto ps = must(txn.postings_of(id));
  std::int64_t sum = 0;
  for (const auto& t : ps) sum += t.amount;
  BOOST_TEST(h->posted == sum);
  BOOST_TEST(h->postings == ps.size());
  BOOST_TEST(h->balance == start + sum);
}

void expect_clean(const Database& db) {
  auto report = must(db.check());
  for (const auto& p : report.problems) BOOST_TEST_MESSAGE(p.where << ": " << p.what);
  BOOST_TEST(report.clean());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(holdings)

BOOST_DATA_TEST_CASE(insert_get_and_aggregates, test::kModes, mode) {
  test::TempDir dir;
  auto db = test::open_db(mode, dir.path());
  const CustomerId c = add_customer(db, "Ada");
  const HoldingId dep = must(db.insert_holding(holding(c, ProductType::kDeposit, 50'000, " DE-1234 ")));
  auto fund = holding(c, ProductType::kFund, 100'000);
  fund.opened_on = day(2018, 5, 1);
  const HoldingId f = must(db.insert_holding(fund));
  auto card = holding(c, ProductType::kCreditCard, 7'000);
  card.credit_limit = 500'000;
  const HoldingId cc = must(db.insert_holding(card));
  auto closed = holding(c, ProductType::kMortgage, 9'999'999);
  closed.status = HoldingStatus::kClosed;
  closed.closed_on = day(2021, 1, 1);
  must(db.insert_holding(closed));
  auto other = holding(c, ProductType::kCustom, 1);
  other.custom_type = " Crypto ";
  other.status = HoldingStatus::kDormant;
  must(db.insert_holding(other));

  auto got = must(db.get_holding(dep));
  BOOST_TEST_REQUIRE(got.has_value());
  BOOST_TEST(got->account_ref == "DE-1234");  // trimmed
  BOOST_TEST((got->base_balance == std::optional<std::int64_t>(50'000)));
  BOOST_TEST(got->customer_id == c);

  auto cust = must(db.get_customer(c));
  BOOST_TEST(cust->holdings.aum == 150'000);
  BOOST_TEST(cust->holdings.liabilities == 7'000);
  BOOST_TEST(cust->holdings.products == 3u);
  BOOST_TEST(cust->holdings.holdings == 5u);
  BOOST_TEST((cust->holdings.types_held ==
              std::vector<std::string>{"credit_card", "crypto", "deposit", "fund"}));
  BOOST_TEST((cust->holdings.first_product_on == std::optional<Date>(day(2018, 5, 1))));
  expect_recount(db, c);
  {
    auto txn = must(db.begin_read());
    auto by_ref = must(txn.find_holding_by_account_ref("DE-1234"));
    BOOST_TEST_REQUIRE(by_ref.has_value());
    BOOST_TEST(by_ref->id == dep);
    BOOST_TEST(!must(txn.find_holding_by_account_ref("nope")).has_value());
    BOOST_TEST(must(txn.counts()).holdings == 5u);
    std::size_t n = 0;
    must(txn.for_each_holding([&](const Holding&) { return ++n, true; }));
    BOOST_TEST(n == 5u);
  }
  // Status change recounts.
  must(db.write([&](WriteTxn& w) -> Status {
    auto r = w.update_holding(cc, [](Holding& h) {
      h.status = HoldingStatus::kClosed;
      h.closed_on = day(2024, 2, 2);
    });
    if (!r) return tl::unexpected(r.error());
    return {};
  }));
  cust = must(db.get_customer(c));
  BOOST_TEST(cust->holdings.liabilities == 0);
  BOOST_TEST(cust->holdings.products == 2u);
  expect_recount(db, c);
  // The engine fields are refused by update_customer and insert_customer.
  auto w = must(db.begin_write());
  auto r = w.update_customer(c, [](Customer& x) { x.holdings.aum = 1; });
  BOOST_TEST(error_of(r).starts_with("holdings:"));
  w.abort();
  Customer fresh;
  fresh.name = "x";
  fresh.holdings.products = 1;
  BOOST_TEST(error_of(db.insert_customer(fresh)).starts_with("holdings:"));
  (void)f;
  expect_clean(db);
}

BOOST_DATA_TEST_CASE(validation_messages, test::kModes, mode) {
  test::TempDir dir;
  auto db = test::open_db(mode, dir.path());
  const CustomerId c = add_customer(db, "Ada");
  auto expect = [&](Holding h, std::string prefix, ErrorCode code = ErrorCode::kInvalidArgument) {
    auto r = db.insert_holding(std::move(h));
    BOOST_TEST_REQUIRE(!r.has_value(), prefix);
    BOOST_TEST(r.error().message().starts_with(prefix), r.error().message());
    BOOST_TEST((r.error().code() == code), r.error().message());
  };
  auto h = holding(c, ProductType::kDeposit, 1);
  h.opened_on.reset();
  expect(h, "opened_on: required");
  h = holding(c, ProductType::kDeposit, 1);
  h.credit_limit = 5;
  expect(h, "credit_limit:");
  h = holding(c, ProductType::kDeposit, 1);
  h.status = HoldingStatus::kClosed;
  expect(h, "closed_on: required when status is closed");
  h = holding(c, ProductType::kDeposit, 1);
  h.closed_on = day(2021, 1, 1);
  expect(h, "closed_on: only a closed holding has one");
  h = holding(c, ProductType::kDeposit, 1);
  h.currency = "XYZ";
  expect(h, "currency:");
  h = holding(c, ProductType::kDeposit, 1);
  h.currency = "EUR";
  expect(h, "base_balance: required");
  h = holding(c, ProductType::kDeposit, kMaxAmount + 1);
  expect(h, "balance:");
  h = holding(c, ProductType::kDeposit, 1);
  h.base_balance = 2;
  expect(h, "base_balance:");
  h = holding(c, ProductType::kCustom, 1);
  expect(h, "product_type:");
  h = holding(c, ProductType::kCustom, 1);
  h.custom_type = "mortgage";
  expect(h, "product_type:");
  h = holding(c, ProductType::kDeposit, 1);
  h.posted = 3;
  expect(h, "posted:");
  h = holding(c, ProductType::kDeposit, 1);
  h.balance_as_of = day(2020, 1, 1);
  expect(h, "balance_as_of:");
  h = holding(c, ProductType::kDeposit, 1);
  h.account_ref = std::string(65, 'a');
  expect(h, "account_ref:");
  h = holding(c + 100, ProductType::kDeposit, 1);
  expect(h, "customer_id: customer", ErrorCode::kFailedPrecondition);
  const HoldingId id = must(db.insert_holding(holding(c, ProductType::kDeposit, 1, "REF-1")));
  h = holding(c, ProductType::kDeposit, 1, "REF-1");
  expect(h, "account_ref:", ErrorCode::kAlreadyExists);
  h = holding(c, ProductType::kDeposit, 1);
  h.id = id;
  expect(h, "id: holding", ErrorCode::kAlreadyExists);
  // A foreign-currency holding with its base value.
  h = holding(c, ProductType::kSavings, 1000);
  h.currency = "eur";
  h.base_balance = 1100;
  const HoldingId eur = must(db.insert_holding(h));
  BOOST_TEST(must(db.get_holding(eur))->currency == "EUR");
  BOOST_TEST(must(db.get_customer(c))->holdings.aum == 1101);
  // update_holding refuses engine fields and a customer change.
  auto w = must(db.begin_write());
  BOOST_TEST(error_of(w.update_holding(id, [](Holding& x) { x.customer_id = 99; }))
                 .starts_with("customer_id:"));
  BOOST_TEST(error_of(w.update_holding(id, [](Holding& x) { x.postings = 2; })).starts_with("postings:"));
  BOOST_TEST(!must(w.update_holding(9999, [](Holding&) {})));
  w.abort();
  expect_clean(db);
}

BOOST_DATA_TEST_CASE(postings_move_balances_exactly, test::kModes, mode) {
  test::TempDir dir;
  auto db = test::open_db(mode, dir.path());
  const CustomerId a = add_customer(db, "A"), b = add_customer(db, "B");
  const HoldingId ha = must(db.insert_holding(holding(a, ProductType::kDeposit, 1000)));
  const HoldingId ha2 = must(db.insert_holding(holding(a, ProductType::kCreditCard, 0)));
  const HoldingId hb = must(db.insert_holding(holding(b, ProductType::kSavings, 0)));
  const TransactionId t1 = must(db.add_transaction(posting(a, ha, 250, 1)));
  const TransactionId t2 = must(db.add_transaction(posting(a, ha, -100, 2)));
  must(db.add_transaction(posting(a, ha2, 40, 3)));
  expect_posted(db, ha, 1000);
  expect_posted(db, ha2, 0);
  BOOST_TEST(must(db.get_customer(a))->holdings.aum == 1150);
  BOOST_TEST(must(db.get_customer(a))->holdings.liabilities == 40);
  expect_recount(db, a);
  // Refusals: wrong customer, missing holding, closed holding, currency.
  BOOST_TEST(error_of(db.add_transaction(posting(b, ha, 1))).starts_with("holding_id:"));
  auto r = db.add_transaction(posting(a, 777, 1));
  BOOST_TEST((r.error().code() == ErrorCode::kFailedPrecondition));
  auto eur = posting(a, ha, 1);
  eur.currency = "EUR";
  eur.base_amount = 1;
  BOOST_TEST(error_of(db.add_transaction(eur)).starts_with("holding_id:"));
  auto huge = posting(a, ha, kMaxAmount);
  BOOST_TEST(error_of(db.add_transaction(huge)).starts_with("balance:"));
  // Amend: the amount, then onto another holding, then to another customer's holding.
  must(db.write([&](WriteTxn& w) -> Status {
    if (auto x = w.amend_transaction(t1, [](Transaction& t) { t.amount = 300; }); !x)
      return tl::unexpected(x.error());
    if (auto x = w.amend_transaction(t2, [&](Transaction& t) { t.holding_id = ha2; }); !x)
      return tl::unexpected(x.error());
    return {};
  }));
  expect_posted(db, ha, 1000);
  expect_posted(db, ha2, 0);
  BOOST_TEST(must(db.get_holding(ha))->balance == 1300);
  BOOST_TEST(must(db.get_holding(ha2))->balance == -60);
  expect_recount(db, a);
  must(db.write([&](WriteTxn& w) -> Status {
    auto x = w.amend_transaction(t1, [&](Transaction& t) {
      t.customer_id = b;
      t.holding_id = hb;
    });
    if (!x) return tl::unexpected(x.error());
    return {};
  }));
  expect_posted(db, ha, 1000);
  expect_posted(db, hb, 0);
  BOOST_TEST(must(db.get_customer(b))->holdings.aum == 300);
  expect_recount(db, a);
  expect_recount(db, b);
  // Remove moves back; detaching via amend too.
  must(db.write([&](WriteTxn& w) -> Status {
    if (auto x = w.remove_transaction(t1); !x) return tl::unexpected(x.error());
    if (auto x = w.amend_transaction(t2, [](Transaction& t) { t.holding_id.reset(); }); !x)
      return tl::unexpected(x.error());
    return {};
  }));
  BOOST_TEST(must(db.get_holding(hb))->balance == 0);
  BOOST_TEST(must(db.get_holding(ha2))->balance == 40);
  expect_posted(db, ha2, 0);
  expect_recount(db, a);
  expect_recount(db, b);
  // A closed holding takes no new posting.
  must(db.write([&](WriteTxn& w) -> Status {
    auto x = w.update_holding(hb, [](Holding& h) {
      h.status = HoldingStatus::kClosed;
      h.closed_on = day(2024, 1, 1);
    });
    if (!x) return tl::unexpected(x.error());
    return {};
  }));
  r = db.add_transaction(posting(b, hb, 5));
  BOOST_TEST((r.error().code() == ErrorCode::kFailedPrecondition));
  expect_clean(db);
}

BOOST_DATA_TEST_CASE(batch_move_balances, test::kModes, mode) {
  test::TempDir dir;
  auto db = test::open_db(mode, dir.path());
  const CustomerId a = add_customer(db, "A");
  const HoldingId h = must(db.insert_holding(holding(a, ProductType::kDeposit, 500)));
  for (bool move : {true, false}) {
    std::vector<Transaction> rows;
    for (int i = 0; i < 5; ++i) rows.push_back(posting(a, h, 10 * (i + 1), i + (move ? 0 : 10)));
    rows.push_back(posting(a, 4242, 1, 50));  // refused: no such holding
    auto w = must(db.begin_write());
    std::vector<Result<TransactionId>> results;
    must(detail::add_transactions(w, rows, results, move));
    BOOST_TEST(results.size() == 6u);
    BOOST_TEST(!results[5].has_value());
    must(w.commit());
  }
  auto got = must(db.get_holding(h));
  BOOST_TEST(got->postings == 10u);
  BOOST_TEST(got->posted == 300);
  BOOST_TEST(got->balance == 650);  // only the first batch moved it
  BOOST_TEST(must(db.get_customer(a))->holdings.aum == 650);
  expect_recount(db, a);
  expect_clean(db);
}

BOOST_DATA_TEST_CASE(statements_and_removal, test::kModes, mode) {
  test::TempDir dir;
  auto db = test::open_db(mode, dir.path());
  const CustomerId a = add_customer(db, "A");
  const HoldingId h = must(db.insert_holding(holding(a, ProductType::kMortgage, 100'000, "M-1")));
  auto set = [&](std::int64_t bal, Date d) {
    auto w = must(db.begin_write());
    auto r = w.set_balance(h, StatementBalance{bal, std::nullopt, d});
    if (r) must(w.commit());
    return r;
  };
  BOOST_TEST(must(set(90'000, day(2024, 3, 31))));
  BOOST_TEST(must(set(90'000, day(2024, 3, 31))));  // the same again
  auto older = set(1, day(2024, 2, 29));
  BOOST_TEST((older.error().code() == ErrorCode::kFailedPrecondition));
  BOOST_TEST(must(db.get_holding(h))->balance == 90'000);
  BOOST_TEST((must(db.get_holding(h))->balance_as_of == std::optional<Date>(day(2024, 3, 31))));
  BOOST_TEST(must(db.get_customer(a))->holdings.liabilities == 90'000);
  must(db.add_transaction(posting(a, h, -1000)));
  BOOST_TEST(must(db.get_holding(h))->balance == 89'000);
  expect_recount(db, a);
  {
    auto w = must(db.begin_write());
    auto r = w.remove_holding(h);
    BOOST_TEST((r.error().code() == ErrorCode::kFailedPrecondition));
    auto d = w.delete_customer(a);
    BOOST_TEST((d.error().code() == ErrorCode::kFailedPrecondition));
    BOOST_TEST(must(w.remove_holding(h, DeleteMode::kCascade)));
    must(w.commit());
  }
  {
    auto txn = must(db.begin_read());
    BOOST_TEST(must(txn.transactions_of(a)).size() == 1u);
    BOOST_TEST(!must(txn.transactions_of(a))[0].holding_id.has_value());
    BOOST_TEST(must(txn.holdings_of(a)).empty());
    BOOST_TEST(!must(txn.find_holding_by_account_ref("M-1")).has_value());
  }
  BOOST_TEST((must(db.get_customer(a))->holdings == HoldingAggregates{}));
  // delete_customer cascade removes holdings and postings.
  const HoldingId h2 = must(db.insert_holding(holding(a, ProductType::kDeposit, 1, "D-9")));
  must(db.add_transaction(posting(a, h2, 7, 9)));
  must(db.write([&](WriteTxn& w) -> Status {
    auto d = w.delete_customer(a, DeleteMode::kCascade);
    if (!d) return tl::unexpected(d.error());
    return {};
  }));
  BOOST_TEST(!must(db.get_holding(h2)).has_value());
  {
    auto txn = must(db.begin_read());
    BOOST_TEST(must(txn.counts()).holdings == 0u);
    BOOST_TEST(!must(txn.find_holding_by_account_ref("D-9")).has_value());
  }
  expect_clean(db);
}

BOOST_DATA_TEST_CASE(random_postings_model, test::kModes, mode) {
  test::TempDir dir;
  auto db = test::open_db(mode, dir.path());
  std::mt19937_64 rng(18);
  std::vector<CustomerId> cs = {add_customer(db, "A"), add_customer(db, "B")};
  std::vector<std::pair<HoldingId, CustomerId>> hs;
  const ProductType types[] = {ProductType::kDeposit, ProductType::kFund, ProductType::kMortgage,
                               ProductType::kCreditCard};
  for (int i = 0; i < 6; ++i) {
    CustomerId c = cs[i % 2];
    hs.push_back({must(db.insert_holding(holding(c, types[i % 4], 0))), c});
  }
  std::vector<TransactionId> txns;
  for (int step = 0; step < 150; ++step) {
    const int op = static_cast<int>(rng() % 3);
    auto [h, c] = hs[rng() % hs.size()];
    const std::int64_t amount = static_cast<std::int64_t>(rng() % 2001) - 1000;
    if (op == 0 || txns.empty()) {
      txns.push_back(must(db.add_transaction(posting(c, h, amount, step))));
    } else if (op == 1) {
      const TransactionId t = txns[rng() % txns.size()];
      must(db.write([&](WriteTxn& w) -> Status {
        auto x = w.amend_transaction(t, [&](Transaction& tx) {
          tx.customer_id = c;
          tx.holding_id = (rng() % 4 == 0) ? std::nullopt : std::optional<HoldingId>(h);
          tx.amount = amount;
        });
        if (!x) return tl::unexpected(x.error());
        return {};
      }));
    } else {
      const std::size_t i = rng() % txns.size();
      must(db.write([&](WriteTxn& w) -> Status {
        auto x = w.remove_transaction(txns[i]);
        if (!x) return tl::unexpected(x.error());
        return {};
      }));
      txns.erase(txns.begin() + static_cast<std::ptrdiff_t>(i));
    }
  }
  for (auto [h, c] : hs) expect_posted(db, h, 0);
  for (auto c : cs) expect_recount(db, c);
  expect_clean(db);
}

BOOST_AUTO_TEST_SUITE_END()
