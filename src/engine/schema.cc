// The schema of custom attributes (custdb/attributes.h): the stored form (meta "schema",
// docs/format.md), loading it per transaction, the Database calls that change it, and the
// schema work they start (index backfill, index drop, value removal), run in bounded write
// transactions that each commit their cursor in the stored schema, so a crash resumes.
//
// States of one attribute (AttributeDef fields; drop_requested is StoredSchema's):
//   add            indexed and table empty -> kReady; indexed otherwise -> kBuilding at 0
//   set_indexed    true:  kNone -> kBuilding (cursor 0) -> ... -> kReady
//                  false: kReady/kBuilding -> kDropping (cursor 0) -> ... -> kNone
//   drop           phase 1 (indexed only): drop_requested, index_state kDropping as above; the
//                  attribute is still live (queries scan it) because the index drop reads its
//                  values from records; phase 2: dropping = true (invisible, name taken), the
//                  records rewritten by cursor (the decoder skips the dropping id, so the
//                  re-encoded record lacks it); then the def leaves the schema.
#include "engine/schema.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "custdb/io.h"
#include "custdb/privacy.h"
#include "custdb/query.h"
#include "engine/db_impl.h"
#include "engine/validate.h"
#include "query/field_rules.h"
#include "segment/attribute_index.h"
#include "util/coding.h"
#include "util/normalize.h"

namespace custdb {
namespace detail {

// ---- byte coding -----------------------------------------------------------------------------

namespace {

constexpr std::uint8_t kSchemaCoding = 1;

enum Flag : std::uint8_t {
  kFlagRequired = 1,
  kFlagPersonal = 2,
  kFlagIndexed = 4,
  kFlagDropping = 8,
  kFlagHasDefault = 16,
  kFlagDropRequested = 32,
};

class Writer {
 public:
  void u8(std::uint8_t v) { out.push_back(static_cast<char>(v)); }
  void u16(std::uint16_t v) {
    u8(static_cast<std::uint8_t>(v >> 8));
    u8(static_cast<std::uint8_t>(v));
  }
  void u32(std::uint32_t v) {
    std::uint8_t b[4];
    coding::put_u32(b, v);
    out.append(reinterpret_cast<const char*>(b), 4);
  }
  void u64(std::uint64_t v) {
    std::uint8_t b[8];
    coding::put_u64(b, v);
    out.append(reinterpret_cast<const char*>(b), 8);
  }
  void str8(std::string_view s) {
    u8(static_cast<std::uint8_t>(s.size()));
    out += s;
  }
  void str16(std::string_view s) {
    u16(static_cast<std::uint16_t>(s.size()));
    out += s;
  }
  std::string out;
};

class Reader {
 public:
  explicit Reader(std::string_view v) : v_(v) {}
  bool ok() const { return ok_; }
  bool done() const { return at_ == v_.size(); }
  std::uint8_t u8() {
    if (!need(1)) return 0;
    return static_cast<std::uint8_t>(v_[at_++]);
  }
  std::uint16_t u16() {
    const std::uint16_t hi = u8();
    return static_cast<std::uint16_t>((hi << 8) | u8());
  }
  std::uint32_t u32() {
    if (!need(4)) return 0;
    auto r = coding::get_u32(reinterpret_cast<const std::uint8_t*>(v_.data()) + at_);
    at_ += 4;
    return r;
  }
  std::uint64_t u64() {
    if (!need(8)) return 0;
    auto r = coding::get_u64(reinterpret_cast<const std::uint8_t*>(v_.data()) + at_);
    at_ += 8;
    return r;
  }
  std::string bytes(std::size_t n) {
    if (!need(n)) return {};
    std::string s(v_.substr(at_, n));
    at_ += n;
    return s;
  }
  std::string str8() { return bytes(u8()); }
  std::string str16() { return bytes(u16()); }

