#include "util/normalize.h"
#include "util/utf8.h"

#include <algorithm>
#include <cstdlib>
#include <set>

#include <idn2.h>
#include <phonenumbers/phonenumberutil.h>
#include <phonenumbers/logger.h>
#include <utf8proc.h>

#include "util/message.h"

namespace custdb::normalize {
bool is_utf8(std::string_view text) {
  for (std::size_t p = 0; p < text.size();) {
    if (static_cast<unsigned char>(text[p]) < 0x80) {
      ++p;  // the common case, without the call
      continue;
    }
    const std::size_t n = utf8::utf8_sequence_length(text, p);
    if (n == 0) return false;
    p += n;
  }
  return true;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

std::string_view trim_view(std::string_view raw) {
  auto first = raw.find_first_not_of(kWhitespace);
  if (first == std::string_view::npos) return {};
  return raw.substr(first, raw.find_last_not_of(kWhitespace) - first + 1);
}

std::string trim(std::string_view raw) { return std::string(trim_view(raw)); }

namespace {

// utf8proc_map with `options`; nullopt for invalid UTF-8 (or out of memory).
std::optional<std::string> map_utf8(std::string_view text, int options) {
  if (text.empty()) return std::string();
  if (!is_utf8(text)) return std::nullopt;
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   static_cast<utf8proc_ssize_t>(text.size()), &out,
                   static_cast<utf8proc_option_t>(options));
  if (n < 0) return std::nullopt;
  std::string result(reinterpret_cast<const char*>(out), static_cast<std::size_t>(n));
  std::free(out);
  return result;
}

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

}  // namespace

std::string nfc(std::string_view text) {
  if (is_ascii(text)) return std::string(text);  // ASCII is its own NFC
  auto m = map_utf8(text, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  return m ? std::move(*m) : std::string(text);
}

std::string casefold(std::string_view text) {
  if (is_ascii(text)) return lower(text);  // the fold of ASCII is ASCII lower case
  auto m = map_utf8(text, UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD);
  return m ? std::move(*m) : lower(text);
}

std::string stored_text(std::string_view raw) { return nfc(trim_view(raw)); }

std::string fold(std::string_view raw) { return casefold(trim_view(raw)); }

std::string fold_v2(std::string_view raw) { return lower(trim_view(raw)); }

bool same_folded(std::string_view a, std::string_view b) {
  a = trim_view(a);
  b = trim_view(b);
  if (is_ascii(a) && is_ascii(b)) return iequals(a, b);
  return casefold(a) == casefold(b);
}

namespace {

// The domain of an email through IDNA2008 / UTS #46 (non-transitional: ß stays ß), as its
// lower-case U-label form; nullopt when libidn2 refuses it.
std::optional<std::string> idna_domain(std::string_view domain) {
  const std::string in(domain);
  char* ascii = nullptr;
  if (idn2_to_ascii_8z(in.c_str(), &ascii, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) != IDN2_OK)
    return std::nullopt;
  std::string a_label = lower(ascii);
  idn2_free(ascii);
  char* unicode = nullptr;
  if (idn2_to_unicode_8z8z(a_label.c_str(), &unicode, 0) != IDN2_OK) return std::nullopt;
  std::string u_label(unicode);
  idn2_free(unicode);
  return nfc(u_label);
}

}  // namespace

std::optional<std::string> email(std::string_view raw) {
  std::string_view e = trim_view(raw);
  if (e.size() < 3 || e.size() > 254 || !is_utf8(e)) return std::nullopt;
  auto at = e.find('@');
  if (at == std::string::npos || at == 0 || e.find('@', at + 1) != std::string::npos)
    return std::nullopt;
  for (unsigned char c : e)
    if (c <= ' ' || c == 0x7f || c == '"' || c == '(' || c == ')' || c == ',' || c == ':' ||
        c == ';' || c == '<' || c == '>' || c == '[' || c == ']' || c == '\\')
      return std::nullopt;
  // RFC 5321/6531's 64 octets bound the local part as written (NFC), not its fold: folding can
  // grow it ("İ" is 2 bytes, its fold "i̇" 3), and a valid address must not be refused for what
  // its key looks like. A fold is at most 3 times its input (CaseFolding.txt's longest
  // mappings), so the canonical address stays far below LMDB's 511-byte key.
  if (nfc(e.substr(0, at)).size() > 64) return std::nullopt;
  std::string local = casefold(e.substr(0, at));
  if (local.empty() || local.size() > 3 * 64) return std::nullopt;
  std::string_view raw_domain = e.substr(at + 1);
  if (raw_domain.empty() || raw_domain.front() == '.' || raw_domain.back() == '.' ||
      raw_domain.find("..") != std::string_view::npos)
    return std::nullopt;
  auto domain = idna_domain(raw_domain);
  if (!domain || domain->find('.') == std::string::npos) return std::nullopt;
  if (domain->size() > 253) return std::nullopt;
  std::string out = std::move(local);
  out += '@';
  out += *domain;
  return out;
}

namespace {
i18n::phonenumbers::PhoneNumberUtil& phone_util() {
  static i18n::phonenumbers::PhoneNumberUtil* util = [] {
    auto* u = i18n::phonenumbers::PhoneNumberUtil::GetInstance();
    // libphonenumber logs parse failures to stderr by default; errors are ours to report.
    u->SetLogger(new i18n::phonenumbers::NullLogger());
    return u;
  }();
  return *util;
}
}  // namespace

bool is_phone_region(std::string_view code) {
  if (code.size() != 2) return false;
  std::set<std::string> regions;
  phone_util().GetSupportedRegions(&regions);
  return regions.count(std::string(code)) > 0;
}

PhoneResult phone(std::string_view raw, std::string_view region) {
  using i18n::phonenumbers::PhoneNumberUtil;
  PhoneResult r;
  std::string_view t = trim_view(raw);
  if (t.empty() || t.size() > 64 || !is_utf8(t)) return r;
  PhoneNumberUtil& util = phone_util();
  i18n::phonenumbers::PhoneNumber number;
  const std::string text(t), reg = region.empty() ? std::string("ZZ") : std::string(region);
  const auto parsed = util.Parse(text, reg, &number);
  // A form written with its own country code ("+999 ...", "＋999 ...") whose code does not
  // exist is not a number; only a form without one needs the region.
  const bool international = text.find('+') != std::string::npos ||
                             text.find("\xEF\xBC\x8B") != std::string::npos;  // U+FF0B FULLWIDTH PLUS
  if (parsed == PhoneNumberUtil::INVALID_COUNTRY_CODE_ERROR && region.empty() && !international) {
    r.error = PhoneError::kNeedsRegion;
    return r;
  }
  // IsPossibleNumber, but a number possible only for local dialling (+1 555 0100: 7 digits
  // without an area code) is not a whole number either: E.164 needs the whole number.
  if (parsed != PhoneNumberUtil::NO_PARSING_ERROR ||
      util.IsPossibleNumberWithReason(number) != PhoneNumberUtil::IS_POSSIBLE)
    return r;
  if (number.has_extension() && !number.extension().empty()) {
    r.error = PhoneError::kExtension;
    return r;
  }
  std::string out;
  util.Format(number, PhoneNumberUtil::E164, &out);
  r.e164 = std::move(out);
  return r;
}

std::string phone_error(PhoneError e, std::string_view raw) {
  if (e == PhoneError::kNeedsRegion)
    return "phone: " + message::quoted(raw) +
           " has no country code (+CC) and the database has no phone region to read national "
           "forms in: write it with +CC, or set the region (custdb init --phone-region CC, "
           "custdb phone-region CC, Options::phone_region)";
  if (e == PhoneError::kExtension)
    return "phone: " + message::quoted(raw) +
           " has an extension, which is not stored (a phone is stored E.164): give the number "
           "without it";
  return "phone: not a phone number: " + message::quoted(raw);
}

std::optional<std::string> tag(std::string_view raw) {
  std::string_view t0 = trim_view(raw);
  if (t0.empty() || !is_utf8(t0)) return std::nullopt;
  std::string t = casefold(t0);
  if (t.empty() || t.size() > 64) return std::nullopt;
  for (unsigned char c : t)
    if (c < ' ' || c == 0x7f || c == '|' || c == ',') return std::nullopt;
  return t;
}

}  // namespace custdb::normalize
