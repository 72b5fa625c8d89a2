// The names and valid numbers of the public enumerations (custdb/types.h), stated once: each
// enum's table below is what to_string/from_string print and read (enums.cc), what validation
// accepts (engine/validate.cc), what the record decoder accepts from disk (codec/record_codec.cc)
// and which bucket numbers the planner enumerates (engine/segment_query.cc). Adding a value to
// an enum means adding its row here; nothing else restates the range.
//
// Internal to src/. Pure constexpr data; thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

#include "custdb/types.h"

namespace custdb::enums {

// Table<E>::rows: every named value of E with its name (the lower-case identifier of the CLI,
// import files and the query language). Values are dense from 0 except RelationType::kCustom.
template <class E>
struct Table;

#define CUSTDB_ENUM_TABLE(E, ...)                                          \
  template <>                                                            \
  struct Table<E> {                                                      \
    static constexpr std::pair<E, std::string_view> rows[] = {__VA_ARGS__}; \
  };

CUSTDB_ENUM_TABLE(CustomerType, {CustomerType::kIndividual, "individual"},
                  {CustomerType::kCorporate, "corporate"}, {CustomerType::kProspect, "prospect"})
CUSTDB_ENUM_TABLE(Gender, {Gender::kUnknown, "unknown"}, {Gender::kFemale, "female"},
                  {Gender::kMale, "male"}, {Gender::kOther, "other"})
CUSTDB_ENUM_TABLE(Tier, {Tier::kBronze, "bronze"}, {Tier::kSilver, "silver"},
                  {Tier::kGold, "gold"}, {Tier::kPlatinum, "platinum"},
                  {Tier::kDiamond, "diamond"})
CUSTDB_ENUM_TABLE(Stage, {Stage::kProspect, "prospect"}, {Stage::kNew, "new"},
                  {Stage::kActive, "active"}, {Stage::kLoyal, "loyal"},
                  {Stage::kAtRisk, "at_risk"}, {Stage::kChurned, "churned"})
CUSTDB_ENUM_TABLE(Risk, {Risk::kLow, "low"}, {Risk::kMedium, "medium"}, {Risk::kHigh, "high"})
CUSTDB_ENUM_TABLE(ConsentState, {ConsentState::kUnknown, "unknown"},
                  {ConsentState::kGranted, "granted"}, {ConsentState::kDenied, "denied"})
// RelationType: pairs in canonical-then-inverse order; "referral" (the format-2 name of
// referrer) is an input alias, after "referrer" so that name_of prints "referrer".
CUSTDB_ENUM_TABLE(RelationType, {RelationType::kHousehold, "household"},
                  {RelationType::kSpouse, "spouse"}, {RelationType::kParent, "parent"},
                  {RelationType::kChild, "child"}, {RelationType::kEmployer, "employer"},
                  {RelationType::kEmployee, "employee"}, {RelationType::kReferrer, "referrer"},
                  {RelationType::kReferred, "referred"}, {RelationType::kGuarantor, "guarantor"},
                  {RelationType::kGuaranteed, "guaranteed"},
                  {RelationType::kBeneficiary, "beneficiary"},
                  {RelationType::kBenefactor, "benefactor"}, {RelationType::kReferral, "referral"},
                  {RelationType::kCustom, "custom"})
CUSTDB_ENUM_TABLE(TransactionKind, {TransactionKind::kDeposit, "deposit"},
                  {TransactionKind::kWithdrawal, "withdrawal"},
                  {TransactionKind::kPurchase, "purchase"}, {TransactionKind::kPayment, "payment"},
                  {TransactionKind::kTransfer, "transfer"},
                  {TransactionKind::kInvestment, "investment"}, {TransactionKind::kLoan, "loan"})
CUSTDB_ENUM_TABLE(Channel, {Channel::kBranch, "branch"}, {Channel::kMobile, "mobile"},
                  {Channel::kWeb, "web"}, {Channel::kPhone, "phone"}, {Channel::kAtm, "atm"})
CUSTDB_ENUM_TABLE(ProductType, {ProductType::kDeposit, "deposit"},
                  {ProductType::kSavings, "savings"}, {ProductType::kTermDeposit, "term_deposit"},
                  {ProductType::kFund, "fund"}, {ProductType::kInsurance, "insurance"},
                  {ProductType::kCreditCard, "credit_card"},
                  {ProductType::kPersonalLoan, "personal_loan"},
                  {ProductType::kMortgage, "mortgage"}, {ProductType::kCustom, "custom"})
CUSTDB_ENUM_TABLE(HoldingStatus, {HoldingStatus::kActive, "active"},
                  {HoldingStatus::kDormant, "dormant"}, {HoldingStatus::kClosed, "closed"})
#undef CUSTDB_ENUM_TABLE

// valid<E>[n]: whether number n names a value of E (one lookup per decoded enum field).
// `static` (internal linkage): an inline variable would be a GNU unique symbol, which
// -fvisibility=hidden does not hide, and libcustdb.so would export it (exported_symbols test).
template <class E>
static constexpr std::array<bool, 256> valid = [] {
  static_assert(sizeof(E) == 1, "custdb enums are one byte on disk");
  std::array<bool, 256> a{};
  for (const auto& row : Table<E>::rows) a[static_cast<std::uint8_t>(row.first)] = true;
  return a;
}();

// Whether `v` is a named value of E. Also for numbers read from disk or from an index key:
// every E has a one-byte underlying type, so static_cast<E>(byte) is defined for any byte.
template <class E>
constexpr bool is_valid(E v) {
  return valid<E>[static_cast<std::uint8_t>(v)];
}

// The name of `v`, or "invalid" for an unnamed number.
template <class E>
constexpr std::string_view name_of(E v) {
  for (const auto& row : Table<E>::rows)
    if (row.first == v) return row.second;
  return "invalid";
}

// The largest number of an enum whose values are 0..max_value with none missing (the enums
// whose numbers are index buckets); not defined for RelationType, whose kCustom is 255.
template <class E>
constexpr int max_value() {
  constexpr std::size_t n = std::size(Table<E>::rows);
  for (std::size_t i = 0; i < n; ++i)
    if (static_cast<std::size_t>(Table<E>::rows[i].first) != i) throw "enum values are not dense";
  return static_cast<int>(n) - 1;
}

// Evaluated at compile time, so a gap in one of these enums fails the build.
static_assert(max_value<CustomerType>() >= 0 && max_value<Gender>() >= 0 &&
              max_value<Tier>() >= 0 && max_value<Stage>() >= 0 && max_value<Risk>() >= 0 &&
              max_value<ConsentState>() >= 0 && max_value<TransactionKind>() >= 0 &&
              max_value<Channel>() >= 0);

}  // namespace custdb::enums
