// N-API glue for the transit WAL writer (core/wal_writer.h).
//
// JavaScript sees two classes:
//   NativeWalWriter  one per open WAL, created by openWal() on the thread that opens the store.
//   NativeProducer   one per JavaScript thread that appends: new NativeProducer(writerId,
//                    onEvents), on the opening thread with writer.id, on a worker thread with
//                    the id the opening thread handed it.
// A producer hands over many batches per call (pushBatches: one buffer of record bytes, their
// lengths, and a ticket and record count per batch); the record bytes are read in place, the
// tickets, counts and lengths are copied once checked. Each producer owns a thread-safe
// function. The thread that did an fdatasync (the WAL's sync thread or its writer thread) files
// acknowledgements under the producer's id and wakes that producer's JavaScript thread once per
// fdatasync; the JavaScript side then resolves the append promises. No JavaScript value is
// touched off its own thread.
#include <napi.h>

#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "binding/addon_data.h"
#include "binding/wal_shared.h"
#include "core/wal_recovery.h"
#include "core/wal_writer.h"

namespace tapio_binding {
namespace {

using tapio::Status;
using tapio::wal::WalWriter;

// Tickets are JavaScript numbers: whole and exact up to 2^53 - 1.
constexpr double kMaxTicket = 9007199254740991.0;

const napi_type_tag kWriterTag = {0x7a1d0c55e1b04f21ull, 0x9e3cb8a2d6f04c11ull};
const napi_type_tag kProducerTag = {0x3f6b2e8d9c1a4e07ull, 0xb54d7f1e2a9c3d66ull};

// Reads a typed array of exactly `type` in place: its data and its length in elements.
template <typename T>
bool TypedArrayOf(Napi::Env env, Napi::Value value, napi_typedarray_type type, T** data, size_t* length) {
  napi_typedarray_type got;
  void* ptr = nullptr;
  napi_value buffer;
  size_t offset = 0;
  if (napi_get_typedarray_info(env, value, &got, length, &ptr, &buffer, &offset) != napi_ok) {
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
    return false;
  }
  if (got != type) return false;
  *data = static_cast<T*>(ptr);
  return true;
}

// ---------------------------------------------------------------------------------------------
// NativeProducer

class NativeProducer : public Napi::ObjectWrap<NativeProducer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeProducer",
                       {
                           InstanceMethod<&NativeProducer::PushBatches>("pushBatches"),
                           InstanceMethod<&NativeProducer::Ref>("ref"),
                           InstanceMethod<&NativeProducer::Unref>("unref"),
                           InstanceMethod<&NativeProducer::Detach>("detach"),
                           InstanceAccessor<&NativeProducer::Id>("id"),
                       });
  }

  // new NativeProducer(writerId, onEvents): attaches to the open writer with that id.
  explicit NativeProducer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeProducer>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsFunction()) {
      ThrowTapioError(env, "ERR_INVALID_ARGUMENT",
                      "NativeProducer(writerId, onEvents) needs a writer id and a function");
      return;
    }
    shared_ = FindSharedWal(info[0].As<Napi::Number>().Uint32Value());
    if (!shared_) {
      ThrowTapioError(env, "ERR_CLOSED",
                      "the transit WAL this producer handle names is closed (or was never opened in this process)");
      return;
    }
    sink_ = std::make_shared<ProducerSink>();
    sink_->tsfn = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "tapio-wal-acks", 0, 1);
    sink_->tsfn.Unref(env);
    id_ = shared_->Register(sink_);
    Value().TypeTag(&kProducerTag);
    // Detach at environment teardown (a worker that ends with the handle still attached). The hook
    // names this object, not the writer: a hook that owned the writer would keep it, its threads'
    // buffers and its ring alive until the process ends, one per store ever opened.
    env_ = env;
    if (napi_add_env_cleanup_hook(env, &NativeProducer::OnEnvCleanup, this) == napi_ok) hooked_ = true;
  }

  ~NativeProducer() override {
    Unhook();
    DetachSink(shared_, id_, sink_);
  }

 private:
  static void DetachSink(const std::shared_ptr<SharedWal>& shared, uint32_t id,
                         const std::shared_ptr<ProducerSink>& sink) {
    if (!sink) return;
    bool release = false;
    {
      std::lock_guard<std::mutex> lock(sink->mu);
      if (!sink->detached) {
        sink->detached = true;
        release = true;
      }
    }
    if (!release) return;
    if (shared) shared->Unregister(id);
    sink->tsfn.Release();
  }

  // pushBatches(bytes: Uint8Array, lengths: Uint32Array, batches: Float64Array, count: number,
  //             status: Uint8Array) -> number of batches handled.
  // Batch i is batches[2i] (its ticket) and batches[2i+1] (its record count n): the next n
  // entries of `lengths`, whose bytes follow one another in `bytes`. One call queues many
  // batches, so a burst of appends crosses into native code once and wakes the writer once.
  // For each handled batch status[i] is 0 (queued), 2 (too large: WalWriter::BatchFits refuses
  // it) or 3 (closed or failed: the failure comes as an event). Handling stops at the first batch the ring has no room
  // for now: its status is 1 and the return value is its index (wait for a space event, then call again from there).
  Napi::Value PushBatches(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!shared_ || sink_->detached) {
      ThrowTapioError(env, "ERR_CLOSED", "this producer handle was detached; the store was closed");
      return env.Undefined();
    }
    const uint8_t* bytes = nullptr;
    const uint32_t* lengths = nullptr;
    const double* batches = nullptr;
    uint8_t* status = nullptr;
    size_t bytes_len = 0, lengths_len = 0, batches_len = 0, status_len = 0;
    if (info.Length() < 5 || !TypedArrayOf(env, info[0], napi_uint8_array, &bytes, &bytes_len) ||
        !TypedArrayOf(env, info[1], napi_uint32_array, &lengths, &lengths_len) ||
        !TypedArrayOf(env, info[2], napi_float64_array, &batches, &batches_len) || !info[3].IsNumber() ||
        !TypedArrayOf(env, info[4], napi_uint8_array, &status, &status_len)) {
      ThrowTapioError(env, "ERR_INVALID_ARGUMENT",
                      "pushBatches(bytes, lengths, batches, count, status) needs a Uint8Array, a Uint32Array, a "
                      "Float64Array, a number and a Uint8Array");
      return env.Undefined();
    }
    const double count_value = info[3].As<Napi::Number>().DoubleValue();
    if (!(count_value >= 0) || count_value * 2 > static_cast<double>(batches_len) ||
        count_value > static_cast<double>(status_len)) {
      ThrowTapioError(env, "ERR_INVALID_ARGUMENT", "pushBatches: count is out of range");
      return env.Undefined();
    }
    const size_t count = static_cast<size_t>(count_value);
    // Every batch is checked before any is queued: a refusal never leaves some of them queued
    // (to be written and acknowledged) while the caller counts all of them as refused. The
    // queueing pass uses the tickets, counts and lengths this pass checked, copied, since the
    // arrays may share memory with `status` or with another thread.
    tickets_.clear();
    counts_.clear();
    lengths_.clear();
    {
      size_t offset = 0;
      for (size_t b = 0; b < count; b++) {
        const double ticket = batches[2 * b];
        const double n_value = batches[2 * b + 1];
        if (!(ticket >= 0) || !(ticket <= kMaxTicket)) {
          ThrowTapioError(env, "ERR_INVALID_ARGUMENT", "pushBatches: a ticket is not a number from 0 to 2^53 - 1");
          return env.Undefined();
        }
        if (!(n_value >= 0) || n_value > static_cast<double>(lengths_len - lengths_.size())) {
          ThrowTapioError(env, "ERR_INVALID_ARGUMENT", "pushBatches: a batch names more records than were given");
          return env.Undefined();
        }
        const size_t n = static_cast<size_t>(n_value);
        const size_t first = lengths_.size();
        for (size_t i = 0; i < n; i++) {
          const uint32_t length = lengths[first + i];
          if (length > bytes_len - offset) {
            ThrowTapioError(env, "ERR_INVALID_ARGUMENT", "pushBatches: the record lengths exceed the bytes given");
            return env.Undefined();
          }
          lengths_.push_back(length);
          offset += length;
        }
        tickets_.push_back(static_cast<uint64_t>(ticket));
        counts_.push_back(n);
      }
    }
    // Ask for a space event before trying, so a release between a full push and the request
    // cannot be missed.
    sink_->wants_space.store(true, std::memory_order_release);
    size_t record = 0;
    size_t offset = 0;
    size_t done = 0;
    bool queued = false;
    bool full = false;
    shared_->writer->BeginPush();
    for (; done < count; done++) {
      const uint64_t ticket = tickets_[done];
      const size_t n = counts_[done];
      datas_.resize(n);
      size_t end = offset;
      for (size_t i = 0; i < n; i++) {
        datas_[i] = bytes + end;
        end += lengths_[record + i];
      }
      // The facade checked the batch against the same limits; a handle whose limits were altered
      // (or a direct call) can still hand over one the writer must not take.
      if (!shared_->writer->BatchFits(lengths_.data() + record, n)) {
        status[done] = 2;
        record += n;
        offset = end;
        continue;
      }
      const WalWriter::AppendResult r =
          shared_->writer->Append(id_, ticket, datas_.data(), lengths_.data() + record, n, false);
      if (r == WalWriter::AppendResult::kFull) {
        status[done] = 1;
        full = true;
        break;
      }
      status[done] = r == WalWriter::AppendResult::kOk ? 0 : 3;
      queued = queued || r == WalWriter::AppendResult::kOk;
      record += n;
      offset = end;
    }
    shared_->writer->EndPush();
    if (queued) shared_->writer->WakeWriter();
    if (!full) sink_->wants_space.store(false, std::memory_order_release);
    return Napi::Number::New(env, static_cast<double>(done));
  }

  // While appends are pending the producer keeps the event loop alive, so their promises settle.
  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (!sink_->detached) sink_->tsfn.Ref(info.Env());
    return info.Env().Undefined();
  }
  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (!sink_->detached) sink_->tsfn.Unref(info.Env());
    return info.Env().Undefined();
  }
  Napi::Value Detach(const Napi::CallbackInfo& info) {
    Unhook();
    DetachSink(shared_, id_, sink_);
    // The writer goes when its last handle does: a detached producer holds nothing of it.
    shared_.reset();
    return info.Env().Undefined();
  }

  static void OnEnvCleanup(void* arg) {
    auto* self = static_cast<NativeProducer*>(arg);
    self->hooked_ = false;
    DetachSink(self->shared_, self->id_, self->sink_);
    self->shared_.reset();
  }
  void Unhook() {
    if (!hooked_) return;
    hooked_ = false;
    napi_remove_env_cleanup_hook(env_, &NativeProducer::OnEnvCleanup, this);
  }
  Napi::Value Id(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), id_); }

  std::shared_ptr<SharedWal> shared_;
  std::shared_ptr<ProducerSink> sink_;
  uint32_t id_ = 0;
  napi_env env_ = nullptr;
  bool hooked_ = false;  // OnEnvCleanup is registered for this object
  std::vector<const uint8_t*> datas_;
  std::vector<uint64_t> tickets_;  // pushBatches: each batch's ticket, as checked
  std::vector<size_t> counts_;     // pushBatches: each batch's record count, as checked
  std::vector<uint32_t> lengths_;  // pushBatches: the record lengths, as checked
};

