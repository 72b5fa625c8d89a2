// Segment query generators shared by tests/segment_differential_test.cc (the public segment API
// against a brute force) and tests/shards_test.cc (scatter-gather against one database): range
// predicates at boundaries taken from the data and the fields' limits, categorical predicates,
// random and/or/not combinations, and every ranking and grouping attribute. Deterministic for a
// given std::mt19937 state (only the engine's arithmetic on r()).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "custdb/query.h"
#include "custdb/segment.h"
#include "custdb/types.h"
#include "random_data.h"

namespace custdb::test {

using query::Field;

inline const Date kAsOf = parse_date("2026-06-15").value();
inline constexpr std::int64_t kI64Min = std::numeric_limits<std::int64_t>::min();
inline constexpr std::int64_t kI64Max = std::numeric_limits<std::int64_t>::max();

inline std::string text128(AmountSum v) {
  __extension__ using U128 = unsigned __int128;
  U128 m = v < 0 ? U128(0) - static_cast<U128>(v) : static_cast<U128>(v);
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(m % 10)));
    m /= 10;
  } while (m != 0);
  return (v < 0 ? "-" : "") + digits;
}

inline std::string opt_text(const std::optional<std::int64_t>& v) { return v ? std::to_string(*v) : "none"; }

inline std::int64_t ms(Timestamp t) { return t.time_since_epoch().count(); }
inline std::int64_t days(Date d) { return d.time_since_epoch().count(); }

// The value of an ordered query field (query.h's units), or none when absent.
inline std::optional<std::int64_t> field_value(const Customer& c, Field f) {
  const auto& a = c.aggregates;
  const auto& s = c.scores;
  auto day_of = [](Timestamp t) { return days(std::chrono::floor<std::chrono::days>(t)); };
  switch (f) {
    case Field::kTier: return static_cast<std::int64_t>(c.tier);
    case Field::kRisk: return static_cast<std::int64_t>(c.risk);
    case Field::kIncomeBand: return c.income_band ? std::optional<std::int64_t>(*c.income_band) : std::nullopt;
    case Field::kTxnCount: return static_cast<std::int64_t>(a.txn_count);
    case Field::kTotalAmount: return a.total_amount;
    case Field::kBirthDate: return c.birth_date ? std::optional(days(*c.birth_date)) : std::nullopt;
    case Field::kAge:
      return c.birth_date ? std::optional<std::int64_t>(query::age_on(*c.birth_date, kAsOf)) : std::nullopt;
    case Field::kCreatedAt: return ms(c.created_at);
    case Field::kFirstTxnAt: return a.first_txn_at ? std::optional(ms(*a.first_txn_at)) : std::nullopt;
    case Field::kLastTxnAt: return a.last_txn_at ? std::optional(ms(*a.last_txn_at)) : std::nullopt;
    case Field::kRecencyDays:
      return a.last_txn_at ? std::optional(days(kAsOf) - day_of(*a.last_txn_at)) : std::nullopt;
    case Field::kTenureDays:
      return a.first_txn_at ? std::optional(days(kAsOf) - day_of(*a.first_txn_at)) : std::nullopt;
    case Field::kPAlive: return s ? std::optional(to_millionths(s->p_alive)) : std::nullopt;
    case Field::kExpectedPurchases:
      return s ? std::optional(to_millionths(s->expected_purchases)) : std::nullopt;
    case Field::kClv: return s ? std::optional(s->clv) : std::nullopt;
    case Field::kRScore: return s ? std::optional<std::int64_t>(s->r_score) : std::nullopt;
    case Field::kFScore: return s ? std::optional<std::int64_t>(s->f_score) : std::nullopt;
    case Field::kMScore: return s ? std::optional<std::int64_t>(s->m_score) : std::nullopt;
    default: return std::nullopt;
  }
}

inline constexpr RankBy kAllRankBy[] = {
    RankBy::kTotalAmount, RankBy::kTxnCount, RankBy::kLastTxnAt, RankBy::kFirstTxnAt,
    RankBy::kCreatedAt, RankBy::kBirthDate, RankBy::kClv, RankBy::kPAlive,
    RankBy::kExpectedPurchases, RankBy::kIncomeBand, RankBy::kRScore, RankBy::kFScore,
    RankBy::kMScore};
inline constexpr GroupBy kAllGroupBy[] = {
    GroupBy::kTier, GroupBy::kRegion, GroupBy::kStage, GroupBy::kType, GroupBy::kCity,
    GroupBy::kCountry, GroupBy::kGender, GroupBy::kRisk, GroupBy::kIncomeBand, GroupBy::kTag,
    GroupBy::kConsentEmail, GroupBy::kConsentSms, GroupBy::kConsentPhone, GroupBy::kRScore,
    GroupBy::kFScore, GroupBy::kMScore};

// ---- queries ---------------------------------------------------------------------------------------

inline constexpr Field kOrderedFields[] = {
    Field::kTier, Field::kRisk, Field::kIncomeBand, Field::kTxnCount, Field::kTotalAmount,
    Field::kBirthDate, Field::kAge, Field::kCreatedAt, Field::kFirstTxnAt, Field::kLastTxnAt,
    Field::kRecencyDays, Field::kTenureDays, Field::kPAlive, Field::kExpectedPurchases,
    Field::kClv, Field::kRScore, Field::kFScore, Field::kMScore};

// The builder operand of a field's value in query.h's units.
inline query::Operand operand(Field f, std::int64_t v) {
  switch (query::kind_of(f)) {
    case query::FieldKind::kAmount: return query::Amount{v};
    case query::FieldKind::kDecimal: return query::Decimal{v};
    case query::FieldKind::kDate: return Date{std::chrono::days{v}};
    case query::FieldKind::kTimestamp: return Timestamp{std::chrono::milliseconds{v}};
    case query::FieldKind::kEnum:
      if (f == Field::kTier) return static_cast<Tier>(v);
      return static_cast<Risk>(v);
    default: return v;
  }
}

