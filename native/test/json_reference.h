// A reference for the NDJSON check of core/json_check.h, written another way, for its unit test
// and its fuzz target: recursive descent that decodes UTF-8 to code points and says whether a text
// is complete, could still become valid, or never can; the fault offset is found by bisecting on
// the prefixes (the first byte that cannot continue a valid text, as the header defines it); lines
// are cut with std::string. Slow and plain on purpose.
#ifndef TAPIO_TEST_JSON_REFERENCE_H_
#define TAPIO_TEST_JSON_REFERENCE_H_

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/json_check.h"

namespace tapio {
namespace json_check {
namespace reference {

enum class Ref { kComplete, kMore, kNever };

class Reference {
 public:
  explicit Reference(const std::string& s) : s_(s) {}

  // Whether s is a whole JSON text, the start of one, or neither.
  Ref Text() {
    Ref r = Value(0);
    if (r != Ref::kComplete) return r;
    Space();
    return i_ < s_.size() ? Ref::kNever : Ref::kComplete;
  }

 private:
  bool End() const { return i_ >= s_.size(); }
  uint8_t At() const { return static_cast<uint8_t>(s_[i_]); }
  void Space() {
    while (!End() && (At() == ' ' || At() == '\t' || At() == '\r' || At() == '\n')) i_++;
  }

  Ref Value(size_t depth) {
    Space();
    if (End()) return Ref::kMore;
    const uint8_t c = At();
    if (c == '{') return Object(depth + 1);
    if (c == '[') return Array(depth + 1);
    if (c == '"') return String();
    if (c == 't') return Word("true");
    if (c == 'f') return Word("false");
    if (c == 'n') return Word("null");
    if (c == '-' || (c >= '0' && c <= '9')) return Number();
    return Ref::kNever;
  }

  Ref Object(size_t depth) {
    if (depth > kMaxDepth) return Ref::kNever;
    i_++;
    Space();
    if (End()) return Ref::kMore;
    if (At() == '}') return i_++, Ref::kComplete;
    for (;;) {
      Space();
      if (End()) return Ref::kMore;
      if (At() != '"') return Ref::kNever;
      Ref r = String();
      if (r != Ref::kComplete) return r;
      Space();
      if (End()) return Ref::kMore;
      if (At() != ':') return Ref::kNever;
      i_++;
      r = Value(depth);
      if (r != Ref::kComplete) return r;
      Space();
      if (End()) return Ref::kMore;
      if (At() == '}') return i_++, Ref::kComplete;
      if (At() != ',') return Ref::kNever;
      i_++;
    }
  }

  Ref Array(size_t depth) {
    if (depth > kMaxDepth) return Ref::kNever;
    i_++;
    Space();
    if (End()) return Ref::kMore;
    if (At() == ']') return i_++, Ref::kComplete;
    for (;;) {
      Ref r = Value(depth);
      if (r != Ref::kComplete) return r;
      Space();
      if (End()) return Ref::kMore;
      if (At() == ']') return i_++, Ref::kComplete;
      if (At() != ',') return Ref::kNever;
      i_++;
    }
  }

  Ref Word(const char* w) {
    for (const char* k = w; *k != '\0'; k++, i_++) {
      if (End()) return Ref::kMore;
      if (At() != static_cast<uint8_t>(*k)) return Ref::kNever;
    }
    return Ref::kComplete;
  }

  static bool Digit(uint8_t c) { return c >= '0' && c <= '9'; }

  Ref Digits() {
    if (End()) return Ref::kMore;
    if (!Digit(At())) return Ref::kNever;
    while (!End() && Digit(At())) i_++;
    return Ref::kComplete;
  }

  Ref Number() {
    if (At() == '-') i_++;
    if (End()) return Ref::kMore;
    if (At() == '0') {
      i_++;
    } else {
      Ref r = Digits();
      if (r != Ref::kComplete) return r;
    }
    if (!End() && At() == '.') {
      i_++;
      Ref r = Digits();
      if (r != Ref::kComplete) return r;
    }
    if (!End() && (At() == 'e' || At() == 'E')) {
      i_++;
      if (!End() && (At() == '+' || At() == '-')) i_++;
      Ref r = Digits();
      if (r != Ref::kComplete) return r;
    }
    return Ref::kComplete;
  }

  Ref String() {
    i_++;
    for (;;) {
      if (End()) return Ref::kMore;
      const uint8_t c = At();
      if (c == '"') return i_++, Ref::kComplete;
      if (c < 0x20) return Ref::kNever;
      if (c == '\\') {
        i_++;
        if (End()) return Ref::kMore;
        const uint8_t e = At();
        i_++;
        if (e == 'u') {
          for (int k = 0; k < 4; k++, i_++) {
            if (End()) return Ref::kMore;
            if (!std::isxdigit(At())) return Ref::kNever;
          }
        } else if (std::string("\"\\/bfnrt").find(static_cast<char>(e)) == std::string::npos) {
          return Ref::kNever;
        }
        continue;
      }
      if (c < 0x80) {
        i_++;
        continue;
      }
      Ref r = CodePoint();
      if (r != Ref::kComplete) return r;
    }
  }

