// The engine's private state: the LMDB environment and its databases, the codec and index-key
// derivation for this file's mode, and the operations every public call is built from.
#pragma once

#include <array>
#include <cassert>
#include <filesystem>
#include <functional>
#include <map>
#include <unordered_map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <atomic>
#include <optional>
#include <span>
#include <condition_variable>
#include <utility>
#include <string>
#include <string_view>
#include <vector>

#include <roaring/roaring.hh>

#include "codec/record_codec.h"
#include "custdb/check.h"
#include "custdb/database.h"
#include "index/id_set.h"
#include "index/index_keys.h"
#include "index/segments.h"
#include "segment/chunk_cache.h"
#include "segment/segment_index.h"
#include "storage/lmdb.h"
#include "storage/page_check.h"
#include "util/coding.h"
#include "util/mutex.h"
#include "util/thread_annotations.h"

namespace custdb::crypto {
class RecordCipher;
class Tokenizer;
class SecretBuffer;
struct KeyHeader;
enum class Cipher : std::uint8_t;
}  // namespace custdb::crypto

namespace custdb::detail {

class FeedRecorder;  // engine/feed_record.h

// LMDB changes the map size only while no transaction of the process is active. That is needed
// in one case only: another process, opened with a larger Options::max_map_size, filled the
// file past this process's map (a begin reports Txn::Begin::kMapResized), and this process must
// adopt the larger size.
// With default options every process maps kDefaultMapSize and this never happens; no
// transaction ever waits here otherwise. Every transaction holds a ticket; adopting closes the
// gate to new tickets and waits for the count to reach zero. A counter, not a shared mutex,
// because one thread may hold several transactions (a ReadTxn and a WriteTxn, say).
class RemapGate {
 public:
  class Ticket {
   public:
    Ticket() = default;
    explicit Ticket(RemapGate* g) : gate_(g) {}
    Ticket(Ticket&& o) noexcept : gate_(std::exchange(o.gate_, nullptr)) {}
    Ticket& operator=(Ticket&& o) noexcept {
      release();
      gate_ = std::exchange(o.gate_, nullptr);
      return *this;
    }
    ~Ticket() { release(); }
    void release() {
      if (gate_) std::exchange(gate_, nullptr)->leave();
    }

   private:
    RemapGate* gate_ = nullptr;
  };

  Ticket enter() EXCLUDES(m_) {
    MutexLock l(&m_);
    while (remapping_) cv_.wait();
    ++active_;
    return Ticket(this);
  }
  // Runs fn with no transaction of this process active; false when that did not happen
  // within `wait` (a transaction stayed open: perhaps in the calling thread).
  template <class Fn>
  bool exclusive(std::chrono::milliseconds wait, Fn&& fn) EXCLUDES(m_) {
    MutexLock l(&m_);
    while (remapping_) cv_.wait();
    remapping_ = true;
    const auto deadline = std::chrono::steady_clock::now() + wait;
    bool ok = active_ == 0;
    while (!ok) {
      const bool woken = cv_.wait_until(deadline);
      ok = active_ == 0;
      if (!woken) break;
    }
    if (ok) fn();
    remapping_ = false;
    cv_.notify_all();
    return ok;
  }

 private:
  void leave() EXCLUDES(m_) {
    MutexLock l(&m_);
    if (--active_ == 0) cv_.notify_all();
  }
  Mutex m_;
  CondVar cv_{&m_};
  int active_ GUARDED_BY(m_) = 0;  // tickets held
  bool remapping_ GUARDED_BY(m_) = false;
};

class DatabaseImpl;

// The write lock of one database file, held for a write transaction's whole life: this
// process's mutex (one writer thread at a time), then an OFD lock on custdb.lock (one writer
// process at a time). Taken before the LMDB transaction begins, so LMDB's own writer mutex is
// then never contended: it has no timed wait, ours has (Options::busy_timeout).
class WriterLock {
 public:
  WriterLock() = default;
  explicit WriterLock(DatabaseImpl* d) : db_(d) {}
  WriterLock(WriterLock&& o) noexcept : db_(std::exchange(o.db_, nullptr)) {}
  WriterLock& operator=(WriterLock&& o) noexcept {
    release();
    db_ = std::exchange(o.db_, nullptr);
    return *this;
  }
  ~WriterLock() { release(); }
  void release() noexcept;
  explicit operator bool() const { return db_ != nullptr; }

