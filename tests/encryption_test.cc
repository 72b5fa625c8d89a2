// Encryption at rest: what reaches the file, what a wrong key does, tampering, and rekeying.
#include <lmdb.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "test_util.h"

using namespace custdb;
using namespace custdb::test;

namespace {

std::vector<std::uint8_t> file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

bool contains(const std::vector<std::uint8_t>& hay, const std::vector<std::uint8_t>& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

std::vector<std::uint8_t> text(std::string_view s) { return {s.begin(), s.end()}; }
std::vector<std::uint8_t> le(std::int64_t v, int n) {
  std::vector<std::uint8_t> b(n);
  for (int i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(v) >> (8 * i));
  return b;
}
std::vector<std::uint8_t> be(std::int64_t v, int n) {
  auto b = le(v, n);
  std::reverse(b.begin(), b.end());
  return b;
}

// Distinctive values and every encoding the engine could give them: raw and normalized text,
// little-endian (FlatBuffers) and big-endian (index keys) integers.
struct Secrets {
  std::vector<std::pair<std::string, std::vector<std::uint8_t>>> needles;
  void add_text(const std::string& what, std::string_view s) { needles.push_back({what, text(s)}); }
  void add_int(const std::string& what, std::int64_t v, int n) {
    needles.push_back({what + " (LE)", le(v, n)});
    needles.push_back({what + " (BE)", be(v, n)});
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(encryption)

BOOST_DATA_TEST_CASE(raw_file_reveals_no_personal_or_financial_value, kModes, mode) {
  TempDir dir;
  Secrets secrets;
  {
    auto db = open_db(mode, dir.path());
    auto txn = must(db.begin_write());
    const char* names[] = {"Wilhelmina Okonkwo-Varga", "Thaddeus Quistgaard", "Ignatius Pemberton"};
    const char* emails[] = {"w.okonkwo@fjordmail.example", "tq@quistgaard.example",
                            "ignatius@pemberton.example"};
    const char* phones[] = {"+4917612398745", "+33555019827", "+61298765432"};
    const char* births[] = {"1931-02-17", "1944-11-03", "1952-06-29"};
    const std::int64_t amounts[] = {987654321987, 123456789123, 555444333222};
    for (int i = 0; i < 3; ++i) {
      Customer c = sample_customer(i);
      c.name = names[i];
      c.email = emails[i];
      c.phone = phones[i];
      c.birth_date = parse_date(births[i]);
      c.address = {"Quedlinburg", "sachsen-anhalt", "DE"};
      c.external_ref = std::string("REF-SECRET-") + std::to_string(i);
      CustomerId id = must(txn.insert_customer(c));
      Transaction t = sample_txn(id, amounts[i], "2025-02-03");
      t.product = "private-banking-xyz";
      t.description = "salary of Thaddeus";
      must(txn.add_transaction(t));
      secrets.add_text("name", names[i]);
      secrets.add_text("email", emails[i]);
      secrets.add_text("phone", phones[i]);
      secrets.add_text("external_ref", c.external_ref);
      secrets.add_int("birth date", parse_date(births[i])->time_since_epoch().count(), 4);
      secrets.add_int("amount", amounts[i], 8);
    }
    secrets.add_text("city", "Quedlinburg");
    secrets.add_text("product", "private-banking-xyz");
    // Updates and deletes leave old versions on free pages: those must be sealed too.
    must(txn.update_customer(1, [](Customer& c) { c.name = "Renamed Kowalczyk-Brandt"; }));
    must(txn.delete_customer(2, DeleteMode::kCascade));
    must(txn.commit());
    secrets.add_text("updated name", "Renamed Kowalczyk-Brandt");
  }
  auto bytes = file_bytes(dir / "data.mdb");
  BOOST_TEST_REQUIRE(bytes.size() > 0u);
  int found = 0;
  for (const auto& [what, needle] : secrets.needles) {
    bool hit = contains(bytes, needle);
    found += hit;
    if (mode == Mode::kEncrypted) BOOST_TEST(!hit, what << " is readable in the file");
  }
  // The same scan finds the values in a plaintext file, so it can fail.
  if (mode == Mode::kPlain) {
    BOOST_TEST(found >= 12);
    BOOST_TEST(contains(bytes, text("w.okonkwo@fjordmail.example")));
    BOOST_TEST(contains(bytes, text("Renamed Kowalczyk-Brandt")));
    BOOST_TEST(contains(bytes, le(987654321987, 8)));
    BOOST_TEST(contains(bytes, le(parse_date("1952-06-29")->time_since_epoch().count(), 4)));
  }
}

BOOST_AUTO_TEST_CASE(wrong_passphrase_is_its_own_error_and_changes_nothing) {
  TempDir dir;
  {
    Options o;
    o.key = KeyMaterial::from_passphrase("correct horse battery staple");
    auto db = must(Database::open(dir.path(), o));
    (void)must(db.insert_customer(sample_customer(1)));
  }
  auto before = file_bytes(dir / "data.mdb");
  Options wrong;
  wrong.key = KeyMaterial::from_passphrase("correct horse battery stapler");
  auto r = Database::open(dir.path(), wrong);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST((r.error().code() == ErrorCode::kAuthentication));
  Options raw;
  raw.key = test_key();
  BOOST_TEST((Database::open(dir.path(), raw).error().code() == ErrorCode::kAuthentication));
  BOOST_TEST((Database::open(dir.path()).error().code() == ErrorCode::kAuthentication));
  BOOST_TEST((file_bytes(dir / "data.mdb") == before));
  // A key for a plaintext database is refused too, as an authentication failure (docs).
  TempDir plain;
  { auto db = open_db(Mode::kPlain, plain.path()); }
  auto p = Database::open(plain.path(), raw);
  BOOST_TEST_REQUIRE(!p.has_value());
  BOOST_TEST((p.error().code() == ErrorCode::kAuthentication));
}

namespace {
// Raw LMDB edits of a closed database.
void raw_edit(const fs::path& dir, const std::function<void(MDB_txn*, MDB_dbi cust, MDB_dbi txns)>& fn) {
  MDB_env* env;
  BOOST_TEST_REQUIRE(mdb_env_create(&env) == 0);
  mdb_env_set_maxdbs(env, 64);
  BOOST_TEST_REQUIRE(mdb_env_open(env, dir.c_str(), 0, 0644) == 0);
  MDB_txn* txn;
  BOOST_TEST_REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  MDB_dbi c, t;
  BOOST_TEST_REQUIRE(mdb_dbi_open(txn, "customers", 0, &c) == 0);
  BOOST_TEST_REQUIRE(mdb_dbi_open(txn, "transactions", 0, &t) == 0);
  fn(txn, c, t);
  BOOST_TEST_REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);
}
std::vector<std::uint8_t> raw_get(MDB_txn* txn, MDB_dbi dbi, std::uint64_t id) {
  std::uint8_t k[8];
  for (int i = 0; i < 8; ++i) k[i] = static_cast<std::uint8_t>(id >> (8 * (7 - i)));
  MDB_val kv{8, k}, v;
  BOOST_TEST_REQUIRE(mdb_get(txn, dbi, &kv, &v) == 0);
  auto* p = static_cast<std::uint8_t*>(v.mv_data);
  return {p, p + v.mv_size};
}
void raw_put(MDB_txn* txn, MDB_dbi dbi, std::uint64_t id, std::vector<std::uint8_t> v) {
  std::uint8_t k[8];
  for (int i = 0; i < 8; ++i) k[i] = static_cast<std::uint8_t>(id >> (8 * (7 - i)));
  MDB_val kv{8, k}, vv{v.size(), v.data()};
  BOOST_TEST_REQUIRE(mdb_put(txn, dbi, &kv, &vv, 0) == 0);
}
bool check_flags_undecodable(const Database& db, std::size_t at_least) {
  auto r = db.check();
  if (!r) return false;
  std::size_t n = 0;
  for (const auto& p : r->problems) n += p.kind == CheckProblem::Kind::kUndecodable;
  return n >= at_least;
}
}  // namespace

BOOST_AUTO_TEST_CASE(tampered_swapped_and_moved_values_fail_authentication) {
  TempDir dir;
  {
    auto db = open_db(Mode::kEncrypted, dir.path());
    for (int i = 1; i <= 4; ++i) (void)must(db.insert_customer(sample_customer(i)));
    (void)must(db.add_transaction(sample_txn(4, 10, "2025-01-01")));
  }
  raw_edit(dir.path(), [](MDB_txn* txn, MDB_dbi c, MDB_dbi t) {
    auto v1 = raw_get(txn, c, 1);
    v1[v1.size() / 2] ^= 0x01;  // one bit of ciphertext
    raw_put(txn, c, 1, v1);
    auto v2 = raw_get(txn, c, 2), v3 = raw_get(txn, c, 3);  // swap two customers
    raw_put(txn, c, 2, v3);
    raw_put(txn, c, 3, v2);
    raw_put(txn, t, 1, raw_get(txn, c, 4));  // a customer value moved into another table
  });
  auto db = open_db(Mode::kEncrypted, dir.path());
  for (CustomerId id : {1, 2, 3}) {
    auto r = db.get_customer(id);
    BOOST_TEST_REQUIRE(!r.has_value(), "customer " << id);
    BOOST_TEST((r.error().code() == ErrorCode::kCorruption));
  }
  BOOST_TEST(must(db.get_customer(4)).has_value());
  auto t = must(db.begin_read()).get_transaction(1);
  BOOST_TEST_REQUIRE(!t.has_value());
  BOOST_TEST((t.error().code() == ErrorCode::kCorruption));
  BOOST_TEST(check_flags_undecodable(db, 4));
}

BOOST_AUTO_TEST_CASE(passphrase_change_rewraps_only) {
  TempDir dir;
  Options o;
  o.key = KeyMaterial::from_passphrase("old secret");
  std::vector<std::uint8_t> records_before;
  {
    auto db = must(Database::open(dir.path(), o));
    for (int i = 1; i <= 50; ++i) (void)must(db.insert_customer(sample_customer(i)));
    must(db.change_key(*KeyMaterial::from_passphrase("new secret")));
    // This handle keeps working: the data key did not change.
    BOOST_TEST(must(db.get_customer(7)).has_value());
  }
  BOOST_TEST((Database::open(dir.path(), o).error().code() == ErrorCode::kAuthentication));
  Options n;
  n.key = KeyMaterial::from_passphrase("new secret");
  auto db = must(Database::open(dir.path(), n));
  BOOST_TEST(must(db.get_customer(50)).value().name == "Customer 50");
  require_clean(db);
  // Plaintext databases have no key to change.
  TempDir plain;
  auto p = open_db(Mode::kPlain, plain.path());
  BOOST_TEST((p.change_key(*test_key()).error().code() == ErrorCode::kFailedPrecondition));
}

namespace {
void fill_for_rotation(const fs::path& dir) {
  auto db = open_db(Mode::kEncrypted, dir);
  auto txn = must(db.begin_write());
  for (int i = 1; i <= 400; ++i) {
    CustomerId id = must(txn.insert_customer(sample_customer(i)));
    must(txn.add_transaction(sample_txn(id, i * 3, "2025-03-01")));
    if (i > 1) must(txn.add_relationship({0, id, id - 1, RelationType::kReferral, "", {}}));
  }
  must(txn.commit());
}

std::vector<Customer> snapshot(const fs::path& dir) {
  auto db = open_db(Mode::kEncrypted, dir);
  std::vector<Customer> all;
  must(must(db.begin_read()).for_each_customer([&](const Customer& c) {
    all.push_back(c);
    return true;
  }));
  return all;
}
}  // namespace

BOOST_AUTO_TEST_CASE(data_key_rotation_reseals_everything) {
  TempDir dir;
  fill_for_rotation(dir.path());
  auto before = snapshot(dir.path());
  auto bytes_before = file_bytes(dir / "data.mdb");
  std::vector<RotationProgress> seen;
  must(rotate_data_key(dir.path(), options_for(Mode::kEncrypted),
                       [&](const RotationProgress& p) { seen.push_back(p); }, 100));
  BOOST_TEST_REQUIRE(!seen.empty());
  BOOST_TEST(seen.back().table == "transactions");
  BOOST_TEST(seen.back().done == seen.back().total);
  BOOST_TEST(!fs::exists(dir / "rotate.tmp"));
  auto after = snapshot(dir.path());
  BOOST_TEST((after == before));
  // Every sealed value changed: no 16-byte run of the old file's record area survives.
  auto bytes_after = file_bytes(dir / "data.mdb");
  BOOST_TEST((bytes_after != bytes_before));
  auto db = open_db(Mode::kEncrypted, dir.path());
  require_clean(db);
  BOOST_TEST(must(must(db.begin_read()).find_by_email("user17@example.com")).size() == 1u);
  BOOST_TEST(must(db.insert_customer(sample_customer(401))) == 401u);
}

BOOST_AUTO_TEST_CASE(rotation_killed_part_way_resumes) {
  TempDir dir;
  fill_for_rotation(dir.path());
  auto before = snapshot(dir.path());
  pid_t pid = fork();
  BOOST_TEST_REQUIRE(pid >= 0);
  if (pid == 0) {
    int batches = 0;
    auto s = rotate_data_key(dir.path(), options_for(Mode::kEncrypted),
                             [&](const RotationProgress&) {
                               if (++batches == 6) ::_exit(42);  // dies between commits
                             }, 50);
    ::_exit(s ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  BOOST_TEST_REQUIRE(WIFEXITED(status));
  BOOST_TEST_REQUIRE(WEXITSTATUS(status) == 42);
  BOOST_TEST(fs::exists(dir / "rotate.tmp" / "data.mdb"));
  // Interrupted: the database is complete and readable as it was.
  BOOST_TEST((snapshot(dir.path()) == before));
  {
    auto db = open_db(Mode::kEncrypted, dir.path());
    require_clean(db);
  }
  std::vector<RotationProgress> seen;
  must(rotate_data_key(dir.path(), options_for(Mode::kEncrypted),
                       [&](const RotationProgress& p) { seen.push_back(p); }, 50));
  BOOST_TEST_REQUIRE(!seen.empty());
  BOOST_TEST(seen.front().resumed);
  BOOST_TEST(seen.front().table == "customers");
  BOOST_TEST(seen.front().done == 50u);  // counted from where it resumed, not from zero
  BOOST_TEST((snapshot(dir.path()) == before));
  auto db = open_db(Mode::kEncrypted, dir.path());
  require_clean(db);
}

BOOST_AUTO_TEST_CASE(rotation_needs_the_database_to_itself) {
  TempDir dir;
  fill_for_rotation(dir.path());
  auto db = open_db(Mode::kEncrypted, dir.path());
  auto s = rotate_data_key(dir.path(), options_for(Mode::kEncrypted));
  BOOST_TEST_REQUIRE(!s.has_value());
  BOOST_TEST((s.error().code() == ErrorCode::kBusy));
}

BOOST_AUTO_TEST_SUITE_END()
