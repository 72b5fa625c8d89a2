// The storage layer: custdb's only door to LMDB. RAII owners of the environment and of
// transactions; tables (LMDB's named databases) and point reads, writes and deletes on them;
// table statistics; a range walker over keys and duplicates; and the classification of every
// LMDB and OS failure as an ErrorCode. Callers never see an LMDB type, constant or call: this
// header does not include <lmdb.h>.
//
// Errors (every Status/Result below): a code LMDB only returns for a damaged file is
// kCorruption; a full map (MDB_MAP_FULL) or too many dirty pages in one transaction
// (MDB_TXN_FULL) is kResourceExhausted, saying the map's size; a full reader table, EAGAIN and
// EBUSY are kBusy; a full disk, quota or file size limit is kIOError saying so; other I/O
// failures are kIOError. Each message starts with the `what` the caller passed.
//
// A failed put or delete leaves the LMDB transaction usable only for abort: the caller must
// stop using it (the engine poisons its TxnState). A get, walk or stat failure on a damaged
// page has the same effect in LMDB (later calls fail with kCorruption).
//
// Thread safety: Env is thread-safe (MDB_NOTLS: transactions are not tied to threads). A Txn,
// and every reader or walk over it, is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "custdb/status.h"
#include "util/coding.h"

// LMDB's handles, opaque here.
struct MDB_env;
struct MDB_txn;
struct MDB_cursor;

namespace custdb::storage {

using coding::Bytes;

// The size of the lock.mdb LMDB creates for `max_readers` reader slots.
std::size_t lock_file_size(unsigned max_readers);
// Allocates every block of `dir`/lock.mdb (creating it, 0600; lock_file_size() or a larger
// existing size) so LMDB's stores through its mapping cannot fault on a full disk. kIOError
// "disk is full" when the blocks are not to be had; success when the file cannot be opened for
// writing (LMDB then reports or copes, e.g. on read-only media).
Status reserve_lock_file(const std::string& dir, unsigned max_readers);

// An OS error number (errno) as an Error, classified as LMDB's failures are (ENOSPC, EDQUOT,
// EFBIG: kIOError saying which limit; EAGAIN, EBUSY: kBusy; EINVAL: kInternal).
Error os_error(int err, std::string_view what);

// kCorruption when a full walk of `table` streamed `walked` entries where LMDB records
// `recorded`; ok when they agree.
Status check_walked(std::string_view table, std::uint64_t walked, std::uint64_t recorded);

// Sizes of the environment (mdb_env_info and mdb_env_stat).
struct EnvInfo {
  std::size_t map_size = 0;       // bytes mapped (Options::max_map_size)
  std::uint64_t last_pgno = 0;    // last page in use: the file holds (last_pgno + 1) pages
  std::uint64_t last_txnid = 0;   // last committed transaction
  unsigned max_readers = 0;       // reader slots of lock.mdb
  unsigned readers_in_use = 0;    // slots ever taken (LMDB's me_numreaders)
  unsigned page_size = 0;         // bytes
};

// Owns an LMDB environment. Thread-safe as LMDB's env is (MDB_NOTLS is always set).
class Env {
 public:
  Env() = default;
  Env(Env&& o) noexcept : env_(o.env_) { o.env_ = nullptr; }
  Env& operator=(Env&& o) noexcept;
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;
  ~Env();

  enum class Sync { kFull, kNoMetaSync, kNone };  // MDB_NOMETASYNC, MDB_NOSYNC
  struct OpenParams {
    std::string dir;
    bool read_only = false;  // MDB_RDONLY
    Sync sync = Sync::kFull;
    std::size_t map_size = 0;
    // When mapping map_size bytes fails for want of address space (ENOMEM: RLIMIT_AS, a
    // 32-bit process, many maps), halve it and try again, down to kMinMapSize.
    bool shrink_on_enomem = false;
    unsigned max_readers = 4096;
    unsigned max_dbs = 64;
  };
  static constexpr std::size_t kMinMapSize = std::size_t{64} << 20;
  static Result<Env> open(const OpenParams& p);

  MDB_env* get() const { return env_; }
  // Requires that no transaction of this process is active (LMDB's rule). 0: adopt the size
  // another process set.
  Status set_map_size(std::size_t bytes);
  EnvInfo info() const;
  // Clears reader slots of dead processes; returns how many.
  int reader_check();
  // One slot of LMDB's reader table held by a live or dead process (mdb_reader_list).
  struct Reader {
    long pid = 0;
    unsigned long thread = 0;
    // The snapshot the slot reads; 0 when the slot is held but no read is active.
    std::uint64_t txnid = 0;
  };
  // Every slot with an owner, in table order. Needs no transaction (and no slot) of its own.
  std::vector<Reader> readers() const;
  Status sync(bool force);
  // A consistent copy of the data file written to `fd` (mdb_env_copyfd2); errors name `what`.
  Status copy_to_fd(int fd, bool compact, const std::string& what) const;

