// How personal data and strings are shown: masking and JSON string escaping. Not public API.
//
// One source for two users: the library's export (custdb/io.h, ExportOptions::reveal) and the
// CLI's tables and --json output, which must mask exactly as export does. The CLI links only
// the public library, where these are hidden, so display.cc is compiled into it as well (the
// custdb_display target in CMakeLists.txt); it depends on nothing but the standard library.
// Pure functions, reentrant.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace custdb::io {

// Each word keeps its first character, the rest become '*': "Anna Meyer" -> "A*** M****".
// Counts UTF-8 characters, not bytes; spaces and tabs are kept.
std::string mask_name(std::string_view name);
// The local part masked like a word, the domain kept: "anna@example.com" -> "a***@example.com".
// Without '@', masked as a name.
std::string mask_email(std::string_view email);
// A leading '+' and the last four digits kept: "+15551234567" -> "+*******4567". With four
// digits or fewer, every digit is masked.
std::string mask_phone(std::string_view phone);
// A holding's account reference (format 6): every character but the last four becomes '*'
// ("SE4550000000058398257466" -> "********************7466"); counts UTF-8 characters. A
// reference of four characters or fewer is masked whole (showing "all but the last four" of
// it would show all of it).
std::string mask_account_ref(std::string_view ref);
// Dates are masked whole.
inline constexpr std::string_view kMaskedDate = "****-**-**";
// A personal custom attribute's value (its text form, format_attribute_value): `textual`
// (text, enum, tag set) masked as a name, each word keeping its first character ("Gold
// member" -> "G*** m*****"; a tag set "a|b" as one word); any other type (numbers, amounts,
// dates, times, bools) masked whole as kMaskedValue.
inline constexpr std::string_view kMaskedValue = "****";
std::string mask_attribute(std::string_view text, bool textual);

// Appends `value` as a JSON string literal, quotes included: escapes ", \ and control
// characters (DEL too, as \u007f); well-formed UTF-8 passes through unchanged, and each byte
// that is not part of well-formed UTF-8 (old databases may hold Latin-1 bytes) becomes U+FFFD,
// so the output is always valid JSON (RFC 8259) whatever the stored bytes.
void append_json_string(std::string& out, std::string_view value);
// The same as a new string: the one JSON string writer of export and the CLI's --json output.
std::string json_string(std::string_view value);

// `text` safe to print on a terminal, for messages that pass on text they did not write (a
// file name, an engine message echoing a value): C0 controls, DEL and C1 controls (U+0080..
// U+009F, which some terminals obey as ESC sequences) as \xHH (\n \t \r by name), bytes that
// are not well-formed UTF-8 as \xHH; printable UTF-8 unchanged, so text already escaped
// (message::quoted) is not escaped twice. At most `max` bytes of output, then
// "... (N bytes)" with N the length of `text`.
std::string printable(std::string_view text, std::size_t max = static_cast<std::size_t>(-1));

}  // namespace custdb::io
