// io::write_subject_json: the subject-access document (custdb/io.h).
#include <ostream>

#include "custdb/io.h"
#include "custdb/money.h"
#include "io/display.h"

namespace custdb::io {

namespace {

std::string_view purpose_name(ConsentPurpose p) {
  switch (p) {
    case ConsentPurpose::kEmailMarketing: return "email_marketing";
    case ConsentPurpose::kSmsMarketing: return "sms_marketing";
    case ConsentPurpose::kPhoneMarketing: return "phone_marketing";
    case ConsentPurpose::kProfiling: return "profiling";
    case ConsentPurpose::kThirdPartySharing: return "third_party_sharing";
  }
  return "unknown";
}

// A small streaming writer: members separated by commas, two-space indentation.
class Writer {
 public:
  std::string out;

  void open(char c) {
    value_start();
    out += c;
    first_.push_back(true);
  }
  void close(char c) {
    const bool empty = first_.back();
    first_.pop_back();
    if (!empty) newline();
    out += c;
  }
  void key(std::string_view k) {
    sep();
    append_json_string(out, k);
    out += ": ";
    after_key_ = true;
  }
  void str(std::string_view v) {
    value_start();
    append_json_string(out, v);
  }
  void raw(std::string_view v) {
    value_start();
    out += v;
  }
  void null() { raw("null"); }
  void num(std::uint64_t v) { raw(std::to_string(v)); }
  void boolean(bool v) { raw(v ? "true" : "false"); }

  template <class T>
  void member(std::string_view k, const T& v) {
    key(k);
    put(v);
  }

  void put(std::string_view v) { str(v); }
  void put(const std::string& v) { str(v); }
  void put(const char* v) { str(v); }
  void put(std::uint64_t v) { num(v); }
  void put(std::uint32_t v) { num(v); }
  void put(bool v) { boolean(v); }
  void put(Date d) { str(format_date(d)); }
  void put(Timestamp t) { str(format_timestamp(t)); }
  template <class T>
  void put(const std::optional<T>& v) {
    if (v) put(*v);
    else null();
  }

 private:
  void newline() {
    out += '\n';
    out.append(2 * first_.size(), ' ');
  }
  void sep() {
    if (first_.empty()) return;
    if (!first_.back()) out += ',';
    first_.back() = false;
    newline();
  }
  void value_start() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    sep();  // an array element
  }
  std::vector<bool> first_;
  bool after_key_ = false;
};

void consent(Writer& w, const Consent& c) {
  w.open('{');
  w.member("state", to_string(c.state));
  w.member("date", c.date);
  w.member("source", c.source);
  w.close('}');
}

std::string decimal(std::int64_t v) {  // millionths as a decimal
  std::string s = std::to_string(v < 0 ? -v : v);
  while (s.size() < 7) s.insert(0, "0");
  s.insert(s.size() - 6, ".");
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return (v < 0 ? "-" : "") + s;
}

// A record's custom attributes as an object, names in the schema's id order, values in their
// text form (format_attribute_value; a tag set as an array of tags).
void attributes(Writer& w, const Attributes& attrs, const Schema& schema, AttributeTable table,
                int amount_decimals) {
  w.key("attributes");
  w.open('{');
  for (const AttributeDef& def : schema.attributes) {
    if (def.dropping || def.table != table) continue;
    auto it = attrs.find(def.name);
    if (it == attrs.end()) continue;
    w.key(def.name);
    if (const auto* tags = std::get_if<std::vector<std::string>>(&it->second)) {
      w.open('[');
      for (const auto& t : *tags) w.str(t);
      w.close(']');
    } else {
      w.str(format_attribute_value(def, it->second, amount_decimals));
    }
  }
  w.close('}');
}

}  // namespace

