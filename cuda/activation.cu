// Activations and dropout. Memory-bound grid-stride kernels; tanh/sigmoid use the IEEE
// tanhf/expf (no fast math) so they agree with the CPU backend to a few ulp.
#include "common.cuh"
#include "dropout_rng.cuh"

using namespace cgk_cuda;

namespace {

__global__ void relu_forward_kernel(const float* x, float* y, size_t n) {
  CGK_GRID_STRIDE(i, n) y[i] = x[i] > 0.f ? x[i] : 0.f;
}
__global__ void relu_backward_kernel(const float* x, const float* dy, float* dx, size_t n) {
  // dy * 0 (not 0) where x <= 0, as the CPU's backward (leaky relu with slope 0): -0 for
  // negative dy, bit for bit.
  CGK_GRID_STRIDE(i, n) dx[i] = x[i] > 0.f ? dy[i] : __fmul_rn(dy[i], 0.f);
}
__global__ void leaky_relu_forward_kernel(const float* x, float slope, float* y, size_t n) {
  CGK_GRID_STRIDE(i, n) y[i] = x[i] > 0.f ? x[i] : x[i] * slope;
}
__global__ void leaky_relu_backward_kernel(const float* x, float slope, const float* dy, float* dx, size_t n) {
  CGK_GRID_STRIDE(i, n) dx[i] = x[i] > 0.f ? dy[i] : dy[i] * slope;
}
__global__ void tanh_forward_kernel(const float* x, float* y, size_t n) {
  CGK_GRID_STRIDE(i, n) y[i] = tanhf(x[i]);
}
__global__ void tanh_backward_kernel(const float* y, const float* dy, float* dx, size_t n) {
  CGK_GRID_STRIDE(i, n) dx[i] = __fmul_rn(dy[i], __fsub_rn(1.f, __fmul_rn(y[i], y[i])));
}
__global__ void sigmoid_forward_kernel(const float* x, float* y, size_t n) {
  CGK_GRID_STRIDE(i, n) y[i] = 1.f / (1.f + expf(-x[i]));
}
__global__ void sigmoid_backward_kernel(const float* y, const float* dy, float* dx, size_t n) {
  CGK_GRID_STRIDE(i, n) dx[i] = __fmul_rn(dy[i], __fmul_rn(y[i], __fsub_rn(1.f, y[i])));
}
__global__ void dropout_forward_kernel(const float* x, float threshold, float scale, uint64_t seed, float* mask,
                                       float* y, size_t n) {
  CGK_GRID_STRIDE(i, n) {
    const float m = cgk_dropout_keep(seed, i, threshold) ? scale : 0.f;
    mask[i] = m;
    y[i] = x[i] * m;
  }
}

}  // namespace

#define CGK_UNARY(name, kernel, ...)                                        \
  CGK_READY(name);                                                          \
  CGK_LAUNCH_1D(name, kernel, n, __VA_ARGS__)

extern "C" {

int cgk_relu_forward(const float* x, float* y, size_t n) {
  CGK_REQUIRE((x && y) || n == 0, "cgk_relu_forward", "x and y must not be NULL");
  CGK_UNARY("cgk_relu_forward", relu_forward_kernel, x, y, n);
}
int cgk_relu_backward(const float* x, const float* dy, float* dx, size_t n) {
  CGK_REQUIRE((x && dy && dx) || n == 0, "cgk_relu_backward", "x, dy and dx must not be NULL");
  CGK_UNARY("cgk_relu_backward", relu_backward_kernel, x, dy, dx, n);
}
int cgk_leaky_relu_forward(const float* x, float slope, float* y, size_t n) {
  CGK_REQUIRE((x && y) || n == 0, "cgk_leaky_relu_forward", "x and y must not be NULL");
  CGK_UNARY("cgk_leaky_relu_forward", leaky_relu_forward_kernel, x, slope, y, n);
}
int cgk_leaky_relu_backward(const float* x, float slope, const float* dy, float* dx, size_t n) {
  CGK_REQUIRE((x && dy && dx) || n == 0, "cgk_leaky_relu_backward", "x, dy and dx must not be NULL");
  CGK_UNARY("cgk_leaky_relu_backward", leaky_relu_backward_kernel, x, slope, dy, dx, n);
}
int cgk_tanh_forward(const float* x, float* y, size_t n) {
  CGK_REQUIRE((x && y) || n == 0, "cgk_tanh_forward", "x and y must not be NULL");
  CGK_UNARY("cgk_tanh_forward", tanh_forward_kernel, x, y, n);
}
int cgk_tanh_backward(const float* y, const float* dy, float* dx, size_t n) {
  CGK_REQUIRE((y && dy && dx) || n == 0, "cgk_tanh_backward", "y, dy and dx must not be NULL");
  CGK_UNARY("cgk_tanh_backward", tanh_backward_kernel, y, dy, dx, n);
}
int cgk_sigmoid_forward(const float* x, float* y, size_t n) {
  CGK_REQUIRE((x && y) || n == 0, "cgk_sigmoid_forward", "x and y must not be NULL");
  CGK_UNARY("cgk_sigmoid_forward", sigmoid_forward_kernel, x, y, n);
}
int cgk_sigmoid_backward(const float* y, const float* dy, float* dx, size_t n) {
  CGK_REQUIRE((y && dy && dx) || n == 0, "cgk_sigmoid_backward", "y, dy and dx must not be NULL");
  CGK_UNARY("cgk_sigmoid_backward", sigmoid_backward_kernel, y, dy, dx, n);
}
int cgk_dropout_forward(const float* x, float p, uint64_t seed, float* mask, float* y, size_t n) {
  CGK_REQUIRE((x && mask && y) || n == 0, "cgk_dropout_forward", "x, mask and y must not be NULL");
  CGK_REQUIRE(p >= 0.f && p < 1.f, "cgk_dropout_forward", strf("p = %g, expected 0 <= p < 1", p));
  CGK_UNARY("cgk_dropout_forward", dropout_forward_kernel, x, p * 16777216.0f, 1.f / (1.f - p), seed, mask, y, n);
}

}  // extern "C"
