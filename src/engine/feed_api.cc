// The change feed's public calls (custdb/feed.h): enable/disable, status, reading entries,
// waiting for commits, consumer cursors, truncation, and the replica side (apply). Bytes are
// feed_record.h's; capture is feed_record.cc's and the put/del seam's (store.cc).
#include "custdb/feed.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include "custdb/database.h"
#include "engine/db_impl.h"
#include "engine/feed_record.h"
#include "segment/segment_index.h"
#include "util/coding.h"

namespace custdb::feed {
namespace {

using detail::DatabaseImpl;
using detail::FeedOp;
using detail::FeedOpKind;
using detail::FeedState;
using detail::FeedTable;
using detail::TxnState;
using coding::as_bytes;
using coding::as_view;

DatabaseImpl& impl(Database& db) { return Database::Impl::of(db); }
// Reads only: begin(false) changes no state the const handle promises.
DatabaseImpl& impl(const Database& db) {
  return const_cast<DatabaseImpl&>(Database::Impl::of(db));
}

tl::unexpected<Error> not_enabled() {
  return make_error(ErrorCode::kFailedPrecondition,
                    "the change feed is not enabled (custdb feed enable)");
}

std::int64_t ms_now() { return detail::now_ms().time_since_epoch().count(); }

// Runs body in a write transaction of d and commits it (kBusy retried as write_retrying).
Status write(DatabaseImpl& d, const std::function<Status(TxnState&)>& body) {
  return d.write_retrying(body);
}

template <class T>
Result<T> read(DatabaseImpl& d, const std::function<Result<T>(TxnState&)>& body) {
  auto st = d.begin(false);
  if (!st) return tl::unexpected(st.error());
  return body(**st);
}

// Keys of every row of `table` with key < `below` (all when empty), collected before deleting.
Result<std::vector<std::string>> keys_below(DatabaseImpl& d, TxnState& st, storage::Table table,
                                            std::string_view below) {
  std::vector<std::string> keys;
  if (!table) return keys;
  storage::Walker walk(st.txn, table, "change feed read");
  auto s = walk.all([&](storage::Bytes k, storage::Bytes) {
    if (!below.empty() && as_view(k) >= below) return storage::Next::stop();
    keys.emplace_back(as_view(k));
    return storage::Next::go_on();
  });
  if (!s) return tl::unexpected(s.error());
  (void)d;
  return keys;
}

Status delete_keys(DatabaseImpl& d, TxnState& st, storage::Table table,
                   const std::vector<std::string>& keys) {
  for (const auto& k : keys)
    if (auto s = d.del(st, table, as_bytes(k)); !s) return s;
  return {};
}

Result<std::string> default_name(DatabaseImpl& d, TxnState& st) {
  auto id = d.get(st, d.tables().meta, as_bytes(detail::kFileIdKey));
  if (!id) return tl::unexpected(id.error());
  std::string name = "db";
  static constexpr char kHex[] = "0123456789abcdef";
  if (*id)
    for (std::size_t i = 0; i < (*id)->size() && i < 6; ++i) {
      name += kHex[(**id)[i] >> 4];
      name += kHex[(**id)[i] & 15];
    }
  if (name.size() == 2) name += "000000000000";
  return name;
}

Result<std::optional<detail::ConsumerValue>> load_consumer(DatabaseImpl& d, TxnState& st,
                                                           std::string_view name) {
  auto v = d.get(st, d.tables().feed_consumers, as_bytes(name));
  if (!v) return tl::unexpected(v.error());
  if (!*v) return std::optional<detail::ConsumerValue>();
  auto c = detail::decode_consumer(as_view(**v));
  if (!c) return tl::unexpected(c.error().with_context("consumer " + std::string(name)));
  return std::optional<detail::ConsumerValue>(*c);
}

Status store_consumer(DatabaseImpl& d, TxnState& st, std::string_view name,
                      const detail::ConsumerValue& v) {
  const std::string bytes = detail::encode_consumer(v);
  return d.put(st, d.tables().feed_consumers, as_bytes(name), as_bytes(bytes));
}

// The decoded ops of every part of `entry`, merged in ordinal order.
Result<std::vector<FeedOp>> entry_ops(const DatabaseImpl& d, std::string_view feed_name,
                                      const Entry& entry) {
  std::vector<FeedOp> ops;
  for (const auto& p : entry.parts) {
    if (!detail::valid_label(p.table))
      return make_error(ErrorCode::kCorruption,
                        "change feed: entry " + std::to_string(entry.seq) + ": bad table label");
    auto part_ops = detail::decode_part_payload(d.codec(), feed_name, entry.seq, p.table,
                                                p.customer, p.payload);
    if (!part_ops) return tl::unexpected(part_ops.error());
    for (auto& op : *part_ops) ops.push_back(std::move(op));
  }
  std::stable_sort(ops.begin(), ops.end(),
                   [](const FeedOp& a, const FeedOp& b) { return a.ordinal < b.ordinal; });
  for (std::size_t i = 1; i < ops.size(); ++i)
    if (ops[i].ordinal == ops[i - 1].ordinal)
      return make_error(ErrorCode::kCorruption, "change feed: entry " + std::to_string(entry.seq) +
                                                    ": two ops with one ordinal");
  return ops;
}

Result<storage::Table> op_table(const DatabaseImpl& d, std::uint8_t id) {
  const auto& t = d.tables();
  storage::Table table;
  switch (static_cast<FeedTable>(id)) {
    case FeedTable::kMeta: table = t.meta; break;
    case FeedTable::kCustomers: table = t.customers; break;
    case FeedTable::kRelationships: table = t.relationships; break;
    case FeedTable::kTransactions: table = t.transactions; break;
    case FeedTable::kSegments: table = t.segments; break;
    case FeedTable::kAudit: table = t.audit; break;
    case FeedTable::kErasures: table = t.erasures; break;
    case FeedTable::kConsentHistory: table = t.consent_history; break;
    case FeedTable::kRuleMoves: table = t.rule_moves; break;
    case FeedTable::kHoldings: table = t.holdings; break;
    default: {
      const unsigned base = static_cast<unsigned>(FeedTable::kIndexBase);
      if (id >= base && id < base + index::kIndexCount) table = t.index[id - base];
    }
  }
  if (!table)
    return make_error(ErrorCode::kCorruption,
                      "change feed: an op names table " + std::to_string(id) +
                          ", which this file does not have");
  return table;
}

std::string describe_key(std::uint8_t table, std::string_view key) {
  switch (static_cast<FeedTable>(table)) {
    case FeedTable::kCustomers:
    case FeedTable::kRelationships:
    case FeedTable::kTransactions:
    case FeedTable::kHoldings:
    case FeedTable::kAudit:
    case FeedTable::kErasures:
      if (key.size() == 8)
        return std::to_string(coding::get_u64(reinterpret_cast<const std::uint8_t*>(key.data())));
      break;
    case FeedTable::kMeta: {
      const bool printable = std::all_of(key.begin(), key.end(),
                                         [](char c) { return c >= 0x20 && c < 0x7F; });
      if (printable && !key.empty()) return std::string(key);
      break;
    }
    default: break;
  }
  return "<" + std::to_string(key.size()) + " bytes>";
}

const char* mode_name(EraseMode m) { return m == EraseMode::kFull ? "full" : "keep_ledger"; }

}  // namespace

// ---- enable / disable / status ---------------------------------------------------------------

Status enable(Database& db, const FeedOptions& options) {
  if (!options.name.empty() && !detail::valid_feed_name(options.name))
    return make_error(ErrorCode::kInvalidArgument,
                      "feed name: 1..64 bytes of [a-z0-9_-], not \"" + options.name + "\"");
  auto& d = impl(db);
  return write(d, [&](TxnState& st) -> Status {
    if (!d.tables().feed)
      return make_error(ErrorCode::kUnsupported, "the file has no change feed tables");
    auto state = detail::load_feed_state(d, st);
    if (!state) return tl::unexpected(state.error());
    if (state->role == Role::kReplica)
      return make_error(ErrorCode::kFailedPrecondition,
                        "this database is a replica of " + state->name +
                            ": feed::disable promotes it before it can record a feed of its own");
    if (state->role == Role::kPrimary) {
      if (!options.name.empty() && options.name != state->name)
        return make_error(ErrorCode::kInvalidArgument,
                          "the feed is enabled as \"" + state->name + "\", not \"" +
                              options.name + "\"");
      if (state->keep_last == options.keep_last) return {};
      state->keep_last = options.keep_last;
      return detail::store_feed_state(d, st, *state);
    }
    FeedState s = *state;
    s.role = Role::kPrimary;
    if (options.name.empty()) {
      auto n = default_name(d, st);
      if (!n) return tl::unexpected(n.error());
      s.name = *n;
    } else {
      s.name = options.name;
    }
    s.keep_last = options.keep_last;
    // After a disable, the changes made while the feed was off are in no entry: the new feed
    // starts one seq beyond the old one's last, so a replica of the old feed meets a gap
    // (re-seed from a backup) instead of carrying on silently without them.
    if (s.last > 0) s.last += 1;
    s.floor = s.last;  // nothing before this enable is in the feed
    s.source.clear();
    if (auto p = detail::store_feed_state(d, st, s); !p) return p;
    // The enable's own audit entry is the feed's first change (so a replica's audit chain
    // equals the primary's from here on).
    st.feed = std::make_shared<detail::FeedRecorder>();
    auto a = d.append_audit(st, {"feed_enable", {}, 1, "name " + s.name});
    if (!a) return tl::unexpected(a.error());
    return {};
  });
}

Status disable(Database& db) {
  auto& d = impl(db);
  detail::ReplicaWrites allow;  // disable promotes a replica
  return write(d, [&](TxnState& st) -> Status {
    if (!d.tables().feed) return {};
    auto state = detail::load_feed_state(d, st);
    if (!state) return tl::unexpected(state.error());
    if (state->role == Role::kNone) return {};
    const Role was = state->role;
    auto rows = keys_below(d, st, d.tables().feed, {});
    if (!rows) return tl::unexpected(rows.error());
    if (auto s = delete_keys(d, st, d.tables().feed, *rows); !s) return s;
    auto consumers = keys_below(d, st, d.tables().feed_consumers, {});
    if (!consumers) return tl::unexpected(consumers.error());
    if (auto s = delete_keys(d, st, d.tables().feed_consumers, *consumers); !s) return s;
    FeedState s = *state;
    s.role = Role::kNone;
    s.floor = s.last;
    s.source.clear();
    const std::string name = s.name;
    s.name.clear();
    if (auto p = detail::store_feed_state(d, st, s); !p) return p;
    st.feed.reset();  // the feed is off from here: this transaction is not an entry
    auto a = d.append_audit(st, {"feed_disable", {}, 1,
                                 std::string(was == Role::kReplica ? "replica of " : "name ") + name});
    if (!a) return tl::unexpected(a.error());
    return {};
  });
}

Result<FeedStatus> status(const Database& db) {
  auto& d = impl(db);
  return read<FeedStatus>(d, [&](TxnState& st) -> Result<FeedStatus> {
    FeedStatus out;
    auto state = detail::load_feed_state(d, st);
    if (!state) return tl::unexpected(state.error());
    out.role = state->role;
    out.name = state->name;
    out.last = state->last;
    out.keep_last = state->keep_last;
    out.source = state->source;
    if (!d.tables().feed) return out;
    Status bad;
    auto s = storage::Walker(st.txn, d.tables().feed, "change feed read")
                 .all([&](storage::Bytes k, storage::Bytes v) {
                   auto key = detail::decode_feed_key(as_view(k));
                   if (!key) {
                     bad = tl::unexpected(key.error());
                     return storage::Next::stop();
                   }
                   if (out.first == 0) out.first = key->first;
                   if (key->second == detail::kEntryHeaderPart) {
                     ++out.entries;
                   } else {
                     auto row = detail::decode_part_row(as_view(v));
                     if (!row) {
                       bad = tl::unexpected(row.error());
                       return storage::Next::stop();
                     }
                     out.bytes += row->payload.size();
                   }
                   return storage::Next::go_on();
                 });
    if (!s) return tl::unexpected(s.error());
    if (!bad) return tl::unexpected(bad.error());
    s = storage::Walker(st.txn, d.tables().feed_consumers, "change feed consumers")
            .all([&](storage::Bytes k, storage::Bytes v) {
              auto c = detail::decode_consumer(as_view(v));
              if (!c) {
                bad = tl::unexpected(c.error());
                return storage::Next::stop();
              }
              out.consumers.push_back(
                  {std::string(as_view(k)), c->acked,
                   Timestamp(std::chrono::milliseconds(c->updated_at))});
              return storage::Next::go_on();
            });
    if (!s) return tl::unexpected(s.error());
    if (!bad) return tl::unexpected(bad.error());
    return out;
  });
}

// ---- reading ----------------------------------------------------------------------------------

Result<std::vector<Entry>> read(const Database& db, Seq after, std::size_t max_entries,
                                std::size_t max_bytes) {
  auto& d = impl(db);
  return read<std::vector<Entry>>(d, [&](TxnState& st) -> Result<std::vector<Entry>> {
    std::vector<Entry> out;
    auto state = detail::load_feed_state(d, st);
    if (!state) return tl::unexpected(state.error());
    if (state->role == Role::kNone) return not_enabled();
    if (!d.tables().feed || max_entries == 0 || after >= state->last) return out;
    if (after < state->floor)
      return make_error(ErrorCode::kFailedPrecondition,
                        "feed truncated: entries up to " + std::to_string(state->floor) +
                            " are gone; read after " + std::to_string(after) +
                            " cannot continue (re-seed from a backup)");
    Entry cur;
    std::size_t bytes = 0, cur_bytes = 0;
    bool limited = false;
    Seq expect = after + 1;
    Status bad;
    const std::string from = detail::feed_key(after + 1, 0);
    auto s = storage::Walker(st.txn, d.tables().feed, "change feed read")
                 .from(as_bytes(from), [&](storage::Bytes k, storage::Bytes v) {
                   auto key = detail::decode_feed_key(as_view(k));
                   if (!key) {
                     bad = tl::unexpected(key.error());
                     return storage::Next::stop();
                   }
                   if (key->first > state->last) return storage::Next::stop();
                   if (key->first != expect) {
                     bad = make_error(ErrorCode::kCorruption,
                                      "change feed: entry " + std::to_string(expect) +
                                          " is missing (found " + std::to_string(key->first) + ")");
                     return storage::Next::stop();
                   }
                   if (key->second == detail::kEntryHeaderPart) {
                     auto h = detail::decode_entry_header(as_view(v));
                     if (!h) {
                       bad = tl::unexpected(h.error());
                       return storage::Next::stop();
                     }
                     if (!out.empty() && bytes + cur_bytes > max_bytes) {
                       limited = true;
                       return storage::Next::stop();
                     }
                     cur.seq = key->first;
                     cur.committed_at = Timestamp(std::chrono::milliseconds(h->committed_at));
                     cur.part_count = h->part_count;
                     cur.erased = h->erased;
                     out.push_back(std::move(cur));
                     bytes += cur_bytes;
                     cur = Entry{};
                     cur_bytes = 0;
                     ++expect;
                     if (out.size() >= max_entries) {
                       limited = true;
                       return storage::Next::stop();
                     }
                     return storage::Next::go_on();
                   }
                   auto row = detail::decode_part_row(as_view(v));
                   if (!row) {
                     bad = tl::unexpected(row.error());
                     return storage::Next::stop();
                   }
                   cur.parts.push_back(Part{std::string(row->label), row->customer,
                                            std::string(row->payload), key->second});
                   cur_bytes += row->payload.size();
                   return storage::Next::go_on();
                 });
    if (!s) return tl::unexpected(s.error());
    if (!bad) return tl::unexpected(bad.error());
    // The walk ended at a limit, after the last entry, or early because entries are missing.
    if (!limited && expect <= state->last)
      return make_error(ErrorCode::kCorruption,
                        "change feed: entry " + std::to_string(expect) + " is missing");
    return out;
  });
}

Result<Seq> wait(const Database& db, Seq after, std::chrono::milliseconds timeout) {
  auto& d = impl(db);
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const std::uint64_t generation = d.feed_generation();
    auto last = read<Seq>(d, [&](TxnState& st) -> Result<Seq> {
      auto state = detail::load_feed_state(d, st);
      if (!state) return tl::unexpected(state.error());
      if (state->role == Role::kNone) return not_enabled();
      return state->last;
    });
    if (!last) return last;
    if (*last > after) return *last;
    const auto now = Clock::now();
    if (now >= deadline) return *last;
    // Commits of this process wake the wait at once; other processes' are polled.
    d.wait_feed(generation, std::min(deadline, now + std::chrono::milliseconds(50)));
  }
}

