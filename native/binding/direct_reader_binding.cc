// N-API glue for core/direct_reader.h, used by the transit reader on the native path:
//   openDirectReader(path, alignment) -> handle, or null when the file system refuses direct I/O
//   directRead(handle, into, position) -> Promise<number>: bytes copied into `into` from
//     `position` (fewer than asked only at the end of the file), read on a libuv pool thread
//   closeDirectReader(handle): the descriptor closes once no read is under way
// A failed open or read throws or rejects with the core's status (details: operation, file,
// errno). The handle is a type-tagged external; one garbage-collected without
// closeDirectReader closes its descriptor in the finalizer.
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>

#include "binding/addon_data.h"
#include "core/direct_reader.h"

namespace tapio_binding {
namespace {

const napi_type_tag kDirectReaderTag = {0x5d0b7a3e91c4f268ull, 0x8e2f61d4a7b93c05ull};

// What the handle holds; reads under way hold the reader too.
struct Holder {
  std::shared_ptr<tapio::wal::DirectReader> reader;
};

void DeleteHolder(Napi::Env, Holder* h) { delete h; }

Holder* HolderOf(Napi::Env env, Napi::Value v, const char* call) {
  if (!v.IsExternal() || !v.As<Napi::External<Holder>>().CheckTypeTag(&kDirectReaderTag)) {
    ThrowTapioError(env, "ERR_INVALID_ARGUMENT", std::string(call) + " needs a handle returned by openDirectReader()");
    return nullptr;
  }
  return v.As<Napi::External<Holder>>().Data();
}

Napi::Value OpenDirectReader(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) {
    ThrowTapioError(env, "ERR_INVALID_ARGUMENT", "openDirectReader(path, alignment) needs a path and a block size");
    return env.Undefined();
  }
  const double alignment = info[1].As<Napi::Number>().DoubleValue();
  std::unique_ptr<tapio::wal::DirectReader> reader;
  tapio::Status s = tapio::wal::DirectReader::Open(
      info[0].As<Napi::String>(), alignment >= 0 && alignment <= 1 << 30 ? static_cast<size_t>(alignment) : 0, &reader);
  if (!s.ok()) {
    ThrowStatus(env, s);
    return env.Undefined();
  }
  if (reader == nullptr) return env.Null();
  Holder* h = new Holder{std::shared_ptr<tapio::wal::DirectReader>(reader.release())};
  Napi::External<Holder> handle = Napi::External<Holder>::New(env, h, DeleteHolder);
  handle.TypeTag(&kDirectReaderTag);
  return handle;
}

class ReadWorker : public Napi::AsyncWorker {
 public:
  ReadWorker(Napi::Env env, std::shared_ptr<tapio::wal::DirectReader> reader, Napi::Uint8Array into, uint64_t position)
      : Napi::AsyncWorker(env, "tapio-direct-read"),
        deferred_(Napi::Promise::Deferred::New(env)),
        reader_(std::move(reader)),
        held_(Napi::Persistent(into.As<Napi::Object>())),
        data_(into.Data()),
        length_(into.ByteLength()),
        position_(position) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  // On a libuv pool thread: writes only into the array's memory, which the reference keeps alive.
  void Execute() override { status_ = reader_->Read(position_, data_, length_, &got_); }

  void OnOK() override {
    if (status_.ok()) {
      deferred_.Resolve(Napi::Number::New(Env(), static_cast<double>(got_)));
    } else {
      deferred_.Reject(StatusToError(Env(), status_));
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<tapio::wal::DirectReader> reader_;
  Napi::ObjectReference held_;
  uint8_t* data_;
  size_t length_;
  uint64_t position_;
  size_t got_ = 0;
  tapio::Status status_;
};

Napi::Value DirectRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Holder* h = HolderOf(env, info[0], "directRead(handle, into, position)");
  if (h == nullptr) return env.Undefined();
  if (h->reader == nullptr) {
    ThrowTapioError(env, "ERR_CLOSED", "directRead(handle, into, position) after closeDirectReader(handle)");
    return env.Undefined();
  }
  if (info.Length() < 3 || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowTapioError(env, "ERR_INVALID_ARGUMENT", "directRead(handle, into, position): into must be a Uint8Array");
    return env.Undefined();
  }
  const double position = info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : -1;
  if (!(position >= 0 && position <= 9007199254740991.0 && std::floor(position) == position)) {
    ThrowTapioError(env, "ERR_INVALID_ARGUMENT",
                    "directRead(handle, into, position): position must be a whole number >= 0");
    return env.Undefined();
  }
  ReadWorker* worker = new ReadWorker(env, h->reader, info[1].As<Napi::Uint8Array>(), static_cast<uint64_t>(position));
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

Napi::Value CloseDirectReader(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Holder* h = HolderOf(env, info[0], "closeDirectReader(handle)");
  if (h == nullptr) return env.Undefined();
  h->reader.reset();
  return env.Undefined();
}

}  // namespace

void InitDirectReader(Napi::Env env, Napi::Object exports) {
  exports.Set("openDirectReader", Napi::Function::New(env, OpenDirectReader, "openDirectReader"));
  exports.Set("directRead", Napi::Function::New(env, DirectRead, "directRead"));
  exports.Set("closeDirectReader", Napi::Function::New(env, CloseDirectReader, "closeDirectReader"));
}

}  // namespace tapio_binding
