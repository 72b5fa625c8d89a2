// Amounts as exact decimal text (custdb/money.h), and the query parser's options for a base
// currency (custdb/query.h), which are its minor-unit digits.
#include "custdb/money.h"

#include <algorithm>
#include <cctype>
#include <iterator>

#include "custdb/query.h"
#include "util/iso_codes.h"
#include "util/message.h"
#include "util/normalize.h"

namespace custdb {
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

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
  // The digits depend on the currency, so an unknown one cannot be read (currency_digits
  // would guess 2).
  if (!iso_codes::is_currency(upper(currency)))
    return bad("currency: not an ISO 4217 code: " + message::quoted(currency));
  const std::string shown(text);
  text = normalize::trim_view(text);  // the one white-space set: space, tab, CR, LF
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

namespace query {

ParseOptions parse_options_for(std::string_view currency) {
  ParseOptions o;
  o.amount_decimals = currency_digits(currency);
  return o;
}

}  // namespace query
}  // namespace custdb
