// Opening a WAL directory: WAL_ID, every segment's header and records, the rules of the
// durability contract for damage (torn tail, damage in the middle, salvage and SALVAGED,
// CHECKPOINT), and the point where the writer resumes. The directory's small files are read and
// written by core/wal_dir.h and core/salvage_file.h, which come with this header for the writer
// and the binding. docs/FORMAT.md "Recovery" (with SALVAGED)
// state the rules once; the TypeScript twin (src/transit/wal-recovery.ts) applies the same rules
// with the same reasons (reason.h) and details: damage that refuses the open is kSegmentDamaged,
// with the damage reason as "damage" and its own details.
//
// Recover runs on one thread with no writer open on the directory.
#ifndef TAPIO_CORE_WAL_RECOVERY_H_
#define TAPIO_CORE_WAL_RECOVERY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/salvage_file.h"
#include "core/status.h"
#include "core/wal_codec.h"
#include "core/wal_dir.h"
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
  uint64_t end_offset = 0;    // the end of the last whole record
  uint64_t segment_size = 0;  // from the header; the file size when the header is unusable
  bool appendable = true;     // false: salvage set the unreadable header aside
  bool sealed = false;        // taken on CHECKPOINT's word: header checked, records not scanned
};

struct SalvagedStretch {
  std::string segment;  // file name
  uint64_t offset = 0;
  uint64_t bytes = 0;  // 0 for a sequence gap
  Status damage;       // what was wrong: a damage reason (kRecordChecksum, kSeqGap, ...) and its details
};

struct RecoveryResult {
  StoreId store_id;
  bool created = false;               // WAL_ID was written by this call
  std::vector<SegmentInfo> segments;  // every segment file kept, readable or not
  uint64_t first_seq = 0;             // the oldest record kept; 0 when the log is empty
  uint64_t last_seq = 0;              // the newest whole record; 0 when the log is empty
  uint64_t records = 0;
  // Bytes of segment files examined, each counted once: every header's used bytes (fewer for a
  // shorter file) and each scanned segment's record area from kSegmentHeaderSize to its end.
  uint64_t bytes_scanned = 0;
  uint64_t torn_bytes = 0;                 // bytes set aside from a torn tail or an unfinished segment
  std::string broken_file;                 // path of the (last) .broken file written, when torn_bytes > 0
  std::vector<std::string> removed_files;  // unfinished newest segments that were removed
  std::vector<SalvagedStretch> salvaged;
  uint64_t sealed_segments = 0;  // segments taken on CHECKPOINT's word (headers checked only)
  Status checkpoint_ignored;     // why CHECKPOINT was not used, when it exists but was not (else ok)
  // Salvage: the stretches it set aside (written to SALVAGED). Strict: those SALVAGED records for
  // segments still present, which the scan accepted instead of refusing.
  std::vector<SalvageStretch> set_aside;
  Status set_aside_ignored;  // why SALVAGED was not used, when it exists but was not (else ok)
  ResumePoint resume;        // where the writer continues
  // Sparse index entries of the records scanned (IndexesRecord in wal_format.h): triples
  // (segment number, sequence number, byte offset), in order. Sealed segments have none here.
  std::vector<uint64_t> index_points;
};

Status Recover(const RecoverOptions& options, RecoveryResult* out);

}  // namespace wal
}  // namespace tapio

#endif  // TAPIO_CORE_WAL_RECOVERY_H_
