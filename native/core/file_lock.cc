#include "core/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "core/wal_file.h"

namespace tapio {
namespace {

Status LockError(const char* operation, const std::string& path, int error_number) {
  return wal::ErrnoStatus(operation, path, error_number);
}

}  // namespace

Status FileLock::TryAcquire(const std::string& path, std::unique_ptr<FileLock>* lock) {
  lock->reset();
  int fd;
  do {
    fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return LockError("open", path, errno);
  int r;
  do {
    r = flock(fd, LOCK_EX | LOCK_NB);
  } while (r != 0 && errno == EINTR);
  if (r != 0) {
    const int e = errno;
    close(fd);
    if (e == EWOULDBLOCK) return Status::Ok();  // held by another open file description
    return LockError("flock", path, e);
  }
  lock->reset(new FileLock(path, fd));
  return Status::Ok();
}

FileLock::~FileLock() { Release(); }

void FileLock::Release() {
  if (fd_ < 0) return;
  // Closing the last descriptor of the open file description drops the flock. The file stays.
  close(fd_);
  fd_ = -1;
}

Status FileLock::WriteContents(const std::string& text) {
  if (fd_ < 0) return Status(Reason::kLockReleased).With("file", path_);
  if (ftruncate(fd_, 0) != 0) return LockError("ftruncate", path_, errno);
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = pwrite(fd_, text.data() + done, text.size() - done, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return LockError("write", path_, errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace tapio
