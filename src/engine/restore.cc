// Restoring a backup (custdb/database.h restore_backup, docs/security.md "Restore"): the
// backup is copied into db/restore.tmp, every erasure the replaced database's journal recorded
// that the backup's journal lacks is applied to the copy, the copy is scrubbed, and it then
// replaces data.mdb in one rename — as rotate.cc rewrites under a new key. Until that rename
// the database at `db_dir` is untouched, so a crash at any point leaves it whole; the next call
// removes the leftover restore.tmp and starts over.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <set>
#include <tuple>

#include "engine/db_impl.h"
#include "engine/erase.h"
#include "engine/open.h"
#include "util/coding.h"

namespace custdb {
namespace {

namespace fs = std::filesystem;
using detail::DatabaseImpl;
using coding::as_bytes;

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Copies src to dst (created 0600, must not exist) and makes it durable.
Status copy_file_synced(const fs::path& src, const fs::path& dst) {
  Fd in, out;
  in.fd = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (in.fd < 0) return tl::unexpected(storage::os_error(errno, "cannot read " + src.string()));
  out.fd = ::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (out.fd < 0) return tl::unexpected(storage::os_error(errno, "cannot create " + dst.string()));
  if (::fchmod(out.fd, 0600) != 0) return tl::unexpected(storage::os_error(errno, "cannot chmod " + dst.string()));
  std::vector<char> buf(1 << 20);
  for (;;) {
    ssize_t n = ::read(in.fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return tl::unexpected(storage::os_error(errno, "cannot read " + src.string()));
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::write(out.fd, buf.data() + off, static_cast<std::size_t>(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return tl::unexpected(storage::os_error(errno, "cannot write " + dst.string()));
      off += w;
    }
  }
  if (::fsync(out.fd) != 0) return tl::unexpected(storage::os_error(errno, "fsync " + dst.string()));
  return {};
}

void sync_dir(const fs::path& dir) {
  if (int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// The stored nonce epoch of a database (0 when none).
Result<std::uint32_t> nonce_epoch(DatabaseImpl& d) {
  auto st = d.begin(false);
  if (!st) return tl::unexpected(st.error());
  auto v = d.get(**st, d.tables().meta, as_bytes(detail::kEpochKey));
  if (!v) return tl::unexpected(v.error());
  if (!*v || (*v)->size() != 4) return std::uint32_t{0};
  return coding::get_u32((*v)->data());
}

using EntryKey = std::tuple<CustomerId, std::int64_t, std::uint8_t>;
EntryKey key_of(const ErasureEntry& e) {
  return {e.customer, e.at.time_since_epoch().count(), static_cast<std::uint8_t>(e.mode)};
}

Result<std::vector<ErasureEntry>> journal_of(Database& db) {
  auto view = db.begin_read();
  if (!view) return tl::unexpected(view.error());
  return view->erasure_journal();
}

}  // namespace

Result<RestoreReport> restore_backup(const fs::path& backup_dir, const fs::path& db_dir,
                                     const Options& options, bool without_journal) {
  std::error_code ec;
  const fs::path backup_file = backup_dir / "data.mdb";
  if (!fs::is_regular_file(backup_file, ec))
    return make_error(ErrorCode::kIOError, "no backup at " + backup_dir.string() + " (no data.mdb)");
  const bool have_db = fs::exists(db_dir / "data.mdb", ec);
  if (have_db && fs::equivalent(backup_dir, db_dir, ec))
    return make_error(ErrorCode::kInvalidArgument, "the backup is the database itself");
  if (!have_db && !without_journal)
    return make_error(ErrorCode::kFailedPrecondition,
                      "no database at " + db_dir.string() +
                          ", so no erasure journal to re-apply: restoring there needs "
                          "--without-journal (erasures recorded since the backup are then not "
                          "re-applied)");
  {
    detail::CreateUndo undo;
    undo.dismiss();
    if (auto s = detail::create_private_dirs(db_dir, undo); !s) return tl::unexpected(s.error());
  }

  // The database to itself: every custdb handle holds custdb.lock shared.
  Fd lock;
  lock.fd = ::open((db_dir / "custdb.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock.fd < 0) return make_error(ErrorCode::kIOError, "cannot create " + db_dir.string() + "/custdb.lock");
  if (::flock(lock.fd, LOCK_EX | LOCK_NB) != 0)
    return make_error(ErrorCode::kBusy, "the database is open elsewhere; close it to restore a backup");

  // 1. What the replaced database knows: its erasure journal and its nonce epoch.
  std::vector<ErasureEntry> journal;
  std::uint32_t replaced_epoch = 0;
  if (have_db) {
    Options ro = options;
    ro.read_only = true;
    ro.create_if_missing = false;
    auto impl = DatabaseImpl::open(db_dir, ro, /*take_process_lock=*/false);
    if (!impl) {
      if (!without_journal)
        return tl::unexpected(impl.error().with_context(
            "cannot read the erasure journal of the database being replaced (--without-journal "
            "restores without re-applying the erasures it recorded)"));
    } else {
      if ((*impl)->encrypted()) {
        auto e = nonce_epoch(**impl);
        if (!e) return tl::unexpected(e.error());
        replaced_epoch = *e;
      }
      Database old = Database::Impl::handle(std::move(*impl));
      if (!without_journal) {
        auto j = journal_of(old);
        if (!j)
          return tl::unexpected(j.error().with_context(
              "cannot read the erasure journal of the database being replaced (--without-journal "
              "restores without re-applying the erasures it recorded)"));
        journal = std::move(*j);
      }
    }
  }

  // 2. A fresh copy of the backup in restore.tmp (a leftover of a crashed run is discarded).
  const fs::path tmp = db_dir / "restore.tmp";
  fs::remove_all(tmp, ec);
  if (ec) return make_error(ErrorCode::kIOError, "cannot remove " + tmp.string() + ": " + ec.message());
  {
    detail::CreateUndo undo;
    undo.dismiss();
    if (auto s = detail::create_private_dirs(tmp, undo); !s) return tl::unexpected(s.error());
  }
  if (auto s = copy_file_synced(backup_file, tmp / "data.mdb"); !s) return tl::unexpected(s.error());

  Options rw = options;
  rw.read_only = false;
  rw.create_if_missing = false;
  rw.error_if_exists = false;
  RestoreReport report;
  {
    // Encrypted: the copy's next writer must not take a nonce epoch the replaced database used
    // after the backup was taken (docs/security.md, "Nonce uniqueness"). Raise the copy's epoch
    // to the replaced database's before anything is sealed; this handle seals nothing.
    if (replaced_epoch > 0) {
      auto impl = DatabaseImpl::open(tmp, rw, false);
      if (!impl) return tl::unexpected(impl.error().with_context("cannot open the backup"));
      DatabaseImpl& d = **impl;
      if (d.encrypted()) {
        auto s = d.write_retrying([&](detail::TxnState& st) -> Status {
          auto v = d.get(st, d.tables().meta, as_bytes(detail::kEpochKey));
          if (!v) return tl::unexpected(v.error());
          const std::uint32_t have = *v && (*v)->size() == 4 ? coding::get_u32((*v)->data()) : 0;
          if (have >= replaced_epoch) return {};
          std::uint8_t e[4];
          coding::put_u32(e, replaced_epoch);
          return d.put(st, d.tables().meta, as_bytes(detail::kEpochKey), storage::Bytes(e, 4));
        });
        if (!s) return tl::unexpected(s.error());
      }
    }
    auto impl = DatabaseImpl::open(tmp, rw, false);
    if (!impl) return tl::unexpected(impl.error().with_context("cannot open the backup"));
    Database db = Database::Impl::handle(std::move(*impl));
    if (db.info().role == KeyRole::kAnalyst)
      return make_error(ErrorCode::kPermissionDenied,
                        "restoring a backup needs the owner's key (opened with an analyst key)");

    // 3. The erasures the backup lacks, in journal order.
    auto had = journal_of(db);
    if (!had) return tl::unexpected(had.error());
    std::set<EntryKey> known;
    for (const ErasureEntry& e : *had) known.insert(key_of(e));
    std::vector<ErasureEntry> missing;
    for (const ErasureEntry& e : journal)
      if (!known.count(key_of(e))) missing.push_back(e);
    constexpr std::size_t kBatch = 1000;
    std::uint64_t erased = 0;
    for (std::size_t from = 0; from < missing.size(); from += kBatch) {
      const std::size_t to = std::min(missing.size(), from + kBatch);
      std::uint64_t n = 0;
      auto s = db.write([&](WriteTxn& txn) -> Status {
        n = 0;
        DatabaseImpl& d = Database::Impl::of(db);
        detail::TxnState& st = *ReadView::State::of(txn);
        for (std::size_t i = from; i < to; ++i) {
          auto r = txn.erase_customer(missing[i].customer, missing[i].mode);
          if (!r) return tl::unexpected(r.error());
          if (*r) {
            ++n;
            continue;
          }
          // Nothing to erase here (a customer the backup does not hold, or one anonymized
          // already): the entry is carried over as it was, under the next seq, so that the
          // restored journal still knows of the erasure — a later restore of a backup that
          // holds the customer re-applies it.
          auto last = storage::last_key(st.txn, d.tables().erasures, "erasure journal");
          if (!last) return tl::unexpected(last.error());
          ErasureEntry e = missing[i];
          e.seq = *last && (*last)->size() == 8
                      ? coding::get_u64(reinterpret_cast<const std::uint8_t*>((*last)->data())) + 1
                      : 1;
          if (auto p = detail::put_erasure(d, st, e); !p) return p;
        }
        return {};
      });
      if (!s) return tl::unexpected(s.error());
      erased += n;
    }
    report.erasures_reapplied = missing.size();
    auto audited = db.write([&](WriteTxn& txn) -> Status {
      AuditEvent ev;
      ev.command = "restore";
      ev.count = missing.size();
      ev.detail = "reapplied=" + std::to_string(missing.size()) + " erased=" + std::to_string(erased) +
                  " replaced_journal=" + std::to_string(journal.size()) +
                  " backup_journal=" + std::to_string(had->size()) +
                  (without_journal ? " without_journal" : "");
      auto a = Database::Impl::of(db).append_audit(*ReadView::State::of(txn), ev);
      if (!a) return tl::unexpected(a.error());
      return {};
    });
    if (!audited) return tl::unexpected(audited.error());

    // 4. Scrub: the erased customers' bytes, and whatever the backup's free pages held.
    auto scrubbed = db.scrub();
    if (!scrubbed) return tl::unexpected(scrubbed.error());
    report.scrub = *scrubbed;
    {
      auto view = db.begin_read();
      if (!view) return tl::unexpected(view.error());
      auto counts = view->counts();
      if (!counts) return tl::unexpected(counts.error());
      report.customers = counts->customers;
    }
    if (auto s = db.sync(); !s) return tl::unexpected(s.error());
  }  // closed

  // 5. The one step that changes what db_dir holds.
  if (std::rename((tmp / "data.mdb").c_str(), (db_dir / "data.mdb").c_str()) != 0)
    return make_error(ErrorCode::kIOError, "cannot move the restored database into place");
  sync_dir(db_dir);
  fs::remove(db_dir / "lock.mdb", ec);  // the replaced file's reader table; nobody holds it
  fs::remove_all(tmp, ec);
  return report;
}

}  // namespace custdb