// ---------------------------------------------------------------------------------------------
// NativeWalWriter

struct OpenRequest {
  tapio::wal::RecoverOptions recover;
  tapio::wal::WriterOptions writer;
  bool inject_faults = false;  // put a FaultyFileLayer with `faults` under the writer (tests)
  tapio::wal::FaultInjector faults;
};

Napi::Float64Array DoublesToJs(Napi::Env env, const double* values, size_t n) {
  Napi::Float64Array a = Napi::Float64Array::New(env, n);
  for (size_t i = 0; i < n; i++) a[i] = values[i];
  return a;
}

Napi::Float64Array UintsToJs(Napi::Env env, const std::vector<uint64_t>& values) {
  Napi::Float64Array a = Napi::Float64Array::New(env, values.size());
  for (size_t i = 0; i < values.size(); i++) a[i] = static_cast<double>(values[i]);
  return a;
}

Napi::Object RecoveryToJs(Napi::Env env, const tapio::wal::RecoveryResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("segments", Napi::Number::New(env, static_cast<double>(r.segments.size())));
  o.Set("firstSeq", Napi::Number::New(env, static_cast<double>(r.first_seq)));
  o.Set("lastSeq", Napi::Number::New(env, static_cast<double>(r.last_seq)));
  o.Set("bytesScanned", Napi::Number::New(env, static_cast<double>(r.bytes_scanned)));
  o.Set("tornBytes", Napi::Number::New(env, static_cast<double>(r.torn_bytes)));
  if (!r.broken_file.empty()) o.Set("brokenFile", r.broken_file);
  Napi::Array salvaged = Napi::Array::New(env, r.salvaged.size());
  for (size_t i = 0; i < r.salvaged.size(); i++) {
    Napi::Object s = Napi::Object::New(env);
    s.Set("segment", r.salvaged[i].segment);
    s.Set("offset", Napi::Number::New(env, static_cast<double>(r.salvaged[i].offset)));
    s.Set("bytes", Napi::Number::New(env, static_cast<double>(r.salvaged[i].bytes)));
    s.Set("damage", StatusToJs(env, r.salvaged[i].damage));
    salvaged[i] = s;
  }
  o.Set("salvaged", salvaged);
  o.Set("sealedSegments", Napi::Number::New(env, static_cast<double>(r.sealed_segments)));
  if (!r.checkpoint_ignored.ok()) o.Set("checkpointIgnored", StatusToJs(env, r.checkpoint_ignored));
  Napi::Array removed = Napi::Array::New(env, r.removed_files.size());
  for (size_t i = 0; i < r.removed_files.size(); i++) removed[i] = Napi::String::New(env, r.removed_files[i]);
  o.Set("removedFiles", removed);
  Napi::Array set_aside = Napi::Array::New(env, r.set_aside.size());
  for (size_t i = 0; i < r.set_aside.size(); i++) {
    const tapio::wal::SalvageStretch& st = r.set_aside[i];
    Napi::Object s = Napi::Object::New(env);
    s.Set("segment", tapio::wal::SegmentFileName(st.segment));
    s.Set("offset", Napi::Number::New(env, static_cast<double>(st.offset)));
    s.Set("bytes", Napi::Number::New(env, static_cast<double>(st.bytes)));
    s.Set("lostFrom", Napi::Number::New(env, static_cast<double>(st.lost_from)));
    s.Set("lostCount", Napi::Number::New(env, static_cast<double>(st.lost_count)));
    set_aside[i] = s;
  }
  o.Set("setAside", set_aside);
  if (!r.set_aside_ignored.ok()) o.Set("setAsideIgnored", StatusToJs(env, r.set_aside_ignored));
  o.Set("storeId", tapio::wal::StoreIdToHex(r.store_id));
  // For reads: the usable segments as (number, first sequence number, scanned) triples, and the
  // index entries of the scanned ones.
  std::vector<double> list;
  for (const tapio::wal::SegmentInfo& g : r.segments) {
    if (!g.appendable) continue;
    list.insert(list.end(), {static_cast<double>(g.number), static_cast<double>(g.first_seq), g.sealed ? 0.0 : 1.0});
  }
  o.Set("segmentList", DoublesToJs(env, list.data(), list.size()));
  o.Set("indexPoints", UintsToJs(env, r.index_points));
  return o;
}

