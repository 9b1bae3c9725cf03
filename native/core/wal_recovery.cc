#include "core/wal_recovery.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/wal_format.h"
#include "core/wal_scan.h"

namespace tapio {
namespace wal {
namespace {

constexpr size_t kCopyChunk = 1u << 20;

// ---- directory and WAL_ID ----

// The directory that holds `path` ("/" for "/x", "." for "x").
std::string ParentDir(const std::string& path) {
  size_t end = path.size();
  while (end > 1 && path[end - 1] == '/') end--;
  const size_t slash = path.rfind('/', end - 1);
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Creates `dir` and its missing parents; *first_created gets the topmost directory created
// (empty when `dir` existed).
Status EnsureDir(const std::string& dir, std::string* first_created) {
  first_created->clear();
  if (dir.empty()) return Status(Reason::kRecoveryDir);
  for (size_t pos = 1; pos <= dir.size(); pos++) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    const std::string prefix = dir.substr(0, pos);
    if (mkdir(prefix.c_str(), 0755) == 0) {
      if (first_created->empty()) *first_created = prefix;
    } else if (errno != EEXIST) {
      return ErrnoStatus("mkdir", prefix, errno);
    }
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) return ErrnoStatus("stat", dir, errno);
  if (!S_ISDIR(st.st_mode)) return Status(Reason::kNotADirectory).With("dir", dir);
  return Status::Ok();
}

// A JSON object read as JSON.parse reads it (the twin parses these files with JSON.parse): its
// members' strings decoded, numbers and literals kept as written, nested objects and arrays kept
// as their text (no field this code reads may hold one). Anything that is not JSON fails.
class FlatJson {
 public:
  explicit FlatJson(const std::string& text) : s_(text) {}
  // An array, each element kept as Value keeps it (nested ones as their text).
  bool ParseArray(std::vector<std::string>* elements) {
    Ws();
    if (!Eat('[')) return false;
    Ws();
    if (Eat(']')) return End();
    for (;;) {
      std::string value;
      Ws();
      if (!AnyValue(&value, 1)) return false;
      elements->push_back(value);
      Ws();
      if (Eat(']')) return End();
      if (!Eat(',')) return false;
    }
  }
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
  bool Hex4(uint32_t* out) {
    if (i_ + 4 > s_.size()) return false;
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
      const char c = s_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<uint32_t>(c - 'A' + 10);
      else return false;
    }
    *out = v;
    return true;
  }
  static void PutUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  bool String(std::string* out) {
    if (!Eat('"')) return false;
    while (i_ < s_.size() && s_[i_] != '"') {
      const char c = s_[i_++];
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (i_ >= s_.size()) return false;
      const char e = s_[i_++];
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp = 0;
          if (!Hex4(&cp)) return false;
          // A surrogate pair is one code point; a lone surrogate is kept as it is.
          if (cp >= 0xD800 && cp < 0xDC00 && i_ + 6 <= s_.size() && s_[i_] == '\\' && s_[i_ + 1] == 'u') {
            const size_t back = i_;
            i_ += 2;
            uint32_t low = 0;
            if (Hex4(&low) && low >= 0xDC00 && low < 0xE000) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else {
              i_ = back;
            }
          }
          PutUtf8(cp, out);
          break;
        }
        default: return false;
      }
    }
    return Eat('"');
  }
  bool Digits() {
    const size_t start = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') i_++;
    return i_ > start;
  }
  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  bool Number() {
    Eat('-');
    if (Eat('0')) {
      // no leading zeros
    } else if (i_ < s_.size() && s_[i_] >= '1' && s_[i_] <= '9') {
      Digits();
    } else {
      return false;
    }
    if (Eat('.') && !Digits()) return false;
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      i_++;
      if (!Eat('+')) Eat('-');
      if (!Digits()) return false;
    }
    return true;
  }
  bool Literal(const char* word) {
    const size_t n = std::strlen(word);
    if (s_.compare(i_, n, word) != 0) return false;
    i_ += n;
    return true;
  }
  // An object or array, skipped over (strings inside it decoded and dropped).
  bool Nested(int depth) {
    if (depth >= kMaxSmallFileNesting) return false;
    const char close = s_[i_] == '{' ? '}' : ']';
    const bool object = close == '}';
    i_++;
    Ws();
    if (Eat(close)) return true;
    for (;;) {
      Ws();
      if (object) {
        std::string key;
        if (!String(&key)) return false;
        Ws();
        if (!Eat(':')) return false;
        Ws();
      }
      std::string ignored;
      if (!AnyValue(&ignored, depth + 1)) return false;
      Ws();
      if (Eat(close)) return true;
      if (!Eat(',')) return false;
    }
  }
  bool AnyValue(std::string* out, int depth) {
    if (i_ >= s_.size()) return false;
    const size_t start = i_;
    const char c = s_[i_];
    if (c == '"') {
      std::string v;
      if (!String(&v)) return false;
      *out = "\"" + v;  // a leading quote marks a string
      return true;
    }
    bool ok;
    if (c == '{' || c == '[') ok = Nested(depth);
    else if (c == 't') ok = Literal("true");
    else if (c == 'f') ok = Literal("false");
    else if (c == 'n') ok = Literal("null");
    else ok = Number();
    if (!ok) return false;
    *out = s_.substr(start, i_ - start);
    return true;
  }
  bool Value(std::string* out) { return AnyValue(out, 0); }

  const std::string& s_;
  size_t i_ = 0;
};


