#include "core/sequential_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "core/limits.h"
#include "core/wal_format.h"

namespace tapio {
namespace wal {

namespace {

// Turns direct I/O on or off for `fd` (O_DIRECT; F_NOCACHE on macOS); false where the file
// system refuses it (EINVAL) or the system has neither.
bool SetDirect(int fd, bool on) {
#if defined(O_DIRECT)
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return false;
  return fcntl(fd, F_SETFL, on ? (flags | O_DIRECT) : (flags & ~O_DIRECT)) == 0;
#elif defined(__APPLE__)
  return fcntl(fd, F_NOCACHE, on ? 1 : 0) == 0;
#else
  (void)fd;
  (void)on;
  return false;
#endif
}

}  // namespace

Status SequentialWriter::Create(const std::string& path, size_t alignment, size_t block_bytes, FileLayer* layer,
                                std::unique_ptr<SequentialWriter>* out) {
  out->reset();
  if (alignment != 0 && !ValidDirectIoAlignment(alignment)) {
    return Status(Reason::kDirectIoAlignment).With("alignment", uint64_t{alignment});
  }
  const size_t unit = alignment != 0 ? alignment : kDefaultAlignment;
  if (block_bytes == 0 || block_bytes % unit != 0 || block_bytes > (size_t{1} << 30)) {
    return Status(Reason::kWriterOption).With("option", "blockBytes").With("value", uint64_t{block_bytes});
  }
  // Created without O_DIRECT, which is then turned on for the same descriptor: a file system
  // without direct I/O says EINVAL only after an open with it created the file, and opening the
  // file again by name would need its mode to allow writes (a umask can take that away).
  int fd = -1;
  Status s = OpenFile(path, O_WRONLY | O_CREAT | O_EXCL, /*direct=*/false, &fd);
  if (!s.ok()) return s;
  const bool direct = alignment != 0 && SetDirect(fd, true);  // else: through the page cache
  std::unique_ptr<SequentialWriter> w(new SequentialWriter(path, fd, direct, unit, layer));
  if (!w->block_.Allocate(block_bytes, unit)) {
    w->Abort();
    return Status(Reason::kOutOfMemory)
        .With("what", "sequential write block")
        .With("bytes", uint64_t{block_bytes})
        .With("file", path);
  }
  *out = std::move(w);
  return Status::Ok();
}

SequentialWriter::~SequentialWriter() {
  if (fd_ >= 0) close(fd_);
}

Status SequentialWriter::FallBackToBuffered() {
  // The same descriptor, without O_DIRECT (not the file opened again by name).
  if (!SetDirect(fd_, false)) return ErrnoStatus("fcntl", path_, errno);
  direct_ = false;
  return Status::Ok();
}

Status SequentialWriter::WriteBlock(size_t n) {
  Status s = layer_->Write(fd_, path_, block_.data(), n, written_);
  if (!s.ok() && direct_ && s.Text("errno") == "EINVAL") {
    // The file system took O_DIRECT at open but turns the write down (an alignment it does not
    // accept): the same block, through the page cache, and every later one.
    s = FallBackToBuffered();
    if (s.ok()) s = layer_->Write(fd_, path_, block_.data(), n, written_);
  }
  if (!s.ok()) return s;
  written_ += n;
  return Status::Ok();
}

Status SequentialWriter::Append(const uint8_t* data, size_t n) {
  if (!failed_.ok()) return failed_;
  if (finished_ || fd_ < 0) return Status(Reason::kFileClosed).With("file", path_);
  while (n > 0) {
    const size_t take = std::min(n, block_.size() - used_);
    std::memcpy(block_.data() + used_, data, take);
    used_ += take;
    appended_ += take;
    data += take;
    n -= take;
    if (used_ == block_.size()) {
      Status s = WriteBlock(used_);
      if (!s.ok()) return failed_ = s;
      used_ = 0;
    }
  }
  return Status::Ok();
}

Status SequentialWriter::Finish() {
  if (!failed_.ok()) return failed_;
  if (finished_ || fd_ < 0) return Status(Reason::kFileClosed).With("file", path_);
  finished_ = true;
  if (used_ > 0) {
    // The tail, padded with zeros to the alignment (direct writes take whole blocks); the file
    // is cut back to the bytes appended below.
    const size_t padded = (used_ + alignment_ - 1) / alignment_ * alignment_;
    std::memset(block_.data() + used_, 0, padded - used_);
    Status s = WriteBlock(padded);
    if (!s.ok()) return failed_ = s;
    used_ = 0;
  }
  if (written_ != appended_) {
    int r;
    do {
      r = ftruncate(fd_, static_cast<off_t>(appended_));
    } while (r != 0 && errno == EINTR);
    if (r != 0) return failed_ = ErrnoStatus("ftruncate", path_, errno);
  }
  Status s = layer_->Sync(fd_, path_);
  if (!s.ok()) return failed_ = s;
  const int fd = fd_;
  fd_ = -1;
  if (close(fd) != 0 && errno != EINTR) return failed_ = ErrnoStatus("close", path_, errno);
  return Status::Ok();
}

void SequentialWriter::Abort() {
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  unlink(path_.c_str());
  finished_ = true;
}

}  // namespace wal
}  // namespace tapio
