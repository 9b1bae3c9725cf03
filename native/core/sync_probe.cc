#include "core/sync_probe.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "core/wal_file.h"

namespace tapio {
namespace wal {
namespace {

struct ModeName {
  SyncProbeMode mode;
  const char* name;
};

constexpr ModeName kModeNames[] = {
    {SyncProbeMode::kDirectPreallocated, "direct-preallocated"},
    {SyncProbeMode::kDirectZeroFilled, "direct-zero-filled"},
    {SyncProbeMode::kBufferedPreallocated, "buffered-preallocated"},
    {SyncProbeMode::kBufferedSparse, "buffered-sparse"},
    {SyncProbeMode::kBufferedAppend, "buffered-append"},
};

constexpr size_t kZeroChunk = 1u << 20;

bool IsDirect(SyncProbeMode mode) {
  return mode == SyncProbeMode::kDirectPreallocated || mode == SyncProbeMode::kDirectZeroFilled;
}

// The scratch file: made ready for the mode (and synced, directory included, so that the timed
// cycles pay for no creation), removed when replaced or destroyed.
class ScratchFile {
 public:
  ScratchFile(const SyncProbeOptions& options, size_t alignment) : options_(options), alignment_(alignment) {}
  ~ScratchFile() { Remove(); }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  Status Create() {
    Remove();
    std::string name = JoinPath(options_.dir, ".sync-probe-XXXXXX");
    const int plain = mkstemp(&name[0]);
    if (plain < 0) return ErrnoStatus("create", options_.dir, errno);
    close(plain);
    path_ = name;
    Status s = OpenFile(path_, O_RDWR, IsDirect(options_.mode), &fd_);
    if (s.ok()) s = Prepare();
    if (s.ok()) s = SyncData(fd_, path_);
    if (s.ok()) s = SyncDir(options_.dir);
    return s;
  }

 private:
  Status Prepare() {
    switch (options_.mode) {
      case SyncProbeMode::kDirectPreallocated:
      case SyncProbeMode::kBufferedPreallocated:
        return Preallocate(fd_, options_.file_bytes, path_);
      case SyncProbeMode::kBufferedSparse:
        if (ftruncate(fd_, static_cast<off_t>(options_.file_bytes)) != 0) return ErrnoStatus("ftruncate", path_, errno);
        return Status::Ok();
      case SyncProbeMode::kDirectZeroFilled:
        return FillWithZeros();
      case SyncProbeMode::kBufferedAppend:
        return Status::Ok();
    }
    return Status(Reason::kSyncProbeMode);
  }

  Status FillWithZeros() {
    AlignedBuffer zeros;
    if (!zeros.Allocate(kZeroChunk, alignment_)) {
      return Status(Reason::kOutOfMemory).With("what", "zero-block").With("bytes", uint64_t{kZeroChunk});
    }
    Status s;
    for (uint64_t at = 0; s.ok() && at < options_.file_bytes; at += kZeroChunk) {
      const uint64_t left = options_.file_bytes - at;
      // The last chunk is rounded up to the alignment; the file may end a little past file_bytes.
      uint64_t n = left < kZeroChunk ? left : kZeroChunk;
      n = (n + alignment_ - 1) / alignment_ * alignment_;
      s = WriteFull(fd_, zeros.data(), static_cast<size_t>(n), at, path_);
    }
    return s;
  }

  void Remove() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    if (!path_.empty()) unlink(path_.c_str());
    path_.clear();
  }

  const SyncProbeOptions& options_;
  const size_t alignment_;
  std::string path_;
  int fd_ = -1;
};

}  // namespace

const char* SyncProbeModeName(SyncProbeMode mode) {
  for (const ModeName& m : kModeNames) {
    if (m.mode == mode) return m.name;
  }
  return "unknown";
}

bool ParseSyncProbeMode(const std::string& name, SyncProbeMode* mode) {
  for (const ModeName& m : kModeNames) {
    if (name == m.name) {
      *mode = m.mode;
      return true;
    }
  }
  return false;
}

Status RunSyncProbe(const SyncProbeOptions& o, SyncProbeResult* out) {
  *out = SyncProbeResult();
  if (o.write_bytes == 0 || o.write_bytes > kMaxSyncProbeWrite) {
    return Status(Reason::kSyncProbeOption)
        .With("option", "write_bytes")
        .With("value", uint64_t{o.write_bytes})
        .With("max", kMaxSyncProbeWrite);
  }
  if (o.file_bytes > kMaxSyncProbeFile) {
    return Status(Reason::kSyncProbeOption)
        .With("option", "file_bytes")
        .With("value", o.file_bytes)
        .With("max", kMaxSyncProbeFile);
  }
  if (o.max_cycles > kMaxSyncProbeCycles) {
    return Status(Reason::kSyncProbeOption)
        .With("option", "max_cycles")
        .With("value", o.max_cycles)
        .With("max", kMaxSyncProbeCycles);
  }
  const uint64_t max_cycles = o.max_cycles == 0 ? kMaxSyncProbeCycles : o.max_cycles;
  const uint64_t max_nanos = o.max_micros > UINT64_MAX / 1000 ? UINT64_MAX : o.max_micros * 1000;
  const bool direct = IsDirect(o.mode);
  size_t write = o.write_bytes;
  size_t alignment = kDefaultAlignment;
  if (direct) {
    DirectIoProbe probe;
    Status s = ProbeDirectIo(o.dir, &probe);
    if (!s.ok()) return s;
    if (!probe.supported) {
      out->not_run = probe.refusal;
      return Status::Ok();
    }
    alignment = probe.alignment;
    write = (write + alignment - 1) / alignment * alignment;
  }
  if (o.file_bytes < write) {
    return Status(Reason::kSyncProbeFile).With("fileBytes", o.file_bytes).With("writeBytes", uint64_t{write});
  }
  AlignedBuffer data;
  if (!data.Allocate(write, alignment)) {
    return Status(Reason::kOutOfMemory).With("what", "probe-buffer").With("bytes", uint64_t{write});
  }
  std::memset(data.data(), 0x5a, write);

  ScratchFile file(o, alignment);
  Status s = file.Create();
  out->files = 1;
  uint64_t offset = 0;
  uint64_t total = 0;
  out->cycle_nanos.reserve(static_cast<size_t>(std::min<uint64_t>(max_cycles, 65536)));
  while (s.ok() && out->cycle_nanos.size() < max_cycles && (max_nanos == 0 || total < max_nanos)) {
    if (offset + write > o.file_bytes) {
      s = file.Create();
      out->files++;
      offset = 0;
      if (!s.ok()) break;
    }
    const auto start = std::chrono::steady_clock::now();
    s = WriteFull(file.fd(), data.data(), write, offset, file.path());
    if (s.ok()) s = SyncData(file.fd(), file.path());
    const auto nanos =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
    const uint64_t cycle = nanos > 0 ? static_cast<uint64_t>(nanos) : 0;
    out->cycle_nanos.push_back(cycle);
    total += cycle;
    offset += write;
  }
  if (!s.ok()) {
    out->cycle_nanos.clear();
    return s;
  }
  out->write_bytes = write;
  out->alignment = direct ? alignment : 0;
  return Status::Ok();
}

}  // namespace wal
}  // namespace tapio
