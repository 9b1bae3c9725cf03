#include "core/wal_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/json.h"
#include "core/wal_file.h"

namespace tapio {
namespace wal {
namespace {

// The directory that holds `path` ("/" for "/x", "." for "x").
std::string ParentDir(const std::string& path) {
  size_t end = path.size();
  while (end > 1 && path[end - 1] == '/') end--;
  const size_t slash = path.rfind('/', end - 1);
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

Status ParseWalId(const std::string& path, const std::string& text, StoreId* id) {
  std::map<std::string, std::string> v;
  if (!FlatJson(text, kMaxSmallFileNesting).Parse(&v)) return Status(Reason::kWalIdNotObject).With("file", path);
  bool is_string = false;
  std::string format_shown, version_shown, id_shown;
  const std::string format = JsonField(v, "format", &is_string, &format_shown);
  const bool format_ok = is_string && format == kWalFormatName;
  const std::string version = JsonField(v, "version", &is_string, &version_shown);
  const bool version_ok = !is_string && JsonNumberEquals(version, kFormatVersion);
  if (!format_ok || !version_ok) {
    return Status(Reason::kWalIdVersion).With("file", path).With("format", format_shown).With("version", version_shown);
  }
  const std::string hex = JsonField(v, "storeId", &is_string, &id_shown);
  if (!is_string || !StoreIdFromHex(hex, id)) {
    return Status(Reason::kWalIdStore).With("file", path).With("storeId", id_shown);
  }
  return Status::Ok();
}

Status WriteWalId(const std::string& dir, const StoreId& id) {
  return WriteSmallFileDurably(dir, kIdFileName, WalIdContents(id));
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

}  // namespace

// ---- the directory and WAL_ID ----

Status EnsureDir(const std::string& dir, std::string* first_created) {
  first_created->clear();
  if (dir.empty()) return Status(Reason::kRecoveryDir);
  for (size_t pos = 1; pos <= dir.size(); pos++) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    const std::string prefix = dir.substr(0, pos);
    if (mkdir(prefix.c_str(), 0700) == 0) {
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

std::string WalIdContents(const StoreId& id) {
  return std::string("{\"format\":\"") + kWalFormatName + "\",\"version\":" + std::to_string(kFormatVersion) +
         ",\"storeId\":\"" + StoreIdToHex(id) + "\"}";
}

Status LoadOrCreateId(const std::string& dir, bool has_segments, const std::string& first_created, StoreId* id,
                      bool* created) {
  const std::string path = JoinPath(dir, kIdFileName);
  std::string text;
  bool missing = false;
  Status s = ReadSmallFile(path, &text, &missing);
  if (!s.ok()) return s;
  if (!missing) return ParseWalId(path, text, id);
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
  s = NewStoreId(id);
  if (s.ok()) s = WriteWalId(dir, *id);
  // A directory created just now: make its entry (and those of new parents) durable too.
  for (std::string d = dir; s.ok() && !first_created.empty(); d = ParentDir(d)) {
    s = SyncDir(ParentDir(d));
    if (d == first_created || ParentDir(d) == d) break;
  }
  *created = s.ok();
  return s;
}

// ---- CHECKPOINT ----

std::string CheckpointContents(const StoreId& id, uint64_t sealed, uint64_t first_seq, uint64_t last_seq) {
  return std::string("{\"format\":\"") + kCheckpointFormatName + "\",\"version\":" + std::to_string(kFormatVersion) +
         ",\"storeId\":\"" + StoreIdToHex(id) + "\",\"sealed\":" + std::to_string(sealed) +
         ",\"firstSeq\":" + std::to_string(first_seq) + ",\"lastSeq\":" + std::to_string(last_seq) + "}";
}

void ReadCheckpoint(const std::string& dir, const StoreId& store_id, Checkpoint* cp, bool* found, Status* ignored) {
  *found = false;
  *ignored = Status::Ok();
  std::string text;
  const char* op = nullptr;
  const int error_number = ReadSmallFileErrno(JoinPath(dir, kCheckpointFileName), &text, &op);
  if (error_number == ENOENT) return;
  if (error_number != 0) {
    *ignored =
        Status(Reason::kSmallFileUnreadable).With("name", kCheckpointFileName).With("errno", ErrnoCode(error_number));
    return;
  }
  std::map<std::string, std::string> v;
  if (text.size() > kMaxSmallFileBytes || !FlatJson(text, kMaxSmallFileNesting).Parse(&v)) {
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

Status WriteCheckpoint(const std::string& dir, const StoreId& id, uint64_t sealed, uint64_t first_seq,
                       uint64_t last_seq) {
  return WriteSmallFileDurably(dir, kCheckpointFileName, CheckpointContents(id, sealed, first_seq, last_seq));
}

// ---- segment files ----

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

// ---- small files ----

int ReadSmallFileErrno(const std::string& path, std::string* out, const char** failed_op, size_t max_bytes) {
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

bool OwnSmallFile(const std::map<std::string, std::string>& v, const char* file, const char* format_name,
                  const StoreId& store_id, Status* ignored) {
  bool is_string = false;
  std::string shown;
  const std::string format = JsonField(v, "format", &is_string, &shown);
  const bool format_ok = is_string && format == format_name;
  const std::string version = JsonField(v, "version", &is_string, &shown);
  if (!format_ok || is_string || !JsonNumberEquals(version, kFormatVersion)) {
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

}  // namespace wal
}  // namespace tapio
