// custdb/privacy.h — privacy operations: consent by purpose, erasure, retention, subject
// access, the audit trail and the analyst key (docs/security.md, "Privacy operations").
//
// The calls themselves are members of Database, ReadView and WriteTxn (custdb/database.h,
// section "privacy"); this header holds their value types. Every enum here that reaches disk
// says so: on-disk format, never renumber, add at the end.
#pragma once

#include "custdb/export.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "custdb/types.h"

namespace custdb {

// ---- consent by purpose ---------------------------------------------------------------------

// What a consent is for. On-disk format (consent history, records): never renumber.
// The Customer fields holding each: consent_email, consent_sms, consent_phone,
// consent_profiling, consent_sharing (custdb/types.h).
enum class ConsentPurpose : std::uint8_t {
  kEmailMarketing = 0,     // "email_marketing"
  kSmsMarketing = 1,       // "sms_marketing"
  kPhoneMarketing = 2,     // "phone_marketing"
  kProfiling = 3,          // "profiling": automated scoring, ranking and tier/stage rules
  kThirdPartySharing = 4,  // "third_party_sharing"
};
inline constexpr int kConsentPurposeCount = 5;

CUSTDB_EXPORT std::string_view to_string(ConsentPurpose p);
// Case-insensitive; also accepts the segment-language field names ("consent_email", ...).
CUSTDB_EXPORT std::optional<ConsentPurpose> consent_purpose_from_string(std::string_view name);
// The customer's consent for `p` (one of the five Customer fields).
CUSTDB_EXPORT const Consent& consent_of(const Customer& c, ConsentPurpose p);
CUSTDB_EXPORT Consent& consent_of(Customer& c, ConsentPurpose p);

// One change of one consent, kept by the engine (table consent_history) whenever a write
// (insert, update, import, set_consent) changes a consent's state, date or source.
struct ConsentChange {
  std::uint64_t seq = 0;  // per database, increasing in commit order
  CustomerId customer = 0;
  ConsentPurpose purpose = ConsentPurpose::kEmailMarketing;
  Consent before;          // state, date and source before the change
  Consent after;           // ... and after
  Timestamp recorded_at{}; // the write transaction's time

  friend bool operator==(const ConsentChange&, const ConsentChange&) = default;
};

// ---- erasure --------------------------------------------------------------------------------

// On-disk format (erasure journal): never renumber.
enum class EraseMode : std::uint8_t {
  // The customer, its relationships, transactions, consent history, scores and every index
  // and segment entry are removed.
  kFull = 0,
  // Every personal field (docs/security.md lists them: identity, contact, address, birth
  // date, external ref, transaction memos) is removed; the customer's id, type, tier, stage,
  // aggregates and transactions (without descriptions) stay for the ledger retention period.
  kKeepLedger = 1,
};
CUSTDB_EXPORT std::string_view to_string(EraseMode m);

// One entry of the erasure journal (table erasures): ids and dates, no personal data.
struct ErasureEntry {
  std::uint64_t seq = 0;  // per database, increasing
  CustomerId customer = 0;
  EraseMode mode = EraseMode::kFull;
  Timestamp at{};         // the erasing write transaction's time

