// Status and Result<T>: errors as values across module boundaries.
//
// Contract: the data plane never throws; a fallible call returns Status (no value) or
// Result<T> (a value or a Status). Both are [[nodiscard]]. An OK Status carries no
// allocation; an error carries a code from the small set below and a message that names
// the field, key or limit involved. Codes map one to one onto HTTP statuses
// (server::HttpStatusFor) and gRPC codes. Safe to copy and move between threads.
#pragma once

#include <cassert>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace pharos {

enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,
  kInvalidArgument = 3,     // bad input: 400
  kDeadlineExceeded = 4,    // timeout: 503 (Prometheus's errorType "timeout")
  kNotFound = 5,            // 404
  kAlreadyExists = 6,       // 409
  kPermissionDenied = 7,    // 403
  kResourceExhausted = 8,   // a limit or backpressure: 429 / 413 (see server)
  kFailedPrecondition = 9,  // 422
  kUnimplemented = 12,      // 501
  kInternal = 13,           // 500
  kUnavailable = 14,        // 503
  kDataLoss = 15,           // corrupt storage: 500
  kUnauthenticated = 16,    // 401
};

/// Name of a code, e.g. "InvalidArgument".
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message);

  static Status Ok() { return Status(); }

  bool ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  const std::string& message() const;
  /// "InvalidArgument: message", or "OK".
  std::string ToString() const;

  /// Prefixes the message with context ("server.listen: ..."), keeping the code.
  Status WithContext(std::string_view context) const;

 private:
  struct Rep {
    StatusCode code;
    std::string message;
  };
  std::shared_ptr<const Rep> rep_;
};

Status InvalidArgument(std::string message);
Status NotFound(std::string message);
Status ResourceExhausted(std::string message);
Status FailedPrecondition(std::string message);
Status Unavailable(std::string message);
Status Internal(std::string message);
Status DataLoss(std::string message);
Status Unimplemented(std::string message);
Status PermissionDenied(std::string message);
Status Unauthenticated(std::string message);
Status DeadlineExceeded(std::string message);

/// A T or an error Status. Constructing from an OK Status is a programming error.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok());
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace pharos

/// Returns early from the enclosing function when `expr` (a Status) is not OK.
#define PHAROS_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::pharos::Status pharos_status_ = (expr);        \
    if (!pharos_status_.ok()) return pharos_status_; \
  } while (0)
