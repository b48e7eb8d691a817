// Instance and batch normalisation, with the CPU backend's formulas (native/cpu/norm.cc):
// two-pass statistics (mean, then squared deviations), each thread summing its strided elements
// in float and the block adding those partials in double, so a 256x256 plane keeps the precision
// of the CPU's blocked sums and the order is fixed (deterministic).
//
// Both norms are one kernel over "groups", one block each: a group is the `planes` planes
// (stride `plane_stride`) that share one mean/rstd. Instance norm: group = one (n, c) plane. Batch norm:
// group = one channel across the n planes. In both, a group starts at group * hw and its
// channel is group % c.
#include <cmath>

#include "common.cuh"

using namespace cgk_cuda;

namespace {

constexpr int kNormThreads = 512;

// Sums a per-thread double over the block; valid in every thread afterwards.
__device__ double block_sum_double(double v, double* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int s = kNormThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
    __syncthreads();
  }
  const double total = shared[0];
  __syncthreads();  // shared is reused by the next sum
  return total;
}

// Visits the group's elements, plane by plane, each thread a fixed stride of every plane; the
// order per thread is fixed, so the sums are deterministic.
template <class F>
__device__ __forceinline__ void for_group(size_t base, int planes, size_t plane_stride, int hw, F f) {
  for (int p = 0; p < planes; ++p) {
    const size_t plane = base + (size_t)p * plane_stride;
    for (int i = threadIdx.x; i < hw; i += kNormThreads) f(plane + i);
  }
}

__global__ void __launch_bounds__(kNormThreads)
    norm_forward_kernel(const float* __restrict__ x, const float* __restrict__ gamma, const float* __restrict__ beta,
                        float* __restrict__ y, float* __restrict__ mean_out, float* __restrict__ rstd_out,
                        float* running_mean, float* running_var, int c, int hw, int planes, size_t plane_stride,
                        float eps, float momentum) {
  __shared__ double shared[kNormThreads];
  const int group = blockIdx.x, ch = group % c;
  const size_t base = (size_t)group * hw;
  const size_t count = (size_t)planes * hw;

  float acc = 0.f;
  for_group(base, planes, plane_stride, hw, [&](size_t i) { acc += x[i]; });
  const double sum = block_sum_double(acc, shared);
  const float mf = (float)(sum / (double)count);

  acc = 0.f;
  for_group(base, planes, plane_stride, hw, [&](size_t i) {
    const float d = x[i] - mf;
    acc = fmaf(d, d, acc);
  });
  const double sq = block_sum_double(acc, shared);
  const double var = sq / (double)count;
  const float r = (float)(1.0 / sqrt(var + (double)eps));

  if (threadIdx.x == 0) {
    mean_out[group] = mf;
    rstd_out[group] = r;
    if (running_mean) running_mean[ch] = (1.0f - momentum) * running_mean[ch] + momentum * mf;
    if (running_var) running_var[ch] = (1.0f - momentum) * running_var[ch] + momentum * (float)(sq / ((double)count - 1));
  }
  const float scale = r * (gamma ? gamma[ch] : 1.0f), shift = beta ? beta[ch] : 0.0f;
  for_group(base, planes, plane_stride, hw, [&](size_t i) { y[i] = fmaf(x[i] - mf, scale, shift); });
}

