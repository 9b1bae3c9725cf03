#include "core/sequential_writer.h"

#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/file_layer.h"
#include "core/wal_file.h"
#include "test/harness.h"
#include "test/wal_test_util.h"

namespace tapio {
namespace wal {
namespace {

using tapio_test::FileExists;
using tapio_test::ReadFileBytes;
using tapio_test::TempDir;

std::vector<uint8_t> Pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    x = x * 1664525u + 1013904223u;
    v[i] = static_cast<uint8_t>(x >> 24);
  }
  return v;
}

// The alignment direct writes use in `dir`, or 0 where the file system refuses them.
size_t AlignmentIn(const std::string& dir) {
  DirectIoProbe probe;
  return ProbeDirectIo(dir, &probe).ok() && probe.supported ? probe.alignment : 0;
}

TEST(SequentialWriter, HoldsExactlyTheBytesAppendedWithAndWithoutDirectIo) {
  TempDir dir;
  const size_t alignment = AlignmentIn(dir.path());
  const size_t sizes[] = {0, 1, 4095, 4096, 8191, 70000, 3, 65536, 12345};
  std::vector<size_t> aligns{0};
  if (alignment != 0) aligns.push_back(alignment);  // else the file system has no direct I/O
  for (const size_t align : aligns) {
    const std::string path = dir.Sub(align == 0 ? "buffered" : "direct");
    std::unique_ptr<SequentialWriter> w;
    ASSERT_TRUE(SequentialWriter::Create(path, align, 16384, PosixFileLayer(), &w).ok());
    EXPECT_EQ(w->direct(), align != 0);
    std::vector<uint8_t> all;
    uint32_t seed = 1;
    for (const size_t n : sizes) {
      const std::vector<uint8_t> part = Pattern(n, seed++);
      ASSERT_TRUE(w->Append(part.data(), part.size()).ok());
      all.insert(all.end(), part.begin(), part.end());
    }
    EXPECT_EQ(w->size(), uint64_t{all.size()});
    ASSERT_TRUE(w->Finish().ok());
    EXPECT_TRUE(ReadFileBytes(path) == all);
    // Nothing more after Finish.
    EXPECT_EQ(w->Append(all.data(), 1).reason(), Reason::kFileClosed);
  }
}

TEST(SequentialWriter, RefusesAFileThatExistsAndBadSizes) {
  TempDir dir;
  const std::string path = dir.Sub("there");
  std::unique_ptr<SequentialWriter> w;
  ASSERT_TRUE(SequentialWriter::Create(path, 0, 8192, PosixFileLayer(), &w).ok());
  ASSERT_TRUE(w->Finish().ok());
  Status s = SequentialWriter::Create(path, 0, 8192, PosixFileLayer(), &w);
  EXPECT_EQ(s.reason(), Reason::kIo);
  EXPECT_EQ(s.Text("errno"), std::string("EEXIST"));
  EXPECT_TRUE(w == nullptr);
  EXPECT_EQ(SequentialWriter::Create(dir.Sub("odd"), 0, 1000, PosixFileLayer(), &w).reason(), Reason::kWriterOption);
  EXPECT_EQ(SequentialWriter::Create(dir.Sub("odd"), 3000, 9000, PosixFileLayer(), &w).reason(),
            Reason::kDirectIoAlignment);
  EXPECT_TRUE(!FileExists(dir.Sub("odd")));
}

TEST(SequentialWriter, AFailedWriteOrSyncFailsEveryLaterCallAndAbortRemovesTheFile) {
  TempDir dir;
  // The second block's write fails.
  FaultInjector faults;
  faults.fail_write_at = 2;
  faults.error_number = ENOSPC;
  FaultyFileLayer layer(faults);
  const std::string path = dir.Sub("full");
  std::unique_ptr<SequentialWriter> w;
  ASSERT_TRUE(SequentialWriter::Create(path, 0, 8192, &layer, &w).ok());
  const std::vector<uint8_t> bytes = Pattern(8192 * 3, 7);
  Status s = w->Append(bytes.data(), bytes.size());
  EXPECT_EQ(s.reason(), Reason::kIo);
  EXPECT_EQ(s.Text("errno"), std::string("ENOSPC"));
  EXPECT_EQ(w->Append(bytes.data(), 1).Text("errno"), std::string("ENOSPC"));
  EXPECT_EQ(w->Finish().Text("errno"), std::string("ENOSPC"));
  w->Abort();
  EXPECT_TRUE(!FileExists(path));

  FaultInjector sync_faults;
  sync_faults.fail_sync_at = 1;
  FaultyFileLayer sync_layer(sync_faults);
  const std::string synced = dir.Sub("unsynced");
  ASSERT_TRUE(SequentialWriter::Create(synced, 0, 8192, &sync_layer, &w).ok());
  ASSERT_TRUE(w->Append(bytes.data(), 100).ok());
  EXPECT_EQ(w->Finish().reason(), Reason::kIo);
  w->Abort();
  EXPECT_TRUE(!FileExists(synced));
}

}  // namespace
}  // namespace wal
}  // namespace tapio
