// Attacks on import/export (breaker K1, issue #15 points 4 and 11-14): each case is an input
// that once broke the reader or the messages, kept so it cannot come back.

#include <fstream>
#include <sstream>

#include "custdb/io.h"
#include "io/display.h"
#include "program.h"
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;
using io::Format;
using io::Table;

namespace {



std::uint64_t customer_count(Database& db) {
  auto txn = must(db.begin_read());
  return must(txn.counts()).customers;
}

// No byte of `text` is a C0 control other than \n, DEL, or the UTF-8 form of a C1 control.
bool printable_on_a_terminal(const std::string& text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\n') || c == 0x7f) return false;
    if (c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) < 0xA0)
      return false;
  }
  return true;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(import_attack)

// More than kMaxRecordBytes of blank lines used to count against the next record's limit: the
// reader saw the end of the input there and the import reported success with the rows after
// the blank lines silently dropped.
BOOST_AUTO_TEST_CASE(blank_lines_past_the_record_limit_do_not_end_the_input) {
  for (const std::string blank : {"\n", "\r\n", "\r"}) {
    TempDir dir;
    Database db = open_db(Mode::kPlain, dir.path() / "db");
    std::string text = "id,name\n1,Ann\n";
    for (std::size_t n = 0; n < io::kMaxRecordBytes / blank.size() + 10; ++n) text += blank;
    text += "2,Bo\n3,Cy\n";
    write_bytes(dir.path() / "in.csv", text);
    auto r = io::import_file(db, Table::kCustomers, dir.path() / "in.csv", Format::kCsv, {});
    BOOST_TEST_REQUIRE(r.has_value(), r.error().to_string());
    BOOST_TEST(r->rows == 3u);
    BOOST_TEST(r->imported == 3u);
    BOOST_TEST(customer_count(db) == 3u);
  }
}

// A header whose first character is U+F000..U+FFFF (UTF-8 EF ..) was taken for a broken byte
// order mark ("malformed byte order mark"); it is a column name like any other.
BOOST_AUTO_TEST_CASE(header_starting_with_an_ef_lead_byte_is_a_column_name) {
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir.path() / "db");
  // Full-width "Ｉd".
  write_bytes(dir.path() / "in.csv", "\xef\xbc\xa9" "d,name\n1,Ann\n");
  auto r = io::import_file(db, Table::kCustomers, dir.path() / "in.csv", Format::kCsv, {});
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(contains(r.error().message(), ":1: '\xef\xbc\xa9" "d': unknown column"),
             r.error().message());
  // A real byte order mark is still dropped (the decoder does it).
  write_bytes(dir.path() / "bom.csv", "\xef\xbb\xbfid,name\n1,Ann\n");
  BOOST_TEST(io::import_file(db, Table::kCustomers, dir.path() / "bom.csv", Format::kCsv, {})
                 .has_value());
  BOOST_TEST(customer_count(db) == 1u);
}

// "//TRANSLIT", "//" or "/x" name no charset: iconv took them as the locale's charset, so the
// same import read differently under another LANG.
BOOST_AUTO_TEST_CASE(an_encoding_without_a_charset_name_is_refused) {
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir.path() / "db");
  write_bytes(dir.path() / "in.csv", "id,name\n1,Ann\n");
  for (const char* name : {"//TRANSLIT", "//", "/", "//IGNORE", " //TRANSLIT"}) {
    io::ImportOptions o;
    o.encoding = name;
    auto r = io::import_file(db, Table::kCustomers, dir.path() / "in.csv", Format::kCsv, o);
    BOOST_TEST_REQUIRE(!r.has_value(), name);
    BOOST_TEST(contains(r.error().message(), "encoding: unknown encoding"), r.error().message());
  }
  BOOST_TEST(customer_count(db) == 0u);
  // A charset with iconv's suffix, as `iconv -l` lists names ("ISO-8859-1//"), still works.
  io::ImportOptions o;
  o.encoding = "latin1//";
  BOOST_TEST(io::import_file(db, Table::kCustomers, dir.path() / "in.csv", Format::kCsv, o)
                 .has_value());
  BOOST_TEST(customer_count(db) == 1u);
}

// C1 controls (U+009B is CSI) were passed on in engine messages; printable() escapes them as
// message::quoted does, and leaves printable text (an already quoted value) as it is.
BOOST_AUTO_TEST_CASE(printable_escapes_c0_c1_and_bytes_that_are_not_utf8) {
  BOOST_TEST(io::printable("a\xc2\x9b" "2Jb") == "a\\xc2\\x9b2Jb");
  BOOST_TEST(io::printable("a\x1b[2J\n\t\r\x7f") == "a\\x1b[2J\\n\\t\\r\\x7f");
  BOOST_TEST(io::printable("Jos\xe9") == "Jos\\xe9");
  BOOST_TEST(io::printable("\xc2\xa0\xc3\xa9 \xf0\x9f\x98\x80 'x\\y'") ==
             "\xc2\xa0\xc3\xa9 \xf0\x9f\x98\x80 'x\\y'");
  const std::string big(3'000'000, 'A');
  BOOST_TEST(io::printable(big, 240) == std::string(240, 'A') + "... (3000000 bytes)");
}

