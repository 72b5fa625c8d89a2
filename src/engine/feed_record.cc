// The change feed's capture (FeedRecorder, FeedScope, feed_bit, feed_erasure, the put/del
// seam) and its codec: the one place that knows the feed's bytes (layout: feed_record.h).
#include "engine/feed_record.h"

#include <algorithm>
#include <cstring>

#include "codec/record_codec.h"
#include "engine/db_impl.h"
#include "index/index_keys.h"
#include "util/coding.h"

namespace custdb::detail {
namespace {

using coding::as_bytes;
using coding::as_view;

// ---- byte helpers ----
void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void put_be64(std::string& out, std::uint64_t v) {
  char b[8];
  coding::put_u64(reinterpret_cast<std::uint8_t*>(b), v);
  out.append(b, 8);
}
void put_be32(std::string& out, std::uint32_t v) {
  char b[4];
  coding::put_u32(reinterpret_cast<std::uint8_t*>(b), v);
  out.append(b, 4);
}

// A bounds-checked reader: every get fails (ok() false) past the end, never reads out of it.
class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == s_.size(); }
  std::size_t left() const { return s_.size() - pos_; }
  std::uint8_t u8() {
    if (!need(1)) return 0;
    return static_cast<std::uint8_t>(s_[pos_++]);
  }
  std::uint32_t u32() {
    if (!need(4)) return 0;
    auto v = coding::get_u32(reinterpret_cast<const std::uint8_t*>(s_.data() + pos_));
    pos_ += 4;
    return v;
  }
  std::uint16_t u16() {
    if (!need(2)) return 0;
    auto v = static_cast<std::uint16_t>((static_cast<std::uint8_t>(s_[pos_]) << 8) |
                                        static_cast<std::uint8_t>(s_[pos_ + 1]));
    pos_ += 2;
    return v;
  }
  std::uint64_t u64() {
    if (!need(8)) return 0;
    auto v = coding::get_u64(reinterpret_cast<const std::uint8_t*>(s_.data() + pos_));
    pos_ += 8;
    return v;
  }
  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (!need(1)) return 0;
      const auto b = static_cast<std::uint8_t>(s_[pos_++]);
      if (shift == 63 && b > 1) return fail();
      v |= std::uint64_t{b & 0x7Fu} << shift;
      if (!(b & 0x80)) return v;
    }
    return fail();
  }
  std::string_view bytes(std::uint64_t n) {
    if (!need(n)) return {};
    auto v = s_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  std::string_view rest() {
    auto v = s_.substr(pos_);
    pos_ = s_.size();
    return v;
  }

 private:
  bool need(std::uint64_t n) {
    if (ok_ && n <= s_.size() - pos_) return true;
    fail();
    return false;
  }
  std::uint64_t fail() {
    ok_ = false;
    return 0;
  }
  std::string_view s_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

tl::unexpected<Error> corrupt(std::string what) {
  return make_error(ErrorCode::kCorruption, "change feed: " + std::move(what));
}


constexpr std::uint8_t kVersion = 1;

}  // namespace

std::string envelope_key(std::string_view feed_name, feed::Seq seq, std::uint32_t part,
                         std::string_view label, CustomerId customer) {
  std::string k = "cdbfeed";
  k.push_back('\0');
  k.append(feed_name);
  k.push_back('\0');
  put_be64(k, seq);
  put_be32(k, part);
  k.append(label);
  k.push_back('\0');
  put_be64(k, customer);
  return k;
}

// ---- names ----

bool valid_feed_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

bool valid_label(std::string_view label) {
  if (label.empty() || label.size() > 32) return false;
  return std::all_of(label.begin(), label.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
}

bool valid_consumer_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == ':' || c == '-';
  });
}

std::string_view feed_table_name(std::uint8_t table) {
  switch (static_cast<FeedTable>(table)) {
    case FeedTable::kMeta: return "meta";
    case FeedTable::kCustomers: return "customers";
    case FeedTable::kRelationships: return "relationships";
    case FeedTable::kTransactions: return "transactions";
    case FeedTable::kSegments: return "idx.segments";
    case FeedTable::kAudit: return "audit";
    case FeedTable::kErasures: return "erasures";
    case FeedTable::kConsentHistory: return "consent_history";
    case FeedTable::kRuleMoves: return "rule_moves";
    case FeedTable::kHoldings: return "holdings";
    default: break;
  }
  const unsigned base = static_cast<unsigned>(FeedTable::kIndexBase);
  if (table >= base && table < base + index::kIndexCount)
    return index::spec(static_cast<index::IndexId>(table - base)).dbi_name;
  return {};
}

