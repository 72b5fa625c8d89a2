// custdb/database.h — the database and its transactions.
//
// Ownership and threads:
// - Database owns the LMDB environment. It is thread-safe: share one instance across threads.
//   Open a given file at most once per process (LMDB's rule; a second open fails with kBusy).
//   It must outlive every transaction begun on it.
// - ReadTxn is a snapshot: it sees the database as of its begin, whatever commits later. Any
//   number run at once, in any thread and in other processes, beside the single writer. One
//   ReadTxn must not be used by two threads at the same time; it may move between threads.
// - WriteTxn: one at a time per database file, across threads and processes. begin_write waits
//   for the write lock while another writer holds it, for ever by default or at most
//   Options::busy_timeout (then kBusy). A thread that holds a WriteTxn and asks for another
//   one (begin_write, a one-shot write such as insert_customer, Database::write) gets
//   kFailedPrecondition at once: it would wait for itself. Use a WriteTxn from the thread
//   that began it. Not committed when destroyed means aborted.
//   A write on a ReadTxn does not compile: the write methods exist only on WriteTxn.
// - Every record returned is an owned copy: it stays valid after the transaction ends.
// - Nothing waits on the map: it is sized once, at open (Options::max_map_size), so begin_read
//   never waits for a writer and a write never waits for readers. The one exception needs
//   non-default options: another process with a larger max_map_size filled the file past this
//   process's map; adopting the larger map then waits (at most 30 s, then kBusy) until no
//   transaction of this process is open.
//
// Callbacks (update_customer, amend_transaction): an exception the callback throws does not
// leave the library: the call returns kInvalidArgument ("the callback threw: ...") having
// changed nothing, and the transaction stays usable.
//
// Write semantics: each write call is atomic on its own. It validates first and either applies
// completely or returns an error having changed nothing, leaving the transaction usable. Only a
// failure of the storage itself (the map full, I/O, corruption found mid-write) poisons the
// transaction: later calls and commit() then fail with that same error (kResourceExhausted
// when the map is full), nothing of it is stored, and abort() (or the destructor) ends it.
#pragma once

#include "custdb/export.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "custdb/check.h"
#include "custdb/options.h"
#include "custdb/privacy.h"
#include "custdb/segment.h"
#include "custdb/status.h"
#include "custdb/types.h"

namespace custdb {

namespace query {
struct Node;
struct ParseOptions;
}
class KeyMaterial;
class ReadTxn;
class WriteTxn;

// What to do with a customer's transactions and relationships when it is deleted.
enum class DeleteMode { kRestrict, kCascade };

struct TableCounts {
  std::uint64_t customers = 0;
  std::uint64_t relationships = 0;
  std::uint64_t transactions = 0;
  std::uint64_t holdings = 0;  // format 6
};

struct DatabaseInfo {
  std::filesystem::path path;
  bool encrypted = false;
  bool read_only = false;
  std::string base_currency;
  // The phone region this handle reads national phone forms in ("" for none; Options::phone_region).
  std::string phone_region;
  // Customers whose stored phone is not E.164: a format-3 upgrade without a phone region kept
  // their national forms as stored (meta "phones.not_e164"); setting a region converts them.
  std::size_t phones_not_e164 = 0;
  std::uint32_t format_version = 0;
  KeyRole role = KeyRole::kNone;  // what the key this handle was opened with may do
  std::size_t map_size = 0;      // bytes currently mapped
  std::size_t file_size = 0;     // bytes of the data file
  std::size_t page_size = 0;
  unsigned max_readers = 0;
  unsigned readers_in_use = 0;  // high-water mark of slots used since the table was made
};

// LMDB's reader table (lock.mdb): who holds read slots. See Database::reader_table.
struct ReaderTable {
  struct Slot {
    long pid = 0;               // the process holding the slot
    unsigned long thread = 0;   // its thread (an opaque id)
    std::uint64_t snapshot = 0; // the LMDB transaction id it reads; 0 when no read is active
  };
  unsigned max_readers = 0;  // slots in the table
  unsigned stale = 0;        // slots of dead processes found, and freed, by this call
  std::vector<Slot> slots;   // slots held by live processes, in table order
};

class CUSTDB_EXPORT Database {
 public:
  // Opens (or creates, per options) the database in directory `path` (LMDB's data.mdb and
  // lock.mdb live inside). Reclaims reader slots of dead processes.
  // Creates directories 0700 and files 0600, whatever the umask. Errors:
  // - kAuthentication: an encrypted database without a key or with a wrong one, or a key given
  //   for a plaintext database.
  // - kCorruption: data.mdb exists but is not a custdb database (empty, or LMDB without the
  //   custdb header), whatever create_if_missing says; a key header that is not this file's.
  // - kInvalidArgument: base_currency is not ISO 4217, or differs from the database's; an
  //   empty passphrase at creation.
  // - kIOError: no database and create_if_missing is false (or read_only).
  // A failed create removes the files and directories it made.
  static Result<Database> open(const std::filesystem::path& path, const Options& options = {});

