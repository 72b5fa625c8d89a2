// Unbounded input (issue 12, point 8): a file without line ends, a line of millions of commas or
// one huge JSON line must fail fast, with "FILE:LINE: line longer than N bytes" or a bad row,
// in memory bounded by the record limit (io::kMaxRecordBytes), not by the input.
#include <malloc.h>

#include <boost/test/unit_test.hpp>
#include <algorithm>
#include <chrono>
#include <istream>
#include <sstream>
#include <streambuf>

#include "program.h"
#include "custdb/io.h"
#include "test_util.h"

#if defined(__SANITIZE_ADDRESS__)
// From libasan (GCC ships no allocator_interface.h): bytes allocated and not yet freed.
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

using namespace custdb;
using namespace custdb::test;

namespace {

// Heap bytes in use now (glibc malloc, or AddressSanitizer's allocator in the ASan build).
std::size_t heap_in_use() {
#if defined(__SANITIZE_ADDRESS__)
  return __sanitizer_get_current_allocated_bytes();
#else
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
#endif
}

// An input stream of `size` bytes made by `byte(i)`, generated on demand (like /dev/zero, but
// finite, so that a reader without a limit ends instead of running forever). Records the peak
// heap use seen each time the reader asks for more: the reader's memory as it consumes input.
class GeneratedInput : public std::streambuf {
 public:
  GeneratedInput(std::string prefix, std::size_t size, std::function<char(std::size_t)> byte)
      : prefix_(std::move(prefix)), size_(size), byte_(std::move(byte)), base_(heap_in_use()) {}

  std::size_t peak_growth() const { return peak_ > base_ ? peak_ - base_ : 0; }
  std::size_t consumed() const { return pos_; }

 protected:
  int_type underflow() override {
    peak_ = std::max(peak_, heap_in_use());
    if (pos_ >= size_) return traits_type::eof();
    const std::size_t n = std::min(chunk_.size(), size_ - pos_);
    for (std::size_t i = 0; i < n; ++i)
      chunk_[i] = pos_ + i < prefix_.size() ? prefix_[pos_ + i] : byte_(pos_ + i);
    pos_ += n;
    setg(chunk_.data(), chunk_.data(), chunk_.data() + n);
    return traits_type::to_int_type(chunk_[0]);
  }

 private:
  std::string prefix_;
  std::size_t size_;
  std::function<char(std::size_t)> byte_;
  std::size_t base_, peak_ = 0, pos_ = 0;
  std::array<char, 16384> chunk_{};
};

struct Outcome {
  Result<io::ImportReport> report;
  std::size_t peak_growth;
  double seconds;
};

Outcome import_generated(Database& db, io::Format format, std::string prefix, std::size_t size,
                         std::function<char(std::size_t)> byte, bool skip_bad = false) {
  GeneratedInput gen(std::move(prefix), size, std::move(byte));
  std::istream in(&gen);
  io::ImportOptions o;
  o.skip_bad = skip_bad;
  const auto start = std::chrono::steady_clock::now();
  auto report = io::import_stream(db, io::Table::kCustomers, in, format, o);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {std::move(report), gen.peak_growth(), seconds};
}

constexpr std::size_t kMiB = std::size_t{1} << 20;
// Memory a reader may use beyond the one record it holds: a few copies of the limit.
constexpr std::size_t kBound = 8 * kMiB;


void expect_too_long(const Outcome& o, const std::string& where) {
  BOOST_TEST_REQUIRE(!o.report.has_value());
  BOOST_TEST(o.report.error().code() == ErrorCode::kInvalidArgument);
  BOOST_TEST(o.report.error().message() ==
                 where + ": line longer than " + std::to_string(io::kMaxRecordBytes) + " bytes",
             o.report.error().message());
  BOOST_TEST(o.peak_growth < kBound, "peak heap growth " << o.peak_growth << " bytes");
  BOOST_TEST(o.seconds < 10.0);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(input_limits)

// Never a line end. 64 MiB here (a reader without a limit would hold all of it); the import
// stops after the first MiB.
BOOST_DATA_TEST_CASE(no_line_end_fails_at_the_limit, boost::unit_test::data::make({0, 1}), json) {
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir / "db");
  const auto format = json ? io::Format::kJsonLines : io::Format::kCsv;
  auto o = import_generated(db, format, "", 64 * kMiB, [](std::size_t) { return 'a'; });
  expect_too_long(o, "<stdin>:1");
}

// /dev/zero: NUL bytes, which no UTF-8 text holds (UTF-16 without a byte order mark does):
// refused at the first byte, before any line is collected.
BOOST_DATA_TEST_CASE(nul_bytes_fail_at_once, boost::unit_test::data::make({0, 1}), json) {
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir / "db");
  const auto format = json ? io::Format::kJsonLines : io::Format::kCsv;
  auto o = import_generated(db, format, "", 64 * kMiB, [](std::size_t) { return '\0'; });
  BOOST_TEST_REQUIRE(!o.report.has_value());
  BOOST_TEST(o.report.error().code() == ErrorCode::kInvalidArgument);
  BOOST_TEST(contains(o.report.error().message(), "<stdin>:1: row: NUL byte"),
             o.report.error().message());
  BOOST_TEST(o.peak_growth < kBound, "peak heap growth " << o.peak_growth << " bytes");
  BOOST_TEST(o.seconds < 10.0);
}

