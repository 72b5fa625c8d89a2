// The analyst key (issue #16 point 6; docs/security.md, "Analyst key"), by use and by attack:
// an analyst key opens an encrypted database for segments, reports and analytics, but no API
// call, no CLI command and no sealed value of the file opened with the analyst's data key
// yields a personal field; lookups by email, phone or external_ref are kPermissionDenied;
// revocation makes the analyst's secret fail with kAuthentication while the data stays.
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <lmdb.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "crypto/crypto.h"
#include "custdb/database.h"
#include "custdb/key.h"
#include "custdb/query.h"
#include "program.h"
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;
namespace fs = std::filesystem;

namespace {

// Distinctive personal values: none may ever reach an analyst.
const std::vector<std::string> kPersonal = {"Zelda Quixote", "zelda.quixote@example.net",
                                            "+46701112233", "REF-ZQ-77", "Xanthippeville",
                                            "memo secret 7788"};
const Date kBirth = parse_date("1977-07-07").value();

std::shared_ptr<const KeyMaterial> owner_secret() { return test_key(7); }
std::shared_ptr<const KeyMaterial> analyst_secret() { return test_key(9); }

Options with_key(std::shared_ptr<const KeyMaterial> k) {
  Options o;
  o.key = std::move(k);
  o.create_if_missing = false;
  return o;
}

// An encrypted database with one customer carrying kPersonal (and a transaction with the
// memo), 30 sample customers, and an analyst key. Returns the customer's id.
CustomerId build(const fs::path& dir) {
  Database db = open_db(Mode::kEncrypted, dir);
  Customer c = sample_customer(1);
  c.name = kPersonal[0];
  c.email = kPersonal[1];
  c.phone = kPersonal[2];
  c.external_ref = kPersonal[3];
  c.address = {kPersonal[4], "Uppland", "SE"};
  c.birth_date = kBirth;
  c.tier = Tier::kGold;
  const CustomerId id = must(db.insert_customer(c));
  for (int i = 2; i < 32; ++i) must(db.insert_customer(sample_customer(i)));
  Transaction t = sample_txn(id, 12500, "2025-03-01T10:00:00Z");
  t.description = kPersonal[5];
  must(db.add_transaction(t));
  must(db.add_analyst_key(*analyst_secret()));
  return id;
}

query::Node q(const char* text) { return must(query::parse(text)); }

void require_denied(const Status& s) {
  BOOST_TEST_REQUIRE(!s.has_value());
  BOOST_TEST(s.error().code() == ErrorCode::kPermissionDenied, s.error().to_string());
}
template <class T>
void require_denied(const Result<T>& r) {
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().code() == ErrorCode::kPermissionDenied, r.error().to_string());
}

// ---- the file, read as an attacker who holds a key -----------------------------------------

struct RawValue {
  std::string table;
  std::vector<std::uint8_t> key, value;
};

// Every key/value of every named database in dir/data.mdb, through LMDB directly.
std::vector<RawValue> read_all(const fs::path& dir) {
  std::vector<RawValue> out;
  MDB_env* env;
  BOOST_TEST_REQUIRE(mdb_env_create(&env) == 0);
  mdb_env_set_maxdbs(env, 64);
  BOOST_TEST_REQUIRE(mdb_env_open(env, dir.c_str(), MDB_RDONLY, 0600) == 0);
  MDB_txn* txn;
  BOOST_TEST_REQUIRE(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0);
  MDB_dbi main;
  BOOST_TEST_REQUIRE(mdb_dbi_open(txn, nullptr, 0, &main) == 0);
  std::vector<std::string> names;
  {
    MDB_cursor* cur;
    BOOST_TEST_REQUIRE(mdb_cursor_open(txn, main, &cur) == 0);
    MDB_val k, v;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
      names.emplace_back(static_cast<const char*>(k.mv_data), k.mv_size);
    mdb_cursor_close(cur);
  }
  for (const std::string& name : names) {
    MDB_dbi dbi;
    if (mdb_dbi_open(txn, name.c_str(), 0, &dbi) != 0) continue;
    MDB_cursor* cur;
    BOOST_TEST_REQUIRE(mdb_cursor_open(txn, dbi, &cur) == 0);
    MDB_val k, v;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      auto* kb = static_cast<const std::uint8_t*>(k.mv_data);
      auto* vb = static_cast<const std::uint8_t*>(v.mv_data);
      out.push_back({name, {kb, kb + k.mv_size}, {vb, vb + v.mv_size}});
    }
    mdb_cursor_close(cur);
  }
  mdb_txn_abort(txn);
  mdb_env_close(env);
  return out;
}

