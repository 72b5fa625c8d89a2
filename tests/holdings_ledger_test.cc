// Holdings against a model (issue #18): random insert / update / remove of holdings, transactions
// added (one by one and in batches, moving balances or only linking postings, as a restore
// does), amended (amount, moved between holdings, detached) and removed, statements
// (set_balance, in and out of order), holding removal restrict / cascade and customer cascade,
// in write transactions that commit or abort. After every step, inside the write transaction
// and again after it ends, every holding equals the model's (balance, base_balance, posted,
// base_posted, postings, balance_as_of, status, ...), every customer's HoldingAggregates equal
// both holding_aggregates() over holdings_of() and the model's own recount, postings_of() lists
// the model's postings, and check() is clean at the end. Both storage modes.
//
// A failure prints the seed; CUSTDB_LEDGER_SEED=S reruns that seed alone and
// CUSTDB_LEDGER_STEPS=N changes the number of write transactions a seed runs.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include "engine/batch_access.h"
#include "engine/holding_math.h"
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;

namespace {

// The error of a result, or "" when it holds a value (a BOOST_TEST message is built even
// when the check passes).
template <class R>
std::string err_text(const R& r) {
  return r.has_value() ? std::string() : r.error().to_string();
}

const char* const kBase = "USD";
const char* const kForeign = "EUR";

// The model: what the database must hold.
struct Model {
  std::set<CustomerId> customers;
  std::map<HoldingId, Holding> holdings;    // as get_holding must return them
  std::map<TransactionId, Transaction> txns;  // customer_id, ts, amount, base, holding_id
  std::uint64_t next_ref = 1;
};

std::string name_of(const Holding& h) {
  return h.product_type == ProductType::kCustom ? h.custom_type : std::string(to_string(h.product_type));
}

// The model's own recount of a customer's HoldingAggregates (custdb/types.h), written from the
// documentation, not from holding_math.
HoldingAggregates recount(const Model& m, CustomerId c) {
  HoldingAggregates a;
  std::set<std::string> types;
  for (const auto& [id, h] : m.holdings) {
    if (h.customer_id != c) continue;
    ++a.holdings;
    if (!a.first_product_on || *h.opened_on < *a.first_product_on) a.first_product_on = h.opened_on;
    if (h.status == HoldingStatus::kActive) ++a.products;
    if (h.status == HoldingStatus::kClosed) continue;
    types.insert(name_of(h));
    const std::int64_t base = *h.base_balance;
    switch (class_of(h.product_type)) {
      case ProductClass::kAsset: a.aum += base; break;
      case ProductClass::kLiability: a.liabilities += base; break;
      case ProductClass::kOther: break;
    }
  }
  a.types_held.assign(types.begin(), types.end());
  return a;
}

std::string describe(const Holding& h) {
  std::ostringstream o;
  o << "holding " << h.id << " customer " << h.customer_id << " " << name_of(h) << " code '"
    << h.product_code << "' ref '" << h.account_ref << "' " << h.currency << " balance "
    << h.balance << " base " << (h.base_balance ? std::to_string(*h.base_balance) : "-")
    << " limit " << (h.credit_limit ? std::to_string(*h.credit_limit) : "-") << " opened "
    << (h.opened_on ? format_date(*h.opened_on) : "-") << " closed "
    << (h.closed_on ? format_date(*h.closed_on) : "-") << " " << to_string(h.status)
    << " as_of " << (h.balance_as_of ? format_date(*h.balance_as_of) : "-") << " posted "
    << h.posted << "/" << h.base_posted << " x" << h.postings
    << (h.personal_available ? "" : " (personal unavailable)");
  return o.str();
}

std::string describe(const HoldingAggregates& a) {
  std::ostringstream o;
  o << "aum " << a.aum << " liabilities " << a.liabilities << " products " << a.products
    << " holdings " << a.holdings << " first " << (a.first_product_on ? format_date(*a.first_product_on) : "-")
    << " types";
  for (const auto& t : a.types_held) o << " " << t;
  return o.str();
}

// Everything the database must agree with the model on, read through `v` (a write transaction
// mid-way or a read transaction after it).
void verify(const ReadView& v, const Model& m, const std::string& ctx) {
  // Holdings one by one, and the whole table.
  for (const auto& [id, want] : m.holdings) {
    auto got = v.get_holding(id);
    BOOST_TEST_REQUIRE(got.has_value(), ctx << ": get_holding " << id << ": " << err_text(got));
    BOOST_TEST_REQUIRE(got->has_value(), ctx << ": holding " << id << " missing");
    BOOST_TEST_REQUIRE((**got == want), ctx << ":\n  got  " << describe(**got) << "\n  want " << describe(want));
    // The ledger identity: posted sums and count equal the postings the model links to it.
    std::int64_t posted = 0, base_posted = 0;
    std::vector<std::pair<Timestamp, TransactionId>> want_postings;
    for (const auto& [tid, t] : m.txns)
      if (t.holding_id == id) {
        posted += t.amount;
        base_posted += *t.base_amount;
        want_postings.emplace_back(t.ts, tid);
      }
    BOOST_TEST_REQUIRE(want.posted == posted, ctx << ": model posted " << id);
    BOOST_TEST_REQUIRE(want.base_posted == base_posted, ctx << ": model base_posted " << id);
    BOOST_TEST_REQUIRE(want.postings == want_postings.size(), ctx << ": model postings " << id);
    std::sort(want_postings.begin(), want_postings.end());
    auto postings = v.postings_of(id);
    BOOST_TEST_REQUIRE(postings.has_value(), ctx << ": postings_of " << id << ": " << err_text(postings));
    BOOST_TEST_REQUIRE(postings->size() == want_postings.size(), ctx << ": postings_of " << id << " count");
    for (std::size_t k = 0; k < want_postings.size(); ++k) {
      BOOST_TEST_REQUIRE((*postings)[k].id == want_postings[k].second, ctx << ": postings_of " << id << " order");
      BOOST_TEST_REQUIRE(((*postings)[k].holding_id == std::optional<HoldingId>(id)), ctx);
    }
  }
  std::vector<HoldingId> seen;
  auto s = v.for_each_holding([&](const Holding& h) {
    seen.push_back(h.id);
    return true;
  });
  BOOST_TEST_REQUIRE(s.has_value(), ctx << ": for_each_holding: " << err_text(s));
  std::vector<HoldingId> want_ids;
  for (const auto& [id, h] : m.holdings) want_ids.push_back(id);
  BOOST_TEST_REQUIRE((seen == want_ids), ctx << ": for_each_holding lists " << seen.size() << " of " << want_ids.size());
  auto counts = v.counts();
  BOOST_TEST_REQUIRE(counts.has_value(), ctx);
  BOOST_TEST_REQUIRE(counts->holdings == m.holdings.size(), ctx << ": counts().holdings");
  BOOST_TEST_REQUIRE(counts->transactions == m.txns.size(), ctx << ": counts().transactions");

  // Customers: the aggregates equal holding_aggregates() over holdings_of() and the model's.
  for (CustomerId c : m.customers) {
    auto cust = v.get_customer(c);
    BOOST_TEST_REQUIRE((cust.has_value() && cust->has_value()), ctx << ": customer " << c);
    auto of = v.holdings_of(c);
    BOOST_TEST_REQUIRE(of.has_value(), ctx << ": holdings_of " << c << ": " << err_text(of));
    std::vector<Holding> want_of;
    for (const auto& [id, h] : m.holdings)
      if (h.customer_id == c) want_of.push_back(h);
    BOOST_TEST_REQUIRE((*of == want_of), ctx << ": holdings_of " << c << " lists " << of->size() << " of " << want_of.size());
    const HoldingAggregates model = recount(m, c);
    const HoldingAggregates derived = detail::holding_aggregates(*of);
    BOOST_TEST_REQUIRE((derived == model), ctx << ": customer " << c << " holding_aggregates()\n  got  "
                                               << describe(derived) << "\n  want " << describe(model));
    BOOST_TEST_REQUIRE(((*cust)->holdings == model), ctx << ": customer " << c << " stored aggregates\n  got  "
                                                        << describe((*cust)->holdings) << "\n  want " << describe(model));
  }
  // Transactions: each posts where the model says.
  for (const auto& [tid, want] : m.txns) {
    auto t = v.get_transaction(tid);
    BOOST_TEST_REQUIRE((t.has_value() && t->has_value()), ctx << ": transaction " << tid);
    BOOST_TEST_REQUIRE(((*t)->holding_id == want.holding_id), ctx << ": transaction " << tid << " holding_id");
    BOOST_TEST_REQUIRE((*t)->amount == want.amount, ctx << ": transaction " << tid << " amount");
    BOOST_TEST_REQUIRE((*t)->customer_id == want.customer_id, ctx << ": transaction " << tid << " customer");
  }
}

// One seed's run: the random walk over the API.
class Walk {
 public:
  Walk(Database& db, std::uint64_t seed) : db_(db), rng_(seed), seed_(seed) {}

