#pragma once
// Outcomes as types (README, "Error model"): Expected<T> is a value or the message that says
// why there is none; Status is the same without a value. For operations whose callers only
// report a failure; where a caller must tell failures apart, the outcome is an enum-coded
// type of its own (SendOutcome, CommandResult).
#include <optional>
#include <string>
#include <utility>

namespace mi {

template <typename T>
class Expected {
 public:
  Expected(T value) : value_(std::move(value)) {}  // NOLINT: implicit, as std::expected
  static Expected failure(std::string why) {
    Expected out;
    out.error_ = std::move(why);
    return out;
  }

  bool has_value() const { return value_.has_value(); }
  explicit operator bool() const { return has_value(); }
  const T& operator*() const { return *value_; }
  const T* operator->() const { return &*value_; }
  const std::string& error() const { return error_; }

 private:
  Expected() = default;
  std::optional<T> value_;
  std::string error_;
};

class Status {
 public:
  static Status ok() { return Status(); }
  static Status failure(std::string why) {
    Status out;
    out.failed_ = true;
    out.error_ = std::move(why);
    return out;
  }
  bool is_ok() const { return !failed_; }
  const std::string& error() const { return error_; }

 private:
  Status() = default;
  bool failed_ = false;
  std::string error_;
};

}  // namespace mi
