// A bounded, lock-free, multi-producer single-consumer byte ring that carries batches of records
// from the threads that append them to the WAL writer thread.
//
// Memory layout. The ring is `capacity` bytes (a power of two, 64-byte aligned). Two cursors
// count bytes since creation and never wrap: `head` (reserved by producers) and `tail` (released
// by the consumer); position = cursor & (capacity - 1). Every ENTRY starts at a multiple of 8:
//
//   entry header (24 bytes)
//     0  u32 committed length word: the entry's total size in bytes (a multiple of 8), written
//            last, with release ordering; zero while the producer is still copying
//     4  u32 record count
//     8  u32 producer id
//     12 u32 reserved (zero)
//     16 u64 ticket (the producer's own number for the batch)
//   then per record: u32 length, the payload, zero padding to the next multiple of 8
//
// An entry never wraps. When it does not fit before the physical end, the producer reserves the
// remainder as a PAD (only its length word is written, with kPadFlag set) plus the entry at
// offset 0, with one CAS, so the consumer sees them in order. The consumer zeroes what it
// releases, so a length word it reads is either zero (not committed yet) or the current lap's.
//
// Threads: Push, WaitForSpace, ReleaseCount, UsedBytes and Capacity may be called from any
// thread. Drain, Release and WaitForData belong to ONE consumer thread. NotifyConsumer may be
// called from any thread.
#ifndef TAPIO_CORE_RING_BUFFER_H_
#define TAPIO_CORE_RING_BUFFER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "core/limits.h"
#include "core/status.h"

namespace tapio {

// One committed entry as the consumer sees it. `records` points into the ring and is valid
// until the consumer releases the entry.
struct RingEntry {
  uint32_t producer_id = 0;
  uint64_t ticket = 0;
  uint32_t record_count = 0;
  const uint8_t* records = nullptr;  // the first record's u32 length
  uint32_t records_bytes = 0;        // bytes from `records` to the end of the entry
};

// Walks the records of one RingEntry: while (it.Next(&data, &length)) ...
class RingRecordIterator {
 public:
  explicit RingRecordIterator(const RingEntry& entry) : pos_(entry.records), left_(entry.record_count) {}
  bool Next(const uint8_t** data, uint32_t* length);

 private:
  const uint8_t* pos_;
  uint32_t left_;
};

class RingBuffer {
 public:
  enum class PushResult {
    kOk,        // reserved, copied and committed
    kFull,      // not enough free space now; nothing was written
    kTooLarge,  // larger than capacity / 2: can never fit
  };

  static constexpr size_t kEntryHeaderSize = kRingEntryHeaderSize;
  static constexpr uint32_t kPadFlag = 0x80000000u;
  // Sizes and pads must fit the length word beside kPadFlag.
  static_assert(kMaxRingCapacity < kPadFlag, "ring sizes must fit the length word");

  // capacity: a power of two in [kMinRingCapacity, kMaxRingCapacity] (core/limits.h), else
  // kRingCapacity; kOutOfMemory when the memory cannot be mapped.
  static Status Create(uint64_t capacity, std::unique_ptr<RingBuffer>* out);
  ~RingBuffer();
  RingBuffer(const RingBuffer&) = delete;
  RingBuffer& operator=(const RingBuffer&) = delete;

  // Bytes one entry of these record lengths takes in the ring (header and padding included).
  static uint64_t EntrySize(const uint32_t* lengths, size_t count);

  // Any thread. Copies `count` records (datas[i], lengths[i]) as one entry. Never blocks.
  // Wakes the consumer when it sleeps in WaitForData, unless `wake` is false (a producer that
  // pushes several entries in a row wakes it once, with NotifyIfSleeping, after the last).
  PushResult Push(uint32_t producer_id, uint64_t ticket, const uint8_t* const* datas, const uint32_t* lengths,
                  size_t count, bool wake = true);
  // Any thread. Wakes the consumer if it sleeps in WaitForData.
  void NotifyIfSleeping();

  // Consumer thread. Calls visit(const RingEntry&) -> bool for each committed entry from the
  // tail in reservation order; stops at the first entry not committed yet, at the end of what
  // was reserved, or when visit returns false (that entry is not counted). Returns the bytes to
  // pass to Release (pads included). Nothing is released, so calling Drain again without
  // Release visits the same entries.
  template <typename Visitor>
  uint64_t Drain(Visitor&& visit);

