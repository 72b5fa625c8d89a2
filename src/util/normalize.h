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

// ---- Unicode text (utf8proc, Unicode 15) -------------------------------------------------------
// NFC of `text` (canonical composition: a decomposed "e" + U+0301 becomes U+00E9). Invalid
// UTF-8 comes back unchanged (validation refuses it before anything is stored).
std::string nfc(std::string_view text);
// NFC + full Unicode case folding (CaseFolding.txt, status C and F, not the Turkic T rows):
// "Straße" and "STRASSE" both fold to "strasse", "ΣΊΣΥΦΟΣ" and "σίσυφος" to "σίσυφοσ" (final
// sigma folds to σ), Cherokee "Ꭰ" (U+13A0) and "ꭰ" (U+AB70) to "Ꭰ", "İ" (U+0130) to "i" +
// U+0307 (so "İstanbul" and "istanbul" differ: the fold is locale-independent, as index keys
// must be). Invalid UTF-8 comes back ASCII-lower-cased only (what format 2 did), so a key
// derived from bytes stored by an older release stays what it was.
std::string casefold(std::string_view text);

// Email, the one canonical form (storage, lookup index, find_by_email): trimmed; local part NFC +
// full case fold (casefold above); domain through IDNA2008 / UTS #46 non-transitional
// processing (libidn2), stored as its lower-case U-label form ("BÜCHER.DE", "bücher.de" and
// "xn--bcher-kva.de" are all "bücher.de"). nullopt unless UTF-8 with the shape local@domain
// (one '@', local part 1..64 bytes as written (NFC; its fold may be longer), no spaces or
// controls, domain an IDNA-valid name with a dot and no empty label, at most 253 bytes in its
// stored U-label form, 3..254 bytes in all as written).
std::optional<std::string> email(std::string_view raw);

// Phone, the one canonical form: E.164 ("+46701234567") through libphonenumber. `region` is the
// ISO 3166-1 alpha-2 code national forms are read in (the database's phone region, ""
// for none): "+46 70 123 4567", "0046 70 123 4567" (region's international prefix) and
// "070 123 4567" (region SE) are one number.
enum class PhoneError {
  kNotANumber,   // unparseable, or libphonenumber's IsPossibleNumber is false
  kNeedsRegion,  // a national (or 00-prefixed) form and no region to read it in
  kExtension,    // a whole number followed by an extension ("ext. 12", ";ext=12"): E.164 has
                 // no place for it, and dropping it silently would lose what the user wrote
};
struct PhoneResult {
  std::optional<std::string> e164;
  PhoneError error = PhoneError::kNotANumber;  // when !e164
};
PhoneResult phone(std::string_view raw, std::string_view region);
// Whether `code` is a region libphonenumber knows (ISO 3166-1 alpha-2, upper case) .
bool is_phone_region(std::string_view code);
// The error text for PhoneError, naming the field: "phone: not a phone number: '...'".
std::string phone_error(PhoneError e, std::string_view raw);

// Tag, the one canonical form (stored, keyed, query operands): casefold(trim(raw)); nullopt
// when empty, over 64 bytes folded, not UTF-8, or with a control character, '|' or ','.
std::optional<std::string> tag(std::string_view raw);

// Region and city: stored as typed (trimmed, NFC: stored_text) and keyed by fold(): two values
// name the same region (city) when their fold()s are equal. The segment index keys region
// and city postings by fold(), the query language holds region and city operands folded, and
// the evaluator compares with same_folded().
std::string stored_text(std::string_view raw);  // nfc(trim(raw))
std::string fold(std::string_view raw);         // casefold(trim(raw))
// fold(a) == fold(b).
bool same_folded(std::string_view a, std::string_view b);

// What format 2 (before issue #15) keyed region and city by: trimmed, ASCII lower case. Only the
// format-3 upgrade uses it, to find the keys it replaces.
std::string fold_v2(std::string_view raw);

}  // namespace custdb::normalize
