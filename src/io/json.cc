// A small, strict JSON reader for flat objects (one per line). Numbers are kept as their
// literal text so that amounts are never rounded through a double. (The writer's string
// escaping is io/display.h.)
#include <algorithm>
#include <cstdio>

#include "custdb/io.h"
#include "io/io_internal.h"
#include "util/message.h"
#include "util/normalize.h"

namespace custdb::io::detail {
namespace {

class ObjectParser {
 public:
  explicit ObjectParser(std::string_view text) : s_(text) {}

  tl::expected<JsonMembers, Problem> parse() {
    JsonMembers members;
    skip_space();
    if (!consume('{')) return fail("expected '{'");
    skip_space();
    if (!consume('}')) {
      while (true) {
        skip_space();
        if (peek() != '"') return fail("expected a key string");
        std::string key;
        if (!string_literal(key)) return tl::unexpected(problem_);
        skip_space();
        if (!consume(':')) return fail("expected ':' after key " + message::quoted(key));
        key_ = key;
        skip_space();
        std::optional<Cell> value;
        if (!value_of(value)) return tl::unexpected(problem_);
        key_.clear();
        // More keys than any table has columns is an error anyway; the bound keeps a line of
        // tiny members from costing far more memory than its bytes.
        if (members.size() == kMaxRecordFields)
          return fail("more than " + std::to_string(kMaxRecordFields) + " keys");
        members.emplace_back(std::move(key), std::move(value));
        skip_space();
        if (consume(',')) continue;
        if (consume('}')) break;
        return fail("expected ',' or '}'");
      }
    }
    skip_space();
    if (pos_ != s_.size()) return fail("text after the object");
    return members;
  }

 private:
  // Failures inside a value name its key; structural ones the row.
  tl::unexpected<Problem> fail(std::string reason) {
    problem_ = Problem{key_.empty() ? std::string("row") : field_label(key_),
                       std::move(reason) + " at column " + std::to_string(pos_ + 1)};
    return tl::unexpected(problem_);
  }
  bool failed(std::string reason) {
    (void)fail(std::move(reason));
    return false;
  }

  int peek() const { return pos_ < s_.size() ? static_cast<unsigned char>(s_[pos_]) : -1; }
  bool consume(char c) {
    if (peek() != static_cast<unsigned char>(c)) return false;
    ++pos_;
    return true;
  }
  void skip_space() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\r' || s_[pos_] == '\n'))
      ++pos_;
  }
  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  bool value_of(std::optional<Cell>& out) {
    int c = peek();
    if (c == '"') {
      Cell cell;
      if (!string_literal(cell.text)) return false;
      out = std::move(cell);
      return true;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      Cell cell;
      if (!number_literal(cell.text)) return false;
      out = std::move(cell);
      return true;
    }
    if (literal("null")) return true;
    if (literal("true")) {
      out = Cell{"true", {}, true};
      return true;
    }
    if (literal("false")) {
      out = Cell{"false", {}, true};
      return true;
    }
    if (c == '[') {
      ++pos_;
      std::vector<std::string> items;
      skip_space();
      if (!consume(']')) {
        while (true) {
          skip_space();
          if (peek() != '"') return failed("an array may hold only strings");
          std::string item;
          if (!string_literal(item)) return false;
          if (items.size() == kMaxRecordFields)
            return failed("more than " + std::to_string(kMaxRecordFields) + " items");
          items.push_back(std::move(item));
          skip_space();
          if (consume(',')) continue;
          if (consume(']')) break;
          return failed("expected ',' or ']'");
        }
      }
      out = Cell{{}, std::move(items), false};
      return true;
    }
    if (c == '{') return failed("nested objects are not supported");
    if (c == -1) return failed("missing value");
    return failed("not a JSON value");
  }

  // JSON number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
  bool number_literal(std::string& out) {
    std::size_t start = pos_;
    auto digits = [&] {
      std::size_t from = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ > from;
    };
    consume('-');
    if (peek() == '0') {
      ++pos_;
    } else if (!digits()) {
      return failed("malformed number");
    }
    if (consume('.') && !digits()) return failed("malformed number");
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (!consume('+')) consume('-');
      if (!digits()) return failed("malformed number");
    }
    out.assign(s_.substr(start, pos_ - start));
    return true;
  }

