#include "util/message.h"

#include <cstdio>

#include "util/utf8.h"

namespace custdb::message {
namespace {

// Length of the well-formed UTF-8 sequence at p, or 0 when p does not start one or starts a
// C1 control (U+0080..U+009F), which is escaped like a C0 one.
std::size_t utf8_length(std::string_view s, std::size_t p) {
  const std::size_t n = utf8::utf8_sequence_length(s, p);
  if (n == 2 && static_cast<unsigned char>(s[p]) == 0xC2 && static_cast<unsigned char>(s[p + 1]) <= 0x9F)
    return 0;
  return n;
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
