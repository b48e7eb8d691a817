// Bindings of the runtime and memory functions: init, device info, SIMD, buffers, transfers.
#include "glue.h"

#include <algorithm>
#include <vector>

namespace glue {
namespace {

Napi::Value backend_name(Args& a) { return Napi::String::New(a.env(), cgk_backend_name()); }

Napi::Value init(Args& a) {
  a.status(cgk_init(a.dim(0, "threads")));
  return a.done();
}

Napi::Value num_threads(Args& a) { return Napi::Number::New(a.env(), cgk_num_threads()); }
Napi::Value device_info(Args& a) { return Napi::String::New(a.env(), cgk_device_info()); }
Napi::Value simd_level(Args& a) { return Napi::Number::New(a.env(), cgk_simd_level()); }

Napi::Value set_simd(Args& a) {
  a.status(cgk_set_simd(a.dim(0, "level", -1)));
  return a.done();
}

Napi::Value conv_algo(Args& a) { return Napi::Number::New(a.env(), cgk_conv_algo()); }

Napi::Value set_conv_algo(Args& a) {
  a.status(cgk_set_conv_algo(a.dim(0, "algo", 0)));
  return a.done();
}

Napi::Value precision(Args& a) { return Napi::Number::New(a.env(), cgk_precision()); }

Napi::Value set_precision(Args& a) {
  a.status(cgk_set_precision(a.dim(0, "precision", -1)));
  return a.done();
}

Napi::Value conv_tuning(Args& a) { return Napi::Number::New(a.env(), cgk_conv_tuning()); }

Napi::Value set_conv_tuning(Args& a) {
  a.status(cgk_set_conv_tuning(a.dim(0, "on", -1)));
  return a.done();
}

Napi::Value conv_tuning_report(Args& a) { return Napi::String::New(a.env(), cgk_conv_tuning_report()); }

Napi::Value peak_gflops(Args& a) {
  double seconds = a.number_in(0, "seconds", 0.001, 60);
  double gflops = 0;
  a.status(cgk_peak_gflops(seconds, &gflops));
  return Napi::Number::New(a.env(), gflops);
}

Napi::Value alloc(Args& a) {
  uint64_t n = a.count(0, "nFloats");
  float* p = cgk_alloc(n);
  if (!p) a.status(CGK_ERR_OOM);  // status() words the allocator's message like any kernel's
  return wrap_buf(a.env(), p, n);
}

Napi::Value free_buf(Args& a) {
  BufData& b = a.buf(0, "buf");
  cgk_free(b.ptr);  // back to the cache: the footprint V8 knows of is unchanged
  b.ptr = nullptr;
  return a.done();
}

Napi::Value size(Args& a) { return Napi::Number::New(a.env(), static_cast<double>(a.buf(0, "buf").n)); }

// upload(dst, src, dstOffset?) and download(src, dst, srcOffset?) share the checks.
struct Transfer {
  BufData* device;
  float* host;
  size_t length;
  uint64_t offset;
};

Transfer read_transfer(Args& a, const char* device_name, const char* host_name, const char* offset_name) {
  Napi::Value host_value = a.arg(1);
  Transfer t{};
  t.device = &a.buf(0, device_name);
  if (!host_value.IsTypedArray() || host_value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    a.fail(std::string(host_name) + " must be a Float32Array");
  }
  Napi::Float32Array host = host_value.As<Napi::Float32Array>();
  t.host = host.Data();
  t.length = host.ElementLength();
  t.offset = a.arg(2).IsUndefined() ? 0 : a.count(2, offset_name);
  if (t.offset > t.device->n || t.length > t.device->n - t.offset) {
    a.fail(std::string(device_name) + " holds " + std::to_string(t.device->n) + " floats, needs " +
           std::to_string(t.offset + t.length) + " for " + std::to_string(t.length) + " floats at offset " +
           std::to_string(t.offset));
  }
  return t;
}

Napi::Value upload(Args& a) {
  Transfer t = read_transfer(a, "dst", "src", "dstOffset");
  a.status(cgk_upload(t.device->ptr + t.offset, t.host, t.length));
  return a.done();
}

Napi::Value download(Args& a) {
  Transfer t = read_transfer(a, "src", "dst", "srcOffset");
  a.status(cgk_download(t.host, t.device->ptr + t.offset, t.length));
  return a.done();
}

Napi::Value sync(Args& a) {
  a.status(cgk_sync());
  return a.done();
}

Napi::Value timer_mark(Args& a) {
  int index = 0;
  a.status(cgk_timer_mark(&index));
  return Napi::Number::New(a.env(), index);
}

// A Float64Array of ms from the first mark to each.
Napi::Value timer_read(Args& a) {
  int count = 0;
  std::vector<double> ms(CGK_TIMER_MARKS);
  a.status(cgk_timer_read(ms.data(), CGK_TIMER_MARKS, &count));
  Napi::Float64Array out = Napi::Float64Array::New(a.env(), static_cast<size_t>(count));
  std::copy(ms.begin(), ms.begin() + count, out.Data());
  return out;
}

Napi::Value memory_stats(Args& a) {
  size_t in_use = 0, cached = 0, peak = 0;
  a.status(cgk_memory_stats(&in_use, &cached, &peak));
  Napi::Object out = Napi::Object::New(a.env());
  out.Set("inUse", Napi::Number::New(a.env(), static_cast<double>(in_use)));
  out.Set("cached", Napi::Number::New(a.env(), static_cast<double>(cached)));
  out.Set("peak", Napi::Number::New(a.env(), static_cast<double>(peak)));
  return out;
}

Napi::Value empty_cache(Args& a) {
  a.status(cgk_empty_cache());
  report_footprint(a.env());
  return a.done();
}

}  // namespace

void register_runtime(Napi::Object exports) {
  define(exports, "backendName", backend_name);
  define(exports, "init", init);
  define(exports, "numThreads", num_threads);
  define(exports, "deviceInfo", device_info);
  define(exports, "simdLevel", simd_level);
  define(exports, "setSimd", set_simd);
  define(exports, "convAlgo", conv_algo);
  define(exports, "setConvAlgo", set_conv_algo);
  define(exports, "precision", precision);
  define(exports, "setPrecision", set_precision);
  define(exports, "convTuning", conv_tuning);
  define(exports, "setConvTuning", set_conv_tuning);
  define(exports, "convTuningReport", conv_tuning_report);
  define(exports, "peakGflops", peak_gflops);
  define(exports, "alloc", alloc);
  define(exports, "free", free_buf);
  define(exports, "size", size);
  define(exports, "upload", upload);
  define(exports, "download", download);
  define(exports, "sync", sync);
  define(exports, "timerMark", timer_mark);
  define(exports, "timerRead", timer_read);
  define(exports, "memoryStats", memory_stats);
  define(exports, "emptyCache", empty_cache);
}

}  // namespace glue