std::vector<std::uint8_t> meta_value(const std::vector<RawValue>& all, std::string_view key) {
  for (const auto& v : all)
    if (v.table == "meta" && std::string_view(reinterpret_cast<const char*>(v.key.data()),
                                              v.key.size()) == key)
      return v.value;
  return {};
}

// Tries `sealed` (an envelope: version, flags, nonce || ciphertext || tag) with `cipher` under
// the associated data of every table id custdb has (1..13, and a few beyond) and `key`; the plaintext or empty.
std::optional<std::vector<std::uint8_t>> try_open(const crypto::RecordCipher& cipher,
                                                  std::span<const std::uint8_t> key,
                                                  std::span<const std::uint8_t> sealed) {
  if (sealed.size() < 2 + cipher.overhead() || sealed[0] != 1 || sealed[1] != 1) return std::nullopt;
  for (std::uint8_t table = 1; table <= 16; ++table) {
    std::vector<std::uint8_t> ad{table, static_cast<std::uint8_t>(key.size())};
    ad.insert(ad.end(), key.begin(), key.end());
    ad.push_back(1);
    ad.push_back(1);
    std::vector<std::uint8_t> plain(sealed.size() - 2 - cipher.overhead());
    if (cipher.open(sealed.subspan(2), ad, plain)) return plain;
  }
  return std::nullopt;
}

// Everything `cipher` opens in the file: every stored value, and every length-prefixed byte
// vector inside an opened plaintext that is itself a sealed value (a nested blob), opened
// under every table's associated data. Returns the plaintexts.
std::vector<std::vector<std::uint8_t>> open_everything(const std::vector<RawValue>& all,
                                                       const crypto::RecordCipher& cipher,
                                                       std::size_t* attempts) {
  std::vector<std::vector<std::uint8_t>> opened;
  for (const auto& v : all) {
    std::vector<std::vector<std::uint8_t>> candidates{v.value};
    // Nested: any [u32 length][bytes] inside a value opened by any key we try below.
    for (std::size_t c = 0; c < candidates.size(); ++c) {
      ++*attempts;
      auto plain = try_open(cipher, v.key, candidates[c]);
      const std::vector<std::uint8_t>& scan = plain ? *plain : candidates[c];
      if (plain) opened.push_back(*plain);
      for (std::size_t i = 0; i + 4 <= scan.size(); ++i) {
        std::uint32_t n = scan[i] | scan[i + 1] << 8 | scan[i + 2] << 16 |
                          static_cast<std::uint32_t>(scan[i + 3]) << 24;
        if (n < 2 + cipher.overhead() || n > scan.size() - i - 4) continue;
        if (scan[i + 4] != 1 || scan[i + 5] != 1) continue;
        std::vector<std::uint8_t> inner(scan.begin() + i + 4, scan.begin() + i + 4 + n);
        if (candidates.size() < 64) candidates.push_back(std::move(inner));
      }
      if (!plain && c > 0) continue;
    }
  }
  return opened;
}

std::size_t count_personal(const std::vector<std::vector<std::uint8_t>>& plains,
                           const std::vector<std::string>& values) {
  std::size_t found = 0;
  for (const auto& p : plains) {
    const std::string s(p.begin(), p.end());
    for (const std::string& v : values)
      if (contains(s, v)) ++found;
  }
  return found;
}

