#include "core/wal_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <new>

namespace tapio {
namespace wal {
namespace {

constexpr auto kIdleWait = std::chrono::milliseconds(100);

Status ValidateOptions(const WriterOptions& o) {
  if (o.dir.empty()) return Status::InvalidArgument("WAL writer: dir is empty");
  if (o.segment_size < kMinSegmentSize || o.segment_size > kMaxSegmentSize || o.segment_size % 4096 != 0) {
    return Status::InvalidArgument("WAL writer: segment_size must be a multiple of 4096 between " +
                                   std::to_string(kMinSegmentSize) + " and " + std::to_string(kMaxSegmentSize) +
                                   ", got " + std::to_string(o.segment_size));
  }
  if (o.max_group_bytes < 4096 || o.max_group_bytes > (1ull << 30)) {
    return Status::InvalidArgument("WAL writer: max_group_bytes must be between 4096 and 1 GiB, got " +
                                   std::to_string(o.max_group_bytes));
  }
  if (o.resume.next_seq == 0) return Status::InvalidArgument("WAL writer: resume.next_seq must be >= 1");
  if (o.resume.segment == 0) return Status::InvalidArgument("WAL writer: resume.segment must be >= 1");
  if (o.resume.segment_exists) {
    const ResumePoint& r = o.resume;
    if (r.segment_size < kMinSegmentSize || r.segment_size > kMaxSegmentSize || r.write_offset < kSegmentHeaderSize ||
        r.write_offset > r.segment_size || r.write_offset % kRecordAlign != 0) {
      return Status::InvalidArgument("WAL writer: resume point (segment " + std::to_string(r.segment) + ", size " +
                                     std::to_string(r.segment_size) + ", offset " + std::to_string(r.write_offset) +
                                     ") is not valid");
    }
  }
  return Status::Ok();
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

WalWriter::WalWriter(WriterOptions options) : options_(std::move(options)), faults_(options_.faults) {}

WalWriter::~WalWriter() { Close(); }

Status WalWriter::Open(WriterOptions options, std::unique_ptr<WalWriter>* out) {
  Status s = ValidateOptions(options);
  if (!s.ok()) return s;
  std::unique_ptr<WalWriter> w(new (std::nothrow) WalWriter(std::move(options)));
  if (w == nullptr) return Status::IoError("WAL writer: out of memory");
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
    return Status::IoError("WAL writer: cannot allocate a " + std::to_string(blocks * align) + "-byte write buffer");
  }
  max_payload_ = MaxPayload(options_.segment_size);
  next_seq_ = options_.resume.next_seq;
  durable_seq_.store(next_seq_ - 1, std::memory_order_release);
  s = OpenTail();
  if (!s.ok()) return s;
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

Status WalWriter::ChooseMode() {
  mode_ = AppendMode();
  if (options_.direct_io == DirectIoMode::kOff) {
    direct_io_reason_ = "direct_io is off";
    return Status::Ok();
  }
  DirectIoProbe probe;
  Status s = ProbeDirectIo(options_.dir, &probe);
  if (!s.ok()) return s;
  std::string reason = probe.reason;
  if (probe.supported) {
    const uint64_t last = options_.resume.segment_exists ? options_.resume.segment_size : options_.segment_size;
    if (options_.segment_size % probe.alignment != 0 || last % probe.alignment != 0) {
      reason = "the segment size is not a multiple of the direct I/O alignment " + std::to_string(probe.alignment);
    }
  }
  if (reason.empty()) {
    mode_.direct = true;
    mode_.alignment = probe.alignment;
    return Status::Ok();
  }
  if (options_.direct_io == DirectIoMode::kOn) {
    return Status::IoError("direct_io is 'on' but cannot be used in " + options_.dir + ": " + reason);
  }
  direct_io_reason_ = reason;
  return Status::Ok();
}

// Opens the newest segment at the resume point, or creates the first one.
Status WalWriter::OpenTail() {
  const ResumePoint& r = options_.resume;
  segment_number_ = r.segment;
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
    if (s.ok()) segments_created_.fetch_add(1, std::memory_order_relaxed);
  } else {
    s = OpenFile(JoinPath(options_.dir, SegmentFileName(r.segment)), O_RDWR, mode_.direct, &fd);
  }
  if (!s.ok()) return s;
  return SegmentAppender::Open(fd, JoinPath(options_.dir, SegmentFileName(segment_number_)), size, offset, mode_,
                               &buffer_, &faults_, &appender_);
}

WalWriter::AppendResult WalWriter::Append(uint32_t producer_id, uint64_t ticket, const uint8_t* const* datas,
                                          const uint32_t* lengths, size_t count) {
  // Paired with Close: either Close sees this appender in flight and waits for it, or this
  // appender sees closing_ and refuses.
  appenders_.fetch_add(1, std::memory_order_seq_cst);
  AppendResult result = AppendResult::kOk;
  if (closing_.load(std::memory_order_seq_cst)) {
    result = AppendResult::kClosed;
  } else {
    for (size_t i = 0; i < count; i++) {
      if (lengths[i] > max_payload_) result = AppendResult::kTooLarge;
    }
  }
  if (result == AppendResult::kOk) {
    switch (ring_->Push(producer_id, ticket, datas, lengths, count)) {
      case RingBuffer::PushResult::kOk: break;
      case RingBuffer::PushResult::kFull: result = AppendResult::kFull; break;
      case RingBuffer::PushResult::kTooLarge: result = AppendResult::kTooLarge; break;
    }
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
    if (thread_.joinable()) thread_.join();
    appender_.reset();
    closed_ = true;
  }
  std::lock_guard<std::mutex> failure_lock(failure_mu_);
  return failed_flag_.load(std::memory_order_acquire) ? Status::IoError(failure_message_) : Status::Ok();
}

void WalWriter::Run() {
  Group group;
  for (;;) {
    group.acks.clear();
    group.bytes = group.records = group.payload = 0;
    const uint64_t bytes = ring_->Drain([this, &group](const RingEntry& e) { return Take(e, &group); });
    ring_->Release(bytes);  // Take copied every record it accepted
    if (!group.acks.empty()) {
      Finish(&group);
      continue;
    }
    if (bytes != 0) continue;  // only pads
    // Close waits for every appender before setting stopping_, so nothing more can arrive.
    if (stopping_.load(std::memory_order_acquire) && ring_->UsedBytes() == 0) break;
    ring_->WaitForData(kIdleWait);
  }
}

// Ring visitor: copies one batch into the current group, or returns false to end the group.
bool WalWriter::Take(const RingEntry& e, Group* g) {
  Ack ack;
  ack.producer_id = e.producer_id;
  ack.ticket = e.ticket;
  if (failed_) {
    g->acks.push_back(ack);
    return true;
  }
  const uint64_t footprint = EntryFootprint(e);
  if (!g->acks.empty() && (g->bytes + footprint > options_.max_group_bytes || footprint > appender_->Remaining())) {
    return false;
  }
  ack.first_seq = next_seq_;
  RingRecordIterator it(e);
  const uint8_t* data;
  uint32_t length;
  while (it.Next(&data, &length)) {
    Status s;
    if (RecordFootprint(length) > appender_->Remaining()) s = Roll();
    if (s.ok()) s = appender_->Append(next_seq_, data, length);
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
  g->acks.push_back(ack);
  return true;
}

// Syncs the full segment, then starts the next one at the current sequence number.
Status WalWriter::Roll() {
  uint64_t micros = 0;
  Status s = appender_->Sync(&micros);
  if (!s.ok()) return s;
  RecordSync(micros);
  durable_seq_.store(next_seq_ - 1, std::memory_order_release);
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
  segment_number_ = seg.number;
  segments_created_.fetch_add(1, std::memory_order_relaxed);
  return SegmentAppender::Open(fd, JoinPath(options_.dir, SegmentFileName(seg.number)), seg.segment_size,
                               kSegmentHeaderSize, mode_, &buffer_, &faults_, &appender_);
}

void WalWriter::Finish(Group* g) {
  if (!failed_) {
    uint64_t micros = 0;
    Status s = appender_->Sync(&micros);
    if (s.ok()) {
      RecordSync(micros);
      durable_seq_.store(next_seq_ - 1, std::memory_order_release);
      records_.fetch_add(g->records, std::memory_order_relaxed);
      payload_bytes_.fetch_add(g->payload, std::memory_order_relaxed);
      groups_.fetch_add(1, std::memory_order_relaxed);
    } else {
      Fail(s);
    }
  }
  GroupDone done;
  done.durable_seq = durable_seq_.load(std::memory_order_relaxed);
  if (failed_) {
    done.status = failure_;
    for (Ack& a : g->acks) a.first_seq = a.last_seq = 0;
  }
  done.acks = std::move(g->acks);
  g->acks = std::vector<Ack>();
  if (options_.on_group) options_.on_group(done);
}

void WalWriter::Fail(const Status& status) {
  if (failed_) return;
  failed_ = true;
  failure_ = status;
  std::lock_guard<std::mutex> lock(failure_mu_);
  failure_message_ = status.message();
  failed_flag_.store(true, std::memory_order_release);
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
  st.direct_io_reason = direct_io_reason_;
  std::lock_guard<std::mutex> lock(failure_mu_);
  st.failed = failed_flag_.load(std::memory_order_acquire);
  st.failure = failure_message_;
  return st;
}

}  // namespace wal
}  // namespace tapio