 private:
  DatabaseImpl* db_ = nullptr;
};

// One LMDB transaction and its state.
struct TxnState {
  WriterLock writer;         // write transactions: released only after `txn` has ended
  RemapGate::Ticket ticket;  // released only after `txn` has ended
  storage::Txn txn;
  bool write = false;
  // A storage failure mid-write (the map full, I/O, corruption): LMDB allows only abort, so
  // later calls and commit() return `failure`, and nothing of the transaction is stored.
  bool poisoned = false;
  std::optional<Error> failure;
  // The transaction's time, taken at its first write that stamps a record, so every record it
  // writes carries one time (stamp_time()).
  std::optional<Timestamp> stamp;
  std::vector<std::uint8_t> buf;  // encode scratch
  // Segment-bitmap changes not yet written, by chunk key: (id low 32 bits, present) in order.
  // Written once per chunk at commit (or before a segment read in this transaction), so a
  // chunk touched by many customers of one transaction is rewritten once.
  std::map<std::string, std::vector<std::pair<std::uint32_t, bool>>> posting_deltas;
  // The bit slices (src/segment/slices.h) are not queued bit by bit (an insert flips ~200):
  // per customer changed in this transaction, its sliced values before the transaction's
  // first change of it (`from`) and now (`to`); flush writes the bits that differ, chunk by
  // chunk. Several changes of one customer (an insert and its transactions) cost one diff.
  struct SliceValues {
    std::array<std::int64_t, 13> v{};  // by segment::kSlicedFields
    std::uint16_t present = 0;        // bit i: field i has a value
  };
  struct SliceChange {
    SliceValues from, to;
  };
  std::unordered_map<std::uint64_t, SliceChange> slice_changes;
  // The slices of ordered custom attributes (segment/attribute_index.h), the same way: per
  // (attribute id, personal) and customer, the value before the transaction's first change
  // and now (absent: nullopt).
  struct AttributeSliceChange {
    std::optional<std::int64_t> from, to;
  };
  std::map<std::pair<std::uint32_t, bool>, std::unordered_map<std::uint64_t, AttributeSliceChange>>
      attribute_slice_changes;
  bool has_queued_postings() const {
    return !posting_deltas.empty() || !slice_changes.empty() || !attribute_slice_changes.empty();
  }
  // Encrypted mode: the lowest and highest bucket added per ordered field in this transaction,
  // merged into meta "extent.<field>" at flush (see segment::SegmentIndex::extent).
  std::map<index::SegField, std::pair<std::int64_t, std::int64_t>> extents_added;
  // Encrypted mode: the text values (region, city, country, tag) added in this transaction,
  // merged into meta "values.<field>" at flush (see segment::SegmentIndex::text_values).
  std::map<index::SegField, std::set<std::string>> values_added;
  // Encrypted mode: the values of indexed text / tag_set custom attributes added in this
  // transaction, by dictionary meta key (segment::attribute_dictionary_key), merged at flush.
  std::map<std::string, std::set<std::string>> attribute_values_added;
  // Segments (custdb/segment.h) hold a weak reference: it expires when the transaction ends,
  // so using a segment afterwards is refused, not undefined.
  std::shared_ptr<const bool> alive = std::make_shared<const bool>(true);
  // Successful puts and deletes in this transaction: a segment selected before a later write
  // of its own transaction is refused as outdated.
  std::uint64_t writes = 0;
  // The custom attribute schema as of this transaction (DatabaseImpl::schema_of loads it on
  // first use; a schema change in this write transaction replaces it). Null until loaded.
  std::shared_ptr<const Schema> schema;
  // The change feed's recorder of this write transaction (engine/feed_record.h): set at begin
  // when the file's feed is on, null otherwise (and in read transactions). DatabaseImpl::put
  // and del report every recorded table's writes to it; commit() stores them as one entry.
  std::shared_ptr<FeedRecorder> feed;
};

// Attributes the changes the feed records while it lives to (table, customer): the part they
// travel in (custdb/feed.h, "Parts and subjects"). Scopes nest; the innermost wins. Without a
// scope a change goes to a default part (engine/feed_record.h says which). No effect when
// st has no recorder. Placed by every write operation that writes a customer's records.
class FeedScope {
 public:
  FeedScope(TxnState& st, std::string_view table, CustomerId customer);
  ~FeedScope();
  FeedScope(const FeedScope&) = delete;
  FeedScope& operator=(const FeedScope&) = delete;

 private:
  TxnState* st_ = nullptr;
  std::shared_ptr<FeedRecorder> rec_;  // the recorder the scope was opened on
  std::string prev_table_;
  CustomerId prev_customer_ = 0;
  bool active_ = false;
};

// While a FeedSuspend lives nothing of st is recorded in the feed: an erasure's data changes,
// which the feed carries as one logical op instead (feed_erasure below; custdb/feed.h).
class FeedSuspend {
 public:
  explicit FeedSuspend(TxnState& st) : st_(st), saved_(std::move(st.feed)) { st.feed.reset(); }
  ~FeedSuspend() { st_.feed = std::move(saved_); }
  FeedSuspend(const FeedSuspend&) = delete;
  FeedSuspend& operator=(const FeedSuspend&) = delete;

