#include "core/ring_buffer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

namespace tapio {
namespace {

constexpr uint64_t Align8(uint64_t n) { return (n + 7) & ~uint64_t{7}; }

// Length words live in plain memory shared with producers; the GCC/Clang builtins give them
// atomic access without placing std::atomic objects inside the byte array.
inline uint32_t AtomicLoad32(const uint8_t* p) {
  return __atomic_load_n(reinterpret_cast<const uint32_t*>(p), __ATOMIC_SEQ_CST);
}
inline void AtomicStore32(uint8_t* p, uint32_t v) {
  __atomic_store_n(reinterpret_cast<uint32_t*>(p), v, __ATOMIC_SEQ_CST);
}

}  // namespace

bool RingRecordIterator::Next(const uint8_t** data, uint32_t* length) {
  if (left_ == 0) return false;
  uint32_t n;
  std::memcpy(&n, pos_, 4);
  *data = pos_ + 4;
  *length = n;
  pos_ += Align8(4 + static_cast<uint64_t>(n));
  left_--;
  return true;
}

Status RingBuffer::Create(uint64_t capacity, std::unique_ptr<RingBuffer>* out) {
  if (capacity < kMinRingCapacity || capacity > kMaxRingCapacity || (capacity & (capacity - 1)) != 0) {
    return Status(Reason::kRingCapacity).With("capacity", capacity);
  }
  // Anonymous pages are zero ("not committed" everywhere), page-aligned, and only touched when
  // first used, so a large ring costs nothing up front.
  void* mem = mmap(nullptr, static_cast<size_t>(capacity), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    return Status(Reason::kOutOfMemory).With("what", "ring").With("bytes", capacity);
  }
#if defined(MADV_HUGEPAGE)
  // Producers copy every record into the ring; with 4 KiB pages the first lap takes a page
  // fault per page (expensive in virtual machines). Huge pages take 512 times fewer. Advice only.
  if (capacity >= (4u << 20)) madvise(mem, static_cast<size_t>(capacity), MADV_HUGEPAGE);
#endif
  RingBuffer* ring = new (std::nothrow) RingBuffer(capacity, static_cast<uint8_t*>(mem));
  if (ring == nullptr) {
    munmap(mem, static_cast<size_t>(capacity));
    return Status(Reason::kOutOfMemory).With("what", "ring").With("bytes", capacity);
  }
  // The first fault in a new mapping sets up its bookkeeping under the process's mmap lock;
  // take it here, on the creating thread, so later faults (Prefault's or a producer's) need
  // only the mapping's own lock. Producers start at the front, so this page is used first.
  ring->Prefault(0, 1);
  out->reset(ring);
  return Status::Ok();
}

RingBuffer::RingBuffer(uint64_t capacity, uint8_t* data) : capacity_(capacity), mask_(capacity - 1), data_(data) {}

RingBuffer::~RingBuffer() { munmap(data_, static_cast<size_t>(capacity_)); }

uint64_t RingBuffer::EntrySize(const uint32_t* lengths, size_t count) {
  uint64_t size = kEntryHeaderSize;
  for (size_t i = 0; i < count; i++) size += Align8(4 + static_cast<uint64_t>(lengths[i]));
  return size;
}

uint64_t RingBuffer::NeededAt(uint64_t head, uint64_t entry_bytes) const {
  const uint64_t to_end = capacity_ - (head & mask_);
  return entry_bytes <= to_end ? entry_bytes : to_end + entry_bytes;
}

uint32_t RingBuffer::LoadWord(uint64_t cursor) const { return AtomicLoad32(data_ + (cursor & mask_)); }

RingEntry RingBuffer::EntryAt(uint64_t cursor, uint64_t size) const {
  const uint8_t* p = data_ + (cursor & mask_);
  RingEntry e;
  std::memcpy(&e.record_count, p + 4, 4);
  std::memcpy(&e.producer_id, p + 8, 4);
  std::memcpy(&e.ticket, p + 16, 8);
  e.records = p + kEntryHeaderSize;
  e.records_bytes = static_cast<uint32_t>(size - kEntryHeaderSize);
  return e;
}

RingBuffer::PushResult RingBuffer::Push(uint32_t producer_id, uint64_t ticket, const uint8_t* const* datas,
                                        const uint32_t* lengths, size_t count, bool wake) {
  const uint64_t size = EntrySize(lengths, count);
  if (size > capacity_ / 2 || count > UINT32_MAX) return PushResult::kTooLarge;

  uint64_t head = head_.load(std::memory_order_relaxed);
  uint64_t needed = 0;
  for (;;) {
    // Acquire: the consumer zeroed what it released before moving the tail.
    const uint64_t tail = tail_.load(std::memory_order_acquire);
    if (tail > head) {  // our head is older than the tail we just read
      head = head_.load(std::memory_order_relaxed);
      continue;
    }
    needed = NeededAt(head, size);
    if (head - tail + needed > capacity_) {
      const uint64_t now = head_.load(std::memory_order_relaxed);
      if (now == head) return PushResult::kFull;
      head = now;
      continue;
    }
    if (head_.compare_exchange_weak(head, head + needed, std::memory_order_relaxed)) break;
  }

  uint64_t pos = head;
  if (needed != size) {  // the remainder up to the physical end becomes a pad
    const uint64_t pad = needed - size;
    AtomicStore32(data_ + (pos & mask_), static_cast<uint32_t>(pad) | kPadFlag);
    pos += pad;
  }
  uint8_t* p = data_ + (pos & mask_);
  const uint32_t record_count = static_cast<uint32_t>(count);
  std::memcpy(p + 4, &record_count, 4);
  std::memcpy(p + 8, &producer_id, 4);
  std::memcpy(p + 16, &ticket, 8);
  uint8_t* r = p + kEntryHeaderSize;
  for (size_t i = 0; i < count; i++) {
    std::memcpy(r, &lengths[i], 4);
    if (lengths[i] != 0) std::memcpy(r + 4, datas[i], lengths[i]);
    r += Align8(4 + static_cast<uint64_t>(lengths[i]));  // the padding is already zero
  }
  AtomicStore32(p, static_cast<uint32_t>(size));  // publish
  if (wake) NotifyIfSleeping();
  return PushResult::kOk;
}

void RingBuffer::NotifyIfSleeping() {
  // Paired with WaitForData: the commit store and this load are both sequentially consistent,
  // so either the consumer sees the commit or we see it sleeping.
  if (consumer_sleeping_.load(std::memory_order_seq_cst)) {
    { std::lock_guard<std::mutex> lock(data_mu_); }
    data_cv_.notify_one();
  }
}

void RingBuffer::NotifyConsumer() {
  consumer_kicked_.store(true, std::memory_order_seq_cst);
  { std::lock_guard<std::mutex> lock(data_mu_); }
  data_cv_.notify_one();
}

bool RingBuffer::CommittedAtTail() const { return LoadWord(tail_.load(std::memory_order_relaxed)) != 0; }

bool RingBuffer::WaitForData(std::chrono::microseconds timeout) {
  if (CommittedAtTail()) return true;
  std::unique_lock<std::mutex> lock(data_mu_);
  consumer_sleeping_.store(true, std::memory_order_seq_cst);
  data_cv_.wait_for(lock, timeout, [this] {
    return CommittedAtTail() || consumer_kicked_.exchange(false, std::memory_order_seq_cst);
  });
  consumer_sleeping_.store(false, std::memory_order_relaxed);
  return CommittedAtTail();
}

void RingBuffer::Release(uint64_t bytes) {
  if (bytes == 0) return;
  const uint64_t tail = tail_.load(std::memory_order_relaxed);
  const uint64_t at = tail & mask_;
  const uint64_t first = bytes < capacity_ - at ? bytes : capacity_ - at;
  std::memset(data_ + at, 0, static_cast<size_t>(first));
  if (bytes > first) std::memset(data_, 0, static_cast<size_t>(bytes - first));
  tail_.store(tail + bytes, std::memory_order_seq_cst);
  releases_.fetch_add(1, std::memory_order_release);
  if (space_waiters_.load(std::memory_order_seq_cst) != 0) {
    { std::lock_guard<std::mutex> lock(space_mu_); }
    space_cv_.notify_all();
  }
  if (release_hook_) release_hook_();
}

bool RingBuffer::WaitForSpace(uint64_t entry_bytes, std::chrono::microseconds timeout) {
  if (entry_bytes > capacity_ / 2) return false;
  auto fits = [this, entry_bytes] {
    const uint64_t tail = tail_.load(std::memory_order_seq_cst);
    const uint64_t head = head_.load(std::memory_order_seq_cst);
    return head - tail + NeededAt(head, entry_bytes) <= capacity_;
  };
  if (fits()) return true;
  std::unique_lock<std::mutex> lock(space_mu_);
  space_waiters_.fetch_add(1, std::memory_order_seq_cst);
  const bool ok = space_cv_.wait_for(lock, timeout, fits);
  space_waiters_.fetch_sub(1, std::memory_order_relaxed);
  return ok;
}

uint64_t RingBuffer::Prefault(uint64_t offset, uint64_t bytes) {
  if (offset >= capacity_) return 0;
  if (bytes > capacity_ - offset) bytes = capacity_ - offset;
  const long page_size = sysconf(_SC_PAGESIZE);
  const uint64_t page = page_size > 0 ? static_cast<uint64_t>(page_size) : 4096;
  uint64_t pages = 0;
  // From the first page boundary at or after `offset`; the ring starts on one.
  for (uint64_t at = (offset + page - 1) & ~(page - 1); at < offset + bytes; at += page) {
    uint64_t expected = 0;
    // A strong CAS writes (x86 writes back even when it fails; elsewhere a mismatch means a
    // producer already wrote the page, so it is mapped). Either way no byte changes.
    __atomic_compare_exchange_n(reinterpret_cast<uint64_t*>(data_ + at), &expected, uint64_t{0}, false,
                                __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    pages++;
  }
  return pages;
}

uint64_t RingBuffer::UsedBytes() const {
  const uint64_t tail = tail_.load(std::memory_order_acquire);
  const uint64_t head = head_.load(std::memory_order_acquire);
  return head - tail;
}

}  // namespace tapio
