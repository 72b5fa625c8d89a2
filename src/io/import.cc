// Import: rows from a reader become records, stored through the engine's ordinary write calls
// so that every validation, normalization, foreign key and aggregate rule applies unchanged.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "custdb/io.h"
#include "custdb/money.h"
#include "engine/batch_access.h"
#include "io/display.h"
#include "io/io_internal.h"
#include "util/message.h"
#include "util/iso_codes.h"
#include "util/normalize.h"

namespace custdb::io {
namespace {

using detail::Cell;
using detail::Cells;
using detail::Problem;
using detail::is_formula_start;
namespace customer_column = detail::customer_column;
namespace relationship_column = detail::relationship_column;
namespace transaction_column = detail::transaction_column;
namespace holding_column = detail::holding_column;
namespace balance_column = detail::balance_column;

constexpr std::uint64_t kProgressEvery = 10000;
// Customer and transaction rows converted and held before the engine writes them as one
// batch (detail::insert_customers: records in id order, index entries sorted;
// detail::add_transactions: each customer read and written once per batch). Larger batches
// group more of a customer's rows when a file is not sorted by customer and sort more index
// keys together; 8,192 rows of ~200-500 bytes keep the held rows small.
constexpr std::size_t kBatch = 8192;
// And at most this many bytes of cell text held (a row may be up to kMaxRecordBytes, and
// field limits are the engine's, checked when the batch is written): the import's memory
// stays a few times the record limit whatever the input.
constexpr std::size_t kBatchBytes = std::size_t{4} << 20;

// Typed reads of one row's cells. The first problem is kept and later reads return defaults,
// so a conversion reads every field straight through and checks problem() once at the end.
class RowFields {
 public:
  RowFields(const Cells& cells, std::span<const std::string_view> names)
      : cells_(cells), names_(names) {}

  const std::optional<Problem>& problem() const { return problem_; }

  // The cell's text; nullopt when absent or empty. Arrays and booleans are refused here.
  std::optional<std::string> text(std::size_t col) {
    const auto& cell = cells_[col];
    if (!cell) return std::nullopt;
    if (cell->list) return fail(col, "an array is accepted only for tags");
    if (cell->boolean) return fail(col, "true/false is not a value of this column");
    if (cell->text.empty()) return std::nullopt;
    return cell->text;
  }

  std::string text_or_empty(std::size_t col) { return text(col).value_or(std::string()); }

  // As text(), without copying: a view of the cell, valid while the row is.
  std::optional<std::string_view> view(std::size_t col) {
    const auto& cell = cells_[col];
    if (!cell) return std::nullopt;
    if (cell->list) return fail(col, "an array is accepted only for tags");
    if (cell->boolean) return fail(col, "true/false is not a value of this column");
    if (cell->text.empty()) return std::nullopt;
    return std::string_view(cell->text);
  }

  std::optional<std::string> required_text(std::size_t col) {
    auto t = text(col);
    if (!t && !problem_) return fail(col, "required");
    return t;
  }