  // Consumer thread. Zeroes `bytes` from the tail and gives them back to producers.
  void Release(uint64_t bytes);

  // Consumer thread. Returns true once a committed entry (or a pad) is at the tail, or false
  // after `timeout` or when NotifyConsumer was called with nothing committed.
  bool WaitForData(std::chrono::microseconds timeout);

  // Any thread. Wakes the consumer from WaitForData (for shutdown).
  void NotifyConsumer();

  // Any thread. Waits until an entry of `entry_bytes` (EntrySize) could be reserved at the
  // current head, or until `timeout`. A hint: another producer may take the space first.
  bool WaitForSpace(uint64_t entry_bytes, std::chrono::microseconds timeout);

  // Consumer thread, before producers start: called after every Release (for example to wake
  // producers of another runtime that cannot block in WaitForSpace).
  void SetReleaseHook(std::function<void()> hook) { release_hook_ = std::move(hook); }

  // Any thread. Makes the kernel map bytes [offset, offset + bytes) of the ring (offsets into
  // the memory, not cursors) before producers first touch them: a first touch takes a page
  // fault, which is expensive in a virtual machine (milliseconds for a 2 MiB huge page when the
  // host backs the memory lazily), and would be paid by a producer, often the event loop's
  // thread. It writes to one word of each page with an atomic compare-and-swap of zero for zero,
  // which changes no byte whatever a producer or the consumer does there at the same time, so it
  // may run while the ring is in use.
  //
  // Why a write rather than madvise(MADV_POPULATE_WRITE) or MAP_POPULATE: those fault the pages
  // in while holding the process's mmap lock for reading, for the whole call, and every mmap,
  // munmap or mprotect of any thread (V8 growing its heap or flipping code pages on the event
  // loop) waits behind it, up to the whole population time. A fault taken by a plain write holds
  // only the ring's own mapping (the kernel's per-VMA lock), which nothing else in the process
  // needs. Returns the number of pages written to.
  uint64_t Prefault(uint64_t offset, uint64_t bytes);

  // Number of Release calls so far; producers may poll it to learn that space was freed.
  uint64_t ReleaseCount() const { return releases_.load(std::memory_order_acquire); }
  uint64_t UsedBytes() const;
  uint64_t Capacity() const { return capacity_; }

 private:
  explicit RingBuffer(uint64_t capacity, uint8_t* data);

  // Reads the committed length word at a cursor; 0 when nothing is committed there.
  uint32_t LoadWord(uint64_t cursor) const;
  // Decodes the committed (not pad) entry of `size` bytes at `cursor`.
  RingEntry EntryAt(uint64_t cursor, uint64_t size) const;
  bool CommittedAtTail() const;
  // Space needed to place `entry_bytes` at `head` (the pad before it included).
  uint64_t NeededAt(uint64_t head, uint64_t entry_bytes) const;

  const uint64_t capacity_;
  const uint64_t mask_;
  uint8_t* const data_;

  alignas(64) std::atomic<uint64_t> head_{0};
  alignas(64) std::atomic<uint64_t> tail_{0};
  alignas(64) std::atomic<uint64_t> releases_{0};
  std::atomic<bool> consumer_sleeping_{false};
  std::atomic<bool> consumer_kicked_{false};
  std::atomic<uint32_t> space_waiters_{0};

  std::mutex data_mu_;
  std::condition_variable data_cv_;
  std::mutex space_mu_;
  std::condition_variable space_cv_;
  std::function<void()> release_hook_;
};

template <typename Visitor>
uint64_t RingBuffer::Drain(Visitor&& visit) {
  const uint64_t start = tail_.load(std::memory_order_relaxed);  // only this thread moves it
  const uint64_t head = head_.load(std::memory_order_acquire);
  uint64_t pos = start;
  while (pos < head) {
    const uint32_t word = LoadWord(pos);
    if (word == 0) break;  // reserved but not committed yet: keep reservation order
    const uint64_t size = word & ~kPadFlag;
    if ((word & kPadFlag) == 0 && !visit(EntryAt(pos, size))) break;
    pos += size;
  }
  return pos - start;
}

}  // namespace tapio

#endif  // TAPIO_CORE_RING_BUFFER_H_