// ---- consumers --------------------------------------------------------------------------------

namespace {

// A primary's feed state and its consumer `name` (nullopt: not registered); kFailedPrecondition
// when the feed is not on, or when `required` and the consumer is not registered.
struct ConsumerLookup {
  detail::FeedState state;
  std::optional<detail::ConsumerValue> consumer;
};
Result<ConsumerLookup> lookup_consumer(DatabaseImpl& d, TxnState& st, std::string_view name,
                                       bool required) {
  auto state = detail::load_feed_state(d, st);
  if (!state) return tl::unexpected(state.error());
  if (state->role != Role::kPrimary) return not_enabled();
  auto c = load_consumer(d, st, name);
  if (!c) return tl::unexpected(c.error());
  if (required && !*c)
    return make_error(ErrorCode::kFailedPrecondition,
                      "no consumer " + std::string(name) + " is registered");
  return ConsumerLookup{std::move(*state), std::move(*c)};
}

}  // namespace

Status register_consumer(Database& db, std::string_view name, std::optional<Seq> acked) {
  if (!detail::valid_consumer_name(name))
    return make_error(ErrorCode::kInvalidArgument,
                      "consumer name: 1..128 bytes of [A-Za-z0-9_.:-]");
  auto& d = impl(db);
  return write(d, [&](TxnState& st) -> Status {
    auto found = lookup_consumer(d, st, name, false);
    if (!found) return tl::unexpected(found.error());
    if (found->consumer) return {};
    const auto* state = &found->state;
    const Seq at = acked.value_or(state->last);
    if (at > state->last)
      return make_error(ErrorCode::kInvalidArgument,
                        "consumer " + std::string(name) + ": " + std::to_string(at) +
                            " is beyond the last entry " + std::to_string(state->last));
    return store_consumer(d, st, name, {at, ms_now()});
  });
}

