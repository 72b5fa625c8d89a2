// ISO 8601 dates and timestamps, on std::chrono's civil calendar.
#include <cstdio>

#include "custdb/types.h"

namespace custdb {
namespace {

using namespace std::chrono;

// Reads exactly n digits at s[pos..]; advances pos.
bool digits(std::string_view s, std::size_t& pos, int n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (int i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  pos += n;
  out = v;
  return true;
}

std::optional<Date> date_prefix(std::string_view s, std::size_t& pos) {
  int y, m, d;
  if (!digits(s, pos, 4, y) || pos >= s.size() || s[pos++] != '-' || !digits(s, pos, 2, m) ||
      pos >= s.size() || s[pos++] != '-' || !digits(s, pos, 2, d))
    return std::nullopt;
  if (y < 1800 || y > 2200) return std::nullopt;
  year_month_day ymd{year{y}, month{static_cast<unsigned>(m)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  return sys_days{ymd};
}

}  // namespace

std::optional<Date> parse_date(std::string_view text) {
  std::size_t pos = 0;
  auto d = date_prefix(text, pos);
  if (!d || pos != text.size()) return std::nullopt;
  return d;
}

std::optional<Timestamp> parse_timestamp(std::string_view s) {
  std::size_t pos = 0;
  auto d = date_prefix(s, pos);
  if (!d) return std::nullopt;
  Timestamp t = time_point_cast<milliseconds>(*d);
  if (pos == s.size()) return t;
  if (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ') return std::nullopt;
  ++pos;
  int hh, mm, ss = 0, ms = 0;
  if (!digits(s, pos, 2, hh) || pos >= s.size() || s[pos++] != ':' || !digits(s, pos, 2, mm))
    return std::nullopt;
  if (pos < s.size() && s[pos] == ':') {
    ++pos;
    if (!digits(s, pos, 2, ss)) return std::nullopt;
    if (pos < s.size() && s[pos] == '.') {
      ++pos;
      std::size_t start = pos;
      int frac = 0, n = 0;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        if (n < 3) frac = frac * 10 + (s[pos] - '0'), ++n;
        ++pos;
      }
      if (pos == start) return std::nullopt;
      while (n < 3) frac *= 10, ++n;
      ms = frac;
    }
  }
  if (hh > 23 || mm > 59 || ss > 60) return std::nullopt;
  // A leap second (ss == 60) is read as the last millisecond of its minute, 23:59:59.999, so
  // every time written in it sorts after 23:59:59.xxx and before the next minute (":60.100"
  // after ":59.900"); it is checked below, once the offset gives the UTC minute.
  const bool leap = ss == 60;
  t += hours{hh} + minutes{mm} + (leap ? seconds{59} + milliseconds{999} : seconds{ss} + milliseconds{ms});
  Timestamp utc;
  if (pos == s.size() || ((s[pos] == 'Z' || s[pos] == 'z') && pos + 1 == s.size())) {
    utc = t;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int sign = s[pos++] == '+' ? 1 : -1, oh, om = 0;
    if (!digits(s, pos, 2, oh)) return std::nullopt;
    if (pos < s.size() && s[pos] == ':') ++pos;
    if (pos < s.size() && !digits(s, pos, 2, om)) return std::nullopt;
    if (pos != s.size() || oh > 23 || om > 59) return std::nullopt;
    utc = t - sign * (hours{oh} + minutes{om});
  } else {
    return std::nullopt;
  }
  if (leap) {
    // Leap seconds are inserted only at the end of a UTC month (in practice June or December;
    // ITU-R TF.460 allows any month): the UTC minute must be 23:59 of a month's last day.
    const auto day = floor<days>(utc);
    const auto in_day = utc - day;
    const year_month_day ymd{day};
    const bool last_minute = in_day >= hours{23} + minutes{59};
    const bool last_day = ymd.day() == year_month_day_last{ymd.year(), month_day_last{ymd.month()}}.day();
    if (!last_minute || !last_day) return std::nullopt;
  }
  return utc;
}

std::string format_date(Date d) {
  year_month_day ymd{d};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

std::string format_timestamp(Timestamp t) {
  Date d = floor<days>(t);
  auto ms = (t - d).count();
  char buf[40];
  int h = static_cast<int>(ms / 3'600'000), m = static_cast<int>(ms / 60'000 % 60),
      s = static_cast<int>(ms / 1000 % 60), f = static_cast<int>(ms % 1000);
  if (f)
    std::snprintf(buf, sizeof buf, "T%02d:%02d:%02d.%03dZ", h, m, s, f);
  else
    std::snprintf(buf, sizeof buf, "T%02d:%02d:%02dZ", h, m, s);
  return format_date(d) + buf;
}

}  // namespace custdb
