#include <napi.h>

#include <string>
#include <vector>

#include "binding/addon_data.h"

namespace tapio_binding {
namespace {

const char* CodeFor(tapio::StatusCode code) {
  switch (code) {
    case tapio::StatusCode::kOk: return "ERR_NATIVE";
    case tapio::StatusCode::kInvalidArgument: return "ERR_INVALID_ARGUMENT";
    case tapio::StatusCode::kIoError: return "ERR_WAL_IO";
    case tapio::StatusCode::kCorrupt: return "ERR_WAL_CORRUPT";
    case tapio::StatusCode::kTooLarge: return "ERR_RECORD_TOO_LARGE";
    case tapio::StatusCode::kClosed: return "ERR_CLOSED";
    case tapio::StatusCode::kFormatVersion: return "ERR_FORMAT_VERSION";
    case tapio::StatusCode::kInternal: return "ERR_NATIVE";
  }
  return "ERR_NATIVE";
}

// The status details as a plain object, or undefined when there are none.
Napi::Value DetailsObject(Napi::Env env, const std::vector<tapio::StatusDetail>& details) {
  if (details.empty()) return env.Undefined();
  Napi::Object o = Napi::Object::New(env);
  for (const tapio::StatusDetail& d : details) {
    if (d.is_number) {
      o.Set(d.key, Napi::Number::New(env, static_cast<double>(d.number)));
    } else {
      o.Set(d.key, Napi::String::New(env, d.text));
    }
  }
  return o;
}

Napi::Value MakeError(Napi::Env env, const char* code, const std::string& message,
                      const std::vector<tapio::StatusDetail>& details = {}) {
  AddonData* data = env.GetInstanceData<AddonData>();
  Napi::Value detail_object = DetailsObject(env, details);
  if (data != nullptr && !data->tapio_error.IsEmpty()) {
    if (detail_object.IsUndefined()) {
      return data->tapio_error.New({Napi::String::New(env, code), Napi::String::New(env, message)});
    }
    Napi::Object options = Napi::Object::New(env);
    options.Set("details", detail_object);
    return data->tapio_error.New({Napi::String::New(env, code), Napi::String::New(env, message), options});
  }
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  if (!detail_object.IsUndefined()) err.Set("details", detail_object);
  return err.Value();
}

}  // namespace

void ThrowTapioError(Napi::Env env, const char* code, const std::string& message) {
  Napi::Value err = MakeError(env, code, message);
  if (env.IsExceptionPending()) return;  // constructing the error threw; that exception wins
  napi_throw(env, err);
}

void ThrowStatus(Napi::Env env, const tapio::Status& status) {
  Napi::Value err = MakeError(env, CodeFor(status.code()), status.message(), status.details());
  if (env.IsExceptionPending()) return;  // constructing the error threw; that exception wins
  napi_throw(env, err);
}

Napi::Value StatusToError(Napi::Env env, const tapio::Status& status) {
  return MakeError(env, CodeFor(status.code()), status.message(), status.details());
}

bool GetBytes(Napi::Env env, Napi::Value value, const char* what, const uint8_t** data, size_t* length) {
  // Raw N-API calls: one call for the common typed-array case, no intermediate handles.
  napi_typedarray_type type;
  size_t count = 0;
  void* ptr = nullptr;
  napi_value arraybuffer;
  size_t offset = 0;
  if (napi_get_typedarray_info(env, value, &type, &count, &ptr, &arraybuffer, &offset) == napi_ok) {
    static const size_t kElementSize[] = {1, 1, 1, 2, 2, 4, 4, 4, 8, 8, 8};
    size_t index = static_cast<size_t>(type);
    *data = static_cast<const uint8_t*>(ptr);
    *length = count * (index < sizeof kElementSize / sizeof kElementSize[0] ? kElementSize[index] : 1);
    return true;
  }
  if (env.IsExceptionPending()) return false;
  if (value.IsDataView()) {
    Napi::DataView dv = value.As<Napi::DataView>();
    *data = static_cast<const uint8_t*>(dv.Data());
    *length = dv.ByteLength();
    return true;
  }
  if (value.IsArrayBuffer()) {
    Napi::ArrayBuffer ab = value.As<Napi::ArrayBuffer>();
    *data = static_cast<const uint8_t*>(ab.Data());
    *length = ab.ByteLength();
    return true;
  }
  ThrowTapioError(env, "ERR_INVALID_ARGUMENT",
                  std::string(what) + " must be a Uint8Array, another TypedArray, a DataView or an ArrayBuffer");
  return false;
}

}  // namespace tapio_binding
