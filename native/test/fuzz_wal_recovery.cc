// libFuzzer target for the WAL recovery scan: the input becomes the record area of a segment with
// a valid header (first byte: options), then Recover runs, and the records the segment holds are
// read back, stepping over the stretches recovery set aside. Properties: nothing crashes; salvage
// never refuses record-level damage; after a successful recovery the records left are exactly
// those it counted, in increasing sequence order; after a salvage, a strict open accepts what it
// set aside and counts the same records.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/wal_codec.h"
#include "core/wal_recovery.h"
#include "test/wal_test_log.h"

namespace {

using namespace tapio;
using namespace tapio::wal;

constexpr uint64_t kSegSize = 1 << 20;

const std::string& Dir() {
  static std::string dir = [] {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/tapio-fuzz-wal-XXXXXX";
    if (mkdtemp(&tmpl[0]) == nullptr) std::abort();
    return tmpl;
  }();
  return dir;
}

// Leaves WAL_ID alone in the directory, so each input runs as it would by itself and a crash
// reproduces from its input alone (SALVAGED from the salvage of an earlier input goes too).
void Clear(const std::string& dir) {
  std::vector<uint64_t> numbers;
  ListSegments(dir, &numbers);
  for (uint64_t n : numbers) {
    unlink(JoinPath(dir, SegmentFileName(n)).c_str());
    unlink((JoinPath(dir, SegmentFileName(n)) + kBrokenSuffix).c_str());
  }
  unlink(JoinPath(dir, kSalvagedFileName).c_str());
}

StoreId FixedId() {
  StoreId id;
  for (size_t i = 0; i < kStoreIdSize; i++) id.bytes[i] = static_cast<uint8_t>(i * 17 + 3);
  return id;
}

void WriteSegment(const std::string& dir, const uint8_t* data, size_t size) {
  std::vector<uint8_t> file(kSegmentHeaderSize + size, 0);
  SegmentHeader h;
  h.number = 1;
  h.first_seq = 1;
  h.store_id = FixedId();
  h.segment_size = kSegSize;
  EncodeSegmentHeader(h, file.data());
  if (size != 0) std::memcpy(file.data() + kSegmentHeaderSize, data, size);
  const std::string path = JoinPath(dir, SegmentFileName(1));
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || write(fd, file.data(), file.size()) != static_cast<ssize_t>(file.size())) std::abort();
  close(fd);
}

// The records the log holds past the stretches `r` set aside are exactly those `r` counted, in
// increasing sequence order.
void CheckRecordsLeft(const std::string& dir, const RecoveryResult& r) {
  uint64_t count = 0;
  uint64_t last = 0;
  for (const auto& rec : tapio_test::LogRecords(dir, r.set_aside)) {
    if (rec.first <= last) std::abort();
    last = rec.first;
    count++;
  }
  if (count != r.records || last != r.last_seq) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool salvage = (data[0] & 1) != 0;
  const bool preallocate = (data[0] & 2) != 0;
  data++;
  size--;
  if (size > kSegSize - kSegmentHeaderSize) size = kSegSize - kSegmentHeaderSize;
  const std::string& dir = Dir();
  static bool id_written = false;
  if (!id_written) {
    const std::string text = WalIdContents(FixedId());
    const int fd = open(JoinPath(dir, kIdFileName).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) std::abort();
    close(fd);
    id_written = true;
  }
  Clear(dir);
  WriteSegment(dir, data, size);
  if (preallocate && truncate(JoinPath(dir, SegmentFileName(1)).c_str(), kSegSize) != 0) std::abort();

  RecoverOptions ro;
  ro.dir = dir;
  ro.salvage = salvage;
  RecoveryResult r;
  Status s = Recover(ro, &r);
  if (!s.ok()) {
    if (salvage && s.code() != StatusCode::kIoError) {
      std::fprintf(stderr, "salvage refused: %s\n", s.ToString().c_str());
      std::abort();
    }
    return 0;
  }
  CheckRecordsLeft(dir, r);
  if (salvage) {
    RecoveryResult strict;
    ro.salvage = false;
    if (!Recover(ro, &strict).ok() || strict.records != r.records || strict.last_seq != r.last_seq) std::abort();
    CheckRecordsLeft(dir, strict);
  }
  return 0;
}
