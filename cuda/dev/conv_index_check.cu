// Checks the index math of the implicit-GEMM convolution (cuda/conv_index.cuh) on the HOST: every
// conv/conv-transpose op is computed as a plain GEMM through the same plan_conv, load_a, load_b
// and output_offset the kernels use (and a strided backward-data also by output phase, through
// plan_dgrad_phases, dgrad_phase_index and dgrad_phase_geometry), and compared with a direct
// convolution written from PyTorch's definitions. Needs no GPU, so a machine with only nvcc
// catches mapping bugs.
//
// Build and run (from the repository root):
//   nvcc -std=c++17 -O2 -Inative/include -Icuda cuda/dev/conv_index_check.cu -o /tmp/conv_index_check && /tmp/conv_index_check
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "conv_index.cuh"
#include "dev/conv_reference.h"

using namespace cgk_cuda;
using namespace conv_ref;

namespace {

// out = GEMM through the kernels' index functions (no bias), into `out` where it writes.
template <ConvKind KIND>
void gemm_via_index(const ConvGeom& geom, const float* A, const float* in, Vec& out) {
  const ConvIndex g = make_index(geom);
  const GemmShape s = gemm_shape(KIND, g);
  for (int col = 0; col < s.N; ++col) {
    const Column cl = decode_column<KIND>(g, col, s.N);
    for (int m = 0; m < s.M; ++m) {
      double acc = 0;
      for (int k = 0; k < s.K; ++k) acc += (double)load_a<KIND>(g, A, m, k, s.K) * load_b<KIND>(g, in, cl, k);
      const size_t at = output_offset(KIND, g, s, m, col);
      if (!std::isnan(out[at])) out[at] = INFINITY;  // written twice: fails the comparison
      else out[at] = (float)acc;
    }
  }
}

Vec run_plan(ConvOp op, const cgk_conv& p, const float* A, const float* in, size_t out_size) {
  ConvKind kind;
  ConvGeom g;
  plan_conv(op, &p, &kind, &g);
  Vec out(out_size, NAN);
  if (kind == ConvKind::Fwd) gemm_via_index<ConvKind::Fwd>(g, A, in, out);
  else if (kind == ConvKind::Dgrad) gemm_via_index<ConvKind::Dgrad>(g, A, in, out);
  else gemm_via_index<ConvKind::Wgrad>(g, A, in, out);
  return out;
}

// A strided Dgrad op by output phase, as conv_gemm.cu runs it: the weight repacked through
// dgrad_phase_index, then one placed Fwd GEMM per phase. Empty where the phases do not apply.
Vec run_phases(ConvOp op, const cgk_conv& p, const float* A, const float* in, size_t out_size) {
  ConvKind kind;
  ConvGeom g;
  plan_conv(op, &p, &kind, &g);
  DgradPhases t;
  if (kind != ConvKind::Dgrad || !plan_dgrad_phases(g, &t)) return {};
  Vec w((size_t)t.total, NAN);
  const long long n = (long long)g.C * g.M * g.kh * g.kw;
  for (long long i = 0; i < n; ++i) w[(size_t)dgrad_phase_index(t, g, i)] = A[i];
  Vec out(out_size, NAN);
  for (int a = 0; a < g.sh; ++a)
    for (int b = 0; b < g.sw; ++b) {
      const ConvGeom ph = dgrad_phase_geometry(g, t, a, b);
      if (ph.Ho > 0 && ph.Wo > 0) gemm_via_index<ConvKind::Fwd>(ph, w.data() + t.offset[a * g.sw + b], in, out);
    }
  return out;
}

int failures = 0;

void compare(const char* what, const cgk_conv& p, const Vec& got, const std::vector<double>& want) {
  double max_err = 0, scale = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    scale = std::fmax(scale, std::fabs(want[i]));
    const double e = std::isnan(got[i]) ? INFINITY : std::fabs(got[i] - want[i]);
    max_err = std::fmax(max_err, e);
  }
  const bool ok = max_err <= 1e-5 * (scale + 1);
  if (!ok) ++failures;
  std::printf("%-4s %-34s n%d c%d->%d %dx%d -> %dx%d k%dx%d s%dx%d p%dx%d op%dx%d  max err %.2e\n", ok ? "ok" : "FAIL",
              what, p.n, p.c_in, p.c_out, p.h_in, p.w_in, p.h_out, p.w_out, p.kh, p.kw, p.sh, p.sw, p.ph, p.pw, p.oph,
              p.opw, max_err);
}

