#include "core/merge_order.h"

#include <limits>

namespace tapio {

size_t MergeOrder(const std::vector<MergeInput>& inputs, size_t want, std::vector<uint32_t>* out) {
  const size_t k = inputs.size();
  std::vector<size_t> pos(k, 0);
  size_t taken = 0;
  while (taken < want) {
    // The input with the smallest head (the lowest such input on a tie); stop once one runs out.
    size_t best = k;
    double best_ts = 0;
    for (size_t i = 0; i < k; i++) {
      if (pos[i] >= inputs[i].length) return taken;
      const double t = inputs[i].ts[pos[i]];
      if (best == k || t < best_ts) {
        best = i;
        best_ts = t;
      }
    }
    if (best == k) return taken;  // no inputs
    // The smallest head among the others, and the lowest input holding it.
    double limit = std::numeric_limits<double>::infinity();
    size_t limit_input = k;
    for (size_t i = 0; i < k; i++) {
      if (i == best) continue;
      const double t = inputs[i].ts[pos[i]];
      if (t < limit) {
        limit = t;
        limit_input = i;
      }
    }
    // The run of `best` that stays at or below that head (a tie waits when the other input is lower).
    const MergeInput& in = inputs[best];
    while (taken < want && pos[best] < in.length) {
      const double t = in.ts[pos[best]];
      if (t > limit || (t == limit && limit_input < best)) break;
      out->push_back(static_cast<uint32_t>(best));
      out->push_back(static_cast<uint32_t>(pos[best]));
      pos[best]++;
      taken++;
    }
  }
  return taken;
}

}  // namespace tapio
