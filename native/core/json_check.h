// The NDJSON check of the HTTP ingest path (POST /v1/events): in one pass over a request body it
// finds the non-blank lines and proves each one is a single JSON value (RFC 8259) that is an
// object, without building anything. The TypeScript twin is src/server/ndjson.ts; both give the
// same outcome, fault, offsets and line ranges for every input, and test/server/ndjson.test.ts
// holds them to it. The names below are the twin's too (a test parses this header).
//
// Lines, exactly as splitLines in src/server/http.ts cuts them: a line ends at '\n' (or at the end
// of the body); one '\r' before the '\n' is dropped, then spaces and tabs at both ends. A line with
// nothing left is blank: it is skipped, but still counted in the 1-based line numbers.
//
// A line is accepted when it is what JSON.parse accepts after strict UTF-8 decoding
// (new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })) and the value is an object:
//   - UTF-8 is well-formed everywhere (Unicode table 3-7: no overlong forms, no encoded
//     surrogates, nothing above U+10FFFF); outside strings only ASCII can appear anyway.
//   - Strings hold no raw byte below 0x20; escapes are \" \\ \/ \b \f \n \r \t and \u with four hex
//     digits. A \u escape of a lone surrogate is accepted, as JSON.parse accepts it.
//   - Numbers follow the RFC grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
//   - Whitespace inside the line is JSON's (space, tab, CR, LF). A byte-order mark is not
//     whitespace, so a line that starts with one is refused (JSON.parse refuses U+FEFF too).
//   - Duplicate keys are accepted (JSON.parse keeps the last one).
//   - One departure from JSON.parse: arrays and objects nest at most kMaxDepth levels deep. A
//     deeper value is refused with kTooDeep; no event needs that much, and the bound keeps the
//     check's memory fixed.
//
// Where a line fails, `offset` is the first byte (from the start of the line as sent, before any
// trimming, 0-based) that cannot continue a valid JSON text: everything before it is the start of
// some valid value, and it is not. When the line ends where more was needed, the offset is the
// trimmed line's end and the fault kUnexpectedEnd. (kTooDeep reports the bracket that opens level
// kMaxDepth + 1.) The fault says what was being read when that byte came.
//
// Everything here is pure computation on caller-owned memory, callable from any thread at once.
#ifndef TAPIO_CORE_JSON_CHECK_H_
#define TAPIO_CORE_JSON_CHECK_H_

#include <cstddef>
#include <cstdint>

namespace tapio {
namespace json_check {

// How deep arrays and objects may nest: `{}` is depth 1, `{"a":[]}` depth 2.
constexpr size_t kMaxDepth = 512;

// What became of a body. One line per outcome: X(enumerator, "name"); the number that crosses
// into JavaScript is the position in this list.
#define TAPIO_NDJSON_OUTCOMES(X)                                                                                \
  X(kOk, "ok")                       /* every non-blank line is a JSON object */                                \
  X(kLineTooLong, "line-too-long")   /* a trimmed line holds more than max_line bytes (length: how many) */     \
  X(kTooManyLines, "too-many-lines") /* a non-blank line beyond the first max_lines (line: the first beyond) */ \
  X(kNotJson, "not-json")            /* a line is not one JSON value (fault, offset) */                         \
  X(kNotObject, "not-object")        /* a line is valid JSON but not an object (offset: where the value starts) */

// Why a line is not JSON. One line per fault, as above.
#define TAPIO_JSON_FAULTS(X)                                                                                         \
  X(kNone, "none")                      /* no fault */                                                               \
  X(kUnexpectedEnd, "unexpected-end")   /* the line ends inside the value, or holds only whitespace */               \
  X(kUnexpectedByte, "unexpected-byte") /* a byte that can start or continue nothing here */                         \
  X(kBadUtf8, "bad-utf8")               /* a byte that breaks a UTF-8 sequence inside a string */                    \
  X(kControlChar, "control-char")       /* a raw byte below 0x20 inside a string */                                  \
  X(kBadEscape, "bad-escape")           /* after a backslash: not an escape letter, or not a hex digit of \uXXXX */  \
  X(kBadNumber, "bad-number")           /* a number without a digit where one is needed, or 0 followed by a digit */ \
  X(kBadLiteral, "bad-literal")         /* a t, f or n that does not go on as true, false or null */                 \
  X(kTooDeep, "too-deep")               /* the bracket that opens level kMaxDepth + 1 */                             \
  X(kTrailingData, "trailing-data")     /* something after the complete value other than whitespace */

#define TAPIO_JSON_CHECK_ENUMERATOR_(name, text) name,
enum class Outcome : uint8_t { TAPIO_NDJSON_OUTCOMES(TAPIO_JSON_CHECK_ENUMERATOR_) };
enum class Fault : uint8_t { TAPIO_JSON_FAULTS(TAPIO_JSON_CHECK_ENUMERATOR_) };
#undef TAPIO_JSON_CHECK_ENUMERATOR_

// The stable names ("line-too-long", "bad-utf8"), as the twin spells them.
const char* OutcomeName(Outcome outcome);
const char* FaultName(Fault fault);

// What CheckNdjson found. On kOk, `count` lines were found and the other fields are 0. On a
// failure, `line` is the failing line's number (1-based, blank lines counted), `line_start` where
// that line starts in the body (its first byte as sent), `length` its trimmed length in bytes,
// `count` the number of non-blank lines before it, `offset` and `fault` as stated beside the
// outcome (0 and kNone otherwise).
struct NdjsonResult {
  Outcome outcome = Outcome::kOk;
  Fault fault = Fault::kNone;
  size_t count = 0;
  size_t line = 0;
  size_t offset = 0;
  size_t length = 0;
  size_t line_start = 0;
};

// The most lines CheckNdjson writes for a body of `len` bytes: min(max_lines, (len + 1) / 2),
// since a non-blank line takes a byte and all but the last a '\n' too.
inline size_t NdjsonLineBound(size_t len, size_t max_lines) {
  const size_t most = len / 2 + (len % 2);
  return most < max_lines ? most : max_lines;
}

// Checks the body data[0, len). len must be below 2^32 (the ranges are 32-bit offsets). `ranges`
// must have room for 2 * NdjsonLineBound(len, max_lines) entries: it receives (start, end) of each
// non-blank line, trimmed, in order, as offsets into data; the lines before a failing one are
// always there (entries [0, 2 * count)).
//
// Precedence, as when the lines are cut first and parsed after (what ingest did before this
// check): a line over max_line or beyond max_lines anywhere in the body is reported before a line
// that is not JSON or not an object, and of those the first in the body is reported. Once a line
// has failed the JSON check, later lines are only cut and measured.
NdjsonResult CheckNdjson(const uint8_t* data, size_t len, size_t max_line, size_t max_lines, uint32_t* ranges);

// What CheckJsonText found in one text.
struct TextResult {
  Fault fault = Fault::kNone;
  size_t offset = 0;       // of the fault, from the start of the text; 0 when there is none
  bool is_object = false;  // the text is valid and its value is an object
};

// Checks that data[0, len) is one JSON value with optional whitespace around it (the check each
// line gets; offsets here are from `data`). An empty text, or one of whitespace only, is
// kUnexpectedEnd at len.
TextResult CheckJsonText(const uint8_t* data, size_t len);

}  // namespace json_check
}  // namespace tapio

#endif  // TAPIO_CORE_JSON_CHECK_H_
