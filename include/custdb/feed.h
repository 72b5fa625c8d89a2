// custdb/feed.h — the change feed (file format 7): every committed write transaction of a
// database with the feed enabled gets the next sequence number and records its changes in the
// same LMDB transaction, so the feed can never disagree with the data. Replicas apply it.
//
// What a change is. The feed records the key/value writes a transaction made to the stored
// tables (records, the audit trail and privacy journals, the id counters and stored settings,
// every index) as they are stored (sealed and tokenized in encrypted mode), and the segment
// index as bit changes (customer id, posting, set or clear) rather than whole chunks. Nothing
// is re-derived from another copy of the data: a replica that applies every entry in order
// holds the same records, indexes and segment answers as the primary. Not recorded: the
// file's own header, key material bindings and nonce epochs, and the feed's own state.
//
// Parts and subjects. One entry's changes are split into parts by (table, customer): the
// changes of one customer's records to one table (and the index and segment changes that
// write made) form one part. Parts are the messages of the JetStream transport
// (custdb/nats.h): subject `<prefix>.<feed name>.<table>.<customer id or _>`, so that an
// erasure can purge one customer's messages by subject. In encrypted mode every part's
// payload is sealed under the data key (bound to the feed name, sequence and part number):
// the feed never carries plaintext personal data from an encrypted database.
//
// Erasure. Database::erase_customer / WriteTxn::erase_customer on a database with the feed
// enabled (1) removes every part of earlier entries that holds the erased customer's changes
// from the feed, and (2) records the erasure itself as one part of table "erasure" and no
// customer (its subject is never purged) that a replica applies by running the same erasure.
// FeedEntry::erased names the customer so that a shipper can purge the stream.
//
// Thread safety: every function here is thread-safe as Database is. Errors: kFailedPrecondition
// when the feed is not enabled (and the call needs it), kInvalidArgument for bad arguments,
// kReadOnly on a read-only handle, storage errors as Database's.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "custdb/export.h"
#include "custdb/status.h"
#include "custdb/types.h"

