#include "engine/validate.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "custdb/money.h"
#include "util/enums.h"
#include "util/iso_codes.h"
#include "util/message.h"
#include "util/normalize.h"

namespace custdb::detail {
namespace {

tl::unexpected<Error> bad(std::string_view field, std::string_view reason) {
  std::string m(field);
  m += ": ";
  m += reason;
  return make_error(ErrorCode::kInvalidArgument, std::move(m));
}

// What a text field may hold besides printable UTF-8. kLine: no control characters at all
// (names, references, city, region: one line in a table or a CSV cell). kFreeText: newline and
// tab allowed (bank memos have them: description, product); CSV and JSON output quote or
// escape them, so they round-trip. CR, other C0 controls and DEL are refused in both.
enum class TextKind { kLine, kFreeText };

// C0 controls, DEL and the C1 controls U+0080..U+009F (in UTF-8: C2 80..C2 9F; U+009B is a
// CSI that terminals obey like ESC [). `s` is well-formed UTF-8 (checked first), so a C2 byte
// is always a lead byte.
bool has_refused_control(std::string_view s, TextKind kind) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const unsigned char u = static_cast<unsigned char>(s[i]);
    if (kind == TextKind::kFreeText && (u == '\n' || u == '\t')) continue;
    if (u < 0x20 || u == 0x7f) return true;
    if (u == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) <= 0x9F) return true;
  }
  return false;
}

Status check_text(std::string_view field, const std::string& s, std::size_t max,
                  TextKind kind = TextKind::kLine) {
  if (s.size() > max) return bad(field, "longer than " + std::to_string(max) + " bytes");
  if (!normalize::is_utf8(s)) return bad(field, "not UTF-8");
  if (has_refused_control(s, kind))
    return bad(field, kind == TextKind::kLine ? "contains control characters"
                                              : "contains control characters other than newline and tab");
  return {};
}

const Date kMinDate = Date{std::chrono::year{1800} / 1 / 1};
const Date kMaxDate = Date{std::chrono::year{2200} / 12 / 31};

// State, date and source of one consent (custdb/types.h, Consent). The source is trimmed.
// `stored`: the consent as stored on an update; an unchanged consent passes as stored.
Status check_consent(std::string_view field, Consent& c, const Consent* stored) {
  if (stored && c == *stored) return {};
  if (!enums::is_valid(c.state)) return bad(field, "unknown consent state");
  if (c.state == ConsentState::kUnknown && c.date)
    return bad(field, "a date is given but the consent state is unknown");
  if (c.state != ConsentState::kUnknown && !c.date)
    return bad(field, "granted or denied needs a date");
  if (c.date && (*c.date < kMinDate || *c.date > kMaxDate))
    return bad(field, "date outside 1800-01-01..2200-12-31");
  c.source = normalize::trim(c.source);
  if (c.state == ConsentState::kUnknown && !c.source.empty())
    return bad(std::string(field) + " source", "a source is given but the consent state is unknown");
  if (auto s = check_text(std::string(field) + " source", c.source, kMaxConsentSourceLength); !s)
    return s;
  return {};
}

}  // namespace

bool is_currency_code(std::string_view code) {
  return code.size() == 3 &&
         std::all_of(code.begin(), code.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }) &&
         iso_codes::is_currency(canonical_currency(code));
}

static Date today_utc() {
  return std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
}

