// Elementwise kernels: fill, copy, add/sub/mul, affine, axpy, scale_by. Memory-bound, so they
// are split across the pool only above kElementwiseGrain elements.
#include <cstring>

#include "runtime.h"
#include "simd.h"
#include "threads.h"

#define CGK_SIMD_BODY "elementwise_body.inc"
#include "simd_foreach.h"

namespace {

template <class Fn>
void for_ranges(size_t n, Fn fn) {
  cgk::parallel_range(n, cgk::kElementwiseGrain, [&](size_t begin, size_t end) { fn(begin, end); });
}

template <int op>
int binary(const char* fn, const float* a, const float* b, float* y, size_t n) {
  if (n == 0) return CGK_OK;
  CGK_CHECK(a && b && y, "%s: NULL buffer", fn);
  auto kernel = CGK_SELECT(binary_range<op>);
  for_ranges(n, [&](size_t begin, size_t end) { kernel(a, b, y, begin, end); });
  return CGK_OK;
}

}  // namespace

extern "C" {

int cgk_fill(float* y, float value, size_t n) {
  if (n == 0) return CGK_OK;
  CGK_CHECK_PTR(y, "cgk_fill");
  auto kernel = CGK_SELECT(fill_range);
  for_ranges(n, [&](size_t begin, size_t end) { kernel(y, value, begin, end); });
  return CGK_OK;
}

int cgk_copy(float* dst, const float* src, size_t n) {
  if (n == 0 || dst == src) return CGK_OK;
  CGK_CHECK(dst && src, "cgk_copy: NULL buffer");
  // memmove: the tape copies between slices of one buffer, which may overlap.
  memmove(dst, src, n * sizeof(float));
  return CGK_OK;
}

int cgk_copy_blocks(float* dst, const float* src, size_t block, const int32_t* pairs, int count) {
  CGK_CHECK(count >= 0, "cgk_copy_blocks: count must be >= 0");
  if (count == 0 || block == 0) return CGK_OK;
  CGK_CHECK(dst && src && pairs, "cgk_copy_blocks: NULL buffer");
  for (int i = 0; i < 2 * count; ++i) CGK_CHECK(pairs[i] >= 0, "cgk_copy_blocks: negative block index");
  for (int i = 0; i < count; ++i)
    memcpy(dst + (size_t)pairs[2 * i] * block, src + (size_t)pairs[2 * i + 1] * block, block * sizeof(float));
  return CGK_OK;
}

int cgk_add(const float* a, const float* b, float* y, size_t n) { return binary<0>("cgk_add", a, b, y, n); }
int cgk_sub(const float* a, const float* b, float* y, size_t n) { return binary<1>("cgk_sub", a, b, y, n); }
int cgk_mul(const float* a, const float* b, float* y, size_t n) { return binary<2>("cgk_mul", a, b, y, n); }

int cgk_affine(const float* x, float alpha, float beta, float* y, size_t n) {
  if (n == 0) return CGK_OK;
  CGK_CHECK(x && y, "cgk_affine: NULL buffer");
  auto kernel = CGK_SELECT(affine_range);
  for_ranges(n, [&](size_t begin, size_t end) { kernel(x, alpha, beta, y, begin, end); });
  return CGK_OK;
}

int cgk_axpy(float alpha, const float* x, float* y, size_t n) {
  if (n == 0) return CGK_OK;
  CGK_CHECK(x && y, "cgk_axpy: NULL buffer");
  auto kernel = CGK_SELECT(axpy_range);
  for_ranges(n, [&](size_t begin, size_t end) { kernel(alpha, x, y, begin, end); });
  return CGK_OK;
}

int cgk_scale_by(const float* x, const float* alpha, float* y, size_t n) {
  if (n == 0) return CGK_OK;
  CGK_CHECK(x && alpha && y, "cgk_scale_by: NULL buffer");
  const float a = alpha[0];  // read once: y may alias alpha's buffer
  auto kernel = CGK_SELECT(scale_range);
  for_ranges(n, [&](size_t begin, size_t end) { kernel(x, a, y, begin, end); });
  return CGK_OK;
}

}  // extern "C"
