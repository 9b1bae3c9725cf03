#include <napi.h>

#include "binding/addon_data.h"
#include "core/crc32c.h"

namespace tapio_binding {
namespace {

// crc32c(bytes, initial = 0): the CRC32C of the bytes, extending `initial`.
Napi::Value Crc32c(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint8_t* data = nullptr;
  size_t length = 0;
  if (info.Length() < 1 || !GetBytes(env, info[0], "crc32c(bytes): bytes", &data, &length)) {
    if (!env.IsExceptionPending()) ThrowTapioError(env, "ERR_INVALID_ARGUMENT", "crc32c(bytes) needs one argument");
    return env.Undefined();
  }
  uint32_t initial = 0;
  if (info.Length() >= 2 && !info[1].IsUndefined()) {
    if (!info[1].IsNumber()) {
      ThrowTapioError(env, "ERR_INVALID_ARGUMENT", "crc32c(bytes, initial): initial must be a number");
      return env.Undefined();
    }
    initial = info[1].As<Napi::Number>().Uint32Value();
  }
  return Napi::Number::New(env, tapio::crc32c::Extend(initial, data, length));
}

// The cheapest possible call, the baseline for the cost of crossing the boundary.
Napi::Value Noop(const Napi::CallbackInfo& info) { return info.Env().Undefined(); }

}  // namespace

void InitCrc32c(Napi::Env env, Napi::Object exports) {
  exports.Set("crc32c", Napi::Function::New(env, Crc32c, "crc32c"));
  exports.Set("noop", Napi::Function::New(env, Noop, "noop"));
}

}  // namespace tapio_binding
