// A minimal unit-test harness for the native core: registration macros, checks that report
// file:line with both operands, and a runner (harness_main.cc) that runs every registered test
// and exits nonzero when any check failed.
//
//   TEST(Crc32c, KnownVectors) {
//     EXPECT_EQ(0xE3069283u, Value(...)) << "extra context, streamed like an ostream";
//     ASSERT_TRUE(ok);  // ASSERT_* returns from the test body on failure
//   }
//
// EXPECT_* records a failure and continues; ASSERT_* records it and returns, so ASSERT_* may
// only be used in functions returning void (as with gtest). Each operand is evaluated once.
// Tests run on the main thread in the order they are defined; checks are not thread-safe.
//
// A test that cannot run its case here says so instead of passing: SKIP() << "why"; returns
// from the test body, like ASSERT_*. A binary whose tests all passed or skipped, with at least one
// skipped, exits with kSkipExitCode, which CMakeLists.txt declares as each test's
// SKIP_RETURN_CODE, so ctest reports the test as skipped, not passed.
//
// Command line of a test binary: names or substrings of "Suite.Name" select tests (any match
// runs the test); --exact makes the names match whole names only; --list prints the names and
// exits.
#ifndef TAPIO_TEST_HARNESS_H_
#define TAPIO_TEST_HARNESS_H_

#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace tapio_test {

struct TestCase {
  const char* suite;
  const char* name;
  void (*body)();
  const char* file;
  int line;
};

inline std::vector<TestCase>& Registry() {
  static std::vector<TestCase> tests;
  return tests;
}

// Failures recorded by the test that is running now.
inline int g_current_failures = 0;
// Why the test that is running now skipped its case; empty while it has not.
inline std::string g_current_skip;

// The exit status of a binary whose tests passed except for some that skipped (the Automake
// convention, also CMakeLists.txt's SKIP_RETURN_CODE).
constexpr int kSkipExitCode = 77;

struct Registrar {
  Registrar(const char* suite, const char* name, void (*body)(), const char* file, int line) {
    Registry().push_back(TestCase{suite, name, body, file, line});
  }
};

// Runs the tests selected by argv; returns the process exit status. Defined in harness_main.cc.
int RunAll(int argc, char** argv);

// Extra context streamed after a check: EXPECT_EQ(a, b) << "offset " << off;
class Message {
 public:
  template <typename T>
  Message& operator<<(const T& value) {
    out_ << value;
    return *this;
  }
  std::string str() const { return out_.str(); }

 private:
  std::ostringstream out_;
};

inline void ReportFailure(const char* file, int line, const std::string& what, const std::string& note) {
  g_current_failures++;
  std::printf("%s:%d: Failure\n  %s\n", file, line, what.c_str());
  if (!note.empty()) std::printf("  note: %s\n", note.c_str());
  std::fflush(stdout);
}

// The left side of `Reporter(...) = Message() << ...`: assignment binds after every <<, so the
// whole streamed message is complete when the failure is reported. Returns void, which lets
// ASSERT_* write `return Reporter(...) = ...;` in a void function.
class Reporter {
 public:
  Reporter(const char* file, int line, std::string what) : file_(file), line_(line), what_(std::move(what)) {}
  void operator=(const Message& message) const { ReportFailure(file_, line_, what_, message.str()); }

 private:
  const char* file_;
  int line_;
  std::string what_;
};

// The left side of `Skipper() = Message() << ...`, as Reporter: records why the test skipped.
class Skipper {
 public:
  void operator=(const Message& message) const {
    g_current_skip = message.str().empty() ? "no reason given" : message.str();
  }
};

template <typename T, typename = void>
struct IsStreamable : std::false_type {};
template <typename T>
struct IsStreamable<T, std::void_t<decltype(std::declval<std::ostream&>() << std::declval<const T&>())>>
    : std::true_type {};