  void run(int steps) {
    {
      auto w = must(db_.begin_write());
      for (int i = 0; i < 5; ++i) add_customer(w);
      must(w.commit());
    }
    for (step_ = 0; step_ < steps; ++step_) {
      Model before = m_;
      auto w = must(db_.begin_write());
      const int ops = 1 + static_cast<int>(rng_() % 5);
      for (op_ = 0; op_ < ops; ++op_) {
        one_op(w);
        verify(w, m_, ctx());
      }
      if (rng_() % 8 == 0) {
        w.abort();
        m_ = std::move(before);
        last_ = "abort";
      } else {
        must(w.commit());
        last_ = "commit";
      }
      auto r = must(db_.begin_read());
      verify(r, m_, ctx());
    }
  }

  const Model& model() const { return m_; }

 private:
  std::string ctx() const {
    std::ostringstream o;
    o << "seed " << seed_ << " (CUSTDB_LEDGER_SEED=" << seed_ << ") step " << step_ << " op " << op_
      << " [" << last_ << "]";
    return o.str();
  }

  std::uint64_t pick(std::uint64_t n) { return rng_() % n; }
  bool chance(int percent) { return static_cast<int>(pick(100)) < percent; }
  Date day(int from_year = 2015) {
    return parse_date(std::to_string(from_year) + "-01-01").value() + std::chrono::days(pick(3000));
  }