// dx = g rstd (dy - mean(dy) - xhat mean(dy xhat)); the group's sum(dy) and sum(dy xhat) go to
// group_db / group_dg (double) for the parameter gradients.
__global__ void __launch_bounds__(kNormThreads)
    norm_backward_kernel(const float* __restrict__ dy, const float* __restrict__ x, const float* __restrict__ mean,
                         const float* __restrict__ rstd, const float* __restrict__ gamma, float* __restrict__ dx,
                         double* group_dg, double* group_db, int c, int hw, int planes, size_t plane_stride) {
  __shared__ double shared[kNormThreads];
  const int group = blockIdx.x, ch = group % c;
  const size_t base = (size_t)group * hw;
  const size_t count = (size_t)planes * hw;
  const float m = mean[group], r = rstd[group], gm = gamma ? gamma[ch] : 1.0f;

  float a1 = 0.f, a2 = 0.f;
  for_group(base, planes, plane_stride, hw, [&](size_t i) {
    const float d = dy[i];
    a1 += d;
    a2 = fmaf(d, x[i] - m, a2);
  });
  const double sum_dy = block_sum_double(a1, shared);
  const double sum_dy_xm = block_sum_double(a2, shared);
  const double n = (double)count;
  const float k_dy = gm * r;
  const float k_x = (float)(-(double)gm * r * r * r * sum_dy_xm / n);
  const float k_0 = (float)(-(double)gm * r * sum_dy / n);
  for_group(base, planes, plane_stride, hw, [&](size_t i) { dx[i] = fmaf(x[i] - m, k_x, fmaf(dy[i], k_dy, k_0)); });
  if (threadIdx.x == 0) {
    group_dg[group] = sum_dy_xm * r;
    group_db[group] = sum_dy;
  }
}

// dgamma[ch] = sum over the groups of that channel (groups ch, ch + c, ...) in order.
__global__ void norm_param_grads_kernel(const double* group_dg, const double* group_db, int groups, int c,
                                        float* dgamma, float* dbeta) {
  const int ch = blockIdx.x * blockDim.x + threadIdx.x;
  if (ch >= c) return;
  double dg = 0, db = 0;
  for (int gi = ch; gi < groups; gi += c) {
    dg += group_dg[gi];
    db += group_db[gi];
  }
  if (dgamma) dgamma[ch] = (float)dg;
  if (dbeta) dbeta[ch] = (float)db;
}

__global__ void batch_norm_eval_kernel(const float* __restrict__ x, const float* __restrict__ gamma,
                                       const float* __restrict__ beta, float* __restrict__ y,
                                       const float* __restrict__ running_mean, const float* __restrict__ running_var,
                                       int c, int hw, float eps, size_t total) {
  CGK_GRID_STRIDE(i, total) {
    const int ch = (int)((i / hw) % c);
    const float r = (float)(1.0 / sqrt((double)running_var[ch] + (double)eps));
    const float scale = r * (gamma ? gamma[ch] : 1.0f), shift = beta ? beta[ch] : 0.0f;
    y[i] = fmaf(x[i] - running_mean[ch], scale, shift);
  }
}

int check_dims(const char* fn, int n, int c, int hw) {
  if (n < 1 || c < 1 || hw < 1) return fail_arg(fn, strf("n = %d, c = %d, hw = %d, expected all >= 1", n, c, hw));
  return CGK_OK;
}

int run_backward(const char* fn, const float* dy, const float* x, const float* mean, const float* rstd,
                 const float* gamma, float* dx, float* dgamma, float* dbeta, int n, int c, int hw, bool batch) {
  const int groups = batch ? c : n * c;
  double* sums = nullptr;
  float* scratch = scratch_alloc((size_t)groups * 4);  // two doubles per group
  if (!scratch) return CGK_ERR_OOM;
  sums = reinterpret_cast<double*>(scratch);
  norm_backward_kernel<<<groups, kNormThreads, 0, stream()>>>(dy, x, mean, rstd, gamma, dx, sums, sums + groups, c, hw,
                                                              batch ? n : 1, (size_t)c * hw);
  if (dgamma || dbeta) norm_param_grads_kernel<<<(c + 127) / 128, 128, 0, stream()>>>(sums, sums + groups, groups, c, dgamma, dbeta);
  scratch_free(scratch);  // stream order keeps it alive for the kernels above
  return check_launch(fn);
}

}  // namespace