// Integers print in decimal and hex (checksums are easier to read in hex); characters as
// numbers; anything else through operator<< when it has one.
template <typename T>
std::string Describe(const T& value) {
  std::ostringstream out;
  if constexpr (std::is_same_v<T, bool>) {
    out << (value ? "true" : "false");
  } else if constexpr (std::is_integral_v<T>) {
    if constexpr (std::is_signed_v<T>) {
      out << static_cast<long long>(value);
    } else {
      out << static_cast<unsigned long long>(value);
    }
    out << " (0x" << std::hex << static_cast<unsigned long long>(value) << ")";
  } else if constexpr (std::is_enum_v<T>) {
    out << static_cast<long long>(static_cast<std::underlying_type_t<T>>(value));
  } else if constexpr (std::is_same_v<std::decay_t<T>, std::nullptr_t>) {
    out << "nullptr";
  } else if constexpr (IsStreamable<T>::value) {
    out << value;
  } else {
    out << "<" << sizeof(T) << "-byte value>";
  }
  return out.str();
}

// The outcome of one check; converts to true when it passed.
struct Result {
  bool passed = true;
  std::string what;
  explicit operator bool() const { return passed; }
};

template <typename A, typename B, typename Op>
Result CompareValues(const char* macro, const char* a_text, const char* b_text, const A& a, const B& b, Op op) {
  if (op(a, b)) return Result{};
  return Result{false, std::string(macro) + "(" + a_text + ", " + b_text + ")\n    " + a_text + " = " + Describe(a) +
                           "\n    " + b_text + " = " + Describe(b)};
}

inline Result CompareStrings(const char* macro, const char* a_text, const char* b_text, const char* a, const char* b,
                             bool want_equal) {
  bool equal = (a == nullptr || b == nullptr) ? a == b : std::strcmp(a, b) == 0;
  if (equal == want_equal) return Result{};
  auto show = [](const char* s) { return s == nullptr ? std::string("nullptr") : "\"" + std::string(s) + "\""; };
  return Result{false, std::string(macro) + "(" + a_text + ", " + b_text + ")\n    " + a_text + " = " + show(a) +
                           "\n    " + b_text + " = " + show(b)};
}

inline Result CheckBool(const char* macro, const char* text, bool value, bool want) {
  if (value == want) return Result{};
  return Result{false, std::string(macro) + "(" + text + ")\n    was " + (value ? "true" : "false")};
}

}  // namespace tapio_test

#define TAPIO_TEST_CONCAT_INNER_(a, b) a##b
#define TAPIO_TEST_CONCAT_(a, b) TAPIO_TEST_CONCAT_INNER_(a, b)

#define TEST(suite, name)                                                                                           \
  static void TAPIO_TEST_CONCAT_(tapio_test_body_, TAPIO_TEST_CONCAT_(suite, TAPIO_TEST_CONCAT_(_, name)))();       \
  static const ::tapio_test::Registrar TAPIO_TEST_CONCAT_(tapio_test_registrar_,                                    \
                                                          TAPIO_TEST_CONCAT_(suite, TAPIO_TEST_CONCAT_(_, name)))(  \
      #suite, #name, &TAPIO_TEST_CONCAT_(tapio_test_body_, TAPIO_TEST_CONCAT_(suite, TAPIO_TEST_CONCAT_(_, name))), \
      __FILE__, __LINE__);                                                                                          \
  static void TAPIO_TEST_CONCAT_(tapio_test_body_, TAPIO_TEST_CONCAT_(suite, TAPIO_TEST_CONCAT_(_, name)))()

// A `for` that runs its body once when the check failed: unlike `if (ok) {} else ...` it has no
// else for a caller's `if (c) EXPECT_TRUE(x); else ...` to bind to, and the body can still end
// in the caller's streamed message.
#define TAPIO_TEST_CHECK_(result_expr, on_failure)                                          \
  for (::tapio_test::Result tapio_test_result_ = (result_expr); !tapio_test_result_.passed; \
       tapio_test_result_.passed = true)                                                    \
  on_failure ::tapio_test::Reporter(__FILE__, __LINE__, tapio_test_result_.what) = ::tapio_test::Message()

#define TAPIO_TEST_NONFATAL_
#define TAPIO_TEST_FATAL_ return

