// Encryption at rest on libsodium; the design is described in crypto.h.
#include "crypto/crypto.h"
#include "util/coding.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

namespace custdb::crypto {
namespace {

constexpr std::size_t kSaltSize = 16;
constexpr std::size_t kWrapNonceSize = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kWrappedSize = kDataKeySize + crypto_aead_xchacha20poly1305_ietf_ABYTES;
// Header offsets (table in crypto.h).
constexpr std::size_t kOffOps = 3, kOffMem = 11, kOffSalt = 19, kOffNonce = 35, kOffWrapped = 59;

static_assert(kSaltSize == crypto_pwhash_argon2id_SALTBYTES);
static_assert(kSaltSize == crypto_generichash_blake2b_SALTBYTES);
static_assert(kWrapNonceSize == std::tuple_size_v<decltype(KeyHeader::wrap_nonce)>);
static_assert(kWrappedSize == std::tuple_size_v<decltype(KeyHeader::wrapped_key)>);
static_assert(kOffWrapped + kWrappedSize == KeyHeader::kSize);
static_assert(kDataKeySize == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
static_assert(kDataKeySize == crypto_aead_aes256gcm_KEYBYTES);
static_assert(kDataKeySize == crypto_kdf_KEYBYTES);
static_assert(RecordCipher::kTagSize == crypto_aead_aes256gcm_ABYTES);
static_assert(RecordCipher::kTagSize == crypto_aead_xchacha20poly1305_ietf_ABYTES);

// crypto_kdf contexts: exactly 8 characters each, one per use of the data key.
constexpr char kRecordContext[] = "cdbrecrd";
constexpr char kTokenContext[] = "cdbtoken";
constexpr char kBindContext[] = "cdbbind1";
constexpr char kPersonalWrapContext[] = "cdbpkwrp";
// BLAKE2b personalization for the raw-key KEK: exactly 16 bytes.
constexpr char kRawKekPersonal[] = "custdb-rawkek-v1";
static_assert(sizeof kRecordContext - 1 == crypto_kdf_CONTEXTBYTES);
static_assert(sizeof kTokenContext - 1 == crypto_kdf_CONTEXTBYTES);
static_assert(sizeof kBindContext - 1 == crypto_kdf_CONTEXTBYTES);
static_assert(sizeof kPersonalWrapContext - 1 == crypto_kdf_CONTEXTBYTES);
static_assert(kPersonalWrapSize == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + kDataKeySize +
                                       crypto_aead_xchacha20poly1305_ietf_ABYTES);
static_assert(sizeof kRawKekPersonal - 1 == crypto_generichash_blake2b_PERSONALBYTES);

constexpr std::size_t kAlign = 16;  // crypto_aead_aes256gcm_state's alignment

// Counts forks, so a RecordCipher copied into a child process can refuse to seal.
std::atomic<unsigned> g_fork_generation{0};
unsigned current_fork_generation() {
  static const bool registered = [] {
    pthread_atfork(nullptr, nullptr, [] { g_fork_generation.fetch_add(1); });
    return true;
  }();
  (void)registered;
  return g_fork_generation.load(std::memory_order_relaxed);
}


// libsodium's own maxima allow an open that runs for hours; a damaged or hostile header must
// not, so custdb caps the cost at 8x SENSITIVE time and 4 GiB of memory.
bool argon2_cost_ok(std::uint64_t opslimit, std::uint64_t memlimit) {
  return opslimit >= crypto_pwhash_argon2id_OPSLIMIT_MIN &&
         opslimit <= std::min<std::uint64_t>(crypto_pwhash_argon2id_OPSLIMIT_MAX,
                                             8 * crypto_pwhash_argon2id_OPSLIMIT_SENSITIVE) &&
         memlimit >= crypto_pwhash_argon2id_MEMLIMIT_MIN &&
         memlimit <= std::min<std::uint64_t>(crypto_pwhash_argon2id_MEMLIMIT_MAX,
                                             std::uint64_t{4} << 30);
}

const char* cipher_name(Cipher cipher) {
  return cipher == Cipher::kAes256Gcm ? "AES-256-GCM" : "XChaCha20-Poly1305";
}

KeySource source_of(const KeyMaterial& key) {
  return key.is_passphrase() ? KeySource::kPassphrase : KeySource::kRawKey;
}

// Wipes, when it goes out of scope, the stack below the frame that holds it: libsodium leaves
// key material in its callees' stack frames (BLAKE2b's final block buffer holds the whole
// Argon2id or BLAKE2b output, i.e. the KEK; ChaCha20's partial-block buffer holds the
// unwrapped data key), and a core dump or a later read of uninitialized stack would show them.
struct StackScrub {
  StackScrub() = default;
  StackScrub(const StackScrub&) = delete;
  StackScrub& operator=(const StackScrub&) = delete;
  ~StackScrub() { scrub_stack(); }
};

// The KEK for `header` (its source, KDF parameters and salt) from `key`. The KEK is written
// straight into secret memory; the scrub wipes what the KDF left on the stack.
Result<SecretBuffer> derive_kek(const KeyHeader& header, const KeyMaterial& key) {
  const StackScrub scrub;
  const auto secret = secret_bytes(key);
  SecretBuffer kek(kDataKeySize);
  if (header.source == KeySource::kPassphrase) {
    if (crypto_pwhash(kek.data(), kek.size(), reinterpret_cast<const char*>(secret.data()),
                      secret.size(), header.salt.data(), header.opslimit,
                      static_cast<std::size_t>(header.memlimit),
                      crypto_pwhash_ALG_ARGON2ID13) != 0) {
      // Argon2id fails only for lack of memory (parameters were range-checked).
      return make_error(ErrorCode::kIOError, "key derivation failed: cannot allocate " +
                                                 std::to_string(header.memlimit) + " bytes");
    }
  } else {
    // A raw key already has full entropy: a keyed hash separates the KEK from any other use of
    // it, and the salt makes each rewrap's KEK new.
    if (secret.size() != kDataKeySize ||
        crypto_generichash_blake2b_salt_personal(
            kek.data(), kek.size(), nullptr, 0, secret.data(), secret.size(), header.salt.data(),
            reinterpret_cast<const std::uint8_t*>(kRawKekPersonal)) != 0) {
      return make_error(ErrorCode::kInternal, "raw key derivation failed");
    }
  }
  return kek;
}

// Fills source, KDF parameters, salt, nonce and wrapped key of `header` (cipher already set).
Status wrap(KeyHeader& header, const DataKey& data_key, const KeyMaterial& key, KdfCost cost) {
  if (data_key.size() != kDataKeySize) {
    return make_error(ErrorCode::kInternal, "data key has the wrong size");
  }
  header.source = source_of(key);
  if (header.source == KeySource::kPassphrase) {
    if (secret_bytes(key).empty()) {
      return make_error(ErrorCode::kInvalidArgument, "passphrase is empty");
    }
    if (!argon2_cost_ok(cost.opslimit, cost.memlimit)) {
      return make_error(ErrorCode::kInvalidArgument, "Argon2id cost out of range");
    }
    header.opslimit = cost.opslimit;
    header.memlimit = cost.memlimit;
  } else {
    header.opslimit = 0;
    header.memlimit = 0;
  }
  randombytes_buf(header.salt.data(), header.salt.size());
  randombytes_buf(header.wrap_nonce.data(), header.wrap_nonce.size());

  auto kek = derive_kek(header, key);
  if (!kek) return tl::unexpected(std::move(kek).error());
  const auto bytes = header.serialize();
  unsigned long long len = 0;
  const StackScrub scrub;
  crypto_aead_xchacha20poly1305_ietf_encrypt(header.wrapped_key.data(), &len, data_key.data(),
                                             data_key.size(), bytes.data(), kOffWrapped, nullptr,
                                             header.wrap_nonce.data(), kek->data());
  return {};
}

}  // namespace

void ensure_sodium() {
  // sodium_init is idempotent; the static only spares the call. A throw leaves the static
  // uninitialized, so the next call retries.
  static const bool initialized = [] {
    if (sodium_init() < 0) throw std::runtime_error("libsodium initialization failed");
    return true;
  }();
  (void)initialized;
}

void scrub_stack() noexcept {
  // sodium_stackzero zeroes a variable-length array of its own frame, i.e. the stack just below
  // the caller's frame, where the callees the caller has returned from kept their locals.
  sodium_stackzero(kStackScrubBytes);
}

Result<std::array<std::uint8_t, kKeyBindingSize>> key_binding(
    const DataKey& data_key, std::span<const std::uint8_t> file_id,
    std::span<const std::uint8_t> key_header) {
  if (data_key.size() != kDataKeySize || file_id.size() != kFileIdSize)
    return make_error(ErrorCode::kInternal, "key binding: bad input sizes");
  SecretBuffer subkey(crypto_generichash_blake2b_KEYBYTES_MAX);
  crypto_kdf_derive_from_key(subkey.data(), subkey.size(), 1, kBindContext, data_key.data());
  std::array<std::uint8_t, kKeyBindingSize> mac{};
  crypto_generichash_blake2b_state state;
  crypto_generichash_blake2b_init(&state, subkey.data(), subkey.size(), mac.size());
  crypto_generichash_blake2b_update(&state, file_id.data(), file_id.size());
  crypto_generichash_blake2b_update(&state, key_header.data(), key_header.size());
  crypto_generichash_blake2b_final(&state, mac.data(), mac.size());
  sodium_memzero(&state, sizeof state);
  scrub_stack();
  return mac;
}

Cipher preferred_cipher() {
  return cipher_available(Cipher::kAes256Gcm) ? Cipher::kAes256Gcm : Cipher::kXChaCha20Poly1305;
}

bool cipher_available(Cipher cipher) {
  ensure_sodium();
  switch (cipher) {
    case Cipher::kAes256Gcm:
      return crypto_aead_aes256gcm_is_available() != 0;
    case Cipher::kXChaCha20Poly1305:
      return true;
  }
  return false;
}

// ---- SecretBuffer ---------------------------------------------------------------------------

SecretBuffer::SecretBuffer(std::size_t size) : size_(size) {
  ensure_sodium();
  // sodium_malloc places the block flush against a guard page, so its address is aligned only
  // as far as its size is: round the size up to keep data() 16-byte aligned (and never
  // allocate 0 bytes). The few pad bytes escape the guard page; our sizes rarely need any.
  const std::size_t rounded = size == 0 ? kAlign : (size + kAlign - 1) & ~(kAlign - 1);
  data_ = static_cast<std::uint8_t*>(sodium_malloc(rounded));
  if (data_ == nullptr) throw std::bad_alloc();
}

SecretBuffer::SecretBuffer(SecretBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

SecretBuffer& SecretBuffer::operator=(SecretBuffer&& other) noexcept {
  if (this != &other) {
    SecretBuffer old(std::move(*this));
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SecretBuffer::~SecretBuffer() {
  if (data_ != nullptr) sodium_free(data_);  // wipes, unlocks and unmaps
}

// ---- key header -----------------------------------------------------------------------------

std::vector<std::uint8_t> KeyHeader::serialize() const {
  std::vector<std::uint8_t> out(kSize);
  out[0] = kVersion;
  out[1] = static_cast<std::uint8_t>(cipher);
  out[2] = static_cast<std::uint8_t>(source);
  coding::put_le64(&out[kOffOps], opslimit);
  coding::put_le64(&out[kOffMem], memlimit);
  std::memcpy(&out[kOffSalt], salt.data(), salt.size());
  std::memcpy(&out[kOffNonce], wrap_nonce.data(), wrap_nonce.size());
  std::memcpy(&out[kOffWrapped], wrapped_key.data(), wrapped_key.size());
  return out;
}

Result<KeyHeader> KeyHeader::parse(std::span<const std::uint8_t> bytes) {
  auto corrupt = [](std::string what) {
    return make_error(ErrorCode::kCorruption, "key header: " + what);
  };
  if (bytes.size() != kSize) {
    return corrupt("size " + std::to_string(bytes.size()) + ", expected " + std::to_string(kSize));
  }
  if (bytes[0] != kVersion) return corrupt("unknown version " + std::to_string(bytes[0]));
  KeyHeader h;
  if (bytes[1] != 1 && bytes[1] != 2) return corrupt("unknown cipher " + std::to_string(bytes[1]));
  if (bytes[2] != 1 && bytes[2] != 2) return corrupt("unknown source " + std::to_string(bytes[2]));
  h.cipher = static_cast<Cipher>(bytes[1]);
  h.source = static_cast<KeySource>(bytes[2]);
  h.opslimit = coding::get_le64(&bytes[kOffOps]);
  h.memlimit = coding::get_le64(&bytes[kOffMem]);
  // Range checks keep a damaged header from asking Argon2id for absurd work or memory before
  // authentication can catch it.
  const bool kdf_ok = h.source == KeySource::kPassphrase ? argon2_cost_ok(h.opslimit, h.memlimit)
                                                         : h.opslimit == 0 && h.memlimit == 0;
  if (!kdf_ok) return corrupt("bad key derivation parameters");
  std::memcpy(h.salt.data(), &bytes[kOffSalt], h.salt.size());
  std::memcpy(h.wrap_nonce.data(), &bytes[kOffNonce], h.wrap_nonce.size());
  std::memcpy(h.wrapped_key.data(), &bytes[kOffWrapped], h.wrapped_key.size());
  return h;
}

// ---- data key -------------------------------------------------------------------------------

Result<std::pair<KeyHeader, DataKey>> create_key(const KeyMaterial& key, Cipher cipher,
                                                 KdfCost cost) {
  if (!cipher_available(cipher)) {
    return make_error(ErrorCode::kUnsupported,
                      std::string(cipher_name(cipher)) + " is not available on this CPU");
  }
  DataKey data_key(kDataKeySize);
  randombytes_buf(data_key.data(), data_key.size());
  KeyHeader header;
  header.cipher = cipher;
  if (auto s = wrap(header, data_key, key, cost); !s) return tl::unexpected(std::move(s).error());
  return std::pair<KeyHeader, DataKey>(header, std::move(data_key));
}

Result<DataKey> unwrap_key(const KeyHeader& header, const KeyMaterial& key) {
  const KeySource given = source_of(key);
  if (given != header.source) {
    return make_error(ErrorCode::kAuthentication,
                      given == KeySource::kPassphrase
                          ? "the database is encrypted with a raw key, not a passphrase"
                          : "the database is encrypted with a passphrase, not a raw key");
  }
  auto kek = derive_kek(header, key);
  if (!kek) return tl::unexpected(std::move(kek).error());
  const auto bytes = header.serialize();
  DataKey data_key(kDataKeySize);
  unsigned long long len = 0;
  const StackScrub scrub;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          data_key.data(), &len, nullptr, header.wrapped_key.data(), header.wrapped_key.size(),
          bytes.data(), kOffWrapped, header.wrap_nonce.data(), kek->data()) != 0) {
    // A wrong secret and a damaged header look the same here; the wrong secret is by far the
    // likelier, and must never be reported as corruption.
    return make_error(ErrorCode::kAuthentication, "wrong passphrase or key");
  }
  // Checked after authentication so a tampered cipher byte reads as kAuthentication.
  if (!cipher_available(header.cipher)) {
    return make_error(
        ErrorCode::kUnsupported,
        std::string("the database uses ") + cipher_name(header.cipher) + ", which this CPU lacks");
  }
  return data_key;
}

Result<KeyHeader> rewrap_key(const KeyHeader& old, const DataKey& data_key,
                             const KeyMaterial& new_key, KdfCost cost) {
  KeyHeader header;
  header.cipher = old.cipher;
  if (auto s = wrap(header, data_key, new_key, cost); !s) {
    return tl::unexpected(std::move(s).error());
  }
  return header;
}

// ---- personal key ----------------------------------------------------------------------------

namespace {

// AD of a personal-key wrap: the context string then the owner key header's bytes.
std::vector<std::uint8_t> personal_ad(const KeyHeader& header) {
  std::vector<std::uint8_t> ad(kPersonalWrapContext, kPersonalWrapContext + 8);
  const auto h = header.serialize();
  ad.insert(ad.end(), h.begin(), h.end());
  return ad;
}

std::vector<std::uint8_t> wrap_personal(const KeyHeader& header, const SecretBuffer& kek,
                                        const PersonalKey& pk) {
  const StackScrub scrub;
  SecretBuffer wk(kDataKeySize);
  crypto_kdf_derive_from_key(wk.data(), wk.size(), 1, kPersonalWrapContext, kek.data());
  std::vector<std::uint8_t> out(kPersonalWrapSize);
  randombytes_buf(out.data(), kWrapNonceSize);
  const auto ad = personal_ad(header);
  unsigned long long len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out.data() + kWrapNonceSize, &len, pk.data(),
                                             pk.size(), ad.data(), ad.size(), nullptr, out.data(),
                                             wk.data());
  return out;
}

Result<PersonalKey> unwrap_personal(const KeyHeader& header, const SecretBuffer& kek,
                                    std::span<const std::uint8_t> wrap) {
  if (wrap.size() != kPersonalWrapSize)
    return make_error(ErrorCode::kCorruption, "meta personal_key: wrong size");
  const StackScrub scrub;
  SecretBuffer wk(kDataKeySize);
  crypto_kdf_derive_from_key(wk.data(), wk.size(), 1, kPersonalWrapContext, kek.data());
  const auto ad = personal_ad(header);
  PersonalKey pk(kPersonalKeySize);
  unsigned long long len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          pk.data(), &len, nullptr, wrap.data() + kWrapNonceSize, wrap.size() - kWrapNonceSize,
          ad.data(), ad.size(), wrap.data(), wk.data()) != 0)
    return make_error(ErrorCode::kCorruption,
                      "meta personal_key: does not open under the owner's key (damaged or "
                      "copied from another database)");
  return pk;
}

PersonalKey random_personal_key() {
  PersonalKey pk(kPersonalKeySize);
  randombytes_buf(pk.data(), pk.size());
  return pk;
}

}  // namespace

