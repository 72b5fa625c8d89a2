// Opening and creating databases, transactions, map growth, and the public wrappers.
#include <lmdb.h>

#include <chrono>
#include <cstring>
#include <mutex>
#include <set>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <xxhash.h>

#include "crypto/crypto.h"
#include "custdb/key.h"
#include "custdb/check.h"
#include "engine/db_impl.h"
#include "engine/validate.h"
#include "util/normalize.h"

namespace custdb {
namespace detail {

constexpr std::string_view kHeaderKey = "header";
constexpr std::string_view kKeyHeaderKey = "key_header";
constexpr std::string_view kEpochKey = "nonce_epoch";

namespace {

namespace fs = std::filesystem;
using storage::Bytes;

// LMDB forbids opening one environment twice in a process (its locks are per process).
// A forked child inherits the parent's set but not its environments: the set is per pid.
std::mutex g_registry_mutex;
std::set<std::string> g_open_paths;
pid_t g_registry_pid = 0;

// ---- the file header (meta key "header"); docs/format.md -------------------------------------
constexpr char kMagic[8] = {'c', 'u', 's', 't', 'd', 'b', 0, 0};
constexpr std::uint32_t kFileFormat = 1;
constexpr std::size_t kHeaderSize = 32;

struct Header {
  std::uint32_t format = kFileFormat;
  bool encrypted = false;
  std::string currency;
  std::int64_t created_ms = 0;
};

std::vector<std::uint8_t> encode_header(const Header& h) {
  std::vector<std::uint8_t> b(kHeaderSize, 0);
  std::memcpy(b.data(), kMagic, 8);
  for (int i = 0; i < 4; ++i) b[8 + i] = static_cast<std::uint8_t>(h.format >> (8 * i));
  b[12] = h.encrypted ? 1 : 0;
  std::memcpy(b.data() + 13, h.currency.data(), 3);
  for (int i = 0; i < 8; ++i)
    b[16 + i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(h.created_ms) >> (8 * i));
  std::uint64_t sum = XXH3_64bits(b.data(), 24);
  for (int i = 0; i < 8; ++i) b[24 + i] = static_cast<std::uint8_t>(sum >> (8 * i));
  return b;
}

Result<Header> decode_header(Bytes b) {
  if (b.size() != kHeaderSize || std::memcmp(b.data(), kMagic, 8) != 0)
    return make_error(ErrorCode::kCorruption, "not a custdb database (bad header)");
  std::uint64_t sum = 0;
  for (int i = 0; i < 8; ++i) sum |= std::uint64_t{b[24 + i]} << (8 * i);
  if (XXH3_64bits(b.data(), 24) != sum)
    return make_error(ErrorCode::kCorruption, "database header checksum mismatch");
  Header h;
  h.format = 0;
  for (int i = 0; i < 4; ++i) h.format |= std::uint32_t{b[8 + i]} << (8 * i);
  if (h.format != kFileFormat)
    return make_error(ErrorCode::kUnsupported,
                      "database format " + std::to_string(h.format) + " is not supported");
  if (b[12] > 1) return make_error(ErrorCode::kCorruption, "database header: bad mode");
  h.encrypted = b[12] == 1;
  h.currency.assign(reinterpret_cast<const char*>(b.data() + 13), 3);
  std::uint64_t ms = 0;
  for (int i = 0; i < 8; ++i) ms |= std::uint64_t{b[16 + i]} << (8 * i);
  h.created_ms = static_cast<std::int64_t>(ms);
  return h;
}

Bytes as_bytes(std::string_view s) {
  return Bytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

struct DbiName {
  MDB_dbi* slot;
  const char* name;
  unsigned flags;
};

std::vector<DbiName> all_dbis(DatabaseImpl& d) {
  std::vector<DbiName> v = {{&d.dbi_meta, "meta", 0},
                            {&d.dbi_customers, "customers", 0},
                            {&d.dbi_relationships, "relationships", 0},
                            {&d.dbi_transactions, "transactions", 0}};
  v.push_back({&d.dbi_segments, "idx.segments", 0});
  for (std::size_t i = 0; i < index::kIndexCount; ++i) {
    const auto& s = index::spec(static_cast<index::IndexId>(i));
    v.push_back({&d.dbi_index[i], s.dbi_name, s.unique ? 0u : unsigned{MDB_DUPSORT | MDB_DUPFIXED}});
  }
  return v;
}

std::size_t round_up(std::size_t n, std::size_t page) { return (n + page - 1) / page * page; }

constexpr auto kRemapWait = std::chrono::milliseconds(30'000);

}  // namespace

Timestamp now_ms() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

Date today_utc() { return std::chrono::floor<std::chrono::days>(now_ms()); }

Timestamp stamp_time(TxnState& st) {
  if (!st.stamp) st.stamp = now_ms();
  return *st.stamp;
}

DatabaseImpl::~DatabaseImpl() {
  // The env closes before the registry entry is released, so a reopen cannot race LMDB.
  env = storage::Env();
  if (lock_fd >= 0) ::close(lock_fd);
  if (!registry_key.empty()) {
    std::lock_guard lock(g_registry_mutex);
    if (g_registry_pid == ::getpid()) g_open_paths.erase(registry_key);
  }
}

Result<std::unique_ptr<DatabaseImpl>> DatabaseImpl::open(const fs::path& path,
                                                         const Options& options,
                                                         bool take_process_lock) {
  auto d = std::make_unique<DatabaseImpl>();
  d->path = path;
  d->options = options;
  std::error_code ec;
  const bool exists = fs::exists(path / "data.mdb", ec);
  if (exists && options.error_if_exists)
    return make_error(ErrorCode::kAlreadyExists, "a database exists at " + path.string());
  if (!exists) {
    if (!options.create_if_missing || options.read_only)
      return make_error(ErrorCode::kIOError, "no database at " + path.string());
    std::string currency = options.base_currency;
    if (!engine::valid_currency(currency))
      return make_error(ErrorCode::kInvalidArgument,
                        "base_currency: not an ISO 4217 code: '" + options.base_currency + "'");
    fs::create_directories(path, ec);
    if (ec)
      return make_error(ErrorCode::kIOError, "cannot create " + path.string() + ": " + ec.message());
  }
  {
    std::lock_guard lock(g_registry_mutex);
    if (g_registry_pid != ::getpid()) {
      g_open_paths.clear();
      g_registry_pid = ::getpid();
    }
    std::string key = fs::weakly_canonical(path, ec).string();
    if (!g_open_paths.insert(key).second)
      return make_error(ErrorCode::kBusy, "database " + path.string() +
                                              " is already open in this process; share that "
                                              "Database instance");
    d->registry_key = key;
  }

  if (take_process_lock) {
    // Every open holds custdb.lock shared; data-key rotation takes it exclusively, so it knows
    // no other handle (in any process) will see data.mdb replaced under it.
    d->lock_fd = ::open((path / "custdb.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (d->lock_fd < 0 && options.read_only)
      d->lock_fd = ::open((path / "custdb.lock").c_str(), O_RDONLY | O_CLOEXEC);
    if (d->lock_fd < 0 && !options.read_only)
      return make_error(ErrorCode::kIOError, "cannot create " + (path / "custdb.lock").string());
    if (d->lock_fd >= 0 && ::flock(d->lock_fd, LOCK_SH | LOCK_NB) != 0)
      return make_error(ErrorCode::kBusy,
                        "the database is being re-encrypted (data-key rotation); try again later");
  }

  if (options.check_pages) {
    // Before LMDB maps the file: LMDB faults on damaged pages, the walk reports them. An
    // empty or missing file is left to the checks below (a new database starts empty).
    auto size = fs::file_size(path / "data.mdb", ec);
    if (!ec && size > 0) {
      auto pages = verify_file(path);
      if (!pages) return tl::unexpected(pages.error());
      if (!pages->clean())
        return make_error(ErrorCode::kCorruption,
                          "data.mdb is damaged: " + pages->problems.front().where + ": " +
                              pages->problems.front().what +
                              (pages->problems.size() > 1
                                   ? " (and " + std::to_string(pages->problems.size() - 1) +
                                         " more; run custdb verify)"
                                   : ""));
    }
  }

  unsigned flags = 0;
  if (options.read_only) flags |= MDB_RDONLY;
  if (options.sync == SyncMode::kNoMetaSync) flags |= MDB_NOMETASYNC;
  if (options.sync == SyncMode::kNone) flags |= MDB_NOSYNC;
  auto env = storage::Env::open({path.string(), flags, options.initial_map_size,
                                 options.max_readers, 64});
  if (!env) return tl::unexpected(env.error());
  d->env = std::move(*env);
  d->env.reader_check();
  {
    // A file shorter than its own last page would make reads fault (SIGBUS) through the map:
    // refuse it here as corruption.
    MDB_envinfo info = d->env.info();
    std::size_t page = d->env.stat().ms_psize;
    auto size = fs::file_size(path / "data.mdb", ec);
    if (!ec && size < (info.me_last_pgno + 1) * page)
      return make_error(ErrorCode::kCorruption,
                        "data.mdb is truncated: " + std::to_string(size) + " bytes, but its last page ends at " +
                            std::to_string((info.me_last_pgno + 1) * page));
  }

  // Phase 1, read only: open what exists and read the header. Nothing is written before the
  // key is checked, so a wrong key leaves the file byte-identical.
  std::optional<Header> header;
  bool missing_dbis = false;
  {
    storage::Txn txn;
    if (int rc = storage::Txn::begin(d->env.get(), MDB_RDONLY, txn))
      return tl::unexpected(storage::lmdb_error(rc, "begin read"));
    for (auto& [slot, name, dflags] : all_dbis(*d)) {
      int rc = mdb_dbi_open(txn.get(), name, dflags, slot);
      if (rc == MDB_NOTFOUND) {
        missing_dbis = true;
        continue;
      }
      if (rc == MDB_INCOMPATIBLE)
        return make_error(ErrorCode::kCorruption, "not a custdb database (table '" +
                                                      std::string(name) + "' has the wrong kind)");
      if (rc) return tl::unexpected(storage::lmdb_error(rc, std::string("open table ") + name));
    }
    if (d->dbi_meta) {
      MDB_val k = storage::to_val(kHeaderKey), v;
      int rc = mdb_get(txn.get(), d->dbi_meta, &k, &v);
      if (rc == 0) {
        auto h = decode_header(storage::to_bytes(v));
        if (!h) return tl::unexpected(h.error());
        header = *h;
      } else if (rc != MDB_NOTFOUND) {
        return tl::unexpected(storage::lmdb_error(rc, "read header"));
      }
    }
    std::optional<std::vector<std::uint8_t>> key_header;
    if (header && header->encrypted) {
      MDB_val k = storage::to_val(kKeyHeaderKey), v;
      if (mdb_get(txn.get(), d->dbi_meta, &k, &v) != 0)
        return make_error(ErrorCode::kCorruption, "encrypted database without a key header");
      auto b = storage::to_bytes(v);
      key_header.emplace(b.begin(), b.end());
    }
    if (int rc = txn.commit()) return tl::unexpected(storage::lmdb_error(rc, "commit read"));

    if (header) {
      if (header->encrypted && !options.key)
        return make_error(ErrorCode::kAuthentication,
                          "the database is encrypted: a passphrase or key is required");
      if (!header->encrypted && options.key)
        return make_error(ErrorCode::kInvalidArgument,
                          "the database is not encrypted: open it without a key");
      if (header->encrypted) {
        auto kh = crypto::KeyHeader::parse(*key_header);
        if (!kh) return tl::unexpected(kh.error());
        // unwrap_key authenticates first, so a tampered cipher byte reads as a wrong key, and
        // only then reports a cipher this CPU lacks (kUnsupported).
        auto dek = crypto::unwrap_key(*kh, *options.key);
        if (!dek) return tl::unexpected(dek.error());
        d->data_key = std::make_unique<crypto::SecretBuffer>(std::move(*dek));
        d->tokenizer = std::make_unique<crypto::Tokenizer>(*d->data_key);
        // Epoch 0 is never committed, so a read-only open's cipher can never seal a nonce
        // that a writer uses; a read-write open replaces it below with a fresh epoch.
        d->cipher = std::make_unique<crypto::RecordCipher>(*d->data_key, kh->cipher, 0);
      }
    }
  }
  if (!header && options.read_only)
    return make_error(ErrorCode::kCorruption, "not a custdb database (no header)");
  if (header && missing_dbis && options.read_only)
    return make_error(ErrorCode::kCorruption, "not a custdb database (tables missing)");

  // Phase 2, only for a new database (or one missing tables): create what is missing.
  // Opening an existing database writes nothing; the nonce epoch is raised lazily before the
  // first write transaction (ensure_sealer).
  if (!options.read_only && (!header || missing_dbis)) {
    storage::Txn txn;
    if (int rc = storage::Txn::begin(d->env.get(), 0, txn))
      return tl::unexpected(storage::lmdb_error(rc, "begin write"));
    for (auto& [slot, name, dflags] : all_dbis(*d)) {
      int rc = mdb_dbi_open(txn.get(), name, dflags | MDB_CREATE, slot);
      if (rc) return tl::unexpected(storage::lmdb_error(rc, std::string("create table ") + name));
    }
    auto put_meta = [&](std::string_view key, Bytes value) -> Status {
      MDB_val k = storage::to_val(key), v = storage::to_val(value);
      if (int rc = mdb_put(txn.get(), d->dbi_meta, &k, &v, 0))
        return tl::unexpected(storage::lmdb_error(rc, "write meta"));
      return {};
    };
    if (!header) {
      Header h;
      h.encrypted = options.key != nullptr;
      h.currency = options.base_currency;
      if (!engine::valid_currency(h.currency))
        return make_error(ErrorCode::kInvalidArgument,
                          "base_currency: not an ISO 4217 code: '" + options.base_currency + "'");
      h.created_ms = now_ms().time_since_epoch().count();
      if (auto s = put_meta(kHeaderKey, encode_header(h)); !s) return tl::unexpected(s.error());
      if (h.encrypted) {
        auto created = crypto::create_key(*options.key, crypto::preferred_cipher());
        if (!created) return tl::unexpected(created.error());
        auto& [kh, dek] = *created;
        if (auto s = put_meta(kKeyHeaderKey, kh.serialize()); !s) return tl::unexpected(s.error());
        d->data_key = std::make_unique<crypto::SecretBuffer>(std::move(dek));
        d->tokenizer = std::make_unique<crypto::Tokenizer>(*d->data_key);
        d->cipher = std::make_unique<crypto::RecordCipher>(*d->data_key, kh.cipher, 0);
      }
      header = h;
    }
    if (int rc = txn.commit()) return tl::unexpected(storage::lmdb_error(rc, "commit open"));
  }
  d->encrypted = header->encrypted;
  d->base_currency = header->currency;
  d->options.key.reset();  // the unwrapped data key is all a handle needs from here on
  d->codec = std::make_unique<codec::RecordCodec>(d->cipher.get());
  d->keys = std::make_unique<index::IndexKeys>(d->tokenizer.get());
  d->seg_keys = std::make_unique<index::SegmentKeys>(d->tokenizer.get());
  return d;
}

Status DatabaseImpl::ensure_sealer() const {
  std::lock_guard lock(sealer_mutex);
  if (sealer) return {};
  // Nonces are (epoch, counter). Each handle that writes takes a fresh epoch and makes it
  // durable before it seals anything, so no nonce repeats under the key, across crashes too.
  storage::Txn txn;
  if (int rc = storage::Txn::begin(env.get(), 0, txn))
    return tl::unexpected(storage::lmdb_error(rc, "begin write"));
  MDB_val k = storage::to_val(kEpochKey), v;
  std::uint32_t epoch = 0;
  int rc = mdb_get(txn.get(), dbi_meta, &k, &v);
  if (rc == 0 && v.mv_size == 4) {
    const auto* p = static_cast<const std::uint8_t*>(v.mv_data);
    epoch = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
            (std::uint32_t{p[2]} << 8) | p[3];
  } else if (rc != MDB_NOTFOUND) {
    return make_error(ErrorCode::kCorruption, "bad nonce epoch in meta");
  }
  if (epoch == UINT32_MAX)
    return make_error(ErrorCode::kUnsupported, "nonce epochs exhausted: rotate the data key");
  ++epoch;
  std::uint8_t e[4] = {static_cast<std::uint8_t>(epoch >> 24), static_cast<std::uint8_t>(epoch >> 16),
                       static_cast<std::uint8_t>(epoch >> 8), static_cast<std::uint8_t>(epoch)};
  v = MDB_val{4, e};
  if ((rc = mdb_put(txn.get(), dbi_meta, &k, &v, 0)))
    return tl::unexpected(storage::lmdb_error(rc, "write nonce epoch"));
  if ((rc = txn.commit())) return tl::unexpected(storage::lmdb_error(rc, "commit nonce epoch"));
  if (auto s = const_cast<storage::Env&>(env).sync(true); !s) return s;
  sealer = std::make_unique<crypto::RecordCipher>(*data_key, cipher->cipher(), epoch);
  codec->set_sealer(sealer.get());
  sealer_ready.store(true, std::memory_order_release);
  return {};
}

Result<std::unique_ptr<TxnState>> DatabaseImpl::begin(bool write) const {
  if (write && options.read_only)
    return make_error(ErrorCode::kReadOnly, "the database was opened read-only");
  if (write && encrypted && !sealer_ready.load(std::memory_order_acquire)) {
    if (auto s = ensure_sealer(); !s) return tl::unexpected(s.error());
  }
  auto st = std::make_unique<TxnState>();
  st->write = write;
  if (auto s = begin_into(*st, write); !s) return tl::unexpected(s.error());
  return st;
}

Status DatabaseImpl::begin_into(TxnState& st, bool write) const {
  bool reclaimed = false;
  for (;;) {
    st.ticket = remap_gate.enter();
    int rc = storage::Txn::begin(env.get(), write ? 0 : MDB_RDONLY, st.txn);
    if (rc == 0) return {};
    st.ticket.release();
    if (rc == MDB_READERS_FULL && !reclaimed) {
      // Slots of processes that died holding a read transaction: clear them and try again.
      reclaimed = true;
      if (const_cast<storage::Env&>(env).reader_check() > 0) continue;
    }
    if (rc != MDB_MAP_RESIZED) return tl::unexpected(storage::lmdb_error(rc, "begin transaction"));
    // Another process grew the map: adopt its size (needs no transaction of ours active).
    Status adopted;
    if (!remap_gate.exclusive(kRemapWait, [&] {
          adopted = const_cast<storage::Env&>(env).set_map_size(0);
        }))
      return make_error(ErrorCode::kBusy, "waiting for read transactions to adopt a larger map");
    if (!adopted) return adopted;
  }
}

Status DatabaseImpl::grow_and_replay(TxnState& st) {
  st.txn.abort();
  st.ticket.release();
  st.map_full = false;
  if (!options.grow_map)
    return make_error(ErrorCode::kIOError, "database map is full (automatic growth is off)");
  Status grown;
  bool ran = remap_gate.exclusive(kRemapWait, [&] {
    MDB_envinfo info = env.info();
    std::size_t page = env.stat().ms_psize;
    std::size_t cur = info.me_mapsize;
    std::size_t step = std::min<std::size_t>(std::max<std::size_t>(cur, std::size_t{1} << 24),
                                             std::size_t{1} << 30);
    std::size_t next = round_up(cur + step, page);
    if (options.max_map_size && next > options.max_map_size) {
      if (cur >= options.max_map_size) {
        grown = make_error(ErrorCode::kIOError, "database map is full: it reached max_map_size (" +
                                                    std::to_string(options.max_map_size) + " bytes)");
        return;
      }
      next = options.max_map_size / page * page;
    }
    grown = const_cast<storage::Env&>(env).set_map_size(next);
  });
  if (!ran)
    return make_error(ErrorCode::kBusy,
                      "the map must grow but transactions of this process stayed open for 30 s "
                      "(does this thread hold one?)");
  if (!grown) return grown;
  if (!st.replayable) {
    st.grew = true;  // nothing to replay from: the caller re-runs its body
    return make_error(ErrorCode::kBusy, "the map grew; run the transaction again");
  }
  if (auto s = begin_into(st, true); !s) return s;
  st.posting_deltas.clear();  // the replay queues them again
  st.extents_added.clear();
  for (auto& op : st.redo) {
    auto s = op(st);
    if (!s) {
      if (st.map_full) return grow_and_replay(st);  // grew too little: again
      return s;
    }
  }
  return {};
}

Status DatabaseImpl::write_retrying(const std::function<Status(TxnState&)>& body) {
  for (int attempt = 0;; ++attempt) {
    auto st = begin(true);
    if (!st) return tl::unexpected(st.error());
    Status s = body(**st);
    if (s) s = commit(**st);
    else if ((*st)->map_full) s = grow_and_replay(**st);
    if (s || !(*st)->grew || attempt == 16) return s;
  }
}

Status DatabaseImpl::commit(TxnState& st) {
  for (;;) {
    if (auto s = flush_postings(st); !s) {
      if (!st.map_full) return s;
      if (auto g = grow_and_replay(st); !g) return g;
      continue;
    }
    int rc = st.txn.commit();
    if (rc == 0) return {};
    if (rc != MDB_MAP_FULL) return tl::unexpected(storage::lmdb_error(rc, "commit"));
    st.map_full = true;
    if (auto s = grow_and_replay(st); !s) return s;
  }
}

// ---- storage primitives -----------------------------------------------------------------------

Result<std::optional<Bytes>> DatabaseImpl::get(TxnState& st, MDB_dbi dbi, Bytes key) const {
  MDB_val k = storage::to_val(key), v;
  int rc = mdb_get(st.txn.get(), dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<Bytes>();
  if (rc) return tl::unexpected(storage::lmdb_error(rc, "read"));
  return std::optional<Bytes>(storage::to_bytes(v));
}

Status DatabaseImpl::put(TxnState& st, MDB_dbi dbi, Bytes key, Bytes val, unsigned flags) const {
  MDB_val k = storage::to_val(key), v = storage::to_val(val);
  int rc = mdb_put(st.txn.get(), dbi, &k, &v, flags);
  if (rc == 0) return {};
  if (rc == MDB_MAP_FULL) st.map_full = true;
  else st.poisoned = true;
  return tl::unexpected(storage::lmdb_error(rc, "write"));
}

Status DatabaseImpl::del(TxnState& st, MDB_dbi dbi, Bytes key, std::optional<Bytes> val) const {
  MDB_val k = storage::to_val(key), v;
  if (val) v = storage::to_val(*val);
  int rc = mdb_del(st.txn.get(), dbi, &k, val ? &v : nullptr);
  if (rc == 0 || rc == MDB_NOTFOUND) return {};
  if (rc == MDB_MAP_FULL) st.map_full = true;
  else st.poisoned = true;
  return tl::unexpected(storage::lmdb_error(rc, "delete"));
}

Status DatabaseImpl::put_entry(TxnState& st, const index::IndexEntry& e) const {
  MDB_dbi dbi = dbi_index[static_cast<std::size_t>(e.index)];
  return put(st, dbi, as_bytes(e.key), as_bytes(e.value),
             index::spec(e.index).unique ? 0u : unsigned{MDB_NODUPDATA});
}

Status DatabaseImpl::del_entry(TxnState& st, const index::IndexEntry& e) const {
  MDB_dbi dbi = dbi_index[static_cast<std::size_t>(e.index)];
  return del(st, dbi, as_bytes(e.key),
             index::spec(e.index).unique ? std::nullopt : std::optional(as_bytes(e.value)));
}

Status DatabaseImpl::update_entries(TxnState& st, std::vector<index::IndexEntry> old_entries,
                                    std::vector<index::IndexEntry> new_entries) const {
  std::sort(old_entries.begin(), old_entries.end());
  std::sort(new_entries.begin(), new_entries.end());
  auto o = old_entries.begin(), n = new_entries.begin();
  while (o != old_entries.end() || n != new_entries.end()) {
    if (n == new_entries.end() || (o != old_entries.end() && *o < *n)) {
      if (auto s = del_entry(st, *o++); !s) return s;
    } else if (o == old_entries.end() || *n < *o) {
      if (auto s = put_entry(st, *n++); !s) return s;
    } else {
      ++o, ++n;  // unchanged
    }
  }
  return {};
}

Result<std::vector<std::string>> DatabaseImpl::index_values(TxnState& st, index::IndexId id,
                                                            std::string_view key) const {
  std::vector<std::string> out;
  storage::Cursor cur(st.txn.get(), dbi_index[static_cast<std::size_t>(id)]);
  if (cur.open_rc()) return tl::unexpected(storage::lmdb_error(cur.open_rc(), "cursor"));
  MDB_val k = storage::to_val(key), v;
  int rc = cur.get(k, v, MDB_SET);
  while (rc == 0) {
    out.emplace_back(storage::to_view(v));
    rc = cur.get(k, v, MDB_NEXT_DUP);
  }
  if (rc != MDB_NOTFOUND) return tl::unexpected(storage::lmdb_error(rc, "index read"));
  return out;
}

// ---- meta values -----------------------------------------------------------------------------

Result<std::optional<std::string>> DatabaseImpl::get_meta(TxnState& st, std::string_view key) const {
  auto stored = get(st, dbi_meta, as_bytes(key));
  if (!stored) return tl::unexpected(stored.error());
  if (!*stored) return std::optional<std::string>();
  thread_local std::vector<std::uint8_t> scratch;
  auto payload = codec->unwrap(codec::Table::kMeta, as_bytes(key), **stored, scratch);
  if (!payload) return tl::unexpected(payload.error());
  return std::optional<std::string>(std::in_place, reinterpret_cast<const char*>(payload->data()),
                                    payload->size());
}

Status DatabaseImpl::put_meta(TxnState& st, std::string_view key, std::string_view value) const {
  std::vector<std::uint8_t> sealed;
  codec->wrap(codec::Table::kMeta, as_bytes(key), as_bytes(value), sealed);
  return put(st, dbi_meta, as_bytes(key), sealed);
}

// ---- meta counters ---------------------------------------------------------------------------

Result<std::uint64_t> DatabaseImpl::next_id(TxnState& st, std::string_view counter) const {
  auto v = get(st, dbi_meta, as_bytes(counter));
  if (!v) return tl::unexpected(v.error());
  if (!*v) return std::uint64_t{1};
  if ((*v)->size() != 8) return make_error(ErrorCode::kCorruption, "bad id counter");
  return storage::get_u64((*v)->data());
}

Status DatabaseImpl::bump_counter(TxnState& st, std::string_view counter,
                                  std::uint64_t used_id) const {
  auto next = next_id(st, counter);
  if (!next) return tl::unexpected(next.error());
  if (used_id < *next) return {};
  storage::IdKey v(used_id + 1);
  return put(st, dbi_meta, as_bytes(counter), v.span());
}

// ---- records ---------------------------------------------------------------------------------

Result<std::optional<Customer>> DatabaseImpl::load_customer(TxnState& st, CustomerId id) const {
  storage::IdKey k(id);
  auto v = get(st, dbi_customers, k.span());
  if (!v) return tl::unexpected(v.error());
  if (!*v) return std::optional<Customer>();
  auto c = codec->decode_customer(k.span(), **v);
  if (!c) return tl::unexpected(c.error());
  return std::optional<Customer>(std::move(*c));
}

Result<std::optional<Bytes>> DatabaseImpl::OrderedReader::get(Bytes key) {
  if (cur_.open_rc()) return tl::unexpected(storage::lmdb_error(cur_.open_rc(), "cursor"));
  MDB_val k = storage::to_val(key), v;
  int rc = cur_.get(k, v, MDB_SET_KEY);
  if (rc == MDB_NOTFOUND) return std::optional<Bytes>();
  if (rc) return tl::unexpected(storage::lmdb_error(rc, "read"));
  return std::optional<Bytes>(storage::to_bytes(v));
}

Result<std::optional<Customer>> DatabaseImpl::load_customer(OrderedReader& customers,
                                                            CustomerId id) const {
  storage::IdKey k(id);
  auto v = customers.get(k.span());
  if (!v) return tl::unexpected(v.error());
  if (!*v) return std::optional<Customer>();
  auto c = codec->decode_customer(k.span(), **v);
  if (!c) return tl::unexpected(c.error());
  return std::optional<Customer>(std::move(*c));
}

Result<std::optional<Relationship>> DatabaseImpl::load_relationship(TxnState& st,
                                                                    RelationshipId id) const {
  storage::IdKey k(id);
  auto v = get(st, dbi_relationships, k.span());
  if (!v) return tl::unexpected(v.error());
  if (!*v) return std::optional<Relationship>();
  auto r = codec->decode_relationship(k.span(), **v);
  if (!r) return tl::unexpected(r.error());
  return std::optional<Relationship>(std::move(*r));
}

Result<std::optional<Transaction>> DatabaseImpl::load_transaction(TxnState& st,
                                                                  TransactionId id) const {
  storage::IdKey k(id);
  auto v = get(st, dbi_transactions, k.span());
  if (!v) return tl::unexpected(v.error());
  if (!*v) return std::optional<Transaction>();
  auto t = codec->decode_transaction(k.span(), **v);
  if (!t) return tl::unexpected(t.error());
  return std::optional<Transaction>(std::move(*t));
}

Status DatabaseImpl::store_customer(TxnState& st, const Customer& c) const {
  storage::IdKey k(c.id);
  codec->encode(k.span(), c, st.buf);
  return put(st, dbi_customers, k.span(), st.buf);
}

}  // namespace detail

// ---- public wrappers -------------------------------------------------------------------------

using detail::TxnState;

ReadView::ReadView(detail::DatabaseImpl* db, std::unique_ptr<TxnState> state)
    : db_(db), state_(std::move(state)) {}
ReadView::ReadView(ReadView&&) noexcept = default;
ReadView& ReadView::operator=(ReadView&&) noexcept = default;
ReadView::~ReadView() = default;

ReadTxn::ReadTxn(detail::DatabaseImpl* db, std::unique_ptr<TxnState> state)
    : ReadView(db, std::move(state)) {}
ReadTxn::ReadTxn(ReadTxn&&) noexcept = default;
ReadTxn& ReadTxn::operator=(ReadTxn&&) noexcept = default;
ReadTxn::~ReadTxn() = default;

WriteTxn::WriteTxn(detail::DatabaseImpl* db, std::unique_ptr<TxnState> state)
    : ReadView(db, std::move(state)) {}
WriteTxn::WriteTxn(WriteTxn&&) noexcept = default;
WriteTxn& WriteTxn::operator=(WriteTxn&& o) noexcept {
  if (this != &o) {
    abort();
    ReadView::operator=(std::move(o));
  }
  return *this;
}
WriteTxn::~WriteTxn() { abort(); }

void WriteTxn::abort() noexcept {
  if (state_) {
    state_->txn.abort();
    state_.reset();
  }
}

Status WriteTxn::commit() {
  if (!state_) return make_error(ErrorCode::kFailedPrecondition, "transaction already finished");
  auto st = std::move(state_);
  if (st->poisoned)
    return make_error(ErrorCode::kIOError, "transaction aborted after a storage failure");
  return db_->commit(*st);
}

template <class R>
Result<R> WriteTxn::run(std::function<Result<R>(TxnState&)> op) {
  if (!state_) return make_error(ErrorCode::kFailedPrecondition, "transaction already finished");
  if (state_->poisoned)
    return make_error(ErrorCode::kIOError, "transaction aborted after a storage failure");
  auto r = op(*state_);
  while (!r && state_->map_full) {
    if (auto s = db_->grow_and_replay(*state_); !s) {
      state_->poisoned = true;
      return tl::unexpected(s.error());
    }
    r = op(*state_);
  }
  if (r) {
    // Replays must reproduce what the caller was told (ids); a writer in another process or
    // thread slipping in while the map grew could change that, and then the transaction fails.
    state_->redo.push_back([op, first = *r](TxnState& st) -> Status {
      auto again = op(st);
      if (!again) return tl::unexpected(again.error());
      if (!(*again == first))
        return make_error(ErrorCode::kBusy,
                          "another process wrote while the map grew; transaction aborted");
      return {};
    });
  } else if (state_->poisoned) {
    state_->txn.abort();
  }
  return r;
}

Result<CustomerId> WriteTxn::insert_customer(Customer c) {
  return run<CustomerId>([db = db_, c = std::move(c)](TxnState& st) {
    return db->insert_customer(st, c);
  });
}
Result<bool> WriteTxn::update_customer(CustomerId id, const std::function<void(Customer&)>& fn) {
  return run<bool>([db = db_, id, fn](TxnState& st) { return db->update_customer(st, id, fn); });
}
Result<bool> WriteTxn::delete_customer(CustomerId id, DeleteMode mode) {
  return run<bool>([db = db_, id, mode](TxnState& st) { return db->delete_customer(st, id, mode); });
}
Result<RelationshipId> WriteTxn::add_relationship(Relationship r) {
  return run<RelationshipId>(
      [db = db_, r = std::move(r)](TxnState& st) { return db->add_relationship(st, r); });
}
Result<bool> WriteTxn::remove_relationship(RelationshipId id) {
  return run<bool>([db = db_, id](TxnState& st) { return db->remove_relationship(st, id); });
}
Result<TransactionId> WriteTxn::add_transaction(Transaction t) {
  return run<TransactionId>(
      [db = db_, t = std::move(t)](TxnState& st) { return db->add_transaction(st, t); });
}
Result<bool> WriteTxn::amend_transaction(TransactionId id,
                                         const std::function<void(Transaction&)>& fn) {
  return run<bool>([db = db_, id, fn](TxnState& st) { return db->amend_transaction(st, id, fn); });
}
Result<bool> WriteTxn::remove_transaction(TransactionId id) {
  return run<bool>([db = db_, id](TxnState& st) { return db->remove_transaction(st, id); });
}

// Reads: a finished WriteTxn has no state.
#define CUSTDB_REQUIRE_STATE()                                                             \
  if (!state_) return make_error(ErrorCode::kFailedPrecondition, "transaction finished")

Result<std::optional<Customer>> ReadView::get_customer(CustomerId id) const {
  CUSTDB_REQUIRE_STATE();
  return db_->load_customer(*state_, id);
}
Result<std::optional<Customer>> ReadView::find_by_external_ref(std::string_view ref) const {
  CUSTDB_REQUIRE_STATE();
  const std::string want = normalize::trim(ref);
  auto v = db_->customers_by(*state_, index::IndexId::kExternalRef,
                             db_->keys->equality_key(index::IndexId::kExternalRef, want),
                             [&](const Customer& c) { return c.external_ref == want; });
  if (!v) return tl::unexpected(v.error());
  if (v->empty()) return std::optional<Customer>();
  return std::optional<Customer>(std::move(v->front()));
}
Result<std::optional<Relationship>> ReadView::get_relationship(RelationshipId id) const {
  CUSTDB_REQUIRE_STATE();
  return db_->load_relationship(*state_, id);
}
Result<std::vector<Relationship>> ReadView::relationships_of(CustomerId id) const {
  CUSTDB_REQUIRE_STATE();
  return db_->relationships_of(*state_, id);
}
Result<std::optional<Transaction>> ReadView::get_transaction(TransactionId id) const {
  CUSTDB_REQUIRE_STATE();
  return db_->load_transaction(*state_, id);
}
Result<std::vector<Transaction>> ReadView::transactions_of(CustomerId id,
                                                           std::optional<Timestamp> from,
                                                           std::optional<Timestamp> to) const {
  CUSTDB_REQUIRE_STATE();
  return db_->transactions_of(*state_, id, from, to);
}
Result<TableCounts> ReadView::counts() const {
  CUSTDB_REQUIRE_STATE();
  if (!state_->txn) return make_error(ErrorCode::kIOError, "transaction aborted after a storage failure");
  TableCounts c;
  std::pair<MDB_dbi, std::uint64_t*> tables[] = {{db_->dbi_customers, &c.customers},
                                                 {db_->dbi_relationships, &c.relationships},
                                                 {db_->dbi_transactions, &c.transactions}};
  for (auto [dbi, out] : tables) {
    MDB_stat s;
    if (int rc = mdb_stat(state_->txn.get(), dbi, &s))
      return tl::unexpected(storage::lmdb_error(rc, "table statistics"));
    *out = s.ms_entries;
  }
  return c;
}
Status ReadView::for_each_customer(const std::function<bool(const Customer&)>& fn) const {
  CUSTDB_REQUIRE_STATE();
  storage::Cursor cur(state_->txn.get(), db_->dbi_customers);
  if (cur.open_rc()) return tl::unexpected(storage::lmdb_error(cur.open_rc(), "cursor"));
  MDB_val k, v;
  int rc = cur.get(k, v, MDB_FIRST);
  while (rc == 0) {
    auto c = db_->codec->decode_customer(storage::to_bytes(k), storage::to_bytes(v));
    if (!c) return tl::unexpected(c.error());
    if (!fn(*c)) return {};
    rc = cur.get(k, v, MDB_NEXT);
  }
  if (rc != MDB_NOTFOUND) return tl::unexpected(storage::lmdb_error(rc, "scan customers"));
  return {};
}
#undef CUSTDB_REQUIRE_STATE

Database::Database(std::unique_ptr<detail::DatabaseImpl> impl) : impl_(std::move(impl)) {}
Database::Database(Database&&) noexcept = default;
Database& Database::operator=(Database&&) noexcept = default;
Database::~Database() = default;

Result<Database> Database::open(const std::filesystem::path& path, const Options& options) {
  auto impl = detail::DatabaseImpl::open(path, options);
  if (!impl) return tl::unexpected(impl.error());
  return Database(std::move(*impl));
}

Result<ReadTxn> Database::begin_read() const {
  auto st = impl_->begin(false);
  if (!st) return tl::unexpected(st.error());
  return ReadTxn(impl_.get(), std::move(*st));
}

Result<WriteTxn> Database::begin_write() {
  auto st = impl_->begin(true);
  if (!st) return tl::unexpected(st.error());
  (*st)->replayable = true;
  return WriteTxn(impl_.get(), std::move(*st));
}

Result<std::optional<Customer>> Database::get_customer(CustomerId id) const {
  auto txn = begin_read();
  if (!txn) return tl::unexpected(txn.error());
  return txn->get_customer(id);
}

Result<CustomerId> Database::insert_customer(Customer customer) {
  auto txn = begin_write();
  if (!txn) return tl::unexpected(txn.error());
  auto id = txn->insert_customer(std::move(customer));
  if (!id) return id;
  if (auto s = txn->commit(); !s) return tl::unexpected(s.error());
  return id;
}

Result<std::vector<CustomerId>> Database::insert_customers(std::span<const Customer> customers) {
  auto txn = begin_write();
  if (!txn) return tl::unexpected(txn.error());
  std::vector<CustomerId> ids;
  ids.reserve(customers.size());
  for (std::size_t i = 0; i < customers.size(); ++i) {
    auto id = txn->insert_customer(customers[i]);
    if (!id) return tl::unexpected(id.error().with_context("customer #" + std::to_string(i + 1)));
    ids.push_back(*id);
  }
  if (auto s = txn->commit(); !s) return tl::unexpected(s.error());
  return ids;
}

Result<TransactionId> Database::add_transaction(Transaction t) {
  auto txn = begin_write();
  if (!txn) return tl::unexpected(txn.error());
  auto id = txn->add_transaction(std::move(t));
  if (!id) return id;
  if (auto s = txn->commit(); !s) return tl::unexpected(s.error());
  return id;
}

Result<CheckReport> Database::check() const { return impl_->check(); }

DatabaseInfo Database::info() const {
  DatabaseInfo i;
  i.path = impl_->path;
  i.encrypted = impl_->encrypted;
  i.read_only = impl_->options.read_only;
  i.base_currency = impl_->base_currency;
  i.format_version = detail::kFileFormat;
  MDB_envinfo e = impl_->env.info();
  MDB_stat s = impl_->env.stat();
  i.map_size = e.me_mapsize;
  i.page_size = s.ms_psize;
  i.file_size = (e.me_last_pgno + 1) * s.ms_psize;
  std::error_code ec;
  auto fsz = std::filesystem::file_size(impl_->path / "data.mdb", ec);
  if (!ec) i.file_size = fsz;
  i.max_readers = e.me_maxreaders;
  i.readers_in_use = e.me_numreaders;
  return i;
}

Status Database::sync() { return impl_->env.sync(true); }

Status Database::change_key(const KeyMaterial& new_key) {
  auto& d = *impl_;
  if (!d.encrypted)
    return make_error(ErrorCode::kFailedPrecondition, "the database is not encrypted");
  const storage::Bytes key(reinterpret_cast<const std::uint8_t*>(detail::kKeyHeaderKey.data()),
                           detail::kKeyHeaderKey.size());
  auto s = d.write_retrying([&](TxnState& st) -> Status {
    auto stored = d.get(st, d.dbi_meta, key);
    if (!stored) return tl::unexpected(stored.error());
    if (!*stored)
      return make_error(ErrorCode::kCorruption, "encrypted database without a key header");
    auto old = crypto::KeyHeader::parse(**stored);
    if (!old) return tl::unexpected(old.error());
    auto rewrapped = crypto::rewrap_key(*old, *d.data_key, new_key);
    if (!rewrapped) return tl::unexpected(rewrapped.error());
    return d.put(st, d.dbi_meta, key, rewrapped->serialize());
  });
  if (!s) return s;
  return d.env.sync(true);  // the old wrapping must not be what survives a crash
}

}  // namespace custdb

namespace custdb {

Status Database::backup(const std::filesystem::path& dir, bool compact) const {
  std::error_code ec;
  if (std::filesystem::exists(dir / "data.mdb", ec))
    return make_error(ErrorCode::kAlreadyExists, "a database exists at " + dir.string());
  std::filesystem::create_directories(dir, ec);
  if (ec) return make_error(ErrorCode::kIOError, "cannot create " + dir.string() + ": " + ec.message());
  // mdb_env_copy2 runs in its own read transaction: a snapshot, concurrent with writers.
  auto s = impl_->env.copy_to(dir.string(), compact);
  if (!s) return s;
  return {};
}

Result<std::vector<Database::TableStats>> Database::stats() const {
  auto st = impl_->begin(false);
  if (!st) return tl::unexpected(st.error());
  std::vector<TableStats> out;
  auto add = [&](const char* name, MDB_dbi dbi) -> Status {
    MDB_stat s;
    if (int rc = mdb_stat((*st)->txn.get(), dbi, &s)) return tl::unexpected(storage::lmdb_error(rc, "stat"));
    out.push_back({name, s.ms_entries, s.ms_branch_pages + s.ms_leaf_pages + s.ms_overflow_pages,
                   s.ms_depth});
    return {};
  };
  const auto& d = *impl_;
  if (auto s = add("meta", d.dbi_meta); !s) return tl::unexpected(s.error());
  if (auto s = add("customers", d.dbi_customers); !s) return tl::unexpected(s.error());
  if (auto s = add("relationships", d.dbi_relationships); !s) return tl::unexpected(s.error());
  if (auto s = add("transactions", d.dbi_transactions); !s) return tl::unexpected(s.error());
  for (std::size_t i = 0; i < index::kIndexCount; ++i)
    if (auto s = add(index::spec(static_cast<index::IndexId>(i)).dbi_name, d.dbi_index[i]); !s)
      return tl::unexpected(s.error());
  if (auto s = add("idx.segments", d.dbi_segments); !s) return tl::unexpected(s.error());
  return out;
}

Result<std::vector<ReadView::Hop>> ReadView::neighborhood(CustomerId id, int depth,
                                                          std::optional<RelationType> type) const {
  if (!state_) return make_error(ErrorCode::kFailedPrecondition, "transaction finished");
  if (depth < 1) return make_error(ErrorCode::kInvalidArgument, "depth: must be at least 1");
  std::vector<Hop> out;
  std::set<RelationshipId> seen_rel;
  std::set<CustomerId> seen{id};
  std::vector<CustomerId> frontier{id};
  for (int d = 1; d <= depth && !frontier.empty(); ++d) {
    std::vector<CustomerId> next;
    for (CustomerId c : frontier) {
      auto rels = db_->relationships_of(*state_, c);
      if (!rels) return tl::unexpected(rels.error());
      for (auto& r : *rels) {
        if (type && r.type != *type) continue;
        if (!seen_rel.insert(r.id).second) continue;
        CustomerId other = r.from == c ? r.to : r.from;
        if (seen.insert(other).second) next.push_back(other);
        out.push_back({std::move(r), d});
      }
    }
    frontier = std::move(next);
  }
  return out;
}

}  // namespace custdb
