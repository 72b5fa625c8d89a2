// custdb/options.h — how a database is opened or created. A plain struct: every field says
// its default. Fields marked "creation only" are recorded in the file when it is created and
// ignored (the file's value wins) when an existing database is opened.
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

  // Base currency for customers' total_amount (ISO 4217). Creation only. Default: "USD".
  std::string base_currency = "USD";

  // Walk LMDB's page structure before LMDB opens the file (verify_file in custdb/check.h):
  // damage is kCorruption naming the page, where LMDB itself would fault (SIGSEGV/SIGBUS) or
  // abort on the first read of a damaged page, because it trusts page offsets and numbers.
  // The walk reads the whole file once: measured 0.6-0.9 ms per MB with the file in the page
  // cache (37 ms for the 40 MB 20k-customer demo, 250 ms for a 390 MB one; docs/testing.md,
  // "Damaged files"), disk speed when it is not. That is a cost per open, not per read, so it
  // is off by default for the library (a long-running process opens once; call verify_file
  // or set this where files come from elsewhere); the custdb CLI turns it on for every
  // command (`--skip-page-check` turns it off). It checks the file as it is at open: damage
  // done while the database is open is not seen. Default: false.
  bool check_pages = false;

  // Encryption at rest. Creation: a non-null key makes an encrypted database, null a plaintext
  // one. Open: an encrypted database needs the key it was created with (or its current
  // passphrase), a plaintext one must be opened without a key. Default: null (plaintext).
  std::shared_ptr<const KeyMaterial> key;
};

}  // namespace custdb
