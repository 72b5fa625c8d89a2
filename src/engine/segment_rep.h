// Segment::Rep, the engine's side of a custdb::Segment (custdb/segment.h): the evaluated id set
// and the transaction it belongs to. Shared by the files that implement Segment's calls
// (segment_query.cc: select, ids, pages, stream; report.cc: rank, report, top, group).
// Used on the transaction's thread only, like the Segment that owns it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "custdb/query.h"
#include "custdb/segment.h"
#include "engine/db_impl.h"
#include "index/id_set.h"

namespace custdb {

// The evaluated id set and what reading records needs: the transaction it was selected in
// (checked alive through TxnState::alive before every use) and that transaction's write count
// at select(), so a segment outdated by its own transaction's later writes is refused.
struct Segment::Rep {
  detail::DatabaseImpl* db = nullptr;
  detail::TxnState* st = nullptr;  // valid while `alive` has not expired
  std::weak_ptr<const bool> alive;
  std::uint64_t writes = 0;
  query::Node query;
  Date as_of;
  index::IdSet set;
  std::uint64_t size = 0;
  // The ids ascending, built by the first ids() or page(): a page is then a binary search and
  // a copy of its ids.
  std::optional<std::vector<CustomerId>> sorted;

  Result<detail::TxnState*> open() const {
    if (alive.expired())
      return make_error(ErrorCode::kFailedPrecondition,
                        "segment used after its transaction ended (a Segment is valid only while "
                        "the transaction that selected it is open)");
    if (st->poisoned) return tl::unexpected(*st->failure);
    if (st->writes != writes)
      return make_error(ErrorCode::kFailedPrecondition,
                        "segment outdated: its transaction wrote after select(); select again");
    return st;
  }
  const std::vector<CustomerId>& ascending() {
    if (!sorted) {
      std::vector<CustomerId> v;
      v.reserve(size);
      set.for_each([&](std::uint64_t id) {
        v.push_back(id);
        return true;
      });
      sorted = std::move(v);
    }
    return *sorted;
  }
};

namespace detail {
inline Error moved_from() {
  return Error(ErrorCode::kFailedPrecondition, "segment moved from: it holds no answer");
}
}  // namespace detail

}  // namespace custdb
