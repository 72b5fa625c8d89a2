// Padding of sealed segment bitmaps to size classes (docs/security.md "Segment bitmap sizes";
// segment::encode_bitmap): the arithmetic the doc states, the file showing only class sizes,
// and chunks written unpadded (before format 4) still read.
#include <set>

#include "custdb/query.h"
#include "engine/db_impl.h"
#include "segment/segment_index.h"
#include "test_util.h"
#include "util/coding.h"

namespace custdb::test {
namespace {

std::vector<std::uint8_t> encode(const Roaring& r, bool pad) {
  std::vector<std::uint8_t> out;
  segment::encode_bitmap(r, pad, out);
  return out;
}

Roaring array_of(std::uint32_t n, std::uint32_t stride = 3) {
  Roaring r;
  for (std::uint32_t i = 0; i < n; ++i) r.add(i * stride);
  r.runOptimize();
  return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(bitmap_padding)

BOOST_AUTO_TEST_CASE(classes_match_the_documented_arithmetic) {
  // Array containers: 6 + 16 + 2n bytes before padding.
  const std::pair<std::uint32_t, std::size_t> array_cases[] = {
      {1, 256},    {117, 256},  {118, 512},   {245, 512},   {246, 1024},  {501, 1024},
      {502, 2048}, {1013, 2048}, {1014, 4096}, {2037, 4096}, {2038, 8256}, {4096, 8256}};
  for (auto [n, cls] : array_cases) {
    const Roaring r = array_of(n);
    BOOST_TEST_REQUIRE(r.getSizeInBytes(true) == 16 + 2 * std::size_t{n}, "n " << n);
    BOOST_TEST(encode(r, true).size() == cls, "n " << n);
    BOOST_TEST(encode(r, false).size() == 16 + 2 * std::size_t{n});
  }
  // A bitset (n > 4096, scattered): 6 + 8208 = 8214 -> 8256.
  const Roaring dense = array_of(20000, 3);
  BOOST_TEST(dense.getSizeInBytes(true) == 8208u);
  BOOST_TEST(encode(dense, true).size() == 8256u);
  // Runs: 6 + 11 + 4r. 59 runs fit 256, 60 do not.
  for (auto [runs, cls] : {std::pair{59u, 256u}, std::pair{60u, 512u}, std::pair{1u, 256u}}) {
    Roaring r;
    for (std::uint32_t i = 0; i < runs; ++i) r.addRange(i * 100, i * 100 + 50);
    r.runOptimize();
    BOOST_TEST_REQUIRE(r.getSizeInBytes(true) == 11 + 4 * std::size_t{runs}, "runs " << runs);
    BOOST_TEST(encode(r, true).size() == cls, "runs " << runs);
  }
  // 60,000 consecutive members: one run, the smallest class.
  Roaring full;
  full.addRange(0, 60000);
  full.runOptimize();
  BOOST_TEST(encode(full, true).size() == 256u);
}

BOOST_AUTO_TEST_CASE(padded_and_unpadded_both_decode_malformed_padding_is_refused) {
  for (std::uint32_t n : {1u, 200u, 3000u, 9000u}) {
    const Roaring r = array_of(n);
    for (bool pad : {false, true}) {
      auto d = segment::decode_bitmap(encode(r, pad));
      BOOST_TEST_REQUIRE(d.has_value());
      BOOST_TEST((*d == r));
    }
  }
  const auto good = encode(array_of(10), true);
  auto nonzero = good;
  nonzero.back() = 1;
  BOOST_TEST(!segment::decode_bitmap(nonzero).has_value());
  auto shorter = good;
  shorter.pop_back();
  BOOST_TEST(!segment::decode_bitmap(shorter).has_value());
  auto longer = good;
  longer.push_back(0);
  BOOST_TEST(!segment::decode_bitmap(longer).has_value());
  auto version = good;
  version[1] = 2;
  BOOST_TEST(!segment::decode_bitmap(version).has_value());
  auto length = good;
  coding::put_le32(length.data() + 2, 0xFFFFFFF0u);
  BOOST_TEST(!segment::decode_bitmap(length).has_value());
  // A padded payload nested inside another.
  std::vector<std::uint8_t> nested(256, 0);
  nested[0] = segment::kPaddedChunkMagic;
  nested[1] = 1;
  coding::put_le32(nested.data() + 2, 20);
  nested[6] = segment::kPaddedChunkMagic;
  nested[7] = 1;
  BOOST_TEST(!segment::decode_bitmap(nested).has_value());
}

// The file: every sealed chunk's length is a class size plus the envelope, so no chunk gives
// its member count; a plaintext file is not padded.
BOOST_DATA_TEST_CASE(stored_chunks_have_class_sizes, kModes, m) {
  TempDir dir;
  auto db = open_db(m, dir.path());
  {
    auto txn = must(db.begin_write());
    for (int i = 1; i <= 700; ++i) must(txn.insert_customer(sample_customer(i)));
    must(txn.commit());
  }
  auto& impl = Database::Impl::of(db);
  auto st = must(impl.begin(false));
  std::set<std::size_t> lengths;
  std::size_t chunks = 0;
  must(storage::Walker(st->txn, impl.tables().segments, "test").all([&](storage::Bytes, storage::Bytes v) {
    lengths.insert(v.size());
    ++chunks;
    return storage::Next::go_on();
  }));
  BOOST_TEST_REQUIRE(chunks > 50u);
  if (m == Mode::kPlain) {
    BOOST_TEST(lengths.size() > 6u);  // exact sizes: many distinct lengths
    return;
  }
  const std::size_t overhead = lengths.empty() ? 0 : *lengths.begin() - 256;
  BOOST_TEST((overhead == 30u || overhead == 42u), "overhead " << overhead);
  for (std::size_t len : lengths) {
    const std::size_t payload = len - overhead;
    BOOST_TEST((payload == 256 || payload == 512 || payload == 1024 || payload == 2048 ||
                payload == 4096 || payload == 8256),
               "sealed length " << len);
  }
}

// A chunk written unpadded (as before format 4) reads, verifies, and is padded by the next write
// of it.
BOOST_AUTO_TEST_CASE(old_unpadded_chunks_still_read) {
  TempDir dir;
  auto db = open_db(Mode::kEncrypted, dir.path());
  for (int i = 1; i <= 50; ++i) must(db.insert_customer(sample_customer(i)));
  auto& impl = Database::Impl::of(db);
  std::size_t rewritten = 0;
  {
    auto st = must(impl.begin(true));
    std::vector<std::pair<std::string, std::vector<std::uint8_t>>> unpadded;
    std::vector<std::uint8_t> scratch;
    must(storage::Walker(st->txn, impl.tables().segments, "test").all([&](storage::Bytes k, storage::Bytes v) {
      // Personal postings (city, birth_date: sealed under the personal key) are left as
      // they are; the others are rewritten unpadded.
      if (segment::is_personal_chunk_key(coding::as_view(k))) return storage::Next::go_on();
      auto payload = impl.codec().unwrap(codec::Table::kPostings, k, v, scratch);
      BOOST_TEST_REQUIRE(payload.has_value());
      BOOST_TEST_REQUIRE((*payload)[0] == segment::kPaddedChunkMagic);
      auto bits = segment::decode_bitmap(*payload);
      BOOST_TEST_REQUIRE(bits.has_value());
      std::vector<std::uint8_t> plain, sealed;
      segment::encode_bitmap(*bits, false, plain);
      impl.codec().wrap(codec::Table::kPostings, k, plain, sealed);
      unpadded.emplace_back(std::string(coding::as_view(k)), std::move(sealed));
      return storage::Next::go_on();
    }));
    for (auto& [k, v] : unpadded) must(impl.put(*st, impl.tables().segments, coding::as_bytes(k), v));
    rewritten = unpadded.size();
    must(impl.commit(*st));
  }
  BOOST_TEST_REQUIRE(rewritten > 10u);
  require_clean(db);
  auto r = must(db.begin_read());
  BOOST_TEST(must(r.count(must(query::parse("region = 'east' or region = 'west'")))) == 50u);
  BOOST_TEST(must(r.count(must(query::parse("region = 'east'")))) == 25u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace custdb::test