 private:
  TxnState& st_;
  std::shared_ptr<FeedRecorder> saved_;
};

class DatabaseImpl;
// ---- the change feed's capture hooks (engine/feed_record.cc): no-ops when st.feed is null ----
// segment::flush reports each bit it changes (the feed carries bits, never whole chunks).
void feed_bit(TxnState& st, std::string_view posting, CustomerId id, bool set);
// Records the erasure of customer `id` as its own part (table "erasure", no customer; replicas
// run replay_erasure with the entry's time) and lists id in the entry's `erased`; removes the
// parts of earlier entries that hold id's changes from the feed. Called by the erasure, in its
// write transaction, after its FeedSuspend ended.
Status feed_erasure(DatabaseImpl& d, TxnState& st, CustomerId id, EraseMode mode);
// A replica applying an erasure op (engine/erase.cc): makes the data changes the primary's
// erasure made in its FeedSuspend, at the primary's time `stamp` (st.stamp), identically.
Status replay_erasure(DatabaseImpl& d, TxnState& st, CustomerId id, EraseMode mode,
                      Timestamp stamp);

// The engine of one open database: the LMDB environment and its tables, the codec and
// index-key derivation of the file's mode, the write lock, and the operations every public
// call is built from. Owned by its Database handle; every transaction of the handle uses it.
//
// Thread safety: the catalog (path() through seg_keys() below) is set by open() (open.cc) and
// only read afterwards, from any thread: its accessors are const and return const references,
// so no other code can change it. A TxnState is used by one thread at a time. The write lock,
// the remap gate and the nonce sealer guard their own state (annotated). Methods that write
// are not const; const ones only read.
class DatabaseImpl {
 public:
  // The LMDB named databases of the file (docs/format.md), opened by open().
  struct Tables {
    storage::Table meta, customers, relationships, transactions;
    std::array<storage::Table, index::kIndexCount> index{};  // by index::IndexId
    storage::Table segments;
    // Format 4 (privacy, custdb/privacy.h); each keyed by a big-endian u64 sequence number
    // (consent_history and rule_moves: customer id then sequence) and valued in the record
    // envelope (sealed in encrypted mode). A read-only open of an older file leaves them
    // null: read them as empty.
    storage::Table audit, erasures, consent_history, rule_moves;
    // Format 6: holdings (custdb/types.h Holding), keyed by big-endian id; null in a
    // read-only open of an older file (read as empty).
    storage::Table holdings;
    // Format 7: the change feed (custdb/feed.h, engine/feed_record.h): `feed` keyed by seq
    // (u64 BE) || part number (u32 BE), `feed_consumers` by consumer name. Null in a
    // read-only open of an older file (read as empty).
    storage::Table feed, feed_consumers;
  };

  ~DatabaseImpl();

  // ---- catalog: set by open(), read-only afterwards ----
  // The database directory as opened.
  const std::filesystem::path& path() const { return path_; }
  // As opened; the secret (options().key) is dropped once the key is unwrapped.
  const Options& options() const { return options_; }
  const Tables& tables() const { return tables_; }
  // Whether the file is in encrypted mode (from its header).
  bool encrypted() const { return encrypted_; }
  // The file's base currency (ISO 4217, from its header).
  const std::string& base_currency() const { return base_currency_; }
  // The region national phone forms are read in (ISO 3166-1 alpha-2, "" for none): the file's
  // (meta "phone_region"), or Options::phone_region when given (normalize::phone).
  const std::string& phone_region() const { return phone_region_; }
  // Record encoding of the file's mode (encrypted mode: sealing once ensure_sealer() ran).
  const codec::RecordCodec& codec() const { return *codec_; }
  // Index-key derivation of the file's mode.
  const index::IndexKeys& keys() const { return *keys_view_.load(std::memory_order_acquire); }
  // Segment-posting keys of the file's mode.
  const segment::SegmentKeys& seg_keys() const {
    return *seg_keys_view_.load(std::memory_order_acquire);
  }
  // Encrypted mode: opened segment chunks, shared by every transaction (thread-safe; see
  // segment/chunk_cache.h). Not part of the catalog: it changes as queries read.
  segment::ChunkCache& chunk_cache() const { return chunk_cache_; }
  // Whether the file keeps the bit-sliced index (format 2, src/segment/slices.h): false only
  // for a format-1 file opened read-only (the engine then answers as format 1 did).
  bool sliced() const { return seg_keys().sliced(); }
  // The file format as this handle sees it: the header's, or kFileFormat once this handle
  // upgraded the file (a read-only open of an old file keeps the old number).
  std::uint32_t file_format() const { return file_format_; }

  // take_process_lock: false only for key rotation, which holds the lock exclusively itself.
  static Result<std::unique_ptr<Database::Impl>> open(const std::filesystem::path& path,
                                                    const Options& options,
                                                    bool take_process_lock = true);

  // ---- the environment ----
  storage::EnvInfo env_info() const { return env_.info(); }
  // Flushes the data file to disk (also in the no-sync modes).
  Status sync() { return env_.sync(true); }
  // A consistent copy of the data file written to fd (Database::backup).
  Status copy_to_fd(int fd, bool compact, const std::string& what) const {
    return env_.copy_to_fd(fd, compact, what);
  }
  // Clears dead processes' reader slots; fills a ReaderTable (Database::reader_table).
  ReaderTable reader_table();
  // The unwrapped data key (encrypted mode only): key bindings and key changes.
  const crypto::SecretBuffer& data_key() const { return *data_key_; }
  // What the secret this handle was opened with may do (kNone: plaintext).
  KeyRole role() const { return role_; }
  // Encrypted files of format 4: personal fields are sealed under the personal key.
  bool split() const { return split_.load(std::memory_order_acquire); }
  // A read-only owner handle opened on an encrypted file of format <= 3 that another process
  // has since upgraded: takes the file's personal key (in st's snapshot) so that the handle
  // reads the split records. Called by begin() for read transactions while pending.
  Status adopt_personal_key(TxnState& st);
  bool personal_key_pending() const { return late_pending_.load(std::memory_order_acquire); }
  // The personal key (owner handles of split files), else null.
  const crypto::SecretBuffer* personal_key() const { return personal_key_.get(); }
  // kPermissionDenied under an analyst key (`what` names the refused operation).
  Status require_owner(std::string_view what) const {
    if (role_ != KeyRole::kAnalyst) return {};
    return make_error(ErrorCode::kPermissionDenied,
                      std::string(what) + " needs the owner's key: this database was opened "
                                          "with an analyst key");
  }
  // Format-3 upgrade of an encrypted file (upgrade_v4_privacy): installs a new personal key
  // (already wrapped and stored by the caller) and splits personal fields from now on.
  void install_personal_key(std::unique_ptr<crypto::SecretBuffer> pk);
  // Whether the calling thread holds this database's write lock (a WriteTxn of its own).
  bool this_thread_writes() const {
    return writer_thread_.load(std::memory_order_acquire) == std::this_thread::get_id();
  }

