// Elementwise kernels: memory-bound, so one grid-stride loop each; the only work is moving bytes.
// affine and axpy multiply then add in two roundings (the _rn intrinsics stop nvcc fusing them),
// as the CPU backend's vector code does.
#include <algorithm>

#include "common.cuh"

using namespace cgk_cuda;

namespace {

__global__ void fill_kernel(float* y, float value, size_t n) {
  CGK_GRID_STRIDE(i, n) y[i] = value;
}
__global__ void add_kernel(const float* a, const float* b, float* y, size_t n) {
  CGK_GRID_STRIDE(i, n) y[i] = a[i] + b[i];
}
__global__ void sub_kernel(const float* a, const float* b, float* y, size_t n) {
  CGK_GRID_STRIDE(i, n) y[i] = a[i] - b[i];
}
__global__ void mul_kernel(const float* a, const float* b, float* y, size_t n) {
  CGK_GRID_STRIDE(i, n) y[i] = a[i] * b[i];
}
__global__ void affine_kernel(const float* x, float alpha, float beta, float* y, size_t n) {
  CGK_GRID_STRIDE(i, n) y[i] = __fadd_rn(__fmul_rn(alpha, x[i]), beta);
}
__global__ void axpy_kernel(float alpha, const float* x, float* y, size_t n) {
  CGK_GRID_STRIDE(i, n) y[i] = __fadd_rn(y[i], __fmul_rn(alpha, x[i]));
}
__global__ void scale_by_kernel(const float* x, const float* alpha, float* y, size_t n) {
  const float a = *alpha;
  CGK_GRID_STRIDE(i, n) y[i] = a * x[i];
}

// cgk_copy_blocks: up to kPairsPerLaunch block pairs travel in the kernel's parameters (no upload
// of the host array); blockIdx.y picks the pair, x strides over the block.
constexpr int kPairsPerLaunch = 64;
struct BlockPairs {
  int dst[kPairsPerLaunch], src[kPairsPerLaunch];
};
__global__ void copy_blocks_kernel(float* dst, const float* src, size_t block, const BlockPairs pairs) {
  float* d = dst + (size_t)pairs.dst[blockIdx.y] * block;
  const float* s = src + (size_t)pairs.src[blockIdx.y] * block;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < block; i += (size_t)gridDim.x * blockDim.x) d[i] = s[i];
}

}  // namespace

extern "C" {

int cgk_fill(float* y, float value, size_t n) {
  CGK_READY("cgk_fill");
  CGK_REQUIRE(y || n == 0, "cgk_fill", "y must not be NULL");
  CGK_LAUNCH_1D("cgk_fill", fill_kernel, n, y, value, n);
}

int cgk_copy(float* dst, const float* src, size_t n) {
  CGK_READY("cgk_copy");
  CGK_REQUIRE((dst && src) || n == 0, "cgk_copy", "dst and src must not be NULL");
  if (n == 0 || dst == src) return CGK_OK;
  cudaError_t err = cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, stream());
  if (err != cudaSuccess) return fail(CGK_ERR_DEVICE, std::string("cgk_copy: ") + cudaGetErrorName(err));
  return CGK_OK;
}

int cgk_copy_blocks(float* dst, const float* src, size_t block, const int32_t* pairs, int count) {
  const char* fn = "cgk_copy_blocks";
  CGK_READY(fn);
  CGK_REQUIRE(count >= 0, fn, "count must be >= 0");
  if (count == 0 || block == 0) return CGK_OK;
  CGK_REQUIRE(dst && src && pairs, fn, "dst, src and pairs must not be NULL");
  for (int i = 0; i < 2 * count; ++i) CGK_REQUIRE(pairs[i] >= 0, fn, "negative block index");
  // A few blocks of threads a pair: the pairs alone fill the GPU when there are many.
  const unsigned per_pair = std::min(grid_for(block), 64u);
  for (int first = 0; first < count; first += kPairsPerLaunch) {
    const int n = std::min(kPairsPerLaunch, count - first);
    BlockPairs p{};
    for (int i = 0; i < n; ++i) {
      p.dst[i] = pairs[2 * (first + i)];
      p.src[i] = pairs[2 * (first + i) + 1];
    }
    copy_blocks_kernel<<<dim3(per_pair, n), 256, 0, stream()>>>(dst, src, block, p);
    if (int st = check_launch(fn)) return st;
  }
  return CGK_OK;
}

int cgk_add(const float* a, const float* b, float* y, size_t n) {
  CGK_READY("cgk_add");
  CGK_REQUIRE((a && b && y) || n == 0, "cgk_add", "a, b and y must not be NULL");
  CGK_LAUNCH_1D("cgk_add", add_kernel, n, a, b, y, n);
}

int cgk_sub(const float* a, const float* b, float* y, size_t n) {
  CGK_READY("cgk_sub");
  CGK_REQUIRE((a && b && y) || n == 0, "cgk_sub", "a, b and y must not be NULL");
  CGK_LAUNCH_1D("cgk_sub", sub_kernel, n, a, b, y, n);
}

int cgk_mul(const float* a, const float* b, float* y, size_t n) {
  CGK_READY("cgk_mul");
  CGK_REQUIRE((a && b && y) || n == 0, "cgk_mul", "a, b and y must not be NULL");
  CGK_LAUNCH_1D("cgk_mul", mul_kernel, n, a, b, y, n);
}

int cgk_affine(const float* x, float alpha, float beta, float* y, size_t n) {
  CGK_READY("cgk_affine");
  CGK_REQUIRE((x && y) || n == 0, "cgk_affine", "x and y must not be NULL");
  CGK_LAUNCH_1D("cgk_affine", affine_kernel, n, x, alpha, beta, y, n);
}

int cgk_axpy(float alpha, const float* x, float* y, size_t n) {
  CGK_READY("cgk_axpy");
  CGK_REQUIRE((x && y) || n == 0, "cgk_axpy", "x and y must not be NULL");
  CGK_LAUNCH_1D("cgk_axpy", axpy_kernel, n, alpha, x, y, n);
}

int cgk_scale_by(const float* x, const float* alpha, float* y, size_t n) {
  CGK_READY("cgk_scale_by");
  CGK_REQUIRE((x && alpha && y) || n == 0, "cgk_scale_by", "x, alpha and y must not be NULL");
  CGK_LAUNCH_1D("cgk_scale_by", scale_by_kernel, n, x, alpha, y, n);
}

}  // extern "C"
