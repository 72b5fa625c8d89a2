#include "common.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <limits>
#include <map>

#include "custdb/io.h"
#include "io/display.h"  // masking and JSON strings, as export does them

namespace custdb::cli {

// ---- exit codes and errors ----------------------------------------------------------------------

int exit_code(ErrorCode code) {
  switch (code) {
    case ErrorCode::kAuthentication:
    case ErrorCode::kPermissionDenied: return kExitAuth;
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kFailedPrecondition:
    case ErrorCode::kCorruption:
    case ErrorCode::kIOError:
    case ErrorCode::kBusy:
    case ErrorCode::kReadOnly:
    case ErrorCode::kUnsupported:
    case ErrorCode::kResourceExhausted:
    case ErrorCode::kInternal: return kExitFailure;
  }
  return kExitFailure;
}

void warn(std::string_view message) {
  std::cout.flush();
  // Messages echo what the user typed (arguments, query text, values from files) and reach a
  // terminal: every line goes through io::printable, so a control byte or a byte that is not
  // UTF-8 is shown as \xHH instead of being obeyed (text message::quoted escaped already is
  // unchanged). Line breaks between lines of a message are kept.
  std::string out = "custdb: ";
  for (std::size_t start = 0;;) {
    const std::size_t nl = message.find('\n', start);
    out += io::printable(message.substr(start, nl == std::string_view::npos ? nl : nl - start));
    if (nl == std::string_view::npos) break;
    out += '\n';
    start = nl + 1;
  }
  out += '\n';
  std::fwrite(out.data(), 1, out.size(), stderr);
}

void die(const Error& error) {
  // Corruption and internal errors say what they are; the others read well on their own.
  if (error.code() == ErrorCode::kCorruption || error.code() == ErrorCode::kInternal ||
      error.message().empty())
    warn(error.to_string());
  else
    warn(error.message());
  throw ExitRequest{exit_code(error.code())};
}

void die_usage(std::string_view message) {
  warn(message);
  throw ExitRequest{kExitUsage};
}

void die_failure(std::string_view message) {
  warn(message);
  throw ExitRequest{kExitFailure};
}

// ---- database and keys ----------------------------------------------------------------------------

std::filesystem::path db_path(const Globals& g) {
  if (g.db.empty()) die_usage("no database given: use --db PATH or set CUSTDB_DB");
  return g.db;
}

bool db_exists(const Globals& g) {
  std::error_code ec;
  return std::filesystem::exists(db_path(g) / "data.mdb", ec);
}

void protect_secrets() {
  // A core dump would hold the passphrase, the KEK's inputs and the data key's users: none
  // while a secret is held. RLIMIT_CORE 0 stops the kernel writing a core file;
  // PR_SET_DUMPABLE 0 also stops core pipes (systemd-coredump) and ptrace by the same user.
  static const bool done = [] {
    struct rlimit none {0, 0};
    ::setrlimit(RLIMIT_CORE, &none);
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    return true;
  }();
  (void)done;
}

namespace {

// A passphrase from the environment, taken once: copied straight into secret memory, then the
// variable's bytes are wiped in place and it is unset, so the only copy left is the locked,
// dump-excluded one. Later calls return the same secret.
std::shared_ptr<const KeyMaterial> take_env_passphrase(const char* name) {
  static std::map<std::string, std::shared_ptr<const KeyMaterial>> taken;
  if (auto it = taken.find(name); it != taken.end()) return it->second;
  std::shared_ptr<const KeyMaterial> key;
  if (char* p = std::getenv(name); p && *p) {
    protect_secrets();
    key = KeyMaterial::from_passphrase(std::string_view(p));
    ::explicit_bzero(p, std::strlen(p));  // not optimized away, unlike memset
    ::unsetenv(name);
  }
  taken.emplace(name, key);
  return key;
}

}  // namespace

LoadedKey load_key(const Globals& g) {
  if (!g.key_file.empty() || !g.passphrase_file.empty()) protect_secrets();
  if (!g.key_file.empty()) return {must(KeyMaterial::from_file(g.key_file, true)), false};
  if (!g.passphrase_file.empty())
    return {must(KeyMaterial::from_file(g.passphrase_file, false)), false};
  if (auto key = take_env_passphrase(kPassphraseEnv)) return {std::move(key), true};
  return {};
}

std::shared_ptr<const KeyMaterial> load_new_key(const std::string& new_passphrase_file,
                                                const std::string& new_key_file) {
  if (!new_key_file.empty() || !new_passphrase_file.empty()) protect_secrets();
  if (!new_key_file.empty()) return must(KeyMaterial::from_file(new_key_file, true));
  if (!new_passphrase_file.empty()) return must(KeyMaterial::from_file(new_passphrase_file, false));
  return take_env_passphrase(kNewPassphraseEnv);
}

Options base_options(const Globals& g) {
  Options o;
  if (g.max_readers) o.max_readers = g.max_readers;
  // LMDB faults on damaged pages: walk them first, so every command reports a damaged file
  // as corruption instead of crashing (docs/cli.md, "Damaged files").
  o.check_pages = !g.skip_page_check;
  o.phone_region = g.phone_region;
  return o;
}

namespace {
// Database::open's kInvalidArgument is about the Options, which the CLI builds from its
// arguments (--phone-region XX, --currency XXY, a --currency differing from the file's): a
// usage error (exit 2), as docs/cli.md's exit codes say. Everything else keeps its code.
Database open_with(const std::filesystem::path& path, const Options& o) {
  auto db = Database::open(path, o);
  if (!db && db.error().code() == ErrorCode::kInvalidArgument) die_usage(db.error().message());
  return must(std::move(db));
}
}  // namespace

namespace {
Database open_plain(const Globals& g, bool read_only) {
  Options o = base_options(g);
  o.read_only = read_only || g.read_only;
  o.create_if_missing = false;
  o.key = load_key(g).key;
  // Whatever the secret's source (the environment included), a plaintext database refuses it
  // (kAuthentication, exit 3): a plaintext data.mdb swapped in for an encrypted one must never
  // be written in the clear.
  return open_with(db_path(g), o);
}

// Read-write for recording in the audit trail; a refusal that says why otherwise.
Database open_for_record(const Globals& g, std::string_view why) {
  auto refuse = [&](const std::string& reason) {
    die(Error(ErrorCode::kPermissionDenied,
              std::string(why) + " is recorded in the database's audit trail, which needs the "
                                 "database opened for writing: " + reason));
  };
  if (g.read_only) refuse("--read-only (or CUSTDB_READ_ONLY) was given");
  const std::filesystem::path dir = db_path(g);
  if (!db_exists(g)) return open_plain(g, /*read_only=*/true);  // its usual error
  if (::access(dir.c_str(), W_OK) != 0 || ::access((dir / "data.mdb").c_str(), W_OK) != 0)
    refuse(io::printable(dir.string()) + " is read-only for this user");
  Options o = base_options(g);
  o.read_only = false;
  o.create_if_missing = false;
  o.key = load_key(g).key;
  auto db = Database::open(dir, o);
  if (!db && (db.error().code() == ErrorCode::kReadOnly ||
              (db.error().code() == ErrorCode::kIOError &&
               (db.error().message().find("ermission denied") != std::string::npos ||
                db.error().message().find("ead-only file system") != std::string::npos))))
    refuse(db.error().message());
  if (!db && db.error().code() == ErrorCode::kInvalidArgument) die_usage(db.error().message());
  return must(std::move(db));
}
}  // namespace

Database open_database(const Globals& g, bool read_only) {
  if (!g.reveal) return open_plain(g, read_only);
  const std::string what = g.command + " --reveal";
  Database db = open_for_record(g, what);
  record_access(db, g, what, {}, 0, "");
  return db;
}

Database open_database_recorded(const Globals& g, bool record, bool read_only) {
  if (!record && !g.reveal) return open_plain(g, read_only);
  return open_for_record(g, g.reveal ? g.command + " --reveal" : g.command);
}

void record_access(Database& db, const Globals& g, std::string command,
                   std::vector<CustomerId> subjects, std::uint64_t count, std::string detail) {
  (void)g;
  if (subjects.size() > 10000) {
    detail = (detail.empty() ? "" : detail + "; ") + std::to_string(subjects.size()) +
             " subjects, not listed (more than 10000)";
    subjects.clear();
  }
  AuditEvent e;
  e.command = audit_text(command, 200);
  e.subjects = std::move(subjects);
  e.count = count;
  e.detail = audit_text(detail, 1000);
  auto r = db.record_audit_event(e);
  if (!r)
    die(Error(r.error().code(), "not shown: recording it in the audit trail failed: " +
                                    r.error().message()));
}

namespace {
void redact_personal_operands(query::Node& n, const Schema* schema) {
  using query::Field;
  if (n.field == Field::kAttribute && schema) {
    // A personal custom attribute's operand is personal data, as a birth date's is.
    const AttributeDef* def = schema->find(n.attribute);
    if (def && def->personal &&
        (n.kind == query::Node::Kind::kCompare || n.kind == query::Node::Kind::kIn ||
         n.kind == query::Node::Kind::kBetween))
      for (auto& v : n.values) v = std::string("?");
  }
  switch (n.field) {
    case Field::kRegion: case Field::kCity: case Field::kCountry: case Field::kGender:
    case Field::kBirthDate: case Field::kAge:
      if (n.kind == query::Node::Kind::kCompare || n.kind == query::Node::Kind::kIn ||
          n.kind == query::Node::Kind::kBetween)
        for (auto& v : n.values) v = std::string("?");
      break;
    default: break;
  }
  for (auto& c : n.children) redact_personal_operands(c, schema);
}
}  // namespace

std::string audit_query_text(const query::Node& q, const query::ParseOptions& options) {
  query::Node copy = q;
  redact_personal_operands(copy, options.schema.get());
  return copy.to_string(options);
}

std::string audit_text(std::string_view text, std::size_t max) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : text) {
    if (c >= 0x20 && c <= 0x7e && c != '\\') out.push_back(static_cast<char>(c));
    else if (c == '\\') out += "\\\\";
    else out += std::string("\\x") + hex[c >> 4] + hex[c & 15];
  }
  if (out.size() > max) {
    out.resize(max - 3);
    // Not inside an escape: cut back to before a partial "\xH".
    const auto slash = out.rfind('\\');
    if (slash != std::string::npos && out.size() - slash < 4) out.resize(slash);
    out += "...";
  }
  return out;
}

