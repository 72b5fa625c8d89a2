// Opening and creating a database: the file header, the process-wide registry of open paths,
// custdb.lock and its descriptors across fork(), the first-open probes of an encrypted file's
// key header, and the nonce epoch a writing handle reserves (ensure_sealer).
#include "engine/open.h"
#include "engine/upgrade.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <set>

#include "crypto/crypto.h"
#include "custdb/key.h"
#include "engine/consent.h"
#include "engine/db_impl.h"
#include "engine/validate.h"
#include "util/coding.h"
#include "util/message.h"
#include "util/normalize.h"

namespace custdb {
namespace detail {

Mutex g_registry_mutex;
std::set<std::string> g_open_paths;
pid_t g_registry_pid = 0;

namespace {

using storage::Bytes;

// ---- the file header (meta key "header"); docs/format.md -------------------------------------
constexpr char kMagic[8] = {'c', 'u', 's', 't', 'd', 'b', 0, 0};
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
  coding::put_le32(b.data() + 8, h.format);
  b[12] = h.encrypted ? 1 : 0;
  std::memcpy(b.data() + 13, h.currency.data(), 3);
  coding::put_le64(b.data() + 16, static_cast<std::uint64_t>(h.created_ms));
  coding::put_le64(b.data() + 24, XXH3_64bits(b.data(), 24));
  return b;
}

Result<Header> decode_header(Bytes b) {
  if (b.size() != kHeaderSize || std::memcmp(b.data(), kMagic, 8) != 0)
    return make_error(ErrorCode::kCorruption, "not a custdb database (bad header)");
  if (XXH3_64bits(b.data(), 24) != coding::get_le64(b.data() + 24))
    return make_error(ErrorCode::kCorruption, "database header checksum mismatch");
  Header h;
  h.format = coding::get_le32(b.data() + 8);
  if (h.format < kOldestFileFormat || h.format > kFileFormat)
    return make_error(ErrorCode::kUnsupported,
                      "database format " + std::to_string(h.format) + " is not supported");
  if (b[12] > 1) return make_error(ErrorCode::kCorruption, "database header: bad mode");
  h.encrypted = b[12] == 1;
  h.currency.assign(reinterpret_cast<const char*>(b.data() + 13), 3);
  h.created_ms = static_cast<std::int64_t>(coding::get_le64(b.data() + 16));
  return h;
}

using coding::as_bytes;

struct DbiName {
  storage::Table* slot;
  const char* name;
  storage::TableKind kind;
};

std::vector<DbiName> all_dbis(DatabaseImpl::Tables& t) {
  constexpr auto kUnique = storage::TableKind::kUnique;
  std::vector<DbiName> v = {{&t.meta, "meta", kUnique},
                            {&t.customers, "customers", kUnique},
                            {&t.relationships, "relationships", kUnique},
                            {&t.transactions, "transactions", kUnique}};
  v.push_back({&t.segments, "idx.segments", kUnique});
  v.push_back({&t.audit, "audit", kUnique});
  v.push_back({&t.erasures, "erasures", kUnique});
  v.push_back({&t.consent_history, "consent_history", kUnique});
  v.push_back({&t.rule_moves, "rule_moves", kUnique});
  v.push_back({&t.holdings, "holdings", kUnique});
  v.push_back({&t.feed, "feed", kUnique});                      // format 7
  v.push_back({&t.feed_consumers, "feed_consumers", kUnique});  // format 7
  for (std::size_t i = 0; i < index::kIndexCount; ++i) {
    const auto& s = index::spec(static_cast<index::IndexId>(i));
    v.push_back({&t.index[i], s.dbi_name,
                 s.unique ? kUnique : storage::TableKind::kDupSorted});
  }
  return v;
}

// Tables added after format 3 (privacy: format 4; holdings: format 6): missing from older
// files, created by a read-write open, read as empty (null slots) by a read-only one.
// The format-6 tables alone (a format-4/5 file opened read-only lacks them).
bool is_format6_table(std::string_view name) {
  return name == "holdings" || name == "idx.holding_by_customer" || name == "idx.account_ref" ||
         name == "idx.txn_by_holding";
}

// The format-7 tables (the change feed): a format-4..6 file opened read-only lacks them.
bool is_format7_table(std::string_view name) { return name == "feed" || name == "feed_consumers"; }

bool is_format4_table(std::string_view name) {
  return is_format7_table(name) || name == "audit" || name == "erasures" ||
         name == "consent_history" ||
         name == "rule_moves" || name == "holdings" || name == "idx.holding_by_customer" ||
         name == "idx.account_ref" || name == "idx.txn_by_holding";
}

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

DatabaseImpl::~DatabaseImpl() {
  // The env closes before the registry entry is released, so a reopen cannot race LMDB.
  env_ = storage::Env();
  if (lock_fd_ >= 0) {
    unregister_lock_fd(lock_fd_);
    ::close(lock_fd_);
  }
  if (!registry_key_.empty()) {
    MutexLock lock(&g_registry_mutex);
    if (g_registry_pid == ::getpid()) g_open_paths.erase(registry_key_);
  }
}

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

namespace {

// kCorruption unless the handle's data key opens the first record of a non-empty table (or
// every table is empty). Called before a legacy file's key header is bound to it.
Status probe_records(const DatabaseImpl& d, const crypto::RecordCipher* cipher,
                     storage::Txn& txn) {
  codec::RecordCodec codec(cipher);
  bool any = false;
  for (int table = 0; table < 3; ++table) {
    const storage::Table t = table == 0   ? d.tables().customers
                             : table == 1 ? d.tables().relationships
                                          : d.tables().transactions;
    bool opened = false, found = false;
    auto s = storage::Walker(txn, t, "read").all([&](Bytes key, Bytes value) {
      found = true;
      // The probe asks whether the key opens the envelope: the schema (sealed under that key)
      // is not read yet, and the empty one skips custom attribute values.
      opened = table == 0   ? codec.decode_customer(key, value, Schema{}).has_value()
               : table == 1 ? codec.decode_relationship(key, value).has_value()
                            : codec.decode_transaction(key, value, Schema{}).has_value();
      return storage::Next::stop();  // the first record only
    });
    if (!s) return s;
    any = any || found;
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
    const storage::Table t = table == 0   ? d.tables().customers
                             : table == 1 ? d.tables().relationships
                                          : d.tables().transactions;
    if (!t) continue;
    int n = 0;
    // A damaged page is not this probe's business: the reads that meet it (and check())
    // report it, so the open goes on (the walk's failure is ignored) and verify can still run.
    (void)storage::Walker(txn, t, "read").all([&](Bytes key, Bytes value) {
      out.push_back({table, {key.begin(), key.end()}, {value.begin(), value.end()}});
      return ++n < kProbePerTable ? storage::Next::go_on() : storage::Next::stop();
    });
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
    // As probe_records: the empty schema (the stored one is not open yet).
    const bool opened = c.table == 0   ? codec.decode_customer(key, value, Schema{}).has_value()
                        : c.table == 1 ? codec.decode_relationship(key, value).has_value()
                                       : codec.decode_transaction(key, value, Schema{}).has_value();
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

Result<std::unique_ptr<Database::Impl>> DatabaseImpl::open(const fs::path& path,
                                                           const Options& options,
                                                           bool take_process_lock) {
  // Declared before the handle so that, on failure, it runs after the handle (and its LMDB
  // environment and lock file) closed.
  CreateUndo undo;
  auto d = std::make_unique<Database::Impl>();
  d->path_ = path;
  d->options_ = options;
  std::error_code ec;
  const fs::path data_file = path / "data.mdb";
  bool exists = fs::exists(data_file, ec);
  if (exists && options.error_if_exists)
    return make_error(ErrorCode::kAlreadyExists, "a database exists at " + path.string());
  // Creation only: empty means "USD" for a new database and "the file's" for an existing one.
  if (!options.base_currency.empty() && !is_currency_code(options.base_currency))
    return make_error(ErrorCode::kInvalidArgument,
                      "base_currency: not an ISO 4217 code: " + message::quoted(options.base_currency));
  const std::string currency = canonical_currency(options.base_currency);
  // Options::phone_region: empty means the file's; a given one must be a region
  // libphonenumber knows (upper-cased like a country code).
  std::string phone_region = normalize::trim(options.phone_region);
  for (char& ch : phone_region)
    if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
  if (!phone_region.empty() && !normalize::is_phone_region(phone_region))
    return make_error(ErrorCode::kInvalidArgument,
                      "phone_region: not a region libphonenumber knows (ISO 3166-1 alpha-2): " +
                          message::quoted(options.phone_region));
  if (!exists) {
    if (!options.create_if_missing || options.read_only)
      return make_error(ErrorCode::kIOError, "no database at " + path.string());
    if (auto s = create_private_dirs(path, undo); !s) return tl::unexpected(s.error());
    undo.file(data_file);
    undo.file(path / "lock.mdb");
  }
  {
    MutexLock lock(&g_registry_mutex);
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
    d->registry_key_ = key;
  }

  if (take_process_lock) {
    // Every open holds custdb.lock shared; data-key rotation takes it exclusively, so it knows
    // no other handle (in any process) will see data.mdb replaced under it.
    const fs::path lock_file = path / "custdb.lock";
    const bool lock_existed = fs::exists(lock_file, ec);
    d->lock_fd_ = ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (d->lock_fd_ < 0 && options.read_only)
      d->lock_fd_ = ::open(lock_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (d->lock_fd_ < 0 && !options.read_only)
      return make_error(ErrorCode::kIOError, "cannot create " + lock_file.string());
    if (d->lock_fd_ >= 0) register_lock_fd(d->lock_fd_);
    if (!lock_existed && d->lock_fd_ >= 0) {
      ::fchmod(d->lock_fd_, 0600);  // exactly 0600 whatever the umask
      if (!exists) undo.file(lock_file);
    }
    if (d->lock_fd_ >= 0 && ::flock(d->lock_fd_, LOCK_SH | LOCK_NB) != 0)
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

  storage::Env::OpenParams params;
  params.dir = path.string();
  params.read_only = options.read_only;
  params.sync = options.sync == SyncMode::kNoMetaSync ? storage::Env::Sync::kNoMetaSync
                : options.sync == SyncMode::kNone     ? storage::Env::Sync::kNone
                                                      : storage::Env::Sync::kFull;
  // The map is sized once, large: it only reserves address space, so it never has to grow.
  params.map_size = options.max_map_size ? options.max_map_size : kDefaultMapSize;
  params.shrink_on_enomem = options.max_map_size == 0;
  params.max_readers = options.max_readers;
  auto env = storage::Env::open(params);
  if (!env) return tl::unexpected(env.error());
  d->env_ = std::move(*env);
  if (!exists) {
    // LMDB creates both files 0600 & ~umask; make them exactly 0600.
    ::chmod(data_file.c_str(), 0600);
    ::chmod((path / "lock.mdb").c_str(), 0600);
  }
  d->env_.reader_check();
  {
    // A file shorter than its own last page would make reads fault (SIGBUS) through the map:
    // refuse it here as corruption.
    const storage::EnvInfo info = d->env_.info();
    const std::uint64_t end = (info.last_pgno + 1) * info.page_size;
    auto size = fs::file_size(data_file, ec);
    if (!ec && size < end)
      return make_error(ErrorCode::kCorruption,
                        "data.mdb is truncated: " + std::to_string(size) + " bytes, but its last page ends at " +
                            std::to_string(end));
  }

  if (unpinned_damage) {
    storage::Txn pin;
    if (storage::Txn::begin(d->env_, false, pin, "pin") != storage::Txn::Begin::kOk)
      return damaged(*unpinned_damage);
    auto again = walk_pages(path);
    if (!again) return tl::unexpected(again.error());
    if (!again->clean()) return damaged(*again);
  }

  // Phase 1, read only: open what exists and read the header. Nothing is written before the
  // key is checked, so a wrong key leaves the file byte-identical.
read_header:  // again when another process created the database meanwhile (phase 2)
  std::optional<Header> header;
  bool missing_dbis = false;
  bool missing_core_dbis = false;  // a table every format has
  bool missing_format6_dbis = false;   // holdings and its indexes (format 6)
  bool missing_format7_dbis = false;   // feed, feed_consumers (format 7)
  bool missing_dbis_before_6 = false;  // another table
  std::optional<std::vector<std::uint8_t>> key_header, file_id, binding, stored_region,
      personal_wrap, analyst_keys;
  std::vector<RecordCopy> first_records;  // encrypted: probed once the data key is unwrapped
  {
    // Normally a read transaction. A writer must open even when the reader table is full of
    // live readers (126 `custdb export`s, say): then it reads in a write transaction, which
    // needs no reader slot, and commits it empty (writing nothing) so the table handles stay.
    WriterLock writer;  // declared first: released only after txn has ended
    storage::Txn txn;
    bool in_write_txn = false;
    using Begin = storage::Txn::Begin;
    Error failure(ErrorCode::kInternal, "");
    Begin begun = storage::Txn::begin(d->env_, false, txn, "begin read", &failure);
    if (begun == Begin::kReadersFull && d->env_.reader_check() > 0)
      begun = storage::Txn::begin(d->env_, false, txn, "begin read", &failure);
    if (begun == Begin::kReadersFull && !options.read_only) {
      if (!creating) {
        auto lock = d->lock_writer();
        if (!lock) return tl::unexpected(lock.error());
        writer = std::move(*lock);
      }
      begun = storage::Txn::begin(d->env_, true, txn, "begin read", &failure);
      in_write_txn = true;
    }
    if (begun == Begin::kReadersFull)
      return make_error(ErrorCode::kBusy,
                        "the reader table is full: all " +
                            std::to_string(d->env_.info().max_readers) +
                            " slots are held by live read transactions (`custdb stats` lists "
                            "their processes); a read-only open needs one");
    if (begun != Begin::kOk) return tl::unexpected(std::move(failure));
    for (auto& [slot, name, kind] : all_dbis(d->tables_)) {
      auto t = storage::open_table(txn, name, kind, false);
      if (!t) return tl::unexpected(t.error());
      if (!*t) {
        // The format-4 tables are missing from older files: a read-only open reads them as
        // empty (null slots); a read-write open creates them (and upgrades).
        if (!is_format4_table(name)) missing_core_dbis = true;
        if (is_format7_table(name)) missing_format7_dbis = true;
        else if (is_format6_table(name)) missing_format6_dbis = true;
        else missing_dbis_before_6 = true;
        missing_dbis = true;
        continue;
      }
      *slot = **t;
    }
    auto read_meta = [&](std::string_view key) -> Result<std::optional<std::vector<std::uint8_t>>> {
      if (!d->tables().meta) return std::optional<std::vector<std::uint8_t>>();
      auto v = storage::get(txn, d->tables().meta, as_bytes(key), "read " + std::string(key));
      if (!v) return tl::unexpected(v.error());
      if (!*v) return std::optional<std::vector<std::uint8_t>>();
      return std::optional<std::vector<std::uint8_t>>(std::in_place, (*v)->begin(), (*v)->end());
    };
    auto raw_header = read_meta(kHeaderKey);
    if (!raw_header) return tl::unexpected(raw_header.error());
    if (*raw_header) {
      auto h = decode_header(**raw_header);
      if (!h) return tl::unexpected(h.error());
      header = *h;
    }
    for (auto [key, out] : {std::pair{kKeyHeaderKey, &key_header}, std::pair{kFileIdKey, &file_id},
                            std::pair{kKeyBindingKey, &binding},
                            std::pair{kPhoneRegionKey, &stored_region},
                            std::pair{kPersonalKeyKey, &personal_wrap},
                            std::pair{kAnalystKeysKey, &analyst_keys}}) {
      auto v = read_meta(key);
      if (!v) return tl::unexpected(v.error());
      *out = std::move(*v);
    }
    // Only in a read transaction: a damaged page met here must not fail the commit below (a
    // write transaction, taken when the reader table is full, would then refuse to commit).
    if (key_header && !in_write_txn) copy_first_records(*d, txn, first_records);
    if (auto s = txn.commit("commit read"); !s) return tl::unexpected(s.error());
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
      // The owner's secret opens the data key and the personal key (one KDF run); failing
      // that, an analyst key header may open the data key alone (docs/security.md, "Analyst
      // key").
      const std::span<const std::uint8_t> pw =
          personal_wrap ? std::span<const std::uint8_t>(*personal_wrap)
                        : std::span<const std::uint8_t>();
      auto owner = crypto::unwrap_owner_keys(*kh, pw, *options.key);
      bool personal_failed = false;
      if (owner) {
        d->role_ = KeyRole::kOwner;
        personal_failed = owner->personal_failed;
        d->data_key_ = std::make_unique<crypto::SecretBuffer>(std::move(owner->data_key));
        if (owner->personal_key.size() == crypto::kPersonalKeySize)
          d->personal_key_ = std::make_unique<crypto::SecretBuffer>(std::move(owner->personal_key));
      } else if (owner.error().code() == ErrorCode::kAuthentication && analyst_keys &&
                 !analyst_keys->empty()) {
        auto headers = parse_analyst_keys(*analyst_keys);
        if (!headers) return tl::unexpected(headers.error());
        for (const auto& ah : *headers) {
          auto dek = crypto::unwrap_key(ah, *options.key);
          if (!dek) continue;
          d->role_ = KeyRole::kAnalyst;
          d->data_key_ = std::make_unique<crypto::SecretBuffer>(std::move(*dek));
          break;
        }
        if (!d->data_key_) return tl::unexpected(owner.error());
      } else {
        return tl::unexpected(owner.error());
      }
      if (binding) {
        // The key header must be this file's (docs/security.md, "Binding").
        if (!file_id || file_id->size() != crypto::kFileIdSize)
          return make_error(ErrorCode::kCorruption, "meta file_id: missing or not 16 bytes");
        auto want = crypto::key_binding(*d->data_key_, *file_id, *key_header);
        if (!want) return tl::unexpected(want.error());
        if (binding->size() != want->size() ||
            sodium_memcmp(binding->data(), want->data(), want->size()) != 0)
          return make_error(ErrorCode::kCorruption,
                            "the key header does not belong to this database (key binding "
                            "mismatch): it was copied from another database or damaged");
      }
      d->tokenizer_ = std::make_unique<crypto::Tokenizer>(*d->data_key_);
      // Epoch 0 is never committed, so a read-only open's cipher can never seal a nonce
      // that a writer uses; a read-write open replaces it below with a fresh epoch.
      d->cipher_ = std::make_unique<crypto::RecordCipher>(*d->data_key_, kh->cipher, 0);
      if (auto s = probe_copies(d->cipher_.get(), first_records); !s) return tl::unexpected(s.error());
      if (personal_failed)
        return make_error(ErrorCode::kCorruption,
                          "meta personal_key: does not open under the owner's key (damaged or "
                          "copied from another database)");
      // A read-only owner handle of an older encrypted file keeps the secret: if another
      // process upgrades the file to format 4 meanwhile, the handle adopts its personal key
      // at its next read transaction (adopt_personal_key).
      if (options.read_only && !personal_wrap && header->format < 4 &&
          d->role_ == KeyRole::kOwner) {
        MutexLock lock(&d->late_mutex_);
        d->late_key_ = options.key;
        d->late_pending_.store(true, std::memory_order_release);
      }
    }
  }
  if (!header && options.read_only)
    return make_error(ErrorCode::kCorruption, "not a custdb database (no header)");
  if (header &&
      (missing_core_dbis || (missing_dbis_before_6 && header->format >= 4) ||
       (missing_format6_dbis && header->format >= 6) ||
       (missing_format7_dbis && header->format >= 7)) &&
      options.read_only)
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
    {
      Error failure(ErrorCode::kInternal, "");
      const auto begun = storage::Txn::begin(d->env_, true, txn, "begin write", &failure);
      if (begun != storage::Txn::Begin::kOk)
        return tl::unexpected(std::move(failure));
    }
    for (auto& [slot, name, kind] : all_dbis(d->tables_)) {
      auto t = storage::open_table(txn, name, kind, true);
      if (!t) return tl::unexpected(t.error());
      *slot = **t;
    }
    if (!header) {
      // A second header (in encrypted mode a second data key) would make the first one's
      // records unreadable. Here `creating` holds the write lock taken before LMDB created
      // the file, so no other custdb process can have written one; this re-read only guards
      // against a writer that does not take custdb's lock (LMDB's load tool, say): if a header is
      // there now, open it as the existing database it has become.
      auto again = storage::get(txn, d->tables().meta, as_bytes(kHeaderKey));
      if (again && *again) goto read_header;  // aborts txn, unlocks
    }
    auto put_raw_meta = [&](std::string_view key, Bytes value) -> Status {
      return storage::put(txn, d->tables().meta, as_bytes(key), value, storage::Put::kOverwrite,
                          "write meta");
    };
    auto bind = [&](std::span<const std::uint8_t> kh_bytes) -> Status {
      if (!file_id || file_id->size() != crypto::kFileIdSize) {
        auto id = new_file_id();
        file_id.emplace(id.begin(), id.end());
        if (auto s = put_raw_meta(kFileIdKey, *file_id); !s) return s;
      }
      auto mac = crypto::key_binding(*d->data_key_, *file_id, kh_bytes);
      if (!mac) return tl::unexpected(mac.error());
      return put_raw_meta(kKeyBindingKey, *mac);
    };
    if (!header) {
      Header h;
      h.encrypted = options.key != nullptr;
      h.currency = currency.empty() ? "USD" : currency;
      h.created_ms = now_ms().time_since_epoch().count();
      if (auto s = put_raw_meta(kHeaderKey, encode_header(h)); !s) return tl::unexpected(s.error());
      auto id = new_file_id();
      file_id.emplace(id.begin(), id.end());
      if (auto s = put_raw_meta(kFileIdKey, *file_id); !s) return tl::unexpected(s.error());
      if (h.encrypted) {
        auto created = crypto::create_owner_keys(*options.key, crypto::preferred_cipher());
        if (!created) return tl::unexpected(created.error());
        const crypto::KeyHeader& kh = created->header;
        const auto kh_bytes = kh.serialize();
        if (auto s = put_raw_meta(kKeyHeaderKey, kh_bytes); !s) return tl::unexpected(s.error());
        if (auto s = put_raw_meta(kPersonalKeyKey, created->personal_wrap); !s)
          return tl::unexpected(s.error());
        personal_wrap = created->personal_wrap;
        d->role_ = KeyRole::kOwner;
        d->data_key_ = std::make_unique<crypto::SecretBuffer>(std::move(created->data_key));
        d->personal_key_ =
            std::make_unique<crypto::SecretBuffer>(std::move(created->personal_key));
        if (auto s = bind(kh_bytes); !s) return tl::unexpected(s.error());
        d->tokenizer_ = std::make_unique<crypto::Tokenizer>(*d->data_key_);
        d->cipher_ = std::make_unique<crypto::RecordCipher>(*d->data_key_, kh.cipher, 0);
      }
      header = h;
    } else if (bind_legacy) {
      // Binding vouches for the key header from now on, so first make sure it is this file's:
      // a foreign one (or a stripped binding) unwraps a data key that opens none of the
      // records here.
      if (auto s = probe_records(*d, d->cipher_.get(), txn); !s) return tl::unexpected(s.error());
      if (auto s = bind(*key_header); !s) return tl::unexpected(s.error());
    }
    if (auto s = txn.commit("commit open"); !s) return tl::unexpected(s.error());
  }
  d->encrypted_ = header->encrypted;
  d->base_currency_ = header->currency;
  const std::string file_region =
      stored_region ? std::string(stored_region->begin(), stored_region->end()) : std::string();
  d->phone_region_ = phone_region.empty() ? file_region : phone_region;
  d->file_format_ = header->format;
  d->codec_ = std::make_unique<codec::RecordCodec>(d->cipher_.get());
  // Split personal fields: an encrypted file with a personal key (format 4). An analyst key
  // opens such a file without the personal key.
  if (header->encrypted && personal_wrap) d->make_personal_state(d->cipher_->cipher());
  d->set_keys(std::make_unique<index::IndexKeys>(d->tokenizer_.get(),
                                                 d->personal_tokenizer_.get(), d->split()),
              std::make_unique<segment::SegmentKeys>(d->tokenizer_.get(), header->format,
                                                     d->personal_tokenizer_.get(), d->split()));
  if (header->format < kFileFormat && !options.read_only) {
    if (d->role_ == KeyRole::kAnalyst)
      return make_error(ErrorCode::kPermissionDenied, "an analyst key cannot upgrade a database");
    if (auto s = upgrade(*d); !s) return tl::unexpected(s.error());
  }
  d->options_.key.reset();  // the unwrapped keys are all a handle needs from here on
  if (!options.read_only && !phone_region.empty() && phone_region != file_region) {
    creating.release();  // a new file's header is committed: the region is a write of its own
    auto s = d->write_retrying(
        [&](TxnState& st) -> Status { return set_phone_region(*d, st, phone_region); });
    if (!s) return tl::unexpected(s.error());
  }
  // The subkey derivations above (RecordCipher, Tokenizer) ran on this stack too.
  crypto::scrub_stack();
  undo.dismiss();
  return d;
}

Status DatabaseImpl::upgrade(DatabaseImpl& d) {
  // Every step from the file's format to kFileFormat, in one write transaction: a crash leaves
  // the old format, upgraded again at the next read-write open. Read-only opens never upgrade.
  //   1 -> 2: build the bit-sliced index for every customer (segment::build_slices).
  //   2 -> 3: re-derive every folded key and canonical value with Unicode NFC + full case
  //           folding, E.164 phones and IDNA email domains (upgrade_v3_text), and store each
  //           directed relationship once, in its canonical direction (upgrade_v3_relationships).
  //   3 -> 4: privacy (upgrade_v4_privacy): the new tables are created by open; encrypted
  //           files get their personal key and personal fields sealed under it.
  //   4 -> 5: custom attributes: nothing to rewrite (no meta "schema" reads as the empty
  //           schema; records without attribute values have none).
  //   5 -> 6: holdings: the new tables are created by open; every customer gets the postings
  //           of its (zero) holdings aggregates (segment::build_holdings_postings). A format-1
  //           file got them from build_slices already.
  //   6 -> 7: the change feed: its tables (feed, feed_consumers) are created by open; the
  //           feed starts off (no meta feed.state), so nothing else is written.
  auto keys = std::make_unique<segment::SegmentKeys>(d.tokenizer_.get(), kFileFormat);
  // Format 3 -> 4 of an encrypted file: a new personal key, wrapped under the owner's secret
  // (still in options_ here), and split personal fields from now on; upgrade_v4_privacy
  // stores the wrap and re-seals every record in the upgrade's transaction.
  std::vector<std::uint8_t> personal_wrap;
  std::unique_ptr<crypto::SecretBuffer> new_personal_key;
  const index::IndexKeys old_keys(d.tokenizer_.get());
  if (d.encrypted_ && !d.split() && d.file_format_ < 4) {
    auto raw = [&]() -> Result<std::optional<std::vector<std::uint8_t>>> {
      auto st = d.begin(false);
      if (!st) return tl::unexpected(st.error());
      auto v = d.get(**st, d.tables().meta, as_bytes(kKeyHeaderKey));
      if (!v) return tl::unexpected(v.error());
      if (!*v) return std::optional<std::vector<std::uint8_t>>();
      return std::optional<std::vector<std::uint8_t>>(std::in_place, (*v)->begin(), (*v)->end());
    }();
    if (!raw) return tl::unexpected(raw.error());
    if (!*raw) return make_error(ErrorCode::kCorruption, "encrypted database without a key header");
    auto kh = crypto::KeyHeader::parse(**raw);
    if (!kh) return tl::unexpected(kh.error());
    if (!d.options_.key)
      return make_error(ErrorCode::kInternal, "upgrade: the owner's secret is gone");
    auto added = crypto::add_personal_key(*kh, *d.options_.key);
    if (!added) return tl::unexpected(added.error());
    personal_wrap = std::move(added->personal_wrap);
    new_personal_key = std::make_unique<crypto::SecretBuffer>(std::move(added->personal_key));
  }
  auto s = d.write_retrying([&](TxnState& st) -> Status {
    auto raw = d.get(st, d.tables().meta, as_bytes(kHeaderKey));
    if (!raw) return tl::unexpected(raw.error());
    if (!*raw) return make_error(ErrorCode::kCorruption, "not a custdb database (no header)");
    auto h = decode_header(**raw);
    if (!h) return tl::unexpected(h.error());
    if (h->format >= kFileFormat) return {};  // another process upgraded it meanwhile
    if (h->format < 2) {
      if (auto b = segment::build_slices(d, st, *keys); !b) return b;
    }
    if (h->format < 3) {
      if (auto t = upgrade_v3_text(d, st, *keys); !t) return t;
      if (auto r = upgrade_v3_relationships(d, st, *keys); !r) return r;
    }
    if (h->format < 4) {
      if (!personal_wrap.empty()) {
        if (auto p = d.put(st, d.tables().meta, as_bytes(kPersonalKeyKey), personal_wrap); !p)
          return p;
        // From here on (the earlier steps wrote as format 3 did) personal fields are split.
        if (new_personal_key) d.install_personal_key(std::move(new_personal_key));
      }
      if (auto p = upgrade_v4_privacy(d, st, *keys, old_keys); !p) return p;
      if (auto c = upgrade_v4_consent_postings(d, st, *keys); !c) return c;
    }
    if (h->format >= 2 && h->format < 6) {
      if (auto b = segment::build_holdings_postings(d, st, *keys); !b) return b;
    }
    h->format = kFileFormat;
    return d.put(st, d.tables().meta, as_bytes(kHeaderKey), encode_header(*h));
  });
  if (!s) return s;
  d.set_keys(nullptr, std::make_unique<segment::SegmentKeys>(
                         d.tokenizer_.get(), kFileFormat, d.personal_tokenizer_.get(), d.split()));
  d.file_format_ = kFileFormat;
  return {};
}

namespace {

// meta nonce_epoch as stored in txn (0 when absent); kCorruption for a malformed value.
Result<std::uint32_t> read_epoch(const storage::Txn& txn, storage::Table meta) {
  auto stored = storage::get(txn, meta, as_bytes(kEpochKey), "read nonce epoch");
  if (!stored) return tl::unexpected(stored.error());
  if (!*stored) return 0u;
  if ((*stored)->size() != 4)
    return make_error(ErrorCode::kCorruption,
                      "meta nonce_epoch: " + std::to_string((*stored)->size()) + " bytes, expected 4");
  return coding::get_u32((*stored)->data());
}

// Writes meta nonce_epoch = epoch, commits txn and syncs the file: an epoch is durable before
// anything is sealed with it.
Status commit_epoch(storage::Txn& txn, storage::Table meta, storage::Env& env, std::uint32_t epoch) {
  std::uint8_t e[4];
  coding::put_u32(e, epoch);
  if (auto s = storage::put(txn, meta, as_bytes(kEpochKey), Bytes(e, 4), storage::Put::kOverwrite,
                            "write nonce epoch");
      !s)
    return s;
  if (auto s = txn.commit("commit nonce epoch"); !s) return s;
  return env.sync(true);
}

}  // namespace

Status DatabaseImpl::ensure_sealer() {
  MutexLock lock(&sealer_mutex_);
  if (sealer_) return {};
  // Nonces are (epoch, counter). Each handle that writes takes a fresh epoch and makes it
  // durable before it seals anything, so no nonce repeats under the key, across crashes too.
  storage::Txn txn;
  Error failure(ErrorCode::kInternal, "");
  if (storage::Txn::begin(env_, true, txn, "begin write", &failure) != storage::Txn::Begin::kOk)
    return tl::unexpected(std::move(failure));
  auto stored_epoch = read_epoch(txn, tables().meta);
  if (!stored_epoch) return tl::unexpected(stored_epoch.error());
  std::uint32_t epoch = *stored_epoch;
  if (epoch == UINT32_MAX)
    return make_error(ErrorCode::kUnsupported,
                      "meta nonce_epoch is 4294967295: nonce epochs exhausted; rotate the data key");
  ++epoch;
  if (auto s = commit_epoch(txn, tables().meta, env_, epoch); !s) return s;
  sealer_ = std::make_unique<crypto::RecordCipher>(*data_key_, cipher_->cipher(), epoch);
  codec_->set_sealer(sealer_.get());
  if (personal_key_) {
    // Another key, so the same epoch starts an independent nonce space.
    personal_sealer_ =
        std::make_unique<crypto::RecordCipher>(*personal_key_, cipher_->cipher(), epoch);
    codec_->set_personal_sealer(personal_sealer_.get());
  }
  sealer_ready_.store(true, std::memory_order_release);
  return {};
}

Status DatabaseImpl::raise_epoch_for_replica() {
  auto lock = lock_writer();
  if (!lock) return tl::unexpected(lock.error());
  constexpr std::uint32_t kLow = 0x80000000u, kHigh = 0xFF000000u;
  MutexLock l(&sealer_mutex_);
  // A sealer made after an earlier raise (a first apply that failed, say) seals in the
  // replica's range already.
  if (sealer_ && sealer_->epoch() >= kLow) return {};
  if (sealer_)
    return make_error(ErrorCode::kFailedPrecondition,
                      "reopen the replica before its first apply: this handle has sealed with "
                      "the primary's nonce epochs already");
  storage::Txn txn;
  Error failure(ErrorCode::kInternal, "");
  if (storage::Txn::begin(env_, true, txn, "begin write", &failure) != storage::Txn::Begin::kOk)
    return tl::unexpected(std::move(failure));
  auto stored_epoch = read_epoch(txn, tables().meta);
  if (!stored_epoch) return tl::unexpected(stored_epoch.error());
  std::uint32_t epoch = *stored_epoch;
  // The primary's epochs count up from 1 (one per writing handle); the replica's start at a
  // random point of the upper half, leaving 2^24 epochs of its own before the top.
  crypto::ensure_sodium();
  const std::uint32_t pick = kLow + randombytes_uniform(kHigh - kLow);
  if (epoch >= pick) return {};  // raised already (an earlier first apply that failed later)
  return commit_epoch(txn, tables().meta, env_, pick);
}

void DatabaseImpl::install_personal_key(std::unique_ptr<crypto::SecretBuffer> pk) {
  personal_key_ = std::move(pk);
  make_personal_state(cipher_->cipher());
  set_keys(std::make_unique<index::IndexKeys>(tokenizer_.get(), personal_tokenizer_.get(), true),
           std::make_unique<segment::SegmentKeys>(tokenizer_.get(), kFileFormat,
                                                  personal_tokenizer_.get(), true));
  if (sealer_ready_.load(std::memory_order_acquire)) {
    MutexLock lock(&sealer_mutex_);
    personal_sealer_ =
        std::make_unique<crypto::RecordCipher>(*personal_key_, cipher_->cipher(), sealer_->epoch());
    codec_->set_personal_sealer(personal_sealer_.get());
  }
}

void DatabaseImpl::set_keys(std::unique_ptr<index::IndexKeys> keys,
                            std::unique_ptr<segment::SegmentKeys> seg_keys) {
  // Replaced key objects are kept (retired), not freed: another thread's transaction of this
  // handle may still be using them (adopt_personal_key runs while the handle is shared).
  if (keys) {
    if (keys_) retired_.push_back(std::shared_ptr<const void>(std::move(keys_)));
    keys_ = std::move(keys);
    keys_view_.store(keys_.get(), std::memory_order_release);
  }
  if (seg_keys) {
    if (seg_keys_) retired_.push_back(std::shared_ptr<const void>(std::move(seg_keys_)));
    seg_keys_ = std::move(seg_keys);
    seg_keys_view_.store(seg_keys_.get(), std::memory_order_release);
  }
}

Status DatabaseImpl::adopt_personal_key(TxnState& st) {
  MutexLock lock(&late_mutex_);
  if (!late_key_) return {};
  auto wrap = get(st, tables().meta, as_bytes(kPersonalKeyKey));
  if (!wrap) return tl::unexpected(wrap.error());
  if (!*wrap) return {};  // not upgraded (in this snapshot)
  auto raw = get(st, tables().meta, as_bytes(kKeyHeaderKey));
  if (!raw) return tl::unexpected(raw.error());
  if (!*raw) return make_error(ErrorCode::kCorruption, "encrypted database without a key header");
  auto kh = crypto::KeyHeader::parse(**raw);
  if (!kh) return tl::unexpected(kh.error());
  auto keys = crypto::unwrap_owner_keys(*kh, **wrap, *late_key_);
  if (!keys) return tl::unexpected(keys.error());
  if (keys->personal_failed || keys->personal_key.size() != crypto::kPersonalKeySize)
    return make_error(ErrorCode::kCorruption, "meta personal_key: does not open under the owner's key");
  personal_key_ = std::make_unique<crypto::SecretBuffer>(std::move(keys->personal_key));
  make_personal_state(cipher_->cipher());
  set_keys(std::make_unique<index::IndexKeys>(tokenizer_.get(), personal_tokenizer_.get(), true),
           std::make_unique<segment::SegmentKeys>(tokenizer_.get(), kFileFormat,
                                                  personal_tokenizer_.get(), true));
  late_key_.reset();
  late_pending_.store(false, std::memory_order_release);
  return {};
}

void DatabaseImpl::make_personal_state(crypto::Cipher cipher) {
  split_.store(true, std::memory_order_release);
  if (personal_key_) {
    personal_cipher_ = std::make_unique<crypto::RecordCipher>(*personal_key_, cipher, 0);
    personal_tokenizer_ = std::make_unique<crypto::Tokenizer>(*personal_key_);
  }
  codec_->set_personal(personal_cipher_.get(), true);
  crypto::scrub_stack();
}

Result<std::vector<crypto::KeyHeader>> parse_analyst_keys(std::span<const std::uint8_t> bytes) {
  if (bytes.size() % crypto::KeyHeader::kSize != 0)
    return make_error(ErrorCode::kCorruption, "meta analyst_keys: size " +
                                                  std::to_string(bytes.size()) +
                                                  " is not a multiple of 107");
  std::vector<crypto::KeyHeader> out;
  for (std::size_t at = 0; at < bytes.size(); at += crypto::KeyHeader::kSize) {
    auto h = crypto::KeyHeader::parse(bytes.subspan(at, crypto::KeyHeader::kSize));
    if (!h) return tl::unexpected(h.error().with_context("meta analyst_keys"));
    out.push_back(*h);
  }
  return out;
}

Result<std::uint32_t> header_format(Bytes value) {
  auto h = decode_header(value);
  if (!h) return tl::unexpected(h.error());
  return h->format;
}

Status check_header(Bytes value, bool encrypted) {
  auto h = decode_header(value);
  if (!h) return tl::unexpected(h.error());
  if (h->encrypted != encrypted)
    return make_error(ErrorCode::kCorruption, "encryption flag differs from the open handle's");
  return {};
}

}  // namespace detail
}  // namespace custdb
