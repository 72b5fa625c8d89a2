#include "demo.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <vector>

#include "synthetic.h"

namespace custdb::synthetic {
namespace {

// The highest customer id in the database, 0 when empty.
Result<CustomerId> highest_customer_id(const Database& db) {
  auto txn = db.begin_read();
  if (!txn) return tl::unexpected(txn.error());
  CustomerId highest = 0;
  Status s = txn->for_each_customer([&](const Customer& c) {
    highest = std::max(highest, c.id);
    return true;
  });
  if (!s) return tl::unexpected(s.error());
  return highest;
}

// Visit days of one customer the way customers behave in the customer-base analysis literature
// (the BG/NBD process, unlike uniformly random times): a first visit somewhere in the first 18
// months, visits at the customer's own Poisson rate (gamma-distributed across customers, about
// one every 60 days on average), and after each visit a customer-specific chance of never coming
// back (beta-distributed, 15 % on average). At most max_visits.
std::vector<double> draw_visits(const Params& p, std::mt19937_64& rng, std::size_t max_visits) {
  const double span = p.days;
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::gamma_distribution<double> rate(1.5, 1.0 / 90.0);  // visits per day
  std::gamma_distribution<double> beta_a(1.5, 1.0), beta_b(8.5, 1.0);
  const double lambda = std::max(rate(rng), 1e-4);
  const double x = beta_a(rng), y = beta_b(rng);
  const double dropout = x / (x + y);
  std::vector<double> visits{uniform(rng) * span * 0.75};
  while (visits.size() < max_visits && uniform(rng) >= dropout) {
    double next = visits.back() + std::exponential_distribution<double>(lambda)(rng);
    if (next >= span) break;
    visits.push_back(next);
  }
  return visits;
}

// Times the transactions on the visits: one purchase per visit (so the purchase days are the
// visits, the process the CLV models describe: `clv fit` refuses data without the heterogeneity
// they estimate), the transactions beyond the visits on visit days (a deposit and a purchase on
// one trip). Purchase amounts are scaled by the customer's own spend level (gamma-distributed,
// mean 1: customers differ in how much they spend, as the Gamma-Gamma model describes).
void place_on_visits(std::vector<Transaction>& txns, const std::vector<double>& visits,
                     const Params& p, std::mt19937_64& rng) {
  const double spend_level = std::gamma_distribution<double>(2.0, 0.5)(rng);
  for (std::size_t i = 0; i < txns.size(); ++i) {
    if (i < visits.size()) txns[i].kind = TransactionKind::kPurchase;
    if (txns[i].kind == TransactionKind::kPurchase)
      txns[i].amount = std::max<std::int64_t>(
          1, std::llround(static_cast<double>(txns[i].amount) * spend_level));
    double day = i < visits.size() ? visits[i] : visits[rng() % visits.size()];
    auto ms = static_cast<std::int64_t>(day * 86'400'000.0) + static_cast<std::int64_t>(rng() % 600'000);
    txns[i].ts = p.start + std::chrono::milliseconds(ms);
  }
}

// A value of every live customer attribute the schema declares (`custdb schema add` before
// `custdb demo`): enum values drawn from the declared ones, integers skewed low (most under
// 1000, a tail to 5000), amounts and decimals of a few digits, dates and timestamps in the
// demo's two years, tag sets from the declared tags (or a few made-up ones). Deterministic for
// the stream `rng`; optional attributes are left out for about one customer in ten.
Attributes demo_attributes(const Schema& schema, const Params& p, std::mt19937_64& rng) {
  Attributes out;
  for (const AttributeDef& d : schema.attributes) {
    if (d.dropping || d.table != AttributeTable::kCustomers) continue;
    if (!d.required && rng() % 10 == 0) continue;
    const std::uint64_t x = rng();
    switch (d.type) {
      case AttributeType::kText: out[d.name] = "value " + std::to_string(x % 50); break;
      case AttributeType::kEnum: out[d.name] = d.values[x % d.values.size()]; break;
      case AttributeType::kInteger: {
        const std::uint64_t scale = x % 4 == 0 ? 5000 : 1000;
        out[d.name] = static_cast<std::int64_t>((x >> 8) % scale);
        break;
      }
      case AttributeType::kDecimal:
      case AttributeType::kAmount: out[d.name] = static_cast<std::int64_t>(x % 1'000'000); break;
      case AttributeType::kDate:
        out[d.name] = std::chrono::floor<std::chrono::days>(p.start) + std::chrono::days(x % p.days);
        break;
      case AttributeType::kTimestamp:
        out[d.name] = p.start + std::chrono::milliseconds(static_cast<std::int64_t>(x % (p.days * 86'400'000ull)));
        break;
      case AttributeType::kBool: out[d.name] = x % 2 == 0; break;
      case AttributeType::kTagSet: {
        static const std::vector<std::string> kDefault = {"online", "branch", "phone"};
        const std::vector<std::string>& from = d.values.empty() ? kDefault : d.values;
        std::vector<std::string> tags;
        for (std::size_t k = 0; k < from.size() && k < 16; ++k)
          if ((x >> k) & 1) tags.push_back(from[k]);
        if (tags.empty()) tags.push_back(from[x % from.size()]);
        std::sort(tags.begin(), tags.end());
        out[d.name] = std::move(tags);
        break;
      }
    }
  }
  return out;
}

}  // namespace

Status populate_demo(Database& db, std::uint64_t customers, std::uint64_t seed,
                     const DemoProgress& progress, int txns_per_customer) {
  auto base = highest_customer_id(db);
  if (!base) return tl::unexpected(base.error());
  const std::string currency = db.info().base_currency;

  Params params;
  params.seed = seed;
  Generator gen(params);
  std::mt19937_64 per_customer(seed ^ 0x5eed'de30'0000'0001ull);  // transactions per customer
  std::mt19937_64 per_attribute(seed ^ 0x5eed'de30'0000'0017ull);  // custom attribute values
  auto schema = db.schema();
  if (!schema) return tl::unexpected(schema.error());

  for (std::uint64_t start = 1; start <= customers; start += kDemoBatch) {
    const std::uint64_t end = std::min(customers, start + kDemoBatch - 1);
    auto txn = db.begin_write();
    if (!txn) return tl::unexpected(txn.error());
    for (std::uint64_t i = start; i <= end; ++i) {
      Customer customer = gen.customer(*base + i);
      customer.attributes = demo_attributes(*schema, params, per_attribute);
      std::vector<Holding> holdings = gen.holdings(customer, currency);
      auto id = txn->insert_customer(std::move(customer));
      if (!id) return tl::unexpected(id.error().with_context("demo customer " + std::to_string(*base + i)));
      // Its accounts and contracts, then the transactions: deposits post to its first open
      // deposit or savings account in the base currency, about half the purchases to its open
      // credit card in the base currency (a positive posting: the card owes more).
      std::optional<HoldingId> account, card;
      for (Holding& h : holdings) {
        const bool open = h.status != HoldingStatus::kClosed && h.currency == currency;
        const ProductType type = h.product_type;
        auto hid = txn->insert_holding(std::move(h));
        if (!hid) return tl::unexpected(hid.error().with_context("demo holding"));
        if (open && !account && (type == ProductType::kDeposit || type == ProductType::kSavings))
          account = *hid;
        if (open && !card && type == ProductType::kCreditCard) card = *hid;
      }
      // 5 to 10 transactions, more for a customer with more visits; exactly
      // txns_per_customer when given (then the visits stop at that many: a fixed count cuts
      // the purchase process short, which the CLV models do not describe).
      const int drawn = 5 + static_cast<int>(per_customer() % 6);
      const std::vector<double> visits = draw_visits(
          params, per_customer,
          txns_per_customer > 0 ? static_cast<std::size_t>(txns_per_customer) : SIZE_MAX);
      const int count = txns_per_customer > 0
                            ? txns_per_customer
                            : std::max(drawn, static_cast<int>(visits.size()));
      auto txns = gen.transactions(*id, count);
      place_on_visits(txns, visits, params, per_customer);
      for (Transaction& t : txns) {
        t.currency = currency;  // no exchange rates: every demo amount is in the base currency
        if (t.kind == TransactionKind::kDeposit) t.holding_id = account;
        if (t.kind == TransactionKind::kPurchase && t.ts.time_since_epoch().count() % 2 == 0)
          t.holding_id = card;
        auto tid = txn->add_transaction(std::move(t));
        if (!tid) return tl::unexpected(tid.error().with_context("demo transaction"));
      }
    }
    if (auto s = txn->commit(); !s) return s;
    if (progress) progress(end, customers);
  }

  std::vector<Relationship> links = gen.relationships(customers);
  for (std::size_t start = 0; start < links.size(); start += kDemoBatch) {
    const std::size_t end = std::min(links.size(), start + static_cast<std::size_t>(kDemoBatch));
    auto txn = db.begin_write();
    if (!txn) return tl::unexpected(txn.error());
    for (std::size_t k = start; k < end; ++k) {
      Relationship r = links[k];
      r.from += *base;
      r.to += *base;
      auto id = txn->add_relationship(r);
      // The generator may draw the same referral twice: the first one stands.
      if (!id && id.error().code() != ErrorCode::kAlreadyExists)
        return tl::unexpected(id.error().with_context("demo relationship"));
    }
    if (auto s = txn->commit(); !s) return s;
  }
  return {};
}

}  // namespace custdb::synthetic
