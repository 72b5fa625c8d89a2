// Names, columns, formats, exact amounts and masking: the small pure functions of custdb/io.h.
#include <algorithm>
#include <array>
#include <cctype>

#include "custdb/io.h"
#include "io/io_internal.h"

namespace custdb::io {
namespace {

namespace customer_column = detail::customer_column;
namespace relationship_column = detail::relationship_column;
namespace transaction_column = detail::transaction_column;

constexpr std::array<std::string_view, customer_column::kCount> kCustomerColumns = {
    "id", "external_ref", "type", "name", "email", "phone", "birth_date", "gender", "city",
    "region", "country", "tier", "stage", "income_band", "risk", "created_at", "tags",
    "consent_email", "consent_email_date", "consent_sms", "consent_sms_date", "consent_phone",
    "consent_phone_date", "updated_at"};
constexpr std::array<std::string_view, relationship_column::kCount> kRelationshipColumns = {
    "from", "to", "type", "since", "custom_type"};
constexpr std::array<std::string_view, transaction_column::kCount> kTransactionColumns = {
    "id", "customer_id", "ts", "amount", "currency", "kind", "channel", "product",
    "description", "base_amount"};

// The index enums in io_internal.h must name the same columns as these arrays.
static_assert(kCustomerColumns[customer_column::kCreatedAt] == "created_at");
static_assert(kCustomerColumns[customer_column::kConsentPhoneDate] == "consent_phone_date");
static_assert(kCustomerColumns[customer_column::kUpdatedAt] == "updated_at");
static_assert(kRelationshipColumns[relationship_column::kCustomType] == "custom_type");
static_assert(kTransactionColumns[transaction_column::kBaseAmount] == "base_amount");

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool is_utf8_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Keeps the first character (all its UTF-8 bytes) and writes one '*' per further character.
void append_masked_word(std::string& out, std::string_view word) {
  std::size_t i = 0;
  if (i < word.size()) {
    out += word[i++];
    while (i < word.size() && is_utf8_continuation(word[i])) out += word[i++];
  }
  for (; i < word.size(); ++i)
    if (!is_utf8_continuation(word[i])) out += '*';
}

}  // namespace

std::string_view to_string(Table t) {
  switch (t) {
    case Table::kCustomers: return "customers";
    case Table::kRelationships: return "relationships";
    case Table::kTransactions: return "transactions";
  }
  return "invalid";
}

std::optional<Table> table_from_string(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (Table t : {Table::kCustomers, Table::kRelationships, Table::kTransactions})
    if (to_string(t) == lower) return t;
  return std::nullopt;
}

std::span<const std::string_view> columns(Table t) {
  switch (t) {
    case Table::kCustomers: return kCustomerColumns;
    case Table::kRelationships: return kRelationshipColumns;
    case Table::kTransactions: return kTransactionColumns;
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

// ---- amounts --------------------------------------------------------------------------------

int currency_digits(std::string_view currency) {
  // ISO 4217 minor units for the currencies that differ from the usual two.
  static constexpr std::string_view kNoDecimals[] = {"JPY", "KRW", "VND", "CLP", "ISK"};
  static constexpr std::string_view kThreeDecimals[] = {"BHD", "KWD", "OMR", "JOD", "TND"};
  std::string code = upper(currency);
  if (std::find(std::begin(kNoDecimals), std::end(kNoDecimals), code) != std::end(kNoDecimals))
    return 0;
  if (std::find(std::begin(kThreeDecimals), std::end(kThreeDecimals), code) !=
      std::end(kThreeDecimals))
    return 3;
  return 2;
}

Result<std::int64_t> parse_amount(std::string_view text, std::string_view currency) {
  auto bad = [&](std::string reason) { return make_error(ErrorCode::kInvalidArgument, reason); };
  const std::string shown(text);
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  bool negative = false;
  if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  std::string_view whole = text, fraction;
  bool has_point = false;
  if (auto dot = text.find('.'); dot != std::string_view::npos) {
    whole = text.substr(0, dot);
    fraction = text.substr(dot + 1);
    has_point = true;
  }
  auto all_digits = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (whole.empty() || !all_digits(whole) || (has_point && fraction.empty()) ||
      !all_digits(fraction))
    return bad("not a decimal amount: '" + shown + "'");
  const int digits = currency_digits(currency);
  if (fraction.size() > static_cast<std::size_t>(digits))
    return bad("'" + shown + "' has more than " + std::to_string(digits) +
               " decimal places for " + upper(currency));

  // Whole part and fraction as one integer of minor units; the bound keeps it far from
  // overflow (kMaxAmount < 2^63 / 10).
  std::int64_t minor = 0;
  auto push_digit = [&](char c) {
    minor = minor * 10 + (c - '0');
    return minor <= kMaxAmount;
  };
  for (char c : whole)
    if (!push_digit(c)) return bad("magnitude above 10^15 minor units");
  for (int i = 0; i < digits; ++i)
    if (!push_digit(static_cast<std::size_t>(i) < fraction.size() ? fraction[i] : '0'))
      return bad("magnitude above 10^15 minor units");
  return negative ? -minor : minor;
}

std::string format_amount(AmountSum minor_units, std::string_view currency) {
  const int digits = currency_digits(currency);
  // Unsigned magnitude: negating the most negative value would overflow.
  __extension__ using U128 = unsigned __int128;
  U128 magnitude = minor_units < 0 ? U128(0) - static_cast<U128>(minor_units)
                                   : static_cast<U128>(minor_units);
  std::string text;  // std::to_string has no 128-bit overload
  do {
    text.insert(text.begin(), static_cast<char>('0' + static_cast<int>(magnitude % 10)));
    magnitude /= 10;
  } while (magnitude != 0);
  if (digits > 0) {
    if (text.size() <= static_cast<std::size_t>(digits))
      text.insert(0, static_cast<std::size_t>(digits) + 1 - text.size(), '0');
    text.insert(text.size() - static_cast<std::size_t>(digits), 1, '.');
  }
  if (minor_units < 0) text.insert(0, 1, '-');
  return text;
}

// ---- masking --------------------------------------------------------------------------------

std::string mask_name(std::string_view name) {
  std::string out;
  std::size_t i = 0;
  while (i < name.size()) {
    if (name[i] == ' ' || name[i] == '\t') {
      out += name[i++];
      continue;
    }
    std::size_t end = i;
    while (end < name.size() && name[end] != ' ' && name[end] != '\t') ++end;
    append_masked_word(out, name.substr(i, end - i));
    i = end;
  }
  return out;
}

std::string mask_email(std::string_view email) {
  auto at = email.rfind('@');
  if (at == std::string_view::npos) return mask_name(email);
  std::string out;
  append_masked_word(out, email.substr(0, at));
  out += email.substr(at);
  return out;
}

std::string mask_phone(std::string_view phone) {
  std::size_t digits = static_cast<std::size_t>(
      std::count_if(phone.begin(), phone.end(), [](char c) { return c >= '0' && c <= '9'; }));
  // Short numbers (not valid phones) are masked whole rather than mostly shown.
  std::size_t keep = digits > 4 ? 4 : 0;
  std::string out;
  std::size_t seen = 0;
  for (char c : phone) {
    if (c >= '0' && c <= '9') {
      ++seen;
      out += seen > digits - keep ? c : '*';
    } else {
      out += c;
    }
  }
  return out;
}

namespace detail {

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