  // A UTF-8 sequence, decoded: a code point of the sequence's length and range, not a surrogate.
  // Cut short, it could still become one when some completion of its bits is one.
  Ref CodePoint() {
    const uint8_t lead = At();
    size_t length;
    uint32_t cp;
    if ((lead & 0xE0) == 0xC0) {
      length = 2, cp = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3, cp = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4, cp = lead & 0x07;
    } else {
      return Ref::kNever;
    }
    const uint32_t least = length == 2 ? 0x80 : length == 3 ? 0x800 : 0x10000;
    const uint32_t most = length == 2 ? 0x7FF : length == 3 ? 0xFFFF : 0x10FFFF;
    i_++;
    for (size_t k = 1; k <= length; k++) {
      const size_t left = length - k;  // continuation bytes after the ones read
      const uint32_t lo = cp << (6 * left);
      const uint32_t hi = lo | ((1u << (6 * left)) - 1);
      // Some completion is in [least, most] and outside D800..DFFF.
      const uint32_t a = lo > least ? lo : least;
      const uint32_t b = hi < most ? hi : most;
      if (a > b || (a >= 0xD800 && b <= 0xDFFF)) return Ref::kNever;
      if (k == length) return Ref::kComplete;
      if (End()) return Ref::kMore;
      if ((At() & 0xC0) != 0x80) return Ref::kNever;
      cp = (cp << 6) | (At() & 0x3F);
      i_++;
    }
    return Ref::kComplete;
  }

  const std::string& s_;
  size_t i_ = 0;
};

inline Ref RefText(const std::string& s) { return Reference(s).Text(); }

// What CheckJsonText must give for `s`: its fault is kUnexpectedEnd or, for every other fault,
// kUnexpectedByte (the reference does not tell faults apart).
inline TextResult ExpectedText(const std::string& s) {
  TextResult want;
  const Ref whole = RefText(s);
  if (whole == Ref::kComplete) {
    size_t k = 0;
    while (k < s.size() && (s[k] == ' ' || s[k] == '\t' || s[k] == '\r' || s[k] == '\n')) k++;
    want.is_object = s[k] == '{';
    return want;
  }
  if (whole == Ref::kMore) {
    want.fault = Fault::kUnexpectedEnd;
    want.offset = s.size();
    return want;
  }
  // The shortest prefix that can never become valid ends at the fault: viability only shrinks as
  // a prefix grows, so bisect.
  size_t lo = 0;         // the prefix of this length is viable (the empty one is)
  size_t hi = s.size();  // this one is not
  while (hi - lo > 1) {
    const size_t mid = lo + (hi - lo) / 2;
    if (RefText(s.substr(0, mid)) == Ref::kNever) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  want.fault = Fault::kUnexpectedByte;  // some fault; the reference does not name it
  want.offset = hi - 1;
  return want;
}

// CheckNdjson's result for `body`, by the reference (faults as ExpectedText gives them), with the
// (start, end) of every non-blank line before the failing one in *ranges.
inline NdjsonResult ExpectedBody(const std::string& body, size_t max_line, size_t max_lines,
                                 std::vector<std::pair<uint32_t, uint32_t>>* ranges) {
  NdjsonResult json;
  size_t count = 0;
  size_t number = 0;
  size_t at = 0;
  while (at < body.size()) {
    size_t nl = body.find('\n', at);
    if (nl == std::string::npos) nl = body.size();
    std::string line = body.substr(at, nl - at);
    number++;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t first = line.find_first_not_of(" \t");
    const size_t last = line.find_last_not_of(" \t");
    const size_t line_start = at;
    at = nl + 1;
    if (first == std::string::npos) continue;
    const std::string trimmed = line.substr(first, last + 1 - first);
    NdjsonResult limit;
    if (trimmed.size() > max_line)
      limit.outcome = Outcome::kLineTooLong;
    else if (count == max_lines)
      limit.outcome = Outcome::kTooManyLines;
    if (limit.outcome != Outcome::kOk) {
      limit.count = count, limit.line = number, limit.length = trimmed.size(), limit.line_start = line_start;
      return limit;
    }
    ranges->emplace_back(static_cast<uint32_t>(line_start + first), static_cast<uint32_t>(line_start + last + 1));
    if (json.outcome == Outcome::kOk) {
      const TextResult t = ExpectedText(trimmed);
      if (t.fault != Fault::kNone || !t.is_object) {
        json.outcome = t.fault != Fault::kNone ? Outcome::kNotJson : Outcome::kNotObject;
        json.count = count, json.line = number, json.length = trimmed.size(), json.line_start = line_start;
        size_t off = t.offset;
        if (t.fault == Fault::kNone) off = trimmed.find_first_not_of(" \t\r\n");
        json.offset = first + off;
        json.fault = t.fault;
      }
    }
    count++;
  }
  if (json.outcome != Outcome::kOk) return json;
  json.count = count;
  return json;
}

}  // namespace reference
}  // namespace json_check
}  // namespace tapio

#endif  // TAPIO_TEST_JSON_REFERENCE_H_