std::string canonical_currency(std::string_view code) {
  std::string out(code);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

Status validate_customer(Customer& c, std::string_view phone_region, const Customer* stored) {
  // An update keeps what it does not change: a value equal to the stored one passes as stored,
  // even if an older release's looser rules let it in (a national phone of a file without a
  // phone region, a country code not on today's list). Otherwise one such customer would stop
  // every tier/stage rules run and every application update of that customer.
  auto kept = [stored](auto Customer::*field, const Customer& now) {
    return stored != nullptr && now.*field == stored->*field;
  };
  const bool kept_address = stored != nullptr && c.address == stored->address;
  c.name = normalize::trim(c.name);
  if (c.name.empty() && !c.anonymized) return bad("name", "required");  // erased: kKeepLedger
  if (auto s = check_text("name", c.name, kMaxNameLength); !s) return s;
  c.external_ref = normalize::trim(c.external_ref);
  if (auto s = check_text("external_ref", c.external_ref, kMaxTextLength); !s) return s;
  if (!enums::is_valid(c.type)) return bad("type", "unknown customer type");
  // Email, phone and tags: UTF-8 first (so "not UTF-8" names the field), then the one
  // canonical form of util/normalize.h, the same function the lookups call.
  if (c.email && !kept(&Customer::email, c)) {
    if (!normalize::is_utf8(*c.email)) return bad("email", "not UTF-8");
    auto e = normalize::email(*c.email);
    if (!e) return bad("email", "not an email address: " + message::quoted(*c.email));
    c.email = std::move(*e);
  }
  if (c.phone && !kept(&Customer::phone, c)) {
    if (!normalize::is_utf8(*c.phone)) return bad("phone", "not UTF-8");
    auto p = normalize::phone(*c.phone, phone_region);
    if (!p.e164) return make_error(ErrorCode::kInvalidArgument, normalize::phone_error(p.error, *c.phone));
    c.phone = std::move(*p.e164);
  }
  if (c.birth_date && *c.birth_date < kMinDate) return bad("birth_date", "before 1800-01-01");
  // Today (UTC) is the last day allowed: a customer born today is a customer.
  if (c.birth_date && !kept(&Customer::birth_date, c)) {
    const Date today = today_utc();
    if (*c.birth_date > today)
      return bad("birth_date", "in the future (" + format_date(*c.birth_date) + ", today is " +
                                   format_date(today) + " UTC)");
  }
  if (!enums::is_valid(c.gender)) return bad("gender", "unknown gender");
  // City and region: checked as typed, stored NFC (keys and comparisons use normalize::fold).
  if (!kept_address) {
    if (auto s = check_text("city", normalize::trim(c.address.city), kMaxTextLength); !s) return s;
    if (auto s = check_text("region", normalize::trim(c.address.region), kMaxTextLength); !s) return s;
    c.address.city = normalize::stored_text(c.address.city);
    c.address.region = normalize::stored_text(c.address.region);
    std::string& country = c.address.country;
    country = normalize::trim(country);
    if (!country.empty()) {
      auto ascii_letter = [](char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'); };
      std::string upper = country;
      for (char& ch : upper)
        if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
      if (country.size() != 2 || !ascii_letter(country[0]) || !ascii_letter(country[1]) ||
          !iso_codes::is_country(upper))
        return bad("country", "not an ISO 3166-1 alpha-2 code: " + message::quoted(country) +
                                  (upper == "UK" ? " (the United Kingdom is GB)" : ""));
      country = std::move(upper);
    }
  }
  if (!enums::is_valid(c.tier)) return bad("tier", "unknown tier");
  if (!enums::is_valid(c.stage)) return bad("stage", "unknown stage");
  if (c.income_band && (*c.income_band < 1 || *c.income_band > 10))
    return bad("income_band", "must be 1 to 10");
  if (!enums::is_valid(c.risk)) return bad("risk", "unknown risk rating");
  auto stored_consent = [stored](Consent Customer::*field) -> const Consent* {
    return stored ? &(stored->*field) : nullptr;
  };
  for (auto [name, field] : {std::pair{"consent_email", &Customer::consent_email},
                             std::pair{"consent_sms", &Customer::consent_sms},
                             std::pair{"consent_phone", &Customer::consent_phone},
                             std::pair{"consent_profiling", &Customer::consent_profiling},
                             std::pair{"consent_sharing", &Customer::consent_sharing}})
    if (auto s = check_consent(name, c.*field, stored_consent(field)); !s) return s;
  const Timestamp lo = std::chrono::time_point_cast<std::chrono::milliseconds>(kMinDate);
  const Timestamp end =
      std::chrono::time_point_cast<std::chrono::milliseconds>(kMaxDate + std::chrono::days(1));
  if (c.created_at != Timestamp{} && (c.created_at < lo || c.created_at >= end))
    return bad("created_at", "outside 1800-01-01..2200-12-31");
  if (kept(&Customer::tags, c)) return {};  // the last check: tags are kept as stored
  if (c.tags.size() > kMaxTags) return bad("tags", "more than 64 tags");
  std::vector<std::string> tags;
  tags.reserve(c.tags.size());
  for (const auto& t : c.tags) {
    if (!normalize::is_utf8(t)) return bad("tags", "not UTF-8");
    auto n = normalize::tag(t);
    if (!n)
      return bad("tags", "bad tag " + message::quoted(t) +
                             " (empty, over 64 bytes folded, or has '|', ',' or a control character)");
    tags.push_back(std::move(*n));
  }
  std::sort(tags.begin(), tags.end());
  tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
  c.tags = std::move(tags);
  return {};
}

Status validate_relationship(Relationship& r) {
  if (r.from == 0) return bad("from", "required");
  if (r.to == 0) return bad("to", "required");
  if (r.from == r.to) return bad("to", "a customer cannot be related to itself");
  bool known = enums::is_valid(r.type);
  if (!known) return bad("type", "unknown relationship type");
  if (r.type == RelationType::kCustom) {
    auto name = normalize::tag(r.custom_type);
    if (!name) return bad("type", "a custom relationship type needs a name");
    if (from_string<RelationType>(*name))
      return bad("type", message::quoted(*name) + " is a built-in type, not a custom one");
    // The query language reads `employer_of` as a direction of employer (custdb/query.h), so
    // a custom type of that name could not be asked for.
    if (name->size() > 3 && name->ends_with("_of") &&
        from_string<RelationType>(std::string_view(*name).substr(0, name->size() - 3)))
      return bad("type", message::quoted(*name) +
                             " reads as a direction of a built-in type, not a custom one");
    r.custom_type = std::move(*name);
  } else if (!r.custom_type.empty()) {
    return bad("type", "custom_type is only for custom relationships");
  }
  if (r.since && (*r.since < kMinDate || *r.since > kMaxDate))
    return bad("since", "outside 1800-01-01..2200-12-31");
  r = canonical(std::move(r));
  return {};
}

Status validate_transaction(Transaction& t, std::string_view base_currency) {
  if (t.customer_id == 0) return bad("customer_id", "required");
  const Timestamp lo = std::chrono::time_point_cast<std::chrono::milliseconds>(kMinDate);
  const Timestamp end = std::chrono::time_point_cast<std::chrono::milliseconds>(kMaxDate + std::chrono::days(1));
  // The epoch is Timestamp{}, what a Transaction holds until ts is set: a transaction at exactly
  // 1970-01-01T00:00:00.000Z is taken as one whose time was never given.
  if (t.ts == Timestamp{}) return bad("ts", "required");
  if (t.ts < lo || t.ts >= end) return bad("ts", "outside 1800-01-01..2200-12-31");
  if (t.amount > kMaxAmount || t.amount < -kMaxAmount)
    return bad("amount", "magnitude above 10^15 minor units");
  if (t.currency.empty()) return bad("currency", "required");
  if (!is_currency_code(t.currency))
    return bad("currency", "not an ISO 4217 code: " + message::quoted(t.currency));
  t.currency = canonical_currency(t.currency);
  if (t.currency == base_currency) {
    // base_amount is the amount itself: absent means "the same", a different value is refused
    // (it was silently replaced before).
    if (t.base_amount && *t.base_amount != t.amount)
      // In the currency's units, as an import file writes them (base_amount 2 against amount
      // 1 read "200 differs from amount 100"), then the minor units the API was given.
      return bad("base_amount", format_amount(*t.base_amount, t.currency) + " differs from amount " +
                                    format_amount(t.amount, t.currency) + " (minor units " +
                                    std::to_string(*t.base_amount) + " and " +
                                    std::to_string(t.amount) + ") for a " + t.currency +
                                    " transaction in a " + std::string(base_currency) +
                                    " database (leave it empty or equal to amount)");
    t.base_amount = t.amount;
  } else {
    if (!t.base_amount)
      return bad("base_amount", "required for a " + t.currency + " transaction in a " +
                                    std::string(base_currency) + " database");
    if (*t.base_amount > kMaxAmount || *t.base_amount < -kMaxAmount)
      return bad("base_amount", "magnitude above 10^15 minor units");
  }
  if (t.holding_id && (*t.holding_id == 0 || *t.holding_id > (std::uint64_t{1} << 63) - 1))
    return bad("holding_id", "not a holding id: " + std::to_string(*t.holding_id));
  if (!enums::is_valid(t.kind)) return bad("kind", "unknown transaction kind");
  if (!enums::is_valid(t.channel)) return bad("channel", "unknown channel");
  t.product = normalize::trim(t.product);
  if (auto s = check_text("product", t.product, kMaxTextLength, TextKind::kFreeText); !s) return s;
  if (auto s = check_text("description", t.description, kMaxDescriptionLength, TextKind::kFreeText); !s)
    return s;
  return {};
}

Status validate_holding(Holding& h, std::string_view base_currency, const Holding* stored) {
  if (h.customer_id == 0) return bad("customer_id", "required");
  if (!enums::is_valid(h.product_type)) return bad("product_type", "unknown product type");
  if (h.product_type == ProductType::kCustom) {
    if (!(stored && h.custom_type == stored->custom_type &&
          stored->product_type == ProductType::kCustom)) {
      auto name = normalize::tag(h.custom_type);
      if (!name) return bad("product_type", "a custom product type needs a name");
      if (from_string<ProductType>(*name))
        return bad("product_type",
                   message::quoted(*name) + " is a built-in type, not a custom one");
      if (name->size() > kMaxHoldingTextLength)
        return bad("product_type", "custom type longer than " +
                                       std::to_string(kMaxHoldingTextLength) + " bytes");
      h.custom_type = std::move(*name);
    }
  } else if (!h.custom_type.empty()) {
    return bad("product_type", "custom_type is only for custom product types");
  }
  if (!(stored && h.product_code == stored->product_code)) {
    h.product_code = normalize::trim(h.product_code);
    if (auto s = check_text("product_code", h.product_code, kMaxHoldingTextLength); !s) return s;
  }
  if (!(stored && h.account_ref == stored->account_ref)) {
    h.account_ref = normalize::trim(h.account_ref);
    if (auto s = check_text("account_ref", h.account_ref, kMaxHoldingTextLength); !s) return s;
  }
  if (h.currency.empty()) return bad("currency", "required");
  if (!is_currency_code(h.currency))
    return bad("currency", "not an ISO 4217 code: " + message::quoted(h.currency));
  h.currency = canonical_currency(h.currency);
  if (h.balance > kMaxAmount || h.balance < -kMaxAmount)
    return bad("balance", "magnitude above 10^15 minor units");
  if (h.currency == base_currency) {
    if (h.base_balance && *h.base_balance != h.balance)
      return bad("base_balance", format_amount(*h.base_balance, h.currency) +
                                     " differs from balance " +
                                     format_amount(h.balance, h.currency) + " for a " +
                                     h.currency + " holding in a " + std::string(base_currency) +
                                     " database (leave it empty or equal to balance)");
    h.base_balance = h.balance;
  } else {
    if (!h.base_balance)
      return bad("base_balance", "required for a " + h.currency + " holding in a " +
                                     std::string(base_currency) + " database");
    if (*h.base_balance > kMaxAmount || *h.base_balance < -kMaxAmount)
      return bad("base_balance", "magnitude above 10^15 minor units");
  }
  if (h.credit_limit) {
    if (class_of(h.product_type) == ProductClass::kAsset)
      return bad("credit_limit", "only credit cards, loans, mortgages and custom types take one");
    if (*h.credit_limit < 0) return bad("credit_limit", "negative");
    if (*h.credit_limit > kMaxAmount) return bad("credit_limit", "above 10^15 minor units");
  }
  if (!h.opened_on) return bad("opened_on", "required");
  if (*h.opened_on < kMinDate || *h.opened_on > kMaxDate)
    return bad("opened_on", "outside 1800-01-01..2200-12-31");
  if (!enums::is_valid(h.status)) return bad("status", "unknown holding status");
  if (h.status == HoldingStatus::kClosed && !h.closed_on)
    return bad("closed_on", "required when status is closed");
  if (h.status != HoldingStatus::kClosed && h.closed_on)
    return bad("closed_on", "only a closed holding has one");
  if (h.closed_on) {
    if (*h.closed_on < kMinDate || *h.closed_on > kMaxDate)
      return bad("closed_on", "outside 1800-01-01..2200-12-31");
    if (*h.closed_on < *h.opened_on) return bad("closed_on", "before opened_on");
  }
  return {};
}

// ---- custom attributes -------------------------------------------------------------------------

namespace {

tl::unexpected<Error> reason(std::string why) {
  return make_error(ErrorCode::kInvalidArgument, std::move(why));
}

std::string_view alternative_name(const AttributeValue& v) {
  static constexpr std::string_view kNames[] = {"a bool", "an integer", "a text", "a date",
                                                "a timestamp", "a tag list"};
  return kNames[v.index()];
}

std::string_view expected_for(AttributeType t) {
  switch (t) {
    case AttributeType::kText: return "a text";
    case AttributeType::kEnum: return "a text (an enum value)";
    case AttributeType::kInteger: return "an integer";
    case AttributeType::kDecimal: return "an integer (the decimal, scaled)";
    case AttributeType::kAmount: return "an integer (minor units)";
    case AttributeType::kDate: return "a date";
    case AttributeType::kTimestamp: return "a timestamp";
    case AttributeType::kBool: return "a bool";
    case AttributeType::kTagSet: return "a tag list";
  }
  return "?";
}

std::string joined(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) {
    if (!out.empty()) out += ", ";
    out += v;
  }
  return out;
}

}  // namespace

Status check_attribute_value(const AttributeDef& def, AttributeValue& v) {
  auto wrong = [&] {
    return reason("expected " + std::string(expected_for(def.type)) + ", found " +
                  std::string(alternative_name(v)));
  };
  switch (def.type) {
    case AttributeType::kText: {
      auto* s = std::get_if<std::string>(&v);
      if (!s) return wrong();
      if (!normalize::is_utf8(*s)) return reason("not UTF-8");
      std::string t = normalize::stored_text(*s);
      if (t.empty()) return reason("empty text (leave the attribute absent instead)");
      if (t.size() > kMaxAttributeTextBytes)
        return reason("longer than " + std::to_string(kMaxAttributeTextBytes) + " bytes");
      if (has_refused_control(t, TextKind::kLine)) return reason("contains control characters");
      *s = std::move(t);
      return {};
    }
    case AttributeType::kEnum: {
      auto* s = std::get_if<std::string>(&v);
      if (!s) return wrong();
      const std::string_view given = normalize::trim_view(*s);
      for (const std::string& declared : def.values)
        if (normalize::iequals(given, declared)) {
          *s = declared;
          return {};
        }
      return reason("not one of the declared values (" + joined(def.values) + "): " +
                    message::quoted(*s));
    }
    case AttributeType::kInteger:
    case AttributeType::kDecimal:
      if (!std::holds_alternative<std::int64_t>(v)) return wrong();
      return {};
    case AttributeType::kAmount: {
      auto* i = std::get_if<std::int64_t>(&v);
      if (!i) return wrong();
      if (*i > kMaxAmount || *i < -kMaxAmount) return reason("magnitude above 10^15 minor units");
      return {};
    }
    case AttributeType::kDate: {
      auto* d = std::get_if<std::chrono::sys_days>(&v);
      if (!d) return wrong();
      if (*d < kMinDate || *d > kMaxDate) return reason("date outside 1800-01-01..2200-12-31");
      return {};
    }
    case AttributeType::kTimestamp: {
      auto* t = std::get_if<Timestamp>(&v);
      if (!t) return wrong();
      const Timestamp lo = std::chrono::time_point_cast<std::chrono::milliseconds>(kMinDate);
      const Timestamp end = std::chrono::time_point_cast<std::chrono::milliseconds>(
          kMaxDate + std::chrono::days(1));
      if (*t < lo || *t >= end) return reason("timestamp outside 1800-01-01..2200-12-31");
      return {};
    }
    case AttributeType::kBool:
      if (!std::holds_alternative<bool>(v)) return wrong();
      return {};
    case AttributeType::kTagSet: {
      auto* tags = std::get_if<std::vector<std::string>>(&v);
      if (!tags) return wrong();
      std::vector<std::string> out;
      out.reserve(tags->size());
      for (const std::string& raw : *tags) {
        if (!normalize::is_utf8(raw)) return reason("tag not UTF-8");
        // The one canonical tag form (as Customer::tags and the query language's operands).
        auto folded = normalize::tag(raw);
        if (!folded || folded->size() > kMaxTagSetTagBytes)
          return reason("bad tag " + message::quoted(raw) +
                        " (empty, over 64 bytes folded, or has '|', ',' or a control character)");
        std::string t = std::move(*folded);
        if (!def.values.empty() &&
            std::find(def.values.begin(), def.values.end(), t) == def.values.end())
          return reason("tag " + message::quoted(raw) + " is not one of the declared values (" +
                        joined(def.values) + ")");
        out.push_back(std::move(t));
      }
      std::sort(out.begin(), out.end());
      out.erase(std::unique(out.begin(), out.end()), out.end());
      if (out.empty()) return reason("empty tag set (leave the attribute absent instead)");
      if (out.size() > kMaxTagSetTags)
        return reason("more than " + std::to_string(kMaxTagSetTags) + " tags");
      *tags = std::move(out);
      return {};
    }
  }
  return reason("unknown attribute type");
}

Status validate_attributes(Attributes& attrs, const Schema& schema, AttributeTable table,
                           const Attributes* stored) {
  auto named = [](std::string_view name, const Error& e) {
    return make_error(e.code(), "attribute " + std::string(name) + ": " + e.message());
  };
  Attributes out;
  for (auto& [name, value] : attrs) {
    const AttributeDef* def = schema.find(name, table);
    if (!def)
      return make_error(ErrorCode::kInvalidArgument,
                        "attribute " + name + ": unknown attribute of " +
                            std::string(to_string(table)) + " (custdb schema list)");
    if (out.count(def->name))
      return make_error(ErrorCode::kInvalidArgument,
                        "attribute " + def->name + ": given twice (names are case-insensitive)");
    if (stored) {
      auto it = stored->find(def->name);
      if (it != stored->end() && it->second == value) {
        out.emplace(def->name, std::move(value));
        continue;
      }
    }
    if (auto s = check_attribute_value(*def, value); !s) return named(def->name, s.error());
    out.emplace(def->name, std::move(value));
  }
  for (const AttributeDef& def : schema.attributes) {
    if (def.dropping || def.table != table || !def.required || out.count(def.name)) continue;
    if (!stored && def.default_value) {
      out.emplace(def.name, *def.default_value);
      continue;
    }
    return make_error(ErrorCode::kInvalidArgument, "attribute " + def.name + ": required");
  }
  attrs = std::move(out);
  return {};
}

}  // namespace custdb::detail
