// Sequential reading of one segment file for the recovery scan: large preads into a window (no
// mmap), record parsing and checks, and the forward search for a valid record after damage. One
// thread at a time.
#ifndef TAPIO_CORE_WAL_SCAN_H_
#define TAPIO_CORE_WAL_SCAN_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/status.h"
#include "core/wal_codec.h"
#include "core/wal_file.h"
#include "core/wal_format.h"

namespace tapio {
namespace wal {

// What is at one record offset of a segment.
struct RecordView {
  enum class Kind {
    kRecord,  // a whole record with a valid checksum (its seq is not checked here)
    kEnd,     // a zero header, or fewer than kRecordHeaderSize zero bytes before the limit
    kBad,     // anything else; `problem` says what
  };
  Kind kind = Kind::kEnd;
  uint64_t seq = 0;
  uint32_t length = 0;
  const uint8_t* payload = nullptr;  // valid until the next call on the scanner
  uint64_t footprint = 0;            // bytes the record takes, padding included
  Status problem;                    // kBad: kPartialHeader, kRecordLength, kSeqZero, kSeqRange or kRecordChecksum
};

// The refusal (kSegmentDamaged) of an open for the segment file at `path`: `bytes` bytes from
// `offset` hold `damage` (a damage reason such as kRecordChecksum, whose details are copied).
Status SegmentDamaged(const std::string& path, uint64_t offset, uint64_t bytes, const Status& damage);

class SegmentScanner {
 public:
  static constexpr size_t kWindowBytes = 4u << 20;

  SegmentScanner() = default;
  ~SegmentScanner();
  SegmentScanner(const SegmentScanner&) = delete;
  SegmentScanner& operator=(const SegmentScanner&) = delete;

  // Opens `path` read-only and reads its first block. Records are read up to the file size
  // until SetLimit narrows it.
  Status Open(const std::string& path);
  const std::string& path() const { return path_; }
  uint64_t file_size() const { return file_size_; }
  // The first min(file size, kSegmentHeaderSize) bytes; zero-filled past the file's end.
  const uint8_t* header_block() const { return header_; }
  // Records end at min(limit, file size): a segment's header says how long it is.
  void SetLimit(uint64_t limit) { limit_ = limit < file_size_ ? limit : file_size_; }
  uint64_t limit() const { return limit_; }

  // Reads the record at `offset` (a multiple of 8, >= kSegmentHeaderSize). Checks, in the
  // twin's order: fewer than a header's bytes left (kEnd when zero, else kBad), a zero header
  // (kEnd), the payload running past the limit, sequence number 0 or above kMaxSafeNumber, the
  // checksum. The zero padding after the payload may lie past the limit.
  Status ReadRecord(uint64_t offset, RecordView* out);

  // Looks at every 8-byte offset in (from, limit) for a record with a valid checksum, a payload
  // that ends before the limit and min_seq < seq <= max_seq. *found gets its offset, or
  // UINT64_MAX. *end_nonzero gets one past the last non-zero byte in [from, limit) seen before
  // the search stopped (from when none).
  Status FindValidRecord(uint64_t from, uint64_t min_seq, uint64_t max_seq, uint64_t* found, uint64_t* end_nonzero);

 private:
  // Makes [offset, offset + n) readable in the window; *p gets a pointer to it, or null when
  // the limit comes first.
  Status Fetch(uint64_t offset, size_t n, const uint8_t** p);
  // Checks the record at `offset` with a separate read, leaving the window alone.
  Status VerifyAt(uint64_t offset, uint32_t length, bool* valid);

  int fd_ = -1;
  std::string path_;
  uint64_t file_size_ = 0;
  uint64_t limit_ = 0;
  uint8_t header_[kSegmentHeaderSize] = {};
  AlignedBuffer window_;
  uint64_t window_offset_ = 0;
  size_t window_len_ = 0;
  AlignedBuffer scratch_;
};

}  // namespace wal
}  // namespace tapio

#endif  // TAPIO_CORE_WAL_SCAN_H_
