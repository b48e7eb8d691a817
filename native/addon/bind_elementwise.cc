// Bindings of the elementwise and activation kernels. Most share a signature, so each family
// is one table of (name, kernel, argument names) and one handler.
#include <algorithm>
#include <vector>

#include "glue.h"

namespace glue {
namespace {

Shape vec(uint64_t n) { return Shape({static_cast<int64_t>(n)}); }

// (in, out, n): relu/tanh/sigmoid forward.
struct UnaryOp {
  const char* name;
  int (*kernel)(const float*, float*, size_t);
};
const UnaryOp kUnary[] = {
    {"reluForward", cgk_relu_forward},
    {"tanhForward", cgk_tanh_forward},
    {"sigmoidForward", cgk_sigmoid_forward},
};

Napi::Value unary(Args& a) {
  const UnaryOp* op = static_cast<const UnaryOp*>(a.data());
  BufData& x = a.buf(0, "x");
  BufData& y = a.buf(1, "y");
  uint64_t n = a.count(2, "n");
  a.need(x, "x", n, vec(n));
  a.need(y, "y", n, vec(n));
  a.status(op->kernel(x.ptr, y.ptr, n));
  return a.done();
}

// (in1, in2, out, n): add/sub/mul and the activation backwards.
struct BinaryOp {
  const char* name;
  int (*kernel)(const float*, const float*, float*, size_t);
  const char* args[3];
};
const BinaryOp kBinary[] = {
    {"add", cgk_add, {"a", "b", "y"}},
    {"sub", cgk_sub, {"a", "b", "y"}},
    {"mul", cgk_mul, {"a", "b", "y"}},
    {"reluBackward", cgk_relu_backward, {"x", "dy", "dx"}},
    {"tanhBackward", cgk_tanh_backward, {"y", "dy", "dx"}},
    {"sigmoidBackward", cgk_sigmoid_backward, {"y", "dy", "dx"}},
};

Napi::Value binary(Args& a) {
  const BinaryOp* op = static_cast<const BinaryOp*>(a.data());
  BufData& in1 = a.buf(0, op->args[0]);
  BufData& in2 = a.buf(1, op->args[1]);
  BufData& out = a.buf(2, op->args[2]);
  uint64_t n = a.count(3, "n");
  a.need(in1, op->args[0], n, vec(n));
  a.need(in2, op->args[1], n, vec(n));
  a.need(out, op->args[2], n, vec(n));
  a.status(op->kernel(in1.ptr, in2.ptr, out.ptr, n));
  return a.done();
}

Napi::Value fill(Args& a) {
  BufData& y = a.buf(0, "y");
  float value = a.f32(1, "value");
  uint64_t n = a.count(2, "n");
  a.need(y, "y", n, vec(n));
  a.status(cgk_fill(y.ptr, value, n));
  return a.done();
}

Napi::Value copy(Args& a) {
  BufData& dst = a.buf(0, "dst");
  uint64_t dst_offset = a.count(1, "dstOffset");
  BufData& src = a.buf(2, "src");
  uint64_t src_offset = a.count(3, "srcOffset");
  uint64_t n = a.count(4, "n");
  // (the message only where it is needed: copies run on every training step)
  if (dst.n < dst_offset + n) a.need(dst, "dst", dst_offset + n, std::to_string(n) + " floats at offset " + std::to_string(dst_offset));
  if (src.n < src_offset + n) a.need(src, "src", src_offset + n, std::to_string(n) + " floats at offset " + std::to_string(src_offset));
  a.status(cgk_copy(dst.ptr + dst_offset, src.ptr + src_offset, n));
  return a.done();
}

// copyBlocks(dst, src, block, pairs: Int32Array [dstBlock, srcBlock, ...])
Napi::Value copy_blocks(Args& a) {
  BufData& dst = a.buf(0, "dst");
  BufData& src = a.buf(1, "src");
  uint64_t block = a.count(2, "block");
  Napi::Value pairs_value = a.arg(3);
  if (!pairs_value.IsTypedArray() || pairs_value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    a.fail("pairs must be an Int32Array of [dstBlock, srcBlock] pairs");
  Napi::Int32Array pairs = pairs_value.As<Napi::Int32Array>();
  const size_t length = pairs.ElementLength();
  if (length % 2) a.fail("pairs holds " + std::to_string(length) + " values, expected [dstBlock, srcBlock] pairs (an even count)");
  if (length / 2 > static_cast<size_t>(INT32_MAX)) a.fail("too many pairs");
  const int count = static_cast<int>(length / 2);
  std::vector<int32_t> dsts, srcs;
  for (int i = 0; i < count; ++i) {
    const int32_t d = pairs[2 * i], s = pairs[2 * i + 1];
    if (d < 0 || s < 0) a.fail("pair " + std::to_string(i) + " = [" + std::to_string(d) + ", " + std::to_string(s) + "] holds a negative block index");
    dsts.push_back(d);
    srcs.push_back(s);
  }
  std::sort(dsts.begin(), dsts.end());
  std::sort(srcs.begin(), srcs.end());
  for (size_t i = 1; i < dsts.size(); ++i)
    if (dsts[i] == dsts[i - 1]) a.fail("dst block " + std::to_string(dsts[i]) + " is written twice: the copies run at once, so dst blocks must be distinct");
  if (dst.ptr == src.ptr) {
    for (int32_t d : dsts)
      if (std::binary_search(srcs.begin(), srcs.end(), d))
        a.fail("block " + std::to_string(d) + " of the one buffer is both read and written: the copies run at once");
  }
  if (count > 0 && block > 0) {
    a.need(dst, "dst", (static_cast<uint64_t>(dsts.back()) + 1) * block, "block " + std::to_string(dsts.back()) + " of " + std::to_string(block) + " floats");
    a.need(src, "src", (static_cast<uint64_t>(srcs.back()) + 1) * block, "block " + std::to_string(srcs.back()) + " of " + std::to_string(block) + " floats");
  }
  a.status(cgk_copy_blocks(dst.ptr, src.ptr, block, pairs.Data(), count));
  return a.done();
}

Napi::Value affine(Args& a) {
  BufData& x = a.buf(0, "x");
  float alpha = a.f32(1, "alpha");
  float beta = a.f32(2, "beta");
  BufData& y = a.buf(3, "y");
  uint64_t n = a.count(4, "n");
  a.need(x, "x", n, vec(n));
  a.need(y, "y", n, vec(n));
  a.status(cgk_affine(x.ptr, alpha, beta, y.ptr, n));
  return a.done();
}

Napi::Value axpy(Args& a) {
  float alpha = a.f32(0, "alpha");
  BufData& x = a.buf(1, "x");
  BufData& y = a.buf(2, "y");
  uint64_t n = a.count(3, "n");
  a.need(x, "x", n, vec(n));
  a.need(y, "y", n, vec(n));
  a.status(cgk_axpy(alpha, x.ptr, y.ptr, n));
  return a.done();
}

Napi::Value scale_by(Args& a) {
  BufData& x = a.buf(0, "x");
  BufData& alpha = a.buf(1, "alpha");
  BufData& y = a.buf(2, "y");
  uint64_t n = a.count(3, "n");
  a.need(x, "x", n, vec(n));
  a.need(alpha, "alpha", 1, Shape::text_of("a device scalar"));
  a.need(y, "y", n, vec(n));
  a.status(cgk_scale_by(x.ptr, alpha.ptr, y.ptr, n));
  return a.done();
}

Napi::Value leaky_relu_forward(Args& a) {
  BufData& x = a.buf(0, "x");
  float slope = a.f32(1, "slope");
  BufData& y = a.buf(2, "y");
  uint64_t n = a.count(3, "n");
  a.need(x, "x", n, vec(n));
  a.need(y, "y", n, vec(n));
  a.status(cgk_leaky_relu_forward(x.ptr, slope, y.ptr, n));
  return a.done();
}

Napi::Value leaky_relu_backward(Args& a) {
  BufData& x = a.buf(0, "x");
  float slope = a.f32(1, "slope");
  BufData& dy = a.buf(2, "dy");
  BufData& dx = a.buf(3, "dx");
  uint64_t n = a.count(4, "n");
  a.need(x, "x", n, vec(n));
  a.need(dy, "dy", n, vec(n));
  a.need(dx, "dx", n, vec(n));
  a.status(cgk_leaky_relu_backward(x.ptr, slope, dy.ptr, dx.ptr, n));
  return a.done();
}

Napi::Value dropout_forward(Args& a) {
  BufData& x = a.buf(0, "x");
  float p = static_cast<float>(a.number_in(1, "p", 0, 1, true));
  uint64_t seed = a.count(2, "seed");
  BufData& mask = a.buf(3, "mask");
  BufData& y = a.buf(4, "y");
  uint64_t n = a.count(5, "n");
  a.need(x, "x", n, vec(n));
  a.need(mask, "mask", n, vec(n));
  a.need(y, "y", n, vec(n));
  a.status(cgk_dropout_forward(x.ptr, p, seed, mask.ptr, y.ptr, n));
  return a.done();
}

}  // namespace

void register_elementwise(Napi::Object exports) {
  for (const UnaryOp& op : kUnary) define(exports, op.name, unary, &op);
  for (const BinaryOp& op : kBinary) define(exports, op.name, binary, &op);
  define(exports, "fill", fill);
  define(exports, "copy", copy);
  define(exports, "copyBlocks", copy_blocks);
  define(exports, "affine", affine);
  define(exports, "axpy", axpy);
  define(exports, "scaleBy", scale_by);
  define(exports, "leakyReluForward", leaky_relu_forward);
  define(exports, "leakyReluBackward", leaky_relu_backward);
  define(exports, "dropoutForward", dropout_forward);
}

}  // namespace glue
