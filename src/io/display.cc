// Masking and JSON string escaping (io/display.h).
#include "io/display.h"

#include <algorithm>
#include <cstdio>

#include "util/utf8.h"

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

std::string mask_account_ref(std::string_view ref) {
  std::size_t chars = 0;
  for (char c : ref)
    if (!is_utf8_continuation(c)) ++chars;
  const std::size_t keep = chars > 4 ? 4 : 0;
  std::string out;
  std::size_t seen = 0;
  for (std::size_t i = 0; i < ref.size();) {
    std::size_t n = 1;
    while (i + n < ref.size() && is_utf8_continuation(ref[i + n])) ++n;
    ++seen;
    if (seen > chars - keep) out.append(ref.substr(i, n));
    else out += '*';
    i += n;
  }
  return out;
}

std::string mask_attribute(std::string_view text, bool textual) {
  return textual ? mask_name(text) : std::string(kMaskedValue);
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
  for (std::size_t p = 0; p < value.size();) {
    const char c = value[p];
    const unsigned char u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; ++p; continue;
      case '\\': out += "\\\\"; ++p; continue;
      case '\n': out += "\\n"; ++p; continue;
      case '\r': out += "\\r"; ++p; continue;
      case '\t': out += "\\t"; ++p; continue;
      case '\b': out += "\\b"; ++p; continue;
      case '\f': out += "\\f"; ++p; continue;
      default: break;
    }
    if (u < 0x20 || u == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\u%04x", u);
      out += hex;
      ++p;
    } else if (const std::size_t n = utf8::utf8_sequence_length(value, p); n > 0) {
      out.append(value.substr(p, n));  // well-formed UTF-8 passes through unchanged
      p += n;
    } else {
      // Not UTF-8 (a value stored before format 3 checked it, e.g. Latin-1 "Jos\xe9"): one
      // U+FFFD per byte, so the output is valid JSON (RFC 8259 requires UTF-8) and shows
      // where bytes were.
      out += "\xEF\xBF\xBD";
      ++p;
    }
  }
  out += '"';
}

std::string printable(std::string_view text, std::size_t max) {
  std::string out;
  std::size_t p = 0;
  while (p < text.size() && out.size() < max) {
    const unsigned char c = static_cast<unsigned char>(text[p]);
    std::size_t n = c < 0x80 ? 1 : utf8::utf8_sequence_length(text, p);
    // C1 controls (U+0080..U+009F, UTF-8 C2 80..C2 9F): CSI U+009B starts an escape sequence
    // on terminals that take 8-bit controls.
    if (n == 2 && c == 0xC2 && static_cast<unsigned char>(text[p + 1]) < 0xA0) n = 0;
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7f || n == 0) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out.append(text.substr(p, n));
      p += n;
      continue;
    }
    ++p;
  }
  if (p < text.size()) out += "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}

std::string json_string(std::string_view value) {
  std::string out;
  append_json_string(out, value);
  return out;
}

}  // namespace custdb::io
