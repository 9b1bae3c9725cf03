// A status returned by every fallible call of the core: a reason (reason.h) and the facts it
// refers to (details), and no knowledge of any caller's language. The core writes no message:
// the binding hands the reason's name and the details to JavaScript, where one module
// (src/transit/reasons.ts) writes the message for this path and for the TypeScript twin alike.
//
//   return Status(Reason::kRecordChecksum).With("stored", stored).With("computed", actual);
#ifndef TAPIO_CORE_STATUS_H_
#define TAPIO_CORE_STATUS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/reason.h"

namespace tapio {

// One fact about a failure, e.g. {"offset", 4096} or {"segment", "0000000000000001.wal"}.
struct StatusDetail {
  enum class Kind { kText, kNumber, kFlag };
  std::string key;
  Kind kind = Kind::kText;
  std::string text;     // kText
  uint64_t number = 0;  // kNumber; kFlag: 0 or 1
};

class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  // A failure (or a noted problem) for `reason`, which must not be kNone.
  explicit Status(Reason reason) : reason_(reason) {}

  bool ok() const { return reason_ == Reason::kNone; }
  Reason reason() const { return reason_; }
  const char* reason_name() const { return ReasonName(reason_); }
  StatusCode code() const { return ReasonCode(reason_); }
  const std::vector<StatusDetail>& details() const { return details_; }

  // Attach a fact: Status(Reason::kIo).With("operation", "write").With("offset", 16).
  Status& With(std::string key, std::string text) {
    details_.push_back(StatusDetail{std::move(key), StatusDetail::Kind::kText, std::move(text), 0});
    return *this;
  }
  Status& With(std::string key, const char* text) { return With(std::move(key), std::string(text)); }
  Status& With(std::string key, uint64_t number) {
    details_.push_back(StatusDetail{std::move(key), StatusDetail::Kind::kNumber, std::string(), number});
    return *this;
  }
  Status& WithFlag(std::string key) {
    details_.push_back(StatusDetail{std::move(key), StatusDetail::Kind::kFlag, std::string(), 1});
    return *this;
  }
  // Copies every fact of `other` (its reason is not kept).
  Status& WithDetailsOf(const Status& other) {
    details_.insert(details_.end(), other.details_.begin(), other.details_.end());
    return *this;
  }

  // The fact named `key`, or null.
  const StatusDetail* Find(const std::string& key) const {
    for (const StatusDetail& d : details_) {
      if (d.key == key) return &d;
    }
    return nullptr;
  }
  // The text of fact `key` ("" when there is none or it is a number).
  std::string Text(const std::string& key) const {
    const StatusDetail* d = Find(key);
    return d != nullptr && d->kind == StatusDetail::Kind::kText ? d->text : std::string();
  }
  // The number of fact `key` (0 when there is none or it is text).
  uint64_t Number(const std::string& key) const {
    const StatusDetail* d = Find(key);
    return d != nullptr && d->kind != StatusDetail::Kind::kText ? d->number : 0;
  }

  // This status as the cause of a failure for `outer`: the outer reason, with this one's facts
  // and its name as "cause". A cause has no cause of its own: a nested one is dropped.
  Status Within(Reason outer) const {
    Status s(outer);
    for (const StatusDetail& d : details_) {
      if (d.key != "cause") s.details_.push_back(d);
    }
    s.With("cause", reason_name());
    return s;
  }

  // "record-checksum {stored: 1, computed: 2}": for logs and test output, never shown to users.
  std::string ToString() const {
    if (ok()) return "ok";
    std::string out = reason_name();
    if (details_.empty()) return out;
    out += " {";
    for (size_t i = 0; i < details_.size(); i++) {
      const StatusDetail& d = details_[i];
      out += (i == 0 ? "" : ", ") + d.key + ": ";
      out += d.kind == StatusDetail::Kind::kText   ? d.text
             : d.kind == StatusDetail::Kind::kFlag ? std::string(d.number != 0 ? "true" : "false")
                                                   : std::to_string(d.number);
    }
    return out + "}";
  }

 private:
  Reason reason_ = Reason::kNone;
  std::vector<StatusDetail> details_;
};

}  // namespace tapio

#endif  // TAPIO_CORE_STATUS_H_