// Whether the builder (and the parser) take v for f: the fields' documented value ranges.
inline bool valid_value(Field f, std::int64_t v) {
  switch (f) {
    case Field::kTier: return v >= 0 && v <= 4;
    case Field::kRisk: return v >= 0 && v <= 2;
    case Field::kIncomeBand: return v >= 1 && v <= 10;
    case Field::kRScore: case Field::kFScore: case Field::kMScore: return v >= 1 && v <= 5;
    case Field::kTxnCount: case Field::kAge: case Field::kPAlive: case Field::kExpectedPurchases:
      return v >= 0;
    default: return true;
  }
}

inline const std::int64_t kMinDay = days(parse_date("1800-01-01").value());
inline const std::int64_t kMaxDay = days(parse_date("2200-12-31").value());
inline const std::int64_t kMinMs = ms(parse_timestamp("1800-01-01").value());
inline const std::int64_t kMaxMs = ms(parse_timestamp("2200-12-31T23:59:59.999Z").value());

// The documented limits and special values of a field (query.h, docs/queries.md).
inline std::vector<std::int64_t> field_limits(Field f) {
  switch (query::kind_of(f)) {
    case query::FieldKind::kDate: return {kMinDay - 1, kMinDay, 0, kMaxDay, kMaxDay + 1};
    case query::FieldKind::kTimestamp: return {kMinMs - 1, kMinMs, 0, kMaxMs, kMaxMs + 1};
    case query::FieldKind::kAmount: return {std::begin(kBoundaryAmounts), std::end(kBoundaryAmounts)};
    default: break;
  }
  switch (f) {
    case Field::kTier: return {0, 4};
    case Field::kRisk: return {0, 2};
    case Field::kIncomeBand: return {1, 10};
    case Field::kRScore: case Field::kFScore: case Field::kMScore: return {1, 5};
    case Field::kPAlive: return {0, 1'000'000, 1'000'001, kTwo53, kI64Max};
    case Field::kExpectedPurchases:
      return {0, 1'000'000'000'000'000'000, kTwo53, kI64Max};  // 10^12 purchases: the scores' limit
    case Field::kRecencyDays: case Field::kTenureDays: return {kI64Min, -kTwo53, 0, kTwo53, kI64Max};
    default: return {0, 1, kTwo53, kI64Max};  // txn_count, age
  }
}

// Bounds taken from the data: min, max and their neighbours, the most frequent value (ties),
// and a few present values with their neighbours; then the field's limits.
inline std::vector<std::int64_t> boundaries(const std::vector<Customer>& all, Field f, std::mt19937& r) {
  std::map<std::int64_t, int> freq;
  for (const Customer& c : all)
    if (auto v = field_value(c, f)) ++freq[*v];
  std::set<std::int64_t> out;
  auto add = [&](std::int64_t v) {
    if (valid_value(f, v)) out.insert(v);
  };
  auto near = [&](std::int64_t v) {
    add(v);
    if (v > kI64Min) add(v - 1);
    if (v < kI64Max) add(v + 1);
  };
  if (!freq.empty()) {
    near(freq.begin()->first);
    near(freq.rbegin()->first);
    auto most = std::max_element(freq.begin(), freq.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; });
    near(most->first);
    std::vector<std::int64_t> present;
    for (const auto& [v, n] : freq) present.push_back(v);
    for (int i = 0; i < 3; ++i) near(present[r() % present.size()]);
  }
  for (std::int64_t v : field_limits(f)) add(v);
  return {out.begin(), out.end()};
}

// Every range predicate on `f` at the bounds: < <= > >= = != for each, between and in over
// pairs and triples of them.
inline std::vector<query::Node> range_predicates(Field f, const std::vector<std::int64_t>& b, std::mt19937& r) {
  using namespace custdb::query;
  std::vector<Node> out;
  using Make = Node (*)(Field, Operand);
  for (std::int64_t v : b)
    for (Make make : {Make{&lt}, Make{&le}, Make{&gt}, Make{&ge}, Make{&eq}, Make{&ne}})
      out.push_back(make(f, operand(f, v)));
  for (std::size_t i = 0; i < b.size(); ++i) {
    out.push_back(between(f, operand(f, b[i]), operand(f, b[r() % b.size()])));
    out.push_back(in(f, {operand(f, b[i]), operand(f, b[r() % b.size()]), operand(f, b[r() % b.size()])}));
  }
  return out;
}

// Random and/or/not trees over a pool of predicates.
inline query::Node combination(const std::vector<query::Node>& pool, std::mt19937& r, int depth = 0) {
  const int roll = static_cast<int>(r() % 10);
  if (depth < 3 && roll < 3)
    return query::all_of(combination(pool, r, depth + 1), combination(pool, r, depth + 1));
  if (depth < 3 && roll < 5)
    return query::any_of(combination(pool, r, depth + 1), combination(pool, r, depth + 1));
  if (depth < 3 && roll < 6) return query::negate(combination(pool, r, depth + 1));
  return pool[r() % pool.size()];
}

// The categorical predicates mixed into the combinations.
inline std::vector<query::Node> categorical_predicates() {
  using namespace custdb::query;
  std::vector<Node> out;
  for (const char* region : kRegions) out.push_back(eq(Field::kRegion, region));
  for (const char* t : kTags) out.push_back(tag(t));
  out.push_back(in(Field::kStage, {Stage::kActive, Stage::kLoyal}));
  out.push_back(eq(Field::kCountry, "DE"));
  out.push_back(ne(Field::kGender, Gender::kFemale));
  return out;
}

}  // namespace custdb::test
