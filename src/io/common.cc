// Names, columns and formats: the small pure functions of custdb/io.h.
#include <algorithm>
#include <array>
#include <cctype>

#include "custdb/io.h"
#include "io/io_internal.h"
#include "util/message.h"

namespace custdb::io {
namespace {

namespace customer_column = detail::customer_column;
namespace relationship_column = detail::relationship_column;
namespace transaction_column = detail::transaction_column;
namespace holding_column = detail::holding_column;
namespace balance_column = detail::balance_column;

constexpr std::array<std::string_view, customer_column::kCount> kCustomerColumns = {
    "id", "external_ref", "type", "name", "email", "phone", "birth_date", "gender", "city",
    "region", "country", "tier", "stage", "income_band", "risk", "created_at", "tags",
    "consent_email", "consent_email_date", "consent_sms", "consent_sms_date", "consent_phone",
    "consent_phone_date", "updated_at", "consent_profiling", "consent_profiling_date",
    "consent_sharing", "consent_sharing_date", "consent_email_source", "consent_sms_source",
    "consent_phone_source", "consent_profiling_source", "consent_sharing_source"};
constexpr std::array<std::string_view, relationship_column::kCount> kRelationshipColumns = {
    "from", "to", "type", "since", "custom_type"};
constexpr std::array<std::string_view, transaction_column::kCount> kTransactionColumns = {
    "id", "customer_id", "ts", "amount", "currency", "kind", "channel", "product",
    "description", "base_amount", "holding_id"};
constexpr std::array<std::string_view, holding_column::kCount> kHoldingColumns = {
    "id", "customer_id", "product_type", "product_code", "account_ref", "currency", "balance",
    "base_balance", "credit_limit", "opened_on", "closed_on", "status"};
constexpr std::array<std::string_view, balance_column::kCount> kBalanceColumns = {
    "id", "account_ref", "balance", "base_balance", "as_of"};

// The index enums in io_internal.h must name the same columns as these arrays.
static_assert(kCustomerColumns[customer_column::kCreatedAt] == "created_at");
static_assert(kCustomerColumns[customer_column::kConsentPhoneDate] == "consent_phone_date");
static_assert(kCustomerColumns[customer_column::kUpdatedAt] == "updated_at");
static_assert(kCustomerColumns[customer_column::kConsentSharingSource] == "consent_sharing_source");
static_assert(kRelationshipColumns[relationship_column::kCustomType] == "custom_type");
static_assert(kTransactionColumns[transaction_column::kBaseAmount] == "base_amount");
static_assert(kTransactionColumns[transaction_column::kHoldingId] == "holding_id");
static_assert(kHoldingColumns[holding_column::kCustomerId] == "customer_id");
static_assert(kHoldingColumns[holding_column::kCreditLimit] == "credit_limit");
static_assert(kHoldingColumns[holding_column::kStatus] == "status");
static_assert(kBalanceColumns[balance_column::kAsOf] == "as_of");

}  // namespace

std::string_view to_string(Table t) {
  switch (t) {
    case Table::kCustomers: return "customers";
    case Table::kRelationships: return "relationships";
    case Table::kTransactions: return "transactions";
    case Table::kHoldings: return "holdings";
  }
  return "invalid";
}

std::optional<Table> table_from_string(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (Table t :
       {Table::kCustomers, Table::kRelationships, Table::kTransactions, Table::kHoldings})
    if (to_string(t) == lower) return t;
  return std::nullopt;
}

std::span<const std::string_view> columns(Table t) {
  switch (t) {
    case Table::kCustomers: return kCustomerColumns;
    case Table::kRelationships: return kRelationshipColumns;
    case Table::kTransactions: return kTransactionColumns;
    case Table::kHoldings: return kHoldingColumns;
  }
  return {};
}

std::optional<Format> format_for_path(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == ".csv") return Format::kCsv;
  if (ext == ".jsonl" || ext == ".ndjson" || ext == ".json") return Format::kJsonLines;
  return std::nullopt;
}

namespace detail {

std::span<const std::string_view> balance_columns() { return kBalanceColumns; }

std::string field_label(std::string_view name) {
  const bool plain =
      !name.empty() && name.size() <= message::kMaxQuoted &&
      std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-' || c == ' ' || c == '.';
      });
  return plain ? std::string(name) : message::quoted(name);
}

std::vector<const AttributeDef*> attribute_columns(const Schema& schema, AttributeTable table) {
  std::vector<const AttributeDef*> out;
  for (const AttributeDef& def : schema.attributes)  // in id order
    if (!def.dropping && def.table == table) out.push_back(&def);
  return out;
}

std::string located(std::string_view source, std::uint64_t line, std::string_view field,
                    std::string_view reason) {
  std::string m(source);
  m += ':';
  m += std::to_string(line);
  m += ": ";
  m += field;
  m += ": ";
  m += reason;
  return m;
}

}  // namespace detail
}  // namespace custdb::io
