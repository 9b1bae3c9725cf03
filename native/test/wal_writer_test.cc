#include "core/wal_writer.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/wal_recovery.h"
#include "test/harness.h"
#include "test/wal_test_log.h"
#include "test/wal_test_util.h"

namespace tapio {
namespace wal {
namespace {

using tapio_test::ListDir;
using tapio_test::PayloadFor;
using tapio_test::ReadFileBytes;
using tapio_test::TempDir;

// Collects every GroupDone the writer reports.
class Acks {
 public:
  std::function<void(const GroupDone&)> Callback() {
    return [this](const GroupDone& g) {
      std::lock_guard<std::mutex> lock(mu_);
      groups_.push_back(g);
      for (const Ack& a : g.acks) by_ticket_[{a.producer_id, a.ticket}] = {g.status, a};
      cv_.notify_all();
    };
  }
  bool WaitFor(size_t batches, std::chrono::seconds timeout = std::chrono::seconds(60)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return by_ticket_.size() >= batches; });
  }
  std::vector<GroupDone> groups() {
    std::lock_guard<std::mutex> lock(mu_);
    return groups_;
  }
  bool Get(uint32_t producer, uint64_t ticket, Status* status, Ack* ack) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_ticket_.find({producer, ticket});
    if (it == by_ticket_.end()) return false;
    *status = it->second.first;
    *ack = it->second.second;
    return true;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<GroupDone> groups_;
  std::map<std::pair<uint32_t, uint64_t>, std::pair<Status, Ack>> by_ticket_;
};

// Recovers `dir` and opens a writer on it.
Status OpenWriter(const std::string& dir, WriterOptions options, std::unique_ptr<WalWriter>* out,
                  RecoveryResult* recovered = nullptr) {
  RecoverOptions ro;
  ro.dir = dir;
  RecoveryResult r;
  Status s = Recover(ro, &r);
  if (!s.ok()) return s;
  if (recovered != nullptr) *recovered = r;
  options.dir = dir;
  options.resume = r.resume;
  return WalWriter::Open(std::move(options), out);
}

WalWriter::AppendResult AppendOne(WalWriter* w, uint32_t producer, uint64_t ticket, const std::vector<uint8_t>& p) {
  const uint8_t* data = p.data();
  const uint32_t length = static_cast<uint32_t>(p.size());
  return w->Append(producer, ticket, &data, &length, 1);
}

// Whether WalWriter::BatchFits takes one record of `bytes` bytes.
bool FitsOne(const WalWriter* w, size_t bytes) {
  const uint32_t length = static_cast<uint32_t>(bytes);
  return w->BatchFits(&length, 1);
}

// Runs `body` in a child process; true when the child aborted (SIGABRT), as a failed
// TAPIO_CHECK makes it.
template <typename Body>
bool Aborts(Body body) {
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) {
    body();
    _exit(0);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return false;
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

// Appends, waiting for ring space when it is full.
void AppendWaiting(WalWriter* w, uint32_t producer, uint64_t ticket, const std::vector<std::vector<uint8_t>>& batch) {
  std::vector<const uint8_t*> datas;
  std::vector<uint32_t> lengths;
  for (const auto& p : batch) {
    datas.push_back(p.data());
    lengths.push_back(static_cast<uint32_t>(p.size()));
  }
  while (w->Append(producer, ticket, datas.data(), lengths.data(), batch.size()) == WalWriter::AppendResult::kFull) {
    w->WaitForSpace(lengths.data(), lengths.size(), std::chrono::milliseconds(10));
  }
}

// Every record of the directory, in order.
std::vector<std::pair<uint64_t, std::vector<uint8_t>>> ReadAll(const std::string& dir) {
  return tapio_test::LogRecords(dir);
}

TEST(WalWriter, RoundTripIsByteIdentical) {
  TempDir dir;
  Acks acks;
  WriterOptions o;
  o.segment_size = 1 << 20;
  o.ring_capacity = 1 << 20;
  o.on_group = acks.Callback();
  std::unique_ptr<WalWriter> w;
  ASSERT_TRUE(OpenWriter(dir.path(), o, &w).ok());
  std::map<uint64_t, std::vector<uint8_t>> written;  // key -> payload
  uint64_t key = 0;
  for (uint64_t t = 0; t < 300; t++) {
    std::vector<std::vector<uint8_t>> batch;
    for (uint64_t i = 0; i < 1 + t % 5; i++) {
      batch.push_back(PayloadFor(key, static_cast<uint32_t>(tapio_test::MixBits(key) % 2000)));
      written[key++] = batch.back();
    }
    AppendWaiting(w.get(), 1, t, batch);
  }
  ASSERT_TRUE(acks.WaitFor(300));
  ASSERT_TRUE(w->Close().ok());
  // Sequence numbers follow append order, batch by batch.
  uint64_t next = 1;
  for (uint64_t t = 0; t < 300; t++) {
    Status st;
    Ack a;
    ASSERT_TRUE(acks.Get(1, t, &st, &a));
    EXPECT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(next, a.first_seq) << "ticket " << t;
    EXPECT_EQ(next + t % 5, a.last_seq) << "ticket " << t;
    next = a.last_seq + 1;
  }
  EXPECT_EQ(key, w->durable_seq());
  auto records = ReadAll(dir.path());
  ASSERT_EQ(written.size(), records.size());
  for (size_t i = 0; i < records.size(); i++) {
    EXPECT_EQ(uint64_t{i + 1}, records[i].first);
    EXPECT_TRUE(records[i].second == written[i]) << "seq " << i + 1;
  }
  const WriterStats st = w->Stats();
  EXPECT_EQ(key, st.records);
  uint64_t synced = 0;
  for (uint64_t c : st.sync_histogram) synced += c;
  EXPECT_GE(synced, st.groups);
  EXPECT_FALSE(st.failed);
}

TEST(WalWriter, RollsSegmentsAndResumesTheSequence) {
  TempDir dir;
  const uint64_t kSeg = 1 << 20;
  uint64_t key = 0;
  std::vector<std::vector<uint8_t>> written;
  for (int run = 0; run < 2; run++) {
    Acks acks;
    WriterOptions o;
    o.segment_size = kSeg;
    o.ring_capacity = 1 << 20;
    o.on_group = acks.Callback();
    std::unique_ptr<WalWriter> w;
    RecoveryResult r;
    ASSERT_TRUE(OpenWriter(dir.path(), o, &w, &r).ok());
    EXPECT_EQ(uint64_t{key + 1}, r.resume.next_seq);
    for (int t = 0; t < 800; t++) {  // ~2.4 MB per run: at least two rolls
      written.push_back(PayloadFor(key++, 3000));
      AppendWaiting(w.get(), 0, t, {written.back()});
    }
    ASSERT_TRUE(acks.WaitFor(800));
    ASSERT_TRUE(w->Close().ok());
    EXPECT_GE(w->Stats().segments_created, uint64_t{2});
  }
  RecoveryResult r;
  RecoverOptions ro;
  ro.dir = dir.path();
  ASSERT_TRUE(Recover(ro, &r).ok());
  // Each roll wrote CHECKPOINT for the segment it sealed, so this open scanned the newest only.
  EXPECT_EQ(r.segments.size() - 1, r.sealed_segments);
  const SegmentInfo& sealed = r.segments[r.segments.size() - 2];
  const std::string want = CheckpointContents(r.store_id, sealed.number, sealed.first_seq, sealed.last_seq);
  EXPECT_TRUE(ReadFileBytes(dir.Sub(kCheckpointFileName)) == std::vector<uint8_t>(want.begin(), want.end()));
  // Without it, every segment is scanned: each was rolled only when full.
  ASSERT_EQ(0, unlink(dir.Sub(kCheckpointFileName).c_str()));
  ASSERT_TRUE(Recover(ro, &r).ok());
  EXPECT_EQ(uint64_t{0}, r.sealed_segments);
  EXPECT_GE(r.segments.size(), size_t{5});
  EXPECT_EQ(uint64_t{1}, r.first_seq);
  EXPECT_EQ(key, r.last_seq);
  for (size_t i = 1; i < r.segments.size(); i++) {
    EXPECT_EQ(r.segments[i - 1].last_seq + 1, r.segments[i].first_seq);
    EXPECT_LE(r.segments[i - 1].end_offset, kSeg);
    EXPECT_GT(r.segments[i - 1].end_offset + RecordFootprint(3000), kSeg);  // rolled only when full
  }
  auto records = ReadAll(dir.path());
  ASSERT_EQ(written.size(), records.size());
  for (size_t i = 0; i < records.size(); i++) EXPECT_TRUE(records[i].second == written[i]) << "seq " << i + 1;
}

// The writer reports the same sparse index entries as recovery finds by scanning the files, and
// the place of each segment it creates.
TEST(WalWriter, IndexEntriesAgreeWithARecoveryScan) {
  TempDir dir;
  Acks acks;
  WriterOptions o;
  o.segment_size = 1 << 20;
  o.ring_capacity = 1 << 20;
  o.on_group = acks.Callback();
  std::unique_ptr<WalWriter> w;
  ASSERT_TRUE(OpenWriter(dir.path(), o, &w).ok());
  std::vector<uint64_t> taken;
  std::vector<uint64_t> part;
  for (int t = 0; t < 600; t++) {  // sizes from 10 bytes to 70 KB: several rolls, records larger than the spacing
    AppendWaiting(w.get(), 0, t, {PayloadFor(t, 10 + (t * 7919) % 70000)});
    if (t % 50 == 0) {
      w->TakeIndexPoints(&part);
      taken.insert(taken.end(), part.begin(), part.end());
    }
  }
  ASSERT_TRUE(acks.WaitFor(600));
  ASSERT_TRUE(w->Close().ok());
  w->TakeIndexPoints(&part);
  taken.insert(taken.end(), part.begin(), part.end());
  ASSERT_EQ(0, unlink(dir.Sub(kCheckpointFileName).c_str()));  // scan every segment
  RecoveryResult r;
  RecoverOptions ro;
  ro.dir = dir.path();
  ASSERT_TRUE(Recover(ro, &r).ok());
  ASSERT_GE(r.segments.size(), size_t{10});
  std::vector<uint64_t> records;  // the writer's entries for records
  std::vector<uint64_t> starts;   // and for segments it created
  for (size_t i = 0; i + 2 < taken.size(); i += 3) {
    bool start = taken[i + 2] == kSegmentHeaderSize && (starts.empty() || starts[starts.size() - 2] != taken[i]);
    auto& into = start ? starts : records;
    if (start) {
      into.insert(into.end(), {taken[i], taken[i + 1]});
    } else {
      into.insert(into.end(), {taken[i], taken[i + 1], taken[i + 2]});
    }
  }
  EXPECT_GT(records.size() / 3, r.segments.size());
  EXPECT_TRUE(records == r.index_points);
  ASSERT_EQ(r.segments.size() * 2, starts.size());
  for (size_t i = 0; i < r.segments.size(); i++) {
    EXPECT_EQ(r.segments[i].number, starts[2 * i]);
    EXPECT_EQ(r.segments[i].first_seq, starts[2 * i + 1]);
  }
}

TEST(WalWriter, RejectsRecordsLargerThanASegment) {
  TempDir dir;
  Acks acks;
  WriterOptions o;
  o.segment_size = 1 << 20;
  o.ring_capacity = 4 << 20;
  o.on_group = acks.Callback();
  std::unique_ptr<WalWriter> w;
  ASSERT_TRUE(OpenWriter(dir.path(), o, &w).ok());
  EXPECT_EQ(MaxPayload(1 << 20), w->max_payload());
  std::vector<uint8_t> too_big(w->max_payload() + 1, 1);
  EXPECT_FALSE(FitsOne(w.get(), too_big.size()));
  EXPECT_TRUE(FitsOne(w.get(), w->max_payload()));
  // Below the binding's check, appending such a record is a bug: the writer stops the process
  // rather than write it.
  EXPECT_TRUE(Aborts([&] { AppendOne(w.get(), 0, 0, too_big); }));
  // The largest record fills a fresh segment exactly.
  std::vector<uint8_t> small(10, 2);
  std::vector<uint8_t> largest = PayloadFor(5, static_cast<uint32_t>(w->max_payload()));
  EXPECT_TRUE(AppendOne(w.get(), 0, 1, small) == WalWriter::AppendResult::kOk);
  EXPECT_TRUE(AppendOne(w.get(), 0, 2, largest) == WalWriter::AppendResult::kOk);
  EXPECT_TRUE(AppendOne(w.get(), 0, 3, small) == WalWriter::AppendResult::kOk);
  ASSERT_TRUE(acks.WaitFor(3));
  ASSERT_TRUE(w->Close().ok());
  auto records = ReadAll(dir.path());
  ASSERT_EQ(size_t{3}, records.size());
  EXPECT_TRUE(records[1].second == largest);
  RecoveryResult r;
  RecoverOptions ro;
  ro.dir = dir.path();
  ASSERT_EQ(0, unlink(dir.Sub(kCheckpointFileName).c_str()));  // scan every segment
  ASSERT_TRUE(Recover(ro, &r).ok());
  ASSERT_EQ(size_t{3}, r.segments.size());
  EXPECT_EQ(uint64_t{1} << 20, r.segments[1].end_offset);
  // A batch larger than half the ring can never be queued.
  std::unique_ptr<WalWriter> w2;
  o.ring_capacity = 1 << 20;
  ASSERT_TRUE(OpenWriter(dir.path(), o, &w2).ok());
  std::vector<uint8_t> half(600000, 3);
  EXPECT_FALSE(FitsOne(w2.get(), half.size()));
  EXPECT_TRUE(FitsOne(w2.get(), (1 << 19) - RingBuffer::kEntryHeaderSize - 8));  // an entry of exactly half the ring
  EXPECT_TRUE(Aborts([&] { AppendOne(w2.get(), 0, 0, half); }));
}

TEST(WalWriter, CloseDrainsEverythingAndRefusesLaterAppends) {
  TempDir dir;
  Acks acks;
  WriterOptions o;
  o.on_group = acks.Callback();
  std::unique_ptr<WalWriter> w;
  ASSERT_TRUE(OpenWriter(dir.path(), o, &w).ok());
  for (int t = 0; t < 1000; t++) AppendWaiting(w.get(), 2, t, {PayloadFor(t, 100)});
  ASSERT_TRUE(w->Close().ok());
  for (int t = 0; t < 1000; t++) {
    Status st;
    Ack a;
    ASSERT_TRUE(acks.Get(2, t, &st, &a)) << "ticket " << t;
    EXPECT_TRUE(st.ok());
  }
  EXPECT_TRUE(AppendOne(w.get(), 2, 1000, PayloadFor(0, 5)) == WalWriter::AppendResult::kClosed);
  EXPECT_TRUE(w->Close().ok());
  EXPECT_EQ(uint64_t{1000}, w->durable_seq());
}

TEST(WalWriter, EmptyBatchGetsAnEmptyRange) {
  TempDir dir;
  Acks acks;
  WriterOptions o;
  o.on_group = acks.Callback();
  std::unique_ptr<WalWriter> w;
  ASSERT_TRUE(OpenWriter(dir.path(), o, &w).ok());
  EXPECT_TRUE(AppendOne(w.get(), 0, 0, PayloadFor(1, 4)) == WalWriter::AppendResult::kOk);
  EXPECT_TRUE(w->Append(0, 1, nullptr, nullptr, 0) == WalWriter::AppendResult::kOk);
  ASSERT_TRUE(acks.WaitFor(2));
  Status st;
  Ack a;
  ASSERT_TRUE(acks.Get(0, 1, &st, &a));
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(uint64_t{2}, a.first_seq);
  EXPECT_EQ(uint64_t{1}, a.last_seq);
}

// Fault injection: the failing group and everything after it are reported kIoError, and a
// reopen recovers exactly what was acknowledged.
void RunFaultCase(bool fail_sync) {
  TempDir dir;
  Acks acks;
  WriterOptions o;
  o.direct_io = DirectIoMode::kOff;
  FaultInjector f;
  if (fail_sync) {
    f.fail_sync_at = 3;
  } else {
    f.fail_write_at = 3;
  }
  FaultyFileLayer layer(f);
  o.io = &layer;
  o.on_group = acks.Callback();
  std::unique_ptr<WalWriter> w;
  ASSERT_TRUE(OpenWriter(dir.path(), o, &w).ok());
  // One batch at a time, so group N is batch N.
  for (int t = 0; t < 5; t++) {
    ASSERT_TRUE(AppendOne(w.get(), 0, t, PayloadFor(t, 50)) == WalWriter::AppendResult::kOk);
    ASSERT_TRUE(acks.WaitFor(t + 1));
  }
  for (int t = 0; t < 5; t++) {
    Status st;
    Ack a;
    ASSERT_TRUE(acks.Get(0, t, &st, &a));
    if (t < 2) {
      EXPECT_TRUE(st.ok()) << "ticket " << t;
    } else {
      EXPECT_EQ(StatusCode::kIoError, st.code()) << "ticket " << t;
      EXPECT_EQ(std::string("writer-failed {operation: ") + (fail_sync ? "fdatasync" : "write") +
                    ", file: " + dir.Sub("0000000000000001.wal") + ", errno: EIO, cause: io}",
                st.ToString());
      EXPECT_EQ(uint64_t{0}, a.first_seq);
    }
  }
  EXPECT_EQ(uint64_t{2}, w->durable_seq());
  const WriterStats st = w->Stats();
  EXPECT_TRUE(st.failed);
  EXPECT_EQ(StatusCode::kIoError, w->Close().code());
  EXPECT_TRUE(AppendOne(w.get(), 0, 9, PayloadFor(9, 5)) == WalWriter::AppendResult::kClosed);
  w.reset();

  Acks acks2;
  WriterOptions o2;
  o2.on_group = acks2.Callback();
  RecoveryResult r;
  ASSERT_TRUE(OpenWriter(dir.path(), o2, &w, &r).ok());
  EXPECT_EQ(uint64_t{2}, r.last_seq);
  EXPECT_EQ(uint64_t{0}, r.torn_bytes);
  ASSERT_TRUE(AppendOne(w.get(), 0, 0, PayloadFor(100, 50)) == WalWriter::AppendResult::kOk);
  ASSERT_TRUE(acks2.WaitFor(1));
  ASSERT_TRUE(w->Close().ok());
  auto records = ReadAll(dir.path());
  ASSERT_EQ(size_t{3}, records.size());
  EXPECT_TRUE(records[0].second == PayloadFor(0, 50));
  EXPECT_TRUE(records[1].second == PayloadFor(1, 50));
  EXPECT_TRUE(records[2].second == PayloadFor(100, 50));
  EXPECT_EQ(uint64_t{3}, records[2].first);
}

TEST(WalWriter, FailedWriteFailsThatGroupAndEverythingAfter) { RunFaultCase(false); }
TEST(WalWriter, FailedSyncFailsThatGroupAndEverythingAfter) { RunFaultCase(true); }

TEST(WalWriter, DirectOnFailsWhereDirectIoIsImpossible) {
  // /dev/shm is tmpfs on Linux; kernels before 6.6 refuse O_DIRECT there, later ones take it.
  TempDir dir;
  DirectIoProbe probe;
  const Status probed = ProbeDirectIo("/dev/shm", &probe);
  if (!probed.ok()) SKIP() << "there is no /dev/shm to try: " << probed.ToString();
  if (probe.supported) SKIP() << "/dev/shm takes direct I/O here, so there is no folder to refuse it";
  WriterOptions o;
  o.direct_io = DirectIoMode::kOn;
  o.dir = "/dev/shm";
  std::unique_ptr<WalWriter> w;
  const Status s = WalWriter::Open(o, &w);
  EXPECT_EQ(StatusCode::kIoError, s.code());
  EXPECT_EQ(std::string("direct-io-unavailable"), s.reason_name()) << s.ToString();
  EXPECT_EQ(std::string("/dev/shm"), s.Text("dir")) << s.ToString();
}

// Identical input through O_DIRECT and buffered writers gives identical segment files.
TEST(WalWriter, DirectAndBufferedRunsProduceIdenticalFiles) {
  TempDir a, b;
  DirectIoProbe probe;
  ASSERT_TRUE(ProbeDirectIo(a.path(), &probe).ok());
  if (!probe.supported) SKIP() << "direct I/O is not available here: " << probe.refusal.ToString();
  StoreId id;
  ASSERT_TRUE(NewStoreId(&id).ok());
  for (int direct = 0; direct < 2; direct++) {
    Acks acks;
    WriterOptions o;
    o.dir = direct ? a.path() : b.path();
    o.segment_size = 1 << 20;
    o.ring_capacity = 1 << 20;
    o.max_group_bytes = 64 << 10;
    o.direct_io = direct ? DirectIoMode::kOn : DirectIoMode::kOff;
    o.created_ms = 1700000000000ull;
    o.resume.store_id = id;
    o.on_group = acks.Callback();
    std::unique_ptr<WalWriter> w;
    Status s = WalWriter::Open(o, &w);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(direct != 0, w->direct_io());
    for (uint64_t t = 0; t < 1500; t++) {
      AppendWaiting(w.get(), 0, t, {PayloadFor(t, static_cast<uint32_t>(tapio_test::MixBits(t) % 5000))});
      if (t % 97 == 0) acks.WaitFor(t + 1);  // vary group boundaries
    }
    ASSERT_TRUE(acks.WaitFor(1500));
    ASSERT_TRUE(w->Close().ok());
  }
  std::vector<std::string> names = ListDir(a.path());
  EXPECT_GE(names.size(), size_t{3});
  EXPECT_EQ(names.size(), ListDir(b.path()).size());
  for (const std::string& name : names) {
    EXPECT_TRUE(ReadFileBytes(a.Sub(name)) == ReadFileBytes(b.Sub(name))) << name << " differs";
  }
}

// Checks reports as a reader of on_group sees them: every one ok, batches in ring order from
// sequence number 1, each within the durable sequence number its report carries, which never
// goes back. Sets the number of batches and the last sequence number reported.
void CheckReportsInRingOrder(const std::vector<GroupDone>& reports, size_t* batches, uint64_t* last) {
  *batches = 0;
  *last = 0;
  uint64_t next = 1;
  uint64_t durable = 0;
  for (const GroupDone& g : reports) {
    ASSERT_TRUE(g.status.ok()) << g.status.ToString();
    EXPECT_GE(g.durable_seq, durable);
    durable = g.durable_seq;
    for (const Ack& a : g.acks) {
      EXPECT_EQ(next, a.first_seq);
      EXPECT_LE(a.last_seq, g.durable_seq);
      next = a.last_seq + 1;
      (*batches)++;
    }
  }
  *last = next - 1;
}

TEST(WalWriter, GroupCommitBatchesConcurrentProducers) {
  TempDir dir;
  Acks acks;
  WriterOptions o;
  o.on_group = acks.Callback();
  std::unique_ptr<WalWriter> w;
  ASSERT_TRUE(OpenWriter(dir.path(), o, &w).ok());
  const int kProducers = 8;
  const int kPerProducer = 500;
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; p++) {
    threads.emplace_back([&, p] {
      for (int t = 0; t < kPerProducer; t++) AppendWaiting(w.get(), p, t, {PayloadFor(p * 100000 + t, 200)});
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(acks.WaitFor(kProducers * kPerProducer));
  ASSERT_TRUE(w->Close().ok());
  const auto groups = acks.groups();
  size_t batches = 0;
  for (const auto& g : groups) batches += g.acks.size();
  EXPECT_EQ(size_t{kProducers * kPerProducer}, batches);
  const double per_group = static_cast<double>(batches) / static_cast<double>(groups.size());
  std::printf("  %zu groups, %.1f batches per group\n", groups.size(), per_group);
  EXPECT_GT(per_group, 1.0);
  // Per producer, tickets got increasing sequence numbers.
  for (int p = 0; p < kProducers; p++) {
    uint64_t last = 0;
    for (int t = 0; t < kPerProducer; t++) {
      Status st;
      Ack a;
      ASSERT_TRUE(acks.Get(p, t, &st, &a));
      EXPECT_GT(a.first_seq, last);
      last = a.first_seq;
    }
  }
  EXPECT_EQ(uint64_t{kProducers * kPerProducer}, w->durable_seq());
}

// While the sync thread waits in fdatasync the writer thread writes the next groups. Whatever
// the overlap, every report arrives in ring order and claims nothing beyond the durable
// sequence number it carries.
TEST(WalWriter, PipelinedReportsFollowRingOrderAndNeverRunAhead) {
  TempDir dir;
  std::mutex mu;
  std::vector<GroupDone> reports;
  WriterOptions o;
  o.segment_size = 1 << 20;  // several rolls, which drain the pipeline
  o.ring_capacity = 1 << 20;
  o.max_group_bytes = 16 << 10;
  o.on_group = [&](const GroupDone& g) {
    std::lock_guard<std::mutex> lock(mu);
    reports.push_back(g);
  };
  std::unique_ptr<WalWriter> w;
  ASSERT_TRUE(OpenWriter(dir.path(), o, &w).ok());
  const int kProducers = 4;
  const int kPerProducer = 600;
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; p++) {
    threads.emplace_back([&, p] {
      for (int t = 0; t < kPerProducer; t++) {
        std::vector<std::vector<uint8_t>> batch;
        for (int i = 0; i <= t % 3; i++) batch.push_back(PayloadFor(p * 100000 + t * 4 + i, 700 + (t % 7) * 300));
        AppendWaiting(w.get(), p, t, batch);
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(w->Close().ok());
  size_t batches = 0;
  uint64_t last = 0;
  CheckReportsInRingOrder(reports, &batches, &last);
  EXPECT_EQ(size_t{kProducers * kPerProducer}, batches);
  EXPECT_EQ(last, w->durable_seq());
  EXPECT_EQ(last, ReadAll(dir.path()).size());
  // One report per fdatasync (plus nothing else when nothing failed).
  EXPECT_EQ(reports.size(), w->Stats().groups);
}

// Producers that wait for each acknowledgement before they append again leave the ring empty
// after each write, so the writer thread syncs those groups itself; a producer that keeps
// appending makes it hand groups to the sync thread again. With both at once, the reports
// still come one at a time, in ring order, each batch exactly once.
TEST(WalWriter, ReportsStayInRingOrderWhicheverThreadSyncs) {
  TempDir dir;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<GroupDone> reports;
  std::map<std::pair<uint32_t, uint64_t>, int> reported;
  std::atomic<int> in_callback{0};
  std::atomic<bool> overlapped{false};
  WriterOptions o;
  o.segment_size = 1 << 20;
  o.on_group = [&](const GroupDone& g) {
    if (in_callback.fetch_add(1) != 0) overlapped = true;
    {
      std::lock_guard<std::mutex> lock(mu);
      reports.push_back(g);
      for (const Ack& a : g.acks) reported[{a.producer_id, a.ticket}]++;
    }
    cv.notify_all();
    in_callback.fetch_sub(1);
  };
  std::unique_ptr<WalWriter> w;
  ASSERT_TRUE(OpenWriter(dir.path(), o, &w).ok());
  const int kWaiting = 4;
  const int kPerWaiting = 300;
  const int kStreaming = 3000;
  std::vector<std::thread> threads;
  for (int p = 0; p < kWaiting; p++) {
    threads.emplace_back([&, p] {
      for (int t = 0; t < kPerWaiting; t++) {
        AppendWaiting(w.get(), p, t, {PayloadFor(p * 100000 + t, 300)});
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return reported.count({static_cast<uint32_t>(p), static_cast<uint64_t>(t)}) != 0; });
      }
    });
  }
  threads.emplace_back([&] {
    for (int t = 0; t < kStreaming; t++) {
      AppendWaiting(w.get(), kWaiting, t, {PayloadFor(900000 + t, 100 + (t % 5) * 400)});
      if (t % 500 == 499) std::this_thread::sleep_for(std::chrono::milliseconds(5));  // quiet spells
    }
  });
  for (auto& t : threads) t.join();
  ASSERT_TRUE(w->Close().ok());
  EXPECT_FALSE(overlapped);
  size_t batches = 0;
  uint64_t last = 0;
  CheckReportsInRingOrder(reports, &batches, &last);
  EXPECT_EQ(size_t{kWaiting * kPerWaiting + kStreaming}, batches);
  EXPECT_EQ(size_t{kWaiting * kPerWaiting + kStreaming}, reported.size());
  for (const auto& entry : reported) EXPECT_EQ(1, entry.second);
  EXPECT_EQ(last, w->durable_seq());
  EXPECT_EQ(last, ReadAll(dir.path()).size());
  EXPECT_EQ(reports.size(), w->Stats().groups);
}

// Faults with appends from several threads, so failures land while other groups are being
// written or synced: the acknowledged batches form a prefix of the log, everything after the
// first failure fails, and a reopen finds every acknowledged record (after a failed write,
// exactly those).
void RunConcurrentFaultCase(bool fail_sync, uint64_t at) {
  TempDir dir;
  std::mutex mu;
  std::vector<GroupDone> reports;
  WriterOptions o;
  o.segment_size = 1 << 20;
  o.ring_capacity = 1 << 20;
  o.max_group_bytes = 8 << 10;
  FaultInjector f;
  if (fail_sync) {
    f.fail_sync_at = at;
  } else {
    f.fail_write_at = at;
  }
  FaultyFileLayer layer(f);
  o.io = &layer;
  o.on_group = [&](const GroupDone& g) {
    std::lock_guard<std::mutex> lock(mu);
    reports.push_back(g);
  };
  std::unique_ptr<WalWriter> w;
  ASSERT_TRUE(OpenWriter(dir.path(), o, &w).ok());
  std::vector<std::thread> threads;
  for (int p = 0; p < 3; p++) {
    threads.emplace_back([&, p] {
      for (int t = 0; t < 300; t++) AppendWaiting(w.get(), p, t, {PayloadFor(p * 1000 + t, 500 + t % 900)});
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(StatusCode::kIoError, w->Close().code());
  uint64_t acked = 0;
  bool failed = false;
  size_t batches = 0;
  for (const GroupDone& g : reports) {
    for (const Ack& a : g.acks) {
      batches++;
      if (g.status.ok()) {
        EXPECT_FALSE(failed) << "a batch was acknowledged after one failed";
        EXPECT_EQ(acked + 1, a.first_seq);
        acked = a.last_seq;
      } else {
        failed = true;
        EXPECT_EQ(uint64_t{0}, a.first_seq);
      }
    }
  }
  EXPECT_TRUE(failed);
  EXPECT_EQ(size_t{900}, batches);
  EXPECT_EQ(acked, w->durable_seq());
  w.reset();
  RecoverOptions ro;
  ro.dir = dir.path();
  RecoveryResult r;
  ASSERT_TRUE(Recover(ro, &r).ok());
  if (fail_sync) {
    // Every acknowledged record is there. An fdatasync covers every write that completed before
    // it started, so groups written after the writer claimed the groups of a successful one, but
    // before that fdatasync began, are durable though reported failed (the device kept them);
    // the failed fdatasync loses only what no fdatasync covered.
    EXPECT_LE(acked, r.last_seq);
  } else {
    EXPECT_EQ(acked, r.last_seq);
  }
  EXPECT_EQ(uint64_t{0}, r.torn_bytes);
}

TEST(WalWriter, ConcurrentFailedWriteKeepsTheAcknowledgedPrefix) {
  for (uint64_t at : {2, 7, 40}) RunConcurrentFaultCase(false, at);
}
TEST(WalWriter, ConcurrentFailedSyncKeepsTheAcknowledgedPrefix) {
  for (uint64_t at : {1, 5, 30}) RunConcurrentFaultCase(true, at);
}

TEST(WalWriter, RejectsBadOptions) {
  std::unique_ptr<WalWriter> w;
  WriterOptions o;
  o.dir = "";
  EXPECT_EQ(StatusCode::kInvalidArgument, WalWriter::Open(o, &w).code());
  TempDir dir;
  o.dir = dir.path();
  o.segment_size = (1 << 20) + 100;
  EXPECT_EQ(StatusCode::kInvalidArgument, WalWriter::Open(o, &w).code());
  o.segment_size = 1 << 20;
  o.ring_capacity = 3000;
  EXPECT_EQ(StatusCode::kInvalidArgument, WalWriter::Open(o, &w).code());
  o.ring_capacity = 1 << 20;
  o.resume.segment_exists = true;
  o.resume.segment_size = 1 << 20;
  o.resume.write_offset = 100;
  EXPECT_EQ(StatusCode::kInvalidArgument, WalWriter::Open(o, &w).code());
}

}  // namespace
}  // namespace wal
}  // namespace tapio