// The writer's counters as the object stats() returns.
Napi::Object StatsObject(Napi::Env env, const tapio::wal::WriterStats& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("records", Napi::Number::New(env, static_cast<double>(s.records)));
  o.Set("bytes", Napi::Number::New(env, static_cast<double>(s.payload_bytes)));
  o.Set("groups", Napi::Number::New(env, static_cast<double>(s.groups)));
  o.Set("segmentsCreated", Napi::Number::New(env, static_cast<double>(s.segments_created)));
  Napi::Array hist = Napi::Array::New(env, tapio::wal::kSyncBuckets);
  for (size_t i = 0; i < tapio::wal::kSyncBuckets; i++) {
    Napi::Object b = Napi::Object::New(env);
    double le = i + 1 < tapio::wal::kSyncBuckets ? static_cast<double>(tapio::wal::kSyncBucketBoundsUs[i])
                                                 : std::numeric_limits<double>::infinity();
    b.Set("le", Napi::Number::New(env, le));
    b.Set("count", Napi::Number::New(env, static_cast<double>(s.sync_histogram[i])));
    hist[i] = b;
  }
  o.Set("syncLatencyUs", hist);
  o.Set("ringUsedBytes", Napi::Number::New(env, static_cast<double>(s.ring_used)));
  o.Set("ringCapacity", Napi::Number::New(env, static_cast<double>(s.ring_capacity)));
  o.Set("directIo", Napi::Boolean::New(env, s.direct_io));
  o.Set("directIoRefusal", StatusToJs(env, s.direct_io_refusal));
  o.Set("alignment", Napi::Number::New(env, static_cast<double>(s.alignment)));
  o.Set("durableSeq", Napi::Number::New(env, static_cast<double>(s.durable_seq)));
  o.Set("failed", s.failed ? StatusToJs(env, s.failure) : env.Null());
  return o;
}

