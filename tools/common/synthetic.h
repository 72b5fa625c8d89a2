// A deterministic synthetic customer base: the same seed gives the same records, so benchmarks
// compare engines on identical data and the demo is reproducible.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string_view>
#include <vector>

#include "custdb/types.h"

namespace custdb::synthetic {

struct Params {
  std::uint64_t seed = 42;
  Timestamp start = parse_timestamp("2024-11-01").value();  // transactions span two years
  int days = 730;
};

// Generates customers one at a time; customer i (1-based) always gets id i.
class Generator {
 public:
  explicit Generator(Params p = {}) : p_(p), rng_(p.seed) {}

  Customer customer(std::uint64_t i);
  // `count` transactions for customer `id`, ids left 0 (assigned on insert).
  std::vector<Transaction> transactions(CustomerId id, int count);
  // Household and referral links among customers 1..n (ids from the generator).
  std::vector<Relationship> relationships(std::uint64_t n);

  // The analytics scores of a generated customer, as a scoring run would leave them (see
  // Customer::scores), as of 2026-11-01: deterministic from the seed and c.id alone (not from
  // the generator's transaction stream), so every engine of a benchmark stores the same ones.
  // Prospects are never scored (nullopt). p_alive (0..1) and expected_purchases (0..20) are
  // whole millionths, so they survive custdb's conversion to millionths exactly; clv and
  // expected_value are minor units, higher for higher tiers. Not derived from the
  // transactions: a fixture for storage and queries, not a model.
  std::optional<Scores> scores(const Customer& c) const;

  // The holdings (format 6: accounts and contracts) of a generated customer, deterministic from
  // the seed and c.id alone (a stream of its own, like scores), ids left 0, customer_id c.id.
  // What a retail bank's book looks like: nearly everyone a deposit account, savings and
  // credit cards common, term deposits, funds and mortgages more common higher up the tiers
  // (balances log-normal, scaled by tier), personal loans and insurance now and then;
  // companies a deposit, term deposits, a card and a custom type "business_loan"; prospects
  // nothing. About 85 % active, 10 % dormant, 5 % closed; opened between the customer's
  // creation and 2026-10-31. Canadian customers keep some accounts in CAD and a few others
  // hold EUR savings or funds: foreign when base_currency differs (base_balance converted at
  // fixed synthetic rates, exact in minor units), none in a currency without a rate here.
  // account_ref is unique per (customer, holding): "ACCT-" and 12 digits.
  std::vector<Holding> holdings(const Customer& c, std::string_view base_currency = "USD") const;

  // The email of customer i, so lookups can be generated without keeping customers around.
  static std::string email_of(std::uint64_t i);

 private:
  Params p_;
  std::mt19937_64 rng_;
};

}  // namespace custdb::synthetic
