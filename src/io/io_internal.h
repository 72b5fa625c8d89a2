// Pieces shared by import and export: the row readers (CSV, JSON Lines) and the writers'
// escaping. Readers turn a file into rows of cells indexed by column; they know nothing of
// records. Exposed here (not in the public header) for tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <istream>
#include <optional>
#include <span>
#include <streambuf>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "custdb/attributes.h"
#include "custdb/status.h"

namespace custdb::io::detail {

// Custom attributes as columns (format 5): the live attributes of `table` in `schema`, in id
// order. Import and export put their columns after the built-in ones, named as declared.
std::vector<const AttributeDef*> attribute_columns(const Schema& schema, AttributeTable table);

// Column indices into columns(Table), in the same order (checked in common.cc).
namespace customer_column {
enum : std::size_t {
  kId, kExternalRef, kType, kName, kEmail, kPhone, kBirthDate, kGender, kCity, kRegion,
  kCountry, kTier, kStage, kIncomeBand, kRisk, kCreatedAt, kTags, kConsentEmail,
  kConsentEmailDate, kConsentSms, kConsentSmsDate, kConsentPhone, kConsentPhoneDate,
  kUpdatedAt,
  // Format 4 (consent by purpose, custdb/privacy.h): appended, so older files still import.
  kConsentProfiling, kConsentProfilingDate, kConsentSharing, kConsentSharingDate,
  kConsentEmailSource, kConsentSmsSource, kConsentPhoneSource, kConsentProfilingSource,
  kConsentSharingSource, kCount
};
}
namespace relationship_column {
enum : std::size_t { kFrom, kTo, kType, kSince, kCustomType, kCount };
inline constexpr std::size_t kExported = kCustomType;  // custom_type is import-only
}
namespace transaction_column {
enum : std::size_t {
  kId, kCustomerId, kTs, kAmount, kCurrency, kKind, kChannel, kProduct, kDescription,
  kBaseAmount,
  kHoldingId,  // format 6
  kCount
};
}
namespace holding_column {
enum : std::size_t {
  kId, kCustomerId, kProductType, kProductCode, kAccountRef, kCurrency, kBalance, kBaseBalance,
  kCreditLimit, kOpenedOn, kClosedOn, kStatus, kCount
};
}
// Statement balances (import_balances): not a table, the columns of its file.
namespace balance_column {
enum : std::size_t { kId, kAccountRef, kBalance, kBaseBalance, kAsOf, kCount };
}
std::span<const std::string_view> balance_columns();

// One value as read. `list` is set only for a JSON array of strings (which only tags accept);
// `boolean` for JSON true/false (which no column accepts), `text` then being "true"/"false".
struct Cell {
  std::string text;
  std::optional<std::vector<std::string>> list;
  bool boolean = false;
};

// A row's values by column index; nullopt is absent (empty CSV cell, JSON null or no key).
using Cells = std::vector<std::optional<Cell>>;

// Why a row or a field could not be used: becomes "FILE:LINE: field: reason".
struct Problem {
  std::string field;
  std::string reason;
};

// What a reader hands over for each data row: its cells, or why it could not be read.
struct ReadRow {
  std::uint64_t line = 0;  // physical line where the row starts, 1-based
  Cells cells;
  std::optional<Problem> problem;
};

// Receives each row; an error stops the reading and is returned by the reader.
using RowSink = std::function<Status(ReadRow&)>;

// A column name as a message's field: as it is when plain (letters, digits, _ - . space, at
// most message::kMaxQuoted bytes), else message::quoted (a header may hold escape sequences).
std::string field_label(std::string_view name);

// "SOURCE:LINE: field: reason".
std::string located(std::string_view source, std::uint64_t line, std::string_view field,
                    std::string_view reason);

// The reason given for a header cell (CSV) or key (JSON) naming no column: neither a built-in
// column nor a live custom attribute of the table (custdb/attributes.h).
inline constexpr std::string_view kUnknownColumn =
    "unknown column (no built-in column or custom attribute of that name; custdb schema list)";

// CSV with a header row naming `columns` (trimmed, case-insensitive) in any order. A header
// with an unknown or duplicate column, or without one of `required`, is an error
// (kInvalidArgument, "SOURCE:1: column: reason"); so is a file without a header. Blank lines
// are skipped. A data row with the wrong number of fields or bad quoting is handed over with
// a problem, and reading continues with the next line.
Status read_csv(std::istream& in, std::span<const std::string_view> columns,
                std::span<const std::string_view> required, std::string_view source,
                const RowSink& sink);

// JSON Lines: one object per line, keys exactly the column names. Blank lines are skipped.
// Syntax errors, unknown and duplicate keys are row problems.
Status read_json_lines(std::istream& in, std::span<const std::string_view> columns,
                       std::string_view source, const RowSink& sink);

// One flat JSON object as (key, value) pairs in order; null values are nullopt.
using JsonMembers = std::vector<std::pair<std::string, std::optional<Cell>>>;
tl::expected<JsonMembers, Problem> parse_json_object(std::string_view text);

// ---- decoding (decode.cc) ---------------------------------------------------------------

// Ok when `encoding` is empty or UTF-8, or a name glibc's iconv reads; else kInvalidArgument
// "encoding: unknown encoding '...'".
Status check_encoding(std::string_view encoding);

// The input as UTF-8: a stream buffer over `source` that drops a byte order mark and transcodes
// from the encoding it names (UTF-8, UTF-16LE/BE, UTF-32LE/BE) or else from `encoding` (empty:
// UTF-8, passed through). Line ends LF, CRLF and lone CR count one line each, for messages.
// Bytes not valid in the encoding, a truncated character or (UTF-8) a NUL byte end the input
// there; error() then says "SOURCE:LINE: row: reason". Call start() first.
class DecodingBuf : public std::streambuf {
 public:
  DecodingBuf(std::streambuf& source, std::string encoding, std::string source_name);
  ~DecodingBuf() override;
  DecodingBuf(const DecodingBuf&) = delete;
  DecodingBuf& operator=(const DecodingBuf&) = delete;

  // Reads the first bytes, picks the encoding. kInvalidArgument for an unknown encoding.
  Status start();
  // The decoding error that ended the input, if any.
  const std::optional<Error>& error() const { return error_; }

 protected:
  int_type underflow() override;

 private:
  bool refill_input();
  void count_lines(const char* p, std::size_t n);
  void fail(std::string reason);

  std::streambuf& source_;
  std::string encoding_;
  std::string source_name_;
  std::string label_;          // the encoding's name in messages
  void* cd_ = nullptr;         // iconv_t; null: UTF-8 passed through
  std::vector<char> in_;       // bytes read from source_: [in_pos_, in_end_) not yet used
  std::size_t in_pos_ = 0;
  std::size_t in_end_ = 0;
  bool source_done_ = false;
  std::vector<char> out_;      // UTF-8 produced by iconv
  bool started_ = false;       // some output produced (a leading U+FEFF is dropped before)
  std::uint64_t lines_ = 0;    // line ends handed out so far
  bool after_cr_ = false;
  std::optional<Error> error_;
};

// The characters after which a spreadsheet reads a cell as a formula (OWASP: = + - @ TAB CR),
// and ' itself, which CSV export neutralizes with a leading ' (ExportOptions::neutralize) and
// import strips (ImportOptions::strip_neutralized).
inline bool is_formula_start(char c) {
  return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r' || c == '\'';
}

// Appends `value` as one CSV field, quoted when it contains , " CR LF or edge spaces.
// (JSON strings: append_json_string in io/display.h.)
void append_csv_field(std::string& out, std::string_view value);

}  // namespace custdb::io::detail
