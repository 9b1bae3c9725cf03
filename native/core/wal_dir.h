// The files of a WAL directory other than segment contents: the directory itself, WAL_ID (the
// store's identity), CHECKPOINT, the list of segment files, and the small-file reads and writes
// SALVAGED shares (core/salvage_file.h). docs/FORMAT.md describes each file; the TypeScript twin,
// src/transit/wal-dir.ts, reads and writes the same bytes.
//
// Nothing here keeps state. Recover calls these with no writer open on the directory; the writer
// then writes CHECKPOINT from its own thread.
#ifndef TAPIO_CORE_WAL_DIR_H_
#define TAPIO_CORE_WAL_DIR_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/wal_codec.h"
#include "core/wal_format.h"

namespace tapio {
namespace wal {

// ---- the directory and WAL_ID ----

// Creates `dir` and its missing parents, mode 0700 (an existing directory keeps its mode);
// *first_created gets the topmost directory created (empty when `dir` existed).
Status EnsureDir(const std::string& dir, std::string* first_created);

// The exact bytes of a WAL_ID file for `id`.
std::string WalIdContents(const StoreId& id);

// Reads WAL_ID into *id, or creates it in a new or empty directory (`first_created` is the
// topmost directory EnsureDir created, whose entry is made durable too; *created then turns
// true). A directory that holds other files but no WAL_ID is refused, untouched, and so is one
// that holds segments (`has_segments`) but no WAL_ID.
Status LoadOrCreateId(const std::string& dir, bool has_segments, const std::string& first_created, StoreId* id,
                      bool* created);

// ---- CHECKPOINT ----

// What CHECKPOINT says: segments up to `sealed` are whole and synced; `sealed` holds
// first_seq..last_seq.
struct Checkpoint {
  uint64_t sealed = 0;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
};

// The exact bytes of a CHECKPOINT file.
std::string CheckpointContents(const StoreId& id, uint64_t sealed, uint64_t first_seq, uint64_t last_seq);

// Reads CHECKPOINT. *found is false when there is none, or when it cannot be used: then
// *ignored says why (recovery scans every segment, as if there were none).
void ReadCheckpoint(const std::string& dir, const StoreId& store_id, Checkpoint* cp, bool* found, Status* ignored);

// Writes CHECKPOINT: segments up to `sealed` are whole and synced, `sealed` holds first_seq..last_seq.
// Through a temporary file: fdatasync, rename, fsync of the directory.
Status WriteCheckpoint(const std::string& dir, const StoreId& id, uint64_t sealed, uint64_t first_seq,
                       uint64_t last_seq);

// ---- segment files ----

// Segment numbers of the "<16 hex>.wal" files in `dir` (1..kMaxSafeNumber), ascending.
Status ListSegments(const std::string& dir, std::vector<uint64_t>* numbers);

// ---- small files (WAL_ID, CHECKPOINT, SALVAGED) ----

// Reads up to max_bytes + 1 bytes of `path`. Returns 0, or the errno of the failure (ENOENT when
// there is no such file) with *failed_op saying which step failed.
int ReadSmallFileErrno(const std::string& path, std::string* out, const char** failed_op,
                       size_t max_bytes = kMaxSmallFileBytes);

// True when the parsed members `v` of the small file `file` name format `format_name`, this
// format version and this store; else false with *ignored saying which does not hold.
bool OwnSmallFile(const std::map<std::string, std::string>& v, const char* file, const char* format_name,
                  const StoreId& store_id, Status* ignored);

// Member `key` of `v` when it is a JSON number that is an integer in 0..kMaxSafeNumber (as
// Number.isSafeInteger and >= 0 in the twin, so 5, 5.0 and 5e0 all read as 5).
bool SafeInteger(const std::map<std::string, std::string>& v, const char* key, uint64_t* out);

// Writes `text` to dir/name through a temporary file: fdatasync, rename, fsync of the directory.
Status WriteSmallFileDurably(const std::string& dir, const char* name, const std::string& text);

}  // namespace wal
}  // namespace tapio

#endif  // TAPIO_CORE_WAL_DIR_H_