Database create_database(const Globals& g, bool encrypt, const std::string& currency,
                         bool error_if_exists) {
  Options o = base_options(g);
  o.create_if_missing = true;
  o.error_if_exists = error_if_exists;
  o.base_currency = currency;
  LoadedKey k = load_key(g);
  if (encrypt) {
    if (!k.key)
      die_usage("--encrypt needs a secret: set CUSTDB_PASSPHRASE, or give --passphrase-file or "
                "--key-file");
    o.key = k.key;
  } else if (k.key) {
    die_usage(std::string(k.from_env ? "CUSTDB_PASSPHRASE is set" : "a key or passphrase file was given") +
              " without --encrypt: a plaintext database takes no secret");
  }
  return open_with(db_path(g), o);
}

// ---- arguments --------------------------------------------------------------------------------

Date parse_date_arg(std::string_view option, const std::string& text) {
  auto d = parse_date(text);
  if (!d)
    die_usage(std::string(option) + ": not a date (YYYY-MM-DD, years 1800..2200): '" + text + "'");
  return *d;
}

CustomerId parse_customer_id_arg(std::string_view what, const std::string& text) {
  const bool digits = !text.empty() && text.size() <= 19 &&
                      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || text[0] == '0')
    die_usage(std::string(what) + ": not a customer id (decimal digits, no sign, space, prefix or "
                                  "leading zero): '" + text + "'");
  const std::uint64_t v = std::stoull(text);  // at most 19 digits: no overflow
  if (v > (~std::uint64_t{0} >> 1))
    die_usage(std::string(what) + ": customer id out of range (1 .. 9223372036854775807): '" + text + "'");
  return v;
}