  // ---- transactions (txn.cc) ----
  // audit_only: a write transaction that will only append to the audit trail, allowed under
  // an analyst key too (an analyst's exports and reveals are recorded like anyone's; the
  // entry is sealed under the data key, which the analyst holds).
  Result<std::unique_ptr<ReadView::State>> begin(bool write, bool audit_only = false);
  Status commit(TxnState& st);
  // Runs body in a write transaction and commits it. When the write lock stays taken past
  // Options::busy_timeout (kBusy from begin), waits and tries again, at most kWriteAttempts
  // times in all; body's own errors and commit's are returned as they are, never retried.
  Status write_retrying(const std::function<Status(TxnState&)>& body);
  static constexpr int kWriteAttempts = 5;
  // The write lock (WriterLock). Waits at most Options::busy_timeout (kBusy after it).
  // kFailedPrecondition at once when the calling thread holds the lock already: waiting would
  // wait for itself.
  Result<WriterLock> lock_writer();

  // Records a storage failure of st's write (sets poisoned/failure) and returns it: LMDB
  // allows only abort after a failed put, delete or commit.
  Error fail(TxnState& st, Error e);

  // ---- the change feed (custdb/feed.h; feed_api.cc, feed_record.cc) ----
  // The in-process condition feed::wait waits on: commit() notifies it after an entry of
  // this handle's feed committed (feed_generation() then grows).
  void notify_feed();
  std::uint64_t feed_generation() const;
  // Waits until feed_generation() differs from `generation` or `until` passes.
  void wait_feed(std::uint64_t generation, std::chrono::steady_clock::time_point until) const;
  // A replica's first feed::apply in encrypted mode (open.cc): raises meta nonce_epoch to a
  // random value in [2^31, 2^32 - 2^24) (never lowering it), durably, so that the replica's
  // seals never meet the primary's nonces. kFailedPrecondition "reopen the replica before its
  // first apply" when this handle has made its sealer already. Takes the write lock.
  Status raise_epoch_for_replica();

  // ---- storage primitives (a failed put/del poisons st) ----
  Result<std::optional<storage::Bytes>> get(TxnState& st, storage::Table table,
                                            storage::Bytes key) const;
  Status put(TxnState& st, storage::Table table, storage::Bytes key, storage::Bytes val,
             storage::Put how = storage::Put::kOverwrite);
  // Deletes key (or only its duplicate `val`); nothing there is no error.
  Status del(TxnState& st, storage::Table table, storage::Bytes key,
             std::optional<storage::Bytes> val = std::nullopt);
  Status put_entry(TxnState& st, const index::IndexEntry& e);
  Status del_entry(TxnState& st, const index::IndexEntry& e);
  // Applies the difference between a record's old and new index entries (index::diff_entries:
  // deletes the gone ones, puts the new ones, leaves the rest alone).
  Status update_entries(TxnState& st, std::vector<index::IndexEntry> old_entries,
                        std::vector<index::IndexEntry> new_entries);
  // put_entry of each entry (new ones: a batch's), sorted and through one cursor per index.
  Status put_entries_sorted(TxnState& st, std::vector<index::IndexEntry> entries);
  // Values of every dup under `key` in a dupsort index.
  Result<std::vector<std::string>> index_values(TxnState& st, index::IndexId id,
                                                std::string_view key) const;

  // ---- meta ----
  // A meta value in the record envelope (table kMeta): sealed in encrypted mode, checksummed in
  // plaintext; the extent.* and analytics.* keys. The engine's own meta values (header,
  // next_id.* counters, ...) are raw bytes, read and written with get()/put() on tables().meta.
  Result<std::optional<std::string>> get_sealed_meta(TxnState& st, std::string_view key) const;
  Status put_sealed_meta(TxnState& st, std::string_view key, std::string_view value);
  // Split files: the sealed meta values that hold personal data (the city dictionary, the
  // birth-date extent) are sealed under the personal key (kPermissionDenied to an analyst).
  bool personal_meta(std::string_view key) const {
    return split() && (key == kPersonalMetaCity || key == kPersonalMetaBirthDate ||
                       (key.starts_with("values.attribute.") && key.ends_with(".personal")));
  }
  static constexpr std::string_view kPersonalMetaCity = "values.city";
  static constexpr std::string_view kPersonalMetaBirthDate = "extent.birth_date";
  Result<std::uint64_t> next_id(TxnState& st, std::string_view counter) const;
  Status bump_counter(TxnState& st, std::string_view counter, std::uint64_t used_id);

