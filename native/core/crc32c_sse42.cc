// x86-64 CRC32C with the SSE4.2 CRC32 instruction. The instruction has a latency of three
// cycles and a throughput of one, so long inputs are cut into three adjacent blocks whose CRCs
// run in parallel and are joined with a precomputed zero-byte shift. Compiled with a target
// attribute, so the rest of the addon needs no -msse4.2 and runs on any x86-64.
#if defined(__x86_64__)

#include <nmmintrin.h>

#include <cstring>

#include "core/crc32c.h"

namespace tapio {
namespace crc32c {
namespace internal {
namespace {

constexpr size_t kLongBlock = 8192;  // per stream: 24 KiB per round
constexpr size_t kShortBlock = 256;  // per stream: 768 bytes per round

__attribute__((target("sse4.2"))) inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

__attribute__((target("sse4.2"))) uint32_t Serial(uint32_t reg, const uint8_t* p, size_t n) {
  uint64_t r = reg;
  while (n >= 8) {
    r = _mm_crc32_u64(r, Load64(p));
    p += 8;
    n -= 8;
  }
  uint32_t r32 = static_cast<uint32_t>(r);
  while (n-- > 0) r32 = _mm_crc32_u8(r32, *p++);
  return r32;
}

// Runs whole rounds of three blocks of `block` bytes; returns the bytes consumed.
__attribute__((target("sse4.2"))) size_t ThreeWay(uint32_t* reg, const uint8_t* p, size_t n, size_t block,
                                                  const ZeroShift& shift) {
  size_t done = 0;
  uint32_t r = *reg;
  while (n - done >= 3 * block) {
    const uint8_t* a = p + done;
    const uint8_t* b = a + block;
    const uint8_t* c = b + block;
    uint64_t ra = r, rb = 0, rc = 0;
    for (size_t i = 0; i < block; i += 8) {
      ra = _mm_crc32_u64(ra, Load64(a + i));
      rb = _mm_crc32_u64(rb, Load64(b + i));
      rc = _mm_crc32_u64(rc, Load64(c + i));
    }
    // Register after a||b||c = shift(shift(ra) ^ rb) ^ rc, each shift over one block of zeros.
    r = shift.Apply(shift.Apply(static_cast<uint32_t>(ra)) ^ static_cast<uint32_t>(rb)) ^ static_cast<uint32_t>(rc);
    done += 3 * block;
  }
  *reg = r;
  return done;
}

}  // namespace

uint32_t ExtendRawSse42(uint32_t reg, const uint8_t* p, size_t n) {
  static const ZeroShift long_shift(kLongBlock);
  static const ZeroShift short_shift(kShortBlock);
  size_t done = ThreeWay(&reg, p, n, kLongBlock, long_shift);
  done += ThreeWay(&reg, p + done, n - done, kShortBlock, short_shift);
  return Serial(reg, p + done, n - done);
}

}  // namespace internal
}  // namespace crc32c
}  // namespace tapio

#endif  // __x86_64__
