// The NDJSON check of json_check.h: memchr finds each line's end, and one forward pass per line
// checks its JSON, byte by byte through small tables, except inside strings, which are most of an
// event's bytes: there eight bytes at a time are tested at once for a quote, a backslash, a control
// byte or a non-ASCII byte (SWAR, plain 64-bit arithmetic, so no instruction set to dispatch), and
// only a word that holds one goes byte by byte. Nesting is a stack of kMaxDepth flags on the C++
// stack, so a line is checked without allocating.
#include "core/json_check.h"

#include <array>
#include <cstring>

namespace tapio {
namespace json_check {
namespace {

// What a byte is inside a string.
enum StringClass : uint8_t {
  kPlain = 0,  // printable ASCII other than '"' and '\\'
  kQuote,      // the end of the string
  kBackslash,  // an escape
  kControl,    // below 0x20: never raw in a string
  kLead2,      // C2..DF: one continuation byte follows
  kLeadE0,     // E0: A0..BF, then one continuation (no overlong forms)
  kLead3,      // E1..EC, EE..EF: two continuation bytes
  kLeadED,     // ED: 80..9F, then one continuation (no encoded surrogates)
  kLeadF0,     // F0: 90..BF, then two continuations (no overlong forms)
  kLead4,      // F1..F3: three continuation bytes
  kLeadF4,     // F4: 80..8F, then two continuations (nothing above U+10FFFF)
  kBadLead,    // 80..C1, F5..FF: never starts a sequence
};

constexpr std::array<uint8_t, 256> MakeStringClasses() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; c++) {
    uint8_t k = kPlain;
    if (c < 0x20) {
      k = kControl;
    } else if (c == '"') {
      k = kQuote;
    } else if (c == '\\') {
      k = kBackslash;
    } else if (c < 0x80) {
      k = kPlain;
    } else if (c < 0xC2) {
      k = kBadLead;
    } else if (c < 0xE0) {
      k = kLead2;
    } else if (c == 0xE0) {
      k = kLeadE0;
    } else if (c == 0xED) {
      k = kLeadED;
    } else if (c < 0xF0) {
      k = kLead3;
    } else if (c == 0xF0) {
      k = kLeadF0;
    } else if (c < 0xF4) {
      k = kLead4;
    } else if (c == 0xF4) {
      k = kLeadF4;
    } else {
      k = kBadLead;
    }
    t[static_cast<size_t>(c)] = k;
  }
  return t;
}

// 1 for JSON's whitespace, 2 for a digit, 3 for a hex letter, 0 otherwise.
enum ByteClass : uint8_t { kOther = 0, kSpace, kDigit, kHexLetter };

constexpr std::array<uint8_t, 256> MakeByteClasses() {
  std::array<uint8_t, 256> t{};
  t[' '] = t['\t'] = t['\r'] = t['\n'] = kSpace;
  for (int c = '0'; c <= '9'; c++) t[static_cast<size_t>(c)] = kDigit;
  for (int c = 'a'; c <= 'f'; c++) t[static_cast<size_t>(c)] = kHexLetter;
  for (int c = 'A'; c <= 'F'; c++) t[static_cast<size_t>(c)] = kHexLetter;
  return t;
}

constexpr std::array<uint8_t, 256> kStringClasses = MakeStringClasses();
constexpr std::array<uint8_t, 256> kByteClasses = MakeByteClasses();

inline bool IsSpace(uint8_t c) { return kByteClasses[c] == kSpace; }
inline bool IsDigit(uint8_t c) { return kByteClasses[c] == kDigit; }
inline bool IsHex(uint8_t c) { return kByteClasses[c] >= kDigit; }

// The bytes among the eight at s that are '"', '\\', below 0x20 or above 0x7F: each test is the
// "has a zero byte" trick, which marks a matching byte's high bit. A borrow can also mark bytes
// above one that really matched, never below, so the mask is zero exactly when none matches and its
// lowest marked byte is always a real match.
inline uint64_t SpecialBytes(const uint8_t* s) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHighs = 0x8080808080808080ull;
  uint64_t x;
  std::memcpy(&x, s, sizeof x);
  const uint64_t quote = x ^ (kOnes * '"');
  const uint64_t backslash = x ^ (kOnes * '\\');
  return (((quote - kOnes) & ~quote) | ((backslash - kOnes) & ~backslash) | ((x - kOnes * 0x20) & ~x) | x) & kHighs;
}