  // A positive decimal integer (ids).
  std::optional<std::uint64_t> id(std::size_t col) {
    auto t = view(col);
    if (!t) return std::nullopt;
    std::string_view s = normalize::trim_view(*t);
    std::uint64_t v = 0;
    bool ok = !s.empty() && s.size() <= 19;  // 19 digits stay below 2^64
    for (char c : s) {
      if (c < '0' || c > '9') ok = false;
      else v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (!ok || v == 0) return fail(col, "not a positive integer: " + message::quoted(*t));
    return v;
  }

  template <class E>
  std::optional<E> enumeration(std::size_t col) {
    auto t = view(col);
    if (!t) return std::nullopt;
    auto v = from_string<E>(normalize::trim_view(*t));
    if (!v) return fail(col, "unknown value " + message::quoted(*t));
    return v;
  }

  std::optional<Date> date(std::size_t col) {
    auto t = view(col);
    if (!t) return std::nullopt;
    auto d = parse_date(normalize::trim_view(*t));
    if (!d) return fail(col, "not a date (YYYY-MM-DD, 1800..2200): " + message::quoted(*t));
    return d;
  }

  std::optional<Timestamp> timestamp(std::size_t col) {
    auto t = view(col);
    if (!t) return std::nullopt;
    auto ts = parse_timestamp(normalize::trim_view(*t));
    if (!ts) return fail(col, "not an ISO 8601 time: " + message::quoted(*t));
    return ts;
  }

  std::optional<std::uint8_t> income_band(std::size_t col) {
    auto t = text(col);
    if (!t) return std::nullopt;
    std::string s = normalize::trim(*t);
    if (s.size() > 2 || s.empty() ||
        !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return fail(col, "must be 1 to 10: " + message::quoted(*t));
    return static_cast<std::uint8_t>(std::stoi(s));  // the engine checks the range
  }

  // '|'-separated text or a JSON array of strings; the engine normalizes each tag.
  std::vector<std::string> tags(std::size_t col) {
    const auto& cell = cells_[col];
    if (!cell) return {};
    if (cell->list) return *cell->list;
    auto t = text(col);
    if (!t) return {};
    std::vector<std::string> out;
    std::size_t start = 0;
    // Past kMaxRecordFields tags the rest is dropped: validation refuses more than 64 anyway,
    // and a cell of a million '|' must not become a million strings.
    while (out.size() <= kMaxRecordFields) {
      std::size_t bar = t->find('|', start);
      out.push_back(t->substr(start, bar == std::string::npos ? std::string::npos : bar - start));
      if (bar == std::string::npos) break;
      start = bar + 1;
    }
    return out;
  }

  // An ISO 4217 code, upper-cased; nullopt (and a problem) when absent or malformed.
  std::optional<std::string> currency(std::size_t col) {
    auto t = required_text(col);
    if (!t) return std::nullopt;
    std::string code = normalize::trim(*t);
    bool ok = code.size() == 3;
    for (char& c : code) {
      if (!std::isalpha(static_cast<unsigned char>(c))) ok = false;
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    if (ok && !iso_codes::is_currency(code)) ok = false;  // the list from iso-codes
    if (!ok) return fail(col, "not an ISO 4217 code: " + message::quoted(*t));
    return code;
  }

  std::optional<std::int64_t> amount(std::size_t col, std::string_view currency) {
    auto t = view(col);
    if (!t) return std::nullopt;
    auto v = parse_amount(*t, currency);
    if (!v) return fail(col, v.error().message());
    return *v;
  }

  // A custom attribute's cell (column `col`): its text form (parse_attribute_value), a JSON
  // array for a tag set, JSON true/false for a bool. Absent or empty: nullopt.
  std::optional<AttributeValue> attribute(std::size_t col, const AttributeDef& def,
                                          int amount_decimals) {
    const auto& cell = cells_[col];
    if (!cell) return std::nullopt;
    std::string joined;
    std::string_view text = cell->text;
    if (cell->list) {
      if (def.type != AttributeType::kTagSet)
        return fail(col, "an array is accepted only for tag_set attributes");
      if (cell->list->empty()) return std::nullopt;
      if (cell->list->size() > kMaxTagSetTags)
        return fail(col, "more than " + std::to_string(kMaxTagSetTags) + " tags");
      for (const auto& item : *cell->list) {
        if (item.find('|') != std::string::npos)
          return fail(col, "bad tag " + message::quoted(item) + " (has '|')");
        if (!joined.empty()) joined += '|';
        joined += item;
      }
      text = joined;
    } else if (cell->boolean && def.type != AttributeType::kBool) {
      return fail(col, "true/false is not a value of this column");
    }
    if (normalize::trim_view(text).empty()) return std::nullopt;
    auto v = parse_attribute_value(def, text, amount_decimals);
    if (!v) return fail(col, v.error().message());
    return std::move(*v);
  }

  // Every attribute column of the row (columns from `first` on, one per def) into `out`.
  void attributes(std::size_t first, std::span<const AttributeDef* const> defs,
                  int amount_decimals, Attributes& out) {
    for (std::size_t i = 0; i < defs.size(); ++i)
      if (auto v = attribute(first + i, *defs[i], amount_decimals))
        out.insert_or_assign(defs[i]->name, std::move(*v));
  }

  std::nullopt_t fail(std::size_t col, std::string reason) {
    if (!problem_) problem_ = Problem{std::string(names_[col]), std::move(reason)};
    return std::nullopt;
  }

 private:
  const Cells& cells_;
  std::span<const std::string_view> names_;
  std::optional<Problem> problem_;
};

// The columns a file of `table` may have: the built-in ones (columns()), then the live custom
// attributes of the table by name. `names` backs the views.
struct ColumnSet {
  std::vector<std::string> names;
  std::vector<std::string_view> all;
  std::vector<const AttributeDef*> attributes;
  std::size_t builtin = 0;

  // A file of fixed columns (statement balances).
  explicit ColumnSet(std::span<const std::string_view> fixed)
      : all(fixed.begin(), fixed.end()), builtin(fixed.size()) {}

  ColumnSet(Table table, const Schema& schema) {
    std::span<const std::string_view> base = columns(table);
    builtin = base.size();
    all.assign(base.begin(), base.end());
    if (table == Table::kRelationships || table == Table::kHoldings) return;
    attributes = detail::attribute_columns(
        schema, table == Table::kCustomers ? AttributeTable::kCustomers : AttributeTable::kTransactions);
    names.reserve(attributes.size());
    for (const AttributeDef* def : attributes) names.push_back(def->name);
    for (const std::string& n : names) all.push_back(n);
  }
};

tl::expected<Customer, Problem> to_customer(const Cells& cells, const ColumnSet& cols,
                                            int amount_decimals) {
  using namespace customer_column;
  RowFields f(cells, cols.all);
  Customer c;
  c.id = f.id(kId).value_or(0);
  c.external_ref = f.text_or_empty(kExternalRef);
  c.type = f.enumeration<CustomerType>(kType).value_or(CustomerType::kIndividual);
  c.name = f.text_or_empty(kName);  // the engine reports "name: required"
  c.email = f.text(kEmail);
  c.phone = f.text(kPhone);
  c.birth_date = f.date(kBirthDate);
  c.gender = f.enumeration<Gender>(kGender).value_or(Gender::kUnknown);
  c.address.city = f.text_or_empty(kCity);
  c.address.region = f.text_or_empty(kRegion);
  c.address.country = f.text_or_empty(kCountry);
  c.tier = f.enumeration<Tier>(kTier).value_or(Tier::kBronze);
  c.stage = f.enumeration<Stage>(kStage).value_or(Stage::kProspect);
  c.income_band = f.income_band(kIncomeBand);
  c.risk = f.enumeration<Risk>(kRisk).value_or(Risk::kLow);
  if (auto t = f.timestamp(kCreatedAt)) c.created_at = *t;  // absent: the engine sets now
  c.tags = f.tags(kTags);
  auto consent = [&](std::size_t state, std::size_t date, std::size_t source) {
    return Consent{f.enumeration<ConsentState>(state).value_or(ConsentState::kUnknown),
                   f.date(date), f.text_or_empty(source)};
  };
  c.consent_email = consent(kConsentEmail, kConsentEmailDate, kConsentEmailSource);
  c.consent_sms = consent(kConsentSms, kConsentSmsDate, kConsentSmsSource);
  c.consent_phone = consent(kConsentPhone, kConsentPhoneDate, kConsentPhoneSource);
  c.consent_profiling = consent(kConsentProfiling, kConsentProfilingDate, kConsentProfilingSource);
  c.consent_sharing = consent(kConsentSharing, kConsentSharingDate, kConsentSharingSource);
  // Kept as exported (detail::insert_customers keeps a set updated_at), so that an export
  // imported into an empty database exports byte-identical; absent: now.
  if (auto t = f.timestamp(kUpdatedAt)) c.updated_at = *t;
  f.attributes(cols.builtin, cols.attributes, amount_decimals, c.attributes);
  if (f.problem()) return tl::unexpected(*f.problem());
  return c;
}

tl::expected<Relationship, Problem> to_relationship(const Cells& cells) {
  using namespace relationship_column;
  RowFields f(cells, columns(Table::kRelationships));
  Relationship r;
  r.from = f.id(kFrom).value_or(0);  // absent: the engine reports "from: required"
  r.to = f.id(kTo).value_or(0);
  std::string type = normalize::trim(f.required_text(kType).value_or(std::string()));
  r.custom_type = normalize::trim(f.text_or_empty(kCustomType));
  r.since = f.date(kSince);
  if (f.problem()) return tl::unexpected(*f.problem());
  if (auto builtin = from_string<RelationType>(type)) {
    r.type = *builtin;  // "custom" takes its name from custom_type; the engine checks the pair
  } else {
    // Any other name is a custom type of that name, as export writes them.
    auto same_name = [](std::string_view a, std::string_view b) {
      return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        return std::tolower(static_cast<unsigned char>(x)) ==
               std::tolower(static_cast<unsigned char>(y));
      });
    };
    if (!r.custom_type.empty() && !same_name(r.custom_type, type))
      return tl::unexpected(Problem{"custom_type", message::quoted(r.custom_type) +
                                                       " differs from the type " +
                                                       message::quoted(type)});
    r.type = RelationType::kCustom;
    r.custom_type = type;
  }
  return r;
}

tl::expected<Transaction, Problem> to_transaction(const Cells& cells,
                                                  std::string_view base_currency,
                                                  const ColumnSet& cols) {
  using namespace transaction_column;
  RowFields f(cells, cols.all);
  Transaction t;
  t.id = f.id(kId).value_or(0);
  t.customer_id = f.id(kCustomerId).value_or(0);  // absent: "customer_id: required"
  if (auto ts = f.timestamp(kTs)) t.ts = *ts;
  else if (!f.problem()) f.fail(kTs, "required");
  // The currency decides how many decimals the amount may have, so it is read first.
  auto currency = f.currency(kCurrency);
  if (currency) {
    t.currency = *currency;
    if (auto a = f.amount(kAmount, t.currency)) t.amount = *a;
    else if (!f.problem()) f.fail(kAmount, "required");
  }
  // base_amount is in the database's base currency, so it has that currency's decimals.
  t.base_amount = f.amount(kBaseAmount, base_currency);
  t.kind = f.enumeration<TransactionKind>(kKind).value_or(TransactionKind::kPurchase);
  t.channel = f.enumeration<Channel>(kChannel).value_or(Channel::kWeb);
  t.product = f.text_or_empty(kProduct);
  t.description = f.text_or_empty(kDescription);
  t.holding_id = f.id(kHoldingId);  // absent or empty: no posting
  f.attributes(cols.builtin, cols.attributes, currency_digits(base_currency), t.attributes);
  if (f.problem()) return tl::unexpected(*f.problem());
  return t;
}

tl::expected<Holding, Problem> to_holding(const Cells& cells, std::string_view base_currency) {
  using namespace holding_column;
  RowFields f(cells, columns(Table::kHoldings));
  Holding h;
  h.id = f.id(kId).value_or(0);
  h.customer_id = f.id(kCustomerId).value_or(0);  // absent: the engine's "customer_id: ..."
  if (!h.customer_id && !f.problem()) f.fail(kCustomerId, "required");
  const std::string type = normalize::trim(f.required_text(kProductType).value_or(std::string()));
  if (!type.empty()) {
    // A built-in name ("wealth" reads as fund), else the name of a custom type, as export
    // writes custom types (as relationship types are written).
    auto builtin = from_string<ProductType>(type);
    if (builtin == ProductType::kCustom)
      f.fail(kProductType, "'custom' is not a type of its own: write the custom type's name");
    else if (builtin)
      h.product_type = *builtin;
    else {
      h.product_type = ProductType::kCustom;
      h.custom_type = type;
    }
  }
  h.product_code = f.text_or_empty(kProductCode);
  h.account_ref = f.text_or_empty(kAccountRef);
  // The currency decides how many decimals balance and credit_limit may have: read first.
  if (auto currency = f.currency(kCurrency)) {
    h.currency = *currency;
    h.balance = f.amount(kBalance, h.currency).value_or(0);  // absent: 0
    h.credit_limit = f.amount(kCreditLimit, h.currency);
  }
  h.base_balance = f.amount(kBaseBalance, base_currency);
  h.opened_on = f.date(kOpenedOn);
  if (!h.opened_on && !f.problem()) f.fail(kOpenedOn, "required");
  h.closed_on = f.date(kClosedOn);
  h.status = f.enumeration<HoldingStatus>(kStatus).value_or(HoldingStatus::kActive);
  if (f.problem()) return tl::unexpected(*f.problem());
  return h;
}

// Engine errors that mean "this row is wrong" rather than "the storage failed".
bool is_row_error(ErrorCode code) {
  return code == ErrorCode::kInvalidArgument || code == ErrorCode::kAlreadyExists ||
         code == ErrorCode::kFailedPrecondition;
}

// Longest engine message passed on: a reason that echoes a value quotes it (message::quoted,
// 60 bytes), so only a message that echoes a value raw comes near this.
constexpr std::size_t kMaxReason = 240;

// An engine message made safe to print, whatever it echoes (io/display.h's printable): control
// bytes, C1 controls and bytes that are not UTF-8 as \xHH, cut to kMaxReason bytes.
std::string printable(std::string_view text) { return io::printable(text, kMaxReason); }

// The engine's input errors read "field: reason" ("attribute NAME: reason" for a custom
// attribute, whose column is NAME); anything else is about the row.
Problem problem_from_engine(const std::string& message) {
  constexpr std::string_view kAttribute = "attribute ";
  if (message.starts_with(kAttribute)) {
    const std::string_view rest = std::string_view(message).substr(kAttribute.size());
    const auto colon = rest.find(": ");
    if (colon != std::string_view::npos && colon > 0 &&
        std::all_of(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(colon), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        }))
      return Problem{std::string(rest.substr(0, colon)), printable(rest.substr(colon + 2))};
  }
  auto colon = message.find(": ");
  if (colon != std::string::npos && colon > 0 &&
      std::all_of(message.begin(), message.begin() + static_cast<std::ptrdiff_t>(colon),
                  [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; }))
    return Problem{message.substr(0, colon),
                   printable(std::string_view(message).substr(colon + 2))};
  return Problem{"row", printable(message)};
}

std::span<const std::string_view> required_columns(Table table) {
  static constexpr std::string_view kCustomers[] = {"id", "name"};
  static constexpr std::string_view kRelationships[] = {"from", "to", "type"};
  static constexpr std::string_view kTransactions[] = {"customer_id", "ts", "amount",
                                                       "currency"};
  static constexpr std::string_view kHoldings[] = {"customer_id", "product_type", "currency",
                                                   "opened_on"};
  switch (table) {
    case Table::kCustomers: return kCustomers;
    case Table::kRelationships: return kRelationships;
    case Table::kTransactions: return kTransactions;
    case Table::kHoldings: return kHoldings;
  }
  return {};
}

class Importer {
 public:
  // `balances`: a statement balances file (import_balances) instead of `table`'s rows.
  Importer(Database& db, Table table, const ImportOptions& options, std::string source,
           const ImportBalancesOptions* balances = nullptr)
      : db_(db), table_(table), options_(options), source_(io::printable(source)),
        batch_(options.batch == 0 ? 1 : options.batch),
        base_currency_(db.info().base_currency), balances_(balances) {}