 private:
  bool need(std::size_t n) {
    if (!ok_ || v_.size() - at_ < n) {
      ok_ = false;
      return false;
    }
    return true;
  }
  std::string_view v_;
  std::size_t at_ = 0;
  bool ok_ = true;
};

bool is_int_type(AttributeType t) {
  return t == AttributeType::kInteger || t == AttributeType::kDecimal ||
         t == AttributeType::kAmount;
}

void encode_value(Writer& w, AttributeType type, const AttributeValue& v) {
  switch (type) {
    case AttributeType::kText:
    case AttributeType::kEnum: w.str16(std::get<std::string>(v)); return;
    case AttributeType::kInteger:
    case AttributeType::kDecimal:
    case AttributeType::kAmount: w.u64(static_cast<std::uint64_t>(std::get<std::int64_t>(v))); return;
    case AttributeType::kDate:
      w.u64(static_cast<std::uint64_t>(
          static_cast<std::int64_t>(std::get<Date>(v).time_since_epoch().count())));
      return;
    case AttributeType::kTimestamp:
      w.u64(static_cast<std::uint64_t>(std::get<Timestamp>(v).time_since_epoch().count()));
      return;
    case AttributeType::kBool: w.u8(std::get<bool>(v) ? 1 : 0); return;
    case AttributeType::kTagSet: {
      const auto& tags = std::get<std::vector<std::string>>(v);
      w.u16(static_cast<std::uint16_t>(tags.size()));
      for (const auto& t : tags) w.str8(t);
      return;
    }
  }
}

std::optional<AttributeValue> decode_value(Reader& r, AttributeType type) {
  switch (type) {
    case AttributeType::kText:
    case AttributeType::kEnum: return AttributeValue(r.str16());
    case AttributeType::kInteger:
    case AttributeType::kDecimal:
    case AttributeType::kAmount: return AttributeValue(static_cast<std::int64_t>(r.u64()));
    case AttributeType::kDate: {
      const auto days = static_cast<std::int64_t>(r.u64());
      if (days < -1'000'000 || days > 1'000'000) return std::nullopt;
      return AttributeValue(Date(std::chrono::days(days)));
    }
    case AttributeType::kTimestamp:
      return AttributeValue(Timestamp(std::chrono::milliseconds(static_cast<std::int64_t>(r.u64()))));
    case AttributeType::kBool: {
      const std::uint8_t b = r.u8();
      if (b > 1) return std::nullopt;
      return AttributeValue(b == 1);
    }
    case AttributeType::kTagSet: {
      const std::uint16_t n = r.u16();
      if (n > kMaxTagSetTags) return std::nullopt;
      std::vector<std::string> tags;
      for (std::uint16_t i = 0; i < n && r.ok(); ++i) tags.push_back(r.str8());
      return AttributeValue(std::move(tags));
    }
  }
  return std::nullopt;
}

tl::unexpected<Error> corrupt(const std::string& why) {
  return make_error(ErrorCode::kCorruption, "meta schema: " + why);
}

}  // namespace

bool StoredSchema::drop_requested_for(std::uint32_t id) const {
  return std::find(drop_requested.begin(), drop_requested.end(), id) != drop_requested.end();
}

// coding u8 (1) | version u64 | next_id u32 | count u32 | count × attribute:
//   id u32 | table u8 | type u8 | flags u8 | index_state u8 | scale u8 | work_cursor u64 |
//   added_in u64 | name (u8 length, bytes) | values u16 × (u8 length, bytes) |
//   default (flags & has_default; per type)
std::string encode_schema(const StoredSchema& s) {
  Writer w;
  w.u8(kSchemaCoding);
  w.u64(s.schema.version);
  w.u32(s.next_id);
  w.u32(static_cast<std::uint32_t>(s.schema.attributes.size()));
  for (const AttributeDef& a : s.schema.attributes) {
    w.u32(a.id);
    w.u8(static_cast<std::uint8_t>(a.table));
    w.u8(static_cast<std::uint8_t>(a.type));
    std::uint8_t flags = 0;
    if (a.required) flags |= kFlagRequired;
    if (a.personal) flags |= kFlagPersonal;
    if (a.indexed) flags |= kFlagIndexed;
    if (a.dropping) flags |= kFlagDropping;
    if (a.default_value) flags |= kFlagHasDefault;
    if (s.drop_requested_for(a.id)) flags |= kFlagDropRequested;
    w.u8(flags);
    w.u8(static_cast<std::uint8_t>(a.index_state));
    w.u8(static_cast<std::uint8_t>(a.scale));
    w.u64(a.work_cursor);
    w.u64(a.added_in);
    w.str8(a.name);
    w.u16(static_cast<std::uint16_t>(a.values.size()));
    for (const auto& v : a.values) w.str8(v);
    if (a.default_value) encode_value(w, a.type, *a.default_value);
  }
  return std::move(w.out);
}

Result<StoredSchema> decode_schema(std::string_view bytes) {
  Reader r(bytes);
  const std::uint8_t coding_version = r.u8();
  if (!r.ok()) return corrupt("empty");
  if (coding_version != kSchemaCoding)
    return corrupt("unknown coding " + std::to_string(coding_version) + " (expected 1)");
  StoredSchema out;
  out.schema.version = r.u64();
  out.next_id = r.u32();
  const std::uint32_t count = r.u32();
  if (!r.ok()) return corrupt("truncated header");
  if (count > 2 * kMaxAttributesPerTable) return corrupt(std::to_string(count) + " attributes");
  std::uint32_t last_id = 0;
  std::size_t per_table[2] = {0, 0};
  for (std::uint32_t i = 0; i < count; ++i) {
    AttributeDef a;
    a.id = r.u32();
    const std::uint8_t table = r.u8(), type = r.u8(), flags = r.u8(), state = r.u8(),
                       scale = r.u8();
    a.work_cursor = r.u64();
    a.added_in = r.u64();
    a.name = r.str8();
    const std::uint16_t nvalues = r.u16();
    for (std::uint16_t k = 0; k < nvalues && r.ok(); ++k) a.values.push_back(r.str8());
    if (!r.ok()) return corrupt("truncated attribute " + std::to_string(i + 1));
    const std::string which = "attribute " + std::to_string(a.id);
    if (a.id == 0 || a.id <= last_id || a.id >= out.next_id)
      return corrupt(which + ": id not ascending below next_id " + std::to_string(out.next_id));
    last_id = a.id;
    if (table > 1) return corrupt(which + ": table " + std::to_string(table));
    if (type > static_cast<std::uint8_t>(AttributeType::kTagSet))
      return corrupt(which + ": type " + std::to_string(type));
    if (state > static_cast<std::uint8_t>(IndexState::kDropping))
      return corrupt(which + ": index state " + std::to_string(state));
    if (flags >= 64) return corrupt(which + ": flags " + std::to_string(flags));
    if (scale > kMaxDecimalScale) return corrupt(which + ": scale " + std::to_string(scale));
    if (nvalues > kMaxEnumValues) return corrupt(which + ": " + std::to_string(nvalues) + " values");
    a.table = static_cast<AttributeTable>(table);
    a.type = static_cast<AttributeType>(type);
    a.index_state = static_cast<IndexState>(state);
    a.scale = scale;
    a.required = flags & kFlagRequired;
    a.personal = flags & kFlagPersonal;
    a.indexed = flags & kFlagIndexed;
    a.dropping = flags & kFlagDropping;
    if (flags & kFlagDropRequested) out.drop_requested.push_back(a.id);
    if (flags & kFlagHasDefault) {
      auto v = decode_value(r, a.type);
      if (!v || !r.ok()) return corrupt(which + ": malformed default");
      a.default_value = std::move(*v);
    }
    if (a.added_in > out.schema.version) return corrupt(which + ": added after the version");
    if (a.table == AttributeTable::kTransactions && a.index_state != IndexState::kNone)
      return corrupt(which + ": a transactions attribute with an index");
    if (++per_table[table] > kMaxAttributesPerTable) return corrupt("too many attributes");
    auto name = check_attribute_name(a.name, a.table);
    if (!name || *name != a.name) return corrupt(which + ": bad name");
    out.schema.attributes.push_back(std::move(a));
  }
  if (!r.ok()) return corrupt("truncated");
  if (!r.done()) return corrupt("trailing bytes");
  return out;
}

// ---- definitions -----------------------------------------------------------------------------

namespace {

tl::unexpected<Error> bad(std::string_view name, const std::string& why) {
  return make_error(ErrorCode::kInvalidArgument,
                    "attribute " + std::string(name.empty() ? "\"\"" : name) + ": " + why);
}

bool word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

std::optional<io::Table> io_table(AttributeTable t) {
  return t == AttributeTable::kCustomers ? io::Table::kCustomers : io::Table::kTransactions;
}

std::string show_date(Date d) {
  const std::chrono::year_month_day ymd(d);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

const Date kMinDate = std::chrono::sys_days(std::chrono::year(1800) / 1 / 1);
const Date kMaxDate = std::chrono::sys_days(std::chrono::year(2200) / 12 / 31);

std::string_view expected_of(AttributeType t) {
  switch (t) {
    case AttributeType::kText: return "text";
    case AttributeType::kEnum: return "one of the declared values";
    case AttributeType::kInteger: return "an integer";
    case AttributeType::kDecimal: return "a decimal (scaled integer)";
    case AttributeType::kAmount: return "an amount (minor units)";
    case AttributeType::kDate: return "a date";
    case AttributeType::kTimestamp: return "a timestamp";
    case AttributeType::kBool: return "true or false";
    case AttributeType::kTagSet: return "a set of tags";
  }
  return "?";
}

}  // namespace

Result<std::string> check_attribute_name(std::string_view raw, AttributeTable table) {
  std::string name = normalize::lower(raw);
  if (name.empty()) return bad(raw, "a name is required");
  if (name.size() > kMaxAttributeNameBytes)
    return bad(raw, "name longer than " + std::to_string(kMaxAttributeNameBytes) + " bytes");
  if (!(name[0] >= 'a' && name[0] <= 'z') || !std::all_of(name.begin(), name.end(), word_char))
    return bad(raw, "a name is a letter then letters, digits and '_'");
  if (query::field_rules::is_keyword(name) || name == "tag")
    return bad(name, "a keyword of the query language");
  for (const auto& [field, fname] : query::field_rules::field_names())
    if (normalize::iequals(fname, name)) return bad(name, "a built-in field");
  if (auto t = io_table(table))
    for (std::string_view col : io::columns(*t))
      if (normalize::iequals(col, name)) return bad(name, "a built-in column of " + std::string(to_string(table)));
  for (std::string_view reserved : {"true", "false", "today", "attributes"})
    if (name == reserved) return bad(name, "a reserved word");
  return name;
}

Result<AttributeValue> normalize_attribute_value(const AttributeDef& def, const AttributeValue& v) {
  // The records' rules (validate.h), so a default is held to exactly what a written value is.
  AttributeValue out = v;
  if (auto s = check_attribute_value(def, out); !s) return bad(def.name, s.error().message());
  return out;
}

Result<AttributeDef> normalize_definition(const AttributeDef& in) {
  AttributeDef def;
  auto name = check_attribute_name(in.name, in.table);
  if (!name) return tl::unexpected(name.error());
  def.name = std::move(*name);
  if (in.table != AttributeTable::kCustomers && in.table != AttributeTable::kTransactions)
    return bad(def.name, "unknown table");
  def.table = in.table;
  if (static_cast<std::uint8_t>(in.type) > static_cast<std::uint8_t>(AttributeType::kTagSet))
    return bad(def.name, "unknown type");
  def.type = in.type;
  def.personal = in.personal;
  def.indexed = in.indexed;
  def.required = in.required;
  if (def.indexed && def.table == AttributeTable::kTransactions)
    return bad(def.name, "transactions attributes cannot be indexed (segments select customers)");
  // scale
  if (def.type == AttributeType::kDecimal) {
    if (in.scale < 0 || in.scale > kMaxDecimalScale)
      return bad(def.name, "scale " + std::to_string(in.scale) + " outside 0.." +
                               std::to_string(kMaxDecimalScale));
    def.scale = in.scale;
  } else if (in.scale != 0) {
    return bad(def.name, "a scale is for decimal attributes only");
  }
  // values
  if (def.type == AttributeType::kEnum) {
    if (in.values.empty()) return bad(def.name, "an enum needs its values (--values a,b,c)");
    if (in.values.size() > kMaxEnumValues)
      return bad(def.name, "more than " + std::to_string(kMaxEnumValues) + " values");
    for (const auto& raw : in.values) {
      std::string v = normalize::trim(raw);
      if (v.empty() || v.size() > kMaxEnumValueBytes || !query::field_rules::is_bare_word(v))
        return bad(def.name, "enum value '" + raw +
                                 "': a bare word (letter, then letters, digits, '_'; no keyword) "
                                 "of 1..64 bytes");
      for (const auto& d : def.values)
        if (normalize::iequals(d, v)) return bad(def.name, "enum value '" + v + "' given twice");
      def.values.push_back(std::move(v));
    }
  } else if (def.type == AttributeType::kTagSet) {
    if (in.values.size() > kMaxEnumValues)
      return bad(def.name, "more than " + std::to_string(kMaxEnumValues) + " tags declared");
    std::set<std::string> tags;
    for (const auto& raw : in.values) {
      auto t = normalize::tag(raw);
      if (!t || t->size() > kMaxTagSetTagBytes) return bad(def.name, "bad tag '" + raw + "'");
      if (!tags.insert(*t).second) return bad(def.name, "tag '" + *t + "' given twice");
    }
    def.values.assign(tags.begin(), tags.end());
  } else if (!in.values.empty()) {
    return bad(def.name, "values are for enum and tag_set attributes only");
  }
  // default
  if (in.default_value) {
    if (!def.required) return bad(def.name, "only a required attribute takes a default");
    auto v = normalize_attribute_value(def, *in.default_value);
    if (!v) {
      std::string m = v.error().message();
      const std::string prefix = "attribute " + def.name + ": ";
      if (m.rfind(prefix, 0) == 0) m = m.substr(prefix.size());
      return bad(def.name, "default: " + m);
    }
    def.default_value = std::move(*v);
  }
  return def;
}

// ---- loading ---------------------------------------------------------------------------------

namespace {

Result<StoredSchema> load_stored(const DatabaseImpl& d, TxnState& st) {
  auto v = d.get_sealed_meta(st, kMetaSchema);
  if (!v) return tl::unexpected(v.error());
  if (!*v) return StoredSchema{};
  return decode_schema(**v);
}

}  // namespace

Result<std::shared_ptr<const Schema>> DatabaseImpl::schema_of(TxnState& st) const {
  if (st.schema) return st.schema;
  // A read-only open of a file without the meta table content reads as the empty schema.
  auto s = load_stored(*this, st);
  if (!s) return tl::unexpected(s.error());
  st.schema = std::make_shared<const Schema>(std::move(s->schema));
  return st.schema;
}

}  // namespace detail

// ---- the Database calls ----------------------------------------------------------------------

namespace {

using detail::DatabaseImpl;
using detail::StoredSchema;
using detail::TxnState;

TxnState& state_of(const ReadView& view) { return *ReadView::State::of(view); }

AttributeDef* find_mut(Schema& s, std::string_view name, AttributeTable table) {
  for (AttributeDef& a : s.attributes)
    if (!a.dropping && a.table == table && normalize::iequals(a.name, name)) return &a;
  return nullptr;
}
AttributeDef* by_id_mut(Schema& s, std::uint32_t id) {
  for (AttributeDef& a : s.attributes)
    if (a.id == id) return &a;
  return nullptr;
}

Status store(DatabaseImpl& d, TxnState& st, const StoredSchema& s) {
  if (auto r = d.put_sealed_meta(st, detail::kMetaSchema, detail::encode_schema(s)); !r) return r;
  st.schema = std::make_shared<const Schema>(s.schema);
  return {};
}

Status audit(DatabaseImpl& d, TxnState& st, std::string command, std::string detail) {
  AuditEvent ev;
  ev.command = std::move(command);
  ev.count = 1;
  ev.detail = std::move(detail);
  auto a = d.append_audit(st, ev);
  if (!a) return tl::unexpected(a.error());
  return {};
}

// The unfinished work of `s` as an error for a change that must wait for it.
Status refuse_pending(const StoredSchema& s) {
  for (const AttributeDef& a : s.schema.attributes) {
    std::string what;
    if (a.dropping || s.drop_requested_for(a.id)) what = "being dropped";
    else if (a.index_state == IndexState::kBuilding) what = "having its index built";
    else if (a.index_state == IndexState::kDropping) what = "having its index dropped";
    else continue;
    return make_error(ErrorCode::kFailedPrecondition,
                      "attribute " + a.name + " is " + what +
                          ": finish that first (Database::finish_schema_work, custdb schema list)");
  }
  return {};
}

// Whether `text` (a stored query, rule or policy) names `name` as a word outside quotes.
bool names_word(std::string_view text, std::string_view name) {
  char quote = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (quote) {
      if (c == quote) quote = 0;
      ++i;
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
      ++i;
      continue;
    }
    auto is_word = [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
    };
    if (is_word(c)) {
      std::size_t j = i;
      while (j < text.size() && is_word(text[j])) ++j;
      if (normalize::iequals(text.substr(i, j - i), name)) return true;
      i = j;
      continue;
    }
    ++i;
  }
  return false;
}

// The queries of stored rules ("tier = gold when QUERY" a line) or of a retention policy
// ("erase when QUERY; anonymize when QUERY"): each piece (split at newlines and ';' outside
// quotes) after its first word "when" (the whole piece when it has none).
std::vector<std::string_view> stored_queries(std::string_view text) {
  std::vector<std::string_view> out;
  char quote = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    const char c = i < text.size() ? text[i] : '\n';
    if (quote) {
      if (c == quote) quote = 0;
      if (i < text.size()) continue;
    } else if (c == '\'' || c == '"') {
      quote = c;
      continue;
    }
    if (i < text.size() && c != '\n' && c != ';') continue;
    std::string_view piece = text.substr(start, i - start);
    start = i + 1;
    for (std::size_t j = 0; j + 4 <= piece.size(); ++j) {
      const bool before = j == 0 || std::isspace(static_cast<unsigned char>(piece[j - 1]));
      const bool after = j + 4 == piece.size() || std::isspace(static_cast<unsigned char>(piece[j + 4]));
      if (before && after && normalize::iequals(piece.substr(j, 4), "when")) {
        piece.remove_prefix(j + 4);
        break;
      }
    }
    if (!normalize::trim_view(piece).empty()) out.push_back(piece);
  }
  return out;
}

bool node_names(const query::Node& n, std::string_view name) {
  if (n.field == query::Field::kAttribute && normalize::iequals(n.attribute, name)) return true;
  for (const query::Node& c : n.children)
    if (node_names(c, name)) return true;
  return false;
}

// Whether stored rule or policy text names the attribute `name` as a field: each query is
// parsed with the schema (a value such as `tier = gold` is no reference to an attribute named
// gold); a query that does not parse is searched word by word (names_word), conservatively.
bool text_names_attribute(std::string_view text, std::string_view name,
                          const query::ParseOptions& options) {
  for (std::string_view q : stored_queries(text)) {
    auto node = query::parse(q, options);
    if (node ? node_names(*node, name) : names_word(q, name)) return true;
  }
  return false;
}

// kFailedPrecondition when the stored tier/stage rules or the retention policy name the
// customers attribute `name`.
Status refuse_referenced(const DatabaseImpl& d, TxnState& st, const AttributeDef& a,
                         std::string_view action) {
  if (a.table != AttributeTable::kCustomers) return {};
  auto schema = d.schema_of(st);
  if (!schema) return tl::unexpected(schema.error());
  query::ParseOptions options = query::parse_options_for(d.base_currency());
  options.schema = *schema;
  for (auto [key, what] : {std::pair{detail::kMetaRules, "the stored tier/stage rules"},
                           std::pair{detail::kMetaRetentionPolicy, "the retention policy"}}) {
    auto v = d.get_sealed_meta(st, key);
    if (!v) return tl::unexpected(v.error());
    if (*v && text_names_attribute(**v, a.name, options))
      return make_error(ErrorCode::kFailedPrecondition,
                        "attribute " + a.name + ": " + std::string(what) + " name it; change them before you " +
                            std::string(action) + " it");
  }
  return {};
}

Result<std::uint64_t> table_count(const DatabaseImpl& d, TxnState& st, AttributeTable t) {
  const storage::Table table =
      t == AttributeTable::kCustomers ? d.tables().customers : d.tables().transactions;
  return storage::entry_count(st.txn, table, to_string(t));
}

// The ids of up to `batch` records of `table` with id >= from, ascending.
Result<std::vector<std::uint64_t>> next_ids(const DatabaseImpl& d, TxnState& st,
                                            storage::Table table, std::uint64_t from,
                                            std::size_t batch) {
  std::vector<std::uint64_t> ids;
  storage::Walker walk(st.txn, table, "schema work");
  coding::IdKey seek(from);
  auto s = walk.from(seek.span(), [&](storage::Bytes k, storage::Bytes) {
    if (k.size() != 8) return storage::Next::go_on();
    ids.push_back(coding::get_u64(k.data()));
    return ids.size() >= batch ? storage::Next::stop() : storage::Next::go_on();
  });
  if (!s) return tl::unexpected(s.error());
  (void)d;
  return ids;
}

// Rewrites a transaction's record alone (its index entries do not change: custom attributes
// of transactions have none).
Status store_transaction_record(DatabaseImpl& d, TxnState& st, const Transaction& t) {
  auto schema = d.schema_of(st);
  if (!schema) return tl::unexpected(schema.error());
  coding::IdKey k(t.id);
  d.codec().encode(k.span(), t, **schema, st.buf);
  return d.put(st, d.tables().transactions, k.span(), st.buf);
}

enum class Work { kIndex, kUnindex, kDropValues };

std::string_view work_name(Work w) {
  switch (w) {
    case Work::kIndex: return "index";
    case Work::kUnindex: return "unindex";
    case Work::kDropValues: return "drop";
  }
  return "?";
}

// The first unfinished work of the stored schema, if any: (attribute id, work).
std::optional<std::pair<std::uint32_t, Work>> pending_work(const StoredSchema& s) {
  for (const AttributeDef& a : s.schema.attributes) {
    if (a.dropping) return std::pair{a.id, Work::kDropValues};
    if (a.index_state == IndexState::kBuilding) return std::pair{a.id, Work::kIndex};
    if (a.index_state == IndexState::kDropping) return std::pair{a.id, Work::kUnindex};
    if (s.drop_requested_for(a.id)) return std::pair{a.id, Work::kDropValues};  // index gone
  }
  return std::nullopt;
}

// Runs one batch of the work on attribute `id` in its own write transaction. Sets `finished`
// when the work is complete (and the final state stored); `done` counts records processed in
// this batch.
Status run_batch(Database& db, DatabaseImpl& d, std::uint32_t id, Work work, std::size_t batch,
                 bool& finished, std::uint64_t& done, std::string& name) {
  return db.write([&](WriteTxn& txn) -> Status {
    TxnState& st = state_of(txn);
    finished = false;
    done = 0;
    auto stored = detail::load_stored(d, st);
    if (!stored) return tl::unexpected(stored.error());
    StoredSchema s = std::move(*stored);
    AttributeDef* a = by_id_mut(s.schema, id);
    if (!a) {
      finished = true;
      return {};
    }
    name = a->name;
    const bool customers = a->table == AttributeTable::kCustomers;
    const storage::Table table = customers ? d.tables().customers : d.tables().transactions;

    if (work == Work::kDropValues && !a->dropping) {
      // Phase 1 of a drop is over (no index left): the attribute becomes invisible.
      a->dropping = true;
      a->work_cursor = 0;
      a->indexed = false;
      ++s.schema.version;
      s.drop_requested.erase(std::remove(s.drop_requested.begin(), s.drop_requested.end(), id),
                             s.drop_requested.end());
      return store(d, st, s);
    }

    auto ids = next_ids(d, st, table, a->work_cursor, batch);
    if (!ids) return tl::unexpected(ids.error());
    const AttributeDef def = *a;  // as the records and postings see it during this batch
    // The records are decoded with the schema as committed (st.schema loaded above).
    if (auto sc = d.schema_of(st); !sc) return tl::unexpected(sc.error());
    for (std::uint64_t rid : *ids) {
      if (work == Work::kDropValues) {
        if (customers) {
          auto c = d.load_customer(st, rid);
          if (!c) return tl::unexpected(c.error());
          if (!*c) continue;
          if (auto w = d.store_customer(st, **c); !w) return w;
        } else {
          auto t = d.load_transaction(st, rid);
          if (!t) return tl::unexpected(t.error());
          if (!*t) continue;
          detail::FeedScope scope(st, "transactions", (*t)->customer_id);  // custdb/feed.h parts
          if (auto w = store_transaction_record(d, st, **t); !w) return w;
        }
      } else {
        auto c = d.load_customer(st, rid);
        if (!c) return tl::unexpected(c.error());
        if (!*c) continue;
        if (work == Work::kIndex)
          segment::queue_attribute_postings(d.seg_keys(), st, def, nullptr, &**c);
        else
          segment::queue_attribute_postings(d.seg_keys(), st, def, &**c, nullptr);
      }
      ++done;
    }
    if (ids->size() < batch) {
      finished = true;
      a->work_cursor = 0;
      switch (work) {
        case Work::kIndex: a->index_state = IndexState::kReady; break;
        case Work::kUnindex:
          a->index_state = IndexState::kNone;
          if (auto m = segment::drop_attribute_index_meta(d, st, def); !m) return m;
          if (s.drop_requested_for(id)) finished = false;  // phase 2 follows
          break;
        case Work::kDropValues:
          s.schema.attributes.erase(s.schema.attributes.begin() + (a - s.schema.attributes.data()));
          break;
      }
      ++s.schema.version;
    } else {
      a->work_cursor = ids->back() + 1;
    }
    return store(d, st, s);
  });
}

// Runs the stored schema's unfinished work to its end, batch after batch. `only`: refuse
// (kFailedPrecondition) when the pending work is not that attribute's.
Status detail_run_schema_work(Database& db, DatabaseImpl& d, const SchemaWorkOptions& o,
                              std::optional<std::uint32_t> only) {
  if (o.batch == 0 || o.batch > 1'000'000)
    return make_error(ErrorCode::kInvalidArgument, "schema work batch: 1 .. 1,000,000");
  for (;;) {
    std::optional<std::pair<std::uint32_t, Work>> next;
    std::uint64_t total = 0;
    bool resumed = false;
    {
      auto view = db.begin_read();
      if (!view) return tl::unexpected(view.error());
      TxnState& st = state_of(*view);
      auto stored = detail::load_stored(d, st);
      if (!stored) return tl::unexpected(stored.error());
      next = pending_work(*stored);
      if (!next) return {};
      if (only && next->first != *only) return refuse_pending(*stored);
      const AttributeDef* a = stored->schema.by_id(next->first);
      auto n = table_count(d, st, a->table);
      if (!n) return tl::unexpected(n.error());
      total = *n;
      resumed = a->work_cursor != 0;
    }
    SchemaProgress p;
    p.work = std::string(work_name(next->second));
    p.total = total;
    p.resumed = resumed;
    for (;;) {
      bool finished = false;
      std::uint64_t done = 0;
      if (auto s = run_batch(db, d, next->first, next->second, o.batch, finished, done,
                             p.attribute);
          !s)
        return s;
      p.done += done;
      if (o.progress && (done > 0 || finished)) o.progress(p);
      if (finished) break;
      // The work may have changed kind (index drop done, value removal follows).
      auto view = db.begin_read();
      if (!view) return tl::unexpected(view.error());
      auto stored = detail::load_stored(d, state_of(*view));
      if (!stored) return tl::unexpected(stored.error());
      auto now = pending_work(*stored);
      if (!now || now->first != next->first) break;
      if (now->second != next->second) {
        next = now;
        p = SchemaProgress{};
        p.attribute = stored->schema.by_id(now->first)->name;
        p.work = std::string(work_name(now->second));
        p.total = total;
      }
    }
  }
}

}  // namespace

