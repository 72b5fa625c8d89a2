// Opening and creating databases, transactions and the write lock, and the public wrappers.
#include <lmdb.h>

#include <atomic>
#include <cerrno>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>

#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <pthread.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <sys/stat.h>
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


// LMDB forbids opening one environment twice in a process (its locks are per process).
// A forked child inherits the parent's set but not its environments: the set is per pid.
std::mutex g_registry_mutex;
std::set<std::string> g_open_paths;
pid_t g_registry_pid = 0;

namespace {

namespace fs = std::filesystem;
using storage::Bytes;

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

constexpr auto kRemapWait = std::chrono::milliseconds(30'000);

// custdb.lock descriptors of this process's open databases. The write lock is an OFD lock and
// the rotation lock a flock: both belong to the open file description, which a fork()ed child
// shares. A process that forked a worker (without exec) and then died holding the write lock
// left the lock held for as long as the worker lived: every writer of every process waited
// for ever (LMDB's own writer mutex is robust and would have been recovered). So a child drops
// its references at fork: each descriptor is pointed at /dev/null (not closed, so the number
// stays taken and the inherited handle's destructor closes what is its own). LMDB forbids
// using an environment in a forked child anyway. Lock-free: the child handler may only call
// async-signal-safe functions.
constexpr int kLockFdSlots = 1024;
std::atomic<int> g_lock_fds[kLockFdSlots];  // fd + 1; 0: free
std::once_flag g_atfork_once;

void drop_lock_fds_in_child() {
  const int nul = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (nul < 0) return;
  for (auto& slot : g_lock_fds) {
    const int v = slot.exchange(0);
    if (v > 0) ::dup3(nul, v - 1, O_CLOEXEC);
  }
  ::close(nul);
}

void register_lock_fd(int fd) {
  std::call_once(g_atfork_once, [] { ::pthread_atfork(nullptr, nullptr, drop_lock_fds_in_child); });
  for (auto& slot : g_lock_fds) {
    int free = 0;
    if (slot.compare_exchange_strong(free, fd + 1)) return;
  }
}

void unregister_lock_fd(int fd) {
  for (auto& slot : g_lock_fds) {
    int mine = fd + 1;
    if (slot.compare_exchange_strong(mine, 0)) return;
  }
}

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
  if (lock_fd >= 0) {
    unregister_lock_fd(lock_fd);
    ::close(lock_fd);
  }
  if (!registry_key.empty()) {
    std::lock_guard lock(g_registry_mutex);
    if (g_registry_pid == ::getpid()) g_open_paths.erase(registry_key);
  }
}

namespace {

// What a create made (directories, files), removed again when the create fails, so a failed
// create leaves the path as it found it. Holds paths only; run after the environment closed.
class CreateUndo {
 public:
  CreateUndo() = default;
  CreateUndo(const CreateUndo&) = delete;
  CreateUndo& operator=(const CreateUndo&) = delete;
  ~CreateUndo() {
    if (done_) return;
    std::error_code ec;
    for (auto it = files_.rbegin(); it != files_.rend(); ++it) fs::remove(*it, ec);
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) fs::remove(*it, ec);  // if empty
  }
  void file(const fs::path& p) { files_.push_back(p); }
  void dir(const fs::path& p) { dirs_.push_back(p); }
  void dismiss() { done_ = true; }
  // The files turned out to be another process's (it created them first): keep them.
  void keep_files() { files_.clear(); }

 private:
  std::vector<fs::path> files_, dirs_;
  bool done_ = false;
};

// mkdir -p with mode 0700 for every directory it creates, whatever the umask (a umask can only
// narrow the mode mkdir applies; the chmod makes it exactly 0700). Existing directories keep
// their mode: they are the user's.
Status create_private_dirs(const fs::path& path, CreateUndo& undo) {
  std::error_code ec;
  fs::path prefix;
  for (const auto& part : path) {
    prefix /= part;
    if (fs::is_directory(prefix, ec)) continue;
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST)
      return make_error(ErrorCode::kIOError,
                        "cannot create " + prefix.string() + ": " + std::strerror(errno));
    ::chmod(prefix.c_str(), 0700);
    undo.dir(prefix);
  }
  return {};
}

// kCorruption unless the handle's data key opens the first record of a non-empty table (or
// every table is empty). Called before a legacy file's key header is bound to it.
Status probe_records(DatabaseImpl& d, storage::Txn& txn) {
  codec::RecordCodec codec(d.cipher.get());
  bool any = false;
  for (int table = 0; table < 3; ++table) {
    MDB_dbi dbi = table == 0 ? d.dbi_customers : table == 1 ? d.dbi_relationships : d.dbi_transactions;
    storage::Cursor cur(txn.get(), dbi);
    if (cur.open_rc()) return tl::unexpected(storage::lmdb_error(cur.open_rc(), "cursor"));
    MDB_val k, v;
    int rc = cur.get(k, v, MDB_FIRST);
    if (rc == MDB_NOTFOUND) continue;
    if (rc) return tl::unexpected(storage::lmdb_error(rc, "read"));
    any = true;
    const Bytes key = storage::to_bytes(k), value = storage::to_bytes(v);
    const bool opened = table == 0   ? codec.decode_customer(key, value).has_value()
                        : table == 1 ? codec.decode_relationship(key, value).has_value()
                                     : codec.decode_transaction(key, value).has_value();
    if (opened) return {};
  }
  if (!any) return {};
  return make_error(ErrorCode::kCorruption,
                    "the key header does not open this database's records: it was copied from "
                    "another database, or the records are damaged");
}

// The first few records of each table, copied out of a read transaction so that they can be
// opened once the data key is unwrapped (probe_copies).
struct RecordCopy {
  int table;  // 0 customers, 1 relationships, 2 transactions
  std::vector<std::uint8_t> key, value;
};
constexpr int kProbePerTable = 4;