Result<OwnerKeys> create_owner_keys(const KeyMaterial& key, Cipher cipher, KdfCost cost) {
  auto created = create_key(key, cipher, cost);
  if (!created) return tl::unexpected(created.error());
  OwnerKeys k{created->first, std::move(created->second), random_personal_key(), {}};
  auto kek = derive_kek(k.header, key);
  if (!kek) return tl::unexpected(kek.error());
  k.personal_wrap = wrap_personal(k.header, *kek, k.personal_key);
  return k;
}

Result<OwnerKeys> unwrap_owner_keys(const KeyHeader& header,
                                    std::span<const std::uint8_t> personal_wrap,
                                    const KeyMaterial& key) {
  const KeySource given = source_of(key);
  if (given != header.source) return tl::unexpected(unwrap_key(header, key).error());
  auto kek = derive_kek(header, key);
  if (!kek) return tl::unexpected(kek.error());
  const auto bytes = header.serialize();
  OwnerKeys k{header, DataKey(kDataKeySize), PersonalKey(), {}};
  {
    unsigned long long len = 0;
    const StackScrub scrub;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            k.data_key.data(), &len, nullptr, header.wrapped_key.data(),
            header.wrapped_key.size(), bytes.data(), kOffWrapped, header.wrap_nonce.data(),
            kek->data()) != 0)
      return make_error(ErrorCode::kAuthentication, "wrong passphrase or key");
  }
  if (!cipher_available(header.cipher))
    return make_error(
        ErrorCode::kUnsupported,
        std::string("the database uses ") + cipher_name(header.cipher) + ", which this CPU lacks");
  if (!personal_wrap.empty()) {
    auto pk = unwrap_personal(header, *kek, personal_wrap);
    if (!pk) {
      k.personal_failed = true;
      return k;
    }
    k.personal_key = std::move(*pk);
    k.personal_wrap.assign(personal_wrap.begin(), personal_wrap.end());
  }
  return k;
}

