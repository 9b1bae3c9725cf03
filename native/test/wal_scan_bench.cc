// Measures the WAL paths on this machine: writer throughput and the recovery scan (page cache
// warm and cold) over a log of a given size, and the ring. Not a test: it asserts nothing and is
// not run by ctest.
//
//   wal_scan_bench [--mib N] [--record BYTES] [--dir DIR] [--direct auto|on|off]
//
// Prints one JSON object. Cold runs drop each segment from the page cache with
// posix_fadvise(DONTNEED) first, which needs no privileges.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/ring_buffer.h"
#include "core/wal_recovery.h"
#include "core/wal_writer.h"
#include "test/wal_test_util.h"

namespace {

using namespace tapio;
using namespace tapio::wal;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

void DropFromCache(const std::string& dir) {
  std::vector<uint64_t> numbers;
  ListSegments(dir, &numbers);
  for (uint64_t n : numbers) {
    const std::string path = JoinPath(dir, SegmentFileName(n));
    const int fd = open(path.c_str(), O_RDONLY);
    if (fd < 0) continue;
    fdatasync(fd);
#if defined(POSIX_FADV_DONTNEED)
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
#endif
    close(fd);
  }
}

struct WriteResult {
  double seconds = 0;
  uint64_t records = 0;
  uint64_t payload = 0;
  uint64_t groups = 0;
  bool direct = false;
};

bool WriteLog(const std::string& dir, uint64_t bytes, uint32_t record, DirectIoMode mode, WriteResult* out) {
  RecoverOptions ro;
  ro.dir = dir;
  RecoveryResult r;
  Status s = Recover(ro, &r);
  if (!s.ok()) {
    std::fprintf(stderr, "recover: %s\n", s.ToString().c_str());
    return false;
  }
  std::mutex mu;
  std::condition_variable cv;
  uint64_t acked = 0;
  WriterOptions o;
  o.dir = dir;
  o.direct_io = mode;
  o.resume = r.resume;
  o.on_group = [&](const GroupDone& g) {
    std::lock_guard<std::mutex> lock(mu);
    acked += g.acks.size();
    cv.notify_all();
  };
  std::unique_ptr<WalWriter> w;
  s = WalWriter::Open(o, &w);
  if (!s.ok()) {
    std::fprintf(stderr, "open: %s\n", s.ToString().c_str());
    return false;
  }
  const uint32_t kBatch = 64;
  std::vector<std::vector<uint8_t>> payloads;
  for (uint32_t i = 0; i < 256; i++) payloads.push_back(tapio_test::PayloadFor(i, record));
  std::vector<const uint8_t*> datas(kBatch);
  std::vector<uint32_t> lengths(kBatch, record);
  const uint64_t batches = bytes / (uint64_t{record} * kBatch);
  const auto start = Clock::now();
  for (uint64_t b = 0; b < batches; b++) {
    for (uint32_t i = 0; i < kBatch; i++) datas[i] = payloads[(b * kBatch + i) % payloads.size()].data();
    while (w->Append(0, b, datas.data(), lengths.data(), kBatch) == WalWriter::AppendResult::kFull) {
      w->WaitForSpace(lengths.data(), kBatch, std::chrono::milliseconds(10));
    }
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return acked == batches; });
  }
  out->seconds = Seconds(start);
  s = w->Close();
  const WriterStats st = w->Stats();
  out->records = st.records;
  out->payload = st.payload_bytes;
  out->groups = st.groups;
  out->direct = st.direct_io;
  return s.ok();
}

struct ScanResult {
  double seconds = 0;
  uint64_t bytes = 0;
  uint64_t records = 0;
};

ScanResult TimeRecover(const std::string& dir) {
  RecoverOptions ro;
  ro.dir = dir;
  RecoveryResult r;
  const auto start = Clock::now();
  Status s = Recover(ro, &r);
  ScanResult out;
  out.seconds = Seconds(start);
  out.bytes = r.bytes_scanned;
  out.records = r.records;
  if (!s.ok()) std::fprintf(stderr, "recover: %s\n", s.ToString().c_str());
  return out;
}

