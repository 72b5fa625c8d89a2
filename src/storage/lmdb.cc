#include "storage/lmdb.h"

#include <lmdb.h>

#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "storage/raw.h"

namespace custdb::storage {

Error lmdb_error(int rc, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  msg += mdb_strerror(rc);
  ErrorCode code = ErrorCode::kIOError;
  // Say what to do about the common OS limits, not only the errno text.
  if (rc == ENOSPC) msg = std::string(what) + ": disk is full (No space left on device)";
  if (rc == EDQUOT) msg = std::string(what) + ": disk quota exceeded";
  if (rc == EFBIG)
    msg = std::string(what) + ": file size limit exceeded (the process's RLIMIT_FSIZE, "
                              "`ulimit -f`, or the file system's maximum file size)";
  switch (rc) {
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_BAD_DBI:
    case MDB_INCOMPATIBLE:
    // A cursor stack deeper than LMDB's 32 levels: no file LMDB wrote has such a tree.
    case MDB_CURSOR_FULL:
    // LMDB marks a transaction MDB_TXN_ERROR when a page read fails (MDB_PAGE_NOTFOUND,
    // MDB_CORRUPTED) and then refuses every later call with MDB_BAD_TXN. custdb never uses a
    // transaction after it ended or while a child is open, and stops using a write transaction
    // after a failed put or delete (TxnState::poisoned), so on the calls that reach here the
    // code means an earlier read met damage.
    case MDB_BAD_TXN:
      code = ErrorCode::kCorruption;
      break;
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
      code = ErrorCode::kResourceExhausted;
      break;
    case MDB_READERS_FULL:
    case EAGAIN:
    case EBUSY:
      code = ErrorCode::kBusy;
      break;
    case MDB_BAD_VALSIZE:
    case EINVAL:
      code = ErrorCode::kInternal;
      break;
    default:
      break;  // ENOSPC, EIO, ENOENT...: kIOError
  }
  return Error(code, std::move(msg));
}

Error os_error(int err, std::string_view what) { return lmdb_error(err, what); }

Status check_walked(std::string_view table, std::uint64_t walked, std::uint64_t recorded) {
  if (walked == recorded) return {};
  return make_error(ErrorCode::kCorruption,
                    std::string(table) + ": a full read found " + std::to_string(walked) +
                        " entries where the table records " + std::to_string(recorded) +
                        " (damaged or torn file)");
}

Env& Env::operator=(Env&& o) noexcept {
  if (this != &o) {
    if (env_) mdb_env_close(env_);
    env_ = o.env_;
    o.env_ = nullptr;
  }
  return *this;
}

Env::~Env() {
  if (env_) mdb_env_close(env_);
}

namespace {

// The size LMDB gives lock.mdb (mdb_env_setup_locks in mdb.c, 0.9.x): an MDB_txninfo header
// followed by max_readers - 1 further reader slots. Every part is padded to a 64-byte cache
// line; the header holds the reader mutex (with the magic, format, txnid and reader count) and
// the writer mutex, both POSIX robust mutexes on Linux.
constexpr std::size_t kCacheLine = 64;
constexpr std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }
constexpr std::size_t kReaderSlot = kCacheLine;  // MDB_reader: txnid, pid, tid, padded
constexpr std::size_t kTxnBody =
    round_up(round_up(8 + sizeof(pthread_mutex_t), 8) + 8 + 4, 8);  // MDB_txbody
constexpr std::size_t kTxnInfo =
    round_up(kTxnBody, kCacheLine) + round_up(sizeof(pthread_mutex_t), kCacheLine) + kReaderSlot;

}  // namespace

std::size_t lock_file_size(unsigned max_readers) {
  return (max_readers - 1) * kReaderSlot + kTxnInfo;
}

