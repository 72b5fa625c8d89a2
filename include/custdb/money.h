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
// ISK; 3 for BHD, KWD, OMR, JOD, TND; 2 for every other code, listed or not (it does not
// check the code: parse_amount and validation do). custdb's own table, not iso-codes' (whose
// JSON has no minor units); it is part of what stored minor units mean, so it does not change
// with the installed iso-codes.
CUSTDB_EXPORT int currency_digits(std::string_view currency);

// "-1234.50" -> -123450 for a 2-digit currency. Exact: [+-]digits[.digits], white space
// (space, tab, CR, LF: what every trimmed value drops) around it ignored, at most currency_digits fraction digits, magnitude at most kMaxAmount.
// kInvalidArgument otherwise, the message being the reason alone; also when `currency` is not
// an ISO 4217 code listed by iso-codes (either case; not XXX or XTS): "currency: not an ISO
// 4217 code: 'XYZ'" (its digits would be a guess).
CUSTDB_EXPORT Result<std::int64_t> parse_amount(std::string_view text, std::string_view currency);

// -123450 -> "-1234.50"; 1000 JPY -> "1000": currency_digits fraction digits, '-' for a
// negative amount. Takes any int64 amount and any sum (AmountSum, 128 bits) exactly.
CUSTDB_EXPORT std::string format_amount(AmountSum minor_units, std::string_view currency);

}  // namespace custdb
