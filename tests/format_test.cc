// Schema evolution: records written by format 1 (tests/fixtures/records_v1.fbs, frozen) must
// read with the current schema forever. The fixture bytes are committed; regenerate them only
// for a new format version (CUSTDB_WRITE_FIXTURES=1), never to make this test pass.
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "codec/record_codec.h"
#include "storage/lmdb.h"
#include "util/coding.h"
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;

namespace {

const fs::path kFixtures = CUSTDB_FIXTURE_DIR;

Customer fixture_customer() {
  Customer c;
  c.id = 42;
  c.external_ref = "CRM-0042";
  c.type = CustomerType::kCorporate;
  c.name = "Zoë Müller GmbH";
  c.email = "accounts@mueller.example";
  c.phone = "+4930123456";
  c.birth_date = parse_date("1961-07-14");
  c.gender = Gender::kOther;
  c.address = {"Berlin", "brandenburg", "DE"};
  c.tier = Tier::kPlatinum;
  c.stage = Stage::kLoyal;
  c.income_band = 9;
  c.risk = Risk::kMedium;
  c.consent_email = {ConsentState::kGranted, parse_date("2020-02-29")};
  c.consent_sms = {ConsentState::kDenied, parse_date("2021-01-01")};
  c.tags = {"b2b", "key-account"};
  c.created_at = parse_timestamp("2019-03-01T09:30:00Z").value();
  c.updated_at = parse_timestamp("2025-11-02T17:45:12.250Z").value();
  c.aggregates = {17, 123456789, parse_timestamp("2019-03-02T10:00:00Z"),
                  parse_timestamp("2025-10-31T23:59:59Z")};
  return c;
}

Transaction fixture_transaction() {
  Transaction t;
  t.id = 7001;
  t.customer_id = 42;
  t.ts = parse_timestamp("2025-10-31T23:59:59Z").value();
  t.amount = -12550;
  t.currency = "EUR";
  t.base_amount = -13700;
  t.kind = TransactionKind::kLoan;
  t.channel = Channel::kBranch;
  t.product = "term-loan";
  t.description = "instalment 12/36";
  return t;
}

std::string to_hex(const std::vector<std::uint8_t>& b) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < b.size(); ++i) {
    s += kHex[b[i] >> 4];
    s += kHex[b[i] & 15];
    if (i % 32 == 31) s += '\n';
  }
  return s + "\n";
}

std::vector<std::uint8_t> read_hex(const fs::path& p) {
  std::ifstream in(p);
  BOOST_TEST_REQUIRE(in.good(), "missing fixture " << p);
  std::vector<std::uint8_t> out;
  std::string hex((std::istreambuf_iterator<char>(in)), {});
  int hi = -1;
  for (char ch : hex) {
    int v = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
    if (v < 0) continue;
    if (hi < 0) hi = v;
    else out.push_back(static_cast<std::uint8_t>(hi * 16 + v)), hi = -1;
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(format)

BOOST_AUTO_TEST_CASE(v1_records_read_with_current_schema) {
  codec::RecordCodec codec(nullptr);
  coding::IdKey ckey(42), tkey(7001);
  if (std::getenv("CUSTDB_WRITE_FIXTURES")) {
    std::vector<std::uint8_t> bytes;
    codec.encode(ckey.span(), fixture_customer(), Schema{}, bytes);
    std::ofstream(kFixtures / "customer_v1.hex") << to_hex(bytes);
    codec.encode(tkey.span(), fixture_transaction(), Schema{}, bytes);
    std::ofstream(kFixtures / "transaction_v1.hex") << to_hex(bytes);
  }
  auto c = codec.decode_customer(ckey.span(), read_hex(kFixtures / "customer_v1.hex"), Schema{});
  BOOST_TEST_REQUIRE(c.has_value(), (c ? "" : c.error().to_string()));
  BOOST_TEST((*c == fixture_customer()));
  auto t = codec.decode_transaction(tkey.span(), read_hex(kFixtures / "transaction_v1.hex"), Schema{});
  BOOST_TEST_REQUIRE(t.has_value(), (t ? "" : t.error().to_string()));
  BOOST_TEST((*t == fixture_transaction()));
}

BOOST_AUTO_TEST_CASE(fixture_under_another_key_or_flipped_is_corruption) {
  codec::RecordCodec codec(nullptr);
  auto bytes = read_hex(kFixtures / "customer_v1.hex");
  coding::IdKey other(43);
  auto moved = codec.decode_customer(other.span(), bytes, Schema{});
  BOOST_TEST_REQUIRE(!moved.has_value());
  BOOST_TEST((moved.error().code() == ErrorCode::kCorruption));
  for (std::size_t i = 0; i < bytes.size(); i += 7) {
    auto flipped = bytes;
    flipped[i] ^= 0x01;
    coding::IdKey key(42);
    auto r = codec.decode_customer(key.span(), flipped, Schema{});
    BOOST_TEST_REQUIRE(!r.has_value(), "byte " << i);
    BOOST_TEST((r.error().code() == ErrorCode::kCorruption));
  }
}

BOOST_AUTO_TEST_CASE(garbage_is_corruption_not_a_crash) {
  codec::RecordCodec codec(nullptr);
  coding::IdKey key(1);
  std::mt19937 rng(1);
  for (int n = 0; n < 2000; ++n) {
    std::vector<std::uint8_t> junk(rng() % 80);
    for (auto& b : junk) b = static_cast<std::uint8_t>(rng());
    if (junk.size() >= 2 && n % 2) junk[0] = 1, junk[1] = 0;  // a plausible envelope
    auto r = codec.decode_customer(key.span(), junk, Schema{});
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST_REQUIRE((r.error().code() == ErrorCode::kCorruption));
  }
}

BOOST_AUTO_TEST_SUITE_END()
