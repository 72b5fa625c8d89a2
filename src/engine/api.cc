// The public wrappers: ReadView, ReadTxn, WriteTxn and Database, each a thin call into
// DatabaseImpl on its transaction state.
#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <mutex>
#include <thread>

#include "crypto/crypto.h"
#include "custdb/check.h"
#include "custdb/key.h"
#include "engine/db_impl.h"
#include "engine/open.h"
#include "engine/upgrade.h"
#include "util/coding.h"
#include "util/normalize.h"

namespace custdb {

// ---- public wrappers -------------------------------------------------------------------------

using detail::TxnState;

ReadView::ReadView(Database::Impl* db, std::unique_ptr<State> state)
    : db_(db), state_(std::move(state)) {}
ReadView::ReadView(ReadView&&) noexcept = default;
ReadView& ReadView::operator=(ReadView&&) noexcept = default;
ReadView::~ReadView() = default;

ReadTxn::ReadTxn(Database::Impl* db, std::unique_ptr<State> state)
    : ReadView(db, std::move(state)) {}
ReadTxn::ReadTxn(ReadTxn&&) noexcept = default;
ReadTxn& ReadTxn::operator=(ReadTxn&&) noexcept = default;
ReadTxn::~ReadTxn() = default;

WriteTxn::WriteTxn(Database::Impl* db, std::unique_ptr<State> state)
    : ReadView(db, std::move(state)) {}
WriteTxn::WriteTxn(WriteTxn&&) noexcept = default;
WriteTxn& WriteTxn::operator=(WriteTxn&& o) noexcept {
  if (this != &o) {
    abort();
    ReadView::operator=(std::move(o));
  }
  return *this;
}
WriteTxn::~WriteTxn() { abort(); }

void WriteTxn::abort() noexcept {
  if (state_) {
    state_->txn.abort();
    state_.reset();
  }
}

Status WriteTxn::commit() {
  if (!state_) return make_error(ErrorCode::kFailedPrecondition, "transaction already finished");
  auto st = std::move(state_);  // finished whatever happens; its write lock goes with it
  return db_->commit(*st);
}

// Each write runs through detail::run_write: refused once finished or poisoned, and a storage
// failure poisons the transaction.
Result<CustomerId> WriteTxn::insert_customer(Customer c) {
  return detail::run_write<CustomerId>(
      *this, [&](TxnState& st) { return db_->insert_customer(st, std::move(c)); });
}
Result<bool> WriteTxn::update_customer(CustomerId id, const std::function<void(Customer&)>& fn) {
  return detail::run_write<bool>(
      *this, [&](TxnState& st) { return db_->update_customer(st, id, fn); });
}
Result<bool> WriteTxn::delete_customer(CustomerId id, DeleteMode mode) {
  return detail::run_write<bool>(
      *this, [&](TxnState& st) { return db_->delete_customer(st, id, mode); });
}
Result<RelationshipId> WriteTxn::add_relationship(Relationship r) {
  return detail::run_write<RelationshipId>(
      *this, [&](TxnState& st) { return db_->add_relationship(st, std::move(r)); });
}
Result<bool> WriteTxn::remove_relationship(RelationshipId id) {
  return detail::run_write<bool>(
      *this, [&](TxnState& st) { return db_->remove_relationship(st, id); });
}
Result<TransactionId> WriteTxn::add_transaction(Transaction t) {
  return detail::run_write<TransactionId>(
      *this, [&](TxnState& st) { return db_->add_transaction(st, std::move(t)); });
}
Result<bool> WriteTxn::amend_transaction(TransactionId id,
                                         const std::function<void(Transaction&)>& fn) {
  return detail::run_write<bool>(
      *this, [&](TxnState& st) { return db_->amend_transaction(st, id, fn); });
}
Result<bool> WriteTxn::remove_transaction(TransactionId id) {
  return detail::run_write<bool>(
      *this, [&](TxnState& st) { return db_->remove_transaction(st, id); });
}

// Reads: a finished WriteTxn has no state.
#define CUSTDB_REQUIRE_STATE()                                                             \
  if (!state_) return make_error(ErrorCode::kFailedPrecondition, "transaction finished");  \
  if (state_->poisoned) return tl::unexpected(*state_->failure)

Result<std::optional<Customer>> ReadView::get_customer(CustomerId id) const {
  CUSTDB_REQUIRE_STATE();
  return db_->load_customer(*state_, id);
}
Result<std::optional<Customer>> ReadView::find_by_external_ref(std::string_view ref) const {
  CUSTDB_REQUIRE_STATE();
  if (db_->keys().personal_denied())
    return make_error(ErrorCode::kPermissionDenied,
                      "lookups by external_ref need the owner's key (opened with an analyst key)");
  const std::string want = normalize::trim(ref);
  // An empty reference is never indexed (and LMDB refuses an empty key): nobody has it.
  if (want.empty()) return std::optional<Customer>();
  auto v = db_->customers_by(*state_, index::IndexId::kExternalRef,
                             db_->keys().equality_key(index::IndexId::kExternalRef, want),
                             [&](const Customer& c) { return c.external_ref == want; });
  if (!v) return tl::unexpected(v.error());
  if (v->empty()) return std::optional<Customer>();
  return std::optional<Customer>(std::move(v->front()));
}
Result<std::optional<Relationship>> ReadView::get_relationship(RelationshipId id) const {
  CUSTDB_REQUIRE_STATE();
  return db_->load_relationship(*state_, id);
}
Result<std::vector<Relationship>> ReadView::relationships_of(CustomerId id) const {
  CUSTDB_REQUIRE_STATE();
  return db_->relationships_of(*state_, id);
}
Result<std::optional<Transaction>> ReadView::get_transaction(TransactionId id) const {
  CUSTDB_REQUIRE_STATE();
  return db_->load_transaction(*state_, id);
}
Result<std::vector<Transaction>> ReadView::transactions_of(CustomerId id,
                                                           std::optional<Timestamp> from,
                                                           std::optional<Timestamp> to) const {
  CUSTDB_REQUIRE_STATE();
  return db_->transactions_of(*state_, id, from, to);
}
Result<TableCounts> ReadView::counts() const {
  CUSTDB_REQUIRE_STATE();
  TableCounts c;
  std::pair<storage::Table, std::uint64_t*> tables[] = {{db_->tables().customers, &c.customers},
                                                 {db_->tables().relationships, &c.relationships},
                                                 {db_->tables().transactions, &c.transactions},
                                                 {db_->tables().holdings, &c.holdings}};
  for (auto [dbi, out] : tables) {
    if (!dbi) continue;  // format 6 holdings: none in a read-only open of an older file
    auto n = storage::entry_count(state_->txn, dbi, "table");
    if (!n) return tl::unexpected(n.error());
    *out = *n;
  }
  return c;
}
namespace {
// Walks one table in key order, decoding each record, and checks the walk as
// Walker::all_verified does: keys strictly ascending, and as many records as LMDB records for
// the table unless fn stopped it. The count is not checked when fn wrote in this transaction
// (a WriteTxn's callback inserting or deleting records changes the table under the walk: a
// count taken before proves nothing then, and reporting kCorruption would be false).
template <class T, class Decode>
Status walk_table(detail::TxnState& st, storage::Table table, std::string_view name,
                  Decode&& decode, const std::function<bool(const T&)>& fn) {
  auto recorded = storage::entry_count(st.txn, table, name);
  if (!recorded) return tl::unexpected(recorded.error());
  const std::uint64_t writes = st.writes;
  Status failed;
  // fn may end the transaction (st is gone then: the walk stops, kFailedPrecondition) or
  // poison it with a failed write (the LMDB transaction is aborted: its failure is the answer).
  const std::weak_ptr<const bool> alive = st.alive;
  std::uint64_t walked = 0;
  bool stopped = false;
  std::string prev;  // a copy: fn may write, moving dirty pages
  storage::Walker walker(st.txn, table, name);
  auto s = walker.all([&](storage::Bytes k, storage::Bytes v) {
    const std::string_view key(reinterpret_cast<const char*>(k.data()), k.size());
    if (walked++ > 0 && std::string_view(prev).compare(key) >= 0)
      return failed = make_error(ErrorCode::kCorruption,
                                 std::string(name) + ": keys out of order (damaged or torn file)"),
             storage::Next::stop();
    prev.assign(key);
    auto r = decode(k, v);
    if (!r) return failed = tl::unexpected(r.error()), storage::Next::stop();
    const bool more = fn(*r);
    if (!alive.expired() && st.poisoned) return failed = tl::unexpected(*st.failure), storage::Next::stop();
    if (!more) stopped = true;
    return more ? storage::Next::go_on() : storage::Next::stop();
  });
  if (!failed) return failed;
  if (!s) return s;  // among others: the transaction ended in fn (st must not be touched)
  if (stopped || st.writes != writes) return {};
  return storage::check_walked(name, walked, *recorded);
}
}  // namespace

Status ReadView::for_each_customer(const std::function<bool(const Customer&)>& fn) const {
  CUSTDB_REQUIRE_STATE();
  auto schema = db_->schema_of(*state_);
  if (!schema) return tl::unexpected(schema.error());
  return walk_table<Customer>(
      *state_, db_->tables().customers, "customers",
      [&](storage::Bytes k, storage::Bytes v) { return db_->codec().decode_customer(k, v, **schema); }, fn);
}
Status ReadView::for_each_relationship(const std::function<bool(const Relationship&)>& fn) const {
  CUSTDB_REQUIRE_STATE();
  return walk_table<Relationship>(
      *state_, db_->tables().relationships, "relationships",
      [&](storage::Bytes k, storage::Bytes v) { return db_->codec().decode_relationship(k, v); }, fn);
}
Status ReadView::for_each_transaction(const std::function<bool(const Transaction&)>& fn) const {
  CUSTDB_REQUIRE_STATE();
  auto schema = db_->schema_of(*state_);
  if (!schema) return tl::unexpected(schema.error());
  return walk_table<Transaction>(
      *state_, db_->tables().transactions, "transactions",
      [&](storage::Bytes k, storage::Bytes v) { return db_->codec().decode_transaction(k, v, **schema); }, fn);
}
Status ReadView::for_each_holding(const std::function<bool(const Holding&)>& fn) const {
  CUSTDB_REQUIRE_STATE();
  if (!db_->tables().holdings) return {};  // a read-only open of an older file: none
  return walk_table<Holding>(
      *state_, db_->tables().holdings, "holdings",
      [&](storage::Bytes k, storage::Bytes v) { return db_->codec().decode_holding(k, v); }, fn);
}
#undef CUSTDB_REQUIRE_STATE

Database::Database(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Database::Database(Database&&) noexcept = default;
Database& Database::operator=(Database&&) noexcept = default;
Database::~Database() = default;

Result<Database> Database::open(const std::filesystem::path& path, const Options& options) {
  auto impl = detail::DatabaseImpl::open(path, options);
  if (!impl) return tl::unexpected(impl.error());
  return Database(std::move(*impl));
}

Result<ReadTxn> Database::begin_read() const {
  auto st = impl_->begin(false);
  if (!st) return tl::unexpected(st.error());
  return ReadTxn(impl_.get(), std::move(*st));
}

Result<WriteTxn> Database::begin_write() {
  auto st = impl_->begin(true);
  if (!st) return tl::unexpected(st.error());
  return WriteTxn(impl_.get(), std::move(*st));
}

Status Database::write(const std::function<Status(WriteTxn&)>& fn) {
  for (int attempt = 1;; ++attempt) {
    Status s;
    {
      auto txn = begin_write();
      if (!txn) {
        s = tl::unexpected(txn.error());
      } else {
        s = fn(*txn);  // an exception unwinds through ~WriteTxn, which aborts
        if (s) return txn->commit();
      }
    }  // aborted here, so the wait below holds no lock
    if (s.error().code() != ErrorCode::kBusy || attempt == detail::DatabaseImpl::kWriteAttempts)
      return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(10) * (1 << attempt));
  }
}

namespace {
ReaderTable reader_table_of(storage::Env& env) {
  ReaderTable t;
  t.stale = static_cast<unsigned>(env.reader_check());
  t.max_readers = env.info().max_readers;
  for (const auto& r : env.readers()) t.slots.push_back({r.pid, r.thread, r.txnid});
  return t;
}
}  // namespace

ReaderTable detail::DatabaseImpl::reader_table() { return reader_table_of(env_); }

ReaderTable Database::reader_table() const { return impl_->reader_table(); }

Result<ReaderTable> Database::reader_table(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path / "data.mdb", ec))
    return make_error(ErrorCode::kIOError, "no database at " + path.string());
  // As at open: LMDB cannot read an empty file (read-only, it fails with EBADF).
  if (std::filesystem::file_size(path / "data.mdb", ec) == 0 && !ec)
    return make_error(ErrorCode::kCorruption, "not a custdb database: " +
                                                  (path / "data.mdb").string() + " is empty (0 bytes)");
  // LMDB forbids a second environment of one file in a process (closing it would drop the
  // first one's locks): take the registry entry for as long as the probe is open.
  std::string key = std::filesystem::weakly_canonical(path, ec).string();
  {
    MutexLock lock(&detail::g_registry_mutex);
    if (detail::g_registry_pid != ::getpid()) {
      detail::g_open_paths.clear();
      detail::g_registry_pid = ::getpid();
    }
    if (!detail::g_open_paths.insert(key).second)
      return make_error(ErrorCode::kBusy, "database " + path.string() +
                                              " is open in this process: ask that handle");
  }
  struct Release {
    std::string key;
    ~Release() {
      MutexLock lock(&detail::g_registry_mutex);
      detail::g_open_paths.erase(key);
    }
  } release{key};
  storage::Env::OpenParams p;
  p.dir = path.string();
  p.read_only = true;  // data.mdb is only mapped; no transaction, so no reader slot
  p.map_size = kDefaultMapSize;
  p.shrink_on_enomem = true;
  p.max_readers = Options{}.max_readers;
  auto env = storage::Env::open(p);
  if (!env) return tl::unexpected(env.error());
  return reader_table_of(*env);
}

