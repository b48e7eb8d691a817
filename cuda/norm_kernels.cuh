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

// ---- Few, large groups: instance norm of 256x256 planes at batch 1 ----------------------------
//
// One block a group would leave most multiprocessors idle there (64 planes of 65536 pixels: 64
// blocks of 512 threads). So each plane is cut into `chunks` contiguous ranges of `len` elements
// (a multiple of 4), one block of kSplitThreads each, reading float4 where the planes allow it
// (VEC: hw % 4 == 0 and 16-byte aligned buffers). The group statistics go through per-chunk
// double partials that every block of the group adds in chunk order, so all blocks see the same
// mean and rstd and nothing depends on scheduling. Same formulas as the kernels above; the
// partial sums follow another (fixed) tree. Instance norm only (one plane a group).
namespace split {

constexpr int kThreads = 256;
constexpr size_t kMinChunk = 8192;  // elements a block, at least

// Blocks per group for `groups` planes of hw elements on sm_count multiprocessors; 1 where one
// block a group fills the GPU (the kernels above then run).
inline int chunks_for(int groups, int hw, int sm_count) {
  const long target = 4L * sm_count;
  if (groups >= target || (size_t)hw < 2 * kMinChunk) return 1;
  long chunks = (target + groups - 1) / groups;
  if (chunks > (long)(hw / kMinChunk)) chunks = (long)(hw / kMinChunk);
  if (chunks > 64) chunks = 64;
  return chunks < 2 ? 1 : (int)chunks;
}

// Elements a chunk: hw / chunks rounded up to a multiple of 4.
inline size_t chunk_len(int hw, int chunks) { return (((size_t)hw + chunks - 1) / chunks + 3) & ~(size_t)3; }

struct Chunk {
  int group, index;    // the block's plane and its chunk in it
  size_t begin, end;   // its elements
};
__device__ __forceinline__ Chunk chunk_of(int hw, int chunks, size_t len) {
  Chunk ch;
  ch.group = blockIdx.x / chunks;
  ch.index = blockIdx.x - ch.group * chunks;
  const size_t plane = (size_t)ch.group * hw;
  ch.begin = plane + (size_t)ch.index * len;
  ch.end = min(ch.begin + len, plane + hw);
  return ch;
}

// W consecutive floats at p + i (W = 4: one 16-byte load).
template <int W>
__device__ __forceinline__ void load(const float* __restrict__ p, size_t i, float (&v)[W]) {
  if constexpr (W == 4) {
    const float4 t = __ldg(reinterpret_cast<const float4*>(p + i));
    v[0] = t.x, v[1] = t.y, v[2] = t.z, v[3] = t.w;
  } else {
    v[0] = __ldg(p + i);
  }
}
template <int W>
__device__ __forceinline__ void store(float* __restrict__ p, size_t i, const float (&v)[W]) {
  if constexpr (W == 4) *reinterpret_cast<float4*>(p + i) = make_float4(v[0], v[1], v[2], v[3]);
  else p[i] = v[0];
}

// Calls f(i) for the start of each of the thread's W-element runs of the chunk.
template <int W, class F>
__device__ __forceinline__ void for_chunk(const Chunk& ch, F f) {
  for (size_t i = ch.begin + (size_t)W * threadIdx.x; i < ch.end; i += (size_t)W * kThreads) f(i);
}

// The group's total of a per-chunk partial, added in chunk order.
__device__ __forceinline__ double group_total(const double* __restrict__ partial, const Chunk& ch, int chunks) {
  double t = 0;
  for (int j = 0; j < chunks; ++j) t += partial[(size_t)ch.group * chunks + j];
  return t;
}

// sums[block] = the chunk's sum of x.
template <int W>
__global__ void __launch_bounds__(kThreads) sum_kernel(const float* __restrict__ x, double* __restrict__ sums, int hw,
                                                       int chunks, size_t len) {
  __shared__ double shared[kThreads];
  const Chunk ch = chunk_of(hw, chunks, len);
  float acc = 0.f;
  for_chunk<W>(ch, [&](size_t i) {
    float v[W];
    load<W>(x, i, v);
#pragma unroll
    for (int e = 0; e < W; ++e) acc += v[e];
  });
  const double total = group_sum<kThreads>(acc, shared);
  if (threadIdx.x == 0) sums[blockIdx.x] = total;
}

// sqs[block] = the chunk's sum of squared deviations from the group mean.
template <int W>
__global__ void __launch_bounds__(kThreads) sqdev_kernel(const float* __restrict__ x, const double* __restrict__ sums,
                                                         double* __restrict__ sqs, int hw, int chunks, size_t len) {
  __shared__ double shared[kThreads];
  const Chunk ch = chunk_of(hw, chunks, len);
  const float mf = (float)(group_total(sums, ch, chunks) / (double)hw);
  float acc = 0.f;
  for_chunk<W>(ch, [&](size_t i) {
    float v[W];
    load<W>(x, i, v);
#pragma unroll
    for (int e = 0; e < W; ++e) {
      const float d = v[e] - mf;
      acc = fmaf(d, d, acc);
    }
  });
  const double total = group_sum<kThreads>(acc, shared);
  if (threadIdx.x == 0) sqs[blockIdx.x] = total;
}

// y = IN(x) (then max(., 0) when RELU) over the chunk; chunk 0 writes the group's mean and rstd.
template <int W, bool RELU>
__global__ void __launch_bounds__(kThreads)
    normalize_kernel(const float* __restrict__ x, const float* __restrict__ gamma, const float* __restrict__ beta,
                     float* __restrict__ y, float* __restrict__ mean_out, float* __restrict__ rstd_out,
                     const double* __restrict__ sums, const double* __restrict__ sqs, int c, int hw, int chunks,
                     size_t len, float eps) {
  const Chunk ch = chunk_of(hw, chunks, len);
  const int channel = ch.group % c;
  const float mf = (float)(group_total(sums, ch, chunks) / (double)hw);
  const double var = group_total(sqs, ch, chunks) / (double)hw;
  const float r = (float)(1.0 / sqrt(var + (double)eps));
  if (ch.index == 0 && threadIdx.x == 0) {
    mean_out[ch.group] = mf;
    rstd_out[ch.group] = r;
  }
  const float scale = r * (gamma ? gamma[channel] : 1.0f), shift = beta ? beta[channel] : 0.0f;
  for_chunk<W>(ch, [&](size_t i) {
    float v[W];
    load<W>(x, i, v);
#pragma unroll
    for (int e = 0; e < W; ++e) {
      const float t = fmaf(v[e] - mf, scale, shift);
      v[e] = RELU ? (t > 0.f ? t : 0.f) : t;
    }
    store<W>(y, i, v);
  });
}

// The backward's per-group constants (see backward_kernel above).
struct Backward {
  float m, r, gm, mask_scale, mask_shift;
  __device__ Backward(const float* mean, const float* rstd, const float* gamma, const float* beta, int group, int channel)
      : m(mean[group]), r(rstd[group]), gm(gamma ? gamma[channel] : 1.0f), mask_scale(r * gm),
        mask_shift(beta ? beta[channel] : 0.0f) {}
  // The gradient reaching the norm: dy, or dy where the ReLU passed its input.
  template <bool RELU>
  __device__ __forceinline__ float grad(float dy, float x) const {
    return !RELU || fmaf(x - m, mask_scale, mask_shift) > 0.f ? dy : 0.f;
  }
};

// a1s[block], a2s[block] = the chunk's sums of grad and grad (x - mean).
template <int W, bool RELU>
__global__ void __launch_bounds__(kThreads)
    grad_sums_kernel(const float* __restrict__ dy, const float* __restrict__ x, const float* __restrict__ mean,
                     const float* __restrict__ rstd, const float* __restrict__ gamma, const float* __restrict__ beta,
                     double* __restrict__ a1s, double* __restrict__ a2s, int c, int hw, int chunks, size_t len) {
  __shared__ double shared[kThreads];
  const Chunk ch = chunk_of(hw, chunks, len);
  const Backward k(mean, rstd, gamma, beta, ch.group, ch.group % c);
  float a1 = 0.f, a2 = 0.f;
  for_chunk<W>(ch, [&](size_t i) {
    float d[W], v[W];
    load<W>(dy, i, d);
    load<W>(x, i, v);
#pragma unroll
    for (int e = 0; e < W; ++e) {
      const float gr = k.grad<RELU>(d[e], v[e]);
      a1 += gr;
      a2 = fmaf(gr, v[e] - k.m, a2);
    }
  });
  const double s1 = group_sum<kThreads>(a1, shared);
  const double s2 = group_sum<kThreads>(a2, shared);
  if (threadIdx.x == 0) {
    a1s[blockIdx.x] = s1;
    a2s[blockIdx.x] = s2;
  }
}

// dx over the chunk from the group's sums; chunk 0 writes the group's parameter-gradient parts.
template <int W, bool RELU>
__global__ void __launch_bounds__(kThreads)
    dx_kernel(const float* __restrict__ dy, const float* __restrict__ x, const float* __restrict__ mean,
              const float* __restrict__ rstd, const float* __restrict__ gamma, const float* __restrict__ beta,
              float* __restrict__ dx, const double* __restrict__ a1s, const double* __restrict__ a2s,
              double* group_dg, double* group_db, int c, int hw, int chunks, size_t len) {
  const Chunk ch = chunk_of(hw, chunks, len);
  const Backward k(mean, rstd, gamma, beta, ch.group, ch.group % c);
  const double sum_dy = group_total(a1s, ch, chunks), sum_dy_xm = group_total(a2s, ch, chunks);
  const double n = (double)hw;
  const float k_dy = k.gm * k.r;
  const float k_x = (float)(-(double)k.gm * k.r * k.r * k.r * sum_dy_xm / n);
  const float k_0 = (float)(-(double)k.gm * k.r * sum_dy / n);
  for_chunk<W>(ch, [&](size_t i) {
    float d[W], v[W];
    load<W>(dy, i, d);
    load<W>(x, i, v);
#pragma unroll
    for (int e = 0; e < W; ++e) v[e] = fmaf(v[e] - k.m, k_x, fmaf(k.grad<RELU>(d[e], v[e]), k_dy, k_0));
    store<W>(dx, i, v);
  });
  if (ch.index == 0 && threadIdx.x == 0) {
    group_dg[ch.group] = sum_dy_xm * k.r;
    group_db[ch.group] = sum_dy;
  }
}

}  // namespace split

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
