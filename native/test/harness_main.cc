// The runner linked into every native test binary: runs the registered tests (or those named on
// the command line), prints one line per test and a summary, and exits 1 when anything failed,
// kSkipExitCode when nothing failed and something skipped, 0 when everything passed.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "test/harness.h"

namespace tapio_test {
namespace {

std::string FullName(const TestCase& t) { return std::string(t.suite) + "." + t.name; }

bool Selected(const TestCase& t, const std::vector<std::string>& patterns, bool exact) {
  if (patterns.empty()) return true;
  const std::string name = FullName(t);
  for (const std::string& p : patterns) {
    if (exact ? name == p : name.find(p) != std::string::npos) return true;
  }
  return false;
}

const char* ProgramName(const char* argv0) {
  const char* slash = std::strrchr(argv0, '/');
  return slash != nullptr ? slash + 1 : argv0;
}

}  // namespace

int RunAll(int argc, char** argv) {
  const char* program = argc > 0 ? ProgramName(argv[0]) : "test";
  std::vector<std::string> patterns;
  bool exact = false;
  for (int i = 1; i < argc; i++) {
    if (std::strcmp(argv[i], "--list") == 0) {
      for (const TestCase& t : Registry()) std::printf("%s\n", FullName(t).c_str());
      return 0;
    }
    if (std::strcmp(argv[i], "--exact") == 0) {
      exact = true;
      continue;
    }
    if (argv[i][0] == '-') {
      std::fprintf(stderr, "%s: unknown option %s (use test-name substrings, --exact or --list)\n", program, argv[i]);
      return 2;
    }
    patterns.emplace_back(argv[i]);
  }

  int run = 0;
  std::vector<std::string> failed;
  std::vector<std::string> skipped;
  for (const TestCase& t : Registry()) {
    if (!Selected(t, patterns, exact)) continue;
    const std::string name = FullName(t);
    std::printf("[ RUN      ] %s\n", name.c_str());
    std::fflush(stdout);
    g_current_failures = 0;
    g_current_skip.clear();
    const auto start = std::chrono::steady_clock::now();
    try {
      t.body();
    } catch (const std::exception& e) {
      ReportFailure(t.file, t.line, "uncaught exception: " + std::string(e.what()), "");
    } catch (...) {
      ReportFailure(t.file, t.line, "uncaught exception of unknown type", "");
    }
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    run++;
    if (g_current_failures == 0 && !g_current_skip.empty()) {
      std::printf("[  SKIPPED ] %s (%lld ms): %s\n", name.c_str(), static_cast<long long>(ms), g_current_skip.c_str());
      skipped.push_back(name);
    } else if (g_current_failures == 0) {
      std::printf("[       OK ] %s (%lld ms)\n", name.c_str(), static_cast<long long>(ms));
    } else {
      std::printf("[  FAILED  ] %s (%lld ms, %d failed checks)\n", name.c_str(), static_cast<long long>(ms),
                  g_current_failures);
      failed.push_back(name);
    }
    std::fflush(stdout);
  }

  if (run == 0) {
    std::printf("%s: no test matched the command line\n", program);
    return 1;
  }
  for (const std::string& name : failed) std::printf("[  FAILED  ] %s\n", name.c_str());
  std::printf("%s: %d tests, %d passed, %zu skipped, %zu failed\n", program, run,
              run - static_cast<int>(failed.size() + skipped.size()), skipped.size(), failed.size());
  std::fflush(stdout);
  if (!failed.empty()) return 1;
  return skipped.empty() ? 0 : kSkipExitCode;
}

}  // namespace tapio_test

int main(int argc, char** argv) { return tapio_test::RunAll(argc, argv); }
