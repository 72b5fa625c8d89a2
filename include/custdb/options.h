// custdb/options.h — how a database is opened or created. A plain struct: every field says
// its default. Fields marked "creation only" are recorded in the file when it is created and
// ignored (the file's value wins) when an existing database is opened; base_currency and key are
// recorded at creation and checked at open.
#pragma once

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

struct Options {
  // Create the database when the path does not exist. Default: true.
  bool create_if_missing = true;
  // Fail with kAlreadyExists when the database exists. Default: false.
  bool error_if_exists = false;
  // Open for reading only: no write transaction can begin, the file is never modified, no lock
  // file is needed beyond LMDB's reader table. Default: false.
  bool read_only = false;

  // Size of the memory map when the database is created or when the file is smaller.
  // The map grows by itself when full (see max_map_size). Default: 64 MiB.
  std::size_t initial_map_size = std::size_t{64} << 20;
  // Upper bound for automatic growth; a write that would need more fails with kIOError
  // ("map full"). 0 means no bound beyond the address space. Default: 0.
  std::size_t max_map_size = 0;
  // Automatic growth. When false, a full map fails the write with kIOError instead of growing.
  // Default: true.
  bool grow_map = true;

  // Reader slots in LMDB's lock file: concurrent read transactions across all processes.
  // Slots of dead processes are reclaimed when the database opens. Default: 126.
  unsigned max_readers = 126;

  // Durability of commits. Default: kFull.
  SyncMode sync = SyncMode::kFull;

  // Base currency for customers' total_amount (ISO 4217, case-insensitive). Empty means "not
  // given": a new database gets "USD", an existing one keeps its own. A non-empty value is
  // recorded at creation; opening an existing database with a different one is
  // kInvalidArgument naming both (never silently ignored). Default: "" (not given).
  std::string base_currency;

  // Encryption at rest. Creation: a non-null key makes an encrypted database, null a plaintext
  // one. Open: an encrypted database needs the key it was created with (or its current
  // passphrase): none, or a wrong one, is kAuthentication. A plaintext database must be opened
  // without a key: a key given for one is kAuthentication too, so a plaintext file swapped in
  // for an encrypted one never receives data in the clear. Default: null (plaintext).
  std::shared_ptr<const KeyMaterial> key;
};

}  // namespace custdb
