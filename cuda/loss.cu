// Losses to a device scalar out[0] (mean over n) and their backward, dx = dout[0] / n * dloss/dx.
// Per-element terms are evaluated in double and summed in double, exactly as the CPU backend
// does (native/cpu/loss.cc), so the two agree to float rounding, also at saturated logits.
#include "reduce.cuh"

using namespace cgk_cuda;

namespace {

// log(1 + e^z) without overflow or cancellation.
__device__ __forceinline__ double softplus(double z) { return fmax(z, 0.0) + log1p(exp(-fabs(z))); }

// sigmoid(x) without overflow for x of either sign.
__device__ __forceinline__ double sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + exp(-x));
  const double e = exp(x);
  return e / (1.0 + e);
}

__device__ __forceinline__ double bce(double x, double t) { return fmax(x, 0.0) - x * t + log1p(exp(-fabs(x))); }

// Binary focal loss terms: with p = sigmoid(x), log p = -softplus(-x), log(1-p) = -softplus(x),
//   positive term  -a (1-p)^g log p,        d/dx = a (1-p)^g (g p log p - (1-p))
//   negative term  -(1-a) p^g log(1-p),     d/dx = (1-a) p^g (p - g (1-p) log(1-p))
// mixed as t * positive + (1 - t) * negative (soft targets).
struct Focal {
  double alpha, gamma;
  __device__ double weight_pos() const { return alpha < 0 ? 1.0 : alpha; }
  __device__ double weight_neg() const { return alpha < 0 ? 1.0 : 1.0 - alpha; }
  __device__ double loss(double x, double t) const {
    const double p = sigmoid(x), q = sigmoid(-x);
    const double pos = weight_pos() * pow(q, gamma) * softplus(-x);
    const double neg = weight_neg() * pow(p, gamma) * softplus(x);
    return t * pos + (1 - t) * neg;
  }
  __device__ double grad(double x, double t) const {
    const double p = sigmoid(x), q = sigmoid(-x);
    const double log_p = -softplus(-x), log_q = -softplus(x);
    const double pos = weight_pos() * pow(q, gamma) * (gamma * p * log_p - q);
    const double neg = weight_neg() * pow(p, gamma) * (p - gamma * q * log_q);
    return t * pos + (1 - t) * neg;
  }
};

enum class Loss { L1, Mse, Bce, Focal, Ghmc };

// One loss term per element, and its derivative, by kind.
template <Loss KIND>
struct LossTerm {
  const float *x, *t, *w;  // w: GHM-C weights
  Focal focal;
  __device__ double operator()(size_t i) const {
    const double a = x[i], b = t[i];
    if (KIND == Loss::L1) return fabs(a - b);
    if (KIND == Loss::Mse) return (a - b) * (a - b);
    if (KIND == Loss::Bce) return bce(a, b);
    if (KIND == Loss::Focal) return focal.loss(a, b);
    return (double)w[i] * bce(a, b);
  }
  __device__ double grad(size_t i) const {
    const double a = x[i], b = t[i];
    if (KIND == Loss::L1) return a > b ? 1.0 : a < b ? -1.0 : 0.0;  // sign(0) = 0, as torch.sign
    if (KIND == Loss::Mse) return 2 * (a - b);
    if (KIND == Loss::Bce) return sigmoid(a) - b;
    if (KIND == Loss::Focal) return focal.grad(a, b);
    return (double)w[i] * (sigmoid(a) - b);
  }
};

template <Loss KIND>
__global__ void loss_backward_kernel(LossTerm<KIND> term, const float* dout, float* dx, size_t n) {
  const double scale = (double)dout[0] / (double)n;
  CGK_GRID_STRIDE(i, n) dx[i] = (float)(scale * term.grad(i));
}

template <Loss KIND>
int loss_forward(const char* fn, LossTerm<KIND> term, float* out, size_t n) {
  CGK_READY(fn);
  CGK_REQUIRE(n > 0, fn, "n = 0, a mean loss over no elements is undefined");
  CGK_REQUIRE(term.x && term.t && out, fn, "NULL buffer");
  return reduce_to_scalar(fn, term, n, (double)n, out);
}

