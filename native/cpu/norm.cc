// Instance and batch normalisation. Statistics are two-pass (mean, then squared deviations)
// with block sums in double, so large planes with a large mean keep their variance. Both
// parallelise over channels, so per-channel parameter gradients need no reduction scratch.
#include <cmath>

#include "runtime.h"
#include "simd.h"
#include "threads.h"

#define CGK_SIMD_BODY "norm_body.inc"
#include "simd_foreach.h"

namespace {

struct PlaneKernels {
  double (*sum)(const float*, size_t);
  double (*sq_dev)(const float*, size_t, float);
  void (*grad_sums)(const float*, const float*, size_t, float, double*, double*);
  void (*normalize)(const float*, float*, size_t, float, float, float);
  void (*backward)(const float*, const float*, float*, size_t, float, float, float, float);
  // with a ReLU after the norm (instance norm only)
  void (*normalize_relu)(const float*, float*, size_t, float, float, float);
  void (*grad_sums_relu)(const float*, const float*, size_t, float, float, float, double*, double*);
  void (*backward_relu)(const float*, const float*, float*, size_t, float, float, float, float, float, float);
};

PlaneKernels kernels() {
  return {CGK_SELECT(plane_sum),      CGK_SELECT(plane_sq_dev),         CGK_SELECT(plane_grad_sums),
          CGK_SELECT(plane_normalize), CGK_SELECT(plane_backward),      CGK_SELECT(plane_normalize_relu),
          CGK_SELECT(plane_grad_sums_relu), CGK_SELECT(plane_backward_relu)};
}

int check_dims(const char* fn, int n, int c, int hw) {
  CGK_CHECK(n >= 1 && c >= 1 && hw >= 1, "%s: n = %d, c = %d, hw = %d, expected all >= 1", fn, n, c, hw);
  return CGK_OK;
}

// Backward shared by both norms for one statistics group of `count` elements spread over
// `planes` planes (instance: 1 plane; batch: the n planes of a channel). With relu_shift (the
// fused instance norm + ReLU, beta or 0), dy is first masked by the sign of the normalised x.
void group_backward(const PlaneKernels& k, const float* dy, const float* x, float* dx, size_t plane_stride, int planes,
                    size_t hw, float mean, float rstd, float g, double* dgamma, double* dbeta,
                    const float* relu_shift = nullptr) {
  const float scale = rstd * g, shift = relu_shift ? *relu_shift : 0.0f;
  double sum_dy = 0, sum_dy_xm = 0;
  for (int p = 0; p < planes; p++) {
    double s1, s2;
    if (relu_shift) {
      k.grad_sums_relu(dy + p * plane_stride, x + p * plane_stride, hw, mean, scale, shift, &s1, &s2);
    } else {
      k.grad_sums(dy + p * plane_stride, x + p * plane_stride, hw, mean, &s1, &s2);
    }
    sum_dy += s1;
    sum_dy_xm += s2;
  }
  double count = static_cast<double>(hw) * planes;
  // dx = g rstd (dy - mean(dy) - xhat mean(dy xhat)), xhat = (x - mean) rstd
  float k_dy = g * rstd;
  float k_x = static_cast<float>(-double(g) * rstd * rstd * rstd * sum_dy_xm / count);
  float k_0 = static_cast<float>(-double(g) * rstd * sum_dy / count);
  for (int p = 0; p < planes; p++) {
    const size_t off = p * plane_stride;
    if (relu_shift) {
      k.backward_relu(dy + off, x + off, dx + off, hw, mean, scale, shift, k_dy, k_x, k_0);
    } else {
      k.backward(dy + off, x + off, dx + off, hw, mean, k_dy, k_x, k_0);
    }
  }
  *dgamma += sum_dy_xm * rstd;
  *dbeta += sum_dy;
}

// Instance norm's forward and backward, optionally fused with the ReLU that follows it: the
// forward clamps as it normalises, the backward masks dy with the sign of the normalised x
// (recomputed, the same arithmetic as the forward) before the norm's own backward.
int instance_forward(const char* fn, bool relu, const float* x, const float* gamma, const float* beta, float* y,
                     float* mean, float* rstd, int n, int c, int hw, float eps) {
  if (int err = check_dims(fn, n, c, hw)) return err;
  CGK_CHECK(eps >= 0.0f, "%s: eps = %g, expected >= 0", fn, eps);
  CGK_CHECK(x && y && mean && rstd, "%s: NULL buffer", fn);
  PlaneKernels k = kernels();
  cgk::parallel_for(size_t(n) * c, [&](size_t plane) {
    const float* xp = x + plane * hw;
    int ch = static_cast<int>(plane % c);
    double m = k.sum(xp, hw) / hw;
    float mf = static_cast<float>(m);
    double var = k.sq_dev(xp, hw, mf) / hw;
    float r = static_cast<float>(1.0 / std::sqrt(var + eps));
    mean[plane] = mf;
    rstd[plane] = r;
    float g = gamma ? gamma[ch] : 1.0f;
    (relu ? k.normalize_relu : k.normalize)(xp, y + plane * hw, hw, mf, r * g, beta ? beta[ch] : 0.0f);
  });
  return CGK_OK;
}

int instance_backward(const char* fn, bool relu, const float* dy, const float* x, const float* mean, const float* rstd,
                      const float* gamma, const float* beta, float* dx, float* dgamma, float* dbeta, int n, int c,
                      int hw) {
  if (int err = check_dims(fn, n, c, hw)) return err;
  CGK_CHECK(dy && x && mean && rstd && dx, "%s: NULL buffer", fn);
  CGK_CHECK(gamma || (!dgamma && !dbeta), "%s: dgamma/dbeta given without gamma", fn);
  PlaneKernels k = kernels();
  cgk::parallel_for(c, [&](size_t ch) {
    double dg = 0, db = 0;
    const float g = gamma ? gamma[ch] : 1.0f, shift = beta ? beta[ch] : 0.0f;
    for (int i = 0; i < n; i++) {
      size_t plane = size_t(i) * c + ch;
      size_t off = plane * hw;
      group_backward(k, dy + off, x + off, dx + off, hw, 1, hw, mean[plane], rstd[plane], g, &dg, &db, relu ? &shift : nullptr);
    }
    if (dgamma) dgamma[ch] = static_cast<float>(dg);
    if (dbeta) dbeta[ch] = static_cast<float>(db);
  });
  return CGK_OK;
}

}  // namespace

