// CSV per RFC 4180, read as a stream of characters so that quoted fields may span lines and
// files of any size pass through without being held in memory. A record holds at most
// kMaxRecordBytes (all its lines) and keeps at most kMaxRecordFields + 1 fields, so memory is
// bounded by the limit whatever the input (custdb/io.h).
#include <algorithm>
#include <cctype>
#include <streambuf>

#include "custdb/io.h"
#include "io/io_internal.h"
#include "util/normalize.h"

namespace custdb::io::detail {
namespace {

// Splits the character stream into records of fields, counting physical lines.
class CsvScanner {
 public:
  // A byte order mark is dropped before (DecodingBuf): here every byte is text, so a header
  // starting with U+F000..U+FFFF (EF ..) is a column name like any other.
  explicit CsvScanner(std::istream& in) : buf_(*in.rdbuf()) {}

  // The last record read by next() passed kMaxRecordBytes; its fields are incomplete and the
  // rest of the input is not read.
  bool too_long() const { return too_long_; }
  // Fields of the last record, including those past kMaxRecordFields + 1 that were not kept.
  std::size_t field_count() const { return field_count_; }

  // Reads the next non-blank record into `fields`. Returns false at the end of input. On bad
  // quoting, `problem_column` is the index of the offending field and `problem` the reason;
  // the rest of the record's line is skipped.
  bool next(std::vector<std::string>& fields, std::uint64_t& start_line,
            std::size_t& problem_column, std::string& problem) {
    fields.clear();
    problem.clear();
    field_count_ = 0;
    // Blank lines separate nothing in CSV; skipping them tolerates a trailing empty line.
    // They belong to no record, so they do not count against kMaxRecordBytes: counted, they
    // made a run of 1 MiB of blank lines end the input there, silently dropping the rows after.
    record_bytes_ = 0;
    int c = get();
    while (c == '\n' || c == '\r') {
      if (c == '\r' && peek() == '\n') get();
      ++line_;
      record_bytes_ = 0;
      c = get();
    }
    if (c == kEnd) return false;
    start_line = line_;
    record_bytes_ = 1;  // blank lines before the record do not count
    std::string field;
    while (true) {
      if (c == '"') {
        // Quoted field: everything up to the closing quote, "" being one quote.
        while (true) {
          c = get();
          if (c == kEnd) {
            problem_column = fields.size();
            problem = "unterminated quoted field (opened on line " + std::to_string(start_line) +
                      ")";
            return true;
          }
          if (c == '"') {
            if (peek() == '"') {
              get();
              field += '"';
              continue;
            }
            break;
          }
          if (c == '\r') {
            // A line break inside a quoted field is "\n" whichever line end the file uses:
            // free text stores "\n" (CR is no character of any field).
            if (peek() == '\n') get();
            c = '\n';
          }
          if (c == '\n') ++line_;
          field += static_cast<char>(c);
        }
        c = get();
        if (c != ',' && c != '\n' && c != '\r' && c != kEnd) {
          problem_column = fields.size();
          problem = "text after the closing quote";
          skip_line(c);
          return true;
        }
      } else {
        while (c != ',' && c != '\n' && c != '\r' && c != kEnd) {
          if (c == '"') {
            problem_column = fields.size();
            problem = "quote inside an unquoted field (quote the whole field)";
            skip_line(c);
            return true;
          }
          field += static_cast<char>(c);
          c = get();
        }
      }
      // Fields past the limit are counted, not kept: a line of commas costs no memory.
      if (++field_count_ <= kMaxRecordFields + 1) fields.push_back(std::move(field));
      field.clear();
      if (c == ',') {
        c = get();
        continue;
      }
      if (c == '\r' && peek() == '\n') get();  // CRLF is one line end, a lone CR another
      if (c != kEnd) ++line_;
      return true;
    }
  }

 private:
  static constexpr int kEnd = std::char_traits<char>::eof();

  // Past kMaxRecordBytes in one record the input ends here (too_long_), which bounds both the
  // field being built and the time spent on input without line ends.
  int get() {
    if (too_long_ || ++record_bytes_ > kMaxRecordBytes) {
      too_long_ = true;
      return kEnd;
    }
    int c = buf_.sbumpc();
    return c == kEnd ? kEnd : static_cast<unsigned char>(c);
  }
  int peek() {
    int c = buf_.sgetc();
    return c == kEnd ? kEnd : static_cast<unsigned char>(c);
  }
  // Drops the rest of the current line after a quoting problem at character c.
  void skip_line(int c) {
    while (c != '\n' && c != '\r' && c != kEnd) c = get();
    if (c == '\r' && peek() == '\n') get();
    if (c != kEnd) ++line_;
  }

