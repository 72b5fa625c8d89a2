// custdb/status.h — the one error type of the public API.
//
// Every fallible call returns `Result<T>` (tl::expected<T, Error>), marked [[nodiscard]] so a
// result cannot be dropped silently. Absence is a value, never an error: lookups return
// `Result<std::optional<T>>` and only fail for real failures (I/O, corruption, bad input).
//
// Thread-safety: Error and Result are plain values.
#pragma once

#include "custdb/export.h"

#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace custdb {

// A small, stable set of codes. Callers branch on the code; the message is for humans.
enum class ErrorCode : int {
  kInvalidArgument = 1,  // bad input: a field failed validation; message names field and reason
  kAlreadyExists = 2,    // a unique constraint (id, external_ref, relationship) would be violated
  kFailedPrecondition = 3,  // the write needs something absent or forbids something present
                            // (unknown customer, delete with dependents and no cascade)
  kCorruption = 4,       // stored bytes failed checksum, authentication or verification
  kAuthentication = 5,   // wrong passphrase or key; never reported as corruption
  kIOError = 6,          // the OS or LMDB failed (disk full, permissions, missing file)
  kBusy = 7,             // a resource is held by someone else (write lock past busy_timeout,
                         // reader table full of live readers): retrying later may succeed
  kReadOnly = 8,         // a write on a database opened read-only
  kUnsupported = 9,      // the file needs a feature this build or CPU lacks
  kInternal = 10,        // a bug in custdb; please report it
  kResourceExhausted = 11,  // a configured limit was reached (the map size, Options::max_map_size):
                            // the transaction is aborted, nothing of it stored; free space or
                            // raise the limit
  kPermissionDenied = 12,   // the key the database was opened with may not do this (an
                            // analyst key asking for personal data, custdb/privacy.h)
};

CUSTDB_EXPORT std::string_view to_string(ErrorCode code) noexcept;

class CUSTDB_EXPORT Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  // "<code>: <message>", for logs and the CLI.
  std::string to_string() const;

  // Prefixes context ("customer 42: ") to the message, keeping the code.
  Error with_context(std::string_view context) const;

 private:
  ErrorCode code_;
  std::string message_;
};

// tl::expected with [[nodiscard]]: ignoring a Result is a compiler warning.
//
// Unlike tl::expected, `value()` and `operator*` on an rvalue Result return the value itself
// (moved out), not an rvalue reference into the Result. The loop everyone writes,
//   for (CustomerId id : txn.ids(q).value()) ...
// binds the range to the returned value, whose lifetime the loop extends; with a reference into
// the temporary Result it would iterate a destroyed vector. The cost is one move. On an lvalue
// Result both return references as usual. `value()` on an error throws
// tl::bad_expected_access<Error>.
template <class T>
class [[nodiscard]] Result : public tl::expected<T, Error> {
 public:
  using Base = tl::expected<T, Error>;
  using Base::Base;
  Result() = default;
  Result(const Base& b) : Base(b) {}
  Result(Base&& b) : Base(std::move(b)) {}

  T& value() & { return Base::value(); }
  const T& value() const& { return Base::value(); }
  T value() && { return std::move(Base::value()); }
  T value() const&& { return Base::value(); }

  T& operator*() & { return Base::operator*(); }
  const T& operator*() const& { return Base::operator*(); }
  T operator*() && { return std::move(Base::operator*()); }
  T operator*() const&& { return Base::operator*(); }
};

// Nothing to move out of: the tl::expected<void, Error> interface as is.
template <>
class [[nodiscard]] Result<void> : public tl::expected<void, Error> {
 public:
  using Base = tl::expected<void, Error>;
  using Base::Base;
  Result() = default;
  Result(const Base& b) : Base(b) {}
  Result(Base&& b) : Base(std::move(b)) {}
};

// For operations with no value. `Status ok = {};` is success.
using Status = Result<void>;

inline tl::unexpected<Error> make_error(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error(code, std::move(message)));
}

}  // namespace custdb