// How many bytes at s come before the first one SpecialBytes marked (`hits` is not zero). On a
// little-endian machine the lowest marked byte is the first in memory; elsewhere the bytes are
// looked at one by one.
inline size_t BeforeFirstSpecial(const uint8_t* s, uint64_t hits) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  (void)s;
  return static_cast<size_t>(__builtin_ctzll(hits)) / 8;
#else
  (void)hits;
  size_t k = 0;
  while (kStringClasses[s[k]] == kPlain) k++;
  return k;
#endif
}

// One JSON text, checked from its first byte. Each Scan* starts at i_ and leaves i_ after what it
// read, or returns a fault with i_ at the byte the fault is reported at.
class TextChecker {
 public:
  TextChecker(const uint8_t* p, size_t n) : p_(p), n_(n) {}

  TextResult Run() {
    TextResult r;
    SkipSpace();
    const bool object = i_ < n_ && p_[i_] == '{';
    r.fault = Value();
    if (r.fault == Fault::kNone) {
      SkipSpace();
      if (i_ < n_) r.fault = Fault::kTrailingData;
    }
    if (r.fault == Fault::kNone) {
      r.is_object = object;
    } else {
      r.offset = i_;
    }
    return r;
  }

 private:
  // A byte was needed here: the end of the text, or `fault` when there is one.
  Fault Needed(Fault fault) const { return i_ >= n_ ? Fault::kUnexpectedEnd : fault; }

  void SkipSpace() {
    while (i_ < n_ && IsSpace(p_[i_])) i_++;
  }

  // One value, with everything nested in it. Iterative: `open_` holds whether each open container
  // is an array (1) or an object (0).
  Fault Value() {
    size_t depth = 0;
    for (;;) {
      // A value starts here.
      SkipSpace();
      if (i_ >= n_) return Fault::kUnexpectedEnd;
      const uint8_t c = p_[i_];
      Fault f = Fault::kNone;
      if (c == '{' || c == '[') {
        if (depth == kMaxDepth) return Fault::kTooDeep;
        const bool array = c == '[';
        open_[depth++] = array ? 1 : 0;
        i_++;
        SkipSpace();
        if (i_ < n_ && p_[i_] == (array ? ']' : '}')) {
          i_++;
          depth--;
        } else if (array) {
          continue;  // the first element
        } else if ((f = Member()) != Fault::kNone) {
          return f;
        } else {
          continue;  // the first member's value
        }
      } else if (c == '"') {
        f = ScanString();
      } else if (c == '-' || IsDigit(c)) {
        f = ScanNumber();
      } else if (c == 't') {
        f = ScanLiteral("true", 4);
      } else if (c == 'f') {
        f = ScanLiteral("false", 5);
      } else if (c == 'n') {
        f = ScanLiteral("null", 4);
      } else {
        return Fault::kUnexpectedByte;
      }
      if (f != Fault::kNone) return f;
      // A value ended: close containers until one goes on with ','.
      for (;;) {
        if (depth == 0) return Fault::kNone;
        SkipSpace();
        if (i_ >= n_) return Fault::kUnexpectedEnd;
        const uint8_t d = p_[i_];
        const bool array = open_[depth - 1] != 0;
        if (d == ',') {
          i_++;
          if (!array && (f = Member()) != Fault::kNone) return f;
          break;  // the next element or member value
        }
        if (d != (array ? ']' : '}')) return Fault::kUnexpectedByte;
        i_++;
        depth--;
      }
    }
  }

