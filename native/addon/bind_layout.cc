// Bindings of padding, upsampling and channel concat/split.
#include "glue.h"

namespace glue {
namespace {

using PadKernel = int (*)(const float*, float*, int, int, int, int, int, int, int);
struct PadOp {
  const char* name;
  PadKernel kernel;
  bool reflection;
  bool backward;  // arguments are (dy, dx): the padded side is the input
};
const PadOp kPads[] = {
    {"reflectionPadForward", cgk_reflection_pad_forward, true, false},
    {"reflectionPadBackward", cgk_reflection_pad_backward, true, true},
    {"zeroPadForward", cgk_zero_pad_forward, false, false},
    {"zeroPadBackward", cgk_zero_pad_backward, false, true},
};

Napi::Value pad(Args& a) {
  const PadOp* op = static_cast<const PadOp*>(a.data());
  const char* in_name = op->backward ? "dy" : "x";
  const char* out_name = op->backward ? "dx" : "y";
  BufData& in = a.buf(0, in_name);
  BufData& out = a.buf(1, out_name);
  int nc = a.dim(2, "nc"), h = a.dim(3, "h"), w = a.dim(4, "w");
  int top = a.dim(5, "top"), bottom = a.dim(6, "bottom"), left = a.dim(7, "left"), right = a.dim(8, "right");
  if (op->reflection && (top >= h || bottom >= h || left >= w || right >= w)) {
    a.fail("reflection padding (top " + std::to_string(top) + ", bottom " + std::to_string(bottom) + ", left " +
           std::to_string(left) + ", right " + std::to_string(right) + ") must be smaller than the input size " +
           std::to_string(h) + "x" + std::to_string(w));
  }
  int64_t hp = int64_t(h) + top + bottom, wp = int64_t(w) + left + right;
  uint64_t small = elements(a, {nc, h, w});
  uint64_t padded = elements(a, {nc, hp, wp});
  if (op->backward) {
    a.need(in, in_name, padded, Shape({nc, hp, wp}));
    a.need(out, out_name, small, Shape({nc, h, w}));
  } else {
    a.need(in, in_name, small, Shape({nc, h, w}));
    a.need(out, out_name, padded, Shape({nc, hp, wp}));
  }
  a.status(op->kernel(in.ptr, out.ptr, nc, h, w, top, bottom, left, right));
  return a.done();
}

Napi::Value upsample(Args& a) {
  bool backward = a.data() != nullptr;
  const char* in_name = backward ? "dy" : "x";
  const char* out_name = backward ? "dx" : "y";
  BufData& in = a.buf(0, in_name);
  BufData& out = a.buf(1, out_name);
  int nc = a.dim(2, "nc"), h = a.dim(3, "h"), w = a.dim(4, "w");
  uint64_t small = elements(a, {nc, h, w});
  uint64_t big = elements(a, {nc, 2 * int64_t(h), 2 * int64_t(w)});
  Shape small_shape = Shape({nc, h, w}), big_shape = Shape({nc, 2 * int64_t(h), 2 * int64_t(w)});
  a.need(in, in_name, backward ? big : small, backward ? big_shape : small_shape);
  a.need(out, out_name, backward ? small : big, backward ? small_shape : big_shape);
  a.status(backward ? cgk_upsample_nearest2x_backward(in.ptr, out.ptr, nc, h, w)
                    : cgk_upsample_nearest2x_forward(in.ptr, out.ptr, nc, h, w));
  return a.done();
}

// concatChannels(a, b, y, ...) and splitChannels(y, a, b, ...) check the same three buffers.
Napi::Value concat_or_split(Args& a) {
  bool split = a.data() != nullptr;
  BufData& pa = a.buf(split ? 1 : 0, "a");
  BufData& pb = a.buf(split ? 2 : 1, "b");
  BufData& py = a.buf(split ? 0 : 2, "y");
  int n = a.dim(3, "n"), ca = a.dim(4, "ca"), cb = a.dim(5, "cb"), hw = a.dim(6, "hw");
  a.need(pa, "a", elements(a, {n, ca, hw}), Shape({n, ca, hw}));
  a.need(pb, "b", elements(a, {n, cb, hw}), Shape({n, cb, hw}));
  a.need(py, "y", elements(a, {n, int64_t(ca) + cb, hw}), Shape({n, int64_t(ca) + cb, hw}));
  a.status(split ? cgk_split_channels(py.ptr, pa.ptr, pb.ptr, n, ca, cb, hw)
                 : cgk_concat_channels(pa.ptr, pb.ptr, py.ptr, n, ca, cb, hw));
  return a.done();
}

const int kBackward = 1;

}  // namespace

void register_layout(Napi::Object exports) {
  for (const PadOp& op : kPads) define(exports, op.name, pad, &op);
  define(exports, "upsampleNearest2xForward", upsample);
  define(exports, "upsampleNearest2xBackward", upsample, &kBackward);
  define(exports, "concatChannels", concat_or_split);
  define(exports, "splitChannels", concat_or_split, &kBackward);
}

}  // namespace glue
