// Helpers shared by the fuzz targets (fuzz/*.cc): failing loudly, reading an input as a stream
// of choices, per-process scratch directories and small database utilities.
//
// Every target is built twice: as a libFuzzer binary (fuzz_<name>, clang, -DCUSTDB_FUZZ=ON) and
// as a replay driver (fuzz_replay_<name>, any compiler, fuzz/replay_main.cc) that runs the
// committed corpus as an ordinary CTest test. A property violation calls abort() in both.
#pragma once

#include <unistd.h>

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "custdb/attributes.h"
#include "custdb/status.h"

namespace custdb::fuzz {

namespace fs = std::filesystem;

// Prints "fuzz check failed: <what>" with the location and aborts: the fuzzer records the input.
[[noreturn]] inline void fail(const char* file, int line, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));
[[noreturn]] inline void fail(const char* file, int line, const char* fmt, ...) {
  std::fprintf(stderr, "\n*** fuzz check failed at %s:%d: ", file, line);
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "\n");
  std::fflush(stderr);
  std::abort();
}

#define FUZZ_CHECK(cond, ...)                                                            \
  do {                                                                                   \
    if (!(cond)) ::custdb::fuzz::fail(__FILE__, __LINE__, "" #cond ": " __VA_ARGS__);   \
  } while (0)

// CUSTDB_FUZZ_TRACE=1: targets print what they do (for reading a failing input).
inline bool tracing() {
  static const bool on = [] {
    const char* t = std::getenv("CUSTDB_FUZZ_TRACE");
    return t && *t == '1';
  }();
  return on;
}

// The value of a Result that must hold one (setup code, reads of a healthy database).
template <class T>
T must(Result<T> r, const char* what) {
  if (!r) fail(__FILE__, __LINE__, "%s: %s", what, r.error().to_string().c_str());
  return std::move(*r);
}
inline void must(Status s, const char* what) {
  if (!s) fail(__FILE__, __LINE__, "%s: %s", what, s.error().to_string().c_str());
}

// Reads an input front to back as small choices; past the end every read is 0, so any input
// is a complete program.
class Bytes {
 public:
  Bytes(const std::uint8_t* data, std::size_t size) : p_(data), n_(size) {}

  bool empty() const { return n_ == 0; }
  std::size_t size() const { return n_; }
  std::uint8_t u8() {
    if (n_ == 0) return 0;
    --n_;
    return *p_++;
  }
  // Little-endian. (Separate statements: the operands of | are unsequenced.)
  std::uint16_t u16() {
    const unsigned lo = u8();
    const unsigned hi = u8();
    return static_cast<std::uint16_t>(lo | hi << 8);
  }
  std::uint32_t u32() {
    const std::uint32_t lo = u16();
    const std::uint32_t hi = u16();
    return lo | hi << 16;
  }
  // A choice among n (n > 0).
  std::size_t pick(std::size_t n) { return u8() % n; }
  bool flag() { return u8() & 1; }
  // Everything not read yet.
  std::string_view rest() {
    std::string_view s(reinterpret_cast<const char*>(p_), n_);
    p_ += n_;
    n_ = 0;
    return s;
  }

 private:
  const std::uint8_t* p_;
  std::size_t n_;
};

// A scratch directory for this process, removed at exit. In $CUSTDB_FUZZ_TMP when set (fuzz/run.sh
// points it at a tmpfs directory), else /dev/shm when writable, else the system temp directory.
class ScratchDir {
 public:
  explicit ScratchDir(std::string_view name) {
    fs::path base;
    if (const char* env = std::getenv("CUSTDB_FUZZ_TMP"); env && *env) base = env;
    else if (::access("/dev/shm", W_OK) == 0) base = "/dev/shm";
    else base = fs::temp_directory_path();
    path_ = base / ("custdb-fuzz-" + std::string(name) + "-" + std::to_string(::getpid()));
    std::error_code ec;
    fs::remove_all(path_, ec);
    fs::create_directories(path_, ec);
    if (ec) fail(__FILE__, __LINE__, "cannot create %s: %s", path_.c_str(), ec.message().c_str());
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Removes a database's files (data.mdb, lock.mdb, custdb.lock) from `dir`, keeping the directory.
inline void remove_database_files(const fs::path& dir) {
  std::error_code ec;
  for (const char* f : {"data.mdb", "lock.mdb", "custdb.lock"}) fs::remove(dir / f, ec);
}

inline std::vector<std::uint8_t> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) fail(__FILE__, __LINE__, "cannot read %s", p.c_str());
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), {});
}

inline void write_file(const fs::path& p, const std::uint8_t* data, std::size_t size) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) fail(__FILE__, __LINE__, "cannot write %s", p.c_str());
}

// be64(id): the key of a record.
inline std::vector<std::uint8_t> be64(std::uint64_t v) {
  std::vector<std::uint8_t> k(8);
  for (int i = 7; i >= 0; --i, v >>= 8) k[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v);
  return k;
}

// The data key record_decode seals with (32 bytes); make_seeds writes sealed seeds under it.
inline void fill_fixed_data_key(std::uint8_t* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::uint8_t>(0xA5 ^ i);
}

// The fixed custom attribute schema of the codec targets (record_decode, make_seeds): one
// attribute of each type per table, ids 1..18, the even ones personal, the integer required
// with a default, so that decoding values of every type, defaults and personal blobs is fuzzed.
inline const Schema& fuzz_schema() {
  static const Schema schema = [] {
    Schema s;
    s.version = 1;
    std::uint32_t id = 0;
    for (AttributeTable table : {AttributeTable::kCustomers, AttributeTable::kTransactions})
      for (int t = 0; t <= static_cast<int>(AttributeType::kTagSet); ++t) {
        AttributeDef d;
        d.id = ++id;
        d.table = table;
        d.type = static_cast<AttributeType>(t);
        d.name = "a" + std::to_string(d.id);
        d.personal = d.id % 2 == 0;
        if (d.type == AttributeType::kEnum) d.values = {"red", "Green"};
        if (d.type == AttributeType::kDecimal) d.scale = 2;
        if (d.type == AttributeType::kInteger) {
          d.required = true;
          d.default_value = AttributeValue(std::int64_t{7});
        }
        s.attributes.push_back(std::move(d));
      }
    return s;
  }();
  return schema;
}

}  // namespace custdb::fuzz