Result<Schema> Database::schema() const {
  auto txn = begin_read();
  if (!txn) return tl::unexpected(txn.error());
  return txn->schema();
}

Result<AttributeDef> Database::add_attribute(const AttributeDef& in, const SchemaWorkOptions& o) {
  DatabaseImpl& d = *impl_;
  if (auto s = d.require_owner("changing the schema"); !s) return tl::unexpected(s.error());
  auto def = detail::normalize_definition(in);
  if (!def) return tl::unexpected(def.error());
  std::uint32_t id = 0;
  bool build = false;
  auto w = write([&](WriteTxn& txn) -> Status {
    TxnState& st = state_of(txn);
    auto stored = detail::load_stored(d, st);
    if (!stored) return tl::unexpected(stored.error());
    StoredSchema s = std::move(*stored);
    if (auto p = refuse_pending(s); !p) return p;
    std::size_t in_table = 0;
    for (const AttributeDef& a : s.schema.attributes) {
      if (a.table != def->table) continue;
      ++in_table;
      if (a.name == def->name)
        return make_error(ErrorCode::kInvalidArgument,
                          "attribute " + def->name + ": already declared on " +
                              std::string(to_string(def->table)));
    }
    if (in_table >= kMaxAttributesPerTable)
      return make_error(ErrorCode::kResourceExhausted,
                        "attribute " + def->name + ": " + std::string(to_string(def->table)) +
                            " already have " + std::to_string(kMaxAttributesPerTable) +
                            " attributes");
    if (s.next_id == UINT32_MAX)
      return make_error(ErrorCode::kResourceExhausted, "attribute ids exhausted");
    auto n = table_count(d, st, def->table);
    if (!n) return tl::unexpected(n.error());
    if (def->required && !def->default_value && *n > 0)
      return make_error(ErrorCode::kInvalidArgument,
                        "attribute " + def->name + ": required needs a default (--default V): " +
                            std::string(to_string(def->table)) + " has " + std::to_string(*n) +
                            " records");
    AttributeDef a = *def;
    a.id = s.next_id++;
    ++s.schema.version;
    a.added_in = s.schema.version;
    if (a.indexed) a.index_state = *n == 0 ? IndexState::kReady : IndexState::kBuilding;
    build = a.index_state == IndexState::kBuilding;
    id = a.id;
    std::string detail = "name=" + a.name + " table=" + std::string(to_string(a.table)) +
                         " type=" + std::string(to_string(a.type)) + " id=" + std::to_string(a.id);
    if (a.indexed) detail += " indexed";
    if (a.personal) detail += " personal";
    if (a.required) detail += " required";
    s.schema.attributes.push_back(std::move(a));
    if (auto r = store(d, st, s); !r) return r;
    return audit(d, st, "schema add", detail);
  });
  if (!w) return tl::unexpected(w.error());
  if (build)
    if (auto r = detail_run_schema_work(*this, d, o, id); !r) return tl::unexpected(r.error());
  auto now = schema();
  if (!now) return tl::unexpected(now.error());
  if (const AttributeDef* a = now->by_id(id)) return *a;
  return make_error(ErrorCode::kInternal, "attribute " + def->name + ": vanished after add");
}