  std::streambuf& buf_;
  std::uint64_t line_ = 1;
  std::size_t record_bytes_ = 0;  // of the record being read, blank lines before it excluded
  std::size_t field_count_ = 0;
  bool too_long_ = false;
};

}  // namespace

Status read_csv(std::istream& in, std::span<const std::string_view> columns,
                std::span<const std::string_view> required, std::string_view source,
                const RowSink& sink) {
  auto header_error = [&](std::string_view field, std::string_view reason) {
    return make_error(ErrorCode::kInvalidArgument, located(source, 1, field, reason));
  };
  if (!in.rdbuf()) return make_error(ErrorCode::kIOError, std::string(source) + ": not readable");
  CsvScanner scanner(in);

  std::vector<std::string> fields;
  std::uint64_t line = 0;
  std::size_t problem_column = 0;
  std::string problem;
  auto too_long = [&](std::uint64_t at) {
    return make_error(ErrorCode::kInvalidArgument,
                      std::string(source) + ":" + std::to_string(at) + ": line longer than " +
                          std::to_string(kMaxRecordBytes) + " bytes");
  };
  if (!scanner.next(fields, line, problem_column, problem))
    return header_error("row", "no header row");
  if (scanner.too_long()) return too_long(line);
  if (!problem.empty()) return make_error(ErrorCode::kInvalidArgument,
                                          located(source, line, "row", "header: " + problem));

  // column_of[i]: the column index of the file's i-th field.
  std::vector<std::size_t> column_of;
  std::vector<bool> seen(columns.size(), false);
  for (const auto& raw : fields) {
    if (!normalize::is_utf8(raw))
      return make_error(ErrorCode::kInvalidArgument,
                        located(source, line, field_label(raw), "not UTF-8"));
    std::string name = normalize::fold(raw);
    auto it = std::find(columns.begin(), columns.end(), name);
    if (it == columns.end())
      return make_error(ErrorCode::kInvalidArgument,
                        located(source, line, name.empty() ? "row" : field_label(raw),
                                name.empty() ? "empty column name" : kUnknownColumn));
    std::size_t index = static_cast<std::size_t>(it - columns.begin());
    if (seen[index])
      return make_error(ErrorCode::kInvalidArgument,
                        located(source, line, name, "duplicate column"));
    seen[index] = true;
    column_of.push_back(index);
  }
  for (std::string_view name : required) {
    auto it = std::find(columns.begin(), columns.end(), name);
    if (it == columns.end() || !seen[static_cast<std::size_t>(it - columns.begin())])
      return make_error(ErrorCode::kInvalidArgument,
                        located(source, line, name, "missing required column"));
  }

  ReadRow row;
  while (scanner.next(fields, row.line, problem_column, problem)) {
    if (scanner.too_long()) return too_long(row.line);
    row.cells.assign(columns.size(), std::nullopt);
    row.problem.reset();
    if (!problem.empty()) {
      std::string field = problem_column < column_of.size()
                              ? std::string(columns[column_of[problem_column]])
                              : std::string("row");
      row.problem = Problem{std::move(field), problem};
    } else if (scanner.field_count() != column_of.size()) {
      row.problem = Problem{"row", "expected " + std::to_string(column_of.size()) +
                                       " fields, found " + std::to_string(scanner.field_count())};
    } else {
      for (std::size_t i = 0; i < fields.size(); ++i) {
        if (fields[i].empty()) continue;
        // Checked here for every column, stored text or not (an enum or a number cell too),
        // so the message names the file, line and column.
        if (!normalize::is_utf8(fields[i])) {
          row.cells.assign(columns.size(), std::nullopt);
          row.problem = Problem{std::string(columns[column_of[i]]), "not UTF-8"};
          break;
        }
        row.cells[column_of[i]] = Cell{std::move(fields[i]), {}, false};
      }
    }
    if (auto s = sink(row); !s) return s;
  }
  // The input never ends silently at the limit: rows after it would be lost with success.
  if (scanner.too_long()) return too_long(row.line);
  if (in.bad()) return make_error(ErrorCode::kIOError, std::string(source) + ": read failed");
  return {};
}

void append_csv_field(std::string& out, std::string_view value) {
  bool quote = value.find_first_of(",\"\r\n") != std::string_view::npos ||
               (!value.empty() && (value.front() == ' ' || value.back() == ' '));
  if (!quote) {
    out += value;
    return;
  }
  out += '"';
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

}  // namespace custdb::io::detail