extern "C" {

int cgk_instance_norm_relu_forward(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                                   float* rstd, int n, int c, int hw, float eps) {
  return instance_forward("cgk_instance_norm_relu_forward", true, x, gamma, beta, y, mean, rstd, n, c, hw, eps);
}

int cgk_instance_norm_relu_backward(const float* dy, const float* x, const float* mean, const float* rstd,
                                    const float* gamma, const float* beta, float* dx, float* dgamma, float* dbeta, int n,
                                    int c, int hw) {
  CGK_CHECK((gamma == nullptr) == (beta == nullptr), "cgk_instance_norm_relu_backward: gamma and beta must both be given or both be NULL");
  return instance_backward("cgk_instance_norm_relu_backward", true, dy, x, mean, rstd, gamma, beta, dx, dgamma, dbeta, n,
                           c, hw);
}

int cgk_instance_norm_forward(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd,
                              int n, int c, int hw, float eps) {
  return instance_forward("cgk_instance_norm_forward", false, x, gamma, beta, y, mean, rstd, n, c, hw, eps);
}

int cgk_instance_norm_backward(const float* dy, const float* x, const float* mean, const float* rstd, const float* gamma,
                               float* dx, float* dgamma, float* dbeta, int n, int c, int hw) {
  return instance_backward("cgk_instance_norm_backward", false, dy, x, mean, rstd, gamma, nullptr, dx, dgamma, dbeta, n,
                           c, hw);
}

int cgk_batch_norm_forward_train(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd,
                                 float* running_mean, float* running_var, int n, int c, int hw, float eps, float momentum) {
  if (int err = check_dims("cgk_batch_norm_forward_train", n, c, hw)) return err;
  CGK_CHECK(eps >= 0.0f, "cgk_batch_norm_forward_train: eps = %g, expected >= 0", eps);
  CGK_CHECK(momentum >= 0.0f && momentum <= 1.0f, "cgk_batch_norm_forward_train: momentum = %g, expected 0..1", momentum);
  CGK_CHECK(size_t(n) * hw >= 2, "cgk_batch_norm_forward_train: needs more than 1 value per channel, got n*hw = %zu",
            size_t(n) * hw);
  CGK_CHECK(x && y && mean && rstd, "cgk_batch_norm_forward_train: NULL buffer");
  PlaneKernels k = kernels();
  const size_t stride = size_t(c) * hw;
  const double count = double(n) * hw;
  cgk::parallel_for(c, [&](size_t ch) {
    const float* xc = x + ch * hw;
    double s = 0;
    for (int i = 0; i < n; i++) s += k.sum(xc + i * stride, hw);
    float mf = static_cast<float>(s / count);
    double sq = 0;
    for (int i = 0; i < n; i++) sq += k.sq_dev(xc + i * stride, hw, mf);
    double var = sq / count;
    float r = static_cast<float>(1.0 / std::sqrt(var + eps));
    mean[ch] = mf;
    rstd[ch] = r;
    if (running_mean) running_mean[ch] = (1.0f - momentum) * running_mean[ch] + momentum * mf;
    if (running_var) running_var[ch] = (1.0f - momentum) * running_var[ch] + momentum * static_cast<float>(sq / (count - 1));
    float scale = r * (gamma ? gamma[ch] : 1.0f), shift = beta ? beta[ch] : 0.0f;
    for (int i = 0; i < n; i++) k.normalize(xc + i * stride, y + ch * hw + i * stride, hw, mf, scale, shift);
  });
  return CGK_OK;
}

int cgk_batch_norm_forward_eval(const float* x, const float* gamma, const float* beta, float* y, const float* running_mean,
                                const float* running_var, int n, int c, int hw, float eps) {
  if (int err = check_dims("cgk_batch_norm_forward_eval", n, c, hw)) return err;
  CGK_CHECK(eps >= 0.0f, "cgk_batch_norm_forward_eval: eps = %g, expected >= 0", eps);
  CGK_CHECK(x && y && running_mean && running_var, "cgk_batch_norm_forward_eval: NULL buffer");
  PlaneKernels k = kernels();
  cgk::parallel_for(size_t(n) * c, [&](size_t plane) {
    int ch = static_cast<int>(plane % c);
    float r = static_cast<float>(1.0 / std::sqrt(double(running_var[ch]) + eps));
    k.normalize(x + plane * hw, y + plane * hw, hw, running_mean[ch], r * (gamma ? gamma[ch] : 1.0f), beta ? beta[ch] : 0.0f);
  });
  return CGK_OK;
}

int cgk_batch_norm_backward(const float* dy, const float* x, const float* mean, const float* rstd, const float* gamma,
                            float* dx, float* dgamma, float* dbeta, int n, int c, int hw) {
  if (int err = check_dims("cgk_batch_norm_backward", n, c, hw)) return err;
  CGK_CHECK(dy && x && mean && rstd && dx, "cgk_batch_norm_backward: NULL buffer");
  CGK_CHECK(gamma || (!dgamma && !dbeta), "cgk_batch_norm_backward: dgamma/dbeta given without gamma");
  PlaneKernels k = kernels();
  const size_t stride = size_t(c) * hw;
  cgk::parallel_for(c, [&](size_t ch) {
    double dg = 0, db = 0;
    size_t off = ch * hw;
    group_backward(k, dy + off, x + off, dx + off, stride, n, hw, mean[ch], rstd[ch], gamma ? gamma[ch] : 1.0f, &dg, &db);
    if (dgamma) dgamma[ch] = static_cast<float>(dg);
    if (dbeta) dbeta[ch] = static_cast<float>(db);
  });
  return CGK_OK;
}

}  // extern "C"
