// Bindings of conv2d, conv-transpose2d and linear. The ConvParams object is checked against
// the output-size formulas of cgk.h before any kernel runs.
#include "glue.h"

namespace glue {
namespace {

struct ConvShapes {
  cgk_conv p;
  uint64_t x, w, y;  // element counts
  std::string x_shape, w_shape, y_shape;
};

std::string num(int64_t v) { return std::to_string(v); }

ConvShapes read_conv(Args& a, bool transpose) {
  Napi::Value v = a.arg(0);
  if (!v.IsObject() || v.IsArray()) a.fail("p must be a ConvParams object");
  Napi::Object o = v.As<Napi::Object>();
  cgk_conv p{};
  p.n = a.dim_of(o, "n", 1);
  p.c_in = a.dim_of(o, "cIn", 1);
  p.h_in = a.dim_of(o, "hIn", 1);
  p.w_in = a.dim_of(o, "wIn", 1);
  p.c_out = a.dim_of(o, "cOut", 1);
  p.h_out = a.dim_of(o, "hOut", 1);
  p.w_out = a.dim_of(o, "wOut", 1);
  p.kh = a.dim_of(o, "kh", 1);
  p.kw = a.dim_of(o, "kw", 1);
  p.sh = a.dim_of(o, "sh", 1);
  p.sw = a.dim_of(o, "sw", 1);
  p.ph = a.dim_of(o, "ph", 0);
  p.pw = a.dim_of(o, "pw", 0);
  p.oph = a.dim_of(o, "oph", 0);
  p.opw = a.dim_of(o, "opw", 0);
  // Optional: 0 zeros (the default), 1 reflection (conv2d only, padding smaller than the input).
  p.pad_mode = o.Get("padMode").IsUndefined() ? CGK_PAD_ZEROS : a.dim_of(o, "padMode", 0);
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
  ConvShapes s{p, 0, 0, 0, "", "", ""};
  s.x = elements(a, {p.n, p.c_in, p.h_in, p.w_in});
  s.y = elements(a, {p.n, p.c_out, p.h_out, p.w_out});
  s.w = elements(a, {p.c_out, p.c_in, p.kh, p.kw});
  s.x_shape = shape({p.n, p.c_in, p.h_in, p.w_in});
  s.y_shape = shape({p.n, p.c_out, p.h_out, p.w_out});
  s.w_shape = transpose ? shape({p.c_in, p.c_out, p.kh, p.kw}) : shape({p.c_out, p.c_in, p.kh, p.kw});
  return s;
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
  a.need_opt(bias, "bias", s.p.c_out, shape({s.p.c_out}));
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
  a.need(dy, "dy", elements(a, {n, c, hw}), shape({n, c, hw}));
  a.need(db, "db", c, shape({c}));
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
  a.need(x, "x", elements(a, {d.n, d.in}), shape({d.n, d.in}));
  a.need(w, "w", elements(a, {d.out, d.in}), shape({d.out, d.in}));
  a.need_opt(bias, "bias", d.out, shape({d.out}));
  a.need(y, "y", elements(a, {d.n, d.out}), shape({d.n, d.out}));
  a.status(cgk_linear_forward(x.ptr, w.ptr, bias ? bias->ptr : nullptr, y.ptr, d.n, d.in, d.out));
  return a.done();
}

Napi::Value linear_backward_data(Args& a) {
  BufData& dy = a.buf(0, "dy");
  BufData& w = a.buf(1, "w");
  BufData& dx = a.buf(2, "dx");
  LinearDims d = read_linear(a, 3);
  a.need(dy, "dy", elements(a, {d.n, d.out}), shape({d.n, d.out}));
  a.need(w, "w", elements(a, {d.out, d.in}), shape({d.out, d.in}));
  a.need(dx, "dx", elements(a, {d.n, d.in}), shape({d.n, d.in}));
  a.status(cgk_linear_backward_data(dy.ptr, w.ptr, dx.ptr, d.n, d.in, d.out));
  return a.done();
}

Napi::Value linear_backward_weight(Args& a) {
  BufData& x = a.buf(0, "x");
  BufData& dy = a.buf(1, "dy");
  BufData& dw = a.buf(2, "dw");
  BufData* db = a.opt_buf(3, "db");
  LinearDims d = read_linear(a, 4);
  a.need(x, "x", elements(a, {d.n, d.in}), shape({d.n, d.in}));
  a.need(dy, "dy", elements(a, {d.n, d.out}), shape({d.n, d.out}));
  a.need(dw, "dw", elements(a, {d.out, d.in}), shape({d.out, d.in}));
  a.need_opt(db, "db", d.out, shape({d.out}));
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
