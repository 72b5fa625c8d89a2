// Tests of src/crypto: key wrapping, record sealing, blind-index tokens, key files.
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "crypto/crypto.h"
#include "custdb/key.h"

using namespace custdb;
using namespace custdb::crypto;

namespace {

using Bytes = std::vector<std::uint8_t>;

constexpr KdfCost kFast = KdfCost::min();

Bytes bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

// The error code as an int (0 for success), so Boost.Test can print it.
template <class R>
int code(const R& r) {
  return r ? 0 : static_cast<int>(r.error().code());
}
int code(ErrorCode c) { return static_cast<int>(c); }

Bytes key_bytes(const DataKey& k) { return Bytes(k.data(), k.data() + k.size()); }

std::vector<Cipher> available_ciphers() {
  std::vector<Cipher> out{Cipher::kXChaCha20Poly1305};
  if (cipher_available(Cipher::kAes256Gcm)) out.push_back(Cipher::kAes256Gcm);
  return out;
}

DataKey random_data_key() {
  DataKey k(kDataKeySize);
  randombytes_buf(k.data(), k.size());
  return k;
}

Bytes seal_bytes(RecordCipher& rc, const Bytes& plain, const Bytes& ad) {
  Bytes out(plain.size() + rc.overhead());
  rc.seal(plain, ad, out);
  return out;
}

Result<Bytes> open_bytes(const RecordCipher& rc, const Bytes& sealed, const Bytes& ad) {
  Bytes out(sealed.size() - rc.overhead());
  if (auto s = rc.open(sealed, ad, out); !s) return tl::unexpected(s.error());
  return out;
}

// A fresh directory under the system temp dir, removed at scope exit.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("custdb_crypto_test_" + std::to_string(::getpid()) + "_" +
            std::to_string(randombytes_random()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::filesystem::path write(const std::string& name, std::string_view contents) const {
    const auto p = path / name;
    std::ofstream(p, std::ios::binary) << contents;
    return p;
  }
};

}  // namespace

// The suite name is what CTest runs (tests/CMakeLists.txt: --run_test=crypto).
BOOST_AUTO_TEST_SUITE(crypto)

BOOST_AUTO_TEST_CASE(secret_buffer_is_aligned) {
  for (std::size_t n : std::initializer_list<std::size_t>{0, 1, 15, 17, 32, 33, 512, 2048}) {
    SecretBuffer b(n);
    BOOST_TEST(b.size() == n);
    BOOST_TEST(reinterpret_cast<std::uintptr_t>(b.data()) % 16 == 0u);
  }
  SecretBuffer a(32);
  const std::uint8_t* p = a.data();
  SecretBuffer moved(std::move(a));
  BOOST_TEST(moved.data() == p);
  BOOST_TEST(a.data() == nullptr);
}

BOOST_AUTO_TEST_CASE(preferred_cipher_is_available) {
  BOOST_TEST(cipher_available(preferred_cipher()));
  BOOST_TEST(cipher_available(Cipher::kXChaCha20Poly1305));
  BOOST_TEST(RecordCipher::overhead(Cipher::kAes256Gcm) == 28u);
  BOOST_TEST(RecordCipher::overhead(Cipher::kXChaCha20Poly1305) == 40u);
}

BOOST_AUTO_TEST_CASE(seal_open_round_trip) {
  const DataKey key = random_data_key();
  for (Cipher c : available_ciphers()) {
    RecordCipher rc(key, c, 7);
    for (const Bytes& plain :
         {Bytes{}, bytes("x"), bytes("a customer record"), Bytes(5000, 0xab)}) {
      const Bytes ad = bytes("customers/42");
      const Bytes sealed = seal_bytes(rc, plain, ad);
      BOOST_TEST(sealed.size() == plain.size() + RecordCipher::overhead(c));
      auto opened = open_bytes(rc, sealed, ad);
      BOOST_TEST_REQUIRE(code(opened) == 0);
      BOOST_TEST(*opened == plain);
    }
  }
}

