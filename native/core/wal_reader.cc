#include "core/wal_reader.h"

#include <sys/stat.h>

#include <cerrno>

#include "core/wal_codec.h"
#include "core/wal_recovery.h"

namespace tapio {
namespace wal {
namespace {

// The first sequence number from a segment's header.
Status ReadFirstSeq(const std::string& path, uint64_t* first_seq) {
  SegmentScanner sc;
  Status s = sc.Open(path);
  SegmentHeader h;
  if (s.ok()) s = DecodeSegmentHeader(sc.header_block(), path, &h);
  if (s.ok()) *first_seq = h.first_seq;
  return s;
}

}  // namespace

Status SegmentReader::Open(const std::string& dir, const ReaderOptions& options, std::unique_ptr<SegmentReader>* out) {
  std::unique_ptr<SegmentReader> r(new SegmentReader(dir, options));
  Status s = ListSegments(dir, &r->numbers_);
  if (!s.ok()) return s;
  // Headers' first sequence numbers grow with the segment number: binary search for the last
  // segment starting at or before from_seq.
  size_t lo = 0;
  size_t hi = r->numbers_.size();
  while (hi - lo > 1) {
    const size_t mid = lo + (hi - lo) / 2;
    uint64_t first = 0;
    s = ReadFirstSeq(JoinPath(dir, SegmentFileName(r->numbers_[mid])), &first);
    if (!s.ok()) {
      if (!options.skip_damage) return s;
      hi = lo + 1;  // unreadable header: start early, the scan passes over what it must
      break;
    }
    if (first <= options.from_seq) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  r->index_ = lo;
  *out = std::move(r);
  return Status::Ok();
}

Status SegmentReader::RefreshList() {
  std::vector<uint64_t> now;
  Status s = ListSegments(dir_, &now);
  if (!s.ok()) return s;
  const uint64_t last = numbers_.empty() ? 0 : numbers_.back();
  for (uint64_t n : now) {
    if (n > last) numbers_.push_back(n);
  }
  return Status::Ok();
}

Status SegmentReader::OpenSegment(size_t index, bool* usable) {
  *usable = false;
  const std::string path = JoinPath(dir_, SegmentFileName(numbers_[index]));
  struct stat st;
  if (stat(path.c_str(), &st) != 0 && errno == ENOENT) return Status::Ok();  // removed by retention
  scanner_.reset(new SegmentScanner());
  Status s = scanner_->Open(path);
  SegmentHeader h;
  if (s.ok()) s = DecodeSegmentHeader(scanner_->header_block(), path, &h);
  if (!s.ok()) {
    scanner_.reset();
    const bool skip = options_.skip_damage || Recorded(numbers_[index], 0, UINT64_MAX, true);
    return skip && s.code() == StatusCode::kCorrupt ? Status::Ok() : s;
  }
  scanner_->SetLimit(h.segment_size);
  offset_ = kSegmentHeaderSize;
  *usable = true;
  return Status::Ok();
}

Status SegmentReader::Advance(bool* more) {
  *more = false;
  if (index_ + 1 >= numbers_.size()) {
    Status s = RefreshList();
    if (!s.ok()) return s;
  }
  if (index_ + 1 >= numbers_.size()) return Status::Ok();
  index_++;
  scanner_.reset();
  *more = true;
  return Status::Ok();
}

Status SegmentReader::Next(bool* has, uint64_t* seq, const uint8_t** payload, uint32_t* length) {
  *has = false;
  while (!done_) {
    if (scanner_ == nullptr) {
      if (index_ >= numbers_.size()) {
        Status s = RefreshList();
        if (!s.ok() || index_ >= numbers_.size()) return s;
      }
      bool usable = false;
      Status s = OpenSegment(index_, &usable);
      if (!s.ok()) return s;
      if (!usable) {
        index_++;
        continue;
      }
    }
    RecordView v;
    Status s = scanner_->ReadRecord(offset_, &v);
    if (!s.ok()) return s;
    if (v.kind == RecordView::Kind::kRecord) {
      if (v.seq > options_.to_seq) {
        done_ = true;
        return Status::Ok();
      }
      offset_ += v.footprint;
      last_seq_ = v.seq;
      if (v.seq < options_.from_seq) continue;
      *has = true;
      *seq = v.seq;
      *payload = v.payload;
      *length = v.length;
      return Status::Ok();
    }
    if (v.kind == RecordView::Kind::kBad) {
      if (index_ + 1 >= numbers_.size()) s = RefreshList();
      if (!s.ok()) return s;
      const bool newest = index_ + 1 >= numbers_.size();
      if (options_.skip_damage) {
        uint64_t found = 0;
        uint64_t end_nonzero = 0;
        s = scanner_->FindValidRecord(offset_, last_seq_, UINT64_MAX, &found, &end_nonzero);
        if (!s.ok()) return s;
        if (found != UINT64_MAX) {
          offset_ = found;
          continue;
        }
      } else {
        uint64_t found = 0;
        uint64_t end_nonzero = 0;
        s = scanner_->FindValidRecord(offset_, last_seq_, UINT64_MAX, &found, &end_nonzero);
        if (!s.ok()) return s;
        const bool recorded = Recorded(numbers_[index_], offset_, found, false);
        if (recorded && found != UINT64_MAX) {
          offset_ = found;  // a stretch salvage set aside
          continue;
        }
        if (!recorded && !newest) {
          return SegmentDamaged(scanner_->path(), offset_, 0, v.problem, Reason::kReadDamaged);
        }
      }
      // In the newest segment a bad record with nothing valid after it is the record being
      // written (or a tail recovery will cut): the end of the log for now.
    }
    bool more = false;
    s = Advance(&more);
    if (!s.ok()) return s;
    if (!more) {
      // The end of the newest segment: stay; the next call reads this offset again.
      scanner_->DropWindow();
      return Status::Ok();
    }
  }
  return Status::Ok();
}

bool SegmentReader::Recorded(uint64_t number, uint64_t offset, uint64_t found, bool whole_segment) {
  if (!salvaged_loaded_) {
    salvaged_ = RecordedStretches(dir_);
    salvaged_loaded_ = true;
  }
  for (const SalvageStretch& st : salvaged_) {
    if (st.segment != number || st.bytes == 0) continue;
    if (whole_segment ? st.offset < kSegmentHeaderUsed
                      : offset >= st.offset && offset < st.offset + st.bytes &&
                            (found == UINT64_MAX || found <= st.offset + st.bytes)) {
      return true;
    }
  }
  return false;
}

}  // namespace wal
}  // namespace tapio