  Result<ImportReport> run(std::istream& raw, Format format) {
    if (!raw.rdbuf())
      return make_error(ErrorCode::kIOError, source_ + ": not readable");
    format_ = format;
    detail::DecodingBuf decoding(*raw.rdbuf(), options_.encoding, source_);
    if (auto s = decoding.start(); !s) return stop(ImportStop::kFile, s.error());
    decoding_ = &decoding;
    // The custom attributes as of the start: a schema change while the import runs (another
    // writer between two skip_bad batches) is caught by the engine's validation, which names
    // the attribute.
    auto schema = db_.schema();
    if (!schema) return tl::unexpected(schema.error());
    schema_ = std::move(*schema);
    static constexpr std::string_view kBalancesRequired[] = {"balance"};
    if (balances_) cols_.emplace(detail::balance_columns());
    else cols_.emplace(table_, schema_);
    const std::span<const std::string_view> required =
        balances_ ? std::span<const std::string_view>(kBalancesRequired) : required_columns(table_);
    std::istream in(&decoding);
    auto sink = [this](detail::ReadRow& row) { return on_row(row); };
    Status read = format == Format::kCsv
                      ? detail::read_csv(in, cols_->all, required, source_, sink)
                      : detail::read_json_lines(in, cols_->all, source_, sink);
    decoding_ = nullptr;
    // Input cut short by a decoding error makes the reader fail on what it saw (a header
    // "i" of UTF-16 text read as UTF-8): the decoding error is the one to report.
    if (decoding.error()) return stop(ImportStop::kFile, *decoding.error());
    if (!read) {  // the open transaction aborts unstored
      const ImportStop why = read.error().code() != ErrorCode::kInvalidArgument ? ImportStop::kNone
                             : stopped_by_row_                                   ? ImportStop::kBadRow
                                                                                 : ImportStop::kFile;
      return stop(why, read.error());
    }
    if (raw.bad()) return make_error(ErrorCode::kIOError, source_ + ": read failed");
    if (auto s = apply_pending(); !s)
      return stop(stopped_by_row_ ? ImportStop::kBadRow : ImportStop::kNone, s.error());
    if (auto s = commit(); !s) return tl::unexpected(s.error());
    if (options_.progress && reported_ != report_.rows) options_.progress(report_.rows);
    return std::move(report_);
  }

