// Bindings of instance norm and batch norm. Instance norm keeps statistics per (n, c) plane,
// batch norm per channel; otherwise the checks are the same.
#include "glue.h"

namespace glue {
namespace {

const float* ptr_or_null(const BufData* b) { return b ? b->ptr : nullptr; }
float* mut_or_null(BufData* b) { return b ? b->ptr : nullptr; }

struct NormDims {
  int n, c, hw;
  uint64_t total;
  Shape x_shape, c_shape, stat_shape;
  uint64_t stats;  // elements of mean/rstd
};

NormDims read_dims(Args& a, size_t first, bool per_plane) {
  NormDims d;
  d.n = a.dim(first, "n", 1);
  d.c = a.dim(first + 1, "c", 1);
  d.hw = a.dim(first + 2, "hw", 1);
  d.total = elements(a, {d.n, d.c, d.hw});
  d.x_shape = Shape({d.n, d.c, d.hw});
  d.c_shape = Shape({d.c});
  d.stats = per_plane ? elements(a, {d.n, d.c}) : uint64_t(d.c);
  d.stat_shape = per_plane ? Shape({d.n, d.c}) : d.c_shape;
  return d;
}

double read_eps(Args& a, size_t i) { return a.number_in(i, "eps", 0, 1); }

// instanceNormForward / instanceNormReluForward(x, gamma, beta, y, mean, rstd, n, c, hw, eps)
using InstanceForwardKernel = int (*)(const float*, const float*, const float*, float*, float*, float*, int, int, int,
                                      float);
const InstanceForwardKernel kInstanceForward = cgk_instance_norm_forward;

Napi::Value instance_norm_forward(Args& a) {
  const InstanceForwardKernel kernel = *static_cast<const InstanceForwardKernel*>(a.data());
  BufData& x = a.buf(0, "x");
  BufData* gamma = a.opt_buf(1, "gamma");
  BufData* beta = a.opt_buf(2, "beta");
  BufData& y = a.buf(3, "y");
  BufData& mean = a.buf(4, "mean");
  BufData& rstd = a.buf(5, "rstd");
  NormDims d = read_dims(a, 6, true);
  float eps = static_cast<float>(read_eps(a, 9));
  a.need(x, "x", d.total, d.x_shape);
  a.need_opt(gamma, "gamma", d.c, d.c_shape);
  a.need_opt(beta, "beta", d.c, d.c_shape);
  a.need(y, "y", d.total, d.x_shape);
  a.need(mean, "mean", d.stats, d.stat_shape);
  a.need(rstd, "rstd", d.stats, d.stat_shape);
  a.status(kernel(x.ptr, ptr_or_null(gamma), ptr_or_null(beta), y.ptr, mean.ptr, rstd.ptr, d.n, d.c, d.hw, eps));
  return a.done();
}

const InstanceForwardKernel kInstanceReluForward = cgk_instance_norm_relu_forward;

// batchNormForwardTrain(x, gamma, beta, y, mean, rstd, runningMean, runningVar, n, c, hw, eps, momentum)
Napi::Value batch_norm_forward_train(Args& a) {
  BufData& x = a.buf(0, "x");
  BufData* gamma = a.opt_buf(1, "gamma");
  BufData* beta = a.opt_buf(2, "beta");
  BufData& y = a.buf(3, "y");
  BufData& mean = a.buf(4, "mean");
  BufData& rstd = a.buf(5, "rstd");
  BufData* running_mean = a.opt_buf(6, "runningMean");
  BufData* running_var = a.opt_buf(7, "runningVar");
  NormDims d = read_dims(a, 8, false);
  float eps = static_cast<float>(read_eps(a, 11));
  float momentum = static_cast<float>(a.number_in(12, "momentum", 0, 1));
  if ((running_mean == nullptr) != (running_var == nullptr)) a.fail("runningMean and runningVar must both be given or both be null");
  if (uint64_t(d.n) * uint64_t(d.hw) < 2) a.fail("batch norm in training needs more than 1 value per channel (n * hw >= 2)");
  a.need(x, "x", d.total, d.x_shape);
  a.need_opt(gamma, "gamma", d.c, d.c_shape);
  a.need_opt(beta, "beta", d.c, d.c_shape);
  a.need(y, "y", d.total, d.x_shape);
  a.need(mean, "mean", d.c, d.c_shape);
  a.need(rstd, "rstd", d.c, d.c_shape);
  a.need_opt(running_mean, "runningMean", d.c, d.c_shape);
  a.need_opt(running_var, "runningVar", d.c, d.c_shape);
  a.status(cgk_batch_norm_forward_train(x.ptr, ptr_or_null(gamma), ptr_or_null(beta), y.ptr, mean.ptr, rstd.ptr,
                                        mut_or_null(running_mean), mut_or_null(running_var), d.n, d.c, d.hw, eps,
                                        momentum));
  return a.done();
}

// batchNormForwardEval(x, gamma, beta, y, runningMean, runningVar, n, c, hw, eps)
Napi::Value batch_norm_forward_eval(Args& a) {
  BufData& x = a.buf(0, "x");
  BufData* gamma = a.opt_buf(1, "gamma");
  BufData* beta = a.opt_buf(2, "beta");
  BufData& y = a.buf(3, "y");
  BufData& running_mean = a.buf(4, "runningMean");
  BufData& running_var = a.buf(5, "runningVar");
  NormDims d = read_dims(a, 6, false);
  float eps = static_cast<float>(read_eps(a, 9));
  a.need(x, "x", d.total, d.x_shape);
  a.need_opt(gamma, "gamma", d.c, d.c_shape);
  a.need_opt(beta, "beta", d.c, d.c_shape);
  a.need(y, "y", d.total, d.x_shape);
  a.need(running_mean, "runningMean", d.c, d.c_shape);
  a.need(running_var, "runningVar", d.c, d.c_shape);
  a.status(cgk_batch_norm_forward_eval(x.ptr, ptr_or_null(gamma), ptr_or_null(beta), y.ptr, running_mean.ptr,
                                       running_var.ptr, d.n, d.c, d.hw, eps));
  return a.done();
}

// instanceNormBackward / batchNormBackward(dy, x, mean, rstd, gamma, dx, dgamma, dbeta, n, c, hw), and
// instanceNormReluBackward(dy, x, mean, rstd, gamma, beta, dx, dgamma, dbeta, n, c, hw), which also
// takes beta (the ReLU's mask depends on it). One kernel signature, beta unused by the plain norms.
using NormBackwardKernel = int (*)(const float*, const float*, const float*, const float*, const float*, const float*,
                                   float*, float*, float*, int, int, int);
struct NormBackwardOp {
  NormBackwardKernel kernel;
  bool per_plane, takes_beta;
};
const NormBackwardOp kInstanceBackward = {
    [](const float* dy, const float* x, const float* mean, const float* rstd, const float* gamma, const float*, float* dx,
       float* dgamma, float* dbeta, int n, int c, int hw) {
      return cgk_instance_norm_backward(dy, x, mean, rstd, gamma, dx, dgamma, dbeta, n, c, hw);
    },
    true, false};
const NormBackwardOp kBatchBackward = {
    [](const float* dy, const float* x, const float* mean, const float* rstd, const float* gamma, const float*, float* dx,
       float* dgamma, float* dbeta, int n, int c, int hw) {
      return cgk_batch_norm_backward(dy, x, mean, rstd, gamma, dx, dgamma, dbeta, n, c, hw);
    },
    false, false};
const NormBackwardOp kInstanceReluBackward = {cgk_instance_norm_relu_backward, true, true};

Napi::Value norm_backward(Args& a) {
  const NormBackwardOp* op = static_cast<const NormBackwardOp*>(a.data());
  const size_t shift = op->takes_beta ? 1 : 0;  // arguments after gamma move by one
  BufData& dy = a.buf(0, "dy");
  BufData& x = a.buf(1, "x");
  BufData& mean = a.buf(2, "mean");
  BufData& rstd = a.buf(3, "rstd");
  BufData* gamma = a.opt_buf(4, "gamma");
  BufData* beta = op->takes_beta ? a.opt_buf(5, "beta") : nullptr;
  BufData& dx = a.buf(5 + shift, "dx");
  BufData* dgamma = a.opt_buf(6 + shift, "dgamma");
  BufData* dbeta = a.opt_buf(7 + shift, "dbeta");
  NormDims d = read_dims(a, 8 + shift, op->per_plane);
  if (op->takes_beta && (gamma == nullptr) != (beta == nullptr)) a.fail("gamma and beta must both be given or both be null");
  if (!gamma && (dgamma || dbeta)) a.fail("dgamma and dbeta must be null when gamma is null (affine=false)");
  a.need(dy, "dy", d.total, d.x_shape);
  a.need(x, "x", d.total, d.x_shape);
  a.need(mean, "mean", d.stats, d.stat_shape);
  a.need(rstd, "rstd", d.stats, d.stat_shape);
  a.need_opt(gamma, "gamma", d.c, d.c_shape);
  a.need_opt(beta, "beta", d.c, d.c_shape);
  a.need(dx, "dx", d.total, d.x_shape);
  a.need_opt(dgamma, "dgamma", d.c, d.c_shape);
  a.need_opt(dbeta, "dbeta", d.c, d.c_shape);
  a.status(op->kernel(dy.ptr, x.ptr, mean.ptr, rstd.ptr, ptr_or_null(gamma), ptr_or_null(beta), dx.ptr, mut_or_null(dgamma),
                      mut_or_null(dbeta), d.n, d.c, d.hw));
  return a.done();
}

}  // namespace

void register_norm(Napi::Object exports) {
  define(exports, "instanceNormForward", instance_norm_forward, &kInstanceForward);
  // Instance norm + ReLU in one pass each way.
  define(exports, "instanceNormReluForward", instance_norm_forward, &kInstanceReluForward);
  define(exports, "instanceNormReluBackward", norm_backward, &kInstanceReluBackward);
  define(exports, "instanceNormBackward", norm_backward, &kInstanceBackward);
  define(exports, "batchNormForwardTrain", batch_norm_forward_train);
  define(exports, "batchNormForwardEval", batch_norm_forward_eval);
  define(exports, "batchNormBackward", norm_backward, &kBatchBackward);
}

}  // namespace glue