// ---- the recorder ----

FeedPart& FeedRecorder::part_for(std::string_view label, CustomerId customer) {
  auto key = std::make_pair(std::string(label), customer);
  auto it = index_.find(key);
  if (it != index_.end()) return parts_[it->second];
  index_.emplace(std::move(key), parts_.size());
  parts_.push_back(FeedPart{std::string(label), customer, {}});
  return parts_.back();
}

void FeedRecorder::kv(FeedOpKind kind, std::uint8_t table, std::string_view key,
                      std::string_view value, std::string_view default_label,
                      std::uint64_t default_customer) {
  std::string_view label = default_label;
  CustomerId customer = default_customer;
  const bool customers = table == static_cast<std::uint8_t>(FeedTable::kCustomers);
  // A customer record always travels in its own customer's part (an erasure purges by it),
  // whatever scope is open; other writes go to the scope's part, except the tables that are
  // nobody's: meta (id counters, the audit head, settings), the audit trail and the erasure
  // journal stay in their own parts, which an erasure never purges (a replica that applies
  // later must still get them).
  const bool nobodys = table == static_cast<std::uint8_t>(FeedTable::kMeta) ||
                       table == static_cast<std::uint8_t>(FeedTable::kAudit) ||
                       table == static_cast<std::uint8_t>(FeedTable::kErasures);
  if (!scope_label.empty() && !nobodys && (!customers || scope_customer == default_customer)) {
    label = scope_label;
    customer = scope_customer;
  }
  FeedOp op;
  op.ordinal = ordinal_++;
  op.kind = kind;
  op.table = table;
  op.key.assign(key);
  if (kind != FeedOpKind::kDel) op.value.assign(value);
  part_for(label, customer).ops.push_back(std::move(op));
}

void FeedRecorder::bit(std::string_view posting, CustomerId id, bool set) {
  FeedOp op;
  op.ordinal = ordinal_++;
  op.kind = set ? FeedOpKind::kBitSet : FeedOpKind::kBitClear;
  op.key.assign(posting);
  op.id = id;
  // A customer's bits travel in that customer's customers part whatever the scope: plaintext
  // posting keys hold its values, so they must be purged with it.
  part_for("customers", id).ops.push_back(std::move(op));
}

void FeedRecorder::erase(CustomerId id, EraseMode mode, std::int64_t stamp) {
  // What this transaction recorded of the customer before its erasure is dropped too: the
  // replica's replay makes the same end state, and those ops held the customer's data.
  for (auto& p : parts_)
    if (p.customer == id) p.ops.clear();
  FeedOp op;
  op.ordinal = ordinal_++;
  op.kind = FeedOpKind::kErase;
  op.id = id;
  op.mode = mode;
  op.stamp = stamp;
  part_for("erasure", 0).ops.push_back(std::move(op));
  erased_.push_back(id);
}

// ---- the codec ----

std::string encode_feed_state(const FeedState& s) {
  std::string out;
  out.push_back(static_cast<char>(kVersion));
  out.push_back(static_cast<char>(s.role));
  put_be64(out, s.last);
  put_be64(out, s.floor);
  put_be64(out, s.keep_last);
  out.push_back(static_cast<char>(s.name.size()));
  out.append(s.name);
  out.push_back(static_cast<char>((s.source.size() >> 8) & 0xFF));
  out.push_back(static_cast<char>(s.source.size() & 0xFF));
  out.append(s.source);
  return out;
}

Result<FeedState> decode_feed_state(std::string_view bytes) {
  Reader r(bytes);
  FeedState s;
  if (r.u8() != kVersion) return corrupt("meta feed.state: unknown layout version");
  const auto role = r.u8();
  if (role > 2) return corrupt("meta feed.state: bad role " + std::to_string(role));
  s.role = static_cast<feed::Role>(role);
  s.last = r.u64();
  s.floor = r.u64();
  s.keep_last = r.u64();
  const auto n = r.u8();
  s.name.assign(r.bytes(n));
  const auto m = r.u16();
  s.source.assign(r.bytes(m));
  if (!r.done()) return corrupt("meta feed.state: malformed");
  if (s.floor > s.last) return corrupt("meta feed.state: floor beyond the last seq");
  if (!s.name.empty() && !valid_feed_name(s.name)) return corrupt("meta feed.state: bad name");
  return s;
}