  Database(Database&&) noexcept;
  Database& operator=(Database&&) noexcept;
  ~Database();

  // Never waits for writers (and, with default options, for anything). kBusy when the reader
  // table is full of live readers (after freeing slots of dead processes): the message says
  // how to raise Options::max_readers.
  Result<ReadTxn> begin_read() const;
  // Waits while another writer (thread or process) holds the write lock: for ever, or at most
  // Options::busy_timeout, then kBusy. kFailedPrecondition at once when this thread already
  // holds a WriteTxn of this database.
  Result<WriteTxn> begin_write();

  // Runs fn in a new write transaction and commits it when fn succeeds; aborts it when fn
  // fails (fn's error is returned). When the write lock stays taken past busy_timeout (kBusy
  // from begin_write) it waits (20, 40, 80, 160 ms) and tries again, up to 5 attempts in all;
  // then kBusy. Since a retry starts before fn ever ran, fn runs at most once per call unless
  // fn itself returns kBusy, which is retried the same way: fn must then have no effects
  // outside the transaction it is given. No other error is retried (a commit that failed is
  // not: the transaction is finished, nothing of it stored). An exception thrown by fn aborts
  // the transaction and propagates to the caller unchanged.
  // fn returns Status, or Result<T> for any T: write then returns that Result<T>.
  Status write(const std::function<Status(WriteTxn&)>& fn);
  template <class Fn>
    requires std::is_invocable_v<Fn&, WriteTxn&> &&
             (!std::is_same_v<std::invoke_result_t<Fn&, WriteTxn&>, Status>)
  std::invoke_result_t<Fn&, WriteTxn&> write(Fn&& fn) {
    using R = std::invoke_result_t<Fn&, WriteTxn&>;
    std::optional<typename R::value_type> out;
    Status s = write(std::function<Status(WriteTxn&)>([&](WriteTxn& txn) -> Status {
      R r = fn(txn);
      if (!r) return tl::unexpected(r.error());
      out.emplace(std::move(*r));
      return {};
    }));
    if (!s) return tl::unexpected(s.error());
    return std::move(*out);
  }

  // One-shot conveniences: each runs in its own transaction.
  Result<std::optional<Customer>> get_customer(CustomerId id) const;
  Result<CustomerId> insert_customer(Customer customer);
  // Inserts all or none, in one transaction. Returns the ids in input order.
  Result<std::vector<CustomerId>> insert_customers(std::span<const Customer> customers);
  Result<TransactionId> add_transaction(Transaction txn);
  Result<HoldingId> insert_holding(Holding holding);
  Result<std::optional<Holding>> get_holding(HoldingId id) const;

  // Full consistency check: every record decodes and authenticates, every index entry matches
  // a record and every record its index entries, aggregates equal their transactions.
  Result<CheckReport> check() const;

  DatabaseInfo info() const;

  // The reader table: slots held, by which processes; frees slots of dead processes first
  // (counted in `stale`). Needs no reader slot, so it works when the table is full.
  ReaderTable reader_table() const;
  // The same for a database that is not open in this process: opens LMDB's environment at
  // `path` without beginning a transaction, so it works even when every slot is taken (what
  // `custdb stats` shows first). kBusy when this process has the database open: use the
  // member function on that handle.
  static Result<ReaderTable> reader_table(const std::filesystem::path& path);
  // Flushes buffers to disk (useful with SyncMode::kNone).
  Status sync();

  // A consistent snapshot copy into `dir`/data.mdb (0600; `dir` and missing parents made 0700),
  // taken while others read and write; kAlreadyExists when `dir` holds a database. Written under
  // a temporary name, renamed when complete: a failure (kIOError "disk is full", file size limit)
  // leaves no data.mdb. compact: omit free pages. Same encryption and key as the original.
  // A plain (not compact) copy briefly holds LMDB's writer lock to snapshot the meta pages: in
  // a thread that holds a WriteTxn of this database it is kFailedPrecondition (compact copies
  // work there).
  Status backup(const std::filesystem::path& dir, bool compact = false) const;

