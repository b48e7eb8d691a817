// Sum and mean of a whole tensor into a device scalar, and their backwards.
#include "reduce_util.h"
#include "runtime.h"
#include "threads.h"

namespace {

double sum_of(const float* x, size_t n) {
  return cgk::parallel_sum(n, [&](size_t begin, size_t end) {
    double s = 0;
    for (size_t i = begin; i < end; i++) s += x[i];
    return s;
  });
}

int broadcast(const char* fn, const float* dout, float* dx, size_t n, double divisor) {
  if (n == 0) return CGK_OK;
  CGK_CHECK(dout && dx, "%s: NULL buffer", fn);
  const float g = static_cast<float>(dout[0] / divisor);
  cgk::parallel_range(n, cgk::kElementwiseGrain, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; i++) dx[i] = g;
  });
  return CGK_OK;
}

}  // namespace

extern "C" {

int cgk_sum(const float* x, float* out, size_t n) {
  CGK_CHECK(out && (n == 0 || x), "cgk_sum: NULL buffer");
  out[0] = static_cast<float>(sum_of(x, n));
  return CGK_OK;
}

int cgk_mean(const float* x, float* out, size_t n) {
  CGK_CHECK(n > 0, "cgk_mean: n = 0, the mean of no elements is undefined");
  CGK_CHECK(x && out, "cgk_mean: NULL buffer");
  out[0] = static_cast<float>(sum_of(x, n) / static_cast<double>(n));
  return CGK_OK;
}

int cgk_sum_backward(const float* dout, float* dx, size_t n) { return broadcast("cgk_sum_backward", dout, dx, n, 1.0); }

int cgk_mean_backward(const float* dout, float* dx, size_t n) {
  CGK_CHECK(n > 0, "cgk_mean_backward: n = 0, the mean of no elements is undefined");
  return broadcast("cgk_mean_backward", dout, dx, n, static_cast<double>(n));
}

}  // extern "C"
