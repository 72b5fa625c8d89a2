// custdb/money.h — amounts as text: exact decimals in a currency's minor units.
//
// custdb stores every amount as an integer of minor units (cents for USD, yen for JPY; see
// Transaction::amount) and sums them in 128 bits (AmountSum). These functions convert between
// those integers and decimal text, exactly: never through floating point. Pure functions,
// reentrant.
#pragma once

#include "custdb/export.h"

#include <cstdint>
#include <string>
#include <string_view>

#include "custdb/status.h"
#include "custdb/types.h"

namespace custdb {

// Minor-unit digits of an ISO 4217 currency (case-insensitive): 0 for JPY, KRW, VND, CLP,
// ISK; 3 for BHD, KWD, OMR, JOD, TND; 2 for every other code.
CUSTDB_EXPORT int currency_digits(std::string_view currency);

// "-1234.50" -> -123450 for a 2-digit currency. Exact: [+-]digits[.digits], white space
// (space, tab, CR, LF: what every trimmed value drops) around it ignored, at most currency_digits fraction digits, magnitude at most kMaxAmount.
// kInvalidArgument otherwise, the message being the reason alone.
CUSTDB_EXPORT Result<std::int64_t> parse_amount(std::string_view text, std::string_view currency);

// -123450 -> "-1234.50"; 1000 JPY -> "1000": currency_digits fraction digits, '-' for a
// negative amount. Takes any int64 amount and any sum (AmountSum, 128 bits) exactly.
CUSTDB_EXPORT std::string format_amount(AmountSum minor_units, std::string_view currency);

}  // namespace custdb
