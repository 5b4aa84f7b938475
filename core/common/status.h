// Status and Result<T>: how every error a user, a file or the machine can cause travels.
// Nothing in core throws across an API boundary or aborts on bad input.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace emoe {

enum class StatusCode {
  Ok = 0,
  InvalidArgument,  // a caller or user passed something unusable
  NotFound,         // a file, key or tensor that should exist does not
  IoError,          // open/read/write/mmap failed
  Corrupt,          // a file violates its format (bad magic, sizes, offsets, ...)
  Unsupported,      // valid but not implemented (architecture, tensor type, ...)
  OutOfMemory,      // a budget or allocation limit was hit
  Cancelled,        // the user asked to stop
  DeviceError,      // the GPU or its driver failed a call (the message names the call)
  Internal,         // an invariant broke; still reported, never aborts
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }

  bool is_ok() const { return code_ == StatusCode::Ok; }
  explicit operator bool() const { return is_ok(); }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Prefixes context ("while loading X: ...") so messages say what and where.
  Status with_context(const std::string& context) const {
    if (is_ok()) return *this;
    return Status(code_, context + ": " + message_);
  }

 private:
  StatusCode code_ = StatusCode::Ok;
  std::string message_;
};

inline Status invalid_argument(std::string m) {
  return {StatusCode::InvalidArgument, std::move(m)};
}
inline Status not_found(std::string m) { return {StatusCode::NotFound, std::move(m)}; }
inline Status io_error(std::string m) { return {StatusCode::IoError, std::move(m)}; }
inline Status corrupt(std::string m) { return {StatusCode::Corrupt, std::move(m)}; }
inline Status unsupported(std::string m) { return {StatusCode::Unsupported, std::move(m)}; }
inline Status out_of_memory(std::string m) { return {StatusCode::OutOfMemory, std::move(m)}; }
inline Status cancelled(std::string m) { return {StatusCode::Cancelled, std::move(m)}; }
inline Status device_error(std::string m) { return {StatusCode::DeviceError, std::move(m)}; }
inline Status internal_error(std::string m) { return {StatusCode::Internal, std::move(m)}; }

// A value or the Status that explains why there is none (std::expected is C++23).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit on purpose
  Result(Status status) : v_(std::move(status)) { assert(!std::get<Status>(v_).is_ok()); }

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }

  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &std::get<T>(v_); }
  const T* operator->() const { return &std::get<T>(v_); }
  T& operator*() & { return std::get<T>(v_); }
  const T& operator*() const& { return std::get<T>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace emoe

// Early-return helpers for Status-returning code.
#define EMOE_RETURN_IF_ERROR(expr)                  \
  do {                                              \
    ::emoe::Status emoe_status_ = (expr);           \
    if (!emoe_status_.is_ok()) return emoe_status_; \
  } while (0)
