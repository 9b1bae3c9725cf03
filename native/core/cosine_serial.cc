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

}  // namespace internal
}  // namespace cosine
}  // namespace tapio
