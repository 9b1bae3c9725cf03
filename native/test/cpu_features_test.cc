// CPU feature probing and the SIMD level. SimdLevel() reads TAPIO_SIMD once, at its first call,
// so one process sees one setting: ctest runs this binary again with TAPIO_SIMD=scalar and
// TAPIO_SIMD=avx2 (see CMakeLists.txt), and each run checks the level against the environment
// it was started with.
#include "core/cpu_features.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "test/harness.h"

namespace tapio {
namespace {

const char* BestLevel(const CpuFeatures& f) {
  return f.avx512 ? "avx512" : f.avx2 ? "avx2" : f.neon ? "neon" : "scalar";
}

// The contract of cpu_features.h: TAPIO_SIMD may lower the level to scalar, or to avx2 on a CPU
// that has it; any other value, or a level above the CPU's, leaves the best level in place.
std::string ExpectedLevel(const CpuFeatures& f, const char* cap) {
  const std::string best = BestLevel(f);
  if (cap == nullptr || *cap == '\0') return best;
  if (std::strcmp(cap, "scalar") == 0) return "scalar";
  if (std::strcmp(cap, "avx2") == 0 && best == "avx512" && f.avx2) return "avx2";
  return best;
}

// This process's TAPIO_SIMD as it was at start-up; CachedAtFirstCall changes the variable and
// puts it back, so read it before any test runs.
struct StartupCap {
  bool set = false;
  std::string value;
  const char* get() const { return set ? value.c_str() : nullptr; }
  const char* text() const { return set ? value.c_str() : "<unset>"; }
};

const StartupCap kStartupCap = [] {
  StartupCap cap;
  if (const char* env = std::getenv("TAPIO_SIMD")) {
    cap.set = true;
    cap.value = env;
  }
  return cap;
}();

TEST(CpuFeatures, ProbedOnce) {
  const CpuFeatures& a = GetCpuFeatures();
  const CpuFeatures& b = GetCpuFeatures();
  EXPECT_TRUE(&a == &b) << "GetCpuFeatures returns the same cached object";
  std::printf("  cpu: sse42=%d pclmul=%d avx2=%d avx512=%d neon=%d arm_crc=%d\n", a.sse42, a.pclmul, a.avx2, a.avx512,
              a.neon, a.arm_crc);
}

TEST(CpuFeatures, OnlyThisFamilysFeatures) {
  const CpuFeatures& f = GetCpuFeatures();
#if defined(__x86_64__) || defined(__i386__)
  EXPECT_FALSE(f.neon);
  EXPECT_FALSE(f.arm_crc);
#elif defined(__aarch64__)
  EXPECT_TRUE(f.neon) << "Advanced SIMD is mandatory on ARMv8-A";
  EXPECT_FALSE(f.sse42);
  EXPECT_FALSE(f.pclmul);
  EXPECT_FALSE(f.avx2);
  EXPECT_FALSE(f.avx512);
#else
  EXPECT_FALSE(f.sse42 || f.pclmul || f.avx2 || f.avx512 || f.neon || f.arm_crc);
#endif
}

TEST(SimdLevel, IsOneOfTheFourNames) {
  const char* level = SimdLevel();
  ASSERT_TRUE(level != nullptr);
  const bool known = std::strcmp(level, "avx512") == 0 || std::strcmp(level, "avx2") == 0 ||
                     std::strcmp(level, "neon") == 0 || std::strcmp(level, "scalar") == 0;
  EXPECT_TRUE(known) << "SimdLevel() returned \"" << level << "\"";
  std::printf("  simd level: %s (TAPIO_SIMD=%s)\n", level, kStartupCap.text());
}

TEST(SimdLevel, NeverAboveTheCpu) {
  const CpuFeatures& f = GetCpuFeatures();
  const char* level = SimdLevel();
  if (std::strcmp(level, "avx512") == 0) EXPECT_TRUE(f.avx512);
  if (std::strcmp(level, "avx2") == 0) EXPECT_TRUE(f.avx2);
  if (std::strcmp(level, "neon") == 0) EXPECT_TRUE(f.neon);
}

TEST(SimdLevel, FollowsTheEnvironmentAtStartup) {
  EXPECT_STREQ(ExpectedLevel(GetCpuFeatures(), kStartupCap.get()).c_str(), SimdLevel())
      << "TAPIO_SIMD=" << kStartupCap.text();
}

TEST(SimdLevel, CachedAtFirstCall) {
  const char* first = SimdLevel();
  const char* other = std::strcmp(first, "scalar") == 0 ? "avx512" : "scalar";
  ASSERT_EQ(0, setenv("TAPIO_SIMD", other, 1));
  const char* later = SimdLevel();
  if (kStartupCap.set) {
    setenv("TAPIO_SIMD", kStartupCap.value.c_str(), 1);
  } else {
    unsetenv("TAPIO_SIMD");
  }
  EXPECT_TRUE(first == later) << "a change of TAPIO_SIMD after the first call is ignored";
  EXPECT_STREQ(first, later);
}

}  // namespace
}  // namespace tapio