void copy_first_records(DatabaseImpl& d, storage::Txn& txn, std::vector<RecordCopy>& out) {
  for (int table = 0; table < 3; ++table) {
    MDB_dbi dbi = table == 0 ? d.dbi_customers : table == 1 ? d.dbi_relationships : d.dbi_transactions;
    if (!dbi) continue;
    storage::Cursor cur(txn.get(), dbi);
    if (cur.open_rc()) continue;
    MDB_val k, v;
    int rc = cur.get(k, v, MDB_FIRST);
    for (int n = 0; rc == 0 && n < kProbePerTable; ++n, rc = cur.get(k, v, MDB_NEXT)) {
      const Bytes key = storage::to_bytes(k), value = storage::to_bytes(v);
      out.push_back({table, {key.begin(), key.end()}, {value.begin(), value.end()}});
    }
    // A damaged page is not this probe's business: the reads that meet it (and check())
    // report it, so the open goes on and verify can still run.
  }
}

// kCorruption when records were copied and the data key opens none of them: the key header,
// its file id and its binding were all copied from another database made with the same
// secret (the binding then agrees with itself), and every query would answer from nothing.
Status probe_copies(const crypto::RecordCipher* cipher, const std::vector<RecordCopy>& copies) {
  if (copies.empty()) return {};
  codec::RecordCodec codec(cipher);
  for (const auto& c : copies) {
    const Bytes key(c.key.data(), c.key.size()), value(c.value.data(), c.value.size());
    const bool opened = c.table == 0   ? codec.decode_customer(key, value).has_value()
                        : c.table == 1 ? codec.decode_relationship(key, value).has_value()
                                       : codec.decode_transaction(key, value).has_value();
    if (opened) return {};
  }
  return make_error(ErrorCode::kCorruption,
                    "the key header does not open this database's records: it was copied from "
                    "another database (with its file id and binding), or the records are damaged");
}

// Reads 16 random bytes into a file id.
std::array<std::uint8_t, crypto::kFileIdSize> new_file_id() {
  crypto::ensure_sodium();
  std::array<std::uint8_t, crypto::kFileIdSize> id{};
  randombytes_buf(id.data(), id.size());
  return id;
}

}  // namespace