Status Database::drop_attribute(std::string_view name, AttributeTable table,
                                const SchemaWorkOptions& o) {
  DatabaseImpl& d = *impl_;
  if (auto s = d.require_owner("changing the schema"); !s) return s;
  std::uint32_t id = 0;
  auto w = write([&](WriteTxn& txn) -> Status {
    TxnState& st = state_of(txn);
    auto stored = detail::load_stored(d, st);
    if (!stored) return tl::unexpected(stored.error());
    StoredSchema s = std::move(*stored);
    // A drop under way of this name continues.
    for (const AttributeDef& a : s.schema.attributes)
      if (a.table == table && normalize::iequals(a.name, name) &&
          (a.dropping || s.drop_requested_for(a.id))) {
        id = a.id;
        return Status{};
      }
    AttributeDef* a = find_mut(s.schema, name, table);
    if (!a)
      return make_error(ErrorCode::kFailedPrecondition, "attribute " + std::string(name) + ": no such " +
                                                  std::string(to_string(table)) + " attribute");
    if (auto p = refuse_pending(s); !p) return p;
    if (auto r = refuse_referenced(d, st, *a, "drop"); !r) return r;
    id = a->id;
    const std::string dname = a->name;
    ++s.schema.version;
    a->indexed = false;
    if (a->index_state != IndexState::kNone) {
      // Phase 1: the index goes first, read from the records while they still hold values.
      s.drop_requested.push_back(a->id);
      a->index_state = IndexState::kDropping;
      a->work_cursor = 0;
    } else {
      a->dropping = true;
      a->work_cursor = 0;
    }
    if (auto r = store(d, st, s); !r) return r;
    return audit(d, st, "schema drop",
                 "name=" + dname + " table=" + std::string(to_string(table)) + " id=" +
                     std::to_string(id));
  });
  if (!w) return w;
  return detail_run_schema_work(*this, d, o, id);
}

