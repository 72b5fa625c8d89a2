// Segment postings: which (attribute, bucket) sets a customer belongs to. The evaluator answers
// segment queries from these sets; the write path keeps them in step; the consistency check
// recomputes them. One place derives them all.
//
// How postings are stored, read and checked is src/segment/segment_index.h (the one owner of
// the key and chunk layout); this file says only which postings a customer has.
// Categorical fields (type, tier, region, tags...) have one bucket per value: exact answers.
// Ordered fields (dates, amounts, counts) have coarse buckets, so a range is answered by the
// buckets it covers fully plus candidates from the buckets it cuts, checked against records.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "custdb/types.h"

namespace custdb::index {

// On-disk format: never renumber.
enum class SegField : std::uint8_t {
  kAll = 0,  // every customer: the universe for `not`
  kType = 1, kTier = 2, kStage = 3, kRegion = 4, kCity = 5, kCountry = 6, kGender = 7,
  kIncomeBand = 8, kRisk = 9, kBirthDate = 10, kCreatedAt = 11, kConsentEmail = 12,
  kConsentSms = 13, kConsentPhone = 14, kTag = 15, kTxnCount = 16, kTotalAmount = 17,
  kFirstTxnAt = 18, kLastTxnAt = 19,
  // Customer::scores (decimals in millionths); no posting for a customer never scored.
  kPAlive = 20, kExpectedPurchases = 21, kClv = 22, kRScore = 23, kFScore = 24, kMScore = 25,
  // Format 4: consents by purpose (custdb/privacy.h).
  kConsentProfiling = 26, kConsentSharing = 27,
  // Format 5: custom attributes (segment/attribute_index.h); the bucket starts with the
  // attribute's id.
  kAttribute = 28,
  // Format 6: HoldingAggregates (custdb/types.h). aum, liabilities, products, first_product_on
  // are ordered and held in slices only (segment/slices.h: no bucket postings, is_bucketed is
  // false); kHolds has one bucket per product type name held (HoldingAggregates::types_held),
  // as kTag.
  kAum = 29, kLiabilities = 30, kProducts = 31, kFirstProductOn = 32, kHolds = 33,
};
const char* to_string(SegField f);

struct Posting {
  SegField field;
  std::string bucket;  // categorical: the value's bytes; ordered: encode_bucket(number)

  friend auto operator<=>(const Posting&, const Posting&) = default;
};

// How region and city values become their posting's bucket. kUnicode: normalize::fold (trim,
// NFC, full case folding), what format 3 writes. kFormat2: normalize::fold_v2 (trim, ASCII
// lower case), what a format-1/2 file holds: only to check such a file opened read-only.
enum class TextFold { kUnicode, kFormat2 };

// Every posting of a customer (sorted, unique).
std::vector<Posting> customer_postings(const Customer& c, TextFold fold = TextFold::kUnicode);
// The postings of the engine-kept aggregates alone (txn_count, total_amount, first/last_txn_at),
// sorted. When two versions of a customer differ only in aggregates (a transaction landing),
// these are the only postings that can differ: the write path diffs just them.
std::vector<Posting> aggregate_postings(const Customer& c);
bool same_non_aggregate_postings(const Customer& a, const Customer& b);

// ---- buckets of ordered fields --------------------------------------------------------------
bool is_bucketed(SegField f);
// Values: days since epoch (birth_date), ms since epoch (timestamps), minor units, counts,
// income band. Buckets are monotonic in the value.
std::int64_t bucket_of(SegField f, std::int64_t value);
// The values a bucket holds, inclusive. Total: a bucket outside bucket_domain(f) (only a
// damaged file has one) is treated as the nearest bucket inside it.
std::pair<std::int64_t, std::int64_t> bucket_bounds(SegField f, std::int64_t bucket);
// Smallest and largest bucket any stored value can have (for enumerating tokenized buckets).
std::pair<std::int64_t, std::int64_t> bucket_domain(SegField f);
std::string encode_bucket(std::int64_t bucket);  // 8 bytes, big-endian, sign-biased
std::int64_t decode_bucket(std::string_view bytes);

}  // namespace custdb::index