  // Sizes of every LMDB database of the file (tables and indexes).
  struct TableStats {
    std::string name;
    std::uint64_t entries = 0;
    std::uint64_t pages = 0;  // branch + leaf + overflow
    std::uint32_t depth = 0;
  };
  Result<std::vector<TableStats>> stats() const;

  // Encrypted databases: wraps the data key under `new_key` (a new passphrase or raw key) in
  // one atomic write. Nothing is re-encrypted, so it takes the same time at any size; other
  // open handles keep working. kFailedPrecondition on a plaintext database.
  Status change_key(const KeyMaterial& new_key);

  // ---- privacy (custdb/privacy.h; docs/security.md, "Privacy operations") ----
  // Erases each customer (EraseMode) in write transactions of at most 1000 customers, each
  // recording its erasures in the erasure journal and the audit trail, then runs scrub(): when
  // it returns, no byte of their personal data remains in data.mdb (ScrubReport::complete false
  // when a live reader pinned pages: run scrub() again once it ended). An id with no customer
  // is counted in not_found, not an error. kPermissionDenied under an analyst key.
  Result<ErasureReport> erase_customers(std::span<const CustomerId> ids, EraseMode mode);
  Result<ErasureReport> erase_customer(CustomerId id, EraseMode mode);
  // Zeroes LMDB's free pages that no live reader can see and the unused bytes of live pages,
  // and rebuilds a B-tree whose branch pages still hold a removed personal key. Takes the
  // write lock for its duration. Safe beside readers of this and other processes.
  Result<ScrubReport> scrub();
  // The retention policy: rules "erase when QUERY" or "anonymize when QUERY" (anonymize is
  // EraseMode::kKeepLedger), separated by ";" and applied in order (a customer matched by an
  // earlier rule is not counted again). kInvalidArgument naming the rule on bad syntax. ""
  // removes the policy. Recorded in the audit trail.
  Status set_retention_policy(std::string_view policy);
  // Applies the stored policy (kFailedPrecondition when none) in bounded write transactions
  // (RetentionOptions::batch), resumable: a run a crash interrupted is continued by the next
  // call. A dry run reports the same counts the real run would, changing nothing.
  Result<RetentionReport> apply_retention(const RetentionOptions& options = {});
  // Appends an entry to the audit trail in its own write transaction; returns its seq.
  Result<std::uint64_t> record_audit_event(const AuditEvent& event);
  // Encrypted databases opened with the owner's key: lets `key` open the database as an
  // analyst (KeyRole::kAnalyst). kFailedPrecondition on a plaintext database,
  // kPermissionDenied under an analyst key, kAlreadyExists when `key` already opens it.
  Status add_analyst_key(const KeyMaterial& key);
  // Removes every analyst key (their secrets no longer open the database); returns how many.
  // Nothing is re-encrypted. Owner only.
  Result<std::uint64_t> revoke_analyst_keys();

  // ---- custom attributes (custdb/attributes.h; docs/queries.md, "Custom attributes") ----
  // Schema changes are owner writes (kPermissionDenied under an analyst key), each recorded in
  // the audit trail, and refused (kFailedPrecondition naming the attribute) while another
  // change's work is unfinished: finish_schema_work() first (the CLI does so).
  //
  // The schema as last committed.
  Result<Schema> schema() const;
  // Declares an attribute (its engine-set fields ignored) and returns it as stored (id set).
  // O(1) unless def.indexed on a non-empty customers table: the index is then built as by
  // set_indexed. kInvalidArgument naming the problem: a bad or taken name (built-in fields
  // included), a type's rules (enum values, scale, a default of the wrong type), indexed on
  // a transactions attribute, required without a default on a non-empty table, a default on
  // an optional attribute; kResourceExhausted past kMaxAttributesPerTable.
  Result<AttributeDef> add_attribute(const AttributeDef& def, const SchemaWorkOptions& o = {});
  // Removes the attribute in bounded write transactions, resumable (finish_schema_work or a
  // new drop_attribute of the same name continues after a crash): an indexed attribute first
  // loses its index (IndexState kDropping: still visible, queries on it scan records); then
  // it leaves the schema's names (`dropping`: records, queries and imports no longer see it)
  // while its stored values are removed record by record; then its definition goes. kFailedPrecondition when no live attribute has that name, or when the
  // stored tier/stage rules or retention policy name it.
  Status drop_attribute(std::string_view name, AttributeTable table = AttributeTable::kCustomers,
                        const SchemaWorkOptions& o = {});
  // O(1): records store ids, not names. kInvalidArgument for a bad or taken new name;
  // kFailedPrecondition when no live attribute has that name, or when the stored rules or
  // retention policy name it.
  Status rename_attribute(std::string_view name, std::string_view new_name,
                          AttributeTable table = AttributeTable::kCustomers);
  // Builds (indexed) or drops the segment index of a customer attribute in bounded write
  // transactions while readers and writers continue; returns when done. Resumable after a
  // crash (IndexState kBuilding / kDropping with its cursor). No-op when already so.
  Status set_indexed(std::string_view name, bool indexed, const SchemaWorkOptions& o = {});
  // Continues every unfinished schema work (an interrupted backfill, index drop or value
  // removal); no-op when there is none.
  Status finish_schema_work(const SchemaWorkOptions& o = {});