crypto::Cipher cipher_of(const std::vector<RawValue>& all) {
  return *reinterpret_cast<const crypto::Cipher*>(&meta_value(all, "key_header").at(1));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(analyst_key)

BOOST_AUTO_TEST_CASE(owner_and_analyst_roles) {
  TempDir dir;
  const CustomerId id = build(dir.path());
  {
    Database owner = must(Database::open(dir.path(), with_key(owner_secret())));
    BOOST_TEST(owner.info().role == KeyRole::kOwner);
    auto r = must(owner.begin_read());
    auto c = must(r.get_customer(id));
    BOOST_TEST_REQUIRE(c.has_value());
    BOOST_TEST(c->personal_available);
    BOOST_TEST(c->name == kPersonal[0]);
    BOOST_TEST(*c->email == kPersonal[1]);
    BOOST_TEST(c->address.city == kPersonal[4]);
    BOOST_TEST((c->birth_date == kBirth));
    BOOST_TEST(must(r.find_by_email(kPersonal[1])).size() == 1u);
    BOOST_TEST(must(r.find_by_phone(kPersonal[2])).size() == 1u);
    BOOST_TEST(must(r.find_by_external_ref(kPersonal[3])).has_value());
    BOOST_TEST(must(r.count(q("city = Xanthippeville"))) == 1u);
    BOOST_TEST(must(r.count(q("birth_date = 1977-07-07"))) == 1u);
    BOOST_TEST(must(r.transactions_of(id)).at(0).description == kPersonal[5]);
  }
  {
    Database owner = must(Database::open(dir.path(), with_key(owner_secret())));
    require_clean(owner);
  }

  Database analyst = must(Database::open(dir.path(), with_key(analyst_secret())));
  BOOST_TEST(analyst.info().role == KeyRole::kAnalyst);
  auto r = must(analyst.begin_read());
  auto c = must(r.get_customer(id));
  BOOST_TEST_REQUIRE(c.has_value());
  BOOST_TEST(!c->personal_available);
  BOOST_TEST(c->name.empty());
  BOOST_TEST(!c->email.has_value());
  BOOST_TEST(!c->phone.has_value());
  BOOST_TEST(c->external_ref.empty());
  BOOST_TEST(!c->birth_date.has_value());
  BOOST_TEST(c->address.city.empty());
  // What an analyst works with stays readable.
  BOOST_TEST(c->address.region == "Uppland");
  BOOST_TEST(c->address.country == "SE");
  BOOST_TEST((c->tier == Tier::kGold));
  BOOST_TEST(c->aggregates.txn_count == 1u);
  auto txns = must(r.transactions_of(id));
  BOOST_TEST_REQUIRE(txns.size() == 1u);
  BOOST_TEST(txns[0].description.empty());
  BOOST_TEST(txns[0].amount == 12500);
  BOOST_TEST(must(r.count(q("tier = gold"))) >= 1u);
  BOOST_TEST(must(r.count(q("region = uppland and txn_count >= 1"))) == 1u);
  // Lookups and segments on personal fields are refused, not answered empty.
  require_denied(r.find_by_email(kPersonal[1]));
  require_denied(r.find_by_phone(kPersonal[2]));
  require_denied(r.find_by_external_ref(kPersonal[3]));
  require_denied(r.count(q("city = Xanthippeville")));
  require_denied(r.count(q("birth_date < 1990-01-01")));
  require_denied(r.count(q("birth_date = 1977-07-07")));
  // Streamed customers carry no personal field either.
  must(r.stream(q("tier = gold or not tier = gold"), [&](const Customer& s) {
    BOOST_TEST(!s.personal_available);
    BOOST_TEST(s.name.empty());
    return true;
  }));
  // No writes, no key management, no check, no rotation.
  require_denied(analyst.begin_write());
  require_denied(analyst.add_analyst_key(*test_key(11)));
  require_denied(analyst.revoke_analyst_keys());
  require_denied(analyst.change_key(*test_key(12)));
  require_denied(analyst.check());
}

BOOST_AUTO_TEST_CASE(add_refusals) {
  TempDir dir;
  build(dir.path());
  Database owner = must(Database::open(dir.path(), with_key(owner_secret())));
  auto again = owner.add_analyst_key(*analyst_secret());
  BOOST_TEST_REQUIRE(!again.has_value());
  BOOST_TEST(again.error().code() == ErrorCode::kAlreadyExists);
  auto own = owner.add_analyst_key(*owner_secret());
  BOOST_TEST_REQUIRE(!own.has_value());
  BOOST_TEST(own.error().code() == ErrorCode::kAlreadyExists);
  // A second analyst key, then both revoked at once.
  must(owner.add_analyst_key(*test_key(13)));
  BOOST_TEST(must(owner.revoke_analyst_keys()) == 2u);
  BOOST_TEST(must(owner.revoke_analyst_keys()) == 0u);
  // Plaintext: no analyst keys.
  TempDir plain;
  Database p = open_db(Mode::kPlain, plain.path());
  auto s = p.add_analyst_key(*analyst_secret());
  BOOST_TEST_REQUIRE(!s.has_value());
  BOOST_TEST(s.error().code() == ErrorCode::kFailedPrecondition);
}

BOOST_AUTO_TEST_CASE(revocation_cuts_the_analyst_off_and_keeps_the_data) {
  TempDir dir;
  const CustomerId id = build(dir.path());
  const auto before = read_all(dir.path());
  {
    Database owner = must(Database::open(dir.path(), with_key(owner_secret())));
    BOOST_TEST(must(owner.revoke_analyst_keys()) == 1u);
  }
  auto refused = Database::open(dir.path(), with_key(analyst_secret()));
  BOOST_TEST_REQUIRE(!refused.has_value());
  BOOST_TEST(refused.error().code() == ErrorCode::kAuthentication);
  // Nothing was re-encrypted: every record, posting and index entry is byte-identical.
  const auto after = read_all(dir.path());
  std::size_t same = 0, records = 0;
  for (const auto& b : before) {
    if (b.table == "meta") continue;
    ++records;
    for (const auto& a : after)
      if (a.table == b.table && a.key == b.key && a.value == b.value) {
        ++same;
        break;
      }
  }
  BOOST_TEST(records > 0u);
  BOOST_TEST(same == records);
  {
    Database owner = must(Database::open(dir.path(), with_key(owner_secret())));
    {
      auto r = must(owner.begin_read());
      BOOST_TEST(must(r.get_customer(id))->name == kPersonal[0]);
    }
    // A new analyst key works again, the old one stays out.
    must(owner.add_analyst_key(*test_key(14)));
  }
  BOOST_TEST(must(Database::open(dir.path(), with_key(test_key(14)))).info().role ==
             KeyRole::kAnalyst);
}

// The attack: the analyst unwraps the data key from its own key header (as anyone holding the
// analyst secret and the file can), then opens every sealed value in the file with it, and
// every sealed blob nested in what it opens. No personal value may appear. The same attack with
// the owner's personal key finds them all (so the attack can fail).
BOOST_AUTO_TEST_CASE(every_sealed_value_tried_with_the_analyst_key) {
  TempDir dir;
  build(dir.path());
  const auto all = read_all(dir.path());
  const auto analyst_headers = meta_value(all, "analyst_keys");
  BOOST_TEST_REQUIRE(analyst_headers.size() == crypto::KeyHeader::kSize);
  auto ah = must(crypto::KeyHeader::parse(analyst_headers));
  auto dk = must(crypto::unwrap_key(ah, *analyst_secret()));
  crypto::RecordCipher data_cipher(dk, cipher_of(all), 0);
  std::size_t attempts = 0;
  const auto opened = open_everything(all, data_cipher, &attempts);
  BOOST_TEST_MESSAGE("values tried " << attempts << ", opened with the analyst's data key "
                                     << opened.size());
  BOOST_TEST(opened.size() > 30u);  // the customers, transactions, postings, meta values
  BOOST_TEST(count_personal(opened, kPersonal) == 0u);
  // Nor in the clear anywhere in the file.
  std::string file;
  {
    std::ifstream in(dir.path() / "data.mdb", std::ios::binary);
    file.assign(std::istreambuf_iterator<char>(in), {});
  }
  for (const auto& v : kPersonal) BOOST_TEST(!contains(file, v), v);

  // Control: the owner's personal key opens the blobs and finds every value.
  auto kh = must(crypto::KeyHeader::parse(meta_value(all, "key_header")));
  auto keys = must(crypto::unwrap_owner_keys(kh, meta_value(all, "personal_key"), *owner_secret()));
  BOOST_TEST_REQUIRE(keys.personal_key.size() == crypto::kPersonalKeySize);
  crypto::RecordCipher personal_cipher(keys.personal_key, cipher_of(all), 0);
  attempts = 0;
  const auto owner_opened = open_everything(all, personal_cipher, &attempts);
  // The personal cipher sees the blobs only nested in data-key plaintexts; open those first.
  std::vector<RawValue> nested;
  for (const auto& p : opened) nested.push_back({"opened", {}, p});
  std::size_t found = 0;
  for (const auto& v : all) {
    auto plain = try_open(data_cipher, v.key, v.value);
    if (!plain) continue;
    std::vector<std::vector<std::uint8_t>> blobs;
    for (std::size_t i = 0; i + 4 <= plain->size(); ++i) {
      std::uint32_t n = (*plain)[i] | (*plain)[i + 1] << 8 | (*plain)[i + 2] << 16 |
                        static_cast<std::uint32_t>((*plain)[i + 3]) << 24;
      if (n < 2 + personal_cipher.overhead() || n > plain->size() - i - 4) continue;
      std::span<const std::uint8_t> blob(plain->data() + i + 4, n);
      if (auto p = try_open(personal_cipher, v.key, blob)) blobs.push_back(*p);
    }
    found += count_personal(blobs, kPersonal);
  }
  found += count_personal(owner_opened, kPersonal);  // postings and meta under the personal key
  BOOST_TEST(found >= kPersonal.size());
}

// Format 3 -> 4: the encrypted fixture gets its personal key, every personal field re-sealed
// under it; lookups, city/birth-date segments and the check still work for the owner. Its data
// key sealed personal fields before, so an analyst key is refused until the data key is
// rotated.
BOOST_AUTO_TEST_CASE(upgrade_of_the_v3_encrypted_fixture) {
  TempDir dir;
  fs::copy(fs::path(CUSTDB_FIXTURE_DIR) / "v3_db/encrypted", dir.path(),
           fs::copy_options::recursive);
  auto pass = KeyMaterial::from_passphrase("fixture-passphrase");
  const std::vector<std::string> personal = {"Özdemir", "unal.ozdemir@example.com",
                                             "+46701234567", "Uppsala", "card ending 4242"};
  {
    Database db = must(Database::open(dir.path(), with_key(pass)));
    BOOST_TEST(db.info().format_version == 7u);
    BOOST_TEST(db.info().role == KeyRole::kOwner);
    {
    auto r = must(db.begin_read());
    auto c = must(r.get_customer(9001));
    BOOST_TEST_REQUIRE(c.has_value());
    BOOST_TEST(c->name == "Ünal Özdemir");
    BOOST_TEST(must(r.find_by_email("unal.ozdemir@example.com")).size() == 1u);
    BOOST_TEST(must(r.find_by_phone("+46701234567")).size() == 1u);
    auto in_city = must(r.ids(q("city = Uppsala")));
    BOOST_TEST((std::find(in_city.begin(), in_city.end(), 9001) != in_city.end()));
    BOOST_TEST(must(r.count(q("birth_date >= 1800-01-01"))) > 0u);
    bool memo = false;
    for (const auto& t : must(r.transactions_of(9001))) memo = memo || contains(t.description, "4242");
    BOOST_TEST(memo);
    }
    require_clean(db);
    auto early = db.add_analyst_key(*analyst_secret());
    BOOST_TEST_REQUIRE(!early.has_value());
    BOOST_TEST(early.error().code() == ErrorCode::kFailedPrecondition, early.error().to_string());
  }
  must(rotate_data_key(dir.path(), with_key(pass)));
  {
    Database db = must(Database::open(dir.path(), with_key(pass)));
    BOOST_TEST(must(must(db.begin_read()).get_customer(9001))->name == "Ünal Özdemir");
    require_clean(db);
    must(db.add_analyst_key(*analyst_secret()));
  }
  Database analyst = must(Database::open(dir.path(), with_key(analyst_secret())));
  auto r = must(analyst.begin_read());
  auto c = must(r.get_customer(9001));
  BOOST_TEST(!c->personal_available);
  BOOST_TEST(c->name.empty());
  require_denied(r.find_by_email("unal.ozdemir@example.com"));
  require_denied(r.count(q("city = Uppsala")));
  BOOST_TEST(must(r.count(q("country = SE"))) >= 2u);
  // The file attack on the upgraded, rotated fixture.
  const auto all = read_all(dir.path());
  auto ah = must(crypto::KeyHeader::parse(meta_value(all, "analyst_keys")));
  auto dk = must(crypto::unwrap_key(ah, *analyst_secret()));
  crypto::RecordCipher data_cipher(dk, cipher_of(all), 0);
  std::size_t attempts = 0;
  const auto opened = open_everything(all, data_cipher, &attempts);
  BOOST_TEST(opened.size() > 60u);
  BOOST_TEST(count_personal(opened, personal) == 0u);
}

BOOST_AUTO_TEST_CASE(plaintext_and_owner_are_unchanged) {
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir.path());
  BOOST_TEST(db.info().role == KeyRole::kNone);
  Customer c = sample_customer(3);
  const CustomerId id = must(db.insert_customer(c));
  auto r = must(db.begin_read());
  BOOST_TEST(must(r.get_customer(id))->personal_available);
  BOOST_TEST(must(r.find_by_email(*c.email)).size() == 1u);
}

