// A small JSON reader for files the TypeScript twin reads with JSON.parse: the WAL directory's
// WAL_ID, CHECKPOINT and SALVAGED (core/wal_dir.h, core/salvage_file.h; docs/FORMAT.md describes
// them). It reads what JSON.parse reads and fails on anything that is not JSON. One thread per
// FlatJson; nothing is shared between them.
#ifndef TAPIO_CORE_JSON_H_
#define TAPIO_CORE_JSON_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tapio {

// One JSON value read as JSON.parse reads it, flat: an object's members (or an array's elements)
// with strings decoded and marked by a leading '"', numbers and literals kept as written, and
// nested objects and arrays kept as their text, which a FlatJson of that text reads in turn.
class FlatJson {
 public:
  // `text` must outlive this object. A member's value may nest arrays and objects at most
  // `max_nesting` levels deep; a deeper one fails the parse.
  FlatJson(const std::string& text, int max_nesting) : s_(text), max_nesting_(max_nesting) {}
  // An object; false when the text is anything else (or more than one value).
  bool Parse(std::map<std::string, std::string>* values);
  // An array, each element kept as Parse keeps a member's value (nested ones as their text).
  bool ParseArray(std::vector<std::string>* elements);

 private:
  bool End();
  void Ws();
  bool Eat(char c);
  bool Hex4(uint32_t* out);
  static void PutUtf8(uint32_t cp, std::string* out);
  bool String(std::string* out);
  bool Digits();
  bool Number();
  bool Literal(const char* word);
  bool Nested(int depth);
  bool AnyValue(std::string* out, int depth);
  bool Value(std::string* out) { return AnyValue(out, 0); }

  const std::string& s_;
  const int max_nesting_;
  size_t i_ = 0;
};

// The value of `key` in members FlatJson::Parse read (decoded, without the mark), and in *shown
// the value as JavaScript's JSON.stringify would print it ("undefined" when absent); *is_string
// tells a string from a bare value.
std::string JsonField(const std::map<std::string, std::string>& v, const char* key, bool* is_string,
                      std::string* shown);

// True when `text` is a JSON number equal to `want` (so 1, 1.0 and 1e0 all mean version 1).
bool JsonNumberEquals(const std::string& text, uint32_t want);

}  // namespace tapio

#endif  // TAPIO_CORE_JSON_H_
