// Pieces shared by the analytics modules (src/analytics). Internal.
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "custdb/analytics.h"
#include "custdb/database.h"

namespace custdb::analytics {

Status validate(const RfmOptions& options);
double unit_days(TimeUnit u);  // 1 or 7

// One customer's row from its counted purchases as (UTC day number, base-currency minor
// units), in any order (sorted and merged in place). nullopt when there are none.
std::optional<RfmRow> summarise(CustomerId id, std::vector<std::pair<std::int64_t, AmountSum>>& days,
                                Date as_of, TimeUnit unit, int currency_digits);
// Fills r/f/m_score of every row (quintiles over these rows).
void assign_scores(std::vector<RfmRow>& rows);
// rfm_summary's body.
// Customers whose profiling consent is denied are left out (custdb/privacy.h); `excluded`,
// when given, receives how many of them had counted purchases.
Result<std::vector<RfmRow>> summarise_view(const ReadView& view, const RfmOptions& options,
                                           std::uint64_t* excluded = nullptr);

}  // namespace custdb::analytics
