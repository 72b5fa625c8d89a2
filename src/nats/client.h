// The NATS C client as the shipper and follower use it: one owned connection with its
// JetStream context, connecting with a deadline (or until stopped), and the stream check.
// Internal to custdb_nats. Thread safety: one thread uses a Client; the NATS library's own
// threads deliver acks and reconnect in the background.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "custdb/nats.h"
#include "custdb/status.h"

namespace custdb::nats::detail {

// "<status text>: <last error text>" for a failed NATS call.
std::string nats_text(natsStatus s, jsErrCode code = static_cast<jsErrCode>(0));

// Transport failures: kIOError naming the server and what failed.
tl::unexpected<Error> io_error(const ConnectOptions& o, std::string_view what, natsStatus s,
                               jsErrCode code = static_cast<jsErrCode>(0));

// Sleeps `d` or until `stop` is set (checked every 20 ms).
void nap(std::chrono::milliseconds d, const std::atomic<bool>& stop);

class Client {
 public:
  // Connects to options.url, retrying every reconnect_wait until `deadline` (or forever when
  // none) or until `stop`. kIOError naming the server when it cannot be reached (or "stopped
  // while connecting"). `js_options` (may be null) configures the JetStream context (the
  // shipper's ack handler). Once connected, the library reconnects by itself forever,
  // reconnect_wait apart.
  static Result<std::unique_ptr<Client>> connect(
      const ConnectOptions& options, std::optional<std::chrono::steady_clock::time_point> deadline,
      const std::atomic<bool>& stop, const jsOptions* js_options = nullptr);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  natsConnection* nc() const { return nc_; }
  jsCtx* js() const { return js_; }
  bool connected() const;
  // Waits until the connection is up again, until `deadline` (none: forever) or `stop`.
  bool wait_connected(std::optional<std::chrono::steady_clock::time_point> deadline,
                      const std::atomic<bool>& stop) const;
  // jsOptions for API calls (stream info, purge, consumers): Wait = connect_timeout.
  jsOptions api_options() const;

  // The stream's state (LastSeq etc.) or kFailedPrecondition when it does not exist.
  struct StreamState {
    std::uint64_t first_seq = 0, last_seq = 0, messages = 0;
  };
  Result<StreamState> stream_state() const;
  // Creates the stream when missing (when `create`), else checks that its subjects cover
  // `subject` (kFailedPrecondition otherwise).
  Status ensure_stream(bool create, std::string_view subject) const;

 private:
  Client(const ConnectOptions& o) : options_(o) {}
  ConnectOptions options_;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
};

}  // namespace custdb::nats::detail