std::string encode_consumer(const ConsumerValue& v) {
  std::string out;
  out.push_back(static_cast<char>(kVersion));
  put_be64(out, v.acked);
  put_be64(out, static_cast<std::uint64_t>(v.updated_at));
  return out;
}

Result<ConsumerValue> decode_consumer(std::string_view bytes) {
  Reader r(bytes);
  ConsumerValue v;
  if (r.u8() != kVersion) return corrupt("consumer: unknown layout version");
  v.acked = r.u64();
  v.updated_at = static_cast<std::int64_t>(r.u64());
  if (!r.done()) return corrupt("consumer: malformed");
  return v;
}

std::string feed_key(feed::Seq seq, std::uint32_t part) {
  std::string k;
  put_be64(k, seq);
  put_be32(k, part);
  return k;
}

Result<std::pair<feed::Seq, std::uint32_t>> decode_feed_key(std::string_view key) {
  if (key.size() != 12) return corrupt("key of " + std::to_string(key.size()) + " bytes, expected 12");
  Reader r(key);
  const auto seq = r.u64();
  const auto part = r.u32();
  if (seq == 0) return corrupt("entry seq 0");
  return std::make_pair(seq, part);
}

std::string encode_entry_header(const EntryHeader& h) {
  std::string out;
  out.push_back(static_cast<char>(kVersion));
  put_be64(out, static_cast<std::uint64_t>(h.committed_at));
  put_be32(out, h.part_count);
  put_be32(out, static_cast<std::uint32_t>(h.erased.size()));
  for (auto id : h.erased) put_be64(out, id);
  return out;
}

Result<EntryHeader> decode_entry_header(std::string_view bytes) {
  Reader r(bytes);
  EntryHeader h;
  if (r.u8() != kVersion) return corrupt("entry header: unknown layout version");
  h.committed_at = static_cast<std::int64_t>(r.u64());
  h.part_count = r.u32();
  const auto n = r.u32();
  if (!r.ok() || n > r.left() / 8) return corrupt("entry header: malformed");
  for (std::uint32_t i = 0; i < n; ++i) h.erased.push_back(r.u64());
  if (!r.done()) return corrupt("entry header: malformed");
  return h;
}

std::string encode_part_row(std::string_view label, CustomerId customer, std::string_view payload) {
  std::string out;
  out.reserve(2 + label.size() + 8 + payload.size());
  out.push_back(static_cast<char>(kVersion));
  out.push_back(static_cast<char>(label.size()));
  out.append(label);
  put_be64(out, customer);
  out.append(payload);
  return out;
}

Result<PartRow> decode_part_row(std::string_view bytes) {
  Reader r(bytes);
  PartRow row;
  if (r.u8() != kVersion) return corrupt("part: unknown layout version");
  const auto n = r.u8();
  row.label = r.bytes(n);
  row.customer = r.u64();
  if (!r.ok() || !valid_label(row.label)) return corrupt("part: malformed header");
  row.payload = r.rest();
  return row;
}

std::string encode_part_payload(const codec::RecordCodec& codec, std::string_view feed_name,
                                feed::Seq seq, std::uint32_t part, std::string_view label,
                                CustomerId customer, const std::vector<FeedOp>& ops) {
  std::string body;
  put_varint(body, ops.size());
  for (const auto& op : ops) {
    put_varint(body, op.ordinal);
    body.push_back(static_cast<char>(op.kind));
    switch (op.kind) {
      case FeedOpKind::kPut:
      case FeedOpKind::kDelDup:
        body.push_back(static_cast<char>(op.table));
        put_varint(body, op.key.size());
        body.append(op.key);
        put_varint(body, op.value.size());
        body.append(op.value);
        break;
      case FeedOpKind::kDel:
        body.push_back(static_cast<char>(op.table));
        put_varint(body, op.key.size());
        body.append(op.key);
        break;
      case FeedOpKind::kBitSet:
      case FeedOpKind::kBitClear:
        put_varint(body, op.key.size());
        body.append(op.key);
        put_be64(body, op.id);
        break;
      case FeedOpKind::kErase:
        put_be64(body, op.id);
        body.push_back(static_cast<char>(op.mode));
        put_be64(body, static_cast<std::uint64_t>(op.stamp));
        break;
    }
  }
  const std::string key = envelope_key(feed_name, seq, part, label, customer);
  std::vector<std::uint8_t> sealed;
  codec.wrap(codec::Table::kFeed, as_bytes(key), as_bytes(body), sealed);
  std::string out;
  out.reserve(5 + sealed.size());
  out.push_back(static_cast<char>(kVersion));
  put_be32(out, part);
  out.append(reinterpret_cast<const char*>(sealed.data()), sealed.size());
  return out;
}

