// Per-environment state of the addon (one per Node.js thread that loads it).
#ifndef TAPIO_BINDING_ADDON_DATA_H_
#define TAPIO_BINDING_ADDON_DATA_H_

#include <napi.h>

#include <string>

#include "core/status.h"

namespace tapio_binding {

struct AddonData {
  // The TypeScript TapioError class, handed over by init(); the binding's own argument errors
  // are built from it.
  Napi::FunctionReference tapio_error;
  // reasonError(reason, details) from src/transit/reasons.ts, handed over by init(): the one
  // place that turns a core status (its reason's name and its details) into a TapioError.
  Napi::FunctionReference reason_error;
  // The NativeWalWriter class, to build instances from C++.
  Napi::FunctionReference wal_writer;
};

// Throws a TapioError(code, message) into JavaScript: for the binding's own checks of what it
// is handed, which the facade never gets wrong. The caller must return right after.
void ThrowTapioError(Napi::Env env, const char* code, const std::string& message);

// Throws the TapioError reasonError(reason, details) builds for a failed core status. The
// caller must return right after.
void ThrowStatus(Napi::Env env, const tapio::Status& status);

// Builds (without throwing) the TapioError reasonError(reason, details) gives for a failed core
// status.
Napi::Value StatusToError(Napi::Env env, const tapio::Status& status);

// A status as plain data for JavaScript: { reason, details } (details: an object of strings,
// numbers and booleans), or null when it is ok. For report fields such as why a checkpoint was
// ignored, which TypeScript words through the same module.
Napi::Value StatusToJs(Napi::Env env, const tapio::Status& status);

// Reads a byte view of a TypedArray, DataView or ArrayBuffer argument. Returns false and throws
// ERR_INVALID_ARGUMENT naming `what` when the value is none of them.
bool GetBytes(Napi::Env env, Napi::Value value, const char* what, const uint8_t** data, size_t* length);

void InitCrc32c(Napi::Env env, Napi::Object exports);
void InitWal(Napi::Env env, Napi::Object exports);
void InitRing(Napi::Env env, Napi::Object exports);
void InitSyncProbe(Napi::Env env, Napi::Object exports);
void InitFileLock(Napi::Env env, Napi::Object exports);
void InitMerge(Napi::Env env, Napi::Object exports);
void InitCosine(Napi::Env env, Napi::Object exports);
void InitSelect(Napi::Env env, Napi::Object exports);
void InitJsonCheck(Napi::Env env, Napi::Object exports);
void InitDirectReader(Napi::Env env, Napi::Object exports);
void InitSequentialWriter(Napi::Env env, Napi::Object exports);

}  // namespace tapio_binding

#endif  // TAPIO_BINDING_ADDON_DATA_H_
