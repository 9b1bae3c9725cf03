// TAPIO_CHECK(condition, what): an invariant the caller guarantees. Inputs are validated once,
// at the API edge (and, for what JavaScript hands the addon, by the binding's cheap checks);
// below that, a condition that does not hold is a bug, not bad input: the process prints
// `what` with the file and line, and aborts. Always on, in every build.
#ifndef TAPIO_CORE_CHECK_H_
#define TAPIO_CORE_CHECK_H_

#include <cstdio>
#include <cstdlib>

namespace tapio {

[[noreturn]] inline void CheckFailed(const char* file, int line, const char* what) {
  std::fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
  std::fflush(stderr);
  std::abort();
}

}  // namespace tapio

#define TAPIO_CHECK(condition, what)                                  \
  do {                                                                \
    if (!(condition)) ::tapio::CheckFailed(__FILE__, __LINE__, what); \
  } while (0)

#endif  // TAPIO_CORE_CHECK_H_