  // Point reads of one table through one cursor, for keys visited in ascending order (an
  // IdSet's for_each): when a key falls in the cursor's current leaf page, LMDB searches only
  // that page instead of descending from the root. Used within st's transaction only.
  class OrderedReader {
   public:
    OrderedReader(TxnState& st, storage::Table table) : st_(&st), reader_(st.txn, table) {}
    Result<std::optional<storage::Bytes>> get(storage::Bytes key) { return reader_.get(key); }
    TxnState& state() const { return *st_; }  // whose schema decodes (schema_of)

   private:
    TxnState* st_;
    storage::PointReader reader_;
  };

  // Puts into one table through one cursor, for keys written in ascending order (the batch
  // writes): see storage::PointWriter. Used within st's write transaction only.
  class OrderedWriter {
   public:
    OrderedWriter(TxnState& st, storage::Table table) : writer_(st.txn, table), table_(table) {}

   private:
    friend class DatabaseImpl;
    storage::PointWriter writer_;
    storage::Table table_;  // the change feed records its puts (store.cc)
  };
  // As put() above, through `writer` (into its table).
  Status put(TxnState& st, OrderedWriter& writer, storage::Bytes key, storage::Bytes val,
             storage::Put how = storage::Put::kOverwrite);

  // ---- records ----
  // The record of type T (Customer, Relationship or Transaction) with this id, decoded;
  // nullopt when there is none. Instantiated for those types and Holding only (store.cc).
  template <class T>
  Result<std::optional<T>> load(TxnState& st, std::uint64_t id) const;
  // The same through `reader`, an OrderedReader of table_of<T>().
  template <class T>
  Result<std::optional<T>> load(OrderedReader& reader, std::uint64_t id) const;
  // The table holding records of type T.
  template <class T>
  storage::Table table_of() const;
  Result<std::optional<Customer>> load_customer(TxnState& st, CustomerId id) const {
    return load<Customer>(st, id);
  }
  Result<std::optional<Customer>> load_customer(OrderedReader& customers, CustomerId id) const {
    return load<Customer>(customers, id);
  }
  Result<std::optional<Relationship>> load_relationship(TxnState& st, RelationshipId id) const {
    return load<Relationship>(st, id);
  }
  Result<std::optional<Transaction>> load_transaction(TxnState& st, TransactionId id) const {
    return load<Transaction>(st, id);
  }
  // `customers`: an OrderedWriter of the customers table to store through (batches), or null.
  Status store_customer(TxnState& st, const Customer& c, OrderedWriter* customers = nullptr);
  // Every customer change goes through here: the record (stored, or deleted when `after` is
  // null), its index entries and its segment postings, each moved from `before`'s to `after`'s.
  Status write_customer(TxnState& st, const Customer* before, const Customer* after,
                        OrderedWriter* customers = nullptr);

  // ---- segment postings (src/segment/segment_index.h owns them; these forward) ----
  void queue_postings(TxnState& st, const Customer* before, const Customer* after);
  Status flush_postings(TxnState& st);

  // ---- operations (ops.cc) ----
  Result<CustomerId> insert_customer(TxnState& st, Customer c);
  // insert_customer of each row in order, as one batch (the bulk import's path): the records
  // written in id order, the index entries sorted, the id counter written once. results and
  // errors as add_transactions below. keep_updated_at: a row's updated_at is kept unless it
  // is the epoch (import restores an exported one); otherwise every row's is now.
  Status insert_customers(TxnState& st, std::span<Customer> rows,
                          std::vector<Result<CustomerId>>& results, bool keep_updated_at = false);
  Result<bool> update_customer(TxnState& st, CustomerId id,
                               const std::function<void(Customer&)>& mutate);
  Result<bool> delete_customer(TxnState& st, CustomerId id, DeleteMode mode);
  // Replaces a customer's scores (analytics), leaving updated_at: the customer's own
  // attributes did not change. false when there is no such customer.
  Result<bool> set_scores(TxnState& st, CustomerId id, const std::optional<Scores>& scores);
  Result<RelationshipId> add_relationship(TxnState& st, Relationship r);
  Result<bool> remove_relationship(TxnState& st, RelationshipId id);
  Result<TransactionId> add_transaction(TxnState& st, Transaction t);
  // add_transaction of each row in order, with one read-modify-write of each customer the
  // batch touches (decoded once, its aggregates moved row by row in memory, encoded and its
  // postings diffed once) and the records written in id order: the bulk import's path.
  // results[i] is what add_transaction(rows[i]) would have returned after the rows before it:
  // the id, or a refusal (kInvalidArgument, kAlreadyExists, kFailedPrecondition; that row is
  // skipped, nothing of it written, and the rows after it see the batch without it). Accepted
  // rows get their id and canonical form in place. Any other error (kCorruption, storage)
  // ends the call: results then has one entry per row checked before it (the failing row's
  // index is results.size() when the failure came while checking; results.size() ==
  // rows.size() when it came while writing, which poisons st).
  // move_balances false (format 6): postings are linked (the holding's posted, base_posted
  // and postings move) but its balance and base_balance stay (io::ImportOptions).
  Status add_transactions(TxnState& st, std::span<Transaction> rows,
                          std::vector<Result<TransactionId>>& results, bool move_balances = true);
  Result<bool> amend_transaction(TxnState& st, TransactionId id,
                                 const std::function<void(Transaction&)>& mutate);
  Result<bool> remove_transaction(TxnState& st, TransactionId id);