  bool hex4(std::uint32_t& out) {
    if (pos_ + 4 > s_.size()) return failed("truncated \\u escape");
    out = 0;
    for (int i = 0; i < 4; ++i) {
      char h = s_[pos_++];
      out <<= 4;
      if (h >= '0' && h <= '9') out |= static_cast<std::uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f') out |= static_cast<std::uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') out |= static_cast<std::uint32_t>(h - 'A' + 10);
      else return failed("bad hex digit in \\u escape");
    }
    return true;
  }

  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  // At an opening quote: reads the string, decoding escapes (surrogate pairs to one character).
  bool string_literal(std::string& out) {
    ++pos_;  // the opening quote
    while (true) {
      if (pos_ >= s_.size()) return failed("unterminated string");
      char c = s_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return failed("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) return failed("unterminated string");
      char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          std::uint32_t cp;
          if (!hex4(cp)) return false;
          if (cp >= 0xDC00 && cp <= 0xDFFF) return failed("unpaired low surrogate in \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            std::uint32_t low;
            if (!literal("\\u") || !hex4(low) || low < 0xDC00 || low > 0xDFFF)
              return failed("unpaired high surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default:
          --pos_;
          // A printable character as it is; a control byte escaped (message::quoted).
          if (e > ' ' && e < 0x7f) return failed(std::string("unknown escape \\") + e);
          return failed("unknown escape " + message::quoted(std::string("\\") + e));
      }
    }
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  std::string key_;  // the key whose value is being read, for error messages
  Problem problem_;
};

}  // namespace

tl::expected<JsonMembers, Problem> parse_json_object(std::string_view text) {
  return ObjectParser(text).parse();
}

Status read_json_lines(std::istream& in, std::span<const std::string_view> columns,
                       std::string_view source, const RowSink& sink) {
  if (!in.rdbuf()) return make_error(ErrorCode::kIOError, std::string(source) + ": not readable");
  std::streambuf& buf = *in.rdbuf();
  constexpr int kEnd = std::char_traits<char>::eof();
  // std::getline without its unbounded growth: a line holds at most kMaxRecordBytes, and input
  // without line ends (/dev/zero) fails once that much is read.
  auto next_line = [&](std::string& out) -> int {  // 1: a line, 0: end of input, -1: too long
    out.clear();
    int c = buf.sbumpc();
    if (c == kEnd) return 0;
    // LF, CRLF and a lone CR (old Mac files) each end a line; JSON text holds no raw CR.
    while (c != kEnd && c != '\n' && c != '\r') {
      if (out.size() == kMaxRecordBytes) return -1;
      out += static_cast<char>(c);
      c = buf.sbumpc();
    }
    if (c == '\r' && buf.sgetc() == '\n') buf.sbumpc();
    return 1;
  };
  std::string text;
  std::uint64_t line = 0;
  ReadRow row;
  while (true) {
    int got = next_line(text);
    if (got == 0) break;
    ++line;
    if (got < 0)
      return make_error(ErrorCode::kInvalidArgument,
                        std::string(source) + ":" + std::to_string(line) + ": line longer than " +
                            std::to_string(kMaxRecordBytes) + " bytes");
    if (line == 1 && text.starts_with("\xEF\xBB\xBF")) text.erase(0, 3);
    if (std::all_of(text.begin(), text.end(), [](char c) { return c == ' ' || c == '\t'; }))
      continue;
    row.line = line;
    row.cells.assign(columns.size(), std::nullopt);
    row.problem.reset();
    auto members = parse_json_object(text);
    if (!members) {
      row.problem = std::move(members.error());
    } else {
      std::vector<bool> seen(columns.size(), false);
      for (auto& [key, value] : *members) {
        if (!normalize::is_utf8(key)) {
          row.problem = Problem{field_label(key), "not UTF-8"};
          break;
        }
        auto it = std::find(columns.begin(), columns.end(), key);
        if (it == columns.end()) {
          row.problem = Problem{field_label(key), std::string(kUnknownColumn)};
          break;
        }
        std::size_t index = static_cast<std::size_t>(it - columns.begin());
        if (seen[index]) {
          row.problem = Problem{key, "duplicate key"};
          break;
        }
        seen[index] = true;
        // Every value is checked, stored text or not, so the message names line and column.
        bool utf8 = !value || normalize::is_utf8(value->text);
        if (value && value->list)
          for (const auto& item : *value->list) utf8 = utf8 && normalize::is_utf8(item);
        if (!utf8) {
          row.problem = Problem{std::string(key), "not UTF-8"};
          break;
        }
        row.cells[index] = std::move(value);
      }
    }
    if (row.problem) row.cells.assign(columns.size(), std::nullopt);
    if (auto s = sink(row); !s) return s;
  }
  if (in.bad()) return make_error(ErrorCode::kIOError, std::string(source) + ": read failed");
  return {};
}

}  // namespace custdb::io::detail
