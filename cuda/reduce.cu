// Sum and mean to a device scalar, and their backward (a broadcast of dout[0]).
#include "reduce.cuh"

namespace cgk_cuda {

__global__ void reduce_final_kernel(const double* partials, int count, double divisor, float* out) {
  __shared__ double shared[kPartials];
  const double v = (int)threadIdx.x < count ? partials[threadIdx.x] : 0.0;
  const double total = block_sum<kPartials>(v, shared);
  if (threadIdx.x == 0) out[0] = (float)(total / divisor);
}

}  // namespace cgk_cuda

using namespace cgk_cuda;

namespace {

struct Identity {
  const float* x;
  __device__ double operator()(size_t i) const { return x[i]; }
};

__global__ void broadcast_scaled_kernel(const float* dout, double divisor, float* dx, size_t n) {
  const float v = (float)(dout[0] / divisor);
  CGK_GRID_STRIDE(i, n) dx[i] = v;
}

}  // namespace

extern "C" {

int cgk_sum(const float* x, float* out, size_t n) {
  CGK_READY("cgk_sum");
  CGK_REQUIRE(out && (n == 0 || x), "cgk_sum", "NULL buffer");
  return reduce_to_scalar("cgk_sum", Identity{x}, n, 1.0, out);
}

int cgk_mean(const float* x, float* out, size_t n) {
  CGK_READY("cgk_mean");
  CGK_REQUIRE(n > 0, "cgk_mean", "n = 0, the mean of no elements is undefined");
  CGK_REQUIRE(x && out, "cgk_mean", "NULL buffer");
  return reduce_to_scalar("cgk_mean", Identity{x}, n, (double)n, out);
}

int cgk_sum_backward(const float* dout, float* dx, size_t n) {
  CGK_READY("cgk_sum_backward");
  if (n == 0) return CGK_OK;
  CGK_REQUIRE(dout && dx, "cgk_sum_backward", "NULL buffer");
  CGK_LAUNCH_1D("cgk_sum_backward", broadcast_scaled_kernel, n, dout, 1.0, dx, n);
}

int cgk_mean_backward(const float* dout, float* dx, size_t n) {
  CGK_READY("cgk_mean_backward");
  CGK_REQUIRE(n > 0, "cgk_mean_backward", "n = 0, the mean of no elements is undefined");
  CGK_REQUIRE(dout && dx, "cgk_mean_backward", "NULL buffer");
  CGK_LAUNCH_1D("cgk_mean_backward", broadcast_scaled_kernel, n, dout, (double)n, dx, n);
}

}  // extern "C"
