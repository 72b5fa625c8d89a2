// Steps of the in-place format upgrade (DatabaseImpl::upgrade in open.cc), each run inside the
// upgrade's one write transaction `st`, so a crash anywhere leaves the old format intact and
// the next read-write open starts over. Each step must be idempotent over a partly upgraded
// file only in that sense: it always starts from the old format's bytes.
#pragma once

#include "custdb/status.h"

namespace custdb::segment {
class SegmentKeys;
}
namespace custdb::index {
class IndexKeys;
}

namespace custdb::detail {

class DatabaseImpl;
struct TxnState;

// Format 2 -> 3, text (src/engine/upgrade_v3_text.cc): every customer's stored email, phone,
// tags, city and region re-normalized with the format-3 rules (util/normalize.h), and every
// key derived from them (lookup keys, segment postings, dictionaries) rebuilt to match.
Status upgrade_v3_text(DatabaseImpl& d, TxnState& st, const segment::SegmentKeys& keys);

// Records `region` (already checked: normalize::is_phone_region) as the file's phone region
// (meta "phone_region") and reads the phones listed in meta "phones.not_e164" again in it:
// those now E.164 are stored so (and their lookup keys moved), the rest stay listed.
Status set_phone_region(DatabaseImpl& d, TxnState& st, const std::string& region);

// How many customers meta "phones.not_e164" lists (0 when absent).
Result<std::size_t> count_phones_not_e164(DatabaseImpl& d, TxnState& st);

// Format 2 -> 3, relationships (src/engine/upgrade_v3_relationships.cc): every directed
// relationship stored in its canonical direction, and links that format 2 kept twice (the
// same link typed from both ends) merged into one.
Status upgrade_v3_relationships(DatabaseImpl& d, TxnState& st, const segment::SegmentKeys& keys);

// Format 3 -> 4, privacy (src/engine/upgrade_v4_privacy.cc, owner K): encrypted files get a
// personal key (wrapped beside the data key) and every record's personal fields re-sealed
// under it, with the lookup tokens derived from it; plaintext files need nothing (the new
// tables are created by open).
// `old_keys`: the lookup keys as format 3 derived them (every token from the data key); the
// handle's own keys (d.keys()) already derive the personal ones from the personal key.
Status upgrade_v4_privacy(DatabaseImpl& d, TxnState& st, const segment::SegmentKeys& keys,
                          const index::IndexKeys& old_keys);

}  // namespace custdb::detail
