// Kernel dispatch, the top-k heap and the memory-scan ceiling of cosine.h. The dot products
// come from one kernel per instruction set (cosine_serial.cc, cosine_avx2.cc, cosine_avx512.cc,
// cosine_neon.cc), chosen once from SimdLevel(); the scoring and ranking here are shared by all
// of them, so the kernels differ only in how fast they produce the same dot products.
#include "core/cosine.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "core/cpu_features.h"

namespace tapio {
namespace cosine {
namespace {

// Rows whose dot products are computed in one kernel call: enough to amortise the indirect
// call, small enough to stay in L1 beside the query.
constexpr size_t kBlockRows = 256;

struct Entry {
  double score;
  uint32_t row;
};

// True when `a` ranks before `b`: higher score, then lower row index.
inline bool RanksBefore(const Entry& a, const Entry& b) {
  return a.score > b.score || (a.score == b.score && a.row < b.row);
}

// The query as doubles, zero-padded to a whole number of kLanes blocks (converted once per call).
std::vector<double> PaddedQuery(const float* query, size_t dim) {
  std::vector<double> q((dim + kLanes - 1) / kLanes * kLanes, 0.0);
  for (size_t i = 0; i < dim; i++) q[i] = static_cast<double>(query[i]);
  return q;
}

// The best k entries seen so far (a heap whose front ranks last), and every other entry that
// scored exactly as the front did (the boundary ties).
class Ranking {
 public:
  Ranking(size_t k, double threshold) : k_(k), threshold_(threshold), bound_(threshold) {
    heap_.reserve(std::min<size_t>(k, 1 << 16));
  }

  void Offer(double score, uint32_t row) {
    if (!(score >= bound_)) return;  // also drops NaN
    const Entry e{score, row};
    if (heap_.size() < k_) {
      heap_.push_back(e);
      std::push_heap(heap_.begin(), heap_.end(), RanksBefore);
      if (heap_.size() == k_) bound_ = std::max(threshold_, heap_.front().score);
      return;
    }
    const Entry last = heap_.front();
    if (!RanksBefore(e, last)) {
      // score == last.score here (lower scores are below the bound): a boundary tie.
      ties_.push_back(e);
      return;
    }
    ReplaceFront(e);
    if (heap_.front().score == last.score) {
      ties_.push_back(last);  // the same score (e's, or another's), a higher row
    } else {
      ties_.clear();  // every tie scored last.score, now below the k-th
    }
    bound_ = std::max(threshold_, heap_.front().score);
  }

  // Puts `e` in place of the front (the entry that ranks last) and sifts it down: one pass
  // instead of a pop and a push, since with many rows entering (scores rising through the scan)
  // this runs for every row.
  void ReplaceFront(const Entry& e) {
    const size_t n = heap_.size();
    size_t i = 0;
    for (;;) {
      size_t c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && RanksBefore(heap_[c], heap_[c + 1])) c++;  // the child that ranks later
      if (!RanksBefore(e, heap_[c])) break;
      heap_[i] = heap_[c];
      i = c;
    }
    heap_[i] = e;
  }

  void Finish(TopK* out) {
    heap_.insert(heap_.end(), ties_.begin(), ties_.end());
    std::sort(heap_.begin(), heap_.end(), RanksBefore);
    out->rows.resize(heap_.size());
    out->scores.resize(heap_.size());
    for (size_t i = 0; i < heap_.size(); i++) {
      out->rows[i] = heap_[i].row;
      out->scores[i] = heap_[i].score;
    }
  }

 private:
  const size_t k_;
  const double threshold_;
  double bound_;
  std::vector<Entry> heap_;
  std::vector<Entry> ties_;
};

Kernel ChooseActive() {
  Kernel k = KernelFor(SimdLevel());
  if (k.dot_rows == nullptr) k = KernelFor("scalar");
  return k;
}

}  // namespace

Kernel KernelFor(const char* level) {
  const CpuFeatures& f = GetCpuFeatures();
  if (std::strcmp(level, "scalar") == 0) return {"scalar", internal::DotRowsF32Serial, internal::MemoryScanSerial};
#if defined(__x86_64__)
  if (std::strcmp(level, "avx2") == 0 && f.avx2) return {"avx2", internal::DotRowsF32Avx2, internal::MemoryScanAvx2};
  if (std::strcmp(level, "avx512") == 0 && f.avx512) {
    return {"avx512", internal::DotRowsF32Avx512, internal::MemoryScanAvx512};
  }
#endif
#if defined(__aarch64__)
  // Plain 64-bit loads already keep an aarch64 core's load ports busy.
  if (std::strcmp(level, "neon") == 0 && f.neon) return {"neon", internal::DotRowsF32Neon, internal::MemoryScanSerial};
#endif
  (void)f;
  return {level, nullptr, nullptr};
}

Kernel ActiveKernel() {
  static const Kernel kernel = ChooseActive();
  return kernel;
}

void CosineTopK(const float* query, size_t dim, double qnorm, const RowSet& set, double threshold, size_t k, TopK* out,
                DotRowsFn kernel) {
  TAPIO_CHECK(dim >= 1 && k >= 1 && set.stride >= dim, "CosineTopK: dim >= 1, k >= 1 and stride >= dim");
  if (kernel == nullptr) kernel = ActiveKernel().dot_rows;
  const std::vector<double> q = PaddedQuery(query, dim);
  const size_t count = set.select != nullptr ? set.select_count : set.rows;
  Ranking ranking(k, threshold);
  double dots[kBlockRows];
  for (size_t first = 0; first < count; first += kBlockRows) {
    const size_t n = std::min(kBlockRows, count - first);
    const uint32_t* select = set.select != nullptr ? set.select + first : nullptr;
    kernel(q.data(), dim, set.vectors, set.stride, select, first, n, dots);
    for (size_t i = 0; i < n; i++) {
      const uint32_t row = select != nullptr ? select[i] : static_cast<uint32_t>(first + i);
      const double qn = qnorm * static_cast<double>(set.norms[row]);
      // Clamped to [-1, 1]: the norms are float32, so a row's score against itself can come out
      // a rounding step above 1. NaN stays NaN (both comparisons are false) and is dropped.
      double score = qn == 0 ? 0.0 : dots[i] / qn;
      if (score > 1.0) score = 1.0;
      if (score < -1.0) score = -1.0;
      ranking.Offer(score, row);
    }
  }
  ranking.Finish(out);
}

double QueryNorm(const float* query, size_t dim) {
  const std::vector<double> q = PaddedQuery(query, dim);
  double dot = 0;
  internal::DotRowsF32Serial(q.data(), dim, query, dim, nullptr, 0, 1, &dot);
  return std::sqrt(dot);
}

uint64_t MemoryScan(const uint8_t* data, size_t n) { return ActiveKernel().memory_scan(data, n); }

}  // namespace cosine
}  // namespace tapio