  // A member's key and its ':'; the value follows.
  Fault Member() {
    SkipSpace();
    if (i_ >= n_) return Fault::kUnexpectedEnd;
    if (p_[i_] != '"') return Fault::kUnexpectedByte;
    const Fault f = ScanString();
    if (f != Fault::kNone) return f;
    SkipSpace();
    if (i_ >= n_) return Fault::kUnexpectedEnd;
    if (p_[i_] != ':') return Fault::kUnexpectedByte;
    i_++;
    return Fault::kNone;
  }

  // i_ at the opening quote.
  Fault ScanString() {
    i_++;
    for (;;) {
      // Straight to the next byte that is not plain, eight at a time while eight are left.
      while (i_ + 8 <= n_) {
        const uint64_t hits = SpecialBytes(p_ + i_);
        if (hits != 0) {
          i_ += BeforeFirstSpecial(p_ + i_, hits);
          break;
        }
        i_ += 8;
      }
      if (i_ >= n_) return Fault::kUnexpectedEnd;
      const uint8_t c = p_[i_];
      // Most strings end at the first byte found: test for that before anything else.
      if (c == '"') {
        i_++;
        return Fault::kNone;
      }
      const uint8_t k = kStringClasses[c];
      if (k == kPlain) {
        i_++;  // fewer than eight bytes were left
      } else if (k == kBackslash) {
        const Fault f = ScanEscape();
        if (f != Fault::kNone) return f;
      } else if (k == kControl) {
        return Fault::kControlChar;
      } else if (k == kBadLead) {
        return Fault::kBadUtf8;
      } else {
        const Fault f = ScanMultibyte(k);
        if (f != Fault::kNone) return f;
      }
    }
  }

  // i_ at the backslash.
  Fault ScanEscape() {
    i_++;
    if (i_ >= n_) return Fault::kUnexpectedEnd;
    const uint8_t e = p_[i_];
    if (e == 'u') {
      i_++;
      for (int k = 0; k < 4; k++, i_++) {
        if (i_ >= n_ || !IsHex(p_[i_])) return Needed(Fault::kBadEscape);
      }
      return Fault::kNone;
    }
    if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
      i_++;
      return Fault::kNone;
    }
    return Fault::kBadEscape;
  }

  // i_ at the lead byte of a sequence of class `lead`: the range of the byte after it, then
  // continuation bytes (80..BF) up to the sequence's length.
  Fault ScanMultibyte(uint8_t lead) {
    static constexpr uint8_t kFirstLo[] = {0x80, 0xA0, 0x80, 0x80, 0x90, 0x80, 0x80};
    static constexpr uint8_t kFirstHi[] = {0xBF, 0xBF, 0xBF, 0x9F, 0xBF, 0xBF, 0x8F};
    static constexpr uint8_t kMore[] = {1, 2, 2, 2, 3, 3, 3};
    const size_t k = static_cast<size_t>(lead - kLead2);
    uint8_t lo = kFirstLo[k];
    uint8_t hi = kFirstHi[k];
    const size_t more = kMore[k];
    i_++;
    for (size_t m = 0; m < more; m++, i_++) {
      if (i_ >= n_) return Fault::kUnexpectedEnd;
      const uint8_t b = p_[i_];
      if (b < lo || b > hi) return Fault::kBadUtf8;
      lo = 0x80, hi = 0xBF;
    }
    return Fault::kNone;
  }

  // i_ at '-' or a digit.
  Fault ScanNumber() {
    if (p_[i_] == '-') {
      i_++;
      if (i_ >= n_ || !IsDigit(p_[i_])) return Needed(Fault::kBadNumber);
    }
    if (p_[i_] == '0') {
      i_++;
      if (i_ < n_ && IsDigit(p_[i_])) return Fault::kBadNumber;
    } else {
      while (i_ < n_ && IsDigit(p_[i_])) i_++;
    }
    if (i_ < n_ && p_[i_] == '.') {
      i_++;
      if (i_ >= n_ || !IsDigit(p_[i_])) return Needed(Fault::kBadNumber);
      while (i_ < n_ && IsDigit(p_[i_])) i_++;
    }
    if (i_ < n_ && (p_[i_] == 'e' || p_[i_] == 'E')) {
      i_++;
      if (i_ < n_ && (p_[i_] == '+' || p_[i_] == '-')) i_++;
      if (i_ >= n_ || !IsDigit(p_[i_])) return Needed(Fault::kBadNumber);
      while (i_ < n_ && IsDigit(p_[i_])) i_++;
    }
    return Fault::kNone;
  }

  // i_ at the first letter of `word`.
  Fault ScanLiteral(const char* word, size_t length) {
    i_++;
    for (size_t k = 1; k < length; k++, i_++) {
      if (i_ >= n_ || p_[i_] != static_cast<uint8_t>(word[k])) return Needed(Fault::kBadLiteral);
    }
    return Fault::kNone;
  }

  const uint8_t* const p_;
  const size_t n_;
  size_t i_ = 0;
  uint8_t open_[kMaxDepth];
};

