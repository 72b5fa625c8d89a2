// ISO 3166-1 alpha-2 country codes and ISO 4217 alpha-3 currency codes, as Debian's iso-codes
// package lists them. The lists are generated at build time from its JSON
// (cmake/iso_codes.cmake -> build/generated/iso_codes_generated.h); nothing here is typed by
// hand. Thread-safe (constant data).
//
// What counts:
// - Countries: exactly the alpha_2 codes of iso_3166-1.json (249 in iso-codes 4.15): "GB", not
//   "UK" (exceptionally reserved); no "EU" (reserved, not a country); no user-assigned codes
//   ("XK", "XX", "ZZ", "AA", "QM".."QZ", "XA".."XZ"); no withdrawn codes (iso_3166-3: "YU", "CS",
//   "AN").
// - Currencies: the alpha_3 codes of iso_4217.json (current codes only; withdrawn ones such as
//   "DEM", "FRF" and "ITL" are not there), minus "XXX" ("no currency is involved") and "XTS"
//   ("reserved for testing"), which name no money an amount could be in. Fund and metal codes
//   ("XAU", "XDR", "CHE") are accepted.
#pragma once

#include <string_view>

namespace custdb::iso_codes {

// `code` exactly as listed: upper case ("DE"; "de" is false). Callers upper-case first.
bool is_country(std::string_view code);
// `code` exactly as listed, upper case ("EUR"), and not XXX or XTS.
bool is_currency(std::string_view code);

}  // namespace custdb::iso_codes
