// CPU features probed once, at first use, on the running machine (never inferred from compile
// flags). Safe to call from any thread.
#ifndef TAPIO_CORE_CPU_FEATURES_H_
#define TAPIO_CORE_CPU_FEATURES_H_

namespace tapio {

struct CpuFeatures {
  bool sse42 = false;    // x86 CRC32 instruction
  bool pclmul = false;   // carry-less multiply
  bool avx2 = false;     // with FMA
  bool avx512 = false;   // AVX-512 F + BW + VL + DQ, enabled by the OS
  bool neon = false;     // ARMv8 Advanced SIMD
  bool arm_crc = false;  // ARMv8 CRC32 instructions
};

// The features of this CPU. The first call probes; later calls return the cached answer.
const CpuFeatures& GetCpuFeatures();

// The widest SIMD level the vector kernels will use: "avx512", "avx2", "neon" or "scalar".
// TAPIO_SIMD=avx2|scalar (a lower level than the CPU has) caps it, for testing and comparison.
const char* SimdLevel();

}  // namespace tapio

#endif  // TAPIO_CORE_CPU_FEATURES_H_