 private:
  MDB_env* env_ = nullptr;
};

// Owns an LMDB transaction: aborted by the destructor unless committed.
class Txn {
 public:
  Txn() = default;
  Txn(Txn&& o) noexcept : txn_(o.txn_), write_(o.write_), live_(std::move(o.live_)) {
    o.txn_ = nullptr;
  }
  Txn& operator=(Txn&& o) noexcept;
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn() { abort(); }

  // How a begin ended. kReadersFull and kMapResized are the two failures the engine handles
  // itself (reclaiming dead readers' slots; adopting a map another process grew).
  enum class Begin { kOk, kReadersFull, kMapResized, kFailed };
  // Begins a read (write = false) or write transaction in `out` (whose previous one is
  // aborted). Unless kOk, *error (if given) holds the classified failure naming `what`.
  static Begin begin(const Env& env, bool write, Txn& out, std::string_view what,
                     Error* error = nullptr);
  // Commits; the transaction is gone afterwards, whatever the result. A full map is
  // kResourceExhausted naming its size; a short write of the data file is told apart as a
  // full disk or file size limit where the file shows it.
  Status commit(std::string_view what);
  void abort() noexcept;
  MDB_txn* get() const { return txn_; }
  explicit operator bool() const { return txn_ != nullptr; }
  bool is_write() const { return write_; }
  // True until this transaction ends (commit, abort, destruction); null before a begin.
  // Walkers and point readers hold it: a callback may end the transaction mid-walk, and LMDB
  // frees a write transaction's cursors when it ends.
  std::shared_ptr<const bool> liveness() const { return live_; }

 private:
  void end() noexcept;  // after commit or abort: clears txn_, tells the cursors' holders
  MDB_txn* txn_ = nullptr;
  bool write_ = false;
  std::shared_ptr<bool> live_;
};

// ---- tables -----------------------------------------------------------------------------------

// A table (LMDB named database) of an open environment: valid in every transaction of that
// environment once opened in a committed one. A value, freely copied; 0 means not opened.
struct Table {
  unsigned dbi = 0;
  explicit operator bool() const { return dbi != 0; }
};

// kUnique: one value per key. kDupSorted: several values per key, kept sorted, all of one size
// (MDB_DUPSORT | MDB_DUPFIXED): custdb's non-unique indexes.
enum class TableKind { kUnique, kDupSorted };
// The LMDB database flags a table of this kind is created with (for the page checker).
std::uint16_t table_flags(TableKind kind);

// Opens table `name` in txn. With create, makes it when missing (a write transaction).
// nullopt: it does not exist (and !create). kCorruption "wrong kind" when the stored table's
// flags are not `kind`'s.
Result<std::optional<Table>> open_table(const Txn& txn, const char* name, TableKind kind,
                                        bool create);

// Per-table statistics (mdb_stat).
struct TableStat {
  std::uint64_t entries = 0;  // every value of a dupsort table counts
  std::uint64_t branch_pages = 0, leaf_pages = 0, overflow_pages = 0;
  unsigned depth = 0;
  unsigned page_size = 0;
};
Result<TableStat> stat(const Txn& txn, Table table, std::string_view what = "statistics");
// stat(...)->entries. The number is kept in the table's record and updated by every put and
// delete, independently of the pages a walk visits, so a full walk that streamed another
// number saw a damaged or torn file (check_walked).
Result<std::uint64_t> entry_count(const Txn& txn, Table table, std::string_view what);

// The value stored under key (in a dupsort table, the first of its values); nullopt when
// absent. The bytes point into the map: valid until the transaction writes or ends.
Result<std::optional<Bytes>> get(const Txn& txn, Table table, Bytes key,
                                 std::string_view what = "read");
// Whether a dupsort table holds exactly (key, value).
Result<bool> has_dup(const Txn& txn, Table table, Bytes key, Bytes value,
                     std::string_view what = "read");

// The last key of `table` (in key order); nullopt when the table is empty. A copy.
Result<std::optional<std::string>> last_key(const Txn& txn, Table table,
                                            std::string_view what = "read");

// Options of put (bit set).
enum class Put : unsigned {
  kOverwrite = 0,     // replace the value (plain table) or add a value (dupsort table)
  kNoOverwrite = 1,   // refuse when the key exists
  kNoDupData = 2,     // dupsort: refuse when the (key, value) pair exists
  kAppend = 4,        // the key sorts after every stored key (bulk load); else kAlreadyExists
};
constexpr Put operator|(Put a, Put b) {
  return static_cast<Put>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}
// Stores (key, value). kAlreadyExists when kNoOverwrite, kNoDupData or kAppend refused
// (nothing stored; LMDB leaves the transaction usable, though the engine treats it as failed). Any failure leaves the transaction
// good only for abort.
Status put(const Txn& txn, Table table, Bytes key, Bytes value, Put how = Put::kOverwrite,
           std::string_view what = "write");
// Deletes key (all its values), or with `value` only that duplicate of a dupsort table.
// false: nothing was there. A failure leaves the transaction good only for abort.
Result<bool> del(const Txn& txn, Table table, Bytes key, std::optional<Bytes> value = std::nullopt,
                 std::string_view what = "delete");

// ---- range walks ------------------------------------------------------------------------------

// What a walk does after visiting an entry.
class Next {
 public:
  enum class Kind { kContinue, kStop, kSkip };
  static Next go_on() { return Next(Kind::kContinue); }
  static Next stop() { return Next(Kind::kStop); }
  // Continue at the first key strictly greater than `key` (skipping the rest of a range; in
  // a dupsort table, every value of `key`). Key walks only (all, from, prefix); a dups walk
  // stops.
  static Next skip_past(std::string key) {
    Next n(Kind::kSkip);
    n.key_ = std::move(key);
    return n;
  }

