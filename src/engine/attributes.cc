// custdb/attributes.h: names of the attribute enums, Schema lookups, and the text form of
// values (format_attribute_value / parse_attribute_value: TODO(owner B, #17)).
#include "custdb/attributes.h"

#include <array>

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

std::string format_attribute_value(const AttributeDef&, const AttributeValue&, int) {
  return "?";  // TODO(owner B, #17)
}

Result<AttributeValue> parse_attribute_value(const AttributeDef&, std::string_view, int) {
  return make_error(ErrorCode::kUnsupported, "custom attributes: not built yet (#17)");
}

}  // namespace custdb
