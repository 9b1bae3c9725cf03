// The selection kernels of select_kernels.h as plain loops. Each one writes every candidate row
// to out[n] and advances n by the test's outcome (0 or 1) instead of branching: a filter that
// keeps a random fraction of rows would otherwise mispredict on about that fraction of them.
// Writing a row that is then overwritten is safe because n never passes the candidate's index.
#include "core/select_kernels.h"

namespace tapio {
namespace select {

size_t TimeRangePrefix(const double* ts, size_t rows, double from, double to) {
  size_t i = 0;
  while (i < rows && ts[i] >= from && ts[i] < to) i++;
  return i;
}

size_t SelectTimeRange(const double* ts, size_t rows, double from, double to, uint32_t* out) {
  size_t n = 0;
  for (size_t i = 0; i < rows; i++) {
    out[n] = static_cast<uint32_t>(i);
    n += static_cast<size_t>(ts[i] >= from) & static_cast<size_t>(ts[i] < to);
  }
  return n;
}

size_t SelectByCode(const uint8_t* codes, const uint8_t* lut, const uint32_t* sel, size_t count, uint8_t want,
                    uint32_t* out) {
  size_t n = 0;
  if (sel == nullptr) {
    for (size_t i = 0; i < count; i++) {
      out[n] = static_cast<uint32_t>(i);
      n += static_cast<size_t>(lut[codes[i]] == want);
    }
    return n;
  }
  for (size_t j = 0; j < count; j++) {
    const uint32_t row = sel[j];
    out[n] = row;
    n += static_cast<size_t>(lut[codes[row]] == want);
  }
  return n;
}

size_t SelectByMask(const uint8_t* flags, const uint32_t* sel, size_t count, uint8_t want, uint32_t* out) {
  size_t n = 0;
  if (sel == nullptr) {
    for (size_t i = 0; i < count; i++) {
      out[n] = static_cast<uint32_t>(i);
      n += static_cast<size_t>(flags[i] == want);
    }
    return n;
  }
  for (size_t j = 0; j < count; j++) {
    const uint32_t row = sel[j];
    out[n] = row;
    n += static_cast<size_t>(flags[row] == want);
  }
  return n;
}

}  // namespace select
}  // namespace tapio