Status reserve_lock_file(const std::string& dir, unsigned max_readers) {
  const std::string path = dir + "/lock.mdb";
  off_t want = static_cast<off_t>(lock_file_size(max_readers));
  struct stat st;
  // A larger file is adopted by LMDB as it is (more reader slots, all mapped): reserve it all.
  if (::stat(path.c_str(), &st) == 0) {
    want = std::max(want, st.st_size);
    // Already reserved (by an earlier open of ours): nothing to do, and no descriptor opened.
    // That matters: closing any descriptor of the file drops this process's fcntl locks on
    // it, which LMDB relies on while another handle has the environment open.
    if (static_cast<off_t>(st.st_blocks) * 512 >= want) return {};
  }
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return {};  // unwritable (read-only media, permissions): LMDB decides what to do
  // FALLOC_FL_KEEP_SIZE: the blocks are allocated, the size stays. The size of a lock file is
  // its reader-table length, which every process that has it open already mapped: only LMDB,
  // and only while it holds the file exclusively (mdb_env_setup_locks), may change it. When
  // LMDB then ftruncate()s the file up to its size, the blocks are already there.
  int rc = ::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, want) == 0 ? 0 : errno;
  ::close(fd);
  if (rc == 0 || rc == EOPNOTSUPP || rc == ENOSYS) return {};  // no support: as LMDB alone
  return tl::unexpected(lmdb_error(rc, "cannot reserve " + path));
}

Result<Env> Env::open(const OpenParams& p) {
  // LMDB sizes a new lock file with ftruncate, which allocates nothing, and then writes to it
  // through a shared mapping: on a full disk the first store into an unbacked page is a
  // SIGBUS, not an error. Reserving the blocks first turns that into ENOSPC here.
  unsigned flags = 0;
  if (p.read_only) flags |= MDB_RDONLY;
  if (p.sync == Sync::kNoMetaSync) flags |= MDB_NOMETASYNC;
  if (p.sync == Sync::kNone) flags |= MDB_NOSYNC;
  {
    if (auto s = reserve_lock_file(p.dir, p.max_readers); !s) return tl::unexpected(s.error());
  }
  std::size_t map_size = p.map_size;
  for (;;) {
    Env env;
    int rc = mdb_env_create(&env.env_);
    if (rc) return tl::unexpected(lmdb_error(rc, "mdb_env_create"));
    if (map_size && (rc = mdb_env_set_mapsize(env.env_, map_size)))
      return tl::unexpected(lmdb_error(rc, "mdb_env_set_mapsize"));
    if ((rc = mdb_env_set_maxreaders(env.env_, p.max_readers)))
      return tl::unexpected(lmdb_error(rc, "mdb_env_set_maxreaders"));
    if ((rc = mdb_env_set_maxdbs(env.env_, p.max_dbs)))
      return tl::unexpected(lmdb_error(rc, "mdb_env_set_maxdbs"));
    // 0600: customer data is nobody else's business, encrypted or not.
    rc = mdb_env_open(env.env_, p.dir.c_str(), flags | MDB_NOTLS, 0600);
    if (rc == ENOMEM && p.shrink_on_enomem && map_size / 2 >= kMinMapSize) {
      // The address space refused the mapping; a failed env must be closed and made anew.
      map_size /= 2;
      continue;
    }
    if (rc) return tl::unexpected(lmdb_error(rc, "cannot open database at " + p.dir));
    return env;
  }
}

Status Env::set_map_size(std::size_t bytes) {
  int rc = mdb_env_set_mapsize(env_, bytes);
  if (rc) return tl::unexpected(lmdb_error(rc, "mdb_env_set_mapsize"));
  return {};
}

EnvInfo Env::info() const {
  MDB_envinfo i{};
  mdb_env_info(env_, &i);
  MDB_stat s{};
  mdb_env_stat(env_, &s);
  EnvInfo out;
  out.map_size = i.me_mapsize;
  out.last_pgno = i.me_last_pgno;
  out.last_txnid = i.me_last_txnid;
  out.max_readers = i.me_maxreaders;
  out.readers_in_use = i.me_numreaders;
  out.page_size = s.ms_psize;
  return out;
}

int Env::reader_check() {
  int dead = 0;
  mdb_reader_check(env_, &dead);
  return dead;
}

