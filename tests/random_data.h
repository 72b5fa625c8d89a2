// Random customers and transactions for the tests and the fuzzers (tests/segment_test.cc,
// fuzz/query.cc): every attribute varied, absent values included, so that each query predicate
// has members and non-members. Deterministic for a given std::mt19937 state: the same seed
// gives the same records on every platform (only the engine's arithmetic on r() is used, no
// std:: distributions, whose results are implementation-defined).
//
// Boundary values (tests/segment_differential_test.cc): boundary_customers() adds customers at
// the limits the engine accepts (dates at 1800-01-01 and 2200-12-31, totals at ±2^53 and
// beyond, equal totals, a zero total of nonzero transactions) and random_scores() scores with
// int64 extremes, 0, 1 and repeated values.
//
// Header-only and free of Boost: fuzz/ includes it too (built with clang-14 and libFuzzer).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "custdb/types.h"

namespace custdb::test {

template <class T, std::size_t N>
const T& pick(std::mt19937& r, const T (&a)[N]) {
  return a[r() % N];
}

// The values random_customer draws from (a query generator names the same ones). Mixed case
// and a non-ASCII city on purpose: stored values keep their case, queries fold it.
inline const char* const kRegions[] = {"east", "west", "North", "south"};
inline const char* const kCities[] = {"Boston", "Austin", "Lyon", "Köln"};
inline const char* const kCountries[] = {"US", "DE", "FR"};
inline const char* const kTags[] = {"vip", "student", "paperless", "mortgage"};

// A moment in 2023-01-01 .. 2025-12-31 (UTC), millisecond resolution.
inline Timestamp random_ts(std::mt19937& r) {
  return parse_timestamp("2023-01-01").value() +
         std::chrono::milliseconds(static_cast<std::int64_t>(r() % (3ull * 365 * 86'400'000)));
}

// A valid customer (id 0: the database assigns one).
inline Customer random_customer(std::mt19937& r) {
  Customer c;
  c.name = "C" + std::to_string(r());
  c.type = static_cast<CustomerType>(r() % 3);
  c.tier = static_cast<Tier>(r() % 5);
  c.stage = static_cast<Stage>(r() % 6);
  c.gender = static_cast<Gender>(r() % 4);
  c.risk = static_cast<Risk>(r() % 3);
  if (r() % 5) c.address.region = pick(r, kRegions);
  if (r() % 4) c.address.city = pick(r, kCities);
  if (r() % 4) c.address.country = pick(r, kCountries);
  if (r() % 5) c.income_band = static_cast<std::uint8_t>(1 + r() % 10);
  if (r() % 6) c.birth_date = parse_date("1940-01-01").value() + std::chrono::days(r() % 25000);
  if (r() % 30 == 0) c.birth_date = parse_date("1964-02-29");  // leap-day birthdays
  Date d = parse_date("2024-01-01").value();
  auto consent = [&] {
    int v = static_cast<int>(r() % 3);
    return v == 0 ? Consent{} : Consent{static_cast<ConsentState>(v), d};
  };
  c.consent_email = consent();
  c.consent_sms = consent();
  c.consent_phone = consent();
  for (const char* t : kTags)
    if (r() % 3 == 0) c.tags.push_back(t);
  c.created_at = random_ts(r);
  return c;
}

// A valid USD transaction of customer `id`: amounts of every magnitude, about one in seven
// negative.
inline Transaction random_txn(std::mt19937& r, CustomerId id) {
  Transaction t;
  t.customer_id = id;
  t.ts = random_ts(r);
  std::int64_t mags[] = {1, 99, 5000, 250'000, 10'000'000};
  t.amount = static_cast<std::int64_t>(r() % static_cast<std::uint64_t>(mags[r() % 5])) *
             (r() % 7 == 0 ? -1 : 1);
  t.currency = "USD";
  t.kind = static_cast<TransactionKind>(r() % 7);
  return t;
}

// 2^53: the largest integer a double holds exactly, where a float-based sum or average would
// start to drift.
inline constexpr std::int64_t kTwo53 = std::int64_t{1} << 53;

// Amounts at the edges: int64 extremes, ±2^53 and its neighbours, the single-amount limit, 0
// and ±1. Used for clv (any int64) and, as far as transactions can reach, for totals.
inline const std::int64_t kBoundaryAmounts[] = {
    std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::min() + 1,
    -kTwo53 - 1, -kTwo53, -kMaxAmount, -1, 0, 1, kMaxAmount, kTwo53 - 1, kTwo53, kTwo53 + 1,
    std::numeric_limits<std::int64_t>::max() - 1, std::numeric_limits<std::int64_t>::max()};

// Transactions of customer `id` whose amounts add up to `total` exactly (each within
// ±kMaxAmount, so |total| must be at most 9,000·kMaxAmount), at random times. Two opposite
// transactions when total is 0, so the customer has transactions but a zero total.
inline std::vector<Transaction> txns_totalling(std::mt19937& r, CustomerId id, std::int64_t total) {
  std::vector<Transaction> out;
  auto add = [&](std::int64_t amount) {
    Transaction t = random_txn(r, id);
    t.amount = amount;
    out.push_back(t);
  };
  if (total == 0) {
    add(12345);
    add(-12345);
    return out;
  }
  const std::int64_t sign = total < 0 ? -1 : 1;
  std::int64_t rest = total;
  while (rest != 0) {
    const std::int64_t step = sign * std::min(sign * rest, kMaxAmount);
    add(step);
    rest -= step;
  }
  return out;
}

// Customers (id 0) with the extreme values of the stored attributes, each paired with the total
// its transactions must reach (txns_totalling), or nullopt for none: birth dates, created_at and
// transaction times at 1800-01-01 and 2200-12-31 come from the caller (see the test), totals
// at ±2^53 and its neighbours, ±10^16, equal totals several times, and 0 from nonzero
// transactions.
inline std::vector<std::pair<Customer, std::optional<std::int64_t>>> boundary_customers(std::mt19937& r) {
  std::vector<std::pair<Customer, std::optional<std::int64_t>>> out;
  const std::int64_t totals[] = {kTwo53 - 1, kTwo53, kTwo53 + 1, -kTwo53, 10 * kMaxAmount,
                                 -10 * kMaxAmount, 0, 0, 500'00, 500'00, 500'00, -500'00, -500'00,
                                 kMaxAmount, -kMaxAmount};
  for (std::int64_t t : totals) out.emplace_back(random_customer(r), t);
  Customer c = random_customer(r);
  c.birth_date = parse_date("1800-01-01");
  c.created_at = parse_timestamp("1800-01-01T00:00:00Z").value();
  out.emplace_back(c, std::nullopt);
  c = random_customer(r);
  // Birth dates end today (validate.cc); 2200-12-31 is the end for the other dates.
  c.birth_date = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
  c.created_at = parse_timestamp("2200-12-31T23:59:59.999Z").value();
  c.income_band = 10;
  out.emplace_back(c, std::nullopt);
  c = random_customer(r);
  c.income_band = 1;
  c.birth_date.reset();
  out.emplace_back(c, std::nullopt);
  return out;
}

// Scores as score_customers would write them, but with boundary values most of the time:
// clv from kBoundaryAmounts or a few repeated values, p_alive 0, 1 or repeated,
// expected_purchases 0 or its limit (10^12). p_alive and expected_purchases are whole
// millionths (as stored).
inline Scores random_scores(std::mt19937& r) {
  Scores s;
  s.as_of = parse_date("2026-06-01").value();
  switch (r() % 4) {
    case 0: s.clv = kBoundaryAmounts[r() % std::size(kBoundaryAmounts)]; break;
    case 1: s.clv = 1000 * static_cast<std::int64_t>(r() % 3); break;  // ties
    default: s.clv = static_cast<std::int64_t>(r() % 2'000'000) - 500'000;
  }
  const double p[] = {0, 1, 0.5, 0.25};
  s.p_alive = r() % 2 ? p[r() % 4] : static_cast<double>(r() % 1'000'001) / 1e6;
  const double e[] = {0, 1e12, 3, 0.000001};
  s.expected_purchases = r() % 2 ? e[r() % 4] : static_cast<double>(r() % 50'000'000) / 1e6;
  s.expected_value = static_cast<std::int64_t>(r() % 100'000);
  s.r_score = static_cast<std::uint8_t>(1 + r() % 5);
  s.f_score = static_cast<std::uint8_t>(1 + r() % 5);
  s.m_score = static_cast<std::uint8_t>(1 + r() % 5);
  return s;
}

}  // namespace custdb::test
