// Runs the tensor-core convolution engine (cuda/conv_tc.cuh) on the CPU emulator of
// cuda/dev/emu and checks every conv/conv-transpose op against the direct definitions, on
// shapes that exercise partial tiles, strides, padding, the 16-byte and the 4-byte A paths, the
// Wgrad column table, split-K with its finalize kernel, both TF32 modes and BF16 operands
// (m16n8k16 fragments); and the BF16 engine of conv_bf16.cuh (packed pairs in shared memory,
// register-staged gathers) and the Hopper engine of conv_wgmma.cuh (warpgroup MMAs from
// shared-memory descriptors; one warpgroup on 64-row tiles, two on 128-row ones) on the same
// cases. The reference multiplies the same rounded operands
// in double, so the bound is the FP32 accumulation's (2e-5 of the sum of |terms|), and a single
// misplaced operand fails. Each line also gives the shared-memory bank conflicts of the main
// kernel's cp.async stores (wavefronts per conflict-free wavefront, emu::smem_store_stats); the
// wgmma engine's stores must be conflict-free.
//
// Build and run (from the repository root; g++ and the CUDA headers, no GPU):
//   g++ -std=c++17 -O2 -DCGK_CUDA_EMU -include cuda/dev/emu/cuda_emu.h -I/usr/local/cuda/include \
//       -Inative/include -Icuda cuda/dev/emu/conv_tc_check.cc cuda/dev/emu/cuda_emu.cc -o /tmp/conv_tc_check
//   /tmp/conv_tc_check
// test/gpu/conv-emulator.test.ts does this in `npm test` where the CUDA headers are installed.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "conv_bf16.cuh"
#include "conv_wgmma.cuh"
#include "dev/conv_reference.h"

using namespace cgk_cuda;
using namespace conv_ref;

namespace {

int failures = 0, runs = 0;

// The packed BF16 engine (conv_bf16.cuh): BF16 operands like tc::kBf16.
constexpr int kPacked = 3;
// The wgmma engine (conv_wgmma.cuh): TF32 operands as stored (truncated); 64-row tiles (one
// warpgroup) or 128-row ones (two).
constexpr int kWgmma = 4;

// x as the tensor cores see it: TF32 rounded (ties away) or truncated, or BF16 rounded to
// nearest even (finite inputs).
float operand(float x, int prec) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if (prec == tc::kBf16 || prec == kPacked) {
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  } else {
    if (prec == tc::kTf32) u += 0x1000u;
    u &= 0xffffe000u;
  }
  std::memcpy(&x, &u, 4);
  return x;
}

const char* prec_name(int prec) {
  return prec == kWgmma    ? "wgmma trunc"
         : prec == kPacked ? "bf16 packed"
         : prec == tc::kBf16 ? "bf16"
         : prec == tc::kTf32 ? "rna"
                             : "trunc";
}

Vec rounded(const Vec& v, int prec) {
  Vec r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = operand(v[i], prec);
  return r;
}

// Returns the bank-conflict statistics of the main kernel's cp.async stores.
template <ConvKind KIND, int PREC, int BM>
emu::StoreStats launch(const tc::Plan& plan, const ConvGeom& geom, const float* A, const float* in, const float* bias,
                       float* out) {
  const ConvIndex ix = make_index(geom);
  const GemmShape s = gemm_shape(KIND, geom);
  std::vector<float> partials;
  float* target = out;
  if (plan.splits > 1) {
    partials.assign((size_t)plan.splits * s.M * s.N, NAN);
    target = partials.data();
  }
  constexpr int kStages = 3;
  emu::reset_smem_store_stats();
  if constexpr (PREC == kWgmma) {
    using T = wg::Tile<BM / 64>;
    emu::launch(dim3(plan.gx, (s.M + BM - 1) / BM, plan.splits), dim3(T::kThreads), T::kSmemBytes, [&] {
      wg::conv_wgmma_kernel<KIND, BM / 64>(ix, s, A, in, bias, target, plan.k_per_split, plan.a_vec);
    });
  } else if constexpr (PREC == kPacked) {
    emu::launch(dim3(plan.gx, plan.gy, plan.splits), dim3(bf::kThreads), bf::smem_bytes(BM), [&] {
      bf::conv_bf16_kernel<KIND, BM>(ix, s, A, in, bias, target, plan.k_per_split, plan.a_vec);
    });
  } else {
    emu::launch(dim3(plan.gx, plan.gy, plan.splits), dim3(tc::kThreads), tc::smem_bytes(kStages, BM), [&] {
      tc::conv_tc_kernel<KIND, kStages, PREC, BM>(ix, s, A, in, bias, target, plan.k_per_split, plan.a_vec);
    });
  }
  const emu::StoreStats stores = emu::smem_store_stats();
  if (plan.splits > 1)
    emu::launch(dim3(3), dim3(64), 0, [&] { tc::finalize_kernel<KIND>(ix, s, partials.data(), plan.splits, bias, out); });
  return stores;
}

