// The JetStream shipper (custdb/nats.h). CONTRACT STUB: replaced by the transport's owner.
#include "custdb/nats.h"

namespace custdb::nats {

struct Shipper::Impl {};
Shipper::Shipper(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Shipper::~Shipper() = default;
Result<std::unique_ptr<Shipper>> Shipper::create(Database&, const ShipperOptions&) {
  return make_error(ErrorCode::kUnsupported, "the shipper is not built yet");
}
Result<ShipReport> Shipper::ship_once() { return ShipReport{}; }
Result<ShipReport> Shipper::run(const std::function<void(const ShipReport&)>&) { return ShipReport{}; }
void Shipper::stop() {}

struct Follower::Impl {};
Follower::Follower(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Follower::~Follower() = default;
Result<std::unique_ptr<Follower>> Follower::create(Database&, const FollowerOptions&) {
  return make_error(ErrorCode::kUnsupported, "the follower is not built yet");
}
Result<FollowReport> Follower::follow_once() { return FollowReport{}; }
Result<FollowReport> Follower::run(const std::function<void(const FollowReport&)>&) {
  return FollowReport{};
}
void Follower::stop() {}

}  // namespace custdb::nats
