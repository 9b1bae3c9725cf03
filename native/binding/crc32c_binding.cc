#include <napi.h>

#include "binding/addon_data.h"
#include "core/crc32c.h"

namespace tapio_binding {
namespace {

// crc32c(bytes, initial = 0): the CRC32C of the bytes, extending `initial`. Written against the
// C API to keep the per-call cost of small buffers low (the WAL checksums 200-byte records).
napi_value Crc32c(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) return nullptr;
  Napi::Env e(env);
  const uint8_t* data = nullptr;
  size_t length = 0;
  if (argc < 1) {
    ThrowTapioError(e, "ERR_INVALID_ARGUMENT", "crc32c(bytes) needs one argument");
    return nullptr;
  }
  if (!GetBytes(e, Napi::Value(env, argv[0]), "crc32c(bytes): bytes", &data, &length)) return nullptr;
  uint32_t initial = 0;
  if (argc >= 2) {
    napi_valuetype t;
    napi_typeof(env, argv[1], &t);
    if (t == napi_number) {
      napi_get_value_uint32(env, argv[1], &initial);
    } else if (t != napi_undefined) {
      ThrowTapioError(e, "ERR_INVALID_ARGUMENT", "crc32c(bytes, initial): initial must be a number");
      return nullptr;
    }
  }
  napi_value out;
  napi_create_uint32(env, tapio::crc32c::Extend(initial, data, length), &out);
  return out;
}

// crc32cRange(bytes, offset, length): the CRC32C of bytes[offset, offset + length), without a
// subarray per call (the reader checks every record this way). The range is checked here.
napi_value Crc32cRange(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) return nullptr;
  Napi::Env e(env);
  const uint8_t* data = nullptr;
  size_t length = 0;
  if (argc < 3) {
    ThrowTapioError(e, "ERR_INVALID_ARGUMENT", "crc32cRange(bytes, offset, length) needs three arguments");
    return nullptr;
  }
  if (!GetBytes(e, Napi::Value(env, argv[0]), "crc32cRange(bytes): bytes", &data, &length)) return nullptr;
  double offset = -1;
  double count = -1;
  napi_get_value_double(env, argv[1], &offset);
  napi_get_value_double(env, argv[2], &count);
  if (!(offset >= 0) || !(count >= 0) || offset + count > static_cast<double>(length) ||
      offset != static_cast<double>(static_cast<size_t>(offset)) ||
      count != static_cast<double>(static_cast<size_t>(count))) {
    ThrowTapioError(e, "ERR_INVALID_ARGUMENT", "crc32cRange(bytes, offset, length): the range must lie within bytes");
    return nullptr;
  }
  napi_value out;
  napi_create_uint32(env, tapio::crc32c::Extend(0, data + static_cast<size_t>(offset), static_cast<size_t>(count)),
                     &out);
  return out;
}

// The cheapest possible call, the baseline for the cost of crossing the boundary.
Napi::Value Noop(const Napi::CallbackInfo& info) { return info.Env().Undefined(); }

}  // namespace

void InitCrc32c(Napi::Env env, Napi::Object exports) {
  napi_value fn;
  napi_create_function(env, "crc32c", NAPI_AUTO_LENGTH, Crc32c, nullptr, &fn);
  exports.Set("crc32c", Napi::Value(env, fn));
  napi_create_function(env, "crc32cRange", NAPI_AUTO_LENGTH, Crc32cRange, nullptr, &fn);
  exports.Set("crc32cRange", Napi::Value(env, fn));
  exports.Set("noop", Napi::Function::New(env, Noop, "noop"));
}

}  // namespace tapio_binding