inline bool IsBlank(uint8_t c) { return c == ' ' || c == '\t'; }

}  // namespace

const char* OutcomeName(Outcome outcome) {
#define TAPIO_JSON_CHECK_NAME_(name, text) \
  case Outcome::name:                      \
    return text;
  switch (outcome) { TAPIO_NDJSON_OUTCOMES(TAPIO_JSON_CHECK_NAME_) }
#undef TAPIO_JSON_CHECK_NAME_
  return "?";
}

const char* FaultName(Fault fault) {
#define TAPIO_JSON_CHECK_NAME_(name, text) \
  case Fault::name:                        \
    return text;
  switch (fault) { TAPIO_JSON_FAULTS(TAPIO_JSON_CHECK_NAME_) }
#undef TAPIO_JSON_CHECK_NAME_
  return "?";
}

TextResult CheckJsonText(const uint8_t* data, size_t len) { return TextChecker(data, len).Run(); }

NdjsonResult CheckNdjson(const uint8_t* data, size_t len, size_t max_line, size_t max_lines, uint32_t* ranges) {
  NdjsonResult r;
  NdjsonResult json_failure;  // the first line that failed the JSON check; kOk while none has
  size_t count = 0;
  size_t number = 0;
  size_t at = 0;
  while (at < len) {
    const void* found = std::memchr(data + at, '\n', len - at);
    const size_t nl = found == nullptr ? len : static_cast<size_t>(static_cast<const uint8_t*>(found) - data);
    number++;
    size_t end = nl;
    if (end > at && data[end - 1] == '\r') end--;
    const size_t line_start = at;
    size_t start = at;
    while (start < end && IsBlank(data[start])) start++;
    while (end > start && IsBlank(data[end - 1])) end--;
    at = nl + 1;
    if (end == start) continue;
    const size_t length = end - start;
    if (length > max_line || count == max_lines) {
      r.outcome = length > max_line ? Outcome::kLineTooLong : Outcome::kTooManyLines;
      r.count = count;
      r.line = number;
      r.length = length;
      r.line_start = line_start;
      return r;
    }
    ranges[2 * count] = static_cast<uint32_t>(start);
    ranges[2 * count + 1] = static_cast<uint32_t>(end);
    if (json_failure.outcome == Outcome::kOk) {
      const TextResult t = CheckJsonText(data + start, length);
      if (t.fault != Fault::kNone || !t.is_object) {
        json_failure.outcome = t.fault != Fault::kNone ? Outcome::kNotJson : Outcome::kNotObject;
        json_failure.fault = t.fault;
        json_failure.count = count;
        json_failure.line = number;
        json_failure.length = length;
        json_failure.line_start = line_start;
        // Not JSON: where it broke. Not an object: where the value starts (the first byte that is
        // not whitespace).
        size_t offset = t.offset;
        if (t.fault == Fault::kNone) {
          while (IsSpace(data[start + offset])) offset++;
        }
        json_failure.offset = start - line_start + offset;  // from the line's first byte
      }
    }
    count++;
  }
  if (json_failure.outcome != Outcome::kOk) return json_failure;
  r.count = count;
  return r;
}

}  // namespace json_check
}  // namespace tapio