// Runs op through the engine; false when the engine does not take this GEMM.
// bm: the tile height, 0 for the plan's.
bool run_op(ConvOp op, const cgk_conv& p, const float* A, const float* in, const float* bias, float* out, int prec,
            int sm_count, int bm, std::string* how, emu::StoreStats* stores) {
  ConvKind kind;
  ConvGeom g;
  plan_conv(op, &p, &kind, &g);
  const GemmShape s = gemm_shape(kind, g);
  tc::Plan plan = tc::tc_plan(kind, g, s, sm_count, /*a_aligned16=*/true);
  if (!plan.eligible) return false;
  if (bm) {
    plan.bm = bm;
    plan.gy = (unsigned)((s.M + bm - 1) / bm);
  }
  char buf[160];
  std::snprintf(buf, sizeof buf, "GEMM %dx%dx%d, %d-row tiles %ux%ux%d, A %s, %s", s.M, s.N, s.K, plan.bm, plan.gx, plan.gy,
                plan.splits, plan.a_vec ? "16B" : "4B", prec_name(prec));
  *how = buf;
  auto go = [&](auto kind_tag) {
    constexpr ConvKind K = decltype(kind_tag)::value;
    auto with_bm = [&](auto bm_tag) {
      constexpr int BM = decltype(bm_tag)::value;
      if (prec == kWgmma) *stores = launch<K, kWgmma, BM>(plan, g, A, in, bias, out);
      else if (prec == kPacked) *stores = launch<K, kPacked, BM>(plan, g, A, in, bias, out);
      else if (prec == tc::kBf16) *stores = launch<K, tc::kBf16, BM>(plan, g, A, in, bias, out);
      else if (prec == tc::kTf32) *stores = launch<K, tc::kTf32, BM>(plan, g, A, in, bias, out);
      else *stores = launch<K, tc::kTf32Trunc, BM>(plan, g, A, in, bias, out);
    };
    if (plan.bm == 64) with_bm(std::integral_constant<int, 64>{});
    else with_bm(std::integral_constant<int, 128>{});
  };
  if (kind == ConvKind::Fwd) go(std::integral_constant<ConvKind, ConvKind::Fwd>{});
  else if (kind == ConvKind::Dgrad) go(std::integral_constant<ConvKind, ConvKind::Dgrad>{});
  else go(std::integral_constant<ConvKind, ConvKind::Wgrad>{});
  return true;
}

// conflict_free: the stores must take no more wavefronts than without conflicts.
void compare(const char* what, const cgk_conv& p, const std::string& how, const Vec& got,
             const std::vector<double>& want, const std::vector<double>& magnitude, const emu::StoreStats& stores,
             bool conflict_free) {
  double worst = 0;
  size_t bad = 0, first_bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double err = std::isnan(got[i]) ? INFINITY : std::fabs(got[i] - want[i]);
    const double bound = 2e-5 * magnitude[i] + 1e-30;
    worst = std::fmax(worst, err / (magnitude[i] + 1e-30));
    if (!(err <= bound) && bad++ == 0) first_bad = i;
  }
  ++runs;
  const double conflicts = stores.ideal ? (double)stores.wavefronts / stores.ideal : 1.0;
  const bool conflicted = conflict_free && stores.wavefronts > stores.ideal;
  if (bad || conflicted) ++failures;
  std::printf("%-4s %-32s n%d c%d->%d %dx%d k%dx%d s%d p%d  %s  err/sum|terms| %.1e  smem stores x%.2f", bad || conflicted ? "FAIL" : "ok",
              what, p.n, p.c_in, p.c_out, p.h_in, p.w_in, p.kh, p.kw, p.sh, p.ph, how.c_str(), worst, conflicts);
  if (bad) std::printf("  (%zu wrong; [%zu] = %g, expected %g)", bad, first_bad, got[first_bad], want[first_bad]);
  if (conflicted) std::printf("  (bank conflicts: %llu wavefronts for %llu)", stores.wavefronts, stores.ideal);
  std::printf("\n");
  std::fflush(stdout);
}

