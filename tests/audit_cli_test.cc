// The CLI's audit hooks (docs/cli.md "Audit trail and subject access"): every --reveal on get,
// find, segment and export, every export and every subject-export is recorded before anything
// is shown; --read-only refuses them; hostile text is recorded escaped; `custdb audit` lists
// and filters; `custdb verify` finds a tampered trail.
#include <sys/stat.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <fstream>
#include <iterator>
#include <sstream>

#include "program.h"
#include "test_util.h"

namespace custdb::test {
namespace {

namespace pt = boost::property_tree;
using Env = std::map<std::string, std::string>;

struct Cli {
  fs::path db;
  Env env;
  std::vector<std::string> globals;  // --key-file in encrypted mode
  ProgramResult run(std::vector<std::string> args, Env extra = {}) const {
    args.insert(args.begin(), {"--db", db.string()});
    args.insert(args.end(), globals.begin(), globals.end());
    Env e = env;
    e.insert(extra.begin(), extra.end());
    return run_cli(args, RunOptions{.env = e});
  }
  ProgramResult expect(int code, std::vector<std::string> args, Env extra = {}) const {
    auto r = run(args, extra);
    BOOST_TEST_REQUIRE(r.code == code, args.front() << ": " << r);
    return r;
  }
};

// A database with three customers (ids 1..3), closed.
Cli make(Mode m, const fs::path& dir) {
  Cli c{dir / "db", {}, {}};
  if (m == Mode::kEncrypted) {
    // A raw key (test_key's 32 bytes of 7) as 64 hex digits: no Argon2id per command.
    std::string hex;
    for (int i = 0; i < 32; ++i) hex += "07";
    write_bytes(dir / "key.hex", hex);
    c.globals = {"--key-file", (dir / "key.hex").string()};
  }
  c.expect(0, {"init", m == Mode::kEncrypted ? "--encrypt" : "--json"});
  {
    auto db = Database::open(c.db, options_for(m));
    BOOST_TEST_REQUIRE(db.has_value(), (db ? "" : db.error().to_string()));
    for (int i = 1; i <= 3; ++i) must(db->insert_customer(sample_customer(i)));
  }
  return c;
}

std::vector<AuditEntry> trail(Mode m, const Cli& c) {
  Options o;
  o.read_only = true;
  auto db = Database::open(c.db, options_for(m, o));
  BOOST_TEST_REQUIRE(db.has_value(), (db ? "" : db.error().to_string()));
  auto r = must(db->begin_read());
  return must(r.audit_log());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(audit_cli)

BOOST_DATA_TEST_CASE(reveals_and_exports_are_recorded_masked_reads_are_not, kModes, m) {
  TempDir dir;
  const Cli c = make(m, dir.path());
  c.expect(0, {"get", "2"});
  c.expect(0, {"find", "--email", "user3@example.com"});
  c.expect(0, {"segment", "type = individual"});
  BOOST_TEST(trail(m, c).empty());

  c.expect(0, {"get", "2", "--reveal"});
  c.expect(0, {"find", "--email", "user3@example.com", "--reveal"});
  c.expect(0, {"segment", "type = individual", "--reveal", "--limit", "2"});
  c.expect(0, {"segment", "type = individual", "--reveal", "--ids"});
  c.expect(0, {"export", "customers", "--out", (dir.path() / "masked.csv").string()});
  c.expect(0, {"export", "customers", "--reveal"});
  c.expect(0, {"history", "1", "--reveal"});
  auto t = trail(m, c);
  BOOST_TEST_REQUIRE(t.size() == 7u);
  BOOST_TEST(t[0].event.command == "get --reveal");
  BOOST_TEST((t[0].event.subjects == std::vector<CustomerId>{2}));
  BOOST_TEST(t[1].event.command == "find --reveal");
  BOOST_TEST((t[1].event.subjects == std::vector<CustomerId>{3}));
  BOOST_TEST(t[1].event.detail == "by email");
  BOOST_TEST(!contains(t[1].event.detail, "user3"));  // never the value looked up
  BOOST_TEST(t[2].event.command == "segment --reveal");
  BOOST_TEST((t[2].event.subjects == std::vector<CustomerId>{1, 2}));
  BOOST_TEST(t[2].event.count == 3u);
  BOOST_TEST(contains(t[2].event.detail, "query: type = individual"));
  BOOST_TEST((t[3].event.subjects == std::vector<CustomerId>{1, 2, 3}));
  BOOST_TEST(t[4].event.command == "export");
  BOOST_TEST(contains(t[4].event.detail, "masked"));
  BOOST_TEST(t[4].event.count == 3u);
  BOOST_TEST(t[5].event.command == "export --reveal");
  BOOST_TEST(contains(t[5].event.detail, "to=stdout"));
  BOOST_TEST(t[6].event.command == "history --reveal");

  // custdb audit lists and filters; verify is clean.
  auto all = c.expect(0, {"audit", "--json"});
  pt::ptree doc;
  std::istringstream in(all.out);
  pt::read_json(in, doc);
  BOOST_TEST(doc.size() == 7u);
  auto about3 = c.expect(0, {"audit", "--subject", "3", "--json"});
  pt::ptree d3;
  std::istringstream in3(about3.out);
  pt::read_json(in3, d3);
  BOOST_TEST(d3.size() == 2u);  // find and segment --ids
  auto later = c.expect(0, {"audit", "--since", "2200-01-01"});
  BOOST_TEST(contains(later.out, "0 entries"));
  auto table = c.expect(0, {"audit"});
  BOOST_TEST(contains(table.out, "7 entries"));
  BOOST_TEST(contains(table.out, "get --reveal"));
  c.expect(0, {"verify"});
}

BOOST_DATA_TEST_CASE(read_only_refuses_to_reveal_and_to_export, kModes, m) {
  TempDir dir;
  const Cli c = make(m, dir.path());
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"get", "1", "--reveal", "--read-only"},
           {"find", "--ref", "EXT-1", "--reveal", "--read-only"},
           {"segment", "type = individual", "--reveal", "--read-only"},
           {"export", "customers", "--read-only"},
           {"subject-export", "1", "--read-only"},
           {"history", "1", "--reveal", "--read-only"}}) {
    auto r = c.expect(3, args);
    BOOST_TEST(r.out.empty(), args.front() << " printed " << r.out);
    BOOST_TEST(contains(r.err, "audit trail"), r.err);
    BOOST_TEST(contains(r.err, "--read-only"), r.err);
    BOOST_TEST(!contains(r.err, "Customer 1"));
  }
  // The environment variable does the same.
  auto r = c.expect(3, {"get", "1", "--reveal"}, {{"CUSTDB_READ_ONLY", "1"}});
  BOOST_TEST(r.out.empty());
  // Masked reads still work read-only.
  c.expect(0, {"get", "1", "--read-only"});
  BOOST_TEST(trail(m, c).empty());
}

