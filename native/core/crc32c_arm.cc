// aarch64 CRC32C with the ARMv8 CRC32 instructions (one stream; used only when the CPU
// reports them).
#if defined(__aarch64__)

#include <arm_acle.h>

#include <cstring>

#include "core/crc32c.h"

namespace tapio {
namespace crc32c {
namespace internal {

__attribute__((target("+crc"))) uint32_t ExtendRawArm(uint32_t reg, const uint8_t* p, size_t n) {
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, sizeof v);
    reg = __crc32cd(reg, v);
    p += 8;
    n -= 8;
  }
  while (n-- > 0) reg = __crc32cb(reg, *p++);
  return reg;
}

}  // namespace internal
}  // namespace crc32c
}  // namespace tapio

#endif  // __aarch64__