Date as_of_arg(std::string_view option, const std::string& text) {
  return text.empty() ? std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now())
                      : parse_date_arg(option, text);
}

Timestamp parse_time_arg(std::string_view option, const std::string& text) {
  auto t = parse_timestamp(text);
  if (!t)
    die_usage(std::string(option) + ": not a date or time (YYYY-MM-DD or ISO 8601): '" + text +
              "'");
  return *t;
}

// --format wins; else the extension of `file` (when given and known); else CSV.
io::Format format_arg(const std::string& format, const std::string& file) {
  if (format == "csv") return io::Format::kCsv;
  if (format == "jsonl") return io::Format::kJsonLines;
  if (file.empty() || file == "-") return io::Format::kCsv;
  if (auto f = io::format_for_path(file)) return *f;
  die_usage("cannot tell the format of '" + file +
            "' from its extension (.csv, .jsonl, .ndjson, .json): give --format");
}

RelationType parse_relation_type_arg(const std::string& text) {
  auto t = from_string<RelationType>(text);
  if (!t) {
    std::string names;
    for (int v = 0; v <= static_cast<int>(RelationType::kBenefactor); ++v)
      names += std::string(to_string(static_cast<RelationType>(v))) + ", ";
    die_usage("--type: unknown relation type '" + io::printable(text, 80) + "' (one of " + names + "custom)");
  }
  return *t;
}

// ---- masking and formatting -----------------------------------------------------------------------

Customer shown_customer(const Customer& c) {
  if (c.personal_available) return c;
  Customer s = c;
  const std::string u(kUnavailable);
  s.external_ref = u;
  s.name = u;
  s.email = u;
  s.phone = u;
  s.address.city = u;
  return s;  // birth_date has no text form here: print_customer and customer_json show it
}

std::string shown_name(const Globals& g, std::string_view name) {
  if (name == kUnavailable) return std::string(name);
  return g.reveal ? std::string(name) : io::mask_name(name);
}

std::string shown_name(const Globals& g, const Customer& c) {
  return c.personal_available ? shown_name(g, c.name) : std::string(kUnavailable);
}

std::string shown_email(const Globals& g, const std::optional<std::string>& email) {
  if (!email) return "";
  if (*email == kUnavailable) return *email;
  return g.reveal ? *email : io::mask_email(*email);
}

std::string shown_phone(const Globals& g, const std::optional<std::string>& phone) {
  if (!phone) return "";
  if (*phone == kUnavailable) return *phone;
  return g.reveal ? *phone : io::mask_phone(*phone);
}

std::string shown_birth_date(const Globals& g, const std::optional<Date>& date) {
  if (!date) return "";
  return g.reveal ? format_date(*date) : std::string(io::kMaskedDate);
}

std::string money(AmountSum minor_units, std::string_view currency) {
  return format_amount(minor_units, currency) + " " + std::string(currency);
}

std::string opt_time(const std::optional<Timestamp>& t) { return t ? format_timestamp(*t) : ""; }
std::string opt_date(const std::optional<Date>& d) { return d ? format_date(*d) : ""; }

std::string human_bytes(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  else std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
  return buf;
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += separator;
    out += items[i];
  }
  return out;
}

// ---- JSON ---------------------------------------------------------------------------------------

Json Json::object() {
  Json j;
  j.v_ = Object{};
  return j;
}

