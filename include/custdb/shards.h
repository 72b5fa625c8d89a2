// custdb/shards.h — customers partitioned across several databases by a stable hash of the
// customer id; writes routed to the customer's shard, segment reads answered by scatter-gather.
//
// Routing: shard_of(id, n) = XXH3_64bits(id as 8 bytes big-endian, seed 0) mod n. Stable
// across builds and machines (wire contract: never change it). The id must be chosen before
// the write (the application's customer number, or any allocator of its own): with id 0 the
// engine would pick the next free id of one shard, which other shards may also pick, so the
// ShardSet refuses it (kInvalidArgument "id: ...").
//
// Everything that belongs to a customer lives on its shard: its transactions, holdings,
// consents, attributes. A relationship must link two customers of the same shard; across
// shards it is refused (kInvalidArgument "relationships across shards are not supported: ..."),
// never stored half. So related(t, q) is answered within each shard, which is exact.
//
// Scatter-gather: each shard answers in its own read transaction (one snapshot per shard, not
// one across shards) and the answers merge exactly: counts add, id lists merge (ids are
// disjoint), report rows with equal groups add their counts, sums, mins and maxes (averages
// from the merged sums), ranks merge each shard's best n and keep the best n (ties by
// ascending id, as one database would).
//
// Each shard records its place (meta "shard": index and count) at the first open through a
// ShardSet; opening the same files in another order or count is kFailedPrecondition.
//
// Thread safety: as Database: a ShardSet may be shared between threads.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

#include "custdb/database.h"
#include "custdb/export.h"
#include "custdb/options.h"
#include "custdb/query.h"
#include "custdb/segment.h"
#include "custdb/status.h"
#include "custdb/types.h"

namespace custdb::shards {

// The shard (0 .. shard_count - 1) of customer `id`. shard_count must be >= 1.
CUSTDB_EXPORT std::size_t shard_of(CustomerId id, std::size_t shard_count);

class CUSTDB_EXPORT ShardSet {
 public:
  // Opens (creating as options say) every path with the same options. 1 .. 1024 paths, no
  // path twice. Errors as Database::open, naming the path; kFailedPrecondition when a shard
  // was placed at another index or count before.
  static Result<ShardSet> open(std::span<const std::filesystem::path> paths,
                               const Options& options = {});
  ShardSet(ShardSet&&) noexcept;
  ShardSet& operator=(ShardSet&&) noexcept;
  ~ShardSet();

  std::size_t size() const;
  Database& shard(std::size_t index);
  const Database& shard(std::size_t index) const;
  Database& shard_for(CustomerId id) { return shard(shard_of(id, size())); }

  // ---- routed writes (each one transaction on one shard) ----
  Result<CustomerId> insert_customer(Customer customer);  // id required
  Result<TransactionId> add_transaction(Transaction txn);
  Result<HoldingId> insert_holding(Holding holding);
  Result<RelationshipId> add_relationship(Relationship rel);  // same shard only
  // Several customers at once: grouped by shard, one transaction per shard (all or none per
  // shard, not across shards). Returns the ids in input order.
  Result<std::vector<CustomerId>> insert_customers(std::span<const Customer> customers);

  // ---- scatter-gather reads (custdb/segment.h semantics, merged) ----
  Result<std::uint64_t> count(const query::Node& q, const SegmentOptions& o = {}) const;
  Result<std::vector<CustomerId>> ids(const query::Node& q, const SegmentOptions& o = {}) const;
  Result<SegmentPage> page(const query::Node& q, std::size_t limit, CustomerId after = 0,
                           const SegmentOptions& o = {}) const;
  Result<std::vector<Ranked>> rank(const query::Node& q, const MeasureKey& by, std::size_t n,
                                   const SegmentOptions& o = {}) const;
  Result<std::vector<GroupRow>> group(const query::Node& q, GroupBy by,
                                      const SegmentOptions& o = {}) const;
  Result<std::vector<ReportRow>> report(const query::Node& q, const ReportSpec& spec,
                                        const SegmentOptions& o = {}) const;

 private:
  struct Impl;
  explicit ShardSet(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace custdb::shards
