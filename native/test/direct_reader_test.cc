#include "core/direct_reader.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "test/harness.h"
#include "test/wal_test_util.h"

namespace tapio {
namespace wal {
namespace {

using tapio_test::TempDir;
using tapio_test::WriteFileBytes;

std::vector<uint8_t> Pattern(size_t n) {
  std::vector<uint8_t> v(n);
  uint32_t x = 0x9e3779b9u;
  for (size_t i = 0; i < n; i++) {
    x = x * 1664525u + 1013904223u;
    v[i] = static_cast<uint8_t>(x >> 24);
  }
  return v;
}

// A file of `n` pattern bytes in `dir`, open for direct reads; `refused` when the file system
// has no direct I/O (the case skips then).
struct PatternFile {
  std::vector<uint8_t> bytes;
  std::unique_ptr<DirectReader> reader;
  bool refused = false;
};

PatternFile MakePatternFile(const TempDir& dir, size_t n) {
  PatternFile f;
  f.bytes = Pattern(n);
  const std::string path = dir.Sub("data");
  if (!WriteFileBytes(path, f.bytes)) return f;
  Status s = DirectReader::Open(path, 4096, &f.reader);
  f.refused = s.ok() && f.reader == nullptr;
  if (!s.ok()) f.reader.reset();
  return f;
}

TEST(DirectReader, ReadsUnalignedRangesAsTheFileHoldsThem) {
  TempDir dir;
  // Not a multiple of the block size, and longer than one bounce buffer.
  PatternFile f = MakePatternFile(dir, DirectReader::kBounceBytes * 2 + 12345);
  if (f.refused) SKIP() << "the file system of " << dir.path() << " refuses O_DIRECT";
  ASSERT_TRUE(f.reader != nullptr);
  const std::vector<uint8_t>& bytes = f.bytes;
  DirectReader* r = f.reader.get();
  const uint64_t cases[][2] = {
      {0, 1},
      {0, 4096},
      {1, 4095},
      {4095, 2},
      {100, 70000},
      {8, DirectReader::kBounceBytes},
      {4096 * 3 + 17, DirectReader::kBounceBytes + 9000},
      {0, bytes.size()},
      {bytes.size() - 10, 10},
  };
  for (const auto& c : cases) {
    std::vector<uint8_t> out(c[1], 0xee);
    size_t got = 0;
    ASSERT_TRUE(r->Read(c[0], out.data(), out.size(), &got).ok());
    ASSERT_EQ(got, static_cast<size_t>(c[1]));
    EXPECT_TRUE(std::equal(out.begin(), out.end(), bytes.begin() + static_cast<std::ptrdiff_t>(c[0])));
  }
  EXPECT_FALSE(r->buffered());
}

TEST(DirectReader, StopsAtTheEndOfTheFile) {
  TempDir dir;
  PatternFile f = MakePatternFile(dir, 10000);
  if (f.refused) SKIP() << "the file system of " << dir.path() << " refuses O_DIRECT";
  ASSERT_TRUE(f.reader != nullptr);
  const std::vector<uint8_t>& bytes = f.bytes;
  DirectReader* r = f.reader.get();
  std::vector<uint8_t> out(8192);
  size_t got = 0;
  ASSERT_TRUE(r->Read(5000, out.data(), out.size(), &got).ok());
  ASSERT_EQ(got, size_t{5000});
  EXPECT_TRUE(std::equal(out.begin(), out.begin() + 5000, bytes.begin() + 5000));
  ASSERT_TRUE(r->Read(10000, out.data(), 10, &got).ok());
  EXPECT_EQ(got, size_t{0});
  ASSERT_TRUE(r->Read(20000, out.data(), 10, &got).ok());
  EXPECT_EQ(got, size_t{0});
}

TEST(DirectReader, ThreadsReadAtOnceEachWithItsOwnBuffer) {
  TempDir dir;
  PatternFile f = MakePatternFile(dir, 3 << 20);
  if (f.refused) SKIP() << "the file system of " << dir.path() << " refuses O_DIRECT";
  ASSERT_TRUE(f.reader != nullptr);
  const std::vector<uint8_t>& bytes = f.bytes;
  DirectReader* r = f.reader.get();
  std::vector<int> wrong(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&, t] {
      std::vector<uint8_t> out(300000);
      for (int i = 0; i < 40; i++) {
        const uint64_t at =
            (static_cast<uint64_t>(t) * 7919 + static_cast<uint64_t>(i) * 65537) % (bytes.size() - out.size());
        size_t got = 0;
        if (!r->Read(at, out.data(), out.size(), &got).ok() || got != out.size() ||
            !std::equal(out.begin(), out.end(), bytes.begin() + static_cast<std::ptrdiff_t>(at))) {
          wrong[static_cast<size_t>(t)]++;
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int w : wrong) EXPECT_EQ(w, 0);
}

// Direct preads that stop after 4 KiB, as a file system with smaller blocks than the reader's
// alignment may; and ones the file system turns down from the third call on.
ssize_t ShortPread(int fd, void* buf, size_t count, off_t offset) {
  return pread(fd, buf, count < 4096 ? count : 4096, offset);
}
int refuse_after = 0;
ssize_t RefusingPread(int fd, void* buf, size_t count, off_t offset) {
  if (--refuse_after < 0) {
    errno = EINVAL;
    return -1;
  }
  return pread(fd, buf, count, offset);
}

TEST(DirectReader, ReadsTheRestThroughThePageCacheWhenADirectReadStopsShort) {
  TempDir dir;
  std::vector<uint8_t> bytes = Pattern(600000);
  const std::string path = dir.Sub("data");
  ASSERT_TRUE(WriteFileBytes(path, bytes));
  std::unique_ptr<DirectReader> r;
  ASSERT_TRUE(DirectReader::Open(path, 65536, &r).ok());
  if (r == nullptr) SKIP() << "the file system of " << dir.path() << " refuses O_DIRECT";
  r->SetPreadForTest(ShortPread);
  for (const uint64_t at : {uint64_t{0}, uint64_t{5000}, uint64_t{70000}, uint64_t{599000}}) {
    std::vector<uint8_t> out(300000, 0xee);
    size_t got = 0;
    ASSERT_TRUE(r->Read(at, out.data(), out.size(), &got).ok());
    const size_t want = std::min<size_t>(out.size(), bytes.size() - at);
    ASSERT_EQ(got, want);
    EXPECT_TRUE(std::equal(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(want),
                           bytes.begin() + static_cast<std::ptrdiff_t>(at)));
  }
  // Stopping short is not a refusal: later reads are still direct.
  EXPECT_FALSE(r->buffered());
}

TEST(DirectReader, ReadsBufferedFromThenOnWhenTheFileSystemTurnsADirectReadDown) {
  TempDir dir;
  PatternFile f = MakePatternFile(dir, 3 << 20);
  if (f.refused) SKIP() << "the file system of " << dir.path() << " refuses O_DIRECT";
  ASSERT_TRUE(f.reader != nullptr);
  refuse_after = 2;
  f.reader->SetPreadForTest(RefusingPread);
  // 2.5 MiB: three direct reads of 1 MiB, the third refused, the rest buffered.
  std::vector<uint8_t> out((5 << 20) / 2);
  size_t got = 0;
  ASSERT_TRUE(f.reader->Read(100, out.data(), out.size(), &got).ok());
  ASSERT_EQ(got, out.size());
  EXPECT_TRUE(std::equal(out.begin(), out.end(), f.bytes.begin() + 100));
  EXPECT_TRUE(f.reader->buffered());
  ASSERT_TRUE(f.reader->Read(7, out.data(), 1000, &got).ok());
  EXPECT_EQ(got, size_t{1000});
  EXPECT_TRUE(std::equal(out.begin(), out.begin() + 1000, f.bytes.begin() + 7));
}

TEST(DirectReader, RefusesAnAlignmentThatIsNotABlockSizeAndReportsAMissingFile) {
  TempDir dir;
  std::unique_ptr<DirectReader> r;
  Status s = DirectReader::Open(dir.Sub("nothing"), 3000, &r);
  EXPECT_EQ(std::string(s.reason_name()), std::string("direct-io-alignment"));
  s = DirectReader::Open(dir.Sub("nothing"), 4096, &r);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.Text("operation"), std::string("open"));
  EXPECT_EQ(s.Text("errno"), std::string("ENOENT"));
  EXPECT_TRUE(r == nullptr);
}

}  // namespace
}  // namespace wal
}  // namespace tapio
