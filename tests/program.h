// Runs a program (usually build/bin/custdb, next to the test binary) in a child process: the
// one way the tests start the CLI. What the child sees: the calling environment without its
// CUSTDB_* variables (a developer's shell must not change a test) plus RunOptions::env; stdin
// from RunOptions::input (or a pipe the test writes, or /dev/null); stdout and stderr into
// files, so no pipe can fill up whatever the child prints. Optional limits: file size
// (RLIMIT_FSIZE), umask, core dumps, and a timeout after which the child is killed.
//
// Not thread-safe: one Program is driven by one thread. Files live in a scratch directory of
// this process, removed at exit.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace custdb::test {

struct RunOptions {
  std::map<std::string, std::string> env;  // added to the CUSTDB_-free environment
  std::string input;                       // the child's stdin (unless stdin_pipe)
  bool stdin_pipe = false;                 // stdin is a pipe the caller writes (Program::stdin_fd)
  bool merge_output = false;               // stderr goes to stdout's file (ProgramResult::out)
  std::optional<rlim_t> file_size;         // RLIMIT_FSIZE, bytes
  std::optional<mode_t> umask;
  bool core_dumps = false;                 // RLIMIT_CORE unlimited, as on a developer's machine
  int timeout_seconds = 300;               // then SIGKILL (reported as a signal)
};

struct ProgramResult {
  bool exited = false;     // false: ended by a signal
  int code = -1;           // the exit code, or 128 + the signal number as a shell reports it
  bool timed_out = false;  // killed by the runner after RunOptions::timeout_seconds
  std::string out, err;
  long max_rss_kib = 0;  // peak resident set size of the child (getrusage via wait4)

  std::string describe() const {
    std::ostringstream s;
    s << (exited ? "exit " : "signal ") << (exited ? code : code - 128)
      << (timed_out ? " (timed out)" : "") << " (peak RSS "
      << max_rss_kib << " KiB)\n--- stdout\n" << out << "--- stderr\n" << err;
    return s.str();
  }
};

inline std::ostream& operator<<(std::ostream& os, const ProgramResult& r) { return os << r.describe(); }

// The CLI binary built next to the running test binary.
inline std::filesystem::path cli_path() {
  return std::filesystem::read_symlink("/proc/self/exe").parent_path() / "custdb";
}

namespace program_detail {

// One scratch directory per test process for the children's stdin/stdout/stderr files.
class Scratch {
 public:
  Scratch() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "custdb-program-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) != nullptr) dir_ = tmpl;
  }
  ~Scratch() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  std::filesystem::path next(const char* what) {
    return dir_ / (std::to_string(serial_.fetch_add(1)) + "." + what);
  }

 private:
  std::filesystem::path dir_;
  std::atomic<int> serial_{0};
};

inline Scratch& scratch() {
  static Scratch s;
  return s;
}

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace program_detail

