// The AVX-512 cosine kernel: the sixteen accumulators of cosine.h's canonical dot product in two
// zmm registers of eight doubles (acc[0..7] and acc[8..15]); each block of 16 floats is read as
// two halves of 8, each widened to double and added with FMA (exact products, so the same bits as the
// serial kernel). A short last block is a masked load, which reads no byte past the row: its
// zeroed lanes add +0 to the accumulators, which changes none of them. Compiled with a target
// attribute, so the rest of the addon needs no -mavx512f and runs on any x86-64.
#if defined(__x86_64__)

#include <immintrin.h>

#include "core/cosine.h"

// GCC 12 reports the deliberately undefined pass-through operand inside its own
// _mm512_cvtps_pd and _mm512_extractf64x4_pd as "may be used uninitialized"; it is not read.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace tapio {
namespace cosine {
namespace internal {
namespace {

#define TAPIO_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw")))

// One block of 16: two 8-float halves, each widened to 8 doubles straight from memory (a
// convert with a memory operand needs no shuffle to split a 16-float register).
TAPIO_AVX512 inline void Block(const double* q, __m256 lo, __m256 hi, __m512d* a0, __m512d* a1) {
  *a0 = _mm512_fmadd_pd(_mm512_loadu_pd(q), _mm512_cvtps_pd(lo), *a0);
  *a1 = _mm512_fmadd_pd(_mm512_loadu_pd(q + 8), _mm512_cvtps_pd(hi), *a1);
}

TAPIO_AVX512 inline double Dot(const double* q, const float* row, size_t dim) {
  __m512d a0 = _mm512_setzero_pd();
  __m512d a1 = _mm512_setzero_pd();
  size_t i = 0;
  for (; i + kLanes <= dim; i += kLanes) Block(q + i, _mm256_loadu_ps(row + i), _mm256_loadu_ps(row + i + 8), &a0, &a1);
  if (i < dim) {
    const unsigned mask = (1u << (dim - i)) - 1;
    Block(q + i, _mm256_maskz_loadu_ps(static_cast<__mmask8>(mask), row + i),
          _mm256_maskz_loadu_ps(static_cast<__mmask8>(mask >> 8), row + i + 8), &a0, &a1);
  }
  // w = 8, then 4, then 2, then 1.
  const __m512d s = _mm512_add_pd(a0, a1);
  const __m256d t = _mm256_add_pd(_mm512_castpd512_pd256(s), _mm512_extractf64x4_pd(s, 1));
  const __m128d u = _mm_add_pd(_mm256_castpd256_pd128(t), _mm256_extractf128_pd(t, 1));
  return _mm_cvtsd_f64(_mm_add_sd(u, _mm_unpackhi_pd(u, u)));
}

}  // namespace

TAPIO_AVX512 void DotRowsF32Avx512(const double* q, size_t dim, const float* base, size_t stride,
                                   const uint32_t* select, size_t first, size_t count, double* out) {
  if (select != nullptr) {
    for (size_t n = 0; n < count; n++) out[n] = Dot(q, base + static_cast<size_t>(select[n]) * stride, dim);
  } else {
    const float* row = base + first * stride;
    for (size_t n = 0; n < count; n++, row += stride) out[n] = Dot(q, row, dim);
  }
}

TAPIO_AVX512 uint64_t MemoryScanAvx512(const uint8_t* data, size_t n) {
  // Four independent accumulators of the widest loads, so only the memory sets the pace.
  __m512i a[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
  size_t i = 0;
  for (; i + 256 <= n; i += 256) {
    a[0] = _mm512_xor_si512(a[0], _mm512_loadu_si512(data + i + 0));
    a[1] = _mm512_xor_si512(a[1], _mm512_loadu_si512(data + i + 64));
    a[2] = _mm512_xor_si512(a[2], _mm512_loadu_si512(data + i + 128));
    a[3] = _mm512_xor_si512(a[3], _mm512_loadu_si512(data + i + 192));
  }
  alignas(64) uint64_t w[8];
  _mm512_store_si512(w, _mm512_xor_si512(_mm512_xor_si512(a[0], a[1]), _mm512_xor_si512(a[2], a[3])));
  uint64_t sum = 0;
  for (int j = 0; j < 8; j++) sum = (sum << 1 | sum >> 63) ^ w[j];
  for (; i < n; i++) sum = (sum << 8 | sum >> 56) ^ data[i];
  return sum;
}

#undef TAPIO_AVX512

}  // namespace internal
}  // namespace cosine
}  // namespace tapio

#endif  // defined(__x86_64__)