// ---- the CLI ---------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(cli_analyst_sees_unavailable) {
  TempDir dir;
  const std::string db = (dir / "db").string();
  const std::map<std::string, std::string> owner{{"CUSTDB_PASSPHRASE", "owner secret"}};
  const std::map<std::string, std::string> analyst{{"CUSTDB_PASSPHRASE", "analyst secret"}};
  auto run = [&](std::vector<std::string> args, const std::map<std::string, std::string>& env) {
    return run_cli(args, RunOptions{.env = env});
  };
  auto ok = [&](std::vector<std::string> args, const std::map<std::string, std::string>& env) {
    auto r = run(args, env);
    BOOST_TEST_REQUIRE(r.code == 0, r.describe());
    return r;
  };
  ok({"init", "--encrypt", "--db", db}, owner);
  ok({"demo", "--customers", "40", "--db", db}, owner);
  const std::string secret_file = (dir / "analyst.txt").string();
  write_bytes(secret_file, "analyst secret\n");
  ok({"rekey", "--add-analyst-key", "--new-passphrase-file", secret_file, "--db", db}, owner);
  // The owner's view of customer 1, revealed: the values to look for.
  auto shown = ok({"get", "1", "--reveal", "--json", "--db", db}, owner).out;
  auto field = [&](const std::string& name) {
    auto at = shown.find("\"" + name + "\": \"");
    BOOST_TEST_REQUIRE(at != std::string::npos, name);
    at += name.size() + 5;
    return shown.substr(at, shown.find('"', at) - at);
  };
  const std::vector<std::string> values = {field("name"), field("email"), field("phone"),
                                           field("external_ref"), field("city")};

  for (const auto& args : std::vector<std::vector<std::string>>{
           {"get", "1", "--reveal"},
           {"get", "1", "--reveal", "--json"},
           {"export", "customers", "--reveal"},
           {"segment", "tier = gold or not tier = gold", "--reveal", "--json"},
           {"segment", "tier = gold or not tier = gold", "--reveal"},
       }) {
    std::vector<std::string> a = args;
    a.insert(a.end(), {"--db", db});
    auto r = run(a, analyst);
    BOOST_TEST_INFO(args[0] + " " + args[1]);
    if (r.code != 0) {
      BOOST_TEST(r.code == 3, r.describe());  // refused (e.g. revealing needs an audit write)
    } else {
      for (const auto& v : values) BOOST_TEST(!contains(r.out, v), v);
      if (args[0] == "get") BOOST_TEST(contains(r.out, "(unavailable)"), r.out);
    }
  }
  BOOST_TEST(contains(ok({"history", "1", "--db", db}, analyst).out, "(unavailable)"));
  // Lookups are refused (exit 3).
  BOOST_TEST(run({"find", "--email", values[1], "--db", db}, analyst).code == 3);
  BOOST_TEST(run({"find", "--phone", values[2], "--db", db}, analyst).code == 3);
  // Segments and reports on non-personal fields work.
  ok({"segment", "tier = gold", "--count", "--db", db}, analyst);
  BOOST_TEST(run({"segment", "city = x", "--count", "--db", db}, analyst).code == 3);
  // Revocation: the analyst's secret no longer opens it, the owner's does.
  auto rev = ok({"rekey", "--revoke-analyst-keys", "--db", db}, owner);
  BOOST_TEST(contains(rev.out, "1 analyst key"), rev.out);
  BOOST_TEST(run({"get", "1", "--db", db}, analyst).code == 3);
  BOOST_TEST(contains(ok({"get", "1", "--reveal", "--db", db}, owner).out, values[0]));
}

