// Reading records of a recovered WAL directory in sequence order, from a given sequence number,
// for reads, subscriptions and `wal dump`. Safe to use while a writer appends to the same
// directory, provided to_seq is at most the writer's durable_seq (records past it may be
// half-written). One thread per reader; any number of readers.
#ifndef TAPIO_CORE_WAL_READER_H_
#define TAPIO_CORE_WAL_READER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/wal_recovery.h"
#include "core/wal_scan.h"

namespace tapio {
namespace wal {

struct ReaderOptions {
  uint64_t from_seq = 1;
  uint64_t to_seq = UINT64_MAX;  // inclusive
  // Skip damaged stretches (as salvage does) instead of failing with kCorrupt in older segments
  // and stopping in the newest. Without it, the stretches a salvage open recorded in SALVAGED
  // (bad bytes, a segment set aside whole) are still skipped, and only those.
  bool skip_damage = false;
};

class SegmentReader {
 public:
  // Lists the segments and starts at the newest one whose first sequence number is <= from_seq
  // (the records before from_seq in it are read and passed over).
  static Status Open(const std::string& dir, const ReaderOptions& options, std::unique_ptr<SegmentReader>* out);

  // The next record with from_seq <= seq <= to_seq: *has = true and its seq and payload, which
  // stays valid until the next call. *has = false at the end of the log (a later call may find
  // records appended since). Without skip_damage, a bad record in the newest segment ends the
  // log for now (it may be the one being written) and one in an older segment is kCorrupt.
  Status Next(bool* has, uint64_t* seq, const uint8_t** payload, uint32_t* length);

 private:
  SegmentReader(std::string dir, const ReaderOptions& options) : dir_(std::move(dir)), options_(options) {}
  Status OpenSegment(size_t index, bool* usable);
  Status RefreshList();
  // Moves to the next segment; *more = false when none is left.
  Status Advance(bool* more);

  std::string dir_;
  ReaderOptions options_;
  std::vector<uint64_t> numbers_;
  size_t index_ = 0;
  std::unique_ptr<SegmentScanner> scanner_;
  uint64_t offset_ = 0;
  uint64_t last_seq_ = 0;  // the last record returned or passed over
  bool done_ = false;      // to_seq reached
  // Whether damage at `offset` of the current segment lies in a stretch SALVAGED records, whose
  // next valid record (`found`, UINT64_MAX for none) is not past its end. Reads SALVAGED once.
  bool Recorded(uint64_t number, uint64_t offset, uint64_t found, bool whole_segment);
  bool salvaged_loaded_ = false;
  std::vector<SalvageStretch> salvaged_;
};

}  // namespace wal
}  // namespace tapio

#endif  // TAPIO_CORE_WAL_READER_H_