 private:
  Result<ImportReport> stop(ImportStop why, const Error& e) {
    if (options_.stopped_by) *options_.stopped_by = why;
    return tl::unexpected(e);
  }

  // CSV export writes a leading ' before = + - @ TAB CR and ' (formula neutralization,
  // ExportOptions::neutralize): exactly one such ' is dropped here, so cells read back as
  // they were stored.
  static void strip_neutralized(std::string& text) {
    if (text.size() >= 2 && text[0] == '\'' && is_formula_start(text[1])) text.erase(0, 1);
  }

  Status on_row(detail::ReadRow& row) {
    // A decoding error ended the input in this row: the row is cut short, the error is what
    // the user must see.
    if (decoding_ && decoding_->error()) return tl::unexpected(*decoding_->error());
    if (format_ == Format::kCsv && options_.strip_neutralized)
      for (auto& cell : row.cells)
        if (cell) strip_neutralized(cell->text);
    ++report_.rows;
    if (options_.progress && report_.rows % kProgressEvery == 0) {
      options_.progress(report_.rows);
      reported_ = report_.rows;
    }
    const bool one_by_one =
        balances_ || table_ == Table::kRelationships || table_ == Table::kHoldings;
    if (!one_by_one) return on_batched_row(row);
    if (row.problem) return reject(row.line, std::move(*row.problem));
    if (auto s = ensure_txn(); !s) return s;
    if (balances_) return on_balance_row(row);
    if (table_ == Table::kHoldings) {
      auto h = to_holding(row.cells, base_currency_);
      if (!h) return reject(row.line, std::move(h.error()));
      return stored_or_rejected(row.line, txn_->insert_holding(std::move(*h)));
    }
    auto r = to_relationship(row.cells);
    if (!r) return reject(row.line, std::move(r.error()));
    return stored_or_rejected(row.line, txn_->add_relationship(std::move(*r)));
  }

