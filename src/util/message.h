// Values quoted inside error messages. A message echoes what the user gave so they can find
// it, but a value is data, not terminal output: an import header or cell can hold escape
// sequences (set the window title, clear the screen), invalid UTF-8, or be megabytes long.
// Every message that echoes a value goes through quoted(). Stateless, thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace custdb::message {

// The longest value echoed, in bytes of the input: longer ones are cut (on a UTF-8
// boundary) and end in "... (N bytes)".
inline constexpr std::size_t kMaxQuoted = 60;

// `value` between single quotes, printable: C0 controls, DEL and C1 controls are written as
// \n, \t, \r or \xHH, a byte that is not part of well-formed UTF-8 as \xHH, a backslash as
// \\ and a single quote as \'; printable UTF-8 is kept. Cut to kMaxQuoted input bytes.
// quoted("a\x1b]0;x\x07") == "'a\\x1b]0;x\\x07'"; quoted(3 MB) == "'aaaa...' ... (3000000 bytes)".
std::string quoted(std::string_view value, std::size_t max = kMaxQuoted);

}  // namespace custdb::message