  template <class T>
  void expect_refused(const Result<T>& r, std::optional<ErrorCode> code, const std::string& what) {
    BOOST_TEST_REQUIRE(!r.has_value(), ctx() << ": " << what << " was accepted");
    if (code)
      BOOST_TEST_REQUIRE(r.error().code() == *code, ctx() << ": " << what << ": " << r.error().to_string());
  }

  std::optional<HoldingId> random_holding(std::optional<CustomerId> of = std::nullopt) {
    std::vector<HoldingId> ids;
    for (const auto& [id, h] : m_.holdings)
      if (!of || h.customer_id == *of) ids.push_back(id);
    if (ids.empty()) return std::nullopt;
    return ids[pick(ids.size())];
  }
  std::optional<CustomerId> random_customer() {
    if (m_.customers.empty()) return std::nullopt;
    auto it = m_.customers.begin();
    std::advance(it, static_cast<long>(pick(m_.customers.size())));
    return *it;
  }
  std::optional<TransactionId> random_txn() {
    if (m_.txns.empty()) return std::nullopt;
    auto it = m_.txns.begin();
    std::advance(it, static_cast<long>(pick(m_.txns.size())));
    return it->first;
  }
  // A base amount for `amount` in `currency`: the amount itself in the base currency.
  std::int64_t base_of(std::int64_t amount, const std::string& currency) {
    return currency == kBase ? amount : amount + amount / 10 + static_cast<std::int64_t>(pick(7));
  }

  void add_customer(WriteTxn& w) {
    Customer c = sample_customer(static_cast<int>(1000 + m_.customers.size() + m_.next_ref++));
    CustomerId id = must(w.insert_customer(c));
    m_.customers.insert(id);
    last_ = "insert customer " + std::to_string(id);
  }

  void one_op(WriteTxn& w) {
    const std::uint64_t roll = pick(100);
    if (roll < 16) insert_holding(w);
    else if (roll < 26) update_holding(w);
    else if (roll < 31) remove_holding(w);
    else if (roll < 55) add_transaction(w);
    else if (roll < 62) add_batch(w);
    else if (roll < 76) amend_transaction(w);
    else if (roll < 84) remove_transaction(w);
    else if (roll < 94) statement(w);
    else if (roll < 97) add_customer(w);
    else delete_customer(w);
  }

