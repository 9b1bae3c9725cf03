// libFuzzer target: the dispatched CRC32C (the CPU kernel where there is one) must equal the
// portable tables for every suffix of the input, from any starting CRC, and splitting the input
// anywhere must not change the result. libFuzzer hands over a heap copy of exactly `size` bytes,
// so a kernel that reads past the end trips AddressSanitizer.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/crc32c.h"

namespace {

// Beyond this many offsets the cost per input grows quadratically for little gain: the first
// offsets cover every alignment and every short head, the last ones every short tail.
constexpr size_t kAllOffsetsUpTo = 4096;
constexpr size_t kEdgeOffsets = 64;

[[noreturn]] void Mismatch(const char* what, size_t size, size_t offset, uint32_t got, uint32_t want) {
  std::fprintf(stderr, "crc32c mismatch (%s): input size %zu, offset %zu: got 0x%08x, want 0x%08x\n", what, size,
               offset, static_cast<unsigned>(got), static_cast<unsigned>(want));
  std::abort();
}

void CheckOffset(const uint8_t* data, size_t size, size_t offset, uint32_t initial, uint32_t whole) {
  using tapio::crc32c::Extend;
  using tapio::crc32c::ExtendPortable;
  const uint8_t* p = data + offset;
  const size_t n = size - offset;
  const uint32_t got = Extend(initial, p, n);
  const uint32_t want = ExtendPortable(initial, p, n);
  if (got != want) Mismatch("suffix", size, offset, got, want);
  const uint32_t joined = Extend(Extend(initial, data, offset), p, n);
  if (joined != whole) Mismatch("split", size, offset, joined, whole);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The starting CRC comes from the input too, so the fuzzer can reach any register state.
  uint32_t initial = 0;
  if (size >= 4) std::memcpy(&initial, data, sizeof initial);
  const uint32_t whole = tapio::crc32c::ExtendPortable(initial, data, size);
  if (size <= kAllOffsetsUpTo) {
    for (size_t offset = 0; offset <= size; offset++) CheckOffset(data, size, offset, initial, whole);
  } else {
    for (size_t offset = 0; offset < kEdgeOffsets; offset++) {
      CheckOffset(data, size, offset, initial, whole);
      CheckOffset(data, size, size - offset, initial, whole);
    }
  }
  return 0;
}
