#include "core/ring_buffer.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test/harness.h"

namespace tapio {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// The bytes of record `index` of (producer, ticket): a consumer can check any entry on its own.
std::vector<uint8_t> Payload(uint32_t producer, uint64_t ticket, uint32_t index, uint32_t length) {
  std::vector<uint8_t> out(length);
  const uint64_t seed = Mix((uint64_t{producer} << 48) ^ (ticket << 8) ^ index);
  for (uint32_t i = 0; i < length; i++) out[i] = static_cast<uint8_t>((seed >> ((i & 7) * 8)) + i * 31);
  return out;
}

struct Batch {
  std::vector<std::vector<uint8_t>> records;
  std::vector<const uint8_t*> datas;
  std::vector<uint32_t> lengths;
  void Finish() {
    datas.clear();
    lengths.clear();
    for (auto& r : records) {
      datas.push_back(r.data());
      lengths.push_back(static_cast<uint32_t>(r.size()));
    }
  }
};

Batch MakeBatch(uint32_t producer, uint64_t ticket, const std::vector<uint32_t>& lengths) {
  Batch b;
  for (size_t i = 0; i < lengths.size(); i++) {
    b.records.push_back(Payload(producer, ticket, static_cast<uint32_t>(i), lengths[i]));
  }
  b.Finish();
  return b;
}

RingBuffer::PushResult PushBatch(RingBuffer* ring, uint32_t producer, uint64_t ticket, const Batch& b) {
  return ring->Push(producer, ticket, b.datas.data(), b.lengths.data(), b.lengths.size());
}

// True when every record of `e` holds what Payload() derives from its producer and ticket.
bool EntryMatches(const RingEntry& e, const std::vector<uint32_t>* want_lengths, std::string* why) {
  RingRecordIterator it(e);
  const uint8_t* data;
  uint32_t length;
  uint32_t index = 0;
  while (it.Next(&data, &length)) {
    if (want_lengths != nullptr && (index >= want_lengths->size() || (*want_lengths)[index] != length)) {
      *why = "record " + std::to_string(index) + " has length " + std::to_string(length);
      return false;
    }
    const std::vector<uint8_t> want = Payload(e.producer_id, e.ticket, index, length);
    if (length != 0 && std::memcmp(want.data(), data, length) != 0) {
      *why = "record " + std::to_string(index) + " bytes differ";
      return false;
    }
    index++;
  }
  if (want_lengths != nullptr && index != want_lengths->size()) {
    *why = "entry has " + std::to_string(index) + " records";
    return false;
  }
  return true;
}

std::unique_ptr<RingBuffer> NewRing(uint64_t capacity) {
  std::unique_ptr<RingBuffer> ring;
  Status s = RingBuffer::Create(capacity, &ring);
  if (!s.ok()) std::printf("RingBuffer::Create: %s\n", s.ToString().c_str());
  return ring;
}

// Record lengths giving an entry of exactly `size` bytes (size >= 24, a multiple of 8).
std::vector<uint32_t> LengthsForSize(uint64_t size) {
  if (size == RingBuffer::kEntryHeaderSize) return {};
  return {static_cast<uint32_t>(size - RingBuffer::kEntryHeaderSize - 4)};
}

// Drains and releases everything committed; returns the number of entries seen.
size_t DrainAll(RingBuffer* ring) {
  size_t n = 0;
  const uint64_t bytes = ring->Drain([&n](const RingEntry&) {
    n++;
    return true;
  });
  ring->Release(bytes);
  return n;
}

// Moves the head of an empty, fresh ring to position `offset` with filler entries.
bool AdvanceTo(RingBuffer* ring, uint64_t offset) {
  const uint64_t half = ring->Capacity() / 2;
  uint64_t left = offset;
  while (left > 0) {
    uint64_t piece = left < half ? left : half;
    if (left - piece > 0 && left - piece < RingBuffer::kEntryHeaderSize) piece = left - RingBuffer::kEntryHeaderSize;
    Batch filler = MakeBatch(99, 0, LengthsForSize(piece));
    if (PushBatch(ring, 99, 0, filler) != RingBuffer::PushResult::kOk) return false;
    DrainAll(ring);
    left -= piece;
  }
  return ring->UsedBytes() == 0;
}

TEST(RingBuffer, CreateRejectsBadCapacity) {
  std::unique_ptr<RingBuffer> ring;
  EXPECT_EQ(StatusCode::kInvalidArgument, RingBuffer::Create(5000, &ring).code());
  EXPECT_EQ(StatusCode::kInvalidArgument, RingBuffer::Create(1024, &ring).code());
  EXPECT_EQ(StatusCode::kInvalidArgument, RingBuffer::Create(1ull << 32, &ring).code());
  // The largest ring both paths take (limits.h); twice that is refused, naming the capacity.
  Status big = RingBuffer::Create(kMaxRingCapacity * 2, &ring);
  EXPECT_EQ("ring-capacity {capacity: " + std::to_string(kMaxRingCapacity * 2) + "}", big.ToString());
  EXPECT_TRUE(RingBuffer::Create(1 << 16, &ring).ok());
  EXPECT_EQ(uint64_t{1 << 16}, ring->Capacity());
}

TEST(RingBuffer, EntrySizeCountsHeaderLengthsAndPadding) {
  const uint32_t lengths[] = {0, 1, 4, 5, 12};
  // 24 + 8 (0) + 8 (1) + 8 (4) + 16 (5) + 16 (12)
  EXPECT_EQ(uint64_t{80}, RingBuffer::EntrySize(lengths, 5));
  EXPECT_EQ(uint64_t{24}, RingBuffer::EntrySize(nullptr, 0));
}

TEST(RingBuffer, SingleThreadPushDrainKeepsOrderAndBytes) {
  auto ring = NewRing(1 << 16);
  ASSERT_TRUE(ring != nullptr);
  std::vector<std::vector<uint32_t>> shapes = {{0}, {1, 2, 3}, {100}, {}, {7, 0, 4096}};
  for (size_t t = 0; t < shapes.size(); t++) {
    Batch b = MakeBatch(3, t + 10, shapes[t]);
    ASSERT_EQ(RingBuffer::PushResult::kOk, PushBatch(ring.get(), 3, t + 10, b));
  }
  uint64_t expected_used = 0;
  for (auto& s : shapes) expected_used += RingBuffer::EntrySize(s.data(), s.size());
  EXPECT_EQ(expected_used, ring->UsedBytes());

  size_t seen = 0;
  std::string why;
  const uint64_t bytes = ring->Drain([&](const RingEntry& e) {
    EXPECT_EQ(3u, e.producer_id);
    EXPECT_EQ(seen + 10, e.ticket);
    EXPECT_TRUE(EntryMatches(e, &shapes[seen], &why)) << why;
    seen++;
    return true;
  });
  EXPECT_EQ(shapes.size(), seen);
  EXPECT_EQ(expected_used, bytes);
  // Not released yet: a second drain sees the same entries.
  EXPECT_EQ(shapes.size(), DrainAll(ring.get()));
  EXPECT_EQ(uint64_t{0}, ring->UsedBytes());
  EXPECT_EQ(size_t{0}, DrainAll(ring.get()));
}

TEST(RingBuffer, VisitorCanStopBeforeAnEntry) {
  auto ring = NewRing(4096);
  ASSERT_TRUE(ring != nullptr);
  for (uint64_t t = 0; t < 3; t++) {
    Batch b = MakeBatch(1, t, {16});
    ASSERT_EQ(RingBuffer::PushResult::kOk, PushBatch(ring.get(), 1, t, b));
  }
  const uint64_t one = ring->Drain([](const RingEntry& e) { return e.ticket < 1; });
  EXPECT_EQ(uint64_t{48}, one);
  ring->Release(one);
  uint64_t first_ticket = 99;
  ring->Drain([&](const RingEntry& e) {
    first_ticket = e.ticket;
    return false;
  });
  EXPECT_EQ(uint64_t{1}, first_ticket);
}

// Every head position an entry can start at (0 and 24..capacity-8), every entry size class:
// the entry comes back intact, and a pad is placed exactly when it would cross the end.
TEST(RingBuffer, WrapAroundWithPaddingAtEveryOffset) {
  const uint64_t capacity = 4096;
  const uint64_t sizes[] = {24, 32, 40, 64, 128, 1000, 2048};
  for (uint64_t offset = 0; offset < capacity; offset += 8) {
    if (offset == 8 || offset == 16) continue;  // no entry can end there
    for (uint64_t size : sizes) {
      auto ring = NewRing(capacity);
      ASSERT_TRUE(ring != nullptr);
      ASSERT_TRUE(AdvanceTo(ring.get(), offset)) << "offset " << offset;
      std::vector<uint32_t> lengths = LengthsForSize(size);
      Batch b = MakeBatch(7, offset * 10 + size, lengths);
      ASSERT_EQ(RingBuffer::PushResult::kOk, PushBatch(ring.get(), 7, offset * 10 + size, b));
      const uint64_t expected = capacity - offset >= size ? size : capacity - offset + size;
      EXPECT_EQ(expected, ring->UsedBytes()) << "offset " << offset << " size " << size;
      // A second entry right after (when it fits), so entries after a pad are seen too.
      Batch b2 = MakeBatch(8, 1, {3});  // 32 bytes
      const uint64_t at = (offset + expected) % capacity;
      const uint64_t needed2 = capacity - at >= 32 ? 32 : capacity - at + 32;
      const bool second = expected + needed2 <= capacity;
      ASSERT_EQ(second ? RingBuffer::PushResult::kOk : RingBuffer::PushResult::kFull, PushBatch(ring.get(), 8, 1, b2))
          << "offset " << offset << " size " << size;
      std::vector<uint64_t> tickets;
      std::string why;
      const uint64_t bytes = ring->Drain([&](const RingEntry& e) {
        tickets.push_back(e.ticket);
        EXPECT_TRUE(EntryMatches(e, nullptr, &why)) << why << " at offset " << offset;
        return true;
      });
      ASSERT_EQ(second ? size_t{2} : size_t{1}, tickets.size()) << "offset " << offset << " size " << size;
      EXPECT_EQ(offset * 10 + size, tickets[0]);
      if (second) EXPECT_EQ(uint64_t{1}, tickets[1]);
      EXPECT_EQ(ring->UsedBytes(), bytes);
      ring->Release(bytes);
      EXPECT_EQ(uint64_t{0}, ring->UsedBytes());
    }
  }
}

TEST(RingBuffer, FullAndTooLarge) {
  const uint64_t capacity = 4096;
  auto ring = NewRing(capacity);
  ASSERT_TRUE(ring != nullptr);
  Batch half = MakeBatch(1, 0, LengthsForSize(capacity / 2));
  Batch over = MakeBatch(1, 0, LengthsForSize(capacity / 2 + 8));
  EXPECT_EQ(RingBuffer::PushResult::kTooLarge, PushBatch(ring.get(), 1, 0, over));
  EXPECT_EQ(uint64_t{0}, ring->UsedBytes());

  Batch small = MakeBatch(1, 1, {100});  // 24 + 104 = 128 bytes
  int pushed = 0;
  while (PushBatch(ring.get(), 1, pushed, small) == RingBuffer::PushResult::kOk) pushed++;
  EXPECT_EQ(32, pushed);
  EXPECT_EQ(capacity, ring->UsedBytes());
  const uint64_t releases = ring->ReleaseCount();
  // Free one entry: the next push fits again, a bigger one does not.
  const uint64_t one = ring->Drain([](const RingEntry&) { return false; });
  EXPECT_EQ(uint64_t{0}, one);
  uint64_t first = ring->Drain([&](const RingEntry& e) { return e.ticket == 0; });
  ring->Release(first);
  EXPECT_EQ(releases + 1, ring->ReleaseCount());
  EXPECT_EQ(RingBuffer::PushResult::kFull, PushBatch(ring.get(), 1, 99, half));
  EXPECT_EQ(capacity - 128, ring->UsedBytes());
  EXPECT_EQ(RingBuffer::PushResult::kOk, PushBatch(ring.get(), 1, 100, small));
  EXPECT_EQ(capacity, ring->UsedBytes());
}

TEST(RingBuffer, WaitForDataTimesOutAndWakes) {
  auto ring = NewRing(4096);
  ASSERT_TRUE(ring != nullptr);
  EXPECT_FALSE(ring->WaitForData(microseconds(2000)));
  std::thread producer([&ring] {
    std::this_thread::sleep_for(milliseconds(20));
    Batch b = MakeBatch(1, 1, {8});
    PushBatch(ring.get(), 1, 1, b);
  });
  EXPECT_TRUE(ring->WaitForData(std::chrono::seconds(10)));
  producer.join();
  std::thread kicker([&ring] {
    std::this_thread::sleep_for(milliseconds(20));
    ring->NotifyConsumer();
  });
  DrainAll(ring.get());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(ring->WaitForData(std::chrono::seconds(10)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  kicker.join();
}

TEST(RingBuffer, WaitForSpaceWakesOnRelease) {
  auto ring = NewRing(4096);
  ASSERT_TRUE(ring != nullptr);
  int hook_calls = 0;
  ring->SetReleaseHook([&hook_calls] { hook_calls++; });
  Batch big = MakeBatch(1, 0, LengthsForSize(2048));
  ASSERT_EQ(RingBuffer::PushResult::kOk, PushBatch(ring.get(), 1, 0, big));
  ASSERT_EQ(RingBuffer::PushResult::kOk, PushBatch(ring.get(), 1, 1, big));
  EXPECT_EQ(RingBuffer::PushResult::kFull, PushBatch(ring.get(), 1, 2, big));
  EXPECT_FALSE(ring->WaitForSpace(2048, microseconds(1000)));
  std::atomic<bool> woke{false};
  std::thread waiter([&] { woke = ring->WaitForSpace(2048, std::chrono::seconds(10)); });
  std::this_thread::sleep_for(milliseconds(20));
  ring->Release(ring->Drain([](const RingEntry& e) { return e.ticket == 0; }));
  waiter.join();
  EXPECT_TRUE(woke.load());
  EXPECT_EQ(1, hook_calls);
  EXPECT_EQ(RingBuffer::PushResult::kOk, PushBatch(ring.get(), 1, 2, big));
}

// Producers push entries of random shapes; one consumer checks every entry's bytes, that each
// (producer, ticket) arrives exactly once, and that each producer's tickets arrive in order.
TEST(RingBuffer, MultiProducerStress) {
  const int kProducers = 4;
  uint64_t per_producer = 200000;
  if (const char* scale = std::getenv("TAPIO_STRESS_ENTRIES")) per_producer = std::strtoull(scale, nullptr, 10);
  auto ring = NewRing(1 << 16);
  ASSERT_TRUE(ring != nullptr);

  std::atomic<int> done{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; p++) {
    producers.emplace_back([&, p] {
      std::mt19937_64 rng(p + 1);
      for (uint64_t t = 0; t < per_producer; t++) {
        std::vector<uint32_t> lengths(1 + rng() % 4);
        for (auto& l : lengths) l = static_cast<uint32_t>(rng() % 5 == 0 ? rng() % 3000 : rng() % 64);
        Batch b = MakeBatch(static_cast<uint32_t>(p), t, lengths);
        const uint64_t size = RingBuffer::EntrySize(b.lengths.data(), b.lengths.size());
        while (PushBatch(ring.get(), static_cast<uint32_t>(p), t, b) == RingBuffer::PushResult::kFull) {
          ring->WaitForSpace(size, milliseconds(5));
        }
      }
      done.fetch_add(1);
    });
  }

  std::vector<uint64_t> next(kProducers, 0);
  uint64_t bad = 0;
  uint64_t total = 0;
  std::string why;
  for (;;) {
    const uint64_t bytes = ring->Drain([&](const RingEntry& e) {
      total++;
      if (e.producer_id >= static_cast<uint32_t>(kProducers) || e.ticket != next[e.producer_id]) {
        if (bad++ < 5) ADD_FAILURE() << "producer " << e.producer_id << " ticket " << e.ticket;
      } else {
        next[e.producer_id]++;
      }
      if (!EntryMatches(e, nullptr, &why) && bad++ < 5) ADD_FAILURE() << why;
      return true;
    });
    ring->Release(bytes);
    if (bytes == 0) {
      if (done.load() == kProducers && ring->UsedBytes() == 0) break;
      ring->WaitForData(milliseconds(10));
    }
  }
  for (auto& t : producers) t.join();
  EXPECT_EQ(uint64_t{0}, bad);
  EXPECT_EQ(per_producer * kProducers, total);
  for (int p = 0; p < kProducers; p++) EXPECT_EQ(per_producer, next[p]) << "producer " << p;
}

// Prefault writes into the ring while producers and the consumer use it (the WAL writer's warm
// thread does exactly that on the first lap): every entry must still arrive with its bytes, and
// afterwards every page of the ring is mapped.
TEST(RingBuffer, PrefaultWhileInUseChangesNoByte) {
  const uint64_t kCapacity = 1 << 20;
  auto ring = NewRing(kCapacity);
  ASSERT_TRUE(ring != nullptr);
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const int kProducers = 2;
  const uint64_t per_producer = 20000;
  std::atomic<int> done{0};
  std::atomic<bool> stop_warming{false};
  std::atomic<uint64_t> passes{0};
  std::thread warm([&] {
    // Whole passes and odd-sized pieces, over and over, until the producers are done.
    while (!stop_warming.load()) {
      EXPECT_EQ(kCapacity / page, ring->Prefault(0, kCapacity));
      for (uint64_t at = 0; at < kCapacity; at += 3 * page + 8) ring->Prefault(at, 5 * page);
      passes.fetch_add(1);
    }
  });
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; p++) {
    producers.emplace_back([&, p] {
      std::mt19937_64 rng(p + 11);
      for (uint64_t t = 0; t < per_producer; t++) {
        std::vector<uint32_t> lengths(1 + rng() % 4);
        for (auto& l : lengths) l = static_cast<uint32_t>(rng() % 7 == 0 ? rng() % 9000 : rng() % 64);
        Batch b = MakeBatch(static_cast<uint32_t>(p), t, lengths);
        const uint64_t size = RingBuffer::EntrySize(b.lengths.data(), b.lengths.size());
        while (PushBatch(ring.get(), static_cast<uint32_t>(p), t, b) == RingBuffer::PushResult::kFull) {
          ring->WaitForSpace(size, milliseconds(5));
        }
      }
      done.fetch_add(1);
    });
  }
  std::vector<uint64_t> next(kProducers, 0);
  uint64_t bad = 0;
  std::string why;
  for (;;) {
    const uint64_t bytes = ring->Drain([&](const RingEntry& e) {
      if (e.producer_id >= static_cast<uint32_t>(kProducers) || e.ticket != next[e.producer_id]) {
        if (bad++ < 5) ADD_FAILURE() << "producer " << e.producer_id << " ticket " << e.ticket;
      } else {
        next[e.producer_id]++;
      }
      if (!EntryMatches(e, nullptr, &why) && bad++ < 5) ADD_FAILURE() << why;
      return true;
    });
    ring->Release(bytes);
    if (bytes == 0) {
      if (done.load() == kProducers && ring->UsedBytes() == 0) break;
      ring->WaitForData(milliseconds(10));
    }
  }
  for (auto& t : producers) t.join();
  stop_warming.store(true);
  warm.join();
  EXPECT_EQ(uint64_t{0}, bad);
  for (int p = 0; p < kProducers; p++) EXPECT_EQ(per_producer, next[p]) << "producer " << p;
  EXPECT_TRUE(passes.load() >= 1);
  // Nothing committed is left, so every length word the warm passes wrote over is still zero.
  EXPECT_EQ(uint64_t{0}, ring->UsedBytes());
  EXPECT_EQ(uint64_t{0}, ring->Drain([](const RingEntry&) { return true; }));
}

// Prefault counts the pages it wrote to, clips at the end of the ring, and maps them.
TEST(RingBuffer, PrefaultMapsEveryPageOfTheRange) {
  const uint64_t kCapacity = 1 << 20;
  auto ring = NewRing(kCapacity);
  ASSERT_TRUE(ring != nullptr);
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  EXPECT_EQ(uint64_t{0}, ring->Prefault(kCapacity, page));
  EXPECT_EQ(uint64_t{2}, ring->Prefault(kCapacity - 2 * page, 10 * page));
  EXPECT_EQ(uint64_t{1}, ring->Prefault(page + 1, page));  // one page boundary in [page + 1, 2 * page + 1)
  EXPECT_EQ(kCapacity / page, ring->Prefault(0, kCapacity));
}

}  // namespace
}  // namespace tapio
