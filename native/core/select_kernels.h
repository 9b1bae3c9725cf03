// Column kernels that build selection vectors: ascending row numbers of a batch that pass one
// test. The query planner narrows a selection column by column with them (docs/QUERY.md, "How a
// query runs"). The TypeScript twin is src/query/select-kernels.ts; both return the same rows.
//
// Each kernel writes the rows it keeps to `out`, in ascending order, and returns how many it
// wrote. `out` is owned by the caller and must have room for every row the kernel may keep (the
// bound is stated beside each kernel); it may not overlap the inputs. Everything here is pure
// computation on caller-owned memory, callable from any thread at once. Inputs are not validated
// (the binding and the TypeScript facade do that); what a kernel needs is stated beside it.
#ifndef TAPIO_CORE_SELECT_KERNELS_H_
#define TAPIO_CORE_SELECT_KERNELS_H_

#include <cstddef>
#include <cstdint>

namespace tapio {
namespace select {

// The number of leading rows i < rows with from <= ts[i] < to. A NaN timestamp fails the test
// (every comparison with NaN is false); from and to may be infinite. When this returns `rows`,
// every row passes and callers skip the selection vector altogether.
size_t TimeRangePrefix(const double* ts, size_t rows, double from, double to);

// The rows i < rows with from <= ts[i] < to. `out` needs room for `rows` entries.
size_t SelectTimeRange(const double* ts, size_t rows, double from, double to, uint32_t* out);

// The rows r of `sel` (sel[0..count), ascending, each below the length of `codes`), or of
// 0..count-1 when sel is null, with lut[codes[r]] == want. `lut` has 256 entries, one per code.
// `out` needs room for `count` entries.
size_t SelectByCode(const uint8_t* codes, const uint8_t* lut, const uint32_t* sel, size_t count, uint8_t want,
                    uint32_t* out);

// The rows r of `sel` (as above), or of 0..count-1 when sel is null, with flags[r] == want.
// `out` needs room for `count` entries.
size_t SelectByMask(const uint8_t* flags, const uint32_t* sel, size_t count, uint8_t want, uint32_t* out);

}  // namespace select
}  // namespace tapio

#endif  // TAPIO_CORE_SELECT_KERNELS_H_