Result<std::optional<Customer>> Database::get_customer(CustomerId id) const {
  auto txn = begin_read();
  if (!txn) return tl::unexpected(txn.error());
  return txn->get_customer(id);
}

Result<CustomerId> Database::insert_customer(Customer customer) {
  auto txn = begin_write();
  if (!txn) return tl::unexpected(txn.error());
  auto id = txn->insert_customer(std::move(customer));
  if (!id) return id;
  if (auto s = txn->commit(); !s) return tl::unexpected(s.error());
  return id;
}

Result<std::vector<CustomerId>> Database::insert_customers(std::span<const Customer> customers) {
  auto txn = begin_write();
  if (!txn) return tl::unexpected(txn.error());
  std::vector<CustomerId> ids;
  ids.reserve(customers.size());
  for (std::size_t i = 0; i < customers.size(); ++i) {
    auto id = txn->insert_customer(customers[i]);
    if (!id) return tl::unexpected(id.error().with_context("customer #" + std::to_string(i + 1)));
    ids.push_back(*id);
  }
  if (auto s = txn->commit(); !s) return tl::unexpected(s.error());
  return ids;
}

Result<TransactionId> Database::add_transaction(Transaction t) {
  auto txn = begin_write();
  if (!txn) return tl::unexpected(txn.error());
  auto id = txn->add_transaction(std::move(t));
  if (!id) return id;
  if (auto s = txn->commit(); !s) return tl::unexpected(s.error());
  return id;
}

