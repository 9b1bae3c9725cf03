// Reads byte ranges of a file with direct I/O (O_DIRECT; F_NOCACHE on macOS), for the transit
// reader on the native path. The native writer appends with O_DIRECT, so the page cache holds
// none of what it wrote: a buffered read of a fresh segment goes to the device anyway and, on
// top, makes the kernel fill the page cache, which costs more CPU than the read itself. A direct
// read moves the device's bytes into an aligned bounce buffer, from which the range asked for
// is copied out.
//
// Offsets and lengths need not be aligned: each read covers the aligned blocks around the
// range. When the file system turns a direct read down (EINVAL: an alignment it does not
// accept), the reader reads that file buffered from then on. Read may be called from several
// threads at once; each thread has its own bounce buffer.
#ifndef TAPIO_CORE_DIRECT_READER_H_
#define TAPIO_CORE_DIRECT_READER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "core/status.h"

namespace tapio {
namespace wal {

class DirectReader {
 public:
  // Bytes one direct read moves at most; longer ranges take several.
  static constexpr size_t kBounceBytes = 1 << 20;

  // Opens `path` for reading with direct I/O, `alignment` being the block size direct reads
  // use (a power of two from 512 to 64 KiB). *out is null, and the status ok, when the file
  // system refuses direct I/O (the caller reads buffered); kIo when the file cannot be opened.
  static Status Open(const std::string& path, size_t alignment, std::unique_ptr<DirectReader>* out);

  ~DirectReader();
  DirectReader(const DirectReader&) = delete;
  DirectReader& operator=(const DirectReader&) = delete;

  // Copies up to `n` bytes from `offset` into `out`; *got < n only at the end of the file.
  Status Read(uint64_t offset, uint8_t* out, size_t n, size_t* got);

  // True once a direct read was turned down and reads go through the page cache.
  bool buffered() const { return buffered_fd_.load(std::memory_order_acquire) >= 0; }
  const std::string& path() const { return path_; }

 private:
  DirectReader(std::string path, int fd, size_t alignment) : path_(std::move(path)), fd_(fd), alignment_(alignment) {}
  // The buffered descriptor, opened at the first refused direct read.
  Status BufferedFd(int* fd);

  const std::string path_;
  const int fd_;
  const size_t alignment_;
  std::atomic<int> buffered_fd_{-1};
  std::mutex open_mutex_;
};

}  // namespace wal
}  // namespace tapio

#endif  // TAPIO_CORE_DIRECT_READER_H_
