#include "core/wal_recovery.h"

#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/wal_codec.h"
#include "test/harness.h"
#include "test/wal_test_log.h"
#include "test/wal_test_util.h"

namespace tapio {
namespace wal {
namespace {

using tapio_test::AppendRecords;
using tapio_test::DamageOf;
using tapio_test::DetailOf;
using tapio_test::FileExists;
using tapio_test::FileSize;
using tapio_test::FlipByte;
using tapio_test::LengthOf;
using tapio_test::PatchFile;
using tapio_test::PayloadFor;
using tapio_test::ReadAt;
using tapio_test::ReadFileBytes;
using tapio_test::ReasonOf;
using tapio_test::Rec;
using tapio_test::RecordsOf;
using tapio_test::RecoverDir;
using tapio_test::SegPath;
using tapio_test::TempDir;
using tapio_test::TextOf;
using tapio_test::WriteFileBytes;

constexpr uint64_t kSeg = tapio_test::kTestSegmentSize;

// The sequence numbers of the records the log holds (stepping over the stretches in `skip`), up to
// the first whose payload is not the one AppendRecords wrote for it.
std::vector<uint64_t> ReadSeqs(const std::string& dir, const std::vector<SalvageStretch>& skip = {}) {
  std::vector<uint64_t> seqs;
  for (const auto& rec : tapio_test::LogRecords(dir, skip)) {
    const uint64_t seq = rec.first;
    if (seq == 0 || rec.second != PayloadFor(seq - 1, LengthOf(seq - 1))) break;
    seqs.push_back(seq);
  }
  return seqs;
}

// ---- clean logs ----

TEST(WalRecovery, CleanLogAcrossSegments) {
  TempDir dir;
  ASSERT_TRUE(AppendRecords(dir.path(), 0, 3000).ok());  // ~1.6 MB: two segments
  RecoveryResult r;
  ASSERT_TRUE(RecoverDir(dir.path(), &r).ok());
  ASSERT_GE(r.segments.size(), size_t{2});
  EXPECT_EQ(uint64_t{1}, r.first_seq);
  EXPECT_EQ(uint64_t{3000}, r.last_seq);
  EXPECT_EQ(uint64_t{3000}, r.records);
  EXPECT_EQ(uint64_t{0}, r.torn_bytes);
  EXPECT_TRUE(r.salvaged.empty());
  // Each byte examined counts once: every header's used bytes, and the record area of each
  // segment scanned (those after the checkpoint); never more than the files hold.
  EXPECT_EQ(
      kSegmentHeaderUsed * r.segments.size() + (kSeg - kSegmentHeaderSize) * (r.segments.size() - r.sealed_segments),
      r.bytes_scanned);
  EXPECT_LE(r.bytes_scanned, kSeg * r.segments.size());
  EXPECT_EQ(r.segments.back().number, r.resume.segment);
  EXPECT_TRUE(r.resume.segment_exists);
  EXPECT_EQ(r.segments.back().end_offset, r.resume.write_offset);
  EXPECT_EQ(uint64_t{3001}, r.resume.next_seq);
  EXPECT_EQ(size_t{3000}, ReadSeqs(dir.path()).size());
}

// ---- torn tails of the newest segment ----

// Damages the last record of a 50-record log with `damage`, recovers, and checks the cut.
void TornTailCase(const char* what, void (*damage)(const std::string& path, const Rec& last), uint64_t expect_last_seq,
                  bool expect_cut = true) {
  TempDir dir;
  ASSERT_TRUE(AppendRecords(dir.path(), 0, 50).ok());
  const std::string path = SegPath(dir, 1);
  const std::vector<Rec> recs = RecordsOf(path);
  ASSERT_EQ(size_t{50}, recs.size());
  const Rec last = recs.back();
  // Where the log is cut: after the last record that stays whole.
  const uint64_t cut = expect_last_seq == 50 ? last.offset + last.footprint : last.offset;
  damage(path, last);
  const std::vector<uint8_t> before = ReadFileBytes(path);

  RecoveryResult r;
  Status s = RecoverDir(dir.path(), &r);
  ASSERT_TRUE(s.ok()) << what << ": " << s.ToString();
  EXPECT_EQ(expect_last_seq, r.last_seq) << what;
  EXPECT_EQ(cut, r.resume.write_offset) << what;
  EXPECT_EQ(expect_cut, r.torn_bytes != 0) << what;
  EXPECT_EQ(expect_cut, FileExists(path + ".broken")) << what;
  if (r.torn_bytes != 0) {
    EXPECT_EQ(path + ".broken", r.broken_file) << what;
    const std::vector<uint8_t> broken = ReadFileBytes(r.broken_file);
    ASSERT_EQ(r.torn_bytes, broken.size()) << what;
    EXPECT_TRUE(std::equal(broken.begin(), broken.end(), before.begin() + static_cast<long>(cut))) << what;
    EXPECT_NE(0, broken.back()) << what << ": the copy ends at the last non-zero byte";
    const std::vector<uint8_t> after = ReadFileBytes(path);
    for (uint64_t i = cut; i < after.size(); i++) {
      if (after[i] != 0) FAIL() << what << ": byte " << i << " was not zeroed";
    }
  }
  RecoveryResult again;
  ASSERT_TRUE(RecoverDir(dir.path(), &again).ok());
  EXPECT_EQ(uint64_t{0}, again.torn_bytes) << what;
  EXPECT_EQ(expect_last_seq, again.last_seq) << what;
  // The writer resumes at the cut, and the log reads back whole.
  ASSERT_TRUE(AppendRecords(dir.path(), expect_last_seq, 5).ok()) << what;
  const std::vector<uint64_t> seqs = ReadSeqs(dir.path());
  EXPECT_EQ(expect_last_seq + 5, seqs.size()) << what;
  EXPECT_EQ(kSeg, FileSize(path)) << what;
}

TEST(WalRecovery, TornTailBadChecksum) {
  TornTailCase(
      "bad checksum",
      [](const std::string& path, const Rec& last) {
        std::vector<uint8_t> b = ReadAt(path, last.offset + 20, 1);
        b[0] ^= 0x40;
        PatchFile(path, last.offset + 20, b);
      },
      49);
}

TEST(WalRecovery, TornTailBadLength) {
  TornTailCase(
      "bad length",
      [](const std::string& path, const Rec& last) {
        PatchFile(path, last.offset + kRecordOffLength, {0xff, 0xff, 0xff, 0x7f});
      },
      49);
}

TEST(WalRecovery, TornTailPartialPayload) {
  TornTailCase(
      "partial payload",
      [](const std::string& path, const Rec& last) {
        const uint64_t half = last.length / 2;
        PatchFile(path, last.offset + kRecordHeaderSize + half, std::vector<uint8_t>(last.length - half, 0));
      },
      49);
}

TEST(WalRecovery, TornTailPartialHeaderAtTheEndOfTheFile) {
  TornTailCase(
      "partial header",
      [](const std::string& path, const Rec& last) {
        if (truncate(path.c_str(), static_cast<off_t>(last.offset + 8)) != 0) std::abort();
      },
      49);
}

TEST(WalRecovery, ZeroedTailIsACleanEnd) {
  TornTailCase(
      "zeroed tail",
      [](const std::string& path, const Rec& last) {
        PatchFile(path, last.offset, std::vector<uint8_t>(last.footprint, 0));
      },
      49, false);
}

TEST(WalRecovery, StrayBytesAfterTheLastRecordAreCut) {
  TornTailCase(
      "stray bytes",
      [](const std::string& path, const Rec& last) {
        PatchFile(path, last.offset + last.footprint + 4000, {1, 2, 3});
      },
      50);
}

// ---- damage that refuses the open ----

TEST(WalRecovery, MiddleOfNewestSegmentWithValidRecordsAfterIsCorrupt) {
  TempDir dir;
  ASSERT_TRUE(AppendRecords(dir.path(), 0, 50).ok());
  const std::string path = SegPath(dir, 1);
  const std::vector<Rec> recs = RecordsOf(path);
  const Rec bad = recs[20];
  std::vector<uint8_t> b = ReadAt(path, bad.offset + 30, 1);
  b[0] ^= 1;
  PatchFile(path, bad.offset + 30, b);
  const std::vector<uint8_t> before = ReadFileBytes(path);

  RecoveryResult r;
  Status s = RecoverDir(dir.path(), &r);
  EXPECT_EQ(StatusCode::kCorrupt, s.code());
  EXPECT_EQ("segment-damaged", ReasonOf(s)) << s.ToString();
  EXPECT_EQ("record-checksum", DamageOf(s)) << s.ToString();
  EXPECT_NE("", DetailOf(s, "validAt")) << s.ToString();  // valid records follow: not a torn tail
  EXPECT_EQ("offset=" + std::to_string(bad.offset) + " segment=" + SegmentFileName(1),
            DetailOf(s, "offset") + " " + DetailOf(s, "segment"));
  EXPECT_EQ("file=" + path, DetailOf(s, "file"));
  EXPECT_TRUE(ReadFileBytes(path) == before);  // a refused open changes nothing

  ASSERT_TRUE(RecoverDir(dir.path(), &r, true).ok());
  EXPECT_EQ(uint64_t{49}, r.records);
  EXPECT_EQ(uint64_t{50}, r.last_seq);
  ASSERT_GE(r.salvaged.size(), size_t{1});
  EXPECT_EQ(SegmentFileName(1), r.salvaged[0].segment);
  EXPECT_EQ(bad.offset, r.salvaged[0].offset);
  EXPECT_EQ(bad.footprint, r.salvaged[0].bytes);
  EXPECT_EQ("record-checksum", ReasonOf(r.salvaged[0].damage)) << r.salvaged[0].damage.ToString();
  EXPECT_EQ(uint64_t{0}, r.torn_bytes);
  EXPECT_TRUE(ReadFileBytes(path) == before);  // salvage cuts nothing but a torn tail
  // Every record but the one set aside is still there, past the stretch salvage recorded.
  EXPECT_EQ(size_t{49}, ReadSeqs(dir.path(), r.set_aside).size());
}

// ---- SALVAGED: what salvage set aside, accepted by later strict opens ----

TEST(WalRecovery, SalvageRecordsWhatItSetAsideAndStrictOpensAcceptOnlyThat) {
  TempDir dir;
  ASSERT_TRUE(AppendRecords(dir.path(), 0, 50).ok());
  const std::string path = SegPath(dir, 1);
  const std::vector<Rec> recs = RecordsOf(path);
  FlipByte(path, recs[20].offset + 30);  // record 21
  RecoveryResult r;
  EXPECT_EQ(StatusCode::kCorrupt, RecoverDir(dir.path(), &r).code());
  EXPECT_FALSE(FileExists(dir.Sub("SALVAGED")));

  ASSERT_TRUE(RecoverDir(dir.path(), &r, true).ok());
  ASSERT_EQ(size_t{1}, r.set_aside.size());
  EXPECT_EQ(uint64_t{1}, r.set_aside[0].segment);
  EXPECT_EQ(recs[20].offset, r.set_aside[0].offset);
  EXPECT_EQ(recs[20].footprint, r.set_aside[0].bytes);
  EXPECT_EQ(uint64_t{21}, r.set_aside[0].lost_from);
  EXPECT_EQ(uint64_t{1}, r.set_aside[0].lost_count);
  EXPECT_EQ("{\"format\":\"tapio-wal-salvaged\",\"version\":1,\"storeId\":\"" + StoreIdToHex(r.store_id) +
                "\",\"stretches\":[{\"segment\":1,\"offset\":" + std::to_string(recs[20].offset) +
                ",\"bytes\":" + std::to_string(recs[20].footprint) + ",\"lostFrom\":21,\"lostCount\":1}]}",
            TextOf(dir.Sub("SALVAGED")));
  EXPECT_EQ(SalvagedContents(r.store_id, r.set_aside), TextOf(dir.Sub("SALVAGED")));
  EXPECT_FALSE(FileExists(dir.Sub("SALVAGED.tmp")));

  // The next strict open accepts the stretch and the sequence number it lost, and the writer goes on.
  ASSERT_TRUE(RecoverDir(dir.path(), &r).ok());
  EXPECT_TRUE(r.salvaged.empty());
  EXPECT_EQ(uint64_t{49}, r.records);
  EXPECT_EQ(uint64_t{50}, r.last_seq);
  ASSERT_EQ(size_t{1}, r.set_aside.size());
  EXPECT_EQ(recs[20].offset, r.set_aside[0].offset);
  ASSERT_TRUE(AppendRecords(dir.path(), 50, 5).ok());
  ASSERT_TRUE(RecoverDir(dir.path(), &r).ok());
  EXPECT_EQ(uint64_t{55}, r.last_seq);
  EXPECT_EQ(uint64_t{54}, r.records);
  // Past the recorded stretch (record 21), the log holds every other record.
  std::vector<uint64_t> want;
  for (uint64_t k = 1; k <= 55; k++) {
    if (k != 21) want.push_back(k);
  }
  EXPECT_EQ(want, ReadSeqs(dir.path(), r.set_aside));

  // Damage anywhere else is refused, naming it.
  FlipByte(path, recs[30].offset + 30);
  Status s = RecoverDir(dir.path(), &r);
  EXPECT_EQ(StatusCode::kCorrupt, s.code());
  EXPECT_EQ("offset=" + std::to_string(recs[30].offset), DetailOf(s, "offset"));
  EXPECT_EQ("segment-damaged", ReasonOf(s)) << s.ToString();

  // A salvage that finds nothing to set aside removes the file.
  FlipByte(path, recs[30].offset + 30);
  FlipByte(path, recs[20].offset + 30);
  ASSERT_TRUE(RecoverDir(dir.path(), &r, true).ok());
  EXPECT_TRUE(r.set_aside.empty());
  EXPECT_FALSE(FileExists(dir.Sub("SALVAGED")));
}

TEST(WalRecovery, BytesScannedCountsEachByteOnceAndNeverExceedsTheFiles) {
  TempDir dir;
  ASSERT_TRUE(AppendRecords(dir.path(), 0, 50).ok());
  const std::string path = SegPath(dir, 1);
  RecoveryResult r;
  ASSERT_TRUE(RecoverDir(dir.path(), &r).ok());
  // The newest segment is read twice (the unfinished-creation check, then the scan): once counted.
  EXPECT_EQ(kSegmentHeaderUsed + kSeg - kSegmentHeaderSize, r.bytes_scanned);
  EXPECT_LE(r.bytes_scanned, FileSize(path));
  const std::vector<Rec> recs = RecordsOf(path);
  FlipByte(path, recs[20].offset + 30);  // the search for the next valid record reads on again
  ASSERT_TRUE(RecoverDir(dir.path(), &r, true).ok());
  EXPECT_EQ(kSegmentHeaderUsed + kSeg - kSegmentHeaderSize, r.bytes_scanned);
}

TEST(WalRecovery, ZeroedHoleInTheNewestSegmentIsCorrupt) {
  TempDir dir;
  ASSERT_TRUE(AppendRecords(dir.path(), 0, 30).ok());
  const std::string path = SegPath(dir, 1);
  const Rec hole = RecordsOf(path)[10];
  PatchFile(path, hole.offset, std::vector<uint8_t>(hole.footprint, 0));
  RecoveryResult r;
  Status s = RecoverDir(dir.path(), &r);
  EXPECT_EQ(StatusCode::kCorrupt, s.code());
  EXPECT_EQ("bytes-after-end", DamageOf(s)) << s.ToString();
  ASSERT_TRUE(RecoverDir(dir.path(), &r, true).ok());
  EXPECT_EQ(uint64_t{29}, r.records);
}

TEST(WalRecovery, CheckpointSealsOlderSegments) {
  TempDir dir;
  ASSERT_TRUE(AppendRecords(dir.path(), 0, 3000).ok());
  RecoveryResult quick;
  ASSERT_TRUE(RecoverDir(dir.path(), &quick).ok());
  ASSERT_GE(quick.segments.size(), size_t{2});
  EXPECT_EQ(quick.segments.size() - 1, quick.sealed_segments);
  EXPECT_TRUE(quick.checkpoint_ignored.ok()) << quick.checkpoint_ignored.ToString();
  // A full scan (no CHECKPOINT) agrees on every segment's sequence numbers and writes it again.
  const std::string cp_path = dir.Sub(kCheckpointFileName);
  const std::vector<uint8_t> cp = ReadFileBytes(cp_path);
  ASSERT_EQ(0, unlink(cp_path.c_str()));
  RecoveryResult full;
  ASSERT_TRUE(RecoverDir(dir.path(), &full).ok());
  EXPECT_EQ(uint64_t{0}, full.sealed_segments);
  EXPECT_GT(full.bytes_scanned, quick.bytes_scanned);
  ASSERT_EQ(full.segments.size(), quick.segments.size());
  for (size_t i = 0; i < full.segments.size(); i++) {
    EXPECT_EQ(full.segments[i].first_seq, quick.segments[i].first_seq);
    EXPECT_EQ(full.segments[i].last_seq, quick.segments[i].last_seq);
    EXPECT_EQ(full.segments[i].records, quick.segments[i].records);
  }
  EXPECT_EQ(full.first_seq, quick.first_seq);
  EXPECT_EQ(full.last_seq, quick.last_seq);
  EXPECT_EQ(full.records, quick.records);
  EXPECT_TRUE(ReadFileBytes(cp_path) == cp);
  // An unusable one is ignored, noted, and replaced.
  ASSERT_TRUE(WriteFileBytes(cp_path, std::vector<uint8_t>{'{', '}'}));
  RecoveryResult again;
  ASSERT_TRUE(RecoverDir(dir.path(), &again).ok());
  EXPECT_EQ(uint64_t{0}, again.sealed_segments);
  EXPECT_EQ("small-file-format {name: CHECKPOINT}", again.checkpoint_ignored.ToString());
  EXPECT_TRUE(ReadFileBytes(cp_path) == cp);
  // The segment after the sealed one missing: refused, nothing changed.
  ASSERT_EQ(0, unlink(SegPath(dir, quick.segments.back().number).c_str()));
  Status s = RecoverDir(dir.path(), &again);
  EXPECT_EQ(StatusCode::kCorrupt, s.code());
  EXPECT_EQ("missing-after-checkpoint", DamageOf(s)) << s.ToString();
}

TEST(WalRecovery, DamageInAnOlderSegmentIsCorrupt) {
  TempDir dir;
  ASSERT_TRUE(AppendRecords(dir.path(), 0, 3000).ok());
  const std::string path = SegPath(dir, 1);
  const std::vector<Rec> recs = RecordsOf(path);
  // Even the very last record of an older segment: it was synced before the next one began.
  const Rec bad = recs.back();
  std::vector<uint8_t> b = ReadAt(path, bad.offset + 17, 1);
  b[0] ^= 0x10;
  PatchFile(path, bad.offset + 17, b);
  // CHECKPOINT says segment 1 is sealed, so an open checks only its header; without it (as
  // after a salvage) every segment is scanned.
  RecoveryResult r;
  ASSERT_TRUE(RecoverDir(dir.path(), &r).ok());
  EXPECT_EQ(uint64_t{1}, r.sealed_segments);
  ASSERT_EQ(0, unlink(dir.Sub(kCheckpointFileName).c_str()));
  Status s = RecoverDir(dir.path(), &r);
  EXPECT_EQ(StatusCode::kCorrupt, s.code());
  EXPECT_EQ("file=" + path + " offset=" + std::to_string(bad.offset),
            DetailOf(s, "file") + " " + DetailOf(s, "offset"));
  EXPECT_EQ("olderSegment=true", DetailOf(s, "olderSegment")) << s.ToString();
  EXPECT_FALSE(FileExists(path + ".broken"));

  ASSERT_TRUE(RecoverDir(dir.path(), &r, true).ok());
  EXPECT_EQ(uint64_t{2999}, r.records);
  EXPECT_EQ(uint64_t{3000}, r.last_seq);
  EXPECT_GE(r.salvaged.size(), size_t{2});  // the stretch, then the gap it leaves
  // Every record but the one set aside is still there, past the stretch salvage recorded.
  EXPECT_EQ(size_t{2999}, ReadSeqs(dir.path(), r.set_aside).size());
}

TEST(WalRecovery, MissingMiddleSegmentIsASequenceGap) {
  TempDir dir;
  ASSERT_TRUE(AppendRecords(dir.path(), 0, 5000).ok());
  RecoveryResult r;
  ASSERT_TRUE(RecoverDir(dir.path(), &r).ok());
  ASSERT_GE(r.segments.size(), size_t{3});
  const SegmentInfo lost = r.segments[1];
  ASSERT_EQ(0, unlink(SegPath(dir, 2).c_str()));
  Status s = RecoverDir(dir.path(), &r);
  EXPECT_EQ(StatusCode::kCorrupt, s.code());
  EXPECT_EQ("segments-missing", DamageOf(s)) << s.ToString();
  ASSERT_TRUE(RecoverDir(dir.path(), &r, true).ok());
  EXPECT_EQ(uint64_t{5000} - lost.records, r.records);
  bool gap_noted = false;
  for (const auto& st : r.salvaged) gap_noted |= ReasonOf(st.damage) == "segment-gap";
  EXPECT_TRUE(gap_noted);
}

TEST(WalRecovery, SequenceGapInsideASegment) {
  TempDir dir;
  ASSERT_TRUE(AppendRecords(dir.path(), 0, 40).ok());
  const std::string path = SegPath(dir, 1);
  const Rec r15 = RecordsOf(path)[15];
  // Re-encode record 16 as seq 100 with a valid checksum.
  std::vector<uint8_t> rec = ReadAt(path, r15.offset, kRecordHeaderSize + r15.length);
  EncodeRecordHeader(100, rec.data() + kRecordHeaderSize, r15.length, rec.data());
  PatchFile(path, r15.offset, rec);
  RecoveryResult r;
  Status s = RecoverDir(dir.path(), &r);
  EXPECT_EQ(StatusCode::kCorrupt, s.code());
  EXPECT_EQ("seq-gap", DamageOf(s)) << s.ToString();
  EXPECT_EQ("expected=16 found=100", DetailOf(s, "expected") + " " + DetailOf(s, "found"));
  EXPECT_EQ("offset=" + std::to_string(r15.offset), DetailOf(s, "offset"));
  ASSERT_TRUE(RecoverDir(dir.path(), &r, true).ok());
  // Kept: 1..15 and 100; records 17..40 now go back in sequence. Nothing valid follows them in
  // the newest segment, so they are its torn tail: set aside in .broken, then zeroed.
  EXPECT_EQ(uint64_t{16}, r.records);
  EXPECT_EQ(uint64_t{100}, r.last_seq);
  EXPECT_EQ(uint64_t{101}, r.resume.next_seq);
  EXPECT_EQ(r15.offset + r15.footprint, r.resume.write_offset);
  EXPECT_EQ(path + ".broken", r.broken_file);
  ASSERT_EQ(size_t{1}, r.salvaged.size());
  EXPECT_EQ("seq-gap {expected: 16, found: 100}", r.salvaged[0].damage.ToString());
}

// ---- segment headers ----

// `damage` names the damage reason the refusal carries.
void HeaderCase(const char* what, void (*damage)(const std::string& path), StatusCode code, const char* reason) {
  TempDir dir;
  ASSERT_TRUE(AppendRecords(dir.path(), 0, 3000).ok());
  damage(SegPath(dir, 1));
  RecoveryResult r;
  Status s = RecoverDir(dir.path(), &r);
  EXPECT_EQ(code, s.code()) << what << ": " << s.ToString();
  EXPECT_EQ("file=" + SegPath(dir, 1), DetailOf(s, "file")) << what << ": " << s.ToString();
  EXPECT_EQ(reason, DamageOf(s)) << what << ": " << s.ToString();
}

void RewriteHeader(const std::string& path, void (*change)(SegmentHeader*)) {
  std::vector<uint8_t> raw = ReadAt(path, 0, kSegmentHeaderUsed);
  SegmentHeader h;
  if (!DecodeSegmentHeader(raw.data(), path, &h).ok()) std::abort();
  change(&h);
  EncodeSegmentHeader(h, raw.data());
  PatchFile(path, 0, raw);
}

TEST(WalRecovery, WrongMagic) {
  HeaderCase(
      "magic", [](const std::string& p) { PatchFile(p, 0, {'X'}); }, StatusCode::kCorrupt, "bad-magic");
}

TEST(WalRecovery, WrongVersion) {
  HeaderCase(
      "version", [](const std::string& p) { PatchFile(p, kHeaderOffVersion, {9}); }, StatusCode::kFormatVersion,
      "format-version");
}

TEST(WalRecovery, HeaderChecksum) {
  // Flipped, not set: the creation time's byte may already hold any given value.
  HeaderCase(
      "crc",
      [](const std::string& p) {
        PatchFile(p, kHeaderOffCreated, {static_cast<uint8_t>(ReadAt(p, kHeaderOffCreated, 1)[0] ^ 0xff)});
      },
      StatusCode::kCorrupt, "header-checksum");
}

TEST(WalRecovery, WrongStoreId) {
  HeaderCase(
      "store id", [](const std::string& p) { RewriteHeader(p, [](SegmentHeader* h) { h->store_id.bytes[3] ^= 1; }); },
      StatusCode::kCorrupt, "foreign-store");
  // Not even salvage takes a foreign segment.
  TempDir dir;
  ASSERT_TRUE(AppendRecords(dir.path(), 0, 10).ok());
  RewriteHeader(SegPath(dir, 1), [](SegmentHeader* h) { h->store_id.bytes[0] ^= 1; });
  RecoveryResult r;
  EXPECT_EQ(StatusCode::kCorrupt, RecoverDir(dir.path(), &r, true).code());
}

TEST(WalRecovery, SegmentNumberMustMatchTheName) {
  HeaderCase(
      "number", [](const std::string& p) { RewriteHeader(p, [](SegmentHeader* h) { h->number = 7; }); },
      StatusCode::kCorrupt, "header-segment");
}

TEST(WalRecovery, SalvageSkipsAnUnreadableOlderSegment) {
  TempDir dir;
  ASSERT_TRUE(AppendRecords(dir.path(), 0, 5000).ok());
  RecoveryResult clean;
  ASSERT_TRUE(RecoverDir(dir.path(), &clean).ok());
  PatchFile(SegPath(dir, 2), 0, {'X'});
  RecoveryResult r;
  ASSERT_TRUE(RecoverDir(dir.path(), &r, true).ok());
  EXPECT_EQ(clean.records - clean.segments[1].records, r.records);
  EXPECT_EQ(clean.last_seq, r.last_seq);
  EXPECT_EQ(SegmentFileName(2), r.salvaged[0].segment);
}

TEST(WalRecovery, SealedSegmentBeforeOneSetAsideWholeEndsWhereTheLostRecordsBegin) {
  TempDir dir;
  ASSERT_TRUE(AppendRecords(dir.path(), 0, 8000).ok());
  RecoveryResult clean;
  ASSERT_TRUE(RecoverDir(dir.path(), &clean).ok());
  ASSERT_GE(clean.segments.size(), size_t{4});
  PatchFile(SegPath(dir, 2), 0, {'X'});
  RecoveryResult r;
  ASSERT_TRUE(RecoverDir(dir.path(), &r, true).ok());
  ASSERT_TRUE(RecoverDir(dir.path(), &r).ok());  // scans everything, writes CHECKPOINT
  EXPECT_EQ(uint64_t{0}, r.sealed_segments);
  RecoveryResult again;
  ASSERT_TRUE(RecoverDir(dir.path(), &again).ok());  // segments 1-3 on CHECKPOINT's word
  EXPECT_EQ(clean.segments.size() - 2, again.sealed_segments);
  EXPECT_EQ(uint64_t{1}, again.first_seq);
  EXPECT_EQ(clean.segments[0].last_seq, again.segments[0].last_seq);
  EXPECT_EQ(clean.segments[0].records, again.segments[0].records);
  EXPECT_EQ(uint64_t{0}, again.segments[1].records);
  EXPECT_EQ(clean.records - clean.segments[1].records, again.records);
  EXPECT_EQ(clean.last_seq, again.last_seq);
}

// ---- unfinished segment creation ----

TEST(WalRecovery, UnfinishedNewestSegmentIsRemoved) {
  for (uint64_t size : {uint64_t{0}, kSeg}) {
    TempDir dir;
    ASSERT_TRUE(AppendRecords(dir.path(), 0, 3000).ok());
    RecoveryResult clean;
    ASSERT_TRUE(RecoverDir(dir.path(), &clean).ok());
    const uint64_t next = clean.segments.back().number + 1;
    ASSERT_TRUE(WriteFileBytes(SegPath(dir, next), std::vector<uint8_t>(size, 0)));
    RecoveryResult r;
    ASSERT_TRUE(RecoverDir(dir.path(), &r).ok()) << "size " << size;
    EXPECT_FALSE(FileExists(SegPath(dir, next)));
    ASSERT_EQ(size_t{1}, r.removed_files.size());
    EXPECT_EQ(clean.resume.segment, r.resume.segment);
    EXPECT_EQ(clean.resume.write_offset, r.resume.write_offset);
    EXPECT_EQ(uint64_t{3000}, r.last_seq);
    ASSERT_TRUE(AppendRecords(dir.path(), 3000, 2000).ok());
    EXPECT_EQ(size_t{5000}, ReadSeqs(dir.path()).size());
  }
}

TEST(WalRecovery, EmptyNewestSegmentResumesAtItsFirstSequence) {
  TempDir dir;
  ASSERT_TRUE(AppendRecords(dir.path(), 0, 0).ok());  // creates segment 1 with no records
  RecoveryResult r;
  ASSERT_TRUE(RecoverDir(dir.path(), &r).ok());
  ASSERT_EQ(size_t{1}, r.segments.size());
  EXPECT_EQ(uint64_t{0}, r.records);
  EXPECT_EQ(uint64_t{0}, r.first_seq);
  EXPECT_EQ(uint64_t{0}, r.last_seq);
  EXPECT_TRUE(r.resume.segment_exists);
  EXPECT_EQ(kSegmentHeaderSize, r.resume.write_offset);
  EXPECT_EQ(uint64_t{1}, r.resume.next_seq);
}

// ---- rules shared with the TypeScript twin ----

TEST(WalRecovery, BrokenFilesAreNeverReplaced) {
  TempDir dir;
  ASSERT_TRUE(AppendRecords(dir.path(), 0, 20).ok());
  const std::string path = SegPath(dir, 1);
  const Rec last = RecordsOf(path).back();
  ASSERT_TRUE(PatchFile(path, last.offset + 30, {1, 2, 3}));
  RecoveryResult r;
  ASSERT_TRUE(RecoverDir(dir.path(), &r).ok());
  EXPECT_EQ(path + ".broken", r.broken_file);
  const std::vector<uint8_t> first = ReadFileBytes(path + ".broken");
  ASSERT_TRUE(AppendRecords(dir.path(), 19, 1).ok());
  ASSERT_TRUE(PatchFile(path, last.offset + 30, {4, 5, 6}));
  ASSERT_TRUE(RecoverDir(dir.path(), &r).ok());
  EXPECT_EQ(path + ".broken.2", r.broken_file);
  EXPECT_TRUE(ReadFileBytes(path + ".broken") == first);
  EXPECT_FALSE(ReadFileBytes(path + ".broken.2") == first);
  EXPECT_FALSE(FileExists(path + ".broken.2.tmp"));
}

TEST(WalRecovery, InterruptedCreationWithAPartialHeaderIsSetAsideAndRemoved) {
  TempDir dir;
  ASSERT_TRUE(AppendRecords(dir.path(), 0, 10).ok());
  RecoveryResult clean;
  ASSERT_TRUE(RecoverDir(dir.path(), &clean).ok());
  SegmentHeader h;
  h.number = 2;
  h.first_seq = 11;
  h.store_id = clean.store_id;
  h.created_ms = 1;
  h.segment_size = kSeg;
  std::vector<uint8_t> header(kSegmentHeaderUsed);
  EncodeSegmentHeader(h, header.data());
  header.resize(20);  // the crash came in the middle of the header write
  ASSERT_TRUE(WriteFileBytes(SegPath(dir, 2), header));
  ASSERT_EQ(0, truncate(SegPath(dir, 2).c_str(), static_cast<off_t>(kSeg)));
  RecoveryResult r;
  ASSERT_TRUE(RecoverDir(dir.path(), &r).ok());
  EXPECT_FALSE(FileExists(SegPath(dir, 2)));
  EXPECT_EQ(size_t{1}, r.segments.size());
  EXPECT_EQ(uint64_t{17}, r.torn_bytes);  // byte 16 (the segment number) is the last non-zero one
  EXPECT_EQ(SegPath(dir, 2) + ".broken", r.broken_file);
  EXPECT_TRUE(ReadFileBytes(r.broken_file) == std::vector<uint8_t>(header.begin(), header.begin() + 17));
  EXPECT_EQ(uint64_t{1}, r.resume.segment);
  EXPECT_EQ(uint64_t{11}, r.resume.next_seq);
}

TEST(WalRecovery, ARecordCutInsideItsPaddingIsWhole) {
  TempDir dir;
  ASSERT_TRUE(AppendRecords(dir.path(), 0, 10).ok());
  const std::string path = SegPath(dir, 1);
  Rec last = RecordsOf(path).back();
  ASSERT_NE(last.footprint, kRecordHeaderSize + last.length);  // it has padding
  ASSERT_EQ(0, truncate(path.c_str(), static_cast<off_t>(last.offset + kRecordHeaderSize + last.length)));
  RecoveryResult r;
  ASSERT_TRUE(RecoverDir(dir.path(), &r).ok());
  EXPECT_EQ(uint64_t{10}, r.last_seq);
  EXPECT_EQ(uint64_t{0}, r.torn_bytes);
  EXPECT_EQ(last.offset + last.footprint, r.resume.write_offset);
}

TEST(WalRecovery, RecordSequenceNumberZeroIsDamage) {
  TempDir dir;
  ASSERT_TRUE(AppendRecords(dir.path(), 0, 10).ok());
  const std::string path = SegPath(dir, 1);
  const Rec third = RecordsOf(path)[2];
  std::vector<uint8_t> rec = ReadAt(path, third.offset, kRecordHeaderSize + third.length);
  EncodeRecordHeader(0, rec.data() + kRecordHeaderSize, third.length, rec.data());
  ASSERT_TRUE(PatchFile(path, third.offset, rec));
  RecoveryResult r;
  Status s = RecoverDir(dir.path(), &r);
  EXPECT_EQ(StatusCode::kCorrupt, s.code());
  EXPECT_EQ("seq-zero", DamageOf(s)) << s.ToString();
  EXPECT_EQ("validAt=" + std::to_string(third.offset + third.footprint), DetailOf(s, "validAt"));
}

TEST(WalRecovery, SalvageRefusesWhenNoSegmentHeaderIsReadable) {
  TempDir dir;
  ASSERT_TRUE(AppendRecords(dir.path(), 0, 10).ok());
  ASSERT_TRUE(PatchFile(SegPath(dir, 1), 0, {'X'}));
  RecoveryResult r;
  Status s = RecoverDir(dir.path(), &r, true);
  EXPECT_EQ(StatusCode::kCorrupt, s.code());
  EXPECT_EQ("no-readable-header", ReasonOf(s)) << s.ToString();
}

}  // namespace
}  // namespace wal
}  // namespace tapio