 private:
  friend struct NextAccess;  // the walks (lmdb.cc)
  explicit Next(Kind k) : kind_(k) {}
  Kind kind_;
  std::string key_;
};

// fn(key, value) for each entry visited. fn may end the transaction (commit, abort, destroy
// it): the walk then stops at once with kFailedPrecondition, its cursor untouched. Both views point into the map: valid until the
// transaction writes or ends (copy what must outlive a write made by the callback).
using Visit = std::function<Next(Bytes key, Bytes value)>;

// Walks one table of one transaction with one LMDB cursor. Keys come in memcmp order, and the
// values of a dupsort key in memcmp order. Every method returns the walk's failure (errors as
// at the top, naming `what`) or ok when it ended or the callback stopped it. Not thread-safe;
// must not outlive its transaction.
class Walker {
 public:
  Walker(const Txn& txn, Table table, std::string_view what);
  ~Walker();
  Walker(const Walker&) = delete;
  Walker& operator=(const Walker&) = delete;

  // Every entry (in a dupsort table, every value of every key), from the first.
  Status all(const Visit& fn);
  // As all(), from the first key >= seek.
  Status from(Bytes seek, const Visit& fn);
  // The entries whose key starts with prefix.
  Status prefix(Bytes prefix, const Visit& fn);
  // A full walk of a plain table that also proves the table sound: keys must ascend strictly
  // and, unless fn stopped the walk, their number must equal the table's recorded count; else
  // kCorruption naming `what` (a stale page under a newer branch, as in a torn copy, repeats
  // or reorders keys even when the total comes out right).
  Status all_verified(const Visit& fn);

  // Dupsort tables: the values of `key`, ascending (forward) or descending, fn(key, value)
  // each. With `from`: forward starts at the first value >= from, backward at the last value
  // <= from (the last value when from is beyond them all).
  enum class Order { kForward, kBackward };
  Status dups(Bytes key, Order order, const Visit& fn, std::optional<Bytes> from = std::nullopt);
  // The number of values stored under key (0 when absent): one page-local read, LMDB keeps
  // the count in the key's sub-database record.
  Result<std::size_t> dup_count(Bytes key);
  // Each distinct key once, with its number of values: fn(key, count); false stops.
  Status keys(const std::function<bool(Bytes key, std::size_t count)>& fn);

 private:
  const Txn& txn_;
  Table table_;
  MDB_cursor* cur_ = nullptr;
  int open_rc_ = 0;
  std::shared_ptr<const bool> live_;  // txn_.liveness(): txn_ is not touched once it is false
  bool write_ = false;
  std::string what_;
};

// Point reads of one table through one cursor, for keys visited in ascending order (an
// IdSet's for_each): when a key falls in the cursor's current leaf page, LMDB searches only
// that page instead of descending from the root. Not thread-safe; must not outlive its
// transaction.
class PointReader {
 public:
  PointReader(const Txn& txn, Table table);
  ~PointReader();
  PointReader(PointReader&& o) noexcept;
  PointReader(const PointReader&) = delete;
  PointReader& operator=(const PointReader&) = delete;
  // As storage::get.
  Result<std::optional<Bytes>> get(Bytes key);

 private:
  MDB_cursor* cur_ = nullptr;
  int open_rc_ = 0;
  std::shared_ptr<const bool> live_;  // the transaction's liveness()
  bool write_ = false;
};

// Puts into one table of a write transaction through one cursor, for keys given in ascending
// order (a bulk load): LMDB first tries the cursor's current leaf page, so a key in that page's
// range, or past the table's last key, is placed without a descent from the root (and
// without the dirty-page lookups of one). Any order is correct, only slower. Other writes of
// the transaction may interleave (LMDB keeps the cursor valid). Not thread-safe; must not
// outlive its transaction.
class PointWriter {
 public:
  PointWriter(const Txn& txn, Table table);
  ~PointWriter();
  PointWriter(const PointWriter&) = delete;
  PointWriter& operator=(const PointWriter&) = delete;
  // As storage::put on the writer's table.
  Status put(Bytes key, Bytes value, Put how, std::string_view what);

 private:
  MDB_cursor* cur_ = nullptr;
  MDB_env* env_ = nullptr;  // for write_error's map size
  int open_rc_ = 0;
  std::shared_ptr<const bool> live_;  // the transaction's liveness()
};

}  // namespace custdb::storage
