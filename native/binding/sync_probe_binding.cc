#include <napi.h>

#include <string>
#include <utility>

#include "binding/addon_data.h"
#include "core/sync_probe.h"

namespace tapio_binding {
namespace {

using tapio::wal::SyncProbeOptions;
using tapio::wal::SyncProbeResult;

class SyncProbeWorker : public Napi::AsyncWorker {
 public:
  SyncProbeWorker(Napi::Env env, SyncProbeOptions options)
      : Napi::AsyncWorker(env, "tapio-sync-probe"),
        deferred_(Napi::Promise::Deferred::New(env)),
        options_(std::move(options)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override { status_ = tapio::wal::RunSyncProbe(options_, &result_); }

  void OnOK() override {
    Napi::Env env = Env();
    if (!status_.ok()) {
      deferred_.Reject(StatusToError(env, status_));
      return;
    }
    Napi::Object out = Napi::Object::New(env);
    if (!result_.not_run.ok()) {
      out.Set("notRun", StatusToJs(env, result_.not_run));
      deferred_.Resolve(out);
      return;
    }
    Napi::Float64Array micros = Napi::Float64Array::New(env, result_.cycle_nanos.size());
    for (size_t i = 0; i < result_.cycle_nanos.size(); i++)
      micros[i] = static_cast<double>(result_.cycle_nanos[i]) / 1000.0;
    out.Set("cycleMicros", micros);
    out.Set("writeBytes", Napi::Number::New(env, static_cast<double>(result_.write_bytes)));
    out.Set("alignment", Napi::Number::New(env, static_cast<double>(result_.alignment)));
    out.Set("files", Napi::Number::New(env, static_cast<double>(result_.files)));
    deferred_.Resolve(out);
  }

 private:
  Napi::Promise::Deferred deferred_;
  SyncProbeOptions options_;
  tapio::Status status_;
  SyncProbeResult result_;
};

bool ReadWhole(Napi::Env env, Napi::Object o, const char* key, double max, uint64_t* out) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return true;
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= 0 && d <= max && d == static_cast<double>(static_cast<uint64_t>(d)))) {
    ThrowTapioError(env, "ERR_INVALID_ARGUMENT",
                    std::string("syncProbe: ") + key + " must be a whole number from 0 to " +
                        std::to_string(static_cast<uint64_t>(max)));
    return false;
  }
  *out = static_cast<uint64_t>(d);
  return true;
}

// syncProbe({ dir, mode, writeBytes, fileBytes, maxCycles, maxMicros }): resolves
// { cycleMicros: Float64Array, writeBytes, alignment, files }, or { notRun: { reason, details } }
// when the mode cannot run on this file system (see core/sync_probe.h).
Napi::Value SyncProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    ThrowTapioError(env, "ERR_INVALID_ARGUMENT", "syncProbe(options) needs an options object");
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  SyncProbeOptions options;
  Napi::Value dir = o.Get("dir");
  Napi::Value mode = o.Get("mode");
  if (!dir.IsString() || !mode.IsString() || !tapio::wal::ParseSyncProbeMode(mode.As<Napi::String>(), &options.mode)) {
    ThrowTapioError(env, "ERR_INVALID_ARGUMENT",
                    "syncProbe: dir must be a string and mode one of the probe's mode names");
    return env.Undefined();
  }
  options.dir = dir.As<Napi::String>();
  uint64_t write_bytes = options.write_bytes;
  constexpr double kMaxWhole = 9007199254740991.0;
  if (!ReadWhole(env, o, "writeBytes", kMaxWhole, &write_bytes) ||
      !ReadWhole(env, o, "fileBytes", kMaxWhole, &options.file_bytes) ||
      !ReadWhole(env, o, "maxCycles", kMaxWhole, &options.max_cycles) ||
      !ReadWhole(env, o, "maxMicros", kMaxWhole, &options.max_micros)) {
    return env.Undefined();
  }
  // Out-of-range sizes are the core's to refuse; keep a value that still fails its check.
  options.write_bytes =
      static_cast<size_t>(write_bytes > tapio::kMaxSyncProbeWrite ? tapio::kMaxSyncProbeWrite + 1 : write_bytes);
  SyncProbeWorker* worker = new SyncProbeWorker(env, std::move(options));
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

}  // namespace

void InitSyncProbe(Napi::Env env, Napi::Object exports) {
  exports.Set("syncProbe", Napi::Function::New(env, SyncProbe, "syncProbe"));
}

}  // namespace tapio_binding