  // The result of one engine write: stored, a bad row (a refusal), or the import's end (a
  // storage failure).
  template <class T>
  Status stored_or_rejected(std::uint64_t line, const Result<T>& r) {
    if (!r) {
      if (!is_row_error(r.error().code()))
        return tl::unexpected(r.error().with_context(source_ + ":" + std::to_string(line)));
      return reject(line, problem_from_engine(r.error().message()));
    }
    return stored_one();
  }

  // A statement balance row: the holding by id or account_ref, the balance in its currency,
  // set as WriteTxn::set_balance does (in the import's write transaction).
  Status on_balance_row(const detail::ReadRow& row) {
    using namespace balance_column;
    RowFields f(row.cells, cols_->all);
    const auto id = f.id(kId);
    const auto ref = f.text(kAccountRef);
    auto as_of = f.date(kAsOf);
    if (f.problem()) return reject(row.line, *f.problem());
    if (id && ref) return reject(row.line, Problem{"id", "give id or account_ref, not both"});
    if (!id && !ref)
      return reject(row.line, Problem{"id", "required (or account_ref): which holding"});
    if (!as_of) as_of = balances_->as_of;
    if (!as_of)
      return reject(row.line, Problem{"as_of", "required (a column of the row, or --as-of)"});
    auto found = id ? txn_->get_holding(*id) : txn_->find_holding_by_account_ref(*ref);
    if (!found) return stored_or_rejected(row.line, Result<bool>(tl::unexpected(found.error())));
    if (!*found) {
      // The reference is personal data: not echoed.
      return reject(row.line, id ? Problem{"id", "no holding " + std::to_string(*id)}
                                 : Problem{"account_ref", "no holding has this account_ref"});
    }
    const Holding& h = **found;
    StatementBalance statement;
    statement.as_of = *as_of;
    const auto balance = f.amount(kBalance, h.currency);
    if (!balance && !f.problem()) f.fail(kBalance, "required");
    statement.balance = balance.value_or(0);
    statement.base_balance = f.amount(kBaseBalance, base_currency_);
    if (f.problem()) return reject(row.line, *f.problem());
    auto set = txn_->set_balance(h.id, statement);
    if (set && !*set)
      return reject(row.line, Problem{"id", "no holding " + std::to_string(h.id)});
    return stored_or_rejected(row.line, set);
  }