Result<std::unique_ptr<DatabaseImpl>> DatabaseImpl::open(const fs::path& path,
                                                         const Options& options,
                                                         bool take_process_lock) {
  // Declared before the handle so that, on failure, it runs after the handle (and its LMDB
  // environment and lock file) closed.
  CreateUndo undo;
  auto d = std::make_unique<DatabaseImpl>();
  d->path = path;
  d->options = options;
  std::error_code ec;
  const fs::path data_file = path / "data.mdb";
  bool exists = fs::exists(data_file, ec);
  if (exists && options.error_if_exists)
    return make_error(ErrorCode::kAlreadyExists, "a database exists at " + path.string());
  // Creation only: empty means "USD" for a new database and "the file's" for an existing one.
  if (!options.base_currency.empty() && !is_currency_code(options.base_currency))
    return make_error(ErrorCode::kInvalidArgument,
                      "base_currency: not an ISO 4217 code: '" + options.base_currency + "'");
  const std::string currency = canonical_currency(options.base_currency);
  if (!exists) {
    if (!options.create_if_missing || options.read_only)
      return make_error(ErrorCode::kIOError, "no database at " + path.string());
    if (auto s = create_private_dirs(path, undo); !s) return tl::unexpected(s.error());
    undo.file(data_file);
    undo.file(path / "lock.mdb");
  }
  {
    std::lock_guard lock(g_registry_mutex);
    if (g_registry_pid != ::getpid()) {
      g_open_paths.clear();
      g_registry_pid = ::getpid();
    }
    std::string key = fs::weakly_canonical(path, ec).string();
    if (!g_open_paths.insert(key).second) {
      undo.dismiss();  // the database exists: it is open here
      return make_error(ErrorCode::kBusy, "database " + path.string() +
                                              " is already open in this process; share that "
                                              "Database instance");
    }
    d->registry_key = key;
  }

  if (take_process_lock) {
    // Every open holds custdb.lock shared; data-key rotation takes it exclusively, so it knows
    // no other handle (in any process) will see data.mdb replaced under it.
    const fs::path lock_file = path / "custdb.lock";
    const bool lock_existed = fs::exists(lock_file, ec);
    d->lock_fd = ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (d->lock_fd < 0 && options.read_only)
      d->lock_fd = ::open(lock_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (d->lock_fd < 0 && !options.read_only)
      return make_error(ErrorCode::kIOError, "cannot create " + lock_file.string());
    if (d->lock_fd >= 0) register_lock_fd(d->lock_fd);
    if (!lock_existed && d->lock_fd >= 0) {
      ::fchmod(d->lock_fd, 0600);  // exactly 0600 whatever the umask
      if (!exists) undo.file(lock_file);
    }
    if (d->lock_fd >= 0 && ::flock(d->lock_fd, LOCK_SH | LOCK_NB) != 0)
      return make_error(ErrorCode::kBusy,
                        "the database is being re-encrypted (data-key rotation); try again later");
  }

  // Creating a database is serialized by the write lock, held from before LMDB creates
  // data.mdb until the header commits (phase 2). A process that finds no data.mdb, an empty one
  // or one without a header may be looking at another process's creation half-way: it takes
  // the lock (waiting for that creator) and looks again. Only then is an empty or header-less
  // file what it seems: not a database, never something to create into.
  WriterLock creating;
  std::uintmax_t file_size = exists ? fs::file_size(data_file, ec) : 0;
  if (!options.read_only && (!exists || file_size == 0)) {
    auto lock = d->lock_writer();
    if (!lock) return tl::unexpected(lock.error());
    creating = std::move(*lock);
    if (!exists && fs::exists(data_file, ec)) {
      exists = true;       // another process created it while this one waited:
      undo.keep_files();   // its files are not this open's to remove
    }
    file_size = exists ? fs::file_size(data_file, ec) : 0;
  }
  // LMDB would initialize an empty file as a new environment, and the create below would then
  // make a new database over whatever the file was meant to be.
  if (exists && file_size == 0)
    return make_error(ErrorCode::kCorruption,
                      "not a custdb database: " + data_file.string() + " is empty (0 bytes)");
  // Options::check_pages: LMDB faults on damaged pages, the walk reports them. It reads the file
  // without a reader slot, so a writer in another process may reuse pages under it and make a
  // sound file look damaged. Damage in the meta pages (or a file too short for them) is
  // reported now: LMDB reads the metas when it opens the environment. Damage only in tree
  // pages is walked again below, inside a read transaction that pins the pages (LMDB opens an
  // environment and begins a read transaction from the metas alone, touching no tree page).
  auto damaged = [](const storage::PageCheckReport& r) {
    return make_error(ErrorCode::kCorruption,
                      "data.mdb is damaged: " + r.summary() + "; run custdb verify");
  };
  std::optional<storage::PageCheckReport> unpinned_damage;
  if (options.check_pages && exists && file_size > 0) {
    auto pages = walk_pages(path);
    if (!pages) return tl::unexpected(pages.error());
    if (!pages->clean()) {
      const bool metas_sound =
          pages->page_size != 0 &&
          std::none_of(pages->problems.begin(), pages->problems.end(),
                       [](const storage::PageProblem& p) { return p.pgno < 2; });
      if (!metas_sound) return damaged(*pages);
      unpinned_damage = std::move(*pages);
    }
  }

  unsigned flags = 0;
  if (options.read_only) flags |= MDB_RDONLY;
  if (options.sync == SyncMode::kNoMetaSync) flags |= MDB_NOMETASYNC;
  if (options.sync == SyncMode::kNone) flags |= MDB_NOSYNC;
  storage::Env::OpenParams params;
  params.dir = path.string();
  params.flags = flags;
  // The map is sized once, large: it only reserves address space, so it never has to grow.
  params.map_size = options.max_map_size ? options.max_map_size : kDefaultMapSize;
  params.shrink_on_enomem = options.max_map_size == 0;
  params.max_readers = options.max_readers;
  auto env = storage::Env::open(params);
  if (!env) return tl::unexpected(env.error());
  d->env = std::move(*env);
  if (!exists) {
    // LMDB creates both files 0600 & ~umask; make them exactly 0600.
    ::chmod(data_file.c_str(), 0600);
    ::chmod((path / "lock.mdb").c_str(), 0600);
  }
  d->env.reader_check();
  {
    // A file shorter than its own last page would make reads fault (SIGBUS) through the map:
    // refuse it here as corruption.
    MDB_envinfo info = d->env.info();
    std::size_t page = d->env.stat().ms_psize;
    auto size = fs::file_size(data_file, ec);
    if (!ec && size < (info.me_last_pgno + 1) * page)
      return make_error(ErrorCode::kCorruption,
                        "data.mdb is truncated: " + std::to_string(size) + " bytes, but its last page ends at " +
                            std::to_string((info.me_last_pgno + 1) * page));
  }

  if (unpinned_damage) {
    storage::Txn pin;
    if (storage::Txn::begin(d->env.get(), MDB_RDONLY, pin) != 0) return damaged(*unpinned_damage);
    auto again = walk_pages(path);
    if (!again) return tl::unexpected(again.error());
    if (!again->clean()) return damaged(*again);
  }

  // Phase 1, read only: open what exists and read the header. Nothing is written before the
  // key is checked, so a wrong key leaves the file byte-identical.
read_header:  // again when another process created the database meanwhile (phase 2)
  std::optional<Header> header;
  bool missing_dbis = false;
  std::optional<std::vector<std::uint8_t>> key_header, file_id, binding;
  std::vector<RecordCopy> first_records;  // encrypted: probed once the data key is unwrapped
  {
    // Normally a read transaction. A writer must open even when the reader table is full of
    // live readers (126 `custdb export`s, say): then it reads in a write transaction, which
    // needs no reader slot, and commits it empty (writing nothing) so the table handles stay.
    WriterLock writer;  // declared first: released only after txn has ended
    storage::Txn txn;
    bool in_write_txn = false;
    int rc = storage::Txn::begin(d->env.get(), MDB_RDONLY, txn);
    if (rc == MDB_READERS_FULL && d->env.reader_check() > 0)
      rc = storage::Txn::begin(d->env.get(), MDB_RDONLY, txn);
    if (rc == MDB_READERS_FULL && !options.read_only) {
      if (!creating) {
        auto lock = d->lock_writer();
        if (!lock) return tl::unexpected(lock.error());
        writer = std::move(*lock);
      }
      rc = storage::Txn::begin(d->env.get(), 0, txn);
      in_write_txn = true;
    }
    if (rc == MDB_READERS_FULL)
      return make_error(ErrorCode::kBusy,
                        "the reader table is full: all " +
                            std::to_string(d->env.info().me_maxreaders) +
                            " slots are held by live read transactions (`custdb stats` lists "
                            "their processes); a read-only open needs one");
    if (rc) return tl::unexpected(storage::lmdb_error(rc, "begin read"));
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
    auto read_meta = [&](std::string_view key) -> Result<std::optional<std::vector<std::uint8_t>>> {
      if (!d->dbi_meta) return std::optional<std::vector<std::uint8_t>>();
      MDB_val k = storage::to_val(key), v;
      int rc = mdb_get(txn.get(), d->dbi_meta, &k, &v);
      if (rc == MDB_NOTFOUND) return std::optional<std::vector<std::uint8_t>>();
      if (rc) return tl::unexpected(storage::lmdb_error(rc, "read " + std::string(key)));
      auto b = storage::to_bytes(v);
      return std::optional<std::vector<std::uint8_t>>(std::in_place, b.begin(), b.end());
    };
    auto raw_header = read_meta(kHeaderKey);
    if (!raw_header) return tl::unexpected(raw_header.error());
    if (*raw_header) {
      auto h = decode_header(**raw_header);
      if (!h) return tl::unexpected(h.error());
      header = *h;
    }
    for (auto [key, out] : {std::pair{kKeyHeaderKey, &key_header}, std::pair{kFileIdKey, &file_id},
                            std::pair{kKeyBindingKey, &binding}}) {
      auto v = read_meta(key);
      if (!v) return tl::unexpected(v.error());
      *out = std::move(*v);
    }
    // Only in a read transaction: a damaged page met here must not fail the commit below (a
    // write transaction, taken when the reader table is full, would then refuse to commit).
    if (key_header && !in_write_txn) copy_first_records(*d, txn, first_records);
    if (int rc = txn.commit()) return tl::unexpected(storage::lmdb_error(rc, "commit read"));
    writer.release();
  }
  // A file that existed before this open must be a custdb database already: LMDB meta pages
  // without the header are a foreign or half-created file, never something to create into.
  if (exists && !header) {
    if (!creating && !options.read_only) {
      // Perhaps another process is creating it right now: wait for its write lock, read again.
      auto lock = d->lock_writer();
      if (!lock) return tl::unexpected(lock.error());
      creating = std::move(*lock);
      goto read_header;
    }
    return make_error(ErrorCode::kCorruption,
                      "not a custdb database (no header): " + data_file.string());
  }
  if (header) {
    if (!currency.empty() && currency != header->currency)
      return make_error(ErrorCode::kInvalidArgument,
                        "base_currency: the database's is " + header->currency + ", not " +
                            currency + " (leave base_currency empty to open it)");
    if (header->encrypted && !options.key)
      return make_error(ErrorCode::kAuthentication,
                        "the database is encrypted: a passphrase or key is required");
    // A secret for a plaintext file is refused, never ignored: a plaintext data.mdb swapped in
    // for an encrypted one must not receive the caller's data in the clear.
    if (!header->encrypted && options.key)
      return make_error(ErrorCode::kAuthentication,
                        "the database is not encrypted, but a passphrase or key was given");
    if (header->encrypted) {
      if (!key_header)
        return make_error(ErrorCode::kCorruption, "encrypted database without a key header");
      auto kh = crypto::KeyHeader::parse(*key_header);
      if (!kh) return tl::unexpected(kh.error());
      // unwrap_key authenticates first, so a tampered cipher byte reads as a wrong key, and
      // only then reports a cipher this CPU lacks (kUnsupported).
      auto dek = crypto::unwrap_key(*kh, *options.key);
      if (!dek) return tl::unexpected(dek.error());
      d->data_key = std::make_unique<crypto::SecretBuffer>(std::move(*dek));
      if (binding) {
        // The key header must be this file's (docs/security.md, "Binding").
        if (!file_id || file_id->size() != crypto::kFileIdSize)
          return make_error(ErrorCode::kCorruption, "meta file_id: missing or not 16 bytes");
        auto want = crypto::key_binding(*d->data_key, *file_id, *key_header);
        if (!want) return tl::unexpected(want.error());
        if (binding->size() != want->size() ||
            sodium_memcmp(binding->data(), want->data(), want->size()) != 0)
          return make_error(ErrorCode::kCorruption,
                            "the key header does not belong to this database (key binding "
                            "mismatch): it was copied from another database or damaged");
      }
      d->tokenizer = std::make_unique<crypto::Tokenizer>(*d->data_key);
      // Epoch 0 is never committed, so a read-only open's cipher can never seal a nonce
      // that a writer uses; a read-write open replaces it below with a fresh epoch.
      d->cipher = std::make_unique<crypto::RecordCipher>(*d->data_key, kh->cipher, 0);
      if (auto s = probe_copies(d->cipher.get(), first_records); !s) return tl::unexpected(s.error());
    }
  }
  if (!header && options.read_only)
    return make_error(ErrorCode::kCorruption, "not a custdb database (no header)");
  if (header && missing_dbis && options.read_only)
    return make_error(ErrorCode::kCorruption, "not a custdb database (tables missing)");
  // A database from before key bindings is bound at its first read-write open.
  const bool bind_legacy = header && header->encrypted && !binding;

  // Phase 2, only for a new database (or one missing tables or its key binding): create what
  // is missing. Opening a bound database writes nothing; the nonce epoch is raised lazily
  // before the first write transaction (ensure_sealer).
  if (!options.read_only && (!header || missing_dbis || bind_legacy)) {
    WriterLock writer;
    if (!creating) {
      auto lock = d->lock_writer();
      if (!lock) return tl::unexpected(lock.error());
      writer = std::move(*lock);
    }
    storage::Txn txn;
    if (int rc = storage::Txn::begin(d->env.get(), 0, txn))
      return tl::unexpected(storage::lmdb_error(rc, "begin write"));
    for (auto& [slot, name, dflags] : all_dbis(*d)) {
      int rc = mdb_dbi_open(txn.get(), name, dflags | MDB_CREATE, slot);
      if (rc) return tl::unexpected(storage::lmdb_error(rc, std::string("create table ") + name));
    }
    if (!header) {
      // A second header (in encrypted mode a second data key) would make the first one's
      // records unreadable. Here `creating` holds the write lock taken before LMDB created
      // the file, so no other custdb process can have written one; this re-read only guards
      // against a writer that does not take custdb's lock (mdb_load, say): if a header is
      // there now, open it as the existing database it has become.
      MDB_val k = storage::to_val(kHeaderKey), v;
      if (mdb_get(txn.get(), d->dbi_meta, &k, &v) == 0) goto read_header;  // aborts txn, unlocks
    }
    auto put_meta = [&](std::string_view key, Bytes value) -> Status {
      MDB_val k = storage::to_val(key), v = storage::to_val(value);
      if (int rc = mdb_put(txn.get(), d->dbi_meta, &k, &v, 0))
        return tl::unexpected(storage::lmdb_error(rc, "write meta"));
      return {};
    };
    auto bind = [&](std::span<const std::uint8_t> kh_bytes) -> Status {
      if (!file_id || file_id->size() != crypto::kFileIdSize) {
        auto id = new_file_id();
        file_id.emplace(id.begin(), id.end());
        if (auto s = put_meta(kFileIdKey, *file_id); !s) return s;
      }
      auto mac = crypto::key_binding(*d->data_key, *file_id, kh_bytes);
      if (!mac) return tl::unexpected(mac.error());
      return put_meta(kKeyBindingKey, *mac);
    };
    if (!header) {
      Header h;
      h.encrypted = options.key != nullptr;
      h.currency = currency.empty() ? "USD" : currency;
      h.created_ms = now_ms().time_since_epoch().count();
      if (auto s = put_meta(kHeaderKey, encode_header(h)); !s) return tl::unexpected(s.error());
      auto id = new_file_id();
      file_id.emplace(id.begin(), id.end());
      if (auto s = put_meta(kFileIdKey, *file_id); !s) return tl::unexpected(s.error());
      if (h.encrypted) {
        auto created = crypto::create_key(*options.key, crypto::preferred_cipher());
        if (!created) return tl::unexpected(created.error());
        auto& [kh, dek] = *created;
        const auto kh_bytes = kh.serialize();
        if (auto s = put_meta(kKeyHeaderKey, kh_bytes); !s) return tl::unexpected(s.error());
        d->data_key = std::make_unique<crypto::SecretBuffer>(std::move(dek));
        if (auto s = bind(kh_bytes); !s) return tl::unexpected(s.error());
        d->tokenizer = std::make_unique<crypto::Tokenizer>(*d->data_key);
        d->cipher = std::make_unique<crypto::RecordCipher>(*d->data_key, kh.cipher, 0);
      }
      header = h;
    } else if (bind_legacy) {
      // Binding vouches for the key header from now on, so first make sure it is this file's:
      // a foreign one (or a stripped binding) unwraps a data key that opens none of the
      // records here.
      if (auto s = probe_records(*d, txn); !s) return tl::unexpected(s.error());
      if (auto s = bind(*key_header); !s) return tl::unexpected(s.error());
    }
    if (int rc = txn.commit()) return tl::unexpected(storage::lmdb_error(rc, "commit open"));
  }
  d->encrypted = header->encrypted;
  d->base_currency = header->currency;
  d->options.key.reset();  // the unwrapped data key is all a handle needs from here on
  d->codec = std::make_unique<codec::RecordCodec>(d->cipher.get());
  d->keys = std::make_unique<index::IndexKeys>(d->tokenizer.get());
  d->seg_keys = std::make_unique<index::SegmentKeys>(d->tokenizer.get());
  // The subkey derivations above (RecordCipher, Tokenizer) ran on this stack too.
  crypto::scrub_stack();
  undo.dismiss();
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
  } else if (rc == 0) {
    return make_error(ErrorCode::kCorruption, "meta nonce_epoch: " + std::to_string(v.mv_size) +
                                                  " bytes, expected 4");
  } else if (rc != MDB_NOTFOUND) {
    return tl::unexpected(storage::lmdb_error(rc, "read nonce epoch"));
  }
  if (epoch == UINT32_MAX)
    return make_error(ErrorCode::kUnsupported,
                      "meta nonce_epoch is 4294967295: nonce epochs exhausted; rotate the data key");
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

// ---- the write lock ---------------------------------------------------------------------------

namespace {
// The byte of custdb.lock whose OFD write lock is the cross-process write lock. OFD locks
// (not flock) so that they coexist with the shared flock every open holds on the same file
// for data-key rotation; open-file-description locks (not classic POSIX ones) so that closing
// some other descriptor of the file in this process cannot drop them.
constexpr off_t kWriterLockByte = 0;

int ofd_lock(int fd, short type, bool wait) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = kWriterLockByte;
  fl.l_len = 1;
  for (;;) {
    if (::fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) == 0) return 0;
    if (errno != EINTR) return errno;
  }
}