template <Loss KIND>
int loss_backward(const char* fn, LossTerm<KIND> term, const float* dout, float* dx, size_t n) {
  CGK_READY(fn);
  CGK_REQUIRE(n > 0, fn, "n = 0, a mean loss over no elements is undefined");
  CGK_REQUIRE(term.x && term.t && dout && dx, fn, "NULL buffer");
  CGK_LAUNCH_1D(fn, loss_backward_kernel<KIND>, n, term, dout, dx, n);
}

// ---- GHM-C ---------------------------------------------------------------------------------

__device__ __forceinline__ int ghm_bin(float x, float t, int bins) {
  const double g = fabs(sigmoid(x) - (double)t);
  const int b = (int)(g * bins);
  return b < 0 ? 0 : (b >= bins ? bins - 1 : b);
}

// Integer counts, so the atomics are exact and the result deterministic.
__global__ void ghm_histogram_kernel(const float* x, const float* t, int bins, unsigned* counts, size_t n) {
  CGK_DYNAMIC_SMEM(unsigned, local_counts);
  for (int b = threadIdx.x; b < bins; b += blockDim.x) local_counts[b] = 0;
  __syncthreads();
  CGK_GRID_STRIDE(i, n) atomicAdd(&local_counts[ghm_bin(x[i], t[i], bins)], 1u);
  __syncthreads();
  for (int b = threadIdx.x; b < bins; b += blockDim.x)
    if (local_counts[b]) atomicAdd(&counts[b], local_counts[b]);
}

// One thread: the bin update is sequential and tiny. Bins with elements this batch get
// acc = momentum acc + (1 - momentum) count (momentum 0: acc = count, and empty bins are set to
// 0); the weight of bin b is n / (acc[b] * nonempty), as in mmdetection's GHMC.
__global__ void ghm_bin_weights_kernel(const unsigned* counts, int bins, float momentum, float* acc,
                                       double* bin_weight, size_t n) {
  if (threadIdx.x != 0 || blockIdx.x != 0) return;
  int nonempty = 0;
  for (int b = 0; b < bins; ++b) {
    if (counts[b] > 0) {
      ++nonempty;
      // momentum * acc is a float product on the CPU too (float * float), then widened.
      acc[b] = momentum > 0 ? (float)((double)__fmul_rn(momentum, acc[b]) + (1.0 - momentum) * (double)counts[b])
                            : (float)counts[b];
    } else if (momentum == 0) {
      acc[b] = 0;
    }
  }
  for (int b = 0; b < bins; ++b) bin_weight[b] = (double)n / ((double)acc[b] * nonempty);
}

__global__ void ghm_weights_kernel(const float* x, const float* t, int bins, const double* bin_weight, float* weights,
                                   size_t n) {
  CGK_GRID_STRIDE(i, n) weights[i] = (float)bin_weight[ghm_bin(x[i], t[i], bins)];
}

// The forward loss uses the double weight, as the CPU does; `weights` keeps the float for the backward.
struct GhmLossTerm {
  const float *x, *t;
  int bins;
  const double* bin_weight;
  __device__ double operator()(size_t i) const { return bin_weight[ghm_bin(x[i], t[i], bins)] * bce(x[i], t[i]); }
};

// ---- softmax ----------------------------------------------------------------------------------

// One warp per row (rows are short: classes): max in float, exponentials and their sum in
// double, as the CPU's softmax_row. row_loss (may be NULL) gets log-sum-exp - logit[label].
__global__ void softmax_rows_kernel(const float* logits, const float* labels, float* probs, double* row_loss, int n,
                                    int k) {
  const int warps = blockDim.x / 32;
  const int row = blockIdx.x * warps + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= n) return;
  const float* z = logits + (size_t)row * k;
  float m = -INFINITY;
  for (int j = lane; j < k; j += 32) m = fmaxf(m, z[j]);
  for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
  double s = 0;
  for (int j = lane; j < k; j += 32) s += exp((double)z[j] - m);
  for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  float* p = probs + (size_t)row * k;
  for (int j = lane; j < k; j += 32) p[j] = (float)(exp((double)z[j] - m) / s);
  if (row_loss && lane == 0) {
    const float label = labels[row];
    const int c = (int)label;
    // A bad label cannot be reported from the device without a host sync; a NaN loss shows it.
    row_loss[row] = (label >= 0.f && label < (float)k && floorf(label) == label) ? (double)m + log(s) - z[c] : NAN;
  }
}

