// A status returned by every fallible call of the core: an error code and a message, and no
// knowledge of any caller's language. The binding maps codes to TapioError codes.
#ifndef TAPIO_CORE_STATUS_H_
#define TAPIO_CORE_STATUS_H_

#include <string>
#include <utility>

namespace tapio {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,
  kIoError,
  kCorrupt,
  kTooLarge,
  kClosed,
  kFormatVersion,
  kInternal,
};

class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) { return Status(StatusCode::kInvalidArgument, std::move(msg)); }
  static Status IoError(std::string msg) { return Status(StatusCode::kIoError, std::move(msg)); }
  static Status Corrupt(std::string msg) { return Status(StatusCode::kCorrupt, std::move(msg)); }
  static Status TooLarge(std::string msg) { return Status(StatusCode::kTooLarge, std::move(msg)); }
  static Status Closed(std::string msg) { return Status(StatusCode::kClosed, std::move(msg)); }
  static Status FormatVersion(std::string msg) { return Status(StatusCode::kFormatVersion, std::move(msg)); }
  static Status Internal(std::string msg) { return Status(StatusCode::kInternal, std::move(msg)); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Status(StatusCode code, std::string msg) : code_(code), message_(std::move(msg)) {}
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

}  // namespace tapio

#endif  // TAPIO_CORE_STATUS_H_