// A running child. The constructor starts it; wait() collects its end and output.
class Program {
 public:
  // argv[0] is the program's path.
  Program(std::vector<std::string> argv, const RunOptions& options = {})
      : timeout_(options.timeout_seconds) {
    auto& scratch = program_detail::scratch();
    out_path_ = scratch.next("out");
    err_path_ = options.merge_output ? out_path_ : scratch.next("err");
    const std::string in_path = scratch.next("in").string();
    if (!options.stdin_pipe) {
      std::ofstream(in_path, std::ios::binary) << options.input;
    }
    // Everything the child needs is built before fork: only async-signal-safe calls after.
    std::vector<std::string> env_s;
    for (char** e = environ; *e; ++e)
      if (std::strncmp(*e, "CUSTDB_", 7) != 0) env_s.emplace_back(*e);
    for (const auto& [k, v] : options.env) env_s.push_back(k + "=" + v);
    std::vector<char*> args, envp;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    const std::string out_s = out_path_.string(), err_s = err_path_.string();
    const bool merge = options.merge_output;
    int pipe_fds[2] = {-1, -1};
    if (options.stdin_pipe && ::pipe2(pipe_fds, O_CLOEXEC) != 0) return;

    pid_ = ::fork();
    if (pid_ == 0) {
      int in = options.stdin_pipe ? pipe_fds[0] : ::open(in_path.c_str(), O_RDONLY);
      int out = ::open(out_s.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int err = merge ? out : ::open(err_s.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (in < 0 || out < 0 || err < 0) ::_exit(126);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(err, 2);
      for (int fd : {in, out, err})  // the program gets 0, 1 and 2, nothing else of ours
        if (fd > 2) ::close(fd);
      // The default disposition, whatever the test runner set: the CLI must ignore it itself.
      ::signal(SIGXFSZ, SIG_DFL);
      if (options.umask) ::umask(*options.umask);
      if (options.file_size) {
        rlimit r{*options.file_size, *options.file_size};
        if (::setrlimit(RLIMIT_FSIZE, &r) != 0) ::_exit(125);
      }
      if (options.core_dumps) {
        rlimit r{RLIM_INFINITY, RLIM_INFINITY};
        ::setrlimit(RLIMIT_CORE, &r);
      }
      ::execve(args[0], args.data(), envp.data());
      ::_exit(127);
    }
    if (options.stdin_pipe) {
      ::close(pipe_fds[0]);
      stdin_fd_ = pipe_fds[1];
    }
    // The child has its own copy; the test's copy of the environment (secrets included) goes.
    for (auto& e : env_s) ::explicit_bzero(e.data(), e.size());
    start_ = std::chrono::steady_clock::now();
  }
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;
  ~Program() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      wait();
    }
    close_stdin();
  }

  pid_t pid() const { return pid_; }
  // The write end of the child's stdin with RunOptions::stdin_pipe, else -1.
  int stdin_fd() const { return stdin_fd_; }
  void close_stdin() {
    if (stdin_fd_ >= 0) ::close(stdin_fd_);
    stdin_fd_ = -1;
  }

  // Whether the child is still running (its output is collected by wait()).
  bool running() {
    if (pid_ > 0 && !reaped_ && ::wait4(pid_, &status_, WNOHANG, &usage_) == pid_) reaped_ = true;
    return pid_ > 0 && !reaped_;
  }

  // Waits for the end (killing the child after the timeout) and returns what it did.
  ProgramResult wait() {
    ProgramResult r;
    close_stdin();
    if (pid_ < 0) return r;
    const auto deadline = start_ + std::chrono::seconds(timeout_);
    while (!reaped_) {
      pid_t got = ::wait4(pid_, &status_, WNOHANG, &usage_);
      if (got == pid_) break;
      if (got < 0 && errno != EINTR) break;
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::wait4(pid_, &status_, 0, &usage_);
        r.timed_out = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    reaped_ = true;
    r.exited = WIFEXITED(status_);
    r.code = r.exited ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
    r.max_rss_kib = usage_.ru_maxrss;
    r.out = program_detail::slurp(out_path_);
    if (err_path_ != out_path_) r.err = program_detail::slurp(err_path_);
    return r;
  }

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int status_ = 0;
  bool reaped_ = false;
  rusage usage_{};
  int timeout_;
  std::chrono::steady_clock::time_point start_;
  std::filesystem::path out_path_, err_path_;
};

// Runs `program args...` to its end.
inline ProgramResult run_program(const std::string& program, const std::vector<std::string>& args,
                                 const RunOptions& options = {}) {
  std::vector<std::string> argv{program};
  argv.insert(argv.end(), args.begin(), args.end());
  return Program(std::move(argv), options).wait();
}

// Runs `custdb args...` to its end.
inline ProgramResult run_cli(const std::vector<std::string>& args, const RunOptions& options = {}) {
  return run_program(cli_path().string(), args, options);
}

// Starts `custdb args...` without waiting for it.
inline std::vector<std::string> cli_argv(const std::vector<std::string>& args) {
  std::vector<std::string> argv{cli_path().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

}  // namespace custdb::test
