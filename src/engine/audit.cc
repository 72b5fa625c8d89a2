// The audit trail: append-only, hash-chained entries (layout in audit.h).
#include "engine/audit.h"

#include <pwd.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <sodium.h>

#include "crypto/crypto.h"
#include "engine/db_impl.h"
#include "util/coding.h"
#include "util/message.h"

namespace custdb::detail {

namespace {

using coding::as_bytes;

constexpr std::uint8_t kBodyVersion = 1;
constexpr std::size_t kMaxCommand = 200;
constexpr std::size_t kMaxDetail = 1000;
constexpr std::size_t kMaxSubjects = 10000;
constexpr char kAuditContext[] = "cdbaudit";
static_assert(sizeof kAuditContext - 1 == crypto_kdf_CONTEXTBYTES);

bool printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

// The chain key: the data key's subkey in encrypted mode, none (empty) in plaintext.
class ChainKey {
 public:
  explicit ChainKey(const DatabaseImpl& db) {
    if (!db.encrypted()) return;
    crypto::ensure_sodium();
    key_ = crypto::SecretBuffer(crypto_generichash_blake2b_KEYBYTES);
    crypto_kdf_derive_from_key(key_.data(), key_.size(), 1, kAuditContext,
                               db.data_key().data());
  }
  // h_n = BLAKE2b-256(key; prev || be64(seq) || body)
  AuditHash next(const AuditHash& prev, std::uint64_t seq, storage::Bytes body) const {
    crypto_generichash_blake2b_state s;
    crypto_generichash_blake2b_init(&s, key_.size() ? key_.data() : nullptr, key_.size(),
                                    kAuditHashSize);
    crypto_generichash_blake2b_update(&s, prev.data(), prev.size());
    std::uint8_t be[8];
    coding::put_u64(be, seq);
    crypto_generichash_blake2b_update(&s, be, sizeof be);
    crypto_generichash_blake2b_update(&s, body.data(), body.size());
    AuditHash h{};
    crypto_generichash_blake2b_final(&s, h.data(), h.size());
    sodium_memzero(&s, sizeof s);
    return h;
  }

 private:
  crypto::SecretBuffer key_;
};

std::string os_user_name(std::uint32_t uid) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found && found->pw_name) {
    std::string name = found->pw_name;
    if (!name.empty() && name.size() <= 64 && printable_ascii(name)) return name;
  }
  return "uid " + std::to_string(uid);
}

void put_u16(std::string& out, std::size_t v) {
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}
void put_u32(std::string& out, std::uint32_t v) {
  std::uint8_t b[4];
  coding::put_u32(b, v);
  out.append(reinterpret_cast<const char*>(b), 4);
}
void put_u64(std::string& out, std::uint64_t v) {
  std::uint8_t b[8];
  coding::put_u64(b, v);
  out.append(reinterpret_cast<const char*>(b), 8);
}

std::string encode_body(const AuditEntry& e) {
  std::string out;
  out.push_back(static_cast<char>(kBodyVersion));
  std::uint8_t at[8];
  coding::put_i64(at, e.at.time_since_epoch().count());
  out.append(reinterpret_cast<const char*>(at), 8);
  put_u32(out, e.uid);
  put_u32(out, e.pid);
  put_u16(out, e.os_user.size());
  out += e.os_user;
  put_u16(out, e.event.command.size());
  out += e.event.command;
  put_u64(out, e.event.count);
  put_u32(out, static_cast<std::uint32_t>(e.event.subjects.size()));
  for (CustomerId id : e.event.subjects) put_u64(out, id);
  put_u32(out, static_cast<std::uint32_t>(e.event.detail.size()));
  out += e.event.detail;
  return out;
}

