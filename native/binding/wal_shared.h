// State shared between the JavaScript threads that use one open WAL and the WAL's threads.
#ifndef TAPIO_BINDING_WAL_SHARED_H_
#define TAPIO_BINDING_WAL_SHARED_H_

#include <napi.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/file_layer.h"
#include "core/wal_writer.h"

namespace tapio_binding {

// What the WAL's threads have for one producer's JavaScript thread, guarded by `mu`.
struct ProducerSink {
  Napi::ThreadSafeFunction tsfn;
  std::mutex mu;
  // Triples (ticket, first_seq, last_seq); first_seq = -1 marks a batch that failed.
  std::vector<double> acks;
  tapio::Status failure;   // the failed state (kWriterFailed), once there is one
  bool space = false;      // ring space was freed since the last delivery
  bool scheduled = false;  // a delivery is queued on the thread-safe function
  bool detached = false;   // the producer is gone; never call tsfn again
  std::atomic<bool> wants_space{false};
};

class SharedWal {
 public:
  explicit SharedWal(uint32_t id);
  ~SharedWal();
  SharedWal(const SharedWal&) = delete;
  SharedWal& operator=(const SharedWal&) = delete;
  uint32_t id() const { return id_; }

  // The fault-injecting file layer under the writer, when a test asked for one (it outlives the
  // writer: members go in reverse order).
  std::unique_ptr<tapio::wal::FaultyFileLayer> faults;
  std::unique_ptr<tapio::wal::WalWriter> writer;

  uint32_t Register(std::shared_ptr<ProducerSink> sink);
  void Unregister(uint32_t producer_id);

  // The thread that did the fdatasync (the sync thread or the writer thread): file the group's
  // acknowledgements and wake the producers they belong to.
  void OnGroup(const tapio::wal::GroupDone& done);
  // Writer thread: wake the producers waiting for ring space.
  void OnSpace();

 private:
  static void Schedule(const std::shared_ptr<ProducerSink>& sink);

  const uint32_t id_;
  std::mutex mu_;
  uint32_t next_producer_ = 1;
  std::unordered_map<uint32_t, std::shared_ptr<ProducerSink>> producers_;
};

// The process-wide table of open WALs, so worker threads can attach producers by id.
std::shared_ptr<SharedWal> NewSharedWal();
std::shared_ptr<SharedWal> FindSharedWal(uint32_t id);
void ForgetSharedWal(uint32_t id);
// Writers whose memory is still held (open, or closed with a handle still owning them): the
// store's tests check that a closed store leaves none behind.
uint32_t LiveSharedWals();

}  // namespace tapio_binding

#endif  // TAPIO_BINDING_WAL_SHARED_H_