Result<OwnerKeys> rewrap_owner_keys(const KeyHeader& old, const DataKey& data_key,
                                    const PersonalKey& personal_key, const KeyMaterial& new_key,
                                    KdfCost cost) {
  OwnerKeys k{KeyHeader{}, DataKey(), PersonalKey(), {}};
  k.header.cipher = old.cipher;
  if (auto s = wrap(k.header, data_key, new_key, cost); !s) return tl::unexpected(s.error());
  if (personal_key.size() == kPersonalKeySize) {
    auto kek = derive_kek(k.header, new_key);
    if (!kek) return tl::unexpected(kek.error());
    k.personal_wrap = wrap_personal(k.header, *kek, personal_key);
  }
  return k;
}

Result<OwnerKeys> add_personal_key(const KeyHeader& header, const KeyMaterial& key) {
  auto opened = unwrap_owner_keys(header, {}, key);
  if (!opened) return tl::unexpected(opened.error());
  auto kek = derive_kek(header, key);
  if (!kek) return tl::unexpected(kek.error());
  opened->personal_key = random_personal_key();
  opened->personal_wrap = wrap_personal(header, *kek, opened->personal_key);
  return opened;
}

// ---- RecordCipher ---------------------------------------------------------------------------

RecordCipher::RecordCipher(const DataKey& key, Cipher cipher, std::uint32_t epoch)
    : cipher_(cipher), epoch_(epoch) {
  if (key.size() != kDataKeySize) throw std::invalid_argument("RecordCipher: bad key size");
  if (!cipher_available(cipher)) throw std::invalid_argument("RecordCipher: cipher unavailable");
  // A subkey, not the data key itself, so sealing and tokens never share a key.
  SecretBuffer record_key(kDataKeySize);
  crypto_kdf_derive_from_key(record_key.data(), record_key.size(), 0, kRecordContext, key.data());
  if (cipher == Cipher::kAes256Gcm) {
    key_ = SecretBuffer(sizeof(crypto_aead_aes256gcm_state));
    if (reinterpret_cast<std::uintptr_t>(key_.data()) % alignof(crypto_aead_aes256gcm_state)) {
      throw std::logic_error("RecordCipher: misaligned AES state");  // SecretBuffer guarantees
    }
    crypto_aead_aes256gcm_beforenm(reinterpret_cast<crypto_aead_aes256gcm_state*>(key_.data()),
                                   record_key.data());
  } else {
    key_ = std::move(record_key);
  }
  // Random per instance: if the persisted epoch is ever rolled back (a restored backup, a
  // copied file, a tampered meta value), two instances with the same epoch still draw
  // different nonces except with probability 2^-32 (AES-GCM) or 2^-96 (XChaCha20).
  randombytes_buf(nonce_tail_.data(), nonce_tail_.size());
  fork_generation_ = current_fork_generation();
  scrub_stack();  // crypto_kdf (BLAKE2b) and the AES key schedule left key bytes there
}

