// The transit WAL writer: producers on any thread append batches of records into a ring
// buffer; a writer thread drains the ring in order, gives each record the next sequence number,
// encodes records per wal_format.h and writes them; a sync thread calls fdatasync and reports
// what it covered through a callback. An append is durable once its batch is reported with an
// ok status.
//
// Pipelining: the two threads overlap. While the sync thread waits in fdatasync, the writer
// thread already writes the next group; when that fdatasync returns, the next one starts and
// covers every group whose write completed before it started (when a write is in progress at
// that moment, the sync thread waits for it, since a write that completes later would need an
// fdatasync of its own). So the disk always has work and each fdatasync covers what arrived
// during the previous one. A batch is reported only after an fdatasync that started after the
// write of its last record returned.
//
// When the ring is empty after a write, no write could overlap that group's fdatasync (the
// producers typically wait for its acknowledgement before they append again), so the writer
// thread does the fdatasync and the report itself and then polls the ring for a moment: the
// hand-off to the sync thread and the wake-up of a sleeping writer stay off the path from one
// acknowledgement to the next group. If appends did arrive during such an fdatasync (producers
// with several appends in flight), the next groups go to the sync thread again. Only one thread
// holds claimed groups at a time, so reports stay in sequence order.
//
// Group commit: the writer takes whatever is committed in the ring when it looks (it never
// waits for more, except for the rest of a push under way: the batches a producer hands over
// in one call, between BeginPush and EndPush, go into one group), up to the end of the current
// segment and max_group_bytes; the bytes written but not yet claimed by an fdatasync never
// exceed max_group_bytes (a batch larger than that goes alone), so one fdatasync covers at most
// max_group_bytes of records. A record that does not fit in the rest of the segment goes to a
// new segment; the old one is synced first (the pipeline drains), so every segment but the
// newest is complete on disk. A batch may span two segments.
//
// Failure: the first failed write or fdatasync puts the writer in a FAILED state for good, and
// fdatasync is never retried. When an fdatasync fails, every batch not yet reported fails. When
// a write fails, the batches written before it still get their fdatasync and are reported as
// usual (they form a prefix of the log); the failing batch and everything after it fail. Either
// way everything still in the ring and everything appended later is reported with the failed
// state's status (kWriterFailed, its cause's reason and details with it), and no batch is
// reported ok after a failed one. Reopening (Recover, then Open) finds
// the synced prefix.
//
// A third thread, at idle priority, maps the ring's memory once after Open so that producers
// do not take a page fault on each page of the first lap.
#ifndef TAPIO_CORE_WAL_WRITER_H_
#define TAPIO_CORE_WAL_WRITER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/limits.h"
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

// One report: the batches one fdatasync covered (or that failed), in ring (append) order.
// Reports arrive in ring order too.
struct GroupDone {
  Status status;  // ok: every batch in `acks` is durable
  std::vector<Ack> acks;
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
  uint64_t max_group_bytes = kDefaultMaxGroupBytes;  // record bytes (padding included) per group
  // The layer record writes and fdatasyncs go through; null: the real system calls. Tests put a
  // FaultyFileLayer here. It must outlive the writer.
  FileLayer* io = nullptr;
  ResumePoint resume;       // from Recover
  uint64_t created_ms = 0;  // creation time written into new segment headers; 0 = the clock
  // Called on the sync thread or the writer thread (one at a time, in sequence order) after
  // every fdatasync with the batches it made durable, and for failed batches. Must not call
  // Close, nor wait for ring space (WaitForSpace): it may run on the writer thread, which frees
  // that space. May call Append. Blocks the next fdatasync, and possibly writing, while it runs.
  std::function<void(const GroupDone&)> on_group;
  // Called on the writer thread whenever ring space was freed (see RingBuffer::SetReleaseHook).
  std::function<void()> on_space;
};

// A snapshot of the writer's counters; any thread.
struct WriterStats {
  uint64_t records = 0;        // durable records
  uint64_t payload_bytes = 0;  // their payload bytes
  uint64_t groups = 0;         // fdatasyncs that made batches durable
  uint64_t segments_created = 0;
  uint64_t sync_histogram[kSyncBuckets] = {};
  uint64_t durable_seq = 0;
  uint64_t ring_used = 0;
  uint64_t ring_capacity = 0;
  bool direct_io = false;
  size_t alignment = 0;      // O_DIRECT alignment when direct_io
  Status direct_io_refusal;  // why direct I/O is off, when it is (kDirectIoOff, ...)
  bool failed = false;
  Status failure;  // the failed state (kWriterFailed), when failed
};

