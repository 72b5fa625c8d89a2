#include "util/normalize.h"

#include <algorithm>
#include <cctype>

namespace custdb::normalize {
namespace {
std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}
}  // namespace

std::string trim(std::string_view s) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

std::string fold(std::string_view raw) { return lower(trim(raw)); }

std::optional<std::string> email(std::string_view raw) {
  std::string e = lower(trim(raw));
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
  std::string t = lower(trim(raw));
  if (t.empty() || t.size() > 64) return std::nullopt;
  for (unsigned char c : t)
    if (c < ' ' || c == 0x7f || c == '|' || c == ',') return std::nullopt;
  return t;
}

}  // namespace custdb::normalize
