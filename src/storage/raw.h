// LMDB's own types for the storage layer's implementation (src/storage only): conversions
// between MDB_val and byte views, the classification of LMDB return codes, and a raw cursor.
// Code outside src/storage uses storage/lmdb.h, whose calls return classified errors: nothing
// outside src/storage includes this header.
#pragma once

#include <lmdb.h>

#include <string_view>

#include "storage/lmdb.h"

namespace custdb::storage {

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
// see the definition). MDB_MAP_FULL and MDB_TXN_FULL are kResourceExhausted. ENOSPC ("disk is
// full"), EDQUOT and EFBIG (a file size limit) are kIOError with a message saying so.
Error lmdb_error(int rc, std::string_view what);

// Owns an MDB_cursor. Must be destroyed before its transaction ends.
class Cursor {
 public:
  Cursor(MDB_txn* txn, Table table) { rc_ = mdb_cursor_open(txn, table.dbi, &cur_); }
  Cursor(Cursor&& o) noexcept : cur_(o.cur_), rc_(o.rc_) { o.cur_ = nullptr; }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  ~Cursor() {
    if (cur_) mdb_cursor_close(cur_);
  }
  int open_rc() const { return rc_; }
  // Returns MDB_SUCCESS, MDB_NOTFOUND or an error code.
  int get(MDB_val& key, MDB_val& val, MDB_cursor_op op) { return mdb_cursor_get(cur_, &key, &val, op); }
  // Duplicates under the current key of a dupsort database.
  int count(std::size_t& n) { return mdb_cursor_count(cur_, &n); }
  MDB_cursor* get() const { return cur_; }

 private:
  MDB_cursor* cur_ = nullptr;
  int rc_ = 0;
};

// The former signature of entry_count, for callers not yet moved to storage/lmdb.h's.
inline Result<std::uint64_t> entry_count(MDB_txn* txn, Table table, std::string_view what) {
  MDB_stat s{};
  if (int rc = mdb_stat(txn, table.dbi, &s))
    return tl::unexpected(lmdb_error(rc, std::string(what) + ": statistics"));
  return std::uint64_t{s.ms_entries};
}

}  // namespace custdb::storage
