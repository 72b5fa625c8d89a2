// The page-level scrub of an LMDB data file (data.mdb): overwrites with zeros every byte the
// file holds that no reader can read any more, so data the database removed cannot be
// recovered from the file (docs/security.md, "Erasure").
//
// What is zeroed (pwrite on the file; then fdatasync):
//  * free pages that LMDB itself would hand out again: pages on the free list freed by a
//    transaction older than both the oldest live reader and the newest commit (mdb.c's
//    mdb_find_oldest / mdb_page_alloc rule). No reader and no meta page can reach them.
//  * the unused bytes of every page reachable from EITHER meta page (the newest snapshot and
//    the previous one LMDB would fall back to): the gap between mp_lower and mp_upper of
//    branch and leaf pages, the pad byte of odd-sized nodes, the space after the keys of a
//    LEAF2 page, the same inside dupsort sub-pages (F_DUPDATA node data), and the bytes of an
//    overflow run past its value. LMDB never reads these bytes; it writes pages from recycled,
//    un-zeroed buffers (mdb_page_malloc, mdb_page_copy skips the gap), so they hold fragments
//    of older pages.
//  * nothing of a free page a live reader may still read: counted as pinned, left as it is.
//  * the file's tail past the newest meta's last page.
// Nothing a reader (of any snapshot still readable) or LMDB reads is changed: a page the
// scrub rewrites gets its live bytes back unchanged, so the scrub runs beside readers, and a
// crash in the middle leaves a valid file. It must run with no writer active (custdb's write
// lock held) and after the pages to zero were aged out (see DatabaseImpl's scrub).
//
// Branch keys: LMDB keeps a separator in a branch page after the key it was copied from left
// the leaves. For the named DBs listed in ScrubFileOptions::check_separators, every separator
// is compared with the first key of the subtree to its right; a DB with one that differs is
// reported (stale_tables): the caller rebuilds it (rebuild_table) and scrubs again.
//
// 64-bit little-endian LMDB 0.9 only, as page_check.h.
#pragma once

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "custdb/status.h"
#include "storage/lmdb.h"

namespace custdb::storage {

struct ScrubFileOptions {
  // The oldest snapshot (txnid) a live reader holds; UINT64_MAX when there is no reader.
  std::uint64_t oldest_reader = ~std::uint64_t{0};
  // Named DBs whose branch keys are checked for stale separators.
  std::set<std::string> check_separators;
  // Check only: count what would be zeroed, write nothing.
  bool dry_run = false;
};

struct ScrubFileReport {
  std::uint64_t free_pages_zeroed = 0;   // free pages now all zero (written or already zero)
  std::uint64_t free_pages_pinned = 0;   // free pages a live reader may read (content kept)
  std::uint64_t slack_bytes_zeroed = 0;  // non-zero unused bytes of pages overwritten
  std::uint64_t tail_bytes_zeroed = 0;   // non-zero bytes past the last page overwritten
  std::uint64_t pages_written = 0;       // pwrite calls
  std::uint64_t file_bytes = 0;
  std::uint64_t txnid = 0;               // of the newest meta
  std::vector<std::string> stale_tables; // named DBs with a separator no leaf holds
};

// Scrubs `data_mdb` (see above). kCorruption when the newest snapshot's pages do not parse
// (nothing more is written once found; what was written before is unused space only);
// kIOError when the file cannot be opened, read or written.
Result<ScrubFileReport> scrub_file(const std::filesystem::path& data_mdb,
                                   const ScrubFileOptions& options);

// Rebuilds `table` in write transaction `txn`: copies every entry out, empties the table
// (mdb_drop) and puts the entries back in key order, so its branch pages hold only
// separators taken from keys it holds now. Memory: a copy of the table.
Status rebuild_table(const Txn& txn, Table table, std::string_view what);

}  // namespace custdb::storage
