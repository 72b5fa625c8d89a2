// crypto.h — encryption at rest: the data key, its wrapping, record sealing and blind-index
// tokens. Internal to custdb; built on libsodium.
//
// Keys: one random 32-byte data key per database encrypts everything. It is stored only
// wrapped (XChaCha20-Poly1305) under a key-encryption key (KEK) derived from the user's secret:
// Argon2id for a passphrase, keyed BLAKE2b for a raw key. Changing the passphrase rewraps the
// data key; no record is rewritten. From the data key, crypto_kdf derives independent subkeys:
// one for sealing records (context "cdbrecrd") and one per indexed field (context "cdbtoken").
//
// Key header, version 1 — stored by the engine in its meta table. 107 bytes, integers
// little-endian:
//
//   offset  size  field
//        0     1  version = 1
//        1     1  cipher of the records (Cipher)
//        2     1  source of the KEK (KeySource)
//        3     8  Argon2id opslimit (0 for a raw key)
//       11     8  Argon2id memlimit in bytes (0 for a raw key)
//       19    16  salt (Argon2id salt, or BLAKE2b salt for a raw key)
//       35    24  wrap nonce
//       59    48  wrapped data key: 32 bytes ciphertext || 16 bytes tag
//
// The wrap's associated data is bytes 0..58 (everything before the wrapped key), so none of
// those fields can be altered without unwrap_key failing.
//
// Key binding (meta key "key_binding", 32 bytes): BLAKE2b-256 keyed with the data key's
// crypto_kdf subkey 1 of context "cdbbind1" over file_id (16 bytes, meta key "file_id") ||
// the 107-byte key header. It ties the key header to the file: a key header taken from another
// database (even one made with the same secret) unwraps a different data key, under which the
// stored binding does not verify. See docs/security.md.
//
// Sealed record: nonce || ciphertext || 16-byte tag (see RecordCipher for the nonce).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include <sodium.h>

#include "custdb/key.h"
#include "custdb/status.h"

namespace custdb::crypto {

// Initializes libsodium once per process; thread-safe and cheap after the first call. Every
// function here calls it, so callers need not.
void ensure_sodium();

// On-disk: never renumber.
enum class Cipher : std::uint8_t { kAes256Gcm = 1, kXChaCha20Poly1305 = 2 };
// On-disk: never renumber.
enum class KeySource : std::uint8_t { kPassphrase = 1, kRawKey = 2 };

// AES-256-GCM when the CPU has AES-NI and CLMUL (libsodium offers it only then), otherwise
// XChaCha20-Poly1305.
Cipher preferred_cipher();
bool cipher_available(Cipher cipher);

// Secret bytes in sodium_malloc memory: locked (not swapped), guarded by no-access pages, wiped
// on free. data() is 16-byte aligned. Move-only; not thread-safe to mutate, safe to read
// concurrently.
class SecretBuffer {
 public:
  SecretBuffer() noexcept = default;
  // Uninitialized contents. Throws std::bad_alloc when libsodium cannot allocate.
  explicit SecretBuffer(std::size_t size);
  SecretBuffer(SecretBuffer&& other) noexcept;
  SecretBuffer& operator=(SecretBuffer&& other) noexcept;
  ~SecretBuffer();

  std::uint8_t* data() noexcept { return data_; }
  const std::uint8_t* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  std::span<const std::uint8_t> span() const noexcept { return {data_, size_}; }

 private:
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace custdb::crypto

namespace custdb {

// What a KeyMaterial holds (custdb/key.h declares it opaque): the user's secret in SecretBuffer
// memory. As a class nested in KeyMaterial it reads KeyMaterial's private members, so the
// public header needs no friend for the library's access.
class KeyMaterial::Secret : public crypto::SecretBuffer {
 public:
  explicit Secret(crypto::SecretBuffer&& bytes) noexcept : SecretBuffer(std::move(bytes)) {}
  // The secret's bytes; valid while `key` lives.
  static std::span<const std::uint8_t> of(const KeyMaterial& key) noexcept {
    return key.secret_->span();
  }
};

}  // namespace custdb

namespace custdb::crypto {

// The bytes of the user's secret (a passphrase or a raw key): what the KEK is derived from.
inline std::span<const std::uint8_t> secret_bytes(const KeyMaterial& key) noexcept {
  return KeyMaterial::Secret::of(key);
}

inline constexpr std::size_t kDataKeySize = 32;
// The database's data key: kDataKeySize bytes.
using DataKey = SecretBuffer;

// Argon2id cost for passphrases. Tests use kMin; production keeps the default.
struct KdfCost {
  std::uint64_t opslimit = crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE;
  std::uint64_t memlimit = crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE;

  static constexpr KdfCost min() {
    return {crypto_pwhash_argon2id_OPSLIMIT_MIN, crypto_pwhash_argon2id_MEMLIMIT_MIN};
  }
};

// The wrapped data key and how to unwrap it; layout in the table above. A plain value.
struct KeyHeader {
  static constexpr std::uint8_t kVersion = 1;
  static constexpr std::size_t kSize = 107;

