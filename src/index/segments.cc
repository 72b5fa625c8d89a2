#include "index/segments.h"

#include <algorithm>
#include <cassert>

#include "util/coding.h"
#include "util/normalize.h"

namespace custdb::index {
namespace {

using namespace std::chrono;

std::int64_t month_of_days(std::int64_t days) {
  year_month_day ymd{sys_days{std::chrono::days{days}}};
  return static_cast<int>(ymd.year()) * 12 + (static_cast<unsigned>(ymd.month()) - 1);
}
std::int64_t first_day_of_month(std::int64_t m) {
  year_month_day ymd{year{static_cast<int>(m / 12)}, month{static_cast<unsigned>(m % 12 + 1)}, day{1}};
  return sys_days{ymd}.time_since_epoch().count();
}
constexpr std::int64_t kMsPerDay = 86'400'000;
std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Magnitude buckets: 1..7 exact, then 8 sub-buckets per power of two.
std::int64_t log_bucket(std::uint64_t v) {
  if (v < 8) return static_cast<std::int64_t>(v);
  int e = 63 - __builtin_clzll(v);
  return 8 + (e - 3) * 8 + static_cast<std::int64_t>((v >> (e - 3)) & 7);
}
std::pair<std::uint64_t, std::uint64_t> log_bounds(std::int64_t b) {
  if (b < 8) return {static_cast<std::uint64_t>(b), static_cast<std::uint64_t>(b)};
  int e = 3 + static_cast<int>((b - 8) / 8);
  std::uint64_t sub = static_cast<std::uint64_t>((b - 8) % 8);
  std::uint64_t lo = (8 + sub) << (e - 3);
  std::uint64_t hi = e == 63 && sub == 7 ? ~std::uint64_t{0} : ((9 + sub) << (e - 3)) - 1;
  return {lo, hi};
}
// The magnitude buckets int64 values reach: log_bucket(2^63 - 1) (exponent 62, sub-bucket 7),
// and for negative amounts log_bucket(2^63), the magnitude of INT64_MIN. Buckets beyond them
// would hold no int64 value (their bounds would not fit one).
constexpr std::int64_t kMaxLogBucket = 8 + (62 - 3) * 8 + 7;
constexpr std::int64_t kMaxNegativeLogBucket = 8 + (63 - 3) * 8;
// p_alive buckets: one per percentage point (values in millionths).
constexpr std::int64_t kPAliveStep = 10'000;

const Date kMin = Date{year{1800} / 1 / 1};
const Date kMax = Date{year{2200} / 12 / 31};

void add_text(std::vector<Posting>& out, SegField f, const std::string& v) {
  if (!v.empty()) out.push_back({f, v});
}
void add_enum(std::vector<Posting>& out, SegField f, std::uint8_t v) {
  out.push_back({f, std::string(1, static_cast<char>(v))});
}
void add_ordered(std::vector<Posting>& out, SegField f, std::int64_t v) {
  out.push_back({f, encode_bucket(bucket_of(f, v))});
}

// The postings of the engine-kept aggregates: customer_postings and aggregate_postings share it.
void add_aggregates(std::vector<Posting>& out, const Aggregates& a) {
  add_ordered(out, SegField::kTxnCount, static_cast<std::int64_t>(a.txn_count));
  add_ordered(out, SegField::kTotalAmount, a.total_amount);
  if (a.first_txn_at)
    add_ordered(out, SegField::kFirstTxnAt, a.first_txn_at->time_since_epoch().count());
  if (a.last_txn_at) add_ordered(out, SegField::kLastTxnAt, a.last_txn_at->time_since_epoch().count());
}

}  // namespace

const char* to_string(SegField f) {
  static constexpr const char* kNames[] = {
      "all", "type", "tier", "stage", "region", "city", "country", "gender", "income_band",
      "risk", "birth_date", "created_at", "consent_email", "consent_sms", "consent_phone", "tag",
      "txn_count", "total_amount", "first_txn_at", "last_txn_at", "p_alive", "expected_purchases",
      "clv", "r_score", "f_score", "m_score", "consent_profiling", "consent_sharing", "attribute",
      "aum", "liabilities", "products", "first_product_on", "holds"};
  auto i = static_cast<std::size_t>(f);
  return i < std::size(kNames) ? kNames[i] : "?";
}

std::string encode_bucket(std::int64_t bucket) {
  std::string s(8, '\0');
  coding::put_i64(reinterpret_cast<std::uint8_t*>(s.data()), bucket);
  return s;
}
std::int64_t decode_bucket(std::string_view b) {
  return b.size() == 8 ? coding::get_i64(reinterpret_cast<const std::uint8_t*>(b.data())) : 0;
}

bool is_bucketed(SegField f) {
  switch (f) {
    case SegField::kIncomeBand: case SegField::kBirthDate: case SegField::kCreatedAt:
    case SegField::kTxnCount: case SegField::kTotalAmount: case SegField::kFirstTxnAt:
    case SegField::kLastTxnAt: case SegField::kPAlive: case SegField::kExpectedPurchases:
    case SegField::kClv: case SegField::kRScore: case SegField::kFScore: case SegField::kMScore:
      return true;
    default:
      return false;
  }
}

std::int64_t bucket_of(SegField f, std::int64_t v) {
  assert(is_bucketed(f));
  switch (f) {
    case SegField::kIncomeBand: case SegField::kRScore: case SegField::kFScore:
    case SegField::kMScore:
      return v;
    case SegField::kPAlive: return floor_div(v, kPAliveStep);
    case SegField::kExpectedPurchases:
      return log_bucket(static_cast<std::uint64_t>(std::max<std::int64_t>(v, 0)));
    case SegField::kBirthDate: return month_of_days(v);
    case SegField::kCreatedAt: case SegField::kFirstTxnAt: case SegField::kLastTxnAt:
      return month_of_days(floor_div(v, kMsPerDay));
    case SegField::kTxnCount: return log_bucket(static_cast<std::uint64_t>(std::max<std::int64_t>(v, 0)));
    case SegField::kTotalAmount: case SegField::kClv:
      return v >= 0 ? log_bucket(static_cast<std::uint64_t>(v))
                    : -log_bucket(static_cast<std::uint64_t>(-(v + 1)) + 1);
    default: return 0;
  }
}

std::pair<std::int64_t, std::int64_t> bucket_bounds(SegField f, std::int64_t b) {
  assert(is_bucketed(f));
  // A bucket read from a damaged file can be any int64: clamp it into the domain first, so the
  // arithmetic below (shifts, month and millisecond products) stays defined.
  if (f != SegField::kIncomeBand && f != SegField::kRScore && f != SegField::kFScore &&
      f != SegField::kMScore) {
    auto [dlo, dhi] = bucket_domain(f);
    b = std::clamp(b, dlo, dhi);
  }
  switch (f) {
    case SegField::kIncomeBand: case SegField::kRScore: case SegField::kFScore:
    case SegField::kMScore:
      return {b, b};
    case SegField::kPAlive: return {b * kPAliveStep, b * kPAliveStep + kPAliveStep - 1};
    case SegField::kBirthDate: return {first_day_of_month(b), first_day_of_month(b + 1) - 1};
    case SegField::kCreatedAt: case SegField::kFirstTxnAt: case SegField::kLastTxnAt:
      return {first_day_of_month(b) * kMsPerDay, first_day_of_month(b + 1) * kMsPerDay - 1};
    case SegField::kTxnCount: case SegField::kExpectedPurchases: {
      auto [lo, hi] = log_bounds(b);
      return {static_cast<std::int64_t>(lo), static_cast<std::int64_t>(std::min<std::uint64_t>(hi, INT64_MAX))};
    }
    case SegField::kTotalAmount: case SegField::kClv: {
      if (b >= 0) {
        auto [lo, hi] = log_bounds(b);
        return {static_cast<std::int64_t>(lo), static_cast<std::int64_t>(std::min<std::uint64_t>(hi, INT64_MAX))};
      }
      auto [lo, hi] = log_bounds(-b);  // magnitudes of -(v+1)+1 = -v, 1 .. 2^63
      // -m for a magnitude m in 1 .. 2^63, without negating INT64_MIN.
      auto negate = [](std::uint64_t m) {
        return m >= (std::uint64_t{1} << 63) ? INT64_MIN : -static_cast<std::int64_t>(m);
      };
      return {negate(hi), negate(lo)};
    }
    default: return {0, 0};
  }
}

std::pair<std::int64_t, std::int64_t> bucket_domain(SegField f) {
  switch (f) {
    case SegField::kIncomeBand: return {1, 10};
    case SegField::kRScore: case SegField::kFScore: case SegField::kMScore: return {1, 5};
    case SegField::kPAlive: return {0, 1'000'000 / kPAliveStep};
    case SegField::kExpectedPurchases: return {0, kMaxLogBucket};
    case SegField::kClv: return {-kMaxNegativeLogBucket, kMaxLogBucket};
    case SegField::kBirthDate: case SegField::kCreatedAt: case SegField::kFirstTxnAt:
    case SegField::kLastTxnAt:
      return {month_of_days(kMin.time_since_epoch().count()),
              month_of_days(kMax.time_since_epoch().count())};
    case SegField::kTxnCount: return {0, kMaxLogBucket};
    case SegField::kTotalAmount: return {-kMaxNegativeLogBucket, kMaxLogBucket};
    default: return {0, 0};
  }
}

std::vector<Posting> customer_postings(const Customer& c, TextFold fold) {
  const auto fold_text = fold == TextFold::kUnicode ? normalize::fold : normalize::fold_v2;
  std::vector<Posting> out;
  out.reserve(24);
  out.push_back({SegField::kAll, std::string()});
  add_enum(out, SegField::kType, static_cast<std::uint8_t>(c.type));
  add_enum(out, SegField::kTier, static_cast<std::uint8_t>(c.tier));
  add_enum(out, SegField::kStage, static_cast<std::uint8_t>(c.stage));
  add_enum(out, SegField::kGender, static_cast<std::uint8_t>(c.gender));
  add_enum(out, SegField::kRisk, static_cast<std::uint8_t>(c.risk));
  add_enum(out, SegField::kConsentEmail, static_cast<std::uint8_t>(c.consent_email.state));
  add_enum(out, SegField::kConsentSms, static_cast<std::uint8_t>(c.consent_sms.state));
  add_enum(out, SegField::kConsentPhone, static_cast<std::uint8_t>(c.consent_phone.state));
  add_enum(out, SegField::kConsentProfiling, static_cast<std::uint8_t>(c.consent_profiling.state));
  add_enum(out, SegField::kConsentSharing, static_cast<std::uint8_t>(c.consent_sharing.state));
  add_text(out, SegField::kRegion, fold_text(c.address.region));
  add_text(out, SegField::kCity, fold_text(c.address.city));
  add_text(out, SegField::kCountry, c.address.country);
  for (const auto& t : c.tags) add_text(out, SegField::kTag, t);
  // Format 6: one bucket per product type held (aum and the other holding aggregates are
  // sliced only: segment/slices.h).
  for (const auto& t : c.holdings.types_held) add_text(out, SegField::kHolds, t);
  if (c.income_band) add_ordered(out, SegField::kIncomeBand, *c.income_band);
  if (c.birth_date) add_ordered(out, SegField::kBirthDate, c.birth_date->time_since_epoch().count());
  add_ordered(out, SegField::kCreatedAt, c.created_at.time_since_epoch().count());
  add_aggregates(out, c.aggregates);
  if (c.scores) {
    add_ordered(out, SegField::kPAlive, to_millionths(c.scores->p_alive));
    add_ordered(out, SegField::kExpectedPurchases, to_millionths(c.scores->expected_purchases));
    add_ordered(out, SegField::kClv, c.scores->clv);
    add_ordered(out, SegField::kRScore, c.scores->r_score);
    add_ordered(out, SegField::kFScore, c.scores->f_score);
    add_ordered(out, SegField::kMScore, c.scores->m_score);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<Posting> aggregate_postings(const Customer& c) {
  std::vector<Posting> out;
  out.reserve(4);
  add_aggregates(out, c.aggregates);
  std::sort(out.begin(), out.end());
  return out;
}

// Every input of customer_postings but the aggregates (keep in step with it).
bool same_non_aggregate_postings(const Customer& a, const Customer& b) {
  return a.type == b.type && a.tier == b.tier && a.stage == b.stage && a.gender == b.gender &&
         a.risk == b.risk && a.consent_email.state == b.consent_email.state &&
         a.consent_sms.state == b.consent_sms.state &&
         a.consent_phone.state == b.consent_phone.state &&
         a.consent_profiling.state == b.consent_profiling.state &&
         a.consent_sharing.state == b.consent_sharing.state && a.address == b.address &&
         a.tags == b.tags && a.income_band == b.income_band && a.birth_date == b.birth_date &&
         a.created_at == b.created_at && a.scores == b.scores &&
         a.holdings.types_held == b.holdings.types_held;
}

}  // namespace custdb::index
