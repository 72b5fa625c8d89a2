// Transactions: the write lock (this process's mutex, then custdb.lock's OFD lock), begin
// (adopting a map another process grew), retries of a busy write, storage failures that poison a
// transaction, and commit.
#include <fcntl.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "engine/db_impl.h"
#include "engine/feed_record.h"

namespace custdb::detail {

namespace {
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

// Not analysed: the lock outlives lock_writer(), held by a WriterLock until released here.
void WriterLock::release() noexcept NO_THREAD_SAFETY_ANALYSIS {
  if (!db_) return;
  DatabaseImpl* d = std::exchange(db_, nullptr);
  if (d->lock_fd_ >= 0 && !d->options().read_only) ofd_lock(d->lock_fd_, F_UNLCK, false);
  d->writer_thread_.store(std::thread::id(), std::memory_order_release);
  d->writer_mutex_.unlock();
}

// Not analysed: on success the lock outlives the call, held by the returned WriterLock.
Result<WriterLock> DatabaseImpl::lock_writer() NO_THREAD_SAFETY_ANALYSIS {
  if (this_thread_writes())
    return make_error(ErrorCode::kFailedPrecondition,
                      "this thread already holds a write transaction of this database (a nested "
                      "begin_write, or a one-shot write inside a WriteTxn, would wait for "
                      "itself for ever): use that WriteTxn, or commit or abort it first");
  using Clock = std::chrono::steady_clock;
  const auto timeout = options().busy_timeout;
  const bool forever = timeout.count() < 0;
  const auto deadline = Clock::now() + (forever ? std::chrono::milliseconds(0) : timeout);
  if (forever) {
    writer_mutex_.lock();
  } else if (!writer_mutex_.try_lock_until(deadline)) {
    return make_error(ErrorCode::kBusy, busy_message(timeout, "another thread of this process"));
  }
  writer_thread_.store(std::this_thread::get_id(), std::memory_order_release);
  WriterLock held(this);  // releases the mutex on every way out below
  // Rotation's copy (no lock file) and read-only handles write nothing other processes see.
  if (lock_fd_ < 0 || options().read_only) return held;
  if (forever) {
    if (int e = ofd_lock(lock_fd_, F_WRLCK, true); e != 0)
      return make_error(ErrorCode::kIOError, std::string("write lock on custdb.lock: ") + std::strerror(e));
    return held;
  }
  // No timed wait exists for file locks: poll, backing off from 1 ms to 16 ms.
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    int e = ofd_lock(lock_fd_, F_WRLCK, false);
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

Error DatabaseImpl::fail(TxnState& st, Error e) {
  assert(st.write);
  st.poisoned = true;
  if (!st.failure) st.failure = e;
  return e;
}

Result<std::unique_ptr<ReadView::State>> DatabaseImpl::begin(bool write, bool audit_only) {
  if (write && options().read_only)
    return make_error(ErrorCode::kReadOnly, "the database was opened read-only");
  // An analyst key cannot seal personal fields, so it writes nothing (docs/security.md,
  // "Analyst key": scores and rules are stored by the owner). The one exception is an
  // audit entry (Database::record_audit_event): it holds no personal data.
  if (write && !audit_only)
    if (auto s = require_owner("writing"); !s) return tl::unexpected(s.error());
  auto st = std::make_unique<ReadView::State>();
  st->write = write;
  if (write) {
    auto lock = lock_writer();
    if (!lock) return tl::unexpected(lock.error());
    st->writer = std::move(*lock);
    // The nonce epoch is raised in a write transaction of its own, under this same lock.
    if (encrypted() && !sealer_ready_.load(std::memory_order_acquire))
      if (auto s = ensure_sealer(); !s) return tl::unexpected(s.error());
  }
  if (auto s = begin_into(*st, write); !s) return tl::unexpected(s.error());
  if (write && tables().feed) {
    // The change feed (custdb/feed.h): a primary records this transaction; a replica changes
    // only by feed::apply (and feed::disable, scrub).
    auto fs = load_feed_state(*this, *st);
    if (!fs) return tl::unexpected(fs.error());
    if (fs->role == feed::Role::kPrimary) {
      st->feed = std::make_shared<FeedRecorder>();
    } else if (fs->role == feed::Role::kReplica && !ReplicaWrites::allowed()) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "this database is a replica of " + fs->name +
                            " (custdb/feed.h): it changes only by feed::apply; feed::disable "
                            "promotes it to a plain database");
    }
  }
  if (!write && personal_key_pending())
    if (auto s = adopt_personal_key(*st); !s) return tl::unexpected(s.error());
  return st;
}

Status DatabaseImpl::begin_into(TxnState& st, bool write) {
  assert(!st.txn);  // one LMDB transaction per TxnState
  bool reclaimed = false;
  for (;;) {
    st.ticket = remap_gate_.enter();
    Error failure(ErrorCode::kInternal, "");
    const auto begun = storage::Txn::begin(env_, write, st.txn, "begin transaction", &failure);
    if (begun == storage::Txn::Begin::kOk) {
      // A write transaction runs under the write lock, taken before LMDB's (begin()).
      assert(!write || st.writer);
      return {};
    }
    st.ticket.release();
    if (begun == storage::Txn::Begin::kReadersFull) {
      // Slots of processes that died holding a read transaction: clear them and try again.
      if (!reclaimed) {
        reclaimed = true;
        if (env_.reader_check() > 0) continue;
      }
      return make_error(ErrorCode::kBusy,
                        "the reader table is full: all " + std::to_string(env_.info().max_readers) +
                            " slots are held by live read transactions (`custdb stats` lists "
                            "their processes); end some, or raise Options::max_readers "
                            "(--max-readers), which takes effect when the database is next "
                            "opened by a first process");
    }
    if (begun != storage::Txn::Begin::kMapResized) return tl::unexpected(std::move(failure));
    // Another process, with a larger max_map_size, filled the file past this process's map:
    // adopt its size. LMDB allows that only with no transaction of this process active; the
    // one case where a begin waits for other transactions (never with default options).
    Status adopted;
    if (!remap_gate_.exclusive(kRemapWait, [&] {
          adopted = env_.set_map_size(0);
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
  // Only a write transaction commits, once (the LMDB transaction is gone afterwards), and
  // under the write lock it has held since begin.
  assert(st.write && st.txn && st.writer);
  if (auto s = flush_postings(st); !s) return s;
  // The change feed's entry: after the last recorded write (flush reports its bits), in the
  // same LMDB transaction as the data.
  feed::Seq entry = 0;
  if (st.feed && !st.feed->empty()) {
    auto seq = store_feed_entry(*this, st);
    if (!seq) {
      if (!st.poisoned) fail(st, seq.error());
      return tl::unexpected(seq.error());
    }
    entry = *seq;
  }
  if (auto s = st.txn.commit("commit"); !s) return tl::unexpected(fail(st, std::move(s.error())));
  if (entry) notify_feed();
  return {};
}

// ---- the change feed's condition and replica gate --------------------------------------------

void DatabaseImpl::notify_feed() {
  {
    std::lock_guard<std::mutex> l(feed_mu_);
    ++feed_generation_;
  }
  feed_cv_.notify_all();
}

std::uint64_t DatabaseImpl::feed_generation() const {
  std::lock_guard<std::mutex> l(feed_mu_);
  return feed_generation_;
}

void DatabaseImpl::wait_feed(std::uint64_t generation,
                             std::chrono::steady_clock::time_point until) const {
  std::unique_lock<std::mutex> l(feed_mu_);
  feed_cv_.wait_until(l, until, [&] { return feed_generation_ != generation; });
}

namespace {
thread_local bool t_replica_writes = false;
}  // namespace

ReplicaWrites::ReplicaWrites() : prev_(t_replica_writes) { t_replica_writes = true; }
ReplicaWrites::~ReplicaWrites() { t_replica_writes = prev_; }
bool ReplicaWrites::allowed() { return t_replica_writes; }

}  // namespace custdb::detail