Status acknowledge(Database& db, std::string_view name, Seq seq) {
  auto& d = impl(db);
  return write(d, [&](TxnState& st) -> Status {
    auto found = lookup_consumer(d, st, name, true);
    if (!found) return tl::unexpected(found.error());
    const auto* state = &found->state;
    const auto& c = found->consumer;
    if (seq > state->last)
      return make_error(ErrorCode::kInvalidArgument,
                        "acknowledge " + std::to_string(seq) + ": beyond the last entry " +
                            std::to_string(state->last));
    if (seq <= c->acked) return {};
    return store_consumer(d, st, name, {seq, ms_now()});
  });
}

Status remove_consumer(Database& db, std::string_view name) {
  auto& d = impl(db);
  return write(d, [&](TxnState& st) -> Status {
    auto found = lookup_consumer(d, st, name, true);
    if (!found) return tl::unexpected(found.error());
    return d.del(st, d.tables().feed_consumers, as_bytes(name));
  });
}

Result<std::uint64_t> truncate(Database& db) {
  auto& d = impl(db);
  std::uint64_t deleted = 0;
  auto s = write(d, [&](TxnState& st) -> Status {
    deleted = 0;
    auto state = detail::load_feed_state(d, st);
    if (!state) return tl::unexpected(state.error());
    if (state->role != Role::kPrimary) return not_enabled();
    std::optional<Seq> min_acked;
    Status bad;
    auto w = storage::Walker(st.txn, d.tables().feed_consumers, "change feed consumers")
                 .all([&](storage::Bytes, storage::Bytes v) {
                   auto c = detail::decode_consumer(as_view(v));
                   if (!c) {
                     bad = tl::unexpected(c.error());
                     return storage::Next::stop();
                   }
                   min_acked = std::min(min_acked.value_or(c->acked), c->acked);
                   return storage::Next::go_on();
                 });
    if (!w) return w;
    if (!bad) return bad;
    if (!min_acked) return {};
    const Seq keep_from = state->last > state->keep_last ? state->last - state->keep_last : 0;
    const Seq upto = std::min(*min_acked, keep_from);
    if (upto <= state->floor) return {};
    const std::string below = detail::feed_key(upto + 1, 0);
    auto rows = keys_below(d, st, d.tables().feed, below);
    if (!rows) return tl::unexpected(rows.error());
    for (const auto& k : *rows)
      if (k.size() == 12 &&
          coding::get_u32(reinterpret_cast<const std::uint8_t*>(k.data()) + 8) ==
              detail::kEntryHeaderPart)
        ++deleted;
    if (auto x = delete_keys(d, st, d.tables().feed, *rows); !x) return x;
    state->floor = upto;
    return detail::store_feed_state(d, st, *state);
  });
  if (!s) return tl::unexpected(s.error());
  return deleted;
}

