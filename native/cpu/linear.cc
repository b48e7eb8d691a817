// Fully connected layers as packed GEMMs (gemm.h); transposed operands are read through strided
// packers, never copied out.
//   forward          y[n x out]  = x[n x in] * w^T          (+ bias per column)
//   backward data    dx[n x in]  = dy[n x out] * w[out x in]
//   backward weight  dw[out x in] = dy^T * x, db[o] = sum over n of dy[n, o]
#include <climits>

#include "gemm.h"
#include "runtime.h"
#include "threads.h"

namespace {

int check_dims(const char* fn, int n, int in, int out) {
  CGK_CHECK(n >= 1 && in >= 1 && out >= 1, "%s: (n, in, out) = (%d, %d, %d), expected all >= 1", fn, n, in, out);
  CGK_CHECK(double(n) * in <= INT_MAX && double(n) * out <= INT_MAX && double(out) * in <= INT_MAX,
            "%s: (n, in, out) = (%d, %d, %d) is too large (each matrix must stay below 2^31 elements)", fn, n, in, out);
  return CGK_OK;
}

int run_gemm(int m, int n, int k, const cgk::APacker& a, const cgk::BPacker& b, float* c) {
  cgk::GemmProblem g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = &a;
  g.b = &b;
  g.c = c;
  g.ldc = n;
  g.n_granule = cgk::gemm_tile(cgk::simd()).nr;
  g.m_split_granule = 1;
  return cgk::gemm(g);
}

}  // namespace

extern "C" {

int cgk_linear_forward(const float* x, const float* w, const float* bias, float* y, int n, int in, int out) {
  static const char* fn = "cgk_linear_forward";
  CGK_CHECK_PTR(x, fn);
  CGK_CHECK_PTR(w, fn);
  CGK_CHECK_PTR(y, fn);
  if (int status = check_dims(fn, n, in, out)) return status;
  cgk::StridedAPacker rows(x, in, 1);
  cgk::StridedBPacker weights_t(w, 1, in);
  if (int status = run_gemm(n, out, in, rows, weights_t, y)) return status;
  if (bias) {
    cgk::parallel_range(size_t(n), 64, [&](size_t begin, size_t end) {
      for (size_t i = begin; i < end; i++)
        for (int o = 0; o < out; o++) y[i * out + o] += bias[o];
    });
  }
  return CGK_OK;
}

int cgk_linear_backward_data(const float* dy, const float* w, float* dx, int n, int in, int out) {
  static const char* fn = "cgk_linear_backward_data";
  CGK_CHECK_PTR(dy, fn);
  CGK_CHECK_PTR(w, fn);
  CGK_CHECK_PTR(dx, fn);
  if (int status = check_dims(fn, n, in, out)) return status;
  cgk::StridedAPacker grads(dy, out, 1);
  cgk::StridedBPacker weights(w, in, 1);
  return run_gemm(n, in, out, grads, weights, dx);
}

int cgk_linear_backward_weight(const float* x, const float* dy, float* dw, float* db, int n, int in, int out) {
  static const char* fn = "cgk_linear_backward_weight";
  CGK_CHECK_PTR(x, fn);
  CGK_CHECK_PTR(dy, fn);
  CGK_CHECK_PTR(dw, fn);
  if (int status = check_dims(fn, n, in, out)) return status;
  cgk::StridedAPacker grads_t(dy, 1, out);
  cgk::StridedBPacker rows(x, in, 1);
  if (int status = run_gemm(out, in, n, grads_t, rows, dw)) return status;
  if (db) {
    cgk::parallel_range(size_t(out), 16, [&](size_t begin, size_t end) {
      for (size_t o = begin; o < end; o++) {
        double total = 0.0;
        for (int i = 0; i < n; i++) total += dy[size_t(i) * out + o];
        db[o] = float(total);
      }
    });
  }
  return CGK_OK;
}

}  // extern "C"
