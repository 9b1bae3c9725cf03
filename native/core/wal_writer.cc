#include "core/wal_writer.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <new>

#include "core/check.h"
#include "core/wal_recovery.h"

namespace tapio {
namespace wal {
namespace {

constexpr auto kIdleWait = std::chrono::milliseconds(100);
// How long the writer thread polls the ring for the next appends after it synced a group.
constexpr auto kAppendSpin = std::chrono::microseconds(300);
// Groups handed to the sync thread after appends arrived during an fdatasync of the writer
// thread, before it syncs one itself again.
constexpr uint32_t kHandoffsAfterMiss = 64;
// How long the writer thread waits for a push of several batches to end, to group them all.
constexpr auto kPushWait = std::chrono::microseconds(200);

Status ValidateOptions(const WriterOptions& o) {
  if (o.dir.empty()) return Status(Reason::kWriterOption).With("option", "dir").With("value", "");
  if (o.segment_size < kMinSegmentSize || o.segment_size > kMaxSegmentSize ||
      o.segment_size % kSegmentHeaderSize != 0) {
    return Status(Reason::kWriterOption).With("option", "segment_size").With("value", o.segment_size);
  }
  if (o.max_group_bytes < kMinGroupBytes || o.max_group_bytes > kMaxGroupBytes) {
    return Status(Reason::kWriterOption).With("option", "max_group_bytes").With("value", o.max_group_bytes);
  }
  if (o.resume.next_seq == 0)
    return Status(Reason::kWriterOption).With("option", "resume.next_seq").With("value", uint64_t{0});
  if (o.resume.segment == 0)
    return Status(Reason::kWriterOption).With("option", "resume.segment").With("value", uint64_t{0});
  if (o.resume.segment_exists) {
    const ResumePoint& r = o.resume;
    if (r.segment_size < kMinSegmentSize || r.segment_size > kMaxSegmentSize || r.write_offset < kSegmentHeaderSize ||
        r.write_offset > r.segment_size || r.write_offset % kRecordAlign != 0) {
      return Status(Reason::kResumePoint)
          .With("segment", r.segment)
          .With("segmentSize", r.segment_size)
          .With("offset", r.write_offset);
    }
  }
  return Status::Ok();
}

// Names the calling thread (at most 15 characters) so it can be told apart in ps, top and perf.
void NameThisThread(const char* name) {
#if defined(__linux__)
  pthread_setname_np(pthread_self(), name);
#elif defined(__APPLE__)
  pthread_setname_np(name);
#else
  (void)name;
#endif
}

uint64_t EntryFootprint(const RingEntry& e) {
  RingRecordIterator it(e);
  const uint8_t* data;
  uint32_t length;
  uint64_t total = 0;
  while (it.Next(&data, &length)) total += RecordFootprint(length);
  return total;
}

}  // namespace

WalWriter::WalWriter(WriterOptions options)
    : options_(std::move(options)), io_(options_.io != nullptr ? options_.io : PosixFileLayer()) {}

WalWriter::~WalWriter() { Close(); }

Status WalWriter::Open(WriterOptions options, std::unique_ptr<WalWriter>* out) {
  Status s = ValidateOptions(options);
  if (!s.ok()) return s;
  std::unique_ptr<WalWriter> w(new (std::nothrow) WalWriter(std::move(options)));
  if (w == nullptr)
    return Status(Reason::kOutOfMemory).With("what", "writer").With("bytes", uint64_t{sizeof(WalWriter)});
  s = w->Start();
  if (!s.ok()) {
    w->closed_ = true;  // no thread to join
    return s;
  }
  *out = std::move(w);
  return Status::Ok();
}

Status WalWriter::Start() {
  Status s = RingBuffer::Create(options_.ring_capacity, &ring_);
  if (!s.ok()) return s;
  if (options_.on_space) ring_->SetReleaseHook(options_.on_space);
  s = ChooseMode();
  if (!s.ok()) return s;
  const size_t align = mode_.alignment;
  const uint64_t blocks = (options_.max_group_bytes + align - 1) / align + 1;
  if (!buffer_.Allocate(static_cast<size_t>(blocks * align), align)) {
    return Status(Reason::kOutOfMemory).With("what", "write-buffer").With("bytes", uint64_t{blocks * align});
  }
  max_payload_ = MaxPayload(options_.segment_size);
  next_seq_ = options_.resume.next_seq;
  durable_seq_.store(next_seq_ - 1, std::memory_order_release);
  s = OpenTail();
  if (!s.ok()) return s;
  synced_appender_ = appender_.get();
  synced_end_ = appender_->end();
  thread_ = std::thread([this] { Run(); });
  sync_thread_ = std::thread([this] { RunSync(); });
  warm_thread_ = std::thread([this] { WarmRing(); });
  if (options_.resume.write_checkpoints) checkpoint_thread_ = std::thread([this] { RunCheckpoints(); });
  return Status::Ok();
}

Status WalWriter::ChooseMode() {
  mode_ = AppendMode();
  if (options_.direct_io == DirectIoMode::kOff) {
    direct_io_refusal_ = Status(Reason::kDirectIoOff);
    return Status::Ok();
  }
  DirectIoProbe probe;
  Status s = ProbeDirectIo(options_.dir, &probe);
  if (!s.ok()) return s;
  Status refusal = probe.refusal;
  if (probe.supported) {
    const uint64_t last = options_.resume.segment_exists ? options_.resume.segment_size : options_.segment_size;
    if (options_.segment_size % probe.alignment != 0 || last % probe.alignment != 0) {
      refusal = Status(Reason::kDirectIoAlignment).With("alignment", uint64_t{probe.alignment});
    }
  }
  if (refusal.ok()) {
    mode_.direct = true;
    mode_.alignment = probe.alignment;
    return Status::Ok();
  }
  if (options_.direct_io == DirectIoMode::kOn) {
    return refusal.Within(Reason::kDirectIoUnavailable).With("dir", options_.dir);
  }
  direct_io_refusal_ = refusal;
  return Status::Ok();
}

// Opens the newest segment at the resume point, or creates the first one.
Status WalWriter::OpenTail() {
  const ResumePoint& r = options_.resume;
  segment_number_ = r.segment;
  segment_first_seq_ = r.segment_exists ? r.segment_first_seq : r.next_seq;
  int fd = -1;
  uint64_t size = r.segment_size;
  uint64_t offset = r.write_offset;
  Status s;
  if (!r.segment_exists) {
    NewSegment seg;
    seg.dir = options_.dir;
    seg.number = r.segment;
    seg.first_seq = next_seq_;
    seg.store_id = r.store_id;
    seg.segment_size = options_.segment_size;
    seg.created_ms = options_.created_ms;
    seg.direct = mode_.direct;
    seg.alignment = mode_.alignment;
    s = CreateSegmentFile(seg, &fd);
    size = options_.segment_size;
    offset = kSegmentHeaderSize;
    if (s.ok()) {
      segments_created_.fetch_add(1, std::memory_order_relaxed);
      AddIndexPoint(seg.number, seg.first_seq, kSegmentHeaderSize);
    }
  } else {
    s = OpenFile(JoinPath(options_.dir, SegmentFileName(r.segment)), O_RDWR, mode_.direct, &fd);
  }
  if (!s.ok()) return s;
  return SegmentAppender::Open(fd, JoinPath(options_.dir, SegmentFileName(segment_number_)), size, offset, mode_,
                               &buffer_, io_, &appender_);
}

bool WalWriter::BatchFits(const uint32_t* lengths, size_t count) const {
  if (count > UINT32_MAX) return false;
  for (size_t i = 0; i < count; i++) {
    if (lengths[i] > max_payload_) return false;
  }
  return RingBuffer::EntrySize(lengths, count) <= ring_->Capacity() / 2;
}

WalWriter::AppendResult WalWriter::Append(uint32_t producer_id, uint64_t ticket, const uint8_t* const* datas,
                                          const uint32_t* lengths, size_t count, bool wake) {
  for (size_t i = 0; i < count; i++)
    TAPIO_CHECK(lengths[i] <= max_payload_, "WalWriter::Append: a record no segment holds");
  // Paired with Close: either Close sees this appender in flight and waits for it, or this
  // appender sees closing_ and refuses.
  appenders_.fetch_add(1, std::memory_order_seq_cst);
  AppendResult result = AppendResult::kOk;
  if (closing_.load(std::memory_order_seq_cst)) {
    result = AppendResult::kClosed;
  } else {
    const RingBuffer::PushResult pushed = ring_->Push(producer_id, ticket, datas, lengths, count, wake);
    TAPIO_CHECK(pushed != RingBuffer::PushResult::kTooLarge, "WalWriter::Append: a batch larger than half the ring");
    if (pushed == RingBuffer::PushResult::kFull) result = AppendResult::kFull;
  }
  appenders_.fetch_sub(1, std::memory_order_seq_cst);
  return result;
}

bool WalWriter::WaitForSpace(const uint32_t* lengths, size_t count, std::chrono::microseconds timeout) {
  return ring_->WaitForSpace(RingBuffer::EntrySize(lengths, count), timeout);
}

Status WalWriter::Close() {
  std::lock_guard<std::mutex> lock(close_mu_);
  if (!closed_) {
    closing_.store(true, std::memory_order_seq_cst);
    while (appenders_.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
    stopping_.store(true, std::memory_order_release);
    ring_->NotifyConsumer();
    if (thread_.joinable()) thread_.join();  // ships everything, then tells the sync thread
    if (sync_thread_.joinable()) sync_thread_.join();
    if (warm_thread_.joinable()) warm_thread_.join();
    if (checkpoint_thread_.joinable()) {
      {
        std::lock_guard<std::mutex> lock(checkpoint_mu_);
        checkpoint_stop_ = true;
      }
      checkpoint_cv_.notify_one();
      checkpoint_thread_.join();  // after it wrote what the last roll handed over
    }
    appender_.reset();
    closed_ = true;
  }
  std::lock_guard<std::mutex> failure_lock(failure_mu_);
  return failed_flag_.load(std::memory_order_acquire) ? failure_ : Status::Ok();
}

// The writer thread: drains the ring into groups, writes each group, ships it to the sync
// thread, and goes on with the next group without waiting for the fdatasync.
void WalWriter::Run() {
  NameThisThread("tapio-wal-write");
  Group group;
  for (;;) {
    group.Reset();
    {
      std::lock_guard<std::mutex> lock(mu_);
      budget_ = options_.max_group_bytes - std::min(unclaimed_bytes_, options_.max_group_bytes);
    }
    budget_short_ = false;
    const uint64_t bytes = ring_->Drain([this, &group](const RingEntry& e) { return Take(e, &group); });
    ring_->Release(bytes);  // Take copied every record it accepted
    if (!group.acks.empty()) {
      // A producer pushing several batches at once is still at it: they belong in this group.
      if (ring_->UsedBytes() == 0 && pushing_.load(std::memory_order_seq_cst) != 0) {
        TakeRestOfPush(&group);
      }
      // Nothing more to write: no write could overlap this group's fdatasync, so this thread
      // does it itself (no hand-off), then watches the ring for the producers' next appends,
      // which typically follow their acknowledgements within a few hundred microseconds.
      // When appends arrived during such an fdatasync after all (producers that keep several
      // appends in flight), writing them then would have overlapped it: the next groups go to
      // the sync thread again, and this thread tries syncing itself only after a while.
      const bool sync_here = handoffs_before_inline_ == 0 && ring_->UsedBytes() == 0;
      if (handoffs_before_inline_ > 0) handoffs_before_inline_--;
      if (Ship(&group, sync_here)) {
        if (ring_->UsedBytes() != 0) {
          handoffs_before_inline_ = kHandoffsAfterMiss;
        } else {
          AwaitNextAppends();
        }
      }
      continue;
    }
    if (bytes != 0) continue;  // only pads
    if (budget_short_) {
      // The next batch does not fit beside what waits for an fdatasync: wait for the sync
      // thread to claim that, so no fdatasync covers more than max_group_bytes.
      std::unique_lock<std::mutex> lock(mu_);
      writer_cv_.wait(lock, [this] { return unclaimed_bytes_ == 0; });
      continue;
    }
    // Close waits for every appender before setting stopping_, so nothing more can arrive.
    if (stopping_.load(std::memory_order_acquire) && ring_->UsedBytes() == 0) break;
    ring_->WaitForData(kIdleWait);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    writer_done_ = true;
  }
  sync_cv_.notify_one();
}

// Ring visitor: encodes one batch into the current group, or returns false to end the group.
bool WalWriter::Take(const RingEntry& e, Group* g) {
  Ack ack;
  ack.producer_id = e.producer_id;
  ack.ticket = e.ticket;
  if (Failed()) {  // a failed write or fdatasync: nothing more is written
    g->acks.push_back(ack);
    return true;
  }
  const uint64_t footprint = EntryFootprint(e);
  if (footprint > budget_ && (!g->acks.empty() || budget_ < options_.max_group_bytes)) {
    if (g->acks.empty()) budget_short_ = true;
    return false;
  }
  if (!g->acks.empty() && footprint > appender_->Remaining()) return false;  // roll with the next group
  if (g->acks.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = true;
  }
  ack.first_seq = next_seq_;
  RingRecordIterator it(e);
  const uint8_t* data;
  uint32_t length;
  while (it.Next(&data, &length)) {
    Status s;
    if (RecordFootprint(length) > appender_->Remaining()) s = Roll();
    if (s.ok()) {
      const uint64_t at = appender_->end();
      if (IndexesRecord(at, RecordFootprint(length))) AddIndexPoint(segment_number_, next_seq_, at);
      s = appender_->Append(next_seq_, data, length);
    }
    if (!s.ok()) {
      Fail(s);
      break;
    }
    next_seq_++;
    g->records++;
    g->payload += length;
  }
  ack.last_seq = next_seq_ - 1;
  g->bytes += footprint;
  budget_ -= std::min(footprint, budget_);
  g->acks.push_back(ack);
  return true;
}

// Writes the group and hands it to the sync thread; or, when `sync_here` and no fdatasync is
// under way, claims it and syncs and reports it on this thread (returns true).
bool WalWriter::Ship(Group* g, bool sync_here) {
  if (!Failed()) {
    Status s = appender_->Flush();
    if (!s.ok()) Fail(s);
  }
  g->failed = Failed();  // this group, or an earlier write, failed: everything from here fails
  g->last_seq = next_seq_ - 1;
  g->appender = appender_.get();
  g->end = appender_ != nullptr ? appender_->end() : 0;  // none after a failed roll (g->failed)
  Claim claim;
  {
    std::lock_guard<std::mutex> lock(mu_);
    unclaimed_bytes_ += g->bytes;
    shipped_.push_back(std::move(*g));
    ships_++;
    writing_ = false;
    sync_here = sync_here && !syncing_;
    if (sync_here) ClaimShipped(&claim);
  }
  if (!sync_here) {
    sync_cv_.notify_one();
    return false;
  }
  SyncClaimed(&claim);
  return true;
}

// Writer thread, after it synced a group itself: polls the ring for up to kAppendSpin before
// it sleeps, so the producers' next appends need not wake it (a wake-up costs them, and the
// group, about 0.1 ms on a virtual machine).
void WalWriter::AwaitNextAppends() {
  const auto until = std::chrono::steady_clock::now() + kAppendSpin;
  while (ring_->UsedBytes() == 0 && !stopping_.load(std::memory_order_acquire) && !Failed()) {
    if (std::chrono::steady_clock::now() >= until) return;
    sched_yield();  // a producer woken on this CPU runs at once
  }
}

// Writer thread: drains into `group` what producers that are in the middle of a push commit,
// until no push is under way (or kPushWait passed, or the group takes no more).
void WalWriter::TakeRestOfPush(Group* group) {
  bool refused = false;  // Take ended the group: it is full, or the next batch rolls the segment
  auto take = [this, group, &refused](const RingEntry& e) {
    if (Take(e, group)) return true;
    refused = true;
    return false;
  };
  const auto until = std::chrono::steady_clock::now() + kPushWait;
  while (pushing_.load(std::memory_order_seq_cst) != 0 && std::chrono::steady_clock::now() < until) {
    const uint64_t bytes = ring_->Drain(take);
    ring_->Release(bytes);
    if (refused) return;
    if (bytes == 0) sched_yield();  // the next entry is not committed yet
  }
  ring_->Release(ring_->Drain(take));
}

// Takes every shipped group for one fdatasync. Called with mu_ held; the caller then runs
// SyncClaimed without it.
void WalWriter::ClaimShipped(Claim* c) {
  c->groups.swap(shipped_);
  unclaimed_bytes_ = 0;
  syncing_ = true;
  // A failed group is followed only by failed groups (the failed state never ends).
  c->good = 0;
  while (!sync_failed_ && c->good < c->groups.size() && !c->groups[c->good].failed) c->good++;
  c->need_sync = false;
  if (c->good > 0) {
    const Group& last = c->groups[c->good - 1];
    c->need_sync = !(last.appender == synced_appender_ && last.end == synced_end_);
  }
}

// The sync thread: claims every group shipped so far, fdatasyncs once for all of them (the
// writer thread meanwhile writes the next ones), and reports them.
void WalWriter::RunSync() {
  NameThisThread("tapio-wal-sync");
  for (;;) {
    Claim claim;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // While the writer thread syncs a claim itself, what it ships waits for that to end.
      sync_cv_.wait(lock, [this] { return !syncing_ && (!shipped_.empty() || writer_done_); });
      if (shipped_.empty()) break;  // writer_done_ and nothing left
      if (writing_) {
        // The group being written would miss this fdatasync (only writes that completed before
        // it starts count) and need another; wait for it, so one fdatasync covers both.
        const uint64_t target = ships_ + 1;
        sync_cv_.wait(lock, [this, target] { return ships_ >= target || !writing_; });
        // The writer thread may have claimed everything for an fdatasync of its own meanwhile.
        if (syncing_ || shipped_.empty()) continue;
      }
      ClaimShipped(&claim);
    }
    writer_cv_.notify_all();  // the budget is free again
    SyncClaimed(&claim);
  }
}

// Either thread, holding a claim (syncing_): one fdatasync for the claimed groups written
// before any failure, then the reports, in sequence order.
void WalWriter::SyncClaimed(Claim* c) {
  std::vector<Group>& claimed = c->groups;
  size_t good = c->good;
  if (c->need_sync) {
    const Group& last = claimed[good - 1];
    uint64_t micros = 0;
    Status s = last.appender->SyncFile(&micros);
    if (s.ok()) RecordSync(micros);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (s.ok()) {
        synced_appender_ = last.appender;
        synced_end_ = last.end;
      } else {
        sync_failed_ = true;
        good = 0;
      }
    }
    if (!s.ok()) Fail(s);
  }
  if (good > 0) {
    uint64_t records = 0;
    uint64_t payload = 0;
    for (size_t i = 0; i < good; i++) {
      records += claimed[i].records;
      payload += claimed[i].payload;
    }
    AdvanceDurable(claimed[good - 1].last_seq);
    records_.fetch_add(records, std::memory_order_relaxed);
    payload_bytes_.fetch_add(payload, std::memory_order_relaxed);
    groups_.fetch_add(1, std::memory_order_relaxed);
    Report(claimed, 0, good, Status::Ok());
  }
  if (good < claimed.size()) {
    Status failure;
    {
      std::lock_guard<std::mutex> lock(failure_mu_);
      failure = failure_;
    }
    Report(claimed, good, claimed.size(), failure);
  }
  claimed.clear();
  bool wake_sync_thread;
  {
    std::lock_guard<std::mutex> lock(mu_);
    syncing_ = false;
    wake_sync_thread = !shipped_.empty() || writer_done_;
  }
  writer_cv_.notify_all();
  if (wake_sync_thread) sync_cv_.notify_one();
}

// The thread holding the claim: reports groups [from, to) of `groups` with `status` in one
// GroupDone.
void WalWriter::Report(std::vector<Group>& groups, size_t from, size_t to, const Status& status) {
  GroupDone done;
  done.status = status;
  done.durable_seq = durable_seq_.load(std::memory_order_acquire);
  if (to - from == 1) {
    done.acks = std::move(groups[from].acks);
  } else {
    size_t n = 0;
    for (size_t i = from; i < to; i++) n += groups[i].acks.size();
    done.acks.reserve(n);
    for (size_t i = from; i < to; i++) done.acks.insert(done.acks.end(), groups[i].acks.begin(), groups[i].acks.end());
  }
  if (!status.ok()) {
    for (Ack& a : done.acks) a.first_seq = a.last_seq = 0;
  }
  if (options_.on_group) options_.on_group(done);
}

void WalWriter::TakeIndexPoints(std::vector<uint64_t>* out) {
  out->clear();
  std::lock_guard<std::mutex> lock(index_mu_);
  out->swap(index_points_);
}

// The first lap through the ring would make producers take a page fault per page they copy
// into. This thread maps the pages first, in order (producers start at the front), only when a
// CPU is otherwise idle, and ends after one pass. RingBuffer::Prefault writes to the pages rather
// than asking the kernel to populate them, so no process-wide lock is held while it runs (see
// ring_buffer.h): at idle priority it may wait for a CPU in the middle of a fault, and then only a
// producer touching the same page (or a fork, which locks every mapping) waits for it, not the
// event loop's own mmap, munmap and mprotect calls.
void WalWriter::WarmRing() {
  NameThisThread("tapio-wal-warm");
#if defined(__linux__) && defined(SCHED_IDLE)
  sched_param param{};
  pthread_setschedparam(pthread_self(), SCHED_IDLE, &param);
#endif
  constexpr uint64_t kStep = 2ull << 20;
  for (uint64_t at = 0; at < ring_->Capacity() && !stopping_.load(std::memory_order_acquire); at += kStep) {
    ring_->Prefault(at, kStep);
  }
}

void WalWriter::RunCheckpoints() {
  NameThisThread("tapio-wal-ckpt");
  std::unique_lock<std::mutex> lock(checkpoint_mu_);
  for (;;) {
    checkpoint_cv_.wait(lock, [this] { return checkpoint_pending_ || checkpoint_stop_; });
    if (!checkpoint_pending_) break;  // stopping, and nothing left to write
    const SealedSegment sealed = checkpoint_next_;
    checkpoint_pending_ = false;
    lock.unlock();
    // Best effort: if it fails, the CHECKPOINT before it stays valid (an open scans more).
    WriteCheckpoint(options_.dir, options_.resume.store_id, sealed.number, sealed.first_seq, sealed.last_seq);
    lock.lock();
  }
}

void WalWriter::WaitForSyncIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  writer_cv_.wait(lock, [this] { return shipped_.empty() && !syncing_; });
}

