// The cosine kernels of core/cosine.h: every kernel this CPU runs gives the same bits as the
// serial one (and the serial one the canonical order, written out again here), on random inputs
// of awkward dimensions and at unaligned addresses; the dot products are close to a long double
// reference; the top k with its boundary ties, threshold, k > rows and gather match a brute-force
// ranking. ctest runs this binary again under TAPIO_SIMD=scalar and avx2 (CMakeLists.txt), where
// ActiveKernel must follow the cap.
#include "core/cosine.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/cpu_features.h"
#include "test/harness.h"

namespace tapio {
namespace cosine {
namespace {

const size_t kDims[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 255, 256, 257, 300};

std::vector<Kernel> AvailableKernels() {
  std::vector<Kernel> out;
  for (const char* level : {"scalar", "avx2", "avx512", "neon"}) {
    Kernel k = KernelFor(level);
    if (k.dot_rows != nullptr) out.push_back(k);
  }
  return out;
}

uint64_t Bits(double d) {
  uint64_t b;
  std::memcpy(&b, &d, sizeof b);
  return b;
}

// Values spread over several binades, with some exact zeros and negative values.
void Fill(std::mt19937_64& rng, float* p, size_t n) {
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::uniform_int_distribution<int> exp(-8, 8);
  for (size_t i = 0; i < n; i++) p[i] = rng() % 17 == 0 ? 0.0f : std::ldexp(unit(rng), exp(rng));
}

// The canonical dot product of cosine.h, as its comment states it.
double Canonical(const float* q, const float* row, size_t dim) {
  double acc[16] = {};
  for (size_t i = 0; i < dim; i++) acc[i % 16] += static_cast<double>(q[i]) * static_cast<double>(row[i]);
  for (size_t w : {8, 4, 2, 1})
    for (size_t j = 0; j < w; j++) acc[j] = acc[j] + acc[j + w];
  return acc[0];
}

std::vector<double> Padded(const float* q, size_t dim) {
  std::vector<double> out((dim + 15) / 16 * 16, 0.0);
  for (size_t i = 0; i < dim; i++) out[i] = q[i];
  return out;
}

TEST(CosineKernels, SerialIsTheCanonicalOrderAndCloseToALongDoubleReference) {
  std::mt19937_64 rng(1);
  for (size_t dim : kDims) {
    std::vector<float> q(dim), row(dim);
    for (int round = 0; round < 50; round++) {
      Fill(rng, q.data(), dim);
      Fill(rng, row.data(), dim);
      std::vector<double> qd = Padded(q.data(), dim);
      double got = 0;
      internal::DotRowsF32Serial(qd.data(), dim, row.data(), dim, nullptr, 0, 1, &got);
      EXPECT_EQ(Bits(Canonical(q.data(), row.data(), dim)), Bits(got)) << "dim " << dim;
      long double ref = 0, magnitude = 0;
      for (size_t i = 0; i < dim; i++) {
        ref += static_cast<long double>(q[i]) * row[i];
        magnitude += std::fabs(static_cast<long double>(q[i]) * row[i]);
      }
      EXPECT_TRUE(std::fabs(static_cast<long double>(got) - ref) <= 1e-14L * magnitude)
          << "dim " << dim << ": " << got << " against " << static_cast<double>(ref);
    }
  }
}

TEST(CosineKernels, EveryKernelGivesTheSerialBitsAtEveryDimAndAlignment) {
  std::vector<Kernel> kernels = AvailableKernels();
  std::printf("  kernels here:");
  for (const Kernel& k : kernels) std::printf(" %s", k.level);
  std::printf("\n");
#if defined(__x86_64__)
  if (GetCpuFeatures().avx512) EXPECT_EQ(3u, kernels.size());
#elif defined(__aarch64__)
  EXPECT_EQ(2u, kernels.size()) << "scalar and neon";
#endif
  std::mt19937_64 rng(2);
  for (size_t dim : kDims) {
    for (size_t offset = 0; offset < 4; offset++) {
      const size_t rows = 37;
      const size_t stride = dim + rng() % 5;
      // The last row ends at the end of the allocation, so an overread shows under ASan.
      std::vector<float> storage(offset + (rows - 1) * stride + dim);
      float* base = storage.data() + offset;
      Fill(rng, storage.data(), storage.size());
      std::vector<float> q(dim + 1);
      Fill(rng, q.data(), q.size());
      std::vector<double> qd = Padded(q.data() + 1, dim);  // from an unaligned float
      std::vector<double> want(rows), got(rows);
      internal::DotRowsF32Serial(qd.data(), dim, base, stride, nullptr, 0, rows, want.data());
      for (size_t r = 0; r < rows; r++) EXPECT_EQ(Bits(Canonical(q.data() + 1, base + r * stride, dim)), Bits(want[r]));
      for (const Kernel& k : kernels) {
        std::fill(got.begin(), got.end(), -1.0);
        k.dot_rows(qd.data(), dim, base, stride, nullptr, 0, rows, got.data());
        for (size_t r = 0; r < rows; r++)
          EXPECT_EQ(Bits(want[r]), Bits(got[r])) << k.level << " dim " << dim << " offset " << offset << " row " << r;
        // A window of rows, and a gather.
        k.dot_rows(qd.data(), dim, base, stride, nullptr, 5, 3, got.data());
        for (size_t r = 0; r < 3; r++) EXPECT_EQ(Bits(want[5 + r]), Bits(got[r])) << k.level;
        const uint32_t select[] = {0, 2, 36};
        k.dot_rows(qd.data(), dim, base, stride, select, 0, 3, got.data());
        for (size_t r = 0; r < 3; r++) EXPECT_EQ(Bits(want[select[r]]), Bits(got[r])) << k.level;
      }
    }
  }
}

TEST(CosineKernels, ExtremeValuesStayBitIdentical) {
  // Products near the float range's ends, subnormal-sized terms, and cancellation.
  const float big = 3.0e38f, tiny = 1.0e-38f;
  for (size_t dim : {5u, 16u, 19u, 40u}) {
    std::vector<float> q(dim), row(dim);
    for (size_t i = 0; i < dim; i++) {
      q[i] = (i % 3 == 0) ? big : (i % 3 == 1) ? -tiny : 1.0f;
      row[i] = (i % 2 == 0) ? big : -big;
    }
    std::vector<double> qd = Padded(q.data(), dim);
    double want = 0;
    internal::DotRowsF32Serial(qd.data(), dim, row.data(), dim, nullptr, 0, 1, &want);
    EXPECT_EQ(Bits(Canonical(q.data(), row.data(), dim)), Bits(want));
    for (const Kernel& k : AvailableKernels()) {
      double got = 0;
      k.dot_rows(qd.data(), dim, row.data(), dim, nullptr, 0, 1, &got);
      EXPECT_EQ(Bits(want), Bits(got)) << k.level << " dim " << dim;
    }
  }
}

TEST(CosineKernels, ActiveKernelFollowsSimdLevel) {
  EXPECT_STREQ(SimdLevel(), ActiveKernel().level);
  EXPECT_TRUE(ActiveKernel().dot_rows != nullptr);
  EXPECT_TRUE(KernelFor("no-such-level").dot_rows == nullptr);
}

// A store of `rows` random vectors (some repeated, some zero) with their float32 norms.
struct Store {
  size_t dim, stride, rows;
  std::vector<float> vectors, norms;
};

Store MakeStore(std::mt19937_64& rng, size_t dim, size_t stride, size_t rows) {
  Store s{dim, stride, rows, std::vector<float>(rows * stride), std::vector<float>(rows)};
  Fill(rng, s.vectors.data(), s.vectors.size());
  for (size_t r = 0; r < rows; r++) {
    float* v = s.vectors.data() + r * stride;
    if (r > 0 && rng() % 4 == 0) std::memcpy(v, s.vectors.data() + (rng() % r) * stride, dim * sizeof(float));
    if (rng() % 23 == 0) std::fill(v, v + dim, 0.0f);
    s.norms[r] = static_cast<float>(QueryNorm(v, dim));
  }
  return s;
}

// The top k by brute force: every score by the canonical formula, sorted, cut after the k-th
// and its ties.
TopK Reference(const std::vector<float>& q, double qnorm, const Store& s, const std::vector<uint32_t>* select,
               double threshold, size_t k) {
  std::vector<std::pair<double, uint32_t>> all;
  const size_t count = select ? select->size() : s.rows;
  for (size_t n = 0; n < count; n++) {
    const uint32_t r = select ? (*select)[n] : static_cast<uint32_t>(n);
    const double qn = qnorm * static_cast<double>(s.norms[r]);
    const double raw = qn == 0 ? 0.0 : Canonical(q.data(), s.vectors.data() + r * s.stride, s.dim) / qn;
    const double score = raw > 1.0 ? 1.0 : raw < -1.0 ? -1.0 : raw;  // the clamp of docs/SIMILARITY.md
    if (score >= threshold) all.emplace_back(score, r);
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  });
  size_t keep = std::min(k, all.size());
  while (keep > 0 && keep < all.size() && all[keep].first == all[keep - 1].first) keep++;
  TopK out;
  for (size_t i = 0; i < keep; i++) {
    out.rows.push_back(all[i].second);
    out.scores.push_back(all[i].first);
  }
  return out;
}

void ExpectSame(const TopK& want, const TopK& got, const char* level) {
  ASSERT_EQ(want.rows.size(), got.rows.size()) << level;
  for (size_t i = 0; i < want.rows.size(); i++) {
    EXPECT_EQ(want.rows[i], got.rows[i]) << level << " at " << i;
    EXPECT_EQ(Bits(want.scores[i]), Bits(got.scores[i])) << level << " at " << i;
  }
}

TEST(CosineTopK, MatchesABruteForceRankingOnRandomStores) {
  std::mt19937_64 rng(3);
  for (int round = 0; round < 120; round++) {
    const size_t dim = kDims[rng() % (sizeof kDims / sizeof kDims[0])];
    const size_t stride = dim + (rng() % 3 == 0 ? rng() % 9 : 0);
    const size_t rows = 1 + rng() % 700;
    Store s = MakeStore(rng, dim, stride, rows);
    std::vector<float> q(dim);
    if (rng() % 3 == 0) {
      std::memcpy(q.data(), s.vectors.data() + (rng() % rows) * stride, dim * sizeof(float));  // many ties
    } else {
      Fill(rng, q.data(), dim);
    }
    const double qnorm = rng() % 29 == 0 ? 0.0 : QueryNorm(q.data(), dim);
    const size_t k = 1 + rng() % (rows + 20);  // sometimes k > rows
    const double threshold = rng() % 2 ? -std::numeric_limits<double>::infinity() : (rng() % 200) / 100.0 - 1.0;
    std::vector<uint32_t> select;
    for (uint32_t r = 0; r < rows; r++)
      if (rng() % 3 == 0) select.push_back(r);
    for (const Kernel& kernel : AvailableKernels()) {
      RowSet set{s.vectors.data(), stride, s.norms.data(), rows, nullptr, 0};
      TopK got;
      CosineTopK(q.data(), dim, qnorm, set, threshold, k, &got, kernel.dot_rows);
      ExpectSame(Reference(q, qnorm, s, nullptr, threshold, k), got, kernel.level);
      set.select = select.data();
      set.select_count = select.size();
      CosineTopK(q.data(), dim, qnorm, set, threshold, k, &got, kernel.dot_rows);
      ExpectSame(Reference(q, qnorm, s, &select, threshold, k), got, kernel.level);
    }
  }
}

TEST(CosineTopK, KeepsEveryTieOfTheKthScore) {
  // Rows 0..9: three distinct vectors, then seven copies of one vector; k = 5 cuts inside the
  // copies, so all seven are returned (best three, then the seven by row).
  const size_t dim = 4;
  std::vector<float> v = {1, 0, 0, 0, 0.9f, 0.1f, 0, 0, 0.8f, 0.2f, 0, 0};
  for (int i = 0; i < 7; i++) v.insert(v.end(), {0.5f, 0.5f, 0.5f, 0});
  std::vector<float> norms(10);
  for (size_t r = 0; r < 10; r++) norms[r] = static_cast<float>(QueryNorm(v.data() + r * dim, dim));
  const std::vector<float> q = {1, 0, 0, 0};
  RowSet set{v.data(), dim, norms.data(), 10, nullptr, 0};
  TopK got;
  CosineTopK(q.data(), dim, 1.0, set, -INFINITY, 5, &got);
  ASSERT_EQ(10u, got.rows.size());
  for (uint32_t i = 0; i < 10; i++) EXPECT_EQ(i, got.rows[i]);
  EXPECT_EQ(1.0, got.scores[0]);
  CosineTopK(q.data(), dim, 1.0, set, -INFINITY, 3, &got);
  EXPECT_EQ(3u, got.rows.size()) << "the k-th is not tied: no extra rows";
  // The same with the copies first in a gather, so the heap fills with them before the better rows.
  const uint32_t select[] = {3, 4, 5, 6, 7, 8, 9};
  set.select = select;
  set.select_count = 7;
  CosineTopK(q.data(), dim, 1.0, set, -INFINITY, 2, &got);
  ASSERT_EQ(7u, got.rows.size());
  for (uint32_t i = 0; i < 7; i++) EXPECT_EQ(3 + i, got.rows[i]);
}

TEST(CosineTopK, ThresholdZeroVectorsAndEmptySets) {
  const size_t dim = 3;
  std::vector<float> v = {1, 0, 0, 0, 0, 0, -1, 0, 0, 0, 1, 0};
  std::vector<float> norms = {1, 0, 1, 1};
  const std::vector<float> q = {1, 0, 0};
  RowSet set{v.data(), dim, norms.data(), 4, nullptr, 0};
  TopK got;
  CosineTopK(q.data(), dim, 1.0, set, 0.0, 10, &got);
  ASSERT_EQ(3u, got.rows.size()) << "scores 1, 0 (zero vector) and 0 pass a threshold of 0; -1 does not";
  EXPECT_EQ(0u, got.rows[0]);
  EXPECT_EQ(1u, got.rows[1]);
  EXPECT_EQ(3u, got.rows[2]);
  EXPECT_EQ(0.0, got.scores[1]);
  CosineTopK(q.data(), dim, 0.0, set, -INFINITY, 2, &got);
  ASSERT_EQ(4u, got.rows.size()) << "a zero query scores every row 0: all tie";
  CosineTopK(q.data(), dim, 1.0, set, 1.5, 2, &got);
  EXPECT_EQ(0u, got.rows.size());
  set.rows = 0;
  CosineTopK(q.data(), dim, 1.0, set, -INFINITY, 2, &got);
  EXPECT_EQ(0u, got.rows.size());
  set.rows = 4;
  const uint32_t none[1] = {0};
  set.select = none;
  set.select_count = 0;
  CosineTopK(q.data(), dim, 1.0, set, -INFINITY, 2, &got);
  EXPECT_EQ(0u, got.rows.size()) << "an empty gather scores nothing";
}

TEST(CosineTopK, QueryNormIsTheCanonicalSelfDot) {
  std::mt19937_64 rng(4);
  for (size_t dim : kDims) {
    std::vector<float> q(dim);
    Fill(rng, q.data(), dim);
    EXPECT_EQ(Bits(std::sqrt(Canonical(q.data(), q.data(), dim))), Bits(QueryNorm(q.data(), dim)));
  }
}

TEST(MemoryScan, EveryKernelsScanDependsOnEveryByte) {
  std::mt19937_64 rng(5);
  for (const Kernel& k : AvailableKernels()) {
    for (size_t n : {0u, 1u, 31u, 32u, 33u, 255u, 256u, 257u, 1000u, 4096u}) {
      std::vector<uint8_t> bytes(n + 1);
      for (auto& b : bytes) b = static_cast<uint8_t>(rng());
      const uint64_t a = k.memory_scan(bytes.data() + 1, n);
      EXPECT_EQ(a, k.memory_scan(bytes.data() + 1, n));
      for (int flip = 0; flip < 8 && n > 0; flip++) {
        const size_t at = 1 + rng() % n;
        const uint8_t bit = static_cast<uint8_t>(1u << (rng() % 8));
        bytes[at] ^= bit;
        EXPECT_NE(a, k.memory_scan(bytes.data() + 1, n)) << k.level << " n " << n << " byte " << at;
        bytes[at] ^= bit;
      }
    }
  }
  EXPECT_EQ(ActiveKernel().memory_scan(nullptr, 0), MemoryScan(nullptr, 0));
}

}  // namespace
}  // namespace cosine
}  // namespace tapio