  // Customers and transactions are converted here and written in batches (apply_pending:
  // detail::insert_customers, detail::add_transactions), which give each row the result the
  // one-row call would give it in file order. A row that cannot be converted is rejected
  // after the rows before it are applied, so problems stay in file order and an
  // all-or-nothing import names the first bad line.
  Status on_batched_row(detail::ReadRow& row) {
    std::optional<Problem> problem = std::move(row.problem);
    if (!problem) {
      if (table_ == Table::kCustomers) {
        auto c = to_customer(row.cells, *cols_, currency_digits(base_currency_));
        if (c) pending_customers_.push_back(std::move(*c));
        else problem = std::move(c.error());
      } else {
        auto t = to_transaction(row.cells, base_currency_, *cols_);
        if (t) pending_transactions_.push_back(std::move(*t));
        else problem = std::move(t.error());
      }
    }
    if (!problem) {
      pending_lines_.push_back(row.line);
      for (const auto& cell : row.cells) {
        if (!cell) continue;
        pending_bytes_ += cell->text.size();
        if (cell->list)
          for (const auto& item : *cell->list) pending_bytes_ += item.size();
      }
      // skip_bad: a write transaction holds batch_ stored rows, as one by one.
      const std::size_t room = options_.skip_bad ? batch_ - in_batch_ : kBatch;
      if (pending_lines_.size() >= std::min(room, kBatch) || pending_bytes_ >= kBatchBytes)
        return apply_pending();
      return {};
    }
    if (auto s = apply_pending(); !s) return s;
    return reject(row.line, std::move(*problem));
  }

