// Bindings of pooling, reductions and losses. Scalar results and scalar upstream gradients
// live in 1-float device buffers (out, dout), so they are checked for one float.
#include "glue.h"

namespace glue {
namespace {

Shape vec(uint64_t n) { return Shape({static_cast<int64_t>(n)}); }

Napi::Value max_pool_forward(Args& a) {
  BufData& x = a.buf(0, "x");
  BufData& y = a.buf(1, "y");
  BufData& argmax = a.buf(2, "argmax");
  int nc = a.dim(3, "nc", 1), h = a.dim(4, "h", 1), w = a.dim(5, "w", 1);
  int k = a.dim(6, "k", 1), s = a.dim(7, "s", 1), p = a.dim(8, "p");
  int h_out = a.dim(9, "hOut", 1), w_out = a.dim(10, "wOut", 1);
  if (2 * p > k) a.fail("padding " + std::to_string(p) + " must be at most half the kernel size " + std::to_string(k));
  if (int64_t(h) + 2 * p < k || int64_t(w) + 2 * p < k) a.fail("kernel " + std::to_string(k) + " is larger than the padded input");
  int64_t h_expected = (int64_t(h) + 2 * p - k) / s + 1, w_expected = (int64_t(w) + 2 * p - k) / s + 1;
  if (h_out != h_expected || w_out != w_expected) {
    a.fail("hOut x wOut = " + std::to_string(h_out) + "x" + std::to_string(w_out) + ", but the input " +
           std::to_string(h) + "x" + std::to_string(w) + " gives " + std::to_string(h_expected) + "x" +
           std::to_string(w_expected));
  }
  if (uint64_t(h) * uint64_t(w) > (1u << 24)) a.fail("input plane larger than 2^24 elements (argmax is stored as float)");
  a.need(x, "x", elements(a, {nc, h, w}), Shape({nc, h, w}));
  a.need(y, "y", elements(a, {nc, h_out, w_out}), Shape({nc, h_out, w_out}));
  a.need(argmax, "argmax", elements(a, {nc, h_out, w_out}), Shape({nc, h_out, w_out}));
  a.status(cgk_max_pool2d_forward(x.ptr, y.ptr, argmax.ptr, nc, h, w, k, s, p, h_out, w_out));
  return a.done();
}

Napi::Value max_pool_backward(Args& a) {
  BufData& dy = a.buf(0, "dy");
  BufData& argmax = a.buf(1, "argmax");
  BufData& dx = a.buf(2, "dx");
  int nc = a.dim(3, "nc", 1), h = a.dim(4, "h", 1), w = a.dim(5, "w", 1);
  int h_out = a.dim(6, "hOut", 1), w_out = a.dim(7, "wOut", 1);
  a.need(dy, "dy", elements(a, {nc, h_out, w_out}), Shape({nc, h_out, w_out}));
  a.need(argmax, "argmax", elements(a, {nc, h_out, w_out}), Shape({nc, h_out, w_out}));
  a.need(dx, "dx", elements(a, {nc, h, w}), Shape({nc, h, w}));
  a.status(cgk_max_pool2d_backward(dy.ptr, argmax.ptr, dx.ptr, nc, h, w, h_out, w_out));
  return a.done();
}

Napi::Value global_avg_pool(Args& a) {
  bool backward = a.data() != nullptr;
  BufData& in = a.buf(0, backward ? "dy" : "x");
  BufData& out = a.buf(1, backward ? "dx" : "y");
  int nc = a.dim(2, "nc"), hw = a.dim(3, "hw", 1);
  uint64_t plane = elements(a, {nc, hw});
  a.need(in, backward ? "dy" : "x", backward ? nc : plane, backward ? Shape({nc}) : Shape({nc, hw}));
  a.need(out, backward ? "dx" : "y", backward ? plane : nc, backward ? Shape({nc, hw}) : Shape({nc}));
  a.status(backward ? cgk_global_avg_pool_backward(in.ptr, out.ptr, nc, hw) : cgk_global_avg_pool_forward(in.ptr, out.ptr, nc, hw));
  return a.done();
}

// sum/mean (x, out, n) and their backwards (dout, dx, n).
struct ReduceOp {
  const char* name;
  int (*kernel)(const float*, float*, size_t);
  bool backward;
  bool mean;
};
const ReduceOp kReduce[] = {
    {"sum", cgk_sum, false, false},
    {"mean", cgk_mean, false, true},
    {"sumBackward", cgk_sum_backward, true, false},
    {"meanBackward", cgk_mean_backward, true, true},
};

Napi::Value reduce(Args& a) {
  const ReduceOp* op = static_cast<const ReduceOp*>(a.data());
  BufData& in = a.buf(0, op->backward ? "dout" : "x");
  BufData& out = a.buf(1, op->backward ? "dx" : "out");
  uint64_t n = a.count(2, "n");
  if (op->mean && n == 0) a.fail("n = 0: the mean of no elements is undefined");
  a.need(in, op->backward ? "dout" : "x", op->backward ? 1 : n, op->backward ? Shape::text_of("a device scalar") : vec(n));
  a.need(out, op->backward ? "dx" : "out", op->backward ? n : 1, op->backward ? vec(n) : Shape::text_of("a device scalar"));
  a.status(op->kernel(in.ptr, out.ptr, n));
  return a.done();
}

// Loss forward (x, t, out, n) and backward (x, t, dout, dx, n): mean over n elements.
struct LossOp {
  const char* name;
  int (*forward)(const float*, const float*, float*, size_t);
  int (*backward)(const float*, const float*, const float*, float*, size_t);
};
const LossOp kLosses[] = {
    {"l1Loss", cgk_l1_loss_forward, cgk_l1_loss_backward},
    {"mseLoss", cgk_mse_loss_forward, cgk_mse_loss_backward},
    {"bceLogits", cgk_bce_logits_forward, cgk_bce_logits_backward},
};
const char* const kLossForwardNames[] = {"l1LossForward", "mseLossForward", "bceLogitsForward"};
const char* const kLossBackwardNames[] = {"l1LossBackward", "mseLossBackward", "bceLogitsBackward"};

void need_pair(Args& a, BufData& x, BufData& t, uint64_t n) {
  if (n == 0) a.fail("n = 0: a mean loss over no elements is undefined");
  a.need(x, "x", n, vec(n));
  a.need(t, "t", n, vec(n));
}

Napi::Value loss_forward(Args& a) {
  const LossOp* op = static_cast<const LossOp*>(a.data());
  BufData& x = a.buf(0, "x");
  BufData& t = a.buf(1, "t");
  BufData& out = a.buf(2, "out");
  uint64_t n = a.count(3, "n");
  need_pair(a, x, t, n);
  a.need(out, "out", 1, Shape::text_of("a device scalar"));
  a.status(op->forward(x.ptr, t.ptr, out.ptr, n));
  return a.done();
}

Napi::Value loss_backward(Args& a) {
  const LossOp* op = static_cast<const LossOp*>(a.data());
  BufData& x = a.buf(0, "x");
  BufData& t = a.buf(1, "t");
  BufData& dout = a.buf(2, "dout");
  BufData& dx = a.buf(3, "dx");
  uint64_t n = a.count(4, "n");
  need_pair(a, x, t, n);
  a.need(dout, "dout", 1, Shape::text_of("a device scalar"));
  a.need(dx, "dx", n, vec(n));
  a.status(op->backward(x.ptr, t.ptr, dout.ptr, dx.ptr, n));
  return a.done();
}

// focalLossForward(x, t, alpha, gamma, out, n); focalLossBackward(x, t, alpha, gamma, dout, dx, n)
Napi::Value focal_loss(Args& a) {
  bool backward = a.data() != nullptr;
  BufData& x = a.buf(0, "x");
  BufData& t = a.buf(1, "t");
  float alpha = a.f32(2, "alpha");
  if (alpha > 1) a.fail("alpha = " + std::to_string(alpha) + ", expected a number in [0, 1] (or < 0 to disable)");
  float gamma = static_cast<float>(a.number_in(3, "gamma", 0, 100));
  if (!backward) {
    BufData& out = a.buf(4, "out");
    uint64_t n = a.count(5, "n");
    need_pair(a, x, t, n);
    a.need(out, "out", 1, Shape::text_of("a device scalar"));
    a.status(cgk_focal_loss_forward(x.ptr, t.ptr, alpha, gamma, out.ptr, n));
  } else {
    BufData& dout = a.buf(4, "dout");
    BufData& dx = a.buf(5, "dx");
    uint64_t n = a.count(6, "n");
    need_pair(a, x, t, n);
    a.need(dout, "dout", 1, Shape::text_of("a device scalar"));
    a.need(dx, "dx", n, vec(n));
    a.status(cgk_focal_loss_backward(x.ptr, t.ptr, alpha, gamma, dout.ptr, dx.ptr, n));
  }
  return a.done();
}

// ghmcLossForward(x, t, bins, momentum, acc, weights, out, n)
Napi::Value ghmc_forward(Args& a) {
  BufData& x = a.buf(0, "x");
  BufData& t = a.buf(1, "t");
  int bins = a.dim(2, "bins", 1);
  float momentum = static_cast<float>(a.number_in(3, "momentum", 0, 1, true));
  BufData& acc = a.buf(4, "acc");
  BufData& weights = a.buf(5, "weights");
  BufData& out = a.buf(6, "out");
  uint64_t n = a.count(7, "n");
  need_pair(a, x, t, n);
  a.need(acc, "acc", bins, vec(bins));
  a.need(weights, "weights", n, vec(n));
  a.need(out, "out", 1, Shape::text_of("a device scalar"));
  a.status(cgk_ghmc_loss_forward(x.ptr, t.ptr, bins, momentum, acc.ptr, weights.ptr, out.ptr, n));
  return a.done();
}

// ghmcLossBackward(x, t, weights, dout, dx, n)
Napi::Value ghmc_backward(Args& a) {
  BufData& x = a.buf(0, "x");
  BufData& t = a.buf(1, "t");
  BufData& weights = a.buf(2, "weights");
  BufData& dout = a.buf(3, "dout");
  BufData& dx = a.buf(4, "dx");
  uint64_t n = a.count(5, "n");
  need_pair(a, x, t, n);
  a.need(weights, "weights", n, vec(n));
  a.need(dout, "dout", 1, Shape::text_of("a device scalar"));
  a.need(dx, "dx", n, vec(n));
  a.status(cgk_ghmc_loss_backward(x.ptr, t.ptr, weights.ptr, dout.ptr, dx.ptr, n));
  return a.done();
}

struct Rows {
  int n, k;
  uint64_t total;
  Shape shape_text;
};

Rows read_rows(Args& a, size_t first) {
  Rows r{a.dim(first, "n", 1), a.dim(first + 1, "k", 1), 0, Shape()};
  r.total = elements(a, {r.n, r.k});
  r.shape_text = Shape({r.n, r.k});
  return r;
}

// softmaxXentForward(logits, labels, probs, out, n, k)
Napi::Value softmax_xent_forward(Args& a) {
  BufData& logits = a.buf(0, "logits");
  BufData& labels = a.buf(1, "labels");
  BufData& probs = a.buf(2, "probs");
  BufData& out = a.buf(3, "out");
  Rows r = read_rows(a, 4);
  a.need(logits, "logits", r.total, r.shape_text);
  a.need(labels, "labels", r.n, vec(r.n));
  a.need(probs, "probs", r.total, r.shape_text);
  a.need(out, "out", 1, Shape::text_of("a device scalar"));
  a.status(cgk_softmax_xent_forward(logits.ptr, labels.ptr, probs.ptr, out.ptr, r.n, r.k));
  return a.done();
}

// softmaxXentBackward(probs, labels, dout, dlogits, n, k)
Napi::Value softmax_xent_backward(Args& a) {
  BufData& probs = a.buf(0, "probs");
  BufData& labels = a.buf(1, "labels");
  BufData& dout = a.buf(2, "dout");
  BufData& dlogits = a.buf(3, "dlogits");
  Rows r = read_rows(a, 4);
  a.need(probs, "probs", r.total, r.shape_text);
  a.need(labels, "labels", r.n, vec(r.n));
  a.need(dout, "dout", 1, Shape::text_of("a device scalar"));
  a.need(dlogits, "dlogits", r.total, r.shape_text);
  a.status(cgk_softmax_xent_backward(probs.ptr, labels.ptr, dout.ptr, dlogits.ptr, r.n, r.k));
  return a.done();
}

Napi::Value softmax_forward(Args& a) {
  BufData& logits = a.buf(0, "logits");
  BufData& probs = a.buf(1, "probs");
  Rows r = read_rows(a, 2);
  a.need(logits, "logits", r.total, r.shape_text);
  a.need(probs, "probs", r.total, r.shape_text);
  a.status(cgk_softmax_forward(logits.ptr, probs.ptr, r.n, r.k));
  return a.done();
}

const int kBackward = 1;

}  // namespace

void register_pool_loss(Napi::Object exports) {
  define(exports, "maxPool2dForward", max_pool_forward);
  define(exports, "maxPool2dBackward", max_pool_backward);
  define(exports, "globalAvgPoolForward", global_avg_pool);
  define(exports, "globalAvgPoolBackward", global_avg_pool, &kBackward);
  for (const ReduceOp& op : kReduce) define(exports, op.name, reduce, &op);
  for (size_t i = 0; i < sizeof(kLosses) / sizeof(kLosses[0]); i++) {
    define(exports, kLossForwardNames[i], loss_forward, &kLosses[i]);
    define(exports, kLossBackwardNames[i], loss_backward, &kLosses[i]);
  }
  define(exports, "focalLossForward", focal_loss);
  define(exports, "focalLossBackward", focal_loss, &kBackward);
  define(exports, "ghmcLossForward", ghmc_forward);
  define(exports, "ghmcLossBackward", ghmc_backward);
  define(exports, "softmaxXentForward", softmax_xent_forward);
  define(exports, "softmaxXentBackward", softmax_xent_backward);
  define(exports, "softmaxForward", softmax_forward);
}

}  // namespace glue