// ---- replicas ---------------------------------------------------------------------------------

// Only a copy of the primary may become its replica (feed.h): a backup holds the primary's
// feed name; a file whose feed was never enabled must be a new database without records.
// Anything else (another database, or its backup) would take the primary's raw writes on top
// of its own records and silently end as neither. Checked before the first apply changes
// anything (also the nonce epoch).
static Status check_copy_of(DatabaseImpl& d, TxnState& st, const FeedState& state,
                     std::string_view primary_name) {
  if (state.role == Role::kReplica) return {};
  if (!state.name.empty() && state.name != primary_name)
    return make_error(ErrorCode::kFailedPrecondition,
                      "this database's own feed is " + state.name + ": it is not a copy of " +
                          std::string(primary_name) +
                          " (seed the replica from a backup of the primary)");
  if (!state.name.empty()) return {};
  bool has_records = false;
  for (storage::Table t : {d.tables().customers, d.tables().transactions,
                           d.tables().relationships, d.tables().holdings}) {
    if (!t || has_records) continue;
    storage::Walker walk(st.txn, t, "change feed apply");
    auto s = walk.all([&](storage::Bytes, storage::Bytes) {
      has_records = true;
      return storage::Next::stop();
    });
    if (!s) return s;
  }
  if (has_records)
    return make_error(ErrorCode::kFailedPrecondition,
                      "this database holds records but was never a copy of " +
                          std::string(primary_name) +
                          "'s feed: seed the replica from a backup of the primary taken after "
                          "its feed was enabled (or start from a new, empty database)");
  return {};
}