  void insert_holding(WriteTxn& w) {
    auto c = random_customer();
    if (!c) return add_customer(w);
    Holding h;
    h.customer_id = *c;
    const std::uint64_t t = pick(10);
    if (t < 8) {
      h.product_type = static_cast<ProductType>(t);
    } else {
      h.product_type = ProductType::kCustom;
      h.custom_type = t == 8 ? "safe_box" : "business_loan";
    }
    h.product_code = chance(70) ? "CODE-" + std::to_string(pick(20)) : "";
    if (chance(70)) h.account_ref = "REF-" + std::to_string(seed_ % 1000) + "-" + std::to_string(m_.next_ref++);
    h.currency = chance(70) ? kBase : kForeign;
    h.balance = static_cast<std::int64_t>(pick(10'000'000)) - 100'000;
    if (h.currency != kBase) h.base_balance = base_of(h.balance, h.currency);
    if (class_of(h.product_type) != ProductClass::kAsset && chance(60))
      h.credit_limit = static_cast<std::int64_t>(pick(50'000'000));
    h.opened_on = day();
    const std::uint64_t s = pick(10);
    h.status = s < 7 ? HoldingStatus::kActive : s < 9 ? HoldingStatus::kDormant : HoldingStatus::kClosed;
    if (h.status == HoldingStatus::kClosed) h.closed_on = *h.opened_on + std::chrono::days(pick(400));

    // A taken account_ref now and then: refused, nothing stored.
    if (chance(5)) {
      for (const auto& [id, other] : m_.holdings)
        if (!other.account_ref.empty()) {
          Holding dup = h;
          dup.account_ref = other.account_ref;
          last_ = "insert holding with a taken account_ref";
          expect_refused(w.insert_holding(dup), ErrorCode::kAlreadyExists, last_);
          return;
        }
    }
    // A missing customer: refused.
    if (chance(4)) {
      Holding orphan = h;
      orphan.customer_id = 999'999;
      last_ = "insert holding of a missing customer";
      expect_refused(w.insert_holding(orphan), ErrorCode::kFailedPrecondition, last_);
      return;
    }
    auto id = w.insert_holding(h);
    BOOST_TEST_REQUIRE(id.has_value(), ctx() << ": insert_holding " << describe(h) << ": " << err_text(id));
    BOOST_TEST_REQUIRE(!m_.holdings.contains(*id), ctx() << ": insert_holding reused id " << *id);
    h.id = *id;
    if (!h.base_balance) h.base_balance = h.balance;  // decoded: always set
    m_.holdings[*id] = h;
    last_ = "insert " + describe(h);
  }

  void update_holding(WriteTxn& w) {
    auto id = random_holding();
    if (!id) return insert_holding(w);
    Holding want = m_.holdings[*id];
    const std::uint64_t what = pick(5);
    std::function<void(Holding&)> mutate;
    if (what == 0) {  // status
      const auto to = static_cast<HoldingStatus>(pick(3));
      mutate = [to](Holding& h) {
        if (to == HoldingStatus::kClosed) {
          if (h.status != HoldingStatus::kClosed) h.closed_on = *h.opened_on + std::chrono::days(30);
        } else {
          h.closed_on.reset();
        }
        h.status = to;
      };
    } else if (what == 1) {  // balance, as a correction
      const std::int64_t b = static_cast<std::int64_t>(pick(2'000'000)) - 50'000;
      const std::int64_t base = base_of(b, want.currency);
      mutate = [b, base](Holding& h) {
        h.balance = b;
        h.base_balance = base;
      };
    } else if (what == 2) {  // product code
      const std::string code = "UPD-" + std::to_string(pick(100));
      mutate = [code](Holding& h) { h.product_code = code; };
    } else if (what == 3) {  // opened_on (moves first_product_on)
      const Date d = day(2010);
      mutate = [d](Holding& h) {
        h.opened_on = d;
        if (h.closed_on && *h.closed_on < d) h.closed_on = d;
      };
    } else {  // an engine field: refused, nothing changes
      last_ = "update_holding changing posted";
      expect_refused(w.update_holding(*id, [](Holding& h) { h.posted += 1; }), ErrorCode::kInvalidArgument, last_);
      return;
    }
    mutate(want);
    auto r = w.update_holding(*id, mutate);
    BOOST_TEST_REQUIRE(r.has_value(), ctx() << ": update_holding " << describe(want) << ": " << err_text(r));
    BOOST_TEST_REQUIRE(*r, ctx());
    m_.holdings[*id] = want;
    last_ = "update to " + describe(want);
  }

  void remove_holding(WriteTxn& w) {
    auto id = random_holding();
    if (!id) return;
    const Holding& h = m_.holdings[*id];
    const bool cascade = chance(50);
    if (!cascade && h.postings > 0) {
      last_ = "remove_holding restrict with postings";
      expect_refused(w.remove_holding(*id, DeleteMode::kRestrict), ErrorCode::kFailedPrecondition, last_);
      return;
    }
    auto r = w.remove_holding(*id, cascade ? DeleteMode::kCascade : DeleteMode::kRestrict);
    BOOST_TEST_REQUIRE(r.has_value(), ctx() << ": remove_holding " << *id << ": " << err_text(r));
    BOOST_TEST_REQUIRE(*r, ctx());
    for (auto& [tid, t] : m_.txns)
      if (t.holding_id == id) t.holding_id.reset();  // detached; the transaction stays
    m_.holdings.erase(*id);
    last_ = "remove holding " + std::to_string(*id) + (cascade ? " cascade" : "");
    // Again: false.
    auto again = w.remove_holding(*id);
    BOOST_TEST_REQUIRE((again.has_value() && !*again), ctx() << ": removing a removed holding");
  }

