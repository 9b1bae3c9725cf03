#include "core/file_layer.h"

#include <fcntl.h>
#include <unistd.h>

#include "core/wal_file.h"

namespace tapio {
namespace wal {

namespace {

class PosixLayer : public FileLayer {
 public:
  Status Write(int fd, const std::string& path, const uint8_t* data, size_t n, uint64_t offset) override {
    return WriteFull(fd, data, n, offset, path);
  }
  Status Sync(int fd, const std::string& path) override { return SyncData(fd, path); }
};

// A plain descriptor of `path` for reading what a write replaces and putting it back: the
// writer's own may be O_DIRECT, which takes only aligned buffers.
class PlainFile {
 public:
  explicit PlainFile(const std::string& path) { status_ = OpenFile(path, O_RDWR, false, &fd_); }
  ~PlainFile() {
    if (fd_ >= 0) close(fd_);
  }
  PlainFile(const PlainFile&) = delete;
  PlainFile& operator=(const PlainFile&) = delete;
  const Status& status() const { return status_; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  Status status_;
};

}  // namespace

FileLayer* PosixFileLayer() {
  static PosixLayer layer;
  return &layer;
}

Status FaultyFileLayer::Write(int fd, const std::string& path, const uint8_t* data, size_t n, uint64_t offset) {
  std::lock_guard<std::mutex> lock(mu_);
  FileState& file = files_[path];
  const bool injected = ++writes_ == faults_.fail_write_at;
  if (injected) return ErrnoStatus("write", path, faults_.error_number);
  if (failed_) return Status::Ok();  // lost: the device takes writes it never keeps
  Undo undo{++generation_, offset, std::vector<uint8_t>(n)};
  {
    PlainFile plain(path);
    if (!plain.status().ok()) return plain.status();
    size_t got = 0;
    Status s = ReadFull(plain.fd(), undo.before.data(), n, offset, path, &got);
    if (!s.ok()) return s;
    undo.before.resize(got);  // past the end of the file: nothing to put back there
  }
  Status s = WriteFull(fd, data, n, offset, path);
  if (s.ok()) file.undo.push_back(std::move(undo));
  return s;
}

Status FaultyFileLayer::Sync(int fd, const std::string& path) {
  uint64_t covered = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const bool injected = ++syncs_ == faults_.fail_sync_at;
    if (failed_) return ErrnoStatus("fdatasync", path, faults_.error_number);
    if (injected) {
      // The device lost what it had not made durable, in every file, and is not trusted again.
      failed_ = true;
      for (auto& [name, file] : files_) DropLocked(name, &file);
      return ErrnoStatus("fdatasync", path, faults_.error_number);
    }
    covered = generation_;  // writes that completed before this fdatasync started
  }
  Status s = SyncData(fd, path);
  if (!s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Undo>& undo = files_[path].undo;
  size_t keep = 0;
  while (keep < undo.size() && undo[keep].generation <= covered) keep++;
  undo.erase(undo.begin(), undo.begin() + static_cast<std::ptrdiff_t>(keep));
  return Status::Ok();
}

Status FaultyFileLayer::DropUnsyncedData() {
  std::lock_guard<std::mutex> lock(mu_);
  Status first;
  for (auto& [path, file] : files_) {
    Status s = DropLocked(path, &file);
    if (first.ok() && !s.ok()) first = s;
  }
  return first;
}

// Puts back what each write since the last covering fdatasync replaced, newest first.
Status FaultyFileLayer::DropLocked(const std::string& path, FileState* file) {
  if (file->undo.empty()) return Status::Ok();
  PlainFile plain(path);
  if (!plain.status().ok()) return plain.status();
  for (auto it = file->undo.rbegin(); it != file->undo.rend(); ++it) {
    if (it->before.empty()) continue;
    Status s = WriteFull(plain.fd(), it->before.data(), it->before.size(), it->offset, path);
    if (!s.ok()) return s;
  }
  file->undo.clear();
  return SyncData(plain.fd(), path);
}

uint64_t FaultyFileLayer::writes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return writes_;
}

uint64_t FaultyFileLayer::syncs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return syncs_;
}

}  // namespace wal
}  // namespace tapio