class NativeWalWriter : public Napi::ObjectWrap<NativeWalWriter> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeWalWriter",
                       {
                           InstanceMethod<&NativeWalWriter::Stats>("stats"),
                           InstanceMethod<&NativeWalWriter::DurableSeq>("durableSeq"),
                           InstanceMethod<&NativeWalWriter::Close>("close"),
                           InstanceMethod<&NativeWalWriter::TakeIndexPoints>("takeIndexPoints"),
                           InstanceAccessor<&NativeWalWriter::Id>("id"),
                           InstanceAccessor<&NativeWalWriter::Recovery>("recovery"),
                       });
  }

  explicit NativeWalWriter(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeWalWriter>(info) {
    Value().TypeTag(&kWriterTag);
  }

  void Adopt(Napi::Env env, std::shared_ptr<SharedWal> shared, const tapio::wal::RecoveryResult& recovery) {
    shared_ = std::move(shared);
    recovery_ = Napi::Persistent(RecoveryToJs(env, recovery));
  }

  ~NativeWalWriter() override {
    // Closed by JavaScript in the normal course; this is the safety net for a dropped handle.
    if (shared_) {
      shared_->writer->Close();
      ForgetSharedWal(shared_->id());
    }
  }

 private:
  Napi::Value Id(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), shared_ ? shared_->id() : 0); }
  Napi::Value Recovery(const Napi::CallbackInfo& info) {
    return recovery_.IsEmpty() ? info.Env().Undefined() : recovery_.Value();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!shared_) {
      ThrowTapioError(env, "ERR_CLOSED", "the transit WAL is closed");
      return env.Undefined();
    }
    return StatsObject(env, shared_->writer->Stats());
  }

  // durableSeq() -> the newest durable sequence number: stats().durableSeq without the object
  // (asked at every read and subscription batch).
  Napi::Value DurableSeq(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!shared_) {
      ThrowTapioError(env, "ERR_CLOSED", "the transit WAL is closed");
      return env.Undefined();
    }
    return Napi::Number::New(env, static_cast<double>(shared_->writer->durable_seq()));
  }

  // takeIndexPoints() -> Float64Array of (segment, seq, offset) triples made since the last call,
  // or undefined when there are none (called after every append: nothing allocated then).
  Napi::Value TakeIndexPoints(const Napi::CallbackInfo& info) {
    if (!shared_) return info.Env().Undefined();
    shared_->writer->TakeIndexPoints(&points_);
    if (points_.empty()) return info.Env().Undefined();
    return UintsToJs(info.Env(), points_);
  }

  // close() -> Promise<stats>: writes and syncs what was queued, stops the writer's threads and
  // resolves with the final counters.
  Napi::Value Close(const Napi::CallbackInfo& info);

  std::shared_ptr<SharedWal> shared_;
  Napi::ObjectReference recovery_;
  std::vector<uint64_t> points_;  // reused by takeIndexPoints
  friend class CloseWorker;
  friend class OpenWorker;
};

