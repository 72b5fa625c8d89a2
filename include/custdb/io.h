// custdb/io.h — import and export of whole tables as CSV or JSON Lines.
//
// File formats (docs/cli.md holds the full table with every value's syntax):
// - CSV: RFC 4180. A header row names the columns, in any order; an empty cell is absent (the
//   field's default). Fields containing , " CR or LF are quoted, quotes doubled.
// - JSON Lines: one flat object per line, keys are the column names. Values are strings,
//   numbers or null (= absent); `tags` may also be an array of strings.
// - Values: enums by name ("at_risk", "platinum"), dates YYYY-MM-DD, times ISO 8601
//   (parse_timestamp), tags separated by '|', amounts as exact decimals in the currency's
//   minor-unit digits ("1234.50", "1000" for JPY; parse_amount and format_amount in
//   custdb/money.h) — never floating point.
//
// Columns (export writes exactly these, in this order):
//   customers:     id,external_ref,type,name,email,phone,birth_date,gender,city,region,country,
//                  tier,stage,income_band,risk,created_at,tags,consent_email,consent_email_date,
//                  consent_sms,consent_sms_date,consent_phone,consent_phone_date,updated_at,
//                  consent_profiling,consent_profiling_date,consent_sharing,
//                  consent_sharing_date,consent_email_source,consent_sms_source,
//                  consent_phone_source,consent_profiling_source,consent_sharing_source
//                  (the columns after updated_at came with format 4; all are optional)
//                  (required in a CSV header: id, name; an empty id is assigned on import;
//                  created_at and updated_at are kept as given, absent: the time of import)
//   relationships: from,to,type,since  (+ custom_type on import; a type that is no built-in name
//                  is a custom type of that name, and export writes custom types that way)
//   transactions:  id,customer_id,ts,amount,currency,kind,channel,product,description,base_amount,
//                  holding_id
//                  (base_amount in the database's base currency; holding_id: format 6, the
//                  holding the transaction posts to, empty for none)
//   holdings:      id,customer_id,product_type,product_code,account_ref,currency,balance,
//                  base_balance,credit_limit,opened_on,closed_on,status
//                  (format 6; required in a CSV header: customer_id, product_type, currency,
//                  opened_on; balance and credit_limit in the holding's currency, base_balance
//                  in the base currency; account_ref masked unless reveal)
//   statement balances (import_balances only): id or account_ref (one of them), balance,
//                  base_balance, as_of (optional per row; default ImportBalancesOptions::as_of)
// Aggregates are not columns: the engine recomputes them as transactions are imported.
//
// Errors name the place: "FILE:LINE: field: reason", LINE being the physical line (1-based; a
// CSV header is line 1; a CSV record spanning lines is reported at its first line). LF, CRLF
// and a lone CR (old Mac files) each end a line; a line break inside a quoted CSV field is
// read as "\n" whichever it was. Values echoed in messages go through message::quoted
// (control bytes escaped, cut to 60 bytes).
//
// Free text: product and description accept "\n" and TAB (bank memos); CSV export quotes a
// cell holding a line break, JSON escapes it, import reads both back. No other field accepts
// control characters. Round trip: export (reveal) -> import into an empty database -> export
// is byte-identical for all three tables, CSV and JSON Lines.
//
// Thread-safety: the functions are reentrant; import holds the database's write lock while a
// write transaction is open, export one read snapshot for the whole table.
#pragma once

#include "custdb/export.h"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "custdb/database.h"
#include "custdb/privacy.h"
#include "custdb/status.h"