extern "C" {

int cgk_instance_norm_forward(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd,
                              int n, int c, int hw, float eps) {
  const char* fn = "cgk_instance_norm_forward";
  CGK_READY(fn);
  if (int st = check_dims(fn, n, c, hw)) return st;
  CGK_REQUIRE(eps >= 0.0f, fn, strf("eps = %g, expected >= 0", eps));
  CGK_REQUIRE(x && y && mean && rstd, fn, "NULL buffer");
  if ((double)n * c > 2147483647.0) return fail_arg(fn, "n * c must stay below 2^31");
  norm_forward_kernel<<<n * c, kNormThreads, 0, stream()>>>(x, gamma, beta, y, mean, rstd, nullptr, nullptr, c, hw, 1, 0,
                                                            eps, 0.f);
  return check_launch(fn);
}

int cgk_instance_norm_backward(const float* dy, const float* x, const float* mean, const float* rstd, const float* gamma,
                               float* dx, float* dgamma, float* dbeta, int n, int c, int hw) {
  const char* fn = "cgk_instance_norm_backward";
  CGK_READY(fn);
  if (int st = check_dims(fn, n, c, hw)) return st;
  CGK_REQUIRE(dy && x && mean && rstd && dx, fn, "NULL buffer");
  CGK_REQUIRE(gamma || (!dgamma && !dbeta), fn, "dgamma/dbeta given without gamma");
  return run_backward(fn, dy, x, mean, rstd, gamma, dx, dgamma, dbeta, n, c, hw, false);
}

int cgk_batch_norm_forward_train(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd,
                                 float* running_mean, float* running_var, int n, int c, int hw, float eps, float momentum) {
  const char* fn = "cgk_batch_norm_forward_train";
  CGK_READY(fn);
  if (int st = check_dims(fn, n, c, hw)) return st;
  CGK_REQUIRE(eps >= 0.0f, fn, strf("eps = %g, expected >= 0", eps));
  CGK_REQUIRE(momentum >= 0.0f && momentum <= 1.0f, fn, strf("momentum = %g, expected 0..1", momentum));
  CGK_REQUIRE((size_t)n * hw >= 2, fn, strf("needs more than 1 value per channel, got n*hw = %zu", (size_t)n * hw));
  CGK_REQUIRE(x && y && mean && rstd, fn, "NULL buffer");
  norm_forward_kernel<<<c, kNormThreads, 0, stream()>>>(x, gamma, beta, y, mean, rstd, running_mean, running_var, c, hw,
                                                        n, (size_t)c * hw, eps, momentum);
  return check_launch(fn);
}

int cgk_batch_norm_forward_eval(const float* x, const float* gamma, const float* beta, float* y, const float* running_mean,
                                const float* running_var, int n, int c, int hw, float eps) {
  const char* fn = "cgk_batch_norm_forward_eval";
  CGK_READY(fn);
  if (int st = check_dims(fn, n, c, hw)) return st;
  CGK_REQUIRE(eps >= 0.0f, fn, strf("eps = %g, expected >= 0", eps));
  CGK_REQUIRE(x && y && running_mean && running_var, fn, "NULL buffer");
  const size_t total = (size_t)n * c * hw;
  CGK_LAUNCH_1D(fn, batch_norm_eval_kernel, total, x, gamma, beta, y, running_mean, running_var, c, hw, eps, total);
}

int cgk_batch_norm_backward(const float* dy, const float* x, const float* mean, const float* rstd, const float* gamma,
                            float* dx, float* dgamma, float* dbeta, int n, int c, int hw) {
  const char* fn = "cgk_batch_norm_backward";
  CGK_READY(fn);
  if (int st = check_dims(fn, n, c, hw)) return st;
  CGK_REQUIRE(dy && x && mean && rstd && dx, fn, "NULL buffer");
  CGK_REQUIRE(gamma || (!dgamma && !dbeta), fn, "dgamma/dbeta given without gamma");
  return run_backward(fn, dy, x, mean, rstd, gamma, dx, dgamma, dbeta, n, c, hw, true);
}

}  // extern "C"