// Syncs the full segment, then starts the next one at the current sequence number.
Status WalWriter::Roll() {
  Status s = appender_->Flush();
  if (!s.ok()) return s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;  // the sync thread must not wait for this group: this thread waits for it
  }
  sync_cv_.notify_one();
  WaitForSyncIdle();  // every earlier group is durable (or failed), and no fdatasync uses the old file
  if (Failed()) {
    std::lock_guard<std::mutex> lock(failure_mu_);
    return failure_;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (synced_appender_ == appender_.get()) appender_->MarkSynced(synced_end_);
  }
  uint64_t micros = 0;
  s = appender_->Sync(&micros);  // the bytes of the group being taken that went to the old file
  if (!s.ok()) return s;
  if (micros != 0) RecordSync(micros);
  AdvanceDurable(next_seq_ - 1);
  appender_.reset();

  NewSegment seg;
  seg.dir = options_.dir;
  seg.number = segment_number_ + 1;
  seg.first_seq = next_seq_;
  seg.store_id = options_.resume.store_id;
  seg.segment_size = options_.segment_size;
  seg.created_ms = options_.created_ms;
  seg.direct = mode_.direct;
  seg.alignment = mode_.alignment;
  int fd = -1;
  s = CreateSegmentFile(seg, &fd);
  if (!s.ok()) return s;
  const uint64_t sealed = segment_number_;
  const uint64_t sealed_first_seq = segment_first_seq_;
  segment_number_ = seg.number;
  segment_first_seq_ = seg.first_seq;
  segments_created_.fetch_add(1, std::memory_order_relaxed);
  AddIndexPoint(seg.number, seg.first_seq, kSegmentHeaderSize);
  if (options_.resume.write_checkpoints) {
    // The old segment is synced whole and the new one exists: the next open need not scan the
    // old. The checkpoint thread writes that down while this thread goes on.
    {
      std::lock_guard<std::mutex> lock(checkpoint_mu_);
      checkpoint_next_ = SealedSegment{sealed, sealed_first_seq, seg.first_seq - 1};
      checkpoint_pending_ = true;
    }
    checkpoint_cv_.notify_one();
  }
  s = SegmentAppender::Open(fd, JoinPath(options_.dir, SegmentFileName(seg.number)), seg.segment_size,
                            kSegmentHeaderSize, mode_, &buffer_, io_, &appender_);
  if (!s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  synced_appender_ = appender_.get();
  synced_end_ = appender_->end();
  return Status::Ok();
}

