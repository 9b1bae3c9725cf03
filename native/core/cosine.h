// Exact cosine similarity of one query against many float32 rows, and the top k of them
// (docs/SIMILARITY.md). The TypeScript twin is src/query/cosine.ts; both give the same float64
// bits for every score, because the dot product is defined by one accumulation order:
//
//   acc[0..15] = 0
//   for i in 0..dim-1:  acc[i % 16] += double(q[i]) * double(row[i])
//   for w in 8, 4, 2, 1:  acc[j] = acc[j] + acc[j + w]  for j < w
//   dot = acc[0]
//
// The product of two float32 values is exact in float64, so a fused multiply-add and a multiply
// then an add round the same way; each SIMD kernel keeps acc[j] in one lane and so realises this
// order exactly. The score of row r is
//
//   qnorm * double(norm[r]) == 0 ? 0 : dot / (qnorm * double(norm[r]))
//
// evaluated as written (the build passes -ffp-contract=off; nothing here uses -ffast-math).
//
// Top k: rows ranked by score descending, then row index ascending; only scores >= threshold
// (NaN scores never). The result holds the best k and, beyond them, every row whose score equals
// the k-th (the boundary ties), so a caller that breaks ties by something other than the row
// index can still pick its own top k.
//
// Everything here is pure computation on caller-owned memory, callable from any thread at once.
// Inputs are validated by the binding and the TypeScript twin; below them, what a function needs
// is stated beside it, and CosineTopK aborts (TAPIO_CHECK) on a dim, k or stride it cannot use.
#ifndef TAPIO_CORE_COSINE_H_
#define TAPIO_CORE_COSINE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tapio {
namespace cosine {

// The accumulators of the canonical dot product; the query is padded with zeros to a multiple
// of this many doubles.
constexpr size_t kLanes = 16;

// Writes the canonical dot of `q` with `count` rows into out[0..count). Row n is
// base + row_n * stride, where row_n = select[n] when select is not null, else first + n.
// `q` holds dim values followed by zeros up to a multiple of kLanes, so a kernel may read it in
// whole blocks; rows are read only within [0, dim) and may be unaligned.
using DotRowsFn = void (*)(const double* q, size_t dim, const float* base, size_t stride, const uint32_t* select,
                           size_t first, size_t count, double* out);

// A kernel and the name of its instruction set ("avx512", "avx2", "neon" or "scalar").
// Reads n bytes front to back and returns a checksum of them (see MemoryScan).
using MemoryScanFn = uint64_t (*)(const uint8_t* data, size_t n);

struct Kernel {
  const char* level;
  DotRowsFn dot_rows;
  // The sequential read of the same instruction set that benchmarks hold dot_rows against.
  MemoryScanFn memory_scan;
};

// The kernel of SimdLevel() (cpu_features.h), chosen once at the first call.
Kernel ActiveKernel();

// The kernel of `level` when this build has it and this CPU runs it (TAPIO_SIMD is not
// consulted), else a Kernel whose dot_rows is null. For tests and benchmarks.
Kernel KernelFor(const char* level);

// The rows to score: row r (< rows) is vectors[r * stride, r * stride + dim), its norm norms[r].
// With `select`, only rows select[0..select_count) are scored (row indices < rows, ascending);
// result rows are still indices into `vectors`.
struct RowSet {
  const float* vectors = nullptr;
  size_t stride = 0;  // floats from one row to the next, >= dim
  const float* norms = nullptr;
  size_t rows = 0;
  const uint32_t* select = nullptr;
  size_t select_count = 0;
};

// The result, best first: rows[i] scored scores[i]; at most k entries plus the boundary ties.
struct TopK {
  std::vector<uint32_t> rows;
  std::vector<double> scores;
};

// Scores `set` against `query` (dim >= 1 floats) and keeps the top k (k >= 1) with score >=
// threshold (which may be -infinity), replacing `out`. Uses `kernel`, or ActiveKernel() when
// null.
void CosineTopK(const float* query, size_t dim, double qnorm, const RowSet& set, double threshold, size_t k, TopK* out,
                DotRowsFn kernel = nullptr);

// sqrt of the canonical dot of `query` with itself (what callers pass as qnorm).
double QueryNorm(const float* query, size_t dim);

// Reads `n` bytes once, front to back, with the widest loads of ActiveKernel()'s instruction set,
// and returns a checksum of them (so the read cannot be optimised away): the memory-bandwidth
// ceiling the benchmarks set the kernels against. The checksum depends on the level.
uint64_t MemoryScan(const uint8_t* data, size_t n);

namespace internal {
// One file per instruction set; each is defined only where its CPU family exists.
void DotRowsF32Serial(const double* q, size_t dim, const float* base, size_t stride, const uint32_t* select,
                      size_t first, size_t count, double* out);
void DotRowsF32Avx2(const double* q, size_t dim, const float* base, size_t stride, const uint32_t* select, size_t first,
                    size_t count, double* out);
void DotRowsF32Avx512(const double* q, size_t dim, const float* base, size_t stride, const uint32_t* select,
                      size_t first, size_t count, double* out);
void DotRowsF32Neon(const double* q, size_t dim, const float* base, size_t stride, const uint32_t* select, size_t first,
                    size_t count, double* out);
uint64_t MemoryScanSerial(const uint8_t* data, size_t n);
uint64_t MemoryScanAvx2(const uint8_t* data, size_t n);
uint64_t MemoryScanAvx512(const uint8_t* data, size_t n);
}  // namespace internal

}  // namespace cosine
}  // namespace tapio

#endif  // TAPIO_CORE_COSINE_H_
