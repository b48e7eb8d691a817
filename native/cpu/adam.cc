// Fused multi-tensor Adam: every parameter tensor of a model is cut into chunks and all chunks
// of all tensors go to the pool as one parallel region, so a model of many small tensors costs
// one wake-up instead of one per tensor.
#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime.h"
#include "simd.h"
#include "threads.h"

struct AdamScalars {
  float beta2, one_minus_beta1, one_minus_beta2, eps, weight_decay, step_size, sqrt_bc2;
};

#define CGK_SIMD_BODY "adam_body.inc"
#include "simd_foreach.h"

namespace {

constexpr size_t kAdamChunk = 1 << 14;

struct Chunk {
  int tensor;
  size_t begin, end;
};

}  // namespace

extern "C" int cgk_adam_step(float* const* params, const float* const* grads, float* const* m, float* const* v,
                             const size_t* sizes, int count, float lr, float beta1, float beta2, float eps,
                             float weight_decay, int step) {
  CGK_CHECK(count >= 0, "cgk_adam_step: count = %d, expected >= 0", count);
  CGK_CHECK(step >= 1, "cgk_adam_step: step = %d, expected >= 1 (1-based)", step);
  CGK_CHECK(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "cgk_adam_step: betas (%g, %g), expected in [0, 1)", beta1, beta2);
  CGK_CHECK(lr >= 0 && eps >= 0 && weight_decay >= 0, "cgk_adam_step: lr %g, eps %g, weight_decay %g: expected >= 0", lr, eps, weight_decay);
  if (count == 0) return CGK_OK;
  CGK_CHECK(params && grads && m && v && sizes, "cgk_adam_step: NULL array");
  // Reused across calls: after the first step the chunk list never allocates.
  thread_local std::vector<Chunk> chunks;
  chunks.clear();
  for (int t = 0; t < count; t++) {
    CGK_CHECK(sizes[t] == 0 || (params[t] && grads[t] && m[t] && v[t]), "cgk_adam_step: NULL buffer in tensor %d", t);
    for (size_t b = 0; b < sizes[t]; b += kAdamChunk) chunks.push_back({t, b, std::min(sizes[t], b + kAdamChunk)});
  }
  // Bias corrections in double, as PyTorch computes them in Python floats.
  double bc1 = 1.0 - std::pow(double(beta1), step), bc2 = 1.0 - std::pow(double(beta2), step);
  AdamScalars s{beta2, 1.0f - beta1, 1.0f - beta2, eps, weight_decay, static_cast<float>(lr / bc1),
                static_cast<float>(std::sqrt(bc2))};
  auto kernel = CGK_SELECT(adam_range);
  // A thread_local named inside the lambda would be each worker's own (empty) vector: capture
  // this thread's list by reference instead.
  const std::vector<Chunk>& chunk_list = chunks;
  cgk::parallel_for(chunk_list.size(), [&](size_t c) {
    const Chunk& k = chunk_list[c];
    kernel(params[k.tensor], grads[k.tensor], m[k.tensor], v[k.tensor], k.begin, k.end, s);
  });
  return CGK_OK;
}
