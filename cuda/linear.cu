// Fully connected layers as 1x1 convolutions over a 1x1 image: x [n, in] is [n, in, 1, 1], so
// the conv implicit-GEMM engines (and their TF32 path) serve linear layers unchanged.
#include <climits>

#include "conv_gemm.cuh"

using namespace cgk_cuda;

namespace {

int check_dims(const char* fn, int n, int in, int out) {
  if (n < 1 || in < 1 || out < 1) return fail_arg(fn, strf("(n, in, out) = (%d, %d, %d), expected all >= 1", n, in, out));
  if (double(n) * in > INT_MAX || double(n) * out > INT_MAX || double(out) * in > INT_MAX)
    return fail_arg(fn, strf("(n, in, out) = (%d, %d, %d): every matrix must hold fewer than 2^31 elements", n, in, out));
  return CGK_OK;
}

// The 1x1 convolution with `c` gathered channels and `m` output channels.
ConvGeom dense(int n, int c, int m) { return {n, c, 1, 1, m, 1, 1, 1, 1, 1, 1, 0, 0}; }

}  // namespace

extern "C" int cgk_bias_backward(const float* dy, float* db, int n, int c, int hw);

extern "C" {

int cgk_linear_forward(const float* x, const float* w, const float* bias, float* y, int n, int in, int out) {
  const char* fn = "cgk_linear_forward";
  CGK_READY(fn);
  CGK_REQUIRE(x && w && y, fn, "x, w and y must not be NULL");
  if (int st = check_dims(fn, n, in, out)) return st;
  return conv_gemm(fn, ConvKind::Fwd, dense(n, in, out), w, x, bias, y);
}

int cgk_linear_backward_data(const float* dy, const float* w, float* dx, int n, int in, int out) {
  const char* fn = "cgk_linear_backward_data";
  CGK_READY(fn);
  CGK_REQUIRE(dy && w && dx, fn, "dy, w and dx must not be NULL");
  if (int st = check_dims(fn, n, in, out)) return st;
  // dx[n, in] = sum_o w[o, in] dy[n, o]: the backward-data GEMM with w read as [c = out, m = in].
  return conv_gemm(fn, ConvKind::Dgrad, dense(n, out, in), w, dy, nullptr, dx);
}

int cgk_linear_backward_weight(const float* x, const float* dy, float* dw, float* db, int n, int in, int out) {
  const char* fn = "cgk_linear_backward_weight";
  CGK_READY(fn);
  CGK_REQUIRE(x && dy && dw, fn, "x, dy and dw must not be NULL");
  if (int st = check_dims(fn, n, in, out)) return st;
  if (int st = conv_gemm(fn, ConvKind::Wgrad, dense(n, in, out), dy, x, nullptr, dw)) return st;
  return db ? cgk_bias_backward(dy, db, n, out, 1) : CGK_OK;
}

}  // extern "C"
