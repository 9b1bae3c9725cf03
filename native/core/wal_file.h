// Segment files of the transit WAL on a POSIX file system: the O_DIRECT probe, segment creation
// (create, preallocate, header, fdatasync, directory fsync), appending records through an
// aligned buffer (O_DIRECT or buffered) and fdatasync, the last two through a FileLayer
// (core/file_layer.h), under which tests put one that fails or forgets on command.
//
// Every failed system call is a kIo status with the operation (the TypeScript twin's name for
// it: open, write, read, fdatasync, fsync, fallocate, ftruncate, fstat, create, fcntl, rename,
// unlink, mkdir, stat, readdir), the file and the errno name. Nothing here is shared between
// threads unless stated.
#ifndef TAPIO_CORE_WAL_FILE_H_
#define TAPIO_CORE_WAL_FILE_H_

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/file_layer.h"
#include "core/limits.h"
#include "core/status.h"
#include "core/wal_codec.h"
#include "core/wal_format.h"

namespace tapio {
namespace wal {

// Where the log ends: what Recover found and where the writer resumes.
struct ResumePoint {
  StoreId store_id;
  uint64_t segment = 1;            // the segment to append to
  bool segment_exists = false;     // false: the writer creates it, starting at next_seq
  uint64_t segment_size = 0;       // when it exists: its size from its header
  uint64_t write_offset = 0;       // when it exists: the end of its last whole record
  uint64_t segment_first_seq = 1;  // when it exists: the first sequence number from its header
  uint64_t next_seq = 1;
  // Write CHECKPOINT at each segment roll. Off after a salvage that skipped damage, so the
  // next open scans every segment again and a strict open still refuses the damage.
  bool write_checkpoints = false;
};

// A kIo status: details operation, file and errno (the name, as ErrnoCode gives it).
Status ErrnoStatus(const std::string& operation, const std::string& path, int error_number);
// The errno name Node.js gives (EIO, EISDIR, ...), or "errno <n>" for one this code does not name.
std::string ErrnoCode(int error_number);
std::string JoinPath(const std::string& dir, const std::string& name);

// A heap block aligned for O_DIRECT, zero-filled at allocation.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  ~AlignedBuffer();
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  bool Allocate(size_t size, size_t alignment);
  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  static constexpr size_t kPageSize = 4096;
  static constexpr size_t kMapThreshold = 256 * 1024;
  static constexpr size_t kHugeThreshold = 4 << 20;
  void Release();

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
};

struct DirectIoProbe {
  bool supported = false;
  // The file offset and length alignment direct writes use: the larger of what the file system
  // reports (statx STATX_DIOALIGN, else its block size) and kDefaultAlignment, at most
  // kMaxDirectIoAlignment.
  size_t alignment = kDefaultAlignment;
  // Why direct I/O is not used, when it is not: kDirectIoRefused (opening with O_DIRECT failed),
  // kDirectWriteFailed (an aligned direct write failed) or kOutOfMemory.
  Status refusal;
};

// Creates a temporary file in `dir`, opens it with O_DIRECT (F_NOCACHE on macOS), does one
// aligned write, and removes it. kIo only when `dir` cannot hold a file at all; a file system
// that refuses O_DIRECT gives supported = false and a refusal.
Status ProbeDirectIo(const std::string& dir, DirectIoProbe* out);

// Writes all `n` bytes at `offset`, retrying short writes and EINTR.
Status WriteFull(int fd, const uint8_t* data, size_t n, uint64_t offset, const std::string& path);
// Reads up to `n` bytes at `offset`; *got < n only at the end of the file.
Status ReadFull(int fd, uint8_t* data, size_t n, uint64_t offset, const std::string& path, size_t* got);
// fdatasync (F_FULLFSYNC on macOS, falling back to fsync).
Status SyncData(int fd, const std::string& path);
// fsync of a directory, so a create, rename or unlink in it survives a crash.
Status SyncDir(const std::string& dir);
// posix_fallocate, or ftruncate where the file system cannot preallocate.
Status Preallocate(int fd, uint64_t size, const std::string& path);
// Opens `path` with open(2) flags plus O_CLOEXEC, and direct I/O when `direct`. A file it
// creates gets mode 0600 (narrowed further by the umask).
Status OpenFile(const std::string& path, int flags, bool direct, int* fd);

struct NewSegment {
  std::string dir;
  uint64_t number = 0;
  uint64_t first_seq = 0;
  StoreId store_id;
  uint64_t segment_size = kDefaultSegmentSize;
  uint64_t created_ms = 0;  // 0: now
  bool direct = false;
  size_t alignment = kDefaultAlignment;
};

// Creates segment `number` with O_CREAT|O_EXCL, preallocates it, writes and fdatasyncs the
// header, then fsyncs the directory. On failure nothing is left behind. *fd is open for
// reading and writing (direct when asked).
Status CreateSegmentFile(const NewSegment& segment, int* fd);

// How a SegmentAppender writes.
struct AppendMode {
  bool direct = false;
  size_t alignment = kDefaultAlignment;  // used when direct
};

// Appends records to one open segment through a caller-owned aligned buffer. Bytes go to the
// file when the buffer fills, at Flush or at Sync. In direct mode each write covers whole
// blocks, from the aligned start of the block holding the first unwritten byte, so that block is
// rewritten until it is full; in buffered mode each byte is written once, at its own offset. The
// resulting file bytes are identical in both modes.
//
// Threads: one writer thread calls everything except SyncFile, which any thread may call while
// the writer thread appends and flushes (a pipelined writer syncs what was flushed on a second
// thread while the first writes the next group). The caller keeps the appender alive until
// every SyncFile call returned.
class SegmentAppender {
 public:
  // Takes ownership of `fd`. `offset` is where the next record goes (the end of the last whole
  // record); in direct mode the bytes of its block before `offset` are read back into the
  // buffer. `buffer` must outlive the appender, be all zero (as Allocate returns it and every
  // appender leaves it), be aligned to mode.alignment and hold at least two blocks, a multiple
  // of mode.alignment. Record bytes go to the file through `io`, which must outlive the appender.
  static Status Open(int fd, std::string path, uint64_t segment_size, uint64_t offset, const AppendMode& mode,
                     AlignedBuffer* buffer, FileLayer* io, std::unique_ptr<SegmentAppender>* out);
  ~SegmentAppender();
  SegmentAppender(const SegmentAppender&) = delete;
  SegmentAppender& operator=(const SegmentAppender&) = delete;

