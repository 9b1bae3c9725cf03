#include "core/wal_recovery.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>

#include "core/wal_format.h"
#include "core/wal_scan.h"

namespace tapio {
namespace wal {
namespace {

constexpr size_t kCopyChunk = 1u << 20;
constexpr size_t kMaxIdFileBytes = 64 * 1024;
constexpr const char* kWalFormatName = "tapio-wal";

// ---- directory and WAL_ID ----

Status EnsureDir(const std::string& dir) {
  if (dir.empty()) return Status::InvalidArgument("WAL recovery: dir is empty");
  for (size_t pos = 1; pos <= dir.size(); pos++) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    const std::string prefix = dir.substr(0, pos);
    if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoStatus("mkdir", prefix, errno);
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) return ErrnoStatus("stat", dir, errno);
  if (!S_ISDIR(st.st_mode)) return Status::IoError(dir + " is not a directory");
  return Status::Ok();
}

// A flat JSON object of string, number and literal values: enough for WAL_ID, strict about
// syntax, tolerant of keys it does not know.
class FlatJson {
 public:
  explicit FlatJson(const std::string& text) : s_(text) {}
  bool Parse(std::map<std::string, std::string>* values) {
    Ws();
    if (!Eat('{')) return false;
    Ws();
    if (Eat('}')) return End();
    for (;;) {
      std::string key, value;
      Ws();
      if (!String(&key)) return false;
      Ws();
      if (!Eat(':')) return false;
      Ws();
      if (!Value(&value)) return false;
      (*values)[key] = value;
      Ws();
      if (Eat('}')) return End();
      if (!Eat(',')) return false;
    }
  }

 private:
  bool End() {
    Ws();
    return i_ == s_.size();
  }
  void Ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) i_++;
  }
  bool Eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      i_++;
      return true;
    }
    return false;
  }
  // Strings keep escapes as written, except \" and \\; WAL_ID values need none.
  bool String(std::string* out) {
    if (!Eat('"')) return false;
    while (i_ < s_.size() && s_[i_] != '"') {
      if (static_cast<unsigned char>(s_[i_]) < 0x20) return false;
      if (s_[i_] == '\\' && i_ + 1 < s_.size()) i_++;
      out->push_back(s_[i_++]);
    }
    return Eat('"');
  }
  bool Value(std::string* out) {
    if (i_ < s_.size() && s_[i_] == '"') {
      std::string v;
      if (!String(&v)) return false;
      *out = "\"" + v;  // a leading quote marks a string
      return true;
    }
    const size_t start = i_;
    while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '-' || s_[i_] == '+' ||
                              s_[i_] == '.')) {
      i_++;
    }
    *out = s_.substr(start, i_ - start);
    return !out->empty();
  }

  const std::string& s_;
  size_t i_ = 0;
};

Status ReadSmallFile(const std::string& path, std::string* out, bool* missing) {
  *missing = false;
  int fd;
  do {
    fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    if (errno != ENOENT) return ErrnoStatus("open", path, errno);
    *missing = true;
    return Status::Ok();
  }
  std::string buf(kMaxIdFileBytes + 1, '\0');
  size_t got = 0;
  Status s = ReadFull(fd, reinterpret_cast<uint8_t*>(&buf[0]), buf.size(), 0, path, &got);
  close(fd);
  if (!s.ok()) return s;
  if (got > kMaxIdFileBytes) return Status::Corrupt(path + " is larger than " + std::to_string(kMaxIdFileBytes) + " bytes");
  buf.resize(got);
  *out = std::move(buf);
  return Status::Ok();
}