  // Stores a record exactly as given (ids, times and aggregates included) with its index
  // entries: used to rewrite a database under a new key.
  Status restore_customer(TxnState& st, const Customer& c);
  Status restore_relationship(TxnState& st, const Relationship& r);
  Status restore_transaction(TxnState& st, const Transaction& t);
  Status restore_holding(TxnState& st, const Holding& h);  // format 6

  // ---- holdings (holdings.cc; format 6, custdb/types.h Holding) ----
  // The engine side of the public calls (database.h), same contracts. Every holding change
  // recounts the customer's HoldingAggregates from its holdings (holding_aggregates, one
  // owner: engine/holding_math.h) and rewrites the customer through write_customer (so its
  // segment postings follow); a posting or statement moves aum / liabilities by the delta.
  Result<HoldingId> insert_holding(TxnState& st, Holding h);
  Result<bool> update_holding(TxnState& st, HoldingId id,
                              const std::function<void(Holding&)>& mutate);
  Result<bool> remove_holding(TxnState& st, HoldingId id, DeleteMode mode);
  Result<bool> set_balance(TxnState& st, HoldingId id, const StatementBalance& statement);
  Result<std::optional<Holding>> load_holding(TxnState& st, HoldingId id) const;
  // The customer's holdings by id through idx.holding_by_customer, each checked to exist and
  // to belong to `id` (kCorruption otherwise). Empty for a file without the holdings table.
  Result<std::vector<Holding>> holdings_of(TxnState& st, CustomerId id) const;
  // The transactions posted to the holding, in (ts, id) order (idx.txn_by_holding).
  Result<std::vector<Transaction>> postings_of(TxnState& st, HoldingId id) const;
  // Writes h's record (its index entries are the caller's), through `holdings` when given.
  Status store_holding(TxnState& st, const Holding& h, OrderedWriter* holdings = nullptr);

  // ---- reads (reads.cc) ----
  Result<std::vector<Customer>> customers_by(TxnState& st, index::IndexId id,
                                             std::string_view key) const;
  // As above; each customer found must satisfy `agrees`, else kCorruption.
  Result<std::vector<Customer>> customers_by(
      TxnState& st, index::IndexId id, std::string_view key,
      const std::function<bool(const Customer&)>& agrees) const;
  Result<std::vector<Relationship>> relationships_of(TxnState& st, CustomerId id) const;
  Result<std::vector<Transaction>> transactions_of(TxnState& st, CustomerId id,
                                                   std::optional<Timestamp> from,
                                                   std::optional<Timestamp> to) const;
  // The customer's first and last transaction times, not counting `excluded`.
  Result<std::pair<std::optional<Timestamp>, std::optional<Timestamp>>> first_last_txn(
      TxnState& st, CustomerId id, TransactionId excluded) const;
  // The relationships within `depth` hops of `id` (breadth first), each with its hop count;
  // `type` keeps only relationships of that type. kInvalidArgument when depth < 1.
  Result<std::vector<ReadView::Hop>> neighborhood(TxnState& st, CustomerId id, int depth,
                                                  std::optional<RelationType> type) const;

  // ---- custom attributes (schema.cc; custdb/attributes.h) ----
  // The schema as of st: meta "schema" decoded (the empty schema when absent), cached in
  // st.schema. kCorruption for a malformed stored schema.
  Result<std::shared_ptr<const Schema>> schema_of(TxnState& st) const;

  // ---- consistency check (check.cc) ----
  Result<CheckReport> check();

  // ---- audit trail (audit.cc) ----
  // Appends one entry to the audit trail (table audit) in st's write transaction: the next
  // seq, st's transaction time, the effective OS user, uid and pid, and `event`; extends the
  // hash chain and its head (meta "audit.head"). Returns the entry's seq. kInvalidArgument
  // when the event breaks AuditEvent's limits (command empty or not printable ASCII, ...);
  // kCorruption when the stored head is malformed. Every library privacy operation calls it
  // in its own transaction (docs/security.md, "Audit trail").
  Result<std::uint64_t> append_audit(TxnState& st, const AuditEvent& event);
  // The entries matching `filter`, by seq (empty when the file has no audit table).
  Result<std::vector<AuditEntry>> audit_entries(TxnState& st, const AuditFilter& filter) const;

  // ---- erasure (erase.cc, scrub.cc; erase.h) ----
  // Database::scrub: holds the write lock throughout (kBusy as a write's begin).
  Result<ScrubReport> scrub();

 private:
  friend class WriterLock;  // releases the write lock

  // Begins st.txn (with a gate ticket), adopting a map grown by another process.
  Status begin_into(TxnState& st, bool write);
  // Upgrades an older file opened read-write to kFileFormat (open.cc); sets seg_keys_ sliced
  // and file_format_.
  static Status upgrade(DatabaseImpl& d);
  // Reserves a fresh nonce epoch (durably) and makes the sealer; once per handle.
  Status ensure_sealer() EXCLUDES(sealer_mutex_);
  // split_ and the personal cipher and tokenizer (when personal_key_ is set); the codec told.
  void make_personal_state(crypto::Cipher cipher);
  // Replaces the index-key and segment-key objects (a null one is kept); the old ones are
  // retired, never freed while the handle lives.
  void set_keys(std::unique_ptr<index::IndexKeys> keys,
                std::unique_ptr<segment::SegmentKeys> seg_keys);

