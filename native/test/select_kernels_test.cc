// The selection kernels of core/select_kernels.h: empty inputs, every row and no row kept, a
// given selection against none, infinite bounds, NaN timestamps (never kept), the table's first
// and last codes (0 and 255), and random inputs against a reference written with branches.
#include "core/select_kernels.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "test/harness.h"

namespace tapio {
namespace select {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

using Rows = std::vector<uint32_t>;

Rows TimeRange(const std::vector<double>& ts, double from, double to) {
  Rows out(ts.size() + 1);
  out.resize(SelectTimeRange(ts.data(), ts.size(), from, to, out.data()));
  return out;
}

Rows ByCode(const std::vector<uint8_t>& codes, const std::vector<uint8_t>& lut, const Rows* sel, uint8_t want) {
  const size_t count = sel != nullptr ? sel->size() : codes.size();
  Rows out(count + 1);
  out.resize(SelectByCode(codes.data(), lut.data(), sel != nullptr ? sel->data() : nullptr, count, want, out.data()));
  return out;
}

Rows ByMask(const std::vector<uint8_t>& flags, const Rows* sel, uint8_t want) {
  const size_t count = sel != nullptr ? sel->size() : flags.size();
  Rows out(count + 1);
  out.resize(SelectByMask(flags.data(), sel != nullptr ? sel->data() : nullptr, count, want, out.data()));
  return out;
}

std::string Show(const Rows& rows) {
  std::string s = "[";
  for (size_t i = 0; i < rows.size(); i++) s += (i > 0 ? "," : "") + std::to_string(rows[i]);
  return s + "]";
}

#define EXPECT_ROWS(got, ...) EXPECT_EQ(Show(got), Show(Rows(__VA_ARGS__)))

TEST(SelectTimeRange, EmptyInputKeepsNothingAndCountsAsAllPassing) {
  EXPECT_EQ(TimeRangePrefix(nullptr, 0, 0, 1), size_t{0});
  EXPECT_EQ(SelectTimeRange(nullptr, 0, 0, 1, nullptr), size_t{0});
}

TEST(SelectTimeRange, HalfOpenBounds) {
  const std::vector<double> ts = {9, 10, 11, 19, 20, 21};
  EXPECT_ROWS(TimeRange(ts, 10, 20), {1, 2, 3});
  EXPECT_EQ(TimeRangePrefix(ts.data(), ts.size(), 10, 20), size_t{0});
  EXPECT_ROWS(TimeRange(ts, 20, 10), {});
  EXPECT_ROWS(TimeRange(ts, 10, 10), {});
}

TEST(SelectTimeRange, EveryRowAndNoRow) {
  const std::vector<double> ts = {1, 2, 3, 4};
  EXPECT_EQ(TimeRangePrefix(ts.data(), ts.size(), 1, 5), ts.size());
  EXPECT_ROWS(TimeRange(ts, 1, 5), {0, 1, 2, 3});
  EXPECT_EQ(TimeRangePrefix(ts.data(), ts.size(), 5, 6), size_t{0});
  EXPECT_ROWS(TimeRange(ts, 5, 6), {});
}

TEST(SelectTimeRange, InfiniteBounds) {
  const std::vector<double> ts = {-kInf, -1e308, 0, 1e308, kInf};
  EXPECT_ROWS(TimeRange(ts, -kInf, kInf), {0, 1, 2, 3});  // to is exclusive: +inf itself fails
  EXPECT_EQ(TimeRangePrefix(ts.data(), ts.size(), -kInf, kInf), size_t{4});
  EXPECT_ROWS(TimeRange(ts, 0, kInf), {2, 3});
  EXPECT_ROWS(TimeRange(ts, -kInf, 0), {0, 1});
  EXPECT_ROWS(TimeRange(ts, kInf, kInf), {});
}

TEST(SelectTimeRange, NaNTimestampsAreNeverKept) {
  const std::vector<double> ts = {kNaN, 1, kNaN, 2};
  EXPECT_ROWS(TimeRange(ts, -kInf, kInf), {1, 3});
  EXPECT_EQ(TimeRangePrefix(ts.data(), ts.size(), -kInf, kInf), size_t{0});
  const std::vector<double> all_nan = {kNaN, kNaN};
  EXPECT_ROWS(TimeRange(all_nan, -kInf, kInf), {});
}

TEST(SelectTimeRange, RowsBelowTheArrayLengthOnly) {
  const std::vector<double> ts = {1, 2, 3, 4};
  Rows out(4);
  EXPECT_EQ(SelectTimeRange(ts.data(), 2, 0, 10, out.data()), size_t{2});
  EXPECT_EQ(TimeRangePrefix(ts.data(), 2, 0, 10), size_t{2});
}

TEST(SelectByCode, EmptyCodesAndEmptySelection) {
  std::vector<uint8_t> lut(256, 1);
  EXPECT_ROWS(ByCode({}, lut, nullptr, 1), {});
  const Rows none;
  EXPECT_ROWS(ByCode({1, 2, 3}, lut, &none, 1), {});
}

TEST(SelectByCode, CodesZeroAnd255) {
  std::vector<uint8_t> lut(256, 0);
  lut[0] = 1;
  lut[255] = 1;
  const std::vector<uint8_t> codes = {0, 1, 254, 255, 128, 0};
  EXPECT_ROWS(ByCode(codes, lut, nullptr, 1), {0, 3, 5});
  EXPECT_ROWS(ByCode(codes, lut, nullptr, 0), {1, 2, 4});
  const Rows sel = {1, 3, 4, 5};
  EXPECT_ROWS(ByCode(codes, lut, &sel, 1), {3, 5});
  EXPECT_ROWS(ByCode(codes, lut, &sel, 0), {1, 4});
}

TEST(SelectByCode, EveryRowAndNoRow) {
  const std::vector<uint8_t> codes = {3, 7, 3, 7};
  EXPECT_ROWS(ByCode(codes, std::vector<uint8_t>(256, 1), nullptr, 1), {0, 1, 2, 3});
  EXPECT_ROWS(ByCode(codes, std::vector<uint8_t>(256, 0), nullptr, 1), {});
  const Rows sel = {0, 2};
  EXPECT_ROWS(ByCode(codes, std::vector<uint8_t>(256, 0), &sel, 0), {0, 2});
}

TEST(SelectByMask, NullAndGivenSelection) {
  const std::vector<uint8_t> flags = {1, 0, 1, 1, 0};
  EXPECT_ROWS(ByMask(flags, nullptr, 1), {0, 2, 3});
  EXPECT_ROWS(ByMask(flags, nullptr, 0), {1, 4});
  const Rows sel = {0, 1, 4};
  EXPECT_ROWS(ByMask(flags, &sel, 1), {0});
  EXPECT_ROWS(ByMask(flags, &sel, 0), {1, 4});
  EXPECT_ROWS(ByMask({}, nullptr, 1), {});
  const Rows none;
  EXPECT_ROWS(ByMask(flags, &none, 0), {});
}

TEST(SelectByMask, AFlagOtherThanZeroOrOneMatchesNeither) {
  const std::vector<uint8_t> flags = {2, 1, 0};
  EXPECT_ROWS(ByMask(flags, nullptr, 1), {1});
  EXPECT_ROWS(ByMask(flags, nullptr, 0), {2});
}

TEST(SelectKernels, RandomInputsMatchABranchingReference) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 200; round++) {
    const size_t rows = rng() % 300;
    std::vector<double> ts(rows);
    std::vector<uint8_t> codes(rows), flags(rows), lut(256);
    for (size_t i = 0; i < rows; i++) {
      ts[i] = rng() % 13 == 0 ? kNaN : static_cast<double>(rng() % 100);
      codes[i] = static_cast<uint8_t>(rng());
      flags[i] = static_cast<uint8_t>(rng() % 2);
    }
    for (auto& v : lut) v = static_cast<uint8_t>(rng() % 2);
    Rows sel;
    for (uint32_t i = 0; i < rows; i++)
      if (rng() % 3 != 0) sel.push_back(i);
    const double from = static_cast<double>(rng() % 100), to = static_cast<double>(rng() % 100);
    const uint8_t want = static_cast<uint8_t>(rng() % 2);

    Rows want_time, want_code, want_mask;
    for (uint32_t i = 0; i < rows; i++)
      if (ts[i] >= from && ts[i] < to) want_time.push_back(i);
    for (uint32_t r : sel) {
      if (lut[codes[r]] == want) want_code.push_back(r);
      if (flags[r] == want) want_mask.push_back(r);
    }
    EXPECT_EQ(Show(TimeRange(ts, from, to)), Show(want_time)) << "round " << round;
    EXPECT_EQ(Show(ByCode(codes, lut, &sel, want)), Show(want_code)) << "round " << round;
    EXPECT_EQ(Show(ByMask(flags, &sel, want)), Show(want_mask)) << "round " << round;
  }
}

}  // namespace
}  // namespace select
}  // namespace tapio