Status ParseWalId(const std::string& path, const std::string& text, StoreId* id) {
  std::map<std::string, std::string> v;
  if (!FlatJson(text).Parse(&v)) {
    return Status::Corrupt(path + " is not the JSON object this file must hold; restore it from a backup");
  }
  if (v["format"] != std::string("\"") + kWalFormatName) {
    return Status::FormatVersion(path + ": format is " + (v.count("format") ? v["format"].substr(1) : "missing") +
                                 ", expected " + kWalFormatName + " (this directory is not a tapio WAL)");
  }
  if (v["version"] != std::to_string(kFormatVersion)) {
    return Status::FormatVersion(path + ": WAL version " + (v["version"].empty() ? "missing" : v["version"]) +
                                 " is not supported (this build reads version " + std::to_string(kFormatVersion) +
                                 ")");
  }
  const std::string& hex = v["storeId"];
  if (hex.empty() || hex[0] != '"' || !StoreIdFromHex(hex.substr(1), id)) {
    return Status::Corrupt(path + ": storeId must be 32 hex digits");
  }
  return Status::Ok();
}

// Writes WAL_ID through a temporary file: fdatasync, rename, fsync of the directory.
Status WriteWalId(const std::string& dir, const StoreId& id) {
  const std::string path = JoinPath(dir, kIdFileName);
  const std::string tmp = path + ".tmp";
  const std::string text = WalIdContents(id);
  int fd = -1;
  Status s = OpenFile(tmp, O_WRONLY | O_CREAT | O_TRUNC, false, &fd);
  if (!s.ok()) return s;
  s = WriteFull(fd, reinterpret_cast<const uint8_t*>(text.data()), text.size(), 0, tmp);
  if (s.ok()) s = SyncData(fd, tmp);
  close(fd);
  if (s.ok() && rename(tmp.c_str(), path.c_str()) != 0) s = ErrnoStatus("rename to " + path + " of", tmp, errno);
  if (s.ok()) s = SyncDir(dir);
  return s;
}

Status LoadOrCreateId(const std::string& dir, bool has_segments, RecoveryResult* out) {
  const std::string path = JoinPath(dir, kIdFileName);
  std::string text;
  bool missing = false;
  Status s = ReadSmallFile(path, &text, &missing);
  if (!s.ok()) return s;
  if (!missing) return ParseWalId(path, text, &out->store_id);
  if (has_segments) {
    return Status::Corrupt(path + " is missing but the directory holds WAL segments; restore it (the store id is "
                                  "bytes 32..48 of every segment header)");
  }
  s = NewStoreId(&out->store_id);
  if (s.ok()) s = WriteWalId(dir, out->store_id);
  out->created = s.ok();
  return s;
}

// ---- segment scan ----

bool AllZero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] != 0) return false;
  }
  return true;
}

class Recovery {
 public:
  Recovery(const RecoverOptions& options, RecoveryResult* out) : options_(options), out_(out) {}
  Status Run(const std::vector<uint64_t>& numbers);

 private:
  Status ScanSegment(uint64_t number, bool newest, bool* skipped, bool* removed);
  Status CheckContinuity(const SegmentHeader& h, const std::string& name);
  Status ScanRecords(SegmentScanner* sc, bool newest, SegmentInfo* info);
  // At `*offset` is not the next record: decides between clean end, torn tail, corruption and
  // (salvage) skipping to the next valid record.
  Status OnDamage(SegmentScanner* sc, bool newest, const RecordView& v, uint64_t expected, uint64_t* offset,
                  bool* stop);
  Status CutTornTail(const std::string& path, uint64_t from, uint64_t to);
  Status RemoveIfUnfinished(SegmentScanner* sc, bool* removed);
  Status SetResumePoint(const std::vector<uint64_t>& numbers, bool newest_skipped, bool newest_removed);
  // Strict: the error. Salvage: a note in out_->salvaged, and ok.
  Status Damage(const std::string& name, uint64_t offset, uint64_t bytes, const std::string& what,
                const std::string& strict_message) {
    if (!options_.salvage) return Status::Corrupt(strict_message + "; open with salvage to keep every valid record");
    out_->salvaged.push_back(SalvagedStretch{name, offset, bytes, what});
    return Status::Ok();
  }
  std::string Where(const std::string& name, uint64_t offset) const {
    return JoinPath(options_.dir, name) + " at offset " + std::to_string(offset);
  }

