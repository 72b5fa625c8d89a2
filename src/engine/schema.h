// The stored schema of custom attributes (meta "schema", docs/format.md "Custom attribute
// schema"): its byte coding and the validation of attribute definitions. Internal to the
// engine; schema.cc implements the Database calls on top.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "custdb/attributes.h"
#include "custdb/status.h"

namespace custdb::detail {

// The schema is stored under meta kMetaSchema (db_impl.h): sealed under the data key in
// encrypted files, checksummed in plaintext (the record envelope, like the other
// kSealedMetaKeys, which key rotation copies).

// The schema as stored: the public Schema plus what only the engine needs.
struct StoredSchema {
  Schema schema;
  // The id the next added attribute gets (ids are never reused, so it only grows). 1 when
  // nothing was ever added.
  std::uint32_t next_id = 1;
  // Ids of live attributes whose drop_attribute is under way in its first phase (the index
  // drop, index_state kDropping): they become `dropping` when the index is gone.
  std::vector<std::uint32_t> drop_requested;
  bool drop_requested_for(std::uint32_t id) const;
};

// Byte coding (big-endian; docs/format.md): kCorruption "meta schema: ..." for any malformed,
// truncated or inconsistent value (unknown coding version, enum out of range, bad name, ids
// not ascending or >= next_id, trailing bytes).
std::string encode_schema(const StoredSchema& s);
Result<StoredSchema> decode_schema(std::string_view bytes);

// The canonical form of a user definition (name lower case, enum values and tags checked,
// default normalized and type-checked) or kInvalidArgument "attribute NAME: reason". Does not
// check that the name is free in a given schema, nor table emptiness.
Result<AttributeDef> normalize_definition(const AttributeDef& def);
// kInvalidArgument "attribute NAME: ..." when `name` breaks the naming rules or names a
// built-in field of `table` (query fields, keywords, import/export columns). Returns the name
// lower-cased.
Result<std::string> check_attribute_name(std::string_view name, AttributeTable table);
// `v` normalized for `def` (enum to declared spelling, tags folded/sorted/unique, text trimmed
// NFC), or kInvalidArgument "attribute NAME: reason".
Result<AttributeValue> normalize_attribute_value(const AttributeDef& def, const AttributeValue& v);

}  // namespace custdb::detail
