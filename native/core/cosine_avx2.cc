// The AVX2 cosine kernel: the sixteen accumulators of cosine.h's canonical dot product in four
// ymm registers of four doubles (acc[0..3], acc[4..7], acc[8..11], acc[12..15]), each row block
// of 16 floats widened to double and added with FMA (exact products, so the same bits as the
// serial kernel). A short last block is copied into a zeroed buffer: its padding adds +0 to the
// accumulators, which changes none of them. Compiled with a target attribute, so the rest of the
// addon needs no -mavx2 and runs on any x86-64.
#if defined(__x86_64__)

#include <immintrin.h>

#include <cstring>

#include "core/cosine.h"

namespace tapio {
namespace cosine {
namespace internal {
namespace {

struct Acc {
  __m256d a0, a1, a2, a3;
};

// Each group of 4 floats is widened to 4 doubles straight from memory (a convert with a memory
// operand needs no shuffle to split an 8-float register).
__attribute__((target("avx2,fma"))) inline void Block(const double* q, const float* row, Acc* acc) {
  acc->a0 = _mm256_fmadd_pd(_mm256_loadu_pd(q), _mm256_cvtps_pd(_mm_loadu_ps(row)), acc->a0);
  acc->a1 = _mm256_fmadd_pd(_mm256_loadu_pd(q + 4), _mm256_cvtps_pd(_mm_loadu_ps(row + 4)), acc->a1);
  acc->a2 = _mm256_fmadd_pd(_mm256_loadu_pd(q + 8), _mm256_cvtps_pd(_mm_loadu_ps(row + 8)), acc->a2);
  acc->a3 = _mm256_fmadd_pd(_mm256_loadu_pd(q + 12), _mm256_cvtps_pd(_mm_loadu_ps(row + 12)), acc->a3);
}

__attribute__((target("avx2,fma"))) inline double Dot(const double* q, const float* row, size_t dim) {
  Acc acc{_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
  size_t i = 0;
  for (; i + kLanes <= dim; i += kLanes) Block(q + i, row + i, &acc);
  if (i < dim) {
    float tail[kLanes] = {};
    std::memcpy(tail, row + i, (dim - i) * sizeof(float));
    Block(q + i, tail, &acc);
  }
  // w = 8, then 4, then 2, then 1.
  const __m256d b0 = _mm256_add_pd(acc.a0, acc.a2);
  const __m256d b1 = _mm256_add_pd(acc.a1, acc.a3);
  const __m256d c = _mm256_add_pd(b0, b1);
  const __m128d d = _mm_add_pd(_mm256_castpd256_pd128(c), _mm256_extractf128_pd(c, 1));
  return _mm_cvtsd_f64(_mm_add_sd(d, _mm_unpackhi_pd(d, d)));
}

}  // namespace

__attribute__((target("avx2,fma"))) void DotRowsF32Avx2(const double* q, size_t dim, const float* base, size_t stride,
                                                        const uint32_t* select, size_t first, size_t count,
                                                        double* out) {
  if (select != nullptr) {
    for (size_t n = 0; n < count; n++) out[n] = Dot(q, base + static_cast<size_t>(select[n]) * stride, dim);
  } else {
    const float* row = base + first * stride;
    for (size_t n = 0; n < count; n++, row += stride) out[n] = Dot(q, row, dim);
  }
}

__attribute__((target("avx2,fma"))) uint64_t MemoryScanAvx2(const uint8_t* data, size_t n) {
  // Four independent accumulators of the widest loads, so only the memory sets the pace.
  __m256i a[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
  size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    a[0] = _mm256_xor_si256(a[0], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + i + 0)));
    a[1] = _mm256_xor_si256(a[1], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + i + 32)));
    a[2] = _mm256_xor_si256(a[2], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + i + 64)));
    a[3] = _mm256_xor_si256(a[3], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + i + 96)));
  }
  alignas(32) uint64_t w[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(w),
                     _mm256_xor_si256(_mm256_xor_si256(a[0], a[1]), _mm256_xor_si256(a[2], a[3])));
  uint64_t sum = 0;
  for (int j = 0; j < 4; j++) sum = (sum << 1 | sum >> 63) ^ w[j];
  for (; i < n; i++) sum = (sum << 8 | sum >> 56) ^ data[i];
  return sum;
}

}  // namespace internal
}  // namespace cosine
}  // namespace tapio

#endif  // defined(__x86_64__)
