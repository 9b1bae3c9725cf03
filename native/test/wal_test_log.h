// What a WAL directory holds, read back for tests without the recovery scan: every whole record
// of each segment in file order, so a test can compare it with what it wrote and with what
// recovery reported.
#ifndef TAPIO_TEST_WAL_TEST_LOG_H_
#define TAPIO_TEST_WAL_TEST_LOG_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/wal_codec.h"
#include "core/wal_recovery.h"
#include "core/wal_scan.h"

namespace tapio_test {

// (sequence number, payload) of every whole record in `dir`: segments in number order, each read
// from its header up to the first offset that holds no whole record (zeros, damage, its end). A
// stretch in `skip` (as SALVAGED and RecoveryResult::set_aside give them) is stepped over where it
// starts, whatever it holds. Stops at a segment whose header is unusable. Checks no sequence order.
inline std::vector<std::pair<uint64_t, std::vector<uint8_t>>> LogRecords(
    const std::string& dir, const std::vector<tapio::wal::SalvageStretch>& skip = {}) {
  using namespace tapio::wal;
  std::vector<std::pair<uint64_t, std::vector<uint8_t>>> out;
  std::vector<uint64_t> numbers;
  if (!ListSegments(dir, &numbers).ok()) return out;
  for (uint64_t number : numbers) {
    const std::string path = JoinPath(dir, SegmentFileName(number));
    SegmentScanner sc;
    SegmentHeader h;
    if (!sc.Open(path).ok() || !DecodeSegmentHeader(sc.header_block(), path, &h).ok()) break;
    sc.SetLimit(h.segment_size);
    uint64_t offset = kSegmentHeaderSize;
    for (;;) {
      bool stepped = false;
      for (const SalvageStretch& st : skip) {
        if (st.segment == number && st.offset == offset && st.bytes > 0) {
          offset += st.bytes;
          stepped = true;
          break;
        }
      }
      if (stepped) continue;
      RecordView v;
      if (!sc.ReadRecord(offset, &v).ok() || v.kind != RecordView::Kind::kRecord) break;
      out.emplace_back(v.seq, std::vector<uint8_t>(v.payload, v.payload + v.length));
      offset += v.footprint;
    }
  }
  return out;
}

}  // namespace tapio_test

#endif  // TAPIO_TEST_WAL_TEST_LOG_H_
