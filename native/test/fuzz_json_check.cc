// libFuzzer target: the NDJSON check of core/json_check.h against the reference of
// json_reference.h. The whole input is checked as one JSON text, then as a body whose line and
// count limits come from its first two bytes; every output must be the reference's, and the line
// ranges must lie in the body. libFuzzer hands over a heap copy of exactly `size` bytes, so a check
// that reads past the end trips AddressSanitizer.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "core/json_check.h"
#include "test/json_reference.h"

namespace {

using tapio::json_check::Fault;
using tapio::json_check::NdjsonResult;

[[noreturn]] void Mismatch(const char* what, size_t size, size_t got, size_t want) {
  std::fprintf(stderr, "json check mismatch (%s): input size %zu: got %zu, want %zu\n", what, size, got, want);
  std::abort();
}

void Same(const char* what, size_t size, size_t got, size_t want) {
  if (got != want) Mismatch(what, size, got, want);
}

// Faults as the reference tells them apart: none, the end, or any other.
size_t Kind(Fault f) { return f == Fault::kNone ? 0 : f == Fault::kUnexpectedEnd ? 1 : 2; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace ref = tapio::json_check::reference;
  const std::string text(reinterpret_cast<const char*>(data), size);

  const tapio::json_check::TextResult got = tapio::json_check::CheckJsonText(data, size);
  const tapio::json_check::TextResult want = ref::ExpectedText(text);
  Same("text fault", size, Kind(got.fault), Kind(want.fault));
  Same("text offset", size, got.offset, want.offset);
  Same("text object", size, got.is_object, want.is_object);

  // Limits from the first two bytes: 0 means none, so most bodies run whole.
  const size_t max_line = size > 0 && data[0] != 0 ? data[0] : size_t{1} << 30;
  const size_t max_lines = size > 1 && data[1] % 16 != 0 ? data[1] % 16 : size_t{1} << 30;
  std::vector<uint32_t> ranges(2 * tapio::json_check::NdjsonLineBound(size, max_lines));
  const NdjsonResult r = tapio::json_check::CheckNdjson(data, size, max_line, max_lines, ranges.data());
  std::vector<std::pair<uint32_t, uint32_t>> want_ranges;
  const NdjsonResult w = ref::ExpectedBody(text, max_line, max_lines, &want_ranges);
  Same("outcome", size, static_cast<size_t>(r.outcome), static_cast<size_t>(w.outcome));
  Same("fault", size, Kind(r.fault), Kind(w.fault));
  Same("count", size, r.count, w.count);
  Same("line", size, r.line, w.line);
  Same("offset", size, r.offset, w.offset);
  Same("length", size, r.length, w.length);
  Same("line start", size, r.line_start, w.line_start);
  for (size_t k = 0; k < r.count; k++) {
    Same("range start", size, ranges[2 * k], want_ranges[k].first);
    Same("range end", size, ranges[2 * k + 1], want_ranges[k].second);
    if (!(ranges[2 * k] < ranges[2 * k + 1] && ranges[2 * k + 1] <= size)) Mismatch("range in the body", size, k, 0);
  }
  return 0;
}
