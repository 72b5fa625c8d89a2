// Runs build/bin/custdb in a child process under resource limits, for the tests of operating-
// system edges (full disks, file size limits, unbounded input): how it ended (exit code or
// signal), what it printed, and its peak memory.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace custdb::test {

struct ChildLimits {
  std::optional<rlim_t> file_size;  // RLIMIT_FSIZE, bytes
  std::optional<mode_t> umask;
  int timeout_seconds = 60;          // then SIGKILL (reported as signaled)
};

struct ChildResult {
  bool exited = false;  // false: killed by a signal
  int code = -1;        // exit code, or the signal number when !exited
  std::string out, err;
  long max_rss_kib = 0;  // peak resident set size of the child (getrusage via wait4)

  std::string describe() const {
    std::ostringstream s;
    s << (exited ? "exit " : "signal ") << code << " (peak RSS " << max_rss_kib
      << " KiB)\n--- stdout\n" << out << "--- stderr\n" << err;
    return s.str();
  }
};

inline std::filesystem::path cli_path() {
  return std::filesystem::read_symlink("/proc/self/exe").parent_path() / "custdb";
}

// Runs `custdb args...`; output goes through files in `scratch` (which must exist).
inline ChildResult run_cli(const std::vector<std::string>& args, const std::filesystem::path& scratch,
                           const ChildLimits& limits = {}) {
  const std::string binary = cli_path().string();
  const std::string out_path = (scratch / "child.out").string(), err_path = (scratch / "child.err").string();
  std::vector<std::string> argv_s{binary};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid == 0) {
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0 || err < 0) ::_exit(126);
    ::dup2(out, 1);
    ::dup2(err, 2);
    int in = ::open("/dev/null", O_RDONLY);
    ::dup2(in, 0);
    // The default disposition, whatever the test runner set: the CLI must ignore it itself.
    ::signal(SIGXFSZ, SIG_DFL);
    if (limits.umask) ::umask(*limits.umask);
    if (limits.file_size) {
      rlimit r{*limits.file_size, *limits.file_size};
      if (::setrlimit(RLIMIT_FSIZE, &r) != 0) ::_exit(125);
    }
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  ChildResult r;
  if (pid < 0) return r;
  int status = 0;
  rusage usage{};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(limits.timeout_seconds);
  while (true) {
    pid_t got = ::wait4(pid, &status, WNOHANG, &usage);
    if (got == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::wait4(pid, &status, 0, &usage);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  r.exited = WIFEXITED(status);
  r.code = r.exited ? WEXITSTATUS(status) : WTERMSIG(status);
  r.max_rss_kib = usage.ru_maxrss;
  auto slurp = [](const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
  };
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  return r;
}

}  // namespace custdb::test
