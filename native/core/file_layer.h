// The writes and fdatasyncs a WAL writer makes on its segment files, behind one small interface,
// so that a test can put a layer under the writer that fails on command or forgets what was not
// synced, as a device that lost its cache would. Segment creation (header write, its fdatasync,
// the directory fsync) does not go through it. The TypeScript twin is src/transit/file-layer.ts.
#ifndef TAPIO_CORE_FILE_LAYER_H_
#define TAPIO_CORE_FILE_LAYER_H_

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/status.h"

namespace tapio {
namespace wal {

class FileLayer {
 public:
  virtual ~FileLayer() = default;
  // Writes all `n` bytes at `offset` of the open file `fd` (`path` names it in errors).
  virtual Status Write(int fd, const std::string& path, const uint8_t* data, size_t n, uint64_t offset) = 0;
  // fdatasync of `fd`: covers every write that completed before it started.
  virtual Status Sync(int fd, const std::string& path) = 0;
};

// The real system calls. Any thread; shared by every writer.
FileLayer* PosixFileLayer();

// What a FaultyFileLayer injects: the Nth write or fdatasync through it (1-based, 0 = never)
// fails with `error_number`.
struct FaultInjector {
  uint64_t fail_write_at = 0;
  uint64_t fail_sync_at = 0;
  int error_number = EIO;
};

// A layer for tests over the real one. It counts writes and fdatasyncs, and the one the
// injector names fails: a failed write writes nothing. It keeps what each write replaced until
// an fdatasync covers the write, so it can put back the bytes of the last successful fdatasync
// of every file: after an injected fdatasync failure, as a device that dropped its cache (its
// later writes are lost: they succeed and change nothing; its later fdatasyncs fail), and on
// DropUnsyncedData() (power loss). Any thread.
class FaultyFileLayer : public FileLayer {
 public:
  explicit FaultyFileLayer(const FaultInjector& faults) : faults_(faults) {}
  Status Write(int fd, const std::string& path, const uint8_t* data, size_t n, uint64_t offset) override;
  Status Sync(int fd, const std::string& path) override;
  // Puts back, in every file written through this layer, the bytes its last successful
  // fdatasync covered: what was written since is forgotten.
  Status DropUnsyncedData();
  uint64_t writes() const;
  uint64_t syncs() const;

 private:
  // What one write replaced: the bytes at `offset` before it.
  struct Undo {
    uint64_t generation;
    uint64_t offset;
    std::vector<uint8_t> before;
  };
  struct FileState {
    std::vector<Undo> undo;  // oldest first, writes no successful fdatasync covered yet
  };
  Status DropLocked(const std::string& path, FileState* file);

  const FaultInjector faults_;
  mutable std::mutex mu_;
  std::map<std::string, FileState> files_;
  uint64_t writes_ = 0;
  uint64_t syncs_ = 0;
  uint64_t generation_ = 0;  // of the newest write
  bool failed_ = false;      // an injected fdatasync failed: the device is gone
};

}  // namespace wal
}  // namespace tapio

#endif  // TAPIO_CORE_FILE_LAYER_H_
