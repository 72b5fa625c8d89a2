// Shared by the subcommands of the custdb CLI: global options, opening the database, loading
// keys, the one ErrorCode -> exit code mapping, output (aligned tables, JSON, masking) and the
// progress bar. Every subcommand lives in its own cmd_<name>.cc and registers itself through
// the add_<name> functions declared at the end.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <CLI/CLI.hpp>

#include "custdb/analytics.h"
#include "custdb/database.h"
#include "custdb/io.h"
#include "custdb/key.h"
#include "custdb/money.h"
#include "custdb/status.h"
#include "custdb/types.h"

namespace custdb::cli {

// ---- global options ---------------------------------------------------------------------------

struct Globals {
  std::string db;               // --db PATH or CUSTDB_DB
  std::string passphrase_file;  // --passphrase-file FILE
  std::string key_file;         // --key-file FILE (32 raw bytes or 64 hex digits)
  bool json = false;            // --json
  bool reveal = false;          // --reveal: show names, emails, phones, birth dates
  unsigned max_readers = 0;     // --max-readers N: reader slots (0: Options' default)
  bool skip_page_check = false; // --skip-page-check: do not walk LMDB's pages at open
  std::string phone_region;     // --phone-region CC or CUSTDB_PHONE_REGION (Options::phone_region)
  bool read_only = false;       // --read-only or CUSTDB_READ_ONLY: never open for writing
  std::string command;          // the subcommand being run (set by main before it runs)
};

// Environment variables holding secrets (a secret is never a command-line argument).
inline constexpr const char* kPassphraseEnv = "CUSTDB_PASSPHRASE";
inline constexpr const char* kNewPassphraseEnv = "CUSTDB_NEW_PASSPHRASE";

// ---- exit codes and errors ----------------------------------------------------------------------

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the operation failed (not found, problems found, I/O)
inline constexpr int kExitUsage = 2;    // bad command line, query syntax or date
inline constexpr int kExitAuth = 3;     // wrong or missing passphrase or key, or a key
                                        // (analyst) not allowed to do this

// The one mapping from library errors to exit codes.
int exit_code(ErrorCode code);

// Thrown by the die_* helpers, caught in main: unwinds (closing the database) and exits.
struct ExitRequest {
  int code;
};

// Print "custdb: <message>" to stderr and exit with the mapped / given code.
[[noreturn]] void die(const Error& error);
[[noreturn]] void die_usage(std::string_view message);
[[noreturn]] void die_failure(std::string_view message);
void warn(std::string_view message);  // "custdb: <message>" on stderr, no exit

template <class T>
T must(Result<T> r) {
  if (!r) die(r.error());
  return std::move(*r);
}
inline void must(Status s) {
  if (!s) die(s.error());
}

// ---- database and keys ----------------------------------------------------------------------------

// The database directory (--db or CUSTDB_DB); a usage error when neither is given.
std::filesystem::path db_path(const Globals& g);
// Whether a database exists at the path (its data file is present).
bool db_exists(const Globals& g);

// The secret for the database: --key-file (raw key), --passphrase-file, or CUSTDB_PASSPHRASE,
// in that order. Null when none is given. The secret goes straight into locked, dump-excluded
// memory; CUSTDB_PASSPHRASE is wiped from the environment once read (later calls return the
// same secret).
struct LoadedKey {
  std::shared_ptr<const KeyMaterial> key;
  bool from_env = false;
};
LoadedKey load_key(const Globals& g);
// The new secret for rekey: --new-key-file, --new-passphrase-file or CUSTDB_NEW_PASSPHRASE.
std::shared_ptr<const KeyMaterial> load_new_key(const std::string& new_passphrase_file,
                                                const std::string& new_key_file);

// Disables core dumps of this process (RLIMIT_CORE 0, PR_SET_DUMPABLE 0) for the rest of its
// life; load_key and load_new_key call it before they read a secret.
void protect_secrets();

// Options every command starts from: the global options that apply to any open.
Options base_options(const Globals& g);
// Opens the existing database (never creates one), with the key if one is given: a secret
// from any source, CUSTDB_PASSPHRASE included, fails on a plaintext database (exit 3).
Database open_database(const Globals& g, bool read_only);
// ---- the audit trail (docs/security.md, "Audit trail") ----
// Every --reveal and every export is recorded in the database's audit trail before anything is
// shown, so it needs the database opened for writing. open_database above does it for the
// commands that do not record their own entry: with --reveal it opens read-write and records
// "<command> --reveal". The commands that record their own entry (get, find, segment, export,
// subject-export) open with open_database_recorded: read-write when `record` (or --reveal),
// else as read_only says. Either refuses (kPermissionDenied, exit 3) when the database cannot be
// written (--read-only, a read-only file or directory), saying why.
Database open_database_recorded(const Globals& g, bool record, bool read_only);
// Records one entry (command, subjects, count, detail) or dies: nothing is revealed unrecorded.
// More than 10,000 subjects are not listed (the detail says how many there were).
void record_access(Database& db, const Globals& g, std::string command,
                   std::vector<CustomerId> subjects, std::uint64_t count, std::string detail);
// `text` as printable ASCII of at most `max` bytes (other bytes as \xHH, cut with "..."): what
// a user typed (a query, a file name) may go into an entry's detail, never a raw byte.
std::string audit_text(std::string_view text, std::size_t max = 300);
// A query as the audit trail records it: canonical text with the values compared against
// personal fields (region, city, country, gender, birth_date, age) printed as '?'. The audit
// trail is append-only and outlives an erasure: `segment --reveal "city = uppsala and
// birth_date = 1984-03-07"` must not keep an erased customer's city and birth date there.
std::string audit_query_text(const query::Node& q, const query::ParseOptions& options);

// Creates a database; `encrypt` needs a key, and a key without `encrypt` is refused (usage
// errors both). error_if_exists: refuse an existing one (exit 1). `currency` empty: USD.
Database create_database(const Globals& g, bool encrypt, const std::string& currency,
                         bool error_if_exists);

// ---- arguments --------------------------------------------------------------------------------

// YYYY-MM-DD; a usage error naming the option otherwise.
Date parse_date_arg(std::string_view option, const std::string& text);
// The same, or today (UTC) when `text` is empty: an --as-of resolved here so output can name it.
Date as_of_arg(std::string_view option, const std::string& text);
// A date (midnight UTC) or an ISO 8601 time; a usage error otherwise.
Timestamp parse_time_arg(std::string_view option, const std::string& text);
// The file format for import/export: --format ("csv", "jsonl") when given, else the extension
// of `file` (a usage error when unknown), else CSV (standard output).
io::Format format_arg(const std::string& format, const std::string& file);
// A customer id as custdb prints it: decimal digits only, 1 .. 2^63-1, no sign, space, prefix
// or leading zero; a usage error naming `what` otherwise. CLI11's own integer conversion reads
// "010" as octal 8, "0x0a" as 10, " 5" and "+6" as 5 and 6: for an irreversible command
// (erase) a padded or mistyped id must not name another customer.
CustomerId parse_customer_id_arg(std::string_view what, const std::string& text);
// A built-in relation type's name; a usage error otherwise.
RelationType parse_relation_type_arg(const std::string& text);

// --as-of/--period/--kinds of the analytics commands as RfmOptions, as_of resolved to today
// when absent (defined in cmd_rfm.cc).
RfmOptions rfm_options_arg(const std::string& as_of, const std::string& period,
                           const std::vector<std::string>& kinds, bool debits_negative = false);

// ---- masking and formatting -----------------------------------------------------------------------

// A number with at most `decimals` decimals, trailing zeros dropped ("4.714286", "5").
std::string decimal_text(double v, int decimals);

// Shown for a personal field the key cannot decrypt (an analyst key: Customer::
// personal_available false). The shown_* functions below pass it through unmasked.
inline constexpr std::string_view kUnavailable = "(unavailable)";
// The customer as the CLI shows it: under an analyst key its personal fields read
// kUnavailable (they are empty in `c`: cryptographically out of reach, not masked).
Customer shown_customer(const Customer& c);
std::string shown_name(const Globals& g, std::string_view name);
std::string shown_name(const Globals& g, const Customer& c);
std::string shown_email(const Globals& g, const std::optional<std::string>& email);
std::string shown_phone(const Globals& g, const std::optional<std::string>& phone);
std::string shown_birth_date(const Globals& g, const std::optional<Date>& date);
// "1234.50 USD".
std::string money(AmountSum minor_units, std::string_view currency);
std::string opt_time(const std::optional<Timestamp>& t);
std::string opt_date(const std::optional<Date>& d);
std::string human_bytes(std::uint64_t bytes);
std::string join(const std::vector<std::string>& items, std::string_view separator);

// ---- measures and groups (report, segment --top) ------------------------------------------------

// A value of a measure / ranking attribute (stored units, see RankBy in custdb/segment.h) as
// text: total_amount and clv with format_amount in the base currency ("1234.50"), p_alive and
// expected_purchases as exact decimals of their millionths ("0.25"), birth_date as an ISO date,
// the timestamps as ISO times, the integers plain. `v` is 128 bits so that sums print too.
std::string measure_text(RankBy m, AmountSum v, std::string_view currency);
// Whether a sum of the attribute means something (not for dates and timestamps).
bool measure_has_sum(RankBy m);
// Whether the attribute is an amount in the base currency (total_amount, clv).
bool measure_is_amount(RankBy m);
// Whether its values are plain integers (txn_count, income_band, r/f/m_score): JSON numbers.
bool measure_is_integer(RankBy m);
// The attribute named `name`, or a usage error naming `option` and listing every valid name.
RankBy rank_by_arg(std::string_view option, std::string_view name);
GroupBy group_by_arg(std::string_view option, std::string_view name);
// ---- custom attributes as groups and measures (report --by/--measure, segment --top --by) ----
// How a measure's values print: a built-in (RankBy) as measure_text, or an ordered custom
// attribute by its type: amount like total_amount, decimal with its scale, date and
// timestamp like birth_date and created_at, integer plain.
struct MeasureFormat {
  std::optional<RankBy> builtin;
  AttributeType type = AttributeType::kInteger;
  int scale = 0;
  bool personal = false;  // a personal attribute: min/max/avg and top values masked
  std::string name;
};
MeasureFormat measure_format(const MeasureKey& key, const Schema& schema);
std::string measure_text(const MeasureFormat& m, AmountSum v, std::string_view currency);
bool measure_has_sum(const MeasureFormat& m);
bool measure_is_amount(const MeasureFormat& m);
// measure_json(const MeasureFormat&, ...) is declared after Json, below.
// A built-in measure's name (resolved without the database), or nullopt for another name,
// which measure_key_arg then resolves against the schema.
std::optional<RankBy> builtin_measure(std::string_view name);
// The key `name` means: a built-in, or an ordered customers attribute of `schema`; otherwise
// a usage error naming `option` and listing the valid names (attributes included).
MeasureKey measure_key_arg(std::string_view option, std::string_view name, const Schema& schema);
// The same for group-by keys: a built-in GroupBy or an enum, text, bool or tag_set attribute.
GroupKey group_key_arg(std::string_view option, std::string_view name, const Schema& schema);

// "a,b,,c" -> {"a", "b", "c"}: comma-separated names, blanks dropped.
std::vector<std::string> split_names(const std::string& text);

// ---- JSON output --------------------------------------------------------------------------------

// A JSON value built in code; objects keep their keys in insertion order.
class Json {
 public:
  Json() = default;  // null
  Json(std::nullptr_t) {}
  Json(bool v) : v_(v) {}
  Json(int v) : v_(static_cast<std::int64_t>(v)) {}
  Json(long v) : v_(static_cast<std::int64_t>(v)) {}
  Json(long long v) : v_(static_cast<std::int64_t>(v)) {}
  Json(unsigned v) : v_(static_cast<std::uint64_t>(v)) {}
  Json(unsigned long v) : v_(static_cast<std::uint64_t>(v)) {}
  Json(unsigned long long v) : v_(static_cast<std::uint64_t>(v)) {}
  Json(double v) : v_(v) {}
  Json(std::string v) : v_(std::move(v)) {}
  Json(std::string_view v) : v_(std::string(v)) {}
  Json(const char* v) : v_(std::string(v)) {}
  template <class T>
  Json(const std::optional<T>& v) {
    if (v) *this = Json(*v);
  }

