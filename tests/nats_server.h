// A local nats-server with JetStream for the transport tests: on 127.0.0.1, a free port, a
// temporary store directory; start, stop (SIGTERM), kill (SIGKILL) and restart on the same
// port and store. Nothing outside the machine is contacted.
//
// When the nats-server binary is missing (found on PATH, /usr/sbin, /usr/bin or
// $CUSTDB_NATS_SERVER) the tests that need it are skipped with a message saying so:
// decorate them with `* boost::unit_test::precondition(custdb::test::nats_server_available)`.
// Not thread-safe: one test thread drives a NatsServer.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "program.h"
#include "test_util.h"

namespace custdb::test {

inline std::string nats_server_path() {
  if (const char* env = std::getenv("CUSTDB_NATS_SERVER"); env && *env && ::access(env, X_OK) == 0)
    return env;
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  path += ":/usr/sbin:/usr/bin:/usr/local/bin";
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    if (!dir.empty()) {
      std::string candidate = dir + "/nats-server";
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    start = end + 1;
  }
  return {};
}

// For boost::unit_test::precondition: false (the test is skipped, with this message) when
// the binary is missing.
struct NatsServerAvailable {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    boost::test_tools::assertion_result r(!nats_server_path().empty());
    if (!r) r.message() << "nats-server not found (install the nats-server package or set "
                           "CUSTDB_NATS_SERVER): NATS transport tests skipped";
    return r;
  }
};
inline const NatsServerAvailable nats_server_available{};

// A port nobody listens on now (the kernel's pick; released before the server binds it).
inline int free_tcp_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

inline bool port_accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

class NatsServer {
 public:
  // Starts the server (BOOST_TEST_REQUIRE that it listens within 10 s).
  NatsServer() : port_(free_tcp_port()) { start(); }
  ~NatsServer() { kill(); }
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
  const std::filesystem::path& store() const { return dir_.path(); }
  bool running() { return proc_ && proc_->running(); }

  void start() {
    BOOST_TEST_REQUIRE(!nats_server_path().empty());
    proc_ = std::make_unique<Program>(
        std::vector<std::string>{nats_server_path(), "-js", "-a", "127.0.0.1", "-p",
                                 std::to_string(port_), "-sd", (dir_.path() / "js").string()},
        RunOptions{.merge_output = true, .timeout_seconds = 3600});
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!port_accepts(port_)) {
      if (!proc_->running()) {
        const std::string out = proc_->wait().out;  // only once it ended: wait() blocks
        BOOST_TEST_REQUIRE(false, "nats-server exited: " << out);
      }
      BOOST_TEST_REQUIRE((std::chrono::steady_clock::now() < deadline),
                         "nats-server did not listen on port " << port_);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  // SIGTERM and wait: a clean shutdown.
  void stop() {
    if (!proc_) return;
    if (proc_->running()) ::kill(proc_->pid(), SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (proc_->running() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    proc_.reset();  // SIGKILLs it if still running
  }
  // SIGKILL: the server dies at once, its store as the kernel has it.
  void kill() {
    if (!proc_) return;
    if (proc_->running()) ::kill(proc_->pid(), SIGKILL);
    proc_.reset();
  }
  // Starts again on the same port and store (after stop() or kill()).
  void restart() {
    kill();
    start();
  }

 private:
  TempDir dir_;
  int port_;
  std::unique_ptr<Program> proc_;
};

}  // namespace custdb::test