Result<std::uint32_t> payload_part_number(std::string_view payload) {
  Reader r(payload);
  if (r.u8() != kVersion) return corrupt("part payload: unknown layout version");
  const auto part = r.u32();
  if (!r.ok() || part == kEntryHeaderPart) return corrupt("part payload: malformed");
  return part;
}

Result<std::vector<FeedOp>> decode_part_payload(const codec::RecordCodec& codec,
                                                std::string_view feed_name, feed::Seq seq,
                                                std::string_view label, CustomerId customer,
                                                std::string_view payload) {
  auto part = payload_part_number(payload);
  if (!part) return tl::unexpected(part.error());
  const std::string key = envelope_key(feed_name, seq, *part, label, customer);
  std::vector<std::uint8_t> scratch;
  auto body = codec.unwrap(codec::Table::kFeed, as_bytes(key), as_bytes(payload.substr(5)), scratch);
  if (!body) {
    const std::string where = "entry " + std::to_string(seq) + " part " + std::to_string(*part);
    // Authentication failures are kCorruption too (feed.h: a replica of another key, damage).
    return corrupt(where + ": " + body.error().message());
  }
  Reader r(as_view(*body));
  const auto n = r.varint();
  if (!r.ok() || n > r.left()) return corrupt("part payload: malformed op count");
  std::vector<FeedOp> ops;
  ops.reserve(n);
  for (std::uint64_t i = 0; i < n; ++i) {
    FeedOp op;
    const auto ordinal = r.varint();
    if (ordinal > UINT32_MAX) return corrupt("part payload: ordinal out of range");
    op.ordinal = static_cast<std::uint32_t>(ordinal);
    const auto kind = r.u8();
    switch (kind) {
      case static_cast<std::uint8_t>(FeedOpKind::kPut):
      case static_cast<std::uint8_t>(FeedOpKind::kDelDup):
        op.table = r.u8();
        op.key.assign(r.bytes(r.varint()));
        op.value.assign(r.bytes(r.varint()));
        break;
      case static_cast<std::uint8_t>(FeedOpKind::kDel):
        op.table = r.u8();
        op.key.assign(r.bytes(r.varint()));
        break;
      case static_cast<std::uint8_t>(FeedOpKind::kBitSet):
      case static_cast<std::uint8_t>(FeedOpKind::kBitClear):
        op.key.assign(r.bytes(r.varint()));
        op.id = r.u64();
        break;
      case static_cast<std::uint8_t>(FeedOpKind::kErase): {
        op.id = r.u64();
        const auto mode = r.u8();
        if (mode > 1) return corrupt("part payload: bad erase mode");
        op.mode = static_cast<EraseMode>(mode);
        op.stamp = static_cast<std::int64_t>(r.u64());
        break;
      }
      default:
        return corrupt("part payload: unknown op kind " + std::to_string(kind));
    }
    op.kind = static_cast<FeedOpKind>(kind);
    if (!r.ok()) return corrupt("part payload: truncated op");
    if ((op.kind == FeedOpKind::kPut || op.kind == FeedOpKind::kDel ||
         op.kind == FeedOpKind::kDelDup) &&
        (feed_table_name(op.table).empty() || op.key.empty()))
      return corrupt("part payload: op on unknown table " + std::to_string(op.table));
    ops.push_back(std::move(op));
  }
  if (!r.done()) return corrupt("part payload: trailing bytes");
  return ops;
}

// ---- capture ----

