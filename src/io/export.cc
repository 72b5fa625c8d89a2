// Export: one read snapshot, records in id order, written through one row writer that knows
// both formats, so that CSV and JSON Lines always carry the same columns and values.
//
// Every table is read from the table itself, never through an index (a lost index entry would
// drop a record), and the walk's record count is checked against the count LMDB records for
// the table (ReadView::for_each_*): a torn or damaged file is kCorruption, not a short export.
#include <algorithm>
#include <ostream>

#include "custdb/io.h"
#include "custdb/money.h"
#include "custdb/query.h"
#include "io/display.h"
#include "io/io_internal.h"

namespace custdb::io {
namespace {

namespace customer_column = detail::customer_column;
namespace relationship_column = detail::relationship_column;
namespace transaction_column = detail::transaction_column;

// Writes rows cell by cell in column order. Absent values are an empty CSV cell or JSON null.
class RowWriter {
 public:
  RowWriter(std::ostream& out, Format format, std::span<const std::string_view> names,
            bool neutralize)
      : out_(out), format_(format), names_(names),
        neutralize_(neutralize && format == Format::kCsv) {}

  void header() {
    if (format_ != Format::kCsv) return;
    for (std::string_view name : names_) {
      separate();
      detail::append_csv_field(buf_, name);
    }
    end_row();
  }

  void text(std::optional<std::string_view> value) {
    separate();
    if (format_ == Format::kCsv) {
      if (value) detail::append_csv_field(buf_, *value);
    } else if (value && !value->empty()) {
      append_json_string(buf_, *value);
    } else {
      buf_ += "null";
    }
  }
  // A free-text cell (ExportOptions::neutralize): in CSV a leading ' before = + - @ TAB CR or
  // ', so spreadsheets do not run it as a formula and import can drop exactly that '.
  void user_text(std::optional<std::string_view> value) {
    if (neutralize_ && value && !value->empty() && detail::is_formula_start(value->front())) {
      std::string prefixed = "'";
      prefixed += *value;
      text(std::optional<std::string_view>(prefixed));
      return;
    }
    text(value);
  }
  void user_text(const std::string& value) { user_text(std::optional<std::string_view>(value)); }
  void user_text(const std::optional<std::string>& value) {
    user_text(value ? std::optional<std::string_view>(*value) : std::nullopt);
  }

  // Empty text is absent: the importer reads an empty cell as the field's default.
  void text(const std::string& value) { text(std::optional<std::string_view>(value)); }
  void text(const std::optional<std::string>& value) {
    text(value ? std::optional<std::string_view>(*value) : std::nullopt);
  }
  template <class E>
    requires std::is_enum_v<E>
  void name(E value) {
    text(std::optional<std::string_view>(to_string(value)));
  }
  void date(const std::optional<Date>& d) {
    text(d ? std::optional<std::string>(format_date(*d)) : std::nullopt);
  }
  void timestamp(Timestamp t) { text(format_timestamp(t)); }

  // Ids and small counts are JSON numbers; amounts stay strings (see below).
  void number(std::optional<std::uint64_t> value) {
    separate();
    if (value) buf_ += std::to_string(*value);
    else if (format_ == Format::kJsonLines) buf_ += "null";
  }

  // A JSON number or bool literal given as text (`literal` "42", "true"); a CSV cell as is.
  void literal(std::string_view literal) {
    separate();
    if (format_ == Format::kCsv) detail::append_csv_field(buf_, literal);
    else buf_ += literal;
  }

  // Amounts are JSON strings: exact decimals that a reader could otherwise take as a double.
  void amount(std::optional<std::int64_t> minor, std::string_view currency) {
    text(minor ? std::optional<std::string>(format_amount(*minor, currency)) : std::nullopt);
  }

  void list(const std::vector<std::string>& items) {
    separate();
    if (format_ == Format::kCsv) {
      std::string joined;
      if (neutralize_ && !items.empty() && !items[0].empty() &&
          detail::is_formula_start(items[0].front()))
        joined += '\'';  // the cell's start, as user_text
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) joined += '|';
        joined += items[i];
      }
      detail::append_csv_field(buf_, joined);
      return;
    }
    buf_ += '[';
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i) buf_ += ',';
      append_json_string(buf_, items[i]);
    }
    buf_ += ']';
  }

  // Ends the row; writes out in chunks so the stream sees large writes.
  void end_row() {
    if (format_ == Format::kJsonLines) buf_ += '}';
    buf_ += '\n';
    column_ = 0;
    if (buf_.size() >= kChunk) flush();
  }

  Status finish() {
    flush();
    out_.flush();
    if (!out_) return make_error(ErrorCode::kIOError, "export: writing the output failed");
    return {};
  }

  bool ok() const { return static_cast<bool>(out_); }

 private:
  static constexpr std::size_t kChunk = 1 << 16;

  // Before each cell: the separator (CSV) or the key (JSON).
  void separate() {
    if (format_ == Format::kCsv) {
      if (column_ > 0) buf_ += ',';
    } else {
      buf_ += column_ == 0 ? "{" : ",";
      append_json_string(buf_, names_[column_]);
      buf_ += ':';
    }
    ++column_;
  }

  void flush() {
    out_.write(buf_.data(), static_cast<std::streamsize>(buf_.size()));
    buf_.clear();
  }

  std::ostream& out_;
  Format format_;
  std::span<const std::string_view> names_;
  std::string buf_;
  std::size_t column_ = 0;
  bool neutralize_;
};

