#include "core/wal_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

namespace tapio {
namespace wal {
namespace {

const char* KnownErrnoName(int e) {
  switch (e) {
    case EIO:
      return "EIO";
    case ENOSPC:
      return "ENOSPC";
    case EDQUOT:
      return "EDQUOT";
    case EROFS:
      return "EROFS";
    case EACCES:
      return "EACCES";
    case EPERM:
      return "EPERM";
    case ENOENT:
      return "ENOENT";
    case EEXIST:
      return "EEXIST";
    case EINVAL:
      return "EINVAL";
    case EBADF:
      return "EBADF";
    case ENOTDIR:
      return "ENOTDIR";
    case EISDIR:
      return "EISDIR";
    case EMFILE:
      return "EMFILE";
    case ENFILE:
      return "ENFILE";
    case EFBIG:
      return "EFBIG";
    case EOPNOTSUPP:
      return "EOPNOTSUPP";
    default:
      return nullptr;
  }
}

bool IsPowerOfTwo(uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }

uint64_t NowMs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

// The file system's direct I/O alignment for an open file, or 0 when it does not say.
size_t ReportedAlignment(int fd) {
  size_t reported = 0;
#if defined(__linux__) && defined(STATX_DIOALIGN)
  struct statx stx;
  std::memset(&stx, 0, sizeof stx);
  if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 && (stx.stx_mask & STATX_DIOALIGN) != 0) {
    reported = stx.stx_dio_offset_align > stx.stx_dio_mem_align ? stx.stx_dio_offset_align : stx.stx_dio_mem_align;
  }
#endif
  if (reported == 0) {
    struct statvfs vfs;
    if (fstatvfs(fd, &vfs) == 0) reported = static_cast<size_t>(vfs.f_bsize);
  }
  return reported;
}

size_t ChooseAlignment(size_t reported) {
  // Never below 4 KiB: today's disks have 4 KiB physical sectors even when they accept 512-byte
  // writes, and a smaller block would be read-modify-written by the device.
  if (!IsPowerOfTwo(reported) || reported > kMaxDirectIoAlignment) return kDefaultAlignment;
  return reported < kDefaultAlignment ? kDefaultAlignment : reported;
}

}  // namespace

Status ErrnoStatus(const std::string& operation, const std::string& path, int error_number) {
  return Status(Reason::kIo).With("operation", operation).With("file", path).With("errno", ErrnoCode(error_number));
}

std::string ErrnoCode(int error_number) {
  const char* name = KnownErrnoName(error_number);
  return name != nullptr ? std::string(name) : "errno " + std::to_string(error_number);
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

AlignedBuffer::~AlignedBuffer() { Release(); }

void AlignedBuffer::Release() {
  if (mapped_) {
    munmap(data_, size_);
  } else {
    std::free(data_);
  }
  data_ = nullptr;
  size_ = 0;
  mapped_ = false;
}

bool AlignedBuffer::Allocate(size_t size, size_t alignment) {
  Release();
  // Large page-aligned buffers come from anonymous mappings: already zero, and faulted in only
  // when used, instead of being zeroed up front.
  if (size >= kMapThreshold && alignment <= kPageSize && size % kPageSize == 0) {
    void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem != MAP_FAILED) {
#if defined(MADV_HUGEPAGE)
      if (size >= kHugeThreshold) madvise(mem, size, MADV_HUGEPAGE);  // fewer first-touch page faults
#endif
      data_ = static_cast<uint8_t*>(mem);
      size_ = size;
      mapped_ = true;
      return true;
    }
  }
  void* mem = nullptr;
  if (posix_memalign(&mem, alignment, size) != 0) return false;
  std::memset(mem, 0, size);
  data_ = static_cast<uint8_t*>(mem);
  size_ = size;
  return true;
}

Status OpenFile(const std::string& path, int flags, bool direct, int* fd) {
  int all = flags | O_CLOEXEC;
#if defined(O_DIRECT)
  if (direct) all |= O_DIRECT;
#endif
  int f;
  do {
    f = open(path.c_str(), all, 0600);  // a file it creates is the owner's alone
  } while (f < 0 && errno == EINTR);
  if (f < 0) return ErrnoStatus("open", path, errno);
#if defined(__APPLE__)
  if (direct && fcntl(f, F_NOCACHE, 1) != 0) {
    const int e = errno;
    close(f);
    return ErrnoStatus("fcntl", path, e);
  }
#endif
  *fd = f;
  return Status::Ok();
}

Status WriteFull(int fd, const uint8_t* data, size_t n, uint64_t offset, const std::string& path) {
  while (n > 0) {
    const ssize_t w = pwrite(fd, data, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write", path, errno);
    }
    if (w == 0) return ErrnoStatus("write", path, EIO);
    data += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return Status::Ok();
}

Status ReadFull(int fd, uint8_t* data, size_t n, uint64_t offset, const std::string& path, size_t* got) {
  size_t done = 0;
  while (done < n) {
    const ssize_t r = pread(fd, data + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("read", path, errno);
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  *got = done;
  return Status::Ok();
}

Status SyncData(int fd, const std::string& path) {
#if defined(__APPLE__)
  // fsync on macOS leaves data in the drive's cache; F_FULLFSYNC flushes it.
  if (fcntl(fd, F_FULLFSYNC) == 0) return Status::Ok();
  if (fsync(fd) == 0) return Status::Ok();
  return ErrnoStatus("fsync", path, errno);
#else
  int r;
  do {
    r = fdatasync(fd);
  } while (r != 0 && errno == EINTR);
  return r == 0 ? Status::Ok() : ErrnoStatus("fdatasync", path, errno);
#endif
}

Status SyncDir(const std::string& dir) {
  int fd;
  do {
    fd = open(dir.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECTORY);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoStatus("open", dir, errno);
  int r;
  do {
    r = fsync(fd);
  } while (r != 0 && errno == EINTR);
  const int e = errno;
  close(fd);
  return r == 0 ? Status::Ok() : ErrnoStatus("fsync", dir, e);
}

Status Preallocate(int fd, uint64_t size, const std::string& path) {
#if defined(__linux__)
  const int r = posix_fallocate(fd, 0, static_cast<off_t>(size));
  if (r == 0) return Status::Ok();
  if (r != EOPNOTSUPP && r != EINVAL && r != ENOSYS) return ErrnoStatus("fallocate", path, r);
#endif
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) return ErrnoStatus("ftruncate", path, errno);
  return Status::Ok();
}

Status ProbeDirectIo(const std::string& dir, DirectIoProbe* out) {
  *out = DirectIoProbe();
  std::string tmpl = JoinPath(dir, ".direct-io-probe-XXXXXX");
  const int plain = mkstemp(&tmpl[0]);
  if (plain < 0) return ErrnoStatus("create", dir, errno);
  close(plain);
  int fd = -1;
  Status s = OpenFile(tmpl, O_RDWR, true, &fd);
  if (!s.ok()) {
    out->refusal = Status(Reason::kDirectIoRefused).WithDetailsOf(s);
  } else {
    out->alignment = ChooseAlignment(ReportedAlignment(fd));
    AlignedBuffer block;
    if (!block.Allocate(out->alignment, out->alignment)) {
      out->refusal = Status(Reason::kOutOfMemory).With("what", "aligned-block").With("bytes", uint64_t{out->alignment});
    } else {
      s = WriteFull(fd, block.data(), block.size(), 0, tmpl);
      if (s.ok()) {
        out->supported = true;
      } else {
        out->refusal = Status(Reason::kDirectWriteFailed).WithDetailsOf(s);
      }
    }
    close(fd);
  }
  unlink(tmpl.c_str());
  return Status::Ok();
}

Status CreateSegmentFile(const NewSegment& seg, int* fd_out) {
  const std::string path = JoinPath(seg.dir, SegmentFileName(seg.number));
  int fd = -1;
  Status s = OpenFile(path, O_RDWR | O_CREAT | O_EXCL, seg.direct, &fd);
  if (!s.ok()) return s;

  const size_t block = seg.direct && seg.alignment > kSegmentHeaderSize ? seg.alignment : kSegmentHeaderSize;
  AlignedBuffer header;
  if (!header.Allocate(block, seg.direct ? seg.alignment : kDefaultAlignment)) {
    s = Status(Reason::kOutOfMemory).With("what", "header-block").With("bytes", uint64_t{block}).With("file", path);
  }
  if (s.ok()) s = Preallocate(fd, seg.segment_size, path);
  if (s.ok()) {
    SegmentHeader h;
    h.number = seg.number;
    h.first_seq = seg.first_seq;
    h.store_id = seg.store_id;
    h.created_ms = seg.created_ms != 0 ? seg.created_ms : NowMs();
    h.segment_size = static_cast<uint32_t>(seg.segment_size);
    EncodeSegmentHeader(h, header.data());
    s = WriteFull(fd, header.data(), header.size(), 0, path);
  }
  if (s.ok()) s = SyncData(fd, path);
  if (s.ok()) s = SyncDir(seg.dir);
  if (!s.ok()) {
    close(fd);
    unlink(path.c_str());
    SyncDir(seg.dir);  // best effort: the error being returned is the one that matters
    return s;
  }
  *fd_out = fd;
  return Status::Ok();
}

SegmentAppender::SegmentAppender(int fd, std::string path, uint64_t segment_size, const AppendMode& mode,
                                 AlignedBuffer* buffer, FileLayer* io)
    : fd_(fd), path_(std::move(path)), segment_size_(segment_size), mode_(mode), buffer_(buffer), io_(io) {}

SegmentAppender::~SegmentAppender() {
  if (fd_ >= 0) close(fd_);
  // Hand the buffer back all zero, as it came: past used_ it is zero already, and the block
  // read back at Open may hold bytes before a failed read's end.
  const size_t dirty = used_ > mode_.alignment ? used_ : mode_.alignment;
  std::memset(buffer_->data(), 0, dirty < buffer_->size() ? dirty : buffer_->size());
}

Status SegmentAppender::Open(int fd, std::string path, uint64_t segment_size, uint64_t offset, const AppendMode& mode,
                             AlignedBuffer* buffer, FileLayer* io, std::unique_ptr<SegmentAppender>* out) {
  std::unique_ptr<SegmentAppender> a(new SegmentAppender(fd, std::move(path), segment_size, mode, buffer, io));
  const size_t align = mode.direct ? mode.alignment : 1;
  if (offset < kSegmentHeaderSize || offset > segment_size || offset % kRecordAlign != 0 ||
      buffer->size() < 2 * mode.alignment || buffer->size() % mode.alignment != 0) {
    return Status(Reason::kAppendOffset).With("file", a->path_).With("offset", offset);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoStatus("fstat", a->path_, errno);
  if (static_cast<uint64_t>(st.st_size) < segment_size) {  // cut short: preallocate again
    Status s = Preallocate(fd, segment_size, a->path_);
    if (!s.ok()) return s;
  }
  a->base_ = offset / align * align;
  a->used_ = static_cast<size_t>(offset - a->base_);
  a->written_ = a->used_;
  a->synced_end_ = offset;
  if (a->used_ > 0) {
    size_t got = 0;
    Status s = ReadFull(fd, buffer->data(), align, a->base_, a->path_, &got);
    if (!s.ok()) return s;
    std::memset(buffer->data() + a->used_, 0, align - a->used_);  // past `offset`: zero, as on disk
  }
  *out = std::move(a);
  return Status::Ok();
}

Status SegmentAppender::Copy(const uint8_t* data, size_t n) {
  while (n > 0) {
    if (used_ == buffer_->size()) {
      Status s = WriteOut();
      if (!s.ok()) return s;
    }
    const size_t take = n < buffer_->size() - used_ ? n : buffer_->size() - used_;
    std::memcpy(buffer_->data() + used_, data, take);
    used_ += take;
    data += take;
    n -= take;
  }
  return Status::Ok();
}

Status SegmentAppender::Skip(size_t n) {
  if (used_ + n > buffer_->size()) {
    Status s = WriteOut();
    if (!s.ok()) return s;
  }
  used_ += n;
  return Status::Ok();
}

Status SegmentAppender::Append(uint64_t seq, const uint8_t* payload, uint32_t length) {
  uint8_t header[kRecordHeaderSize];
  EncodeRecordHeader(seq, payload, length, header);
  Status s = Copy(header, sizeof header);
  if (s.ok()) s = Copy(payload, length);
  const size_t pad = static_cast<size_t>(RecordFootprint(length) - kRecordHeaderSize - length);
  if (s.ok() && pad != 0) s = Skip(pad);
  return s;
}

Status SegmentAppender::WriteOut() {
  if (used_ == written_) return Status::Ok();
  uint8_t* buf = buffer_->data();
  if (mode_.direct) {
    // Whole blocks from the buffer's start; the buffer is zero past used_, and so is the file.
    const size_t align = mode_.alignment;
    const size_t len = (used_ + align - 1) / align * align;
    Status s = io_->Write(fd_, path_, buf, len, base_);
    if (!s.ok()) return s;
    const size_t full = used_ / align * align;
    const size_t keep = used_ - full;
    if (full != 0) {
      std::memmove(buf, buf + full, keep);
      std::memset(buf + keep, 0, used_ - keep);
      base_ += full;
      used_ = keep;
    }
    written_ = used_;
    return Status::Ok();
  }
  Status s = io_->Write(fd_, path_, buf + written_, used_ - written_, base_ + written_);
  if (!s.ok()) return s;
  std::memset(buf, 0, used_);
  base_ += used_;
  used_ = 0;
  written_ = 0;
  return Status::Ok();
}

Status SegmentAppender::Flush() { return WriteOut(); }

Status SegmentAppender::Sync(uint64_t* micros) {
  *micros = 0;
  if (used_ == written_ && synced_end_ == end()) return Status::Ok();  // nothing new since the last sync
  Status s = WriteOut();
  if (!s.ok()) return s;
  s = SyncFile(micros);
  if (s.ok()) synced_end_ = end();
  return s;
}

Status SegmentAppender::SyncFile(uint64_t* micros) const {
  *micros = 0;
  const auto start = std::chrono::steady_clock::now();
  Status s = io_->Sync(fd_, path_);
  *micros = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count());
  return s;
}

void SegmentAppender::MarkSynced(uint64_t end) {
  if (end > synced_end_) synced_end_ = end;
}

}  // namespace wal
}  // namespace tapio
