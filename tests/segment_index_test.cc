// The segment index's pure parts on their own: bucket math of ordered fields (src/index/
// segments.h), range -> bucket enumeration, the chunk key layout and its parsing, extents,
// decode_bitmap on damaged bytes, the write path's deltas (src/segment/segment_index.h), and
// the id sets the evaluator combines (src/index/id_set.h).
#include <algorithm>
#include <random>
#include <set>

#include <lmdb.h>

#include "codec/record_codec.h"
#include "custdb/key.h"
#include "custdb/query.h"
#include "crypto/crypto.h"
#include "index/id_set.h"
#include "index/segments.h"
#include "engine/open.h"
#include "segment/segment_index.h"
#include "segment/slices.h"
#include "test_util.h"

using namespace custdb;
using index::SegField;

namespace {

const SegField kOrdered[] = {SegField::kIncomeBand, SegField::kBirthDate, SegField::kCreatedAt,
                             SegField::kTxnCount, SegField::kTotalAmount, SegField::kFirstTxnAt,
                             SegField::kLastTxnAt, SegField::kPAlive, SegField::kExpectedPurchases,
                             SegField::kClv, SegField::kRScore, SegField::kFScore, SegField::kMScore};

// The values any bucket of f can hold: [bounds(domain lo).first, bounds(domain hi).second].
std::pair<std::int64_t, std::int64_t> value_range(SegField f) {
  auto [dlo, dhi] = index::bucket_domain(f);
  return {index::bucket_bounds(f, dlo).first, index::bucket_bounds(f, dhi).second};
}

// Values to probe in f's value range: its ends, around zero, powers of two and random ones.
std::vector<std::int64_t> probes(SegField f, std::mt19937_64& r) {
  auto [lo, hi] = value_range(f);
  std::vector<std::int64_t> v = {lo, hi, lo + 1, hi - 1, -1, 0, 1, 7, 8, 9, 86'400'000};
  for (int e = 1; e < 63; ++e) v.push_back(std::int64_t{1} << e), v.push_back(-(std::int64_t{1} << e));
  for (int i = 0; i < 200; ++i) {
    auto span = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo);
    v.push_back(static_cast<std::int64_t>(static_cast<std::uint64_t>(lo) + (span == UINT64_MAX ? r() : r() % (span + 1))));
  }
  std::erase_if(v, [&](std::int64_t x) { return x < lo || x > hi; });
  return v;
}