void check(cgk_conv p, bool transpose, std::mt19937& rng) {
  const size_t xn = (size_t)p.n * p.c_in * p.h_in * p.w_in, yn = (size_t)p.n * p.c_out * p.h_out * p.w_out;
  const size_t wn = (size_t)p.c_out * p.c_in * p.kh * p.kw;
  const Vec x = random_vec(xn, rng), w = random_vec(wn, rng), dy = random_vec(yn, rng);
  std::vector<double> y(yn, 0), dx(xn, 0), dw(wn, 0);
  visit_terms(p, transpose, [&](size_t xi, size_t yi, size_t wi) {
    y[yi] += (double)x[xi] * w[wi];
    dx[xi] += (double)dy[yi] * w[wi];
    dw[wi] += (double)dy[yi] * x[xi];
  });
  if (!transpose) {
    compare("conv2d forward", p, run_plan(ConvOp::Conv2dForward, p, w.data(), x.data(), yn), y);
    compare("conv2d backward-data", p, run_plan(ConvOp::Conv2dBackwardData, p, w.data(), dy.data(), xn), dx);
    const Vec by_phase = run_phases(ConvOp::Conv2dBackwardData, p, w.data(), dy.data(), xn);
    if (!by_phase.empty()) compare("conv2d backward-data by phase", p, by_phase, dx);
    compare("conv2d backward-weight", p, run_plan(ConvOp::Conv2dBackwardWeight, p, dy.data(), x.data(), wn), dw);
  } else {
    compare("conv-transpose2d forward", p, run_plan(ConvOp::ConvT2dForward, p, w.data(), x.data(), yn), y);
    const Vec by_phase = run_phases(ConvOp::ConvT2dForward, p, w.data(), x.data(), yn);
    if (!by_phase.empty()) compare("conv-transpose2d forward by phase", p, by_phase, y);
    compare("conv-transpose2d backward-data", p, run_plan(ConvOp::ConvT2dBackwardData, p, w.data(), dy.data(), xn), dx);
    compare("conv-transpose2d backward-weight", p, run_plan(ConvOp::ConvT2dBackwardWeight, p, x.data(), dy.data(), wn), dw);
  }
}

}  // namespace

// FastDiv against the hardware division: every divisor the convolutions use (kernel sizes,
// planes, strides) and numerators across the whole valid range [0, 2^31).
void check_fast_div(std::mt19937& rng) {
  long bad = 0, checked = 0;
  std::vector<uint32_t> divisors;
  for (uint32_t d = 1; d <= 4096; ++d) divisors.push_back(d);
  for (uint32_t d : {65536u, 66049u, 262144u, 1000003u, 16777216u, 2147483647u}) divisors.push_back(d);
  std::uniform_int_distribution<int> any(0, 2147483647);
  for (uint32_t d : divisors) {
    const FastDiv f(d);
    auto one = [&](int n) {
      ++checked;
      if (f.div(n) != (int)((uint32_t)n / d)) {
        if (bad++ < 5) std::printf("FastDiv(%u).div(%d) = %d, expected %u\n", d, n, f.div(n), (uint32_t)n / d);
      }
    };
    for (int n = 0; n < 3000; ++n) one(n);
    for (int n : {2147483647, 2147483646, 2147483647 - (int)d, (int)(2147483647u / d * d), (int)(2147483647u / d * d) - 1}) one(n);
    for (int t = 0; t < 2000; ++t) one(any(rng));
  }
  if (bad) ++failures;
  std::printf("%-4s FastDiv: %ld divisions checked, %ld wrong\n", bad ? "FAIL" : "ok", checked, bad);
}

int main() {
  std::mt19937 rng(1234);
  check_fast_div(rng);
  check(conv(2, 3, 10, 10, 4, 7, 7, 1, 1, 0, 0), false, rng);
  check(conv(2, 4, 9, 8, 5, 3, 3, 2, 2, 1, 1), false, rng);
  check(conv(1, 3, 8, 8, 2, 4, 4, 2, 2, 1, 1), false, rng);
  check(conv(2, 3, 5, 6, 1, 4, 4, 1, 1, 1, 1), false, rng);
  check(conv(3, 2, 9, 11, 3, 3, 2, 2, 1, 1, 0), false, rng);
  check(conv(2, 3, 4, 4, 2, 1, 1, 1, 1, 0, 0), false, rng);
  check(conv(2, 3, 9, 10, 4, 3, 3, 2, 2, 2, 2), false, rng);  // a phase with negative padding
  check(conv(1, 2, 13, 11, 3, 5, 4, 3, 2, 2, 1), false, rng);
  check(conv(1, 2, 7, 7, 3, 1, 1, 2, 2, 0, 0), false, rng);   // kernel below the stride: no phases
  check(conv_t(2, 4, 4, 4, 3, 3, 3, 2, 2, 1, 1, 1, 1), true, rng);
  check(conv_t(1, 3, 5, 5, 2, 4, 4, 2, 2, 1, 1, 0, 0), true, rng);
  check(conv_t(2, 2, 3, 4, 3, 3, 2, 3, 2, 0, 1, 2, 1), true, rng);
  check(conv_t(1, 2, 4, 4, 2, 3, 3, 1, 1, 1, 1, 0, 0), true, rng);
  std::printf("%s\n", failures ? "conv index check FAILED" : "conv index check passed");
  return failures ? 1 : 0;
}