Result<ApplyResult> apply(Database& replica, std::string_view primary_name,
                          std::span<const Entry> entries, std::string_view source) {
  if (!detail::valid_feed_name(primary_name))
    return make_error(ErrorCode::kInvalidArgument,
                      "primary feed name: 1..64 bytes of [a-z0-9_-]");
  if (source.size() > 65535)
    return make_error(ErrorCode::kInvalidArgument, "source: longer than 65535 bytes");
  auto& d = impl(replica);
  if (d.options().read_only)
    return make_error(ErrorCode::kReadOnly, "the database was opened read-only");
  if (!d.tables().feed)
    return make_error(ErrorCode::kUnsupported, "the file has no change feed tables");
  // Before the first apply: the replica's nonce epochs move away from the primary's, before
  // this handle seals anything (begin() below makes its sealer).
  auto before = read<FeedState>(d, [&](TxnState& st) { return detail::load_feed_state(d, st); });
  if (!before) return tl::unexpected(before.error());
  if (before->role == Role::kReplica && before->name != primary_name)
    return make_error(ErrorCode::kFailedPrecondition,
                      "this database is a replica of " + before->name + ", not of " +
                          std::string(primary_name));
  if (auto s = read<bool>(d, [&](TxnState& st) -> Result<bool> {
        if (auto c = check_copy_of(d, st, *before, primary_name); !c) return tl::unexpected(c.error());
        return true;
      });
      !s)
    return tl::unexpected(s.error());
  if (before->role != Role::kReplica) {
    // A file turns into a replica only for an entry beyond its own last one. Its primary (a
    // follower pointed at it by mistake) never sees such an entry in its own stream: it only
    // skips, and keeps its feed and role.
    const bool beyond = std::any_of(entries.begin(), entries.end(),
                                    [&](const Entry& e) { return e.seq > before->last; });
    if (!beyond) {
      ApplyResult unchanged;
      unchanged.skipped = entries.size();
      unchanged.last = before->last;
      return unchanged;
    }
  }
  if (before->role != Role::kReplica && d.encrypted())
    if (auto s = d.raise_epoch_for_replica(); !s) return tl::unexpected(s.error());

  detail::ReplicaWrites allow;
  ApplyResult result;
  auto begun = d.begin(true);
  if (!begun) return tl::unexpected(begun.error());
  TxnState& st = **begun;
  st.feed.reset();  // a replica records nothing (a primary's copy turns into one here)
  auto state = detail::load_feed_state(d, st);
  if (!state) return tl::unexpected(state.error());
  if (state->role == Role::kReplica && state->name != primary_name)
    return make_error(ErrorCode::kFailedPrecondition,
                      "this database is a replica of " + state->name + ", not of " +
                          std::string(primary_name));
  if (state->role != Role::kReplica) {
    if (auto s = check_copy_of(d, st, *state, primary_name); !s) return tl::unexpected(s.error());
    // The copy's own feed (a backup of the primary holds the primary's entries and cursors)
    // is not the replica's: dropped.
    auto rows = keys_below(d, st, d.tables().feed, {});
    if (!rows) return tl::unexpected(rows.error());
    if (auto s = delete_keys(d, st, d.tables().feed, *rows); !s) return tl::unexpected(s.error());
    auto consumers = keys_below(d, st, d.tables().feed_consumers, {});
    if (!consumers) return tl::unexpected(consumers.error());
    if (auto s = delete_keys(d, st, d.tables().feed_consumers, *consumers); !s)
      return tl::unexpected(s.error());
    state->role = Role::kReplica;
    state->name = std::string(primary_name);
  }
  Seq last = state->last;
  std::vector<segment::BitChange> bits;
  auto flush_bits = [&]() -> Status {
    if (bits.empty()) return {};
    auto s = segment::apply_bit_changes(d, st, bits);
    bits.clear();
    return s;
  };
  for (const Entry& e : entries) {
    if (e.seq <= last) {
      ++result.skipped;
      continue;
    }
    if (e.seq != last + 1)
      return make_error(ErrorCode::kFailedPrecondition,
                        "gap: the replica's last applied entry is " + std::to_string(last) +
                            ", the next given is " + std::to_string(e.seq));
    auto ops = entry_ops(d, primary_name, e);
    if (!ops) return tl::unexpected(ops.error());
    for (const FeedOp& op : *ops) {
      if (op.kind == FeedOpKind::kBitSet || op.kind == FeedOpKind::kBitClear) {
        bits.push_back({op.key, op.id, op.kind == FeedOpKind::kBitSet});
        continue;
      }
      if (auto s = flush_bits(); !s) return tl::unexpected(s.error());
      if (op.kind == FeedOpKind::kErase) {
        // replay_erasure writes through the engine: its postings are flushed before the next
        // op so that the entry's later bits meet the chunks as the primary's did.
        if (auto s = detail::replay_erasure(d, st, op.id, op.mode,
                                            Timestamp(std::chrono::milliseconds(op.stamp)));
            !s)
          return tl::unexpected(s.error());
        if (auto s = d.flush_postings(st); !s) return tl::unexpected(s.error());
        result.erased = true;
        continue;
      }
      auto table = op_table(d, op.table);
      if (!table) return tl::unexpected(table.error());
      Status s;
      if (op.kind == FeedOpKind::kPut)
        s = d.put(st, *table, as_bytes(op.key), as_bytes(op.value));
      else if (op.kind == FeedOpKind::kDel)
        s = d.del(st, *table, as_bytes(op.key));
      else
        s = d.del(st, *table, as_bytes(op.key), as_bytes(op.value));
      if (!s) return tl::unexpected(s.error());
      // The transaction's cached schema follows the primary's schema writes.
      if (op.table == static_cast<std::uint8_t>(FeedTable::kMeta) && op.key == detail::kMetaSchema)
        st.schema.reset();
    }
    if (auto s = flush_bits(); !s) return tl::unexpected(s.error());
    last = e.seq;
    ++result.applied;
  }
  state->last = last;
  state->floor = last;  // a replica keeps no entries of its own
  if (!source.empty()) state->source = std::string(source);
  if (auto s = detail::store_feed_state(d, st, *state); !s) return tl::unexpected(s.error());
  if (auto s = d.commit(st); !s) return tl::unexpected(s.error());
  result.last = last;
  if (result.applied) d.notify_feed();
  return result;
}