class WalWriter {
 public:
  enum class AppendResult {
    kOk,      // queued; the outcome arrives through on_group
    kFull,    // the ring has no room now; nothing was queued (see WaitForSpace)
    kClosed,  // Close was called
  };

  // Validates options, probes direct I/O, opens (or creates) the segment to append to and
  // starts the threads.
  static Status Open(WriterOptions options, std::unique_ptr<WalWriter>* out);
  ~WalWriter();  // Close()
  WalWriter(const WalWriter&) = delete;
  WalWriter& operator=(const WalWriter&) = delete;

  // Any thread. True when a batch of these record lengths may be appended: every record at most
  // max_payload() bytes, and its ring entry at most half the ring. The facade validates batches
  // against the same limits; the binding checks each batch it is handed with this, before Append.
  bool BatchFits(const uint32_t* lengths, size_t count) const;
  // Any thread. Queues one batch of `count` records, which BatchFits must accept (checked: a
  // batch it refuses aborts the process); never blocks. With `wake` false the writer thread is
  // not woken (call WakeWriter after the last of several appends).
  AppendResult Append(uint32_t producer_id, uint64_t ticket, const uint8_t* const* datas, const uint32_t* lengths,
                      size_t count, bool wake = true);
  // Any thread. Wakes the writer thread if it waits for appends.
  void WakeWriter() { ring_->NotifyIfSleeping(); }
  // Any thread, around several Appends made together: the writer thread then groups them
  // rather than syncing the first ones alone.
  void BeginPush() { pushing_.fetch_add(1, std::memory_order_seq_cst); }
  void EndPush() { pushing_.fetch_sub(1, std::memory_order_seq_cst); }
  // Any thread. Waits until a batch of these lengths could be queued (a hint) or the timeout.
  bool WaitForSpace(const uint32_t* lengths, size_t count, std::chrono::microseconds timeout);
  // Increments each time the writer frees ring space.
  uint64_t SpaceReleases() const { return ring_->ReleaseCount(); }

  // Any thread but the writer's and the sync thread's (not from on_group). Refuses new appends,
  // writes and syncs everything already queued, reports it, and joins both threads. Returns the
  // failed state's status when the writer failed, else ok. Idempotent.
  Status Close();

  WriterStats Stats() const;
  // Any thread. Moves the sparse index entries made since the last call into *out: triples
  // (segment number, sequence number, byte offset) per IndexesRecord (wal_format.h), and the
  // triple (segment, first sequence number, kSegmentHeaderSize) for each segment created. They
  // are made as records are written, so they may run ahead of the durable records.
  void TakeIndexPoints(std::vector<uint64_t>* out);
  uint64_t durable_seq() const { return durable_seq_.load(std::memory_order_acquire); }
  uint64_t max_payload() const { return max_payload_; }
  bool direct_io() const { return mode_.direct; }

 private:
  // Batches the writer thread wrote with one Flush, on their way to an fdatasync.
  struct Group {
    std::vector<Ack> acks;
    uint64_t bytes = 0;  // record bytes written (headers and padding included)
    uint64_t records = 0;
    uint64_t payload = 0;
    uint64_t last_seq = 0;                // the newest sequence number written
    SegmentAppender* appender = nullptr;  // the segment the group ends in
    uint64_t end = 0;                     // the appender's end after the group
    bool failed = false;                  // taken after a failure: reported failed, never synced
    void Reset() {
      acks.clear();
      bytes = records = payload = last_seq = end = 0;
      appender = nullptr;
      failed = false;
    }
  };

  explicit WalWriter(WriterOptions options);
  Status Start();
  Status ChooseMode();
  Status OpenTail();
  void Run();
  void RunSync();
  void WarmRing();
  // The checkpoint thread: writes CHECKPOINT for the newest sealed segment it was handed, off
  // the writer thread's path (a roll hands one over and goes on).
  void RunCheckpoints();
  // Groups claimed for one fdatasync, and what to do with them.
  struct Claim {
    std::vector<Group> groups;
    size_t good = 0;         // the groups written before any failure: they get the fdatasync
    bool need_sync = false;  // false when an earlier fdatasync already covered them
  };

