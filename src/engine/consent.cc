// Consent by purpose: purpose names, the consent history and the rule-move log (consent.h).
#include "engine/consent.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "engine/db_impl.h"
#include "engine/validate.h"
#include "segment/segment_index.h"
#include "util/coding.h"
#include "util/enums.h"
#include "util/normalize.h"

namespace custdb {

namespace {
struct PurposeRow {
  ConsentPurpose purpose;
  std::string_view name;   // canonical
  std::string_view field;  // the Customer field and segment-language name
  std::string_view short_name;
};
constexpr PurposeRow kPurposes[] = {
    {ConsentPurpose::kEmailMarketing, "email_marketing", "consent_email", "email"},
    {ConsentPurpose::kSmsMarketing, "sms_marketing", "consent_sms", "sms"},
    {ConsentPurpose::kPhoneMarketing, "phone_marketing", "consent_phone", "phone"},
    {ConsentPurpose::kProfiling, "profiling", "consent_profiling", "profiling"},
    {ConsentPurpose::kThirdPartySharing, "third_party_sharing", "consent_sharing", "sharing"},
};
static_assert(std::size(kPurposes) == kConsentPurposeCount);
}  // namespace

std::string_view to_string(ConsentPurpose p) {
  for (const auto& row : kPurposes)
    if (row.purpose == p) return row.name;
  return "invalid";
}

std::optional<ConsentPurpose> consent_purpose_from_string(std::string_view name) {
  for (const auto& row : kPurposes)
    if (normalize::iequals(row.name, name) || normalize::iequals(row.field, name) ||
        normalize::iequals(row.short_name, name))
      return row.purpose;
  return std::nullopt;
}

const Consent& consent_of(const Customer& c, ConsentPurpose p) {
  switch (p) {
    case ConsentPurpose::kEmailMarketing: return c.consent_email;
    case ConsentPurpose::kSmsMarketing: return c.consent_sms;
    case ConsentPurpose::kPhoneMarketing: return c.consent_phone;
    case ConsentPurpose::kProfiling: return c.consent_profiling;
    case ConsentPurpose::kThirdPartySharing: return c.consent_sharing;
  }
  return c.consent_email;  // not reached for a valid purpose
}

Consent& consent_of(Customer& c, ConsentPurpose p) {
  return const_cast<Consent&>(consent_of(static_cast<const Customer&>(c), p));
}

}  // namespace custdb

