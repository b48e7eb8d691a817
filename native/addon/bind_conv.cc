// Bindings of conv2d, conv-transpose2d and linear. The ConvParams object is checked against
// the output-size formulas of cgk.h before any kernel runs.
#include "glue.h"

namespace glue {
namespace {

struct ConvShapes {
  cgk_conv p;
  uint64_t x, w, y;  // element counts
  Shape x_shape, w_shape, y_shape;
};

// The fields of a ConvParams object, in cgk_conv's order (and of its packed Int32Array form).
const char* const kConvFields[] = {"n", "cIn", "hIn", "wIn", "cOut", "hOut", "wOut", "kh",
                                   "kw", "sh", "sw", "ph", "pw", "oph", "opw", "padMode"};
constexpr size_t kConvFieldCount = sizeof kConvFields / sizeof *kConvFields;
const int kConvFieldMin[kConvFieldCount] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0};

std::string num(int64_t v) { return std::to_string(v); }

ConvShapes read_conv(Args& a, bool transpose) {
  Napi::Value v = a.arg(0);
  int f[kConvFieldCount];
  if (v.IsTypedArray()) {
    // The packed form (binding.ts, packConv): 16 int32 in kConvFields' order, read in one call
    // instead of 16 property lookups (most of a convolution call's host time).
    Napi::TypedArray t = v.As<Napi::TypedArray>();
    if (t.TypedArrayType() != napi_int32_array || t.ElementLength() != kConvFieldCount)
      a.fail("p must be a ConvParams object or an Int32Array of its " + num(kConvFieldCount) + " fields");
    const int32_t* data = v.As<Napi::Int32Array>().Data();
    for (size_t i = 0; i < kConvFieldCount; ++i) {
      if (data[i] < kConvFieldMin[i])
        a.fail(std::string("p.") + kConvFields[i] + " = " + num(data[i]) + ", expected an integer >= " + num(kConvFieldMin[i]));
      f[i] = data[i];
    }
  } else {
    if (!v.IsObject() || v.IsArray()) a.fail("p must be a ConvParams object");
    Napi::Object o = v.As<Napi::Object>();
    for (size_t i = 0; i + 1 < kConvFieldCount; ++i) f[i] = a.dim_of(o, kConvFields[i], kConvFieldMin[i]);
    // Optional: 0 zeros (the default), 1 reflection (conv2d only, padding smaller than the input).
    f[kConvFieldCount - 1] = o.Get("padMode").IsUndefined() ? CGK_PAD_ZEROS : a.dim_of(o, "padMode", 0);
  }
  cgk_conv p{};
  p.n = f[0];
  p.c_in = f[1];
  p.h_in = f[2];
  p.w_in = f[3];
  p.c_out = f[4];
  p.h_out = f[5];
  p.w_out = f[6];
  p.kh = f[7];
  p.kw = f[8];
  p.sh = f[9];
  p.sw = f[10];
  p.ph = f[11];
  p.pw = f[12];
  p.oph = f[13];
  p.opw = f[14];
  p.pad_mode = f[15];
  if (p.pad_mode != CGK_PAD_ZEROS && p.pad_mode != CGK_PAD_REFLECT) {
    a.fail("p.padMode = " + num(p.pad_mode) + ", expected 0 (zeros) or 1 (reflect)");
  }
  if (p.pad_mode == CGK_PAD_REFLECT) {
    if (transpose) a.fail("p.padMode = 1 (reflect) is for conv2d only; conv-transpose2d pads with zeros");
    if (p.ph >= p.h_in || p.pw >= p.w_in) {
      a.fail("reflection padding " + num(p.ph) + "x" + num(p.pw) + " must be smaller than the input " + num(p.h_in) + "x" +
             num(p.w_in));
    }
  }
  int64_t h_expected, w_expected;
  if (transpose) {
    if (p.oph >= p.sh || p.opw >= p.sw) {
      a.fail("output padding (" + num(p.oph) + ", " + num(p.opw) + ") must be smaller than the stride (" + num(p.sh) +
             ", " + num(p.sw) + ")");
    }
    h_expected = int64_t(p.h_in - 1) * p.sh - 2 * int64_t(p.ph) + p.kh + p.oph;
    w_expected = int64_t(p.w_in - 1) * p.sw - 2 * int64_t(p.pw) + p.kw + p.opw;
  } else {
    if (p.oph != 0 || p.opw != 0) a.fail("p.oph and p.opw must be 0 for conv2d");
    if (int64_t(p.h_in) + 2 * int64_t(p.ph) < p.kh || int64_t(p.w_in) + 2 * int64_t(p.pw) < p.kw) {
      a.fail("kernel " + num(p.kh) + "x" + num(p.kw) + " is larger than the padded input " +
             num(int64_t(p.h_in) + 2 * p.ph) + "x" + num(int64_t(p.w_in) + 2 * p.pw));
    }
    h_expected = (int64_t(p.h_in) + 2 * int64_t(p.ph) - p.kh) / p.sh + 1;
    w_expected = (int64_t(p.w_in) + 2 * int64_t(p.pw) - p.kw) / p.sw + 1;
  }
  if (p.h_out != h_expected || p.w_out != w_expected) {
    a.fail("p.hOut x p.wOut = " + num(p.h_out) + "x" + num(p.w_out) + ", but the input " + num(p.h_in) + "x" +
           num(p.w_in) + " with kernel " + num(p.kh) + "x" + num(p.kw) + ", stride " + num(p.sh) + "x" + num(p.sw) +
           ", padding " + num(p.ph) + "x" + num(p.pw) + (transpose ? ", output padding " + num(p.oph) + "x" + num(p.opw) : "") +
           " gives " + num(h_expected) + "x" + num(w_expected));
  }
  return ConvShapes{p,
                    elements(a, {p.n, p.c_in, p.h_in, p.w_in}),
                    elements(a, {p.c_out, p.c_in, p.kh, p.kw}),
                    elements(a, {p.n, p.c_out, p.h_out, p.w_out}),
                    Shape({p.n, p.c_in, p.h_in, p.w_in}),
                    transpose ? Shape({p.c_in, p.c_out, p.kh, p.kw}) : Shape({p.c_out, p.c_in, p.kh, p.kw}),
                    Shape({p.n, p.c_out, p.h_out, p.w_out})};
}

using ForwardKernel = int (*)(const cgk_conv*, const float*, const float*, const float*, float*);
using BackwardKernel = int (*)(const cgk_conv*, const float*, const float*, float*);

struct ConvOp {
  const char* name;
  bool transpose;
  ForwardKernel forward;
  BackwardKernel backward_data;
  BackwardKernel backward_weight;
};
const ConvOp kConv2d = {"conv2d", false, cgk_conv2d_forward, cgk_conv2d_backward_data, cgk_conv2d_backward_weight};
const ConvOp kConvTranspose2d = {"convTranspose2d", true, cgk_conv_transpose2d_forward,
                                 cgk_conv_transpose2d_backward_data, cgk_conv_transpose2d_backward_weight};

Napi::Value conv_forward(Args& a) {
  const ConvOp* op = static_cast<const ConvOp*>(a.data());
  ConvShapes s = read_conv(a, op->transpose);
  BufData& x = a.buf(1, "x");
  BufData& w = a.buf(2, "w");
  BufData* bias = a.opt_buf(3, "bias");
  BufData& y = a.buf(4, "y");
  a.need(x, "x", s.x, s.x_shape);
  a.need(w, "w", s.w, s.w_shape);
  a.need_opt(bias, "bias", s.p.c_out, Shape({s.p.c_out}));
  a.need(y, "y", s.y, s.y_shape);
  a.status(op->forward(&s.p, x.ptr, w.ptr, bias ? bias->ptr : nullptr, y.ptr));
  return a.done();
}

Napi::Value conv_backward_data(Args& a) {
  const ConvOp* op = static_cast<const ConvOp*>(a.data());
  ConvShapes s = read_conv(a, op->transpose);
  BufData& dy = a.buf(1, "dy");
  BufData& w = a.buf(2, "w");
  BufData& dx = a.buf(3, "dx");
  a.need(dy, "dy", s.y, s.y_shape);
  a.need(w, "w", s.w, s.w_shape);
  a.need(dx, "dx", s.x, s.x_shape);
  a.status(op->backward_data(&s.p, dy.ptr, w.ptr, dx.ptr));
  return a.done();
}

Napi::Value conv_backward_weight(Args& a) {
  const ConvOp* op = static_cast<const ConvOp*>(a.data());
  ConvShapes s = read_conv(a, op->transpose);
  BufData& x = a.buf(1, "x");
  BufData& dy = a.buf(2, "dy");
  BufData& dw = a.buf(3, "dw");
  a.need(x, "x", s.x, s.x_shape);
  a.need(dy, "dy", s.y, s.y_shape);
  a.need(dw, "dw", s.w, s.w_shape);
  a.status(op->backward_weight(&s.p, x.ptr, dy.ptr, dw.ptr));
  return a.done();
}

// conv2dBackward(p, x, dy, w, dx, dw): both gradients in one call (cgk_conv2d_backward).
Napi::Value conv2d_backward(Args& a) {
  ConvShapes s = read_conv(a, false);
  BufData& x = a.buf(1, "x");
  BufData& dy = a.buf(2, "dy");
  BufData& w = a.buf(3, "w");
  BufData& dx = a.buf(4, "dx");
  BufData& dw = a.buf(5, "dw");
  a.need(x, "x", s.x, s.x_shape);
  a.need(dy, "dy", s.y, s.y_shape);
  a.need(w, "w", s.w, s.w_shape);
  a.need(dx, "dx", s.x, s.x_shape);
  a.need(dw, "dw", s.w, s.w_shape);
  a.status(cgk_conv2d_backward(&s.p, x.ptr, dy.ptr, w.ptr, dx.ptr, dw.ptr));
  return a.done();
}

Napi::Value bias_backward(Args& a) {
  BufData& dy = a.buf(0, "dy");
  BufData& db = a.buf(1, "db");
  int n = a.dim(2, "n"), c = a.dim(3, "c"), hw = a.dim(4, "hw");
  a.need(dy, "dy", elements(a, {n, c, hw}), Shape({n, c, hw}));
  a.need(db, "db", c, Shape({c}));
  a.status(cgk_bias_backward(dy.ptr, db.ptr, n, c, hw));
  return a.done();
}

struct LinearDims {
  int n, in, out;
};

LinearDims read_linear(Args& a, size_t first) {
  return {a.dim(first, "n"), a.dim(first + 1, "inF", 1), a.dim(first + 2, "outF", 1)};
}

Napi::Value linear_forward(Args& a) {
  BufData& x = a.buf(0, "x");
  BufData& w = a.buf(1, "w");
  BufData* bias = a.opt_buf(2, "bias");
  BufData& y = a.buf(3, "y");
  LinearDims d = read_linear(a, 4);
  a.need(x, "x", elements(a, {d.n, d.in}), Shape({d.n, d.in}));
  a.need(w, "w", elements(a, {d.out, d.in}), Shape({d.out, d.in}));
  a.need_opt(bias, "bias", d.out, Shape({d.out}));
  a.need(y, "y", elements(a, {d.n, d.out}), Shape({d.n, d.out}));
  a.status(cgk_linear_forward(x.ptr, w.ptr, bias ? bias->ptr : nullptr, y.ptr, d.n, d.in, d.out));
  return a.done();
}

Napi::Value linear_backward_data(Args& a) {
  BufData& dy = a.buf(0, "dy");
  BufData& w = a.buf(1, "w");
  BufData& dx = a.buf(2, "dx");
  LinearDims d = read_linear(a, 3);
  a.need(dy, "dy", elements(a, {d.n, d.out}), Shape({d.n, d.out}));
  a.need(w, "w", elements(a, {d.out, d.in}), Shape({d.out, d.in}));
  a.need(dx, "dx", elements(a, {d.n, d.in}), Shape({d.n, d.in}));
  a.status(cgk_linear_backward_data(dy.ptr, w.ptr, dx.ptr, d.n, d.in, d.out));
  return a.done();
}

Napi::Value linear_backward_weight(Args& a) {
  BufData& x = a.buf(0, "x");
  BufData& dy = a.buf(1, "dy");
  BufData& dw = a.buf(2, "dw");
  BufData* db = a.opt_buf(3, "db");
  LinearDims d = read_linear(a, 4);
  a.need(x, "x", elements(a, {d.n, d.in}), Shape({d.n, d.in}));
  a.need(dy, "dy", elements(a, {d.n, d.out}), Shape({d.n, d.out}));
  a.need(dw, "dw", elements(a, {d.out, d.in}), Shape({d.out, d.in}));
  a.need_opt(db, "db", d.out, Shape({d.out}));
  a.status(cgk_linear_backward_weight(x.ptr, dy.ptr, dw.ptr, db ? db->ptr : nullptr, d.n, d.in, d.out));
  return a.done();
}

}  // namespace

void register_conv(Napi::Object exports) {
  define(exports, "conv2dForward", conv_forward, &kConv2d);
  define(exports, "conv2dBackwardData", conv_backward_data, &kConv2d);
  define(exports, "conv2dBackwardWeight", conv_backward_weight, &kConv2d);
  define(exports, "conv2dBackward", conv2d_backward);
  define(exports, "convTranspose2dForward", conv_forward, &kConvTranspose2d);
  define(exports, "convTranspose2dBackwardData", conv_backward_data, &kConvTranspose2d);
  define(exports, "convTranspose2dBackwardWeight", conv_backward_weight, &kConvTranspose2d);
  define(exports, "biasBackward", bias_backward);
  define(exports, "linearForward", linear_forward);
  define(exports, "linearBackwardData", linear_backward_data);
  define(exports, "linearBackwardWeight", linear_backward_weight);
}

}  // namespace glue