  // Moves the model's holding by a posting of t (+1) or its reversal (-1).
  void post(const Transaction& t, int sign) {
    if (!t.holding_id) return;
    Holding& h = m_.holdings.at(*t.holding_id);
    h.balance += sign * t.amount;
    *h.base_balance += sign * *t.base_amount;
    h.posted += sign * t.amount;
    h.base_posted += sign * *t.base_amount;
    h.postings = static_cast<std::uint64_t>(static_cast<std::int64_t>(h.postings) + sign);
  }
  // Links t to its holding without moving the balance (a restore's keep-balances import).
  void link(const Transaction& t) {
    if (!t.holding_id) return;
    Holding& h = m_.holdings.at(*t.holding_id);
    h.posted += t.amount;
    h.base_posted += *t.base_amount;
    ++h.postings;
  }

  // A new transaction for a random customer; `fault` says which rule it breaks, if any.
  enum class Fault { kNone, kMissingHolding, kOtherCustomer, kCurrency, kClosed };
  Transaction new_txn(Fault& fault) {
    fault = Fault::kNone;
    Transaction t;
    t.customer_id = *random_customer();
    t.ts = parse_timestamp("2025-01-01T00:00:00Z").value() + std::chrono::minutes(pick(500'000));
    t.amount = static_cast<std::int64_t>(pick(200'000)) - 60'000;
    if (t.amount == 0) t.amount = 1;
    t.kind = static_cast<TransactionKind>(pick(7));
    t.channel = Channel::kWeb;
    t.product = "p";
    t.currency = chance(75) ? kBase : kForeign;
    if (chance(70)) {
      if (auto h = random_holding(t.customer_id)) {
        const Holding& held = m_.holdings[*h];
        t.holding_id = *h;
        t.currency = held.currency;
        if (held.status == HoldingStatus::kClosed) fault = Fault::kClosed;
        else if (chance(5)) {
          t.currency = held.currency == kBase ? kForeign : kBase;
          fault = Fault::kCurrency;
        }
      }
      if (fault == Fault::kNone && chance(5)) {
        if (auto other = random_holding(); other && m_.holdings[*other].customer_id != t.customer_id &&
                                           m_.holdings[*other].status != HoldingStatus::kClosed) {
          t.holding_id = *other;
          t.currency = m_.holdings[*other].currency;
          fault = Fault::kOtherCustomer;
        } else if (chance(50)) {
          t.holding_id = 888'888;
          fault = Fault::kMissingHolding;
        }
      }
    }
    if (t.currency != kBase) t.base_amount = base_of(t.amount, t.currency);
    return t;
  }
  static std::optional<ErrorCode> code_of(Fault f) {
    switch (f) {
      case Fault::kNone: return std::nullopt;
      case Fault::kMissingHolding: return ErrorCode::kFailedPrecondition;
      case Fault::kOtherCustomer: return ErrorCode::kInvalidArgument;
      case Fault::kCurrency: return ErrorCode::kInvalidArgument;
      case Fault::kClosed: return ErrorCode::kFailedPrecondition;
    }
    return std::nullopt;
  }

  void accept(Transaction t, TransactionId id, bool move) {
    BOOST_TEST_REQUIRE(!m_.txns.contains(id), ctx() << ": transaction id reused " << id);
    t.id = id;
    if (!t.base_amount) t.base_amount = t.amount;
    if (move) post(t, +1); else link(t);
    m_.txns[id] = std::move(t);
  }

  void add_transaction(WriteTxn& w) {
    if (m_.customers.empty()) return add_customer(w);
    Fault fault;
    Transaction t = new_txn(fault);
    auto r = w.add_transaction(t);
    last_ = "add transaction of " + std::to_string(t.customer_id) + " amount " + std::to_string(t.amount) +
            " to holding " + (t.holding_id ? std::to_string(*t.holding_id) : "-");
    if (fault != Fault::kNone) {
      expect_refused(r, code_of(fault), last_);
      if (t.holding_id && fault != Fault::kMissingHolding)
        BOOST_TEST_REQUIRE(contains(r.error().message(), "holding_id"), ctx() << ": " << r.error().to_string());
      return;
    }
    BOOST_TEST_REQUIRE(r.has_value(), ctx() << ": " << last_ << ": " << err_text(r));
    accept(std::move(t), *r, true);
  }

  // A batch through the import's door (detail::add_transactions), moving balances or only
  // linking the postings (a restore: `import transactions --keep-balances`).
  void add_batch(WriteTxn& w) {
    if (m_.customers.empty()) return add_customer(w);
    const bool move = chance(60);
    std::vector<Transaction> rows;
    std::vector<Fault> faults;
    const std::size_t n = 1 + pick(8);
    for (std::size_t k = 0; k < n; ++k) {
      Fault f;
      rows.push_back(new_txn(f));
      faults.push_back(f);
    }
    std::vector<Transaction> given = rows;
    std::vector<Result<TransactionId>> results;
    last_ = std::string("batch of ") + std::to_string(n) + (move ? " moving balances" : " keeping balances");
    must(detail::add_transactions(w, rows, results, move));
    BOOST_TEST_REQUIRE(results.size() == n, ctx());
    for (std::size_t k = 0; k < n; ++k) {
      if (faults[k] != Fault::kNone) {
        expect_refused(results[k], code_of(faults[k]), last_ + ", row " + std::to_string(k));
        continue;
      }
      BOOST_TEST_REQUIRE(results[k].has_value(), ctx() << ": row " << k << ": " << err_text(results[k]));
      accept(given[k], *results[k], move);
    }
  }

  void amend_transaction(WriteTxn& w) {
    auto tid = random_txn();
    if (!tid) return add_transaction(w);
    const Transaction old = m_.txns[*tid];
    Transaction want = old;
    const bool on_closed = old.holding_id && m_.holdings[*old.holding_id].status == HoldingStatus::kClosed;
    const std::uint64_t what = pick(4);
    std::optional<ErrorCode> refused;
    if (what == 0 && !on_closed) {  // the amount
      want.amount = static_cast<std::int64_t>(pick(300'000)) - 100'000;
      if (want.amount == 0) want.amount = 7;
      want.base_amount = base_of(want.amount, want.currency);
    } else if (what == 1 && old.holding_id) {  // detach
      want.holding_id.reset();
    } else {  // move onto another holding of the customer in that currency (or attach)
      std::vector<HoldingId> targets;
      for (const auto& [id, h] : m_.holdings)
        if (h.customer_id == old.customer_id && h.currency == old.currency && std::optional<HoldingId>(id) != old.holding_id)
          targets.push_back(id);
      if (targets.empty()) {
        if (!old.holding_id) return;
        want.holding_id.reset();
      } else {
        want.holding_id = targets[pick(targets.size())];
        if (m_.holdings[*want.holding_id].status == HoldingStatus::kClosed)
          refused = ErrorCode::kFailedPrecondition;  // moved onto a closed holding
      }
    }
    last_ = "amend transaction " + std::to_string(*tid) + " amount " + std::to_string(old.amount) + " -> " +
            std::to_string(want.amount) + ", holding " + (old.holding_id ? std::to_string(*old.holding_id) : "-") +
            " -> " + (want.holding_id ? std::to_string(*want.holding_id) : "-");
    auto r = w.amend_transaction(*tid, [&](Transaction& t) {
      t.amount = want.amount;
      t.base_amount = want.base_amount;
      t.holding_id = want.holding_id;
    });
    if (refused) return expect_refused(r, refused, last_);
    BOOST_TEST_REQUIRE(r.has_value(), ctx() << ": " << last_ << ": " << err_text(r));
    BOOST_TEST_REQUIRE(*r, ctx());
    post(old, -1);
    post(want, +1);
    m_.txns[*tid] = want;
  }

  void remove_transaction(WriteTxn& w) {
    auto tid = random_txn();
    if (!tid) return;
    last_ = "remove transaction " + std::to_string(*tid);
    auto r = w.remove_transaction(*tid);
    BOOST_TEST_REQUIRE((r.has_value() && *r), ctx() << ": " << last_);
    post(m_.txns[*tid], -1);
    m_.txns.erase(*tid);
  }

  void statement(WriteTxn& w) {
    auto id = random_holding();
    if (!id) return;
    Holding& h = m_.holdings[*id];
    if (h.status == HoldingStatus::kClosed) return;
    StatementBalance s;
    s.balance = static_cast<std::int64_t>(pick(5'000'000)) - 20'000;
    if (h.currency != kBase) s.base_balance = base_of(s.balance, h.currency);
    if (h.balance_as_of && chance(20)) {
      s.as_of = *h.balance_as_of - std::chrono::days(1 + pick(30));
      last_ = "statement older than " + format_date(*h.balance_as_of) + " on " + std::to_string(*id);
      return expect_refused(w.set_balance(*id, s), ErrorCode::kFailedPrecondition, last_);
    }
    s.as_of = h.balance_as_of && chance(30) ? *h.balance_as_of  // the same date again: accepted
                                            : (h.balance_as_of ? *h.balance_as_of : day(2020)) + std::chrono::days(pick(40));
    last_ = "statement " + std::to_string(s.balance) + " as of " + format_date(s.as_of) + " on " + std::to_string(*id);
    auto r = w.set_balance(*id, s);
    BOOST_TEST_REQUIRE(r.has_value(), ctx() << ": " << last_ << ": " << err_text(r));
    BOOST_TEST_REQUIRE(*r, ctx());
    h.balance = s.balance;
    h.base_balance = s.base_balance.value_or(s.balance);
    h.balance_as_of = s.as_of;
    // A missing holding: false.
    auto none = w.set_balance(777'777, s);
    BOOST_TEST_REQUIRE((none.has_value() && !*none), ctx() << ": set_balance on a missing holding");
  }

  void delete_customer(WriteTxn& w) {
    auto c = random_customer();
    if (!c || m_.customers.size() < 3) return add_customer(w);
    bool has = false;
    for (const auto& [id, h] : m_.holdings) has = has || h.customer_id == *c;
    if (has && chance(50)) {
      last_ = "delete customer with holdings, restrict";
      return expect_refused(w.delete_customer(*c, DeleteMode::kRestrict), ErrorCode::kFailedPrecondition, last_);
    }
    last_ = "delete customer " + std::to_string(*c) + " cascade";
    auto r = w.delete_customer(*c, DeleteMode::kCascade);
    BOOST_TEST_REQUIRE((r.has_value() && *r), ctx() << ": " << last_ << (r ? "" : ": " + r.error().to_string()));
    std::erase_if(m_.holdings, [&](const auto& kv) { return kv.second.customer_id == *c; });
    std::erase_if(m_.txns, [&](const auto& kv) { return kv.second.customer_id == *c; });
    m_.customers.erase(*c);
  }

  Database& db_;
  std::mt19937_64 rng_;
  std::uint64_t seed_;
  Model m_;
  int step_ = 0, op_ = 0;
  std::string last_ = "start";
};

std::vector<std::uint64_t> seeds() {
  if (const char* s = std::getenv("CUSTDB_LEDGER_SEED")) return {std::stoull(s)};
  return {1, 2, 3};
}
int steps() {
  if (const char* s = std::getenv("CUSTDB_LEDGER_STEPS")) return std::stoi(s);
  return 120;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(holdings_ledger)

BOOST_DATA_TEST_CASE(random_walk_matches_the_model, kModes, mode) {
  for (std::uint64_t seed : seeds()) {
    BOOST_TEST_MESSAGE("holdings_ledger seed " << seed << " (" << mode << ")");
    TempDir dir;
    Options o;
    o.base_currency = kBase;
    {
      Database db = open_db(mode, dir / "db", o);
      Walk walk(db, seed);
      walk.run(steps());
      BOOST_TEST_MESSAGE("seed " << seed << ": " << walk.model().holdings.size() << " holdings, "
                                 << walk.model().txns.size() << " transactions at the end");
      require_clean(db);
    }
    // Reopened: the same (nothing lived in memory only).
    Database db = open_db(mode, dir / "db", o);
    require_clean(db);
  }
}

// The ledger identity in its plainest form: holdings opened at zero and never set by a
// statement hold exactly the sum of their postings, whatever was added, amended and removed.
BOOST_DATA_TEST_CASE(balances_are_the_sum_of_their_postings, kModes, mode) {
  TempDir dir;
  Options o;
  o.base_currency = kBase;
  Database db = open_db(mode, dir / "db", o);
  std::mt19937_64 rng(99);
  std::vector<HoldingId> ids;
  CustomerId c = 0;
  {
    auto w = must(db.begin_write());
    c = must(w.insert_customer(sample_customer(1)));
    for (ProductType t : {ProductType::kDeposit, ProductType::kSavings, ProductType::kCreditCard,
                          ProductType::kMortgage}) {
      Holding h;
      h.customer_id = c;
      h.product_type = t;
      h.currency = kBase;
      h.opened_on = parse_date("2020-01-01").value();
      ids.push_back(must(w.insert_holding(h)));
    }
    must(w.commit());
  }
  std::map<TransactionId, Transaction> live;
  for (int round = 0; round < 40; ++round) {
    auto w = must(db.begin_write());
    for (int k = 0; k < 10; ++k) {
      const std::uint64_t roll = rng() % 10;
      if (roll < 5 || live.empty()) {
        Transaction t = sample_txn(c, static_cast<std::int64_t>(rng() % 100'000) - 30'000, "2025-02-01T10:00:00Z");
        t.ts += std::chrono::seconds(round * 100 + k);
        t.holding_id = ids[rng() % ids.size()];
        t.id = must(w.add_transaction(t));
        live[t.id] = t;
      } else {
        auto it = live.begin();
        std::advance(it, static_cast<long>(rng() % live.size()));
        if (roll < 8) {
          const HoldingId to = ids[rng() % ids.size()];
          const std::int64_t amount = static_cast<std::int64_t>(rng() % 50'000) - 10'000;
          BOOST_TEST_REQUIRE(must(w.amend_transaction(it->first, [&](Transaction& t) {
            t.holding_id = to;
            t.amount = amount;
          })));
          it->second.holding_id = to;
          it->second.amount = amount;
        } else {
          BOOST_TEST_REQUIRE(must(w.remove_transaction(it->first)));
          live.erase(it);
        }
      }
    }
    must(w.commit());
    auto r = must(db.begin_read());
    HoldingAggregates want;
    for (HoldingId id : ids) {
      std::int64_t sum = 0;
      std::uint64_t n = 0;
      for (const auto& [tid, t] : live)
        if (t.holding_id == id) sum += t.amount, ++n;
      Holding h = *must(r.get_holding(id));
      BOOST_TEST_REQUIRE(h.balance == sum, "round " << round << " holding " << id);
      BOOST_TEST_REQUIRE(*h.base_balance == sum);
      BOOST_TEST_REQUIRE(h.posted == sum);
      BOOST_TEST_REQUIRE(h.postings == n);
      (class_of(h.product_type) == ProductClass::kAsset ? want.aum : want.liabilities) += sum;
    }
    Customer cust = *must(r.get_customer(c));
    BOOST_TEST_REQUIRE(cust.holdings.aum == want.aum, "round " << round);
    BOOST_TEST_REQUIRE(cust.holdings.liabilities == want.liabilities, "round " << round);
    BOOST_TEST_REQUIRE(cust.holdings.products == 4u);
  }
  require_clean(db);
}

// A posting that would take a balance beyond ±kMaxAmount is refused with nothing written: not
// the transaction, not the balance, not the customer's totals.
BOOST_DATA_TEST_CASE(a_posting_beyond_the_limit_writes_nothing, kModes, mode) {
  TempDir dir;
  Options o;
  o.base_currency = kBase;
  Database db = open_db(mode, dir / "db", o);
  auto w = must(db.begin_write());
  const CustomerId c = must(w.insert_customer(sample_customer(1)));
  Holding h;
  h.customer_id = c;
  h.product_type = ProductType::kSavings;
  h.currency = kBase;
  h.balance = kMaxAmount - 10;
  h.opened_on = parse_date("2020-01-01").value();
  const HoldingId id = must(w.insert_holding(h));
  Transaction t = sample_txn(c, 11, "2025-02-01T10:00:00Z");
  t.holding_id = id;
  auto r = w.add_transaction(t);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().code() == ErrorCode::kInvalidArgument);
  BOOST_TEST(contains(r.error().message(), "balance"), r.error().to_string());
  t.amount = 10;  // exactly to the limit: accepted
  const TransactionId ok = must(w.add_transaction(t));
  Holding after = *must(w.get_holding(id));
  BOOST_TEST(after.balance == kMaxAmount);
  BOOST_TEST(after.postings == 1u);
  Customer cust = *must(w.get_customer(c));
  BOOST_TEST(cust.aggregates.txn_count == 1u);
  BOOST_TEST(cust.holdings.aum == kMaxAmount);
  // An amend that would pass the limit: refused, the posting stays as it was.
  auto a = w.amend_transaction(ok, [](Transaction& x) { x.amount = 11; });
  BOOST_TEST_REQUIRE(!a.has_value());
  BOOST_TEST(a.error().code() == ErrorCode::kInvalidArgument);
  BOOST_TEST(must(w.get_holding(id))->balance == kMaxAmount);
  must(w.commit());
  require_clean(db);
}

BOOST_AUTO_TEST_SUITE_END()