Json Json::array() {
  Json j;
  j.v_ = Array{};
  return j;
}

Json& Json::set(std::string key, Json value) {
  std::get<Object>(v_).members.emplace_back(std::move(key), std::move(value));
  return *this;
}

Json& Json::push(Json value) {
  std::get<Array>(v_).items.push_back(std::move(value));
  return *this;
}

namespace {

void newline(std::string& out, int indent, int level) {
  if (indent <= 0) return;
  out += '\n';
  out.append(static_cast<std::size_t>(indent * level), ' ');
}

}  // namespace

void Json::write(std::string& out, int indent, int level) const {
  if (std::holds_alternative<std::monostate>(v_)) {
    out += "null";
  } else if (auto* b = std::get_if<bool>(&v_)) {
    out += *b ? "true" : "false";
  } else if (auto* i = std::get_if<std::int64_t>(&v_)) {
    out += std::to_string(*i);
  } else if (auto* u = std::get_if<std::uint64_t>(&v_)) {
    out += std::to_string(*u);
  } else if (auto* d = std::get_if<double>(&v_)) {
    if (!std::isfinite(*d)) {
      out += "null";
    } else {
      char buf[64];
      auto r = std::to_chars(buf, buf + sizeof buf, *d);
      out.append(buf, r.ptr);
    }
  } else if (auto* s = std::get_if<std::string>(&v_)) {
    io::append_json_string(out, *s);
  } else if (auto* a = std::get_if<Array>(&v_)) {
    if (a->items.empty()) {
      out += "[]";
      return;
    }
    out += '[';
    for (std::size_t k = 0; k < a->items.size(); ++k) {
      if (k) out += ',';
      newline(out, indent, level + 1);
      a->items[k].write(out, indent, level + 1);
    }
    newline(out, indent, level);
    out += ']';
  } else if (auto* o = std::get_if<Object>(&v_)) {
    if (o->members.empty()) {
      out += "{}";
      return;
    }
    out += '{';
    for (std::size_t k = 0; k < o->members.size(); ++k) {
      if (k) out += ',';
      newline(out, indent, level + 1);
      io::append_json_string(out, o->members[k].first);
      out += indent > 0 ? ": " : ":";
      o->members[k].second.write(out, indent, level + 1);
    }
    newline(out, indent, level);
    out += '}';
  }
}

std::string Json::dump(int indent) const {
  std::string out;
  write(out, indent, 0);
  return out;
}

std::string decimal_text(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string s = buf;
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

namespace {

// 128-bit integers in decimal (std::to_string has no overload for them).
std::string int128_text(AmountSum v) {
  __extension__ using U128 = unsigned __int128;
  U128 m = v < 0 ? U128(0) - static_cast<U128>(v) : static_cast<U128>(v);
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(m % 10)));
    m /= 10;
  } while (m != 0);
  return v < 0 ? "-" + digits : digits;
}

// A decimal held scaled by 10^scale, with exactly `scale` fraction digits: (1250, 2) -> "12.50".
std::string scaled_text(AmountSum v, int scale) {
  std::string digits = int128_text(v < 0 ? -v : v);
  const std::size_t n = static_cast<std::size_t>(std::max(scale, 0));
  if (n == 0) return v < 0 ? "-" + digits : digits;
  if (digits.size() < n + 1) digits.insert(0, n + 1 - digits.size(), '0');
  std::string text = digits.substr(0, digits.size() - n) + "." + digits.substr(digits.size() - n);
  return v < 0 ? "-" + text : text;
}

// Millionths as an exact decimal, trailing zeros dropped: 250000 -> "0.25", -1 -> "-0.000001".
std::string millionths_text(AmountSum v) {
  std::string digits = int128_text(v < 0 ? -v : v);
  if (digits.size() < 7) digits.insert(0, 7 - digits.size(), '0');
  std::string text = digits.substr(0, digits.size() - 6);
  std::string fraction = digits.substr(digits.size() - 6);
  while (!fraction.empty() && fraction.back() == '0') fraction.pop_back();
  if (!fraction.empty()) text += "." + fraction;
  return v < 0 ? "-" + text : text;
}

template <class E>
std::string names_of(const char* (*name)(E), std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += (i ? ", " : "") + std::string(name(static_cast<E>(i)));
  return out;
}

constexpr std::size_t kRankByCount = static_cast<std::size_t>(RankBy::kFirstProductOn) + 1;
constexpr std::size_t kGroupByCount = static_cast<std::size_t>(GroupBy::kHolds) + 1;

}  // namespace

std::string measure_text(RankBy m, AmountSum v, std::string_view currency) {
  switch (m) {
    case RankBy::kTotalAmount:
    case RankBy::kClv:
    case RankBy::kAum:
    case RankBy::kLiabilities: return format_amount(v, currency);
    case RankBy::kPAlive:
    case RankBy::kExpectedPurchases: return millionths_text(v);
    case RankBy::kBirthDate:
    case RankBy::kFirstProductOn:
      return format_date(Date{std::chrono::days{static_cast<std::int64_t>(v)}});
    case RankBy::kCreatedAt:
    case RankBy::kFirstTxnAt:
    case RankBy::kLastTxnAt:
      return format_timestamp(Timestamp{std::chrono::milliseconds{static_cast<std::int64_t>(v)}});
    case RankBy::kTxnCount:
    case RankBy::kIncomeBand:
    case RankBy::kRScore:
    case RankBy::kFScore:
    case RankBy::kMScore:
    case RankBy::kProducts: return int128_text(v);
  }
  return int128_text(v);
}