namespace {

// The op table id of `table` in d's catalog; 0: not recorded (the feed's own tables).
std::uint8_t table_id(const DatabaseImpl::Tables& t, storage::Table table) {
  const unsigned dbi = table.dbi;
  if (dbi == t.meta.dbi) return static_cast<std::uint8_t>(FeedTable::kMeta);
  if (dbi == t.customers.dbi) return static_cast<std::uint8_t>(FeedTable::kCustomers);
  if (dbi == t.relationships.dbi) return static_cast<std::uint8_t>(FeedTable::kRelationships);
  if (dbi == t.transactions.dbi) return static_cast<std::uint8_t>(FeedTable::kTransactions);
  if (dbi == t.segments.dbi) return static_cast<std::uint8_t>(FeedTable::kSegments);
  if (dbi == t.audit.dbi) return static_cast<std::uint8_t>(FeedTable::kAudit);
  if (dbi == t.erasures.dbi) return static_cast<std::uint8_t>(FeedTable::kErasures);
  if (dbi == t.consent_history.dbi) return static_cast<std::uint8_t>(FeedTable::kConsentHistory);
  if (dbi == t.rule_moves.dbi) return static_cast<std::uint8_t>(FeedTable::kRuleMoves);
  if (dbi == t.holdings.dbi) return static_cast<std::uint8_t>(FeedTable::kHoldings);
  for (std::size_t i = 0; i < index::kIndexCount; ++i)
    if (dbi == t.index[i].dbi)
      return static_cast<std::uint8_t>(static_cast<unsigned>(FeedTable::kIndexBase) + i);
  return 0;  // feed, feed_consumers
}

// Meta keys local to a file (never recorded): the header, key material and its binding, the
// nonce epoch, the feed's own state, shard placement and scrub's ageing counter (scrub.cc). key_header and personal_key travel
// together (change_key rewraps both under the file's own passphrase): a replica keeps its own.
bool local_meta(std::string_view key) {
  return key == kHeaderKey || key == kKeyHeaderKey || key == kFileIdKey ||
         key == kKeyBindingKey || key == kEpochKey || key == kPersonalKeyKey || key == "shard" ||
         key == "scrub.age" || key.starts_with("feed.");
}

}  // namespace

namespace {
std::uint64_t be64_at(storage::Bytes b, std::size_t at) { return coding::get_u64(b.data() + at); }
}  // namespace

void feed_capture(const DatabaseImpl& d, TxnState& st, storage::Table table, FeedOpKind kind,
                  storage::Bytes key, std::optional<storage::Bytes> value) {
  FeedRecorder* rec = st.feed.get();
  if (!rec) return;
  const std::uint8_t id = table_id(d.tables(), table);
  if (id == 0) return;
  if (id == static_cast<std::uint8_t>(FeedTable::kSegments) && kind == FeedOpKind::kPut) return;
  if (id == static_cast<std::uint8_t>(FeedTable::kMeta) && local_meta(as_view(key))) return;
  // The default part (no scope open): the customer a key or value names where the table's
  // coding says so, so that batches without scopes still put a customer's data in its part.
  std::string_view label = "index";
  std::uint64_t customer = 0;
  switch (static_cast<FeedTable>(id)) {
    case FeedTable::kMeta: label = "meta"; break;
    case FeedTable::kAudit: label = "audit"; break;
    case FeedTable::kCustomers:
      label = "customers";
      if (key.size() == 8) customer = be64_at(key, 0);
      break;
    case FeedTable::kRelationships: label = "relationships"; break;
    case FeedTable::kTransactions: label = "transactions"; break;
    case FeedTable::kHoldings: label = "holdings"; break;
    case FeedTable::kSegments: label = "segments"; break;
    case FeedTable::kErasures: label = "erasures"; break;
    case FeedTable::kConsentHistory:  // key: customer id || seq
      label = "consents";
      if (key.size() >= 8) customer = be64_at(key, 0);
      break;
    case FeedTable::kRuleMoves:  // key: customer id || seq
      label = "rule_moves";
      if (key.size() >= 8) customer = be64_at(key, 0);
      break;
    default: {
      const auto ix = static_cast<index::IndexId>(id - static_cast<unsigned>(FeedTable::kIndexBase));
      switch (ix) {
        case index::IndexId::kExternalRef:
        case index::IndexId::kEmail:
        case index::IndexId::kPhone:  // value: ... || customer id
          label = "customers";
          if (value && value->size() >= 8) customer = be64_at(*value, value->size() - 8);
          break;
        case index::IndexId::kRelByCustomer:  // key: customer id
          label = "relationships";
          if (key.size() == 8) customer = be64_at(key, 0);
          break;
        case index::IndexId::kTxnByCustomer:
          label = "transactions";
          if (key.size() == 8) customer = be64_at(key, 0);
          break;
        case index::IndexId::kHoldingByCustomer:
          label = "holdings";
          if (key.size() == 8) customer = be64_at(key, 0);
          break;
        default: break;
      }
    }
  }
  if (kind == FeedOpKind::kDel && value) kind = FeedOpKind::kDelDup;
  rec->kv(kind, id, as_view(key), value ? as_view(*value) : std::string_view(), label, customer);
}

Result<FeedState> load_feed_state(const DatabaseImpl& d, TxnState& st) {
  if (!d.tables().feed || !d.tables().meta) return FeedState{};
  auto v = d.get(st, d.tables().meta, as_bytes(kFeedStateKey));
  if (!v) return tl::unexpected(v.error());
  if (!*v) return FeedState{};
  return decode_feed_state(as_view(**v));
}