namespace custdb::io {

enum class Table { kCustomers, kRelationships, kTransactions, kHoldings };
enum class Format { kCsv, kJsonLines };

// "customers", "relationships", "transactions", "holdings" (and back, case-insensitive).
CUSTDB_EXPORT std::string_view to_string(Table t);
CUSTDB_EXPORT std::optional<Table> table_from_string(std::string_view name);
// The table's columns in export order, then the import-only ones (relationships: custom_type).
CUSTDB_EXPORT std::span<const std::string_view> columns(Table t);

// By extension, case-insensitive: .csv -> kCsv; .jsonl, .ndjson, .json -> kJsonLines.
CUSTDB_EXPORT std::optional<Format> format_for_path(const std::filesystem::path& path);

// ---- import ---------------------------------------------------------------------------------

struct ImportOptions {
  // false: all or nothing — one write transaction, the first bad row fails the import and
  // nothing is stored. true: bad rows are reported and skipped, good rows stored in batches.
  bool skip_bad = false;
  // Rows per write transaction when skip_bad (at least 1).
  std::size_t batch = 10000;
  // Optional. Called with the number of data rows read, every 10,000 rows and once at the end.
  std::function<void(std::uint64_t rows_done)> progress;
  // The file's character encoding, a name glibc's iconv knows (case-insensitive): "cp1252",
  // "latin1", "iso-8859-15", "windows-1250", "utf-16le", "utf-16be", "utf-16", ... Empty or
  // "utf-8": UTF-8. A byte order mark overrides it (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE are
  // recognized and dropped). The text is transcoded to UTF-8 before it is read. Errors (all
  // kInvalidArgument, failing the import even with skip_bad): an unknown name ("encoding:
  // unknown encoding '...'"), a byte not valid in the encoding ("FILE:LINE: row: byte 0x81 is
  // not valid 'cp1252' text"), a file ending inside a character, a NUL byte in UTF-8 input
  // (a UTF-16 file without byte order mark: name utf-16le or utf-16be). In UTF-8 input every
  // cell, stored text or not, and every column name must be well-formed UTF-8 (RFC 3629):
  // "FILE:LINE: field: not UTF-8".
  std::string encoding;
  // CSV only: a cell starting with ' followed by = + - @ TAB CR or ' loses that one ', which
  // CSV export adds (ExportOptions::neutralize). false reads cells verbatim (a file exported
  // with neutralize = false).
  bool strip_neutralized = true;
  // Optional. When the import fails with kInvalidArgument, set to what stopped it: a bad row
  // (without skip_bad; skip_bad would have skipped it) or the file as a whole (header,
  // encoding, an overlong record: skip_bad does not help). Lets a caller give the right hint.
  enum class Stop { kNone, kBadRow, kFile };
  Stop* stopped_by = nullptr;
  // Transactions only (format 6): true moves the balance of the holding a row posts to
  // (holding_id), as WriteTxn::add_transaction does. false links the posting (the holding's
  // posted sums and count move) but leaves its balance: for restoring exports, whose holdings
  // balances already include their postings (CLI `import transactions --keep-balances`).
  bool move_balances = true;
};
using ImportStop = ImportOptions::Stop;

// A row that was not imported: reported as "FILE:LINE: field: reason".
struct BadRow {
  std::uint64_t line = 0;
  std::string field;  // the column, or "row" when the row as a whole is unreadable
  std::string reason;
};

struct ImportReport {
  std::uint64_t rows = 0;      // data rows read (blank lines and the CSV header not counted)
  std::uint64_t imported = 0;  // rows stored
  std::vector<BadRow> bad;     // only with skip_bad, in file order
};

// Limits on input, so that a file without line ends (/dev/zero) or an absurd line fails fast
// in memory bounded by the limit instead of growing without end:
// - A record longer than kMaxRecordBytes fails the whole import (even with skip_bad: there is
//   no telling where the next record starts) with kInvalidArgument "FILE:LINE: line longer
//   than 1048576 bytes", LINE being where the record starts. A CSV record counts all its
//   physical lines (a quoted field may span lines); a JSON Lines record is one line.
// - A CSV record with more fields than its header is a bad row; fields past
//   kMaxRecordFields are counted, not kept. A JSON object with more than kMaxRecordFields keys,
//   or an array with more than kMaxRecordFields items, is a bad row; so is a tags cell with more
//   than kMaxRecordFields tags (more than 64 are refused anyway).
inline constexpr std::size_t kMaxRecordBytes = std::size_t{1} << 20;  // 1 MiB
inline constexpr std::size_t kMaxRecordFields = 256;

// A bad row without skip_bad fails with kInvalidArgument "FILE:LINE: field: reason" and stores
// nothing. A bad CSV header (unknown, duplicate or missing required column) fails the import
// even with skip_bad, as "FILE:1: column: reason". Storage failures (kIOError, kBusy, ...) fail
// the import with their own code; with skip_bad, batches committed before stay.
CUSTDB_EXPORT Result<ImportReport> import_file(Database& db, Table table,
                                               const std::filesystem::path& file, Format format,
                                               const ImportOptions& options = {});
// The same from a stream; messages name the source "<stdin>".
CUSTDB_EXPORT Result<ImportReport> import_stream(Database& db, Table table, std::istream& in,
                                                 Format format, const ImportOptions& options = {});

// Statement balances (format 6, `custdb import balances FILE --as-of DATE`): each row sets one
// holding's balance as WriteTxn::set_balance does, the holding named by `id` or by
// `account_ref` (exactly one per row: "FILE:LINE: id: ..."), as of the row's `as_of` or, when
// the row has none, options.as_of (neither: "as_of: required"). A missing holding, a statement
// older than the holding's balance_as_of or a bad amount is a bad row (all or nothing unless
// skip_bad, as import_file). Amounts in the holding's currency (base_balance in the base
// currency).
struct ImportBalancesOptions {
  ImportOptions import;
  std::optional<Date> as_of;
};
CUSTDB_EXPORT Result<ImportReport> import_balances(Database& db, const std::filesystem::path& file,
                                                   Format format,
                                                   const ImportBalancesOptions& options = {});

// ---- export ---------------------------------------------------------------------------------

struct ExportOptions {
  // false: name, email, phone and birth_date are masked, which makes the output safe to share
  // but not importable. An export meant for import needs reveal. Masks (docs/cli.md, Masking):
  // each word of a name keeps its first character ("Anna Meyer" -> "A*** M****"), an email its
  // domain and the local part's first character ("a***@example.com"), a phone a leading '+'
  // and its last four digits ("+*******4567"), a birth date nothing ("****-**-**").
  bool reveal = false;
  // CSV only (formula injection, OWASP): a text cell starting with = + - @ TAB or CR is written
  // with a leading ', so a spreadsheet shows it as text instead of running it as a formula; a
  // text cell starting with ' gets one more, so that import (ImportOptions::strip_neutralized)
  // can drop exactly one and read every cell back unchanged. Text cells are the free-form
  // columns: external_ref, name, email, phone ("+4670..." becomes "'+4670..."), city, region,
  // country, tags, currency, product, description and a relationship's custom type name;
  // numeric columns (ids, amounts, base_amount — "-12.50" stays), dates, times and enum names
  // are never touched. Applies to masked exports too. JSON Lines is never changed.
  bool neutralize = true;
  // Customers only (kInvalidArgument for the other tables): just the customers of this
  // segment query (custdb/query.h, amounts in the base currency's digits, as of today UTC);
  // empty: every customer. kInvalidArgument on a bad query.
  std::string segment;
  // Customers only: leave out every customer without a GRANTED consent for this purpose
  // (unknown and denied are both left out) and count them in ExportStats.
  std::optional<ConsentPurpose> purpose;
  // Optional: filled with what was written and left out.
  struct Stats {
    std::uint64_t rows = 0;                 // data rows written
    std::uint64_t left_out_no_consent = 0;  // customers left out by `purpose`
  };
  Stats* stats = nullptr;
};
using ExportStats = ExportOptions::Stats;

// Writes the table in id order (customers, relationships, transactions and holdings each by
// their id; holdings with their current balance and account_ref masked unless reveal),
// CSV with a header row and "\n" line ends, or one JSON object per line. kIOError when `out`
// fails. Reads the table itself; kCorruption when it holds another number of records than
// LMDB records for it (a damaged or torn file), after the rows read so far were written: on
// any error the output is incomplete and must be discarded.
CUSTDB_EXPORT Status export_table(const Database& db, Table table, std::ostream& out, Format format,
                                  const ExportOptions& options = {});

// ---- subject access -------------------------------------------------------------------------

// Writes `record` (ReadView::subject_record) as one JSON document (RFC 8259, UTF-8, a final
// newline), unmasked: it is the copy the customer is owed. Members, in order: "format"
// ("custdb-subject-1"), "generated_at", "customer" (every field, consents with their source
// and date, aggregates, "holdings" aggregates (format 6), scores or null), "consent_history",
// "relationships" (each with "direction": "from" this customer or "to" it), "transactions"
// (with holding_id), "holdings" (format 6: every holding, account_ref unmasked), "rule_moves",
// "audit" (entries naming the customer). Amounts are decimal strings in their currency (`base_currency` for
// aggregates, scores and base amounts); dates ISO 8601. kIOError when `out` fails.
CUSTDB_EXPORT Status write_subject_json(const SubjectRecord& record, std::string_view base_currency,
                                        std::ostream& out);

}  // namespace custdb::io