Result<CheckReport> Database::check() const {
  // The check derives lookup tokens and postings from personal fields.
  if (auto s = impl_->require_owner("check"); !s) return tl::unexpected(s.error());
  return impl_->check();
}

DatabaseInfo Database::info() const {
  DatabaseInfo i;
  i.path = impl_->path();
  i.encrypted = impl_->encrypted();
  i.read_only = impl_->options().read_only;
  i.base_currency = impl_->base_currency();
  i.phone_region = impl_->phone_region();
  i.format_version = impl_->file_format();
  i.role = impl_->role();  // an older file opened read-only keeps its number
  if (auto view = impl_->begin(false)) {
    if (auto n = detail::count_phones_not_e164(*impl_, **view)) i.phones_not_e164 = *n;
  }
  const storage::EnvInfo e = impl_->env_info();
  i.map_size = e.map_size;
  i.page_size = e.page_size;
  i.file_size = (e.last_pgno + 1) * e.page_size;
  std::error_code ec;
  auto fsz = std::filesystem::file_size(impl_->path() / "data.mdb", ec);
  if (!ec) i.file_size = fsz;
  i.max_readers = e.max_readers;
  i.readers_in_use = e.readers_in_use;
  return i;
}

Status Database::sync() { return impl_->sync(); }

Status Database::change_key(const KeyMaterial& new_key) {
  auto& d = *impl_;
  if (!d.encrypted())
    return make_error(ErrorCode::kFailedPrecondition, "the database is not encrypted");
  // An analyst changes no key: its secret unwraps the data key only.
  if (auto s = d.require_owner("change_key"); !s) return s;
  const storage::Bytes key = coding::as_bytes(detail::kKeyHeaderKey);
  auto s = d.write_retrying([&](TxnState& st) -> Status {
    auto stored = d.get(st, d.tables().meta, key);
    if (!stored) return tl::unexpected(stored.error());
    if (!*stored)
      return make_error(ErrorCode::kCorruption, "encrypted database without a key header");
    auto old = crypto::KeyHeader::parse(**stored);
    if (!old) return tl::unexpected(old.error());
    // The personal key's wrap is bound to the owner key header: both are rewrapped together.
    static const crypto::SecretBuffer kNoPersonalKey;
    auto rewrapped = crypto::rewrap_owner_keys(
        *old, d.data_key(), d.personal_key() ? *d.personal_key() : kNoPersonalKey, new_key);
    if (!rewrapped) return tl::unexpected(rewrapped.error());
    const auto kh_bytes = rewrapped->header.serialize();
    if (auto s = d.put(st, d.tables().meta, key, kh_bytes); !s) return s;
    if (!rewrapped->personal_wrap.empty())
      if (auto s = d.put(st, d.tables().meta, coding::as_bytes(detail::kPersonalKeyKey),
                         rewrapped->personal_wrap);
          !s)
        return s;
    // The new key header gets its binding to this file (the file id is the open's: it was
    // checked or created there).
    auto id = d.get(st, d.tables().meta, coding::as_bytes(detail::kFileIdKey));
    if (!id) return tl::unexpected(id.error());
    if (!*id || (*id)->size() != crypto::kFileIdSize)
      return make_error(ErrorCode::kCorruption, "meta file_id: missing or not 16 bytes");
    auto mac = crypto::key_binding(d.data_key(), **id, kh_bytes);
    if (!mac) return tl::unexpected(mac.error());
    if (auto p = d.put(st, d.tables().meta, coding::as_bytes(detail::kKeyBindingKey), *mac); !p)
      return p;
    auto a = d.append_audit(st, {"rekey", {}, 1, new_key.is_passphrase() ? "passphrase" : "raw key"});
    if (!a) return tl::unexpected(a.error());
    return {};
  });
  if (!s) return s;
  return d.sync();  // the old wrapping must not be what survives a crash
}

