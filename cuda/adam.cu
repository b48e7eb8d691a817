// Adam over many parameter tensors in few launches (PyTorch's torch.optim.Adam semantics, as
// cgk.h states). The tensors' pointers travel by value in the kernel's parameter block, up to
// kTensorsPerLaunch per launch, so one step of a CycleGAN's ~100 parameter tensors costs a
// handful of launches instead of one per tensor and needs no device-side pointer table.
#include <cmath>

#include "common.cuh"

using namespace cgk_cuda;

namespace {

constexpr int kTensorsPerLaunch = 48;
constexpr int kChunk = 4096;  // elements per block: blocks map to (tensor, chunk) through `first_chunk`

struct AdamBatch {
  float* params[kTensorsPerLaunch];
  const float* grads[kTensorsPerLaunch];
  float* m[kTensorsPerLaunch];
  float* v[kTensorsPerLaunch];
  size_t sizes[kTensorsPerLaunch];
  int first_chunk[kTensorsPerLaunch + 1];  // prefix sums of chunks per tensor
  int count;
};

struct AdamScalars {
  float beta2, one_minus_beta1, one_minus_beta2, eps, weight_decay, step_size, sqrt_bc2;
};

// Operation for operation the CPU backend's update (native/cpu/adam_body.inc, itself
// torch.optim.Adam's single-tensor path); the _rn intrinsics stop nvcc from contracting
// multiply-adds into FMAs, so both backends round identically:
//   g = grad + wd p;  m = m + (1 - b1)(g - m);  v = b2 v + (1 - b2) g^2
//   p = p - step_size (m / (sqrt(v) / sqrt(bc2) + eps)),  step_size = lr / bc1
__global__ void __launch_bounds__(256) adam_kernel(const __grid_constant__ AdamBatch batch, AdamScalars s) {
  const int chunk = blockIdx.x;
  int t = 0;
  while (t + 1 < batch.count && batch.first_chunk[t + 1] <= chunk) ++t;
  const size_t begin = (size_t)(chunk - batch.first_chunk[t]) * kChunk;
  const size_t end = min(batch.sizes[t], begin + kChunk);
  float* __restrict__ p = batch.params[t];
  const float* __restrict__ grad = batch.grads[t];
  float* __restrict__ m = batch.m[t];
  float* __restrict__ v = batch.v[t];
  for (size_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const float pi = p[i];
    const float g = __fadd_rn(grad[i], __fmul_rn(s.weight_decay, pi));
    const float m0 = m[i];
    const float mi = __fadd_rn(m0, __fmul_rn(s.one_minus_beta1, __fsub_rn(g, m0)));
    const float vi = __fadd_rn(__fmul_rn(s.beta2, v[i]), __fmul_rn(s.one_minus_beta2, __fmul_rn(g, g)));
    m[i] = mi;
    v[i] = vi;
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), s.sqrt_bc2), s.eps);
    p[i] = __fsub_rn(pi, __fmul_rn(s.step_size, __fdiv_rn(mi, denom)));
  }
}

}  // namespace

extern "C" int cgk_adam_step(float* const* params, const float* const* grads, float* const* m, float* const* v,
                             const size_t* sizes, int count, float lr, float beta1, float beta2, float eps,
                             float weight_decay, int step) {
  const char* fn = "cgk_adam_step";
  CGK_READY(fn);
  if (count < 0) return fail_arg(fn, strf("count = %d, expected >= 0", count));
  if (count > 0 && !(params && grads && m && v && sizes)) return fail_arg(fn, "NULL array");
  if (step < 1) return fail_arg(fn, strf("step = %d, expected >= 1 (1-based)", step));
  if (!(lr >= 0.f)) return fail_arg(fn, strf("lr = %g, expected >= 0", lr));
  if (!(beta1 >= 0.f && beta1 < 1.f) || !(beta2 >= 0.f && beta2 < 1.f))
    return fail_arg(fn, strf("betas (%g, %g), expected each in [0, 1)", beta1, beta2));
  if (!(eps >= 0.f)) return fail_arg(fn, strf("eps = %g, expected >= 0", eps));
  if (!(weight_decay >= 0.f)) return fail_arg(fn, strf("weight_decay = %g, expected >= 0", weight_decay));
  // Bias corrections in double, as PyTorch computes them in Python floats (and the CPU backend).
  const double bc1 = 1.0 - std::pow(double(beta1), step), bc2 = 1.0 - std::pow(double(beta2), step);
  const AdamScalars s{beta2, 1.0f - beta1, 1.0f - beta2, eps, weight_decay, static_cast<float>(lr / bc1),
                      static_cast<float>(std::sqrt(bc2))};

  for (int first = 0; first < count; first += kTensorsPerLaunch) {
    AdamBatch batch;
    batch.count = 0;
    int chunks = 0;
    for (int t = first; t < count && batch.count < kTensorsPerLaunch; ++t) {
      if (sizes[t] == 0) continue;
      if (!(params[t] && grads[t] && m[t] && v[t])) return fail_arg(fn, strf("NULL buffer in tensor %d", t));
      const size_t tensor_chunks = (sizes[t] + kChunk - 1) / kChunk;
      if (chunks + tensor_chunks > (size_t)INT32_MAX) return fail_arg(fn, "parameters too large for one launch");
      const int b = batch.count++;
      batch.params[b] = params[t];
      batch.grads[b] = grads[t];
      batch.m[b] = m[t];
      batch.v[b] = v[t];
      batch.sizes[b] = sizes[t];
      batch.first_chunk[b] = chunks;
      chunks += (int)tensor_chunks;
    }
    batch.first_chunk[batch.count] = chunks;
    if (chunks == 0) continue;
    adam_kernel<<<chunks, 256, 0, stream()>>>(batch, s);
    if (int st = check_launch(fn)) return st;
  }
  return CGK_OK;
}