  const RecoverOptions& options_;
  RecoveryResult* out_;
  uint64_t expected_seq_ = 0;  // the next sequence number; 0 until a segment header was read
  uint64_t prev_number_ = 0;   // the previous segment file's number; 0 before the first
};

Status Recovery::Run(const std::vector<uint64_t>& numbers) {
  bool skipped = false;
  bool removed = false;
  for (size_t i = 0; i < numbers.size(); i++) {
    Status s = ScanSegment(numbers[i], i + 1 == numbers.size(), &skipped, &removed);
    if (!s.ok()) return s;
  }
  for (const SegmentInfo& seg : out_->segments) out_->records += seg.records;
  return SetResumePoint(numbers, skipped, removed);
}

Status Recovery::SetResumePoint(const std::vector<uint64_t>& numbers, bool newest_skipped, bool newest_removed) {
  ResumePoint& r = out_->resume;
  r = ResumePoint();
  r.store_id = out_->store_id;
  const bool only_first_removed = newest_removed && numbers.size() == 1 && numbers[0] == 1;
  if (!numbers.empty() && expected_seq_ == 0 && !only_first_removed) {
    return Status::Corrupt("no readable segment header in " + options_.dir +
                           ", so the next sequence number is unknown; restore the directory from a backup");
  }
  r.next_seq = expected_seq_ != 0 ? expected_seq_ : 1;
  out_->last_seq = out_->records != 0 ? r.next_seq - 1 : 0;
  if (!out_->segments.empty() && !newest_skipped) {
    // Append to the newest readable segment (the one before a removed unfinished one, if so).
    const SegmentInfo& last = out_->segments.back();
    r.segment = last.number;
    r.segment_exists = true;
    r.segment_size = last.segment_size;
    r.write_offset = last.end_offset;
  } else if (!numbers.empty()) {
    // Salvage with an unreadable newest header, or an unfinished first segment: a new file.
    r.segment = newest_skipped ? numbers.back() + 1 : numbers.back();
  }
  return Status::Ok();
}

Status Recovery::ScanSegment(uint64_t number, bool newest, bool* skipped, bool* removed) {
  const std::string name = SegmentFileName(number);
  const std::string path = JoinPath(options_.dir, name);
  SegmentScanner sc;
  Status s = sc.Open(path);
  if (s.ok() && newest) s = RemoveIfUnfinished(&sc, removed);
  if (!s.ok() || *removed) {
    out_->bytes_scanned += sc.bytes_read();
    return s;
  }
  SegmentHeader h;
  s = DecodeSegmentHeader(sc.header_block(), path, &h);
  if (s.ok() && h.number != number) s = Status::Corrupt(path + ": the header says segment " + std::to_string(h.number));
  if (!s.ok()) {
    out_->bytes_scanned += sc.bytes_read();
    if (s.code() == StatusCode::kFormatVersion) return s;
    s = Damage(name, 0, sc.file_size(), "unreadable segment header: " + s.message(), s.message());
    *skipped = s.ok() && newest;
    prev_number_ = number;
    return s;
  }
  if (h.store_id != out_->store_id) {
    return Status::Corrupt(path + " belongs to another store (store id " + StoreIdToHex(h.store_id) + ", " +
                           kIdFileName + " says " + StoreIdToHex(out_->store_id) + "); move it out of " +
                           options_.dir);
  }
  s = CheckContinuity(h, name);
  if (!s.ok()) return s;

  SegmentInfo info;
  info.name = name;
  info.number = number;
  info.first_seq = h.first_seq;
  info.segment_size = h.segment_size;
  sc.SetLimit(h.segment_size);
  s = ScanRecords(&sc, newest, &info);
  out_->bytes_scanned += sc.bytes_read();
  if (!s.ok()) return s;
  out_->segments.push_back(info);
  return Status::Ok();
}

