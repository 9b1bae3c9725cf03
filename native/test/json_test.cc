#include "core/json.h"

#include <map>
#include <string>
#include <vector>

#include "test/harness.h"

namespace tapio {
namespace {

constexpr int kNesting = 65;

bool ParsesAsObject(const std::string& text, std::map<std::string, std::string>* v = nullptr) {
  std::map<std::string, std::string> ignored;
  return FlatJson(text, kNesting).Parse(v != nullptr ? v : &ignored);
}

TEST(Json, MembersAreDecodedAsJsonParseDecodesThem) {
  const std::string text =
      " {\"s\": \"a\\\"b\\\\c\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\", \"lone\": \"\\ud800x\", \"n\": -1.5e+3,"
      " \"z\": 0, \"t\": true, \"f\": false, \"nil\": null, \"o\": {\"k\": [1, {\"x\": \"}\"}]}, \"a\": [ ],"
      " \"dup\": 1, \"dup\": 2 }\n";
  std::map<std::string, std::string> v;
  ASSERT_TRUE(ParsesAsObject(text, &v));
  // A string keeps a leading quote that marks it; é and 😀 as UTF-8; a lone surrogate as it is.
  EXPECT_EQ(std::string("\"a\"b\\c/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80"), v["s"]);
  EXPECT_EQ(std::string("\"\xed\xa0\x80x"), v["lone"]);
  EXPECT_EQ("-1.5e+3", v["n"]);
  EXPECT_EQ("0", v["z"]);
  EXPECT_EQ("true", v["t"]);
  EXPECT_EQ("false", v["f"]);
  EXPECT_EQ("null", v["nil"]);
  // Nested objects and arrays are kept as written, to be read in turn.
  EXPECT_EQ("{\"k\": [1, {\"x\": \"}\"}]}", v["o"]);
  EXPECT_EQ("[ ]", v["a"]);
  EXPECT_EQ("2", v["dup"]);  // the last of a repeated member, as JSON.parse
  EXPECT_EQ(size_t{10}, v.size());
  std::map<std::string, std::string> empty;
  EXPECT_TRUE(ParsesAsObject("{}", &empty));
  EXPECT_TRUE(empty.empty());
}

TEST(Json, AnythingThatIsNotAJsonObjectFails) {
  for (const char* text : {"",
                           " ",
                           "[]",
                           "1",
                           "\"s\"",
                           "null",
                           "{",
                           "{\"a\"}",
                           "{\"a\":}",
                           "{\"a\":1,}",
                           "{,}",
                           "{a:1}",
                           "{'a':1}",
                           "{\"a\":1} x",
                           "{\"a\":1}{}",
                           "{\"a\":01}",
                           "{\"a\":1.}",
                           "{\"a\":.5}",
                           "{\"a\":+1}",
                           "{\"a\":-}",
                           "{\"a\":1e}",
                           "{\"a\":0x1}",
                           "{\"a\":tru}",
                           "{\"a\":True}",
                           "{\"a\":nul}",
                           "{\"a\":\"\\x\"}",
                           "{\"a\":\"\\u12\"}",
                           "{\"a\":\"\\u12g4\"}",
                           "{\"a\":\"tab\there\"}",
                           "{\"a\":\"open}",
                           "{\"a\":[1,]}",
                           "{\"a\":[1 2]}",
                           "{\"a\":{\"b\"}}",
                           "{\"a\":{1:2}}"}) {
    EXPECT_FALSE(ParsesAsObject(text)) << text;
  }
}

TEST(Json, ArraysKeepEachElementAsAMemberValue) {
  std::vector<std::string> e;
  ASSERT_TRUE(FlatJson(" [1, \"s\", {\"a\": 1}, [2], true ] ", kNesting).ParseArray(&e));
  ASSERT_EQ(size_t{5}, e.size());
  EXPECT_EQ("1", e[0]);
  EXPECT_EQ("\"s", e[1]);
  EXPECT_EQ("{\"a\": 1}", e[2]);
  EXPECT_EQ("[2]", e[3]);
  EXPECT_EQ("true", e[4]);
  std::vector<std::string> none;
  EXPECT_TRUE(FlatJson("[]", kNesting).ParseArray(&none));
  EXPECT_TRUE(none.empty());
  for (const char* text : {"{}", "[1,]", "[,1]", "[1] 2", "["}) {
    std::vector<std::string> ignored;
    EXPECT_FALSE(FlatJson(text, kNesting).ParseArray(&ignored)) << text;
  }
}

TEST(Json, MemberValuesNestAtMostTheGivenDepth) {
  std::map<std::string, std::string> v;
  EXPECT_TRUE(FlatJson("{\"a\": [[1]], \"b\": {\"c\": {}}}", 2).Parse(&v));
  EXPECT_FALSE(FlatJson("{\"a\": [[[1]]]}", 2).Parse(&v));
  EXPECT_FALSE(FlatJson("{\"a\": {\"b\": {\"c\": {}}}}", 2).Parse(&v));
  // An array read as such is the first level of its elements' nesting.
  std::vector<std::string> e;
  EXPECT_TRUE(FlatJson("[[1]]", 2).ParseArray(&e));
  EXPECT_FALSE(FlatJson("[[[1]]]", 2).ParseArray(&e));
  // The depth the WAL's small files allow holds a deep member, and a deeper one fails.
  std::string deep = "1";
  for (int i = 0; i < kNesting; i++) deep = "[" + deep + "]";
  EXPECT_TRUE(ParsesAsObject("{\"x\": " + deep + "}"));
  EXPECT_FALSE(ParsesAsObject("{\"x\": [" + deep + "]}"));
}

TEST(Json, FieldsShowAsJsonStringifyShowsThem) {
  std::map<std::string, std::string> v;
  ASSERT_TRUE(ParsesAsObject("{\"s\": \"a\\\"b\\\\c\", \"n\": 1.0, \"o\": {\"k\": 1}}", &v));
  bool is_string = false;
  std::string shown;
  EXPECT_EQ("a\"b\\c", JsonField(v, "s", &is_string, &shown));
  EXPECT_TRUE(is_string);
  EXPECT_EQ("\"a\\\"b\\\\c\"", shown);
  EXPECT_EQ("1.0", JsonField(v, "n", &is_string, &shown));
  EXPECT_FALSE(is_string);
  EXPECT_EQ("1.0", shown);
  EXPECT_EQ("{\"k\": 1}", JsonField(v, "o", &is_string, &shown));
  EXPECT_FALSE(is_string);
  EXPECT_EQ("", JsonField(v, "absent", &is_string, &shown));
  EXPECT_FALSE(is_string);
  EXPECT_EQ("undefined", shown);
}

TEST(Json, NumbersCompareByValue) {
  for (const char* text : {"1", "1.0", "1e0", "10e-1", "0.1e1"}) EXPECT_TRUE(JsonNumberEquals(text, 1)) << text;
  for (const char* text : {"2", "-1", "1.5", "", "1x", "\"1"}) EXPECT_FALSE(JsonNumberEquals(text, 1)) << text;
}

}  // namespace
}  // namespace tapio
