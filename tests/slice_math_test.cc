// Aggregates over bit slices (src/segment/slice_math.h) against brute force over the values:
// random values of several shapes (small domains with many ties, negatives, the int64 limits,
// absent values), ids on both sides of 2^32, random groups. Pure: no database.
#include <algorithm>
#include <map>
#include <random>

#include "segment/slice_math.h"
#include "test_util.h"

using namespace custdb;
using index::IdSet;

namespace {

// Slices built from (id, value) pairs the way the segment index stores them.
struct Built {
  std::array<IdSet, 64> bit;
  IdSet exists;
  segment::Slices slices() const {
    segment::Slices s;
    for (int i = 0; i < 64; ++i) s.bit[static_cast<std::size_t>(i)] = &bit[static_cast<std::size_t>(i)];
    s.exists = &exists;
    return s;
  }
};
Built build(const std::map<CustomerId, std::int64_t>& values) {
  Built b;
  for (auto [id, v] : values) {
    b.exists.add(id);
    const std::uint64_t u = segment::biased(v);
    for (int i = 0; i < 64; ++i)
      if (u >> i & 1) b.bit[static_cast<std::size_t>(i)].add(id);
  }
  return b;
}

std::int64_t draw(std::mt19937_64& r, int shape) {
  switch (shape) {
    case 0: return static_cast<std::int64_t>(r() % 5) - 2;  // many ties around zero
    case 1: return static_cast<std::int64_t>(r());          // anything
    case 2: {  // the int64 limits and their neighbours
      const std::int64_t edge[] = {INT64_MIN, INT64_MIN + 1, INT64_MAX, INT64_MAX - 1, 0, -1};
      return edge[r() % 6];
    }
    default: return static_cast<std::int64_t>(r() % 2'000'000) - 1'000'000;
  }
}

BOOST_AUTO_TEST_SUITE(slice_math)

BOOST_AUTO_TEST_CASE(stats_and_top_equal_brute_force) {
  std::mt19937_64 r(14);
  for (int round = 0; round < 120; ++round) {
    const int shape = round % 4;
    const std::size_t n_ids = 1 + r() % 400;
    std::map<CustomerId, std::int64_t> values;  // customers with a value
    IdSet group;
    std::vector<CustomerId> all;
    for (std::size_t k = 0; k < n_ids; ++k) {
      // Ids near 0, near 2^32 (two IdSet parts) and spread.
      const CustomerId base[] = {1, (CustomerId{1} << 32) - 100, CustomerId{1} << 40};
      CustomerId id = base[r() % 3] + r() % 1000;
      all.push_back(id);
      if (r() % 5) values[id] = draw(r, shape);  // one in five has none
      if (r() % 3) group.add(id);
    }
    if (round % 10 == 0) group = IdSet();  // an empty group
    const Built b = build(values);
    const auto s = b.slices();
    const std::string what = "round " + std::to_string(round);

    MeasureStats want;
    std::vector<Ranked> ranked;
    for (auto [id, v] : values)
      if (group.contains(id)) segment::accumulate(want, v), ranked.push_back({id, v});
    std::sort(ranked.begin(), ranked.end(), [](const Ranked& a, const Ranked& x) {
      return a.value != x.value ? a.value > x.value : a.id < x.id;
    });

    const MeasureStats got = segment::slice_stats(s, group);
    BOOST_TEST(got.count == want.count, what);
    BOOST_TEST((got.sum == want.sum), what);
    BOOST_TEST((got.min == want.min), what);
    BOOST_TEST((got.max == want.max), what);
    BOOST_TEST((got.avg() == want.avg()), what);

    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{17},
                          ranked.size(), ranked.size() + 5}) {
      auto top = segment::slice_top(s, group, n);
      std::vector<Ranked> expect(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(std::min(n, ranked.size())));
      BOOST_TEST_REQUIRE(top.size() == expect.size(), what << " n " << n);
      for (std::size_t k = 0; k < top.size(); ++k) {
        BOOST_TEST(top[k].id == expect[k].id, what << " n " << n << " at " << k);
        BOOST_TEST(top[k].value == expect[k].value, what << " n " << n << " at " << k);
      }
    }
  }
}

// Sums beyond 64 bits stay exact: many customers at INT64_MAX, many at INT64_MIN.
BOOST_AUTO_TEST_CASE(sums_near_the_int64_limits_are_exact) {
  std::map<CustomerId, std::int64_t> values;
  for (CustomerId id = 1; id <= 1000; ++id) values[id] = id % 3 == 0 ? INT64_MIN : INT64_MAX;
  const Built b = build(values);
  IdSet group;
  AmountSum want = 0;
  for (CustomerId id = 1; id <= 1000; ++id) group.add(id), want += values[id];
  const MeasureStats got = segment::slice_stats(b.slices(), group);
  BOOST_TEST((got.sum == want));
  BOOST_TEST(got.count == 1000u);
  BOOST_TEST(*got.min == INT64_MIN);
  BOOST_TEST(*got.max == INT64_MAX);
  // Only the maxima: 667 × (2^63 − 1), beyond 64 bits.
  IdSet high;
  for (CustomerId id = 1; id <= 1000; ++id)
    if (id % 3) high.add(id);
  BOOST_TEST((segment::slice_stats(b.slices(), high).sum == AmountSum{667} * INT64_MAX));
}

BOOST_AUTO_TEST_CASE(buckets_equal_brute_force) {
  std::mt19937_64 r(7);
  for (int round = 0; round < 50; ++round) {
    std::vector<IdSet> sets(5);
    std::map<CustomerId, std::int64_t> values;
    IdSet group;
    for (CustomerId id = 1; id < 300; ++id) {
      if (r() % 4) {
        const int b = static_cast<int>(r() % 5);
        sets[static_cast<std::size_t>(b)].add(id);
        values[id] = b + 1;
      }
      if (r() % 2) group.add(id);
    }
    std::vector<segment::ValueBucket> buckets;
    for (int b = 4; b >= 0; --b) buckets.push_back({b + 1, &sets[static_cast<std::size_t>(b)]});
    MeasureStats want;
    std::vector<Ranked> ranked;
    for (auto [id, v] : values)
      if (group.contains(id)) segment::accumulate(want, v), ranked.push_back({id, v});
    std::stable_sort(ranked.begin(), ranked.end(),
                     [](const Ranked& a, const Ranked& x) { return a.value > x.value; });
    auto got = segment::bucket_stats(buckets, group);
    BOOST_TEST(got.count == want.count);
    BOOST_TEST((got.sum == want.sum));
    BOOST_TEST((got.min == want.min));
    BOOST_TEST((got.max == want.max));
    const std::size_t n = r() % 40;
    auto top = segment::bucket_top(buckets, group, n);
    BOOST_TEST_REQUIRE(top.size() == std::min(n, ranked.size()));
    for (std::size_t k = 0; k < top.size(); ++k) BOOST_TEST((top[k] == ranked[k]));
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
