// Canonical forms of values that are compared or indexed. One place, so that a lookup and
// the index entry it must find are always derived the same way.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace custdb::normalize {

// The white space trimmed from every value that is stored, indexed, compared or parsed (names,
// references, region, city, product, enum names in import cells, query operands, rule lines):
// ASCII space, tab, CR and LF. Other control characters are not white space; validation
// rejects them in stored text.
inline constexpr std::string_view kWhitespace = " \t\r\n";

// True when `text` is well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates
// (U+D800..U+DFFF), nothing above U+10FFFF, no truncated sequence. Every stored text field must
// pass (engine/validate.cc); JSON output relies on it (RFC 8259 requires UTF-8).
bool is_utf8(std::string_view text);

// ASCII-only lower case: independent of the C locale, so index keys never depend on it.
inline char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
std::string lower(std::string_view text);
// Equal ignoring ASCII case (locale-independent).
bool iequals(std::string_view a, std::string_view b);

// Without leading and trailing kWhitespace.
std::string_view trim_view(std::string_view raw);
std::string trim(std::string_view raw);

// Trimmed, lower case; nullopt unless it has the shape local@domain.tld (no spaces, one '@',
// 3..254 characters, a dot in the domain, no empty labels).
std::optional<std::string> email(std::string_view raw);
// '+' (if given) and digits only, after removing spaces, dashes, dots and parentheses;
// nullopt unless 7..15 digits remain and nothing else was in the way.
std::optional<std::string> phone(std::string_view raw);
// Trimmed, lower case; nullopt when empty or with control characters.
std::optional<std::string> tag(std::string_view raw);

// Region and city equality, the one definition: two values name the same region (city) when
// their fold()s are equal, i.e. trimmed and ignoring ASCII case. The segment index keys region
// and city postings by fold(), the query language holds region and city operands folded, and
// the evaluator compares with same_folded().
std::string fold(std::string_view raw);
// fold(a) == fold(b), without allocating.
bool same_folded(std::string_view a, std::string_view b);

}  // namespace custdb::normalize
