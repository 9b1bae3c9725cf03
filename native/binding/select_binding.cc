// selectTimeRange, selectByCode and selectByMask (core/select_kernels.h): one call per column and
// selection. The typed arrays are read in place; the kernel writes into native scratch memory and
// the kept rows are copied into a new Uint32Array of exactly their number, so a result holds no
// more memory than it needs. The argument checks and their messages are the TypeScript twin's
// (src/query/select-kernels.ts); test/query/select-kernels.test.ts holds the two to the same words.
#include <napi.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "binding/addon_data.h"
#include "core/select_kernels.h"

namespace tapio_binding {
namespace {

constexpr char kTimeRangeSignature[] = "selectTimeRange(ts: Float64Array, rows: number, from: number, to: number)";
constexpr char kByCodeSignature[] =
    "selectByCode(codes: Uint8Array, lut: Uint8Array, sel: Uint32Array | null, want: 0 | 1)";
constexpr char kByMaskSignature[] = "selectByMask(present: Uint8Array, sel: Uint32Array | null, want: 0 | 1)";

bool Fail(Napi::Env env, const char* signature, const std::string& what) {
  ThrowTapioError(env, "ERR_INVALID_ARGUMENT", std::string(signature) + ": " + what);
  return false;
}

bool IsArrayOf(Napi::Value v, napi_typedarray_type type) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == type;
}

// want: the number 0 or 1.
bool ReadWant(Napi::Env env, const char* signature, Napi::Value v, uint8_t* want) {
  if (!v.IsNumber()) return Fail(env, signature, "want must be 0 or 1");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (d != 0 && d != 1) return Fail(env, signature, "want must be 0 or 1");
  *want = static_cast<uint8_t>(d);
  return true;
}

// sel: null or undefined (every row below `length`), or a Uint32Array of ascending rows below
// `length`. Sets *sel to null for every row, else to the entries (a valid pointer even when empty).
bool ReadSel(Napi::Env env, const char* signature, Napi::Value v, size_t length, const uint32_t** sel, size_t* count) {
  if (v.IsNull() || v.IsUndefined()) {
    *sel = nullptr;
    *count = length;
    return true;
  }
  if (!IsArrayOf(v, napi_uint32_array)) return Fail(env, signature, "sel must be a Uint32Array or null");
  Napi::Uint32Array array = v.As<Napi::Uint32Array>();
  const uint32_t* s = array.Data();
  const size_t n = array.ElementLength();
  for (size_t i = 0; i < n; i++) {
    if (s[i] >= length || (i > 0 && s[i] <= s[i - 1])) {
      return Fail(env, signature,
                  "sel must hold ascending row numbers below " + std::to_string(length) + "; sel[" + std::to_string(i) +
                      "] is " + std::to_string(s[i]));
    }
  }
  static const uint32_t kNone = 0;
  *sel = n == 0 ? &kNone : s;
  *count = n;
  return true;
}

// Runs `kernel` into scratch memory with room for `capacity` rows and returns the kept rows as a
// Uint32Array of their exact number. The scratch is kept for the next call on this thread (it
// grows to the largest input seen, 4 bytes a row): fresh memory each call would be page-faulted
// in again every time, which measured slower than the kernel itself.
template <typename Kernel>
Napi::Value Collect(Napi::Env env, size_t capacity, Kernel kernel) {
  thread_local std::vector<uint32_t> scratch;
  if (scratch.size() < capacity) scratch.resize(capacity);
  const size_t n = capacity == 0 ? 0 : kernel(scratch.data());
  Napi::Uint32Array out = Napi::Uint32Array::New(env, n);
  if (n > 0) std::memcpy(out.Data(), scratch.data(), n * sizeof(uint32_t));
  return out;
}

Napi::Value SelectTimeRangeJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* sig = kTimeRangeSignature;
  if (!IsArrayOf(info[0], napi_float64_array)) return Fail(env, sig, "ts must be a Float64Array"), env.Undefined();
  Napi::Float64Array ts = info[0].As<Napi::Float64Array>();
  const double length = static_cast<double>(ts.ElementLength());
  const double rows = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : NAN;
  if (!(rows >= 0 && rows <= length) || std::floor(rows) != rows) {
    Fail(env, sig, "rows must be a whole number from 0 to the length of ts, " + std::to_string(ts.ElementLength()));
    return env.Undefined();
  }
  if (!info[2].IsNumber() || std::isnan(info[2].As<Napi::Number>().DoubleValue()))
    return Fail(env, sig, "from must be a number (-Infinity for no lower bound), not NaN"), env.Undefined();
  if (!info[3].IsNumber() || std::isnan(info[3].As<Napi::Number>().DoubleValue()))
    return Fail(env, sig, "to must be a number (Infinity for no upper bound), not NaN"), env.Undefined();
  const double from = info[2].As<Napi::Number>().DoubleValue();
  const double to = info[3].As<Napi::Number>().DoubleValue();
  const double* data = ts.Data();
  const size_t n = static_cast<size_t>(rows);
  if (tapio::select::TimeRangePrefix(data, n, from, to) == n) return env.Null();
  return Collect(env, n, [&](uint32_t* out) { return tapio::select::SelectTimeRange(data, n, from, to, out); });
}