void WalWriter::Fail(const Status& status) {
  {
    std::lock_guard<std::mutex> lock(failure_mu_);
    if (failed_flag_.load(std::memory_order_relaxed)) return;
    failure_ = status.reason() == Reason::kWriterFailed ? status : status.Within(Reason::kWriterFailed);
    failed_flag_.store(true, std::memory_order_release);
  }
  writer_cv_.notify_all();
}

void WalWriter::AdvanceDurable(uint64_t seq) {
  uint64_t cur = durable_seq_.load(std::memory_order_relaxed);
  while (cur < seq && !durable_seq_.compare_exchange_weak(cur, seq, std::memory_order_acq_rel)) {
  }
}

void WalWriter::RecordSync(uint64_t micros) {
  size_t bucket = 0;
  while (bucket < kSyncBuckets - 1 && micros > kSyncBucketBoundsUs[bucket]) bucket++;
  sync_histogram_[bucket].fetch_add(1, std::memory_order_relaxed);
}

WriterStats WalWriter::Stats() const {
  WriterStats st;
  st.records = records_.load(std::memory_order_relaxed);
  st.payload_bytes = payload_bytes_.load(std::memory_order_relaxed);
  st.groups = groups_.load(std::memory_order_relaxed);
  st.segments_created = segments_created_.load(std::memory_order_relaxed);
  for (size_t i = 0; i < kSyncBuckets; i++) st.sync_histogram[i] = sync_histogram_[i].load(std::memory_order_relaxed);
  st.durable_seq = durable_seq_.load(std::memory_order_acquire);
  st.ring_used = ring_->UsedBytes();
  st.ring_capacity = ring_->Capacity();
  st.direct_io = mode_.direct;
  st.alignment = mode_.direct ? mode_.alignment : 0;
  st.direct_io_refusal = direct_io_refusal_;
  std::lock_guard<std::mutex> lock(failure_mu_);
  st.failed = failed_flag_.load(std::memory_order_acquire);
  if (st.failed) st.failure = failure_;
  return st;
}

}  // namespace wal
}  // namespace tapio
