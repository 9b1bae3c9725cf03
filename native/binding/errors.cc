// Errors for JavaScript: a core status goes to reasonError(reason, details), the TypeScript
// function init() handed over, which writes the message; nothing here writes one for a status.
#include <napi.h>

#include <string>
#include <vector>

#include "binding/addon_data.h"

namespace tapio_binding {
namespace {

// The status details as a plain object (empty when there are none).
Napi::Object DetailsObject(Napi::Env env, const std::vector<tapio::StatusDetail>& details) {
  Napi::Object o = Napi::Object::New(env);
  for (const tapio::StatusDetail& d : details) {
    switch (d.kind) {
      case tapio::StatusDetail::Kind::kText:
        o.Set(d.key, Napi::String::New(env, d.text));
        break;
      case tapio::StatusDetail::Kind::kNumber:
        o.Set(d.key, Napi::Number::New(env, static_cast<double>(d.number)));
        break;
      case tapio::StatusDetail::Kind::kFlag:
        o.Set(d.key, Napi::Boolean::New(env, d.number != 0));
        break;
    }
  }
  return o;
}

// An Error with a code and details, for when init() has not handed over what builds TapioErrors.
Napi::Value PlainError(Napi::Env env, const char* code, const std::string& message, Napi::Value details) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  if (!details.IsUndefined()) err.Set("details", details);
  return err.Value();
}

Napi::Value MakeStatusError(Napi::Env env, const tapio::Status& status) {
  AddonData* data = env.GetInstanceData<AddonData>();
  Napi::Object details = DetailsObject(env, status.details());
  if (data == nullptr || data->reason_error.IsEmpty()) return PlainError(env, "ERR_NATIVE", status.ToString(), details);
  return data->reason_error.Call({Napi::String::New(env, status.reason_name()), details});
}

}  // namespace

void ThrowTapioError(Napi::Env env, const char* code, const std::string& message) {
  AddonData* data = env.GetInstanceData<AddonData>();
  Napi::Value err =
      data != nullptr && !data->tapio_error.IsEmpty()
          ? Napi::Value(data->tapio_error.New({Napi::String::New(env, code), Napi::String::New(env, message)}))
          : PlainError(env, code, message, env.Undefined());
  if (env.IsExceptionPending()) return;  // constructing the error threw; that exception wins
  napi_throw(env, err);
}

void ThrowStatus(Napi::Env env, const tapio::Status& status) {
  Napi::Value err = MakeStatusError(env, status);
  if (env.IsExceptionPending()) return;  // building the error threw; that exception wins
  napi_throw(env, err);
}

Napi::Value StatusToError(Napi::Env env, const tapio::Status& status) {
  Napi::Value err = MakeStatusError(env, status);
  if (env.IsExceptionPending()) return env.GetAndClearPendingException().Value();  // reject with what it threw
  return err;
}

Napi::Value StatusToJs(Napi::Env env, const tapio::Status& status) {
  if (status.ok()) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  o.Set("reason", Napi::String::New(env, status.reason_name()));
  o.Set("details", DetailsObject(env, status.details()));
  return o;
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