// An engine reason that echoes a value raw (email, phone) is passed on through printable():
// a C1 CSI (C2 9B) in the value used to reach the terminal as it was.
BOOST_AUTO_TEST_CASE(engine_reasons_with_c1_controls_are_escaped) {
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir.path() / "db");
  write_bytes(dir.path() / "in.jsonl",
              "{\"id\":1,\"name\":\"Ann\",\"email\":\"\\u009b2J\\u001b[2J@@x\"}\n");
  auto r = io::import_file(db, Table::kCustomers, dir.path() / "in.jsonl", Format::kJsonLines, {});
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(printable_on_a_terminal(r.error().message()), r.error().message());
  BOOST_TEST(contains(r.error().message(), "in.jsonl:1: email: "), r.error().message());
  BOOST_TEST(contains(r.error().message(), "\\xc2\\x9b2J"), r.error().message());
  BOOST_TEST(customer_count(db) == 0u);
}

// A directory given as FILE: libstdc++'s filebuf threw std::ios_base::failure out of
// import_file ("basic_filebuf::xsgetn error reading the file"); now kIOError, nothing stored.
BOOST_AUTO_TEST_CASE(a_directory_or_a_read_error_is_an_io_error_not_an_exception) {
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir.path() / "db");
  fs::create_directories(dir.path() / "dir.csv");
  Result<io::ImportReport> r = make_error(ErrorCode::kInternal, "not run");
  BOOST_CHECK_NO_THROW(r = io::import_file(db, Table::kCustomers, dir.path() / "dir.csv",
                                           Format::kCsv, {}));
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST((r.error().code() == ErrorCode::kIOError), r.error().to_string());
  BOOST_TEST(contains(r.error().message(), "Is a directory"), r.error().message());
  // A stream whose buffer throws on read (as filebuf does on EIO), through import_stream.
  struct Throwing : std::streambuf {
    int_type underflow() override { throw std::ios_base::failure("read: Input/output error"); }
  } buf;
  std::istream in(&buf);
  BOOST_CHECK_NO_THROW(r = io::import_stream(db, Table::kCustomers, in, Format::kCsv, {}));
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST((r.error().code() == ErrorCode::kIOError), r.error().to_string());
  BOOST_TEST(customer_count(db) == 0u);
}

// A file name is text the user did not necessarily choose (a script importing every file of
// an upload directory): control bytes in it were printed raw, in FILE:LINE messages, in
// "cannot open", and in the CLI's summary and bad-row lines.
BOOST_AUTO_TEST_CASE(file_names_are_escaped_in_messages) {
  TempDir dir;
  const std::string evil = "evil\x1b[2J\x1b]0;pwn\x07\nname\xc2\x9b.csv";
  const fs::path file = dir.path() / evil;
  write_bytes(file, "id,name\n1,Ann\n2,\n");
  {
  Database db = open_db(Mode::kPlain, dir.path() / "db");
  auto r = io::import_file(db, Table::kCustomers, file, Format::kCsv, {});
  BOOST_TEST_REQUIRE(!r.has_value());
  const std::string m = r.error().message();
  BOOST_TEST(printable_on_a_terminal(m), m);
  BOOST_TEST(contains(m, "evil\\x1b[2J\\x1b]0;pwn\\x07\\nname\\xc2\\x9b.csv:3: name: "), m);
  auto missing = io::import_file(db, Table::kCustomers, dir.path() / "no\x1b[2J.csv",
                                 Format::kCsv, {});
  BOOST_TEST_REQUIRE(!missing.has_value());
  BOOST_TEST(printable_on_a_terminal(missing.error().message()), missing.error().message());
  BOOST_TEST(contains(missing.error().message(), "no\\x1b[2J.csv"), missing.error().message());
  BOOST_TEST(customer_count(db) == 0u);
  }

  // The CLI: the bad row listed with --skip-bad and the summary; export's summary.
  const std::string path = (dir.path() / "cli_db").string();
  BOOST_TEST_REQUIRE(run_cli({"init", "--db", path}).code == 0);
  auto o = run_cli({"import", "customers", file.string(), "--skip-bad", "--db", path});
  BOOST_TEST(o.code == 0, o.describe());
  BOOST_TEST(printable_on_a_terminal(o.err), o.err);
  BOOST_TEST(printable_on_a_terminal(o.out), o.out);
  BOOST_TEST(contains(o.err, "\\nname\\xc2\\x9b.csv:3: name: "), o.err);
  BOOST_TEST(contains(o.out, "imported 1 of 2 rows"), o.out);
  o = run_cli({"import", "customers", (dir.path() / "no\x1b[2J.csv").string(), "--db", path});
  BOOST_TEST(o.code == 1, o.describe());
  BOOST_TEST(printable_on_a_terminal(o.err), o.err);
  o = run_cli({"export", "customers", "--reveal", "--out", (dir.path() / "out\x1b[2J.csv").string(),
               "--db", path});
  BOOST_TEST(o.code == 0, o.describe());
  BOOST_TEST(printable_on_a_terminal(o.out), o.out);
  BOOST_TEST(contains(o.out, "out\\x1b[2J.csv"), o.out);
}

BOOST_AUTO_TEST_SUITE_END()
