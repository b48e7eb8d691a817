// Bindings of the host-memory helpers: typed arrays in, typed arrays out, no Buf handles.
#include <string>

#include "glue.h"

namespace glue {
namespace {

// A JavaScript number array of exactly three integers (a view's shape or strides).
void read3(Args& a, size_t i, const char* name, int64_t out[3], bool non_negative) {
  Napi::Value v = a.arg(i);
  if (!v.IsArray() || v.As<Napi::Array>().Length() != 3) a.fail(std::string(name) + " must be an array of 3 integers");
  Napi::Array arr = v.As<Napi::Array>();
  for (uint32_t k = 0; k < 3; k++) {
    Napi::Value e = arr.Get(k);
    double d = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : 0.5;
    if (d != static_cast<double>(static_cast<int64_t>(d)) || d > 9007199254740991.0 || d < -9007199254740991.0 ||
        (non_negative && d < 0)) {
      a.fail(std::string(name) + "[" + std::to_string(k) + "] must be " + (non_negative ? "a non-negative" : "an") +
             " integer");
    }
    out[k] = static_cast<int64_t>(d);
  }
}

// Checks that offset + sum(idx * stride) stays inside [0, length) over the whole view.
void check_view(Args& a, const char* name, int64_t length, int64_t offset, const int64_t shape[3], const int64_t strides[3]) {
  int64_t lo = offset, hi = offset;
  for (int k = 0; k < 3; k++) {
    const int64_t span = (shape[k] - 1) * strides[k];
    if (span < 0) lo += span; else hi += span;
  }
  if (lo < 0 || hi >= length) {
    a.fail(std::string(name) + " view reaches index " + std::to_string(lo < 0 ? lo : hi) + ", outside its " +
           std::to_string(length) + " elements");
  }
}

// hostBytesToFloat(src: Uint8Array, srcOffset, srcStrides[3], shape[3], dst: Float32Array,
//                  dstOffset, dstStrides[3], table: Float32Array(256))
Napi::Value host_bytes_to_float(Args& a) {
  Napi::Value src_v = a.arg(0), dst_v = a.arg(4), table_v = a.arg(7);
  if (!src_v.IsTypedArray() || src_v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) a.fail("src must be a Uint8Array");
  if (!dst_v.IsTypedArray() || dst_v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) a.fail("dst must be a Float32Array");
  if (!table_v.IsTypedArray() || table_v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
      table_v.As<Napi::TypedArray>().ElementLength() < 256) {
    a.fail("table must be a Float32Array of 256 values");
  }
  Napi::Uint8Array src = src_v.As<Napi::Uint8Array>();
  Napi::Float32Array dst = dst_v.As<Napi::Float32Array>();
  Napi::Float32Array table = table_v.As<Napi::Float32Array>();
  int64_t src_strides[3], shape[3], dst_strides[3];
  const int64_t src_offset = static_cast<int64_t>(a.count(1, "srcOffset"));
  read3(a, 2, "srcStrides", src_strides, false);
  read3(a, 3, "shape", shape, true);
  const int64_t dst_offset = static_cast<int64_t>(a.count(5, "dstOffset"));
  read3(a, 6, "dstStrides", dst_strides, false);
  if (shape[0] == 0 || shape[1] == 0 || shape[2] == 0) return a.done();
  check_view(a, "src", static_cast<int64_t>(src.ElementLength()), src_offset, shape, src_strides);
  check_view(a, "dst", static_cast<int64_t>(dst.ElementLength()), dst_offset, shape, dst_strides);
  a.status(cgk_host_bytes_to_float(src.Data() + src_offset, src_strides, shape, dst.Data() + dst_offset, dst_strides,
                                   table.Data()));
  return a.done();
}

}  // namespace

void register_host(Napi::Object exports) { define(exports, "hostBytesToFloat", host_bytes_to_float); }

}  // namespace glue
