// Writes one new file from its first byte to its last in large aligned blocks, with direct I/O
// (O_DIRECT; F_NOCACHE on macOS) where the file system takes it: the output of a correlation
// store compaction, which no one reads soon and which would otherwise fill the page cache with
// gigabytes a merge writes once. Bytes appended are gathered into a block of `block_bytes`
// (a multiple of the alignment), written whole at its aligned offset through a FileLayer; the
// last block is padded with zeros to the alignment, and the file is then cut to the bytes
// appended and fdatasync'ed. Where the file system refuses direct I/O (EINVAL when it is turned on, or at
// the first write) the same blocks are written through the page cache. The TypeScript twin is
// src/fs/sequential-file.ts: the same blocks at the same offsets, the same bytes.
//
// One caller at a time: Append and Finish are not called concurrently (any thread).
#ifndef TAPIO_CORE_SEQUENTIAL_WRITER_H_
#define TAPIO_CORE_SEQUENTIAL_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/file_layer.h"
#include "core/status.h"
#include "core/wal_file.h"

namespace tapio {
namespace wal {

class SequentialWriter {
 public:
  // Creates `path` (it must not exist: O_EXCL), mode 0600. `alignment`: the block size direct
  // writes use (a power of two from 512 to 64 KiB), 0 for no direct I/O at all; `block_bytes`:
  // the bytes gathered before a write, a multiple of the alignment (of 4096 without one).
  static Status Create(const std::string& path, size_t alignment, size_t block_bytes, FileLayer* layer,
                       std::unique_ptr<SequentialWriter>* out);

  ~SequentialWriter();
  SequentialWriter(const SequentialWriter&) = delete;
  SequentialWriter& operator=(const SequentialWriter&) = delete;

  // Appends `n` bytes: copied into the block, which is written each time it fills.
  Status Append(const uint8_t* data, size_t n);
  // Writes what is gathered, cuts the file to the bytes appended, fdatasyncs and closes it.
  // Nothing may be appended after.
  Status Finish();
  // Closes the file and removes it (a merge given up).
  void Abort();

  // Bytes appended so far.
  uint64_t size() const { return appended_; }
  // True while the file is written with direct I/O.
  bool direct() const { return direct_; }
  const std::string& path() const { return path_; }

 private:
  SequentialWriter(std::string path, int fd, bool direct, size_t alignment, FileLayer* layer)
      : path_(std::move(path)), fd_(fd), direct_(direct), alignment_(alignment), layer_(layer) {}
  // Writes block_[0, n) at written_ (n a multiple of the alignment, or the tail padded to it).
  Status WriteBlock(size_t n);
  // Turns O_DIRECT off for the file after a direct write was turned down (EINVAL).
  Status FallBackToBuffered();

  const std::string path_;
  int fd_;
  bool direct_;
  const size_t alignment_;
  FileLayer* const layer_;
  AlignedBuffer block_;
  size_t used_ = 0;        // bytes gathered in block_
  uint64_t written_ = 0;   // bytes written to the file (whole blocks)
  uint64_t appended_ = 0;  // bytes appended
  bool finished_ = false;
  Status failed_;  // the first failure: every later call returns it
};

}  // namespace wal
}  // namespace tapio

#endif  // TAPIO_CORE_SEQUENTIAL_WRITER_H_
