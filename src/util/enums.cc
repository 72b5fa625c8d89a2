// Names of the public enumerations: the one table used by the CLI, import, export and the
// query language.
#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

#include "custdb/types.h"

namespace custdb {
namespace {

template <class E>
struct Names;

#define CUSTDB_NAMES(E, ...)                                                        \
  template <>                                                                     \
  struct Names<E> {                                                               \
    static constexpr std::pair<E, std::string_view> table[] = {__VA_ARGS__};      \
  };

CUSTDB_NAMES(CustomerType, {CustomerType::kIndividual, "individual"},
             {CustomerType::kCorporate, "corporate"}, {CustomerType::kProspect, "prospect"})
CUSTDB_NAMES(Gender, {Gender::kUnknown, "unknown"}, {Gender::kFemale, "female"},
             {Gender::kMale, "male"}, {Gender::kOther, "other"})
CUSTDB_NAMES(Tier, {Tier::kBronze, "bronze"}, {Tier::kSilver, "silver"}, {Tier::kGold, "gold"},
             {Tier::kPlatinum, "platinum"}, {Tier::kDiamond, "diamond"})
CUSTDB_NAMES(Stage, {Stage::kProspect, "prospect"}, {Stage::kNew, "new"},
             {Stage::kActive, "active"}, {Stage::kLoyal, "loyal"}, {Stage::kAtRisk, "at_risk"},
             {Stage::kChurned, "churned"})
CUSTDB_NAMES(Risk, {Risk::kLow, "low"}, {Risk::kMedium, "medium"}, {Risk::kHigh, "high"})
CUSTDB_NAMES(ConsentState, {ConsentState::kUnknown, "unknown"},
             {ConsentState::kGranted, "granted"}, {ConsentState::kDenied, "denied"})
CUSTDB_NAMES(RelationType, {RelationType::kHousehold, "household"},
             {RelationType::kSpouse, "spouse"}, {RelationType::kParent, "parent"},
             {RelationType::kChild, "child"}, {RelationType::kEmployer, "employer"},
             {RelationType::kEmployee, "employee"}, {RelationType::kReferral, "referral"},
             {RelationType::kGuarantor, "guarantor"},
             {RelationType::kBeneficiary, "beneficiary"}, {RelationType::kCustom, "custom"})
CUSTDB_NAMES(TransactionKind, {TransactionKind::kDeposit, "deposit"},
             {TransactionKind::kWithdrawal, "withdrawal"},
             {TransactionKind::kPurchase, "purchase"}, {TransactionKind::kPayment, "payment"},
             {TransactionKind::kTransfer, "transfer"},
             {TransactionKind::kInvestment, "investment"}, {TransactionKind::kLoan, "loan"})
CUSTDB_NAMES(Channel, {Channel::kBranch, "branch"}, {Channel::kMobile, "mobile"},
             {Channel::kWeb, "web"}, {Channel::kPhone, "phone"}, {Channel::kAtm, "atm"})
#undef CUSTDB_NAMES

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

template <class E>
std::string_view name_of(E v) {
  for (const auto& [value, name] : Names<E>::table)
    if (value == v) return name;
  return "invalid";
}

}  // namespace

template <class E>
std::optional<E> from_string(std::string_view name) {
  for (const auto& [value, n] : Names<E>::table)
    if (iequals(n, name)) return value;
  return std::nullopt;
}

template std::optional<CustomerType> from_string<CustomerType>(std::string_view);
template std::optional<Gender> from_string<Gender>(std::string_view);
template std::optional<Tier> from_string<Tier>(std::string_view);
template std::optional<Stage> from_string<Stage>(std::string_view);
template std::optional<Risk> from_string<Risk>(std::string_view);
template std::optional<ConsentState> from_string<ConsentState>(std::string_view);
template std::optional<RelationType> from_string<RelationType>(std::string_view);
template std::optional<TransactionKind> from_string<TransactionKind>(std::string_view);
template std::optional<Channel> from_string<Channel>(std::string_view);

std::string_view to_string(CustomerType v) { return name_of(v); }
std::string_view to_string(Gender v) { return name_of(v); }
std::string_view to_string(Tier v) { return name_of(v); }
std::string_view to_string(Stage v) { return name_of(v); }
std::string_view to_string(Risk v) { return name_of(v); }
std::string_view to_string(ConsentState v) { return name_of(v); }
std::string_view to_string(RelationType v) { return name_of(v); }
std::string_view to_string(TransactionKind v) { return name_of(v); }
std::string_view to_string(Channel v) { return name_of(v); }

bool is_symmetric(RelationType t) {
  return t == RelationType::kHousehold || t == RelationType::kSpouse;
}

}  // namespace custdb