// The custom attribute cells of a record, one per live attribute of its table (id order):
// absent is an empty cell / null; personal ones read "(unavailable)" when `unavailable` (an
// analyst key) and are masked unless `reveal` (io/display.h, mask_attribute). In JSON an
// integer is a number, a bool true/false, a tag set an array; the rest are strings (decimals
// and amounts exact, as amounts are).
void write_attributes(RowWriter& w, const Attributes& attrs,
                      std::span<const AttributeDef* const> defs, int amount_decimals,
                      bool reveal, bool unavailable) {
  for (const AttributeDef* def : defs) {
    if (def->personal && unavailable) {
      w.text(std::optional<std::string_view>("(unavailable)"));
      continue;
    }
    auto it = attrs.find(def->name);
    if (it == attrs.end()) {
      w.text(std::optional<std::string_view>());
      continue;
    }
    const bool textual = def->type == AttributeType::kText || def->type == AttributeType::kEnum ||
                         def->type == AttributeType::kTagSet;
    std::string text = format_attribute_value(*def, it->second, amount_decimals);
    if (def->personal && !reveal) {
      w.user_text(mask_attribute(text, textual));
      continue;
    }
    switch (def->type) {
      case AttributeType::kTagSet:
        w.list(std::get<std::vector<std::string>>(it->second));
        break;
      case AttributeType::kInteger:
      case AttributeType::kBool:
        w.literal(text);
        break;
      case AttributeType::kText:
      case AttributeType::kEnum:
        w.user_text(text);
        break;
      default:
        w.text(text);
    }
  }
}

void write_customer(RowWriter& w, const Customer& shown, bool reveal,
                    std::span<const AttributeDef* const> defs, int amount_decimals) {
  // An analyst key cannot decrypt personal fields: they are written as "(unavailable)".
  Customer c = shown;
  if (!c.personal_available) {
    reveal = true;  // nothing to mask
    c.external_ref = c.name = c.address.city = "(unavailable)";
    c.email = c.phone = "(unavailable)";
  }
  w.number(c.id);
  w.user_text(c.external_ref);
  w.name(c.type);
  w.user_text(reveal ? c.name : mask_name(c.name));
  if (reveal || !c.email) w.user_text(c.email);
  else w.user_text(mask_email(*c.email));
  if (reveal || !c.phone) w.user_text(c.phone);
  else w.user_text(mask_phone(*c.phone));
  if (reveal || !c.birth_date) w.date(c.birth_date);
  else w.text(std::optional<std::string_view>(kMaskedDate));
  w.name(c.gender);
  w.user_text(c.address.city);
  w.user_text(c.address.region);
  w.user_text(c.address.country);
  w.name(c.tier);
  w.name(c.stage);
  w.number(c.income_band ? std::optional<std::uint64_t>(*c.income_band) : std::nullopt);
  w.name(c.risk);
  w.timestamp(c.created_at);
  w.list(c.tags);
  w.name(c.consent_email.state);
  w.date(c.consent_email.date);
  w.name(c.consent_sms.state);
  w.date(c.consent_sms.date);
  w.name(c.consent_phone.state);
  w.date(c.consent_phone.date);
  w.timestamp(c.updated_at);
  w.name(c.consent_profiling.state);
  w.date(c.consent_profiling.date);
  w.name(c.consent_sharing.state);
  w.date(c.consent_sharing.date);
  for (const Consent* k : {&c.consent_email, &c.consent_sms, &c.consent_phone,
                           &c.consent_profiling, &c.consent_sharing})
    w.user_text(k->source);
  write_attributes(w, c.attributes, defs, amount_decimals, reveal, !shown.personal_available);
  w.end_row();
}

void write_relationship(RowWriter& w, const Relationship& r) {
  w.number(r.from);
  w.number(r.to);
  // A custom type is written by its own name, which never equals a built-in one.
  if (r.type == RelationType::kCustom) w.user_text(r.custom_type);
  else w.name(r.type);
  w.date(r.since);
  w.end_row();
}

