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
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "custdb/status.h"

namespace custdb::io::detail {

// Column indices into columns(Table), in the same order (checked in common.cc).
namespace customer_column {
enum : std::size_t {
  kId, kExternalRef, kType, kName, kEmail, kPhone, kBirthDate, kGender, kCity, kRegion,
  kCountry, kTier, kStage, kIncomeBand, kRisk, kCreatedAt, kTags, kConsentEmail,
  kConsentEmailDate, kConsentSms, kConsentSmsDate, kConsentPhone, kConsentPhoneDate,
  kUpdatedAt, kCount
};
}
namespace relationship_column {
enum : std::size_t { kFrom, kTo, kType, kSince, kCustomType, kCount };
inline constexpr std::size_t kExported = kCustomType;  // custom_type is import-only
}
namespace transaction_column {
enum : std::size_t {
  kId, kCustomerId, kTs, kAmount, kCurrency, kKind, kChannel, kProduct, kDescription,
  kBaseAmount, kCount
};
}

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

// "SOURCE:LINE: field: reason".
std::string located(std::string_view source, std::uint64_t line, std::string_view field,
                    std::string_view reason);

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

// Appends `value` as one CSV field, quoted when it contains , " CR LF or edge spaces.
// (JSON strings: append_json_string in io/display.h.)
void append_csv_field(std::string& out, std::string_view value);

}  // namespace custdb::io::detail
