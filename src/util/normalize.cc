#include "util/normalize.h"

#include <algorithm>

namespace custdb::normalize {
bool is_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    std::size_t n;
    char32_t cp, min;
    if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;  // a continuation byte first, or 0xF8..0xFF
    }
    if (static_cast<std::size_t>(end - p) <= n) return false;
    for (std::size_t i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    p += n + 1;
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

std::string fold(std::string_view raw) { return lower(trim_view(raw)); }

bool same_folded(std::string_view a, std::string_view b) { return iequals(trim_view(a), trim_view(b)); }

std::optional<std::string> email(std::string_view raw) {
  std::string e = lower(trim_view(raw));
  if (e.size() < 3 || e.size() > 254) return std::nullopt;
  auto at = e.find('@');
  if (at == std::string::npos || at == 0 || e.find('@', at + 1) != std::string::npos)
    return std::nullopt;
  if (at > 64) return std::nullopt;
  for (unsigned char c : e)
    if (c <= ' ' || c == 0x7f || c == '"' || c == '(' || c == ')' || c == ',' || c == ':' ||
        c == ';' || c == '<' || c == '>' || c == '[' || c == ']' || c == '\\')
      return std::nullopt;
  std::string_view domain = std::string_view(e).substr(at + 1);
  if (domain.find('.') == std::string_view::npos || domain.front() == '.' ||
      domain.back() == '.' || domain.find("..") != std::string_view::npos)
    return std::nullopt;
  return e;
}

std::optional<std::string> phone(std::string_view raw) {
  std::string t = trim(raw), out;
  std::size_t digits = 0;
  for (std::size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    if (c >= '0' && c <= '9') {
      out += c;
      ++digits;
    } else if (c == '+' && out.empty() && i == 0) {
      out += c;
    } else if (c != ' ' && c != '-' && c != '.' && c != '(' && c != ')') {
      return std::nullopt;
    }
  }
  if (digits < 7 || digits > 15) return std::nullopt;
  return out;
}

std::optional<std::string> tag(std::string_view raw) {
  std::string t = lower(trim_view(raw));
  if (t.empty() || t.size() > 64) return std::nullopt;
  for (unsigned char c : t)
    if (c < ' ' || c == 0x7f || c == '|' || c == ',') return std::nullopt;
  return t;
}

}  // namespace custdb::normalize
