#include "core/wal_scan.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace tapio {
namespace wal {
namespace {

constexpr uint64_t kReadAlign = 4096;  // window reads start on page boundaries
constexpr size_t kSearchStep = 1u << 20;

bool AllZero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] != 0) return false;
  }
  return true;
}

uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// One past the last non-zero byte of an 8-byte group (1..8); the group must not be all zero.
size_t EndOfNonZero(const uint8_t* p, size_t n) {
  size_t end = n;
  while (end > 0 && p[end - 1] == 0) end--;
  return end;
}

}  // namespace

SegmentScanner::~SegmentScanner() {
  if (fd_ >= 0) close(fd_);
}

Status SegmentDamaged(const std::string& path, uint64_t offset, uint64_t bytes, const Status& damage) {
  const size_t slash = path.rfind('/');
  return Status(Reason::kSegmentDamaged)
      .With("segment", slash == std::string::npos ? path : path.substr(slash + 1))
      .With("file", path)
      .With("offset", offset)
      .With("bytes", bytes)
      .With("damage", damage.reason_name())
      .WithDetailsOf(damage);
}

Status SegmentScanner::Open(const std::string& path) {
  path_ = path;
  Status s = OpenFile(path, O_RDONLY, false, &fd_);
  if (!s.ok()) return s;
  struct stat st;
  if (fstat(fd_, &st) != 0) return ErrnoStatus("fstat", path, errno);
  file_size_ = static_cast<uint64_t>(st.st_size);
  limit_ = file_size_;
#if defined(POSIX_FADV_SEQUENTIAL)
  posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);  // a hint for a larger read-ahead
#endif
  size_t got = 0;
  s = ReadFull(fd_, header_, sizeof header_, 0, path, &got);
  if (!s.ok()) return s;
  if (got < sizeof header_) std::memset(header_ + got, 0, sizeof header_ - got);
  return Status::Ok();
}

Status SegmentScanner::Fetch(uint64_t offset, size_t n, const uint8_t** p) {
  *p = nullptr;
  if (offset + n > limit_) return Status::Ok();
  if (offset >= window_offset_ && offset + n <= window_offset_ + window_len_) {
    *p = window_.data() + (offset - window_offset_);
    return Status::Ok();
  }
  const uint64_t start = offset / kReadAlign * kReadAlign;
  const size_t need = static_cast<size_t>(offset - start) + n;
  size_t cap = need > kWindowBytes ? (need + kReadAlign - 1) / kReadAlign * kReadAlign : kWindowBytes;
  if (window_.size() < cap && !window_.Allocate(cap, kReadAlign)) {
    return Status(Reason::kOutOfMemory).With("what", "read-buffer").With("bytes", uint64_t{cap}).With("file", path_);
  }
  cap = window_.size();
  const size_t want = limit_ - start < cap ? static_cast<size_t>(limit_ - start) : cap;
  size_t got = 0;
  window_len_ = 0;
  Status s = ReadFull(fd_, window_.data(), want, start, path_, &got);
  if (!s.ok()) return s;
  window_offset_ = start;
  window_len_ = got;
  if (got < need) return Status(Reason::kFileShrank).With("file", path_).With("offset", uint64_t{start + got});
  *p = window_.data() + (offset - start);
  return Status::Ok();
}