// Parses body || prev hash. kCorruption naming the entry on any mismatch.
Result<std::pair<AuditEntry, AuditHash>> decode_entry(std::uint64_t seq, storage::Bytes payload) {
  auto bad = [&](const char* what) {
    return make_error(ErrorCode::kCorruption,
                      "audit entry " + std::to_string(seq) + ": " + what);
  };
  if (payload.size() < 1 + 8 + 4 + 4 + 2 + 2 + 8 + 4 + 4 + kAuditHashSize)
    return bad("too short");
  const std::uint8_t* p = payload.data();
  const std::uint8_t* end = p + payload.size() - kAuditHashSize;
  auto need = [&](std::size_t n) { return static_cast<std::size_t>(end - p) >= n; };
  if (*p++ != kBodyVersion) return bad("unknown version");
  AuditEntry e;
  e.seq = seq;
  e.at = Timestamp(std::chrono::milliseconds(coding::get_i64(p)));
  p += 8;
  e.uid = coding::get_u32(p);
  p += 4;
  e.pid = coding::get_u32(p);
  p += 4;
  auto text16 = [&](std::string& out) {
    if (!need(2)) return false;
    const std::size_t n = (std::size_t{p[0]} << 8) | p[1];
    p += 2;
    if (!need(n)) return false;
    out.assign(reinterpret_cast<const char*>(p), n);
    p += n;
    return true;
  };
  if (!text16(e.os_user) || !text16(e.event.command)) return bad("truncated text");
  if (!need(8 + 4)) return bad("truncated");
  e.event.count = coding::get_u64(p);
  p += 8;
  const std::uint32_t n = coding::get_u32(p);
  p += 4;
  if (n > kMaxSubjects || !need(std::size_t{n} * 8 + 4)) return bad("bad subject count");
  e.event.subjects.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i, p += 8) e.event.subjects.push_back(coding::get_u64(p));
  const std::uint32_t dn = coding::get_u32(p);
  p += 4;
  if (!need(dn)) return bad("truncated detail");
  e.event.detail.assign(reinterpret_cast<const char*>(p), dn);
  p += dn;
  if (p != end) return bad("trailing bytes");
  if (!printable_ascii(e.event.command) || !printable_ascii(e.event.detail) ||
      !printable_ascii(e.os_user))
    return bad("text not printable ASCII");
  AuditHash prev{};
  std::memcpy(prev.data(), end, kAuditHashSize);
  return std::pair<AuditEntry, AuditHash>(std::move(e), prev);
}

struct Head {
  std::uint64_t seq = 0;
  AuditHash hash{};
};

Result<std::optional<Head>> read_head(const DatabaseImpl& db, TxnState& st) {
  auto v = db.get_sealed_meta(st, kMetaAuditHead);
  if (!v) return tl::unexpected(v.error());
  if (!*v) return std::optional<Head>();
  if ((*v)->size() != 8 + kAuditHashSize)
    return make_error(ErrorCode::kCorruption, "meta audit.head: " + std::to_string((*v)->size()) +
                                                  " bytes, expected 40");
  Head h;
  h.seq = coding::get_u64(reinterpret_cast<const std::uint8_t*>((*v)->data()));
  std::memcpy(h.hash.data(), (*v)->data() + 8, kAuditHashSize);
  return std::optional<Head>(h);
}

// Stores entry e (e.seq must be head + 1) chained after `head`; updates the head.
Status put_audit_entry(DatabaseImpl& db, TxnState& st, const ChainKey& key, Head& head,
                 const AuditEntry& e) {
  const std::string body = encode_body(e);
  std::string payload = body;
  payload.append(reinterpret_cast<const char*>(head.hash.data()), kAuditHashSize);
  const std::string k = coding::be64(e.seq);
  std::vector<std::uint8_t> sealed;
  db.codec().wrap(codec::Table::kAudit, as_bytes(k), as_bytes(payload), sealed);
  if (auto s = db.put(st, db.tables().audit, as_bytes(k), sealed, storage::Put::kNoOverwrite); !s) {
    if (s.error().code() == ErrorCode::kAlreadyExists)
      return make_error(ErrorCode::kCorruption,
                        "audit entry " + std::to_string(e.seq) +
                            " exists beyond the chain head: verify the database");
    return s;
  }
  head.hash = key.next(head.hash, e.seq, as_bytes(body));
  head.seq = e.seq;
  std::string hv = coding::be64(head.seq);
  hv.append(reinterpret_cast<const char*>(head.hash.data()), kAuditHashSize);
  return db.put_sealed_meta(st, kMetaAuditHead, hv);
}

Status need_table(const DatabaseImpl& db) {
  if (!db.tables().audit)
    return make_error(ErrorCode::kFailedPrecondition,
                      "this file (format " + std::to_string(db.file_format()) +
                          ") has no audit trail: open it read-write once to upgrade it");
  return {};
}

}  // namespace