// The value of `key` as JavaScript's JSON.stringify would print it ("undefined" when absent);
// *is_string tells a string from a bare value (FlatJson marks strings with a leading quote).
std::string JsonField(const std::map<std::string, std::string>& v, const char* key, bool* is_string,
                      std::string* shown) {
  const auto it = v.find(key);
  *is_string = it != v.end() && !it->second.empty() && it->second[0] == '"';
  if (it == v.end()) {
    *shown = "undefined";
    return std::string();
  }
  if (!*is_string) {
    *shown = it->second;
    return it->second;
  }
  const std::string value = it->second.substr(1);
  *shown = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') shown->push_back('\\');
    shown->push_back(c);
  }
  shown->push_back('"');
  return value;
}

// True when `text` is a JSON number equal to `want` (so 1, 1.0 and 1e0 all mean version 1).
bool NumberEquals(const std::string& text, uint32_t want) {
  if (text.empty()) return false;
  char* end = nullptr;
  const double d = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size() && d == static_cast<double>(want);
}

Status ParseWalId(const std::string& path, const std::string& text, StoreId* id) {
  std::map<std::string, std::string> v;
  if (!FlatJson(text).Parse(&v)) return Status(Reason::kWalIdNotObject).With("file", path);
  bool is_string = false;
  std::string format_shown, version_shown, id_shown;
  const std::string format = JsonField(v, "format", &is_string, &format_shown);
  const bool format_ok = is_string && format == kWalFormatName;
  const std::string version = JsonField(v, "version", &is_string, &version_shown);
  const bool version_ok = !is_string && NumberEquals(version, kFormatVersion);
  if (!format_ok || !version_ok) {
    return Status(Reason::kWalIdVersion).With("file", path).With("format", format_shown).With("version", version_shown);
  }
  const std::string hex = JsonField(v, "storeId", &is_string, &id_shown);
  if (!is_string || !StoreIdFromHex(hex, id)) {
    return Status(Reason::kWalIdStore).With("file", path).With("storeId", id_shown);
  }
  return Status::Ok();
}

