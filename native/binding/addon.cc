// Entry point of the tapio-storage addon: wires up every binding file and the init() that hands
// over the TypeScript error class and the function that turns a core status into a TapioError.
#include <napi.h>

#include "binding/addon_data.h"
#include "core/cpu_features.h"
#include "core/crc32c.h"

namespace tapio_binding {
namespace {

// init(TapioError, reasonError): remembers the class the binding's own errors are built from,
// and reasonError(reason, details), which builds the TapioError for a core status.
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsFunction() || !info[1].IsFunction()) {
    Napi::TypeError::New(env, "init(TapioError, reasonError) needs the TapioError class and the reasonError function")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  AddonData* data = env.GetInstanceData<AddonData>();
  data->tapio_error = Napi::Persistent(info[0].As<Napi::Function>());
  data->reason_error = Napi::Persistent(info[1].As<Napi::Function>());
  return env.Undefined();
}

Napi::Value Features(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const tapio::CpuFeatures& f = tapio::GetCpuFeatures();
  Napi::Object out = Napi::Object::New(env);
  out.Set("simd", tapio::SimdLevel());
  out.Set("crc32c", tapio::crc32c::IsHardware() ? "hardware" : "table");
  out.Set("sse42", f.sse42);
  out.Set("pclmul", f.pclmul);
  out.Set("avx2", f.avx2);
  out.Set("avx512", f.avx512);
  out.Set("neon", f.neon);
  return out;
}

Napi::Object Register(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());
  exports.Set("init", Napi::Function::New(env, Init, "init"));
  exports.Set("features", Napi::Function::New(env, Features, "features"));
  exports.Set("abiVersion", Napi::Number::New(env, 13));
  InitCrc32c(env, exports);
  InitWal(env, exports);
  InitRing(env, exports);
  InitSyncProbe(env, exports);
  InitFileLock(env, exports);
  InitMerge(env, exports);
  InitCosine(env, exports);
  InitSelect(env, exports);
  InitJsonCheck(env, exports);
  InitDirectReader(env, exports);
  InitSequentialWriter(env, exports);
  return exports;
}

}  // namespace
}  // namespace tapio_binding

static Napi::Object RegisterTapioNative(Napi::Env env, Napi::Object exports) {
  return tapio_binding::Register(env, exports);
}

NODE_API_MODULE(tapio_native, RegisterTapioNative)