std::vector<Env::Reader> Env::readers() const {
  // mdb_reader_list formats the table as text ("pid thread txnid" per line, "-" for a slot
  // with no active read): the only public way to see it, so parse that.
  std::vector<Reader> out;
  auto collect = [](const char* line, void* ctx) -> int {
    auto* v = static_cast<std::vector<Reader>*>(ctx);
    long pid = 0;
    unsigned long thread = 0;
    char txn[32] = {0};
    if (std::sscanf(line, "%ld %lx %31s", &pid, &thread, txn) == 3) {
      Reader r;
      r.pid = pid;
      r.thread = thread;
      r.txnid = txn[0] == '-' ? 0 : std::strtoull(txn, nullptr, 10);
      v->push_back(r);
    }
    return 0;
  };
  mdb_reader_list(env_, collect, &out);
  return out;
}

Status Env::sync(bool force) {
  int rc = mdb_env_sync(env_, force ? 1 : 0);
  if (rc) return tl::unexpected(lmdb_error(rc, "mdb_env_sync"));
  return {};
}

Status Env::copy_to_fd(int fd, bool compact, const std::string& what) const {
  int rc = mdb_env_copyfd2(env_, fd, compact ? MDB_CP_COMPACT : 0);
  if (rc) return tl::unexpected(lmdb_error(rc, what));
  return {};
}

Txn& Txn::operator=(Txn&& o) noexcept {
  if (this != &o) {
    abort();
    txn_ = o.txn_;
    o.txn_ = nullptr;
    write_ = o.write_;
    live_ = std::move(o.live_);
  }
  return *this;
}

void Txn::end() noexcept {
  txn_ = nullptr;
  if (live_) *live_ = false;
  live_.reset();
}

Txn::Begin Txn::begin(const Env& env, bool write, Txn& out, std::string_view what, Error* error) {
  out.abort();
  const int rc = mdb_txn_begin(env.get(), nullptr, write ? 0 : MDB_RDONLY, &out.txn_);
  if (rc == 0) {
    out.write_ = write;
    out.live_ = std::make_shared<bool>(true);
    return Begin::kOk;
  }
  out.txn_ = nullptr;
  if (error) *error = lmdb_error(rc, what);
  if (rc == MDB_READERS_FULL) return Begin::kReadersFull;
  if (rc == MDB_MAP_RESIZED) return Begin::kMapResized;
  return Begin::kFailed;
}

namespace {

// LMDB reports a short write of the data file as EIO ("TODO: Use which error code?" in
// mdb_page_flush): that is what a write crossing the file size limit or filling the disk's
// last blocks returns. Tell those apart from a real I/O error by looking at the file.
int explain_short_write(MDB_env* env, int rc) {
  if (rc != EIO || !env) return rc;
  int fd = -1;
  if (mdb_env_get_fd(env, &fd) != 0 || fd < 0) return rc;
  struct stat st;
  rlimit limit;
  if (::fstat(fd, &st) == 0 && ::getrlimit(RLIMIT_FSIZE, &limit) == 0 &&
      limit.rlim_cur != RLIM_INFINITY && static_cast<rlim_t>(st.st_size) >= limit.rlim_cur)
    return EFBIG;
  struct statvfs vfs;
  if (::fstatvfs(fd, &vfs) == 0 && vfs.f_bavail * vfs.f_frsize < 2 * 65536) return ENOSPC;
  return rc;
}

// The failure of a put, delete or commit: a full map says how large it is and what happened.
Error write_error(MDB_env* env, int rc, std::string_view what) {
  if (rc == MDB_KEYEXIST) return Error(ErrorCode::kAlreadyExists, std::string(what) + ": key exists");
  if (rc != MDB_MAP_FULL) return lmdb_error(rc, what);
  MDB_envinfo info{};
  if (env) mdb_env_info(env, &info);
  return Error(ErrorCode::kResourceExhausted,
               std::string(what) + ": the database is full: its map of " +
                   std::to_string(info.me_mapsize) +
                   " bytes (Options::max_map_size) is used up; the transaction is aborted and "
                   "nothing of it is stored");
}

}  // namespace

