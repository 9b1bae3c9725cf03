// Opening a WAL directory: the WAL_ID file, every segment's header and records, the rules of
// the durability contract for damage, and the point where the writer resumes.
//
// Rules:
//  - A torn tail of the NEWEST segment is cut: the first bad record (bad length, bad checksum,
//    cut short) or stray non-zero bytes at offset X, when no valid record (good checksum, seq
//    greater than the last good one) exists anywhere after X in that segment. The bytes from X
//    to the last non-zero byte are copied to "<segment>.broken" (synced), then zeroed in the
//    segment (synced).
//  - A newest segment whose file holds nothing but zeros (a creation that never finished) is
//    removed.
//  - Anything else is kCorrupt naming the file, the byte offset and what was wrong: damage in
//    an older segment, damage in the newest segment with valid records after it, a sequence gap
//    inside or between segments, a missing segment. With `salvage`, every whole valid record is
//    kept instead, each damaged stretch or gap is listed in `salvaged`, and the scan goes on.
//    Salvage changes no file except for the torn-tail cut, so a later strict open fails again
//    until the damaged segments are gone.
//  - Another format or version (WAL_ID or a segment header) is kFormatVersion; a segment of
//    another store (its store id differs from WAL_ID) is kCorrupt, with or without salvage.
//
// Recover runs on one thread with no writer open on the directory.
#ifndef TAPIO_CORE_WAL_RECOVERY_H_
#define TAPIO_CORE_WAL_RECOVERY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/wal_codec.h"
#include "core/wal_file.h"

namespace tapio {
namespace wal {

struct RecoverOptions {
  std::string dir;  // created (with its parents) when missing
  bool salvage = false;
};

struct SegmentInfo {
  std::string name;  // file name, e.g. 0000000000000001.wal
  uint64_t number = 0;
  uint64_t first_seq = 0;  // from the header
  uint64_t last_seq = 0;   // of the last whole record; first_seq - 1 when it holds none
  uint64_t records = 0;
  uint64_t end_offset = 0;  // the end of the last whole record
  uint64_t segment_size = 0;
};

struct SalvagedStretch {
  std::string segment;  // file name
  uint64_t offset = 0;
  uint64_t bytes = 0;  // 0 for a sequence gap
  std::string reason;
};

struct RecoveryResult {
  StoreId store_id;
  bool created = false;  // WAL_ID was written by this call
  std::vector<SegmentInfo> segments;
  uint64_t first_seq = 0;  // the oldest record kept; 0 when the log is empty
  uint64_t last_seq = 0;   // the newest whole record; 0 when the log is empty
  uint64_t records = 0;
  uint64_t bytes_scanned = 0;
  uint64_t torn_bytes = 0;
  std::string broken_file;  // path of the .broken file written, when torn_bytes > 0
  std::vector<std::string> removed_files;  // unfinished newest segments that were removed
  std::vector<SalvagedStretch> salvaged;
  ResumePoint resume;  // where the writer continues
};

Status Recover(const RecoverOptions& options, RecoveryResult* out);

// The exact bytes of a WAL_ID file for `id` (the TypeScript twin writes the same).
std::string WalIdContents(const StoreId& id);

// Segment numbers of the "<16 hex>.wal" files in `dir`, ascending.
Status ListSegments(const std::string& dir, std::vector<uint64_t>* numbers);

}  // namespace wal
}  // namespace tapio

#endif  // TAPIO_CORE_WAL_RECOVERY_H_
