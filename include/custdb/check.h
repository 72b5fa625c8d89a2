// custdb/check.h — the result of Database::check(), the full consistency check, and
// verify_file(), the check of LMDB's page structure that needs no open database.
#pragma once

#include "custdb/export.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "custdb/status.h"

namespace custdb {

struct CheckProblem {
  enum class Kind {
    kUndecodable,       // a record failed its checksum, authentication or verification
    kMissingIndexEntry, // a record lacks an index entry it should have
    kOrphanIndexEntry,  // an index entry has no record, or the record would not produce it
    kStaleAggregate,    // a customer's aggregates differ from its transactions
    kDanglingReference, // a relationship or transaction names a customer that does not exist
    kBadMetadata,       // an id counter is behind the ids in use
    kDamagedPage,       // LMDB's page structure is damaged (where: "page N"); nothing else
                        // is checked then, since LMDB cannot be trusted with the file
    kNonCanonicalLink,  // (format 3 on) a relationship typed by an inverse name (stored
                        // `employee 2->1` for `employer 1->2`), or one link stored twice
    kAuditChain,        // (format 4 on) the audit trail's hash chain is broken: an entry
                        // edited, deleted, inserted or reordered, or a head that does not match
  };
  Kind kind;
  std::string where;  // table or index name
  std::string what;   // human-readable detail: key and expected/actual values
};

CUSTDB_EXPORT std::string to_string(CheckProblem::Kind kind);

struct CheckReport {
  std::uint64_t customers = 0;
  std::uint64_t relationships = 0;
  std::uint64_t transactions = 0;
  std::uint64_t holdings = 0;         // format 6
  std::uint64_t index_entries = 0;    // entries of the lookup indexes (idx.email, ...)
  std::uint64_t segment_bitmaps = 0;  // stored bitmap chunks of the segment index
  // Format 7, the change feed (custdb/feed.h): entries kept, rows of table feed (entry headers
  // and parts), registered consumers.
  std::uint64_t feed_entries = 0;
  std::uint64_t feed_rows = 0;
  std::uint64_t feed_consumers = 0;
  std::vector<CheckProblem> problems;  // empty when clean

  bool clean() const { return problems.empty(); }
};

// Walks LMDB's page structure of the database at `path` (a database directory) without
// opening it: meta pages, every B-tree, overflow run, dupsort sub-page and sub-database and
// the free list, each read bounds-checked (src/storage/page_check.h; docs/format.md). Works on
// files LMDB cannot open or would crash on. Damage is kDamagedPage problems, "where" naming
// the page (at most 100). Errors: kIOError when data.mdb cannot be read. Cost: one read of
// the file (docs/testing.md has the figures).
CUSTDB_EXPORT Result<CheckReport> verify_file(const std::filesystem::path& path);

}  // namespace custdb
