#include "core/wal_recovery.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <string>
#include <vector>

#include "core/salvage_file.h"
#include "core/wal_dir.h"
#include "core/wal_format.h"
#include "core/wal_scan.h"

namespace tapio {
namespace wal {
namespace {

constexpr size_t kCopyChunk = 1u << 20;

// The scan over all segments. Mirrors WalScan in src/transit/wal-recovery.ts rule for rule and
// reason for reason: a twin test runs both over the same damaged directories and compares the
// reports, the errors and the files.
class Recovery {
 public:
  Recovery(const RecoverOptions& options, RecoveryResult* out) : options_(options), out_(out) {}
  Status Run(const std::vector<uint64_t>& numbers);

 private:
  // Strict opens: reads CHECKPOINT into cp_ (have_cp_), or notes why it is not used.
  Status LoadCheckpoint(const std::vector<uint64_t>& numbers);
  // A segment up to the checkpoint: header checks only; its last sequence number comes from the
  // next segment's header (or from CHECKPOINT for the sealed one itself).
  Status CheckSealed(const std::string& name, const SegmentHeader& h, SegmentInfo* info);
  // A strict open that scanned cleanly writes CHECKPOINT for the segment before the newest; a
  // salvage that skipped damage removes it.
  Status SaveCheckpoint();
  // The newest segment, when its header never became whole and nothing follows the header
  // block: a creation the crash interrupted. Its non-zero bytes go to .broken, then it is removed.
  Status RemoveIfUnfinished(uint64_t number, bool* removed);
  Status ScanSegment(uint64_t number, bool newest, bool sealed);
  Status ScanRecords(SegmentScanner* sc, bool newest, SegmentInfo* info);
  // Bad bytes at `at`. Either moves *offset to the next valid record (after noting the damage)
  // or sets *stop: a torn tail (cut when `newest`), damage (older segments), or the clean end.
  Status OnDamage(SegmentScanner* sc, const SegmentInfo& info, bool newest, uint64_t at, const Status& damage,
                  uint64_t* offset, bool* stop);
  // Copies [from, to) of the segment to the first free "<segment>.broken", ".broken.2", ...
  // (temporary file, fdatasync, rename, directory fsync); *broken gets its path.
  Status SetAside(int fd, const std::string& path, uint64_t from, uint64_t to, std::string* broken);
  Status CutTornTail(const std::string& path, uint64_t from, uint64_t to);
  Status SetResumePoint(const std::vector<uint64_t>& numbers, bool removed);
  // Salvage: a note, a stretch for SALVAGED, and ok. Strict: ok when SALVAGED records it, else
  // kSegmentDamaged naming the segment, the offset and `damage` (a damage reason with its
  // details). A `gap` is a sequence gap, a step back or missing segments; `due` and `found` the
  // sequence number due and the one found (0, 0: none).
  Status Damage(const std::string& name, uint64_t offset, uint64_t bytes, const Status& damage, bool gap = false,
                uint64_t due = 0, uint64_t found = 0);
  // Salvage: the sequence numbers [due, found) are lost with the stretch last set aside in `segment`.
  void LostWith(uint64_t segment, uint64_t due, uint64_t found);
  // Salvage writes SALVAGED (removes it when it set nothing aside); strict reports what it holds.
  Status SaveSalvaged();
  // Records that the scan examined the header bytes [0, head) and the record area up to `end`.
  void Examined(uint64_t number, uint64_t head, uint64_t end);

