// Database::scrub (docs/security.md, "Erasure"): after erasures committed, make the bytes they
// freed unrecoverable from data.mdb. Under the write lock, held throughout:
//  (1) an ageing commit (meta "scrub.age", a counter), synced, so the pages the erasure freed
//      are reachable from neither meta page;
//  (2) the reader table (dead processes' slots cleared): the oldest live snapshot;
//  (3) storage::scrub_file zeroes the free pages LMDB itself would reuse, the unused bytes of
//      every page of both meta pages' snapshots and the tail, then fdatasync;
//  (4) a table whose branch pages still hold a separator no leaf holds (a removed personal key
//      or its token) is rebuilt in one write transaction, and (1)-(3) run again.
#include <algorithm>
#include <cstdint>

#include "engine/db_impl.h"
#include "engine/erase.h"
#include "index/index_keys.h"
#include "storage/scrub.h"
#include "util/coding.h"

namespace custdb::detail {

namespace {
constexpr std::string_view kScrubAgeKey = "scrub.age";
constexpr int kRounds = 3;  // a pass, a rebuild and a clean pass; a third only if needed
}  // namespace

std::vector<std::string> personal_key_tables() {
  return {index::spec(index::IndexId::kExternalRef).dbi_name,
          index::spec(index::IndexId::kEmail).dbi_name,
          index::spec(index::IndexId::kPhone).dbi_name,
          index::spec(index::IndexId::kAccountRef).dbi_name, "idx.segments"};
}

Result<ScrubReport> DatabaseImpl::scrub() {
  ReplicaWrites replica_allows;  // a replica scrubs too (custdb/feed.h: after an erasure)
  auto begun = begin(true);  // the write lock (kept to the end) and a write transaction
  if (!begun) return tl::unexpected(begun.error());
  TxnState& st = **begun;
  ScrubReport report;
  std::set<std::string> check;
  for (auto& t : personal_key_tables()) check.insert(t);
  for (int round = 0;; ++round) {
    // (1) The ageing commit.
    if (!st.txn) {
      st.ticket.release();
      if (auto s = begin_into(st, true); !s) return tl::unexpected(s.error());
    }
    std::uint64_t age = 0;
    auto stored = get(st, tables().meta, coding::as_bytes(kScrubAgeKey));
    if (!stored) return tl::unexpected(stored.error());
    if (*stored && (*stored)->size() == 8) age = coding::get_u64((*stored)->data());
    const std::string next = coding::be64(age + 1);
    if (auto s = put(st, tables().meta, coding::as_bytes(kScrubAgeKey), coding::as_bytes(next)); !s)
      return tl::unexpected(s.error());
    if (auto s = commit(st); !s) return tl::unexpected(s.error());
    st.ticket.release();
    // Durable before any page the erasure freed is overwritten: otherwise a crash could bring
    // back the meta page whose snapshot still names them.
    if (auto s = env_.sync(true); !s) return tl::unexpected(s.error());
    // (2) The oldest snapshot a live reader holds (0: a slot without an active read).
    env_.reader_check();
    storage::ScrubFileOptions opts;
    opts.check_separators = check;
    for (const auto& r : env_.readers())
      if (r.txnid != 0 && r.txnid != ~std::uint64_t{0})
        opts.oldest_reader = std::min(opts.oldest_reader, r.txnid);
    // (3) The pages.
    auto r = storage::scrub_file(path() / "data.mdb", opts);
    if (!r) return tl::unexpected(r.error());
    report.free_pages_zeroed = r->free_pages_zeroed;
    report.free_pages_pinned = r->free_pages_pinned;
    report.slack_bytes_zeroed += r->slack_bytes_zeroed + r->tail_bytes_zeroed;
    report.file_bytes = r->file_bytes;
    report.complete = r->free_pages_pinned == 0 && r->stale_tables.empty();
    if (r->stale_tables.empty() || round + 1 == kRounds) break;
    // (4) Rebuild the tables with stale separators, in a commit of its own: the pages it frees
    // (the old branch pages) are then aged out by the next round's ageing commit.
    st.ticket.release();
    if (auto s = begin_into(st, true); !s) return tl::unexpected(s.error());
    for (const std::string& name : r->stale_tables) {
      storage::Table table = tables().segments;
      for (std::size_t i = 0; i < index::kIndexCount; ++i)
        if (name == index::spec(static_cast<index::IndexId>(i)).dbi_name) table = tables().index[i];
      if (auto s = storage::rebuild_table(st.txn, table, "scrub: rebuild " + name); !s)
        return tl::unexpected(fail(st, s.error()));
      ++report.tables_rebuilt;
    }
    if (auto s = commit(st); !s) return tl::unexpected(s.error());
  }
  return report;
}

}  // namespace custdb::detail

namespace custdb {

Result<ScrubReport> Database::scrub() {
  if (impl_->options().read_only)
    return make_error(ErrorCode::kReadOnly, "the database was opened read-only");
  return impl_->scrub();
}

}  // namespace custdb
