// The merge kernel of correlation-store compaction (docs/FORMAT.md, "Compaction"): given the
// remaining timestamps of k inputs, each sorted ascending, the order in which a stable k-way
// merge takes their rows, as pairs (input, offset into that input's span). It stops when `want`
// rows are taken or when an input runs out, since that input's next row group (not passed) may
// hold smaller timestamps. Equal timestamps go to the lower input first. The TypeScript twin is
// src/correlations/merge-order.ts; both give the same pairs.
//
// Pure computation on caller-owned memory; any thread.
#ifndef TAPIO_CORE_MERGE_ORDER_H_
#define TAPIO_CORE_MERGE_ORDER_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tapio {

struct MergeInput {
  const double* ts;  // sorted ascending
  size_t length;
};

// Appends the pairs to `out` (2 values per row taken) and returns the rows taken.
size_t MergeOrder(const std::vector<MergeInput>& inputs, size_t want, std::vector<uint32_t>* out);

}  // namespace tapio

#endif  // TAPIO_CORE_MERGE_ORDER_H_
