#include "storage/lmdb.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace custdb::storage {

Error lmdb_error(int rc, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  msg += mdb_strerror(rc);
  ErrorCode code = ErrorCode::kIOError;
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

Result<Env> Env::open(const OpenParams& p) {
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

Status Env::copy_to(int fd, const std::string& what, bool compact) const {
  int rc = mdb_env_copyfd2(env_, fd, compact ? MDB_CP_COMPACT : 0);
  if (rc) return tl::unexpected(lmdb_error(rc, "backup to " + what));
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

int Txn::commit() {
  int rc = mdb_txn_commit(txn_);
  txn_ = nullptr;
  return rc;
}

void Txn::abort() noexcept {
  if (txn_) {
    mdb_txn_abort(txn_);
    txn_ = nullptr;
  }
}

Cursor::Cursor(MDB_txn* txn, MDB_dbi dbi) { rc_ = mdb_cursor_open(txn, dbi, &cur_); }

}  // namespace custdb::storage