// ---- describing entries -----------------------------------------------------------------------

namespace {
Result<std::string> feed_name_of(DatabaseImpl& d) {
  auto state = read<FeedState>(d, [&](TxnState& st) { return detail::load_feed_state(d, st); });
  if (!state) return tl::unexpected(state.error());
  if (state->name.empty()) return not_enabled();
  return state->name;
}
}  // namespace

Result<std::vector<std::string>> describe(const Database& db, const Entry& entry,
                                          const Part& part) {
  auto& d = impl(db);
  auto name = feed_name_of(d);
  if (!name) return tl::unexpected(name.error());
  if (!detail::valid_label(part.table))
    return make_error(ErrorCode::kCorruption, "change feed: bad table label");
  auto ops = detail::decode_part_payload(d.codec(), *name, entry.seq, part.table, part.customer,
                                         part.payload);
  if (!ops) return tl::unexpected(ops.error());
  std::vector<std::string> lines;
  std::size_t run = 0;
  auto end_run = [&] {
    if (run) lines.push_back("postings " + std::to_string(run) + (run == 1 ? " bit" : " bits"));
    run = 0;
  };
  for (const auto& op : *ops) {
    if (op.kind == FeedOpKind::kBitSet || op.kind == FeedOpKind::kBitClear) {
      ++run;
      continue;
    }
    end_run();
    const std::string table(detail::feed_table_name(op.table));
    switch (op.kind) {
      case FeedOpKind::kPut:
        lines.push_back("put " + table + " " + describe_key(op.table, op.key));
        break;
      case FeedOpKind::kDel:
      case FeedOpKind::kDelDup:
        lines.push_back("del " + table + " " + describe_key(op.table, op.key));
        break;
      case FeedOpKind::kErase:
        lines.push_back("erase " + std::to_string(op.id) + " " + mode_name(op.mode));
        break;
      default: break;
    }
  }
  end_run();
  return lines;
}

