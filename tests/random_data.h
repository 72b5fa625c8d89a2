// Random customers and transactions for the tests and the fuzzers (tests/segment_test.cc,
// fuzz/query.cc): every attribute varied, absent values included, so that each query predicate
// has members and non-members. Deterministic for a given std::mt19937 state: the same seed
// gives the same records on every platform (only the engine's arithmetic on r() is used, no
// std:: distributions, whose results are implementation-defined).
//
// Header-only and free of Boost: fuzz/ includes it too (built with clang-14 and libFuzzer).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>

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

}  // namespace custdb::test
