#include "storage/lmdb.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

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

Result<std::uint64_t> entry_count(MDB_txn* txn, MDB_dbi dbi, std::string_view what) {
  MDB_stat s{};
  if (int rc = mdb_stat(txn, dbi, &s))
    return tl::unexpected(lmdb_error(rc, std::string(what) + ": statistics"));
  return std::uint64_t{s.ms_entries};
}

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
  if (!(p.flags & MDB_NOLOCK))
    if (auto s = reserve_lock_file(p.dir, p.max_readers); !s) return tl::unexpected(s.error());
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
    rc = mdb_env_open(env.env_, p.dir.c_str(), p.flags | MDB_NOTLS, 0600);
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

MDB_envinfo Env::info() const {
  MDB_envinfo i{};
  mdb_env_info(env_, &i);
  return i;
}

MDB_stat Env::stat() const {
  MDB_stat s{};
  mdb_env_stat(env_, &s);
  return s;
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
  }
  return *this;
}

int Txn::begin(MDB_env* env, unsigned flags, Txn& out) {
  out.abort();
  return mdb_txn_begin(env, nullptr, flags, &out.txn_);
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

}  // namespace

int Txn::commit() {
  MDB_env* env = mdb_txn_env(txn_);
  int rc = mdb_txn_commit(txn_);
  txn_ = nullptr;
  return explain_short_write(env, rc);
}

void Txn::abort() noexcept {
  if (txn_) {
    mdb_txn_abort(txn_);
    txn_ = nullptr;
  }
}

Cursor::Cursor(MDB_txn* txn, MDB_dbi dbi) { rc_ = mdb_cursor_open(txn, dbi, &cur_); }

}  // namespace custdb::storage
