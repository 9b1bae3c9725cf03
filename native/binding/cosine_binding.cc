// cosineTopK / cosineTopKAsync (exact cosine top k, core/cosine.h), queryNorm and memoryScan.
// The typed arrays are read in place; the results come back as new typed arrays. The async form
// runs the scan on the libuv pool and holds references to its arrays until it settles, so the
// arrays stay alive; the caller must not transfer, detach or shrink them meanwhile.
#include <napi.h>

#include <cmath>
#include <string>
#include <utility>

#include "binding/addon_data.h"
#include "core/cosine.h"

namespace tapio_binding {
namespace {

constexpr char kSignature[] =
    "(query: Float32Array, qnorm: number, vectors: Float32Array, strideFloats: number, norms: Float32Array, "
    "rows: number, select: Uint32Array | null, threshold: number, k: number)";

// What a call was handed, checked: the arrays' data pointers and lengths, and the numbers.
struct Args {
  const float* query = nullptr;
  size_t dim = 0;
  double qnorm = 0;
  tapio::cosine::RowSet set;
  double threshold = 0;
  size_t k = 0;
  // The arrays, for the async form to hold while it runs.
  Napi::Value arrays[4];
};

bool IsArrayOf(Napi::Value v, napi_typedarray_type type) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == type;
}

// A whole number in [min, max].
bool WholeIn(Napi::Value v, double min, double max, double* out) {
  if (!v.IsNumber()) return false;
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= min && d <= max) || std::floor(d) != d) return false;
  *out = d;
  return true;
}

bool Fail(Napi::Env env, const char* name, const std::string& what) {
  ThrowTapioError(env, "ERR_INVALID_ARGUMENT", std::string(name) + kSignature + ": " + what);
  return false;
}

bool ReadArgs(const Napi::CallbackInfo& info, const char* name, Args* a) {
  Napi::Env env = info.Env();
  if (info.Length() < 9) return Fail(env, name, "expected 9 arguments, got " + std::to_string(info.Length()));
  if (!IsArrayOf(info[0], napi_float32_array) || info[0].As<Napi::Float32Array>().ElementLength() == 0)
    return Fail(env, name, "query must be a non-empty Float32Array");
  Napi::Float32Array query = info[0].As<Napi::Float32Array>();
  a->query = query.Data();
  a->dim = query.ElementLength();
  if (!info[1].IsNumber() || !std::isfinite(info[1].As<Napi::Number>().DoubleValue()) ||
      info[1].As<Napi::Number>().DoubleValue() < 0)
    return Fail(env, name, "qnorm must be a finite number >= 0");
  a->qnorm = info[1].As<Napi::Number>().DoubleValue();
  if (!IsArrayOf(info[2], napi_float32_array)) return Fail(env, name, "vectors must be a Float32Array");
  Napi::Float32Array vectors = info[2].As<Napi::Float32Array>();
  double stride = 0, rows = 0, k = 0;
  if (!WholeIn(info[3], static_cast<double>(a->dim), 4294967295.0, &stride))
    return Fail(
        env, name,
        "strideFloats must be a whole number from the query's length " + std::to_string(a->dim) + " to 4294967295");
  if (!IsArrayOf(info[4], napi_float32_array)) return Fail(env, name, "norms must be a Float32Array");
  Napi::Float32Array norms = info[4].As<Napi::Float32Array>();
  if (!WholeIn(info[5], 0, 4294967295.0, &rows)) return Fail(env, name, "rows must be a whole number 0..4294967295");
  if (rows > 0 && (rows - 1) * stride + static_cast<double>(a->dim) > static_cast<double>(vectors.ElementLength()))
    return Fail(env, name,
                "vectors holds " + std::to_string(vectors.ElementLength()) + " floats; " +
                    "(rows - 1) * strideFloats + query length needs more");
  if (static_cast<double>(norms.ElementLength()) < rows)
    return Fail(env, name, "norms holds " + std::to_string(norms.ElementLength()) + " floats, fewer than rows");
  a->set.vectors = vectors.Data();
  a->set.stride = static_cast<size_t>(stride);
  a->set.norms = norms.Data();
  a->set.rows = static_cast<size_t>(rows);
  if (!info[6].IsNull() && !info[6].IsUndefined()) {
    if (!IsArrayOf(info[6], napi_uint32_array)) return Fail(env, name, "select must be a Uint32Array or null");
    Napi::Uint32Array select = info[6].As<Napi::Uint32Array>();
    const uint32_t* s = select.Data();
    const size_t n = select.ElementLength();
    for (size_t i = 0; i < n; i++) {
      if (s[i] >= a->set.rows || (i > 0 && s[i] <= s[i - 1]))
        return Fail(env, name,
                    "select must hold ascending row indices below rows; select[" + std::to_string(i) + "] is " +
                        std::to_string(s[i]));
    }
    // An empty array may have no data pointer; the core reads a null select as "every row".
    static const uint32_t kNone = 0;
    a->set.select = n == 0 ? &kNone : s;
    a->set.select_count = n;
    a->arrays[3] = select;
  }
  if (!info[7].IsNumber() || std::isnan(info[7].As<Napi::Number>().DoubleValue()))
    return Fail(env, name, "threshold must be a number (-Infinity keeps every score), not NaN");
  a->threshold = info[7].As<Napi::Number>().DoubleValue();
  if (!WholeIn(info[8], 1, 9007199254740991.0, &k)) return Fail(env, name, "k must be a whole number >= 1");
  a->k = static_cast<size_t>(k);
  a->arrays[0] = query;
  a->arrays[1] = vectors;
  a->arrays[2] = norms;
  return true;
}