Status Txn::commit(std::string_view what) {
  MDB_env* env = mdb_txn_env(txn_);
  int rc = mdb_txn_commit(txn_);
  end();
  if (rc == 0) return {};
  return tl::unexpected(write_error(env, explain_short_write(env, rc), what));
}

void Txn::abort() noexcept {
  if (txn_) {
    mdb_txn_abort(txn_);
    end();
  }
}


// ---- tables ---------------------------------------------------------------------------------

std::uint16_t table_flags(TableKind kind) {
  return kind == TableKind::kUnique ? 0 : static_cast<std::uint16_t>(MDB_DUPSORT | MDB_DUPFIXED);
}

Result<std::optional<Table>> open_table(const Txn& txn, const char* name, TableKind kind,
                                        bool create) {
  MDB_dbi dbi = 0;
  const unsigned flags = table_flags(kind) | (create ? MDB_CREATE : 0u);
  const int rc = mdb_dbi_open(txn.get(), name, flags, &dbi);
  if (rc == 0) return std::optional<Table>(Table{dbi});
  if (rc == MDB_NOTFOUND && !create) return std::optional<Table>();
  if (rc == MDB_INCOMPATIBLE)
    return make_error(ErrorCode::kCorruption,
                      "not a custdb database (table '" + std::string(name) + "' has the wrong kind)");
  return tl::unexpected(lmdb_error(rc, std::string(create ? "create table " : "open table ") + name));
}

Result<TableStat> stat(const Txn& txn, Table table, std::string_view what) {
  MDB_stat s{};
  if (int rc = mdb_stat(txn.get(), table.dbi, &s)) return tl::unexpected(lmdb_error(rc, what));
  TableStat out;
  out.entries = s.ms_entries;
  out.branch_pages = s.ms_branch_pages;
  out.leaf_pages = s.ms_leaf_pages;
  out.overflow_pages = s.ms_overflow_pages;
  out.depth = s.ms_depth;
  out.page_size = s.ms_psize;
  return out;
}

Result<std::uint64_t> entry_count(const Txn& txn, Table table, std::string_view what) {
  auto s = stat(txn, table, std::string(what) + ": statistics");
  if (!s) return tl::unexpected(s.error());
  return s->entries;
}