  Cipher cipher = Cipher::kXChaCha20Poly1305;
  KeySource source = KeySource::kPassphrase;
  std::uint64_t opslimit = 0;
  std::uint64_t memlimit = 0;
  std::array<std::uint8_t, 16> salt{};
  std::array<std::uint8_t, 24> wrap_nonce{};
  std::array<std::uint8_t, 48> wrapped_key{};  // 32-byte data key + 16-byte tag

  std::vector<std::uint8_t> serialize() const;
  // kCorruption on a wrong size, an unknown version, cipher or source, or KDF parameters that
  // do not fit the source (out of libsodium's range for a passphrase, non-zero for a raw key).
  static Result<KeyHeader> parse(std::span<const std::uint8_t> bytes);

  bool operator==(const KeyHeader&) const = default;
};

// Wipes kStackScrubBytes of stack below the caller's frame: call it after a callee handled
// key material on its stack (libsodium does not wipe all of its locals). Every function here
// that derives or unwraps a key already does.
// 32 KiB: libsodium 1.0.18's deepest key path (Argon2id) uses about 7.5 KiB of stack below the
// caller (measured); the rest is margin, kept small for threads with small stacks.
inline constexpr std::size_t kStackScrubBytes = 32 * 1024;
void scrub_stack() noexcept;

inline constexpr std::size_t kFileIdSize = 16;
inline constexpr std::size_t kKeyBindingSize = 32;
// The key binding of (file_id, key_header) under `data_key`; layout at the top of this file.
// kInternal when data_key or file_id has the wrong size.
Result<std::array<std::uint8_t, kKeyBindingSize>> key_binding(
    const DataKey& data_key, std::span<const std::uint8_t> file_id,
    std::span<const std::uint8_t> key_header);

// A new random data key for a new database, wrapped under `key`. `cost` applies to passphrases.
// kInvalidArgument for an empty passphrase, kUnsupported for a cipher this CPU lacks.
Result<std::pair<KeyHeader, DataKey>> create_key(const KeyMaterial& key, Cipher cipher,
                                                 KdfCost cost = {});

// The data key. kAuthentication when `key` is of the wrong kind (passphrase vs raw key) or
// wrong; kUnsupported when the header's cipher is unavailable on this CPU; kIOError when
// Argon2id cannot get its memory.
Result<DataKey> unwrap_key(const KeyHeader& header, const KeyMaterial& key);

// The same data key wrapped under `new_key` with a fresh salt and nonce; the cipher is kept.
// The caller proves knowledge of the old secret by having unwrapped `data_key`.
Result<KeyHeader> rewrap_key(const KeyHeader& old, const DataKey& data_key,
                             const KeyMaterial& new_key, KdfCost cost = {});

// ---- the personal key and analyst keys (issue #16, format 4) ---------------------------------
//
// Personal key PK: 32 random bytes per encrypted database of format 4. The personal fields of
// records (name, email, phone, external_ref, birth_date, city, transaction description) are
// sealed under a RecordCipher made from PK, and their lookup tokens and segment postings come
// from a Tokenizer made from PK. PK is wrapped under the OWNER's KEK only (meta
// "personal_key", kPersonalWrapSize bytes):
//
//   offset  size  field
//        0    24  nonce (random)
//       24    48  XChaCha20-Poly1305(PK) || tag, key = crypto_kdf(KEK, id 1, "cdbpkwrp"),
//                 AD = "cdbpkwrp" || the 107-byte owner key header
//
// so the owner's secret opens both keys with one Argon2id run, and a rewrap of the owner key
// header must rewrap PK too (the AD binds it to the header). Analyst key headers are ordinary
// KeyHeaders (same layout) wrapping the data key alone under the analyst's KEK: an analyst
// never holds PK.
inline constexpr std::size_t kPersonalKeySize = 32;
inline constexpr std::size_t kPersonalWrapSize = 72;
using PersonalKey = SecretBuffer;

struct OwnerKeys {
  KeyHeader header;
  DataKey data_key;
  PersonalKey personal_key;                  // empty (size 0) when not asked for / absent
  std::vector<std::uint8_t> personal_wrap;   // kPersonalWrapSize bytes, or empty
  // unwrap_owner_keys: the data key opened but the personal wrap did not (the caller reports
  // it as kCorruption after its own checks, so a foreign key header is named as such first).
  bool personal_failed = false;
};

// A new data key and a new personal key, both wrapped under `key` (one KDF run).
Result<OwnerKeys> create_owner_keys(const KeyMaterial& key, Cipher cipher, KdfCost cost = {});
// The data key from `header`, and PK from `personal_wrap` when it is not empty (one KDF run).
// kAuthentication for a wrong secret (as unwrap_key). When the data key opens but the personal
// wrap does not (damaged, or taken from another database), personal_failed is set.
Result<OwnerKeys> unwrap_owner_keys(const KeyHeader& header,
                                    std::span<const std::uint8_t> personal_wrap,
                                    const KeyMaterial& key);
// Both keys wrapped under `new_key` (fresh salt and nonces; the cipher kept). `personal_key`
// empty: only the data key (a file without PK).
Result<OwnerKeys> rewrap_owner_keys(const KeyHeader& old, const DataKey& data_key,
                                    const PersonalKey& personal_key, const KeyMaterial& new_key,
                                    KdfCost cost = {});
// A new random personal key (the format-4 upgrade of an encrypted file): wrapped under `key`'s
// KEK for `header` (which `key` must open: kAuthentication otherwise).
Result<OwnerKeys> add_personal_key(const KeyHeader& header, const KeyMaterial& key);

// Seals and opens records under one data key. Thread-safe: seal and open may run concurrently
// from any number of threads. Owns a copy of its key material; not copyable or movable.
//
// Nonce, AES-256-GCM (12 bytes): epoch (u32 BE) || r (u32 BE) || counter (u32 BE), where the
// instance's 64-bit counter n gives counter = n mod 2^32 and r = R + (n >> 32) * 0x9E3779B1 for a
// random R drawn once per instance. XChaCha20-Poly1305 (24 bytes): epoch (u32 BE) || n (u64 BE)
// || 12 random bytes drawn once per instance. No syscall per record. The epoch makes nonces
// unique outright while the INVARIANT below holds; the random part keeps them unique with high
// probability when it does not (a restored backup or copied file replays old epochs).
// A cipher used in a forked child throws std::logic_error rather than repeat the parent's
// nonces.
class RecordCipher {
 public:
  static constexpr std::size_t kTagSize = 16;
  static constexpr std::size_t nonce_size(Cipher cipher) {
    return cipher == Cipher::kAes256Gcm ? crypto_aead_aes256gcm_NPUBBYTES
                                        : crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  }
  static constexpr std::size_t overhead(Cipher cipher) { return nonce_size(cipher) + kTagSize; }