Status Recovery::CheckContinuity(const SegmentHeader& h, const std::string& name) {
  const std::string path = JoinPath(options_.dir, name);
  if (prev_number_ != 0 && h.number != prev_number_ + 1) {
    const std::string what = "segments " + SegmentFileName(prev_number_ + 1) + " to " +
                             SegmentFileName(h.number - 1) + " are missing";
    Status s = Damage(name, 0, 0, what, path + ": " + what);
    if (!s.ok()) return s;
  }
  prev_number_ = h.number;
  if (expected_seq_ == 0 || h.first_seq == expected_seq_) {
    expected_seq_ = h.first_seq;
    return Status::Ok();
  }
  const std::string what = "sequence gap: the previous segment ends at seq " + std::to_string(expected_seq_ - 1) +
                           ", this one starts at seq " + std::to_string(h.first_seq);
  Status s = Damage(name, 0, 0, what, path + ": " + what);
  // Salvage: a later start skips ahead; an earlier one leaves records that go back in sequence,
  // which the record scan then sets aside.
  if (s.ok() && h.first_seq > expected_seq_) expected_seq_ = h.first_seq;
  return s;
}

Status Recovery::ScanRecords(SegmentScanner* sc, bool newest, SegmentInfo* info) {
  uint64_t offset = kSegmentHeaderSize;
  uint64_t expected = expected_seq_;
  info->end_offset = offset;
  info->last_seq = info->first_seq - 1;
  for (;;) {
    RecordView v;
    Status s = sc->ReadRecord(offset, &v);
    if (!s.ok()) return s;
    if (v.kind == RecordView::Kind::kRecord && v.seq == expected) {
      if (out_->first_seq == 0) out_->first_seq = v.seq;
      info->records++;
      info->last_seq = v.seq;
      expected++;
      offset += v.footprint;
      info->end_offset = offset;
      continue;
    }
    if (v.kind == RecordView::Kind::kRecord) {
      const bool gap = v.seq > expected;
      const std::string what = (gap ? "sequence gap: expected seq " : "sequence goes back: expected seq ") +
                               std::to_string(expected) + ", found seq " + std::to_string(v.seq);
      s = Damage(info->name, offset, gap ? 0 : v.footprint, what, Where(info->name, offset) + ": " + what);
      if (!s.ok()) return s;
      if (gap) {
        expected = v.seq;  // the loop takes this record next
      } else {
        offset += v.footprint;
      }
      continue;
    }
    bool stop = false;
    s = OnDamage(sc, newest, v, expected, &offset, &stop);
    if (!s.ok()) return s;
    if (stop) break;
  }
  expected_seq_ = expected;
  return Status::Ok();
}

Status Recovery::OnDamage(SegmentScanner* sc, bool newest, const RecordView& v, uint64_t expected,
                          uint64_t* offset, bool* stop) {
  const uint64_t at = *offset;
  const uint64_t last_good = expected - 1;
  // Every record takes at least a header's bytes, so later sequence numbers are bounded.
  const uint64_t max_seq = last_good + (sc->limit() - at) / kRecordHeaderSize + 1;
  uint64_t found = 0;
  uint64_t end_nonzero = 0;
  Status s = sc->FindValidRecord(at, last_good, max_seq, &found, &end_nonzero);
  if (!s.ok()) return s;
  const std::string name = sc->path().substr(sc->path().rfind('/') + 1);
  const bool zero = v.kind == RecordView::Kind::kEnd;
  if (found == UINT64_MAX) {
    *stop = true;
    if (end_nonzero <= at) return Status::Ok();  // zeros to the end: the clean end
    if (newest) return CutTornTail(sc->path(), at, end_nonzero);
    const std::string what = zero ? "non-zero bytes after the last record" : v.reason;
    return Damage(name, at, end_nonzero - at, what,
                  Where(name, at) + ": " + what + " in a segment that is not the newest");
  }
  const std::string what = zero ? "zeroed record header" : v.reason;
  s = Damage(name, at, found - at, what,
             Where(name, at) + ": " + what + ", and valid records follow at offset " + std::to_string(found));
  if (s.ok()) *offset = found;
  return s;
}