// Writes `text` to dir/name through a temporary file: fdatasync, rename, fsync of the directory.
Status WriteSmallFileDurably(const std::string& dir, const char* name, const std::string& text) {
  const std::string path = JoinPath(dir, name);
  const std::string tmp = path + ".tmp";
  int fd = -1;
  Status s = OpenFile(tmp, O_WRONLY | O_CREAT | O_TRUNC, false, &fd);
  if (!s.ok()) return s;
  s = WriteFull(fd, reinterpret_cast<const uint8_t*>(text.data()), text.size(), 0, tmp);
  if (s.ok()) s = SyncData(fd, tmp);
  close(fd);
  if (s.ok() && rename(tmp.c_str(), path.c_str()) != 0) s = ErrnoStatus("rename", path, errno);
  if (s.ok()) s = SyncDir(dir);
  return s;
}

Status WriteWalId(const std::string& dir, const StoreId& id) {
  return WriteSmallFileDurably(dir, kIdFileName, WalIdContents(id));
}

// ---- CHECKPOINT ----

struct Checkpoint {
  uint64_t sealed = 0;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
};

// A JSON number that is an integer in 0..kMaxSafeNumber (as Number.isSafeInteger and >= 0 in
// the twin, so 5, 5.0 and 5e0 all read as 5).
bool SafeInteger(const std::map<std::string, std::string>& v, const char* key, uint64_t* out) {
  const auto it = v.find(key);
  if (it == v.end() || it->second.empty() || it->second[0] == '"') return false;
  char* end = nullptr;
  const double d = std::strtod(it->second.c_str(), &end);
  if (end != it->second.c_str() + it->second.size()) return false;
  if (!(d >= 0) || d > static_cast<double>(kMaxSafeNumber) || d != static_cast<double>(static_cast<uint64_t>(d))) {
    return false;
  }
  *out = static_cast<uint64_t>(d);
  return true;
}