Napi::Object ResultObject(Napi::Env env, const tapio::cosine::TopK& top) {
  Napi::Uint32Array rows = Napi::Uint32Array::New(env, top.rows.size());
  Napi::Float64Array scores = Napi::Float64Array::New(env, top.scores.size());
  std::copy(top.rows.begin(), top.rows.end(), rows.Data());
  std::copy(top.scores.begin(), top.scores.end(), scores.Data());
  Napi::Object out = Napi::Object::New(env);
  out.Set("rows", rows);
  out.Set("scores", scores);
  return out;
}

void Run(const Args& a, tapio::cosine::TopK* out) {
  tapio::cosine::CosineTopK(a.query, a.dim, a.qnorm, a.set, a.threshold, a.k, out);
}

Napi::Value CosineTopKJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args a;
  if (!ReadArgs(info, "cosineTopK", &a)) return env.Undefined();
  tapio::cosine::TopK top;
  Run(a, &top);
  return ResultObject(env, top);
}

class CosineWorker : public Napi::AsyncWorker {
 public:
  CosineWorker(Napi::Env env, Args args)
      : Napi::AsyncWorker(env, "tapio-cosine-topk"), deferred_(Napi::Promise::Deferred::New(env)), args_(args) {
    for (int i = 0; i < 4; i++) {
      if (!args_.arrays[i].IsEmpty()) held_[i] = Napi::Persistent(args_.arrays[i].As<Napi::Object>());
      args_.arrays[i] = Napi::Value();  // a handle must not outlive its scope; the references hold the arrays
    }
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

  // On a libuv pool thread: touches only the arrays' memory, which the references keep alive.
  void Execute() override { Run(args_, &result_); }

  void OnOK() override { deferred_.Resolve(ResultObject(Env(), result_)); }

 private:
  Napi::Promise::Deferred deferred_;
  Args args_;
  Napi::ObjectReference held_[4];
  tapio::cosine::TopK result_;
};

Napi::Value CosineTopKAsyncJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args a;
  if (!ReadArgs(info, "cosineTopKAsync", &a)) return env.Undefined();
  CosineWorker* worker = new CosineWorker(env, a);
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

// queryNorm(q: Float32Array): sqrt of the canonical dot of q with itself.
Napi::Value QueryNormJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !IsArrayOf(info[0], napi_float32_array)) {
    ThrowTapioError(env, "ERR_INVALID_ARGUMENT", "queryNorm(query): query must be a Float32Array");
    return env.Undefined();
  }
  Napi::Float32Array q = info[0].As<Napi::Float32Array>();
  return Napi::Number::New(env, tapio::cosine::QueryNorm(q.Data(), q.ElementLength()));
}

// memoryScan(bytes): reads every byte once; returns a 53-bit checksum of them.
Napi::Value MemoryScanJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint8_t* data = nullptr;
  size_t length = 0;
  if (!GetBytes(env, info[0], "memoryScan(bytes): bytes", &data, &length)) return env.Undefined();
  const uint64_t sum = tapio::cosine::MemoryScan(data, length);
  return Napi::Number::New(env, static_cast<double>(sum & ((uint64_t{1} << 53) - 1)));
}

}  // namespace

void InitCosine(Napi::Env env, Napi::Object exports) {
  exports.Set("cosineTopK", Napi::Function::New(env, CosineTopKJs, "cosineTopK"));
  exports.Set("cosineTopKAsync", Napi::Function::New(env, CosineTopKAsyncJs, "cosineTopKAsync"));
  exports.Set("queryNorm", Napi::Function::New(env, QueryNormJs, "queryNorm"));
  exports.Set("memoryScan", Napi::Function::New(env, MemoryScanJs, "memoryScan"));
}

}  // namespace tapio_binding
