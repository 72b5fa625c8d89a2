// Ranking and grouped measures of a segment (Segment::rank, Segment::report and their
// ReadView shorthands), and the names of RankBy and GroupBy.
// PLACEHOLDER (issue #14, in progress): rank and report answer kUnsupported until the
// index-backed implementation lands.
#include <array>

#include "engine/db_impl.h"

namespace custdb {
namespace {

constexpr std::array<const char*, 13> kRankNames = {
    "total_amount", "txn_count", "last_txn_at", "first_txn_at", "created_at", "birth_date", "clv",
    "p_alive", "expected_purchases", "income_band", "r_score", "f_score", "m_score"};
constexpr std::array<const char*, 16> kGroupNames = {
    "tier", "region", "stage", "type", "city", "country", "gender", "risk", "income_band", "tag",
    "consent_email", "consent_sms", "consent_phone", "r_score", "f_score", "m_score"};

tl::unexpected<Error> not_yet() {
  return make_error(ErrorCode::kUnsupported, "rank and report are not implemented yet");
}

}  // namespace

const char* to_string(RankBy a) {
  auto i = static_cast<std::size_t>(a);
  return i < kRankNames.size() ? kRankNames[i] : "?";
}
std::optional<RankBy> rank_by_from_string(std::string_view name) {
  for (std::size_t i = 0; i < kRankNames.size(); ++i)
    if (name == kRankNames[i]) return static_cast<RankBy>(i);
  return std::nullopt;
}
const char* to_string(GroupBy g) {
  auto i = static_cast<std::size_t>(g);
  return i < kGroupNames.size() ? kGroupNames[i] : "?";
}
std::optional<GroupBy> group_by_from_string(std::string_view name) {
  for (std::size_t i = 0; i < kGroupNames.size(); ++i)
    if (name == kGroupNames[i]) return static_cast<GroupBy>(i);
  return std::nullopt;
}

std::optional<std::int64_t> MeasureStats::avg() const {
  if (count == 0) return std::nullopt;
  const AmountSum n = static_cast<AmountSum>(count);
  AmountSum q = sum / n, r = sum % n;  // truncates toward zero
  if (2 * (r < 0 ? -r : r) >= n) q += sum < 0 ? -1 : 1;  // half away from zero
  return static_cast<std::int64_t>(q);  // between min and max, so it fits
}

Result<std::vector<Ranked>> Segment::rank(RankBy, std::size_t) const { return not_yet(); }
Result<std::vector<ReportRow>> Segment::report(const ReportSpec&) const { return not_yet(); }

Result<std::vector<Ranked>> ReadView::rank(const query::Node& q, RankBy by, std::size_t n,
                                           const SegmentOptions& o) const {
  auto s = select(q, o);
  if (!s) return tl::unexpected(s.error());
  return s->rank(by, n);
}
Result<std::vector<ReportRow>> ReadView::report(const query::Node& q, const ReportSpec& spec,
                                                const SegmentOptions& o) const {
  auto s = select(q, o);
  if (!s) return tl::unexpected(s.error());
  return s->report(spec);
}
Result<std::vector<ReportRow>> ReadView::report_all(const ReportSpec&) const { return not_yet(); }

}  // namespace custdb
