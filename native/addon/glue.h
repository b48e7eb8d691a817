// Shared machinery of the N-API glue. Compiled into both addons (CGK_BACKEND_CPU or
// CGK_BACKEND_CUDA), so it calls nothing but cgk_* functions. Every binding reads its
// arguments through Args, which names the function and the argument in each error, and checks
// every buffer against the size its shape needs before a kernel sees a pointer.
#ifndef CGK_ADDON_GLUE_H
#define CGK_ADDON_GLUE_H

#include <napi.h>

#include <cstdint>
#include <initializer_list>
#include <string>

#include "cgk.h"

namespace glue {

// A tensor shape for error messages, kept as numbers and written out ("[2,3,16,16]") only when
// a message needs it: the bindings check every buffer on every call, and formatting the
// shapes up front was a tenth of a convolution call's host time.
class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);  // up to 6
  // A description instead of dimensions ("a device scalar"); text must be a literal.
  static Shape text_of(const char* text) {
    Shape s;
    s.text_ = text;
    return s;
  }
  std::string text() const;

 private:
  int64_t dims_[6];
  int rank_ = 0;
  const char* text_ = nullptr;
};

// What a Buf handle holds. ptr is NULL once free() has run (the finalizer then does nothing).
struct BufData {
  float* ptr;
  size_t n;
};

class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* fn, const void* data) : info_(info), fn_(fn), data_(data) {}

  // The `data` given to define(), for table-driven bindings that share one handler.
  const void* data() const { return data_; }

  Napi::Env env() const { return info_.Env(); }
  Napi::Value done() const { return info_.Env().Undefined(); }
  Napi::Value arg(size_t i) const { return info_[i]; }

  BufData& buf(size_t i, const char* name) { return buf_value(info_[i], name); }
  // The same check for a value that is not a positional argument (an array element).
  BufData& buf_value(const Napi::Value& v, const char* name);
  // null or undefined -> nullptr
  BufData* opt_buf(size_t i, const char* name);
  // Integers exact in a double, 0 <= v < 2^53.
  uint64_t count(size_t i, const char* name);
  // Integers in [min, INT32_MAX].
  int dim(size_t i, const char* name, int min = 0);
  int dim_of(const Napi::Object& obj, const char* key, int min);
  double number(size_t i, const char* name);
  float f32(size_t i, const char* name) { return static_cast<float>(number(i, name)); }
  // A number in [lo, hi] (or [lo, hi) when hi_open).
  double number_in(size_t i, const char* name, double lo, double hi, bool hi_open = false);

  // Throws "<arg> holds N floats, needs M for <shape>" when b is too small.
  void need(const BufData& b, const char* name, uint64_t floats, const Shape& shape) const;
  // The same with a written description (for the rarely called bindings that build one).
  void need(const BufData& b, const char* name, uint64_t floats, const std::string& what) const;
  void need_opt(const BufData* b, const char* name, uint64_t floats, const Shape& shape) const {
    if (b) need(*b, name, floats, shape);
  }
  // Throws with cgk_last_error() when a kernel returned non-zero.
  void status(int code) const;
  [[noreturn]] void fail(const std::string& what) const;

 private:
  const Napi::CallbackInfo& info_;
  const char* fn_;
  const void* data_;
};

// Product of non-negative dims; throws when it would not fit in 2^53.
uint64_t elements(const Args& args, std::initializer_list<int64_t> dims);

// A new Buf handle owning p (n floats), freed by its finalizer unless free() ran first.
Napi::Value wrap_buf(Napi::Env env, float* p, size_t n);
// Tells V8 how far the backend's footprint (in use + cached) moved since the last report.
void report_footprint(Napi::Env env);

using Handler = Napi::Value (*)(Args&);
// exports[name] = a function running handler with an Args for `name` carrying `data`.
void define(Napi::Object exports, const char* name, Handler handler, const void* data = nullptr);

// One function per binding file.
void register_runtime(Napi::Object exports);
void register_elementwise(Napi::Object exports);
void register_layout(Napi::Object exports);
void register_conv(Napi::Object exports);
void register_norm(Napi::Object exports);
void register_pool_loss(Napi::Object exports);
void register_optim(Napi::Object exports);
void register_host(Napi::Object exports);

}  // namespace glue

#endif  // CGK_ADDON_GLUE_H