bool measure_has_sum(RankBy m) {
  return m != RankBy::kBirthDate && m != RankBy::kCreatedAt && m != RankBy::kFirstTxnAt &&
         m != RankBy::kLastTxnAt && m != RankBy::kFirstProductOn;
}

bool measure_is_amount(RankBy m) {
  return m == RankBy::kTotalAmount || m == RankBy::kClv || m == RankBy::kAum ||
         m == RankBy::kLiabilities;
}

bool measure_is_integer(RankBy m) {
  return m == RankBy::kTxnCount || m == RankBy::kIncomeBand || m == RankBy::kRScore ||
         m == RankBy::kFScore || m == RankBy::kMScore || m == RankBy::kProducts;
}

Json measure_json(RankBy m, AmountSum v, std::string_view currency) {
  if (measure_is_integer(m) && v >= std::numeric_limits<std::int64_t>::min() &&
      v <= std::numeric_limits<std::int64_t>::max())
    return Json(static_cast<long long>(v));
  return Json(measure_text(m, v, currency));
}

RankBy rank_by_arg(std::string_view option, std::string_view name) {
  if (auto m = rank_by_from_string(name)) return *m;
  die_usage(std::string(option) + ": unknown attribute '" + std::string(name) + "'; expected one of " +
            names_of<RankBy>(&to_string, kRankByCount));
}

GroupBy group_by_arg(std::string_view option, std::string_view name) {
  if (auto g = group_by_from_string(name)) return *g;
  die_usage(std::string(option) + ": unknown attribute '" + std::string(name) + "'; expected one of " +
            names_of<GroupBy>(&to_string, kGroupByCount));
}

MeasureFormat measure_format(const MeasureKey& key, const Schema& schema) {
  MeasureFormat m;
  m.builtin = key.builtin;
  m.name = key.name();
  if (!key.builtin) {
    if (const AttributeDef* def = schema.find(key.custom)) {
      m.type = def->type;
      m.scale = def->scale;
      m.personal = def->personal;
      m.name = def->name;
    }
  }
  return m;
}

std::string measure_text(const MeasureFormat& m, AmountSum v, std::string_view currency) {
  if (m.builtin) return measure_text(*m.builtin, v, currency);
  switch (m.type) {
    case AttributeType::kAmount: return format_amount(v, currency);
    case AttributeType::kDecimal: return scaled_text(v, m.scale);
    case AttributeType::kDate: return format_date(Date{std::chrono::days{static_cast<std::int64_t>(v)}});
    case AttributeType::kTimestamp:
      return format_timestamp(Timestamp{std::chrono::milliseconds{static_cast<std::int64_t>(v)}});
    default: return int128_text(v);
  }
}

bool measure_has_sum(const MeasureFormat& m) {
  if (m.builtin) return measure_has_sum(*m.builtin);
  return m.type != AttributeType::kDate && m.type != AttributeType::kTimestamp;
}

bool measure_is_amount(const MeasureFormat& m) {
  if (m.builtin) return measure_is_amount(*m.builtin);
  return m.type == AttributeType::kAmount;
}

Json measure_json(const MeasureFormat& m, AmountSum v, std::string_view currency) {
  if (m.builtin) return measure_json(*m.builtin, v, currency);
  if (m.type == AttributeType::kInteger && v >= std::numeric_limits<std::int64_t>::min() &&
      v <= std::numeric_limits<std::int64_t>::max())
    return Json(static_cast<long long>(v));
  return Json(measure_text(m, v, currency));
}

std::optional<RankBy> builtin_measure(std::string_view name) { return rank_by_from_string(name); }

namespace {
std::string attribute_list(const Schema& schema, bool (*fits)(AttributeType)) {
  std::string out;
  for (const AttributeDef& a : schema.attributes)
    if (!a.dropping && a.table == AttributeTable::kCustomers && fits(a.type))
      out += ", " + a.name;
  return out;
}
bool is_ordered_type(AttributeType t) {
  return t == AttributeType::kInteger || t == AttributeType::kDecimal ||
         t == AttributeType::kAmount || t == AttributeType::kDate || t == AttributeType::kTimestamp;
}
bool is_group_type(AttributeType t) { return !is_ordered_type(t); }
}  // namespace

MeasureKey measure_key_arg(std::string_view option, std::string_view name, const Schema& schema) {
  if (auto m = rank_by_from_string(name)) return *m;
  if (const AttributeDef* def = schema.find(name)) {
    if (!is_ordered_type(def->type))
      die_usage(std::string(option) + ": attribute '" + def->name + "' is a " +
                std::string(to_string(def->type)) +
                " attribute; measures and rankings take integer, decimal, amount, date or "
                "timestamp attributes");
    return MeasureKey::attribute(def->name);
  }
  die_usage(std::string(option) + ": unknown attribute '" + std::string(name) + "'; expected one of " +
            names_of<RankBy>(&to_string, kRankByCount) + attribute_list(schema, is_ordered_type));
}

