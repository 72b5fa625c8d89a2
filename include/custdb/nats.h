// custdb/nats.h — the change feed (custdb/feed.h) over NATS JetStream: a shipper that
// publishes a database's feed to a stream, and a follower that applies a stream to a replica.
// Library `custdb_nats` (links libnats); the core library does not depend on NATS.
//
// Wire format (one stream may carry several databases' feeds):
// - every feed part is one message on subject `<prefix>.<feed name>.<table>.<customer id|_>`,
//   payload = Part::payload (sealed in encrypted mode), headers:
//     Nats-Msg-Id      `<feed name>:<seq>:<part number>` (the server drops duplicates)
//     Custdb-Seq       decimal seq;   Custdb-Part  decimal part number (0-based)
// - after its parts, each entry's commit marker on `<prefix>.<feed name>.commit._`, empty
//   payload, headers Nats-Msg-Id `<feed name>:<seq>:commit`, Custdb-Seq, Custdb-Parts (the
//   entry's part_count), Custdb-Committed-At (ms since the epoch), Custdb-Erased (comma-separated
//   ids, when the entry erases customers).
// A follower applies an entry when its marker arrives, with the parts of that seq received
// before it (parts purged by an erasure are missing; see feed.h).
//
// Delivery: the shipper advances its consumer cursor (feed::acknowledge, consumer name
// "ship:<stream>") only after the server acknowledged every message up to it, so a SIGKILL at
// any moment resumes with nothing lost; republished messages carry the same Nats-Msg-Id and
// the server drops them within the stream's duplicate window, and a follower skips any part
// or entry it already has beyond it. The follower stores its stream position in the replica
// in the transaction that applies (feed::apply's source), so it resumes exactly.
//
// Ordering: the shipper publishes a batch's parts, waits for the server's acks of all of them,
// then publishes the batch's markers (and waits again): a marker is never stored before a
// part of its entry. A batch ends at its first erasure entry. The follower's stored position
// is `nats:<stream>:<stream seq>`: the stream seq before the first message of any entry it
// has not applied yet.
//
// Erasure: after the server acknowledged an entry that erases customer X, the shipper purges
// the stream's messages on `<prefix>.<feed name>.*.<X>` up to that entry's marker (JetStream
// purge by subject): no message left in the stream holds X's changes.
//
// Threads: a Shipper or Follower is used by one thread at a time; stop() may be called from
// any thread (or a signal handler) to end run().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "custdb/export.h"
#include "custdb/feed.h"
#include "custdb/status.h"

namespace custdb {
class Database;

namespace nats {

struct ConnectOptions {
  std::string url = "nats://127.0.0.1:4222";  // nats://HOST:PORT
  std::string stream;                         // JetStream stream name ([A-Za-z0-9_-]+)
  std::string subject_prefix = "custdb";      // first subject token
  // Reconnect forever (waiting reconnect_wait between attempts) while run() runs; the once
  // calls give up after `connect_timeout`.
  std::chrono::milliseconds reconnect_wait{250};
  std::chrono::milliseconds connect_timeout{5000};
};

struct ShipperOptions {
  ConnectOptions connect;
  // Created when missing: file storage, subjects `<prefix>.>`, duplicate window 10 min.
  // Existing: used as it is when its subjects cover this feed's, else kFailedPrecondition.
  bool create_stream = true;
  std::size_t max_entries_per_batch = 1000;  // read from the feed, published, then acked
  std::size_t max_inflight = 4096;           // async publishes awaiting the server's ack
  // After each acknowledged batch, feed::truncate (keep_last applies).
  bool truncate = true;
};

struct ShipReport {
  std::uint64_t entries = 0;   // entries shipped (acknowledged by the server) by this call
  std::uint64_t messages = 0;  // messages published (parts and markers)
  std::uint64_t purges = 0;    // erasure purges done
  feed::Seq shipped = 0;       // the cursor afterwards
  feed::Seq last = 0;          // the feed's last seq when the call ended
  std::uint64_t lag() const { return last > shipped ? last - shipped : 0; }
};

// Ships one database's feed. Owns its NATS connection. The database must have the feed
// enabled (kFailedPrecondition otherwise); the shipper registers its consumer.
class CUSTDB_EXPORT Shipper {
 public:
  static Result<std::unique_ptr<Shipper>> create(Database& db, const ShipperOptions& options);
  ~Shipper();
  // Ships everything committed when called, then returns (custdb feed ship --once).
  // kIOError naming the server when it cannot be reached within connect_timeout.
  Result<ShipReport> ship_once();
  // Ships until stop(): waits for commits (feed::wait), reconnects when the server goes away.
  // `progress` (may be empty) is called after each acknowledged batch. Returns the totals.
  Result<ShipReport> run(const std::function<void(const ShipReport&)>& progress = {});
  void stop();

 private:
  struct Impl;
  explicit Shipper(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct FollowerOptions {
  ConnectOptions connect;
  std::string feed_name;  // whose feed to follow (the primary's feed name); required
  // A replica transaction commits after this many entries or this many bytes of payload,
  // whichever first, or when the stream has nothing more for now (entries are never split).
  std::size_t max_entries_per_txn = 500;
  std::size_t max_bytes_per_txn = 8u << 20;
  // Run Database::scrub() after a transaction that applied an erasure.
  bool scrub_after_erasure = true;
};

struct FollowReport {
  std::uint64_t entries = 0;  // applied by this call
  std::uint64_t transactions = 0;  // replica write transactions committed
  feed::Seq applied = 0;      // the replica's last applied seq afterwards
  std::uint64_t pending = 0;  // stream messages of this feed not yet applied (when known)
};

// Applies one feed from a stream to `replica` (feed::apply). Owns its NATS connection and an
// ephemeral JetStream consumer that starts after the replica's stored stream position.
class CUSTDB_EXPORT Follower {
 public:
  static Result<std::unique_ptr<Follower>> create(Database& replica, const FollowerOptions& options);
  ~Follower();
  // Applies what the stream holds when called, then returns (custdb feed follow --once).
  Result<FollowReport> follow_once();
  Result<FollowReport> run(const std::function<void(const FollowReport&)>& progress = {});
  void stop();

 private:
  struct Impl;
  explicit Follower(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace nats
}  // namespace custdb
