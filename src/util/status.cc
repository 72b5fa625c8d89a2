#include "custdb/status.h"

namespace custdb {

std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kAlreadyExists: return "already exists";
    case ErrorCode::kFailedPrecondition: return "failed precondition";
    case ErrorCode::kCorruption: return "corruption";
    case ErrorCode::kAuthentication: return "authentication failed";
    case ErrorCode::kIOError: return "I/O error";
    case ErrorCode::kBusy: return "busy";
    case ErrorCode::kReadOnly: return "read-only";
    case ErrorCode::kUnsupported: return "unsupported";
    case ErrorCode::kInternal: return "internal error";
    case ErrorCode::kResourceExhausted: return "resource exhausted";
    case ErrorCode::kPermissionDenied: return "permission denied";
  }
  return "unknown error";
}

std::string Error::to_string() const {
  std::string s(custdb::to_string(code_));
  s += ": ";
  s += message_;
  return s;
}

Error Error::with_context(std::string_view context) const {
  std::string m(context);
  m += ": ";
  m += message_;
  return Error(code_, std::move(m));
}

}  // namespace custdb