GroupKey group_key_arg(std::string_view option, std::string_view name, const Schema& schema) {
  if (auto g = group_by_from_string(name)) return *g;
  if (const AttributeDef* def = schema.find(name)) {
    if (!is_group_type(def->type))
      die_usage(std::string(option) + ": attribute '" + def->name + "' is a " +
                std::string(to_string(def->type)) +
                " attribute; groups take enum, text, bool or tag_set attributes");
    return GroupKey::attribute(def->name);
  }
  die_usage(std::string(option) + ": unknown attribute '" + std::string(name) + "'; expected one of " +
            names_of<GroupBy>(&to_string, kGroupByCount) + attribute_list(schema, is_group_type));
}

std::vector<std::string> split_names(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = std::min(text.find(',', start), text.size());
    std::string item = text.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(std::move(item));
    start = comma + 1;
  }
  return out;
}

void print_json(const Json& value) { std::cout << value.dump() << '\n'; }

namespace {
bool textual(AttributeType t) {
  return t == AttributeType::kText || t == AttributeType::kEnum || t == AttributeType::kTagSet;
}
}  // namespace

std::vector<std::pair<std::string, std::string>> shown_attributes(
    const Globals& g, const Attributes& attrs, const Schema& schema, AttributeTable table,
    std::string_view currency, bool unavailable) {
  std::vector<std::pair<std::string, std::string>> out;
  const int decimals = currency_digits(currency);
  for (const AttributeDef& def : schema.attributes) {
    if (def.dropping || def.table != table) continue;
    if (def.personal && unavailable) {
      out.emplace_back(def.name, std::string(kUnavailable));
      continue;
    }
    auto it = attrs.find(def.name);
    if (it == attrs.end()) {
      out.emplace_back(def.name, "");
      continue;
    }
    std::string text = format_attribute_value(def, it->second, decimals);
    if (def.personal && !g.reveal) text = io::mask_attribute(text, textual(def.type));
    out.emplace_back(def.name, std::move(text));
  }
  return out;
}

Json attributes_json(const Globals& g, const Attributes& attrs, const Schema& schema,
                     AttributeTable table, std::string_view currency, bool unavailable) {
  Json j = Json::object();
  const int decimals = currency_digits(currency);
  for (const AttributeDef& def : schema.attributes) {
    if (def.dropping || def.table != table) continue;
    if (def.personal && unavailable) {
      j.set(def.name, std::string(kUnavailable));
      continue;
    }
    auto it = attrs.find(def.name);
    if (it == attrs.end()) continue;
    if (def.personal && !g.reveal) {
      j.set(def.name, io::mask_attribute(format_attribute_value(def, it->second, decimals),
                                         textual(def.type)));
    } else if (const auto* tags = std::get_if<std::vector<std::string>>(&it->second)) {
      Json arr = Json::array();
      for (const auto& t : *tags) arr.push(t);
      j.set(def.name, std::move(arr));
    } else if (const auto* b = std::get_if<bool>(&it->second)) {
      j.set(def.name, *b);
    } else if (def.type == AttributeType::kInteger) {
      j.set(def.name, static_cast<long long>(std::get<std::int64_t>(it->second)));
    } else {
      j.set(def.name, format_attribute_value(def, it->second, decimals));
    }
  }
  return j;
}

Json holdings_json(const HoldingAggregates& h, std::string_view currency) {
  Json types = Json::array();
  for (const auto& t : h.types_held) types.push(t);
  return Json::object()
      .set("aum", format_amount(h.aum, currency))
      .set("liabilities", format_amount(h.liabilities, currency))
      .set("currency", currency)
      .set("products", h.products)
      .set("holdings", h.holdings)
      .set("types_held", std::move(types))
      .set("first_product_on", h.first_product_on ? Json(format_date(*h.first_product_on)) : Json());
}