// Reads up to kMaxSmallFileBytes + 1 bytes of `path`. Returns 0, or the errno of the failure
// (ENOENT when there is no such file) with *failed_op saying which step failed.
int ReadSmallFileErrno(const std::string& path, std::string* out, const char** failed_op,
                       size_t max_bytes = kMaxSmallFileBytes) {
  int fd;
  do {
    fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  *failed_op = "open";
  if (fd < 0) return errno;
  std::string buf(max_bytes + 1, '\0');
  size_t got = 0;
  int error_number = 0;
  while (got < buf.size()) {
    const ssize_t n = read(fd, &buf[got], buf.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error_number = errno;
      *failed_op = "read";
      break;
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  buf.resize(got);
  *out = std::move(buf);
  return error_number;
}

// Reads WAL_ID (at most kMaxSmallFileBytes); *missing when there is none.
Status ReadSmallFile(const std::string& path, std::string* out, bool* missing) {
  const char* op = nullptr;
  const int error_number = ReadSmallFileErrno(path, out, &op);
  *missing = error_number == ENOENT && std::strcmp(op, "open") == 0;
  if (*missing) return Status::Ok();
  if (error_number != 0) return ErrnoStatus(op, path, error_number);
  // As the twin: a WAL_ID too large to be one is not the object it must hold.
  if (out->size() > kMaxSmallFileBytes) return Status(Reason::kWalIdNotObject).With("file", path);
  return Status::Ok();
}

// True when the parsed members `v` of the small file `file` name format `format_name`, this
// format version and this store; else false with *ignored saying which does not hold.
bool OwnSmallFile(const std::map<std::string, std::string>& v, const char* file, const char* format_name,
                  const StoreId& store_id, Status* ignored) {
  bool is_string = false;
  std::string shown;
  const std::string format = JsonField(v, "format", &is_string, &shown);
  const bool format_ok = is_string && format == format_name;
  const std::string version = JsonField(v, "version", &is_string, &shown);
  if (!format_ok || is_string || !NumberEquals(version, kFormatVersion)) {
    *ignored = Status(Reason::kSmallFileFormat).With("name", file);
    return false;
  }
  const std::string hex = JsonField(v, "storeId", &is_string, &shown);
  StoreId id;
  if (!is_string || !StoreIdFromHex(hex, &id)) {
    *ignored = Status(Reason::kSmallFileNoStore).With("name", file);
    return false;
  }
  if (id != store_id) {
    *ignored = Status(Reason::kSmallFileOtherStore)
                   .With("name", file)
                   .With("storeId", StoreIdToHex(id))
                   .With("walStoreId", StoreIdToHex(store_id));
    return false;
  }
  return true;
}

// Reads CHECKPOINT. *found is false when there is none, or when it cannot be used: then
// *ignored says why (recovery scans every segment, as if there were none).
void ReadCheckpoint(const std::string& dir, const StoreId& store_id, Checkpoint* cp, bool* found, Status* ignored) {
  *found = false;
  *ignored = Status::Ok();
  std::string text;
  const char* op = nullptr;
  const int error_number = ReadSmallFileErrno(JoinPath(dir, kCheckpointFileName), &text, &op);
  if (error_number == ENOENT) return;
  if (error_number != 0) {
    *ignored = Status(Reason::kSmallFileUnreadable).With("name", kCheckpointFileName).With("errno", ErrnoCode(error_number));
    return;
  }
  std::map<std::string, std::string> v;
  if (text.size() > kMaxSmallFileBytes || !FlatJson(text).Parse(&v)) {
    *ignored = Status(Reason::kSmallFileNotObject).With("name", kCheckpointFileName);
    return;
  }
  if (!OwnSmallFile(v, kCheckpointFileName, kCheckpointFormatName, store_id, ignored)) return;
  Checkpoint c;
  if (!SafeInteger(v, "sealed", &c.sealed) || !SafeInteger(v, "firstSeq", &c.first_seq) ||
      !SafeInteger(v, "lastSeq", &c.last_seq) || c.sealed < 1 || c.first_seq < 1 || c.last_seq + 1 < c.first_seq) {
    *ignored = Status(Reason::kCheckpointRange);
    return;
  }
  *cp = c;
  *found = true;
}

// ---- SALVAGED ----

// Reads SALVAGED. *found is false when there is none, or when it cannot be used: then *ignored
// says why (its stretches are then damage like any other).
void ReadSalvaged(const std::string& dir, const StoreId& store_id, std::vector<SalvageStretch>* out, bool* found,
                  Status* ignored) {
  *found = false;
  out->clear();
  *ignored = Status::Ok();
  std::string text;
  const char* op = nullptr;
  const int error_number = ReadSmallFileErrno(JoinPath(dir, kSalvagedFileName), &text, &op, kMaxSalvagedFileBytes);
  if (error_number == ENOENT) return;
  if (error_number != 0) {
    *ignored = Status(Reason::kSmallFileUnreadable).With("name", kSalvagedFileName).With("errno", ErrnoCode(error_number));
    return;
  }
  std::map<std::string, std::string> v;
  if (text.size() > kMaxSalvagedFileBytes || !FlatJson(text).Parse(&v)) {
    *ignored = Status(Reason::kSmallFileNotObject).With("name", kSalvagedFileName);
    return;
  }
  if (!OwnSmallFile(v, kSalvagedFileName, kSalvagedFormatName, store_id, ignored)) return;
  const Status bad(Reason::kSalvagedStretches);
  const auto list = v.find("stretches");
  std::vector<std::string> elements;
  if (list == v.end() || list->second.empty() || list->second[0] != '[' || !FlatJson(list->second).ParseArray(&elements)) {
    *ignored = bad;
    return;
  }
  for (const std::string& e : elements) {
    std::map<std::string, std::string> f;
    SalvageStretch st;
    if (e.empty() || e[0] != '{' || !FlatJson(e).Parse(&f) || !SafeInteger(f, "segment", &st.segment) ||
        !SafeInteger(f, "offset", &st.offset) || !SafeInteger(f, "bytes", &st.bytes) ||
        !SafeInteger(f, "lostFrom", &st.lost_from) || !SafeInteger(f, "lostCount", &st.lost_count) || st.segment < 1) {
      out->clear();
      *ignored = bad;
      return;
    }
    out->push_back(st);
  }
  *found = true;
}

// The names in `dir` other than "." and "..", sorted.
Status ListNames(const std::string& dir, std::vector<std::string>* names) {
  names->clear();
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return ErrnoStatus("open", dir, errno);
  errno = 0;
  while (struct dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names->push_back(name);
  }
  const int e = errno;
  closedir(d);
  if (e != 0) return ErrnoStatus("readdir", dir, e);
  std::sort(names->begin(), names->end());
  return Status::Ok();
}

// Reads WAL_ID, or creates it in a new or empty directory (`first_created` is the topmost
// directory EnsureDir created, whose entry is made durable too). A directory that holds other
// files but no WAL_ID is refused, untouched.
Status LoadOrCreateId(const std::string& dir, bool has_segments, const std::string& first_created,
                      RecoveryResult* out) {
  const std::string path = JoinPath(dir, kIdFileName);
  std::string text;
  bool missing = false;
  Status s = ReadSmallFile(path, &text, &missing);
  if (!s.ok()) return s;
  if (!missing) return ParseWalId(path, text, &out->store_id);
  if (has_segments) {
    return Status(Reason::kWalIdMissing).With("file", path);
  }
  std::vector<std::string> names;
  s = ListNames(dir, &names);
  if (!s.ok()) return s;
  const std::string tmp_name = std::string(kIdFileName) + ".tmp";
  names.erase(std::remove_if(names.begin(), names.end(),
                             [&](const std::string& n) { return n == tmp_name || n == kLockFileName; }),
              names.end());
  if (!names.empty()) {
    std::string found;
    for (size_t i = 0; i < names.size() && i < 3; i++) found += (i == 0 ? "" : ", ") + names[i];
    if (names.size() > 3) found += ", ...";
    return Status(Reason::kNotWalDir).With("dir", dir).With("found", found);
  }
  s = NewStoreId(&out->store_id);
  if (s.ok()) s = WriteWalId(dir, out->store_id);
  // A directory created just now: make its entry (and those of new parents) durable too.
  for (std::string d = dir; s.ok() && !first_created.empty(); d = ParentDir(d)) {
    s = SyncDir(ParentDir(d));
    if (d == first_created || ParentDir(d) == d) break;
  }
  out->created = s.ok();
  return s;
}

// ---- segment scan ----

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
  // Strict: the stretches SALVAGED records. Salvage: those this scan set aside.
  std::vector<SalvageStretch> stretches_;
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> examined_;  // number -> (header bytes, record area end)
};

void Recovery::Examined(uint64_t number, uint64_t head, uint64_t end) {
  auto& e = examined_[number];
  if (head > e.first) e.first = head;
  if (end > e.second) e.second = end;
}

// The sequence numbers a step from `due` to `found` skips: [from, from + count), or none (0, 0).
void LostBetween(uint64_t due, uint64_t found, uint64_t* from, uint64_t* count) {
  *from = found > due ? due : 0;
  *count = found > due ? found - due : 0;
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
  const std::string path = JoinPath(options_.dir, kSalvagedFileName);
  if (!stretches_.empty()) return WriteSmallFileDurably(options_.dir, kSalvagedFileName, SalvagedContents(out_->store_id, stretches_));
  if (unlink(path.c_str()) != 0) return errno == ENOENT ? Status::Ok() : ErrnoStatus("unlink", path, errno);
  return SyncDir(options_.dir);
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
    out_->bytes_scanned += e.second.first + (e.second.second > kSegmentHeaderSize ? e.second.second - kSegmentHeaderSize : 0);
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
      Status s = Damage(name, kHeaderOffFirstSeq, 0,
                        Status(Reason::kCheckpointFirstSeq)
                            .With("firstSeq", h.first_seq)
                            .With("checkpointFirstSeq", cp_.first_seq));
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
    s = Damage(name, 0, 0, Status(Reason::kSegmentsMissing).With("missing", missing).With("previous", prev->name), true);
    if (!s.ok()) return s;
  }
  if (prev != nullptr && prev->appendable && h.first_seq != expected_) {
    s = Damage(name, kHeaderOffFirstSeq, 0,
               Status(Reason::kSegmentGap)
                   .With("firstSeq", h.first_seq)
                   .With("previous", prev->name)
                   .With("previousLastSeq", expected_ - 1),
               true, expected_, h.first_seq);
    if (!s.ok()) return s;
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

std::string WalIdContents(const StoreId& id) {
  return std::string("{\"format\":\"") + kWalFormatName + "\",\"version\":" + std::to_string(kFormatVersion) +
         ",\"storeId\":\"" + StoreIdToHex(id) + "\"}";
}

std::string SalvagedContents(const StoreId& id, const std::vector<SalvageStretch>& stretches) {
  std::string out = std::string("{\"format\":\"") + kSalvagedFormatName + "\",\"version\":" +
                    std::to_string(kFormatVersion) + ",\"storeId\":\"" + StoreIdToHex(id) + "\",\"stretches\":[";
  for (size_t i = 0; i < stretches.size(); i++) {
    const SalvageStretch& st = stretches[i];
    out += (i == 0 ? "" : ",");
    out += "{\"segment\":" + std::to_string(st.segment) + ",\"offset\":" + std::to_string(st.offset) +
           ",\"bytes\":" + std::to_string(st.bytes) + ",\"lostFrom\":" + std::to_string(st.lost_from) +
           ",\"lostCount\":" + std::to_string(st.lost_count) + "}";
  }
  return out + "]}";
}

std::string CheckpointContents(const StoreId& id, uint64_t sealed, uint64_t first_seq, uint64_t last_seq) {
  return std::string("{\"format\":\"") + kCheckpointFormatName + "\",\"version\":" + std::to_string(kFormatVersion) +
         ",\"storeId\":\"" + StoreIdToHex(id) + "\",\"sealed\":" + std::to_string(sealed) +
         ",\"firstSeq\":" + std::to_string(first_seq) + ",\"lastSeq\":" + std::to_string(last_seq) + "}";
}

Status WriteCheckpoint(const std::string& dir, const StoreId& id, uint64_t sealed, uint64_t first_seq,
                       uint64_t last_seq) {
  return WriteSmallFileDurably(dir, kCheckpointFileName, CheckpointContents(id, sealed, first_seq, last_seq));
}

Status ListSegments(const std::string& dir, std::vector<uint64_t>* numbers) {
  numbers->clear();
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return ErrnoStatus("open", dir, errno);
  errno = 0;
  while (struct dirent* e = readdir(d)) {
    uint64_t n = 0;
    // Numbers no writer gives out (0, or beyond what the twin can count) are not segments.
    if (ParseSegmentFileName(e->d_name, &n) && n >= 1 && n <= kMaxSafeNumber) numbers->push_back(n);
  }
  const int e = errno;
  closedir(d);
  if (e != 0) return ErrnoStatus("readdir", dir, e);
  std::sort(numbers->begin(), numbers->end());
  return Status::Ok();
}

Status Recover(const RecoverOptions& options, RecoveryResult* out) {
  *out = RecoveryResult();
  std::string first_created;
  Status s = EnsureDir(options.dir, &first_created);
  std::vector<uint64_t> numbers;
  if (s.ok()) s = ListSegments(options.dir, &numbers);
  if (s.ok()) s = LoadOrCreateId(options.dir, !numbers.empty(), first_created, out);
  if (s.ok()) s = Recovery(options, out).Run(numbers);
  return s;
}

}  // namespace wal
}  // namespace tapio
