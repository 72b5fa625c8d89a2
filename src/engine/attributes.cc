// custdb/attributes.h: names of the attribute enums, Schema lookups, and the text form of
// values (format_attribute_value / parse_attribute_value).
#include "custdb/attributes.h"

#include <array>
#include <cstdint>
#include <type_traits>

#include "engine/validate.h"
#include "util/normalize.h"

namespace custdb {
namespace {

constexpr std::array<std::string_view, 9> kTypeNames = {
    "text", "enum", "integer", "decimal", "amount", "date", "timestamp", "bool", "tag_set"};
constexpr std::array<std::string_view, 2> kTableNames = {"customers", "transactions"};
constexpr std::array<std::string_view, 4> kIndexStateNames = {"none", "building", "ready",
                                                               "dropping"};

template <std::size_t N>
std::string_view name_at(const std::array<std::string_view, N>& names, std::uint8_t i) {
  return i < N ? names[i] : std::string_view("invalid");
}

}  // namespace

std::string_view to_string(AttributeType t) { return name_at(kTypeNames, static_cast<std::uint8_t>(t)); }
std::string_view to_string(AttributeTable t) { return name_at(kTableNames, static_cast<std::uint8_t>(t)); }
std::string_view to_string(IndexState s) { return name_at(kIndexStateNames, static_cast<std::uint8_t>(s)); }

std::optional<AttributeType> attribute_type_from_string(std::string_view name) {
  for (std::size_t i = 0; i < kTypeNames.size(); ++i)
    if (normalize::iequals(name, kTypeNames[i])) return static_cast<AttributeType>(i);
  if (normalize::iequals(name, "tagset")) return AttributeType::kTagSet;
  if (normalize::iequals(name, "boolean")) return AttributeType::kBool;
  return std::nullopt;
}

std::optional<AttributeTable> attribute_table_from_string(std::string_view name) {
  for (std::size_t i = 0; i < kTableNames.size(); ++i)
    if (normalize::iequals(name, kTableNames[i])) return static_cast<AttributeTable>(i);
  return std::nullopt;
}

const AttributeDef* Schema::find(std::string_view name, AttributeTable table) const {
  for (const AttributeDef& a : attributes)
    if (!a.dropping && a.table == table && normalize::iequals(a.name, name)) return &a;
  return nullptr;
}

const AttributeDef* Schema::by_id(std::uint32_t id) const {
  for (const AttributeDef& a : attributes)
    if (a.id == id) return &a;
  return nullptr;
}

bool Schema::has_pending_work() const {
  for (const AttributeDef& a : attributes)
    if (a.dropping || a.index_state == IndexState::kBuilding ||
        a.index_state == IndexState::kDropping)
      return true;
  return false;
}

namespace {

// v / 10^scale as "[-]I.FFF" with exactly `scale` fraction digits (none when 0).
std::string format_scaled(std::int64_t v, int scale) {
  const bool neg = v < 0;
  // |INT64_MIN| does not fit an int64: work in unsigned.
  std::uint64_t u = neg ? std::uint64_t{0} - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
  std::string digits = std::to_string(u);
  if (scale > 0) {
    if (digits.size() <= static_cast<std::size_t>(scale))
      digits.insert(0, static_cast<std::size_t>(scale) + 1 - digits.size(), '0');
    digits.insert(digits.size() - static_cast<std::size_t>(scale), 1, '.');
  }
  return neg ? "-" + digits : digits;
}

Error invalid(std::string why) { return Error(ErrorCode::kInvalidArgument, std::move(why)); }

std::string quoted(std::string_view s) {
  std::string q = "'";
  q.append(s.substr(0, 80));
  if (s.size() > 80) q += "...";
  q += "'";
  return q;
}

// "[+-]digits[.digits]" with at most `scale` fraction digits, as an int64 scaled by 10^scale.
// nullopt when malformed or out of int64.
std::optional<std::int64_t> parse_scaled(std::string_view t, int scale, bool& too_many_digits) {
  too_many_digits = false;
  if (t.empty()) return std::nullopt;
  bool neg = false;
  if (t[0] == '+' || t[0] == '-') {
    neg = t[0] == '-';
    t.remove_prefix(1);
  }
  const std::size_t dot = t.find('.');
  std::string_view whole = t.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : t.substr(dot + 1);
  if (whole.empty() && frac.empty()) return std::nullopt;
  if (dot != std::string_view::npos && frac.empty()) return std::nullopt;  // "12."
  auto digits = [](std::string_view d) {
    for (char ch : d)
      if (ch < '0' || ch > '9') return false;
    return true;
  };
  if (!digits(whole) || !digits(frac)) return std::nullopt;
  if (frac.size() > static_cast<std::size_t>(scale)) {
    too_many_digits = true;
    return std::nullopt;
  }
  // Accumulate |value| * 10^scale in unsigned 64 bits, checking overflow.
  constexpr std::uint64_t kLimit = static_cast<std::uint64_t>(INT64_MAX) + 1;  // |INT64_MIN|
  std::uint64_t u = 0;
  auto push = [&](char ch) {
    const std::uint64_t d = static_cast<std::uint64_t>(ch - '0');
    if (u > (kLimit - d) / 10) return false;
    u = u * 10 + d;
    return true;
  };
  for (char ch : whole)
    if (!push(ch)) return std::nullopt;
  for (char ch : frac)
    if (!push(ch)) return std::nullopt;
  for (std::size_t i = frac.size(); i < static_cast<std::size_t>(scale); ++i)
    if (!push('0')) return std::nullopt;
  if (!neg && u > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
  return neg ? static_cast<std::int64_t>(0 - u) : static_cast<std::int64_t>(u);
}

}  // namespace

std::string format_attribute_value(const AttributeDef& def, const AttributeValue& v,
                                   int amount_decimals) {
  return std::visit(
      [&](const auto& x) -> std::string {
        using X = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<X, bool>) {
          return x ? "true" : "false";
        } else if constexpr (std::is_same_v<X, std::int64_t>) {
          if (def.type == AttributeType::kDecimal) return format_scaled(x, def.scale);
          if (def.type == AttributeType::kAmount) return format_scaled(x, amount_decimals);
          return std::to_string(x);
        } else if constexpr (std::is_same_v<X, std::string>) {
          return x;
        } else if constexpr (std::is_same_v<X, std::chrono::sys_days>) {
          return format_date(x);
        } else if constexpr (std::is_same_v<X, Timestamp>) {
          return format_timestamp(x);
        } else {
          std::string out;
          for (const auto& t : x) {
            if (!out.empty()) out += '|';
            out += t;
          }
          return out;
        }
      },
      v);
}

Result<AttributeValue> parse_attribute_value(const AttributeDef& def, std::string_view text,
                                             int amount_decimals) {
  const std::string_view t = normalize::trim_view(text);
  if (t.empty()) return tl::unexpected(invalid("empty value"));
  AttributeValue v;
  bool too_many = false;
  switch (def.type) {
    case AttributeType::kText:
    case AttributeType::kEnum:
      v = std::string(t);
      break;
    case AttributeType::kInteger: {
      auto i = parse_scaled(t, 0, too_many);
      if (!i) return tl::unexpected(invalid("expected an integer, found " + quoted(t)));
      v = *i;
      break;
    }
    case AttributeType::kDecimal:
    case AttributeType::kAmount: {
      const int scale = def.type == AttributeType::kDecimal ? def.scale : amount_decimals;
      auto i = parse_scaled(t, scale, too_many);
      if (!i)
        return tl::unexpected(invalid(
            std::string(def.type == AttributeType::kDecimal ? "expected a decimal" : "expected an amount") +
            " with at most " + std::to_string(scale) + " fraction digits, found " + quoted(t)));
      v = *i;
      break;
    }
    case AttributeType::kDate: {
      auto d = parse_date(t);
      if (!d) return tl::unexpected(invalid("expected a date (YYYY-MM-DD), found " + quoted(t)));
      v = *d;
      break;
    }
    case AttributeType::kTimestamp: {
      auto ts = parse_timestamp(t);
      if (!ts)
        return tl::unexpected(invalid(
            "expected a timestamp (YYYY-MM-DDTHH:MM:SS[.mmm][Z|+HH:MM]), found " + quoted(t)));
      v = *ts;
      break;
    }
    case AttributeType::kBool:
      if (normalize::iequals(t, "true") || t == "1") v = true;
      else if (normalize::iequals(t, "false") || t == "0") v = false;
      else return tl::unexpected(invalid("expected true or false, found " + quoted(t)));
      break;
    case AttributeType::kTagSet: {
      std::vector<std::string> tags;
      std::string_view rest = t;
      for (;;) {
        const std::size_t bar = rest.find('|');
        tags.emplace_back(normalize::trim_view(rest.substr(0, bar)));
        if (bar == std::string_view::npos) break;
        rest.remove_prefix(bar + 1);
      }
      v = std::move(tags);
      break;
    }
  }
  if (auto s = detail::check_attribute_value(def, v); !s) return tl::unexpected(s.error());
  return v;
}

}  // namespace custdb
