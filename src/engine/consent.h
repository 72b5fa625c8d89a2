// Consent by purpose (custdb/privacy.h): the consent history and the rule-move log, both kept
// by the engine in their own tables (docs/format.md, "consent_history", "rule_moves").
//
// Keys: be64(customer) || be64(seq), so one customer's entries are one key range in seq (=
// commit) order. Values: the record envelope (codec::Table::kConsentHistory / kRuleMoves),
// sealed in encrypted mode, checksummed in plaintext, bound to the key. The seq counters are
// raw meta values "seq.consent_history" and "seq.rule_moves" (the next seq, u64 big-endian).
//
// Internal to the engine. Each function runs inside the caller's transaction; writers poison
// it on a storage failure, like every write of DatabaseImpl.
#pragma once

#include <span>
#include <vector>

#include "custdb/privacy.h"
#include "custdb/status.h"
#include "custdb/types.h"
#include "storage/lmdb.h"

namespace custdb::codec {
class RecordCodec;
}
namespace custdb::segment {
class SegmentKeys;
}

namespace custdb::detail {

class DatabaseImpl;
struct TxnState;

inline constexpr std::string_view kConsentSeqKey = "seq.consent_history";
inline constexpr std::string_view kRuleMoveSeqKey = "seq.rule_moves";

// The changes (one per purpose whose state, date or source differ) from `before` (null: a
// new customer, every consent unknown) to `after`, appended to `out` without seq and time.
void diff_consents(const Customer* before, const Customer& after, std::vector<ConsentChange>& out);
// Stores `changes` (each gets the next seq and the transaction's time): one counter read and
// one counter write for the lot.
Status write_consent_changes(DatabaseImpl& d, TxnState& st, std::vector<ConsentChange>& changes);
// One customer's history, oldest first; empty when the table is absent (a read-only open of a
// format-3 file).
Result<std::vector<ConsentChange>> read_consent_history(const DatabaseImpl& d, TxnState& st,
                                                        CustomerId id);
// WriteTxn::set_consent.
Result<bool> set_consent(DatabaseImpl& d, TxnState& st, CustomerId id, ConsentPurpose purpose,
                         const Consent& consent);

// Appends one rule move (seq and time set here).
Status write_rule_move(DatabaseImpl& d, TxnState& st, RuleMove move);
Result<std::vector<RuleMove>> read_rule_moves(const DatabaseImpl& d, TxnState& st, CustomerId id);

// Removes every consent-history entry (rule move) of one customer; how many were removed.
Result<std::uint64_t> delete_consent_history(DatabaseImpl& d, TxnState& st, CustomerId id);
Result<std::uint64_t> delete_rule_moves(DatabaseImpl& d, TxnState& st, CustomerId id);

// Stored form of one entry: decode (kCorruption naming the table and key on any mismatch) and
// encode (the envelope of `codec`). Used by rotation and the checker.
Result<ConsentChange> decode_consent_change(const codec::RecordCodec& codec, storage::Bytes key,
                                            storage::Bytes stored);
void encode_consent_change(const codec::RecordCodec& codec, const ConsentChange& c,
                           std::vector<std::uint8_t>& key, std::vector<std::uint8_t>& out);
Result<RuleMove> decode_rule_move(const codec::RecordCodec& codec, storage::Bytes key,
                                  storage::Bytes stored);
void encode_rule_move(const codec::RecordCodec& codec, const RuleMove& m,
                      std::vector<std::uint8_t>& key, std::vector<std::uint8_t>& out);

// Key rotation (rotate.cc): copies every consent-history entry and rule move of `src` (read
// in `rs`) into `dst` (written in `ws`), re-sealed under dst's key, with their seq counters.
Status copy_consent_tables(const DatabaseImpl& src, TxnState& rs, DatabaseImpl& dst, TxnState& ws);

// Format 3 -> 4: every customer gets the postings of consent_profiling and consent_sharing
// (both unknown in a format-3 file), which format 3 did not have.
Status upgrade_v4_consent_postings(DatabaseImpl& d, TxnState& st, const segment::SegmentKeys& keys);

}  // namespace custdb::detail
