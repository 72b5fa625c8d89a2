// custdb/key.h — the secret that opens an encrypted database: a passphrase or a 32-byte key.
//
// KeyMaterial is immutable once made and held through std::shared_ptr<const KeyMaterial>
// (Options::key): share it freely across threads. Its bytes live in locked, guarded memory
// (libsodium's sodium_malloc) and are wiped when the last reference goes. custdb never logs,
// prints or stores them; only a key derived from them, wrapped, reaches the file.
#pragma once

#include "custdb/export.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string_view>

#include "custdb/status.h"

namespace custdb {

class CUSTDB_EXPORT KeyMaterial {
 public:
  // Where the secret's bytes live. Defined inside the library (src/crypto/crypto.h), which
  // alone reads the bytes; opaque here, so no program can make or read one.
  class Secret;

  // Any bytes; the passphrase is stretched with Argon2id. An empty passphrase is accepted here
  // but refused (kInvalidArgument) when a database is created or rekeyed with it.
  static std::shared_ptr<const KeyMaterial> from_passphrase(std::string_view passphrase);

  // A full-entropy key of exactly 32 bytes, used without stretching. Other sizes are
  // kInvalidArgument.
  static Result<std::shared_ptr<const KeyMaterial>> from_raw_key(std::span<const std::uint8_t> key);

  // Reads a secret from a file, so it never appears on a command line.
  // raw_key == false: the file holds a passphrase; one trailing "\n" or "\r\n" is removed, and
  //   an empty result is kInvalidArgument.
  // raw_key == true: the file holds exactly 32 bytes, or 64 hex digits optionally followed by
  //   one newline; anything else is kInvalidArgument.
  // A file that cannot be read is kIOError naming the path.
  static Result<std::shared_ptr<const KeyMaterial>> from_file(const std::filesystem::path& path,
                                                              bool raw_key);

  KeyMaterial(const KeyMaterial&) = delete;
  KeyMaterial& operator=(const KeyMaterial&) = delete;
  ~KeyMaterial();

  bool is_passphrase() const noexcept { return passphrase_; }

 private:
  CUSTDB_LOCAL KeyMaterial(std::unique_ptr<const Secret> secret, bool passphrase) noexcept;

  std::unique_ptr<const Secret> secret_;
  bool passphrase_;
};

}  // namespace custdb