  static Json object();
  static Json array();
  // Objects: appends a member. Arrays: appends an element. Returns *this for chaining.
  Json& set(std::string key, Json value);
  Json& push(Json value);

  std::string dump(int indent = 2) const;

 private:
  struct Array {
    std::vector<Json> items;
  };
  struct Object {
    std::vector<std::pair<std::string, Json>> members;
  };
  void write(std::string& out, int indent, int level) const;

  std::variant<std::monostate, bool, std::int64_t, std::uint64_t, double, std::string, Array,
               Object>
      v_;
};

// Prints the value and a newline on stdout.
void print_json(const Json& value);

// A measure's value (see measure_text) for --json: integers (measure_is_integer) as numbers,
// a sum past 64 bits as a string, every other attribute as measure_text's string.
Json measure_json(RankBy m, AmountSum v, std::string_view currency);
Json measure_json(const MeasureFormat& m, AmountSum v, std::string_view currency);

// A customer as JSON and as "field  value" lines, masked unless --reveal. `schema` (the
// database's, Database::schema()): its custom attributes are shown too, after the built-in
// fields (JSON: an "attributes" object); null shows none.
// A customer's HoldingAggregates (format 6) as JSON: amounts as strings in `currency`.
Json holdings_json(const HoldingAggregates& h, std::string_view currency);
Json customer_json(const Globals& g, const Customer& c, std::string_view currency,
                   const Schema* schema = nullptr);
void print_customer(const Globals& g, const Customer& c, std::string_view currency,
                    const Schema* schema = nullptr);

// Custom attribute values as shown (custdb/attributes.h): the live attributes of `table` in
// id order, each (name, text) with text format_attribute_value's, "" when absent; personal
// ones masked unless --reveal (io/display.h, mask_attribute) and kUnavailable when
// `unavailable` (an analyst key).
std::vector<std::pair<std::string, std::string>> shown_attributes(
    const Globals& g, const Attributes& attrs, const Schema& schema, AttributeTable table,
    std::string_view currency, bool unavailable);
// The same as a JSON object: absent attributes left out; unmasked integers as numbers, bools
// as true/false, tag sets as arrays, the rest as strings.
Json attributes_json(const Globals& g, const Attributes& attrs, const Schema& schema,
                     AttributeTable table, std::string_view currency, bool unavailable);

// ---- tables -------------------------------------------------------------------------------------

// An aligned text table: a header row, a rule, the rows. Columns listed in right_aligned (by
// index) are right-aligned (numbers), the rest left-aligned.
class TextTable {
 public:
  explicit TextTable(std::vector<std::string> headers, std::vector<std::size_t> right_aligned = {});
  void add(std::vector<std::string> row);
  std::size_t size() const { return rows_.size(); }
  void print() const;  // on stdout

