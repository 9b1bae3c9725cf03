#include "core/salvage_file.h"

#include <string>
#include <vector>

#include "core/wal_codec.h"
#include "core/wal_format.h"
#include "core/wal_recovery.h"
#include "test/harness.h"
#include "test/wal_test_log.h"
#include "test/wal_test_util.h"

namespace tapio {
namespace wal {
namespace {

using tapio_test::AppendRecords;
using tapio_test::FileExists;
using tapio_test::FlipByte;
using tapio_test::Rec;
using tapio_test::RecordsOf;
using tapio_test::RecoverDir;
using tapio_test::SegPath;
using tapio_test::TempDir;
using tapio_test::TextOf;
using tapio_test::WriteFileBytes;

TEST(SalvageFile, IsWrittenDurablyReadBackAndRemovedWhenEmpty) {
  TempDir dir;
  StoreId id;
  for (size_t i = 0; i < kStoreIdSize; i++) id.bytes[i] = static_cast<uint8_t>(0xa0 + i);
  const std::vector<SalvageStretch> stretches = {{1, 4096, 48, 21, 1}, {3, 0, 0, 0, 0}, {3, 16, 0, 90, 7}};
  ASSERT_TRUE(WriteSalvaged(dir.path(), id, stretches).ok());
  EXPECT_EQ("{\"format\":\"tapio-wal-salvaged\",\"version\":1,\"storeId\":\"" + StoreIdToHex(id) +
                "\",\"stretches\":[{\"segment\":1,\"offset\":4096,\"bytes\":48,\"lostFrom\":21,\"lostCount\":1},"
                "{\"segment\":3,\"offset\":0,\"bytes\":0,\"lostFrom\":0,\"lostCount\":0},"
                "{\"segment\":3,\"offset\":16,\"bytes\":0,\"lostFrom\":90,\"lostCount\":7}]}",
            TextOf(dir.Sub(kSalvagedFileName)));
  EXPECT_EQ(SalvagedContents(id, stretches), TextOf(dir.Sub(kSalvagedFileName)));
  EXPECT_FALSE(FileExists(dir.Sub(std::string(kSalvagedFileName) + ".tmp")));
  std::vector<SalvageStretch> back;
  bool found = false;
  Status ignored;
  ReadSalvaged(dir.path(), id, &back, &found, &ignored);
  ASSERT_TRUE(found) << ignored.ToString();
  ASSERT_EQ(stretches.size(), back.size());
  for (size_t i = 0; i < back.size(); i++) {
    EXPECT_EQ(stretches[i].segment, back[i].segment);
    EXPECT_EQ(stretches[i].offset, back[i].offset);
    EXPECT_EQ(stretches[i].bytes, back[i].bytes);
    EXPECT_EQ(stretches[i].lost_from, back[i].lost_from);
    EXPECT_EQ(stretches[i].lost_count, back[i].lost_count);
  }
  // Nothing left to record: the file goes, and going again is no error.
  ASSERT_TRUE(WriteSalvaged(dir.path(), id, {}).ok());
  EXPECT_FALSE(FileExists(dir.Sub(kSalvagedFileName)));
  ASSERT_TRUE(WriteSalvaged(dir.path(), id, {}).ok());
  ReadSalvaged(dir.path(), id, &back, &found, &ignored);
  EXPECT_FALSE(found);
  EXPECT_TRUE(back.empty());
  EXPECT_TRUE(ignored.ok()) << ignored.ToString();
  // An empty list written by hand is a SALVAGED that records nothing.
  ASSERT_TRUE(WriteFileBytes(dir.Sub(kSalvagedFileName), [&] {
    const std::string t = SalvagedContents(id, {});
    return std::vector<uint8_t>(t.begin(), t.end());
  }()));
  ReadSalvaged(dir.path(), id, &back, &found, &ignored);
  EXPECT_TRUE(found) << ignored.ToString();
  EXPECT_TRUE(back.empty());
}

TEST(SalvageFile, LostBetweenIsTheSequenceNumbersAStepSkips) {
  uint64_t from = 1, count = 1;
  LostBetween(5, 9, &from, &count);
  EXPECT_EQ(uint64_t{5}, from);
  EXPECT_EQ(uint64_t{4}, count);
  LostBetween(9, 5, &from, &count);
  EXPECT_EQ(uint64_t{0}, from);
  EXPECT_EQ(uint64_t{0}, count);
  LostBetween(7, 7, &from, &count);
  EXPECT_EQ(uint64_t{0}, from);
  EXPECT_EQ(uint64_t{0}, count);
}

// ---- SALVAGED as an open reads it ----

TEST(SalvageFile, SalvagedFileThatCannotBeUsedAcceptsNothing) {
  TempDir dir;
  ASSERT_TRUE(AppendRecords(dir.path(), 0, 50).ok());
  const std::string path = SegPath(dir, 1);
  const std::vector<Rec> recs = RecordsOf(path);
  FlipByte(path, recs[20].offset + 30);
  RecoveryResult r;
  ASSERT_TRUE(RecoverDir(dir.path(), &r, true).ok());
  const std::string good = TextOf(dir.Sub("SALVAGED"));
  const std::string id = StoreIdToHex(r.store_id);
  struct Case {
    std::string text;
    std::string reason;  // the reason's name and its details (Status::ToString)
  };
  const std::string other(32, '0');
  const std::string bad_list = "salvaged-stretches";
  const std::string prefix = "{\"format\":\"tapio-wal-salvaged\",\"version\":1,\"storeId\":\"";
  const std::vector<Case> cases = {
      {"[]", "small-file-not-object {name: SALVAGED}"},
      {"{\"format\":\"tapio-wal-salvaged\",\"version\":2}", "small-file-format {name: SALVAGED}"},
      {prefix + other + "\",\"stretches\":[]}",
       "small-file-other-store {name: SALVAGED, storeId: " + other + ", walStoreId: " + id + "}"},
      {prefix + id + "\",\"stretches\":{}}", bad_list},
      {prefix + id + "\",\"stretches\":[{\"segment\":0,\"offset\":1,\"bytes\":1,\"lostFrom\":0,\"lostCount\":0}]}",
       bad_list},
      {prefix + id + "\",\"stretches\":[{\"segment\":1,\"offset\":1.5,\"bytes\":1,\"lostFrom\":0,\"lostCount\":0}]}",
       bad_list},
      {prefix + id + "\",\"stretches\":[\"{}\"]}", bad_list},
  };
  for (const Case& c : cases) {
    ASSERT_TRUE(WriteFileBytes(dir.Sub("SALVAGED"), std::vector<uint8_t>(c.text.begin(), c.text.end())));
    EXPECT_EQ(StatusCode::kCorrupt, RecoverDir(dir.path(), &r).code()) << c.text;
    RecoveryResult salvaged;
    ASSERT_TRUE(RecoverDir(dir.path(), &salvaged, true).ok());  // and salvage rewrites it
    EXPECT_EQ(good, TextOf(dir.Sub("SALVAGED")));
  }
  // What a strict open reports about an unusable one, when it has no damage to refuse.
  FlipByte(path, recs[20].offset + 30);
  for (const Case& c : cases) {
    ASSERT_TRUE(WriteFileBytes(dir.Sub("SALVAGED"), std::vector<uint8_t>(c.text.begin(), c.text.end())));
    ASSERT_TRUE(RecoverDir(dir.path(), &r).ok()) << c.text;
    EXPECT_EQ(c.reason, r.set_aside_ignored.ToString()) << c.text;
    EXPECT_TRUE(r.set_aside.empty());
  }
  // Members it does not know and other number spellings are read as JSON.parse reads them.
  const std::string spelled =
      prefix + id +
      "\", \"extra\": [[1]], \"stretches\": [ {\"segment\": 1e0, \"offset\": 8.0, \"bytes\": 16, "
      "\"lostFrom\": 0, \"lostCount\": 0} ] }";
  ASSERT_TRUE(WriteFileBytes(dir.Sub("SALVAGED"), std::vector<uint8_t>(spelled.begin(), spelled.end())));
  ASSERT_TRUE(RecoverDir(dir.path(), &r).ok());
  EXPECT_TRUE(r.set_aside_ignored.ok()) << r.set_aside_ignored.ToString();
  ASSERT_EQ(size_t{1}, r.set_aside.size());
  EXPECT_EQ(uint64_t{8}, r.set_aside[0].offset);
}

}  // namespace
}  // namespace wal
}  // namespace tapio