BOOST_AUTO_TEST_CASE(tampering_is_corruption) {
  const DataKey key = random_data_key();
  for (Cipher c : available_ciphers()) {
    RecordCipher rc(key, c, 1);
    const Bytes ad = bytes("customers/42");
    const Bytes sealed = seal_bytes(rc, bytes("hello, world"), ad);
    const std::size_t nonce = RecordCipher::nonce_size(c);
    // First and last nonce byte, a ciphertext byte, the last tag byte.
    for (std::size_t i : {std::size_t{0}, nonce - 1, nonce + 3, sealed.size() - 1}) {
      Bytes bad = sealed;
      bad[i] ^= 0x01;
      Bytes out(bad.size() - rc.overhead(), 0x55);
      auto s = rc.open(bad, ad, out);
      BOOST_TEST(code(s) == code(ErrorCode::kCorruption), "byte " << i);
      BOOST_TEST(out == Bytes(out.size(), 0));  // no unauthenticated plaintext escapes
    }
    // Wrong associated data: another key, another table.
    BOOST_TEST(code(open_bytes(rc, sealed, bytes("customers/43"))) == code(ErrorCode::kCorruption));
    BOOST_TEST(code(open_bytes(rc, sealed, bytes("transactions/42"))) ==
               code(ErrorCode::kCorruption));
    BOOST_TEST(code(open_bytes(rc, sealed, Bytes{})) == code(ErrorCode::kCorruption));
    // Truncated below the overhead.
    Bytes none;
    BOOST_TEST(code(rc.open(Bytes(rc.overhead() - 1), ad, none)) == code(ErrorCode::kCorruption));
    // Another data key.
    RecordCipher other(random_data_key(), c, 1);
    BOOST_TEST(code(open_bytes(other, sealed, ad)) == code(ErrorCode::kCorruption));
  }
}

