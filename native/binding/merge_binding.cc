#include <napi.h>

#include <vector>

#include "binding/addon_data.h"
#include "core/merge_order.h"

namespace tapio_binding {
namespace {

// mergeOrder(inputs: Float64Array[], want): Uint32Array of pairs (input, offset); see
// core/merge_order.h. One call per output row group; the inputs are read in place.
Napi::Value MergeOrderJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsNumber()) {
    ThrowTapioError(env, "ERR_INVALID_ARGUMENT",
                    "mergeOrder(inputs, want): inputs must be an array of Float64Array and want a number");
    return env.Undefined();
  }
  Napi::Array list = info[0].As<Napi::Array>();
  std::vector<tapio::MergeInput> inputs;
  inputs.reserve(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value v = list.Get(i);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
      ThrowTapioError(env, "ERR_INVALID_ARGUMENT", "mergeOrder(inputs, want): every input must be a Float64Array");
      return env.Undefined();
    }
    Napi::Float64Array a = v.As<Napi::Float64Array>();
    inputs.push_back({a.Data(), a.ElementLength()});
  }
  const double want_d = info[1].As<Napi::Number>().DoubleValue();
  if (!(want_d >= 0) || want_d > 4294967295.0) {
    ThrowTapioError(env, "ERR_INVALID_ARGUMENT", "mergeOrder(inputs, want): want must be a whole number >= 0");
    return env.Undefined();
  }
  std::vector<uint32_t> pairs;
  tapio::MergeOrder(inputs, static_cast<size_t>(want_d), &pairs);
  Napi::Uint32Array out = Napi::Uint32Array::New(env, pairs.size());
  if (!pairs.empty()) std::copy(pairs.begin(), pairs.end(), out.Data());
  return out;
}

}  // namespace

void InitMerge(Napi::Env env, Napi::Object exports) {
  exports.Set("mergeOrder", Napi::Function::New(env, MergeOrderJs, "mergeOrder"));
}

}  // namespace tapio_binding
