// Masking and JSON string escaping (io/display.h).
#include "io/display.h"

#include <algorithm>
#include <cstdio>

namespace custdb::io {
namespace {

bool is_utf8_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Keeps the first character (all its UTF-8 bytes) and writes one '*' per further character.
void append_masked_word(std::string& out, std::string_view word) {
  std::size_t i = 0;
  if (i < word.size()) {
    out += word[i++];
    while (i < word.size() && is_utf8_continuation(word[i])) out += word[i++];
  }
  for (; i < word.size(); ++i)
    if (!is_utf8_continuation(word[i])) out += '*';
}

}  // namespace

std::string mask_name(std::string_view name) {
  std::string out;
  std::size_t i = 0;
  while (i < name.size()) {
    if (name[i] == ' ' || name[i] == '\t') {
      out += name[i++];
      continue;
    }
    std::size_t end = i;
    while (end < name.size() && name[end] != ' ' && name[end] != '\t') ++end;
    append_masked_word(out, name.substr(i, end - i));
    i = end;
  }
  return out;
}

std::string mask_email(std::string_view email) {
  auto at = email.rfind('@');
  if (at == std::string_view::npos) return mask_name(email);
  std::string out;
  append_masked_word(out, email.substr(0, at));
  out += email.substr(at);
  return out;
}

std::string mask_phone(std::string_view phone) {
  std::size_t digits = static_cast<std::size_t>(
      std::count_if(phone.begin(), phone.end(), [](char c) { return c >= '0' && c <= '9'; }));
  // Short numbers (not valid phones) are masked whole rather than mostly shown.
  std::size_t keep = digits > 4 ? 4 : 0;
  std::string out;
  std::size_t seen = 0;
  for (char c : phone) {
    if (c >= '0' && c <= '9') {
      ++seen;
      out += seen > digits - keep ? c : '*';
    } else {
      out += c;
    }
  }
  return out;
}

void append_json_string(std::string& out, std::string_view value) {
  out += '"';
  for (char c : value) {
    unsigned char u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (u < 0x20 || u == 0x7f) {
          char hex[8];
          std::snprintf(hex, sizeof hex, "\\u%04x", u);
          out += hex;
        } else {
          out += c;  // UTF-8 passes through unchanged
        }
    }
  }
  out += '"';
}

std::string json_string(std::string_view value) {
  std::string out;
  append_json_string(out, value);
  return out;
}

}  // namespace custdb::io