std::string busy_message(std::chrono::milliseconds timeout, const char* who) {
  return "the write lock is held by " + std::string(who) + " (waited busy_timeout = " +
         std::to_string(timeout.count()) + " ms)";
}
}  // namespace

void WriterLock::release() noexcept {
  if (!db_) return;
  const DatabaseImpl* d = std::exchange(db_, nullptr);
  if (d->lock_fd >= 0 && !d->options.read_only) ofd_lock(d->lock_fd, F_UNLCK, false);
  d->writer_thread.store(std::thread::id(), std::memory_order_release);
  d->writer_mutex.unlock();
}

Result<WriterLock> DatabaseImpl::lock_writer() const {
  if (writer_thread.load(std::memory_order_acquire) == std::this_thread::get_id())
    return make_error(ErrorCode::kFailedPrecondition,
                      "this thread already holds a write transaction of this database (a nested "
                      "begin_write, or a one-shot write inside a WriteTxn, would wait for "
                      "itself for ever): use that WriteTxn, or commit or abort it first");
  using Clock = std::chrono::steady_clock;
  const auto timeout = options.busy_timeout;
  const bool forever = timeout.count() < 0;
  const auto deadline = Clock::now() + (forever ? std::chrono::milliseconds(0) : timeout);
  if (forever) {
    writer_mutex.lock();
  } else if (!writer_mutex.try_lock_until(deadline)) {
    return make_error(ErrorCode::kBusy, busy_message(timeout, "another thread of this process"));
  }
  writer_thread.store(std::this_thread::get_id(), std::memory_order_release);
  WriterLock held(this);  // releases the mutex on every way out below
  // Rotation's copy (no lock file) and read-only handles write nothing other processes see.
  if (lock_fd < 0 || options.read_only) return held;
  if (forever) {
    if (int e = ofd_lock(lock_fd, F_WRLCK, true); e != 0)
      return make_error(ErrorCode::kIOError, std::string("write lock on custdb.lock: ") + std::strerror(e));
    return held;
  }
  // No timed wait exists for file locks: poll, backing off from 1 ms to 16 ms.
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    int e = ofd_lock(lock_fd, F_WRLCK, false);
    if (e == 0) return held;
    if (e != EAGAIN && e != EACCES)
      return make_error(ErrorCode::kIOError, std::string("write lock on custdb.lock: ") + std::strerror(e));
    auto now = Clock::now();
    if (now >= deadline)
      return make_error(ErrorCode::kBusy, busy_message(timeout, "another process"));
    std::this_thread::sleep_for(std::min<Clock::duration>(pause, deadline - now));
    pause = std::min(pause * 2, std::chrono::milliseconds(16));
  }
}

