// Test logs: records with known payloads appended through a recovered writer, recovery's result
// and refusals looked at by reason and detail, and what a WAL directory holds read back without
// the recovery scan (every whole record of each segment in file order), so a test can compare it
// with what it wrote and with what recovery reported.
#ifndef TAPIO_TEST_WAL_TEST_LOG_H_
#define TAPIO_TEST_WAL_TEST_LOG_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/wal_codec.h"
#include "core/wal_recovery.h"
#include "core/wal_scan.h"
#include "core/wal_writer.h"
#include "test/wal_test_util.h"

namespace tapio_test {

// The segment size AppendRecords writes with.
constexpr uint64_t kTestSegmentSize = 1 << 20;

// The payload length AppendRecords gives record `key` (100..999 bytes).
inline uint32_t LengthOf(uint64_t key) { return static_cast<uint32_t>(100 + (key * 37) % 900); }

inline tapio::Status RecoverDir(const std::string& dir, tapio::wal::RecoveryResult* r, bool salvage = false) {
  tapio::wal::RecoverOptions o;
  o.dir = dir;
  o.salvage = salvage;
  return tapio::wal::Recover(o, r);
}

// Appends records first_key.. (one per batch, PayloadFor(key, LengthOf(key))) through a recovered
// writer with kTestSegmentSize segments and closes it.
inline tapio::Status AppendRecords(const std::string& dir, uint64_t first_key, uint64_t count) {
  using namespace tapio::wal;
  RecoveryResult r;
  tapio::Status s = RecoverDir(dir, &r);
  if (!s.ok()) return s;
  std::mutex mu;
  std::condition_variable cv;
  uint64_t acked = 0;
  tapio::Status failure;
  WriterOptions o;
  o.dir = dir;
  o.segment_size = kTestSegmentSize;
  o.ring_capacity = 1 << 20;
  o.direct_io = DirectIoMode::kOff;
  o.resume = r.resume;
  o.on_group = [&](const GroupDone& g) {
    std::lock_guard<std::mutex> lock(mu);
    if (!g.status.ok()) failure = g.status;
    acked += g.acks.size();
    cv.notify_all();
  };
  std::unique_ptr<WalWriter> w;
  s = WalWriter::Open(o, &w);
  if (!s.ok()) return s;
  for (uint64_t i = first_key; i < first_key + count; i++) {
    const std::vector<uint8_t> p = PayloadFor(i, LengthOf(i));
    const uint8_t* d = p.data();
    const uint32_t n = static_cast<uint32_t>(p.size());
    while (w->Append(0, i, &d, &n, 1) == WalWriter::AppendResult::kFull) {
      w->WaitForSpace(&n, 1, std::chrono::milliseconds(10));
    }
  }
  s = w->Close();
  return s.ok() ? failure : s;
}

// Where a whole record lies in a segment file.
struct Rec {
  uint64_t offset;
  uint64_t footprint;
  uint64_t seq;
  uint32_t length;
};

// The whole records of the segment file at `path`, from its header to the first that is not one.
inline std::vector<Rec> RecordsOf(const std::string& path) {
  using namespace tapio::wal;
  std::vector<Rec> out;
  SegmentScanner sc;
  if (!sc.Open(path).ok()) return out;
  uint64_t off = kSegmentHeaderSize;
  for (RecordView v; sc.ReadRecord(off, &v).ok() && v.kind == RecordView::Kind::kRecord; off += v.footprint) {
    out.push_back(Rec{off, v.footprint, v.seq, v.length});
  }
  return out;
}

inline std::string SegPath(const TempDir& dir, uint64_t n) { return dir.Sub(tapio::wal::SegmentFileName(n)); }

// "key=value" of a status detail, "" when absent.
inline std::string DetailOf(const tapio::Status& s, const std::string& key) {
  for (const tapio::StatusDetail& d : s.details()) {
    if (d.key != key) continue;
    switch (d.kind) {
      case tapio::StatusDetail::Kind::kText:
        return key + "=" + d.text;
      case tapio::StatusDetail::Kind::kNumber:
        return key + "=" + std::to_string(d.number);
      case tapio::StatusDetail::Kind::kFlag:
        return key + "=" + (d.number != 0 ? "true" : "false");
    }
  }
  return "";
}

// The reason's name, e.g. "segment-damaged", and for a refusal of a segment the damage reason.
inline std::string ReasonOf(const tapio::Status& s) { return s.reason_name(); }
inline std::string DamageOf(const tapio::Status& s) { return s.Text("damage"); }

// The whole file as text.
inline std::string TextOf(const std::string& path) {
  const std::vector<uint8_t> b = ReadFileBytes(path);
  return std::string(b.begin(), b.end());
}

// Inverts every bit of the byte at `offset`.
inline void FlipByte(const std::string& path, uint64_t offset) {
  std::vector<uint8_t> b = ReadAt(path, offset, 1);
  b[0] ^= 0xff;
  PatchFile(path, offset, b);
}

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
