#include "core/wal_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/wal_codec.h"
#include "core/wal_format.h"
#include "core/wal_scan.h"
#include "test/harness.h"
#include "test/wal_test_util.h"

namespace tapio {
namespace wal {
namespace {

using tapio_test::FileExists;
using tapio_test::FileSize;
using tapio_test::ListDir;
using tapio_test::ModeOf;
using tapio_test::PayloadFor;
using tapio_test::ReadAt;
using tapio_test::ReadFileBytes;
using tapio_test::ScopedUmask;
using tapio_test::TempDir;

constexpr uint64_t kSegSize = 1 << 20;

StoreId TestStoreId() {
  StoreId id;
  for (size_t i = 0; i < kStoreIdSize; i++) id.bytes[i] = static_cast<uint8_t>(0xA0 + i);
  return id;
}

NewSegment SegmentSpec(const std::string& dir, uint64_t number, uint64_t first_seq, bool direct, size_t alignment) {
  NewSegment seg;
  seg.dir = dir;
  seg.number = number;
  seg.first_seq = first_seq;
  seg.store_id = TestStoreId();
  seg.segment_size = kSegSize;
  seg.created_ms = 1700000000000ull;
  seg.direct = direct;
  seg.alignment = alignment;
  return seg;
}

// The lengths of the records the appender tests write: small, odd, block-sized and larger
// than the two-block buffer, so every buffer and block boundary case shows up.
std::vector<uint32_t> TestLengths() {
  return {0, 1, 7, 8, 9, 100, 4080, 4096, 5000, 3, 12000, 17, 64, 8191, 1, 0, 250};
}

TEST(WalCodec, SegmentHeaderRoundTrip) {
  SegmentHeader h;
  h.number = 42;
  h.first_seq = 1000;
  h.store_id = TestStoreId();
  h.created_ms = 123456789;
  h.segment_size = kSegSize;
  uint8_t buf[kSegmentHeaderUsed];
  EncodeSegmentHeader(h, buf);
  EXPECT_EQ(0, std::memcmp(buf, "TAPIOWAL", 8));
  SegmentHeader back;
  ASSERT_TRUE(DecodeSegmentHeader(buf, "f", &back).ok());
  EXPECT_EQ(uint64_t{42}, back.number);
  EXPECT_EQ(uint64_t{1000}, back.first_seq);
  EXPECT_TRUE(back.store_id == h.store_id);
  EXPECT_EQ(uint64_t{123456789}, back.created_ms);
  EXPECT_EQ(static_cast<uint32_t>(kSegSize), back.segment_size);

  uint8_t bad[kSegmentHeaderUsed];
  std::memcpy(bad, buf, sizeof bad);
  bad[0] = 'X';
  EXPECT_EQ(StatusCode::kCorrupt, DecodeSegmentHeader(bad, "f", &back).code());
  std::memcpy(bad, buf, sizeof bad);
  bad[kHeaderOffVersion] = 2;
  Status s = DecodeSegmentHeader(bad, "seg-file", &back);
  EXPECT_EQ(StatusCode::kFormatVersion, s.code());
  EXPECT_EQ("format-version {version: 2, expected: 1, file: seg-file}", s.ToString());
  std::memcpy(bad, buf, sizeof bad);
  bad[kHeaderOffFirstSeq] ^= 1;
  EXPECT_EQ(StatusCode::kCorrupt, DecodeSegmentHeader(bad, "f", &back).code());
}

TEST(WalCodec, RecordHeaderAndCrc) {
  const uint8_t payload[] = {'h', 'e', 'l', 'l', 'o'};
  uint8_t h[kRecordHeaderSize];
  EncodeRecordHeader(7, payload, 5, h);
  EXPECT_EQ(uint32_t{5}, LoadLe32(h + kRecordOffLength));
  EXPECT_EQ(uint64_t{7}, LoadLe64(h + kRecordOffSeq));
  EXPECT_EQ(RecordCrc(h, payload, 5), LoadLe32(h + kRecordOffCrc));
  uint8_t other[kRecordHeaderSize];
  EncodeRecordHeader(8, payload, 5, other);
  EXPECT_NE(LoadLe32(h), LoadLe32(other));  // the sequence number is covered
}

TEST(WalCodec, NamesAndStoreIds) {
  EXPECT_EQ(std::string("0000000000000001.wal"), SegmentFileName(1));
  EXPECT_EQ(std::string("00000000000000ff.wal"), SegmentFileName(255));
  uint64_t n = 0;
  EXPECT_TRUE(ParseSegmentFileName("00000000000000ff.wal", &n));
  EXPECT_EQ(uint64_t{255}, n);
  EXPECT_FALSE(ParseSegmentFileName("00000000000000FF.wal", &n));
  EXPECT_FALSE(ParseSegmentFileName("0000000000000001.wal.broken", &n));
  EXPECT_FALSE(ParseSegmentFileName("000000000000001.wal", &n));
  StoreId id = TestStoreId();
  const std::string hex = StoreIdToHex(id);
  EXPECT_EQ(std::string("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"), hex);
  StoreId back;
  EXPECT_TRUE(StoreIdFromHex(hex, &back));
  EXPECT_TRUE(back == id);
  EXPECT_FALSE(StoreIdFromHex("a0a1", &back));
  EXPECT_FALSE(StoreIdFromHex("g0a1a2a3a4a5a6a7a8a9aaabacadaeaf", &back));
  StoreId r1, r2;
  EXPECT_TRUE(NewStoreId(&r1).ok());
  EXPECT_TRUE(NewStoreId(&r2).ok());
  EXPECT_TRUE(r1 != r2);
}

TEST(WalFile, ProbeDirectIoLeavesNothingBehind) {
  TempDir dir;
  DirectIoProbe probe;
  ASSERT_TRUE(ProbeDirectIo(dir.path(), &probe).ok());
  EXPECT_GE(probe.alignment, size_t{4096});
  EXPECT_EQ(size_t{0}, probe.alignment & (probe.alignment - 1));
  if (!probe.supported) std::printf("  direct I/O not available here: %s\n", probe.refusal.ToString().c_str());
  EXPECT_EQ(probe.supported, probe.refusal.ok());
  EXPECT_EQ(size_t{0}, ListDir(dir.path()).size());
  Status s = ProbeDirectIo(dir.Sub("missing"), &probe);
  EXPECT_EQ(StatusCode::kIoError, s.code());
}

TEST(WalFile, CreateSegmentPreallocatesAndWritesHeader) {
  TempDir dir;
  int fd = -1;
  ASSERT_TRUE(CreateSegmentFile(SegmentSpec(dir.path(), 3, 77, false, 4096), &fd).ok());
  close(fd);
  const std::string path = dir.Sub("0000000000000003.wal");
  EXPECT_EQ(kSegSize, FileSize(path));
  std::vector<uint8_t> head = ReadAt(path, 0, kSegmentHeaderSize);
  SegmentHeader h;
  ASSERT_TRUE(DecodeSegmentHeader(head.data(), path, &h).ok());
  EXPECT_EQ(uint64_t{3}, h.number);
  EXPECT_EQ(uint64_t{77}, h.first_seq);
  EXPECT_EQ(uint64_t{1700000000000ull}, h.created_ms);
  for (size_t i = kSegmentHeaderUsed; i < head.size(); i++) {
    if (head[i] != 0) FAIL() << "header block byte " << i << " is not zero";
  }
  // O_EXCL: an existing segment is never overwritten.
  Status s = CreateSegmentFile(SegmentSpec(dir.path(), 3, 77, false, 4096), &fd);
  EXPECT_EQ(StatusCode::kIoError, s.code());
  EXPECT_EQ("io {operation: open, file: " + path + ", errno: EEXIST}", s.ToString());
  EXPECT_EQ(kSegSize, FileSize(path));
  s = CreateSegmentFile(SegmentSpec(dir.Sub("missing"), 1, 1, false, 4096), &fd);
  EXPECT_EQ(StatusCode::kIoError, s.code());
}

TEST(WalFile, NewSegmentIsPrivate) {
  ScopedUmask usual;
  TempDir dir;
  int fd = -1;
  ASSERT_TRUE(CreateSegmentFile(SegmentSpec(dir.path(), 1, 1, false, 4096), &fd).ok());
  close(fd);
  EXPECT_EQ(std::string("600"), ModeOf(dir.Sub("0000000000000001.wal")));
}

// Writes TestLengths() with syncs after some records, through an appender in one mode.
Status WriteTestSegment(const std::string& dir, bool direct, size_t alignment, size_t buffer_bytes, FileLayer* io,
                        uint64_t* end) {
  int fd = -1;
  Status s = CreateSegmentFile(SegmentSpec(dir, 1, 1, direct, alignment), &fd);
  if (!s.ok()) return s;
  AlignedBuffer buffer;
  if (!buffer.Allocate(buffer_bytes, alignment)) return Status(Reason::kOutOfMemory);
  std::unique_ptr<SegmentAppender> a;
  AppendMode mode;
  mode.direct = direct;
  mode.alignment = alignment;
  s = SegmentAppender::Open(fd, dir + "/0000000000000001.wal", kSegSize, kSegmentHeaderSize, mode, &buffer,
                            io != nullptr ? io : PosixFileLayer(), &a);
  if (!s.ok()) return s;
  const std::vector<uint32_t> lengths = TestLengths();
  uint64_t micros = 0;
  for (size_t i = 0; i < lengths.size(); i++) {
    const std::vector<uint8_t> p = PayloadFor(i, lengths[i]);
    s = a->Append(i + 1, p.data(), lengths[i]);
    if (s.ok() && i % 3 == 2) s = a->Sync(&micros);
    if (!s.ok()) return s;
  }
  s = a->Sync(&micros);
  *end = a->end();
  return s;
}

void CheckTestSegment(const std::string& path) {
  SegmentScanner sc;
  ASSERT_TRUE(sc.Open(path).ok());
  uint64_t off = kSegmentHeaderSize;
  const std::vector<uint32_t> lengths = TestLengths();
  for (size_t i = 0; i < lengths.size(); i++) {
    RecordView v;
    ASSERT_TRUE(sc.ReadRecord(off, &v).ok());
    ASSERT_TRUE(v.kind == RecordView::Kind::kRecord) << "record " << i << ": " << v.problem.ToString();
    EXPECT_EQ(uint64_t{i + 1}, v.seq);
    ASSERT_EQ(lengths[i], v.length);
    const std::vector<uint8_t> want = PayloadFor(i, lengths[i]);
    EXPECT_TRUE(v.length == 0 || std::memcmp(want.data(), v.payload, v.length) == 0) << "record " << i;
    off += v.footprint;
  }
  RecordView end;
  ASSERT_TRUE(sc.ReadRecord(off, &end).ok());
  EXPECT_TRUE(end.kind == RecordView::Kind::kEnd);
}

TEST(WalFile, BufferedAndDirectAppendsGiveIdenticalFiles) {
  TempDir buffered_dir, direct_dir;
  uint64_t end_b = 0, end_d = 0;
  ASSERT_TRUE(WriteTestSegment(buffered_dir.path(), false, 4096, 2 * 4096, nullptr, &end_b).ok());
  CheckTestSegment(buffered_dir.Sub("0000000000000001.wal"));
  DirectIoProbe probe;
  ASSERT_TRUE(ProbeDirectIo(direct_dir.path(), &probe).ok());
  if (!probe.supported) SKIP() << "the direct half, as direct I/O is not available here: " << probe.refusal.ToString();
  Status s = WriteTestSegment(direct_dir.path(), true, probe.alignment, 2 * probe.alignment, nullptr, &end_d);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(end_b, end_d);
  CheckTestSegment(direct_dir.Sub("0000000000000001.wal"));
  EXPECT_TRUE(ReadFileBytes(buffered_dir.Sub("0000000000000001.wal")) ==
              ReadFileBytes(direct_dir.Sub("0000000000000001.wal")));
}

// Reopening mid-block (direct) reads the block back, so the appended bytes land after it and
// the earlier bytes are rewritten unchanged.
TEST(WalFile, AppenderResumesInsideABlock) {
  for (int direct = 0; direct < 2; direct++) {
    TempDir dir;
    DirectIoProbe probe;
    ASSERT_TRUE(ProbeDirectIo(dir.path(), &probe).ok());
    if (direct && !probe.supported)
      SKIP() << "the direct half, as direct I/O is not available here: " << probe.refusal.ToString();
    const size_t align = direct ? probe.alignment : 4096;
    int fd = -1;
    ASSERT_TRUE(CreateSegmentFile(SegmentSpec(dir.path(), 1, 1, direct, align), &fd).ok());
    AlignedBuffer buffer;
    ASSERT_TRUE(buffer.Allocate(4 * align, align));
    AppendMode mode;
    mode.direct = direct != 0;
    mode.alignment = align;
    const std::string path = dir.Sub("0000000000000001.wal");
    uint64_t micros = 0, end = 0;
    {
      std::unique_ptr<SegmentAppender> a;
      ASSERT_TRUE(
          SegmentAppender::Open(fd, path, kSegSize, kSegmentHeaderSize, mode, &buffer, PosixFileLayer(), &a).ok());
      const std::vector<uint8_t> p = PayloadFor(1, 100);
      ASSERT_TRUE(a->Append(1, p.data(), 100).ok());
      ASSERT_TRUE(a->Sync(&micros).ok());
      end = a->end();
    }
    ASSERT_TRUE(OpenFile(path, O_RDWR, direct != 0, &fd).ok());
    std::unique_ptr<SegmentAppender> a;
    ASSERT_TRUE(SegmentAppender::Open(fd, path, kSegSize, end, mode, &buffer, PosixFileLayer(), &a).ok());
    const std::vector<uint8_t> p = PayloadFor(2, 200);
    ASSERT_TRUE(a->Append(2, p.data(), 200).ok());
    ASSERT_TRUE(a->Sync(&micros).ok());
    SegmentScanner sc;
    ASSERT_TRUE(sc.Open(path).ok());
    RecordView v;
    ASSERT_TRUE(sc.ReadRecord(kSegmentHeaderSize, &v).ok());
    EXPECT_TRUE(v.kind == RecordView::Kind::kRecord && v.seq == 1) << "direct " << direct;
    ASSERT_TRUE(sc.ReadRecord(end, &v).ok());
    EXPECT_TRUE(v.kind == RecordView::Kind::kRecord && v.seq == 2 && v.length == 200) << "direct " << direct;
  }
}

TEST(WalFile, InjectedWriteFailureWritesNothing) {
  TempDir dir;
  FaultInjector f;
  f.fail_write_at = 2;
  FaultyFileLayer faults(f);
  uint64_t end = 0;
  Status s = WriteTestSegment(dir.path(), false, 4096, 2 * 4096, &faults, &end);
  EXPECT_EQ(StatusCode::kIoError, s.code());
  EXPECT_EQ("io {operation: write, file: " + dir.Sub("0000000000000001.wal") + ", errno: EIO}", s.ToString());
  // Records 1..3 were written and synced by the first write; nothing after them.
  SegmentScanner sc;
  ASSERT_TRUE(sc.Open(dir.Sub("0000000000000001.wal")).ok());
  uint64_t off = kSegmentHeaderSize;
  int records = 0;
  for (;;) {
    RecordView v;
    ASSERT_TRUE(sc.ReadRecord(off, &v).ok());
    if (v.kind != RecordView::Kind::kRecord) {
      EXPECT_TRUE(v.kind == RecordView::Kind::kEnd);
      break;
    }
    off += v.footprint;
    records++;
  }
  EXPECT_EQ(3, records);
}

TEST(WalFile, InjectedSyncFailureDiscardsUnsyncedBytes) {
  TempDir dir;
  FaultInjector f;
  f.fail_sync_at = 2;
  f.error_number = ENOSPC;
  FaultyFileLayer faults(f);
  uint64_t end = 0;
  Status s = WriteTestSegment(dir.path(), false, 4096, 2 * 4096, &faults, &end);
  EXPECT_EQ(StatusCode::kIoError, s.code());
  EXPECT_EQ("io {operation: fdatasync, file: " + dir.Sub("0000000000000001.wal") + ", errno: ENOSPC}", s.ToString());
  SegmentScanner sc;
  ASSERT_TRUE(sc.Open(dir.Sub("0000000000000001.wal")).ok());
  uint64_t off = kSegmentHeaderSize;
  int records = 0;
  for (RecordView v; sc.ReadRecord(off, &v).ok() && v.kind == RecordView::Kind::kRecord; off += v.footprint) {
    records++;
  }
  EXPECT_EQ(3, records);
  uint64_t found = 0, end_nonzero = 0;
  ASSERT_TRUE(sc.FindValidRecord(off, 0, UINT64_MAX, &found, &end_nonzero).ok());
  EXPECT_EQ(off, end_nonzero);  // zeros after the synced prefix
}

// Appends records 1..n (TestLengths' lengths) to a new segment through `io`; syncs after the
// first `synced` of them, then only flushes the rest (written, never synced).
Status WriteSyncedThenFlushed(const std::string& dir, bool direct, size_t alignment, size_t synced, size_t n,
                              FileLayer* io) {
  int fd = -1;
  Status s = CreateSegmentFile(SegmentSpec(dir, 1, 1, direct, alignment), &fd);
  if (!s.ok()) return s;
  AlignedBuffer buffer;
  if (!buffer.Allocate(2 * alignment, alignment)) return Status(Reason::kOutOfMemory);
  AppendMode mode;
  mode.direct = direct;
  mode.alignment = alignment;
  std::unique_ptr<SegmentAppender> a;
  s = SegmentAppender::Open(fd, dir + "/0000000000000001.wal", kSegSize, kSegmentHeaderSize, mode, &buffer, io, &a);
  if (!s.ok()) return s;
  const std::vector<uint32_t> lengths = TestLengths();
  uint64_t micros = 0;
  for (size_t i = 0; i < n; i++) {
    const std::vector<uint8_t> p = PayloadFor(i, lengths[i]);
    s = a->Append(i + 1, p.data(), lengths[i]);
    if (s.ok() && i + 1 == synced) s = a->Sync(&micros);
    if (!s.ok()) return s;
  }
  return a->Flush();
}

// Power loss under the appender, in both modes: what the last fdatasync covered stays, bytes for
// bytes (in direct mode the block holding the synced end was rewritten since), the rest is gone.
TEST(FaultyFileLayer, DropUnsyncedDataLeavesWhatTheLastSyncCovered) {
  for (bool direct : {false, true}) {
    TempDir dir, want;
    size_t alignment = 4096;
    if (direct) {
      DirectIoProbe probe;
      ASSERT_TRUE(ProbeDirectIo(dir.path(), &probe).ok());
      if (!probe.supported)
        SKIP() << "the direct half, as direct I/O is not available here: " << probe.refusal.ToString();
      alignment = probe.alignment;
    }
    FaultyFileLayer layer(FaultInjector{});
    Status s = WriteSyncedThenFlushed(dir.path(), direct, alignment, 5, 12, &layer);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(uint64_t{1}, layer.syncs());
    EXPECT_LT(uint64_t{2}, layer.writes());
    ASSERT_TRUE(layer.DropUnsyncedData().ok());
    ASSERT_TRUE(WriteSyncedThenFlushed(want.path(), false, 4096, 5, 5, PosixFileLayer()).ok());
    const std::string name = "0000000000000001.wal";
    EXPECT_TRUE(ReadFileBytes(dir.Sub(name)) == ReadFileBytes(want.Sub(name))) << "direct " << direct;
    // Nothing is left to forget.
    ASSERT_TRUE(layer.DropUnsyncedData().ok());
    EXPECT_TRUE(ReadFileBytes(dir.Sub(name)) == ReadFileBytes(want.Sub(name))) << "direct " << direct;
  }
}

// After an injected fdatasync failure the file is a failed device: nothing written after the
// last good fdatasync is there, later writes are lost and later fdatasyncs fail.
TEST(FaultyFileLayer, AFailedSyncLosesWhatWasNotSyncedAndEverythingAfter) {
  TempDir dir, want;
  FaultInjector f;
  f.fail_sync_at = 2;
  FaultyFileLayer layer(f);
  const std::string path = dir.Sub("f");
  int fd = -1;
  ASSERT_TRUE(OpenFile(path, O_RDWR | O_CREAT, false, &fd).ok());
  const std::vector<uint8_t> first = PayloadFor(1, 5000), second = PayloadFor(2, 3000);
  ASSERT_TRUE(layer.Write(fd, path, first.data(), first.size(), 0).ok());
  ASSERT_TRUE(layer.Sync(fd, path).ok());
  ASSERT_TRUE(layer.Write(fd, path, second.data(), second.size(), 1000).ok());
  EXPECT_EQ("io {operation: fdatasync, file: " + path + ", errno: EIO}", layer.Sync(fd, path).ToString());
  EXPECT_TRUE(layer.Write(fd, path, second.data(), second.size(), 0).ok());  // taken, and lost
  EXPECT_EQ(StatusCode::kIoError, layer.Sync(fd, path).code());
  close(fd);
  EXPECT_TRUE(ReadFileBytes(path) == first);  // the second write's bytes were put back
  EXPECT_EQ(uint64_t{3}, layer.writes());
  EXPECT_EQ(uint64_t{3}, layer.syncs());
}

TEST(WalFile, FullWriteAndReadHelpers) {
  TempDir dir;
  const std::string path = dir.Sub("f");
  int fd = -1;
  ASSERT_TRUE(OpenFile(path, O_RDWR | O_CREAT, false, &fd).ok());
  const std::vector<uint8_t> bytes = PayloadFor(9, 100000);
  ASSERT_TRUE(WriteFull(fd, bytes.data(), bytes.size(), 10, path).ok());
  std::vector<uint8_t> back(200000);
  size_t got = 0;
  ASSERT_TRUE(ReadFull(fd, back.data(), back.size(), 10, path, &got).ok());
  EXPECT_EQ(bytes.size(), got);
  EXPECT_EQ(0, std::memcmp(bytes.data(), back.data(), bytes.size()));
  ASSERT_TRUE(SyncData(fd, path).ok());
  close(fd);
  EXPECT_TRUE(SyncDir(dir.path()).ok());
  EXPECT_EQ(StatusCode::kIoError, SyncDir(dir.Sub("nope")).code());
  EXPECT_TRUE(FileExists(path));
}

}  // namespace
}  // namespace wal
}  // namespace tapio
