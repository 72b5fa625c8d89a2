// Shared test helpers: temporary directories, databases in either storage mode, sample records.
#pragma once

#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <lmdb.h>

#include <filesystem>
#include <fstream>
#include <ostream>
#include <random>
#include <string>

#include "custdb/check.h"
#include "custdb/database.h"
#include "custdb/key.h"

namespace custdb {
// Lets Boost.Test print custdb's enums by name in failure messages.
template <class E>
  requires std::is_enum_v<E> && requires(E e) { to_string(e); }
std::ostream& operator<<(std::ostream& os, E e) {
  return os << to_string(e);
}
}  // namespace custdb

BOOST_TEST_DONT_PRINT_LOG_VALUE(custdb::Timestamp)
BOOST_TEST_DONT_PRINT_LOG_VALUE(custdb::Date)
BOOST_TEST_DONT_PRINT_LOG_VALUE(std::optional<custdb::Timestamp>)
BOOST_TEST_DONT_PRINT_LOG_VALUE(std::optional<custdb::Date>)
BOOST_TEST_DONT_PRINT_LOG_VALUE(std::optional<std::uint8_t>)
BOOST_TEST_DONT_PRINT_LOG_VALUE(std::optional<std::string>)

namespace custdb::test {

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Writes `bytes` to `p` exactly (binary: no line-end translation), replacing it.
inline void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out << bytes;
}

namespace fs = std::filesystem;

// A directory removed with everything in it when the object dies.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() /
            ("custdb-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& s) const { return path_ / s; }

 private:
  fs::path path_;
};

enum class Mode { kPlain, kEncrypted };
inline std::ostream& operator<<(std::ostream& os, Mode m) {
  return os << (m == Mode::kPlain ? "plaintext" : "encrypted");
}
inline const auto kModes = boost::unit_test::data::make({Mode::kPlain, Mode::kEncrypted});

// A fixed raw key: tests run many opens, and a raw key skips Argon2id.
inline std::shared_ptr<const KeyMaterial> test_key(std::uint8_t fill = 7) {
  std::vector<std::uint8_t> raw(32, fill);
  return KeyMaterial::from_raw_key(raw).value();
}

inline Options options_for(Mode m, Options o = {}) {
  if (m == Mode::kEncrypted && !o.key) o.key = test_key();
  return o;
}

// options_for(m) with Options::phone_region set (national phone forms read in `region`).
inline Options with_region(Mode m, std::string region) {
  Options o;
  o.phone_region = std::move(region);
  return options_for(m, std::move(o));
}

inline Database open_db(Mode m, const fs::path& dir, Options o = {}) {
  auto db = Database::open(dir, options_for(m, std::move(o)));
  BOOST_TEST_REQUIRE(db.has_value(), (db ? "" : db.error().to_string()));
  return std::move(*db);
}

inline Customer sample_customer(int i) {
  Customer c;
  c.external_ref = "EXT-" + std::to_string(i);
  c.name = "Customer " + std::to_string(i);
  c.email = "user" + std::to_string(i) + "@example.com";
  c.phone = "+1 555 010 " + std::to_string(1000 + i % 9000);
  c.birth_date = parse_date("1980-01-01").value() + std::chrono::days(i % 9000);
  c.gender = static_cast<Gender>(i % 4);
  c.address = {"Springfield", i % 2 ? "east" : "west", "US"};
  c.tier = static_cast<Tier>(i % 5);
  c.stage = static_cast<Stage>(i % 6);
  c.income_band = static_cast<std::uint8_t>(1 + i % 10);
  c.risk = static_cast<Risk>(i % 3);
  c.consent_email = {ConsentState::kGranted, parse_date("2024-05-01")};
  c.tags = {"vip", "newsletter"};
  return c;
}

inline Transaction sample_txn(CustomerId customer, std::int64_t amount, const char* ts) {
  Transaction t;
  t.customer_id = customer;
  t.ts = parse_timestamp(ts).value();
  t.amount = amount;
  t.currency = "USD";
  t.kind = TransactionKind::kPurchase;
  t.channel = Channel::kWeb;
  t.product = "checking";
  return t;
}

// Requires a clean consistency check, printing every problem otherwise.
inline void require_clean(const Database& db) {
  auto report = db.check();
  BOOST_TEST_REQUIRE(report.has_value(), (report ? "" : report.error().to_string()));
  for (const auto& p : report->problems)
    BOOST_TEST_MESSAGE(to_string(p.kind) << " in " << p.where << ": " << p.what);
  BOOST_TEST_REQUIRE(report->clean());
}

template <class T>
T must(Result<T> r) {
  BOOST_TEST_REQUIRE(r.has_value(), (r ? "" : r.error().to_string()));
  return std::move(*r);
}
inline void must(Status s) { BOOST_TEST_REQUIRE(s.has_value(), (s ? "" : s.error().to_string())); }

// Flips one byte (at `offset`) of the stored value of customer `id`, through LMDB directly,
// in a closed database: corruption behind the engine's back.
inline void corrupt_customer_value(const fs::path& dir, CustomerId id, std::size_t offset) {
  MDB_env* env;
  BOOST_TEST_REQUIRE(mdb_env_create(&env) == 0);
  mdb_env_set_maxdbs(env, 64);
  BOOST_TEST_REQUIRE(mdb_env_open(env, dir.c_str(), 0, 0600) == 0);
  MDB_txn* txn;
  BOOST_TEST_REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  MDB_dbi dbi;
  BOOST_TEST_REQUIRE(mdb_dbi_open(txn, "customers", 0, &dbi) == 0);
  std::uint8_t key[8];
  for (int i = 0; i < 8; ++i) key[i] = static_cast<std::uint8_t>(id >> (8 * (7 - i)));
  MDB_val k{8, key}, v;
  BOOST_TEST_REQUIRE(mdb_get(txn, dbi, &k, &v) == 0);
  std::vector<std::uint8_t> bytes(static_cast<std::uint8_t*>(v.mv_data),
                                  static_cast<std::uint8_t*>(v.mv_data) + v.mv_size);
  bytes.at(offset) ^= 0x5a;
  MDB_val nv{bytes.size(), bytes.data()};
  BOOST_TEST_REQUIRE(mdb_put(txn, dbi, &k, &nv, 0) == 0);
  BOOST_TEST_REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);
}

}  // namespace custdb::test
