#include "core/crc32c.h"

#include <cstring>

#include "core/cpu_features.h"

namespace tapio {
namespace crc32c {
namespace {

constexpr uint32_t kPoly = 0x82F63B78u;  // reflected Castagnoli polynomial

struct Tables {
  uint32_t t[8][256];
  Tables() {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
      for (int s = 1; s < 8; s++) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
    }
  }
};

const Tables& GetTables() {
  static const Tables tables;
  return tables;
}

inline uint32_t LoadLe32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}

using RawKernel = uint32_t (*)(uint32_t, const uint8_t*, size_t);

RawKernel ChooseKernel() {
  const CpuFeatures& f = GetCpuFeatures();
#if defined(__x86_64__)
  if (f.sse42) return internal::ExtendRawSse42;
#elif defined(__aarch64__)
  if (f.arm_crc) return internal::ExtendRawArm;
#endif
  (void)f;
  return internal::ExtendRawPortable;
}

RawKernel Kernel() {
  static const RawKernel kernel = ChooseKernel();
  return kernel;
}

}  // namespace

namespace internal {

uint32_t ExtendRawPortable(uint32_t reg, const uint8_t* p, size_t n) {
  const Tables& tb = GetTables();
  while (n >= 8) {
    uint32_t lo = LoadLe32(p) ^ reg;
    uint32_t hi = LoadLe32(p + 4);
    reg = tb.t[7][lo & 0xff] ^ tb.t[6][(lo >> 8) & 0xff] ^ tb.t[5][(lo >> 16) & 0xff] ^ tb.t[4][lo >> 24] ^
          tb.t[3][hi & 0xff] ^ tb.t[2][(hi >> 8) & 0xff] ^ tb.t[1][(hi >> 16) & 0xff] ^ tb.t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) reg = (reg >> 8) ^ tb.t[0][(reg ^ *p++) & 0xff];
  return reg;
}

#if !defined(__x86_64__)
uint32_t ExtendRawSse42(uint32_t reg, const uint8_t* data, size_t n) { return ExtendRawPortable(reg, data, n); }
#endif
#if !defined(__aarch64__)
uint32_t ExtendRawArm(uint32_t reg, const uint8_t* data, size_t n) { return ExtendRawPortable(reg, data, n); }
#endif

}  // namespace internal

ZeroShift::ZeroShift(size_t n) {
  // The shift is linear over GF(2): find the image of each of the 32 basis bits by running the
  // register over n zero bytes, then tabulate each byte lane.
  uint32_t basis[32];
  const Tables& tb = GetTables();
  for (int bit = 0; bit < 32; bit++) {
    uint32_t reg = 1u << bit;
    for (size_t i = 0; i < n; i++) reg = (reg >> 8) ^ tb.t[0][reg & 0xff];
    basis[bit] = reg;
  }
  for (int lane = 0; lane < 4; lane++) {
    for (uint32_t b = 0; b < 256; b++) {
      uint32_t out = 0;
      for (int k = 0; k < 8; k++) {
        if (b & (1u << k)) out ^= basis[lane * 8 + k];
      }
      table_[lane][b] = out;
    }
  }
}

uint32_t ExtendPortable(uint32_t crc, const uint8_t* data, size_t n) {
  return ~internal::ExtendRawPortable(~crc, data, n);
}

uint32_t Extend(uint32_t crc, const uint8_t* data, size_t n) { return ~Kernel()(~crc, data, n); }

bool IsHardware() { return Kernel() != internal::ExtendRawPortable; }

}  // namespace crc32c
}  // namespace tapio
