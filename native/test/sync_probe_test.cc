#include "core/sync_probe.h"

#include <string>

#include "core/wal_file.h"
#include "test/harness.h"
#include "test/wal_test_util.h"

namespace tapio {
namespace wal {
namespace {

using tapio_test::ListDir;
using tapio_test::TempDir;

constexpr SyncProbeMode kAllModes[] = {SyncProbeMode::kDirectPreallocated, SyncProbeMode::kDirectZeroFilled,
                                       SyncProbeMode::kBufferedPreallocated, SyncProbeMode::kBufferedSparse,
                                       SyncProbeMode::kBufferedAppend};

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

bool IsDirectMode(SyncProbeMode m) { return m == SyncProbeMode::kDirectPreallocated || m == SyncProbeMode::kDirectZeroFilled; }

TEST(SyncProbe, ModeNamesRoundTrip) {
  for (SyncProbeMode m : kAllModes) {
    SyncProbeMode parsed = SyncProbeMode::kBufferedAppend;
    ASSERT_TRUE(ParseSyncProbeMode(SyncProbeModeName(m), &parsed));
    EXPECT_TRUE(parsed == m);
  }
  SyncProbeMode parsed;
  EXPECT_FALSE(ParseSyncProbeMode("direct", &parsed));
  EXPECT_FALSE(ParseSyncProbeMode("", &parsed));
}

// Every mode runs the cycles asked, rounds direct writes up to the block, goes through several
// files when one fills up, and leaves nothing in the directory.
TEST(SyncProbe, RunsEveryModeAndLeavesNothingBehind) {
  TempDir dir;
  DirectIoProbe direct;
  ASSERT_TRUE(ProbeDirectIo(dir.path(), &direct).ok());
  for (SyncProbeMode m : kAllModes) {
    SyncProbeOptions o;
    o.dir = dir.path();
    o.mode = m;
    o.write_bytes = 5000;
    o.file_bytes = 64 * 1024;
    o.max_cycles = 30;
    o.max_micros = 0;
    SyncProbeResult r;
    Status s = RunSyncProbe(o, &r);
    if (IsDirectMode(m) && !direct.supported) {
      EXPECT_EQ(StatusCode::kInvalidArgument, s.code());
      EXPECT_TRUE(Contains(s.message(), "needs direct I/O")) << s.message();
      continue;
    }
    ASSERT_TRUE(s.ok()) << SyncProbeModeName(m) << ": " << s.message();
    EXPECT_EQ(size_t{30}, r.cycle_micros.size());
    if (IsDirectMode(m)) {
      EXPECT_EQ(size_t{8192}, r.write_bytes);
      EXPECT_EQ(direct.alignment, r.alignment);
      EXPECT_EQ(uint64_t{4}, r.files);  // 8 writes of 8 KiB fill 64 KiB: 8 + 8 + 8 + 6
    } else {
      EXPECT_EQ(size_t{5000}, r.write_bytes);
      EXPECT_EQ(size_t{0}, r.alignment);
      EXPECT_EQ(uint64_t{3}, r.files);  // 13 writes of 5,000 bytes fit: 13 + 13 + 4
    }
    EXPECT_EQ(size_t{0}, ListDir(dir.path()).size()) << SyncProbeModeName(m);
  }
}

TEST(SyncProbe, StopsAfterTheTimeAsked) {
  TempDir dir;
  SyncProbeOptions o;
  o.dir = dir.path();
  o.mode = SyncProbeMode::kBufferedAppend;
  o.write_bytes = 4096;
  o.max_micros = 20000;
  SyncProbeResult r;
  ASSERT_TRUE(RunSyncProbe(o, &r).ok());
  ASSERT_GT(r.cycle_micros.size(), size_t{0});
  uint64_t total = 0;
  for (uint32_t us : r.cycle_micros) total += us;
  EXPECT_GE(total, uint64_t{20000});
  EXPECT_LT(total - r.cycle_micros.back(), uint64_t{20000});  // the last cycle is the one that passed it
}

TEST(SyncProbe, RefusesBadOptions) {
  TempDir dir;
  SyncProbeResult r;
  SyncProbeOptions o;
  o.dir = dir.path();
  o.mode = SyncProbeMode::kBufferedAppend;
  o.write_bytes = 0;
  EXPECT_EQ(StatusCode::kInvalidArgument, RunSyncProbe(o, &r).code());
  o.write_bytes = kMaxSyncProbeWrite + 1;
  EXPECT_EQ(StatusCode::kInvalidArgument, RunSyncProbe(o, &r).code());
  o.write_bytes = 4096;
  o.file_bytes = 4095;
  Status s = RunSyncProbe(o, &r);
  EXPECT_EQ(StatusCode::kInvalidArgument, s.code());
  EXPECT_TRUE(Contains(s.message(), "must hold one write")) << s.message();
  o.file_bytes = kMaxSyncProbeFile + 1;
  EXPECT_EQ(StatusCode::kInvalidArgument, RunSyncProbe(o, &r).code());
  o.file_bytes = 1 << 20;
  o.max_cycles = 0;
  o.max_micros = 0;
  EXPECT_EQ(StatusCode::kInvalidArgument, RunSyncProbe(o, &r).code());
  o.max_cycles = 1;
  o.dir = dir.Sub("missing");
  s = RunSyncProbe(o, &r);
  EXPECT_EQ(StatusCode::kIoError, s.code());
  EXPECT_TRUE(Contains(s.message(), "missing")) << s.message();
  EXPECT_EQ(size_t{0}, ListDir(dir.path()).size());
}

}  // namespace
}  // namespace wal
}  // namespace tapio