namespace custdb::detail {
namespace {

using coding::as_bytes;
using storage::Bytes;

bool valid_purpose(ConsentPurpose p) {
  return static_cast<std::uint8_t>(p) < kConsentPurposeCount;
}

tl::unexpected<Error> corrupt(std::string_view table, Bytes key, std::string_view why) {
  std::string m(table);
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

std::vector<std::uint8_t> entry_key(CustomerId id, std::uint64_t seq) {
  std::vector<std::uint8_t> k(16);
  coding::put_u64(k.data(), id);
  coding::put_u64(k.data() + 8, seq);
  return k;
}

// Little serialization helpers for the payloads (all integers big-endian).
struct Writer {
  std::string out;
  void u8(std::uint8_t v) { out.push_back(static_cast<char>(v)); }
  void i64(std::int64_t v) {
    std::uint8_t b[8];
    coding::put_i64(b, v);
    out.append(reinterpret_cast<const char*>(b), 8);
  }
  void i32(std::int32_t v) {
    std::uint8_t b[4];
    coding::put_i32(b, v);
    out.append(reinterpret_cast<const char*>(b), 4);
  }
  void str(std::string_view s, std::size_t len_bytes) {
    std::uint8_t b[4];
    coding::put_u32(b, static_cast<std::uint32_t>(s.size()));
    out.append(reinterpret_cast<const char*>(b) + 4 - len_bytes, len_bytes);
    out.append(s);
  }
};

struct Reader {
  Bytes b;
  std::size_t at = 0;
  bool ok = true;
  bool need(std::size_t n) {
    if (!ok || b.size() - at < n) ok = false;
    return ok;
  }
  std::uint8_t u8() { return need(1) ? b[at++] : 0; }
  std::int64_t i64() {
    if (!need(8)) return 0;
    auto v = coding::get_i64(b.data() + at);
    at += 8;
    return v;
  }
  std::int32_t i32() {
    if (!need(4)) return 0;
    auto v = coding::get_i32(b.data() + at);
    at += 4;
    return v;
  }
  std::string str(std::size_t len_bytes) {
    if (!need(len_bytes)) return {};
    std::uint32_t n = 0;
    for (std::size_t i = 0; i < len_bytes; ++i) n = (n << 8) | b[at++];
    if (!need(n)) return {};
    std::string s(reinterpret_cast<const char*>(b.data() + at), n);
    at += n;
    return s;
  }
};

constexpr std::uint8_t kPayloadVersion = 1;

void put_consent(Writer& w, const Consent& c) {
  w.u8(static_cast<std::uint8_t>(c.state));
  w.u8(c.date ? 1 : 0);
  w.i32(c.date ? static_cast<std::int32_t>(c.date->time_since_epoch().count()) : 0);
  w.str(c.source, 1);
}

Consent get_consent(Reader& r) {
  Consent c;
  c.state = static_cast<ConsentState>(r.u8());
  const bool has_date = r.u8() != 0;
  const std::int32_t days = r.i32();
  if (has_date) c.date = Date{std::chrono::days{days}};
  c.source = r.str(1);
  if (!enums::is_valid(c.state)) r.ok = false;
  return c;
}

Result<std::uint64_t> read_seq(const DatabaseImpl& d, TxnState& st, std::string_view key) {
  auto v = d.get(st, d.tables().meta, as_bytes(key));
  if (!v) return tl::unexpected(v.error());
  if (!*v) return std::uint64_t{1};
  if ((*v)->size() != 8)
    return make_error(ErrorCode::kCorruption, "meta " + std::string(key) + ": not 8 bytes");
  return coding::get_u64((*v)->data());
}

Status write_seq(DatabaseImpl& d, TxnState& st, std::string_view key, std::uint64_t next) {
  coding::IdKey v(next);
  return d.put(st, d.tables().meta, as_bytes(key), v.span());
}

// Keys of one customer's entries in `table` (empty when the table is absent).
Result<std::vector<std::vector<std::uint8_t>>> keys_of(const DatabaseImpl& d, TxnState& st,
                                                      storage::Table table, CustomerId id) {
  std::vector<std::vector<std::uint8_t>> out;
  if (!table) return out;
  coding::IdKey prefix(id);
  storage::Walker walk(st.txn, table, "privacy table read");
  auto s = walk.prefix(prefix.span(), [&](Bytes k, Bytes) {
    out.emplace_back(k.begin(), k.end());
    return storage::Next::go_on();
  });
  if (!s) return tl::unexpected(s.error());
  return out;
}

template <class T, class Decode>
Result<std::vector<T>> read_all_of(const DatabaseImpl& d, TxnState& st, storage::Table table,
                                   CustomerId id, Decode decode) {
  std::vector<T> out;
  if (!table) return out;
  coding::IdKey prefix(id);
  Status failed;
  storage::Walker walk(st.txn, table, "privacy table read");
  auto s = walk.prefix(prefix.span(), [&](Bytes k, Bytes v) {
    auto e = decode(d.codec(), k, v);
    if (!e) return failed = tl::unexpected(e.error()), storage::Next::stop();
    out.push_back(std::move(*e));
    return storage::Next::go_on();
  });
  if (!s) return tl::unexpected(s.error());
  if (!failed) return tl::unexpected(failed.error());
  return out;
}

Result<std::uint64_t> delete_all_of(DatabaseImpl& d, TxnState& st, storage::Table table,
                                    CustomerId id) {
  auto keys = keys_of(d, st, table, id);
  if (!keys) return tl::unexpected(keys.error());
  for (const auto& k : *keys)
    if (auto s = d.del(st, table, k); !s) return tl::unexpected(s.error());
  return keys->size();
}

}  // namespace

// ---- consent history ---------------------------------------------------------------------------

void diff_consents(const Customer* before, const Customer& after, std::vector<ConsentChange>& out) {
  static const Customer kNone{};
  const Customer& b = before ? *before : kNone;
  for (int i = 0; i < kConsentPurposeCount; ++i) {
    const auto p = static_cast<ConsentPurpose>(i);
    const Consent& was = consent_of(b, p);
    const Consent& now = consent_of(after, p);
    if (was == now) continue;
    ConsentChange ch;
    ch.customer = after.id;
    ch.purpose = p;
    ch.before = was;
    ch.after = now;
    out.push_back(std::move(ch));
  }
}

void encode_consent_change(const codec::RecordCodec& codec, const ConsentChange& c,
                           std::vector<std::uint8_t>& key, std::vector<std::uint8_t>& out) {
  key = entry_key(c.customer, c.seq);
  Writer w;
  w.u8(kPayloadVersion);
  w.u8(static_cast<std::uint8_t>(c.purpose));
  put_consent(w, c.before);
  put_consent(w, c.after);
  w.i64(c.recorded_at.time_since_epoch().count());
  out.clear();
  codec.wrap(codec::Table::kConsentHistory, key, as_bytes(w.out), out);
}

Result<ConsentChange> decode_consent_change(const codec::RecordCodec& codec, Bytes key,
                                            Bytes stored) {
  if (key.size() != 16) return corrupt("consent_history", key, "key is not 16 bytes");
  thread_local std::vector<std::uint8_t> scratch;
  auto payload = codec.unwrap(codec::Table::kConsentHistory, key, stored, scratch);
  if (!payload) return tl::unexpected(payload.error());
  Reader r{*payload};
  ConsentChange c;
  c.customer = coding::get_u64(key.data());
  c.seq = coding::get_u64(key.data() + 8);
  if (r.u8() != kPayloadVersion) return corrupt("consent_history", key, "unknown entry version");
  c.purpose = static_cast<ConsentPurpose>(r.u8());
  c.before = get_consent(r);
  c.after = get_consent(r);
  c.recorded_at = Timestamp{std::chrono::milliseconds{r.i64()}};
  if (!r.ok || r.at != payload->size() || !valid_purpose(c.purpose))
    return corrupt("consent_history", key, "malformed entry");
  return c;
}

Status write_consent_changes(DatabaseImpl& d, TxnState& st, std::vector<ConsentChange>& changes) {
  if (changes.empty()) return {};
  if (!d.tables().consent_history)
    return make_error(ErrorCode::kFailedPrecondition, "consent_history: table missing");
  auto seq = read_seq(d, st, kConsentSeqKey);
  if (!seq) return tl::unexpected(seq.error());
  const Timestamp now = stamp_time(st);
  std::vector<std::uint8_t> key, value;
  std::uint64_t next = *seq;
  for (ConsentChange& c : changes) {
    c.seq = next++;
    c.recorded_at = now;
    encode_consent_change(d.codec(), c, key, value);
    if (auto s = d.put(st, d.tables().consent_history, key, value); !s) return s;
  }
  return write_seq(d, st, kConsentSeqKey, next);
}

Result<std::vector<ConsentChange>> read_consent_history(const DatabaseImpl& d, TxnState& st,
                                                        CustomerId id) {
  return read_all_of<ConsentChange>(d, st, d.tables().consent_history, id, decode_consent_change);
}

Result<bool> set_consent(DatabaseImpl& d, TxnState& st, CustomerId id, ConsentPurpose purpose,
                         const Consent& consent) {
  if (!valid_purpose(purpose))
    return make_error(ErrorCode::kInvalidArgument,
                      "purpose: unknown consent purpose " +
                          std::to_string(static_cast<unsigned>(purpose)));
  // A change dated before the current state's date is refused: a backdated grant (a paper
  // form of 2020 typed in today) must not override a later refusal. Nothing is written.
  {
    auto old = d.load_customer(st, id);
    if (!old) return tl::unexpected(old.error());
    if (!*old) return false;
    const Consent& current = consent_of(**old, purpose);
    if (current.state != ConsentState::kUnknown && current.date && consent.date &&
        *consent.date < *current.date)
      return make_error(ErrorCode::kInvalidArgument,
                        std::string(to_string(purpose)) + " date: " + format_date(*consent.date) +
                            " is before the current state's date " + format_date(*current.date) +
                            " (a later change would be overridden)");
  }
  // update_customer validates the consent (state, date, source) with the customer, records
  // the change in the history and clears scores when profiling is denied.
  FeedScope scope(st, "consents", id);  // custdb/feed.h parts
  auto done = d.update_customer(st, id, [&](Customer& c) { consent_of(c, purpose) = consent; });
  if (!done || !*done) return done;
  // The audit trail: ids and names only (the source is free text: not recorded).
  AuditEvent event;
  event.command = "set_consent";
  event.subjects = {id};
  event.count = 1;
  event.detail = "purpose=" + std::string(to_string(purpose)) +
                 " state=" + std::string(to_string(consent.state));
  if (auto a = d.append_audit(st, event); !a) return tl::unexpected(a.error());
  return true;
}

Result<std::uint64_t> delete_consent_history(DatabaseImpl& d, TxnState& st, CustomerId id) {
  return delete_all_of(d, st, d.tables().consent_history, id);
}

// ---- rule moves -----------------------------------------------------------------------------------

void encode_rule_move(const codec::RecordCodec& codec, const RuleMove& m,
                      std::vector<std::uint8_t>& key, std::vector<std::uint8_t>& out) {
  key = entry_key(m.customer, m.seq);
  Writer w;
  w.u8(kPayloadVersion);
  w.i64(m.at.time_since_epoch().count());
  w.str(m.field, 1);
  w.str(m.from, 1);
  w.str(m.to, 1);
  w.str(m.rule, 4);
  out.clear();
  codec.wrap(codec::Table::kRuleMoves, key, as_bytes(w.out), out);
}

Result<RuleMove> decode_rule_move(const codec::RecordCodec& codec, Bytes key, Bytes stored) {
  if (key.size() != 16) return corrupt("rule_moves", key, "key is not 16 bytes");
  thread_local std::vector<std::uint8_t> scratch;
  auto payload = codec.unwrap(codec::Table::kRuleMoves, key, stored, scratch);
  if (!payload) return tl::unexpected(payload.error());
  Reader r{*payload};
  RuleMove m;
  m.customer = coding::get_u64(key.data());
  m.seq = coding::get_u64(key.data() + 8);
  if (r.u8() != kPayloadVersion) return corrupt("rule_moves", key, "unknown entry version");
  m.at = Timestamp{std::chrono::milliseconds{r.i64()}};
  m.field = r.str(1);
  m.from = r.str(1);
  m.to = r.str(1);
  m.rule = r.str(4);
  if (!r.ok || r.at != payload->size()) return corrupt("rule_moves", key, "malformed entry");
  return m;
}

Status write_rule_move(DatabaseImpl& d, TxnState& st, RuleMove move) {
  if (!d.tables().rule_moves)
    return make_error(ErrorCode::kFailedPrecondition, "rule_moves: table missing");
  if (move.field.size() > 255 || move.from.size() > 255 || move.to.size() > 255)
    return make_error(ErrorCode::kInvalidArgument, "rule move: field or value too long");
  auto seq = read_seq(d, st, kRuleMoveSeqKey);
  if (!seq) return tl::unexpected(seq.error());
  move.seq = *seq;
  move.at = stamp_time(st);
  std::vector<std::uint8_t> key, value;
  encode_rule_move(d.codec(), move, key, value);
  if (auto s = d.put(st, d.tables().rule_moves, key, value); !s) return s;
  return write_seq(d, st, kRuleMoveSeqKey, *seq + 1);
}

Result<std::vector<RuleMove>> read_rule_moves(const DatabaseImpl& d, TxnState& st, CustomerId id) {
  return read_all_of<RuleMove>(d, st, d.tables().rule_moves, id, decode_rule_move);
}

Result<std::uint64_t> delete_rule_moves(DatabaseImpl& d, TxnState& st, CustomerId id) {
  return delete_all_of(d, st, d.tables().rule_moves, id);
}

// ---- rotation -------------------------------------------------------------------------------------

Status copy_consent_tables(const DatabaseImpl& src, TxnState& rs, DatabaseImpl& dst, TxnState& ws) {
  std::vector<std::uint8_t> key, value;
  auto copy = [&](storage::Table from, storage::Table to, auto decode, auto encode) -> Status {
    if (!from) return {};
    Status failed;
    storage::Walker walk(rs.txn, from, "rotation read");
    auto s = walk.all([&](Bytes k, Bytes v) {
      auto e = decode(src.codec(), k, v);
      if (!e) return failed = tl::unexpected(e.error()), storage::Next::stop();
      encode(dst.codec(), *e, key, value);
      if (auto p = dst.put(ws, to, key, value); !p) return failed = p, storage::Next::stop();
      return storage::Next::go_on();
    });
    if (!failed) return failed;
    return s;
  };
  if (auto s = copy(src.tables().consent_history, dst.tables().consent_history,
                    decode_consent_change, encode_consent_change);
      !s)
    return s;
  if (auto s = copy(src.tables().rule_moves, dst.tables().rule_moves, decode_rule_move,
                    encode_rule_move);
      !s)
    return s;
  for (std::string_view counter : {kConsentSeqKey, kRuleMoveSeqKey}) {
    auto v = src.get(rs, src.tables().meta, as_bytes(counter));
    if (!v) return tl::unexpected(v.error());
    if (*v)
      if (auto s = dst.put(ws, dst.tables().meta, as_bytes(counter), **v); !s) return s;
  }
  return {};
}

// ---- format 3 -> 4 -------------------------------------------------------------------------------

Status upgrade_v4_consent_postings(DatabaseImpl& d, TxnState& st, const segment::SegmentKeys& keys) {
  auto schema = d.schema_of(st);
  if (!schema) return tl::unexpected(schema.error());
  // Customers in id order, a batch at a time: no cursor lives across the writes.
  constexpr std::size_t kBatch = 10'000;
  std::uint64_t next = 0;
  for (;;) {
    std::vector<Customer> batch;
    bool more = false;
    Status failed;
    {
      storage::Walker walk(st.txn, d.tables().customers, "upgrade: customers");
      coding::IdKey from(next);
      auto s = walk.from(from.span(), [&](Bytes k, Bytes v) {
        if (batch.size() == kBatch) return more = true, storage::Next::stop();
        auto c = d.codec().decode_customer(k, v, **schema);
        if (!c) return failed = tl::unexpected(c.error()), storage::Next::stop();
        next = c->id + 1;
        batch.push_back(std::move(*c));
        return storage::Next::go_on();
      });
      if (!s) return s;
      if (!failed) return failed;
    }
    for (const Customer& c : batch) {
      for (const index::Posting& p : index::customer_postings(c)) {
        if (p.field != index::SegField::kConsentProfiling &&
            p.field != index::SegField::kConsentSharing)
          continue;
        st.posting_deltas[segment::chunk_key(keys.posting_key(p), segment::chunk_of(c.id))]
            .push_back({segment::low_bits(c.id), true});
      }
    }
    if (auto f = segment::flush(d, st); !f) return f;
    if (!more || next == 0) break;
  }
  return {};
}

}  // namespace custdb::detail
