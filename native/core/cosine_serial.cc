// The portable cosine kernel: the canonical dot product of cosine.h written out plainly, with
// sixteen double accumulators. It is the reference every SIMD kernel must match bit for bit.
#include <cstring>

#include "core/cosine.h"

namespace tapio {
namespace cosine {
namespace internal {
namespace {

double Dot(const double* q, const float* row, size_t dim) {
  double acc[kLanes] = {};
  size_t i = 0;
  for (; i + kLanes <= dim; i += kLanes) {
    for (size_t j = 0; j < kLanes; j++) acc[j] += q[i + j] * static_cast<double>(row[i + j]);
  }
  for (size_t j = 0; i + j < dim; j++) acc[j] += q[i + j] * static_cast<double>(row[i + j]);
  for (size_t w = kLanes / 2; w >= 1; w /= 2) {
    for (size_t j = 0; j < w; j++) acc[j] = acc[j] + acc[j + w];
  }
  return acc[0];
}

}  // namespace

void DotRowsF32Serial(const double* q, size_t dim, const float* base, size_t stride, const uint32_t* select,
                      size_t first, size_t count, double* out) {
  for (size_t n = 0; n < count; n++) {
    const size_t r = select != nullptr ? select[n] : first + n;
    out[n] = Dot(q, base + r * stride, dim);
  }
}

uint64_t MemoryScanSerial(const uint8_t* data, size_t n) {
  // Four independent lanes of 64-bit XOR: no dependency chain longer than a quarter of the
  // words, and a loop the compiler vectorises, so the loads, not the arithmetic, set the pace.
  uint64_t lane[4] = {0, 0, 0, 0};
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    uint64_t w[4];
    std::memcpy(w, data + i, sizeof w);
    for (int j = 0; j < 4; j++) lane[j] ^= w[j];
  }
  uint64_t sum = 0;
  for (int j = 0; j < 4; j++) sum = (sum << 1 | sum >> 63) ^ lane[j];
  for (; i < n; i++) sum = (sum << 8 | sum >> 56) ^ data[i];
  return sum;
}

}  // namespace internal
}  // namespace cosine
}  // namespace tapio
