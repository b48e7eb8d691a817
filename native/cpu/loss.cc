// Losses: mean over n elements into out[0]; backwards scale by the device scalar dout[0].
// Per-element terms are evaluated in double: losses are a negligible share of a step, and
// double keeps BCE/focal exact at saturated logits (|x| = 100) where float log/exp would not.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "reduce_util.h"
#include "runtime.h"
#include "threads.h"

namespace {

// log(1 + e^z) without overflow or cancellation.
inline double softplus(double z) { return std::max(z, 0.0) + std::log1p(std::exp(-std::fabs(z))); }

// sigmoid(x) without overflow for x of either sign.
inline double sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  double e = std::exp(x);
  return e / (1.0 + e);
}

template <class Term>
int mean_loss(const char* fn, const float* x, const float* t, float* out, size_t n, Term term) {
  CGK_CHECK(n > 0, "%s: n = 0, a mean loss over no elements is undefined", fn);
  CGK_CHECK(x && t && out, "%s: NULL buffer", fn);
  double total = cgk::parallel_sum(n, [&](size_t begin, size_t end) {
    double s = 0;
    for (size_t i = begin; i < end; i++) s += term(static_cast<double>(x[i]), static_cast<double>(t[i]), i);
    return s;
  });
  out[0] = static_cast<float>(total / static_cast<double>(n));
  return CGK_OK;
}

// dx[i] = dout[0] / n * grad(x, t, i)
template <class Grad>
int mean_loss_backward(const char* fn, const float* x, const float* t, const float* dout, float* dx, size_t n, Grad grad) {
  CGK_CHECK(n > 0, "%s: n = 0, a mean loss over no elements is undefined", fn);
  CGK_CHECK(x && t && dout && dx, "%s: NULL buffer", fn);
  const double scale = static_cast<double>(dout[0]) / static_cast<double>(n);
  cgk::parallel_range(n, cgk::kReduceGrain, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; i++) dx[i] = static_cast<float>(scale * grad(double(x[i]), double(t[i]), i));
  });
  return CGK_OK;
}

// Binary focal loss terms: with p = sigmoid(x), log p = -softplus(-x), log(1-p) = -softplus(x),
//   positive term  -a (1-p)^g log p,        d/dx = a (1-p)^g (g p log p - (1-p))
//   negative term  -(1-a) p^g log(1-p),     d/dx = (1-a) p^g (p - g (1-p) log(1-p))
// mixed as t * positive + (1 - t) * negative (soft targets).
struct Focal {
  double alpha, gamma;
  double weight_pos() const { return alpha < 0 ? 1.0 : alpha; }
  double weight_neg() const { return alpha < 0 ? 1.0 : 1.0 - alpha; }
  double loss(double x, double t) const {
    double p = sigmoid(x), q = sigmoid(-x);
    double pos = weight_pos() * std::pow(q, gamma) * softplus(-x);
    double neg = weight_neg() * std::pow(p, gamma) * softplus(x);
    return t * pos + (1 - t) * neg;
  }
  double grad(double x, double t) const {
    double p = sigmoid(x), q = sigmoid(-x);
    double log_p = -softplus(-x), log_q = -softplus(x);
    double pos = weight_pos() * std::pow(q, gamma) * (gamma * p * log_p - q);
    double neg = weight_neg() * std::pow(p, gamma) * (p - gamma * q * log_q);
    return t * pos + (1 - t) * neg;
  }
};

// Writes the softmax of one row and returns its log-sum-exp (max-shifted, so no overflow).
double softmax_row(const float* x, float* p, int k) {
  float max = x[0];
  for (int j = 1; j < k; j++) max = std::max(max, x[j]);
  double sum = 0;
  for (int j = 0; j < k; j++) sum += std::exp(double(x[j]) - max);
  for (int j = 0; j < k; j++) p[j] = static_cast<float>(std::exp(double(x[j]) - max) / sum);
  return max + std::log(sum);
}

// Index of the first label that is not an integer class in [0, k), or -1.
int first_bad_label(const float* labels, int n, int k) {
  for (int r = 0; r < n; r++) {
    float l = labels[r];
    if (!(l >= 0 && l < k) || std::floor(l) != l) return r;
  }
  return -1;
}