  // Writes the held rows as one batch and goes through their results in file order.
  Status apply_pending() {
    if (pending_lines_.empty()) return {};
    if (auto s = ensure_txn(); !s) return s;
    Status applied =
        table_ == Table::kCustomers
            ? custdb::detail::insert_customers(*txn_, pending_customers_, results_)
            : custdb::detail::add_transactions(*txn_, pending_transactions_, results_,
                                               options_.move_balances);
    std::vector<std::uint64_t> lines = std::move(pending_lines_);
    pending_lines_.clear();
    pending_bytes_ = 0;
    pending_customers_.clear();
    pending_transactions_.clear();
    std::size_t i = 0;
    for (; i < results_.size(); ++i) {
      if (results_[i]) {
        ++report_.imported;
        ++in_batch_;
      } else if (auto s = reject(lines[i], problem_from_engine(results_[i].error().message()));
                 !s) {
        return s;  // a refusal (the batch skipped the row), as one by one
      }
    }
    if (!applied) {
      // Checking row i failed, or (i == every row) writing the batch did.
      const std::uint64_t line = lines[std::min(i, lines.size() - 1)];
      return tl::unexpected(applied.error().with_context(source_ + ":" + std::to_string(line)));
    }
    if (options_.skip_bad && in_batch_ >= batch_) return commit();
    return {};
  }

