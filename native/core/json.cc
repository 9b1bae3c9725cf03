#include "core/json.h"

#include <cstdlib>
#include <cstring>

namespace tapio {

bool FlatJson::ParseArray(std::vector<std::string>* elements) {
  Ws();
  if (!Eat('[')) return false;
  Ws();
  if (Eat(']')) return End();
  for (;;) {
    std::string value;
    Ws();
    if (!AnyValue(&value, 1)) return false;
    elements->push_back(value);
    Ws();
    if (Eat(']')) return End();
    if (!Eat(',')) return false;
  }
}

bool FlatJson::Parse(std::map<std::string, std::string>* values) {
  Ws();
  if (!Eat('{')) return false;
  Ws();
  if (Eat('}')) return End();
  for (;;) {
    std::string key, value;
    Ws();
    if (!String(&key)) return false;
    Ws();
    if (!Eat(':')) return false;
    Ws();
    if (!Value(&value)) return false;
    (*values)[key] = value;
    Ws();
    if (Eat('}')) return End();
    if (!Eat(',')) return false;
  }
}

bool FlatJson::End() {
  Ws();
  return i_ == s_.size();
}

void FlatJson::Ws() {
  while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) i_++;
}

bool FlatJson::Eat(char c) {
  if (i_ < s_.size() && s_[i_] == c) {
    i_++;
    return true;
  }
  return false;
}

bool FlatJson::Hex4(uint32_t* out) {
  if (i_ + 4 > s_.size()) return false;
  uint32_t v = 0;
  for (int k = 0; k < 4; k++) {
    const char c = s_[i_++];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= static_cast<uint32_t>(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= static_cast<uint32_t>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= static_cast<uint32_t>(c - 'A' + 10);
    else
      return false;
  }
  *out = v;
  return true;
}

void FlatJson::PutUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool FlatJson::String(std::string* out) {
  if (!Eat('"')) return false;
  while (i_ < s_.size() && s_[i_] != '"') {
    const char c = s_[i_++];
    if (static_cast<unsigned char>(c) < 0x20) return false;
    if (c != '\\') {
      out->push_back(c);
      continue;
    }
    if (i_ >= s_.size()) return false;
    const char e = s_[i_++];
    switch (e) {
      case '"':
        out->push_back('"');
        break;
      case '\\':
        out->push_back('\\');
        break;
      case '/':
        out->push_back('/');
        break;
      case 'b':
        out->push_back('\b');
        break;
      case 'f':
        out->push_back('\f');
        break;
      case 'n':
        out->push_back('\n');
        break;
      case 'r':
        out->push_back('\r');
        break;
      case 't':
        out->push_back('\t');
        break;
      case 'u': {
        uint32_t cp = 0;
        if (!Hex4(&cp)) return false;
        // A surrogate pair is one code point; a lone surrogate is kept as it is.
        if (cp >= 0xD800 && cp < 0xDC00 && i_ + 6 <= s_.size() && s_[i_] == '\\' && s_[i_ + 1] == 'u') {
          const size_t back = i_;
          i_ += 2;
          uint32_t low = 0;
          if (Hex4(&low) && low >= 0xDC00 && low < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else {
            i_ = back;
          }
        }
        PutUtf8(cp, out);
        break;
      }
      default:
        return false;
    }
  }
  return Eat('"');
}

bool FlatJson::Digits() {
  const size_t start = i_;
  while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') i_++;
  return i_ > start;
}

// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool FlatJson::Number() {
  Eat('-');
  if (Eat('0')) {
    // no leading zeros
  } else if (i_ < s_.size() && s_[i_] >= '1' && s_[i_] <= '9') {
    Digits();
  } else {
    return false;
  }
  if (Eat('.') && !Digits()) return false;
  if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
    i_++;
    if (!Eat('+')) Eat('-');
    if (!Digits()) return false;
  }
  return true;
}

bool FlatJson::Literal(const char* word) {
  const size_t n = std::strlen(word);
  if (s_.compare(i_, n, word) != 0) return false;
  i_ += n;
  return true;
}

// An object or array, skipped over (strings inside it decoded and dropped).
bool FlatJson::Nested(int depth) {
  if (depth >= max_nesting_) return false;
  const char close = s_[i_] == '{' ? '}' : ']';
  const bool object = close == '}';
  i_++;
  Ws();
  if (Eat(close)) return true;
  for (;;) {
    Ws();
    if (object) {
      std::string key;
      if (!String(&key)) return false;
      Ws();
      if (!Eat(':')) return false;
      Ws();
    }
    std::string ignored;
    if (!AnyValue(&ignored, depth + 1)) return false;
    Ws();
    if (Eat(close)) return true;
    if (!Eat(',')) return false;
  }
}

bool FlatJson::AnyValue(std::string* out, int depth) {
  if (i_ >= s_.size()) return false;
  const size_t start = i_;
  const char c = s_[i_];
  if (c == '"') {
    std::string v;
    if (!String(&v)) return false;
    *out = "\"" + v;  // a leading quote marks a string
    return true;
  }
  bool ok;
  if (c == '{' || c == '[')
    ok = Nested(depth);
  else if (c == 't')
    ok = Literal("true");
  else if (c == 'f')
    ok = Literal("false");
  else if (c == 'n')
    ok = Literal("null");
  else
    ok = Number();
  if (!ok) return false;
  *out = s_.substr(start, i_ - start);
  return true;
}

std::string JsonField(const std::map<std::string, std::string>& v, const char* key, bool* is_string,
                      std::string* shown) {
  const auto it = v.find(key);
  *is_string = it != v.end() && !it->second.empty() && it->second[0] == '"';
  if (it == v.end()) {
    *shown = "undefined";
    return std::string();
  }
  if (!*is_string) {
    *shown = it->second;
    return it->second;
  }
  const std::string value = it->second.substr(1);
  *shown = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') shown->push_back('\\');
    shown->push_back(c);
  }
  shown->push_back('"');
  return value;
}

bool JsonNumberEquals(const std::string& text, uint32_t want) {
  if (text.empty()) return false;
  char* end = nullptr;
  const double d = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size() && d == static_cast<double>(want);
}

}  // namespace tapio