double bce(double x, double t) { return std::max(x, 0.0) - x * t + std::log1p(std::exp(-std::fabs(x))); }

}  // namespace

extern "C" {

int cgk_l1_loss_forward(const float* x, const float* t, float* out, size_t n) {
  return mean_loss("cgk_l1_loss_forward", x, t, out, n, [](double a, double b, size_t) { return std::fabs(a - b); });
}
int cgk_l1_loss_backward(const float* x, const float* t, const float* dout, float* dx, size_t n) {
  // sign(0) = 0, as torch.sign.
  return mean_loss_backward("cgk_l1_loss_backward", x, t, dout, dx, n,
                            [](double a, double b, size_t) { return a > b ? 1.0 : a < b ? -1.0 : 0.0; });
}
int cgk_mse_loss_forward(const float* x, const float* t, float* out, size_t n) {
  return mean_loss("cgk_mse_loss_forward", x, t, out, n, [](double a, double b, size_t) { return (a - b) * (a - b); });
}
int cgk_mse_loss_backward(const float* x, const float* t, const float* dout, float* dx, size_t n) {
  return mean_loss_backward("cgk_mse_loss_backward", x, t, dout, dx, n, [](double a, double b, size_t) { return 2 * (a - b); });
}
int cgk_bce_logits_forward(const float* x, const float* t, float* out, size_t n) {
  return mean_loss("cgk_bce_logits_forward", x, t, out, n, [](double a, double b, size_t) { return bce(a, b); });
}
int cgk_bce_logits_backward(const float* x, const float* t, const float* dout, float* dx, size_t n) {
  return mean_loss_backward("cgk_bce_logits_backward", x, t, dout, dx, n,
                            [](double a, double b, size_t) { return sigmoid(a) - b; });
}

int cgk_focal_loss_forward(const float* x, const float* t, float alpha, float gamma, float* out, size_t n) {
  CGK_CHECK(alpha <= 1.0f && gamma >= 0.0f, "cgk_focal_loss_forward: alpha = %g, gamma = %g: expected alpha <= 1, gamma >= 0", alpha, gamma);
  Focal f{alpha, gamma};
  return mean_loss("cgk_focal_loss_forward", x, t, out, n, [&](double a, double b, size_t) { return f.loss(a, b); });
}
int cgk_focal_loss_backward(const float* x, const float* t, float alpha, float gamma, const float* dout, float* dx, size_t n) {
  CGK_CHECK(alpha <= 1.0f && gamma >= 0.0f, "cgk_focal_loss_backward: alpha = %g, gamma = %g: expected alpha <= 1, gamma >= 0", alpha, gamma);
  Focal f{alpha, gamma};
  return mean_loss_backward("cgk_focal_loss_backward", x, t, dout, dx, n, [&](double a, double b, size_t) { return f.grad(a, b); });
}

// GHM-C. The bin of element i is min(floor(g * bins), bins - 1) with g = |sigmoid(x) - t| in
// double. Bins with elements this batch get acc = momentum * acc + (1 - momentum) * count
// (momentum 0: acc = count, and empty bins are set to 0); the weight of an element is
// n / (acc[bin] * nonempty), as in Li et al. and mmdetection's GHMC.
int cgk_ghmc_loss_forward(const float* x, const float* t, int bins, float momentum, float* acc, float* weights, float* out, size_t n) {
  CGK_CHECK(bins >= 1, "cgk_ghmc_loss_forward: bins = %d, expected >= 1", bins);
  CGK_CHECK(momentum >= 0.0f && momentum < 1.0f, "cgk_ghmc_loss_forward: momentum = %g, expected 0 <= momentum < 1", momentum);
  CGK_CHECK(n > 0, "cgk_ghmc_loss_forward: n = 0, a mean loss over no elements is undefined");
  CGK_CHECK(x && t && acc && weights && out, "cgk_ghmc_loss_forward: NULL buffer");
  auto bin_of = [&](size_t i) {
    double g = std::fabs(sigmoid(x[i]) - double(t[i]));
    int b = static_cast<int>(g * bins);
    return b < 0 ? 0 : b >= bins ? bins - 1 : b;
  };
  double counts_small[64];
  double* counts = counts_small;
  std::unique_ptr<double[]> counts_big;
  if (bins > 64) {
    counts_big.reset(new double[bins]);
    counts = counts_big.get();
  }
  for (int b = 0; b < bins; b++) counts[b] = 0;
  for (size_t i = 0; i < n; i++) counts[bin_of(i)] += 1;
  int nonempty = 0;
  for (int b = 0; b < bins; b++) {
    if (counts[b] > 0) {
      nonempty++;
      acc[b] = momentum > 0 ? static_cast<float>(momentum * acc[b] + (1.0 - momentum) * counts[b]) : static_cast<float>(counts[b]);
    } else if (momentum == 0) {
      acc[b] = 0;
    }
  }
  const double total = static_cast<double>(n);
  double sum = cgk::parallel_sum(n, [&](size_t begin, size_t end) {
    double s = 0;
    for (size_t i = begin; i < end; i++) {
      double w = total / (double(acc[bin_of(i)]) * nonempty);
      weights[i] = static_cast<float>(w);
      s += w * bce(x[i], t[i]);
    }
    return s;
  });
  out[0] = static_cast<float>(sum / total);
  return CGK_OK;
}

int cgk_ghmc_loss_backward(const float* x, const float* t, const float* weights, const float* dout, float* dx, size_t n) {
  CGK_CHECK(weights != nullptr || n == 0, "cgk_ghmc_loss_backward: NULL buffer");
  return mean_loss_backward("cgk_ghmc_loss_backward", x, t, dout, dx, n,
                            [&](double a, double b, size_t i) { return double(weights[i]) * (sigmoid(a) - b); });
}

int cgk_softmax_forward(const float* logits, float* probs, int n, int k) {
  CGK_CHECK(n >= 1 && k >= 1, "cgk_softmax_forward: n = %d, k = %d, expected both >= 1", n, k);
  CGK_CHECK(logits && probs, "cgk_softmax_forward: NULL buffer");
  cgk::parallel_range(n, 64, [&](size_t begin, size_t end) {
    for (size_t r = begin; r < end; r++) softmax_row(logits + r * k, probs + r * k, k);
  });
  return CGK_OK;
}

int cgk_softmax_xent_forward(const float* logits, const float* labels, float* probs, float* out, int n, int k) {
  CGK_CHECK(n >= 1 && k >= 1, "cgk_softmax_xent_forward: n = %d, k = %d, expected both >= 1", n, k);
  CGK_CHECK(logits && labels && probs && out, "cgk_softmax_xent_forward: NULL buffer");
  if (int bad = first_bad_label(labels, n, k); bad >= 0) {
    return cgk_set_error("cgk_softmax_xent_forward: labels[%d] = %g, expected an integer class in [0, %d)", bad, labels[bad], k);
  }
  double total = cgk::parallel_sum(n, [&](size_t begin, size_t end) {
    double s = 0;
    for (size_t r = begin; r < end; r++) {
      double log_sum = softmax_row(logits + r * k, probs + r * k, k);
      s += log_sum - logits[r * k + static_cast<int>(labels[r])];
    }
    return s;
  });
  out[0] = static_cast<float>(total / n);
  return CGK_OK;
}

int cgk_softmax_xent_backward(const float* probs, const float* labels, const float* dout, float* dlogits, int n, int k) {
  CGK_CHECK(n >= 1 && k >= 1, "cgk_softmax_xent_backward: n = %d, k = %d, expected both >= 1", n, k);
  CGK_CHECK(probs && labels && dout && dlogits, "cgk_softmax_xent_backward: NULL buffer");
  if (int bad = first_bad_label(labels, n, k); bad >= 0) {
    return cgk_set_error("cgk_softmax_xent_backward: labels[%d] = %g, expected an integer class in [0, %d)", bad, labels[bad], k);
  }
  const float scale = static_cast<float>(double(dout[0]) / n);
  cgk::parallel_range(n, 64, [&](size_t begin, size_t end) {
    for (size_t r = begin; r < end; r++) {
      int label = static_cast<int>(labels[r]);
      for (int j = 0; j < k; j++) dlogits[r * k + j] = scale * (probs[r * k + j] - (j == label ? 1.0f : 0.0f));
    }
  });
  return CGK_OK;
}

}  // extern "C"
