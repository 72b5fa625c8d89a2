// The one UTF-8 decoder (RFC 3629), header-only so that code outside the library's objects
// (the CLI's display helpers, io/display.cc, linked beside libcustdb.so) steps through text
// exactly as validation does. Stateless, thread-safe.
#pragma once

#include <cstddef>
#include <string_view>

namespace custdb::utf8 {

// Length in bytes (1..4) of the well-formed UTF-8 sequence that starts at text[pos], or 0 when
// none does: no overlong forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no
// truncated sequence. `pos` < text.size(). normalize::is_utf8, message::quoted and the JSON
// writer all step with it.
inline std::size_t utf8_sequence_length(std::string_view text, std::size_t pos) {
  const unsigned char c = static_cast<unsigned char>(text[pos]);
  if (c < 0x80) return 1;
  std::size_t n;
  char32_t cp, min;
  if ((c & 0xE0) == 0xC0) {
    n = 1, cp = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 2, cp = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 3, cp = c & 0x07, min = 0x10000;
  } else {
    return 0;  // a continuation byte first, or 0xF8..0xFF
  }
  if (text.size() - pos <= n) return 0;
  for (std::size_t i = 1; i <= n; ++i) {
    const unsigned char b = static_cast<unsigned char>(text[pos + i]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n + 1;
}

}  // namespace custdb::utf8
