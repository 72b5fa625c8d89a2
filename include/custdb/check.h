// custdb/check.h — the result of Database::check(), the full consistency check.
#pragma once

#include "custdb/export.h"

#include <cstdint>
#include <string>
#include <vector>

namespace custdb {

struct CheckProblem {
  enum class Kind {
    kUndecodable,       // a record failed its checksum, authentication or verification
    kMissingIndexEntry, // a record lacks an index entry it should have
    kOrphanIndexEntry,  // an index entry has no record, or the record would not produce it
    kStaleAggregate,    // a customer's aggregates differ from its transactions
    kDanglingReference, // a relationship or transaction names a customer that does not exist
    kBadMetadata,       // an id counter is behind the ids in use
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
  std::uint64_t index_entries = 0;    // entries of the lookup indexes (idx.email, ...)
  std::uint64_t segment_bitmaps = 0;  // stored bitmap chunks of the segment index
  std::vector<CheckProblem> problems;  // empty when clean

  bool clean() const { return problems.empty(); }
};

}  // namespace custdb