void RecordCipher::seal(std::span<const std::uint8_t> plain, std::span<const std::uint8_t> ad,
                        std::span<std::uint8_t> out) {
  const std::size_t nonce_len = nonce_size(cipher_);
  if (out.size() != plain.size() + nonce_len + kTagSize) {
    throw std::invalid_argument("RecordCipher::seal: output size must be input + overhead");
  }
  // Relaxed suffices: only uniqueness matters, and fetch_add is atomic at any order. 2^64 seals
  // per instance are out of reach, so the counter never wraps.
  if (fork_generation_ != current_fork_generation())
    throw std::logic_error("RecordCipher: used in a forked child; its nonces would repeat the parent's");
  const std::uint64_t n = counter_.fetch_add(1, std::memory_order_relaxed);
  std::uint8_t* nonce = out.data();
  coding::put_u32(nonce, epoch_);
  if (cipher_ == Cipher::kAes256Gcm) {
    // epoch (4) || r(generation) (4) || counter (4). r is a random offset plus an odd multiple
    // of the generation (n >> 32): a bijection, so generations of one instance never collide.
    std::uint32_t tail;
    std::memcpy(&tail, nonce_tail_.data(), 4);
    coding::put_u32(nonce + 4, tail + static_cast<std::uint32_t>(n >> 32) * 0x9E3779B1u);
    coding::put_u32(nonce + 8, static_cast<std::uint32_t>(n));
  } else {
    coding::put_u64(nonce + 4, n);
  }
  std::uint8_t* c = out.data() + nonce_len;
  unsigned long long clen = 0;
  if (cipher_ == Cipher::kAes256Gcm) {
    crypto_aead_aes256gcm_encrypt_afternm(
        c, &clen, plain.data(), plain.size(), ad.data(), ad.size(), nullptr, nonce,
        reinterpret_cast<const crypto_aead_aes256gcm_state*>(key_.data()));
  } else {
    std::memcpy(nonce + 12, nonce_tail_.data(), nonce_tail_.size());
    crypto_aead_xchacha20poly1305_ietf_encrypt(c, &clen, plain.data(), plain.size(), ad.data(),
                                               ad.size(), nullptr, nonce, key_.data());
  }
}

