// Reads byte ranges of a file with direct I/O (O_DIRECT; F_NOCACHE on macOS), for the transit
// reader on the native path. The native writer appends with O_DIRECT, so the page cache holds
// none of what it wrote: a buffered read of a fresh segment goes to the device anyway and, on
// top, makes the kernel fill the page cache, which costs more CPU than the read itself. A direct
// read moves the device's bytes into an aligned bounce buffer, from which the range asked for
// is copied out.
//
// Offsets and lengths need not be aligned: each read covers the aligned blocks around the
// range. When the file system turns a direct read down (EINVAL: an alignment it does not
// accept), the reader reads that file buffered from then on; a direct read that stops short
// (the end of the file, or a file system with smaller blocks) has the rest read buffered. Read
// may be called from several threads at once; each thread has its own bounce buffer.
#ifndef TAPIO_CORE_DIRECT_READER_H_
#define TAPIO_CORE_DIRECT_READER_H_

#include <sys/types.h>
#include <unistd.h>

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

  // The pread the direct reads go through; tests put one that stops short or fails.
  using PreadFn = ssize_t (*)(int fd, void* buf, size_t count, off_t offset);
  void SetPreadForTest(PreadFn fn) { pread_ = fn; }

  ~DirectReader();
  DirectReader(const DirectReader&) = delete;
  DirectReader& operator=(const DirectReader&) = delete;

  // Copies up to `n` bytes from `offset` into `out`; *got < n only at the end of the file.
  Status Read(uint64_t offset, uint8_t* out, size_t n, size_t* got);

  // True once a direct read was turned down and reads go through the page cache.
  bool buffered() const { return refused_.load(std::memory_order_acquire); }
  const std::string& path() const { return path_; }

 private:
  DirectReader(std::string path, int fd, size_t alignment) : path_(std::move(path)), fd_(fd), alignment_(alignment) {}
  // The buffered descriptor, opened at its first use.
  Status BufferedFd(int* fd);
  // Reads through the page cache (ReadFull on the buffered descriptor).
  Status ReadBuffered(uint64_t offset, uint8_t* out, size_t n, size_t* got);

  const std::string path_;
  const int fd_;
  const size_t alignment_;
  PreadFn pread_ = ::pread;
  std::atomic<int> buffered_fd_{-1};
  // A direct read was turned down (EINVAL): every later read goes through the page cache.
  std::atomic<bool> refused_{false};
  std::mutex open_mutex_;
};

}  // namespace wal
}  // namespace tapio

#endif  // TAPIO_CORE_DIRECT_READER_H_