// A 5 MB line of commas after a valid header: too long; and one just under the limit is a bad
// row whose fields are counted but not kept (was one std::string per comma).
BOOST_AUTO_TEST_CASE(line_of_commas) {
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir / "db");
  auto o = import_generated(db, io::Format::kCsv, "id,name\n", 5'000'000, [](std::size_t) { return ','; });
  expect_too_long(o, "<stdin>:2");

  const std::size_t n = io::kMaxRecordBytes - 100;
  std::string header = "id,name\n";
  auto under = import_generated(db, io::Format::kCsv, header, header.size() + n + 1,
                                [&](std::size_t i) { return i == header.size() + n ? '\n' : ','; },
                                /*skip_bad=*/true);
  BOOST_TEST_REQUIRE(under.report.has_value(), (under.report ? "" : under.report.error().to_string()));
  BOOST_TEST_REQUIRE(under.report->bad.size() == 1u);
  BOOST_TEST(under.report->bad[0].line == 2u);
  BOOST_TEST(contains(under.report->bad[0].reason, "expected 2 fields, found " + std::to_string(n + 1)),
             under.report->bad[0].reason);
  BOOST_TEST(under.peak_growth < 4 * kMiB, "peak heap growth " << under.peak_growth << " bytes");
}

// A quoted CSV field spanning lines counts all its lines against the record's limit.
BOOST_AUTO_TEST_CASE(quoted_field_spanning_lines_counts_whole_record) {
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir / "db");
  auto o = import_generated(db, io::Format::kCsv, "id,name\n1,\"", 3 * kMiB,
                            [](std::size_t i) { return i % 80 == 0 ? '\n' : 'a'; });
  expect_too_long(o, "<stdin>:2");
}

// One huge JSON line: a 5 MB string value.
BOOST_AUTO_TEST_CASE(huge_json_line) {
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir / "db");
  auto o = import_generated(db, io::Format::kJsonLines, "{\"name\":\"", 5'000'000,
                            [](std::size_t) { return 'a'; });
  expect_too_long(o, "<stdin>:1");
}

// Within the limit, a JSON line of tiny members or array items is a bad row, not a million
// small allocations; likewise a tags cell of a million '|'.
BOOST_AUTO_TEST_CASE(many_small_members_are_bounded) {
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir / "db");
  const std::string member = "\"id\":1,";
  std::string line = "{";
  while (line.size() + member.size() < io::kMaxRecordBytes - 100) line += member;
  line += "\"name\":\"x\"}\n";
  std::string items = "{\"name\":\"x\",\"tags\":[";
  while (items.size() < io::kMaxRecordBytes - 100) items += "\"\",";
  items += "\"\"]}\n";
  std::string bars = "id,name,tags\n1,x," + std::string(io::kMaxRecordBytes - 100, '|') + "\n";
  for (const auto& [text, format, reason] :
       {std::tuple{line, io::Format::kJsonLines, std::string("more than 256 keys")},
        std::tuple{items, io::Format::kJsonLines, std::string("more than 256 items")},
        std::tuple{bars, io::Format::kCsv, std::string("more than 64 tags")}}) {
    auto o = import_generated(db, format, text, text.size(), [](std::size_t) { return ' '; }, true);
    BOOST_TEST_REQUIRE(o.report.has_value(), (o.report ? "" : o.report.error().to_string()));
    BOOST_TEST_REQUIRE(o.report->bad.size() == 1u);
    BOOST_TEST(contains(o.report->bad[0].reason, reason), o.report->bad[0].reason);
    BOOST_TEST(o.peak_growth < 4 * kMiB, reason << ": peak heap growth " << o.peak_growth);
  }
}

// The CLI on /dev/zero itself: a clear error within seconds, exit 1, no signal.
BOOST_AUTO_TEST_CASE(cli_import_of_dev_zero) {
  TempDir dir;
  const std::string db = (dir / "db").string();
  BOOST_TEST_REQUIRE(run_cli({"init", "--db", db}).code == 0);
  RunOptions limits;
  limits.timeout_seconds = 20;
  for (const char* format : {"csv", "jsonl"}) {
    const auto start = std::chrono::steady_clock::now();
    ProgramResult r = run_cli({"import", "customers", "/dev/zero", "--format", format, "--db", db}, limits);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    BOOST_TEST(r.exited, r.describe());
    BOOST_TEST(r.code == 1, r.describe());
    BOOST_TEST(contains(r.err, "/dev/zero:1: row: NUL byte"), r.describe());
    BOOST_TEST(!contains(r.err, "--skip-bad loads"), r.describe());
    BOOST_TEST(seconds < 10.0);
  }
}

BOOST_AUTO_TEST_SUITE_END()
