// custdb/options.h — how a database is opened or created. A plain struct: every field says
// its default. Fields marked "creation only" are recorded in the file when it is created and
// ignored (the file's value wins) when an existing database is opened; base_currency and key are
// recorded at creation and checked at open.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace custdb {

class KeyMaterial;  // custdb/key.h

enum class SyncMode : std::uint8_t {
  // fsync data and meta page at every commit: a committed transaction survives power loss.
  kFull = 0,
  // MDB_NOMETASYNC: data is synced, the meta page lazily; a crash may lose the last commits
  // but never corrupts the file.
  kNoMetaSync = 1,
  // MDB_NOSYNC: the OS decides when to write; a crash of the machine (not of the process) may
  // lose recent commits. Database::sync() forces a flush.
  kNone = 2,
};

// The map size used when Options::max_map_size is 0: 1 TiB where pointers have 64 bits (the
// address space holds about a hundred such maps), 1 GiB on 32-bit systems.
inline constexpr std::size_t kDefaultMapSize =
    sizeof(void*) >= 8 ? (std::size_t{1} << 40) : (std::size_t{1} << 30);

struct Options {
  // Create the database when the path does not exist. Default: true.
  bool create_if_missing = true;
  // Fail with kAlreadyExists when the database exists. Default: false.
  bool error_if_exists = false;
  // Open for reading only: no write transaction can begin, the file is never modified, no lock
  // file is needed beyond LMDB's reader table. Default: false.
  bool read_only = false;

  // Size of the memory map, in bytes: the most the data file can ever hold in this process.
  // 0 (the default) means kDefaultMapSize, 1 TiB on 64-bit systems. The map only reserves
  // address space: the file grows page by page as data is written (and never shrinks), so a
  // large map costs neither disk nor memory (docs/architecture.md, "The map"). If the address
  // space refuses the default (RLIMIT_AS), open halves it until the mapping succeeds, down to
  // 64 MiB. A write that would need more than the map holds fails with kResourceExhausted:
  // that transaction is aborted (nothing of it stored), earlier commits are intact. The map
  // never needs to grow, so no transaction ever waits for one.
  // A value below the file's current size is raised to the file's size.
  std::size_t max_map_size = 0;

  // Reader slots in LMDB's lock file: the read transactions that can be open at once across
  // all processes (a thread with a ReadTxn open holds one slot per transaction). Slots of dead
  // processes are reclaimed at open and when a new reader finds the table full; a table full
  // of live readers makes begin_read fail with kBusy. Each slot costs 64 bytes of lock.mdb.
  // The first process to open the database while no other has it open sizes the table;
  // later opens use the table as it is. Default: 4096.
  unsigned max_readers = 4096;

  // How long begin_write (and every one-shot write) waits for the write lock while another
  // writer, a thread of this process or another process, holds it; then kBusy. A negative
  // value (the default) waits for ever; 0 fails at once. A thread that already holds a
  // WriteTxn of this database never waits: its begin_write is kFailedPrecondition.
  std::chrono::milliseconds busy_timeout{-1};

  // Durability of commits. Default: kFull.
  SyncMode sync = SyncMode::kFull;

  // Base currency for customers' total_amount (ISO 4217 as listed by Debian's iso-codes, not
  // XXX or XTS, case-insensitive; otherwise kInvalidArgument "base_currency: ..."; checked
  // when given, also for an existing database). Empty means "not given": a new database gets
  // "USD", an existing one keeps its own. A non-empty value is
  // recorded at creation; opening an existing database with a different one is
  // kInvalidArgument naming both (never silently ignored). Default: "" (not given).
  std::string base_currency;

  // Phone region: the ISO 3166-1 alpha-2 code (case-insensitive) national phone forms are read
  // in ("070 123 4567" with "SE" is +46701234567; "0046 ..." uses SE's international prefix).
  // Stored phones are E.164 (docs/format.md, "Normalization"). Empty means "the file's" (a new
  // database then has none: only +CC forms are accepted). A non-empty value a read-write open
  // finds different from the file's is recorded in the file (the way to set or change it on an
  // existing database; stored phones are E.164 already, so a change only affects how national
  // forms are read from then on), and phones an upgrade had to keep unconverted are read again
  // in it. A read-only open uses it for that handle's lookups only. A code libphonenumber does
  // not know is kInvalidArgument. Default: "" (the file's).
  std::string phone_region;

  // Walk LMDB's page structure before LMDB opens the file (verify_file in custdb/check.h):
  // damage is kCorruption naming the page, where LMDB itself would fault (SIGSEGV/SIGBUS) or
  // abort on the first read of a damaged page, because it trusts page offsets and numbers.
  // The walk reads the whole file once: measured 0.6-0.9 ms per MB with the file in the page
  // cache (37 ms for the 40 MB 20k-customer demo, 250 ms for a 390 MB one; docs/testing.md,
  // "Damaged files"), disk speed when it is not. That is a cost per open, not per read, so it
  // is off by default for the library (a long-running process opens once; call verify_file
  // or set this where files come from elsewhere); the custdb CLI turns it on for every
  // command (`--skip-page-check` turns it off). It checks the file as it is at open: damage
  // done while the database is open is not seen. Beside a writer in another process, damage
  // seen only in tree pages is walked again inside a read transaction that pins them before
  // it counts (a writer may have reused pages under the first walk). Default: false.
  bool check_pages = false;

  // Encryption at rest. Creation: a non-null key makes an encrypted database, null a plaintext
  // one. Open: an encrypted database needs the key it was created with (or its current
  // passphrase): none, or a wrong one, is kAuthentication. A plaintext database must be opened
  // without a key: a key given for one is kAuthentication too, so a plaintext file swapped in
  // for an encrypted one never receives data in the clear. Default: null (plaintext).
  std::shared_ptr<const KeyMaterial> key;
};

}  // namespace custdb