namespace custdb {

class Database;

namespace feed {

// A feed sequence number: 1 for the first entry, +1 per committed write transaction that
// changed anything recorded. 0 means "before the first entry".
using Seq = std::uint64_t;

struct FeedOptions {
  // The feed's name: the database's token in subjects ([a-z0-9_-], 1..64 bytes). Default
  // (empty): "db" followed by the first 12 hex digits of the file id. Fixed at the first
  // enable; a later enable with another non-empty name is kInvalidArgument.
  std::string name;
  // The retention floor: truncate() keeps at least this many of the newest entries even when
  // every consumer has acknowledged them (a late consumer or replica can still start there).
  std::uint64_t keep_last = 10'000;
};

// Whether this file records a feed, follows one, or neither.
enum class Role : std::uint8_t {  // on-disk format: never renumber
  kNone = 0,
  kPrimary = 1,  // enable() ran: writes are recorded
  kReplica = 2,  // apply() ran: the file follows another database's feed (read-mostly)
};

struct Consumer {
  std::string name;          // [A-Za-z0-9_.:-], 1..128 bytes
  Seq acked = 0;             // every entry <= acked is acknowledged
  Timestamp updated_at{};    // of the last register or acknowledge
};

struct FeedStatus {
  Role role = Role::kNone;
  std::string name;               // the feed's name (primary) or the primary's (replica)
  Seq first = 0;                  // the oldest entry kept (0: none kept)
  Seq last = 0;                   // the newest entry committed (primary), applied (replica)
  std::uint64_t entries = 0;      // kept
  std::uint64_t bytes = 0;        // kept, payloads only
  std::uint64_t keep_last = 0;    // FeedOptions::keep_last as stored
  std::vector<Consumer> consumers;
  // Replica: the transport position stored with the last applied entry (apply()'s `source`).
  std::string source;
};

// One part of an entry: the changes of one (table, customer) pair, encoded (and sealed in
// encrypted mode) by the engine. Applications treat `payload` as opaque bytes; describe()
// lists what it changes.
struct Part {
  // "customers", "relationships", "transactions", "holdings", "consents", "audit", "meta",
  // "erasure", ... ([a-z_], the subject token).
  std::string table;
  CustomerId customer = 0;  // 0: the part belongs to no customer (subject token "_")
  std::string payload;
  std::uint32_t number = 0;  // the part's number in its entry (0-based; kept when an erasure removes others)
  friend bool operator==(const Part&, const Part&) = default;
};

struct Entry {
  Seq seq = 0;
  Timestamp committed_at{};       // the transaction's time (the records' updated_at)
  // The number of parts the entry had when committed; parts.size() is smaller when an
  // erasure removed some since (those parts held the erased customer's changes).
  std::uint32_t part_count = 0;
  std::vector<Part> parts;        // in part order
  std::vector<CustomerId> erased; // customers this entry erases (FeedEntry's erasure parts)
  friend bool operator==(const Entry&, const Entry&) = default;
};

// Turns the feed on (role kPrimary). Succeeds, changing nothing, when it already is on (then
// options.name must be empty or equal, and keep_last is updated). kFailedPrecondition on a
// replica. Recorded in the audit trail ("feed_enable").
CUSTDB_EXPORT Status enable(Database& db, const FeedOptions& options = {});
// Turns the feed off and drops its entries and consumers (role kNone). Audited.
CUSTDB_EXPORT Status disable(Database& db);
CUSTDB_EXPORT Result<FeedStatus> status(const Database& db);

// Entries with seq > after, ascending, at most max_entries of them and, beyond the first,
// at most max_bytes of payload (the first is returned whatever its size). Empty when none.
// kFailedPrecondition "feed truncated" when after + 1 is older than the oldest kept entry
// (and entries were truncated).
CUSTDB_EXPORT Result<std::vector<Entry>> read(const Database& db, Seq after,
                                              std::size_t max_entries = 1000,
                                              std::size_t max_bytes = 16u << 20);

// Waits until the feed's last seq exceeds `after` or `timeout` passes; returns the last seq
// (== after on timeout). Woken at once by commits of this process (an in-process condition);
// commits of other processes are seen within 50 ms (it polls).
CUSTDB_EXPORT Result<Seq> wait(const Database& db, Seq after, std::chrono::milliseconds timeout);

// Named consumer cursors, stored in the database. register_consumer starts the cursor at
// `acked` (default: the last entry now, i.e. only later changes) and succeeds, changing
// nothing, when the consumer exists. acknowledge moves it forward (a lower seq than stored is
// ignored; above the last entry is kInvalidArgument). Unknown consumer: kFailedPrecondition.
CUSTDB_EXPORT Status register_consumer(Database& db, std::string_view name,
                                       std::optional<Seq> acked = std::nullopt);
CUSTDB_EXPORT Status acknowledge(Database& db, std::string_view name, Seq seq);
CUSTDB_EXPORT Status remove_consumer(Database& db, std::string_view name);

// Deletes entries every registered consumer has acknowledged, keeping the newest keep_last
// (FeedOptions) whatever the acknowledgements. With no consumer registered nothing is
// deleted. Returns the number of entries deleted.
CUSTDB_EXPORT Result<std::uint64_t> truncate(Database& db);

// ---- replicas ----
// Applies entries to `replica` in one write transaction, in order: an entry with seq <= the
// replica's last applied one is skipped (idempotent redelivery); the next one must be
// last + 1, else kFailedPrecondition "gap: ..." and nothing is applied. The first apply to a
// file makes it a replica of `primary_name` (it must be a copy of the primary: a backup, or a
// new database only while the primary's feed starts at entry 1) and turns its own feed off; a
// later apply with another primary name is kFailedPrecondition. A file becomes a replica only
// when `entries` holds one beyond its own last seq: applied to the primary itself (its own
// entries), apply skips them all and changes nothing. `source` is stored with the
// last applied seq (the follower's stream position). After an entry that erases a customer,
// the caller should run Database::scrub() so free pages lose the erased bytes (the follower
// does). kCorruption when a payload fails authentication or decoding (a replica of another
// key, or damage); kAuthentication when the replica's key cannot open the primary's seals.
struct ApplyResult {
  std::uint64_t applied = 0;  // entries applied
  std::uint64_t skipped = 0;  // entries already applied
  Seq last = 0;               // the replica's last applied seq afterwards
  bool erased = false;        // an applied entry erased a customer: scrub
};
CUSTDB_EXPORT Result<ApplyResult> apply(Database& replica, std::string_view primary_name,
                                        std::span<const Entry> entries,
                                        std::string_view source = {});

// What a part changes, for people and tools (`custdb feed show`): one line per change such
// as "put customers 42", "del idx.email <32 bytes>", "postings 12 bits", "erase 42 full".
// Opens sealed payloads with db's key. kCorruption for a payload that does not decode.
CUSTDB_EXPORT Result<std::vector<std::string>> describe(const Database& db, const Entry& entry,
                                                        const Part& part);

// The records an entry changed, for applications asking "what changed since X": one item
// per (table, id) written, in the order first written; deleted when the last write deleted
// it. Tables: customers, relationships, transactions, holdings.
struct RecordChange {
  std::string table;
  std::uint64_t id = 0;
  bool deleted = false;
  friend bool operator==(const RecordChange&, const RecordChange&) = default;
};
CUSTDB_EXPORT Result<std::vector<RecordChange>> changed_records(const Database& db,
                                                                const Entry& entry);

}  // namespace feed
}  // namespace custdb
