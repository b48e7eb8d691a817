// Activation kernels: relu, leaky relu, tanh, sigmoid (forward and backward) and dropout.
#include <cmath>

#include "runtime.h"
#include "simd.h"
#include "threads.h"

#define CGK_SIMD_BODY "activation_body.inc"
#include "simd_foreach.h"

namespace {

template <class Fn>
void for_ranges(size_t n, Fn fn) {
  cgk::parallel_range(n, cgk::kElementwiseGrain / 4, [&](size_t begin, size_t end) { fn(begin, end); });
}

int leaky(const char* fn, const float* x, float slope, const float* dy, float* out, size_t n) {
  if (n == 0) return CGK_OK;
  CGK_CHECK(x && out, "%s: NULL buffer", fn);
  CGK_CHECK(std::isfinite(slope), "%s: slope = %g, expected a finite number", fn, slope);
  auto kernel = CGK_SELECT(leaky_relu_range);
  for_ranges(n, [&](size_t begin, size_t end) { kernel(x, slope, dy, out, begin, end); });
  return CGK_OK;
}

using UnaryRange = void (*)(const float*, float*, size_t, size_t);
int unary(const char* fn, UnaryRange kernel, const float* x, float* y, size_t n) {
  if (n == 0) return CGK_OK;
  CGK_CHECK(x && y, "%s: NULL buffer", fn);
  for_ranges(n, [&](size_t begin, size_t end) { kernel(x, y, begin, end); });
  return CGK_OK;
}

using BackwardRange = void (*)(const float*, const float*, float*, size_t, size_t);
int backward(const char* fn, BackwardRange kernel, const float* y, const float* dy, float* dx, size_t n) {
  if (n == 0) return CGK_OK;
  CGK_CHECK(y && dy && dx, "%s: NULL buffer", fn);
  for_ranges(n, [&](size_t begin, size_t end) { kernel(y, dy, dx, begin, end); });
  return CGK_OK;
}

// The dropout RNG, specified exactly so cuda/ reproduces it bit for bit:
//   z = seed + (i + 1) * 0x9E3779B97F4A7C15           (uint64 arithmetic, wrapping)
//   z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
//   z = (z ^ (z >> 27)) * 0x94D049BB133111EB
//   z = z ^ (z >> 31)                                  (splitmix64's finaliser)
//   r = (uint32)(z >> 40)                              (24 uniform bits)
//   keep  <=>  (float)r >= p * 16777216.0f             (both sides exact in float32)
//   mask[i] = keep ? 1.0f / (1.0f - p) : 0.0f          (IEEE float division, round to nearest)
//   y[i] = x[i] * mask[i]
// So P(drop) = ceil(p * 2^24) / 2^24, and element i's decision depends only on (seed, i).
inline uint32_t dropout_bits(uint64_t seed, uint64_t i) {
  uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z = z ^ (z >> 31);
  return static_cast<uint32_t>(z >> 40);
}

}  // namespace

extern "C" {

int cgk_relu_forward(const float* x, float* y, size_t n) {
  return unary("cgk_relu_forward", CGK_SELECT(relu_forward_range), x, y, n);
}
int cgk_relu_backward(const float* x, const float* dy, float* dx, size_t n) {
  CGK_CHECK(n == 0 || dy, "cgk_relu_backward: NULL buffer");
  return leaky("cgk_relu_backward", x, 0.0f, dy, dx, n);
}
int cgk_leaky_relu_forward(const float* x, float slope, float* y, size_t n) {
  return leaky("cgk_leaky_relu_forward", x, slope, nullptr, y, n);
}
int cgk_leaky_relu_backward(const float* x, float slope, const float* dy, float* dx, size_t n) {
  CGK_CHECK(n == 0 || dy, "cgk_leaky_relu_backward: NULL buffer");
  return leaky("cgk_leaky_relu_backward", x, slope, dy, dx, n);
}
int cgk_tanh_forward(const float* x, float* y, size_t n) { return unary("cgk_tanh_forward", CGK_SELECT(tanh_range), x, y, n); }
int cgk_tanh_backward(const float* y, const float* dy, float* dx, size_t n) {
  return backward("cgk_tanh_backward", CGK_SELECT(act_backward_range<true>), y, dy, dx, n);
}
int cgk_sigmoid_forward(const float* x, float* y, size_t n) {
  return unary("cgk_sigmoid_forward", CGK_SELECT(sigmoid_range), x, y, n);
}
int cgk_sigmoid_backward(const float* y, const float* dy, float* dx, size_t n) {
  return backward("cgk_sigmoid_backward", CGK_SELECT(act_backward_range<false>), y, dy, dx, n);
}

int cgk_dropout_forward(const float* x, float p, uint64_t seed, float* mask, float* y, size_t n) {
  CGK_CHECK(p >= 0.0f && p < 1.0f, "cgk_dropout_forward: p = %g, expected 0 <= p < 1", p);
  if (n == 0) return CGK_OK;
  CGK_CHECK(x && mask && y, "cgk_dropout_forward: NULL buffer");
  const float threshold = p * 16777216.0f;
  const float scale = 1.0f / (1.0f - p);
  for_ranges(n, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; i++) {
      float m = static_cast<float>(dropout_bits(seed, i)) >= threshold ? scale : 0.0f;
      mask[i] = m;
      y[i] = x[i] * m;
    }
  });
  return CGK_OK;
}

}  // extern "C"