Status validate_audit_event(const AuditEvent& e) {
  if (e.command.empty())
    return make_error(ErrorCode::kInvalidArgument, "audit command: empty");
  if (e.command.size() > kMaxCommand)
    return make_error(ErrorCode::kInvalidArgument,
                      "audit command: " + std::to_string(e.command.size()) +
                          " bytes, at most 200");
  if (!printable_ascii(e.command))
    return make_error(ErrorCode::kInvalidArgument,
                      "audit command " + message::quoted(e.command) +
                          ": only printable ASCII (no personal data)");
  if (e.detail.size() > kMaxDetail)
    return make_error(ErrorCode::kInvalidArgument,
                      "audit detail: " + std::to_string(e.detail.size()) + " bytes, at most 1000");
  if (!printable_ascii(e.detail))
    return make_error(ErrorCode::kInvalidArgument,
                      "audit detail " + message::quoted(e.detail) +
                          ": only printable ASCII (no personal data)");
  if (e.subjects.size() > kMaxSubjects)
    return make_error(ErrorCode::kInvalidArgument,
                      "audit subjects: " + std::to_string(e.subjects.size()) +
                          " ids, at most 10000");
  return {};
}

Result<std::uint64_t> DatabaseImpl::append_audit(TxnState& st, const AuditEvent& event) {
  if (auto s = validate_audit_event(event); !s) return tl::unexpected(s.error());
  if (auto s = need_table(*this); !s) return tl::unexpected(s.error());
  auto head = read_head(*this, st);
  if (!head) return tl::unexpected(head.error());
  Head h = head->value_or(Head{});
  AuditEntry e;
  e.seq = h.seq + 1;
  e.at = stamp_time(st);
  e.uid = static_cast<std::uint32_t>(geteuid());
  e.pid = static_cast<std::uint32_t>(getpid());
  e.os_user = os_user_name(e.uid);
  e.event = event;
  const ChainKey key(*this);
  if (auto s = put_audit_entry(*this, st, key, h, e); !s) return tl::unexpected(s.error());
  return e.seq;
}

Result<std::vector<AuditEntry>> DatabaseImpl::audit_entries(TxnState& st,
                                                            const AuditFilter& filter) const {
  std::vector<AuditEntry> out;
  if (!tables().audit) return out;
  std::optional<Error> err;
  std::vector<std::uint8_t> scratch;
  auto s = storage::Walker(st.txn, tables().audit, "read audit trail")
               .all([&](storage::Bytes k, storage::Bytes v) {
                 const std::uint64_t seq = k.size() == 8 ? coding::get_u64(k.data()) : 0;
                 auto payload = codec().unwrap(codec::Table::kAudit, k, v, scratch);
                 if (!payload) {
                   err = payload.error();
                   return storage::Next::stop();
                 }
                 auto e = decode_entry(seq, *payload);
                 if (!e) {
                   err = e.error();
                   return storage::Next::stop();
                 }
                 AuditEntry& a = e->first;
                 if (filter.since && a.at < *filter.since) return storage::Next::go_on();
                 if (filter.subject &&
                     std::find(a.event.subjects.begin(), a.event.subjects.end(),
                               *filter.subject) == a.event.subjects.end())
                   return storage::Next::go_on();
                 out.push_back(std::move(a));
                 return storage::Next::go_on();
               });
  if (!s) return tl::unexpected(s.error());
  if (err) return tl::unexpected(*err);
  return out;
}

