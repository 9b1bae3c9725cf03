// The limits both paths enforce, other than those of the on-disk format (wal_format.h). This
// header and src/transit/limits.ts are the two sources of truth for them; a test parses this
// file and fails on a value that differs, or on a constant either side lacks. The facade
// validates against them (with messages naming the option); the core only asserts them.
#ifndef TAPIO_CORE_LIMITS_H_
#define TAPIO_CORE_LIMITS_H_

#include <cstdint>

namespace tapio {

// Ring buffer capacity: a power of two in [kMinRingCapacity, kMaxRingCapacity]. The maximum is
// what the TypeScript ring can index (it keeps its capacity and masks positions in 32-bit
// integers), and what the configuration accepts (transit.ring_capacity up to 1 GiB).
constexpr uint64_t kMinRingCapacity = 4096;
constexpr uint64_t kMaxRingCapacity = 1u << 30;
// Bytes of a ring entry's header (ring_buffer.h describes the layout).
constexpr uint64_t kRingEntryHeaderSize = 24;

// Record bytes one group (one write and one fdatasync) may hold: one block at least.
constexpr uint64_t kMinGroupBytes = 4096;
constexpr uint64_t kMaxGroupBytes = 1u << 30;
constexpr uint64_t kDefaultMaxGroupBytes = 4u << 20;

// The largest direct I/O alignment used; a file system that asks for more gets buffered writes.
constexpr uint64_t kMaxDirectIoAlignment = 64u << 10;
// An alignment direct reads and writes take: a power of two from 512 to kMaxDirectIoAlignment.
constexpr bool ValidDirectIoAlignment(uint64_t a) {
  return a >= 512 && a <= kMaxDirectIoAlignment && (a & (a - 1)) == 0;
}

// The sync probe (sync_probe.h): bytes per write, bytes per scratch file, cycles per mode.
constexpr uint64_t kMaxSyncProbeWrite = 64u << 20;
constexpr uint64_t kMaxSyncProbeFile = 1u << 30;
constexpr uint64_t kMaxSyncProbeCycles = 1000000;

}  // namespace tapio

#endif  // TAPIO_CORE_LIMITS_H_
