// What the disk under a directory allows the WAL writer: one write followed by one fdatasync,
// repeated and timed, for each way a writer can put bytes on this file system. The writer's
// throughput at a given group size is bounded by this cycle, so the figures tell a user (and
// the transit benchmark) what a disk can give before any WAL software runs.
//
// A scratch file ".sync-probe-XXXXXX" in the directory is written and removed; nothing else in
// the directory is touched. Everything runs on the calling thread and blocks it.
#ifndef TAPIO_CORE_SYNC_PROBE_H_
#define TAPIO_CORE_SYNC_PROBE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/limits.h"
#include "core/status.h"

namespace tapio {
namespace wal {

enum class SyncProbeMode {
  kDirectPreallocated,    // O_DIRECT into fallocated (unwritten) extents: the native writer
  kDirectZeroFilled,      // O_DIRECT into extents filled with zeros beforehand (written extents)
  kBufferedPreallocated,  // through the page cache into fallocated extents
  kBufferedSparse,        // through the page cache into a file sized by ftruncate: the TypeScript writer
  kBufferedAppend,        // through the page cache, each write extending the file
};

// "direct-preallocated", "direct-zero-filled", "buffered-preallocated", "buffered-sparse",
// "buffered-append"; ParseSyncProbeMode returns false for any other name.
const char* SyncProbeModeName(SyncProbeMode mode);
bool ParseSyncProbeMode(const std::string& name, SyncProbeMode* mode);

// kMaxSyncProbeWrite, kMaxSyncProbeFile and kMaxSyncProbeCycles (core/limits.h) bound the
// options; each cycle's time is kept until the run ends (8 MiB at most).

struct SyncProbeOptions {
  std::string dir;
  SyncProbeMode mode = SyncProbeMode::kDirectPreallocated;
  // Bytes per write, 1..kMaxSyncProbeWrite; direct modes round it up to the alignment.
  size_t write_bytes = 216u << 10;
  // The scratch file's size; when the next write would pass it, the file is replaced by a new
  // one (outside the timing), as a writer rolls to a new segment. At least one write.
  uint64_t file_bytes = 64ull << 20;
  // Stops after this many cycles (0: kMaxSyncProbeCycles, also the most allowed) or once the
  // timed cycles add up to max_micros (0: no time limit), whichever comes first.
  uint64_t max_cycles = 0;
  uint64_t max_micros = 1000000;
};

struct SyncProbeResult {
  // Ok when the mode ran; else why it cannot run here (a direct mode on a file system that
  // refuses O_DIRECT: DirectIoProbe::refusal), and nothing below is set.
  Status not_run;
  std::vector<uint64_t> cycle_nanos;  // each write + fdatasync, in order
  size_t write_bytes = 0;             // bytes per write as written (rounded in direct modes)
  size_t alignment = 0;               // direct modes: the block size used; 0 otherwise
  uint64_t files = 0;                 // scratch files used (1 + replacements)
};

// kSyncProbeOption or kSyncProbeFile for options out of range (the facade checked them first);
// kIo naming the operation and the file for a failed system call. A direct mode where the file
// system refuses O_DIRECT is not an error: it sets not_run. The scratch file is removed in
// every case.
Status RunSyncProbe(const SyncProbeOptions& options, SyncProbeResult* out);

}  // namespace wal
}  // namespace tapio

#endif  // TAPIO_CORE_SYNC_PROBE_H_
