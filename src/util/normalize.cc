#include "util/normalize.h"

#include <algorithm>

namespace custdb::normalize {
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
