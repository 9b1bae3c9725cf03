// A status returned by every fallible call of the core: an error code, a message, optional
// structured facts about the failure (details), and no knowledge of any caller's language. The
// binding maps codes to TapioError codes and details to the error's `details` object.
#ifndef TAPIO_CORE_STATUS_H_
#define TAPIO_CORE_STATUS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tapio {

// One fact about a failure, e.g. {"offset", 4096} or {"segment", "0000000000000001.wal"}.
struct StatusDetail {
  std::string key;
  std::string text;      // when !is_number
  uint64_t number = 0;   // when is_number
  bool is_number = false;
};

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
  const std::vector<StatusDetail>& details() const { return details_; }

  // Attach a detail: Status::Corrupt(msg).With("offset", 16).With("segment", name).
  Status& With(std::string key, std::string text) {
    details_.push_back(StatusDetail{std::move(key), std::move(text), 0, false});
    return *this;
  }
  Status& With(std::string key, uint64_t number) {
    details_.push_back(StatusDetail{std::move(key), std::string(), number, true});
    return *this;
  }

 private:
  Status(StatusCode code, std::string msg) : code_(code), message_(std::move(msg)) {}
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::vector<StatusDetail> details_;
};

}  // namespace tapio

#endif  // TAPIO_CORE_STATUS_H_