#define TAPIO_TEST_BINARY_(macro, op, a, b, kind)                                                                    \
  TAPIO_TEST_CHECK_(                                                                                                 \
      ::tapio_test::CompareValues(macro, #a, #b, (a), (b), [](const auto& x_, const auto& y_) { return x_ op y_; }), \
      kind)

#define EXPECT_EQ(a, b) TAPIO_TEST_BINARY_("EXPECT_EQ", ==, a, b, TAPIO_TEST_NONFATAL_)
#define EXPECT_NE(a, b) TAPIO_TEST_BINARY_("EXPECT_NE", !=, a, b, TAPIO_TEST_NONFATAL_)
#define EXPECT_LT(a, b) TAPIO_TEST_BINARY_("EXPECT_LT", <, a, b, TAPIO_TEST_NONFATAL_)
#define EXPECT_LE(a, b) TAPIO_TEST_BINARY_("EXPECT_LE", <=, a, b, TAPIO_TEST_NONFATAL_)
#define EXPECT_GT(a, b) TAPIO_TEST_BINARY_("EXPECT_GT", >, a, b, TAPIO_TEST_NONFATAL_)
#define EXPECT_GE(a, b) TAPIO_TEST_BINARY_("EXPECT_GE", >=, a, b, TAPIO_TEST_NONFATAL_)
#define EXPECT_TRUE(c) \
  TAPIO_TEST_CHECK_(::tapio_test::CheckBool("EXPECT_TRUE", #c, static_cast<bool>(c), true), TAPIO_TEST_NONFATAL_)
#define EXPECT_FALSE(c) \
  TAPIO_TEST_CHECK_(::tapio_test::CheckBool("EXPECT_FALSE", #c, static_cast<bool>(c), false), TAPIO_TEST_NONFATAL_)
#define EXPECT_STREQ(a, b) \
  TAPIO_TEST_CHECK_(::tapio_test::CompareStrings("EXPECT_STREQ", #a, #b, (a), (b), true), TAPIO_TEST_NONFATAL_)
#define EXPECT_STRNE(a, b) \
  TAPIO_TEST_CHECK_(::tapio_test::CompareStrings("EXPECT_STRNE", #a, #b, (a), (b), false), TAPIO_TEST_NONFATAL_)

#define ASSERT_EQ(a, b) TAPIO_TEST_BINARY_("ASSERT_EQ", ==, a, b, TAPIO_TEST_FATAL_)
#define ASSERT_NE(a, b) TAPIO_TEST_BINARY_("ASSERT_NE", !=, a, b, TAPIO_TEST_FATAL_)
#define ASSERT_LT(a, b) TAPIO_TEST_BINARY_("ASSERT_LT", <, a, b, TAPIO_TEST_FATAL_)
#define ASSERT_LE(a, b) TAPIO_TEST_BINARY_("ASSERT_LE", <=, a, b, TAPIO_TEST_FATAL_)
#define ASSERT_GT(a, b) TAPIO_TEST_BINARY_("ASSERT_GT", >, a, b, TAPIO_TEST_FATAL_)
#define ASSERT_GE(a, b) TAPIO_TEST_BINARY_("ASSERT_GE", >=, a, b, TAPIO_TEST_FATAL_)
#define ASSERT_TRUE(c) \
  TAPIO_TEST_CHECK_(::tapio_test::CheckBool("ASSERT_TRUE", #c, static_cast<bool>(c), true), TAPIO_TEST_FATAL_)
#define ASSERT_FALSE(c) \
  TAPIO_TEST_CHECK_(::tapio_test::CheckBool("ASSERT_FALSE", #c, static_cast<bool>(c), false), TAPIO_TEST_FATAL_)
#define ASSERT_STREQ(a, b) \
  TAPIO_TEST_CHECK_(::tapio_test::CompareStrings("ASSERT_STREQ", #a, #b, (a), (b), true), TAPIO_TEST_FATAL_)

// Fails the running test unconditionally: FAIL() << "why";
#define FAIL() return ::tapio_test::Reporter(__FILE__, __LINE__, "FAIL()") = ::tapio_test::Message()
#define ADD_FAILURE() ::tapio_test::Reporter(__FILE__, __LINE__, "ADD_FAILURE()") = ::tapio_test::Message()

// Ends the running test as skipped, saying why: SKIP() << "no direct I/O here: " << reason;
// Checks that failed before it still fail the test.
#define SKIP() return ::tapio_test::Skipper() = ::tapio_test::Message()

#endif  // TAPIO_TEST_HARNESS_H_