Napi::Value SelectByCodeJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* sig = kByCodeSignature;
  if (!IsArrayOf(info[0], napi_uint8_array)) return Fail(env, sig, "codes must be a Uint8Array"), env.Undefined();
  Napi::Uint8Array codes = info[0].As<Napi::Uint8Array>();
  if (!IsArrayOf(info[1], napi_uint8_array) || info[1].As<Napi::Uint8Array>().ElementLength() != 256)
    return Fail(env, sig, "lut must be a Uint8Array of 256 entries"), env.Undefined();
  Napi::Uint8Array lut = info[1].As<Napi::Uint8Array>();
  for (size_t c = 0; c < 256; c++) {
    if (lut[c] > 1) {
      Fail(env, sig, "lut entries must be 0 or 1; lut[" + std::to_string(c) + "] is " + std::to_string(lut[c]));
      return env.Undefined();
    }
  }
  const uint32_t* sel = nullptr;
  size_t count = 0;
  uint8_t want = 0;
  if (!ReadSel(env, sig, info[2], codes.ElementLength(), &sel, &count)) return env.Undefined();
  if (!ReadWant(env, sig, info[3], &want)) return env.Undefined();
  const uint8_t* c = codes.Data();
  const uint8_t* l = lut.Data();
  return Collect(env, count, [&](uint32_t* out) { return tapio::select::SelectByCode(c, l, sel, count, want, out); });
}

Napi::Value SelectByMaskJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* sig = kByMaskSignature;
  if (!IsArrayOf(info[0], napi_uint8_array)) return Fail(env, sig, "present must be a Uint8Array"), env.Undefined();
  Napi::Uint8Array present = info[0].As<Napi::Uint8Array>();
  const uint32_t* sel = nullptr;
  size_t count = 0;
  uint8_t want = 0;
  if (!ReadSel(env, sig, info[1], present.ElementLength(), &sel, &count)) return env.Undefined();
  if (!ReadWant(env, sig, info[2], &want)) return env.Undefined();
  const uint8_t* flags = present.Data();
  return Collect(env, count, [&](uint32_t* out) { return tapio::select::SelectByMask(flags, sel, count, want, out); });
}

}  // namespace

void InitSelect(Napi::Env env, Napi::Object exports) {
  exports.Set("selectTimeRange", Napi::Function::New(env, SelectTimeRangeJs, "selectTimeRange"));
  exports.Set("selectByCode", Napi::Function::New(env, SelectByCodeJs, "selectByCode"));
  exports.Set("selectByMask", Napi::Function::New(env, SelectByMaskJs, "selectByMask"));
}

}  // namespace tapio_binding