Json customer_json(const Globals& g, const Customer& shown, std::string_view currency,
                   const Schema* schema) {
  const Customer c = shown_customer(shown);
  Json tags = Json::array();
  for (const auto& t : c.tags) tags.push(t);
  Json agg = Json::object();
  agg.set("txn_count", c.aggregates.txn_count)
      .set("total_amount", format_amount(c.aggregates.total_amount, currency))
      .set("currency", currency)
      .set("first_txn_at", c.aggregates.first_txn_at ? Json(format_timestamp(*c.aggregates.first_txn_at)) : Json())
      .set("last_txn_at", c.aggregates.last_txn_at ? Json(format_timestamp(*c.aggregates.last_txn_at)) : Json());
  auto text_or_null = [](const std::string& s) { return s.empty() ? Json() : Json(s); };
  auto consent = [&](const Consent& k) {
    return Json::object()
        .set("state", to_string(k.state))
        .set("date", k.date ? Json(format_date(*k.date)) : Json())
        .set("source", k.source.empty() ? Json() : Json(k.source));
  };
  Json j = Json::object();
  j.set("id", c.id)
      .set("external_ref", text_or_null(c.external_ref))
      .set("type", to_string(c.type))
      .set("name", shown_name(g, c.name))
      .set("email", c.email ? Json(shown_email(g, c.email)) : Json())
      .set("phone", c.phone ? Json(shown_phone(g, c.phone)) : Json())
      .set("birth_date", !c.personal_available ? Json(std::string(kUnavailable))
                         : c.birth_date          ? Json(shown_birth_date(g, c.birth_date))
                                                 : Json())
      .set("gender", to_string(c.gender))
      .set("city", text_or_null(c.address.city))
      .set("region", text_or_null(c.address.region))
      .set("country", text_or_null(c.address.country))
      .set("tier", to_string(c.tier))
      .set("stage", to_string(c.stage))
      .set("income_band", c.income_band ? Json(static_cast<int>(*c.income_band)) : Json())
      .set("risk", to_string(c.risk))
      .set("tags", std::move(tags))
      .set("consent_email", consent(c.consent_email))
      .set("consent_sms", consent(c.consent_sms))
      .set("consent_phone", consent(c.consent_phone))
      .set("consent_profiling", consent(c.consent_profiling))
      .set("consent_sharing", consent(c.consent_sharing))
      .set("created_at", format_timestamp(c.created_at))
      .set("updated_at", format_timestamp(c.updated_at))
      .set("aggregates", std::move(agg))
      .set("holdings", holdings_json(c.holdings, currency));
  if (const auto& s = c.scores) {
    j.set("scores", Json::object()
                        .set("as_of", format_date(s->as_of))
                        .set("p_alive", s->p_alive)
                        .set("expected_purchases", s->expected_purchases)
                        .set("expected_value", format_amount(s->expected_value, currency))
                        .set("clv", format_amount(s->clv, currency))
                        .set("r_score", static_cast<unsigned>(s->r_score))
                        .set("f_score", static_cast<unsigned>(s->f_score))
                        .set("m_score", static_cast<unsigned>(s->m_score)));
  } else {
    j.set("scores", Json());
  }
  if (schema)
    j.set("attributes", attributes_json(g, c.attributes, *schema, AttributeTable::kCustomers,
                                        currency, !c.personal_available));
  return j;
}

void print_customer(const Globals& g, const Customer& shown, std::string_view currency,
                    const Schema* schema) {
  const Customer c = shown_customer(shown);
  auto consent = [](const Consent& k) {
    std::string s(to_string(k.state));
    if (k.date) s += " (" + format_date(*k.date) + (k.source.empty() ? "" : ", " + k.source) + ")";
    return s;
  };
  std::string address = c.address.city;
  for (const std::string* part : {&c.address.region, &c.address.country})
    if (!part->empty()) address += (address.empty() ? "" : ", ") + *part;
  std::string scores;
  if (const auto& s = c.scores)
    scores = "p_alive " + decimal_text(s->p_alive, 6) + ", expected_purchases " +
             decimal_text(s->expected_purchases, 6) + ", clv " + money(s->clv, currency) +
             ", RFM " + std::to_string(s->r_score) + std::to_string(s->f_score) +
             std::to_string(s->m_score) + " (as of " + format_date(s->as_of) + ")";
  std::vector<std::pair<std::string, std::string>> pairs({
      {"id", std::to_string(c.id)},
      {"external_ref", c.external_ref},
      {"type", std::string(to_string(c.type))},
      {"name", shown_name(g, c.name)},
      {"email", shown_email(g, c.email)},
      {"phone", shown_phone(g, c.phone)},
      {"birth_date", c.personal_available ? shown_birth_date(g, c.birth_date)
                                          : std::string(kUnavailable)},
      {"gender", std::string(to_string(c.gender))},
      {"address", address},
      {"tier", std::string(to_string(c.tier))},
      {"stage", std::string(to_string(c.stage))},
      {"income_band", c.income_band ? std::to_string(*c.income_band) : ""},
      {"risk", std::string(to_string(c.risk))},
      {"tags", join(c.tags, ", ")},
      {"consent_email", consent(c.consent_email)},
      {"consent_sms", consent(c.consent_sms)},
      {"consent_phone", consent(c.consent_phone)},
      {"consent_profiling", consent(c.consent_profiling)},
      {"consent_sharing", consent(c.consent_sharing)},
      {"created_at", format_timestamp(c.created_at)},
      {"updated_at", format_timestamp(c.updated_at)},
      {"txn_count", std::to_string(c.aggregates.txn_count)},
      {"total_amount", money(c.aggregates.total_amount, currency)},
      {"first_txn_at", opt_time(c.aggregates.first_txn_at)},
      {"last_txn_at", opt_time(c.aggregates.last_txn_at)},
      {"aum", money(c.holdings.aum, currency)},
      {"liabilities", money(c.holdings.liabilities, currency)},
      {"products", std::to_string(c.holdings.products) + " active of " +
                       std::to_string(c.holdings.holdings) + " holdings"},
      {"types_held", join(c.holdings.types_held, ", ")},
      {"first_product_on", opt_date(c.holdings.first_product_on)},
      {"scores", scores},
  });
  if (schema)
    for (auto& p : shown_attributes(g, c.attributes, *schema, AttributeTable::kCustomers,
                                    currency, !c.personal_available))
      pairs.push_back(std::move(p));
  print_pairs(pairs);
}

// ---- tables -------------------------------------------------------------------------------------

