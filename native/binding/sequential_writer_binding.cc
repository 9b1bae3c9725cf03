// N-API glue for core/sequential_writer.h, used by the correlation store's segment files on the
// native path (src/fs/sequential-file.ts):
//   probeDirectIo(dir) -> the alignment direct writes use in `dir`, or 0 where it refuses them
//   createSequentialWriter(path, alignment, blockBytes) -> handle (the file created; alignment
//     0 for no direct I/O)
//   sequentialWrite(handle, bytes) -> Promise<void>: the bytes (copied at the call) appended, each
//     block that fills written on a libuv pool thread
//   finishSequentialWriter(handle) -> Promise<{ bytes, direct }>: the tail written, the file cut
//     to its length, fdatasync'ed and closed
//   abortSequentialWriter(handle): closes and removes the file once no call is under way
// Calls on one handle are made one after another (the caller awaits each); a call while one is
// under way is refused. Failures throw or reject with the core's status. The handle is a
// type-tagged external; one garbage-collected without finish or abort closes its descriptor.
#include <napi.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "binding/addon_data.h"
#include "core/file_layer.h"
#include "core/sequential_writer.h"
#include "core/wal_file.h"

namespace tapio_binding {
namespace {

const napi_type_tag kSequentialWriterTag = {0x3a7e5c1d9b204f86ull, 0xc41d8e9a5f3b7260ull};

struct Holder {
  std::shared_ptr<tapio::wal::SequentialWriter> writer;
  std::atomic<bool> busy{false};
};

void DeleteHolder(Napi::Env, Holder* h) { delete h; }

Holder* HolderOf(Napi::Env env, Napi::Value v, const char* call) {
  if (!v.IsExternal() || !v.As<Napi::External<Holder>>().CheckTypeTag(&kSequentialWriterTag)) {
    ThrowTapioError(env, "ERR_INVALID_ARGUMENT",
                    std::string(call) + " needs a handle returned by createSequentialWriter()");
    return nullptr;
  }
  Holder* h = v.As<Napi::External<Holder>>().Data();
  if (h->writer == nullptr) {
    ThrowTapioError(env, "ERR_CLOSED", std::string(call) + " after the file was finished or given up");
    return nullptr;
  }
  if (h->busy.load()) {
    ThrowTapioError(env, "ERR_INVALID_ARGUMENT",
                    std::string(call) + " while another call on the same file is under way");
    return nullptr;
  }
  return h;
}

Napi::Value ProbeDirectIo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    ThrowTapioError(env, "ERR_INVALID_ARGUMENT", "probeDirectIo(dir) needs a directory");
    return env.Undefined();
  }
  tapio::wal::DirectIoProbe probe;
  tapio::Status s = tapio::wal::ProbeDirectIo(info[0].As<Napi::String>(), &probe);
  if (!s.ok()) {
    ThrowStatus(env, s);
    return env.Undefined();
  }
  return Napi::Number::New(env, probe.supported ? static_cast<double>(probe.alignment) : 0.0);
}

Napi::Value CreateSequentialWriter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber()) {
    ThrowTapioError(env, "ERR_INVALID_ARGUMENT",
                    "createSequentialWriter(path, alignment, blockBytes) needs a path and two sizes");
    return env.Undefined();
  }
  const double alignment = info[1].As<Napi::Number>().DoubleValue();
  const double block = info[2].As<Napi::Number>().DoubleValue();
  const auto size = [](double v) { return v >= 0 && v <= double(1 << 30) ? static_cast<size_t>(v) : size_t{1}; };
  std::unique_ptr<tapio::wal::SequentialWriter> writer;
  tapio::Status s = tapio::wal::SequentialWriter::Create(info[0].As<Napi::String>(), size(alignment), size(block),
                                                         tapio::wal::PosixFileLayer(), &writer);
  if (!s.ok()) {
    ThrowStatus(env, s);
    return env.Undefined();
  }
  Holder* h = new Holder();
  h->writer.reset(writer.release());
  Napi::External<Holder> handle = Napi::External<Holder>::New(env, h, DeleteHolder);
  handle.TypeTag(&kSequentialWriterTag);
  return handle;
}