Result<std::vector<RecordChange>> changed_records(const Database& db, const Entry& entry) {
  auto& d = impl(db);
  auto name = feed_name_of(d);
  if (!name) return tl::unexpected(name.error());
  auto ops = entry_ops(d, *name, entry);
  if (!ops) return tl::unexpected(ops.error());
  std::vector<RecordChange> out;
  std::map<std::pair<std::string, std::uint64_t>, std::size_t> at;
  auto note = [&](std::string table, std::uint64_t id, bool deleted) {
    auto key = std::make_pair(table, id);
    auto it = at.find(key);
    if (it == at.end()) {
      at.emplace(key, out.size());
      out.push_back({std::move(table), id, deleted});
    } else {
      out[it->second].deleted = deleted;
    }
  };
  for (const auto& op : *ops) {
    if (op.kind == FeedOpKind::kErase) {
      note("customers", op.id, op.mode == EraseMode::kFull);
      continue;
    }
    if (op.kind != FeedOpKind::kPut && op.kind != FeedOpKind::kDel) continue;
    switch (static_cast<FeedTable>(op.table)) {
      case FeedTable::kCustomers:
      case FeedTable::kRelationships:
      case FeedTable::kTransactions:
      case FeedTable::kHoldings:
        if (op.key.size() == 8)
          note(std::string(detail::feed_table_name(op.table)),
               coding::get_u64(reinterpret_cast<const std::uint8_t*>(op.key.data())),
               op.kind == FeedOpKind::kDel);
        break;
      default: break;
    }
  }
  return out;
}

}  // namespace custdb::feed