Status RecordCipher::open(std::span<const std::uint8_t> sealed, std::span<const std::uint8_t> ad,
                          std::span<std::uint8_t> plain_out) const {
  const std::size_t nonce_len = nonce_size(cipher_);
  if (sealed.size() < nonce_len + kTagSize) {
    return make_error(ErrorCode::kCorruption, "sealed record too short");
  }
  if (plain_out.size() != sealed.size() - nonce_len - kTagSize) {
    return make_error(ErrorCode::kInternal, "RecordCipher::open: wrong output size");
  }
  const std::uint8_t* nonce = sealed.data();
  const std::uint8_t* c = sealed.data() + nonce_len;
  const std::size_t clen = sealed.size() - nonce_len;
  unsigned long long mlen = 0;
  const int rc =
      cipher_ == Cipher::kAes256Gcm
          ? crypto_aead_aes256gcm_decrypt_afternm(
                plain_out.data(), &mlen, nullptr, c, clen, ad.data(), ad.size(), nonce,
                reinterpret_cast<const crypto_aead_aes256gcm_state*>(key_.data()))
          : crypto_aead_xchacha20poly1305_ietf_decrypt(plain_out.data(), &mlen, nullptr, c, clen,
                                                       ad.data(), ad.size(), nonce, key_.data());
  if (rc != 0) {
    // Never hand out unauthenticated plaintext, whatever libsodium left in the buffer.
    sodium_memzero(plain_out.data(), plain_out.size());
    return make_error(ErrorCode::kCorruption, "authentication failed");
  }
  return {};
}

// ---- Tokenizer ------------------------------------------------------------------------------

Tokenizer::Tokenizer(const DataKey& key) : subkeys_(kMaxFields * kDataKeySize) {
  if (key.size() != kDataKeySize) throw std::invalid_argument("Tokenizer: bad key size");
  // All subkeys up front: token() then needs no derivation and no allocation.
  for (std::uint32_t id = 0; id < kMaxFields; ++id) {
    crypto_kdf_derive_from_key(subkeys_.data() + id * kDataKeySize, kDataKeySize, id, kTokenContext,
                               key.data());
  }
  scrub_stack();  // BLAKE2b's final buffer held the last subkey
}

Tokenizer::Token Tokenizer::token(std::uint32_t field_id,
                                  std::span<const std::uint8_t> value) const {
  if (field_id >= kMaxFields) throw std::out_of_range("Tokenizer: field id out of range");
  Token out;
  crypto_generichash(out.data(), out.size(), value.data(), value.size(),
                     subkeys_.data() + field_id * kDataKeySize, kDataKeySize);
  return out;
}

}  // namespace custdb::crypto