Status store_feed_state(DatabaseImpl& d, TxnState& st, const FeedState& s) {
  const std::string v = encode_feed_state(s);
  return d.put(st, d.tables().meta, as_bytes(kFeedStateKey), as_bytes(v));
}

Result<feed::Seq> store_feed_entry(DatabaseImpl& d, TxnState& st) {
  std::shared_ptr<FeedRecorder> rec = std::move(st.feed);  // nothing more is recorded
  if (!rec || rec->empty()) return feed::Seq{0};
  auto state = load_feed_state(d, st);
  if (!state) return tl::unexpected(state.error());
  // The feed was turned off in this transaction (feed::disable): nothing to store.
  if (state->role != feed::Role::kPrimary) return feed::Seq{0};
  if (state->name.empty()) return corrupt("meta feed.state: a primary without a name");
  const feed::Seq seq = state->last + 1;
  EntryHeader header;
  header.committed_at = stamp_time(st).time_since_epoch().count();
  header.erased = rec->erased();
  std::uint32_t part = 0;
  for (const auto& p : rec->parts()) {
    if (p.ops.empty()) continue;  // all its ops dropped (an erasure of its customer)
    const std::string payload =
        encode_part_payload(d.codec(), state->name, seq, part, p.label, p.customer, p.ops);
    const std::string row = encode_part_row(p.label, p.customer, payload);
    const std::string key = feed_key(seq, part);
    if (auto s = d.put(st, d.tables().feed, as_bytes(key), as_bytes(row)); !s)
      return tl::unexpected(s.error());
    ++part;
  }
  header.part_count = part;
  const std::string hv = encode_entry_header(header);
  const std::string hk = feed_key(seq, kEntryHeaderPart);
  if (auto s = d.put(st, d.tables().feed, as_bytes(hk), as_bytes(hv)); !s)
    return tl::unexpected(s.error());
  state->last = seq;
  if (auto s = store_feed_state(d, st, *state); !s) return tl::unexpected(s.error());
  return seq;
}

FeedScope::FeedScope(TxnState& st, std::string_view table, CustomerId customer) : st_(&st) {
  FeedRecorder* rec = st.feed.get();
  if (!rec) return;
  rec_ = st.feed;
  prev_table_ = std::move(rec->scope_label);
  prev_customer_ = rec->scope_customer;
  rec->scope_label.assign(table);
  rec->scope_customer = customer;
  active_ = true;
}

FeedScope::~FeedScope() {
  if (!active_) return;
  rec_->scope_label = std::move(prev_table_);
  rec_->scope_customer = prev_customer_;
}

void feed_bit(TxnState& st, std::string_view posting, CustomerId id, bool set) {
  if (st.feed) st.feed->bit(posting, id, set);
}

Status feed_erasure(DatabaseImpl& d, TxnState& st, CustomerId id, EraseMode mode) {
  if (!st.feed) return {};
  st.feed->erase(id, mode, stamp_time(st).time_since_epoch().count());
  // The parts of earlier entries that hold the customer's changes leave the feed now, in the
  // erasure's transaction. The feed is walked once per transaction (keys collected first: a
  // walk's cursor must not see deletes).
  auto& stored = st.feed->stored_parts;
  if (!stored) {
    std::unordered_map<CustomerId, std::vector<std::string>> by_customer;
    storage::Walker walk(st.txn, d.tables().feed, "change feed read");
    Status bad;
    auto s = walk.all([&](storage::Bytes key, storage::Bytes value) {
      if (key.size() == 12 && coding::get_u32(key.data() + 8) == kEntryHeaderPart)
        return storage::Next::go_on();
      auto row = decode_part_row(as_view(value));
      if (!row) {
        bad = tl::unexpected(row.error());
        return storage::Next::stop();
      }
      if (row->customer != 0) by_customer[row->customer].emplace_back(as_view(key));
      return storage::Next::go_on();
    });
    if (!s) return tl::unexpected(d.fail(st, s.error()));
    if (!bad) return bad;
    stored = std::move(by_customer);
  }
  auto it = stored->find(id);
  if (it == stored->end()) return {};
  const std::vector<std::string> doomed = std::move(it->second);
  stored->erase(it);
  for (const auto& k : doomed)
    if (auto r = d.del(st, d.tables().feed, as_bytes(k)); !r) return r;
  return {};
}

}  // namespace custdb::detail
