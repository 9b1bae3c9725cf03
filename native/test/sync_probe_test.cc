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

bool IsDirectMode(SyncProbeMode m) {
  return m == SyncProbeMode::kDirectPreallocated || m == SyncProbeMode::kDirectZeroFilled;
}

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
    ASSERT_TRUE(s.ok()) << SyncProbeModeName(m) << ": " << s.ToString();
    if (IsDirectMode(m) && !direct.supported) {
      EXPECT_EQ(direct.refusal.ToString(), r.not_run.ToString());
      EXPECT_FALSE(r.not_run.ok());
      EXPECT_EQ(size_t{0}, r.cycle_nanos.size());
      continue;
    }
    EXPECT_TRUE(r.not_run.ok()) << r.not_run.ToString();
    EXPECT_EQ(size_t{30}, r.cycle_nanos.size());
    // Direct writes are whole blocks (4 KiB here makes 8 KiB of 5,000 bytes); a file holds as many
    // writes as fit, then the next file starts.
    const size_t write = IsDirectMode(m) ? (5000 + direct.alignment - 1) / direct.alignment * direct.alignment : 5000;
    const uint64_t per_file = o.file_bytes / write;
    EXPECT_EQ(write, r.write_bytes);
    EXPECT_EQ(IsDirectMode(m) ? direct.alignment : size_t{0}, r.alignment);
    EXPECT_EQ((30 + per_file - 1) / per_file, r.files);
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
  ASSERT_GT(r.cycle_nanos.size(), size_t{0});
  uint64_t total = 0;
  for (uint64_t ns : r.cycle_nanos) total += ns;
  EXPECT_GE(total, uint64_t{20000000});
  EXPECT_LT(total - r.cycle_nanos.back(), uint64_t{20000000});  // the last cycle is the one that passed it
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
  EXPECT_EQ("sync-probe-file {fileBytes: 4095, writeBytes: 4096}", s.ToString());
  o.file_bytes = kMaxSyncProbeFile + 1;
  EXPECT_EQ(StatusCode::kInvalidArgument, RunSyncProbe(o, &r).code());
  o.file_bytes = 1 << 20;
  o.max_cycles = kMaxSyncProbeCycles + 1;
  s = RunSyncProbe(o, &r);
  EXPECT_EQ(StatusCode::kInvalidArgument, s.code());
  EXPECT_EQ("max_cycles", s.Text("option")) << s.ToString();
  o.max_cycles = 1;
  o.dir = dir.Sub("missing");
  s = RunSyncProbe(o, &r);
  EXPECT_EQ(StatusCode::kIoError, s.code());
  EXPECT_EQ(dir.Sub("missing"), s.Text("file")) << s.ToString();
  EXPECT_EQ("ENOENT", s.Text("errno")) << s.ToString();
  EXPECT_EQ(size_t{0}, ListDir(dir.path()).size());
}

}  // namespace
}  // namespace wal
}  // namespace tapio
