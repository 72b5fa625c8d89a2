#include "util/message.h"

#include <cstdio>

namespace custdb::message {
namespace {

// Length of the well-formed UTF-8 sequence at p (1..4), or 0 when p does not start one.
std::size_t utf8_length(std::string_view s, std::size_t p) {
  unsigned char c = static_cast<unsigned char>(s[p]);
  std::size_t n;
  char32_t cp, min;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    n = 1, cp = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 2, cp = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 3, cp = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() - p <= n) return 0;
  for (std::size_t i = 1; i <= n; ++i) {
    unsigned char b = static_cast<unsigned char>(s[p + i]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  if (cp >= 0x80 && cp <= 0x9F) return 0;  // C1 controls: escaped like C0
  return n + 1;
}

void hex(std::string& out, unsigned char c) {
  char buf[5];
  std::snprintf(buf, sizeof buf, "\\x%02x", c);
  out += buf;
}

}  // namespace

std::string quoted(std::string_view value, std::size_t max) {
  std::string out = "'";
  std::size_t p = 0;
  while (p < value.size() && p < max) {
    unsigned char c = static_cast<unsigned char>(value[p]);
    if (c == '\n') {
      out += "\\n", ++p;
    } else if (c == '\t') {
      out += "\\t", ++p;
    } else if (c == '\r') {
      out += "\\r", ++p;
    } else if (c == '\\' || c == '\'') {
      out += '\\', out += static_cast<char>(c), ++p;
    } else if (c < 0x20 || c == 0x7f) {
      hex(out, c), ++p;
    } else if (std::size_t n = utf8_length(value, p); n == 0) {
      hex(out, c), ++p;
    } else {
      if (p + n > max && p > 0) break;  // never cut inside a character
      out.append(value.substr(p, n)), p += n;
    }
  }
  out += '\'';
  if (p < value.size()) out += "... (" + std::to_string(value.size()) + " bytes)";
  return out;
}

}  // namespace custdb::message
