// Shards (custdb/shards.h): routing and scatter-gather. CONTRACT STUB except shard_of.
#include "custdb/shards.h"

#include <xxhash.h>

#include "util/coding.h"

namespace custdb::shards {

std::size_t shard_of(CustomerId id, std::size_t shard_count) {
  // Wire contract (custdb/shards.h): XXH3_64bits of the id as 8 bytes big-endian, seed 0.
  unsigned char be[8];
  for (int i = 0; i < 8; ++i) be[i] = static_cast<unsigned char>(id >> (56 - 8 * i));
  return static_cast<std::size_t>(XXH3_64bits(be, sizeof be) % shard_count);
}

struct ShardSet::Impl {
  std::vector<Database> shards;
};

ShardSet::ShardSet(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ShardSet::ShardSet(ShardSet&&) noexcept = default;
ShardSet& ShardSet::operator=(ShardSet&&) noexcept = default;
ShardSet::~ShardSet() = default;

namespace {
tl::unexpected<Error> not_built() {
  return make_error(ErrorCode::kUnsupported, "shards are not built yet");
}
}  // namespace

Result<ShardSet> ShardSet::open(std::span<const std::filesystem::path>, const Options&) {
  return not_built();
}
std::size_t ShardSet::size() const { return impl_->shards.size(); }
Database& ShardSet::shard(std::size_t i) { return impl_->shards.at(i); }
const Database& ShardSet::shard(std::size_t i) const { return impl_->shards.at(i); }
Result<CustomerId> ShardSet::insert_customer(Customer) { return not_built(); }
Result<TransactionId> ShardSet::add_transaction(Transaction) { return not_built(); }
Result<HoldingId> ShardSet::insert_holding(Holding) { return not_built(); }
Result<RelationshipId> ShardSet::add_relationship(Relationship) { return not_built(); }
Result<std::vector<CustomerId>> ShardSet::insert_customers(std::span<const Customer>) {
  return not_built();
}
Result<std::uint64_t> ShardSet::count(const query::Node&, const SegmentOptions&) const {
  return not_built();
}
Result<std::vector<CustomerId>> ShardSet::ids(const query::Node&, const SegmentOptions&) const {
  return not_built();
}
Result<SegmentPage> ShardSet::page(const query::Node&, std::size_t, CustomerId,
                                   const SegmentOptions&) const {
  return not_built();
}
Result<std::vector<Ranked>> ShardSet::rank(const query::Node&, const MeasureKey&, std::size_t,
                                           const SegmentOptions&) const {
  return not_built();
}
Result<std::vector<GroupRow>> ShardSet::group(const query::Node&, GroupBy,
                                              const SegmentOptions&) const {
  return not_built();
}
Result<std::vector<ReportRow>> ShardSet::report(const query::Node&, const ReportSpec&,
                                                const SegmentOptions&) const {
  return not_built();
}

}  // namespace custdb::shards