  // Offset where the next record goes.
  uint64_t end() const { return base_ + used_; }
  uint64_t Remaining() const { return segment_size_ - end(); }
  uint64_t segment_size() const { return segment_size_; }
  const std::string& path() const { return path_; }

  // Copies one record (header, payload, zero padding). The caller checks that
  // RecordFootprint(length) <= Remaining(). May write to the file when the buffer fills.
  Status Append(uint64_t seq, const uint8_t* payload, uint32_t length);
  // Writes what is buffered; once it returns, every appended byte is in a completed write, so
  // an fdatasync that starts afterwards covers it.
  Status Flush();
  // Writes what is buffered, then fdatasyncs (nothing at all when nothing changed since the
  // last sync). *micros gets the fdatasync's duration.
  Status Sync(uint64_t* micros);

  // Any thread: one fdatasync of the file. It covers every write that completed before it
  // started. It changes nothing the writer thread uses: the writer thread records a success
  // with MarkSynced.
  Status SyncFile(uint64_t* micros) const;
  // Writer thread: bytes before `end` are known to be durable.
  void MarkSynced(uint64_t end);

 private:
  SegmentAppender(int fd, std::string path, uint64_t segment_size, const AppendMode& mode, AlignedBuffer* buffer,
                  FileLayer* io);
  Status Copy(const uint8_t* data, size_t n);
  Status Skip(size_t n);  // zero padding: the buffer is zero past used_
  Status WriteOut();

  int fd_;
  std::string path_;
  uint64_t segment_size_;
  AppendMode mode_;
  AlignedBuffer* buffer_;
  FileLayer* io_;
  uint64_t base_ = 0;   // file offset of buffer_->data()[0]
  size_t used_ = 0;     // bytes of the buffer holding record bytes
  size_t written_ = 0;  // of those, bytes already written to the file
  uint64_t synced_end_ = 0;
};

}  // namespace wal
}  // namespace tapio

#endif  // TAPIO_CORE_WAL_FILE_H_