  // The engine behind the handle. Defined inside the library (src/engine/db_impl.h); opaque
  // here, so a program can neither make nor reach one.
  class Impl;

 private:
  CUSTDB_LOCAL explicit Database(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Reads shared by both transaction kinds. Not constructed directly.
class CUSTDB_EXPORT ReadView {
 public:
  ReadView(const ReadView&) = delete;
  ReadView& operator=(const ReadView&) = delete;

  Result<std::optional<Customer>> get_customer(CustomerId id) const;
  Result<std::optional<Customer>> find_by_external_ref(std::string_view ref) const;
  // Every customer whose email (phone) equals the given one after normalization, by id.
  // An unparseable email or phone is kInvalidArgument.
  Result<std::vector<Customer>> find_by_email(std::string_view email) const;
  Result<std::vector<Customer>> find_by_phone(std::string_view phone) const;
  // Calls fn for every customer in id order until it returns false. A walk that ends having
  // read another number of records than the table records (a damaged or torn file) is
  // kCorruption, after fn has seen the records that were read: a caller that must not act on a
  // partial table acts only once this returns ok.
  Status for_each_customer(const std::function<bool(const Customer&)>& fn) const;
  // The same for the relationship and transaction tables, in id order.
  Status for_each_relationship(const std::function<bool(const Relationship&)>& fn) const;
  Status for_each_transaction(const std::function<bool(const Transaction&)>& fn) const;

  Result<std::optional<Relationship>> get_relationship(RelationshipId id) const;
  // Every relationship with `id` at either end, ordered by relationship id. kCorruption when the
  // index names a relationship twice, a missing one, or one without `id` at an end.
  Result<std::vector<Relationship>> relationships_of(CustomerId id) const;

  Result<std::optional<Transaction>> get_transaction(TransactionId id) const;
  // The customer's transactions with from <= ts < to, in (ts, id) order. Unbounded when absent.
  // kCorruption when the index disagrees with the customer's sealed aggregates (its number of
  // entries for the customer is not aggregates.txn_count, filtered or not), names a
  // transaction twice, a missing one, or one of another customer.
  Result<std::vector<Transaction>> transactions_of(CustomerId id,
                                                   std::optional<Timestamp> from = std::nullopt,
                                                   std::optional<Timestamp> to = std::nullopt) const;

  Result<TableCounts> counts() const;

  // ---- holdings (format 6; custdb/types.h Holding) ----
  Result<std::optional<Holding>> get_holding(HoldingId id) const;
  // The customer's holdings (closed ones included), by holding id. kCorruption when the index
  // disagrees with the customer's HoldingAggregates::holdings count, names a holding twice, a
  // missing one, or one of another customer.
  Result<std::vector<Holding>> holdings_of(CustomerId id) const;
  // The holding whose account_ref equals `ref` (trimmed), through the blind index.
  // kPermissionDenied under an analyst key.
  Result<std::optional<Holding>> find_holding_by_account_ref(std::string_view ref) const;
  // Every holding in id order until fn returns false; kCorruption as for_each_customer.
  Status for_each_holding(const std::function<bool(const Holding&)>& fn) const;
  // The transactions posted to the holding (Transaction::holding_id), in (ts, id) order.
  Result<std::vector<Transaction>> postings_of(HoldingId id) const;

  // The schema of custom attributes as of this snapshot (custdb/attributes.h).
  Result<Schema> schema() const;
  // The options to parse queries and rules for this database: amount decimals of its base
  // currency (query::parse_options_for) and this snapshot's schema (custom attribute names).
  Result<query::ParseOptions> parse_options() const;

  // ---- segment queries (custdb/segment.h, custdb/query.h) ----
  // Each is kCorruption when the segment postings disagree with the customers table: the
  // universe posting's size differs from the table's recorded count, the answer names a
  // customer outside the universe, or a member's record is missing when read.
  // kFailedPrecondition once the transaction has finished.
  //
  // Evaluates q once: the Segment answers count, ids, pages, stream, top, group and explain
  // without evaluating q again. Valid while this transaction is open (see Segment).
  Result<Segment> select(const query::Node& q, const SegmentOptions& o = {}) const;
  // The calls below are shorthands for select(q, o) followed by one call on the Segment: to
  // ask several things of one query (a count and pages, say), select once instead.
  Result<std::uint64_t> count(const query::Node& q, const SegmentOptions& o = {}) const;
  Result<std::vector<CustomerId>> ids(const query::Node& q, const SegmentOptions& o = {}) const;
  // Up to `limit` ids greater than `after`, ascending.
  Result<SegmentPage> page(const query::Node& q, std::size_t limit, CustomerId after = 0,
                           const SegmentOptions& o = {}) const;
  // Calls fn with each matching customer in id order until it returns false.
  Status stream(const query::Node& q, const std::function<bool(const Customer&)>& fn,
                const SegmentOptions& o = {}) const;
  // The n matching customers with the highest value of `by`.
  Result<std::vector<Customer>> top(const query::Node& q, const MeasureKey& by, std::size_t n,
                                    const SegmentOptions& o = {}) const;
  // One row per group value present in the segment, ordered by group.
  Result<std::vector<GroupRow>> group(const query::Node& q, GroupBy by,
                                      const SegmentOptions& o = {}) const;
  // The plan as text: each step with its estimated and actual sizes.
  Result<std::string> explain(const query::Node& q, const SegmentOptions& o = {}) const;
  // Grouped aggregates over every customer.
  Result<std::vector<GroupRow>> group_all(GroupBy by) const;
  // Segment::rank and Segment::report of select(q, o); report_all over every customer.
  Result<std::vector<Ranked>> rank(const query::Node& q, const MeasureKey& by, std::size_t n,
                                   const SegmentOptions& o = {}) const;
  Result<std::vector<ReportRow>> report(const query::Node& q, const ReportSpec& spec,
                                        const SegmentOptions& o = {}) const;
  Result<std::vector<ReportRow>> report_all(const ReportSpec& spec) const;

  // The relationship graph around `id`: every relationship reachable within `depth` hops
  // (breadth first), optionally only of one type, each with its hop distance from `id`. A
  // directed type and its inverse name the same links (kEmployee keeps the employer links,
  // in either direction); relationships are as stored (canonical direction, custdb/types.h).
  struct Hop {
    Relationship relationship;
    int depth = 1;  // 1: touches `id`
  };
  Result<std::vector<Hop>> neighborhood(CustomerId id, int depth,
                                        std::optional<RelationType> type = std::nullopt) const;

  // ---- privacy (custdb/privacy.h) ----
  // The customer's consent changes, oldest first (empty when none or no such customer).
  Result<std::vector<ConsentChange>> consent_history(CustomerId id) const;
  // Every erasure this database recorded, by seq.
  Result<std::vector<ErasureEntry>> erasure_journal() const;
  // The stored retention policy's text, nullopt when none.
  Result<std::optional<std::string>> retention_policy() const;
  // Audit entries matching the filter, by seq.
  Result<std::vector<AuditEntry>> audit_log(const AuditFilter& filter = {}) const;
  // The tier/stage rule moves of one customer, oldest first.
  Result<std::vector<RuleMove>> rule_moves(CustomerId id) const;
  // Everything held about one customer (subject access); nullopt when there is no such
  // customer. kPermissionDenied under an analyst key.
  Result<std::optional<SubjectRecord>> subject_record(CustomerId id) const;

  // The transaction's state inside the engine. Defined inside the library
  // (src/engine/db_impl.h); opaque here, so a program can neither make nor reach one.
  class State;

 protected:
  CUSTDB_LOCAL ReadView(Database::Impl* db, std::unique_ptr<State> state);
  ReadView(ReadView&&) noexcept;
  ReadView& operator=(ReadView&&) noexcept;
  ~ReadView();

  Database::Impl* db_;
  std::unique_ptr<State> state_;  // null once the transaction has finished
};

class CUSTDB_EXPORT ReadTxn : public ReadView {
 public:
  ReadTxn(ReadTxn&&) noexcept;
  ReadTxn& operator=(ReadTxn&&) noexcept;
  ~ReadTxn();  // ends the snapshot

 private:
  CUSTDB_LOCAL ReadTxn(Database::Impl* db, std::unique_ptr<State> state);
  friend class Database;
};

class CUSTDB_EXPORT WriteTxn : public ReadView {
 public:
  WriteTxn(WriteTxn&&) noexcept;
  WriteTxn& operator=(WriteTxn&&) noexcept;
  ~WriteTxn();  // aborts unless committed

  // Inserts a new customer and returns its id (the given one, or the next free id when 0).
  // Normalizes email, phone, country and tags; sets `updated_at` (and `created_at` when left
  // at the epoch). Non-zero `aggregates` or set `scores` are kInvalidArgument naming the field
  // (the engine keeps them; they are never taken from the caller).
  Result<CustomerId> insert_customer(Customer customer);
  // Partial update: `mutate` receives the stored customer and changes what it wants. Changing
  // the engine's fields (id, aggregates, scores, updated_at) is kInvalidArgument naming the
  // field, as is setting created_at to the epoch; nothing is written then. Returns false when
  // there is no such customer.
  Result<bool> update_customer(CustomerId id, const std::function<void(Customer&)>& mutate);
  // Returns false when there is no such customer. kRestrict refuses (kFailedPrecondition) a
  // customer with transactions, relationships or holdings; kCascade removes them too.
  Result<bool> delete_customer(CustomerId id, DeleteMode mode = DeleteMode::kRestrict);

  // Both ends must exist (else kFailedPrecondition) and differ (kInvalidArgument). Stored in
  // canonical form (custdb/types.h canonical()): `employee 2->1` is stored as `employer 1->2`.
  // kAlreadyExists when the link is stored already: the same link, the mirror of a symmetric
  // one, or a directed link typed by its inverse name (`employee 2->1` after `employer 1->2`).
  // The reverse directed link (`employer 2->1` beside `employer 1->2`) is a different link and
  // is accepted: the engine does not judge whether mutual employment, guarantees or even
  // parenthood make sense for the data. A custom type is directed as typed, so its reverse
  // is a different link too.
  Result<RelationshipId> add_relationship(Relationship rel);
  Result<bool> remove_relationship(RelationshipId id);

  // The customer must exist. Updates the customer's aggregates in this transaction.
  Result<TransactionId> add_transaction(Transaction txn);
  // Changes a stored transaction (any field but id, customer included) and moves the aggregates.
  // Changing the id is kInvalidArgument "id: ...". `mutate` sees the stored base_amount; for a
  // transaction that stays in the base currency an unchanged base_amount follows the amount.
  // When the currency changes to another one than the base currency, base_amount is taken as
  // the callback leaves it (set it: custdb holds no exchange rates).
  Result<bool> amend_transaction(TransactionId id, const std::function<void(Transaction&)>& mutate);
  Result<bool> remove_transaction(TransactionId id);

  // ---- holdings (format 6; custdb/types.h Holding, HoldingAggregates) ----
  // Inserts a holding and returns its id (the given one, or the next free id when 0); moves
  // the customer's HoldingAggregates. Validation errors are kInvalidArgument naming the field;
  // a missing customer kFailedPrecondition "customer_id: ..."; a taken id or account_ref
  // kAlreadyExists; a customer at kMaxHoldingsPerCustomer kFailedPrecondition. Non-zero
  // posted/base_posted/postings or a set balance_as_of are kInvalidArgument (engine fields).
  Result<HoldingId> insert_holding(Holding holding);
  // Partial update as update_customer: `mutate` gets the stored holding. Changing id,
  // customer_id or an engine field (posted, base_posted, postings, balance_as_of) is
  // kInvalidArgument naming it, as is changing the currency of a holding with postings.
  // Setting balance sets it (as a statement without a date would). false when there is no
  // such holding.
  Result<bool> update_holding(HoldingId id, const std::function<void(Holding&)>& mutate);
  // kRestrict refuses (kFailedPrecondition) a holding that transactions post to; kCascade
  // detaches them (their holding_id is cleared; the transactions and the customer's
  // Aggregates stay). false when there is no such holding.
  Result<bool> remove_holding(HoldingId id, DeleteMode mode = DeleteMode::kRestrict);
  // Sets the balance from a statement (StatementBalance): false when there is no such holding;
  // kFailedPrecondition when as_of is before the stored balance_as_of (an older statement
  // never overrides a newer one; the same date again is accepted); kInvalidArgument for a
  // bad balance or base_balance (as insert_holding). Moves the customer's aggregates.
  Result<bool> set_balance(HoldingId id, const StatementBalance& statement);

  // ---- privacy (custdb/privacy.h) ----
  // Sets one consent (state, date, source) and records the change in the consent history;
  // false when there is no such customer. As update_customer on that one field: an invalid
  // consent (state not named, a date missing or given with unknown, a date outside
  // 1800..2200, a source with control characters, not UTF-8, over 100 bytes, or given with
  // unknown) or purpose is kInvalidArgument naming it ("consent_profiling source: ...") and
  // nothing is written. A date before the current (granted or denied) state's date is
  // kInvalidArgument too: a backdated change never overrides a later one (this call only:
  // update_customer and import take consents as given, and record them in the history).
  // Denying kProfiling clears the customer's scores in the same write.
  // Records an audit entry "set_consent" (the id, purpose and state; never the source).
  // Every write that changes a consent (insert, update, import) records its history too.
  Result<bool> set_consent(CustomerId id, ConsentPurpose purpose, const Consent& consent);
  // The logical part of an erasure (Database::erase_customer): removes (kFull) or strips
  // (kKeepLedger) the customer and records it in the erasure journal and the audit trail.
  // Old bytes stay in LMDB's free pages until Database::scrub() runs after the commit: the
  // one-shot Database::erase_customer does both. false when there is no such customer.
  Result<bool> erase_customer(CustomerId id, EraseMode mode);
  // Appends an entry to the audit trail in this transaction; returns its seq.
  Result<std::uint64_t> record_audit_event(const AuditEvent& event);

  // Makes every change durable (per Options::sync) and visible to later transactions.
  // After commit, or after any error from it, the transaction is finished.
  Status commit();
  // Discards every change. Idempotent; the destructor calls it.
  void abort() noexcept;

 private:
  CUSTDB_LOCAL WriteTxn(Database::Impl* db, std::unique_ptr<State> state);
  friend class Database;
};

struct RotationProgress {
  std::string table;        // "customers", "relationships", "transactions" or "holdings"
  std::uint64_t done = 0;   // records of this table re-encrypted so far
  std::uint64_t total = 0;  // records in this table
  bool resumed = false;     // this run continues an interrupted one
};

// Re-encrypts every record and every index token of the encrypted database at `path` under a
// new random data key, wrapped under the same passphrase or key (options.key).
//
// The database is rewritten into `path/rotate.tmp` in write transactions of `batch` records,
// each recording its progress, and the new file then replaces data.mdb in one rename. If the
// process dies at any point the original stays complete and readable, and the next call
// resumes from the last committed batch (or starts over if the database changed meanwhile).
// Needs the database to itself: fails with kBusy while any other handle has it open.
CUSTDB_EXPORT Status rotate_data_key(
    const std::filesystem::path& path, const Options& options,
    const std::function<void(const RotationProgress&)>& progress = {}, std::size_t batch = 10000);

// Replaces the database at `db_dir` with the backup in `backup_dir` (written by
// Database::backup), then re-applies every erasure the replaced database's journal recorded
// that the backup's journal lacks, and scrubs: a customer erased after the backup was taken
// stays erased. Built in `db_dir`/restore.tmp and renamed over data.mdb when complete, so a
// crash at any point leaves the old database whole (the next call starts over). Needs the
// database to itself (kBusy while another handle has it open). `options.key` opens both (the
// same database's backup). When `db_dir` holds no database there is no journal to re-apply:
// kFailedPrecondition unless `without_journal` is true. Recorded in the audit trail.
CUSTDB_EXPORT Result<RestoreReport> restore_backup(const std::filesystem::path& backup_dir,
                                                   const std::filesystem::path& db_dir,
                                                   const Options& options,
                                                   bool without_journal = false);

}  // namespace custdb