class CloseWorker : public Napi::AsyncWorker {
 public:
  CloseWorker(Napi::Env env, std::shared_ptr<SharedWal> shared)
      : Napi::AsyncWorker(env, "tapio-wal-close"),
        deferred_(Napi::Promise::Deferred::New(env)),
        shared_(std::move(shared)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    status_ = shared_->writer->Close();
    stats_ = shared_->writer->Stats();
  }
  void OnOK() override {
    ForgetSharedWal(shared_->id());
    // A failed writer still closes; its failure was already reported to every append.
    deferred_.Resolve(StatsObject(Env(), stats_));
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<SharedWal> shared_;
  tapio::Status status_;
  tapio::wal::WriterStats stats_;
};

Napi::Value NativeWalWriter::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!shared_) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Resolve(env.Undefined());
    return d.Promise();
  }
  auto* worker = new CloseWorker(env, std::move(shared_));
  shared_.reset();
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

Napi::FunctionReference* writer_constructor_slot(Napi::Env env) {
  return &env.GetInstanceData<AddonData>()->wal_writer;
}

class OpenWorker : public Napi::AsyncWorker {
 public:
  OpenWorker(Napi::Env env, OpenRequest request)
      : Napi::AsyncWorker(env, "tapio-wal-open"),
        deferred_(Napi::Promise::Deferred::New(env)),
        request_(std::move(request)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    status_ = tapio::wal::Recover(request_.recover, &recovery_);
    if (!status_.ok()) return;
    shared_ = NewSharedWal();
    SharedWal* raw = shared_.get();
    request_.writer.resume = recovery_.resume;
    request_.writer.on_group = [raw](const tapio::wal::GroupDone& done) { raw->OnGroup(done); };
    request_.writer.on_space = [raw]() { raw->OnSpace(); };
    if (request_.inject_faults) {
      shared_->faults = std::make_unique<tapio::wal::FaultyFileLayer>(request_.faults);
      request_.writer.io = shared_->faults.get();
    }
    status_ = WalWriter::Open(std::move(request_.writer), &shared_->writer);
    if (!status_.ok()) {
      ForgetSharedWal(shared_->id());
      shared_.reset();
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (!status_.ok()) {
      deferred_.Reject(StatusToError(env, status_));
      return;
    }
    Napi::Object obj = writer_constructor_slot(env)->New({});
    NativeWalWriter::Unwrap(obj)->Adopt(env, shared_, recovery_);
    deferred_.Resolve(obj);
  }

 private:
  Napi::Promise::Deferred deferred_;
  OpenRequest request_;
  tapio::Status status_;
  tapio::wal::RecoveryResult recovery_;
  std::shared_ptr<SharedWal> shared_;
};

bool ReadUint(Napi::Env env, Napi::Object o, const char* key, uint64_t* out, bool required) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() && !required) return true;
  if (!v.IsNumber() || v.As<Napi::Number>().DoubleValue() < 0) {
    ThrowTapioError(env, "ERR_INVALID_ARGUMENT", std::string("openWal: ") + key + " must be a non-negative number");
    return false;
  }
  *out = static_cast<uint64_t>(v.As<Napi::Number>().Int64Value());
  return true;
}

