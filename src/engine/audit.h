// The audit trail's stored form and its hash chain (docs/format.md, "audit"; docs/security.md,
// "Audit trail"). Internal to the engine.
//
// Entry n (table audit, key be64(n), n = 1, 2, 3, ... without gaps) is the record envelope
// (codec::Table::kAudit: sealed in encrypted mode, checksummed in plaintext) around
//
//   body (version 1, integers big-endian):
//     u8  version = 1
//     i64 at (ms since the epoch, sign bit flipped as coding::put_i64)
//     u32 uid, u32 pid
//     u16 len, os_user bytes
//     u16 len, command bytes
//     u64 count
//     u32 n, n x u64 subject ids
//     u32 len, detail bytes
//   followed by 32 bytes: h_{n-1}, the chain hash of the entry before (zeros for entry 1).
//
// h_n = BLAKE2b-256(chain key; h_{n-1} || be64(n) || body). The chain key is the data key's
// crypto_kdf subkey 1 of context "cdbaudit" in encrypted mode, no key in plaintext. The head
// (meta "audit.head", a sealed meta value) is be64(last n) || h_last.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "custdb/privacy.h"
#include "custdb/status.h"

namespace custdb::detail {

class DatabaseImpl;
struct TxnState;

inline constexpr std::string_view kMetaAuditHead = "audit.head";
inline constexpr std::size_t kAuditHashSize = 32;
using AuditHash = std::array<std::uint8_t, kAuditHashSize>;

// kInvalidArgument naming the field when `event` breaks AuditEvent's limits.
Status validate_audit_event(const AuditEvent& event);

// Checks the chain of st's snapshot: calls problem(what) once per break found (an entry that
// does not decode, a gap in the seqs, an entry whose stored previous hash is not its
// predecessor's, a head that does not name the last entry and its hash). Storage errors are
// returned. `entries` counts the entries seen.
Status check_audit_chain(const DatabaseImpl& db, TxnState& st, std::uint64_t& entries,
                         const std::function<void(std::string)>& problem);

// Appends `entries` (seq, time, user, uid, pid and event kept) after the last entry of
// `to`'s write transaction st, chained under `to`'s key: key rotation copies the trail so.
Status copy_audit_entries(DatabaseImpl& to, TxnState& st, const std::vector<AuditEntry>& entries);

}  // namespace custdb::detail
