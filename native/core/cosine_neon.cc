// The NEON cosine kernel (aarch64): the sixteen accumulators of cosine.h's canonical dot product
// in eight float64x2 registers (acc[2k], acc[2k+1] in register k); each block of 16 floats is
// widened to double and added with FMA (exact products, so the same bits as the serial kernel).
// A short last block is copied into a zeroed buffer: its padding adds +0 to the accumulators,
// which changes none of them. Advanced SIMD is mandatory in ARMv8-A, so unlike the x86 kernels
// this one needs no target attribute. Tested with cosine_test under qemu-aarch64, not yet on
// aarch64 hardware.
#if defined(__aarch64__)

#include <arm_neon.h>

#include <cstring>

#include "core/cosine.h"

namespace tapio {
namespace cosine {
namespace internal {
namespace {

inline void Block(const double* q, const float* row, float64x2_t* acc) {
  for (int k = 0; k < 4; k++) {
    const float32x4_t f = vld1q_f32(row + 4 * k);
    acc[2 * k] = vfmaq_f64(acc[2 * k], vld1q_f64(q + 4 * k), vcvt_f64_f32(vget_low_f32(f)));
    acc[2 * k + 1] = vfmaq_f64(acc[2 * k + 1], vld1q_f64(q + 4 * k + 2), vcvt_high_f64_f32(f));
  }
}

inline double Dot(const double* q, const float* row, size_t dim) {
  float64x2_t acc[8];
  for (auto& a : acc) a = vdupq_n_f64(0.0);
  size_t i = 0;
  for (; i + kLanes <= dim; i += kLanes) Block(q + i, row + i, acc);
  if (i < dim) {
    float tail[kLanes] = {};
    std::memcpy(tail, row + i, (dim - i) * sizeof(float));
    Block(q + i, tail, acc);
  }
  // w = 8 (registers k and k + 4), 4 (k and k + 2), 2 (0 and 1), then 1 (the two lanes).
  for (int k = 0; k < 4; k++) acc[k] = vaddq_f64(acc[k], acc[k + 4]);
  for (int k = 0; k < 2; k++) acc[k] = vaddq_f64(acc[k], acc[k + 2]);
  acc[0] = vaddq_f64(acc[0], acc[1]);
  return vgetq_lane_f64(acc[0], 0) + vgetq_lane_f64(acc[0], 1);
}

}  // namespace

void DotRowsF32Neon(const double* q, size_t dim, const float* base, size_t stride, const uint32_t* select, size_t first,
                    size_t count, double* out) {
  if (select != nullptr) {
    for (size_t n = 0; n < count; n++) out[n] = Dot(q, base + static_cast<size_t>(select[n]) * stride, dim);
  } else {
    const float* row = base + first * stride;
    for (size_t n = 0; n < count; n++, row += stride) out[n] = Dot(q, row, dim);
  }
}

}  // namespace internal
}  // namespace cosine
}  // namespace tapio

#endif  // defined(__aarch64__)
