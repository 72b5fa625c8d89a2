// A bounds-checked walk of an LMDB data file (data.mdb), done without LMDB.
//
// Why: LMDB trusts its page structure. A node offset, page number or size damaged on disk
// makes it read outside the map (SIGSEGV) or past the end of the file (SIGBUS). custdb cannot
// patch LMDB, so before it trusts LMDB with a file it can walk the file here: every byte this
// walk reads is checked to lie inside the page (and the file) it belongs to, so damage is
// reported, never followed.
//
// Format: LMDB 0.9 (Debian's liblmdb 0.9.24), libraries/liblmdb/mdb.c — MDB_page (16-byte
// header: mp_pgno u64, mp_pad u16, mp_flags u16, mp_lower/mp_upper u16 or mp_pages u32),
// MDB_node (mn_lo, mn_hi, mn_flags, mn_ksize: u16 each, then key, then data), MDB_db (48
// bytes), MDB_meta (136 bytes after the page header of pages 0 and 1). docs/format.md has
// the byte tables. 64-bit little-endian builds only (pgno_t = size_t = 8 bytes).
//
// What is checked (each problem names the page):
//  * both meta pages: P_META, magic 0xBEEFC0DE, version 1, a power-of-two page size in
//    [512, 32768] equal in both, the free list's DB flags exactly MDB_INTEGERKEY,
//    last_pgno >= 1, mapsize covering last_pgno; the meta with
//    the larger txnid is walked (what LMDB reads: mdb_env_pick_meta);
//  * the file holds every page up to last_pgno (a truncated file faults LMDB's reads);
//  * the free-list DB, the main DB and every named DB (main-DB leaf nodes with F_SUBDATA)
//    as B-trees: page numbers in [2, last_pgno] and inside the file, mp_pgno matching, flags
//    of the expected kind (branch above, leaf at md_depth, LEAF2 for MDB_DUPFIXED sub-DBs),
//    PAGEHDRSZ <= mp_lower <= mp_upper <= page size, every node (offset, header, key, data)
//    inside the page, key sizes <= 511, keys strictly increasing (LMDB's comparators:
//    memcmp-then-length, reverse, or integer per the DB's flags; integer keys 4 or 8 bytes,
//    one size per page), named DBs' flags as PageCheckOptions::db_flags expects, overflow runs (F_BIGDATA)
//    inside the file, dupsort sub-pages (F_DUPDATA) and sub-DBs (F_DUPDATA|F_SUBDATA) walked
//    the same way with the DB's duplicate order, each MDB_db's depth, page counts and entry
//    count matching what was walked;
//  * no page reached twice (trees, overflow runs and the free list together), the free
//    list's page lists well-formed, and every page either in use or free (mdb.c's audit).
//
// Limits: reading stops after max_problems problems; recursion is bounded by the depth an
// MDB_db claims (at most kMaxDepth). Memory: one byte per page of the file. The file is
// mapped read-only and privately, exactly its size; nothing past EOF is touched. The walk
// sees the file as it is: a writer committing meanwhile (another process) can make it report
// pages it reused; check_pages_file re-walks when the newest txnid moved.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "custdb/status.h"

namespace custdb::storage {

struct PageProblem {
  std::uint64_t pgno;  // the page where the damage is (or the referring page)
  std::string what;
};

struct PageCheckReport {
  std::vector<PageProblem> problems;
  bool stopped = false;             // more problems than max_problems: the walk gave up
  std::uint64_t file_size = 0;      // bytes
  std::uint32_t page_size = 0;      // 0 when no meta page was readable
  std::uint64_t last_pgno = 0;      // of the newest meta
  std::uint64_t txnid = 0;          // of the newest meta
  std::uint64_t pages_walked = 0;   // tree and overflow pages reached (not free pages)
  std::uint64_t free_pages = 0;     // pages the free list names
  std::uint64_t named_dbs = 0;

  bool clean() const { return problems.empty(); }
  // "page 12: branch node 3 names page 99999, past the last page 40" (the first problem),
  // with "and N more" when there are others.
  std::string summary() const;
};

struct PageCheckOptions {
  std::size_t max_problems = 100;
  // When set, receives one byte per page up to last_pgno: 0 not reached, 1 a meta page or a
  // page of a tree (or overflow run), 2 free. For tests and diagnostics.
  std::vector<std::uint8_t>* page_use = nullptr;
  // Named DBs whose stored MDB_db flags must be exactly these (LMDB 0.9's mdb_dbi_open takes
  // the stored flags, whatever the caller passes, so a flipped MDB_DUPSORT or MDB_INTEGERKEY
  // bit changes how LMDB reads the tree). DBs not listed may have any valid flags.
  std::map<std::string, std::uint16_t> db_flags;
};

inline constexpr int kMaxDepth = 32;

// Walks the file image `file` (the whole data.mdb).
PageCheckReport check_pages(std::span<const std::uint8_t> file, const PageCheckOptions& o = {});

// Maps `data_mdb` (read-only, private, its size) and walks it; when the walk found problems
// and the newest txnid in the file changed meanwhile (a writer committed), walks again, up
// to 3 times. Errors: kIOError (no file, cannot open or map it).
Result<PageCheckReport> check_pages_file(const std::filesystem::path& data_mdb,
                                         const PageCheckOptions& o = {});

}  // namespace custdb::storage