Error DatabaseImpl::fail(TxnState& st, int rc, std::string_view what) const {
  Error e = rc == MDB_MAP_FULL
                ? Error(ErrorCode::kResourceExhausted,
                        std::string(what) + ": the database is full: its map of " +
                            std::to_string(env.info().me_mapsize) +
                            " bytes (Options::max_map_size) is used up; the transaction is "
                            "aborted and nothing of it is stored")
                : storage::lmdb_error(rc, what);
  st.poisoned = true;
  if (!st.failure) st.failure = e;
  return e;
}

Result<std::unique_ptr<TxnState>> DatabaseImpl::begin(bool write) const {
  if (write && options.read_only)
    return make_error(ErrorCode::kReadOnly, "the database was opened read-only");
  auto st = std::make_unique<TxnState>();
  st->write = write;
  if (write) {
    auto lock = lock_writer();
    if (!lock) return tl::unexpected(lock.error());
    st->writer = std::move(*lock);
    // The nonce epoch is raised in a write transaction of its own, under this same lock.
    if (encrypted && !sealer_ready.load(std::memory_order_acquire))
      if (auto s = ensure_sealer(); !s) return tl::unexpected(s.error());
  }
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
    if (rc == MDB_READERS_FULL) {
      // Slots of processes that died holding a read transaction: clear them and try again.
      if (!reclaimed) {
        reclaimed = true;
        if (const_cast<storage::Env&>(env).reader_check() > 0) continue;
      }
      return make_error(ErrorCode::kBusy,
                        "the reader table is full: all " + std::to_string(env.info().me_maxreaders) +
                            " slots are held by live read transactions (`custdb stats` lists "
                            "their processes); end some, or raise Options::max_readers "
                            "(--max-readers), which takes effect when the database is next "
                            "opened by a first process");
    }
    if (rc != MDB_MAP_RESIZED) return tl::unexpected(storage::lmdb_error(rc, "begin transaction"));
    // Another process, with a larger max_map_size, filled the file past this process's map:
    // adopt its size. LMDB allows that only with no transaction of this process active; the
    // one case where a begin waits for other transactions (never with default options).
    Status adopted;
    if (!remap_gate.exclusive(kRemapWait, [&] {
          adopted = const_cast<storage::Env&>(env).set_map_size(0);
        }))
      return make_error(ErrorCode::kBusy,
                        "another process enlarged the map; adopting it waits for this process's "
                        "transactions, which stayed open for 30 s (does this thread hold one?)");
    if (!adopted) return adopted;
  }
}