  friend bool operator==(const ErasureEntry&, const ErasureEntry&) = default;
};

// What a scrub did (Database::scrub). After a complete scrub no byte of data the database no
// longer holds remains in data.mdb: free pages are zeroed, the unused space inside live pages
// is zeroed, and B-trees whose branch pages still carried a removed personal key were rebuilt
// (docs/security.md, "Erasure").
struct ScrubReport {
  std::uint64_t free_pages_zeroed = 0;   // whole pages on LMDB's free list
  std::uint64_t free_pages_pinned = 0;   // free pages a live reader may still read: not zeroed
  std::uint64_t slack_bytes_zeroed = 0;  // unused bytes inside live pages
  std::uint64_t tables_rebuilt = 0;
  std::uint64_t file_bytes = 0;          // size of data.mdb scanned
  // false when a reader older than the erasure pinned pages: run scrub again once it ended
  // (free_pages_pinned says how many).
  bool complete = true;
};

struct ErasureReport {
  std::uint64_t erased = 0;         // customers erased
  std::uint64_t not_found = 0;      // ids with no customer (nothing to do; not an error)
  std::uint64_t transactions_removed = 0;
  std::uint64_t relationships_removed = 0;
  ScrubReport scrub;
};

// What restore_backup did.
struct RestoreReport {
  std::uint64_t erasures_reapplied = 0;  // journal entries of the replaced database re-applied
  std::uint64_t customers = 0;           // customers in the restored database
  ScrubReport scrub;
};

// ---- retention ------------------------------------------------------------------------------

struct RetentionOptions {
  // Count what would be done per action; change nothing. Default: false.
  bool dry_run = false;
  // Customers erased per write transaction. Default: 1000.
  std::size_t batch = 1000;
  // Called after each committed batch (never in a dry run).
  std::function<void(std::uint64_t done, std::uint64_t total)> progress;
};

struct RetentionReport {
  struct Action {
    std::string rule;   // the rule's text, as stored ("erase when ...")
    EraseMode mode = EraseMode::kFull;  // erase: kFull; anonymize: kKeepLedger
    std::uint64_t customers = 0;         // matched (dry run) or erased
  };
  std::vector<Action> actions;  // one per rule of the policy, in policy order
  bool dry_run = false;
  bool resumed = false;         // this run continued one a crash interrupted
  ScrubReport scrub;
};

// ---- subject access -------------------------------------------------------------------------

// A tier/stage rule moving a customer (custdb::apply_rules), kept by the engine (table
// rule_moves) for subject access.
struct RuleMove {
  std::uint64_t seq = 0;
  CustomerId customer = 0;
  std::string field;  // "tier" or "stage"
  std::string from;   // the enum names before and after
  std::string to;
  std::string rule;   // the rule's text
  Timestamp at{};

  friend bool operator==(const RuleMove&, const RuleMove&) = default;
};

// ---- audit trail ----------------------------------------------------------------------------

// What an application (or the CLI) records. No personal data: `command` and `detail` are
// printable ASCII (kInvalidArgument otherwise), at most 200 and 1000 bytes; subjects are ids.
struct AuditEvent {
  std::string command;               // "export", "get --reveal", "erase", ...
  std::vector<CustomerId> subjects;  // the customers concerned (at most 10,000)
  std::uint64_t count = 0;           // rows or customers affected
  std::string detail;                // options, file names, counts per action
};

// One entry of the append-only audit table, as stored.
struct AuditEntry {
  std::uint64_t seq = 0;  // 1, 2, 3, ... without gaps
  Timestamp at{};
  std::string os_user;    // the effective user's login name (getpwuid), or "uid N"
  std::uint32_t uid = 0;
  std::uint32_t pid = 0;
  AuditEvent event;
};

struct AuditFilter {
  std::optional<Timestamp> since;     // entries at or after
  std::optional<CustomerId> subject;  // entries naming this customer
};

// ---- subject access: everything held about one customer ----------------------------------

struct SubjectRecord {
  Customer customer;  // profile, consents, aggregates, scores
  std::vector<ConsentChange> consent_history;
  std::vector<Relationship> relationships;  // both directions, by id
  std::vector<Transaction> transactions;    // by (ts, id)
  std::vector<Holding> holdings;            // format 6: by id, account_ref unmasked
  std::vector<RuleMove> rule_moves;
  std::vector<AuditEntry> audit;            // entries naming the customer
  // The custom attribute declarations of the snapshot (format 5): what names and types the
  // customer's and transactions' `attributes` have (write_subject_json formats them by it).
  Schema schema;
};

// ---- the analyst key ------------------------------------------------------------------------

// What the secret an encrypted database was opened with may do.
enum class KeyRole : std::uint8_t {
  kNone = 0,     // a plaintext database
  kOwner = 1,    // the database's passphrase or key: everything
  kAnalyst = 2,  // an analyst key: segments, reports, aggregates, RFM, CLV, rules; personal
                 // fields cannot be decrypted (Customer::personal_available is false) and
                 // lookups by email, phone or external ref are kPermissionDenied
};
CUSTDB_EXPORT std::string_view to_string(KeyRole r);

}  // namespace custdb