BOOST_AUTO_TEST_CASE(nonces_embed_epoch_and_counter) {
  const DataKey key = random_data_key();
  for (Cipher c : available_ciphers()) {
    const std::uint32_t epoch = 0x01020304;
    RecordCipher rc(key, c, epoch);
    const Bytes ad;
    Bytes first_random;
    for (std::uint64_t i = 0; i < 3; ++i) {
      const Bytes s = seal_bytes(rc, bytes("same"), ad);
      BOOST_TEST((Bytes(s.begin(), s.begin() + 4) == Bytes{1, 2, 3, 4}));
      if (c == Cipher::kAes256Gcm) {
        // epoch || r || counter (u32): r stays put within a generation of 2^32 seals.
        Bytes counter(4, 0);
        counter[3] = static_cast<std::uint8_t>(i);
        BOOST_TEST((Bytes(s.begin() + 8, s.begin() + 12) == counter));
        Bytes r(s.begin() + 4, s.begin() + 8);
        if (i == 0) first_random = r;
        BOOST_TEST((r == first_random));
      } else {
        Bytes counter(8, 0);
        counter[7] = static_cast<std::uint8_t>(i);
        BOOST_TEST((Bytes(s.begin() + 4, s.begin() + 12) == counter));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_replayed_epoch_still_gets_fresh_nonces) {
  // A restored backup hands out an epoch that was used before: the per-instance random part
  // must keep the two instances' nonces apart.
  const DataKey key = random_data_key();
  for (Cipher c : available_ciphers()) {
    RecordCipher a(key, c, 7), b(key, c, 7);
    const std::size_t n = RecordCipher::nonce_size(c);
    const Bytes sa = seal_bytes(a, bytes("x"), {}), sb = seal_bytes(b, bytes("x"), {});
    BOOST_TEST((Bytes(sa.begin(), sa.begin() + n) != Bytes(sb.begin(), sb.begin() + n)));
  }
}

BOOST_AUTO_TEST_CASE(nonces_never_repeat_across_epochs) {
  const DataKey key = random_data_key();
  for (Cipher c : available_ciphers()) {
    RecordCipher a(key, c, 1);
    RecordCipher b(key, c, 2);
    const std::size_t n = RecordCipher::nonce_size(c);
    std::set<Bytes> nonces;
    for (int i = 0; i < 1000; ++i) {
      for (RecordCipher* rc : {&a, &b}) {
        const Bytes s = seal_bytes(*rc, bytes("x"), {});
        nonces.insert(Bytes(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(n)));
      }
    }
    BOOST_TEST(nonces.size() == 2000u);
    // Records of any epoch open with any instance under the same key.
    const Bytes s = seal_bytes(a, bytes("old epoch"), bytes("ad"));
    auto opened = open_bytes(b, s, bytes("ad"));
    BOOST_TEST_REQUIRE(code(opened) == 0);
    BOOST_TEST(*opened == bytes("old epoch"));
  }
}

BOOST_AUTO_TEST_CASE(concurrent_seals_get_distinct_nonces) {
  RecordCipher rc(random_data_key(), preferred_cipher(), 9);
  constexpr int kThreads = 4, kPerThread = 1000;
  std::vector<std::vector<Bytes>> nonces(kThreads);
  std::vector<std::thread> threads;
  for (auto& mine : nonces) {
    threads.emplace_back([&rc, &mine] {
      for (int i = 0; i < kPerThread; ++i) {
        const Bytes s = seal_bytes(rc, bytes("x"), {});
        mine.emplace_back(s.begin(), s.begin() + 12);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::set<Bytes> all;
  for (const auto& mine : nonces) all.insert(mine.begin(), mine.end());
  BOOST_TEST(all.size() == std::size_t{kThreads * kPerThread});
}

BOOST_AUTO_TEST_CASE(unwrap_with_right_and_wrong_passphrase) {
  auto pass = KeyMaterial::from_passphrase("correct horse");
  auto created = create_key(*pass, Cipher::kXChaCha20Poly1305, kFast);
  BOOST_TEST_REQUIRE(code(created) == 0);
  auto& [header, data_key] = *created;
  BOOST_TEST((header.source == KeySource::kPassphrase));
  BOOST_TEST(header.opslimit == kFast.opslimit);
  BOOST_TEST(header.memlimit == kFast.memlimit);

  auto unwrapped = unwrap_key(header, *pass);
  BOOST_TEST_REQUIRE(code(unwrapped) == 0);
  BOOST_TEST(key_bytes(*unwrapped) == key_bytes(data_key));

  auto wrong = unwrap_key(header, *KeyMaterial::from_passphrase("correct horsf"));
  BOOST_TEST(code(wrong) == code(ErrorCode::kAuthentication));
}

BOOST_AUTO_TEST_CASE(key_kind_mismatch_is_authentication) {
  const Bytes raw(32, 0x11);
  auto raw_key = KeyMaterial::from_raw_key(raw);
  BOOST_TEST_REQUIRE(code(raw_key) == 0);
  BOOST_TEST(!(*raw_key)->is_passphrase());
  auto pass = KeyMaterial::from_passphrase("secret");
  BOOST_TEST(pass->is_passphrase());

  auto by_raw = create_key(**raw_key, Cipher::kXChaCha20Poly1305, kFast);
  BOOST_TEST_REQUIRE(code(by_raw) == 0);
  BOOST_TEST(by_raw->first.opslimit == 0u);
  BOOST_TEST(code(unwrap_key(by_raw->first, *pass)) == code(ErrorCode::kAuthentication));
  BOOST_TEST(code(unwrap_key(by_raw->first, **raw_key)) == 0);
  auto other_raw = KeyMaterial::from_raw_key(Bytes(32, 0x12));
  BOOST_TEST(code(unwrap_key(by_raw->first, **other_raw)) == code(ErrorCode::kAuthentication));

  auto by_pass = create_key(*pass, Cipher::kXChaCha20Poly1305, kFast);
  BOOST_TEST_REQUIRE(code(by_pass) == 0);
  BOOST_TEST(code(unwrap_key(by_pass->first, **raw_key)) == code(ErrorCode::kAuthentication));
}

BOOST_AUTO_TEST_CASE(bad_inputs) {
  BOOST_TEST(code(KeyMaterial::from_raw_key(Bytes(31))) == code(ErrorCode::kInvalidArgument));
  BOOST_TEST(code(KeyMaterial::from_raw_key(Bytes(33))) == code(ErrorCode::kInvalidArgument));
  auto empty = KeyMaterial::from_passphrase("");
  BOOST_TEST(code(create_key(*empty, Cipher::kXChaCha20Poly1305, kFast)) ==
             code(ErrorCode::kInvalidArgument));
  BOOST_TEST(code(create_key(*KeyMaterial::from_passphrase("p"), Cipher::kXChaCha20Poly1305,
                             KdfCost{0, kFast.memlimit})) == code(ErrorCode::kInvalidArgument));
}

BOOST_AUTO_TEST_CASE(rewrap_changes_passphrase_keeps_data_key) {
  auto old_pass = KeyMaterial::from_passphrase("old passphrase");
  auto new_pass = KeyMaterial::from_passphrase("new passphrase");
  auto created = create_key(*old_pass, preferred_cipher(), kFast);
  BOOST_TEST_REQUIRE(code(created) == 0);
  const KeyHeader& old_header = created->first;

  auto rewrapped = rewrap_key(old_header, created->second, *new_pass, kFast);
  BOOST_TEST_REQUIRE(code(rewrapped) == 0);
  BOOST_TEST((rewrapped->cipher == old_header.cipher));
  BOOST_TEST(rewrapped->salt != old_header.salt);
  BOOST_TEST(rewrapped->wrap_nonce != old_header.wrap_nonce);

  auto unwrapped = unwrap_key(*rewrapped, *new_pass);
  BOOST_TEST_REQUIRE(code(unwrapped) == 0);
  BOOST_TEST(key_bytes(*unwrapped) == key_bytes(created->second));
  BOOST_TEST(code(unwrap_key(*rewrapped, *old_pass)) == code(ErrorCode::kAuthentication));

  // Passphrase to raw key is a rewrap too.
  auto raw = KeyMaterial::from_raw_key(Bytes(32, 0x42));
  auto to_raw = rewrap_key(*rewrapped, created->second, **raw, kFast);
  BOOST_TEST_REQUIRE(code(to_raw) == 0);
  BOOST_TEST((to_raw->source == KeySource::kRawKey));
  auto by_raw = unwrap_key(*to_raw, **raw);
  BOOST_TEST_REQUIRE(code(by_raw) == 0);
  BOOST_TEST(key_bytes(*by_raw) == key_bytes(created->second));
}

BOOST_AUTO_TEST_CASE(header_round_trip_and_binding) {
  auto pass = KeyMaterial::from_passphrase("pw");
  auto created = create_key(*pass, Cipher::kXChaCha20Poly1305, kFast);
  BOOST_TEST_REQUIRE(code(created) == 0);
  const KeyHeader& h = created->first;
  const Bytes serialized = h.serialize();
  BOOST_TEST(serialized.size() == KeyHeader::kSize);
  BOOST_TEST(serialized[0] == KeyHeader::kVersion);
  auto parsed = KeyHeader::parse(serialized);
  BOOST_TEST_REQUIRE(code(parsed) == 0);
  BOOST_TEST((*parsed == h));

  // Every byte of the header is covered: a flip either fails parse or fails unwrap.
  const std::size_t probes[] = {1, 2, 3, 11, 19, 34, 35, 58, 59, 106};
  for (std::size_t i : probes) {
    Bytes bad = serialized;
    bad[i] ^= 0x01;  // cipher 2->3 and source 1->0 fail parse; opslimit 1->0 too
    auto p = KeyHeader::parse(bad);
    if (!p) {
      BOOST_TEST(code(p) == code(ErrorCode::kCorruption), "byte " << i);
      continue;
    }
    BOOST_TEST(code(unwrap_key(*p, *pass)) == code(ErrorCode::kAuthentication), "byte " << i);
  }
  // The cipher does not enter the KEK: only the associated data catches a swapped cipher.
  auto raw = KeyMaterial::from_raw_key(Bytes(32, 7));
  auto by_raw = create_key(**raw, Cipher::kXChaCha20Poly1305, kFast);
  BOOST_TEST_REQUIRE(code(by_raw) == 0);
  Bytes swapped = by_raw->first.serialize();
  swapped[1] = static_cast<std::uint8_t>(Cipher::kAes256Gcm);
  auto p = KeyHeader::parse(swapped);
  BOOST_TEST_REQUIRE(code(p) == 0);
  BOOST_TEST(code(unwrap_key(*p, **raw)) == code(ErrorCode::kAuthentication));
}

BOOST_AUTO_TEST_CASE(header_parse_rejects_bad_bytes) {
  auto created = create_key(*KeyMaterial::from_passphrase("pw"), Cipher::kXChaCha20Poly1305, kFast);
  BOOST_TEST_REQUIRE(code(created) == 0);
  const Bytes good = created->first.serialize();
  const int corruption = code(ErrorCode::kCorruption);
  BOOST_TEST(code(KeyHeader::parse({})) == corruption);
  BOOST_TEST(code(KeyHeader::parse(std::span(good).first(good.size() - 1))) == corruption);
  Bytes longer = good;
  longer.push_back(0);
  BOOST_TEST(code(KeyHeader::parse(longer)) == corruption);
  for (auto [index, value] :
       std::initializer_list<std::pair<int, int>>{{0, 2}, {0, 0}, {1, 0}, {1, 3}, {2, 0}, {2, 3}}) {
    Bytes bad = good;
    bad[static_cast<std::size_t>(index)] = static_cast<std::uint8_t>(value);
    BOOST_TEST(code(KeyHeader::parse(bad)) == corruption, "byte " << index << " = " << value);
  }
  Bytes huge_mem = good;
  huge_mem[18] = 0xff;  // memlimit's top byte
  BOOST_TEST(code(KeyHeader::parse(huge_mem)) == corruption);
}

BOOST_AUTO_TEST_CASE(tokens) {
  const DataKey k1 = random_data_key();
  const DataKey k2 = random_data_key();
  const Tokenizer t1(k1), t1_again(k1), t2(k2);
  const Bytes alice = bytes("alice@example.com");
  const Bytes bob = bytes("bob@example.com");
  BOOST_TEST(t1.token(3, alice) == t1.token(3, alice));
  BOOST_TEST(t1.token(3, alice) == t1_again.token(3, alice));
  BOOST_TEST(t1.token(3, alice) != t1.token(3, bob));
  BOOST_TEST(t1.token(3, alice) != t1.token(4, alice));
  BOOST_TEST(t1.token(3, alice) != t2.token(3, alice));
  BOOST_TEST(t1.token(0, Bytes{}) != t1.token(63, Bytes{}));
  BOOST_CHECK_THROW(t1.token(Tokenizer::kMaxFields, alice), std::out_of_range);
}

BOOST_AUTO_TEST_CASE(key_files) {
  TempDir dir;
  const std::string hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1F";
  Bytes expected(32);
  for (int i = 0; i < 32; ++i) expected[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i);

  auto k = KeyMaterial::from_file(dir.write("hex", hex + "\n"), true);
  BOOST_TEST_REQUIRE(code(k) == 0);
  BOOST_TEST(!(*k)->is_passphrase());
  BOOST_TEST((Bytes(secret_bytes(**k).begin(), secret_bytes(**k).end()) == expected));
  k = KeyMaterial::from_file(dir.write("hex_crlf", hex + "\r\n"), true);
  BOOST_TEST_REQUIRE(code(k) == 0);
  BOOST_TEST((Bytes(secret_bytes(**k).begin(), secret_bytes(**k).end()) == expected));
  k = KeyMaterial::from_file(dir.write("hex_bare", hex), true);
  BOOST_TEST_REQUIRE(code(k) == 0);
  k = KeyMaterial::from_file(dir.write("bin", std::string(expected.begin(), expected.end())), true);
  BOOST_TEST_REQUIRE(code(k) == 0);
  BOOST_TEST((Bytes(secret_bytes(**k).begin(), secret_bytes(**k).end()) == expected));
  const int invalid = code(ErrorCode::kInvalidArgument);
  BOOST_TEST(code(KeyMaterial::from_file(dir.write("bad_hex", std::string(63, 'a') + "g"), true)) ==
             invalid);
  BOOST_TEST(code(KeyMaterial::from_file(dir.write("short", std::string(31, 'a')), true)) ==
             invalid);
  BOOST_TEST(code(KeyMaterial::from_file(dir.write("two_nl", hex + "\n\n"), true)) == invalid);

  auto p = KeyMaterial::from_file(dir.write("pass", "my passphrase\n"), false);
  BOOST_TEST_REQUIRE(code(p) == 0);
  BOOST_TEST((*p)->is_passphrase());
  BOOST_TEST((Bytes(secret_bytes(**p).begin(), secret_bytes(**p).end()) == bytes("my passphrase")));
  p = KeyMaterial::from_file(dir.write("pass_crlf", "pw \r\n"), false);
  BOOST_TEST_REQUIRE(code(p) == 0);
  BOOST_TEST((Bytes(secret_bytes(**p).begin(), secret_bytes(**p).end()) == bytes("pw ")));
  p = KeyMaterial::from_file(dir.write("pass_two_nl", "pw\n\n"), false);
  BOOST_TEST_REQUIRE(code(p) == 0);
  BOOST_TEST((Bytes(secret_bytes(**p).begin(), secret_bytes(**p).end()) == bytes("pw\n")));
  BOOST_TEST(code(KeyMaterial::from_file(dir.write("empty", ""), false)) == invalid);
  BOOST_TEST(code(KeyMaterial::from_file(dir.write("just_nl", "\n"), false)) == invalid);

  // A passphrase from a file opens what the same passphrase created.
  auto created =
      create_key(*KeyMaterial::from_passphrase("my passphrase"), Cipher::kXChaCha20Poly1305, kFast);
  BOOST_TEST_REQUIRE(code(created) == 0);
  BOOST_TEST(code(unwrap_key(created->first, **KeyMaterial::from_file(dir.path / "pass", false))) ==
             0);

  BOOST_TEST(code(KeyMaterial::from_file(dir.write("huge", std::string(64 * 1024 + 1, 'a')),
                                         false)) == invalid);
  auto piped = KeyMaterial::from_file("/dev/null", false);  // not a regular file: still read
  BOOST_TEST(code(piped) == invalid);

  const auto missing = dir.path / "missing";
  auto m = KeyMaterial::from_file(missing, false);
  BOOST_TEST_REQUIRE(code(m) == code(ErrorCode::kIOError));
  BOOST_TEST(m.error().message().find(missing.string()) != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