  const RecoverOptions& options_;
  RecoveryResult* out_;
  uint64_t expected_ = 0;  // the sequence number the next record must have; 0 until a header was read
  uint64_t last_seq_ = 0;  // the last record kept
  bool have_cp_ = false;
  Checkpoint cp_;
  // The position in out_->segments of a sealed segment that waits for the next readable header to
  // tell its last_seq; kNoPending when none waits.
  static constexpr size_t kNoPending = static_cast<size_t>(-1);
  size_t pending_ = kNoPending;
  // A segment whose header starts later than the segment before it ends: that gap ends at the
  // first record the segment holds when that record fills part of it, which ScanRecords decides.
  struct HeaderGap {
    bool open = false;
    Status damage;
    uint64_t due = 0;
    uint64_t header_first = 0;
  };
  HeaderGap header_gap_;
  // Strict: the stretches SALVAGED records. Salvage: those this scan set aside.
  std::vector<SalvageStretch> stretches_;
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> examined_;  // number -> (header bytes, record area end)
};

void Recovery::Examined(uint64_t number, uint64_t head, uint64_t end) {
  auto& e = examined_[number];
  if (head > e.first) e.first = head;
  if (end > e.second) e.second = end;
}

void Recovery::LostWith(uint64_t segment, uint64_t due, uint64_t found) {
  if (!options_.salvage || stretches_.empty()) return;
  SalvageStretch& last = stretches_.back();
  if (last.segment != segment || last.lost_count != 0) return;
  LostBetween(due, found, &last.lost_from, &last.lost_count);
}

Status Recovery::SaveSalvaged() {
  if (!options_.salvage) {
    for (const SalvageStretch& st : stretches_) {
      for (const SegmentInfo& seg : out_->segments) {
        if (seg.number == st.segment) {
          out_->set_aside.push_back(st);
          break;
        }
      }
    }
    return Status::Ok();
  }
  out_->set_aside = stretches_;
  return WriteSalvaged(options_.dir, out_->store_id, stretches_);
}

Status Recovery::Damage(const std::string& name, uint64_t offset, uint64_t bytes, const Status& damage, bool gap,
                        uint64_t due, uint64_t found) {
  uint64_t number = 0;
  ParseSegmentFileName(name, &number);
  uint64_t lost_from = 0, lost_count = 0;
  LostBetween(due, found, &lost_from, &lost_count);
  if (options_.salvage) {
    out_->salvaged.push_back(SalvagedStretch{name, offset, bytes, damage});
    if (!stretches_.empty() && gap) {
      SalvageStretch& last = stretches_.back();
      if (last.segment == number && last.bytes > 0 && last.offset + last.bytes == offset && last.lost_count == 0) {
        // The gap a damaged stretch left: one stretch, with the sequence numbers it lost.
        last.lost_from = lost_from;
        last.lost_count = lost_count;
        return Status::Ok();
      }
    }
    stretches_.push_back(SalvageStretch{number, offset, bytes, gap ? lost_from : 0, gap ? lost_count : 0});
    return Status::Ok();
  }
  for (const SalvageStretch& st : stretches_) {
    const bool recorded =
        !gap ? st.segment == number && st.offset == offset && st.bytes == bytes
             : st.segment == number &&
                   ((st.offset == offset && st.bytes == 0) || (st.bytes > 0 && st.offset + st.bytes == offset)) &&
                   st.lost_from == lost_from && st.lost_count == lost_count;
    if (recorded) return Status::Ok();
  }
  return SegmentDamaged(JoinPath(options_.dir, name), offset, bytes, damage);
}

Status Recovery::Run(const std::vector<uint64_t>& numbers) {
  if (!options_.salvage) {
    bool found = false;
    ReadSalvaged(options_.dir, out_->store_id, &stretches_, &found, &out_->set_aside_ignored);
  }
  Status s = LoadCheckpoint(numbers);
  if (!s.ok()) return s;
  bool removed = false;
  size_t count = numbers.size();
  // The segment after the sealed one was whole before CHECKPOINT was written: never unfinished.
  if (count != 0 && (!have_cp_ || numbers.back() > cp_.sealed + 1)) {
    s = RemoveIfUnfinished(numbers.back(), &removed);
    if (!s.ok()) return s;
    if (removed) count--;
  }
  // The segment before a removed one is not the newest: it was synced whole before the writer
  // began creating the next, so damage in it is damage, not a torn tail.
  for (size_t i = 0; i < count; i++) {
    s = ScanSegment(numbers[i], !removed && i + 1 == count, have_cp_ && numbers[i] <= cp_.sealed);
    if (!s.ok()) return s;
  }
  for (const SegmentInfo& seg : out_->segments) out_->records += seg.records;
  // Sealed segments come first; the oldest record is in the first of them that holds any.
  for (const SegmentInfo& seg : out_->segments) {
    if (seg.sealed && seg.records != 0) {
      out_->first_seq = seg.first_seq;
      break;
    }
  }
  for (const auto& e : examined_) {
    out_->bytes_scanned +=
        e.second.first + (e.second.second > kSegmentHeaderSize ? e.second.second - kSegmentHeaderSize : 0);
  }
  s = SetResumePoint(numbers, removed);
  if (s.ok()) s = SaveCheckpoint();
  if (s.ok()) s = SaveSalvaged();
  return s;
}

Status Recovery::LoadCheckpoint(const std::vector<uint64_t>& numbers) {
  if (options_.salvage) return Status::Ok();  // salvage scans everything
  ReadCheckpoint(options_.dir, out_->store_id, &cp_, &have_cp_, &out_->checkpoint_ignored);
  if (!have_cp_) return Status::Ok();
  if (numbers.empty() || numbers.back() <= cp_.sealed) {
    const std::string name = SegmentFileName(cp_.sealed + 1);
    return Damage(name, 0, 0, Status(Reason::kMissingAfterCheckpoint).With("sealed", cp_.sealed), true);
  }
  return Status::Ok();
}

Status Recovery::CheckSealed(const std::string& name, const SegmentHeader& h, SegmentInfo* info) {
  info->first_seq = h.first_seq;
  info->segment_size = h.segment_size;
  info->appendable = true;
  info->sealed = true;
  if (h.number != cp_.sealed) {
    pending_ = out_->segments.size();  // the next readable header tells where this segment ends
  } else {
    if (h.first_seq != cp_.first_seq) {
      Status s = Damage(
          name, kHeaderOffFirstSeq, 0,
          Status(Reason::kCheckpointFirstSeq).With("firstSeq", h.first_seq).With("checkpointFirstSeq", cp_.first_seq));
      if (!s.ok()) return s;
    }
    info->last_seq = cp_.last_seq;
    info->records = cp_.last_seq + 1 - h.first_seq;
    last_seq_ = cp_.last_seq;
    expected_ = cp_.last_seq + 1;
  }
  out_->sealed_segments++;
  return Status::Ok();
}

Status Recovery::SaveCheckpoint() {
  const std::string path = JoinPath(options_.dir, kCheckpointFileName);
  if (options_.salvage) {
    // Salvage scanned every segment without it, and may have removed an unfinished segment the
    // checkpoint counts on or skipped damage in segments it calls sealed: without CHECKPOINT
    // the next strict open scans every segment too (a directory in its place is unusable anyway).
    if (unlink(path.c_str()) != 0 && errno != ENOENT && errno != EISDIR) return ErrnoStatus("unlink", path, errno);
    return Status::Ok();
  }
  if (out_->segments.size() < 2) return Status::Ok();
  const SegmentInfo& sealed = out_->segments[out_->segments.size() - 2];
  if (have_cp_ && cp_.sealed == sealed.number) return Status::Ok();
  // The checkpoint lets the next open skip the interrupted-creation check of the newest segment,
  // so the newest segment (its header) and its directory entry must be durable first: a crash may
  // have cut its creation short before either was synced.
  const SegmentInfo& newest = out_->segments.back();
  int fd = -1;
  Status s = OpenFile(JoinPath(options_.dir, newest.name), O_RDONLY, false, &fd);
  if (s.ok()) {
    s = SyncData(fd, JoinPath(options_.dir, newest.name));
    close(fd);
  }
  if (s.ok()) s = SyncDir(options_.dir);
  // Best effort: without a new CHECKPOINT the next open only scans more.
  if (s.ok()) WriteCheckpoint(options_.dir, out_->store_id, sealed.number, sealed.first_seq, sealed.last_seq);
  return Status::Ok();
}

Status Recovery::SetResumePoint(const std::vector<uint64_t>& numbers, bool removed) {
  ResumePoint& r = out_->resume;
  r = ResumePoint();
  r.store_id = out_->store_id;
  const bool only_first_removed = removed && numbers.size() == 1 && numbers[0] == 1;
  if (!numbers.empty() && expected_ == 0 && !only_first_removed) {
    return Status(Reason::kNoReadableHeader).With("dir", options_.dir);
  }
  r.next_seq = expected_ != 0 ? expected_ : 1;
  r.segment_first_seq = r.next_seq;
  r.write_checkpoints = out_->salvaged.empty();
  out_->last_seq = last_seq_;
  if (out_->segments.empty()) {
    r.segment = 1;
  } else if (out_->segments.back().appendable) {
    const SegmentInfo& last = out_->segments.back();
    r.segment = last.number;
    r.segment_exists = true;
    r.segment_size = last.segment_size;
    r.write_offset = last.end_offset;
    r.segment_first_seq = last.first_seq;
  } else {
    r.segment = out_->segments.back().number + 1;  // salvage: an unreadable newest header
  }
  return Status::Ok();
}

Status Recovery::RemoveIfUnfinished(uint64_t number, bool* removed) {
  *removed = false;
  const std::string path = JoinPath(options_.dir, SegmentFileName(number));
  SegmentScanner sc;
  Status s = sc.Open(path);
  if (!s.ok()) return s;
  SegmentHeader h;
  const uint64_t size = sc.file_size();
  s = CheckSegmentHeader(sc.header_block(), size < kSegmentHeaderUsed ? static_cast<size_t>(size) : kSegmentHeaderUsed,
                         &h);
  const uint64_t head = size < kSegmentHeaderUsed ? size : kSegmentHeaderUsed;
  Examined(number, head, 0);
  if (s.ok() || s.code() == StatusCode::kFormatVersion) return Status::Ok();
  uint64_t found = 0;
  uint64_t end_nonzero = 0;
  s = sc.FindValidRecord(0, UINT64_MAX, UINT64_MAX, &found, &end_nonzero);
  Examined(number, head, size);
  if (!s.ok() || end_nonzero > kSegmentHeaderSize) return s;  // something follows the header block
  if (end_nonzero > 0) {
    int fd = -1;
    s = OpenFile(path, O_RDONLY, false, &fd);
    std::string broken;
    if (s.ok()) s = SetAside(fd, path, 0, end_nonzero, &broken);
    if (fd >= 0) close(fd);
    if (!s.ok()) return s;
    out_->torn_bytes += end_nonzero;
    out_->broken_file = broken;
  }
  if (unlink(path.c_str()) != 0) return ErrnoStatus("unlink", path, errno);
  s = SyncDir(options_.dir);
  if (!s.ok()) return s;
  out_->removed_files.push_back(path);
  *removed = true;
  return Status::Ok();
}

Status Recovery::ScanSegment(uint64_t number, bool newest, bool sealed) {
  const std::string name = SegmentFileName(number);
  const std::string path = JoinPath(options_.dir, name);
  SegmentScanner sc;
  Status s = sc.Open(path);
  if (!s.ok()) return s;
  const uint64_t size = sc.file_size();
  const SegmentInfo* prev = out_->segments.empty() ? nullptr : &out_->segments.back();
  SegmentInfo info;
  info.name = name;
  info.number = number;
  info.segment_size = size;
  info.appendable = false;  // until the header checks out
  SegmentHeader h;
  s = CheckSegmentHeader(sc.header_block(), size < kSegmentHeaderUsed ? static_cast<size_t>(size) : kSegmentHeaderUsed,
                         &h);
  Examined(number, size < kSegmentHeaderUsed ? size : kSegmentHeaderUsed, 0);
  if (!s.ok()) {
    if (s.code() == StatusCode::kFormatVersion) {
      return Status(Reason::kSegmentVersion)
          .With("segment", name)
          .With("file", path)
          .With("damage", s.reason_name())
          .WithDetailsOf(s);
    }
    s = Damage(name, 0, size, s);
    if (s.ok()) out_->segments.push_back(info);
    return s;
  }
  if (h.number != number) {
    s = Damage(name, kHeaderOffSegment, size,
               Status(Reason::kHeaderSegment).With("headerSegment", h.number).With("fileSegment", number));
    if (s.ok()) out_->segments.push_back(info);
    return s;
  }
  if (h.store_id != out_->store_id) {
    // Not damage that salvage could skip: a segment of another WAL was copied in.
    Status damage = Status(Reason::kForeignStore)
                        .With("storeId", StoreIdToHex(h.store_id))
                        .With("walStoreId", StoreIdToHex(out_->store_id));
    return Status(Reason::kSegmentForeign)
        .With("segment", name)
        .With("file", path)
        .With("offset", static_cast<uint64_t>(kHeaderOffStoreId))
        .With("bytes", size)
        .With("damage", damage.reason_name())
        .WithDetailsOf(damage);
  }
  if (pending_ != kNoPending) {
    // The sealed segment before this one ends where this one starts, or, when segments set aside
    // whole lie between them, where SALVAGED says the records lost with them begin.
    SegmentInfo& p = out_->segments[pending_];
    pending_ = kNoPending;
    uint64_t end = h.first_seq;
    if (number != p.number + 1) {
      for (const SalvageStretch& st : stretches_) {
        if (st.segment == p.number + 1 && st.offset == 0 && st.lost_count != 0 && st.lost_from >= p.first_seq &&
            st.lost_from <= h.first_seq) {
          end = st.lost_from;
          break;
        }
      }
    }
    if (h.first_seq < p.first_seq) {
      s = Damage(name, kHeaderOffFirstSeq, 0,
                 Status(Reason::kSegmentBack)
                     .With("firstSeq", h.first_seq)
                     .With("previous", p.name)
                     .With("previousFirstSeq", p.first_seq),
                 true, p.first_seq, h.first_seq);
      if (!s.ok()) return s;
    } else {
      p.last_seq = end - 1;
      p.records = end - p.first_seq;
      last_seq_ = p.last_seq;
      expected_ = end;
    }
  }
  if (prev == nullptr && have_cp_ && number == cp_.sealed + 1) {
    // Retention removed the sealed segments; CHECKPOINT still tells where the last one ended.
    expected_ = cp_.last_seq + 1;
    if (h.first_seq != expected_) {
      s = Damage(name, kHeaderOffFirstSeq, 0,
                 Status(Reason::kCheckpointGap)
                     .With("firstSeq", h.first_seq)
                     .With("sealed", cp_.sealed)
                     .With("lastSeq", cp_.last_seq),
                 true, expected_, h.first_seq);
      if (!s.ok()) return s;
    }
  }
  if (prev != nullptr && number != prev->number + 1) {
    const uint64_t missing = number - prev->number - 1;
    s = Damage(name, 0, 0, Status(Reason::kSegmentsMissing).With("missing", missing).With("previous", prev->name),
               true);
    if (!s.ok()) return s;
  }
  header_gap_ = HeaderGap{};
  if (prev != nullptr && prev->appendable && h.first_seq != expected_) {
    Status gap = Status(Reason::kSegmentGap)
                     .With("firstSeq", h.first_seq)
                     .With("previous", prev->name)
                     .With("previousLastSeq", expected_ - 1);
    if (h.first_seq > expected_ && !sealed) {
      header_gap_ = HeaderGap{true, gap, expected_, h.first_seq};
    } else {
      s = Damage(name, kHeaderOffFirstSeq, 0, gap, true, expected_, h.first_seq);
      if (!s.ok()) return s;
    }
  }
  if (prev != nullptr && !prev->appendable && expected_ > 0 && h.first_seq > expected_) {
    // The sequence numbers of the unusable segment before this one are lost with it.
    LostWith(prev->number, expected_, h.first_seq);
  }
  // Salvage after a gap: a later start skips ahead; an earlier one leaves records that go back
  // in sequence, which the record scan sets aside.
  if (h.first_seq > expected_) expected_ = h.first_seq;
  if (sealed) {
    s = CheckSealed(name, h, &info);
    if (s.ok()) out_->segments.push_back(info);
    return s;
  }
  info.first_seq = h.first_seq;
  info.segment_size = h.segment_size;
  info.appendable = true;
  sc.SetLimit(h.segment_size);
  s = ScanRecords(&sc, newest, &info);
  Examined(number, kSegmentHeaderUsed, sc.limit());
  if (!s.ok()) return s;
  out_->segments.push_back(info);
  return Status::Ok();
}

Status Recovery::ScanRecords(SegmentScanner* sc, bool newest, SegmentInfo* info) {
  uint64_t offset = kSegmentHeaderSize;
  uint64_t expected = expected_;
  info->end_offset = offset;
  info->last_seq = info->first_seq - 1;
  for (;;) {
    RecordView v;
    Status s = sc->ReadRecord(offset, &v);
    if (!s.ok()) return s;
    if (header_gap_.open && v.kind == RecordView::Kind::kRecord) {
      // The header's gap ends at the first record when that one fills part of it.
      const HeaderGap& g = header_gap_;
      const uint64_t found = v.seq >= g.due && v.seq < g.header_first ? v.seq : g.header_first;
      header_gap_.open = false;
      s = Damage(info->name, kHeaderOffFirstSeq, 0, g.damage, true, g.due, found);
      if (!s.ok()) return s;
      if (found == v.seq) expected = v.seq;
    }
    Status damage;
    if (v.kind == RecordView::Kind::kRecord) {
      if (v.seq != expected && v.seq > last_seq_) {
        s = Damage(info->name, offset, 0, Status(Reason::kSeqGap).With("expected", expected).With("found", v.seq), true,
                   expected, v.seq);
        if (!s.ok()) return s;
      }
      if (v.seq == expected || v.seq > last_seq_) {
        if (IndexesRecord(offset, v.footprint)) {
          out_->index_points.insert(out_->index_points.end(), {info->number, v.seq, offset});
        }
        if (out_->first_seq == 0) out_->first_seq = v.seq;
        last_seq_ = v.seq;
        info->records++;
        info->last_seq = v.seq;
        expected = v.seq + 1;
        offset += v.footprint;
        info->end_offset = offset;
        continue;
      }
      damage = Status(Reason::kSeqBehind).With("seq", v.seq).With("last", last_seq_);
    } else if (v.kind == RecordView::Kind::kEnd) {
      damage = Status(Reason::kBytesAfterEnd);  // used only when they are
    } else {
      damage = v.problem;
    }
    bool stop = false;
    s = OnDamage(sc, *info, newest, offset, damage, &offset, &stop);
    if (!s.ok()) return s;
    if (stop) break;
  }
  if (header_gap_.open) {
    header_gap_.open = false;
    Status s =
        Damage(info->name, kHeaderOffFirstSeq, 0, header_gap_.damage, true, header_gap_.due, header_gap_.header_first);
    if (!s.ok()) return s;
  }
  expected_ = expected;
  return Status::Ok();
}

Status Recovery::OnDamage(SegmentScanner* sc, const SegmentInfo& info, bool newest, uint64_t at, const Status& damage,
                          uint64_t* offset, bool* stop) {
  *stop = false;
  uint64_t found = 0;
  uint64_t end_nonzero = 0;
  Status s = sc->FindValidRecord(at, last_seq_, kMaxSafeNumber, &found, &end_nonzero);
  if (!s.ok()) return s;
  if (found != UINT64_MAX) {
    s = Damage(info.name, at, found - at, Status(damage).With("validAt", found));
    if (s.ok()) *offset = found;
    return s;
  }
  *stop = true;
  if (end_nonzero <= at) return Status::Ok();  // zeros to the end: the clean end
  if (!newest) return Damage(info.name, at, end_nonzero - at, Status(damage).WithFlag("olderSegment"));
  return CutTornTail(sc->path(), at, end_nonzero);
}

Status Recovery::SetAside(int fd, const std::string& path, uint64_t from, uint64_t to, std::string* broken) {
  const std::string base = path + kBrokenSuffix;
  std::string name = base;
  for (int n = 2; access(name.c_str(), F_OK) == 0; n++) name = base + "." + std::to_string(n);
  const std::string tmp = name + ".tmp";
  int out = -1;
  Status s = OpenFile(tmp, O_WRONLY | O_CREAT | O_TRUNC, false, &out);
  std::string chunk(kCopyChunk, '\0');
  uint8_t* buf = reinterpret_cast<uint8_t*>(&chunk[0]);
  for (uint64_t at = from; s.ok() && at < to; at += kCopyChunk) {
    const size_t n = to - at < kCopyChunk ? static_cast<size_t>(to - at) : kCopyChunk;
    size_t got = 0;
    s = ReadFull(fd, buf, n, at, path, &got);
    if (s.ok() && got < n) s = Status(Reason::kFileShrank).With("file", path).With("offset", uint64_t{at + got});
    if (s.ok()) s = WriteFull(out, buf, n, at - from, tmp);
  }
  if (s.ok()) s = SyncData(out, tmp);
  if (out >= 0) close(out);
  if (s.ok() && rename(tmp.c_str(), name.c_str()) != 0) s = ErrnoStatus("rename", name, errno);
  if (s.ok()) s = SyncDir(options_.dir);
  if (s.ok()) *broken = name;
  return s;
}

// Sets [from, to) aside, then zeroes it in the segment and fdatasyncs.
Status Recovery::CutTornTail(const std::string& path, uint64_t from, uint64_t to) {
  int seg = -1;
  std::string broken;
  Status s = OpenFile(path, O_RDWR, false, &seg);
  if (s.ok()) s = SetAside(seg, path, from, to, &broken);
  const std::string zeros(kCopyChunk, '\0');
  for (uint64_t at = from; s.ok() && at < to; at += kCopyChunk) {
    const size_t n = to - at < kCopyChunk ? static_cast<size_t>(to - at) : kCopyChunk;
    s = WriteFull(seg, reinterpret_cast<const uint8_t*>(zeros.data()), n, at, path);
  }
  if (s.ok()) s = SyncData(seg, path);
  if (seg >= 0) close(seg);
  if (!s.ok()) return s;
  out_->torn_bytes += to - from;
  out_->broken_file = broken;
  return Status::Ok();
}

}  // namespace

Status Recover(const RecoverOptions& options, RecoveryResult* out) {
  *out = RecoveryResult();
  std::string first_created;
  Status s = EnsureDir(options.dir, &first_created);
  std::vector<uint64_t> numbers;
  if (s.ok()) s = ListSegments(options.dir, &numbers);
  if (s.ok()) s = LoadOrCreateId(options.dir, !numbers.empty(), first_created, &out->store_id, &out->created);
  if (s.ok()) s = Recovery(options, out).Run(numbers);
  return s;
}

}  // namespace wal
}  // namespace tapio