Status write_subject_json(const SubjectRecord& r, std::string_view base, std::ostream& os) {
  Writer w;
  const Customer& c = r.customer;
  w.open('{');
  w.member("format", "custdb-subject-1");
  w.member("generated_at",
           format_timestamp(std::chrono::time_point_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now())));
  w.key("customer");
  w.open('{');
  w.member("id", c.id);
  w.member("external_ref", c.external_ref);
  w.member("type", to_string(c.type));
  w.member("name", c.name);
  w.member("email", c.email);
  w.member("phone", c.phone);
  w.member("birth_date", c.birth_date);
  w.member("gender", to_string(c.gender));
  w.key("address");
  w.open('{');
  w.member("city", c.address.city);
  w.member("region", c.address.region);
  w.member("country", c.address.country);
  w.close('}');
  w.member("tier", to_string(c.tier));
  w.member("stage", to_string(c.stage));
  w.key("income_band");
  if (c.income_band) w.num(*c.income_band);
  else w.null();
  w.member("risk", to_string(c.risk));
  w.key("consents");
  w.open('{');
  for (ConsentPurpose p : {ConsentPurpose::kEmailMarketing, ConsentPurpose::kSmsMarketing,
                           ConsentPurpose::kPhoneMarketing, ConsentPurpose::kProfiling,
                           ConsentPurpose::kThirdPartySharing}) {
    const Consent& k = p == ConsentPurpose::kEmailMarketing  ? c.consent_email
                       : p == ConsentPurpose::kSmsMarketing  ? c.consent_sms
                       : p == ConsentPurpose::kPhoneMarketing ? c.consent_phone
                       : p == ConsentPurpose::kProfiling      ? c.consent_profiling
                                                              : c.consent_sharing;
    w.key(purpose_name(p));
    consent(w, k);
  }
  w.close('}');
  w.key("tags");
  w.open('[');
  for (const auto& t : c.tags) w.str(t);
  w.close(']');
  w.member("created_at", c.created_at);
  w.member("updated_at", c.updated_at);
  w.member("anonymized", c.anonymized);
  attributes(w, c.attributes, r.schema, AttributeTable::kCustomers, currency_digits(base));
  w.key("aggregates");
  w.open('{');
  w.member("txn_count", c.aggregates.txn_count);
  w.member("total_amount", format_amount(c.aggregates.total_amount, base));
  w.member("currency", base);
  w.member("first_txn_at", c.aggregates.first_txn_at);
  w.member("last_txn_at", c.aggregates.last_txn_at);
  w.close('}');
  // Format 6: what the customer holds (HoldingAggregates), in the base currency.
  w.key("holdings");
  w.open('{');
  w.member("aum", format_amount(c.holdings.aum, base));
  w.member("liabilities", format_amount(c.holdings.liabilities, base));
  w.member("currency", base);
  w.member("products", c.holdings.products);
  w.member("holdings", c.holdings.holdings);
  w.key("types_held");
  w.open('[');
  for (const auto& t : c.holdings.types_held) w.str(t);
  w.close(']');
  w.member("first_product_on", c.holdings.first_product_on);
  w.close('}');
  w.key("scores");
  if (!c.scores) {
    w.null();
  } else {
    const Scores& s = *c.scores;
    w.open('{');
    w.member("as_of", s.as_of);
    w.key("p_alive");
    w.raw(decimal(to_millionths(s.p_alive)));
    w.key("expected_purchases");
    w.raw(decimal(to_millionths(s.expected_purchases)));
    w.member("expected_value", format_amount(s.expected_value, base));
    w.member("clv", format_amount(s.clv, base));
    w.member("currency", base);
    w.member("r_score", std::uint64_t{s.r_score});
    w.member("f_score", std::uint64_t{s.f_score});
    w.member("m_score", std::uint64_t{s.m_score});
    w.close('}');
  }
  w.close('}');

  w.key("consent_history");
  w.open('[');
  for (const ConsentChange& h : r.consent_history) {
    w.open('{');
    w.member("seq", h.seq);
    w.member("purpose", purpose_name(h.purpose));
    w.key("before");
    consent(w, h.before);
    w.key("after");
    consent(w, h.after);
    w.member("recorded_at", h.recorded_at);
    w.close('}');
  }
  w.close(']');

  w.key("relationships");
  w.open('[');
  for (const Relationship& rel : r.relationships) {
    w.open('{');
    w.member("id", rel.id);
    w.member("direction", rel.from == c.id ? "from" : "to");
    w.member("from", rel.from);
    w.member("to", rel.to);
    w.member("type", to_string(rel.type));
    w.member("custom_type", rel.custom_type);
    w.member("since", rel.since);
    w.close('}');
  }
  w.close(']');

  w.key("transactions");
  w.open('[');
  for (const Transaction& t : r.transactions) {
    w.open('{');
    w.member("id", t.id);
    w.member("ts", t.ts);
    w.member("amount", format_amount(t.amount, t.currency));
    w.member("currency", t.currency);
    w.key("base_amount");
    if (t.base_amount) w.str(format_amount(*t.base_amount, base));
    else w.null();
    w.member("kind", to_string(t.kind));
    w.member("channel", to_string(t.channel));
    w.member("product", t.product);
    w.member("description", t.description);
    w.member("holding_id", t.holding_id);
    attributes(w, t.attributes, r.schema, AttributeTable::kTransactions, currency_digits(base));
    w.close('}');
  }
  w.close(']');

  // Format 6: the customer's holdings, account references unmasked (the customer's copy).
  w.key("holdings");
  w.open('[');
  for (const Holding& h : r.holdings) {
    w.open('{');
    w.member("id", h.id);
    w.member("product_type", h.product_type == ProductType::kCustom
                                 ? std::string_view(h.custom_type)
                                 : to_string(h.product_type));
    w.member("product_code", h.product_code);
    w.member("account_ref", h.account_ref);
    w.member("currency", h.currency);
    w.member("balance", format_amount(h.balance, h.currency));
    w.key("base_balance");
    if (h.base_balance) w.str(format_amount(*h.base_balance, base));
    else w.null();
    w.key("credit_limit");
    if (h.credit_limit) w.str(format_amount(*h.credit_limit, h.currency));
    else w.null();
    w.member("opened_on", h.opened_on);
    w.member("closed_on", h.closed_on);
    w.member("status", to_string(h.status));
    w.member("balance_as_of", h.balance_as_of);
    w.member("postings", h.postings);
    w.close('}');
  }
  w.close(']');

  w.key("rule_moves");
  w.open('[');
  for (const RuleMove& m : r.rule_moves) {
    w.open('{');
    w.member("seq", m.seq);
    w.member("field", m.field);
    w.member("from", m.from);
    w.member("to", m.to);
    w.member("rule", m.rule);
    w.member("at", m.at);
    w.close('}');
  }
  w.close(']');

  w.key("audit");
  w.open('[');
  for (const AuditEntry& e : r.audit) {
    w.open('{');
    w.member("seq", e.seq);
    w.member("at", e.at);
    w.member("os_user", e.os_user);
    w.member("command", e.event.command);
    w.member("count", e.event.count);
    w.member("detail", e.event.detail);
    w.close('}');
  }
  w.close(']');
  w.close('}');
  w.out += '\n';
  os.write(w.out.data(), static_cast<std::streamsize>(w.out.size()));
  os.flush();
  if (!os) return make_error(ErrorCode::kIOError, "writing the subject document failed");
  return {};
}

}  // namespace custdb::io
