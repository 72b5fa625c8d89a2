#include "codec/record_codec.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <iterator>
#include <stdexcept>

#include "crypto/crypto.h"
#include "records_generated.h"
#include "util/coding.h"
#include "util/enums.h"

namespace custdb::codec {
namespace {

// The personal blob's own builder: it is built while the record's builder is in use.
flatbuffers::FlatBufferBuilder& personal_builder() {
  thread_local flatbuffers::FlatBufferBuilder b(256);
  b.Clear();
  return b;
}

using namespace std::chrono;

tl::unexpected<Error> corrupt(Table table, Bytes key, std::string_view why) {
  static constexpr const char* kNames[] = {"?",
                                           "customers",
                                           "relationships",
                                           "transactions",
                                           "meta",
                                           "idx.segments",
                                           "audit",
                                           "erasures",
                                           "consent_history",
                                           "rule_moves",
                                           "customers (personal)",
                                           "transactions (personal)",
                                           "idx.segments (personal)",
                                           "meta (personal)",
                                           "holdings",
                                           "holdings (personal)",
                                           "feed"};
  auto t = static_cast<unsigned>(table);
  std::string m = t < std::size(kNames) ? kNames[t] : "?";
  m += " key ";
  static constexpr char kHex[] = "0123456789abcdef";
  for (auto b : key) {
    m += kHex[b >> 4];
    m += kHex[b & 15];
  }
  m += ": ";
  m += why;
  return make_error(ErrorCode::kCorruption, std::move(m));
}

// Associated data / checksum prefix: table, key length, key, version, flags.
void bind_prefix(Table table, Bytes key, std::uint8_t flags, std::vector<std::uint8_t>& ad) {
  ad.clear();
  ad.push_back(static_cast<std::uint8_t>(table));
  ad.push_back(static_cast<std::uint8_t>(key.size()));
  ad.insert(ad.end(), key.begin(), key.end());
  ad.push_back(kFormatVersion);
  ad.push_back(flags);
}

// XXH3-64 of the payload, seeded with XXH3-64 of (table, key length, key, version, flags).
std::uint64_t checksum(Table table, Bytes key, Bytes payload) {
  thread_local std::vector<std::uint8_t> prefix;
  bind_prefix(table, key, 0, prefix);
  XXH64_hash_t seed = XXH3_64bits(prefix.data(), prefix.size());
  return XXH3_64bits_withSeed(payload.data(), payload.size(), seed);
}

// FlatBuffers builders reused per thread: encoding is on every write's path.
flatbuffers::FlatBufferBuilder& builder() {
  thread_local flatbuffers::FlatBufferBuilder b(512);
  b.Clear();
  return b;
}

flatbuffers::Offset<flatbuffers::String> str(flatbuffers::FlatBufferBuilder& b,
                                             const std::string& s) {
  return s.empty() ? 0 : b.CreateString(s);
}

std::string get(const flatbuffers::String* s) { return s ? s->str() : std::string(); }

std::optional<Date> get_date(flatbuffers::Optional<std::int32_t> v) {
  if (!v) return std::nullopt;
  return Date{days{*v}};
}
std::optional<Timestamp> get_ts(flatbuffers::Optional<std::int64_t> v) {
  if (!v) return std::nullopt;
  return Timestamp{milliseconds{*v}};
}
flatbuffers::Optional<std::int32_t> put_date(const std::optional<Date>& d) {
  if (!d) return flatbuffers::nullopt;
  return static_cast<std::int32_t>(d->time_since_epoch().count());
}
flatbuffers::Optional<std::int64_t> put_ts(const std::optional<Timestamp>& t) {
  if (!t) return flatbuffers::nullopt;
  return t->time_since_epoch().count();
}

// The id of an 8-byte big-endian record key (callers check the size).
std::uint64_t storage_id(Bytes key) { return coding::get_u64(key.data()); }

// Whether a stored byte is a named value of enum E (util/enums.h).
template <class E>
bool enum_ok(std::uint8_t v) {
  return enums::is_valid(static_cast<E>(v));
}


// ---- custom attributes (format 5) --------------------------------------------------------------

using AttrVec = flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::AttrValue>>>;

// Which values of a record one AttrValue list holds.
enum class Part { kAll, kShared, kPersonal };

bool in_part(const AttributeDef& def, Part part) {
  return part == Part::kAll || def.personal == (part == Part::kPersonal);
}

// The stored int64 of an ordered/bool value; nullopt when the alternative does not fit `type`.
std::optional<std::int64_t> int_of(AttributeType type, const AttributeValue& v) {
  switch (type) {
    case AttributeType::kInteger:
    case AttributeType::kDecimal:
    case AttributeType::kAmount:
      if (auto* i = std::get_if<std::int64_t>(&v)) return *i;
      return std::nullopt;
    case AttributeType::kDate:
      if (auto* d = std::get_if<std::chrono::sys_days>(&v)) return d->time_since_epoch().count();
      return std::nullopt;
    case AttributeType::kTimestamp:
      if (auto* t = std::get_if<Timestamp>(&v)) return t->time_since_epoch().count();
      return std::nullopt;
    case AttributeType::kBool:
      if (auto* b = std::get_if<bool>(&v)) return *b ? 1 : 0;
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

// The values of `attrs` that are live attributes of `table` in `schema` and belong to `part`,
// as an AttrValue vector sorted by id (0 when there are none).
AttrVec put_attributes(flatbuffers::FlatBufferBuilder& b, const Attributes& attrs,
                       const Schema& schema, AttributeTable table, Part part) {
  if (attrs.empty()) return 0;
  std::vector<std::pair<const AttributeDef*, const AttributeValue*>> chosen;
  chosen.reserve(attrs.size());
  for (const auto& [name, value] : attrs) {
    const AttributeDef* def = schema.find(name, table);
    if (def && in_part(*def, part)) chosen.emplace_back(def, &value);
  }
  if (chosen.empty()) return 0;
  std::sort(chosen.begin(), chosen.end(),
            [](const auto& x, const auto& y) { return x.first->id < y.first->id; });
  std::vector<flatbuffers::Offset<fb::AttrValue>> offsets;
  offsets.reserve(chosen.size());
  for (const auto& [def, value] : chosen) {
    flatbuffers::Offset<flatbuffers::String> text = 0;
    flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>> tags = 0;
    std::optional<std::int64_t> iv;
    switch (def->type) {
      case AttributeType::kText:
      case AttributeType::kEnum:
        if (auto* sv = std::get_if<std::string>(value)) text = b.CreateString(*sv);
        else continue;
        break;
      case AttributeType::kTagSet:
        if (auto* tv = std::get_if<std::vector<std::string>>(value)) tags = b.CreateVectorOfStrings(*tv);
        else continue;
        break;
      default:
        iv = int_of(def->type, *value);
        if (!iv) continue;
    }
    fb::AttrValueBuilder ab(b);
    ab.add_id(def->id);
    if (iv) ab.add_int_value(*iv);
    ab.add_text(text);
    ab.add_tags(tags);
    offsets.push_back(ab.Finish());
  }
  if (offsets.empty()) return 0;
  return b.CreateVector(offsets);
}

// Reads a stored AttrValue list into `out` (see decode_customer). `personal_list`: the list of
// the personal blob, whose values must be personal attributes (and the record's must not be,
// when `split`).
Status get_attributes(const flatbuffers::Vector<flatbuffers::Offset<fb::AttrValue>>* list,
                      const Schema& schema, AttributeTable table, Attributes& out,
                      const std::function<tl::unexpected<Error>(std::string_view)>& bad) {
  if (!list) return {};
  std::uint32_t last = 0;
  bool first = true;
  for (const fb::AttrValue* a : *list) {
    if (!a) return bad("null custom attribute value");
    if (!first && a->id() <= last) return bad("custom attribute ids unsorted or repeated");
    first = false;
    last = a->id();
    const AttributeDef* def = schema.by_id(a->id());
    if (!def || def->dropping || def->table != table) continue;  // dropped: skipped
    const bool has_int = a->int_value().has_value(), has_text = a->text() != nullptr,
               has_tags = a->tags() != nullptr;
    auto mismatch = [&] {
      return bad("custom attribute " + def->name + " (id " + std::to_string(def->id) +
                 "): stored value does not fit its type " + std::string(to_string(def->type)));
    };
    switch (def->type) {
      case AttributeType::kText:
      case AttributeType::kEnum:
        if (!has_text || has_int || has_tags) return mismatch();
        out.insert_or_assign(def->name, AttributeValue(a->text()->str()));
        break;
      case AttributeType::kTagSet: {
        if (!has_tags || has_int || has_text) return mismatch();
        std::vector<std::string> tags;
        tags.reserve(a->tags()->size());
        for (const auto* t : *a->tags()) {
          if (!t) return mismatch();
          tags.push_back(t->str());
        }
        out.insert_or_assign(def->name, AttributeValue(std::move(tags)));
        break;
      }
      default: {
        if (!has_int || has_text || has_tags) return mismatch();
        const std::int64_t v = *a->int_value();
        switch (def->type) {
          case AttributeType::kDate:
            if (v < INT32_MIN || v > INT32_MAX) return mismatch();
            out.insert_or_assign(def->name, AttributeValue(std::chrono::sys_days{days{v}}));
            break;
          case AttributeType::kTimestamp:
            out.insert_or_assign(def->name, AttributeValue(Timestamp{milliseconds{v}}));
            break;
          case AttributeType::kBool:
            if (v != 0 && v != 1) return mismatch();
            out.insert_or_assign(def->name, AttributeValue(v == 1));
            break;
          default:
            out.insert_or_assign(def->name, AttributeValue(v));
        }
      }
    }
  }
  return {};
}

// Required attributes with a default that `out` lacks get the default (records older than the
// attribute). `with_personal` false: personal ones are left absent (an analyst key).
void add_defaults(const Schema& schema, AttributeTable table, bool with_personal, Attributes& out) {
  for (const AttributeDef& def : schema.attributes) {
    if (def.dropping || def.table != table || !def.required || !def.default_value) continue;
    if (def.personal && !with_personal) continue;
    if (out.find(def.name) == out.end()) out.emplace(def.name, *def.default_value);
  }
}

bool has_personal_values(const Attributes& attrs, const Schema& schema, AttributeTable table) {
  for (const auto& [name, value] : attrs)
    if (const AttributeDef* def = schema.find(name, table); def && def->personal) return true;
  return false;
}

}  // namespace

void RecordCodec::wrap(Table table, Bytes key, Bytes payload,
                       std::vector<std::uint8_t>& out) const {
  if (!cipher_) {
    out.clear();
    out.resize(kPlainHeaderSize + payload.size());
    out[0] = kFormatVersion;
    out[1] = 0;
    coding::put_le64(out.data() + 2, checksum(table, key, payload));
    if (!payload.empty()) std::memcpy(out.data() + kPlainHeaderSize, payload.data(), payload.size());
    return;
  }
  wrap_with(sealer_.load(std::memory_order_acquire), table, key, payload, out);
}

void RecordCodec::wrap_personal(Table table, Bytes key, Bytes payload,
                                std::vector<std::uint8_t>& out) const {
  crypto::RecordCipher* sealer = personal_sealer_.load(std::memory_order_acquire);
  if (!sealer) throw std::logic_error("custdb: sealing a personal value without the personal key");
  wrap_with(sealer, table, key, payload, out);
}

void RecordCodec::wrap_with(crypto::RecordCipher* sealer, Table table, Bytes key, Bytes payload,
                            std::vector<std::uint8_t>& out) const {
  out.clear();
  if (!sealer) throw std::logic_error("custdb: sealing before a nonce epoch was reserved");
  thread_local std::vector<std::uint8_t> ad;
  bind_prefix(table, key, kFlagSealed, ad);
  out.resize(2 + payload.size() + sealer->overhead());
  out[0] = kFormatVersion;
  out[1] = kFlagSealed;
  sealer->seal(payload, ad, std::span<std::uint8_t>(out.data() + 2, out.size() - 2));
}

Result<Bytes> RecordCodec::unwrap(Table table, Bytes key, Bytes stored,
                                  std::vector<std::uint8_t>& scratch) const {
  return unwrap_with(cipher_, table, key, stored, scratch);
}

Result<Bytes> RecordCodec::unwrap_personal(Table table, Bytes key, Bytes stored,
                                           std::vector<std::uint8_t>& scratch) const {
  if (!personal_)
    return make_error(ErrorCode::kPermissionDenied,
                      "personal data cannot be decrypted with an analyst key");
  return unwrap_with(personal_, table, key, stored, scratch);
}

Result<Bytes> RecordCodec::unwrap_with(const crypto::RecordCipher* cipher, Table table, Bytes key,
                                       Bytes stored, std::vector<std::uint8_t>& scratch) const {
  if (stored.size() < 2) return corrupt(table, key, "value shorter than its envelope");
  if (stored[0] != kFormatVersion)
    return corrupt(table, key, "unknown format version " + std::to_string(stored[0]));
  const bool is_sealed = stored[1] == kFlagSealed;
  if (stored[1] != 0 && !is_sealed) return corrupt(table, key, "unknown envelope flags");
  if (is_sealed != (cipher != nullptr))
    return corrupt(table, key,
                   is_sealed ? "sealed value in a plaintext database"
                             : "plaintext value in an encrypted database");
  if (!cipher) {
    if (stored.size() < kPlainHeaderSize) return corrupt(table, key, "truncated envelope");
    Bytes payload = stored.subspan(kPlainHeaderSize);
    if (checksum(table, key, payload) != coding::get_le64(stored.data() + 2)) return corrupt(table, key, "checksum mismatch");
    // Copied so the FlatBuffer is aligned: LMDB values have no alignment guarantee.
    scratch.assign(payload.begin(), payload.end());
    return Bytes(scratch.data(), scratch.size());
  }
  if (stored.size() < 2 + cipher->overhead()) return corrupt(table, key, "truncated sealed value");
  thread_local std::vector<std::uint8_t> ad;
  bind_prefix(table, key, kFlagSealed, ad);
  scratch.resize(stored.size() - 2 - cipher->overhead());
  if (auto s = cipher->open(stored.subspan(2), ad, scratch); !s)
    return corrupt(table, key, "authentication failed (tampered, moved or swapped value)");
  return Bytes(scratch.data(), scratch.size());
}

// ---- customers -------------------------------------------------------------------------------

void RecordCodec::encode(Bytes key, const Customer& c, const Schema& schema,
                         std::vector<std::uint8_t>& out) const {
  // Split (format 4, encrypted): the personal fields go into a blob sealed under the personal
  // key, and the record's own fields for them stay absent.
  thread_local std::vector<std::uint8_t> sealed_personal;
  if (split_) {
    auto& pb = personal_builder();
    auto ext = str(pb, c.external_ref), name = str(pb, c.name);
    auto email = c.email ? pb.CreateString(*c.email) : 0;
    auto phone = c.phone ? pb.CreateString(*c.phone) : 0;
    auto city = str(pb, c.address.city);
    auto pattrs = put_attributes(pb, c.attributes, schema, AttributeTable::kCustomers, Part::kPersonal);
    fb::PersonalBuilder p(pb);
    p.add_attributes(pattrs);
    p.add_external_ref(ext);
    p.add_name(name);
    p.add_email(email);
    p.add_phone(phone);
    if (auto d = put_date(c.birth_date)) p.add_birth_date(*d);
    p.add_city(city);
    pb.Finish(p.Finish());
    wrap_personal(Table::kPersonalCustomer, key, Bytes(pb.GetBufferPointer(), pb.GetSize()),
                  sealed_personal);
  }
  auto& b = builder();
  const bool plain_personal = !split_;
  auto ext = plain_personal ? str(b, c.external_ref) : 0,
       name = plain_personal ? str(b, c.name) : 0;
  auto email = plain_personal && c.email ? b.CreateString(*c.email) : 0;
  auto phone = plain_personal && c.phone ? b.CreateString(*c.phone) : 0;
  auto city = plain_personal ? str(b, c.address.city) : 0, region = str(b, c.address.region),
       country = str(b, c.address.country);
  auto personal = split_ ? b.CreateVector(sealed_personal) : 0;
  auto tags = c.tags.empty() ? 0 : b.CreateVectorOfStrings(c.tags);
  auto src_email = str(b, c.consent_email.source), src_sms = str(b, c.consent_sms.source),
       src_phone = str(b, c.consent_phone.source),
       src_profiling = str(b, c.consent_profiling.source),
       src_sharing = str(b, c.consent_sharing.source);
  auto attrs = put_attributes(b, c.attributes, schema, AttributeTable::kCustomers,
                              split_ ? Part::kShared : Part::kAll);
  auto types_held =
      c.holdings.types_held.empty() ? 0 : b.CreateVectorOfStrings(c.holdings.types_held);
  fb::CustomerBuilder cb(b);
  cb.add_attributes(attrs);
  cb.add_external_ref(ext);
  cb.add_type(static_cast<std::uint8_t>(c.type));
  cb.add_name(name);
  cb.add_email(email);
  cb.add_phone(phone);
  if (plain_personal)
    if (auto d = put_date(c.birth_date)) cb.add_birth_date(*d);
  cb.add_personal(personal);
  cb.add_gender(static_cast<std::uint8_t>(c.gender));
  cb.add_city(city);
  cb.add_region(region);
  cb.add_country(country);
  cb.add_tier(static_cast<std::uint8_t>(c.tier));
  cb.add_stage(static_cast<std::uint8_t>(c.stage));
  if (c.income_band) cb.add_income_band(*c.income_band);
  cb.add_risk(static_cast<std::uint8_t>(c.risk));
  cb.add_consent_email(static_cast<std::uint8_t>(c.consent_email.state));
  if (auto d = put_date(c.consent_email.date)) cb.add_consent_email_date(*d);
  cb.add_consent_sms(static_cast<std::uint8_t>(c.consent_sms.state));
  if (auto d = put_date(c.consent_sms.date)) cb.add_consent_sms_date(*d);
  cb.add_consent_phone(static_cast<std::uint8_t>(c.consent_phone.state));
  if (auto d = put_date(c.consent_phone.date)) cb.add_consent_phone_date(*d);
  cb.add_consent_profiling(static_cast<std::uint8_t>(c.consent_profiling.state));
  if (auto d = put_date(c.consent_profiling.date)) cb.add_consent_profiling_date(*d);
  cb.add_consent_sharing(static_cast<std::uint8_t>(c.consent_sharing.state));
  if (auto d = put_date(c.consent_sharing.date)) cb.add_consent_sharing_date(*d);
  cb.add_consent_email_source(src_email);
  cb.add_consent_sms_source(src_sms);
  cb.add_consent_phone_source(src_phone);
  cb.add_consent_profiling_source(src_profiling);
  cb.add_consent_sharing_source(src_sharing);
  if (c.anonymized) cb.add_anonymized(true);
  cb.add_tags(tags);
  cb.add_created_at(c.created_at.time_since_epoch().count());
  cb.add_updated_at(c.updated_at.time_since_epoch().count());
  cb.add_txn_count(c.aggregates.txn_count);
  cb.add_total_amount(c.aggregates.total_amount);
  if (auto t = put_ts(c.aggregates.first_txn_at)) cb.add_first_txn_at(*t);
  if (auto t = put_ts(c.aggregates.last_txn_at)) cb.add_last_txn_at(*t);
  // Format 6: HoldingAggregates (defaults are not written: a customer without holdings
  // encodes as before).
  cb.add_aum(c.holdings.aum);
  cb.add_liabilities(c.holdings.liabilities);
  cb.add_products(c.holdings.products);
  cb.add_holdings(c.holdings.holdings);
  cb.add_types_held(types_held);
  if (auto d = put_date(c.holdings.first_product_on)) cb.add_first_product_on(*d);
  fb::Scores scores;
  if (c.scores) {
    const Scores& sc = *c.scores;
    scores = fb::Scores(static_cast<std::int32_t>(sc.as_of.time_since_epoch().count()), sc.r_score,
                        sc.f_score, sc.m_score, to_millionths(sc.p_alive),
                        to_millionths(sc.expected_purchases), sc.expected_value, sc.clv);
    cb.add_scores(&scores);
  }
  b.Finish(cb.Finish());
  wrap(Table::kCustomers, key, Bytes(b.GetBufferPointer(), b.GetSize()), out);
}

namespace {
thread_local std::vector<std::uint8_t> customer_scratch;
}  // namespace

// Unwraps, verifies and range-checks a stored customer: the checks every customer decode shares.
Result<const fb::Customer*> RecordCodec::open_customer(Bytes key, Bytes stored) const {
  auto payload = unwrap(Table::kCustomers, key, stored, customer_scratch);
  if (!payload) return tl::unexpected(payload.error());
  flatbuffers::Verifier v(payload->data(), payload->size());
  if (!v.VerifyBuffer<fb::Customer>(nullptr))
    return corrupt(Table::kCustomers, key, "record fails FlatBuffers verification");
  const fb::Customer* f = flatbuffers::GetRoot<fb::Customer>(payload->data());
  if (!enum_ok<CustomerType>(f->type()) || !enum_ok<Gender>(f->gender()) ||
      !enum_ok<Tier>(f->tier()) || !enum_ok<Stage>(f->stage()) ||
      !enum_ok<Risk>(f->risk()) || !enum_ok<ConsentState>(f->consent_email()) ||
      !enum_ok<ConsentState>(f->consent_sms()) ||
      !enum_ok<ConsentState>(f->consent_phone()) ||
      !enum_ok<ConsentState>(f->consent_profiling()) ||
      !enum_ok<ConsentState>(f->consent_sharing()))
    return corrupt(Table::kCustomers, key, "enumeration value out of range");
  return f;
}

Result<RecordCodec::CustomerFacets> RecordCodec::decode_customer_facets(Bytes key,
                                                                       Bytes stored) const {
  auto opened = open_customer(key, stored);
  if (!opened) return tl::unexpected(opened.error());
  const fb::Customer* f = *opened;
  return CustomerFacets{static_cast<CustomerType>(f->type()),
                        static_cast<Tier>(f->tier()),
                        static_cast<Stage>(f->stage()),
                        f->region() ? f->region()->string_view() : std::string_view(),
                        f->txn_count(),
                        f->total_amount()};
}

Result<Customer> RecordCodec::decode_customer(Bytes key, Bytes stored,
                                              const Schema& schema) const {
  auto opened = open_customer(key, stored);
  if (!opened) return tl::unexpected(opened.error());
  const fb::Customer* f = *opened;
  Customer c;
  c.id = key.size() == 8 ? storage_id(key) : 0;
  c.external_ref = get(f->external_ref());
  c.type = static_cast<CustomerType>(f->type());
  c.name = get(f->name());
  if (f->email()) c.email = f->email()->str();
  if (f->phone()) c.phone = f->phone()->str();
  c.birth_date = get_date(f->birth_date());
  c.gender = static_cast<Gender>(f->gender());
  c.address.city = get(f->city());
  c.address.region = get(f->region());
  c.address.country = get(f->country());
  c.tier = static_cast<Tier>(f->tier());
  c.stage = static_cast<Stage>(f->stage());
  if (auto ib = f->income_band()) c.income_band = *ib;
  c.risk = static_cast<Risk>(f->risk());
  c.consent_email = {static_cast<ConsentState>(f->consent_email()),
                     get_date(f->consent_email_date())};
  c.consent_sms = {static_cast<ConsentState>(f->consent_sms()), get_date(f->consent_sms_date())};
  c.consent_phone = {static_cast<ConsentState>(f->consent_phone()),
                     get_date(f->consent_phone_date())};
  c.consent_profiling = {static_cast<ConsentState>(f->consent_profiling()),
                         get_date(f->consent_profiling_date())};
  c.consent_sharing = {static_cast<ConsentState>(f->consent_sharing()),
                       get_date(f->consent_sharing_date())};
  c.consent_email.source = get(f->consent_email_source());
  c.consent_sms.source = get(f->consent_sms_source());
  c.consent_phone.source = get(f->consent_phone_source());
  c.consent_profiling.source = get(f->consent_profiling_source());
  c.consent_sharing.source = get(f->consent_sharing_source());
  c.anonymized = f->anonymized();
  if (const auto* blob = f->personal()) {
    // Format 4, encrypted: the personal fields are in the sealed blob (and nowhere else).
    c.external_ref.clear();
    c.name.clear();
    c.email.reset();
    c.phone.reset();
    c.birth_date.reset();
    c.address.city.clear();
    if (!personal_) {
      c.personal_available = false;  // an analyst key: cryptographically out of reach
    } else {
      thread_local std::vector<std::uint8_t> scratch;
      auto p = unwrap_personal(Table::kPersonalCustomer, key, Bytes(blob->data(), blob->size()),
                               scratch);
      if (!p) return tl::unexpected(p.error());
      flatbuffers::Verifier pv(p->data(), p->size());
      if (!pv.VerifyBuffer<fb::Personal>(nullptr))
        return corrupt(Table::kPersonalCustomer, key, "personal fields fail FlatBuffers verification");
      const fb::Personal* pf = flatbuffers::GetRoot<fb::Personal>(p->data());
      c.external_ref = get(pf->external_ref());
      c.name = get(pf->name());
      if (pf->email()) c.email = pf->email()->str();
      if (pf->phone()) c.phone = pf->phone()->str();
      c.birth_date = get_date(pf->birth_date());
      c.address.city = get(pf->city());
      if (auto s = get_attributes(pf->attributes(), schema, AttributeTable::kCustomers,
                                  c.attributes,
                                  [&](std::string_view why) {
                                    return corrupt(Table::kPersonalCustomer, key, why);
                                  });
          !s)
        return tl::unexpected(s.error());
    }
  } else if (split_ && !personal_) {
    // A record without its blob under an analyst key: only an unupgraded (format 3) record,
    // which no analyst key can open; never hand out its fields.
    return corrupt(Table::kCustomers, key, "customer record without its personal blob");
  }
  if (auto s = get_attributes(f->attributes(), schema, AttributeTable::kCustomers, c.attributes,
                              [&](std::string_view why) {
                                return corrupt(Table::kCustomers, key, why);
                              });
      !s)
    return tl::unexpected(s.error());
  add_defaults(schema, AttributeTable::kCustomers, c.personal_available, c.attributes);
  if (auto tags = f->tags()) {
    c.tags.reserve(tags->size());
    for (const auto* t : *tags) c.tags.push_back(t->str());
  }
  c.created_at = Timestamp{milliseconds{f->created_at()}};
  c.updated_at = Timestamp{milliseconds{f->updated_at()}};
  c.aggregates.txn_count = f->txn_count();
  c.aggregates.total_amount = f->total_amount();
  c.aggregates.first_txn_at = get_ts(f->first_txn_at());
  c.aggregates.last_txn_at = get_ts(f->last_txn_at());
  c.holdings.aum = f->aum();
  c.holdings.liabilities = f->liabilities();
  c.holdings.products = f->products();
  c.holdings.holdings = f->holdings();
  if (auto th = f->types_held()) {
    c.holdings.types_held.reserve(th->size());
    for (const auto* t : *th) c.holdings.types_held.push_back(t->str());
  }
  c.holdings.first_product_on = get_date(f->first_product_on());
  if (c.holdings.products > c.holdings.holdings ||
      c.holdings.holdings > kMaxHoldingsPerCustomer ||
      (c.holdings.holdings == 0) != !c.holdings.first_product_on)
    return corrupt(Table::kCustomers, key, "holdings aggregates out of range");
  if (const fb::Scores* sc = f->scores()) {
    auto score_ok = [](std::uint8_t v) { return v >= 1 && v <= 5; };
    if (!score_ok(sc->r_score()) || !score_ok(sc->f_score()) || !score_ok(sc->m_score()) ||
        sc->p_alive() < 0 || sc->p_alive() > 1'000'000 || sc->expected_purchases() < 0)
      return corrupt(Table::kCustomers, key, "scores out of range");
    c.scores = Scores{Date{std::chrono::days{sc->as_of()}},
                      static_cast<double>(sc->p_alive()) / 1e6,
                      static_cast<double>(sc->expected_purchases()) / 1e6,
                      sc->expected_value(),
                      sc->clv(),
                      sc->r_score(),
                      sc->f_score(),
                      sc->m_score()};
  }
  return c;
}

// ---- relationships ---------------------------------------------------------------------------

void RecordCodec::encode(Bytes key, const Relationship& r, std::vector<std::uint8_t>& out) const {
  auto& b = builder();
  auto custom = str(b, r.custom_type);
  fb::RelationshipBuilder rb(b);
  rb.add_from(r.from);
  rb.add_to(r.to);
  rb.add_type(static_cast<std::uint8_t>(r.type));
  rb.add_custom_type(custom);
  if (auto d = put_date(r.since)) rb.add_since(*d);
  b.Finish(rb.Finish());
  wrap(Table::kRelationships, key, Bytes(b.GetBufferPointer(), b.GetSize()), out);
}

Result<Relationship> RecordCodec::decode_relationship(Bytes key, Bytes stored) const {
  thread_local std::vector<std::uint8_t> scratch;
  auto payload = unwrap(Table::kRelationships, key, stored, scratch);
  if (!payload) return tl::unexpected(payload.error());
  flatbuffers::Verifier v(payload->data(), payload->size());
  if (!v.VerifyBuffer<fb::Relationship>(nullptr))
    return corrupt(Table::kRelationships, key, "record fails FlatBuffers verification");
  const fb::Relationship* f = flatbuffers::GetRoot<fb::Relationship>(payload->data());
  if (!enum_ok<RelationType>(f->type()))
    return corrupt(Table::kRelationships, key, "enumeration value out of range");
  Relationship r;
  r.id = key.size() == 8 ? storage_id(key) : 0;
  r.from = f->from();
  r.to = f->to();
  r.type = static_cast<RelationType>(f->type());
  r.custom_type = get(f->custom_type());
  r.since = get_date(f->since());
  return r;
}

// ---- transactions ----------------------------------------------------------------------------

void RecordCodec::encode(Bytes key, const Transaction& t, const Schema& schema,
                         std::vector<std::uint8_t>& out) const {
  thread_local std::vector<std::uint8_t> sealed_personal;
  // The description is a transaction's only personal field: without one there is no blob
  // (64 bytes a transaction saved; a file reader learns that a transaction has no memo, as
  // the blob's length would tell a memo's length). docs/format.md, "Personal blob".
  // Format 5: personal custom attributes are personal fields too.
  const bool blob =
      split_ && (!t.description.empty() ||
                 has_personal_values(t.attributes, schema, AttributeTable::kTransactions));
  if (blob) {
    auto& pb = personal_builder();
    auto d = str(pb, t.description);
    auto pattrs = put_attributes(pb, t.attributes, schema, AttributeTable::kTransactions,
                                 Part::kPersonal);
    fb::PersonalBuilder p(pb);
    p.add_description(d);
    p.add_attributes(pattrs);
    pb.Finish(p.Finish());
    wrap_personal(Table::kPersonalTransaction, key, Bytes(pb.GetBufferPointer(), pb.GetSize()),
                  sealed_personal);
  }
  auto& b = builder();
  auto currency = str(b, t.currency), product = str(b, t.product),
       description = split_ ? 0 : str(b, t.description);
  auto personal = blob ? b.CreateVector(sealed_personal) : 0;
  auto attrs = put_attributes(b, t.attributes, schema, AttributeTable::kTransactions,
                              split_ ? Part::kShared : Part::kAll);
  fb::TransactionBuilder tb(b);
  tb.add_attributes(attrs);
  tb.add_customer_id(t.customer_id);
  tb.add_ts(t.ts.time_since_epoch().count());
  tb.add_amount(t.amount);
  tb.add_currency(currency);
  tb.add_base_amount(t.base_amount.value_or(t.amount));
  tb.add_kind(static_cast<std::uint8_t>(t.kind));
  tb.add_channel(static_cast<std::uint8_t>(t.channel));
  tb.add_product(product);
  tb.add_description(description);
  tb.add_personal(personal);
  if (t.holding_id) tb.add_holding_id(*t.holding_id);
  b.Finish(tb.Finish());
  wrap(Table::kTransactions, key, Bytes(b.GetBufferPointer(), b.GetSize()), out);
}

Result<Transaction> RecordCodec::decode_transaction(Bytes key, Bytes stored,
                                                    const Schema& schema) const {
  thread_local std::vector<std::uint8_t> scratch;
  auto payload = unwrap(Table::kTransactions, key, stored, scratch);
  if (!payload) return tl::unexpected(payload.error());
  flatbuffers::Verifier v(payload->data(), payload->size());
  if (!v.VerifyBuffer<fb::Transaction>(nullptr))
    return corrupt(Table::kTransactions, key, "record fails FlatBuffers verification");
  const fb::Transaction* f = flatbuffers::GetRoot<fb::Transaction>(payload->data());
  if (!enum_ok<TransactionKind>(f->kind()) || !enum_ok<Channel>(f->channel()))
    return corrupt(Table::kTransactions, key, "enumeration value out of range");
  Transaction t;
  t.id = key.size() == 8 ? storage_id(key) : 0;
  t.customer_id = f->customer_id();
  t.ts = Timestamp{milliseconds{f->ts()}};
  t.amount = f->amount();
  t.currency = get(f->currency());
  t.base_amount = f->base_amount();
  t.kind = static_cast<TransactionKind>(f->kind());
  t.channel = static_cast<Channel>(f->channel());
  t.product = get(f->product());
  t.description = get(f->description());
  if (auto h = f->holding_id()) {
    if (*h == 0) return corrupt(Table::kTransactions, key, "holding_id 0");
    t.holding_id = *h;
  }
  if (const auto* blob = f->personal()) {
    t.description.clear();
    if (personal_) {
      thread_local std::vector<std::uint8_t> pscratch;
      auto p = unwrap_personal(Table::kPersonalTransaction, key,
                               Bytes(blob->data(), blob->size()), pscratch);
      if (!p) return tl::unexpected(p.error());
      flatbuffers::Verifier pv(p->data(), p->size());
      if (!pv.VerifyBuffer<fb::Personal>(nullptr))
        return corrupt(Table::kPersonalTransaction, key,
                       "personal fields fail FlatBuffers verification");
      const fb::Personal* pf = flatbuffers::GetRoot<fb::Personal>(p->data());
      t.description = get(pf->description());
      if (auto s = get_attributes(pf->attributes(), schema, AttributeTable::kTransactions,
                                  t.attributes,
                                  [&](std::string_view why) {
                                    return corrupt(Table::kPersonalTransaction, key, why);
                                  });
          !s)
        return tl::unexpected(s.error());
    }
  }
  if (auto s = get_attributes(f->attributes(), schema, AttributeTable::kTransactions, t.attributes,
                              [&](std::string_view why) {
                                return corrupt(Table::kTransactions, key, why);
                              });
      !s)
    return tl::unexpected(s.error());
  // An analyst key cannot open a transaction's blob: its personal values stay absent, defaults
  // included.
  add_defaults(schema, AttributeTable::kTransactions, !split_ || personal_ != nullptr,
               t.attributes);
  return t;
}

}  // namespace custdb::codec

// ---- holdings (format 6) ---------------------------------------------------------------------

namespace custdb::codec {

void RecordCodec::encode(Bytes key, const Holding& h, std::vector<std::uint8_t>& out) const {
  thread_local std::vector<std::uint8_t> sealed_personal;
  // account_ref is the holding's only personal field: split files keep it in a sealed blob,
  // present only when there is a reference (as a transaction's description).
  const bool blob = split_ && !h.account_ref.empty();
  if (blob) {
    auto& pb = personal_builder();
    auto ref = str(pb, h.account_ref);
    fb::PersonalBuilder p(pb);
    p.add_account_ref(ref);
    pb.Finish(p.Finish());
    wrap_personal(Table::kPersonalHolding, key, Bytes(pb.GetBufferPointer(), pb.GetSize()),
                  sealed_personal);
  }
  auto& b = builder();
  auto custom = str(b, h.custom_type), code = str(b, h.product_code),
       ref = split_ ? 0 : str(b, h.account_ref), currency = str(b, h.currency);
  auto personal = blob ? b.CreateVector(sealed_personal) : 0;
  fb::HoldingBuilder hb(b);
  hb.add_customer_id(h.customer_id);
  hb.add_product_type(static_cast<std::uint8_t>(h.product_type));
  hb.add_custom_type(custom);
  hb.add_product_code(code);
  hb.add_account_ref(ref);
  hb.add_currency(currency);
  hb.add_balance(h.balance);
  hb.add_base_balance(h.base_balance.value_or(h.balance));
  if (h.credit_limit) hb.add_credit_limit(*h.credit_limit);
  if (auto d = put_date(h.opened_on)) hb.add_opened_on(*d);
  if (auto d = put_date(h.closed_on)) hb.add_closed_on(*d);
  hb.add_status(static_cast<std::uint8_t>(h.status));
  if (auto d = put_date(h.balance_as_of)) hb.add_balance_as_of(*d);
  hb.add_posted(h.posted);
  hb.add_base_posted(h.base_posted);
  hb.add_postings(h.postings);
  hb.add_personal(personal);
  b.Finish(hb.Finish());
  wrap(Table::kHoldings, key, Bytes(b.GetBufferPointer(), b.GetSize()), out);
}

Result<Holding> RecordCodec::decode_holding(Bytes key, Bytes stored) const {
  thread_local std::vector<std::uint8_t> scratch;
  auto payload = unwrap(Table::kHoldings, key, stored, scratch);
  if (!payload) return tl::unexpected(payload.error());
  flatbuffers::Verifier v(payload->data(), payload->size());
  if (!v.VerifyBuffer<fb::Holding>(nullptr))
    return corrupt(Table::kHoldings, key, "record fails FlatBuffers verification");
  const fb::Holding* f = flatbuffers::GetRoot<fb::Holding>(payload->data());
  if (!enum_ok<ProductType>(f->product_type()) || !enum_ok<HoldingStatus>(f->status()))
    return corrupt(Table::kHoldings, key, "enumeration value out of range");
  Holding h;
  h.id = key.size() == 8 ? storage_id(key) : 0;
  h.customer_id = f->customer_id();
  h.product_type = static_cast<ProductType>(f->product_type());
  h.custom_type = get(f->custom_type());
  h.product_code = get(f->product_code());
  h.account_ref = get(f->account_ref());
  h.currency = get(f->currency());
  h.balance = f->balance();
  h.base_balance = f->base_balance();
  if (auto cl = f->credit_limit()) h.credit_limit = *cl;
  h.opened_on = get_date(f->opened_on());
  h.closed_on = get_date(f->closed_on());
  h.status = static_cast<HoldingStatus>(f->status());
  h.balance_as_of = get_date(f->balance_as_of());
  h.posted = f->posted();
  h.base_posted = f->base_posted();
  h.postings = f->postings();
  // What validation guarantees of every stored holding: a record breaking it was not written
  // by custdb.
  constexpr std::int32_t kMinDay = -62091;  // 1800-01-01
  constexpr std::int32_t kMaxDay = 84370;   // 2200-12-31
  auto day_ok = [&](const std::optional<Date>& d) {
    if (!d) return true;
    const auto n = d->time_since_epoch().count();
    return n >= kMinDay && n <= kMaxDay;
  };
  if (h.customer_id == 0 || !h.opened_on || !day_ok(h.opened_on) || !day_ok(h.closed_on) ||
      !day_ok(h.balance_as_of) || (h.status == HoldingStatus::kClosed) != h.closed_on.has_value() ||
      (h.closed_on && *h.closed_on < *h.opened_on))
    return corrupt(Table::kHoldings, key, "dates or status out of range");
  if (h.balance > kMaxAmount || h.balance < -kMaxAmount || *h.base_balance > kMaxAmount ||
      *h.base_balance < -kMaxAmount || (h.credit_limit && *h.credit_limit < 0))
    return corrupt(Table::kHoldings, key, "balance out of range");
  if ((h.product_type == ProductType::kCustom) == h.custom_type.empty())
    return corrupt(Table::kHoldings, key, "custom_type disagrees with product_type");
  if (const auto* blob = f->personal()) {
    h.account_ref.clear();
    if (!personal_) {
      h.personal_available = false;
    } else {
      thread_local std::vector<std::uint8_t> pscratch;
      auto p = unwrap_personal(Table::kPersonalHolding, key, Bytes(blob->data(), blob->size()),
                               pscratch);
      if (!p) return tl::unexpected(p.error());
      flatbuffers::Verifier pv(p->data(), p->size());
      if (!pv.VerifyBuffer<fb::Personal>(nullptr))
        return corrupt(Table::kPersonalHolding, key,
                       "personal fields fail FlatBuffers verification");
      const fb::Personal* pf = flatbuffers::GetRoot<fb::Personal>(p->data());
      h.account_ref = get(pf->account_ref());
    }
  } else if (split_ && !personal_) {
    // No blob: no account_ref to withhold; the handle still cannot read personal fields.
    h.personal_available = false;
  }
  return h;
}

}  // namespace custdb::codec