Result<std::optional<Bytes>> get(const Txn& txn, Table table, Bytes key, std::string_view what) {
  MDB_val k = to_val(key), v;
  const int rc = mdb_get(txn.get(), table.dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<Bytes>();
  if (rc) return tl::unexpected(lmdb_error(rc, what));
  return std::optional<Bytes>(to_bytes(v));
}

Result<bool> has_dup(const Txn& txn, Table table, Bytes key, Bytes value, std::string_view what) {
  Cursor cur(txn.get(), table);
  if (cur.open_rc()) return tl::unexpected(lmdb_error(cur.open_rc(), what));
  MDB_val k = to_val(key), v = to_val(value);
  const int rc = cur.get(k, v, MDB_GET_BOTH);
  if (rc == MDB_NOTFOUND) return false;
  if (rc) return tl::unexpected(lmdb_error(rc, what));
  return true;
}

Result<std::optional<std::string>> last_key(const Txn& txn, Table table, std::string_view what) {
  Cursor cur(txn.get(), table);
  if (cur.open_rc()) return tl::unexpected(lmdb_error(cur.open_rc(), what));
  MDB_val k, v;
  const int rc = cur.get(k, v, MDB_LAST);
  if (rc == MDB_NOTFOUND) return std::optional<std::string>();
  if (rc) return tl::unexpected(lmdb_error(rc, what));
  return std::optional<std::string>(std::string(to_view(k)));
}

Status put(const Txn& txn, Table table, Bytes key, Bytes value, Put how, std::string_view what) {
  const unsigned bits = static_cast<unsigned>(how);
  unsigned flags = 0;
  if (bits & static_cast<unsigned>(Put::kNoOverwrite)) flags |= MDB_NOOVERWRITE;
  if (bits & static_cast<unsigned>(Put::kNoDupData)) flags |= MDB_NODUPDATA;
  if (bits & static_cast<unsigned>(Put::kAppend)) flags |= MDB_APPEND;
  MDB_val k = to_val(key), v = to_val(value);
  const int rc = mdb_put(txn.get(), table.dbi, &k, &v, flags);
  if (rc == 0) return {};
  return tl::unexpected(write_error(mdb_txn_env(txn.get()), rc, what));
}

Result<bool> del(const Txn& txn, Table table, Bytes key, std::optional<Bytes> value,
                 std::string_view what) {
  MDB_val k = to_val(key), v;
  if (value) v = to_val(*value);
  const int rc = mdb_del(txn.get(), table.dbi, &k, value ? &v : nullptr);
  if (rc == 0) return true;
  if (rc == MDB_NOTFOUND) return false;
  return tl::unexpected(write_error(mdb_txn_env(txn.get()), rc, what));
}

// ---- range walks ----------------------------------------------------------------------------

struct NextAccess {
  static Next::Kind kind(const Next& n) { return n.kind_; }
  static std::string take_key(Next& n) { return std::move(n.key_); }
};

namespace {

Error ended_during_walk(std::string_view what) {
  return Error(ErrorCode::kFailedPrecondition,
               std::string(what) + ": the transaction ended during the walk (its callback "
                                   "committed, aborted or destroyed it, or a write failed)");
}

// The walk loop shared by the key walks: visits (k, v), moves with `next`, stops at the end,
// when fn says so, or at the first key outside `prefix` (when given). Next::skip_past seeks.
Status walk_keys(MDB_cursor* cur, const bool& live, int rc, MDB_val& k, MDB_val& v,
                 const Visit& fn, std::optional<Bytes> prefix, std::string_view what) {
  auto in_range = [&] {
    if (!prefix) return true;
    return k.mv_size >= prefix->size() &&
           std::memcmp(k.mv_data, prefix->data(), prefix->size()) == 0;
  };
  while (rc == 0 && in_range()) {
    Next n = fn(to_bytes(k), to_bytes(v));
    if (!live) return tl::unexpected(ended_during_walk(what));
    if (NextAccess::kind(n) == Next::Kind::kStop) return {};
    if (NextAccess::kind(n) == Next::Kind::kSkip) {
      const std::string past = NextAccess::take_key(n);
      k = to_val(std::string_view(past));
      rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
      // NODUP: in a dupsort table the cursor sits on the first value of `past`; the next key,
      // not that key's next value, is the first one strictly greater.
      if (rc == 0 && to_view(k) == std::string_view(past))
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_NODUP);
      continue;
    }
    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return tl::unexpected(lmdb_error(rc, what));
  return {};
}

}  // namespace

namespace {
// LMDB frees a write transaction's cursors when the transaction ends, and a read
// transaction's only when they are closed (before or after it ends).
void close_cursor(MDB_cursor* cur, const std::shared_ptr<const bool>& live, bool write) {
  if (cur && (!write || (live && *live))) mdb_cursor_close(cur);
}
}  // namespace

Walker::Walker(const Txn& txn, Table table, std::string_view what)
    : txn_(txn), table_(table), live_(txn.liveness()), write_(txn.is_write()), what_(what) {
  open_rc_ = mdb_cursor_open(txn.get(), table.dbi, &cur_);
  if (open_rc_) cur_ = nullptr;
  if (!live_) live_ = std::make_shared<const bool>(false);  // no transaction: open_rc_ says so
}

Walker::~Walker() { close_cursor(cur_, live_, write_); }

Status Walker::all(const Visit& fn) {
  if (open_rc_) return tl::unexpected(lmdb_error(open_rc_, what_));
  MDB_val k, v;
  const int rc = mdb_cursor_get(cur_, &k, &v, MDB_FIRST);
  return walk_keys(cur_, *live_, rc, k, v, fn, std::nullopt, what_);
}

Status Walker::from(Bytes seek, const Visit& fn) {
  if (open_rc_) return tl::unexpected(lmdb_error(open_rc_, what_));
  MDB_val k = to_val(seek), v;
  const int rc = mdb_cursor_get(cur_, &k, &v, MDB_SET_RANGE);
  return walk_keys(cur_, *live_, rc, k, v, fn, std::nullopt, what_);
}

Status Walker::prefix(Bytes prefix, const Visit& fn) {
  if (open_rc_) return tl::unexpected(lmdb_error(open_rc_, what_));
  MDB_val k = to_val(prefix), v;
  const int rc = mdb_cursor_get(cur_, &k, &v, MDB_SET_RANGE);
  return walk_keys(cur_, *live_, rc, k, v, fn, prefix, what_);
}

Status Walker::all_verified(const Visit& fn) {
  auto recorded = entry_count(txn_, table_, what_);
  if (!recorded) return tl::unexpected(recorded.error());
  if (open_rc_) return tl::unexpected(lmdb_error(open_rc_, what_));
  MDB_val k, v;
  std::uint64_t walked = 0;
  std::string prev;  // a copy: fn may write in a write transaction, moving dirty pages
  int rc = mdb_cursor_get(cur_, &k, &v, MDB_FIRST);
  while (rc == 0) {
    const std::string_view key = to_view(k);
    if (walked > 0 && std::string_view(prev).compare(key) >= 0)
      return make_error(ErrorCode::kCorruption,
                        what_ + ": keys out of order (damaged or torn file)");
    prev.assign(key);
    ++walked;
    Next n = fn(to_bytes(k), to_bytes(v));
    if (!*live_) return tl::unexpected(ended_during_walk(what_));
    if (NextAccess::kind(n) != Next::Kind::kContinue) return {};  // stopped (a skip ends a verified walk too)
    rc = mdb_cursor_get(cur_, &k, &v, MDB_NEXT);
  }
  if (rc != MDB_NOTFOUND) return tl::unexpected(lmdb_error(rc, "scan " + what_));
  return check_walked(what_, walked, *recorded);
}

Status Walker::dups(Bytes key, Order order, const Visit& fn, std::optional<Bytes> from) {
  if (open_rc_) return tl::unexpected(lmdb_error(open_rc_, what_));
  MDB_val k = to_val(key), v;
  int rc;
  if (order == Order::kForward && from) {
    v = to_val(*from);
    rc = mdb_cursor_get(cur_, &k, &v, MDB_GET_BOTH_RANGE);
  } else if (from) {
    // Backward from the last value <= from: the first value >= from, stepping back once when
    // it is greater; when every value is below from (or the key is absent), the last value.
    v = to_val(*from);
    rc = mdb_cursor_get(cur_, &k, &v, MDB_GET_BOTH_RANGE);
    if (rc == 0 && to_view(v) != to_view(to_val(*from))) rc = mdb_cursor_get(cur_, &k, &v, MDB_PREV_DUP);
    else if (rc == MDB_NOTFOUND) {
      k = to_val(key);
      rc = mdb_cursor_get(cur_, &k, &v, MDB_SET);
      if (rc == 0) rc = mdb_cursor_get(cur_, &k, &v, MDB_LAST_DUP);
    }
  } else {
    rc = mdb_cursor_get(cur_, &k, &v, MDB_SET);
    if (rc == 0 && order == Order::kBackward) rc = mdb_cursor_get(cur_, &k, &v, MDB_LAST_DUP);
  }
  const MDB_cursor_op step = order == Order::kForward ? MDB_NEXT_DUP : MDB_PREV_DUP;
  while (rc == 0) {
    const Next n = fn(to_bytes(k), to_bytes(v));
    if (!*live_) return tl::unexpected(ended_during_walk(what_));
    if (NextAccess::kind(n) != Next::Kind::kContinue) return {};
    rc = mdb_cursor_get(cur_, &k, &v, step);
  }
  if (rc != MDB_NOTFOUND) return tl::unexpected(lmdb_error(rc, what_));
  return {};
}

Result<std::size_t> Walker::dup_count(Bytes key) {
  if (open_rc_) return tl::unexpected(lmdb_error(open_rc_, what_));
  MDB_val k = to_val(key), v;
  int rc = mdb_cursor_get(cur_, &k, &v, MDB_SET);
  if (rc == MDB_NOTFOUND) return std::size_t{0};
  if (rc) return tl::unexpected(lmdb_error(rc, what_));
  std::size_t n = 0;
  if ((rc = mdb_cursor_count(cur_, &n))) return tl::unexpected(lmdb_error(rc, what_));
  return static_cast<std::size_t>(n);
}

Status Walker::keys(const std::function<bool(Bytes key, std::size_t count)>& fn) {
  if (open_rc_) return tl::unexpected(lmdb_error(open_rc_, what_));
  MDB_val k, v;
  int rc = mdb_cursor_get(cur_, &k, &v, MDB_FIRST);
  while (rc == 0) {
    std::size_t n = 0;
    if (int crc = mdb_cursor_count(cur_, &n)) return tl::unexpected(lmdb_error(crc, what_));
    const bool more = fn(to_bytes(k), static_cast<std::size_t>(n));
    if (!*live_) return tl::unexpected(ended_during_walk(what_));
    if (!more) return {};
    rc = mdb_cursor_get(cur_, &k, &v, MDB_NEXT_NODUP);
  }
  if (rc != MDB_NOTFOUND) return tl::unexpected(lmdb_error(rc, what_));
  return {};
}

PointReader::PointReader(const Txn& txn, Table table)
    : live_(txn.liveness()), write_(txn.is_write()) {
  open_rc_ = mdb_cursor_open(txn.get(), table.dbi, &cur_);
  if (open_rc_) cur_ = nullptr;
  if (!live_) live_ = std::make_shared<const bool>(false);  // no transaction: open_rc_ says so
}

PointReader::PointReader(PointReader&& o) noexcept
    : cur_(std::exchange(o.cur_, nullptr)), open_rc_(o.open_rc_), live_(o.live_), write_(o.write_) {}

PointReader::~PointReader() { close_cursor(cur_, live_, write_); }

Result<std::optional<Bytes>> PointReader::get(Bytes key) {
  if (open_rc_) return tl::unexpected(lmdb_error(open_rc_, "cursor"));
  if (!*live_) return tl::unexpected(ended_during_walk("read"));
  MDB_val k = to_val(key), v;
  const int rc = mdb_cursor_get(cur_, &k, &v, MDB_SET_KEY);
  if (rc == MDB_NOTFOUND) return std::optional<Bytes>();
  if (rc) return tl::unexpected(lmdb_error(rc, "read"));
  return std::optional<Bytes>(to_bytes(v));
}

PointWriter::PointWriter(const Txn& txn, Table table) : live_(txn.liveness()) {
  assert(txn.is_write());
  if (txn.get()) env_ = mdb_txn_env(txn.get());
  open_rc_ = mdb_cursor_open(txn.get(), table.dbi, &cur_);
  if (open_rc_) cur_ = nullptr;
  if (!live_) live_ = std::make_shared<const bool>(false);  // no transaction: open_rc_ says so
}

PointWriter::~PointWriter() { close_cursor(cur_, live_, /*write=*/true); }

Status PointWriter::put(Bytes key, Bytes value, Put how, std::string_view what) {
  if (open_rc_) return tl::unexpected(lmdb_error(open_rc_, "cursor"));
  if (!*live_) return tl::unexpected(ended_during_walk(what));
  const unsigned bits = static_cast<unsigned>(how);
  unsigned flags = 0;
  if (bits & static_cast<unsigned>(Put::kNoOverwrite)) flags |= MDB_NOOVERWRITE;
  if (bits & static_cast<unsigned>(Put::kNoDupData)) flags |= MDB_NODUPDATA;
  if (bits & static_cast<unsigned>(Put::kAppend)) flags |= MDB_APPEND;
  MDB_val k = to_val(key), v = to_val(value);
  const int rc = mdb_cursor_put(cur_, &k, &v, flags);
  if (rc == 0) return {};
  return tl::unexpected(write_error(env_, rc, what));
}

}  // namespace custdb::storage