namespace {

// Display width: UTF-8 code points (custdb's text is mostly Latin; wide glyphs are rare).
std::size_t width_of(std::string_view s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

void pad(std::string& out, std::size_t n) { out.append(n, ' '); }

}  // namespace

TextTable::TextTable(std::vector<std::string> headers, std::vector<std::size_t> right_aligned)
    : headers_(std::move(headers)), right_(headers_.size(), false) {
  for (std::size_t i : right_aligned)
    if (i < right_.size()) right_[i] = true;
}

void TextTable::add(std::vector<std::string> row) {
  row.resize(headers_.size());
  rows_.push_back(std::move(row));
}

void TextTable::print() const {
  std::vector<std::size_t> w(headers_.size());
  for (std::size_t c = 0; c < headers_.size(); ++c) w[c] = width_of(headers_[c]);
  for (const auto& r : rows_)
    for (std::size_t c = 0; c < r.size(); ++c) w[c] = std::max(w[c], width_of(r[c]));
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      const std::size_t gap = w[c] - width_of(cells[c]);
      const bool last = c + 1 == cells.size();
      if (c) out += "  ";
      if (right_[c]) pad(out, gap);
      out += cells[c];
      if (!right_[c] && !last) pad(out, gap);
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();  // an empty last cell
    out += '\n';
    return out;
  };
  std::string out = line(headers_);
  std::vector<std::string> rule;
  for (std::size_t c = 0; c < w.size(); ++c) rule.emplace_back(w[c], '-');
  out += line(rule);
  for (const auto& r : rows_) out += line(r);
  std::cout << out;
}

void print_pairs(const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::size_t w = 0;
  for (const auto& p : pairs) w = std::max(w, width_of(p.first));
  std::string out;
  for (const auto& [k, v] : pairs) {
    out += k;
    pad(out, w - width_of(k) + 2);
    out += v;
    out += '\n';
  }
  std::cout << out;
}

// ---- progress -----------------------------------------------------------------------------------

namespace {

std::string count_text(double v, Progress::Unit unit) {
  if (unit == Progress::Unit::kBytes) return human_bytes(static_cast<std::uint64_t>(v));
  char buf[32];
  if (v >= 1e6) std::snprintf(buf, sizeof buf, "%.1fM", v / 1e6);
  else if (v >= 1e4) std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

std::string clock_text(double seconds) {
  auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  return buf;
}

}  // namespace

Progress::Progress(std::string label, std::uint64_t total, Unit unit)
    : label_(std::move(label)), total_(total), unit_(unit), enabled_(::isatty(2) == 1),
      start_(std::chrono::steady_clock::now()), last_draw_() {}

Progress::~Progress() { finish(); }

void Progress::set_label(std::string label) {
  std::lock_guard lock(mu_);
  label_ = std::move(label);
}

void Progress::set_total(std::uint64_t total) {
  std::lock_guard lock(mu_);
  total_ = total;
}

void Progress::update(std::uint64_t done) {
  if (!enabled_) return;
  std::lock_guard lock(mu_);
  if (finished_) return;
  done_ = done;
  auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100) && !(total_ && done_ >= total_)) return;
  last_draw_ = now;
  draw(false);
}

void Progress::finish() {
  if (!enabled_) return;
  std::lock_guard lock(mu_);
  if (finished_) return;
  finished_ = true;
  draw(true);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

void Progress::draw(bool final) {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0;
  const std::string per_s = count_text(rate, unit_) + "/s";
  std::string line = label_;
  if (total_ > 0) {
    const double frac = std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_));
    constexpr int kBar = 24;
    const int filled = static_cast<int>(frac * kBar);
    line += " [" + std::string(static_cast<std::size_t>(filled), '#') +
            std::string(static_cast<std::size_t>(kBar - filled), '-') + "]";
    char pct[16];
    std::snprintf(pct, sizeof pct, " %3d%%", static_cast<int>(frac * 100));
    line += pct;
    line += "  " + count_text(static_cast<double>(done_), unit_) + "/" +
            count_text(static_cast<double>(total_), unit_);
    line += "  " + per_s;
    if (final) line += "  done in " + clock_text(elapsed);
    else if (rate > 0 && done_ < total_)
      line += "  ETA " + clock_text(static_cast<double>(total_ - done_) / rate);
  } else {
    if (done_ > 0) line += "  " + count_text(static_cast<double>(done_), unit_) + "  " + per_s;
    line += final ? "  done in " + clock_text(elapsed) : "  " + clock_text(elapsed) + " elapsed";
  }
  std::string out = "\r" + line;
  if (line.size() < last_width_) out.append(last_width_ - line.size(), ' ');
  last_width_ = line.size();
  std::fputs(out.c_str(), stderr);
  std::fflush(stderr);
}

ProgressTicker::ProgressTicker(Progress& progress, std::function<std::uint64_t()> sample)
    : progress_(progress), sample_(std::move(sample)) {
  if (!progress_.enabled()) return;
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stop_) {
      lock.unlock();
      progress_.update(sample_ ? sample_() : 0);
      lock.lock();
      cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stop_; });
    }
  });
}

ProgressTicker::~ProgressTicker() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace custdb::cli
