#include "core/cpu_features.h"

#include <cstdlib>
#include <cstring>

#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace tapio {
namespace {

CpuFeatures Probe() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  // __builtin_cpu_supports consults CPUID and, for AVX and AVX-512, whether the OS saves the
  // wider registers (XGETBV), so a feature reported here can be used.
  __builtin_cpu_init();
  f.sse42 = __builtin_cpu_supports("sse4.2");
  f.pclmul = __builtin_cpu_supports("pclmul");
  f.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  f.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#elif defined(__aarch64__)
  f.neon = true;  // mandatory on ARMv8-A
#if defined(__linux__)
  f.arm_crc = (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0;
#endif
#endif
  return f;
}

int Rank(const char* level) {
  if (std::strcmp(level, "avx512") == 0) return 3;
  if (std::strcmp(level, "avx2") == 0) return 2;
  if (std::strcmp(level, "neon") == 0) return 2;
  return 0;
}

const char* ProbeSimdLevel() {
  const CpuFeatures& f = GetCpuFeatures();
  const char* best = f.avx512 ? "avx512" : f.avx2 ? "avx2" : f.neon ? "neon" : "scalar";
  const char* cap = std::getenv("TAPIO_SIMD");
  if (cap == nullptr || *cap == '\0') return best;
  if (std::strcmp(cap, "scalar") == 0) return "scalar";
  if (Rank(cap) < Rank(best)) {
    if (std::strcmp(cap, "avx2") == 0 && f.avx2) return "avx2";
  }
  return best;
}

}  // namespace

const CpuFeatures& GetCpuFeatures() {
  static const CpuFeatures features = Probe();
  return features;
}

const char* SimdLevel() {
  static const char* level = ProbeSimdLevel();
  return level;
}

}  // namespace tapio