Status check_audit_chain(const DatabaseImpl& db, TxnState& st, std::uint64_t& entries,
                         const std::function<void(std::string)>& problem) {
  entries = 0;
  if (!db.tables().audit) return {};
  const ChainKey key(db);
  AuditHash h{};           // the chain hash after the last entry seen
  std::uint64_t last = 0;  // its seq
  std::vector<std::uint8_t> scratch;
  auto s = storage::Walker(st.txn, db.tables().audit, "check audit trail")
               .all([&](storage::Bytes k, storage::Bytes v) {
                 ++entries;
                 if (k.size() != 8) {
                   problem("audit key of " + std::to_string(k.size()) +
                           " bytes (an inserted entry)");
                   return storage::Next::go_on();
                 }
                 const std::uint64_t seq = coding::get_u64(k.data());
                 auto payload = db.codec().unwrap(codec::Table::kAudit, k, v, scratch);
                 if (!payload) {
                   problem("entry " + std::to_string(seq) +
                           " does not decode (edited, or moved from another seq): " +
                           payload.error().message());
                   last = seq;  // the chain cannot be followed through it
                   h = AuditHash{};
                   return storage::Next::go_on();
                 }
                 auto e = decode_entry(seq, *payload);
                 if (!e) {
                   problem(e.error().message());
                   last = seq;
                   h = AuditHash{};
                   return storage::Next::go_on();
                 }
                 if (seq != last + 1)
                   problem("entry " + std::to_string(seq) + " follows entry " +
                           std::to_string(last) + ": entries " + std::to_string(last + 1) +
                           (seq - 1 > last + 1 ? ".." + std::to_string(seq - 1) : "") +
                           " are missing (deleted)");
                 else if (e->second != h)
                   problem("entry " + std::to_string(seq) + " does not chain to entry " +
                           std::to_string(last) + ": an entry was edited, inserted or reordered");
                 const std::string body(reinterpret_cast<const char*>(payload->data()),
                                        payload->size() - kAuditHashSize);
                 h = key.next(e->second, seq, as_bytes(body));
                 // A stored previous hash that matched makes h the true chain hash; otherwise
                 // the chain is followed from this entry's own claim, so one break is one
                 // problem.
                 last = seq;
                 return storage::Next::go_on();
               });
  if (!s) return s;
  auto head = read_head(db, st);
  if (!head) {
    problem(head.error().message());
    return {};
  }
  if (!*head) {
    if (entries > 0) problem("entries exist but meta audit.head is missing");
    return {};
  }
  if ((*head)->seq != last)
    problem("the head names entry " + std::to_string((*head)->seq) + " but the last entry is " +
            std::to_string(last) +
            ((*head)->seq > last ? " (the last entries were deleted)" : " (entries were appended without the chain)"));
  else if ((*head)->hash != h)
    problem("the head's hash does not match entry " + std::to_string(last) +
            ": an entry was edited, inserted or reordered");
  return {};
}

Status copy_audit_entries(DatabaseImpl& to, TxnState& st, const std::vector<AuditEntry>& entries) {
  if (entries.empty()) return {};
  if (auto s = need_table(to); !s) return s;
  auto head = read_head(to, st);
  if (!head) return tl::unexpected(head.error());
  Head h = head->value_or(Head{});
  const ChainKey key(to);
  for (const AuditEntry& e : entries) {
    AuditEntry c = e;
    c.seq = h.seq + 1;
    if (auto s = put_audit_entry(to, st, key, h, c); !s) return s;
  }
  return {};
}

}  // namespace custdb::detail

namespace custdb {

Result<std::uint64_t> WriteTxn::record_audit_event(const AuditEvent& event) {
  return detail::run_write<std::uint64_t>(
      *this, [&](detail::TxnState& st) { return db_->append_audit(st, event); });
}

Result<std::uint64_t> Database::record_audit_event(const AuditEvent& event) {
  if (auto s = detail::validate_audit_event(event); !s) return tl::unexpected(s.error());
  std::uint64_t seq = 0;
  if (impl_->role() == KeyRole::kAnalyst) {
    // Analysts write nothing else (DatabaseImpl::begin); their audit entries are written
    // through a transaction that can only append one.
    auto st = impl_->begin(true, /*audit_only=*/true);
    if (!st) return tl::unexpected(st.error());
    auto r = impl_->append_audit(**st, event);
    if (!r) return r;
    if (auto c = impl_->commit(**st); !c) return tl::unexpected(c.error());
    return *r;
  }
  auto s = write([&](WriteTxn& txn) -> Status {
    auto r = txn.record_audit_event(event);
    if (!r) return tl::unexpected(r.error());
    seq = *r;
    return {};
  });
  if (!s) return tl::unexpected(s.error());
  return seq;
}

Result<std::vector<AuditEntry>> ReadView::audit_log(const AuditFilter& filter) const {
  if (!state_) return make_error(ErrorCode::kFailedPrecondition, "transaction finished");
  if (state_->poisoned) return tl::unexpected(*state_->failure);
  return db_->audit_entries(*state_, filter);
}

}  // namespace custdb