// openWal({ dir, segmentSize, ringCapacity, directIo, recovery, maxGroupBytes, faultInjection })
//   -> Promise<NativeWalWriter>; recovery runs off the event loop.
Napi::Value OpenWal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    ThrowTapioError(env, "ERR_INVALID_ARGUMENT", "openWal(options) needs an options object");
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  OpenRequest req;
  Napi::Value dir = o.Get("dir");
  if (!dir.IsString()) {
    ThrowTapioError(env, "ERR_INVALID_ARGUMENT", "openWal: dir must be a string");
    return env.Undefined();
  }
  req.recover.dir = dir.As<Napi::String>().Utf8Value();
  req.writer.dir = req.recover.dir;
  req.recover.salvage = o.Get("recovery").IsString() && o.Get("recovery").As<Napi::String>().Utf8Value() == "salvage";
  if (!ReadUint(env, o, "segmentSize", &req.writer.segment_size, true) ||
      !ReadUint(env, o, "ringCapacity", &req.writer.ring_capacity, true) ||
      !ReadUint(env, o, "maxGroupBytes", &req.writer.max_group_bytes, false)) {
    return env.Undefined();
  }
  std::string mode = o.Get("directIo").IsString() ? o.Get("directIo").As<Napi::String>().Utf8Value() : "auto";
  req.writer.direct_io = mode == "on"    ? tapio::wal::DirectIoMode::kOn
                         : mode == "off" ? tapio::wal::DirectIoMode::kOff
                                         : tapio::wal::DirectIoMode::kAuto;
  Napi::Value faults = o.Get("faultInjection");
  if (faults.IsObject()) {
    Napi::Object f = faults.As<Napi::Object>();
    if (!ReadUint(env, f, "failWriteAt", &req.faults.fail_write_at, false) ||
        !ReadUint(env, f, "failSyncAt", &req.faults.fail_sync_at, false)) {
      return env.Undefined();
    }
    req.inject_faults = true;
  }
  auto* worker = new OpenWorker(env, std::move(req));
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

}  // namespace

void InitWal(Napi::Env env, Napi::Object exports) {
  AddonData* data = env.GetInstanceData<AddonData>();
  data->wal_writer = Napi::Persistent(NativeWalWriter::Define(env));
  exports.Set("NativeProducer", NativeProducer::Define(env));
  exports.Set("openWal", Napi::Function::New(env, OpenWal, "openWal"));
  exports.Set("liveWalWriters", Napi::Function::New(
                                    env,
                                    [](const Napi::CallbackInfo& info) -> Napi::Value {
                                      return Napi::Number::New(info.Env(), LiveSharedWals());
                                    },
                                    "liveWalWriters"));
}

}  // namespace tapio_binding