void check(const cgk_conv& p, bool transpose, std::mt19937& rng) {
  const size_t xn = (size_t)p.n * p.c_in * p.h_in * p.w_in, yn = (size_t)p.n * p.c_out * p.h_out * p.w_out;
  const size_t wn = (size_t)p.c_out * p.c_in * p.kh * p.kw;
  const Vec x = random_vec(xn, rng), w = random_vec(wn, rng), dy = random_vec(yn, rng);
  const Vec bias_y = random_vec(p.c_out, rng);
  struct Mode {
    int prec;      // tc::Prec
    int sm_count;  // 1: no split; 4096: split as deep as the plan allows
    int bm;        // tile rows; 0: the plan's
  };
  for (const Mode mode : {Mode{tc::kTf32, 1, 0}, Mode{tc::kTf32Trunc, 1, 0}, Mode{tc::kTf32, 4096, 0},
                          Mode{tc::kBf16, 1, 0}, Mode{tc::kBf16, 4096, 0}, Mode{kPacked, 1, 0}, Mode{kPacked, 4096, 0},
                          Mode{kWgmma, 1, 64}, Mode{kWgmma, 4096, 64}, Mode{kWgmma, 1, 128}, Mode{kWgmma, 4096, 128}}) {
    const Vec xr = rounded(x, mode.prec), wr = rounded(w, mode.prec), dyr = rounded(dy, mode.prec);
    std::vector<double> y(yn, 0), dx(xn, 0), dw(wn, 0), y_abs(yn, 0), dx_abs(xn, 0), dw_abs(wn, 0);
    visit_terms(p, transpose, [&](size_t xi, size_t yi, size_t wi) {
      y[yi] += (double)xr[xi] * wr[wi];
      dx[xi] += (double)dyr[yi] * wr[wi];
      dw[wi] += (double)dyr[yi] * xr[xi];
      y_abs[yi] += std::fabs((double)xr[xi] * wr[wi]);
      dx_abs[xi] += std::fabs((double)dyr[yi] * wr[wi]);
      dw_abs[wi] += std::fabs((double)dyr[yi] * xr[xi]);
    });
    for (size_t i = 0; i < yn; ++i) {
      const int co = (int)((i / ((size_t)p.h_out * p.w_out)) % p.c_out);
      y[i] += bias_y[co];
      y_abs[i] += std::fabs(bias_y[co]);
    }
    struct Op {
      const char* name;
      ConvOp op;
      const Vec& A;
      const Vec& in;
      const float* bias;
      const std::vector<double>& want;
      const std::vector<double>& magnitude;
    };
    const Op ops[] = {
        {"conv2d forward", ConvOp::Conv2dForward, w, x, bias_y.data(), y, y_abs},
        {"conv2d backward-data", ConvOp::Conv2dBackwardData, w, dy, nullptr, dx, dx_abs},
        {"conv2d backward-weight", ConvOp::Conv2dBackwardWeight, dy, x, nullptr, dw, dw_abs},
        {"conv-transpose2d forward", ConvOp::ConvT2dForward, w, x, bias_y.data(), y, y_abs},
        {"conv-transpose2d backward-data", ConvOp::ConvT2dBackwardData, w, dy, nullptr, dx, dx_abs},
        {"conv-transpose2d backward-weight", ConvOp::ConvT2dBackwardWeight, x, dy, nullptr, dw, dw_abs},
    };
    for (const Op& op : ops) {
      const bool is_t = op.op == ConvOp::ConvT2dForward || op.op == ConvOp::ConvT2dBackwardData ||
                        op.op == ConvOp::ConvT2dBackwardWeight;
      if (is_t != transpose) continue;
      Vec got(op.want.size(), NAN);
      std::string how;
      emu::StoreStats stores;
      if (!run_op(op.op, p, op.A.data(), op.in.data(), op.bias, got.data(), mode.prec, mode.sm_count, mode.bm, &how, &stores))
        continue;
      compare(op.name, p, how, got, op.want, op.magnitude, stores, mode.prec == kWgmma);
    }
  }
}

}  // namespace

int main() {
  std::mt19937 rng(2026);
  // Residual 3x3 (16-byte A forward; partial row and column tiles; 72 rows: one 128-row tile).
  check(conv(2, 64, 10, 10, 72, 3, 3, 1, 1, 0, 0), false, rng);
  // Stride 2 with odd sizes (the Dgrad stride test); the forward's 136 rows as three 64-row tiles.
  check(conv(2, 64, 9, 8, 136, 3, 3, 2, 2, 1, 1), false, rng);
  // 7x7 stem: K = 147 (4-byte A path, partial slice); its backward-data (M = 3) is not taken.
  check(conv(1, 3, 14, 14, 64, 7, 7, 1, 1, 0, 0), false, rng);
  // Discriminator 4x4 stride 2: Wgrad over 3x3 planes (4-byte A path).
  check(conv(2, 64, 6, 6, 128, 4, 4, 2, 2, 1, 1), false, rng);
  // Several column tiles whose pixels cross sample boundaries.
  check(conv(3, 64, 12, 12, 64, 3, 3, 1, 1, 1, 1), false, rng);
  // A reduction over 512 pixels, so the weight gradient splits too; 64 rows: 64-row tiles.
  check(conv(8, 64, 8, 8, 64, 3, 3, 1, 1, 1, 1), false, rng);
  // Conv-transpose with output padding (the generator's upsampling).
  check(conv_t(2, 72, 4, 5, 64, 3, 3, 2, 2, 1, 1, 1, 1), true, rng);
  std::printf("%s (%d runs)\n", failures ? "conv_tc emulator check FAILED" : "conv_tc emulator check passed", runs);
  return failures ? 1 : 0;
}