class WriteWorker : public Napi::AsyncWorker {
 public:
  WriteWorker(Napi::Env env, Holder* holder, Napi::Object handle, Napi::Uint8Array bytes)
      : Napi::AsyncWorker(env, "tapio-sequential-write"),
        deferred_(Napi::Promise::Deferred::New(env)),
        holder_(holder),
        writer_(holder->writer),
        handle_(Napi::Persistent(handle)),
        // A copy taken here, on the calling thread: the caller's buffer may be detached or
        // reused once this call returns, whatever the promise.
        bytes_(bytes.Data(), bytes.Data() + bytes.ByteLength()) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  // On a libuv pool thread: the copy into the writer's block and the writes of blocks that fill.
  void Execute() override { status_ = writer_->Append(bytes_.data(), bytes_.size()); }

  void OnOK() override {
    holder_->busy.store(false);
    if (status_.ok()) {
      deferred_.Resolve(Env().Undefined());
    } else {
      deferred_.Reject(StatusToError(Env(), status_));
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  Holder* holder_;  // alive while handle_ holds the external
  std::shared_ptr<tapio::wal::SequentialWriter> writer_;
  Napi::ObjectReference handle_;
  std::vector<uint8_t> bytes_;
  tapio::Status status_;
};

class FinishWorker : public Napi::AsyncWorker {
 public:
  FinishWorker(Napi::Env env, Holder* holder, Napi::Object handle)
      : Napi::AsyncWorker(env, "tapio-sequential-finish"),
        deferred_(Napi::Promise::Deferred::New(env)),
        holder_(holder),
        writer_(holder->writer),
        handle_(Napi::Persistent(handle)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    status_ = writer_->Finish();
    bytes_ = writer_->size();
    direct_ = writer_->direct();
  }

  void OnOK() override {
    holder_->busy.store(false);
    holder_->writer.reset();
    if (status_.ok()) {
      Napi::Object out = Napi::Object::New(Env());
      out.Set("bytes", Napi::Number::New(Env(), static_cast<double>(bytes_)));
      out.Set("direct", Napi::Boolean::New(Env(), direct_));
      deferred_.Resolve(out);
    } else {
      writer_->Abort();
      deferred_.Reject(StatusToError(Env(), status_));
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  Holder* holder_;
  std::shared_ptr<tapio::wal::SequentialWriter> writer_;
  Napi::ObjectReference handle_;
  tapio::Status status_;
  uint64_t bytes_ = 0;
  bool direct_ = false;
};

Napi::Value SequentialWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Holder* h = HolderOf(env, info[0], "sequentialWrite(handle, bytes)");
  if (h == nullptr) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowTapioError(env, "ERR_INVALID_ARGUMENT", "sequentialWrite(handle, bytes): bytes must be a Uint8Array");
    return env.Undefined();
  }
  h->busy.store(true);
  WriteWorker* worker = new WriteWorker(env, h, info[0].As<Napi::Object>(), info[1].As<Napi::Uint8Array>());
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

Napi::Value FinishSequentialWriter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Holder* h = HolderOf(env, info[0], "finishSequentialWriter(handle)");
  if (h == nullptr) return env.Undefined();
  h->busy.store(true);
  FinishWorker* worker = new FinishWorker(env, h, info[0].As<Napi::Object>());
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

Napi::Value AbortSequentialWriter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsExternal() || !info[0].As<Napi::External<Holder>>().CheckTypeTag(&kSequentialWriterTag)) {
    ThrowTapioError(env, "ERR_INVALID_ARGUMENT",
                    "abortSequentialWriter(handle) needs a handle returned by createSequentialWriter()");
    return env.Undefined();
  }
  Holder* h = info[0].As<Napi::External<Holder>>().Data();
  if (h->busy.load()) {
    ThrowTapioError(env, "ERR_INVALID_ARGUMENT",
                    "abortSequentialWriter(handle) while another call on the same file is under way");
    return env.Undefined();
  }
  if (h->writer != nullptr) {
    h->writer->Abort();
    h->writer.reset();
  }
  return env.Undefined();
}

}  // namespace

void InitSequentialWriter(Napi::Env env, Napi::Object exports) {
  exports.Set("probeDirectIo", Napi::Function::New(env, ProbeDirectIo, "probeDirectIo"));
  exports.Set("createSequentialWriter", Napi::Function::New(env, CreateSequentialWriter, "createSequentialWriter"));
  exports.Set("sequentialWrite", Napi::Function::New(env, SequentialWrite, "sequentialWrite"));
  exports.Set("finishSequentialWriter", Napi::Function::New(env, FinishSequentialWriter, "finishSequentialWriter"));
  exports.Set("abortSequentialWriter", Napi::Function::New(env, AbortSequentialWriter, "abortSequentialWriter"));
}

}  // namespace tapio_binding
