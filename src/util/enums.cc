// to_string/from_string of the public enumerations, over the one table of names and values in
// util/enums.h (used by the CLI, import, export and the query language).
#include "custdb/types.h"

#include <utility>
#include "util/enums.h"
#include "util/normalize.h"

namespace custdb {

template <class E>
std::optional<E> from_string(std::string_view name) {
  for (const auto& [value, n] : enums::Table<E>::rows)
    if (normalize::iequals(n, name)) return value;
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
template std::optional<HoldingStatus> from_string<HoldingStatus>(std::string_view);

// "wealth" is read as fund (custdb/types.h); "custom" names kCustom as for relation types.
template <>
std::optional<ProductType> from_string<ProductType>(std::string_view name) {
  if (normalize::iequals(name, "wealth")) return ProductType::kFund;
  for (const auto& [value, n] : enums::Table<ProductType>::rows)
    if (normalize::iequals(n, name)) return value;
  return std::nullopt;
}

std::string_view to_string(CustomerType v) { return enums::name_of(v); }
std::string_view to_string(Gender v) { return enums::name_of(v); }
std::string_view to_string(Tier v) { return enums::name_of(v); }
std::string_view to_string(Stage v) { return enums::name_of(v); }
std::string_view to_string(Risk v) { return enums::name_of(v); }
std::string_view to_string(ConsentState v) { return enums::name_of(v); }
std::string_view to_string(RelationType v) { return enums::name_of(v); }
std::string_view to_string(TransactionKind v) { return enums::name_of(v); }
std::string_view to_string(Channel v) { return enums::name_of(v); }
std::string_view to_string(ProductType v) { return enums::name_of(v); }
std::string_view to_string(HoldingStatus v) { return enums::name_of(v); }

ProductClass class_of(ProductType t) {
  switch (t) {
    case ProductType::kDeposit:
    case ProductType::kSavings:
    case ProductType::kTermDeposit:
    case ProductType::kFund:
    case ProductType::kInsurance:
      return ProductClass::kAsset;
    case ProductType::kCreditCard:
    case ProductType::kPersonalLoan:
    case ProductType::kMortgage:
      return ProductClass::kLiability;
    case ProductType::kCustom:
      break;
  }
  return ProductClass::kOther;
}

bool is_symmetric(RelationType t) {
  return t == RelationType::kHousehold || t == RelationType::kSpouse;
}

namespace {
// The directed pairs, canonical first (custdb/types.h).
constexpr std::pair<RelationType, RelationType> kDirectedPairs[] = {
    {RelationType::kParent, RelationType::kChild},
    {RelationType::kEmployer, RelationType::kEmployee},
    {RelationType::kReferrer, RelationType::kReferred},
    {RelationType::kGuarantor, RelationType::kGuaranteed},
    {RelationType::kBeneficiary, RelationType::kBenefactor},
};
}  // namespace

RelationType inverse_of(RelationType t) {
  for (const auto& [canonical_type, inverse_type] : kDirectedPairs) {
    if (t == canonical_type) return inverse_type;
    if (t == inverse_type) return canonical_type;
  }
  return t;
}

bool is_canonical(RelationType t) {
  for (const auto& pair : kDirectedPairs)
    if (t == pair.second) return false;
  return true;
}

Relationship canonical(Relationship r) {
  if (is_canonical(r.type)) return r;
  r.type = inverse_of(r.type);
  std::swap(r.from, r.to);
  return r;
}

}  // namespace custdb