// Copies [from, to) of the segment to "<segment>.broken" (temporary file, fdatasync, rename,
// directory fsync), then zeroes that range in the segment and fdatasyncs it.
Status Recovery::CutTornTail(const std::string& path, uint64_t from, uint64_t to) {
  const std::string broken = path + kBrokenSuffix;
  const std::string tmp = broken + ".tmp";
  int seg = -1;
  int out = -1;
  Status s = OpenFile(path, O_RDWR, false, &seg);
  if (s.ok()) s = OpenFile(tmp, O_WRONLY | O_CREAT | O_TRUNC, false, &out);
  std::string chunk(kCopyChunk, '\0');
  uint8_t* buf = reinterpret_cast<uint8_t*>(&chunk[0]);
  for (uint64_t at = from; s.ok() && at < to; at += kCopyChunk) {
    const size_t n = to - at < kCopyChunk ? static_cast<size_t>(to - at) : kCopyChunk;
    size_t got = 0;
    s = ReadFull(seg, buf, n, at, path, &got);
    if (s.ok()) s = WriteFull(out, buf, got, at - from, tmp);
  }
  if (s.ok()) s = SyncData(out, tmp);
  if (out >= 0) close(out);
  if (s.ok() && rename(tmp.c_str(), broken.c_str()) != 0) s = ErrnoStatus("rename to " + broken + " of", tmp, errno);
  if (s.ok()) s = SyncDir(options_.dir);
  std::memset(buf, 0, kCopyChunk);
  for (uint64_t at = from; s.ok() && at < to; at += kCopyChunk) {
    const size_t n = to - at < kCopyChunk ? static_cast<size_t>(to - at) : kCopyChunk;
    s = WriteFull(seg, buf, n, at, path);
  }
  if (s.ok()) s = SyncData(seg, path);
  if (seg >= 0) close(seg);
  if (!s.ok()) return s;
  out_->torn_bytes += to - from;
  out_->broken_file = broken;
  return Status::Ok();
}

// A newest segment that is zeros from its first byte to its last never got its header: the
// writer crashed while creating it, before anything could be acknowledged in it.
Status Recovery::RemoveIfUnfinished(SegmentScanner* sc, bool* removed) {
  *removed = false;
  if (!AllZero(sc->header_block(), kSegmentHeaderUsed)) return Status::Ok();
  uint64_t found = 0;
  uint64_t end_nonzero = 0;
  Status s = sc->FindValidRecord(0, UINT64_MAX, UINT64_MAX, &found, &end_nonzero);
  if (!s.ok() || end_nonzero != 0) return s;
  if (unlink(sc->path().c_str()) != 0) return ErrnoStatus("unlink", sc->path(), errno);
  s = SyncDir(options_.dir);
  if (!s.ok()) return s;
  out_->removed_files.push_back(sc->path());
  *removed = true;
  return Status::Ok();
}

}  // namespace

std::string WalIdContents(const StoreId& id) {
  return std::string("{\"format\":\"") + kWalFormatName + "\",\"version\":" + std::to_string(kFormatVersion) +
         ",\"storeId\":\"" + StoreIdToHex(id) + "\"}";
}

Status ListSegments(const std::string& dir, std::vector<uint64_t>* numbers) {
  numbers->clear();
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return ErrnoStatus("open directory", dir, errno);
  errno = 0;
  while (struct dirent* e = readdir(d)) {
    uint64_t n = 0;
    if (ParseSegmentFileName(e->d_name, &n)) numbers->push_back(n);
  }
  const int e = errno;
  closedir(d);
  if (e != 0) return ErrnoStatus("read directory", dir, e);
  std::sort(numbers->begin(), numbers->end());
  return Status::Ok();
}

Status Recover(const RecoverOptions& options, RecoveryResult* out) {
  *out = RecoveryResult();
  Status s = EnsureDir(options.dir);
  std::vector<uint64_t> numbers;
  if (s.ok()) s = ListSegments(options.dir, &numbers);
  if (s.ok()) s = LoadOrCreateId(options.dir, !numbers.empty(), out);
  if (s.ok()) s = Recovery(options, out).Run(numbers);
  return s;
}

}  // namespace wal
}  // namespace tapio
