// SALVAGED: the stretches of damage a salvage open set aside, kept in the WAL directory so later
// strict opens accept exactly those stretches and the sequence numbers they lost. docs/FORMAT.md
// describes the file; the TypeScript twin, src/transit/salvage-file.ts, reads and writes the same
// bytes. Nothing here keeps state; Recover calls it with no writer open on the directory.
#ifndef TAPIO_CORE_SALVAGE_FILE_H_
#define TAPIO_CORE_SALVAGE_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/wal_codec.h"

namespace tapio {
namespace wal {

// One stretch of SALVAGED: `bytes` bytes of segment `segment` from `offset` (0 bytes for a
// sequence gap or missing segments before it), and the `lost_count` sequence numbers from
// `lost_from` that no record holds because of it (both 0 when none).
struct SalvageStretch {
  uint64_t segment = 0;
  uint64_t offset = 0;
  uint64_t bytes = 0;
  uint64_t lost_from = 0;
  uint64_t lost_count = 0;
};

// The exact bytes of a SALVAGED file.
std::string SalvagedContents(const StoreId& id, const std::vector<SalvageStretch>& stretches);

// Reads SALVAGED. *found is false when there is none, or when it cannot be used: then *ignored
// says why (its stretches are then damage like any other).
void ReadSalvaged(const std::string& dir, const StoreId& store_id, std::vector<SalvageStretch>* out, bool* found,
                  Status* ignored);

// Writes SALVAGED through a temporary file (fdatasync, rename, fsync of the directory), or
// removes it (and fsyncs the directory) when there are no stretches to record.
Status WriteSalvaged(const std::string& dir, const StoreId& id, const std::vector<SalvageStretch>& stretches);

// The sequence numbers a step from `due` to `found` skips: [from, from + count), or none (0, 0).
void LostBetween(uint64_t due, uint64_t found, uint64_t* from, uint64_t* count);

}  // namespace wal
}  // namespace tapio

#endif  // TAPIO_CORE_SALVAGE_FILE_H_
