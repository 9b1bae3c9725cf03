// N-API glue for the ring buffer alone (core/ring_buffer.h), used by the benchmarks and tests
// that measure or check the ring without a writer: new NativeRing(capacity), push(records,
// producerId, ticket) -> 'ok' | 'full' | 'too-large', drain() -> records drained (and released).
#include <napi.h>

#include <memory>
#include <vector>

#include "binding/addon_data.h"
#include "core/ring_buffer.h"

namespace tapio_binding {
namespace {

const napi_type_tag kRingTag = {0x51c2d7e4a0b94f3aull, 0x8d6e1f2b7c3a4e95ull};

class NativeRing : public Napi::ObjectWrap<NativeRing> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeRing",
                       {
                           InstanceMethod<&NativeRing::Push>("push"),
                           InstanceMethod<&NativeRing::Drain>("drain"),
                           InstanceMethod<&NativeRing::UsedBytes>("usedBytes"),
                       });
  }

  explicit NativeRing(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeRing>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) {
      ThrowTapioError(env, "ERR_INVALID_ARGUMENT", "new NativeRing(capacity) needs a capacity in bytes");
      return;
    }
    tapio::Status s = tapio::RingBuffer::Create(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()), &ring_);
    if (!s.ok()) {
      ThrowStatus(env, s);
      return;
    }
    Value().TypeTag(&kRingTag);
  }

 private:
  Napi::Value Push(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsArray()) {
      ThrowTapioError(env, "ERR_INVALID_ARGUMENT", "push(records) needs an array of Uint8Array");
      return env.Undefined();
    }
    Napi::Array array = info[0].As<Napi::Array>();
    const uint32_t count = array.Length();
    datas_.resize(count);
    lengths_.resize(count);
    for (uint32_t i = 0; i < count; i++) {
      napi_value element;
      if (napi_get_element(env, array, i, &element) != napi_ok) return env.Undefined();
      const uint8_t* data = nullptr;
      size_t length = 0;
      if (!GetBytes(env, Napi::Value(env, element), "each record", &data, &length)) return env.Undefined();
      datas_[i] = data;
      lengths_[i] = static_cast<uint32_t>(length);
    }
    const uint32_t producer = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 0;
    const uint64_t ticket =
        info.Length() > 2 && info[2].IsNumber() ? static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value()) : 0;
    switch (ring_->Push(producer, ticket, datas_.data(), lengths_.data(), count)) {
      case tapio::RingBuffer::PushResult::kOk:
        return Napi::String::New(env, "ok");
      case tapio::RingBuffer::PushResult::kFull:
        return Napi::String::New(env, "full");
      case tapio::RingBuffer::PushResult::kTooLarge:
        return Napi::String::New(env, "too-large");
    }
    return env.Undefined();
  }

  // Consumes every committed entry; returns the number of records in them.
  Napi::Value Drain(const Napi::CallbackInfo& info) {
    uint64_t records = 0;
    uint64_t bytes = ring_->Drain([&records](const tapio::RingEntry& entry) {
      records += entry.record_count;
      return true;
    });
    ring_->Release(bytes);
    return Napi::Number::New(info.Env(), static_cast<double>(records));
  }

  Napi::Value UsedBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(ring_->UsedBytes()));
  }

  std::unique_ptr<tapio::RingBuffer> ring_;
  std::vector<const uint8_t*> datas_;
  std::vector<uint32_t> lengths_;
};

}  // namespace

void InitRing(Napi::Env env, Napi::Object exports) { exports.Set("NativeRing", NativeRing::Define(env)); }

}  // namespace tapio_binding