  // The catalog (see the accessors above): written in open.cc only.
  std::filesystem::path path_;
  Options options_;
  Tables tables_;
  bool encrypted_ = false;
  std::uint32_t file_format_ = 0;
  std::string base_currency_;
  std::string phone_region_;
  std::unique_ptr<codec::RecordCodec> codec_;
  std::unique_ptr<index::IndexKeys> keys_;
  std::unique_ptr<segment::SegmentKeys> seg_keys_;
  std::atomic<const index::IndexKeys*> keys_view_{nullptr};
  std::atomic<const segment::SegmentKeys*> seg_keys_view_{nullptr};
  std::vector<std::shared_ptr<const void>> retired_;
  mutable segment::ChunkCache chunk_cache_;

  std::string registry_key_;  // canonical path in the process-wide open-database registry
  storage::Env env_;
  int lock_fd_ = -1;  // custdb.lock: shared by every open, exclusive during key rotation
  std::unique_ptr<crypto::SecretBuffer> data_key_;  // encrypted mode: unwrapped at open
  std::unique_ptr<crypto::Tokenizer> tokenizer_;    // encrypted mode: index-key tokens
  // `cipher_` opens records (its epoch 0 is never committed, so it never seals); `sealer_`,
  // with a durably reserved epoch, is made before the first write transaction (ensure_sealer).
  std::unique_ptr<crypto::RecordCipher> cipher_;
  Mutex sealer_mutex_;
  std::unique_ptr<crypto::RecordCipher> sealer_ GUARDED_BY(sealer_mutex_);
  // Format 4 (docs/security.md, "Analyst key"): the personal key and what derives from it.
  KeyRole role_ = KeyRole::kNone;
  std::atomic<bool> split_{false};
  // adopt_personal_key: the owner's secret, kept only by read-only handles of older encrypted
  // files until the file's personal key is adopted.
  Mutex late_mutex_;
  std::shared_ptr<const KeyMaterial> late_key_ GUARDED_BY(late_mutex_);
  std::atomic<bool> late_pending_{false};
  std::unique_ptr<crypto::SecretBuffer> personal_key_;
  std::unique_ptr<crypto::RecordCipher> personal_cipher_;
  std::unique_ptr<crypto::Tokenizer> personal_tokenizer_;
  std::unique_ptr<crypto::RecordCipher> personal_sealer_ GUARDED_BY(sealer_mutex_);
  std::atomic<bool> sealer_ready_{false};  // sealer_ is made: read without the mutex
  RemapGate remap_gate_;
  // One writer thread at a time (WriterLock): it guards no memory, it serializes write
  // transactions, so nothing is GUARDED_BY it.
  TimedMutex writer_mutex_;
  // The thread holding writer_mutex_ (default id when none): how a nested write is told apart
  // from a wait for another thread.
  std::atomic<std::thread::id> writer_thread_{};
  // feed::wait's condition (notify_feed).
  mutable std::mutex feed_mu_;
  mutable std::condition_variable feed_cv_;
  std::uint64_t feed_generation_ = 0;  // guarded by feed_mu_
};

// While one lives on this thread, begin() lets a write transaction of a replica (feed.h Role
// kReplica) begin: feed::apply, feed::disable and scrub, the only writes a replica allows;
// any other write of a replica is kFailedPrecondition. Nests.
class ReplicaWrites {
 public:
  ReplicaWrites();
  ~ReplicaWrites();
  ReplicaWrites(const ReplicaWrites&) = delete;
  ReplicaWrites& operator=(const ReplicaWrites&) = delete;
  static bool allowed();