namespace {

tl::unexpected<Error> os_error(int err, const std::string& what) {
  return tl::unexpected(storage::os_error(err, what));
}

}  // namespace

Status Database::backup(const std::filesystem::path& dir, bool compact) const {
  // A plain copy holds LMDB's writer mutex while it snapshots the meta pages: in a thread that
  // holds a WriteTxn it would wait for itself for ever.
  if (!compact &&
      impl_->this_thread_writes())
    return make_error(ErrorCode::kFailedPrecondition,
                      "backup: this thread holds a write transaction of this database (a copy "
                      "waits for it to end): commit or abort it first, or use compact");
  const std::filesystem::path final_path = dir / "data.mdb";
  std::error_code ec;
  if (std::filesystem::exists(final_path, ec))
    return make_error(ErrorCode::kAlreadyExists, "a database exists at " + dir.string());
  {
    detail::CreateUndo undo;  // directories stay: only their mode matters here
    undo.dismiss();
    if (auto s = detail::create_private_dirs(dir, undo); !s) return s;
  }

  // Written under a name of its own and renamed into place only when complete and on disk: a
  // backup cut short (disk full, file size limit, a crash) never leaves a data.mdb that looks
  // like a database or blocks the next attempt. The name is unique per attempt, so concurrent
  // backups into one directory do not write into each other's file.
  static std::atomic<unsigned> attempt{0};
  const std::filesystem::path tmp_path =
      dir / ("data.mdb.partial-" + std::to_string(::getpid()) + "-" + std::to_string(attempt++));
  int fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return os_error(errno, "cannot create " + tmp_path.string());
  auto fail = [&](Error e) -> Status {
    ::close(fd);
    ::unlink(tmp_path.c_str());
    return tl::unexpected(std::move(e));
  };
  // 0600 whatever the umask: the copy holds the same customers as the original.
  if (::fchmod(fd, 0600) != 0) return fail(storage::os_error(errno, "cannot chmod " + tmp_path.string()));
  // The copy runs in its own read transaction: a snapshot, concurrent with writers.
  if (auto s = impl_->copy_to_fd(fd, compact, "backup to " + dir.string()); !s)
    return fail(s.error());
  if (::fsync(fd) != 0) return fail(storage::os_error(errno, "backup to " + dir.string() + ": fsync"));
  if (::close(fd) != 0) {
    ::unlink(tmp_path.c_str());
    return os_error(errno, "backup to " + dir.string() + ": close");
  }
  // No replacing: a data.mdb that appeared meanwhile (another backup) is kept.
  int renamed = ::renameat2(AT_FDCWD, tmp_path.c_str(), AT_FDCWD, final_path.c_str(), RENAME_NOREPLACE);
  if (renamed != 0 && errno == EINVAL && !std::filesystem::exists(final_path, ec))
    renamed = ::rename(tmp_path.c_str(), final_path.c_str());  // no RENAME_NOREPLACE here
  if (renamed != 0) {
    const int err = errno;
    ::unlink(tmp_path.c_str());
    if (err == EEXIST)
      return make_error(ErrorCode::kAlreadyExists, "a database exists at " + dir.string());
    return os_error(err, "backup to " + dir.string() + ": rename");
  }
  // The rename itself is durable once the directory is synced.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    const int rc = ::fsync(dfd);
    const int err = errno;
    ::close(dfd);
    if (rc != 0) return os_error(err, "backup to " + dir.string() + ": fsync of the directory");
  }
  return {};
}