 private:
  std::vector<std::string> headers_;
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> rows_;
};

// "key  value" lines with the keys padded to one width.
void print_pairs(const std::vector<std::pair<std::string, std::string>>& pairs);

// ---- progress -----------------------------------------------------------------------------------

// A progress bar with rate and ETA on stderr, drawn only when stderr is a terminal; silent
// otherwise. Without a total it shows the count, the rate and the elapsed time. Thread-safe.
class Progress {
 public:
  enum class Unit { kItems, kBytes };
  Progress(std::string label, std::uint64_t total = 0, Unit unit = Unit::kItems);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  bool enabled() const { return enabled_; }
  void set_label(std::string label);
  void set_total(std::uint64_t total);
  // Redraws at most 10 times a second (and always when done reaches the total).
  void update(std::uint64_t done);
  // Draws the final state and ends the line. Idempotent; the destructor calls it.
  void finish();

 private:
  void draw(bool final);

  std::string label_;
  std::uint64_t total_;
  Unit unit_;
  bool enabled_;
  bool finished_ = false;
  std::uint64_t done_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
  std::size_t last_width_ = 0;
  std::mutex mu_;
};

// Feeds a Progress from a background thread every 200 ms with `sample()`, for work that has
// no progress callback of its own (backup: bytes copied so far; verify: nothing to count).
// Runs only when the bar is enabled; stops in the destructor.
class ProgressTicker {
 public:
  ProgressTicker(Progress& progress, std::function<std::uint64_t()> sample);
  ~ProgressTicker();
  ProgressTicker(const ProgressTicker&) = delete;
  ProgressTicker& operator=(const ProgressTicker&) = delete;