Status Database::rename_attribute(std::string_view name, std::string_view new_name,
                                  AttributeTable table) {
  DatabaseImpl& d = *impl_;
  if (auto s = d.require_owner("changing the schema"); !s) return s;
  auto checked = detail::check_attribute_name(new_name, table);
  if (!checked) return tl::unexpected(checked.error());
  return write([&](WriteTxn& txn) -> Status {
    TxnState& st = state_of(txn);
    auto stored = detail::load_stored(d, st);
    if (!stored) return tl::unexpected(stored.error());
    StoredSchema s = std::move(*stored);
    AttributeDef* a = find_mut(s.schema, name, table);
    if (!a)
      return make_error(ErrorCode::kFailedPrecondition, "attribute " + std::string(name) + ": no such " +
                                                  std::string(to_string(table)) + " attribute");
    if (a->name == *checked) return Status{};
    for (const AttributeDef& b : s.schema.attributes)
      if (b.table == table && b.name == *checked)
        return make_error(ErrorCode::kInvalidArgument,
                          "attribute " + *checked + ": already declared on " +
                              std::string(to_string(table)));
    if (auto p = refuse_pending(s); !p) return p;
    if (auto r = refuse_referenced(d, st, *a, "rename"); !r) return r;
    const std::string old = a->name;
    a->name = *checked;
    ++s.schema.version;
    if (auto r = store(d, st, s); !r) return r;
    return audit(d, st, "schema rename",
                 "name=" + old + " new=" + *checked + " table=" + std::string(to_string(table)) +
                     " id=" + std::to_string(a->id));
  });
}