  Status ensure_txn() {
    if (txn_) return {};
    auto txn = db_.begin_write();
    if (!txn) return tl::unexpected(txn.error());
    txn_.emplace(std::move(*txn));
    return {};
  }

  // Counts a stored row. All or nothing keeps one transaction to the end; skip_bad commits
  // every batch_ stored rows.
  Status stored_one() {
    ++report_.imported;
    if (options_.skip_bad && ++in_batch_ >= batch_) return commit();
    return {};
  }

  // A row problem: the end of an all-or-nothing import, one more entry with skip_bad.
  Status reject(std::uint64_t line, Problem p) {
    stopped_by_row_ = !options_.skip_bad;
    if (!options_.skip_bad)
      return make_error(ErrorCode::kInvalidArgument,
                        detail::located(source_, line, p.field, p.reason));
    report_.bad.push_back(BadRow{line, std::move(p.field), std::move(p.reason)});
    return {};
  }

  Status commit() {
    in_batch_ = 0;
    if (!txn_) return {};
    Status s = txn_->commit();
    txn_.reset();
    return s;
  }

  Database& db_;
  Table table_;
  const ImportOptions& options_;
  std::string source_;
  std::size_t batch_;
  std::string base_currency_;
  Schema schema_;                 // as of the start of the import
  std::optional<ColumnSet> cols_;  // the columns a row may have (built-in + attributes)
  std::optional<WriteTxn> txn_;  // open while rows are being stored
  std::size_t in_batch_ = 0;     // rows stored in txn_ (skip_bad commits at batch_)
  // Rows converted but not yet written (apply_pending; customers or transactions), and
  // their lines.
  std::vector<Customer> pending_customers_;
  std::vector<Transaction> pending_transactions_;
  std::vector<std::uint64_t> pending_lines_;
  std::size_t pending_bytes_ = 0;  // their cells' text
  std::vector<Result<std::uint64_t>> results_;  // apply_pending's, kept for its capacity
  std::uint64_t reported_ = 0;   // rows last passed to options_.progress
  ImportReport report_;
  Format format_ = Format::kCsv;
  detail::DecodingBuf* decoding_ = nullptr;  // while reading
  bool stopped_by_row_ = false;              // the error being returned is a bad row's
  const ImportBalancesOptions* balances_;    // a statement balances file, or null
};

}  // namespace

namespace {

// libstdc++'s filebuf throws std::ios_base::failure when read(2) fails (EISDIR for a directory,
// EIO): an error of the import, not an exception out of the library. The write transaction of
// the import aborts with the Importer.
Result<ImportReport> run_import(Database& db, Table table, std::istream& in, Format format,
                                const ImportOptions& options, const std::string& source,
                                const ImportBalancesOptions* balances = nullptr) {
  try {
    return Importer(db, table, options, source, balances).run(in, format);
  } catch (const std::ios_base::failure& e) {
    return make_error(ErrorCode::kIOError, io::printable(source) + ": read failed: " +
                                               io::printable(e.what(), 240));
  }
}

// Opens `file` for an import: a directory or an unreadable file is kIOError naming it.
Result<ImportReport> import_path(Database& db, Table table, const std::filesystem::path& file,
                                 Format format, const ImportOptions& options,
                                 const ImportBalancesOptions* balances) {
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec))
    return make_error(ErrorCode::kIOError,
                      "cannot read " + io::printable(file.string()) + ": Is a directory");
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return make_error(ErrorCode::kIOError,
                      "cannot open " + io::printable(file.string()) + ": " + std::strerror(errno));
  return run_import(db, table, in, format, options, file.string(), balances);
}

}  // namespace

Result<ImportReport> import_file(Database& db, Table table, const std::filesystem::path& file,
                                 Format format, const ImportOptions& options) {
  return import_path(db, table, file, format, options, nullptr);
}

Result<ImportReport> import_balances(Database& db, const std::filesystem::path& file,
                                     Format format, const ImportBalancesOptions& options) {
  return import_path(db, Table::kHoldings, file, format, options.import, &options);
}

Result<ImportReport> import_stream(Database& db, Table table, std::istream& in, Format format,
                                   const ImportOptions& options) {
  return run_import(db, table, in, format, options, "<stdin>");
}

}  // namespace custdb::io
