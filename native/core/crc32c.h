// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as used by every record of the transit
// WAL. Extend() takes the CRC of the bytes so far (0 for none) and returns the CRC of those bytes
// followed by `data`, so Extend(Extend(0, a), b) == Extend(0, a ++ b).
//
// The implementation is chosen once, at first use, from the running CPU: SSE4.2 with three
// interleaved streams on x86-64, the ARMv8 CRC instructions on aarch64, slicing-by-8 tables
// elsewhere. All are thread-safe and give identical results.
#ifndef TAPIO_CORE_CRC32C_H_
#define TAPIO_CORE_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace tapio {
namespace crc32c {

// CRC of `data` appended to bytes whose CRC was `crc`. `data` may be unaligned.
uint32_t Extend(uint32_t crc, const uint8_t* data, size_t n);

inline uint32_t Value(const uint8_t* data, size_t n) { return Extend(0, data, n); }

// The portable table implementation, always available (the reference for tests).
uint32_t ExtendPortable(uint32_t crc, const uint8_t* data, size_t n);

// True when Extend uses CPU instructions rather than tables.
bool IsHardware();

// Advances a raw (not inverted) CRC register over `n` zero bytes, for a fixed n chosen by the
// caller once. Used to combine CRCs computed over adjacent blocks in parallel.
class ZeroShift {
 public:
  explicit ZeroShift(size_t n);
  uint32_t Apply(uint32_t reg) const {
    return table_[0][reg & 0xff] ^ table_[1][(reg >> 8) & 0xff] ^ table_[2][(reg >> 16) & 0xff] ^ table_[3][reg >> 24];
  }

 private:
  uint32_t table_[4][256];
};

namespace internal {
// Raw-register kernels (no pre/post inversion). Defined only where the CPU family has them.
uint32_t ExtendRawSse42(uint32_t reg, const uint8_t* data, size_t n);
uint32_t ExtendRawArm(uint32_t reg, const uint8_t* data, size_t n);
uint32_t ExtendRawPortable(uint32_t reg, const uint8_t* data, size_t n);
}  // namespace internal

}  // namespace crc32c
}  // namespace tapio

#endif  // TAPIO_CORE_CRC32C_H_
