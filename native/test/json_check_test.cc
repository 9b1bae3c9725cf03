// The NDJSON check of core/json_check.h: a table of lines (objects and every other kind of value,
// numbers, literals, escapes, UTF-8 edge sequences, whitespace, nesting to the limit and beyond)
// with the fault and offset each must give; bodies (CRLF, blank and whitespace-only lines,
// limits and which failure wins); each special byte of a string at every place in the eight-byte
// steps; and random texts and bodies against the reference of json_reference.h.
#include "core/json_check.h"

#include <cctype>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "test/harness.h"
#include "test/json_reference.h"

namespace tapio {
namespace json_check {
namespace {

using reference::ExpectedBody;
using reference::ExpectedText;

const uint8_t* Bytes(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

std::string Shown(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out += static_cast<char>(c);
    } else {
      const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The reference, and the cases that go through it.

void ExpectSameAsReference(const std::string& s) {
  const TextResult got = CheckJsonText(Bytes(s), s.size());
  const TextResult want = ExpectedText(s);
  EXPECT_EQ(got.fault == Fault::kNone, want.fault == Fault::kNone) << Shown(s) << " got " << FaultName(got.fault);
  EXPECT_EQ(got.offset, want.offset) << Shown(s) << " got " << FaultName(got.fault);
  EXPECT_EQ(got.is_object, want.is_object) << Shown(s);
  EXPECT_EQ(got.fault == Fault::kUnexpectedEnd, want.fault == Fault::kUnexpectedEnd) << Shown(s);
}

// ---------------------------------------------------------------------------------------------
// Tables.

struct TextCase {
  std::string text;
  Fault fault;
  size_t offset;
  bool is_object;
};

void CheckTable(const std::vector<TextCase>& cases) {
  for (const TextCase& c : cases) {
    const TextResult got = CheckJsonText(Bytes(c.text), c.text.size());
    EXPECT_STREQ(FaultName(got.fault), FaultName(c.fault)) << Shown(c.text);
    EXPECT_EQ(got.offset, c.offset) << Shown(c.text);
    EXPECT_EQ(got.is_object, c.is_object) << Shown(c.text);
    ExpectSameAsReference(c.text);
  }
}

constexpr Fault kNone = Fault::kNone;
constexpr Fault kEnd = Fault::kUnexpectedEnd;
constexpr Fault kByte = Fault::kUnexpectedByte;

TEST(JsonCheck, ObjectsAndOtherValues) {
  CheckTable({
      {"{}", kNone, 0, true},
      {"{\"a\":1}", kNone, 0, true},
      {" \t\r\n{ \"a\" : [ 1 , { } , [ ] ] , \"b\" : null }\r\n\t ", kNone, 0, true},
      {"{\"a\":1,\"a\":2}", kNone, 0, true},  // duplicate keys, as JSON.parse takes them
      {"[]", kNone, 0, false},
      {"[1,2]", kNone, 0, false},
      {"\"text\"", kNone, 0, false},
      {"12", kNone, 0, false},
      {"true", kNone, 0, false},
      {"null", kNone, 0, false},
      {"", kEnd, 0, false},
      {" \t\r", kEnd, 3, false},
      {"{", kEnd, 1, false},
      {"{\"a\"", kEnd, 4, false},
      {"{\"a\":", kEnd, 5, false},
      {"{\"a\":1", kEnd, 6, false},
      {"{\"a\":1,", kEnd, 7, false},
      {"{\"a\":1,}", kByte, 7, false},  // trailing comma
      {"[1,]", kByte, 3, false},
      {"[,1]", kByte, 1, false},
      {"{,}", kByte, 1, false},
      {"{a:1}", kByte, 1, false},
      {"{'a':1}", kByte, 1, false},
      {"{\"a\" 1}", kByte, 5, false},
      {"{\"a\":1]", kByte, 6, false},
      {"[1}", kByte, 2, false},
      {"{\"a\":1}}", Fault::kTrailingData, 7, false},
      {"{} {}", Fault::kTrailingData, 3, false},
      {"{}x", Fault::kTrailingData, 2, false},
      {"1 2", Fault::kTrailingData, 2, false},
      {"\xEF\xBB\xBF{}", kByte, 0, false},  // a byte-order mark is not whitespace
      {"{\"a\":\xEF\xBB\xBF"
       "1}",
       kByte, 5, false},
      {"\f{}", kByte, 0, false},
      {"{\"a\":undefined}", kByte, 5, false},
  });
}

TEST(JsonCheck, Numbers) {
  CheckTable({
      {"[0,-0,1,-1,10,0.5,-0.5,1e5,1E5,1e+2,1E-2,1.5e10,-0.0e-0,123456789012345678901234567890]", kNone, 0, false},
      {"01", Fault::kBadNumber, 1, false},
      {"[-01]", Fault::kBadNumber, 3, false},
      {"[00]", Fault::kBadNumber, 2, false},
      {"1.", kEnd, 2, false},
      {"[1.]", Fault::kBadNumber, 3, false},
      {"[1.e5]", Fault::kBadNumber, 3, false},
      {"[.5]", kByte, 1, false},
      {"[+1]", kByte, 1, false},
      {"[-]", Fault::kBadNumber, 2, false},
      {"-", kEnd, 1, false},
      {"[-a]", Fault::kBadNumber, 2, false},
      {"[1e]", Fault::kBadNumber, 3, false},
      {"[1e+]", Fault::kBadNumber, 4, false},
      {"1e", kEnd, 2, false},
      {"[1.5.3]", kByte, 4, false},
      {"[0x10]", kByte, 2, false},
      {"[NaN]", kByte, 1, false},
      {"[Infinity]", kByte, 1, false},
      {"[-Infinity]", Fault::kBadNumber, 2, false},
      {"[1 2]", kByte, 3, false},
  });
}

TEST(JsonCheck, Literals) {
  CheckTable({
      {"[true,false,null]", kNone, 0, false},
      {"[tru]", Fault::kBadLiteral, 4, false},
      {"[True]", kByte, 1, false},
      {"[nul", kEnd, 4, false},
      {"[nulll]", kByte, 5, false},
      {"[fals e]", Fault::kBadLiteral, 5, false},
      {"{\"a\":truex}", kByte, 9, false},
  });
}

TEST(JsonCheck, StringsAndEscapes) {
  CheckTable({
      {"{\"q\":\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0041 \\u00e9 \\uFFFF\"}", kNone, 0, true},
      {"{\"lone\":\"\\ud800 \\udfff \\udc00\\ud800\"}", kNone, 0, true},  // lone surrogates, as JSON.parse
      {"{\"pair\":\"\\ud83d\\ude00\"}", kNone, 0, true},
      {"{\"del\":\"\x7F\"}", kNone, 0, true},
      {"{\"a\":\"\\x41\"}", Fault::kBadEscape, 7, false},
      {"{\"a\":\"\\a\"}", Fault::kBadEscape, 7, false},
      {"{\"a\":\"\\'\"}", Fault::kBadEscape, 7, false},
      {"{\"a\":\"\\u12G4\"}", Fault::kBadEscape, 10, false},
      {"{\"a\":\"\\u123\"}", Fault::kBadEscape, 11, false},
      {"{\"a\":\"\\U0041\"}", Fault::kBadEscape, 7, false},
      {"{\"a\":\"\\", kEnd, 7, false},
      {"{\"a\":\"\\u12", kEnd, 10, false},
      {"{\"a\":\"abc", kEnd, 9, false},
      {"{\"a\":\"tab\there\"}", Fault::kControlChar, 9, false},
      {std::string("{\"a\":\"nul\0\"}", 12), Fault::kControlChar, 9, false},
      {"{\"a\":\"\x1F\"}", Fault::kControlChar, 6, false},
      {"{\"a\":\"line\nbreak\"}", Fault::kControlChar, 10, false},
      {"{\"k\ney\":1}", Fault::kControlChar, 3, false},
      // Long strings cross the eight-byte steps at every alignment.
      {"{\"a\":\"" + std::string(37, 'x') + "\"}", kNone, 0, true},
      {"{\"a\":\"" + std::string(37, 'x') + "\\n" + std::string(20, 'y') + "\"}", kNone, 0, true},
      {"{\"a\":\"" + std::string(37, 'x') + "\x01" + "\"}", Fault::kControlChar, 43, false},
      {"{\"a\":\"" + std::string(16, 'x'), kEnd, 22, false},
  });
}

TEST(JsonCheck, Utf8) {
  CheckTable({
      {"{\"a\":\"\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF \xEF\xBF\xBF \xED\x9F\xBF \xEE\x80\x80\"}",
       kNone, 0, true},
      {"{\"\xC3\xA9\":1}", kNone, 0, true},                         // in a key
      {"{\"a\":\"\x80\"}", Fault::kBadUtf8, 6, false},              // a continuation byte alone
      {"{\"a\":\"\xC0\xAF\"}", Fault::kBadUtf8, 6, false},          // overlong '/'
      {"{\"a\":\"\xC1\xBF\"}", Fault::kBadUtf8, 6, false},          // overlong
      {"{\"a\":\"\xE0\x80\xAF\"}", Fault::kBadUtf8, 7, false},      // overlong 3-byte form
      {"{\"a\":\"\xF0\x80\x80\xAF\"}", Fault::kBadUtf8, 7, false},  // overlong 4-byte form
      {"{\"a\":\"\xED\xA0\x80\"}", Fault::kBadUtf8, 7, false},      // U+D800 encoded
      {"{\"a\":\"\xED\xBF\xBF\"}", Fault::kBadUtf8, 7, false},      // U+DFFF encoded
      {"{\"a\":\"\xF4\x90\x80\x80\"}", Fault::kBadUtf8, 7, false},  // U+110000
      {"{\"a\":\"\xF5\x80\x80\x80\"}", Fault::kBadUtf8, 6, false},
      {"{\"a\":\"\xFF\"}", Fault::kBadUtf8, 6, false},
      {"{\"a\":\"\xC3\"}", Fault::kBadUtf8, 7, false},  // cut short by the quote
      {"{\"a\":\"\xE2\x82\"}", Fault::kBadUtf8, 8, false},
      {"{\"a\":\"\xF0\x9F\x98\"}", Fault::kBadUtf8, 9, false},
      {"{\"a\":\"\xF0\x9F\x98", kEnd, 9, false},
      {"{\"a\":\"\xC3\xA9\xA9\"}", Fault::kBadUtf8, 8, false},
      {"{\"a\":\xC3\xA9}", kByte, 5, false},  // outside a string
  });
}

// Strings are read eight bytes at a time: put each kind of byte that stops a step at every place
// in a step, after every length of plain bytes, and at the very end of the text.
TEST(JsonCheck, EverySpecialByteAtEveryPlaceInAStep) {
  const std::vector<std::string> specials = {
      "\"",   "\\n",  "\\u00e9",      "\x01", "\x1F", "\xC3\xA9", "\xF0\x9F\x98\x80",
      "\x80", "\xC3", "\xED\xA0\x80", "\\",   "\x7F", "\xFF"};
  size_t checked = 0;
  for (size_t before = 0; before < 20; before++) {
    for (const std::string& special : specials) {
      for (size_t after = 0; after < 12; after++) {
        const std::string value = std::string(before, 'x') + special + std::string(after, 'y');
        ExpectSameAsReference("{\"k\":\"" + value + "\"}");
        ExpectSameAsReference("{\"k\":\"" + value);
        ExpectSameAsReference("{\"" + value + "\":1}");
        checked += 3;
      }
    }
  }
  EXPECT_EQ(checked, size_t{20 * 13 * 12 * 3});
}

std::string Nested(size_t depth, const std::string& inner) {
  std::string s;
  for (size_t d = 0; d < depth; d++) s += d % 2 == 0 ? "{\"a\":" : "[";
  s += inner;
  for (size_t d = depth; d-- > 0;) s += d % 2 == 0 ? "}" : "]";
  return s;
}

TEST(JsonCheck, NestingLimit) {
  EXPECT_EQ(kMaxDepth, size_t{512});
  CheckTable({
      {Nested(kMaxDepth, "1"), kNone, 0, true},
      {Nested(kMaxDepth, ""), kNone, 0, true},  // the innermost (an array at 512) is empty
      {Nested(kMaxDepth + 1, "1"), Fault::kTooDeep, 5 * 256 + 256, false},
      {Nested(kMaxDepth - 1, "[[]]"), Fault::kTooDeep, 5 * 256 + 255 + 1, false},
      {std::string(kMaxDepth, '['), kEnd, kMaxDepth, false},
      {std::string(kMaxDepth + 1, '['), Fault::kTooDeep, kMaxDepth, false},
      {std::string(100000, '['), Fault::kTooDeep, kMaxDepth, false},
  });
}

// ---------------------------------------------------------------------------------------------
// Bodies.

struct Lines {
  NdjsonResult result;
  std::vector<std::pair<uint32_t, uint32_t>> ranges;
};

Lines Check(const std::string& body, size_t max_line = 1 << 20, size_t max_lines = 1 << 20) {
  std::vector<uint32_t> ranges(2 * NdjsonLineBound(body.size(), max_lines) + 1, 0xFFFFFFFFu);
  Lines out;
  out.result = CheckNdjson(Bytes(body), body.size(), max_line, max_lines, ranges.data());
  EXPECT_EQ(ranges.back(), 0xFFFFFFFFu) << "wrote past the bound";
  for (size_t k = 0; k < out.result.count; k++) out.ranges.emplace_back(ranges[2 * k], ranges[2 * k + 1]);
  return out;
}

std::string Show(const NdjsonResult& r) {
  return std::string(OutcomeName(r.outcome)) + " " + FaultName(r.fault) + " count " + std::to_string(r.count) +
         " line " + std::to_string(r.line) + " offset " + std::to_string(r.offset) + " length " +
         std::to_string(r.length) + (r.outcome == Outcome::kOk ? "" : " at " + std::to_string(r.line_start));
}

TEST(CheckNdjson, LinesAsSplitLinesCutsThem) {
  const std::string body = "{\"a\":1}\r\n\n  \t\r\n \t{\"b\":2} \t\r\n{\"c\":3}";
  const Lines l = Check(body);
  EXPECT_EQ(Show(l.result), "ok none count 3 line 0 offset 0 length 0");
  ASSERT_EQ(l.ranges.size(), size_t{3});
  EXPECT_EQ(body.substr(l.ranges[0].first, l.ranges[0].second - l.ranges[0].first), "{\"a\":1}");
  EXPECT_EQ(body.substr(l.ranges[1].first, l.ranges[1].second - l.ranges[1].first), "{\"b\":2}");
  EXPECT_EQ(body.substr(l.ranges[2].first, l.ranges[2].second - l.ranges[2].first), "{\"c\":3}");
}

TEST(CheckNdjson, EmptyAndBlankBodies) {
  EXPECT_EQ(Show(Check("").result), "ok none count 0 line 0 offset 0 length 0");
  EXPECT_EQ(Show(Check("\n\n \t\r\n\r\n").result), "ok none count 0 line 0 offset 0 length 0");
  // One '\r' is dropped; a second is what the line holds: JSON whitespace, so not a value.
  EXPECT_EQ(Show(Check("{}\n\r\r\n").result), "not-json unexpected-end count 1 line 2 offset 1 length 1 at 3");
  // A '\r' inside a line is whitespace to JSON, and stays in the record.
  const Lines l = Check("\r{}\r\r\n");
  EXPECT_EQ(Show(l.result), "ok none count 1 line 0 offset 0 length 0");
  EXPECT_EQ(l.ranges[0].first, 0u);
  EXPECT_EQ(l.ranges[0].second, 4u);
}

TEST(CheckNdjson, FailuresNameTheLineAndTheOffsetInIt) {
  EXPECT_EQ(Show(Check("{\"a\":1}\n\n  {\"a\":\n{}").result),
            "not-json unexpected-end count 1 line 3 offset 7 length 5 at 9");
  EXPECT_EQ(Show(Check("{}\n  [1,2]  \n").result), "not-object none count 1 line 2 offset 2 length 5 at 3");
  EXPECT_EQ(Show(Check("{}\n\t\r \"x\"\n").result), "not-object none count 1 line 2 offset 3 length 5 at 3");
  EXPECT_EQ(Show(Check("{}\n{}\n{\"a\":tru}\n[]").result),
            "not-json bad-literal count 2 line 3 offset 8 length 9 at 6");
  // The first line that is not JSON or not an object wins among them.
  EXPECT_EQ(Show(Check("[]\n{").result), "not-object none count 0 line 1 offset 0 length 2 at 0");
}

TEST(CheckNdjson, Limits) {
  // Lines of exactly max_line bytes pass; one more byte fails, trimmed length counted.
  EXPECT_EQ(Show(Check("  {\"a\":1}  \n", 7).result), "ok none count 1 line 0 offset 0 length 0");
  EXPECT_EQ(Show(Check("{}\n{\"a\":12}\n", 7).result), "line-too-long none count 1 line 2 offset 0 length 8 at 3");
  EXPECT_EQ(Show(Check("{}\n\n{}\n", 100, 2).result), "ok none count 2 line 0 offset 0 length 0");
  EXPECT_EQ(Show(Check("{}\n\n{}\n{}", 100, 2).result), "too-many-lines none count 2 line 4 offset 0 length 2 at 7");
  EXPECT_EQ(Show(Check("{}", 100, 0).result), "too-many-lines none count 0 line 1 offset 0 length 2 at 0");
  EXPECT_EQ(Show(Check("\n\n", 100, 0).result), "ok none count 0 line 0 offset 0 length 0");
  EXPECT_EQ(Show(Check("{}", 0, 5).result), "line-too-long none count 0 line 1 offset 0 length 2 at 0");
  // A line both too long and beyond the count: too long, as it is checked first.
  EXPECT_EQ(Show(Check("{}\n{\"a\":1}", 5, 1).result), "line-too-long none count 1 line 2 offset 0 length 7 at 3");
}

TEST(CheckNdjson, ALimitAnywhereWinsOverJson) {
  // What ingest did before this check: cut every line (refusing on a limit), then parse.
  EXPECT_EQ(Show(Check("{}\nnope\n{}\n{\"long\":1}\n", 8).result),
            "line-too-long none count 3 line 4 offset 0 length 10 at 11");
  EXPECT_EQ(Show(Check("nope\n[]\n{}\n{}\n", 100, 3).result),
            "too-many-lines none count 3 line 4 offset 0 length 2 at 11");
  EXPECT_EQ(Show(Check("{}\nnope\n[]\n", 100, 3).result), "not-json bad-literal count 1 line 2 offset 1 length 4 at 3");
  // The ranges of the lines before the limit are there, whatever their JSON.
  const Lines l = Check("nope\n[]\n{}\n{}\n", 100, 3);
  ASSERT_EQ(l.ranges.size(), size_t{3});
  EXPECT_EQ(l.ranges[1].first, 5u);
  EXPECT_EQ(l.ranges[2].second, 10u);
}

TEST(CheckNdjson, Names) {
  EXPECT_STREQ(OutcomeName(Outcome::kOk), "ok");
  EXPECT_STREQ(OutcomeName(Outcome::kNotObject), "not-object");
  EXPECT_STREQ(FaultName(Fault::kTrailingData), "trailing-data");
  EXPECT_EQ(NdjsonLineBound(0, 10), size_t{0});
  EXPECT_EQ(NdjsonLineBound(1, 10), size_t{1});
  EXPECT_EQ(NdjsonLineBound(3, 10), size_t{2});  // "a\nb"
  EXPECT_EQ(NdjsonLineBound(100, 10), size_t{10});
}

// ---------------------------------------------------------------------------------------------
// Random input against the reference.

class Gen {
 public:
  explicit Gen(uint32_t seed) : rng_(seed) {}

  size_t Below(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }

  std::string Space(bool with_newline) {
    static const char kSpaces[] = {' ', '\t', '\r', '\n'};
    std::string s;
    while (Chance(0.15)) s += kSpaces[Below(with_newline ? 4 : 3)];
    return s;
  }

  void Utf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      *out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      *out += static_cast<char>(0xC0 | (cp >> 6));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      *out += static_cast<char>(0xE0 | (cp >> 12));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      *out += static_cast<char>(0xF0 | (cp >> 18));
      *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::string String() {
    std::string s = "\"";
    const size_t n = Chance(0.2) ? Below(40) : Below(6);
    for (size_t k = 0; k < n; k++) {
      const size_t pick = Below(10);
      if (pick < 5) {
        s += static_cast<char>('a' + Below(26));
      } else if (pick == 5) {
        static const char* kEscapes[] = {"\\\"", "\\\\", "\\/", "\\b",     "\\f",
                                         "\\n",  "\\r",  "\\t", "\\u00e9", "\\uD800"};
        s += kEscapes[Below(10)];
      } else {
        static const uint32_t kEdges[] = {0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFF, 0x10000, 0x10FFFF, 0xE9};
        uint32_t cp = pick == 6 ? kEdges[Below(10)] : static_cast<uint32_t>(0x20 + Below(0x10FFFF - 0x20));
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
        if (cp == '"' || cp == '\\') cp = 'x';
        Utf8(cp, &s);
      }
    }
    return s + "\"";
  }

  std::string Number() {
    static const char* kNumbers[] = {"0",     "-0",  "1",    "-1",   "12",        "0.5",
                                     "-0.25", "1e5", "1E+2", "2e-3", "123456789", "1.5E10"};
    return kNumbers[Below(12)];
  }

  std::string Value(int depth, bool with_newline) {
    const size_t pick = depth >= 4 ? 2 + Below(5) : Below(7);
    std::string s;
    if (pick == 0) {
      s = "{" + Space(with_newline);
      const size_t n = Below(4);
      for (size_t k = 0; k < n; k++) {
        if (k > 0) s += "," + Space(with_newline);
        s += String() + Space(with_newline) + ":" + Space(with_newline) + Value(depth + 1, with_newline) +
             Space(with_newline);
      }
      return s + "}";
    }
    if (pick == 1) {
      s = "[" + Space(with_newline);
      const size_t n = Below(4);
      for (size_t k = 0; k < n; k++) {
        if (k > 0) s += "," + Space(with_newline);
        s += Value(depth + 1, with_newline) + Space(with_newline);
      }
      return s + "]";
    }
    if (pick == 2 || pick == 3) return String();
    if (pick == 4) return Number();
    static const char* kWords[] = {"true", "false", "null"};
    return kWords[Below(3)];
  }

  std::string Text(bool with_newline) {
    std::string v = Chance(0.7) ? "{" + String() + ":" + Value(1, with_newline) + "}" : Value(0, with_newline);
    return Space(with_newline) + v + Space(with_newline);
  }

  uint8_t InterestingByte() {
    static const uint8_t kBytes[] = {'"',  '\\', '{',  '}',  '[',  ']',  ',',  ':',  '0',  '1',  '-',  '+',  '.',
                                     'e',  'u',  't',  'n',  ' ',  '\t', '\r', 0x00, 0x1F, 0x7F, 0x80, 0xBF, 0xC0,
                                     0xC2, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF, 0xA0, 0x90, 0x8F, 'a',  'F'};
    return Chance(0.2) ? static_cast<uint8_t>(Below(256)) : kBytes[Below(sizeof kBytes)];
  }

  std::string Mutate(std::string s) {
    const size_t edits = 1 + Below(3);
    for (size_t e = 0; e < edits; e++) {
      const size_t op = Below(4);
      const size_t at = s.empty() ? 0 : Below(s.size());
      if (op == 0 && !s.empty()) {
        s[at] = static_cast<char>(InterestingByte());
      } else if (op == 1) {
        s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), static_cast<char>(InterestingByte()));
      } else if (op == 2 && !s.empty()) {
        s.erase(at, 1);
      } else if (!s.empty()) {
        s.resize(at);
      }
    }
    return s;
  }

 private:
  std::mt19937 rng_;
};

TEST(JsonCheck, RandomTextsAgreeWithTheReference) {
  Gen g(20240607);
  size_t valid = 0;
  size_t objects = 0;
  for (int n = 0; n < 50000; n++) {
    std::string s = g.Text(true);
    if (n % 4 != 0) s = g.Mutate(s);
    const TextResult got = CheckJsonText(Bytes(s), s.size());
    valid += got.fault == Fault::kNone;
    objects += got.is_object;
    ExpectSameAsReference(s);
    if (tapio_test::g_current_failures > 20) return;
  }
  // Both kinds were exercised.
  EXPECT_GT(valid, size_t{12500});
  EXPECT_GT(objects, size_t{8000});
  EXPECT_LT(valid, size_t{40000});
}

// A body's expected result: lines cut with std::string, each checked by the reference.
TEST(CheckNdjson, RandomBodiesAgreeWithTheReference) {
  Gen g(777);
  size_t ok = 0;
  for (int n = 0; n < 10000; n++) {
    std::string body;
    const size_t lines = g.Below(8);
    for (size_t k = 0; k < lines; k++) {
      std::string line = g.Chance(0.1) ? std::string(g.Below(3), ' ') : g.Text(false);
      if (g.Chance(0.15)) line = g.Mutate(line);
      body += line;
      if (k + 1 < lines || g.Chance(0.5)) body += g.Chance(0.3) ? "\r\n" : "\n";
    }
    const size_t max_line = g.Chance(0.2) ? g.Below(40) : 1 << 20;
    const size_t max_lines = g.Chance(0.2) ? g.Below(6) : 1 << 20;
    std::vector<std::pair<uint32_t, uint32_t>> want_ranges;
    const NdjsonResult want = ExpectedBody(body, max_line, max_lines, &want_ranges);
    const Lines got = Check(body, max_line, max_lines);
    // The reference does not name faults: compare everything else, and unexpected-end.
    NdjsonResult shown = got.result;
    if (shown.fault != Fault::kNone && shown.fault != Fault::kUnexpectedEnd) shown.fault = Fault::kUnexpectedByte;
    EXPECT_EQ(Show(shown), Show(want)) << Shown(body);
    want_ranges.resize(want.count);
    EXPECT_TRUE(got.ranges == want_ranges) << Shown(body);
    ok += got.result.outcome == Outcome::kOk && got.result.count > 0;
    if (tapio_test::g_current_failures > 20) return;
  }
  EXPECT_GT(ok, size_t{1250});
}

}  // namespace
}  // namespace json_check
}  // namespace tapio