// Ring push/drain: `producers` threads push single-record entries of `record` bytes; one
// consumer drains and releases. Returns entries per second.
double RingThroughput(int producers, uint32_t record, uint64_t per_producer) {
  std::unique_ptr<RingBuffer> ring;
  RingBuffer::Create(64u << 20, &ring);
  std::vector<uint8_t> payload(record, 7);
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int p = 0; p < producers; p++) {
    threads.emplace_back([&, p] {
      const uint8_t* d = payload.data();
      for (uint64_t t = 0; t < per_producer; t++) {
        while (ring->Push(p, t, &d, &record, 1) != RingBuffer::PushResult::kOk) {
          ring->WaitForSpace(RingBuffer::EntrySize(&record, 1), std::chrono::milliseconds(1));
        }
      }
      done.fetch_add(1);
    });
  }
  uint64_t seen = 0;
  for (;;) {
    const uint64_t bytes = ring->Drain([&seen](const RingEntry&) {
      seen++;
      return true;
    });
    ring->Release(bytes);
    if (bytes == 0) {
      if (done.load() == producers && ring->UsedBytes() == 0) break;
      ring->WaitForData(std::chrono::milliseconds(1));
    }
  }
  for (auto& t : threads) t.join();
  return static_cast<double>(seen) / Seconds(start);
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t mib = 1024;
  uint32_t record = 1024;
  std::string dir;
  DirectIoMode mode = DirectIoMode::kAuto;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--mib") mib = std::strtoull(argv[i + 1], nullptr, 10);
    if (k == "--record") record = static_cast<uint32_t>(std::strtoul(argv[i + 1], nullptr, 10));
    if (k == "--dir") dir = argv[i + 1];
    if (k == "--direct") {
      const std::string v = argv[i + 1];
      mode = v == "on" ? DirectIoMode::kOn : v == "off" ? DirectIoMode::kOff : DirectIoMode::kAuto;
    }
  }
  tapio_test::TempDir temp;
  if (dir.empty()) dir = temp.path();

  WriteResult w;
  if (!WriteLog(dir, mib << 20, record, mode, &w)) return 1;
  const ScanResult warm1 = TimeRecover(dir);
  const ScanResult warm = TimeRecover(dir);
  DropFromCache(dir);
  const ScanResult cold = TimeRecover(dir);
  const double ring1 = RingThroughput(1, 128, 2000000);
  const double ring4 = RingThroughput(4, 128, 500000);

  auto mbps = [](uint64_t bytes, double s) { return s > 0 ? static_cast<double>(bytes) / 1e6 / s : 0.0; };
  std::printf("{\n");
  std::printf("  \"log_mib\": %llu, \"record_bytes\": %u, \"records\": %llu,\n", static_cast<unsigned long long>(mib),
              record, static_cast<unsigned long long>(w.records));
  std::printf(
      "  \"write\": {\"direct_io\": %s, \"seconds\": %.3f, \"payload_mb_per_s\": %.1f, \"records_per_s\": %.0f, "
      "\"groups\": %llu},\n",
      w.direct ? "true" : "false", w.seconds, mbps(w.payload, w.seconds), static_cast<double>(w.records) / w.seconds,
      static_cast<unsigned long long>(w.groups));
  std::printf("  \"recover_first\": {\"seconds\": %.3f, \"mb_per_s\": %.1f},\n", warm1.seconds,
              mbps(warm1.bytes, warm1.seconds));
  std::printf("  \"recover_warm\": {\"seconds\": %.3f, \"bytes_scanned\": %llu, \"mb_per_s\": %.1f},\n", warm.seconds,
              static_cast<unsigned long long>(warm.bytes), mbps(warm.bytes, warm.seconds));
  std::printf("  \"recover_cold\": {\"seconds\": %.3f, \"mb_per_s\": %.1f},\n", cold.seconds,
              mbps(cold.bytes, cold.seconds));
  std::printf("  \"ring_128b_entries_per_s\": {\"producers_1\": %.0f, \"producers_4\": %.0f}\n", ring1, ring4);
  std::printf("}\n");
  return 0;
}
