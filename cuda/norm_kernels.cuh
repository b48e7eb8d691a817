// The group kernels of instance and batch norm (norm.cu launches them; the CPU emulator of
// cuda/dev/emu runs them in cuda/dev/emu/norm_check.cc).
//
// A group is the `planes` planes (stride `plane_stride`) that share one mean/rstd: one (n, c)
// plane for instance norm, one channel across the n planes for batch norm. A group starts at
// group * hw and its channel is group % c. T threads work on a group (32 to 512, from its size:
// about 8 elements a thread), and a block of max(T, 256) threads holds block / T groups, so the
// 64-pixel planes of a 32x32 batch-128 generator do not leave 7 of 8 threads idle.
//
// The formulas are the CPU backend's (native/cpu/norm.cc): two-pass statistics (mean, then
// squared deviations), each thread summing its strided elements in float and the group adding
// those partials in double in a fixed tree. The order depends only on the group's size, so the
// results are deterministic.
#pragma once

#include <cmath>
#include <cstddef>

namespace cgk_cuda {
namespace norm {

constexpr int kMinBlock = 256;

__host__ __device__ constexpr int block_threads(int t) { return t > kMinBlock ? t : kMinBlock; }

// Threads per group for groups of `count` elements.
inline int threads_per_group(size_t count) {
  int t = 32;
  while (t < 512 && (size_t)t * 8 < count) t *= 2;
  return t;
}

// Sums v over the T threads of the calling thread's group; every thread of the block must call
// it (it holds block barriers). shared: block_threads(T) doubles.
template <int T>
__device__ __forceinline__ double group_sum(double v, double* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  const int lane = threadIdx.x % T;
  for (int s = T / 2; s > 0; s >>= 1) {
    if (lane < s) shared[threadIdx.x] += shared[threadIdx.x + s];
    __syncthreads();
  }
  const double total = shared[threadIdx.x - lane];
  __syncthreads();  // shared is reused by the next sum
  return total;
}

// Visits the group's elements, plane by plane, each thread a fixed stride of every plane.
template <int T, class F>
__device__ __forceinline__ void for_group(bool active, size_t base, int planes, size_t plane_stride, int hw, F f) {
  if (!active) return;
  for (int p = 0; p < planes; ++p) {
    const size_t plane = base + (size_t)p * plane_stride;
    for (int i = threadIdx.x % T; i < hw; i += T) f(plane + i);
  }
}

// The calling thread's group: active is false for the threads of a partial last block.
struct Group {
  int index, channel;
  bool active;
  size_t base, count;
};
template <int T>
__device__ __forceinline__ Group group_of(int groups, int c, int hw, int planes) {
  const int index = blockIdx.x * (block_threads(T) / T) + threadIdx.x / T;
  return {index, index % c, index < groups, (size_t)index * hw, (size_t)planes * hw};
}

// RELU: y = max(IN(x), 0) (instance norm + ReLU in one pass, as the CPU's fused kernel).
template <int T, bool RELU>
__global__ void __launch_bounds__(block_threads(T))
    forward_kernel(const float* __restrict__ x, const float* __restrict__ gamma, const float* __restrict__ beta,
                   float* __restrict__ y, float* __restrict__ mean_out, float* __restrict__ rstd_out,
                   float* running_mean, float* running_var, int groups, int c, int hw, int planes,
                   size_t plane_stride, float eps, float momentum) {
  __shared__ double shared[block_threads(T)];
  const Group gr = group_of<T>(groups, c, hw, planes);
  const int group = gr.index, ch = gr.channel;
  const bool active = gr.active;
  const size_t base = gr.base, count = gr.count;

  float acc = 0.f;
  for_group<T>(active, base, planes, plane_stride, hw, [&](size_t i) { acc += x[i]; });
  const double sum = group_sum<T>(acc, shared);
  const float mf = (float)(sum / (double)count);

  acc = 0.f;
  for_group<T>(active, base, planes, plane_stride, hw, [&](size_t i) {
    const float d = x[i] - mf;
    acc = fmaf(d, d, acc);
  });
  const double sq = group_sum<T>(acc, shared);
  if (!active) return;
  const double var = sq / (double)count;
  const float r = (float)(1.0 / sqrt(var + (double)eps));

  if (threadIdx.x % T == 0) {
    mean_out[group] = mf;
    rstd_out[group] = r;
    if (running_mean) running_mean[ch] = (1.0f - momentum) * running_mean[ch] + momentum * mf;
    if (running_var) running_var[ch] = (1.0f - momentum) * running_var[ch] + momentum * (float)(sq / ((double)count - 1));
  }
  const float scale = r * (gamma ? gamma[ch] : 1.0f), shift = beta ? beta[ch] : 0.0f;
  for_group<T>(true, base, planes, plane_stride, hw, [&](size_t i) {
    const float v = fmaf(x[i] - mf, scale, shift);
    y[i] = RELU ? (v > 0.f ? v : 0.f) : v;
  });
}

// dx = g rstd (dy - mean(dy) - xhat mean(dy xhat)); the group's sum(dy) and sum(dy xhat) go to
// group_db / group_dg (double) for the parameter gradients. RELU: dy is the gradient of
// max(IN(x), 0), masked where the normalised x (recomputed from x, mean, rstd, gamma and beta as
// the forward computed it) is not positive.
template <int T, bool RELU>
__global__ void __launch_bounds__(block_threads(T))
    backward_kernel(const float* __restrict__ dy, const float* __restrict__ x, const float* __restrict__ mean,
                    const float* __restrict__ rstd, const float* __restrict__ gamma, const float* __restrict__ beta,
                    float* __restrict__ dx, double* group_dg, double* group_db, int groups, int c, int hw, int planes,
                    size_t plane_stride) {
  __shared__ double shared[block_threads(T)];
  const Group gr = group_of<T>(groups, c, hw, planes);
  const int group = gr.index, ch = gr.channel;
  const bool active = gr.active;
  const size_t base = gr.base, count = gr.count;
  const float m = active ? mean[group] : 0.f, r = active ? rstd[group] : 0.f;
  const float gm = active && gamma ? gamma[ch] : 1.0f;
  const float mask_scale = r * gm, mask_shift = active && beta ? beta[ch] : 0.0f;
  // The gradient reaching the norm: dy, or dy where the ReLU passed its input.
  auto grad = [&](size_t i) { return !RELU || fmaf(x[i] - m, mask_scale, mask_shift) > 0.f ? dy[i] : 0.f; };

  float a1 = 0.f, a2 = 0.f;
  for_group<T>(active, base, planes, plane_stride, hw, [&](size_t i) {
    const float d = grad(i);
    a1 += d;
    a2 = fmaf(d, x[i] - m, a2);
  });
  const double sum_dy = group_sum<T>(a1, shared);
  const double sum_dy_xm = group_sum<T>(a2, shared);
  if (!active) return;
  const double n = (double)count;
  const float k_dy = gm * r;
  const float k_x = (float)(-(double)gm * r * r * r * sum_dy_xm / n);
  const float k_0 = (float)(-(double)gm * r * sum_dy / n);
  for_group<T>(true, base, planes, plane_stride, hw, [&](size_t i) { dx[i] = fmaf(x[i] - m, k_x, fmaf(grad(i), k_dy, k_0)); });
  if (threadIdx.x % T == 0) {
    group_dg[group] = sum_dy_xm * r;
    group_db[group] = sum_dy;
  }
}

// dgamma[ch] = sum over the groups of that channel (groups ch, ch + c, ...) in order.
__global__ void param_grads_kernel(const double* group_dg, const double* group_db, int groups, int c, float* dgamma,
                                   float* dbeta) {
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

// Calls f(kernel-instantiation tag T) for the T that suits groups of `count` elements.
template <class F>
void with_group_threads(size_t count, F f) {
  switch (threads_per_group(count)) {
    case 32: f(std::integral_constant<int, 32>{}); break;
    case 64: f(std::integral_constant<int, 64>{}); break;
    case 128: f(std::integral_constant<int, 128>{}); break;
    case 256: f(std::integral_constant<int, 256>{}); break;
    default: f(std::integral_constant<int, 512>{}); break;
  }
}

inline unsigned group_blocks(int groups, int t) {
  const int per_block = block_threads(t) / t;
  return (unsigned)((groups + per_block - 1) / per_block);
}

}  // namespace norm
}  // namespace cgk_cuda
