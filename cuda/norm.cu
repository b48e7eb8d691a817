// Instance and batch normalisation, with the CPU backend's formulas (native/cpu/norm.cc). Both
// norms run the group kernels of norm_kernels.cuh: a group is the planes that share one
// mean/rstd (an (n, c) plane for instance norm, a channel for batch norm). Instance norm over
// few, large planes (256x256 at batch 1) cuts each plane across several blocks instead.
#include <cmath>
#include <initializer_list>
#include <type_traits>

#include "common.cuh"
#include "norm_kernels.cuh"

using namespace cgk_cuda;

namespace {

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

bool aligned16(std::initializer_list<const float*> ptrs) {
  for (const float* p : ptrs)
    if (reinterpret_cast<uintptr_t>(p) % 16) return false;
  return true;
}

// The split kernels' scaffold (norm_kernels.cuh, split): two double partials for each of
// `blocks` blocks, and launch(W, first, second) with W = 4 (float4) where hw % 4 == 0 and the
// buffers are 16-byte aligned, else 1.
template <class F>
int with_split_partials(size_t blocks, int hw, std::initializer_list<const float*> buffers, F launch) {
  double* first = reinterpret_cast<double*>(scratch_alloc(blocks * 4));
  if (!first) return CGK_ERR_OOM;
  if (hw % 4 == 0 && aligned16(buffers)) launch(std::integral_constant<int, 4>{}, first, first + blocks);
  else launch(std::integral_constant<int, 1>{}, first, first + blocks);
  scratch_free(reinterpret_cast<float*>(first));  // stream order keeps it alive for the kernels
  return CGK_OK;
}

// Instance norm forward over few, large planes: chunk sums, squared deviations, then y.
int split_forward(const char* fn, bool relu, const float* x, const float* gamma, const float* beta, float* y,
                  float* mean, float* rstd, int groups, int c, int hw, int chunks, float eps) {
  namespace sp = norm::split;
  const size_t blocks = (size_t)groups * chunks, len = sp::chunk_len(hw, chunks);
  const int st = with_split_partials(blocks, hw, {x, y}, [&](auto w, double* sums, double* sqs) {
    constexpr int W = decltype(w)::value;
    sp::sum_kernel<W><<<blocks, sp::kThreads, 0, stream()>>>(x, sums, hw, chunks, len);
    sp::sqdev_kernel<W><<<blocks, sp::kThreads, 0, stream()>>>(x, sums, sqs, hw, chunks, len);
    auto normalize = relu ? sp::normalize_kernel<W, true> : sp::normalize_kernel<W, false>;
    normalize<<<blocks, sp::kThreads, 0, stream()>>>(x, gamma, beta, y, mean, rstd, sums, sqs, c, hw, chunks, len, eps);
  });
  return st ? st : check_launch(fn);
}

// Instance norm backward over few, large planes: the chunk sums, then dx; the group's
// parameter-gradient parts go to group_dg / group_db.
int split_backward(bool relu, const float* dy, const float* x, const float* mean, const float* rstd, const float* gamma,
                   const float* beta, float* dx, double* group_dg, double* group_db, int groups, int c, int hw,
                   int chunks) {
  namespace sp = norm::split;
  const size_t blocks = (size_t)groups * chunks, len = sp::chunk_len(hw, chunks);
  return with_split_partials(blocks, hw, {dy, x, dx}, [&](auto w, double* a1s, double* a2s) {
    constexpr int W = decltype(w)::value;
    auto sums_kernel = relu ? sp::grad_sums_kernel<W, true> : sp::grad_sums_kernel<W, false>;
    auto dx_kernel = relu ? sp::dx_kernel<W, true> : sp::dx_kernel<W, false>;
    sums_kernel<<<blocks, sp::kThreads, 0, stream()>>>(dy, x, mean, rstd, gamma, beta, a1s, a2s, c, hw, chunks, len);
    dx_kernel<<<blocks, sp::kThreads, 0, stream()>>>(dy, x, mean, rstd, gamma, beta, dx, a1s, a2s, group_dg, group_db, c,
                                                     hw, chunks, len);
  });
}

int run_forward(const char* fn, bool relu, const float* x, const float* gamma, const float* beta, float* y, float* mean,
                float* rstd, float* running_mean, float* running_var, int groups, int c, int hw, int planes,
                size_t plane_stride, float eps, float momentum) {
  if (planes == 1) {
    const int chunks = norm::split::chunks_for(groups, hw, device_props().multiProcessorCount);
    if (chunks > 1) return split_forward(fn, relu, x, gamma, beta, y, mean, rstd, groups, c, hw, chunks, eps);
  }
  norm::with_group_threads((size_t)planes * hw, [&](auto t) {
    constexpr int T = decltype(t)::value;
    auto kernel = relu ? norm::forward_kernel<T, true> : norm::forward_kernel<T, false>;
    kernel<<<norm::group_blocks(groups, T), norm::block_threads(T), 0, stream()>>>(
        x, gamma, beta, y, mean, rstd, running_mean, running_var, groups, c, hw, planes, plane_stride, eps, momentum);
  });
  return check_launch(fn);
}

int run_backward(const char* fn, bool relu, const float* dy, const float* x, const float* mean, const float* rstd,
                 const float* gamma, const float* beta, float* dx, float* dgamma, float* dbeta, int n, int c, int hw,
                 bool batch) {
  const int groups = batch ? c : n * c, planes = batch ? n : 1;
  double* sums = nullptr;
  float* scratch = scratch_alloc((size_t)groups * 4);  // two doubles per group
  if (!scratch) return CGK_ERR_OOM;
  sums = reinterpret_cast<double*>(scratch);
  const int chunks = batch ? 1 : norm::split::chunks_for(groups, hw, device_props().multiProcessorCount);
  if (chunks > 1) {
    if (int st = split_backward(relu, dy, x, mean, rstd, gamma, beta, dx, sums, sums + groups, groups, c, hw, chunks)) {
      scratch_free(scratch);
      return st;
    }
  } else {
    norm::with_group_threads((size_t)planes * hw, [&](auto t) {
      constexpr int T = decltype(t)::value;
      auto kernel = relu ? norm::backward_kernel<T, true> : norm::backward_kernel<T, false>;
      kernel<<<norm::group_blocks(groups, T), norm::block_threads(T), 0, stream()>>>(
          dy, x, mean, rstd, gamma, beta, dx, sums, sums + groups, groups, c, hw, planes, (size_t)c * hw);
    });
  }
  if (dgamma || dbeta)
    norm::param_grads_kernel<<<(c + 127) / 128, 128, 0, stream()>>>(sums, sums + groups, groups, c, dgamma, dbeta);
  scratch_free(scratch);  // stream order keeps it alive for the kernels above
  return check_launch(fn);
}

int instance_forward(const char* fn, bool relu, const float* x, const float* gamma, const float* beta, float* y,
                     float* mean, float* rstd, int n, int c, int hw, float eps) {
  CGK_READY(fn);
  if (int st = check_dims(fn, n, c, hw)) return st;
  CGK_REQUIRE(eps >= 0.0f, fn, strf("eps = %g, expected >= 0", eps));
  CGK_REQUIRE(x && y && mean && rstd, fn, "NULL buffer");
  if ((double)n * c > 2147483647.0) return fail_arg(fn, "n * c must stay below 2^31");
  return run_forward(fn, relu, x, gamma, beta, y, mean, rstd, nullptr, nullptr, n * c, c, hw, 1, 0, eps, 0.f);
}

int instance_backward(const char* fn, bool relu, const float* dy, const float* x, const float* mean, const float* rstd,
                      const float* gamma, const float* beta, float* dx, float* dgamma, float* dbeta, int n, int c, int hw) {
  CGK_READY(fn);
  if (int st = check_dims(fn, n, c, hw)) return st;
  CGK_REQUIRE(dy && x && mean && rstd && dx, fn, "NULL buffer");
  CGK_REQUIRE(gamma || (!dgamma && !dbeta), fn, "dgamma/dbeta given without gamma");
  return run_backward(fn, relu, dy, x, mean, rstd, gamma, beta, dx, dgamma, dbeta, n, c, hw, false);
}

}  // namespace

