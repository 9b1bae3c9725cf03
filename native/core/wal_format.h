// Constants of the on-disk format of the transit write-ahead log, the twin of
// src/transit/format.ts (a test proves the two agree). docs/FORMAT.md is the one description of
// the format: the files of a WAL directory, the segment header, records, the sparse index files,
// recovery and salvage. All integers are little-endian.
#ifndef TAPIO_CORE_WAL_FORMAT_H_
#define TAPIO_CORE_WAL_FORMAT_H_

#include <cstddef>
#include <cstdint>

namespace tapio {
namespace wal {

constexpr char kMagic[8] = {'T', 'A', 'P', 'I', 'O', 'W', 'A', 'L'};
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kSegmentHeaderSize = 4096;
constexpr uint32_t kSegmentHeaderUsed = 64;
constexpr size_t kRecordHeaderSize = 16;
constexpr size_t kRecordAlign = 8;
constexpr size_t kDefaultAlignment = 4096;  // O_DIRECT block size when the probe cannot tell
constexpr uint64_t kDefaultSegmentSize = 64ull << 20;
constexpr uint64_t kMinSegmentSize = 1ull << 20;
constexpr uint64_t kMaxSegmentSize = 1ull << 30;
constexpr const char* kSegmentSuffix = ".wal";
constexpr const char* kBrokenSuffix = ".broken";
constexpr const char* kIdFileName = "WAL_ID";
constexpr const char* kCheckpointFileName = "CHECKPOINT";
constexpr const char* kCheckpointFormatName = "tapio-wal-checkpoint";
// The stretches salvage set aside, which later opens, reads and verify accept (docs/FORMAT.md).
constexpr const char* kSalvagedFileName = "SALVAGED";
constexpr const char* kSalvagedFormatName = "tapio-wal-salvaged";
constexpr size_t kMaxSalvagedFileBytes = 1u << 20;   // the most SALVAGED may hold (about 10,000 stretches)
constexpr const char* kWalFormatName = "tapio-wal";  // the "format" of WAL_ID
// The lock file of the WAL directory: flock(2) is taken on it (core/file_lock.h, src/fs/dir-lock.ts);
// it holds the owner's process id, for messages only. Never removed by a lock holder.
constexpr const char* kLockFileName = "LOCK";
constexpr size_t kMaxSmallFileBytes = 64u << 10;  // the most WAL_ID or CHECKPOINT may hold
// The most levels of arrays and objects a member of WAL_ID or CHECKPOINT may nest; a deeper one
// makes the file unreadable on both paths (the recursion of core/json.h stays bounded).
constexpr int kMaxSmallFileNesting = 65;
constexpr size_t kStoreIdSize = 16;
// The largest integer a JavaScript number holds exactly (2^53 - 1). Segment numbers, sequence
// numbers and creation times above it cannot come from a writer (they would take centuries), and
// the TypeScript twin cannot represent them, so both paths treat them as damage.
constexpr uint64_t kMaxSafeNumber = 9007199254740991ull;

// Offsets inside the segment header.
constexpr size_t kHeaderOffVersion = 8;
constexpr size_t kHeaderOffUsed = 12;
constexpr size_t kHeaderOffSegment = 16;
constexpr size_t kHeaderOffFirstSeq = 24;
constexpr size_t kHeaderOffStoreId = 32;
constexpr size_t kHeaderOffCreated = 48;
constexpr size_t kHeaderOffSegmentSize = 56;
constexpr size_t kHeaderOffCrc = 60;

// The sparse index (see above).
constexpr char kIndexMagic[8] = {'T', 'A', 'P', 'I', 'O', 'I', 'D', 'X'};
constexpr const char* kIndexSuffix = ".idx";
constexpr uint64_t kIndexSpacing = 64u << 10;
constexpr size_t kIndexHeaderSize = 64;
constexpr size_t kIndexEntrySize = 16;
constexpr size_t kIndexOffVersion = 8;
constexpr size_t kIndexOffCount = 12;
constexpr size_t kIndexOffSegment = 16;
constexpr size_t kIndexOffFirstSeq = 24;
constexpr size_t kIndexOffLastSeq = 32;
constexpr size_t kIndexOffStoreId = 40;
constexpr size_t kIndexOffSpacing = 56;

// Offsets inside a record header.
constexpr size_t kRecordOffCrc = 0;
constexpr size_t kRecordOffLength = 4;
constexpr size_t kRecordOffSeq = 8;

// Bytes a record of `payload` bytes takes in a segment, padding included.
constexpr uint64_t RecordFootprint(uint64_t payload) {
  return (kRecordHeaderSize + payload + kRecordAlign - 1) & ~static_cast<uint64_t>(kRecordAlign - 1);
}

// True when the record at `offset` taking `footprint` bytes gets an index entry.
constexpr bool IndexesRecord(uint64_t offset, uint64_t footprint) {
  return offset / kIndexSpacing != (offset + footprint) / kIndexSpacing;
}

// The largest payload a segment of `segment_size` bytes can hold.
constexpr uint64_t MaxPayload(uint64_t segment_size) { return segment_size - kSegmentHeaderSize - kRecordHeaderSize; }

}  // namespace wal
}  // namespace tapio

#endif  // TAPIO_CORE_WAL_FORMAT_H_
