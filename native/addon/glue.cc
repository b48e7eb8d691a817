// Argument readers, buffer handles and function definition for the glue (see glue.h).
#include "glue.h"

#include <cmath>
#include <climits>
#include <exception>
#include <new>
#include <sstream>

namespace glue {
namespace {

constexpr double kMaxExact = 9007199254740992.0;  // 2^53

// Tags Buf externals so an unrelated External from another addon is rejected, not dereferenced.
const napi_type_tag kBufTag = {0x6367746b62756631ull, 0x9e3779b97f4a7c15ull};

std::string backend_prefix() { return std::string("cgtrain ") + cgk_backend_name() + ": "; }

std::string describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsNumber()) {
    std::ostringstream out;
    out << v.As<Napi::Number>().DoubleValue();
    return out.str();
  }
  if (v.IsString()) return "a string";
  if (v.IsBoolean()) return "a boolean";
  if (v.IsArray()) return "an array";
  if (v.IsTypedArray()) return "a typed array";
  if (v.IsExternal()) return "a foreign handle";
  if (v.IsFunction()) return "a function";
  return "an object";
}

struct Definition {
  const char* name;
  Handler handler;
  const void* data;
};

Napi::Value trampoline(const Napi::CallbackInfo& info) {
  const Definition* def = static_cast<const Definition*>(info.Data());
  try {
    Args args(info, def->name, def->data);
    return def->handler(args);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(info.Env(), backend_prefix() + def->name + ": out of host memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), backend_prefix() + def->name + ": " + e.what());
  }
}

}  // namespace

void Args::fail(const std::string& what) const {
  throw Napi::Error::New(info_.Env(), backend_prefix() + fn_ + ": " + what);
}

BufData& Args::buf_value(const Napi::Value& v, const char* name) {
  if (!v.IsExternal() || !v.As<Napi::External<BufData>>().CheckTypeTag(&kBufTag)) {
    fail(std::string(name) + " must be a buffer from alloc(), got " + describe(v));
  }
  BufData* b = v.As<Napi::External<BufData>>().Data();
  if (!b->ptr) fail(std::string(name) + ": buffer was freed");
  return *b;
}

BufData* Args::opt_buf(size_t i, const char* name) {
  Napi::Value v = info_[i];
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  return &buf(i, name);
}

double Args::number(size_t i, const char* name) {
  Napi::Value v = info_[i];
  if (!v.IsNumber()) fail(std::string(name) + " must be a number, got " + describe(v));
  return v.As<Napi::Number>().DoubleValue();
}

double Args::number_in(size_t i, const char* name, double lo, double hi, bool hi_open) {
  double v = number(i, name);
  if (!(v >= lo && (hi_open ? v < hi : v <= hi))) {
    std::ostringstream out;
    out << name << " = " << v << ", expected a number in [" << lo << ", " << hi << (hi_open ? ")" : "]");
    fail(out.str());
  }
  return v;
}

uint64_t Args::count(size_t i, const char* name) {
  double v = number(i, name);
  if (!(v >= 0 && v < kMaxExact && std::floor(v) == v)) {
    std::ostringstream out;
    out << name << " = " << v << ", expected a non-negative integer";
    fail(out.str());
  }
  return static_cast<uint64_t>(v);
}

int Args::dim(size_t i, const char* name, int min) {
  double v = number(i, name);
  if (!(v >= min && v <= INT_MAX && std::floor(v) == v)) {
    std::ostringstream out;
    out << name << " = " << v << ", expected an integer >= " << min;
    fail(out.str());
  }
  return static_cast<int>(v);
}

int Args::dim_of(const Napi::Object& obj, const char* key, int min) {
  Napi::Value v = obj.Get(key);
  if (!v.IsNumber()) fail(std::string("p.") + key + " must be a number, got " + describe(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= min && d <= INT_MAX && std::floor(d) == d)) {
    std::ostringstream out;
    out << "p." << key << " = " << d << ", expected an integer >= " << min;
    fail(out.str());
  }
  return static_cast<int>(d);
}

void Args::need(const BufData& b, const char* name, uint64_t floats, const Shape& shape) const {
  if (b.n < floats) need(b, name, floats, shape.text());
}

void Args::need(const BufData& b, const char* name, uint64_t floats, const std::string& what) const {
  if (b.n < floats) {
    std::ostringstream out;
    out << name << " holds " << b.n << " floats, needs " << floats << " for " << what;
    fail(out.str());
  }
}

void Args::status(int code) const {
  if (code == CGK_OK) return;
  // Kernel messages start with their C name ("cgk_fill: ..."); the JS name is already in front.
  std::string message = cgk_last_error();
  size_t colon = message.find(": ");
  if (message.rfind("cgk_", 0) == 0 && colon != std::string::npos) message = message.substr(colon + 2);
  if (message.empty()) message = "failed with status " + std::to_string(code);
  fail(message);
}

uint64_t elements(const Args& args, std::initializer_list<int64_t> dims) {
  double product = 1;
  uint64_t exact = 1;
  for (int64_t d : dims) {
    product *= static_cast<double>(d);
    exact *= static_cast<uint64_t>(d);
  }
  if (product >= kMaxExact) args.fail("shape " + Shape(dims).text() + " has too many elements");
  return exact;
}

Shape::Shape(std::initializer_list<int64_t> dims) {
  for (int64_t d : dims)
    if (rank_ < 6) dims_[rank_++] = d;
}

std::string Shape::text() const {
  if (text_) return text_;
  std::string out = "[";
  for (int i = 0; i < rank_; ++i) {
    if (i) out += ',';
    out += std::to_string(dims_[i]);
  }
  return out + "]";
}

// V8 hears about the backend's footprint (blocks in use plus the caching allocator's cache), not
// about each handle: tensors are freed deterministically, and reporting every alloc and free made
// V8 start a full mark-compact several times per training step (its external-memory limit is the
// figure at the last GC plus 64 MB, which a step's activations pass again and again). The
// footprint only grows when the cache has no block to reuse, so a leak of dropped handles still
// pushes it up and makes V8 collect them, and emptyCache() hands the drop back.
void report_footprint(Napi::Env env) {
  static int64_t reported = 0;  // only touched on the JavaScript thread
  size_t in_use = 0, cached = 0;
  if (cgk_memory_stats(&in_use, &cached, nullptr) != CGK_OK) return;
  const int64_t footprint = static_cast<int64_t>(in_use + cached);
  if (footprint == reported) return;
  Napi::MemoryManagement::AdjustExternalMemory(env, footprint - reported);
  reported = footprint;
}

Napi::Value wrap_buf(Napi::Env env, float* p, size_t n) {
  BufData* data = new BufData{p, n};
  report_footprint(env);
  auto handle = Napi::External<BufData>::New(env, data, [](Napi::Env, BufData* d) {
    if (d->ptr) cgk_free(d->ptr);  // a dropped handle: its block goes back to the cache
    delete d;
  });
  handle.TypeTag(&kBufTag);
  return handle;
}

void define(Napi::Object exports, const char* name, Handler handler, const void* data) {
  // Lives as long as the function may be called: for the life of the process.
  Definition* def = new Definition{name, handler, data};
  exports.Set(name, Napi::Function::New(exports.Env(), trampoline, name, def));
}

}  // namespace glue