struct RowLossTerm {
  const double* loss;
  __device__ double operator()(size_t i) const { return loss[i]; }
};

__global__ void softmax_xent_backward_kernel(const float* probs, const float* labels, const float* dout,
                                             float* dlogits, int n, int k) {
  const float scale = (float)((double)dout[0] / n);
  const size_t total = (size_t)n * k;
  CGK_GRID_STRIDE(i, total) {
    const int row = (int)(i / k), j = (int)(i % k);
    const float hot = (int)labels[row] == j ? 1.f : 0.f;
    dlogits[i] = scale * (probs[i] - hot);
  }
}

template <Loss KIND>
LossTerm<KIND> term_of(const float* x, const float* t, const float* w = nullptr, float alpha = 0, float gamma = 0) {
  return LossTerm<KIND>{x, t, w, Focal{alpha, gamma}};
}

}  // namespace

extern "C" {

int cgk_l1_loss_forward(const float* x, const float* t, float* out, size_t n) {
  return loss_forward("cgk_l1_loss_forward", term_of<Loss::L1>(x, t), out, n);
}
int cgk_l1_loss_backward(const float* x, const float* t, const float* dout, float* dx, size_t n) {
  return loss_backward("cgk_l1_loss_backward", term_of<Loss::L1>(x, t), dout, dx, n);
}
int cgk_mse_loss_forward(const float* x, const float* t, float* out, size_t n) {
  return loss_forward("cgk_mse_loss_forward", term_of<Loss::Mse>(x, t), out, n);
}
int cgk_mse_loss_backward(const float* x, const float* t, const float* dout, float* dx, size_t n) {
  return loss_backward("cgk_mse_loss_backward", term_of<Loss::Mse>(x, t), dout, dx, n);
}
int cgk_bce_logits_forward(const float* x, const float* t, float* out, size_t n) {
  return loss_forward("cgk_bce_logits_forward", term_of<Loss::Bce>(x, t), out, n);
}
int cgk_bce_logits_backward(const float* x, const float* t, const float* dout, float* dx, size_t n) {
  return loss_backward("cgk_bce_logits_backward", term_of<Loss::Bce>(x, t), dout, dx, n);
}

int cgk_focal_loss_forward(const float* x, const float* t, float alpha, float gamma, float* out, size_t n) {
  CGK_REQUIRE(alpha <= 1.0f && gamma >= 0.0f, "cgk_focal_loss_forward",
              strf("alpha = %g, gamma = %g: expected alpha <= 1, gamma >= 0", alpha, gamma));
  return loss_forward("cgk_focal_loss_forward", term_of<Loss::Focal>(x, t, nullptr, alpha, gamma), out, n);
}
int cgk_focal_loss_backward(const float* x, const float* t, float alpha, float gamma, const float* dout, float* dx,
                            size_t n) {
  CGK_REQUIRE(alpha <= 1.0f && gamma >= 0.0f, "cgk_focal_loss_backward",
              strf("alpha = %g, gamma = %g: expected alpha <= 1, gamma >= 0", alpha, gamma));
  return loss_backward("cgk_focal_loss_backward", term_of<Loss::Focal>(x, t, nullptr, alpha, gamma), dout, dx, n);
}

int cgk_ghmc_loss_forward(const float* x, const float* t, int bins, float momentum, float* acc, float* weights,
                          float* out, size_t n) {
  const char* fn = "cgk_ghmc_loss_forward";
  CGK_READY(fn);
  CGK_REQUIRE(bins >= 1, fn, strf("bins = %d, expected >= 1", bins));
  CGK_REQUIRE(bins <= 8192, fn, strf("bins = %d: the CUDA backend supports up to 8192 bins", bins));
  CGK_REQUIRE(momentum >= 0.0f && momentum < 1.0f, fn, strf("momentum = %g, expected 0 <= momentum < 1", momentum));
  CGK_REQUIRE(n > 0, fn, "n = 0, a mean loss over no elements is undefined");
  CGK_REQUIRE(x && t && acc && weights && out, fn, "NULL buffer");
  // [counts: bins unsigned][bin weights: bins doubles, 8-byte aligned]
  float* workspace = scratch_alloc((size_t)3 * bins + 2);
  if (!workspace) return CGK_ERR_OOM;
  unsigned* counts = reinterpret_cast<unsigned*>(workspace);
  double* bin_weight = reinterpret_cast<double*>(workspace + ((bins + 1) & ~1));
  cudaMemsetAsync(counts, 0, bins * sizeof(unsigned), stream());
  ghm_histogram_kernel<<<std::min(grid_for(n), 1024u), 256, bins * sizeof(unsigned), stream()>>>(x, t, bins, counts, n);
  ghm_bin_weights_kernel<<<1, 32, 0, stream()>>>(counts, bins, momentum, acc, bin_weight, n);
  ghm_weights_kernel<<<grid_for(n), 256, 0, stream()>>>(x, t, bins, bin_weight, weights, n);
  int st = check_launch(fn);
  if (st == CGK_OK) st = reduce_to_scalar(fn, GhmLossTerm{x, t, bins, bin_weight}, n, (double)n, out);
  scratch_free(workspace);  // stream order keeps it alive for the kernels above
  return st;
}

int cgk_ghmc_loss_backward(const float* x, const float* t, const float* weights, const float* dout, float* dx,
                           size_t n) {
  CGK_REQUIRE(weights != nullptr || n == 0, "cgk_ghmc_loss_backward", "NULL buffer");
  return loss_backward("cgk_ghmc_loss_backward", term_of<Loss::Ghmc>(x, t, weights), dout, dx, n);
}

int cgk_softmax_xent_forward(const float* logits, const float* labels, float* probs, float* out, int n, int k) {
  const char* fn = "cgk_softmax_xent_forward";
  CGK_READY(fn);
  CGK_REQUIRE(n >= 1 && k >= 1, fn, strf("n = %d, k = %d, expected both >= 1", n, k));
  CGK_REQUIRE(logits && labels && probs && out, fn, "NULL buffer");
  float* row_loss = scratch_alloc((size_t)2 * n);  // n doubles
  if (!row_loss) return CGK_ERR_OOM;
  double* losses = reinterpret_cast<double*>(row_loss);
  softmax_rows_kernel<<<(n + 7) / 8, 256, 0, stream()>>>(logits, labels, probs, losses, n, k);
  int st = reduce_to_scalar(fn, RowLossTerm{losses}, (size_t)n, (double)n, out);
  scratch_free(row_loss);
  return st;
}

int cgk_softmax_xent_backward(const float* probs, const float* labels, const float* dout, float* dlogits, int n,
                              int k) {
  const char* fn = "cgk_softmax_xent_backward";
  CGK_READY(fn);
  CGK_REQUIRE(n >= 1 && k >= 1, fn, strf("n = %d, k = %d, expected both >= 1", n, k));
  CGK_REQUIRE(probs && labels && dout && dlogits, fn, "NULL buffer");
  const size_t total = (size_t)n * k;
  CGK_LAUNCH_1D(fn, softmax_xent_backward_kernel, total, probs, labels, dout, dlogits, n, k);
}

int cgk_softmax_forward(const float* logits, float* probs, int n, int k) {
  const char* fn = "cgk_softmax_forward";
  CGK_READY(fn);
  CGK_REQUIRE(n >= 1 && k >= 1, fn, strf("n = %d, k = %d, expected both >= 1", n, k));
  CGK_REQUIRE(logits && probs, fn, "NULL buffer");
  softmax_rows_kernel<<<(n + 7) / 8, 256, 0, stream()>>>(logits, nullptr, probs, nullptr, n, k);
  return check_launch(fn);
}

}  // extern "C"