Status SegmentScanner::ReadRecord(uint64_t offset, RecordView* out) {
  *out = RecordView();
  const uint8_t* h = nullptr;
  Status s = Fetch(offset, kRecordHeaderSize, &h);
  if (!s.ok()) return s;
  if (h == nullptr) {  // fewer than a header's bytes left
    const size_t left = offset < limit_ ? static_cast<size_t>(limit_ - offset) : 0;
    if (left != 0) s = Fetch(offset, left, &h);
    if (!s.ok()) return s;
    if (left == 0 || AllZero(h, left)) return Status::Ok();  // kEnd
    out->kind = RecordView::Kind::kBad;
    out->problem = Status(Reason::kPartialHeader).With("left", uint64_t{left});
    return Status::Ok();
  }
  if (AllZero(h, kRecordHeaderSize)) return Status::Ok();  // kEnd
  out->length = LoadLe32(h + kRecordOffLength);
  out->seq = LoadLe64(h + kRecordOffSeq);
  out->footprint = RecordFootprint(out->length);
  out->kind = RecordView::Kind::kBad;
  // The padding after the payload is not checked: a file cut inside it still holds the record.
  const uint64_t room = limit_ - offset - kRecordHeaderSize;
  if (out->length > room) {
    out->problem = Status(Reason::kRecordLength).With("length", uint64_t{out->length}).With("left", room);
    return Status::Ok();
  }
  if (out->seq == 0) {
    out->problem = Status(Reason::kSeqZero);
    return Status::Ok();
  }
  if (out->seq > kMaxSafeNumber) {
    out->problem = Status(Reason::kSeqRange);
    return Status::Ok();
  }
  const uint8_t* r = nullptr;
  s = Fetch(offset, kRecordHeaderSize + out->length, &r);
  if (!s.ok()) return s;
  const uint32_t stored = LoadLe32(r + kRecordOffCrc);
  const uint32_t actual = RecordCrc(r, r + kRecordHeaderSize, out->length);
  if (stored != actual) {
    out->problem = Status(Reason::kRecordChecksum).With("stored", uint64_t{stored}).With("computed", uint64_t{actual});
    return Status::Ok();
  }
  out->kind = RecordView::Kind::kRecord;
  out->payload = r + kRecordHeaderSize;
  return Status::Ok();
}

Status SegmentScanner::VerifyAt(uint64_t offset, uint32_t length, bool* valid) {
  *valid = false;
  const size_t n = kRecordHeaderSize + length;
  if (scratch_.size() < n && !scratch_.Allocate(n < kSearchStep ? kSearchStep : n, kReadAlign)) {
    return Status(Reason::kOutOfMemory).With("what", "read-buffer").With("bytes", uint64_t{n}).With("file", path_);
  }
  size_t got = 0;
  Status s = ReadFull(fd_, scratch_.data(), n, offset, path_, &got);
  if (!s.ok()) return s;
  const uint8_t* r = scratch_.data();
  *valid = got == n && LoadLe32(r + kRecordOffCrc) == RecordCrc(r, r + kRecordHeaderSize, length);
  return Status::Ok();
}

Status SegmentScanner::FindValidRecord(uint64_t from, uint64_t min_seq, uint64_t max_seq, uint64_t* found,
                                       uint64_t* end_nonzero) {
  *found = UINT64_MAX;
  *end_nonzero = from;
  uint64_t p = from;
  while (p < limit_) {
    const size_t n = limit_ - p < kSearchStep ? static_cast<size_t>(limit_ - p) : kSearchStep;
    const bool at_end = p + n == limit_;
    const uint8_t* w = nullptr;
    Status s = Fetch(p, n, &w);
    if (!s.ok()) return s;
    size_t i = 0;
    while (i < n) {
      const size_t group = n - i < 8 ? n - i : 8;
      if (group == 8 && Load64(w + i) == 0) {
        i += 8;
        continue;
      }
      if (group < 8 && AllZero(w + i, group)) {
        i = n;
        break;
      }
      if (!at_end && i + kRecordHeaderSize > n) break;  // fetch again from here for the header
      const uint64_t q = p + i;
      *end_nonzero = q + EndOfNonZero(w + i, group);
      if (q > from && q + kRecordHeaderSize <= limit_) {
        const uint32_t length = LoadLe32(w + i + kRecordOffLength);
        const uint64_t seq = LoadLe64(w + i + kRecordOffSeq);
        if (seq > min_seq && seq <= max_seq && length <= limit_ - q - kRecordHeaderSize) {
          bool valid = false;
          s = VerifyAt(q, length, &valid);
          if (!s.ok()) return s;
          if (valid) {
            *found = q;
            return Status::Ok();
          }
        }
      }
      i += group;
    }
    p += i;  // i > 0: a fetch that is not at the end holds at least one header
  }
  return Status::Ok();
}

}  // namespace wal
}  // namespace tapio