BOOST_DATA_TEST_CASE(hostile_query_and_file_names_are_recorded_escaped, kModes, m) {
  TempDir dir;
  const Cli c = make(m, dir.path());
  // A tag with a terminal escape and a newline: the query is valid, its text hostile. (A tag,
  // not a region: operands of personal fields are recorded as '?', audit_query_text.)
  c.expect(0, {"segment", "tag = 'x\x1b]0;owned\x07\nforged 99 root'", "--reveal"});
  const std::string evil_out = (dir.path() / "out\nseq 42\x1b[2J.csv").string();
  c.expect(0, {"export", "customers", "--out", evil_out});
  auto t = trail(m, c);
  BOOST_TEST_REQUIRE(t.size() == 2u);
  for (const auto& e : t)
    for (char ch : e.event.detail) BOOST_TEST((ch >= 0x20 && ch <= 0x7e), e.event.detail);
  BOOST_TEST(contains(t[0].event.detail, "\\x1b"), t[0].event.detail);
  BOOST_TEST(contains(t[1].event.detail, "\\x0a"), t[1].event.detail);
  auto listed = c.expect(0, {"audit"});
  BOOST_TEST(!contains(listed.out, "\x1b"));
  BOOST_TEST(contains(listed.out, "2 entries"));
}

BOOST_DATA_TEST_CASE(subject_export_writes_a_private_file_and_records_it, kModes, m) {
  TempDir dir;
  const Cli c = make(m, dir.path());
  const fs::path out = dir.path() / "subject.json";
  c.expect(0, {"subject-export", "2", "--out", out.string()}, {});
  struct stat sb {};
  BOOST_TEST_REQUIRE(::stat(out.c_str(), &sb) == 0);
  BOOST_TEST((sb.st_mode & 0777) == 0600u);
  std::ifstream in(out);
  pt::ptree doc;
  pt::read_json(in, doc);
  BOOST_TEST(doc.get<std::string>("customer.name") == "Customer 2");
  BOOST_TEST(doc.get<std::string>("customer.email") == "user2@example.com");
  BOOST_TEST(doc.get_child("audit").size() == 1u);  // its own entry
  auto t = trail(m, c);
  BOOST_TEST_REQUIRE(t.size() == 1u);
  BOOST_TEST(t[0].event.command == "subject-export");
  BOOST_TEST((t[0].event.subjects == std::vector<CustomerId>{2}));
  // stdout, and a missing customer (exit 1, nothing recorded for it).
  auto r = c.expect(0, {"subject-export", "3"});
  BOOST_TEST(contains(r.out, "\"user3@example.com\""));
  c.expect(1, {"subject-export", "99"});
  BOOST_TEST(trail(m, c).size() == 2u);
}

BOOST_DATA_TEST_CASE(verify_finds_a_deleted_entry, kModes, m) {
  TempDir dir;
  const Cli c = make(m, dir.path());
  c.expect(0, {"get", "1", "--reveal"});
  c.expect(0, {"get", "2", "--reveal"});
  c.expect(0, {"verify"});
  {
    MDB_env* env;
    BOOST_TEST_REQUIRE(mdb_env_create(&env) == 0);
    mdb_env_set_maxdbs(env, 64);
    BOOST_TEST_REQUIRE(mdb_env_open(env, c.db.c_str(), 0, 0600) == 0);
    MDB_txn* txn;
    BOOST_TEST_REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
    MDB_dbi dbi;
    BOOST_TEST_REQUIRE(mdb_dbi_open(txn, "audit", 0, &dbi) == 0);
    std::uint8_t key[8] = {0, 0, 0, 0, 0, 0, 0, 2};
    MDB_val k{8, key};
    BOOST_TEST_REQUIRE(mdb_del(txn, dbi, &k, nullptr) == 0);
    BOOST_TEST_REQUIRE(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
  }
  auto r = c.expect(1, {"verify"});
  BOOST_TEST(contains(r.out + r.err, "audit chain broken"), r);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace custdb::test
