// N-API glue for core/file_lock.h: lockFile(path, contents) takes the flock of `path` without
// waiting and writes `contents` into the file; it returns a handle while the lock is held, or
// null when another open file description (another process) holds it. unlockFile(handle) closes
// the descriptor (the file stays). A failed open, flock or write throws the core's status
// (details: file, operation, errno); the caller turns it into its own message.
//
// The handle is a type-tagged external; a handle that is garbage-collected without unlockFile
// releases its lock in the finalizer (the safety net, not the normal course).
#include <napi.h>

#include <memory>
#include <string>

#include "binding/addon_data.h"
#include "core/file_lock.h"

namespace tapio_binding {
namespace {

const napi_type_tag kFileLockTag = {0x2c7f4e91b3d85a06ull, 0xe1a94b6c0d2f7358ull};

void DeleteFileLock(Napi::Env, tapio::FileLock* lock) { delete lock; }

Napi::Value LockFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    ThrowTapioError(env, "ERR_INVALID_ARGUMENT", "lockFile(path, contents) needs two strings");
    return env.Undefined();
  }
  std::unique_ptr<tapio::FileLock> lock;
  tapio::Status s = tapio::FileLock::TryAcquire(info[0].As<Napi::String>(), &lock);
  if (s.ok() && lock != nullptr) s = lock->WriteContents(info[1].As<Napi::String>());
  if (!s.ok()) {
    ThrowStatus(env, s);  // the lock, if taken, is released as `lock` goes out of scope
    return env.Undefined();
  }
  if (lock == nullptr) return env.Null();
  Napi::External<tapio::FileLock> handle = Napi::External<tapio::FileLock>::New(env, lock.release(), DeleteFileLock);
  handle.TypeTag(&kFileLockTag);
  return handle;
}

Napi::Value UnlockFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsExternal() ||
      !info[0].As<Napi::External<tapio::FileLock>>().CheckTypeTag(&kFileLockTag)) {
    ThrowTapioError(env, "ERR_INVALID_ARGUMENT", "unlockFile(handle) needs a handle returned by lockFile()");
    return env.Undefined();
  }
  info[0].As<Napi::External<tapio::FileLock>>().Data()->Release();
  return env.Undefined();
}

}  // namespace

void InitFileLock(Napi::Env env, Napi::Object exports) {
  exports.Set("lockFile", Napi::Function::New(env, LockFile, "lockFile"));
  exports.Set("unlockFile", Napi::Function::New(env, UnlockFile, "unlockFile"));
}

}  // namespace tapio_binding
