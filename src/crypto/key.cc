// KeyMaterial: the user's secret, kept in sodium_malloc memory (crypto/crypto.h).
#include "custdb/key.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "crypto/crypto.h"

namespace custdb {
namespace {

using crypto::SecretBuffer;

// Far beyond any passphrase or key file; refuses to pull a large file into locked memory.
constexpr std::size_t kMaxKeyFileSize = 64 * 1024;

std::unique_ptr<const KeyMaterial::Secret> copy_secret(std::span<const std::uint8_t> bytes) {
  SecretBuffer secret(bytes.size());
  if (!bytes.empty()) std::memcpy(secret.data(), bytes.data(), bytes.size());
  return std::make_unique<const KeyMaterial::Secret>(std::move(secret));
}

// The whole file, read straight into secret memory so no copy lingers in ordinary heap or
// stdio buffers.
Result<SecretBuffer> read_secret_file(const std::filesystem::path& path) {
  const auto io_error = [&](const char* what, int err) {
    return make_error(ErrorCode::kIOError,
                      "key file " + path.string() + ": " + what + ": " + std::strerror(err));
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open", errno);
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};

  // No fstat-sized read: pipes and process substitution (<(pass show db)) must work too. One
  // byte past the limit tells a too-large file.
  SecretBuffer buf(kMaxKeyFileSize + 1);
  std::size_t len = 0;
  while (len < buf.size()) {
    const ssize_t n = ::read(fd, buf.data() + len, buf.size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("cannot read", errno);
    if (n == 0) break;
    len += static_cast<std::size_t>(n);
  }
  if (len > kMaxKeyFileSize) {
    return make_error(ErrorCode::kInvalidArgument, "key file " + path.string() +
                                                       " is larger than " +
                                                       std::to_string(kMaxKeyFileSize) + " bytes");
  }
  SecretBuffer exact(len);
  if (len > 0) std::memcpy(exact.data(), buf.data(), len);
  return exact;
}

std::size_t without_one_newline(std::span<const std::uint8_t> bytes) {
  std::size_t n = bytes.size();
  if (n > 0 && bytes[n - 1] == '\n') {
    --n;
    if (n > 0 && bytes[n - 1] == '\r') --n;
  }
  return n;
}

}  // namespace

KeyMaterial::KeyMaterial(std::unique_ptr<const Secret> secret, bool passphrase) noexcept
    : secret_(std::move(secret)), passphrase_(passphrase) {}

KeyMaterial::~KeyMaterial() = default;

std::shared_ptr<const KeyMaterial> KeyMaterial::from_passphrase(std::string_view passphrase) {
  const std::span bytes(reinterpret_cast<const std::uint8_t*>(passphrase.data()),
                        passphrase.size());
  return std::shared_ptr<const KeyMaterial>(new KeyMaterial(copy_secret(bytes), true));
}

Result<std::shared_ptr<const KeyMaterial>> KeyMaterial::from_raw_key(
    std::span<const std::uint8_t> key) {
  if (key.size() != crypto::kDataKeySize) {
    return make_error(ErrorCode::kInvalidArgument,
                      "raw key must be 32 bytes, got " + std::to_string(key.size()));
  }
  return std::shared_ptr<const KeyMaterial>(new KeyMaterial(copy_secret(key), false));
}

Result<std::shared_ptr<const KeyMaterial>> KeyMaterial::from_file(const std::filesystem::path& path,
                                                                  bool raw_key) {
  auto contents = read_secret_file(path);
  if (!contents) return tl::unexpected(std::move(contents).error());
  const std::span<const std::uint8_t> bytes = contents->span();

  if (!raw_key) {
    const std::size_t n = without_one_newline(bytes);
    if (n == 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        "passphrase file " + path.string() + " is empty");
    }
    return from_passphrase({reinterpret_cast<const char*>(bytes.data()), n});
  }

  if (bytes.size() == crypto::kDataKeySize) return from_raw_key(bytes);
  const std::size_t n = without_one_newline(bytes);
  if (n == 2 * crypto::kDataKeySize) {
    SecretBuffer key(crypto::kDataKeySize);
    std::size_t key_len = 0;
    const char* end = nullptr;
    // sodium_hex2bin runs in constant time, so decoding leaks nothing about the key.
    if (sodium_hex2bin(key.data(), key.size(), reinterpret_cast<const char*>(bytes.data()), n,
                       nullptr, &key_len, &end) == 0 &&
        key_len == key.size() && end == reinterpret_cast<const char*>(bytes.data()) + n) {
      return from_raw_key(key.span());
    }
  }
  return make_error(ErrorCode::kInvalidArgument,
                    "key file " + path.string() + " must hold 32 bytes or 64 hex digits");
}

}  // namespace custdb