 private:
  Progress& progress_;
  std::function<std::uint64_t()> sample_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// ---- subcommands --------------------------------------------------------------------------------

// A registered subcommand and what runs after a successful parse (returns the exit code).
struct Command {
  CLI::App* app;
  std::function<int()> run;
};

Command add_init(CLI::App& app, Globals& g);
Command add_demo(CLI::App& app, Globals& g);
Command add_import(CLI::App& app, Globals& g);
Command add_export(CLI::App& app, Globals& g);
Command add_get(CLI::App& app, Globals& g);
Command add_find(CLI::App& app, Globals& g);
Command add_phone_region(CLI::App& app, Globals& g);
Command add_history(CLI::App& app, Globals& g);
Command add_holdings(CLI::App& app, Globals& g);  // format 6: holdings ID | --customer ID
Command add_related(CLI::App& app, Globals& g);
Command add_segment(CLI::App& app, Globals& g);
Command add_report(CLI::App& app, Globals& g);
Command add_stats(CLI::App& app, Globals& g);
Command add_verify(CLI::App& app, Globals& g);
Command add_backup(CLI::App& app, Globals& g);
Command add_rekey(CLI::App& app, Globals& g);
Command add_rfm(CLI::App& app, Globals& g);    // custdb/analytics.h: RFM summaries
Command add_clv(CLI::App& app, Globals& g);    // clv fit | show | score
Command add_rules(CLI::App& app, Globals& g);  // rules list | set | apply
// Privacy operations (custdb/privacy.h, docs/cli.md "Privacy").
Command add_consent(CLI::App& app, Globals& g);
Command add_erase(CLI::App& app, Globals& g);
Command add_scrub(CLI::App& app, Globals& g);
Command add_restore(CLI::App& app, Globals& g);
Command add_retention(CLI::App& app, Globals& g);
Command add_audit(CLI::App& app, Globals& g);
Command add_subject_export(CLI::App& app, Globals& g);
// custdb/attributes.h: schema list | add | drop | rename | index
Command add_schema(CLI::App& app, Globals& g);
// custdb/feed.h, custdb/nats.h: feed enable | disable | status | ship | follow | consumers |
// truncate | show
Command add_feed(CLI::App& app, Globals& g);

}  // namespace custdb::cli
