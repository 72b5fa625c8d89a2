// The LMDB layer: RAII owners for environment, transaction and cursor, the mapping of LMDB
// return codes onto custdb's ErrorCode, and key encodings. The engine uses these owners and
// calls mdb_get/mdb_put/mdb_stat on their handles; it never creates or frees LMDB objects
// itself.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "custdb/status.h"

namespace custdb::storage {

using Bytes = std::span<const std::uint8_t>;

inline MDB_val to_val(Bytes b) {
  return MDB_val{b.size(), const_cast<std::uint8_t*>(b.data())};
}
inline MDB_val to_val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}
inline Bytes to_bytes(const MDB_val& v) {
  return Bytes(static_cast<const std::uint8_t*>(v.mv_data), v.mv_size);
}
inline std::string_view to_view(const MDB_val& v) {
  return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

// Maps an LMDB/errno code to an Error; `what` says which operation failed. Codes that only a
// damaged file produces on a read are kCorruption: MDB_CORRUPTED, MDB_PAGE_NOTFOUND,
// MDB_INVALID, MDB_VERSION_MISMATCH, MDB_BAD_DBI, MDB_INCOMPATIBLE, MDB_CURSOR_FULL (a tree
// deeper than LMDB allows) and MDB_BAD_TXN (the transaction was poisoned by one of the former:
// see the definition).
Error lmdb_error(int rc, std::string_view what);

// The number of entries LMDB records for `dbi` (MDB_stat::ms_entries). It is kept in the
// database's record and updated by every put and delete, independently of the pages a walk
// visits, so a full walk that streamed another number saw a damaged or torn file. Errors as
// lmdb_error; `what` names the table.
Result<std::uint64_t> entry_count(MDB_txn* txn, MDB_dbi dbi, std::string_view what);

// kCorruption when a full walk of `table` streamed `walked` entries where LMDB records
// `recorded`; ok when they agree.
Status check_walked(std::string_view table, std::uint64_t walked, std::uint64_t recorded);

// Owns an MDB_env. Thread-safe as LMDB's env is (MDB_NOTLS is always set).
class Env {
 public:
  Env() = default;
  Env(Env&& o) noexcept : env_(o.env_) { o.env_ = nullptr; }
  Env& operator=(Env&& o) noexcept;
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;
  ~Env();

  struct OpenParams {
    std::string dir;
    unsigned flags = 0;  // MDB_RDONLY, MDB_NOSYNC, MDB_NOMETASYNC; MDB_NOTLS is added
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
  // Requires that no transaction of this process is active (LMDB's rule).
  Status set_map_size(std::size_t bytes);
  MDB_envinfo info() const;
  MDB_stat stat() const;
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
  // Writes the copy to `fd` (an empty file the caller created with the mode it wants).
  Status copy_to(int fd, const std::string& what, bool compact) const;

 private:
  MDB_env* env_ = nullptr;
};

// Owns an MDB_txn: aborted by the destructor unless committed.
class Txn {
 public:
  Txn() = default;
  Txn(Txn&& o) noexcept : txn_(o.txn_) { o.txn_ = nullptr; }
  Txn& operator=(Txn&& o) noexcept;
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn() { abort(); }

  // Raw rc so the caller can react to MDB_MAP_RESIZED.
  static int begin(MDB_env* env, unsigned flags, Txn& out);
  int commit();  // the txn is gone afterwards, whatever the result
  void abort() noexcept;
  MDB_txn* get() const { return txn_; }
  explicit operator bool() const { return txn_ != nullptr; }

 private:
  MDB_txn* txn_ = nullptr;
};

// Owns an MDB_cursor. Must be destroyed before its transaction ends.
class Cursor {
 public:
  Cursor(MDB_txn* txn, MDB_dbi dbi);
  Cursor(Cursor&& o) noexcept : cur_(o.cur_), rc_(o.rc_) { o.cur_ = nullptr; }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  ~Cursor() {
    if (cur_) mdb_cursor_close(cur_);
  }
  int open_rc() const { return rc_; }
  // Returns MDB_SUCCESS, MDB_NOTFOUND or an error code.
  int get(MDB_val& key, MDB_val& val, MDB_cursor_op op) { return mdb_cursor_get(cur_, &key, &val, op); }
  int put(MDB_val& key, MDB_val& val, unsigned flags) { return mdb_cursor_put(cur_, &key, &val, flags); }
  int del(unsigned flags = 0) { return mdb_cursor_del(cur_, flags); }
  // Duplicates under the current key of a dupsort database (one page-local read; LMDB keeps
  // the count in the sub-database record).
  int count(std::size_t& n) {
    return mdb_cursor_count(cur_, &n);
  }
  MDB_cursor* get() const { return cur_; }

 private:
  MDB_cursor* cur_ = nullptr;
  int rc_ = 0;
};

// Big-endian fixed-width integers: byte order equals numeric order, so LMDB's memcmp key
// order is numeric order. Signed values are biased (sign bit flipped).
inline void put_u64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<std::uint8_t>(v);
}
inline std::uint64_t get_u64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}
inline void put_i64(std::uint8_t* p, std::int64_t v) {
  put_u64(p, static_cast<std::uint64_t>(v) ^ (std::uint64_t{1} << 63));
}
inline std::int64_t get_i64(const std::uint8_t* p) {
  return static_cast<std::int64_t>(get_u64(p) ^ (std::uint64_t{1} << 63));
}
inline void put_i32(std::uint8_t* p, std::int32_t v) {
  std::uint32_t u = static_cast<std::uint32_t>(v) ^ 0x80000000u;
  for (int i = 3; i >= 0; --i, u >>= 8) p[i] = static_cast<std::uint8_t>(u);
}

// An 8-byte big-endian id key held by value.
struct IdKey {
  std::uint8_t bytes[8];
  explicit IdKey(std::uint64_t id) { put_u64(bytes, id); }
  MDB_val val() { return MDB_val{8, bytes}; }
  Bytes span() const { return Bytes(bytes, 8); }
};

}  // namespace custdb::storage