Status Database::set_indexed(std::string_view name, bool indexed, const SchemaWorkOptions& o) {
  DatabaseImpl& d = *impl_;
  if (auto s = d.require_owner("changing the schema"); !s) return s;
  std::uint32_t id = 0;
  bool work = false;
  auto w = write([&](WriteTxn& txn) -> Status {
    TxnState& st = state_of(txn);
    auto stored = detail::load_stored(d, st);
    if (!stored) return tl::unexpected(stored.error());
    StoredSchema s = std::move(*stored);
    AttributeDef* a = find_mut(s.schema, name, AttributeTable::kCustomers);
    if (!a) {
      if (s.schema.find(name, AttributeTable::kTransactions))
        return make_error(ErrorCode::kInvalidArgument,
                          "attribute " + std::string(name) +
                              ": transactions attributes cannot be indexed");
      return make_error(ErrorCode::kFailedPrecondition,
                        "attribute " + std::string(name) + ": no such customers attribute");
    }
    id = a->id;
    // The same change under way: continue it.
    const bool building = a->index_state == IndexState::kBuilding;
    const bool dropping_index = a->index_state == IndexState::kDropping;
    if ((indexed && building) || (!indexed && dropping_index && !s.drop_requested_for(a->id))) {
      work = true;
      return Status{};
    }
    if (indexed == a->indexed && !building && !dropping_index) return Status{};  // no-op
    if (auto p = refuse_pending(s); !p) return p;
    auto n = table_count(d, st, a->table);
    if (!n) return tl::unexpected(n.error());
    a->indexed = indexed;
    a->work_cursor = 0;
    if (indexed) {
      a->index_state = *n == 0 ? IndexState::kReady : IndexState::kBuilding;
    } else {
      a->index_state = *n == 0 ? IndexState::kNone : IndexState::kDropping;
      if (*n == 0)
        if (auto m = segment::drop_attribute_index_meta(d, st, *a); !m) return m;
    }
    work = a->index_state == IndexState::kBuilding || a->index_state == IndexState::kDropping;
    ++s.schema.version;
    const std::string dname = a->name;
    if (auto r = store(d, st, s); !r) return r;
    return audit(d, st, indexed ? "schema index" : "schema index --off",
                 "name=" + dname + " id=" + std::to_string(id));
  });
  if (!w) return w;
  if (!work) return {};
  return detail_run_schema_work(*this, d, o, id);
}

Status Database::finish_schema_work(const SchemaWorkOptions& o) {
  DatabaseImpl& d = *impl_;
  {
    auto view = begin_read();
    if (!view) return tl::unexpected(view.error());
    auto stored = detail::load_stored(d, state_of(*view));
    if (!stored) return tl::unexpected(stored.error());
    if (!pending_work(*stored)) return {};
  }
  if (auto s = d.require_owner("changing the schema"); !s) return s;
  return detail_run_schema_work(*this, d, o, std::nullopt);
}

Result<Schema> ReadView::schema() const {
  detail::TxnState* st = State::of(*this);
  if (!st) return make_error(ErrorCode::kFailedPrecondition, "transaction already finished");
  auto s = db_->schema_of(*st);
  if (!s) return tl::unexpected(s.error());
  return **s;
}

Result<query::ParseOptions> ReadView::parse_options() const {
  detail::TxnState* st = State::of(*this);
  if (!st) return make_error(ErrorCode::kFailedPrecondition, "transaction already finished");
  auto s = db_->schema_of(*st);
  if (!s) return tl::unexpected(s.error());
  query::ParseOptions o = query::parse_options_for(db_->base_currency());
  o.schema = *s;
  return o;
}

}  // namespace custdb
