// The compaction merge kernel: a stable k-way merge by timestamp that stops when an input runs
// out, checked against a plain reference (concatenate, stable-sort by timestamp then input) on
// random inputs with many ties, and on the edges (no inputs, empty inputs, want = 0).
#include "core/merge_order.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <tuple>
#include <vector>

#include "test/harness.h"

namespace tapio {
namespace {

// The reference: every row of every input, sorted by (timestamp, input, offset), cut where the
// first input's last row is passed (from then on that input would need its next row group).
std::vector<uint32_t> Reference(const std::vector<std::vector<double>>& inputs, size_t want) {
  std::vector<std::tuple<double, uint32_t, uint32_t>> rows;
  for (uint32_t i = 0; i < inputs.size(); i++)
    for (uint32_t j = 0; j < inputs[i].size(); j++) rows.emplace_back(inputs[i][j], i, j);
  std::stable_sort(rows.begin(), rows.end());
  std::vector<uint32_t> out;
  std::vector<size_t> used(inputs.size(), 0);
  for (const auto& [t, i, j] : rows) {
    if (out.size() / 2 >= want) break;
    bool exhausted = false;
    for (size_t k = 0; k < inputs.size(); k++) exhausted = exhausted || used[k] == inputs[k].size();
    if (exhausted) break;
    out.push_back(i);
    out.push_back(j);
    used[i]++;
  }
  return out;
}

std::vector<uint32_t> Run(const std::vector<std::vector<double>>& inputs, size_t want) {
  std::vector<MergeInput> in;
  for (const auto& v : inputs) in.push_back({v.data(), v.size()});
  std::vector<uint32_t> out;
  const size_t taken = MergeOrder(in, want, &out);
  EXPECT_EQ(out.size() / 2, taken);
  return out;
}

TEST(MergeOrder, MatchesAStableSortOnRandomInputsWithTies) {
  std::mt19937 rng(42);
  for (int round = 0; round < 2000; round++) {
    const size_t k = 1 + rng() % 6;
    std::vector<std::vector<double>> inputs(k);
    for (auto& v : inputs) {
      v.resize(rng() % 40);
      for (auto& t : v) t = static_cast<double>(rng() % 30);  // few values: many ties
      std::sort(v.begin(), v.end());
    }
    const size_t want = rng() % 200;
    EXPECT_TRUE(Run(inputs, want) == Reference(inputs, want));
  }
}

TEST(MergeOrder, TiesGoToTheLowerInput) {
  const std::vector<std::vector<double>> inputs = {{1, 2, 2, 5}, {2, 2, 3, 9}};
  // 1 (0,0), 2 (0,1), 2 (0,2), 2 (1,0), 2 (1,1), 3 (1,2), 5 (0,3): input 0 is then used up.
  const std::vector<uint32_t> want = {0, 0, 0, 1, 0, 2, 1, 0, 1, 1, 1, 2, 0, 3};
  EXPECT_TRUE(Run(inputs, 100) == want);
}

TEST(MergeOrder, EdgesTakeNothing) {
  EXPECT_TRUE(Run({}, 10).empty());
  EXPECT_TRUE(Run({{}, {1, 2}}, 10).empty());
  EXPECT_TRUE(Run({{1, 2}, {3}}, 0).empty());
  const std::vector<uint32_t> one = {0, 0, 0, 1};
  EXPECT_TRUE(Run({{1, 2}}, 10) == one);
}

}  // namespace
}  // namespace tapio
