// Canonical forms of values that are compared or indexed. One place, so that a lookup and
// the index entry it must find are always derived the same way.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace custdb::normalize {

// ASCII-only lower case: independent of the C locale, so index keys never depend on it.
inline char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Trimmed, lower case; nullopt unless it has the shape local@domain.tld (no spaces, one '@',
// 3..254 characters, a dot in the domain, no empty labels).
std::optional<std::string> email(std::string_view raw);
// '+' (if given) and digits only, after removing spaces, dashes, dots and parentheses;
// nullopt unless 7..15 digits remain and nothing else was in the way.
std::optional<std::string> phone(std::string_view raw);
// Trimmed, lower case; nullopt when empty or with control characters.
std::optional<std::string> tag(std::string_view raw);
// Case-folded form of free-text attributes compared case-insensitively (city, region).
std::string fold(std::string_view raw);
// Without leading and trailing white space.
std::string trim(std::string_view raw);

}  // namespace custdb::normalize