  bool Take(const RingEntry& entry, Group* group);
  bool Ship(Group* group, bool sync_here);
  void AwaitNextAppends();
  void TakeRestOfPush(Group* group);
  void ClaimShipped(Claim* claim);
  void SyncClaimed(Claim* claim);
  void Report(std::vector<Group>& groups, size_t from, size_t to, const Status& status);
  Status Roll();
  // Writer thread: waits until every group shipped so far has been reported.
  void WaitForSyncIdle();
  void Fail(const Status& status);
  bool Failed() const { return failed_flag_.load(std::memory_order_acquire); }
  void RecordSync(uint64_t micros);
  void AdvanceDurable(uint64_t seq);

  WriterOptions options_;
  std::unique_ptr<RingBuffer> ring_;
  AppendMode mode_;
  Status direct_io_refusal_;  // why direct I/O is off, when it is
  AlignedBuffer buffer_;
  FileLayer* io_;
  std::unique_ptr<SegmentAppender> appender_;  // writer thread
  uint64_t segment_number_ = 0;                // writer thread
  uint64_t segment_first_seq_ = 1;             // writer thread: the current segment's first record
  uint64_t next_seq_ = 1;                      // writer thread
  uint64_t max_payload_ = 0;
  uint64_t budget_ = 0;                  // writer thread: bytes the group being taken may still hold
  bool budget_short_ = false;            // writer thread: a batch waits for the sync thread to claim bytes
  uint32_t handoffs_before_inline_ = 0;  // writer thread: groups left for the sync thread
  std::thread thread_;
  std::thread sync_thread_;
  std::thread warm_thread_;  // maps the ring's pages ahead of the producers, at idle priority
  std::thread checkpoint_thread_;

  // Between the writer thread and the checkpoint thread, guarded by checkpoint_mu_.
  struct SealedSegment {
    uint64_t number = 0;
    uint64_t first_seq = 0;
    uint64_t last_seq = 0;
  };
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  SealedSegment checkpoint_next_;  // the newest sealed segment not yet written to CHECKPOINT
  bool checkpoint_pending_ = false;
  bool checkpoint_stop_ = false;

  // Between the writer thread and the sync thread, guarded by mu_.
  std::mutex mu_;
  std::condition_variable sync_cv_;             // the sync thread waits for groups
  std::condition_variable writer_cv_;           // the writer thread waits for claims and idleness
  std::vector<Group> shipped_;                  // written, not yet claimed by an fdatasync
  uint64_t unclaimed_bytes_ = 0;                // their record bytes
  bool syncing_ = false;                        // a thread holds claimed groups (one at a time)
  bool writing_ = false;                        // the writer thread is taking or writing a group
  uint64_t ships_ = 0;                          // groups shipped so far
  bool writer_done_ = false;                    // the writer thread has shipped its last group
  SegmentAppender* synced_appender_ = nullptr;  // where the newest successful sync was
  uint64_t synced_end_ = 0;                     // and the end it covered
  bool sync_failed_ = false;                    // an fdatasync failed: every group not yet reported fails

  std::atomic<uint32_t> appenders_{0};
  std::atomic<uint32_t> pushing_{0};  // producers between BeginPush and EndPush
  std::atomic<bool> closing_{false};
  std::atomic<bool> stopping_{false};
  bool closed_ = false;
  std::mutex close_mu_;

  // Index entries not yet taken, guarded by index_mu_ (one lock per kIndexSpacing bytes written).
  std::mutex index_mu_;
  std::vector<uint64_t> index_points_;
  void AddIndexPoint(uint64_t segment, uint64_t seq, uint64_t offset) {
    std::lock_guard<std::mutex> lock(index_mu_);
    index_points_.insert(index_points_.end(), {segment, seq, offset});
  }

  std::atomic<uint64_t> durable_seq_{0};
  std::atomic<uint64_t> records_{0};
  std::atomic<uint64_t> payload_bytes_{0};
  std::atomic<uint64_t> groups_{0};
  std::atomic<uint64_t> segments_created_{0};
  std::atomic<uint64_t> sync_histogram_[kSyncBuckets] = {};
  std::atomic<bool> failed_flag_{false};
  mutable std::mutex failure_mu_;
  Status failure_;  // guarded by failure_mu_
};

}  // namespace wal
}  // namespace tapio

#endif  // TAPIO_CORE_WAL_WRITER_H_