 private:
  bool prev_;
};

// Meta keys of the engine (docs/format.md).
inline constexpr std::string_view kHeaderKey = "header";
inline constexpr std::string_view kKeyHeaderKey = "key_header";
inline constexpr std::string_view kEpochKey = "nonce_epoch";
inline constexpr std::string_view kFileIdKey = "file_id";
inline constexpr std::string_view kKeyBindingKey = "key_binding";
// Format 4, encrypted: the personal key wrapped under the owner's KEK (crypto.h, 72 bytes) and
// the analyst key headers (n × 107 bytes, each wrapping the data key only). Raw.
inline constexpr std::string_view kPersonalKeyKey = "personal_key";
inline constexpr std::string_view kAnalystKeysKey = "analyst_keys";
// Set (1 byte, 1) by the format-4 upgrade of an encrypted file: its data key sealed personal
// fields before (old record versions in free pages, backups), so add_analyst_key refuses until
// the data key is rotated (the rotated file does not carry it).
inline constexpr std::string_view kDataKeyHeldPersonalKey = "personal_key.data_key_exposed";
Result<std::vector<crypto::KeyHeader>> parse_analyst_keys(std::span<const std::uint8_t> bytes);
// The database's phone region: 2 ASCII letters (absent: none). Raw, like the header's currency.
inline constexpr std::string_view kPhoneRegionKey = "phone_region";
inline constexpr std::string_view kNextCustomer = "next_id.customer";
inline constexpr std::string_view kNextRelationship = "next_id.relationship";
inline constexpr std::string_view kNextTransaction = "next_id.transaction";
inline constexpr std::string_view kNextHolding = "next_id.holding";  // format 6
inline constexpr std::array<std::string_view, 4> kIdCounterKeys = {kNextCustomer, kNextRelationship,
                                                                   kNextTransaction, kNextHolding};

// The largest value an id counter can hold: ids stay below 2^63.
inline constexpr std::uint64_t kMaxIdCounter = std::uint64_t{1} << 63;
// Status of the stored file header (meta key "header"): kCorruption or kUnsupported as an open
// would report it, and kCorruption when its encryption flag is not `encrypted`.
Status check_header(storage::Bytes value, bool encrypted);
// The file format a valid stored header names (1 or 2); errors as check_header's.
Result<std::uint32_t> header_format(storage::Bytes value);
// An id counter's stored value (8 bytes) as the next id; kCorruption (message without the key's
// name) when it has the wrong size or is 0 or above kMaxIdCounter.
Result<std::uint64_t> parse_id_counter(storage::Bytes value);

// Meta values of the analytics layer (sealed: rules and models describe customers). Key
// rotation copies every key listed here under the new key.
inline constexpr std::string_view kMetaClvModel = "analytics.model";
inline constexpr std::string_view kMetaRules = "analytics.rules";
// The customers whose stored phone is not E.164 (the format-3 upgrade found a national form and
// no phone region to read it in): u64 big-endian ids, ascending. Retried, and shrunk, whenever
// a phone region is set (engine/upgrade_v3_text.cc).
inline constexpr std::string_view kMetaPhonesNotE164 = "phones.not_e164";
// The retention policy's canonical text (engine/retention.cc).
inline constexpr std::string_view kMetaRetentionPolicy = "retention.policy";
// The schema of custom attributes (engine/schema.h, docs/format.md "Custom attribute schema").
inline constexpr std::string_view kMetaSchema = "schema";
inline constexpr std::array<std::string_view, 5> kSealedMetaKeys = {
    kMetaClvModel, kMetaRules, kMetaPhonesNotE164, kMetaRetentionPolicy, kMetaSchema};

}  // namespace custdb::detail

namespace custdb {

// The opaque types of the public handles (custdb/database.h), defined here as the engine's own
// types. Being nested in the public classes, they read those classes' private members, so the
// public headers need no friend for the engine. They add no state: Database::Impl is the
// DatabaseImpl that DatabaseImpl::open makes, ReadView::State the TxnState that
// DatabaseImpl::begin makes.
class Database::Impl final : public detail::DatabaseImpl {
 public:
  // The engine behind a handle (for the engine's modules outside src/engine: analytics).
  static detail::DatabaseImpl& of(Database& db) { return *db.impl_; }
  static const detail::DatabaseImpl& of(const Database& db) { return *db.impl_; }
  // A handle owning `impl` (restore_backup: databases opened without the process lock).
  static Database handle(std::unique_ptr<Impl> impl) { return Database(std::move(impl)); }
};

class ReadView::State final : public detail::TxnState {
 public:
  // The view's transaction state; null when the transaction has finished (or the view was
  // moved from).
  static detail::TxnState* of(const ReadView& view) { return view.state_.get(); }
  // The engine the view reads; valid while the view has a state.
  static detail::DatabaseImpl& db_of(const ReadView& view) { return *view.db_; }
};

}  // namespace custdb

namespace custdb::detail {

// Runs one write operation `op(TxnState&) -> Result<R>` of `txn`: kFailedPrecondition once the
// transaction has finished; the stored failure once it is poisoned. A storage failure (op
// poisons the state) ends the LMDB transaction now, as LMDB allows only abort after a failed
// put, and keeps the state (and the write lock, so this thread's next begin_write still sees
// its open WriteTxn) for commit() to report. The public WriteTxn writes and the engine's
// writes for analytics (analytics_access.cc) all go through here.
template <class R, class Op>
Result<R> run_write(WriteTxn& txn, Op&& op) {
  TxnState* st = ReadView::State::of(txn);
  if (!st) return make_error(ErrorCode::kFailedPrecondition, "transaction already finished");
  if (st->poisoned) return tl::unexpected(*st->failure);
  // A WriteTxn's state is a write transaction under the write lock, its LMDB transaction
  // live until commit, abort or a failure (which poisons it).
  assert(st->write && st->writer && st->txn);
  Result<R> r = op(*st);
  if (!r && st->poisoned) st->txn.abort();
  return r;
}

// Runs a caller's callback (update_customer, amend_transaction, update_holding); an exception
// it throws becomes kInvalidArgument naming the call, so no exception crosses the library's
// boundary (database.h).
template <class Fn>
Status run_callback(const char* call, Fn&& fn) {
  try {
    fn();
    return {};
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInvalidArgument,
                      std::string(call) + ": the callback threw: " + e.what());
  } catch (...) {
    return make_error(ErrorCode::kInvalidArgument,
                      std::string(call) + ": the callback threw a non-standard exception");
  }
}

// LMDB's page structure of path/data.mdb walked with the flags custdb opens its named DBs
// with (check.cc; verify_file reports it as a CheckReport). Sound only while a read
// transaction of the file pins the pages (or no writer runs): see DatabaseImpl::open.
Result<storage::PageCheckReport> walk_pages(const std::filesystem::path& path);

Timestamp now_ms();
// Today's date in UTC: the default as-of day of queries and analytics.
Date today_utc();
// st's transaction time (TxnState::stamp), taken from now_ms() on first use.
Timestamp stamp_time(TxnState& st);

}  // namespace custdb::detail