extern "C" {

int cgk_instance_norm_forward(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd,
                              int n, int c, int hw, float eps) {
  return instance_forward("cgk_instance_norm_forward", false, x, gamma, beta, y, mean, rstd, n, c, hw, eps);
}

int cgk_instance_norm_backward(const float* dy, const float* x, const float* mean, const float* rstd, const float* gamma,
                               float* dx, float* dgamma, float* dbeta, int n, int c, int hw) {
  return instance_backward("cgk_instance_norm_backward", false, dy, x, mean, rstd, gamma, nullptr, dx, dgamma, dbeta, n, c,
                           hw);
}

int cgk_instance_norm_relu_forward(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                                   float* rstd, int n, int c, int hw, float eps) {
  return instance_forward("cgk_instance_norm_relu_forward", true, x, gamma, beta, y, mean, rstd, n, c, hw, eps);
}

int cgk_instance_norm_relu_backward(const float* dy, const float* x, const float* mean, const float* rstd,
                                    const float* gamma, const float* beta, float* dx, float* dgamma, float* dbeta, int n,
                                    int c, int hw) {
  const char* fn = "cgk_instance_norm_relu_backward";
  CGK_REQUIRE((gamma == nullptr) == (beta == nullptr), fn, "gamma and beta must both be given or both be NULL");
  return instance_backward(fn, true, dy, x, mean, rstd, gamma, beta, dx, dgamma, dbeta, n, c, hw);
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
  return run_forward(fn, false, x, gamma, beta, y, mean, rstd, running_mean, running_var, c, c, hw, n, (size_t)c * hw,
                     eps, momentum);
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
  return run_backward(fn, false, dy, x, mean, rstd, gamma, nullptr, dx, dgamma, dbeta, n, c, hw, true);
}

}  // extern "C"