std::vector<std::uint8_t> serialize(Roaring r, bool optimize) {
  if (optimize) r.runOptimize();
  std::vector<std::uint8_t> out(r.getSizeInBytes(true));
  r.write(reinterpret_cast<char*>(out.data()), true);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(segment_index)

// Every value lies within its bucket's bounds; buckets ascend with the value; consecutive
// buckets tile the value range without gaps or overlaps.
BOOST_AUTO_TEST_CASE(bucket_of_a_value_lies_within_its_bounds) {
  std::mt19937_64 r(7);
  for (SegField f : kOrdered) {
    BOOST_TEST_REQUIRE(index::is_bucketed(f));
    auto [dlo, dhi] = index::bucket_domain(f);
    auto values = probes(f, r);
    std::sort(values.begin(), values.end());
    std::int64_t prev = INT64_MIN;
    for (std::int64_t v : values) {
      const std::int64_t b = index::bucket_of(f, v);
      BOOST_TEST_REQUIRE((dlo <= b && b <= dhi), index::to_string(f) << " value " << v << " bucket " << b);
      auto [blo, bhi] = index::bucket_bounds(f, b);
      BOOST_TEST_REQUIRE((blo <= v && v <= bhi), index::to_string(f) << " value " << v);
      BOOST_TEST_REQUIRE(b >= prev, index::to_string(f) << " value " << v);
      prev = b;
      // The bounds themselves map back to the bucket.
      BOOST_TEST_REQUIRE(index::bucket_of(f, blo) == b, index::to_string(f));
      BOOST_TEST_REQUIRE(index::bucket_of(f, bhi) == b, index::to_string(f));
    }
    // Tiling: sample buckets across the domain (all of small domains).
    const std::int64_t step = std::max<std::int64_t>(1, (dhi - dlo) / 500);
    for (std::int64_t b = dlo; b < dhi; b += step) {
      BOOST_TEST_REQUIRE(index::bucket_bounds(f, b).second + 1 == index::bucket_bounds(f, b + 1).first,
                         index::to_string(f) << " bucket " << b);
    }
  }
}

// Negative amounts have buckets of their own (mirrored magnitudes), and -1 and 0 differ.
BOOST_AUTO_TEST_CASE(negative_amounts_and_extremes) {
  for (SegField f : {SegField::kTotalAmount, SegField::kClv}) {
    BOOST_TEST(index::bucket_of(f, -1) < index::bucket_of(f, 0));
    BOOST_TEST(index::bucket_of(f, INT64_MIN) < index::bucket_of(f, -1));
    BOOST_TEST(index::bucket_of(f, INT64_MAX) == index::bucket_domain(f).second);
    BOOST_TEST(index::bucket_of(f, INT64_MIN) == index::bucket_domain(f).first);
    BOOST_TEST(index::bucket_bounds(f, index::bucket_of(f, INT64_MIN)).first == INT64_MIN);
    BOOST_TEST(index::bucket_bounds(f, index::bucket_of(f, INT64_MAX)).second == INT64_MAX);
  }
  // Counts below zero (never stored) fall in bucket 0.
  BOOST_TEST(index::bucket_of(SegField::kTxnCount, -5) == 0);
  // A bucket read from a damaged file can be any int64: it is clamped into the domain.
  for (SegField f : kOrdered) {
    for (std::int64_t b : {INT64_MIN, INT64_MAX, std::int64_t{-1}, std::int64_t{1} << 40}) {
      auto [lo, hi] = index::bucket_bounds(f, b);
      BOOST_TEST(lo <= hi, index::to_string(f) << " bucket " << b);
    }
  }
}

BOOST_AUTO_TEST_CASE(encoded_buckets_sort_like_numbers) {
  std::mt19937_64 r(3);
  std::vector<std::int64_t> v = {INT64_MIN, INT64_MIN + 1, -2, -1, 0, 1, 2, INT64_MAX - 1, INT64_MAX};
  for (int i = 0; i < 300; ++i) v.push_back(static_cast<std::int64_t>(r()));
  for (std::int64_t a : v) {
    const std::string ea = index::encode_bucket(a);
    BOOST_TEST_REQUIRE(ea.size() == segment::kBucketBytes);
    BOOST_TEST_REQUIRE(index::decode_bucket(ea) == a);
    for (std::int64_t b : {v[0], v[3], v[4], v[8], v[9]})
      BOOST_TEST_REQUIRE(((ea < index::encode_bucket(b)) == (a < b)), a << " vs " << b);
  }
}

// A range maps to the buckets that can hold its values: ends clamped to the domain, empty
// ranges and ranges outside the domain to none, and exactly the buckets inside it are sure.
BOOST_AUTO_TEST_CASE(range_to_bucket_enumeration) {
  std::mt19937_64 r(11);
  for (SegField f : kOrdered) {
    auto [dlo, dhi] = index::bucket_domain(f);
    auto whole = segment::bucket_span(f, INT64_MIN, INT64_MAX);
    BOOST_TEST_REQUIRE(whole.has_value());
    BOOST_TEST((whole->first == dlo && whole->second == dhi), index::to_string(f));
    BOOST_TEST(!segment::bucket_span(f, 5, 4).has_value());
    BOOST_TEST(!segment::bucket_span(f, INT64_MAX, INT64_MIN).has_value());
    auto values = probes(f, r);
    for (std::size_t i = 0; i + 1 < values.size(); i += 2) {
      std::int64_t lo = std::min(values[i], values[i + 1]), hi = std::max(values[i], values[i + 1]);
      auto span = segment::bucket_span(f, lo, hi);
      BOOST_TEST_REQUIRE(span.has_value());
      BOOST_TEST_REQUIRE(span->first == index::bucket_of(f, lo));
      BOOST_TEST_REQUIRE(span->second == index::bucket_of(f, hi));
      // Inner buckets are sure; the end buckets are sure only when the range covers them.
      for (std::int64_t b = span->first + 1; b < span->second && b < span->first + 50; ++b)
        BOOST_TEST_REQUIRE(segment::bucket_within(f, b, lo, hi));
      auto [vlo, vhi] = index::bucket_bounds(f, span->first);
      BOOST_TEST_REQUIRE(segment::bucket_within(f, span->first, lo, hi) == (lo <= vlo && vhi <= hi));
      // A range of exactly one bucket's values is sure; one value short of it is not.
      BOOST_TEST_REQUIRE(segment::bucket_within(f, span->first, vlo, vhi));
      if (vlo < vhi) BOOST_TEST_REQUIRE(!segment::bucket_within(f, span->first, vlo + 1, vhi));
    }
  }
  // Outside the domain: no count is negative, no score above 5.
  BOOST_TEST(!segment::bucket_span(SegField::kTxnCount, -10, -1).has_value());
  BOOST_TEST(!segment::bucket_span(SegField::kRScore, 6, 100).has_value());
  auto edge = segment::bucket_span(SegField::kRScore, -100, 1);
  BOOST_TEST_REQUIRE(edge.has_value());
  BOOST_TEST((edge->first == 1 && edge->second == 1));
}

// ---- key layout -----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(chunk_keys_round_trip) {
  segment::SegmentKeys keys(nullptr, 1u);  // unsliced
  std::mt19937_64 r(5);
  for (int i = 0; i < 500; ++i) {
    const CustomerId id = i < 3 ? (i == 0 ? 1 : i == 1 ? 0xFFFF : 0x10000) : r() >> (r() % 64);
    // The chunk and the low bits give the id back.
    const std::uint64_t chunk = segment::chunk_of(id);
    BOOST_TEST_REQUIRE(((std::uint64_t{segment::id_set_high(chunk)} << 32 | segment::low_bits(id)) == id));
    for (const index::Posting& p :
         {index::Posting{SegField::kTag, "vip"}, index::Posting{SegField::kAll, ""},
          index::Posting{SegField::kTotalAmount, index::encode_bucket(static_cast<std::int64_t>(r()))}}) {
      const std::string prefix = keys.posting_key(p);
      const std::string key = segment::chunk_key(prefix, chunk);
      BOOST_TEST_REQUIRE(key.size() == prefix.size() + segment::kChunkSuffixBytes);
      BOOST_TEST_REQUIRE((segment::parse_chunk_key(key, prefix) == std::optional(chunk)));
    }
    // Chunk keys of one posting sort by chunk (the reader walks them in order).
    const std::string a = segment::chunk_key("p", chunk), b = segment::chunk_key("p", chunk + 1);
    BOOST_TEST_REQUIRE((chunk == UINT64_MAX || a < b));
  }
  // The plaintext posting key is [field][length][bucket].
  const std::string k = keys.posting_key({SegField::kCity, "lyon"});
  BOOST_TEST((k == std::string("\x05\x04lyon", 6)));
}

