#include "core/wal_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "core/wal_codec.h"
#include "core/wal_file.h"
#include "core/wal_format.h"
#include "core/wal_recovery.h"
#include "test/harness.h"
#include "test/wal_test_log.h"
#include "test/wal_test_util.h"

namespace tapio {
namespace wal {
namespace {

using tapio_test::AppendRecords;
using tapio_test::DetailOf;
using tapio_test::FileExists;
using tapio_test::ModeOf;
using tapio_test::ReadFileBytes;
using tapio_test::ReasonOf;
using tapio_test::RecoverDir;
using tapio_test::ScopedUmask;
using tapio_test::TempDir;
using tapio_test::TextOf;
using tapio_test::WriteFileBytes;

std::vector<uint8_t> Bytes(const std::string& text) { return std::vector<uint8_t>(text.begin(), text.end()); }

StoreId IdOf(uint8_t first) {
  StoreId id;
  for (size_t i = 0; i < kStoreIdSize; i++) id.bytes[i] = static_cast<uint8_t>(first + i);
  return id;
}

// ---- WAL_ID, read and created by an open ----

TEST(WalDir, NewDirectoryGetsAWalId) {
  TempDir dir;
  const std::string walDir = dir.Sub("a/b/wal");
  RecoveryResult r;
  ASSERT_TRUE(RecoverDir(walDir, &r).ok());
  EXPECT_TRUE(r.created);
  EXPECT_EQ(size_t{0}, r.segments.size());
  EXPECT_FALSE(r.resume.segment_exists);
  EXPECT_EQ(uint64_t{1}, r.resume.segment);
  EXPECT_EQ(uint64_t{1}, r.resume.next_seq);
  const std::vector<uint8_t> id = ReadFileBytes(walDir + "/WAL_ID");
  const std::string text(id.begin(), id.end());
  EXPECT_EQ("{\"format\":\"tapio-wal\",\"version\":1,\"storeId\":\"" + StoreIdToHex(r.store_id) + "\"}", text);
  EXPECT_FALSE(FileExists(walDir + "/WAL_ID.tmp"));
  RecoveryResult again;
  ASSERT_TRUE(RecoverDir(walDir, &again).ok());
  EXPECT_FALSE(again.created);
  EXPECT_TRUE(again.store_id == r.store_id);
}

// Events are nobody else's: the directories an open creates are 0700 and WAL_ID is 0600; a
// directory that existed keeps its mode.
TEST(WalDir, CreatedDirectoriesAndWalIdArePrivate) {
  ScopedUmask usual;
  TempDir dir;
  ASSERT_EQ(0, mkdir(dir.Sub("shared").c_str(), 0755));
  const std::string walDir = dir.Sub("shared/a/wal");
  RecoveryResult r;
  ASSERT_TRUE(RecoverDir(walDir, &r).ok());
  EXPECT_EQ(std::string("755"), ModeOf(dir.Sub("shared")));
  EXPECT_EQ(std::string("700"), ModeOf(dir.Sub("shared/a")));
  EXPECT_EQ(std::string("700"), ModeOf(walDir));
  EXPECT_EQ(std::string("600"), ModeOf(walDir + "/WAL_ID"));
}

TEST(WalDir, WalIdChecks) {
  struct Case {
    const char* text;
    StatusCode code;
  } cases[] = {
      {"{\"format\":\"other\",\"version\":1,\"storeId\":\"00112233445566778899aabbccddeeff\"}",
       StatusCode::kFormatVersion},
      {"{\"format\":\"tapio-wal\",\"version\":2,\"storeId\":\"00112233445566778899aabbccddeeff\"}",
       StatusCode::kFormatVersion},
      {"{\"format\":\"tapio-wal\",\"version\":1,\"storeId\":\"0011\"}", StatusCode::kCorrupt},
      {"not json", StatusCode::kCorrupt},
      {"{}", StatusCode::kFormatVersion},
      {"{\"format\":\"tapio-wal\"}", StatusCode::kFormatVersion},
      {"{\"format\":\"tapio-wal\",\"version\":\"1\",\"storeId\":\"00112233445566778899aabbccddeeff\"}",
       StatusCode::kFormatVersion},
      {"{\"format\":\"tapio-wal\",\"version\":1}", StatusCode::kCorrupt},
      {"{\"format\":\"tapio-wal\",\"version\":1,\"storeId\":7}", StatusCode::kCorrupt},
      {"{\"format\":\"tapio-wal\",\"version\":1,\"storeId\":\"00112233445566778899aabbccddeeff\"",
       StatusCode::kCorrupt},
      {" {\n \"storeId\" : \"00112233445566778899AABBCCDDEEFF\", \"version\": 1, \"format\": \"tapio-wal\",\n"
       " \"note\": \"extra keys are fine\", \"n\": -1.5, \"b\": true }\n",
       StatusCode::kOk},
  };
  for (const Case& c : cases) {
    TempDir dir;
    ASSERT_TRUE(WriteFileBytes(dir.Sub("WAL_ID"), std::vector<uint8_t>(c.text, c.text + std::strlen(c.text))));
    RecoveryResult r;
    Status s = RecoverDir(dir.path(), &r);
    EXPECT_EQ(c.code, s.code()) << c.text << " -> " << s.ToString();
    if (!s.ok()) EXPECT_EQ("file=" + dir.Sub("WAL_ID"), DetailOf(s, "file")) << s.ToString();
  }
}

TEST(WalDir, MissingWalIdWithSegmentsIsCorrupt) {
  TempDir dir;
  ASSERT_TRUE(AppendRecords(dir.path(), 0, 10).ok());
  ASSERT_EQ(0, unlink(dir.Sub("WAL_ID").c_str()));
  RecoveryResult r;
  Status s = RecoverDir(dir.path(), &r);
  EXPECT_EQ(StatusCode::kCorrupt, s.code());
  EXPECT_EQ("wal-id-missing", ReasonOf(s)) << s.ToString();
  EXPECT_EQ("file=" + dir.Sub("WAL_ID"), DetailOf(s, "file"));
}

TEST(WalDir, NonEmptyDirectoryWithoutWalIdIsRefused) {
  TempDir dir;
  ASSERT_TRUE(WriteFileBytes(dir.Sub("notes.txt"), {'h', 'i'}));
  RecoveryResult r;
  Status s = RecoverDir(dir.path(), &r);
  EXPECT_EQ(StatusCode::kFormatVersion, s.code()) << s.ToString();
  EXPECT_EQ("not-wal-dir", ReasonOf(s));
  EXPECT_EQ("found=notes.txt", DetailOf(s, "found"));
  EXPECT_FALSE(FileExists(dir.Sub("WAL_ID")));
  // The facade's lock file does not count.
  TempDir locked;
  ASSERT_TRUE(WriteFileBytes(locked.Sub("LOCK"), {'1'}));
  EXPECT_TRUE(RecoverDir(locked.path(), &r).ok());
  EXPECT_TRUE(FileExists(locked.Sub("WAL_ID")));
}

// ---- CHECKPOINT ----

TEST(WalDir, CheckpointIsWrittenDurablyAndReadBack) {
  TempDir dir;
  const StoreId id = IdOf(1);
  ASSERT_TRUE(WriteCheckpoint(dir.path(), id, 3, 100, 250).ok());
  EXPECT_EQ("{\"format\":\"tapio-wal-checkpoint\",\"version\":1,\"storeId\":\"" + StoreIdToHex(id) +
                "\",\"sealed\":3,\"firstSeq\":100,\"lastSeq\":250}",
            TextOf(dir.Sub(kCheckpointFileName)));
  EXPECT_EQ(CheckpointContents(id, 3, 100, 250), TextOf(dir.Sub(kCheckpointFileName)));
  EXPECT_FALSE(FileExists(dir.Sub(std::string(kCheckpointFileName) + ".tmp")));
  Checkpoint cp;
  bool found = false;
  Status ignored;
  ReadCheckpoint(dir.path(), id, &cp, &found, &ignored);
  ASSERT_TRUE(found) << ignored.ToString();
  EXPECT_TRUE(ignored.ok());
  EXPECT_EQ(uint64_t{3}, cp.sealed);
  EXPECT_EQ(uint64_t{100}, cp.first_seq);
  EXPECT_EQ(uint64_t{250}, cp.last_seq);
}

TEST(WalDir, CheckpointThatCannotBeUsedIsIgnoredWithTheReason) {
  const StoreId id = IdOf(1);
  const std::string hex = StoreIdToHex(id);
  const std::string other = StoreIdToHex(IdOf(2));
  const std::string prefix = "{\"format\":\"tapio-wal-checkpoint\",\"version\":1,\"storeId\":\"";
  struct Case {
    std::string text;
    std::string reason;  // Status::ToString of *ignored
  };
  const std::vector<Case> cases = {
      {"[]", "small-file-not-object {name: CHECKPOINT}"},
      {"{\"sealed\":1", "small-file-not-object {name: CHECKPOINT}"},
      {std::string(kMaxSmallFileBytes + 1, ' '), "small-file-not-object {name: CHECKPOINT}"},
      {"{}", "small-file-format {name: CHECKPOINT}"},
      {"{\"format\":\"tapio-wal-checkpoint\",\"version\":\"1\",\"storeId\":\"" + hex + "\"}",
       "small-file-format {name: CHECKPOINT}"},
      {"{\"format\":\"tapio-wal-checkpoint\",\"version\":1,\"storeId\":7}", "small-file-no-store {name: CHECKPOINT}"},
      {prefix + other + "\",\"sealed\":1,\"firstSeq\":1,\"lastSeq\":1}",
       "small-file-other-store {name: CHECKPOINT, storeId: " + other + ", walStoreId: " + hex + "}"},
      {prefix + hex + "\",\"sealed\":0,\"firstSeq\":1,\"lastSeq\":1}", "checkpoint-range"},
      {prefix + hex + "\",\"sealed\":1,\"firstSeq\":0,\"lastSeq\":1}", "checkpoint-range"},
      {prefix + hex + "\",\"sealed\":1,\"firstSeq\":5,\"lastSeq\":3}", "checkpoint-range"},
      {prefix + hex + "\",\"sealed\":1.5,\"firstSeq\":1,\"lastSeq\":1}", "checkpoint-range"},
      {prefix + hex + "\",\"sealed\":9007199254740992,\"firstSeq\":1,\"lastSeq\":1}", "checkpoint-range"},
      {prefix + hex + "\",\"sealed\":\"1\",\"firstSeq\":1,\"lastSeq\":1}", "checkpoint-range"},
  };
  for (const Case& c : cases) {
    TempDir dir;
    ASSERT_TRUE(WriteFileBytes(dir.Sub(kCheckpointFileName), Bytes(c.text)));
    Checkpoint cp;
    bool found = true;
    Status ignored;
    ReadCheckpoint(dir.path(), id, &cp, &found, &ignored);
    EXPECT_FALSE(found) << c.text;
    EXPECT_EQ(c.reason, ignored.ToString()) << c.text;
  }
  // None at all: not found, and nothing to report.
  TempDir empty;
  Checkpoint cp;
  bool found = true;
  Status ignored = Status(Reason::kCheckpointRange);
  ReadCheckpoint(empty.path(), id, &cp, &found, &ignored);
  EXPECT_FALSE(found);
  EXPECT_TRUE(ignored.ok()) << ignored.ToString();
  // One that cannot be read says why.
  ASSERT_EQ(0, mkdir(empty.Sub(kCheckpointFileName).c_str(), 0755));
  ReadCheckpoint(empty.path(), id, &cp, &found, &ignored);
  EXPECT_FALSE(found);
  EXPECT_EQ("small-file-unreadable {name: CHECKPOINT, errno: " + ErrnoCode(EISDIR) + "}", ignored.ToString());
}

TEST(WalDir, CheckpointNumbersAreReadAsJsonParseReadsThem) {
  TempDir dir;
  const StoreId id = IdOf(1);
  const std::string text = " { \"lastSeq\": 2.5e1, \"firstSeq\": 1.0, \"sealed\": 2, \"storeId\": \"" +
                           StoreIdToHex(id) +
                           "\", \"version\": 1e0, \"format\": \"tapio-wal-checkpoint\", \"x\": [{}] }\n";
  ASSERT_TRUE(WriteFileBytes(dir.Sub(kCheckpointFileName), Bytes(text)));
  Checkpoint cp;
  bool found = false;
  Status ignored;
  ReadCheckpoint(dir.path(), id, &cp, &found, &ignored);
  ASSERT_TRUE(found) << ignored.ToString();
  EXPECT_EQ(uint64_t{2}, cp.sealed);
  EXPECT_EQ(uint64_t{1}, cp.first_seq);
  EXPECT_EQ(uint64_t{25}, cp.last_seq);
}

// ---- segment files ----

TEST(WalDir, ListSegmentsTakesTheNumbersAWriterGivesOut) {
  TempDir dir;
  for (const char* name : {"0000000000000002.wal", "0000000000000001.wal", "001fffffffffffff.wal",
                           "0000000000000000.wal", "0020000000000000.wal", "000000000000000A.wal",
                           "0000000000000003.wal.broken", "000000000000004.wal", "WAL_ID", "notes.txt"}) {
    ASSERT_TRUE(WriteFileBytes(dir.Sub(name), {}));
  }
  std::vector<uint64_t> numbers;
  ASSERT_TRUE(ListSegments(dir.path(), &numbers).ok());
  ASSERT_EQ(size_t{3}, numbers.size());
  EXPECT_EQ(uint64_t{1}, numbers[0]);
  EXPECT_EQ(uint64_t{2}, numbers[1]);
  EXPECT_EQ(kMaxSafeNumber, numbers[2]);
  const Status s = ListSegments(dir.Sub("absent"), &numbers);
  EXPECT_EQ(StatusCode::kIoError, s.code()) << s.ToString();
  EXPECT_TRUE(numbers.empty());
}

}  // namespace
}  // namespace wal
}  // namespace tapio