  // Preconditions (std::invalid_argument otherwise): key.size() == kDataKeySize and
  // cipher_available(cipher).
  RecordCipher(const DataKey& key, Cipher cipher, std::uint32_t epoch);
  RecordCipher(const RecordCipher&) = delete;
  RecordCipher& operator=(const RecordCipher&) = delete;

  Cipher cipher() const noexcept { return cipher_; }
  std::uint32_t epoch() const noexcept { return epoch_; }
  std::size_t overhead() const noexcept { return overhead(cipher_); }

  // out = nonce || ciphertext || tag; out.size() must be plain.size() + overhead()
  // (std::invalid_argument otherwise). `ad` (e.g. table id and record key) is authenticated,
  // not stored. out must not overlap plain.
  void seal(std::span<const std::uint8_t> plain, std::span<const std::uint8_t> ad,
            std::span<std::uint8_t> out);

  // Opens a record sealed by any RecordCipher under the same data key and cipher, whatever its
  // epoch: the nonce is read from `sealed`. plain_out.size() must be sealed.size() - overhead()
  // (kInternal otherwise). kCorruption("authentication failed") when the bytes or `ad` differ
  // from what was sealed; plain_out is then zeroed.
  Status open(std::span<const std::uint8_t> sealed, std::span<const std::uint8_t> ad,
              std::span<std::uint8_t> plain_out) const;

 private:
  Cipher cipher_;
  std::uint32_t epoch_;
  // AES-256-GCM: the expanded crypto_aead_aes256gcm_state (needs 16-byte alignment, which
  // SecretBuffer gives). XChaCha20-Poly1305: the 32-byte record key.
  SecretBuffer key_;
  std::array<std::uint8_t, 12> nonce_tail_{};
  std::atomic<std::uint64_t> counter_{0};
  unsigned fork_generation_ = 0;
};

// Blind-index tokens: a keyed hash of a normalized field value, so equal values can be found
// without storing them. Immutable after construction, so thread-safe; move-only.
class Tokenizer {
 public:
  // Segment postings use 32 + SegField (index/segments.h), up to 32 + 33 (kHolds, format 6).
  static constexpr std::uint32_t kMaxFields = 80;
  static constexpr std::size_t kTokenSize = 16;
  using Token = std::array<std::uint8_t, kTokenSize>;

  // Precondition (std::invalid_argument otherwise): key.size() == kDataKeySize.
  explicit Tokenizer(const DataKey& key);

  // BLAKE2b-128 of `value` keyed with the field's subkey: equal for equal (field, value),
  // unrelated across fields and data keys. field_id < kMaxFields (std::out_of_range otherwise).
  Token token(std::uint32_t field_id, std::span<const std::uint8_t> value) const;

 private:
  SecretBuffer subkeys_;  // kMaxFields subkeys of 32 bytes each
};

}  // namespace custdb::crypto