BOOST_AUTO_TEST_CASE(malformed_chunk_keys_are_rejected) {
  segment::SegmentKeys keys(nullptr, 1u);  // unsliced
  const std::string prefix = keys.posting_key({SegField::kTag, "vip"});
  const std::string key = segment::chunk_key(prefix, 3);
  BOOST_TEST(!segment::parse_chunk_key(key.substr(0, key.size() - 1), prefix));  // truncated
  BOOST_TEST(!segment::parse_chunk_key(key + "x", prefix));                       // too long
  BOOST_TEST(!segment::parse_chunk_key(segment::chunk_key(keys.posting_key({SegField::kTag, "vix"}), 3), prefix));
  BOOST_TEST(!segment::parse_chunk_key("", prefix));
  // A longer tag sharing the prefix ("vipx") is another posting, not a chunk of "vip".
  BOOST_TEST(!segment::parse_chunk_key(segment::chunk_key(keys.posting_key({SegField::kTag, "vipx"}), 3), prefix));

  // Ordered plaintext keys: [field][8][bucket][chunk].
  const SegField f = SegField::kCreatedAt;
  for (std::int64_t b : {INT64_MIN, std::int64_t{-3}, std::int64_t{0}, std::int64_t{24'300}, INT64_MAX}) {
    const std::string ok = segment::chunk_key(keys.posting_key({f, index::encode_bucket(b)}), 9);
    BOOST_TEST_REQUIRE((segment::parse_plain_bucket_key(ok, f) == std::optional(b)));
    BOOST_TEST(!segment::parse_plain_bucket_key(ok, SegField::kLastTxnAt));  // another field
    std::string bad_len = ok;
    bad_len[1] = 7;  // the bucket length byte must be 8
    BOOST_TEST(!segment::parse_plain_bucket_key(bad_len, f));
    BOOST_TEST(!segment::parse_plain_bucket_key(ok.substr(0, ok.size() - 1), f));
    BOOST_TEST(!segment::parse_plain_bucket_key(ok + '\0', f));
  }
  BOOST_TEST(!segment::parse_plain_bucket_key("", f));
  BOOST_TEST(!segment::parse_plain_bucket_key(segment::chunk_key(keys.posting_key({SegField::kTag, "12345678"}), 0), f));
}

BOOST_AUTO_TEST_CASE(extents_round_trip_and_refuse_bad_sizes) {
  for (auto e : {segment::Extent{INT64_MIN, INT64_MAX}, segment::Extent{-3, -3}, segment::Extent{0, 24'000}}) {
    const std::string bytes = segment::encode_extent(e);
    BOOST_TEST_REQUIRE(bytes.size() == 16u);
    BOOST_TEST((segment::decode_extent(bytes) == std::optional(e)));
    BOOST_TEST(!segment::decode_extent(bytes.substr(0, 15)));
    BOOST_TEST(!segment::decode_extent(bytes + "x"));
  }
  std::optional<segment::Extent> e;
  segment::widen(e, 5);
  BOOST_TEST((e == std::optional(segment::Extent{5, 5})));
  segment::widen(e, -2);
  segment::widen(e, 3);
  BOOST_TEST((e == std::optional(segment::Extent{-2, 5})));
  BOOST_TEST(segment::extent_key(SegField::kClv) == "extent.clv");
}

// decode_bitmap never crashes on damaged bytes: every truncation is refused, and any single
// byte flip is either refused or decodes to a bitmap that iterates consistently.
BOOST_AUTO_TEST_CASE(decode_bitmap_on_damaged_bytes) {
  Roaring run, array, bits;
  run.addRange(100, 3000);
  for (std::uint32_t i = 0; i < 300; ++i) array.add(i * 7);
  for (std::uint32_t i = 0; i < 20000; ++i) bits.add(i * 3);
  int refused = 0, accepted = 0;
  for (const Roaring& r : {run, array, bits})
    for (bool optimize : {false, true}) {
      const auto good = serialize(r, optimize);
      BOOST_TEST_REQUIRE(segment::decode_bitmap(good).has_value());
      for (std::size_t n = 0; n < good.size(); ++n) {
        std::vector<std::uint8_t> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
        BOOST_TEST_REQUIRE(!segment::decode_bitmap(cut).has_value(), "truncated to " << n);
      }
      auto grown = good;
      grown.push_back(0);
      BOOST_TEST(!segment::decode_bitmap(grown).has_value());
      for (std::size_t at = 0; at < std::min<std::size_t>(good.size(), 64); ++at)
        for (std::uint8_t mask : {0x01, 0x80, 0xFF}) {
          auto flipped = good;
          flipped[at] ^= mask;
          auto d = segment::decode_bitmap(flipped);
          if (!d) {
            BOOST_TEST_REQUIRE((d.error().code() == ErrorCode::kCorruption));
            ++refused;
            continue;
          }
          ++accepted;
          std::uint64_t n = 0;
          for (auto it = d->begin(); it != d->end(); ++it) ++n;
          BOOST_TEST_REQUIRE(n == d->cardinality(), "flip at " << at);
        }
    }
  BOOST_TEST(refused > 0);
  BOOST_TEST(accepted > 0);  // flips inside an array's values can leave a valid bitmap
}

// ---- the write path's deltas ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(deltas_move_a_customer_between_postings) {
  segment::SegmentKeys keys(nullptr, 1u);  // unsliced
  Customer a = test::sample_customer(1);
  a.id = (std::uint64_t{3} << 32) | 0x12345;
  auto deltas = [&](const Customer* before, const Customer* after) {
    std::vector<std::pair<std::string, bool>> out;
    segment::for_each_delta(keys, before, after, [&](const segment::Delta& d) {
      BOOST_TEST_REQUIRE(d.low == segment::low_bits(a.id));
      out.emplace_back(d.chunk_key, d.present);
    });
    return out;
  };
  // An insert adds the customer to every posting it has, in its chunk.
  auto added = deltas(nullptr, &a);
  auto postings = index::customer_postings(a);
  // A format-1 file has no postings of the format-4 consents (SegmentKeys::consent_purposes).
  std::erase_if(postings, [](const index::Posting& p) {
    return p.field == index::SegField::kConsentProfiling || p.field == index::SegField::kConsentSharing;
  });
  BOOST_TEST_REQUIRE(added.size() == postings.size());
  for (std::size_t i = 0; i < postings.size(); ++i) {
    BOOST_TEST(added[i].first == segment::chunk_key(keys.posting_key(postings[i]), segment::chunk_of(a.id)));
    BOOST_TEST(added[i].second);
  }
  // No change, no delta; a delete removes exactly what the insert added.
  BOOST_TEST(deltas(&a, &a).empty());
  auto removed = deltas(&a, nullptr);
  BOOST_TEST_REQUIRE(removed.size() == added.size());
  for (std::size_t i = 0; i < removed.size(); ++i)
    BOOST_TEST((removed[i].first == added[i].first && !removed[i].second));
  // A transaction landing moves only aggregate postings: out of the old, into the new.
  Customer b = a;
  b.aggregates.txn_count = 9;
  b.aggregates.total_amount = 123'456;
  auto moved = deltas(&a, &b);
  BOOST_TEST(moved.size() == 4u);  // txn_count and total_amount: one out, one in each
  BOOST_TEST(std::count_if(moved.begin(), moved.end(), [](auto& d) { return d.second; }) == 2);
}

// ---- the bit-sliced index ----------------------------------------------------------------------

namespace {

// The slice deltas of one change, as (field, slice) -> present.
std::map<std::pair<SegField, int>, bool> slice_deltas(const segment::SegmentKeys& keys,
                                                      const Customer* before, const Customer* after) {
  std::map<std::pair<SegField, int>, bool> out;
  segment::for_each_delta(keys, before, after, [&](const segment::Delta& d) {
    SegField f;
    int slice;
    if (!segment::is_slice_posting(*d.posting, &f, &slice)) return;
    const CustomerId id = after ? after->id : before->id;
    BOOST_TEST_REQUIRE(d.chunk_key == segment::chunk_key(keys.slice_key(f, slice), segment::chunk_of(id)));
    BOOST_TEST_REQUIRE(out.emplace(std::pair(f, slice), d.present).second);  // one delta a slice
  });
  return out;
}

}  // namespace

// Plaintext slice keys are [0x40 + field][1][slice]; every slice key (plaintext or token) is
// distinct from every other and from the field's bucket keys; the memo equals the derivation.
BOOST_AUTO_TEST_CASE(slice_keys) {
  crypto::DataKey dk(crypto::kDataKeySize);
  for (std::size_t i = 0; i < dk.size(); ++i) dk.data()[i] = static_cast<std::uint8_t>(i * 7 + 1);
  crypto::Tokenizer tok(dk);
  const crypto::Tokenizer* const tokenizers[] = {nullptr, &tok};
  for (const crypto::Tokenizer* t : tokenizers) {
    segment::SegmentKeys keys(t, detail::kFileFormat);
    std::set<std::string> seen;
    for (SegField f : segment::kSlicedFields) {
      BOOST_TEST(segment::is_sliced(f));
      for (int i = 0; i < segment::kSlicesPerField; ++i) {
        const auto p = segment::slice_posting(f, i);
        const std::string& k = keys.slice_key(f, i);
        BOOST_TEST_REQUIRE(k == keys.posting_key(p));
        BOOST_TEST_REQUIRE(seen.insert(k).second);
        SegField back;
        int slice;
        BOOST_TEST_REQUIRE(segment::is_slice_posting(p, &back, &slice));
        BOOST_TEST_REQUIRE((back == f && slice == i));
        if (!t) {
          BOOST_TEST_REQUIRE(k.size() == 3u);
          BOOST_TEST_REQUIRE(static_cast<std::uint8_t>(k[0]) == 0x40 + static_cast<int>(f));
          BOOST_TEST_REQUIRE((k[1] == 1 && static_cast<std::uint8_t>(k[2]) == i));
        } else {
          BOOST_TEST_REQUIRE(k.size() == crypto::Tokenizer::kTokenSize);
        }
      }
      auto [dlo, dhi] = index::bucket_domain(f);
      for (std::int64_t b : {dlo, dhi, (dlo + dhi) / 2, std::int64_t{0}, std::int64_t{1}})
        BOOST_TEST_REQUIRE(!seen.count(keys.posting_key({f, index::encode_bucket(b)})));
    }
    BOOST_TEST(seen.size() == segment::kSlicedFields.size() * segment::kSlicesPerField);
  }
  // Not sliced: income band and the scores are exact through their buckets; no bucket posting
  // reads as a slice.
  for (SegField f : {SegField::kIncomeBand, SegField::kRScore, SegField::kTier, SegField::kAll})
    BOOST_TEST(!segment::is_sliced(f));
  BOOST_TEST(!segment::is_slice_posting({SegField::kTotalAmount, index::encode_bucket(3)}));
  BOOST_TEST(!segment::is_slice_posting({SegField::kTier, std::string(1, '\1')}));
}

// A value's slices are the set bits of biased(v) (plus exists), at the extremes too; a change
// flips exactly the bits that differ and leaves exists alone.
BOOST_AUTO_TEST_CASE(slice_bits_of_extreme_values) {
  segment::SegmentKeys keys(nullptr, detail::kFileFormat);
  BOOST_TEST(segment::biased(INT64_MIN) == 0u);
  BOOST_TEST(segment::biased(-1) == (std::uint64_t{1} << 63) - 1);
  BOOST_TEST(segment::biased(0) == std::uint64_t{1} << 63);
  BOOST_TEST(segment::biased(INT64_MAX) == UINT64_MAX);
  const std::int64_t values[] = {INT64_MIN, INT64_MIN + 1, -(std::int64_t{1} << 53), -1, 0, 1,
                                 std::int64_t{1} << 53, 100'000, INT64_MAX - 1, INT64_MAX};
  std::mt19937_64 r(3);
  Customer a = test::sample_customer(1);
  a.id = (std::uint64_t{1} << 32) | 0x2ABCD;
  for (std::int64_t v : values) {
    BOOST_TEST_REQUIRE(segment::unbiased(segment::biased(v)) == v);
    a.aggregates.total_amount = v;
    auto added = slice_deltas(keys, nullptr, &a);
    std::map<int, bool> amount;
    for (auto [k, present] : added)
      if (k.first == SegField::kTotalAmount) amount[k.second] = present;
    const std::uint64_t u = segment::biased(v);
    BOOST_TEST_REQUIRE(amount.size() == static_cast<std::size_t>(__builtin_popcountll(u)) + 1, v);
    BOOST_TEST_REQUIRE(amount.count(segment::kExistsSlice));
    for (auto [slice, present] : amount) {
      BOOST_TEST_REQUIRE(present);
      BOOST_TEST_REQUIRE((slice == segment::kExistsSlice || ((u >> slice) & 1)));
    }
    BOOST_TEST_REQUIRE(slice_deltas(keys, &a, &a).empty());
    for (std::int64_t w : {values[r() % std::size(values)], static_cast<std::int64_t>(r())}) {
      Customer b = a;
      b.aggregates.total_amount = w;
      auto moved = slice_deltas(keys, &a, &b);
      const std::uint64_t flipped = u ^ segment::biased(w);
      BOOST_TEST_REQUIRE(moved.size() == static_cast<std::size_t>(__builtin_popcountll(flipped)));
      for (auto [k, present] : moved) {
        BOOST_TEST_REQUIRE((k.first == SegField::kTotalAmount && k.second < 64));
        BOOST_TEST_REQUIRE(((flipped >> k.second) & 1));
        BOOST_TEST_REQUIRE(present == (((segment::biased(w) >> k.second) & 1) == 1));
      }
    }
  }
  // Unsliced keys (a format-1 file read-only) emit no slice deltas.
  BOOST_TEST(slice_deltas(segment::SegmentKeys(nullptr, 1u), nullptr, &a).empty());
}

// An absent value has no slices, not even exists; gaining one adds exists and its bits,
// losing it removes them.
BOOST_AUTO_TEST_CASE(absent_values_have_no_slices) {
  segment::SegmentKeys keys(nullptr, detail::kFileFormat);
  Customer a = test::sample_customer(2);
  a.birth_date.reset();
  a.scores.reset();
  a.aggregates.first_txn_at.reset();
  a.aggregates.last_txn_at.reset();
  auto added = slice_deltas(keys, nullptr, &a);
  for (auto [k, present] : added)
    BOOST_TEST_REQUIRE((k.first == SegField::kCreatedAt || k.first == SegField::kTxnCount ||
                        k.first == SegField::kTotalAmount || k.first == SegField::kAum ||
                        k.first == SegField::kLiabilities || k.first == SegField::kProducts));
  // Format 6: first_product_on is absent without holdings; aum, liabilities and products are
  // always present (0).
  for (auto [k, present] : added) BOOST_TEST((k.first != SegField::kFirstProductOn));
  Customer b = a;
  b.birth_date = Date{std::chrono::days{-1}};  // 1969-12-31: a negative day number
  auto gained = slice_deltas(keys, &a, &b);
  const std::uint64_t u = segment::biased(-1);
  BOOST_TEST(gained.size() == static_cast<std::size_t>(__builtin_popcountll(u)) + 1);
  for (auto [k, present] : gained) BOOST_TEST_REQUIRE((k.first == SegField::kBirthDate && present));
  auto lost = slice_deltas(keys, &b, &a);
  BOOST_TEST(lost.size() == gained.size());
  for (auto [k, present] : lost) BOOST_TEST_REQUIRE((gained.count(k) && !present));
}

// The checker derives slices through the same deltas: a stored slice chunk removed, or one
// with a bit the customers do not have, is reported.
BOOST_AUTO_TEST_CASE(checker_finds_missing_and_extra_slice_bits) {
  using test::must;
  test::TempDir dir;
  {
    auto db = test::open_db(test::Mode::kPlain, dir.path());
    auto txn = must(db.begin_write());
    for (int i = 1; i <= 5; ++i) {
      Customer c = test::sample_customer(i);
      c.birth_date = Date{std::chrono::days{1000 * i}};
      must(txn.insert_customer(c));
    }
    must(txn.commit());
    test::require_clean(db);
  }
  segment::SegmentKeys keys(nullptr, detail::kFileFormat);
  codec::RecordCodec codec(nullptr);
  // Slice 0 of birth_date: days 1000..5000 are all even, so bit 0 is clear for everyone and
  // the slice is absent; slice 3 (8) is set for 1000 (0b1111101000) and others.
  const std::string absent = segment::chunk_key(keys.slice_key(SegField::kBirthDate, 0), 0);
  const std::string present = segment::chunk_key(keys.slice_key(SegField::kBirthDate, 3), 0);
  auto problems = [&](auto&& damage) {
    test::TempDir copy;
    std::filesystem::copy_file(dir.path() / "data.mdb", copy.path() / "data.mdb");
    {
      MDB_env* env;
      MDB_txn* txn;
      MDB_dbi dbi;
      BOOST_TEST_REQUIRE(mdb_env_create(&env) == 0);
      mdb_env_set_maxdbs(env, 64);
      BOOST_TEST_REQUIRE(mdb_env_open(env, copy.path().c_str(), 0, 0644) == 0);
      BOOST_TEST_REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
      BOOST_TEST_REQUIRE(mdb_dbi_open(txn, "idx.segments", 0, &dbi) == 0);
      damage(txn, dbi);
      BOOST_TEST_REQUIRE(mdb_txn_commit(txn) == 0);
      mdb_env_close(env);
    }
    auto db = test::open_db(test::Mode::kPlain, copy.path());
    return must(db.check()).problems;
  };
  auto val = [](const std::string& s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; };
  {
    auto p = problems([&](MDB_txn* txn, MDB_dbi dbi) {
      MDB_val k = val(present);
      BOOST_TEST_REQUIRE(mdb_del(txn, dbi, &k, nullptr) == 0);
    });
    BOOST_TEST_REQUIRE(p.size() == 1u);
    BOOST_TEST((p[0].kind == CheckProblem::Kind::kMissingIndexEntry && p[0].where == "idx.segments"));
  }
  {
    auto p = problems([&](MDB_txn* txn, MDB_dbi dbi) {
      MDB_val k = val(absent), v;
      BOOST_TEST_REQUIRE(mdb_get(txn, dbi, &k, &v) == MDB_NOTFOUND);
      Roaring bits;
      bits.add(segment::low_bits(1));
      auto payload = serialize(bits, false);
      std::vector<std::uint8_t> out;
      codec.wrap(codec::Table::kPostings, storage::Bytes(reinterpret_cast<const std::uint8_t*>(absent.data()), absent.size()),
                 payload, out);
      v = MDB_val{out.size(), out.data()};
      BOOST_TEST_REQUIRE(mdb_put(txn, dbi, &k, &v, 0) == 0);
    });
    BOOST_TEST_REQUIRE(p.size() == 1u);
    BOOST_TEST((p[0].kind == CheckProblem::Kind::kOrphanIndexEntry && p[0].where == "idx.segments"));
  }
}

// ---- the upgrade of format-1 files (tests/fixtures/v1_db) -----------------------------------------

// A format-1 file opened read-only stays format 1 and answers from buckets plus record checks;
// opened read-write it is upgraded in place (slices built, header 2), checks clean, and gives
// the same answers, now without reading records, equal to brute force over the records.
BOOST_DATA_TEST_CASE(format_1_files_upgrade_at_a_read_write_open, test::kModes, mode) {
  using test::must;
  const bool enc = mode == test::Mode::kEncrypted;
  test::TempDir dir;
  std::filesystem::copy_file(std::filesystem::path(CUSTDB_FIXTURE_DIR) / "v1_db" /
                                 (enc ? "encrypted" : "plaintext") / "data.mdb",
                             dir.path() / "data.mdb");
  Options o;
  if (enc) o.key = KeyMaterial::from_passphrase("fixture-passphrase");
  const SegmentOptions at{parse_date("2026-06-01").value()};
  const char* const queries[] = {
      "total_amount > 1000.00", "total_amount >= 0 and total_amount < 250.00",
      "stage = at_risk and total_amount >= 500.00", "age between 30 and 40 and region = west",
      "txn_count between 3 and 9", "last_txn_at < 2025-01-01", "recency_days <= 90",
      "tenure_days > 365", "clv > 100.00", "clv < 0", "p_alive between 0.25 and 0.75",
      "expected_purchases >= 1.5", "birth_date >= 1980-01-01", "created_at < 2025-06-01",
      "not (total_amount between 10.00 and 2000.00)", "income_band >= 5", "r_score < 3"};
  auto counts = [&](const Database& db) {
    std::vector<std::uint64_t> out;
    auto txn = must(db.begin_read());
    for (const char* q : queries) out.push_back(must(txn.count(query::parse(q).value(), at)));
    return out;
  };
  std::vector<std::uint64_t> before;
  {
    Options ro = o;
    ro.read_only = true;
    auto db = must(Database::open(dir.path(), ro));
    BOOST_TEST(db.info().format_version == 1u);
    before = counts(db);
  }
  {
    Options ro = o;
    ro.read_only = true;
    auto db = must(Database::open(dir.path(), ro));
    BOOST_TEST(db.info().format_version == 1u);  // read-only never upgrades
  }
  {
    auto db = must(Database::open(dir.path(), o));
    BOOST_TEST(db.info().format_version == 7u);
    test::require_clean(db);
    BOOST_TEST((counts(db) == before));
    auto txn = must(db.begin_read());
    std::vector<Customer> all;
    must(txn.for_each_customer([&](const Customer& c) { return all.push_back(c), true; }));
    BOOST_TEST_REQUIRE(all.size() == 80u);
    query::EvalContext ctx;
    ctx.as_of = *at.as_of;
    int nonempty = 0;
    for (std::size_t i = 0; i < std::size(queries); ++i) {
      auto q = query::parse(queries[i]).value();
      std::vector<CustomerId> want;
      for (const auto& c : all)
        if (query::matches(q, c, ctx)) want.push_back(c.id);
      BOOST_TEST_REQUIRE((must(txn.ids(q, at)) == want), queries[i]);
      nonempty += !want.empty();
      // Ranges are exact from the index: no record is read to check a candidate.
      auto plan = must(txn.explain(q, at));
      BOOST_TEST(plan.find("records read to check candidates: 0\n") != std::string::npos, plan);
    }
    BOOST_TEST(nonempty > 10);
  }
  {
    auto db = must(Database::open(dir.path(), o));  // a format-2 file opens as it is
    BOOST_TEST(db.info().format_version == 7u);
    BOOST_TEST((counts(db) == before));
  }
}

// ---- id sets ------------------------------------------------------------------------------------

// IdSet against std::set on ids spread over several high parts (ids at and above 2^32).
BOOST_AUTO_TEST_CASE(id_sets_equal_std_set) {
  std::mt19937_64 r(17);
  auto random_id = [&] {
    const std::uint64_t high = r() % 3 == 0 ? (r() % 3) : 0;
    return high << 32 | (r() % 4 == 0 ? 0xFFFFFFF0u + r() % 16 : r() % 5000);
  };
  for (int round = 0; round < 40; ++round) {
    index::IdSet a, b;
    std::set<std::uint64_t> sa, sb;
    for (int i = 0; i < 300; ++i) {
      auto x = random_id(), y = random_id();
      a.add(x), sa.insert(x);
      b.add(y), sb.insert(y);
    }
    auto as_vector = [](const index::IdSet& s) {
      std::vector<std::uint64_t> v;
      s.for_each([&](std::uint64_t id) { return v.push_back(id), true; });
      return v;
    };
    auto ref = [](auto op, const std::set<std::uint64_t>& x, const std::set<std::uint64_t>& y) {
      std::vector<std::uint64_t> out;
      op(x.begin(), x.end(), y.begin(), y.end(), std::back_inserter(out));
      return out;
    };
    using It = std::set<std::uint64_t>::const_iterator;
    using Out = std::back_insert_iterator<std::vector<std::uint64_t>>;
    BOOST_TEST_REQUIRE((as_vector(a) == std::vector<std::uint64_t>(sa.begin(), sa.end())));
    BOOST_TEST_REQUIRE(a.size() == sa.size());
    BOOST_TEST_REQUIRE((as_vector(a | b) == ref(std::set_union<It, It, Out>, sa, sb)));
    BOOST_TEST_REQUIRE((as_vector(a & b) == ref(std::set_intersection<It, It, Out>, sa, sb)));
    BOOST_TEST_REQUIRE((as_vector(a - b) == ref(std::set_difference<It, It, Out>, sa, sb)));
    BOOST_TEST_REQUIRE(a.and_size(b) == ref(std::set_intersection<It, It, Out>, sa, sb).size());
    for (int i = 0; i < 50; ++i) {
      auto x = random_id();
      BOOST_TEST_REQUIRE(a.contains(x) == (sa.count(x) == 1));
    }
    // page(after, limit): the ids above `after`, at most `limit` (0: all).
    for (int i = 0; i < 20; ++i) {
      const std::uint64_t after = i == 0 ? 0 : random_id();
      const std::size_t limit = r() % 4 == 0 ? 0 : 1 + r() % 50;
      std::vector<std::uint64_t> want;
      for (auto it = sa.upper_bound(after); it != sa.end() && (limit == 0 || want.size() < limit); ++it)
        want.push_back(*it);
      BOOST_TEST_REQUIRE((a.page(after, limit) == want), "after " << after << " limit " << limit);
    }
    // The empty set, and erasing everything.
    BOOST_TEST((a - a).empty());
    BOOST_TEST((a & index::IdSet()).size() == 0u);
  }
  // merge ORs a stored chunk into a high part.
  index::IdSet s;
  Roaring low;
  low.add(1);
  low.add(0xFFFFFFFFu);
  s.merge(7, low);
  BOOST_TEST(s.contains(std::uint64_t{7} << 32 | 1));
  BOOST_TEST(s.contains(std::uint64_t{7} << 32 | 0xFFFFFFFFu));
  BOOST_TEST(!s.contains(1));
  BOOST_TEST(s.size() == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