Status DatabaseImpl::write_retrying(const std::function<Status(TxnState&)>& body) {
  for (int attempt = 1;; ++attempt) {
    auto st = begin(true);
    if (!st) {
      if (st.error().code() != ErrorCode::kBusy || attempt == kWriteAttempts)
        return tl::unexpected(st.error());
      std::this_thread::sleep_for(std::chrono::milliseconds(10) * (1 << attempt));
      continue;
    }
    if (auto s = body(**st); !s) return s;
    return commit(**st);
  }
}

Status DatabaseImpl::commit(TxnState& st) {
  if (st.poisoned) return tl::unexpected(*st.failure);
  if (auto s = flush_postings(st); !s) return s;
  int rc = st.txn.commit();
  if (rc == 0) return {};
  return tl::unexpected(fail(st, rc, "commit"));
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
  return tl::unexpected(fail(st, rc, "write"));
}

Status DatabaseImpl::del(TxnState& st, MDB_dbi dbi, Bytes key, std::optional<Bytes> val) const {
  MDB_val k = storage::to_val(key), v;
  if (val) v = storage::to_val(*val);
  int rc = mdb_del(st.txn.get(), dbi, &k, val ? &v : nullptr);
  if (rc == 0 || rc == MDB_NOTFOUND) return {};
  return tl::unexpected(fail(st, rc, "delete"));
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

Status check_header(Bytes value, bool encrypted) {
  auto h = decode_header(value);
  if (!h) return tl::unexpected(h.error());
  if (h->encrypted != encrypted)
    return make_error(ErrorCode::kCorruption, "encryption flag differs from the open handle's");
  return {};
}

Result<std::uint64_t> parse_id_counter(Bytes value) {
  if (value.size() != 8)
    return make_error(ErrorCode::kCorruption,
                      std::to_string(value.size()) + " bytes, expected 8");
  const std::uint64_t next = storage::get_u64(value.data());
  // Ids are 1..2^63-1, so the next one is 1..2^63 (2^63: none left to assign automatically).
  if (next == 0 || next > kMaxIdCounter)
    return make_error(ErrorCode::kCorruption,
                      std::to_string(next) + " is outside 1..2^63, where no id can be assigned");
  return next;
}

Result<std::uint64_t> DatabaseImpl::next_id(TxnState& st, std::string_view counter) const {
  auto v = get(st, dbi_meta, as_bytes(counter));
  if (!v) return tl::unexpected(v.error());
  if (!*v) return std::uint64_t{1};
  auto next = parse_id_counter(**v);
  if (!next)
    return make_error(ErrorCode::kCorruption, "meta " + std::string(counter) + ": " + next.error().message());
  return *next;
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
  auto st = std::move(state_);  // finished whatever happens; its write lock goes with it
  return db_->commit(*st);
}

template <class R>
Result<R> WriteTxn::run(std::function<Result<R>(TxnState&)> op) {
  if (!state_) return make_error(ErrorCode::kFailedPrecondition, "transaction already finished");
  if (state_->poisoned) return tl::unexpected(*state_->failure);
  auto r = op(*state_);
  // LMDB allows only abort after a failed put: end it now, keep the state (and the write lock,
  // so this thread's next begin_write still sees its open WriteTxn) for commit() to report.
  if (!r && state_->poisoned) state_->txn.abort();
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
  if (!state_) return make_error(ErrorCode::kFailedPrecondition, "transaction finished");  \
  if (state_->poisoned) return tl::unexpected(*state_->failure)

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
namespace {
// Walks one table in key order, decoding each record, and checks that the walk saw as many
// records as LMDB records for the table (storage::check_walked) unless fn stopped it.
template <class T, class Decode>
Status walk_table(detail::TxnState& st, MDB_dbi dbi, std::string_view name, Decode&& decode,
                  const std::function<bool(const T&)>& fn) {
  auto recorded = storage::entry_count(st.txn.get(), dbi, name);
  if (!recorded) return tl::unexpected(recorded.error());
  storage::Cursor cur(st.txn.get(), dbi);
  if (cur.open_rc()) return tl::unexpected(storage::lmdb_error(cur.open_rc(), "cursor"));
  MDB_val k, v;
  std::uint64_t walked = 0;
  std::string prev;  // a copy: fn may write in a write transaction, moving dirty pages
  int rc = cur.get(k, v, MDB_FIRST);
  while (rc == 0) {
    // Keys come in strictly ascending order from an intact tree; a stale page under a newer
    // branch (a torn copy) repeats or reorders them even when the total comes out right.
    const std::string_view key = storage::to_view(k);
    if (walked > 0 && std::string_view(prev).compare(key) >= 0)
      return make_error(ErrorCode::kCorruption,
                        std::string(name) + ": keys out of order (damaged or torn file)");
    prev.assign(key);
    auto r = decode(storage::to_bytes(k), storage::to_bytes(v));
    if (!r) return tl::unexpected(r.error());
    ++walked;
    if (!fn(*r)) return {};
    rc = cur.get(k, v, MDB_NEXT);
  }
  if (rc != MDB_NOTFOUND) return tl::unexpected(storage::lmdb_error(rc, std::string("scan ") + std::string(name)));
  return storage::check_walked(name, walked, *recorded);
}
}  // namespace

Status ReadView::for_each_customer(const std::function<bool(const Customer&)>& fn) const {
  CUSTDB_REQUIRE_STATE();
  return walk_table<Customer>(
      *state_, db_->dbi_customers, "customers",
      [&](storage::Bytes k, storage::Bytes v) { return db_->codec->decode_customer(k, v); }, fn);
}
Status ReadView::for_each_relationship(const std::function<bool(const Relationship&)>& fn) const {
  CUSTDB_REQUIRE_STATE();
  return walk_table<Relationship>(
      *state_, db_->dbi_relationships, "relationships",
      [&](storage::Bytes k, storage::Bytes v) { return db_->codec->decode_relationship(k, v); }, fn);
}
Status ReadView::for_each_transaction(const std::function<bool(const Transaction&)>& fn) const {
  CUSTDB_REQUIRE_STATE();
  return walk_table<Transaction>(
      *state_, db_->dbi_transactions, "transactions",
      [&](storage::Bytes k, storage::Bytes v) { return db_->codec->decode_transaction(k, v); }, fn);
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
  return WriteTxn(impl_.get(), std::move(*st));
}

Status Database::write(const std::function<Status(WriteTxn&)>& fn) {
  for (int attempt = 1;; ++attempt) {
    Status s;
    {
      auto txn = begin_write();
      if (!txn) {
        s = tl::unexpected(txn.error());
      } else {
        s = fn(*txn);  // an exception unwinds through ~WriteTxn, which aborts
        if (s) return txn->commit();
      }
    }  // aborted here, so the wait below holds no lock
    if (s.error().code() != ErrorCode::kBusy || attempt == detail::DatabaseImpl::kWriteAttempts)
      return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(10) * (1 << attempt));
  }
}

namespace {
ReaderTable reader_table_of(storage::Env& env) {
  ReaderTable t;
  t.stale = static_cast<unsigned>(env.reader_check());
  t.max_readers = env.info().me_maxreaders;
  for (const auto& r : env.readers()) t.slots.push_back({r.pid, r.thread, r.txnid});
  return t;
}
}  // namespace

ReaderTable Database::reader_table() const { return reader_table_of(impl_->env); }

Result<ReaderTable> Database::reader_table(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path / "data.mdb", ec))
    return make_error(ErrorCode::kIOError, "no database at " + path.string());
  // As at open: LMDB cannot read an empty file (read-only, it fails with EBADF).
  if (std::filesystem::file_size(path / "data.mdb", ec) == 0 && !ec)
    return make_error(ErrorCode::kCorruption, "not a custdb database: " +
                                                  (path / "data.mdb").string() + " is empty (0 bytes)");
  // LMDB forbids a second environment of one file in a process (closing it would drop the
  // first one's locks): take the registry entry for as long as the probe is open.
  std::string key = std::filesystem::weakly_canonical(path, ec).string();
  {
    std::lock_guard lock(detail::g_registry_mutex);
    if (detail::g_registry_pid != ::getpid()) {
      detail::g_open_paths.clear();
      detail::g_registry_pid = ::getpid();
    }
    if (!detail::g_open_paths.insert(key).second)
      return make_error(ErrorCode::kBusy, "database " + path.string() +
                                              " is open in this process: ask that handle");
  }
  struct Release {
    std::string key;
    ~Release() {
      std::lock_guard lock(detail::g_registry_mutex);
      detail::g_open_paths.erase(key);
    }
  } release{key};
  storage::Env::OpenParams p;
  p.dir = path.string();
  p.flags = MDB_RDONLY;  // data.mdb is only mapped; no transaction, so no reader slot
  p.map_size = kDefaultMapSize;
  p.shrink_on_enomem = true;
  p.max_readers = Options{}.max_readers;
  auto env = storage::Env::open(p);
  if (!env) return tl::unexpected(env.error());
  return reader_table_of(*env);
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
    const auto kh_bytes = rewrapped->serialize();
    if (auto s = d.put(st, d.dbi_meta, key, kh_bytes); !s) return s;
    // The new key header gets its binding to this file (the file id is the open's: it was
    // checked or created there).
    auto id = d.get(st, d.dbi_meta, storage::Bytes(reinterpret_cast<const std::uint8_t*>(detail::kFileIdKey.data()), detail::kFileIdKey.size()));
    if (!id) return tl::unexpected(id.error());
    if (!*id || (*id)->size() != crypto::kFileIdSize)
      return make_error(ErrorCode::kCorruption, "meta file_id: missing or not 16 bytes");
    auto mac = crypto::key_binding(*d.data_key, **id, kh_bytes);
    if (!mac) return tl::unexpected(mac.error());
    return d.put(st, d.dbi_meta, storage::Bytes(reinterpret_cast<const std::uint8_t*>(detail::kKeyBindingKey.data()), detail::kKeyBindingKey.size()), *mac);
  });
  if (!s) return s;
  return d.env.sync(true);  // the old wrapping must not be what survives a crash
}

}  // namespace custdb