// Key operations are privacy operations: each is recorded in the audit trail (no secret in it),
// and an analyst's own reveal-free audit entry is accepted though it writes nothing else.
BOOST_AUTO_TEST_CASE(key_operations_are_audited) {
  TempDir dir;
  build(dir.path());
  {
    auto owner = must(Database::open(dir.path(), with_key(owner_secret())));
    must(owner.change_key(*owner_secret()));
    must(owner.add_analyst_key(*test_key(21)));
    BOOST_TEST(must(owner.revoke_analyst_keys()) == 2u);
    auto r = must(owner.begin_read());
    std::vector<std::string> commands;
    for (const AuditEntry& e : must(r.audit_log())) commands.push_back(e.event.command);
    const std::vector<std::string> want = {"add_analyst_key", "rekey", "add_analyst_key",
                                           "revoke_analyst_keys"};
    BOOST_TEST(commands == want, boost::test_tools::per_element());
  }
  must(Database::open(dir.path(), with_key(owner_secret())).value().add_analyst_key(*analyst_secret()));
  auto analyst = must(Database::open(dir.path(), with_key(analyst_secret())));
  BOOST_TEST_REQUIRE((analyst.info().role == KeyRole::kAnalyst));
  must(analyst.record_audit_event({"segment", {}, 3, "analyst run"}));
  auto w = analyst.begin_write();  // anything else stays refused
  BOOST_TEST_REQUIRE(!w.has_value());
  BOOST_TEST((w.error().code() == ErrorCode::kPermissionDenied));
  auto r = must(analyst.begin_read());
  auto log = must(r.audit_log());
  BOOST_TEST_REQUIRE(!log.empty());
  BOOST_TEST(log.back().event.detail == "analyst run");
}

BOOST_AUTO_TEST_SUITE_END()
