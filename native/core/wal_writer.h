// The transit WAL writer: producers on any thread append batches of records into a ring
// buffer; one writer thread drains the ring in order, gives each record the next sequence
// number, encodes records per wal_format.h, writes them and calls fdatasync once per group,
// then reports the group through a callback. An append is durable once its group is reported
// with an ok status.
//
// Group commit: the writer takes whatever is committed in the ring when it looks (it never
// waits for more), up to max_group_bytes and the end of the current segment; what arrives while
// it writes and syncs forms the next group. A record that does not fit in the rest of the
// segment goes to a new segment (the old one is synced first, so every segment but the newest
// is complete on disk); a batch may span two segments.
//
// Failure: the first failed write or fdatasync puts the writer in a FAILED state for good. The
// failing group, everything still in the ring and everything appended later are reported with
// that kIoError status; fdatasync is never retried. Reopening (Recover, then Open) finds the
// synced prefix.
#ifndef TAPIO_CORE_WAL_WRITER_H_
#define TAPIO_CORE_WAL_WRITER_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/ring_buffer.h"
#include "core/status.h"
#include "core/wal_file.h"
#include "core/wal_format.h"

namespace tapio {
namespace wal {

enum class DirectIoMode {
  kAuto,  // O_DIRECT when the probe succeeds, else buffered writes
  kOn,    // O_DIRECT or Open fails
  kOff,   // buffered writes
};

// The outcome of one batch (one Append call).
struct Ack {
  uint32_t producer_id = 0;
  uint64_t ticket = 0;
  // The batch's records got first_seq..last_seq. For an empty batch last_seq = first_seq - 1.
  // Both 0 when the group failed.
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
};

struct GroupDone {
  Status status;             // ok: every batch in `acks` is durable
  std::vector<Ack> acks;     // in ring (append) order
  uint64_t durable_seq = 0;  // the newest durable sequence number after this group
};

// Upper bounds of the fdatasync latency histogram buckets, microseconds; the last is +inf.
constexpr uint64_t kSyncBucketBoundsUs[] = {50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000};
constexpr size_t kSyncBuckets = sizeof kSyncBucketBoundsUs / sizeof kSyncBucketBoundsUs[0] + 1;

struct WriterOptions {
  std::string dir;
  uint64_t segment_size = kDefaultSegmentSize;  // multiple of 4096 in [kMinSegmentSize, kMaxSegmentSize]
  uint64_t ring_capacity = 64ull << 20;         // power of two
  DirectIoMode direct_io = DirectIoMode::kAuto;
  uint64_t max_group_bytes = 4ull << 20;  // record bytes (headers and padding included) per group
  FaultInjector faults;
  ResumePoint resume;  // from Recover
  uint64_t created_ms = 0;  // creation time written into new segment headers; 0 = the clock
  // Called on the writer thread after every group. Must not call Close. May call Append.
  std::function<void(const GroupDone&)> on_group;
  // Called on the writer thread whenever ring space was freed (see RingBuffer::SetReleaseHook).
  std::function<void()> on_space;
};

// A snapshot of the writer's counters; any thread.
struct WriterStats {
  uint64_t records = 0;        // durable records
  uint64_t payload_bytes = 0;  // their payload bytes
  uint64_t groups = 0;         // groups synced
  uint64_t segments_created = 0;
  uint64_t sync_histogram[kSyncBuckets] = {};
  uint64_t durable_seq = 0;
  uint64_t ring_used = 0;
  uint64_t ring_capacity = 0;
  bool direct_io = false;
  size_t alignment = 0;            // O_DIRECT alignment when direct_io
  std::string direct_io_reason;    // why direct I/O is off, when it is
  bool failed = false;
  std::string failure;             // the failed state's message
};

class WalWriter {
 public:
  enum class AppendResult {
    kOk,        // queued; the outcome arrives through on_group
    kFull,      // the ring has no room now; nothing was queued (see WaitForSpace)
    kTooLarge,  // a record exceeds MaxPayload(), or the batch exceeds half the ring
    kClosed,    // Close was called
  };

  // Validates options, probes direct I/O, opens (or creates) the segment to append to and
  // starts the writer thread.
  static Status Open(WriterOptions options, std::unique_ptr<WalWriter>* out);
  ~WalWriter();  // Close()
  WalWriter(const WalWriter&) = delete;
  WalWriter& operator=(const WalWriter&) = delete;

  // Any thread. Queues one batch of `count` records; never blocks.
  AppendResult Append(uint32_t producer_id, uint64_t ticket, const uint8_t* const* datas, const uint32_t* lengths,
                      size_t count);
  // Any thread. Waits until a batch of these lengths could be queued (a hint) or the timeout.
  bool WaitForSpace(const uint32_t* lengths, size_t count, std::chrono::microseconds timeout);
  // Increments each time the writer frees ring space.
  uint64_t SpaceReleases() const { return ring_->ReleaseCount(); }

  // Any thread but the writer's (not from on_group). Refuses new appends, writes and syncs
  // everything already queued, reports it, and joins the thread. Returns the failed state's
  // status when the writer failed, else ok. Idempotent.
  Status Close();

  WriterStats Stats() const;
  uint64_t durable_seq() const { return durable_seq_.load(std::memory_order_acquire); }
  uint64_t max_payload() const { return max_payload_; }
  bool direct_io() const { return mode_.direct; }

 private:
  struct Group {
    std::vector<Ack> acks;
    uint64_t bytes = 0;
    uint64_t records = 0;
    uint64_t payload = 0;
  };

  explicit WalWriter(WriterOptions options);
  Status Start();
  Status ChooseMode();
  Status OpenTail();
  void Run();
  bool Take(const RingEntry& entry, Group* group);
  Status Roll();
  void Finish(Group* group);
  void Fail(const Status& status);
  void RecordSync(uint64_t micros);

  WriterOptions options_;
  std::unique_ptr<RingBuffer> ring_;
  AppendMode mode_;
  std::string direct_io_reason_;
  AlignedBuffer buffer_;
  FaultCounter faults_;
  std::unique_ptr<SegmentAppender> appender_;
  uint64_t segment_number_ = 0;
  uint64_t next_seq_ = 1;
  uint64_t max_payload_ = 0;
  bool failed_ = false;  // writer thread only; failed_flag_ is the shared copy
  Status failure_;
  std::thread thread_;

  std::atomic<uint32_t> appenders_{0};
  std::atomic<bool> closing_{false};
  std::atomic<bool> stopping_{false};
  bool closed_ = false;
  std::mutex close_mu_;

  std::atomic<uint64_t> durable_seq_{0};
  std::atomic<uint64_t> records_{0};
  std::atomic<uint64_t> payload_bytes_{0};
  std::atomic<uint64_t> groups_{0};
  std::atomic<uint64_t> segments_created_{0};
  std::atomic<uint64_t> sync_histogram_[kSyncBuckets] = {};
  std::atomic<bool> failed_flag_{false};
  mutable std::mutex failure_mu_;
  std::string failure_message_;
};

}  // namespace wal
}  // namespace tapio

#endif  // TAPIO_CORE_WAL_WRITER_H_
