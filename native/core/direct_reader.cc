#include "core/direct_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "core/limits.h"
#include "core/wal_file.h"

namespace tapio {
namespace wal {

namespace {

// The calling thread's bounce buffer: kBounceBytes, aligned for any alignment a reader accepts.
// Allocated at the thread's first direct read and kept for the thread's life.
uint8_t* Bounce() {
  thread_local AlignedBuffer bounce;
  if (bounce.data() == nullptr && !bounce.Allocate(DirectReader::kBounceBytes, kMaxDirectIoAlignment)) return nullptr;
  return bounce.data();
}

}  // namespace

Status DirectReader::Open(const std::string& path, size_t alignment, std::unique_ptr<DirectReader>* out) {
  out->reset();
  if (!ValidDirectIoAlignment(alignment))
    return Status(Reason::kDirectIoAlignment).With("alignment", uint64_t{alignment});
  int fd = -1;
  Status s = OpenFile(path, O_RDONLY, /*direct=*/true, &fd);
  if (!s.ok()) {
    // A file system without direct I/O says EINVAL at open: read buffered instead.
    return s.Text("errno") == "EINVAL" ? Status::Ok() : s;
  }
  out->reset(new DirectReader(path, fd, alignment));
  return Status::Ok();
}

DirectReader::~DirectReader() {
  close(fd_);
  const int b = buffered_fd_.load(std::memory_order_acquire);
  if (b >= 0) close(b);
}

Status DirectReader::BufferedFd(int* fd) {
  std::lock_guard<std::mutex> lock(open_mutex_);
  int b = buffered_fd_.load(std::memory_order_acquire);
  if (b < 0) {
    Status s = OpenFile(path_, O_RDONLY, /*direct=*/false, &b);
    if (!s.ok()) return s;
    buffered_fd_.store(b, std::memory_order_release);
  }
  *fd = b;
  return Status::Ok();
}

Status DirectReader::ReadBuffered(uint64_t offset, uint8_t* out, size_t n, size_t* got) {
  int fd = -1;
  Status s = BufferedFd(&fd);
  if (!s.ok()) return s;
  return ReadFull(fd, out, n, offset, path_, got);
}

Status DirectReader::Read(uint64_t offset, uint8_t* out, size_t n, size_t* got) {
  *got = 0;
  if (refused_.load(std::memory_order_acquire)) return ReadBuffered(offset, out, n, got);
  uint8_t* bounce = Bounce();
  if (bounce == nullptr) {
    return Status(Reason::kOutOfMemory)
        .With("what", "direct-read-buffer")
        .With("bytes", uint64_t{kBounceBytes})
        .With("file", path_);
  }
  const uint64_t mask = alignment_ - 1;
  size_t done = 0;
  while (done < n) {
    const uint64_t pos = offset + done;
    const uint64_t start = pos & ~mask;
    const size_t skip = static_cast<size_t>(pos - start);
    const size_t want = skip + (n - done);
    const size_t len = want >= kBounceBytes ? kBounceBytes : static_cast<size_t>((want + mask) & ~mask);
    const ssize_t r = pread_(fd_, bounce, len, static_cast<off_t>(start));
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EINVAL) return ErrnoStatus("read", path_, errno);
      // The file system turned the direct read down: this file is read buffered from now on.
      refused_.store(true, std::memory_order_release);
    }
    const size_t read = r < 0 ? 0 : static_cast<size_t>(r);
    const size_t take = read <= skip ? 0 : (read - skip < n - done ? read - skip : n - done);
    std::memcpy(out + done, bounce + skip, take);
    done += take;
    if (r == 0 || done == n) break;  // r == 0: the end of the file
    if (r < 0 || read < len) {
      // Refused, or a short direct read: the end of the file, or a file system that stops at a
      // smaller block than ours (FUSE, network file systems). Read the rest through the page
      // cache, which tells the end of the file from a short read.
      size_t rest = 0;
      Status s = ReadBuffered(offset + done, out + done, n - done, &rest);
      *got = done + rest;
      return s;
    }
  }
  *got = done;
  return Status::Ok();
}

}  // namespace wal
}  // namespace tapio
