#include "binding/wal_shared.h"

#include <atomic>
#include <cstring>
#include <utility>

#include "binding/addon_data.h"

namespace tapio_binding {
namespace {

std::mutex registry_mu;
std::unordered_map<uint32_t, std::shared_ptr<SharedWal>>& Registry() {
  static auto* table = new std::unordered_map<uint32_t, std::shared_ptr<SharedWal>>();
  return *table;
}
uint32_t next_wal_id = 1;

// Runs on the producer's JavaScript thread: hands what the writer filed to onEvents(acks,
// failure, space), the failure as the TapioError reasonError builds for it.
void Deliver(Napi::Env env, Napi::Function on_events, ProducerSink* sink) {
  std::vector<double> acks;
  tapio::Status failure;
  bool space;
  {
    std::lock_guard<std::mutex> lock(sink->mu);
    acks.swap(sink->acks);
    failure = sink->failure;
    space = sink->space;
    sink->space = false;
    sink->scheduled = false;
  }
  if (env == nullptr || on_events.IsEmpty()) return;
  Napi::Float64Array array = Napi::Float64Array::New(env, acks.size());
  if (!acks.empty()) std::memcpy(array.Data(), acks.data(), acks.size() * sizeof(double));
  napi_value failure_value = failure.ok() ? env.Undefined() : StatusToError(env, failure);
  on_events.Call({array, Napi::Value(env, failure_value), Napi::Boolean::New(env, space)});
}

}  // namespace

uint32_t SharedWal::Register(std::shared_ptr<ProducerSink> sink) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint32_t id = next_producer_++;
  producers_[id] = std::move(sink);
  return id;
}

void SharedWal::Unregister(uint32_t producer_id) {
  std::lock_guard<std::mutex> lock(mu_);
  producers_.erase(producer_id);
}

void SharedWal::Schedule(const std::shared_ptr<ProducerSink>& sink) {
  // Called with sink->mu held.
  if (sink->scheduled || sink->detached) return;
  sink->scheduled = true;
  std::shared_ptr<ProducerSink> keep = sink;
  napi_status status =
      sink->tsfn.NonBlockingCall([keep](Napi::Env env, Napi::Function fn) { Deliver(env, fn, keep.get()); });
  if (status != napi_ok) sink->scheduled = false;
}

void SharedWal::OnGroup(const tapio::wal::GroupDone& done) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<ProducerSink> last;
  std::vector<std::shared_ptr<ProducerSink>> touched;
  for (const tapio::wal::Ack& ack : done.acks) {
    auto it = producers_.find(ack.producer_id);
    if (it == producers_.end()) continue;  // its thread is gone; nobody waits for the answer
    const std::shared_ptr<ProducerSink>& sink = it->second;
    std::lock_guard<std::mutex> sink_lock(sink->mu);
    sink->acks.push_back(static_cast<double>(ack.ticket));
    if (done.status.ok()) {
      sink->acks.push_back(static_cast<double>(ack.first_seq));
      sink->acks.push_back(static_cast<double>(ack.last_seq));
    } else {
      sink->acks.push_back(-1);
      sink->acks.push_back(-1);
      sink->failure = done.status;
    }
    if (sink != last) {
      touched.push_back(sink);
      last = sink;
    }
  }
  for (const auto& sink : touched) {
    std::lock_guard<std::mutex> sink_lock(sink->mu);
    Schedule(sink);
  }
}

void SharedWal::OnSpace() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& entry : producers_) {
    const std::shared_ptr<ProducerSink>& sink = entry.second;
    if (!sink->wants_space.exchange(false, std::memory_order_acq_rel)) continue;
    std::lock_guard<std::mutex> sink_lock(sink->mu);
    sink->space = true;
    Schedule(sink);
  }
}

namespace {
std::atomic<uint32_t> live_wals{0};
}  // namespace

SharedWal::SharedWal(uint32_t id) : id_(id) { live_wals.fetch_add(1, std::memory_order_relaxed); }
SharedWal::~SharedWal() { live_wals.fetch_sub(1, std::memory_order_relaxed); }
uint32_t LiveSharedWals() { return live_wals.load(std::memory_order_relaxed); }

std::shared_ptr<SharedWal> NewSharedWal() {
  std::lock_guard<std::mutex> lock(registry_mu);
  auto shared = std::make_shared<SharedWal>(next_wal_id++);
  Registry()[shared->id()] = shared;
  return shared;
}

std::shared_ptr<SharedWal> FindSharedWal(uint32_t id) {
  std::lock_guard<std::mutex> lock(registry_mu);
  auto it = Registry().find(id);
  return it == Registry().end() ? nullptr : it->second;
}

void ForgetSharedWal(uint32_t id) {
  std::lock_guard<std::mutex> lock(registry_mu);
  Registry().erase(id);
}

}  // namespace tapio_binding
