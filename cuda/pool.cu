// Max pooling (with argmax for the backward) and global average pooling. The max-pool backward
// is a gather: each input element sums the upstream gradients of the windows whose argmax it
// is, so overlapping windows need no atomics and the result is deterministic.
#include "reduce.cuh"

using namespace cgk_cuda;

namespace {

__global__ void max_pool_forward_kernel(const float* __restrict__ x, float* __restrict__ y, float* __restrict__ argmax,
                                        int h, int w, int k, int s, int p, int h_out, int w_out, size_t total) {
  CGK_GRID_STRIDE(i, total) {
    const int ox = (int)(i % w_out), oy = (int)((i / w_out) % h_out);
    const size_t plane = i / ((size_t)w_out * h_out);
    const float* xp = x + plane * h * w;
    float best = -INFINITY;
    int best_at = -1;
    for (int r = 0; r < k; ++r) {
      const int iy = oy * s - p + r;
      if (iy < 0 || iy >= h) continue;
      for (int q = 0; q < k; ++q) {
        const int ix = ox * s - p + q;
        if (ix < 0 || ix >= w) continue;
        const float v = xp[iy * w + ix];
        // Strict >: the first maximum in row-major window order wins ties. NaN propagates.
        if (best_at < 0 || v > best || (v != v && best == best)) {
          best = v;
          best_at = iy * w + ix;
        }
      }
    }
    y[i] = best;
    argmax[i] = (float)best_at;
  }
}

// cgk.h gives the backward only the sizes, not the window, so it cannot gather; instead one
// thread per plane adds the upstream gradients into their argmax in output order, the order the
// CPU backend uses, which keeps the sums deterministic and identical to the CPU's. Pooling layers
// are small next to the convolutions, so the serial walk per plane costs little.
__global__ void max_pool_backward_kernel(const float* __restrict__ dy, const float* __restrict__ argmax,
                                         float* __restrict__ dx, int nc, int hw, int hw_out) {
  const int plane = blockIdx.x * blockDim.x + threadIdx.x;
  if (plane >= nc) return;
  const float* dyp = dy + (size_t)plane * hw_out;
  const float* ap = argmax + (size_t)plane * hw_out;
  float* dxp = dx + (size_t)plane * hw;
  for (int i = 0; i < hw; ++i) dxp[i] = 0.f;
  for (int o = 0; o < hw_out; ++o) {
    const int at = (int)ap[o];
    if (at >= 0 && at < hw) dxp[at] += dyp[o];
  }
}

// Sums in double, as the CPU backend does.
__global__ void global_avg_pool_forward_kernel(const float* __restrict__ x, float* __restrict__ y, int hw) {
  __shared__ double shared[kReduceThreads];
  const float* xp = x + (size_t)blockIdx.x * hw;
  double acc = 0.0;
  for (int i = threadIdx.x; i < hw; i += kReduceThreads) acc += xp[i];
  const double total = block_sum<kReduceThreads>(acc, shared);
  if (threadIdx.x == 0) y[blockIdx.x] = (float)(total / hw);
}

__global__ void global_avg_pool_backward_kernel(const float* __restrict__ dy, float* __restrict__ dx, int hw,
                                                size_t total) {
  CGK_GRID_STRIDE(i, total) dx[i] = dy[i / hw] / (float)hw;
}

}  // namespace

extern "C" {

int cgk_max_pool2d_forward(const float* x, float* y, float* argmax, int nc, int h, int w, int k, int s, int p,
                           int h_out, int w_out) {
  const char* fn = "cgk_max_pool2d_forward";
  CGK_READY(fn);
  CGK_REQUIRE(x && y && argmax, fn, "NULL buffer");
  if (nc < 0 || h < 1 || w < 1) return fail_arg(fn, strf("(nc, h, w) = (%d, %d, %d), expected nc >= 0, h, w >= 1", nc, h, w));
  if (k < 1 || s < 1 || p < 0 || 2 * p > k)
    return fail_arg(fn, strf("kernel %d, stride %d, padding %d: expected kernel >= 1, stride >= 1, 0 <= padding <= kernel/2", k, s, p));
  if (h + 2 * p < k || w + 2 * p < k) return fail_arg(fn, strf("kernel %d is larger than the padded input %dx%d", k, h + 2 * p, w + 2 * p));
  const int eh = (h + 2 * p - k) / s + 1, ew = (w + 2 * p - k) / s + 1;
  if (h_out != eh || w_out != ew)
    return fail_arg(fn, strf("output %dx%d, expected %dx%d = (in + 2*pad - kernel)/stride + 1", h_out, w_out, eh, ew));
  if ((double)h * w > 16777216.0) return fail_arg(fn, strf("plane %dx%d: argmax indices must stay below 2^24", h, w));
  const size_t total = (size_t)nc * h_out * w_out;
  CGK_LAUNCH_1D(fn, max_pool_forward_kernel, total, x, y, argmax, h, w, k, s, p, h_out, w_out, total);
}

int cgk_max_pool2d_backward(const float* dy, const float* argmax, float* dx, int nc, int h, int w, int h_out,
                            int w_out) {
  const char* fn = "cgk_max_pool2d_backward";
  CGK_READY(fn);
  CGK_REQUIRE(dy && argmax && dx, fn, "NULL buffer");
  if (nc < 0 || h < 1 || w < 1 || h_out < 1 || w_out < 1)
    return fail_arg(fn, strf("(nc, h, w, h_out, w_out) = (%d, %d, %d, %d, %d), expected nc >= 0 and sizes >= 1", nc, h, w, h_out, w_out));
  if (nc == 0) return CGK_OK;
  if ((double)h * w > 16777216.0) return fail_arg(fn, strf("plane %dx%d: argmax indices must stay below 2^24", h, w));
  max_pool_backward_kernel<<<(nc + 127) / 128, 128, 0, stream()>>>(dy, argmax, dx, nc, h * w, h_out * w_out);
  return check_launch(fn);
}

int cgk_global_avg_pool_forward(const float* x, float* y, int nc, int hw) {
  const char* fn = "cgk_global_avg_pool_forward";
  CGK_READY(fn);
  CGK_REQUIRE(x && y, fn, "NULL buffer");
  if (nc < 0 || hw < 1) return fail_arg(fn, strf("nc = %d, hw = %d, expected nc >= 0, hw >= 1", nc, hw));
  if (nc == 0) return CGK_OK;
  global_avg_pool_forward_kernel<<<nc, kReduceThreads, 0, stream()>>>(x, y, hw);
  return check_launch(fn);
}

int cgk_global_avg_pool_backward(const float* dy, float* dx, int nc, int hw) {
  const char* fn = "cgk_global_avg_pool_backward";
  CGK_READY(fn);
  CGK_REQUIRE(dy && dx, fn, "NULL buffer");
  if (nc < 0 || hw < 1) return fail_arg(fn, strf("nc = %d, hw = %d, expected nc >= 0, hw >= 1", nc, hw));
  const size_t total = (size_t)nc * hw;
  CGK_LAUNCH_1D(fn, global_avg_pool_backward_kernel, total, dy, dx, hw, total);
}

}  // extern "C"
