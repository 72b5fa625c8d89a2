#include "demo.h"

#include <algorithm>
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

  for (std::uint64_t start = 1; start <= customers; start += kDemoBatch) {
    const std::uint64_t end = std::min(customers, start + kDemoBatch - 1);
    auto txn = db.begin_write();
    if (!txn) return tl::unexpected(txn.error());
    for (std::uint64_t i = start; i <= end; ++i) {
      auto id = txn->insert_customer(gen.customer(*base + i));
      if (!id) return tl::unexpected(id.error().with_context("demo customer " + std::to_string(*base + i)));
      const int drawn = 5 + static_cast<int>(per_customer() % 6);
      const int count = txns_per_customer > 0 ? txns_per_customer : drawn;
      for (Transaction& t : gen.transactions(*id, count)) {
        t.currency = currency;  // no exchange rates: every demo amount is in the base currency
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
