// Data-key rotation: rewrite the database under a new data key into path/rotate.tmp in bounded,
// resumable batches, then replace data.mdb with one rename.
//
// Why a rewrite and not in place: every record is sealed and every index key is a token under
// the data key. Rotating in place would leave a window where records and tokens under two keys
// mix and every reader must try both; a sibling file keeps the original whole and readable
// until a single atomic rename, which makes "interrupted at any point" trivially safe.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>

#include "engine/audit.h"
#include "engine/consent.h"
#include "engine/db_impl.h"
#include "engine/erase.h"
#include "engine/feed_record.h"
#include "util/coding.h"

namespace custdb {
namespace {

namespace fs = std::filesystem;
using detail::DatabaseImpl;
using detail::TxnState;

constexpr std::string_view kSourceKey = "rotation.source";      // identity of what is copied
constexpr std::string_view kProgressKey = "rotation.progress";  // table (1) + last id (8)

using coding::as_bytes;

// Closes the lock file on every path out.
struct LockFile {
  int fd = -1;
  ~LockFile() {
    if (fd >= 0) ::close(fd);
  }
};

// The source's identity: its last committed LMDB transaction and its record counts. If any
// differ on resume, the database changed since the interrupted run and the copy starts over.
Result<std::vector<std::uint8_t>> source_identity(DatabaseImpl& src) {
  std::vector<std::uint8_t> id(40);
  coding::put_u64(id.data(), src.env_info().last_txnid);
  auto st = src.begin(false);
  if (!st) return tl::unexpected(st.error());
  const storage::Table tables[] = {src.tables().customers, src.tables().relationships,
                                   src.tables().transactions, src.tables().holdings};
  for (int i = 0; i < 4; ++i) {
    std::uint64_t count = 0;
    if (tables[i]) {  // holdings: null in a read-only open of a file older than format 6
      auto n = storage::entry_count((*st)->txn, tables[i], "rotation source");
      if (!n) return tl::unexpected(n.error());
      count = *n;
    }
    coding::put_u64(id.data() + 8 + 8 * i, count);
  }
  return id;
}

// Copies the feed's state, consumers and entries from src (as of rs) into dst (in ws),
// re-sealing each part's payload under dst's key.
Status copy_feed(DatabaseImpl& src, TxnState& rs, DatabaseImpl& dst, TxnState& ws) {
  if (!src.tables().feed || !dst.tables().feed) return {};
  auto state = detail::load_feed_state(src, rs);
  if (!state) return tl::unexpected(state.error());
  if (state->role == feed::Role::kNone) return {};
  Status failed;
  storage::Walker walk(rs.txn, src.tables().feed, "rotation: feed");
  auto s = walk.all([&](storage::Bytes k, storage::Bytes v) {
    auto key = detail::decode_feed_key(coding::as_view(k));
    if (!key) return failed = tl::unexpected(key.error()), storage::Next::stop();
    const auto [seq, part] = *key;
    if (part == detail::kEntryHeaderPart) {
      if (auto p = dst.put(ws, dst.tables().feed, k, v); !p) return failed = p, storage::Next::stop();
      return storage::Next::go_on();
    }
    auto row = detail::decode_part_row(coding::as_view(v));
    if (!row) return failed = tl::unexpected(row.error()), storage::Next::stop();
    auto ops = detail::decode_part_payload(src.codec(), state->name, seq, row->label, row->customer,
                                           row->payload);
    if (!ops) return failed = tl::unexpected(ops.error()), storage::Next::stop();
    const std::string payload = detail::encode_part_payload(dst.codec(), state->name, seq, part,
                                                            row->label, row->customer, *ops);
    const std::string value = detail::encode_part_row(row->label, row->customer, payload);
    if (auto p = dst.put(ws, dst.tables().feed, k, as_bytes(value)); !p)
      return failed = p, storage::Next::stop();
    return storage::Next::go_on();
  });
  if (!s) return s;
  if (!failed) return failed;
  if (src.tables().feed_consumers) {
    storage::Walker consumers(rs.txn, src.tables().feed_consumers, "rotation: feed consumers");
    auto c = consumers.all([&](storage::Bytes k, storage::Bytes v) {
      if (auto p = dst.put(ws, dst.tables().feed_consumers, k, v); !p)
        return failed = p, storage::Next::stop();
      return storage::Next::go_on();
    });
    if (!c) return c;
    if (!failed) return failed;
  }
  return detail::store_feed_state(dst, ws, *state);
}

}  // namespace

Status rotate_data_key(const fs::path& path, const Options& options,
                       const std::function<void(const RotationProgress&)>& progress,
                       std::size_t batch) {
  if (!options.key)
    return make_error(ErrorCode::kInvalidArgument, "key rotation needs the database's key");
  if (batch == 0) batch = 1;
  std::error_code ec;
  if (!fs::exists(path / "data.mdb", ec))
    return make_error(ErrorCode::kIOError, "no database at " + path.string());

  LockFile lock;
  lock.fd = ::open((path / "custdb.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock.fd < 0) return make_error(ErrorCode::kIOError, "cannot create " + path.string() + "/custdb.lock");
  if (::flock(lock.fd, LOCK_EX | LOCK_NB) != 0)
    return make_error(ErrorCode::kBusy, "the database is open elsewhere; close it to rotate its key");

  Options src_opts = options;
  src_opts.read_only = true;
  src_opts.create_if_missing = false;
  auto src = DatabaseImpl::open(path, src_opts, /*take_process_lock=*/false);
  if (!src) return tl::unexpected(src.error());
  if (!(*src)->encrypted())
    return make_error(ErrorCode::kFailedPrecondition, "the database is not encrypted");
  if (auto s = (*src)->require_owner("rotate_data_key"); !s) return s;  // analyst: no PK
  const auto source = source_identity(**src);
  if (!source) return tl::unexpected(source.error());
  const std::vector<std::uint8_t>& identity = *source;

  const fs::path tmp = path / "rotate.tmp";
  bool resumed = false;
  std::uint8_t start_table = 0;
  std::uint64_t start_after = 0;
  if (fs::exists(tmp / "data.mdb", ec)) {
    // Resume only a copy of this very database state; anything else starts over.
    Options probe = options;
    probe.create_if_missing = false;
    probe.read_only = true;
    auto old = DatabaseImpl::open(tmp, probe, false);
    bool usable = false;
    if (old) {
      auto st = (*old)->begin(false);
      if (st) {
        auto id = (*old)->get(**st, (*old)->tables().meta, as_bytes(kSourceKey));
        auto pr = (*old)->get(**st, (*old)->tables().meta, as_bytes(kProgressKey));
        if (id && *id && std::equal((*id)->begin(), (*id)->end(), identity.begin(), identity.end()) &&
            pr && *pr && (*pr)->size() == 9) {
          usable = true;
          start_table = (**pr)[0];
          start_after = coding::get_u64((*pr)->data() + 1);
        }
      }
    }
    if (!usable) fs::remove_all(tmp, ec);
    resumed = usable;
  } else {
    fs::remove_all(tmp, ec);
  }

  Options dst_opts = options;
  dst_opts.read_only = false;
  dst_opts.create_if_missing = true;
  dst_opts.error_if_exists = false;
  dst_opts.base_currency = (*src)->base_currency();
  dst_opts.phone_region = (*src)->phone_region();
  // At least the original's map: the copy holds what the original holds.
  if (dst_opts.max_map_size)
    dst_opts.max_map_size = std::max(dst_opts.max_map_size, (*src)->env_info().map_size);
  // A new database under the same secret gets a fresh random data key: that is the rotation.
  auto dst = DatabaseImpl::open(tmp, dst_opts, false);
  if (!dst) return tl::unexpected(dst.error());
  DatabaseImpl& s = **src;
  DatabaseImpl& d = **dst;

  struct TableRun {
    const char* name;
    storage::Table src_dbi;
  };
  // In this order (the progress key names a table by its index here). Holdings last: a
  // restored holding carries its engine fields (posted, ...) and its customer's aggregates
  // come with the customer, so nothing is recomputed. A source older than format 6 (opened
  // read-only, not upgraded) has no holdings table: nothing to copy.
  const TableRun tables[] = {{"customers", s.tables().customers},
                             {"relationships", s.tables().relationships},
                             {"transactions", s.tables().transactions},
                             {"holdings", s.tables().holdings}};
  constexpr std::uint8_t kTables = 4;

  auto read = s.begin(false);
  if (!read) return tl::unexpected(read.error());
  TxnState& rs = **read;
  // Records are decoded under the original's schema and re-encoded under the copy's, which is
  // the same (copied first, below).
  auto src_schema = s.schema_of(rs);
  if (!src_schema) return tl::unexpected(src_schema.error());
  // The custom attribute schema first (issue #17): the restores below encode attribute values
  // and attribute postings by the destination's schema (its work cursors included).
  if (auto copied = d.write_retrying([&](TxnState& ws) -> Status {
        auto v = s.get_sealed_meta(rs, detail::kMetaSchema);
        if (!v) return tl::unexpected(v.error());
        if (!*v) return Status{};
        return d.put_sealed_meta(ws, detail::kMetaSchema, **v);
      });
      !copied)
    return copied;

  for (std::uint8_t ti = start_table; ti < kTables; ++ti) {
    const TableRun& table = tables[ti];
    if (!table.src_dbi) continue;
    auto total = storage::entry_count(rs.txn, table.src_dbi, table.name);
    if (!total) return tl::unexpected(total.error());
    // A file without holdings reports its tables as before format 6 (nothing to copy).
    if (ti == 3 && *total == 0) continue;
    RotationProgress p{table.name, 0, *total, resumed};
    std::uint64_t after = ti == start_table ? start_after : 0;
    bool first = after == 0;
    for (bool more = true; more;) {
      // One bounded batch: read the next `batch` records, re-seal them, record progress, commit.
      // The new file maps as much as the original (dst_opts.max_map_size), so it cannot fill up
      // before the original would have.
      std::size_t n = 0;
      std::uint64_t last = after;
      auto s_batch = d.write_retrying([&](TxnState& ws) -> Status {
        n = 0;
        last = after;
        more = false;
        Status failed;
        auto copy = [&](storage::Bytes key, storage::Bytes val) {
          // Resuming after `after`: the walk starts at it, the copy after it.
          if (!first && n == 0 && last == after && key.size() == 8 &&
              coding::get_u64(key.data()) == after)
            return storage::Next::go_on();
          if (n == batch) {
            more = true;  // another record waits: the next batch starts there
            return storage::Next::stop();
          }
          Status put;
          if (ti == 0) {
            auto c = s.codec().decode_customer(key, val, **src_schema);
            if (!c) return failed = tl::unexpected(c.error()), storage::Next::stop();
            put = d.restore_customer(ws, *c);
          } else if (ti == 1) {
            auto r = s.codec().decode_relationship(key, val);
            if (!r) return failed = tl::unexpected(r.error()), storage::Next::stop();
            put = d.restore_relationship(ws, *r);
          } else if (ti == 2) {
            auto t = s.codec().decode_transaction(key, val, **src_schema);
            if (!t) return failed = tl::unexpected(t.error()), storage::Next::stop();
            put = d.restore_transaction(ws, *t);
          } else {
            auto h = s.codec().decode_holding(key, val);
            if (!h) return failed = tl::unexpected(h.error()), storage::Next::stop();
            put = d.restore_holding(ws, *h);
          }
          if (!put) return failed = put, storage::Next::stop();
          last = coding::get_u64(key.data());
          ++n;
          return storage::Next::go_on();
        };
        storage::Walker walk(rs.txn, table.src_dbi, "rotation read");
        const coding::IdKey seek(after);
        const Status walked = first ? walk.all(copy) : walk.from(seek.span(), copy);
        if (!failed) return failed;
        if (!walked) return walked;
        std::uint8_t pr[9];
        pr[0] = more ? ti : static_cast<std::uint8_t>(ti + 1);
        coding::put_u64(pr + 1, more ? last : 0);
        if (auto st2 = d.put(ws, d.tables().meta, as_bytes(kProgressKey), storage::Bytes(pr, 9)); !st2)
          return st2;
        return d.put(ws, d.tables().meta, as_bytes(kSourceKey), identity);
      });
      if (!s_batch) return s_batch;
      p.done += n;
      if (progress) progress(p);
      after = last;
      first = false;
    }
  }

  // Counters, then the swap.
  auto finished = d.write_retrying([&](TxnState& ws) -> Status {
    for (std::string_view counter : detail::kIdCounterKeys) {
      auto v = s.next_id(rs, counter);
      if (!v) return tl::unexpected(v.error());
      coding::IdKey next(*v);
      if (auto st2 = d.put(ws, d.tables().meta, as_bytes(counter), next.span()); !st2) return st2;
    }
    // Values sealed under the old key (segment extents are rebuilt by the restores).
    for (std::string_view key : detail::kSealedMetaKeys) {
      auto v = s.get_sealed_meta(rs, key);
      if (!v) return tl::unexpected(v.error());
      if (*v)
        if (auto st2 = d.put_sealed_meta(ws, key, **v); !st2) return st2;
    }
    // The file's place in a sharded set (custdb/shards.h, meta "shard", raw: nothing sealed),
    // local to the file like the header: the rewritten file keeps it.
    {
      constexpr std::string_view kMetaShard = "shard";
      auto v = s.get(rs, s.tables().meta, as_bytes(kMetaShard));
      if (!v) return tl::unexpected(v.error());
      if (*v)
        if (auto st2 = d.put(ws, d.tables().meta, as_bytes(kMetaShard), **v); !st2) return st2;
    }
    // The erasure journal (owner S), entries as they were, sealed under the new key.
    auto journal = detail::read_erasure_journal(s, rs);
    if (!journal) return tl::unexpected(journal.error());
    for (const ErasureEntry& e : *journal)
      if (auto st2 = detail::put_erasure(d, ws, e); !st2) return st2;
    // The audit trail, re-chained under the new key: only an intact chain is copied, so a
    // rotation cannot launder a tampered trail.
    {
      std::uint64_t n = 0;
      std::string broken;
      if (auto c = detail::check_audit_chain(s, rs, n, [&](std::string what) {
            if (broken.empty()) broken = std::move(what);
          });
          !c)
        return c;
      if (!broken.empty())
        return make_error(ErrorCode::kCorruption,
                          "audit trail: " + broken + "; key not rotated (custdb verify)");
      auto entries = s.audit_entries(rs, {});
      if (!entries) return tl::unexpected(entries.error());
      if (auto st2 = detail::copy_audit_entries(d, ws, *entries); !st2) return st2;
    }
    if (auto st2 = detail::copy_consent_tables(s, rs, d, ws); !st2) return st2;
    // The change feed (format 7): its state, consumers and every kept part, each part opened
    // under the old key and sealed again under the new one (its AD is unchanged: same feed
    // name, seq, part, table and customer). Replicas of the old key cannot open the new parts:
    // they are re-seeded from a backup of the rotated file (docs/security.md).
    if (auto st2 = copy_feed(s, rs, d, ws); !st2) return st2;
    // The rotation itself, the last entry of the copied trail.
    if (auto a = d.append_audit(ws, {"rotate_data_key", {}, 1, ""}); !a)
      return tl::unexpected(a.error());
    for (std::string_view key : {kSourceKey, kProgressKey})
      if (auto st2 = d.del(ws, d.tables().meta, as_bytes(key)); !st2) return st2;
    return {};
  });
  if (!finished) return finished;
  // Nothing is swapped in unless it holds exactly what the original holds.
  {
    auto check = d.begin(false);
    if (!check) return tl::unexpected(check.error());
    const storage::Table src_tables[] = {s.tables().customers, s.tables().relationships,
                                         s.tables().transactions, s.tables().holdings};
    const storage::Table dst_tables[] = {d.tables().customers, d.tables().relationships,
                                         d.tables().transactions, d.tables().holdings};
    for (int i = 0; i < kTables; ++i) {
      std::uint64_t a = 0;
      if (src_tables[i]) {
        auto n = storage::entry_count(rs.txn, src_tables[i], tables[i].name);
        if (!n) return tl::unexpected(n.error());
        a = *n;
      }
      auto b = storage::entry_count((*check)->txn, dst_tables[i], tables[i].name);
      if (!b) return tl::unexpected(b.error());
      if (a != *b)
        return make_error(ErrorCode::kInternal, std::string("rotation copied a different number of ") +
                                                    tables[i].name + "; original left in place");
    }
  }
  if (auto st2 = d.sync(); !st2) return st2;
  read->reset();
  src->reset();
  dst->reset();
  // The one step that changes what `path` holds: atomic on POSIX filesystems.
  if (std::rename((tmp / "data.mdb").c_str(), (path / "data.mdb").c_str()) != 0)
    return make_error(ErrorCode::kIOError, "cannot move the rotated database into place");
  // Make the rename itself durable, so a power loss cannot bring the old file (and key) back.
  if (int dir = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  fs::remove(path / "lock.mdb", ec);  // stale reader table of the old file; nobody holds it
  fs::remove_all(tmp, ec);
  return {};
}

}  // namespace custdb