Result<std::vector<Database::TableStats>> Database::stats() const {
  auto st = impl_->begin(false);
  if (!st) return tl::unexpected(st.error());
  std::vector<TableStats> out;
  auto add = [&](const char* name, storage::Table table) -> Status {
    auto s = storage::stat((*st)->txn, table, "stat");
    if (!s) return tl::unexpected(s.error());
    out.push_back({name, s->entries, s->branch_pages + s->leaf_pages + s->overflow_pages,
                   s->depth});
    return {};
  };
  const auto& d = *impl_;
  if (auto s = add("meta", d.tables().meta); !s) return tl::unexpected(s.error());
  if (auto s = add("customers", d.tables().customers); !s) return tl::unexpected(s.error());
  if (auto s = add("relationships", d.tables().relationships); !s) return tl::unexpected(s.error());
  if (auto s = add("transactions", d.tables().transactions); !s) return tl::unexpected(s.error());
  for (std::size_t i = 0; i < index::kIndexCount; ++i)
    if (auto s = add(index::spec(static_cast<index::IndexId>(i)).dbi_name, d.tables().index[i]); !s)
      return tl::unexpected(s.error());
  if (auto s = add("idx.segments", d.tables().segments); !s) return tl::unexpected(s.error());
  // Format 4 (privacy): absent from an older file opened read-only.
  for (auto [name, table] : {std::pair{"audit", d.tables().audit}, {"erasures", d.tables().erasures},
                             {"consent_history", d.tables().consent_history},
                             {"rule_moves", d.tables().rule_moves}})
    if (table)
      if (auto s = add(name, table); !s) return tl::unexpected(s.error());
  return out;
}

Result<std::vector<ReadView::Hop>> ReadView::neighborhood(CustomerId id, int depth,
                                                          std::optional<RelationType> type) const {
  if (!state_) return make_error(ErrorCode::kFailedPrecondition, "transaction finished");
  return db_->neighborhood(*state_, id, depth, type);
}

}  // namespace custdb
