#include "util/iso_codes.h"

#include <algorithm>

#include "iso_codes_generated.h"  // build/generated, from cmake/iso_codes.cmake

namespace custdb::iso_codes {

bool is_country(std::string_view code) {
  return std::binary_search(iso_data::kIsoCountries.begin(), iso_data::kIsoCountries.end(), code);
}

bool is_currency(std::string_view code) {
  // Listed by ISO 4217, but not currencies an amount can be in.
  if (code == "XXX" || code == "XTS") return false;
  return std::binary_search(iso_data::kIsoCurrencies.begin(), iso_data::kIsoCurrencies.end(),
                            code);
}

}  // namespace custdb::iso_codes