namespace custdb {

namespace {

tl::unexpected<Error> os_error(int err, const std::string& what) {
  return tl::unexpected(storage::lmdb_error(err, what));  // errno codes map as LMDB's do
}

}  // namespace

Status Database::backup(const std::filesystem::path& dir, bool compact) const {
  // A plain copy holds LMDB's writer mutex while it snapshots the meta pages: in a thread that
  // holds a WriteTxn it would wait for itself for ever.
  if (!compact &&
      impl_->writer_thread.load(std::memory_order_acquire) == std::this_thread::get_id())
    return make_error(ErrorCode::kFailedPrecondition,
                      "backup: this thread holds a write transaction of this database (a copy "
                      "waits for it to end): commit or abort it first, or use compact");
  const std::filesystem::path final_path = dir / "data.mdb";
  std::error_code ec;
  if (std::filesystem::exists(final_path, ec))
    return make_error(ErrorCode::kAlreadyExists, "a database exists at " + dir.string());
  {
    detail::CreateUndo undo;  // directories stay: only their mode matters here
    undo.dismiss();
    if (auto s = detail::create_private_dirs(dir, undo); !s) return s;
  }

  // Written under a name of its own and renamed into place only when complete and on disk: a
  // backup cut short (disk full, file size limit, a crash) never leaves a data.mdb that looks
  // like a database or blocks the next attempt. The name is unique per attempt, so concurrent
  // backups into one directory do not write into each other's file.
  static std::atomic<unsigned> attempt{0};
  const std::filesystem::path tmp_path =
      dir / ("data.mdb.partial-" + std::to_string(::getpid()) + "-" + std::to_string(attempt++));
  int fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return os_error(errno, "cannot create " + tmp_path.string());
  auto fail = [&](Error e) -> Status {
    ::close(fd);
    ::unlink(tmp_path.c_str());
    return tl::unexpected(std::move(e));
  };
  // 0600 whatever the umask: the copy holds the same customers as the original.
  if (::fchmod(fd, 0600) != 0) return fail(storage::lmdb_error(errno, "cannot chmod " + tmp_path.string()));
  // mdb_env_copyfd2 runs in its own read transaction: a snapshot, concurrent with writers.
  if (auto s = impl_->env.copy_to_fd(fd, compact, "backup to " + dir.string()); !s)
    return fail(s.error());
  if (::fsync(fd) != 0) return fail(storage::lmdb_error(errno, "backup to " + dir.string() + ": fsync"));
  if (::close(fd) != 0) {
    ::unlink(tmp_path.c_str());
    return os_error(errno, "backup to " + dir.string() + ": close");
  }
  // No replacing: a data.mdb that appeared meanwhile (another backup) is kept.
  int renamed = ::renameat2(AT_FDCWD, tmp_path.c_str(), AT_FDCWD, final_path.c_str(), RENAME_NOREPLACE);
  if (renamed != 0 && errno == EINVAL && !std::filesystem::exists(final_path, ec))
    renamed = ::rename(tmp_path.c_str(), final_path.c_str());  // no RENAME_NOREPLACE here
  if (renamed != 0) {
    const int err = errno;
    ::unlink(tmp_path.c_str());
    if (err == EEXIST)
      return make_error(ErrorCode::kAlreadyExists, "a database exists at " + dir.string());
    return os_error(err, "backup to " + dir.string() + ": rename");
  }
  // The rename itself is durable once the directory is synced.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    const int rc = ::fsync(dfd);
    const int err = errno;
    ::close(dfd);
    if (rc != 0) return os_error(err, "backup to " + dir.string() + ": fsync of the directory");
  }
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
