// Helpers shared by the WAL tests: a temporary directory removed at scope exit, whole-file
// reads and writes, and deterministic record payloads.
#ifndef TAPIO_TEST_WAL_TEST_UTIL_H_
#define TAPIO_TEST_WAL_TEST_UTIL_H_

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace tapio_test {

// mkdtemp under $TMPDIR (or /tmp); removed with its files (one level of subdirectories) when
// the object goes out of scope.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/tapio-wal-test-XXXXXX";
    if (mkdtemp(&tmpl[0]) != nullptr) path_ = tmpl;
  }
  ~TempDir() { RemoveTree(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

  static void RemoveTree(const std::string& dir) {
    if (dir.empty()) return;
    if (DIR* d = opendir(dir.c_str())) {
      while (struct dirent* e = readdir(d)) {
        const std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        const std::string p = dir + "/" + name;
        struct stat st;
        if (lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
          RemoveTree(p);
        } else {
          unlink(p.c_str());
        }
      }
      closedir(d);
    }
    rmdir(dir.c_str());
  }

 private:
  std::string path_;
};

inline bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

inline uint64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// The permission bits of `path` in octal ("600"), or "<missing>" when it cannot be examined.
inline std::string ModeOf(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return "<missing>";
  char text[8];
  std::snprintf(text, sizeof text, "%o", static_cast<unsigned>(st.st_mode & 0777));
  return text;
}

// Sets the umask for the scope (022, the usual one): a file's mode then shows the mode it was
// created with, not a stricter umask the test run happened to inherit.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask = 022) : old_(umask(mask)) {}
  ~ScopedUmask() { umask(old_); }
  ScopedUmask(const ScopedUmask&) = delete;
  ScopedUmask& operator=(const ScopedUmask&) = delete;

 private:
  mode_t old_;
};

inline std::vector<uint8_t> ReadFileBytes(const std::string& path) {
  std::vector<uint8_t> out;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return out;
  uint8_t buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
  std::fclose(f);
  return out;
}

inline bool WriteFileBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = bytes.empty() || std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  return std::fclose(f) == 0 && ok;
}

// Overwrites bytes at `offset` in place.
inline bool PatchFile(const std::string& path, uint64_t offset, const std::vector<uint8_t>& bytes) {
  const int fd = open(path.c_str(), O_WRONLY);
  if (fd < 0) return false;
  const bool ok =
      pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)) == static_cast<ssize_t>(bytes.size());
  close(fd);
  return ok;
}

inline std::vector<uint8_t> ReadAt(const std::string& path, uint64_t offset, size_t n) {
  std::vector<uint8_t> out(n);
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return {};
  const ssize_t r = pread(fd, out.data(), n, static_cast<off_t>(offset));
  close(fd);
  out.resize(r < 0 ? 0 : static_cast<size_t>(r));
  return out;
}

inline std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (struct dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") out.push_back(name);
    }
    closedir(d);
  }
  return out;
}

inline uint64_t MixBits(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Deterministic payload bytes for record `key`; `length` varies with the key when 0 is passed.
inline std::vector<uint8_t> PayloadFor(uint64_t key, uint32_t length) {
  std::vector<uint8_t> out(length);
  uint64_t state = MixBits(key);
  for (uint32_t i = 0; i < length; i++) {
    if ((i & 7) == 0) state = MixBits(state + i);
    out[i] = static_cast<uint8_t>(state >> ((i & 7) * 8));
  }
  return out;
}

}  // namespace tapio_test

#endif  // TAPIO_TEST_WAL_TEST_UTIL_H_
