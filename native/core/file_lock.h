// An exclusive lock on a file that the kernel drops when the process holding it ends: flock(2)
// with LOCK_EX | LOCK_NB on a descriptor kept open for as long as the lock is held. It guards a
// directory (the transit WAL's LOCK file, see docs/FORMAT.md) against a second process.
//
// Contract:
// - The lock file is created when missing and never removed, neither here nor on release:
//   removing a locked file lets a process that opened the old inode and one that creates a new
//   file both take "the" lock. Release is closing the descriptor.
// - Its contents are informational only (the owner's process id, for messages); nothing
//   depends on them, so a file left by another version or another process is fine to reuse.
// - flock locks belong to the open file description: a second FileLock on the same file fails
//   even in the same process. The descriptor is opened with O_CLOEXEC, so a child process that
//   execs does not inherit the lock.
// - Not thread-safe: one thread owns a FileLock. Every call here is a short system call that
//   does not wait for the lock.
#ifndef TAPIO_CORE_FILE_LOCK_H_
#define TAPIO_CORE_FILE_LOCK_H_

#include <memory>
#include <string>

#include "core/status.h"

namespace tapio {

class FileLock {
 public:
  // Opens `path` (creating it, mode 0600) and takes its lock without waiting. Three outcomes:
  // - Ok with *lock set: this FileLock holds the lock.
  // - Ok with *lock null: another open file description holds it (another process, or another
  //   FileLock of this one).
  // - kIo: the file cannot be opened or locked; details "file", "operation" (open or flock)
  //   and "errno" (EACCES, ENOLCK, ...).
  static Status TryAcquire(const std::string& path, std::unique_ptr<FileLock>* lock);

  ~FileLock();  // releases the lock (closes the descriptor)
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  // Replaces the file's contents with `text` (truncate, then write at offset 0; no fsync: the
  // contents are only for messages). kIo with details as above (operation ftruncate or write)
  // on failure, kLockReleased after Release; the lock is still held after a failed write.
  Status WriteContents(const std::string& text);

  // Releases the lock now; later calls do nothing.
  void Release();

  bool held() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }

 private:
  FileLock(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_;
};

}  // namespace tapio

#endif  // TAPIO_CORE_FILE_LOCK_H_
