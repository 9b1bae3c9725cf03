// checkNdjson (core/json_check.h): one call per request body. The body is read in place; the line
// ranges go into the caller's Uint32Array and the outcome into the caller's Float64Array (the
// slots are RESULT_SLOTS in src/server/ndjson.ts), so a call allocates nothing in JavaScript. The
// argument checks and their messages are the TypeScript twin's (src/server/ndjson.ts);
// test/server/ndjson.test.ts holds the two to the same words.
#include <napi.h>

#include <cmath>
#include <string>

#include "binding/addon_data.h"
#include "core/json_check.h"

namespace tapio_binding {
namespace {

constexpr char kSignature[] =
    "checkNdjson(body: Uint8Array, maxLine: number, maxLines: number, ranges: Uint32Array, result: Float64Array)";
// outcome, fault, count, line, offset, length, lineStart.
constexpr size_t kResultSlots = 7;
// The most a body may hold: line ranges are 32-bit offsets.
constexpr size_t kMaxBody = 0xFFFFFFFFu;

bool Fail(Napi::Env env, const std::string& what) {
  ThrowTapioError(env, "ERR_INVALID_ARGUMENT", std::string(kSignature) + ": " + what);
  return false;
}

bool IsArrayOf(Napi::Value v, napi_typedarray_type type) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == type;
}

// A whole number from 0 to 2^53 - 1.
bool ReadCount(Napi::Env env, Napi::Value v, const char* name, size_t* out) {
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!(d >= 0 && d <= 9007199254740991.0) || std::floor(d) != d) {
    return Fail(env, std::string(name) + " must be a whole number from 0 to 2^53 - 1");
  }
  *out = static_cast<size_t>(d);
  return true;
}

Napi::Value CheckNdjsonJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!IsArrayOf(info[0], napi_uint8_array)) return Fail(env, "body must be a Uint8Array"), env.Undefined();
  Napi::Uint8Array body = info[0].As<Napi::Uint8Array>();
  const size_t len = body.ElementLength();
  if (len > kMaxBody) return Fail(env, "body must hold fewer than 2^32 bytes"), env.Undefined();
  size_t max_line = 0;
  size_t max_lines = 0;
  if (!ReadCount(env, info[1], "maxLine", &max_line)) return env.Undefined();
  if (!ReadCount(env, info[2], "maxLines", &max_lines)) return env.Undefined();
  const size_t need = 2 * tapio::json_check::NdjsonLineBound(len, max_lines);
  if (!IsArrayOf(info[3], napi_uint32_array) || info[3].As<Napi::Uint32Array>().ElementLength() < need) {
    Fail(env, "ranges must be a Uint32Array of at least 2 * min(maxLines, ceil(body.length / 2)) entries, " +
                  std::to_string(need) + " here");
    return env.Undefined();
  }
  if (!IsArrayOf(info[4], napi_float64_array) || info[4].As<Napi::Float64Array>().ElementLength() < kResultSlots) {
    return Fail(env, "result must be a Float64Array of at least 7 entries"), env.Undefined();
  }
  uint32_t* ranges = info[3].As<Napi::Uint32Array>().Data();
  // The ranges are written while the body is read: they may not share its bytes.
  const uint8_t* bytes = body.Data();
  const uint8_t* out = reinterpret_cast<const uint8_t*>(ranges);
  if (need > 0 && len > 0 && out < bytes + len && bytes < out + need * sizeof(uint32_t)) {
    return Fail(env, "ranges must not share memory with body"), env.Undefined();
  }
  double* result = info[4].As<Napi::Float64Array>().Data();
  const tapio::json_check::NdjsonResult r =
      tapio::json_check::CheckNdjson(body.Data(), len, max_line, max_lines, ranges);
  result[0] = static_cast<double>(r.outcome);
  result[1] = static_cast<double>(r.fault);
  result[2] = static_cast<double>(r.count);
  result[3] = static_cast<double>(r.line);
  result[4] = static_cast<double>(r.offset);
  result[5] = static_cast<double>(r.length);
  result[6] = static_cast<double>(r.line_start);
  return env.Undefined();
}

}  // namespace

void InitJsonCheck(Napi::Env env, Napi::Object exports) {
  exports.Set("checkNdjson", Napi::Function::New(env, CheckNdjsonJs, "checkNdjson"));
}

}  // namespace tapio_binding