// An analyst key cannot decrypt descriptions (personal free text): written as "(unavailable)",
// as the customers' personal columns and `custdb history` show them, not as an empty memo.
void write_transaction(RowWriter& w, const Transaction& t, std::string_view base_currency,
                       bool analyst, bool reveal, std::span<const AttributeDef* const> defs) {
  w.number(t.id);
  w.number(t.customer_id);
  w.timestamp(t.ts);
  w.amount(t.amount, t.currency);
  w.user_text(t.currency);
  w.name(t.kind);
  w.name(t.channel);
  w.user_text(t.product);
  w.user_text(analyst ? std::string_view("(unavailable)") : std::string_view(t.description));
  w.amount(t.base_amount, base_currency);
  w.number(t.holding_id);
  write_attributes(w, t.attributes, defs, currency_digits(base_currency), reveal, analyst);
  w.end_row();
}

// account_ref is personal: masked unless `reveal` (mask_account_ref), "(unavailable)" under an
// analyst key. A custom product type is written by its own name (as relationship types).
void write_holding(RowWriter& w, const Holding& h, std::string_view base_currency,
                   bool reveal) {
  w.number(h.id);
  w.number(h.customer_id);
  if (h.product_type == ProductType::kCustom) w.user_text(h.custom_type);
  else w.name(h.product_type);
  w.user_text(h.product_code);
  if (!h.personal_available) w.text(std::optional<std::string_view>("(unavailable)"));
  else if (reveal || h.account_ref.empty()) w.user_text(h.account_ref);
  else w.user_text(mask_account_ref(h.account_ref));
  w.user_text(h.currency);
  w.amount(h.balance, h.currency);
  w.amount(h.base_balance, base_currency);
  w.amount(h.credit_limit, h.currency);
  w.date(h.opened_on);
  w.date(h.closed_on);
  w.name(h.status);
  w.end_row();
}

}  // namespace

Status export_table(const Database& db, Table table, std::ostream& out, Format format,
                    const ExportOptions& options) {
  const bool filtered = !options.segment.empty() || options.purpose.has_value();
  if (filtered && table != Table::kCustomers)
    return make_error(ErrorCode::kInvalidArgument,
                      "segment and purpose: only for the customers table");
  auto txn = db.begin_read();
  if (!txn) return tl::unexpected(txn.error());
  std::optional<query::Node> segment;
  if (!options.segment.empty()) {
    // The snapshot's schema: the segment may name custom attributes.
    auto po = txn->parse_options();
    if (!po) return tl::unexpected(po.error());
    auto q = query::parse(options.segment, *po);
    if (!q) return make_error(ErrorCode::kInvalidArgument, "segment: " + q.error().message());
    segment = std::move(*q);
  }
  ExportStats local;
  ExportStats& stats = options.stats ? *options.stats : local;
  stats = {};
  std::span<const std::string_view> builtin = columns(table);
  if (table == Table::kRelationships) builtin = builtin.first(relationship_column::kExported);
  // Custom attributes (format 5): columns after the built-in ones, as of this snapshot.
  auto schema = txn->schema();
  if (!schema) return tl::unexpected(schema.error());
  std::vector<const AttributeDef*> defs;
  if (table == Table::kCustomers || table == Table::kTransactions)
    defs = detail::attribute_columns(*schema, table == Table::kCustomers
                                                  ? AttributeTable::kCustomers
                                                  : AttributeTable::kTransactions);
  std::vector<std::string_view> names(builtin.begin(), builtin.end());
  for (const AttributeDef* def : defs) names.push_back(def->name);
  const int amount_decimals = currency_digits(db.info().base_currency);
  RowWriter w(out, format, names, options.neutralize);
  w.header();

  switch (table) {
    case Table::kCustomers: {
      auto write = [&](const Customer& c) {
        if (options.purpose && consent_of(c, *options.purpose).state != ConsentState::kGranted) {
          ++stats.left_out_no_consent;
          return true;
        }
        write_customer(w, c, options.reveal, defs, amount_decimals);
        ++stats.rows;
        return w.ok();
      };
      Status s = segment ? txn->stream(*segment, write) : txn->for_each_customer(write);
      if (!s) return s;
      break;
    }
    case Table::kRelationships: {
      Status s = txn->for_each_relationship([&](const Relationship& r) {
        write_relationship(w, r);
        ++stats.rows;
        return w.ok();
      });
      if (!s) return s;
      break;
    }
    case Table::kTransactions: {
      const std::string base_currency = db.info().base_currency;
      const bool analyst = db.info().role == KeyRole::kAnalyst;
      Status s = txn->for_each_transaction([&](const Transaction& t) {
        write_transaction(w, t, base_currency, analyst, options.reveal, defs);
        ++stats.rows;
        return w.ok();
      });
      if (!s) return s;
      break;
    }
    case Table::kHoldings: {
      const std::string base_currency = db.info().base_currency;
      Status s = txn->for_each_holding([&](const Holding& h) {
        write_holding(w, h, base_currency, options.reveal);
        ++stats.rows;
        return w.ok();
      });
      if (!s) return s;
      break;
    }
  }
  return w.finish();
}

}  // namespace custdb::io
