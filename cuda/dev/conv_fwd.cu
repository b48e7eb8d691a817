// Convolution kernel variants on the CycleGAN's layer shapes, llm.c style: each variant is
// validated against a plain CPU reference (double, on a random sample of outputs), then timed
// with CUDA events; the table gives ms and GFLOP/s per variant and layer.
//
//   variant 1: direct convolution, one thread per output (the baseline any tiling must beat)
//   variant 2: the library's SIMT FP32 implicit GEMM (64x64x16 tiles, register prefetch)
//   variant 3: the library's 64x64 TF32 tensor-core implicit GEMM (mma.sync m16n8k8), sm_80+
//   variant 4: the 128x128 TF32 engine with the cp.async pipeline (conv_tc.cuh), rounded operands
//   variant 5: variant 4 with truncated operands (no cvt.rna in the inner loop)
//   variant 6: the skinny SIMT engine for GEMMs of at most 8 rows (3-channel heads, 1-channel
//              outputs), the automatic choice there
//   variant 7: variant 4 with BF16 operands (mma.sync m16n8k16)
//   variant 8: the BF16 engine (conv_bf16.cuh: packed BF16 pairs in shared memory, register-
//              staged gathers; the automatic choice under --precision bf16)
//   variant 9: the Hopper engine (conv_wgmma.cuh: wgmma m64n128k8, TF32 as stored; two
//              warpgroups on 128-row tiles where variant 4 takes 128 rows, else one), compute
//              capability 9.0 and an sm_90a build only
//   variant 10: the direct engine (conv_direct.cuh: stride-1 convolutions of at most 8 output
//              channels from shared-memory tiles, exact FP32), the automatic choice where it applies
//   variant 11: forward only, an experiment: the tc-nhwc engine, variant 4's kernel reading its
//              input in NHWC order (conv_tc.cuh, NHWC), so its B slices come in 16-byte copies
//              along the channels instead of 4-byte gathers; the weight as [M][kh][kw][C]; needs
//              C % 32 == 0. Timed as the product runs it: the NCHW -> NHWC copy of the input and
//              the weight's reorder on every call. Variant 12: its GEMM alone, on an input already
//              in NHWC (what it would cost once the producer of the input writes NHWC).
// Passes: forward, backward-data and backward-weight (variants 2-5, 7 and 8; split-K where the
// output tiles alone would not fill the GPU). Variants 4, 5, 7 and 8 run only on GEMMs those
// engines take.
// Then a sweep of variant 4 over forced split-K counts (1, 2, 4, 8, 16), to tune the automatic
// choice (conv_tc.cuh, tc_plan), and one of variant 10 (its channel or unit splits) where it runs.
//
// Build and run (from the repository root; any arch from 75 up, sm_90a for variant 9):
//   nvcc -std=c++17 -O3 -arch=sm_90a --expt-relaxed-constexpr -Inative/include -Icuda cuda/dev/conv_fwd.cu cuda/conv_gemm.cu \
//        cuda/conv.cu cuda/conv_wgmma.cu cuda/runtime.cu cuda/reduce.cu cuda/elementwise.cu -o /tmp/conv_fwd && /tmp/conv_fwd [repeats]
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "cgk.h"
#include "conv_gemm.cuh"
#include "conv_index.cuh"
#include "conv_tc.cuh"
#include "conv_wgmma.cuh"

namespace {

#define CHECK_CGK(call)                                                                   \
  do {                                                                                    \
    if ((call) != CGK_OK) {                                                               \
      std::fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, cgk_last_error()); \
      std::exit(2);                                                                       \
    }                                                                                     \
  } while (0)

__global__ void conv_direct_kernel(cgk_conv p, const float* __restrict__ x, const float* __restrict__ w,
                                   float* __restrict__ y) {
  const size_t total = (size_t)p.n * p.c_out * p.h_out * p.w_out;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
    const int ow = (int)(i % p.w_out), oh = (int)((i / p.w_out) % p.h_out);
    const int co = (int)((i / ((size_t)p.w_out * p.h_out)) % p.c_out), n = (int)(i / ((size_t)p.w_out * p.h_out * p.c_out));
    float acc = 0.f;
    for (int ci = 0; ci < p.c_in; ++ci)
      for (int r = 0; r < p.kh; ++r) {
        const int ih = oh * p.sh - p.ph + r;
        if (ih < 0 || ih >= p.h_in) continue;
        for (int s = 0; s < p.kw; ++s) {
          const int iw = ow * p.sw - p.pw + s;
          if (iw < 0 || iw >= p.w_in) continue;
          acc += x[(((size_t)n * p.c_in + ci) * p.h_in + ih) * p.w_in + iw] * w[(((size_t)co * p.c_in + ci) * p.kh + r) * p.kw + s];
        }
      }
    y[i] = acc;
  }
}

struct Layer {
  const char* name;
  cgk_conv p;
};

cgk_conv conv(int n, int ci, int hi, int co, int k, int s, int pad) {
  const int ho = (hi + 2 * pad - k) / s + 1;
  return {n, ci, hi, hi, co, ho, ho, k, k, s, s, pad, pad, 0, 0};
}

std::vector<float> random_vec(size_t n, std::mt19937& rng, float scale) {
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

float* to_device(const std::vector<float>& v) {
  float* d = cgk_alloc(v.size());
  if (!d) {
    std::fprintf(stderr, "alloc: %s\n", cgk_last_error());
    std::exit(2);
  }
  CHECK_CGK(cgk_upload(d, v.data(), v.size()));
  return d;
}

enum class Pass { Forward, BackwardData, BackwardWeight };

// Reference value of one output element of `pass`, in double.
double reference(const cgk_conv& p, Pass pass, const std::vector<float>& x, const std::vector<float>& w,
                 const std::vector<float>& dy, size_t i) {
  double acc = 0;
  if (pass == Pass::Forward) {
    const int ow = i % p.w_out, oh = (i / p.w_out) % p.h_out, co = (i / ((size_t)p.w_out * p.h_out)) % p.c_out;
    const int n = i / ((size_t)p.w_out * p.h_out * p.c_out);
    for (int ci = 0; ci < p.c_in; ++ci)
      for (int r = 0; r < p.kh; ++r)
        for (int s = 0; s < p.kw; ++s) {
          const int ih = oh * p.sh - p.ph + r, iw = ow * p.sw - p.pw + s;
          if (ih < 0 || ih >= p.h_in || iw < 0 || iw >= p.w_in) continue;
          acc += (double)x[(((size_t)n * p.c_in + ci) * p.h_in + ih) * p.w_in + iw] * w[(((size_t)co * p.c_in + ci) * p.kh + r) * p.kw + s];
        }
  } else if (pass == Pass::BackwardData) {
    const int iw = i % p.w_in, ih = (i / p.w_in) % p.h_in, ci = (i / ((size_t)p.w_in * p.h_in)) % p.c_in;
    const int n = i / ((size_t)p.w_in * p.h_in * p.c_in);
    for (int co = 0; co < p.c_out; ++co)
      for (int r = 0; r < p.kh; ++r)
        for (int s = 0; s < p.kw; ++s) {
          const int th = ih + p.ph - r, tw = iw + p.pw - s;
          if (th < 0 || tw < 0 || th % p.sh || tw % p.sw) continue;
          const int oh = th / p.sh, ow = tw / p.sw;
          if (oh >= p.h_out || ow >= p.w_out) continue;
          acc += (double)dy[(((size_t)n * p.c_out + co) * p.h_out + oh) * p.w_out + ow] * w[(((size_t)co * p.c_in + ci) * p.kh + r) * p.kw + s];
        }
  } else {
    const int s = i % p.kw, r = (i / p.kw) % p.kh, ci = (i / ((size_t)p.kw * p.kh)) % p.c_in;
    const int co = i / ((size_t)p.kw * p.kh * p.c_in);
    for (int n = 0; n < p.n; ++n)
      for (int oh = 0; oh < p.h_out; ++oh)
        for (int ow = 0; ow < p.w_out; ++ow) {
          const int ih = oh * p.sh - p.ph + r, iw = ow * p.sw - p.pw + s;
          if (ih < 0 || ih >= p.h_in || iw < 0 || iw >= p.w_in) continue;
          acc += (double)dy[(((size_t)n * p.c_out + co) * p.h_out + oh) * p.w_out + ow] * x[(((size_t)n * p.c_in + ci) * p.h_in + ih) * p.w_in + iw];
        }
  }
  return acc;
}

int failures = 0;

// Every timed run, for the closing table of the fastest variant per layer and pass.
struct Timing {
  std::string layer, pass, label;
  int variant;
  double ms, gflops;
};
std::vector<Timing> timings;

// The implicit GEMM behind a pass of conv2d.
void plan_pass(const cgk_conv& p, Pass pass, cgk_cuda::ConvKind* kind, cgk_cuda::ConvGeom* g) {
  const cgk_cuda::ConvOp op = pass == Pass::Forward        ? cgk_cuda::ConvOp::Conv2dForward
                              : pass == Pass::BackwardData ? cgk_cuda::ConvOp::Conv2dBackwardData
                                                           : cgk_cuda::ConvOp::Conv2dBackwardWeight;
  cgk_cuda::plan_conv(op, &p, kind, g);
}

cgk_cuda::GemmShape pass_shape(const cgk_conv& p, Pass pass) {
  cgk_cuda::ConvKind kind;
  cgk_cuda::ConvGeom g;
  plan_pass(p, pass, &kind, &g);
  return cgk_cuda::gemm_shape(kind, g);
}

// Whether the 128x128 engine runs this pass (else forcing it falls back to another engine).
bool tc_takes(const cgk_conv& p, Pass pass) {
  cgk_cuda::ConvKind kind;
  cgk_cuda::ConvGeom g;
  plan_pass(p, pass, &kind, &g);
  return cgk_cuda::tc::tc_plan(kind, g, cgk_cuda::gemm_shape(kind, g), 132, true).eligible;
}

// Variants 11 and 12: forward passes the tc engine takes, over a multiple of 32 input channels
// (conv_gemm.cu's rule).
bool nhwc_takes(const cgk_conv& p, Pass pass) {
  cgk_cuda::ConvKind kind;
  cgk_cuda::ConvGeom g;
  plan_pass(p, pass, &kind, &g);
  return pass == Pass::Forward && cgk_cuda::conv_nhwc_applies(kind, g) && tc_takes(p, pass);
}

// Whether the direct engine takes the pass (conv_gemm.cu's rule; a backward-data runs as Fwd
// GEMMs by output phase, judged here by its first).
bool direct_takes(const cgk_conv& p, Pass pass) {
  cgk_cuda::ConvKind kind;
  cgk_cuda::ConvGeom g;
  plan_pass(p, pass, &kind, &g);
  if (kind != cgk_cuda::ConvKind::Dgrad) return cgk_cuda::conv_direct_applies(kind, g);
  cgk_cuda::DgradPhases t;
  return cgk_cuda::plan_dgrad_phases(g, &t) &&
         cgk_cuda::conv_direct_applies(cgk_cuda::ConvKind::Fwd, cgk_cuda::dgrad_phase_geometry(g, t, 0, 0));
}

void run_variant(const Layer& L, Pass pass, int variant, const std::vector<float>& x, const std::vector<float>& w,
                 const std::vector<float>& dy, float* dx_, float* dw_, float* ddy, float* dout, int repeats,
                 int splits = 0) {
  const cgk_conv& p = L.p;
  const size_t out_n = pass == Pass::Forward ? (size_t)p.n * p.c_out * p.h_out * p.w_out
                       : pass == Pass::BackwardData ? (size_t)p.n * p.c_in * p.h_in * p.w_in
                                                    : (size_t)p.c_out * p.c_in * p.kh * p.kw;
  // Variant 12: the input in NHWC and the weight with its taps first, made once here.
  float *x_nhwc = nullptr, *w_taps = nullptr;
  cgk_cuda::ConvKind kind12;
  cgk_cuda::ConvGeom g12;
  if (variant == 12) {
    plan_pass(p, pass, &kind12, &g12);
    x_nhwc = cgk_alloc(x.size());
    w_taps = cgk_alloc(w.size());
    cgk_cuda::nchw_to_nhwc(dx_, x_nhwc, p.n, p.c_in, p.h_in * p.w_in);
    cgk_cuda::weight_taps_last(dw_, w_taps, p.c_out, p.c_in, p.kh * p.kw);
  }
  auto launch = [&]() {
    if (variant == 1) {
      conv_direct_kernel<<<1024, 256, 0, cgk_cuda::stream()>>>(p, dx_, dw_, dout);
      return;
    }
    if (variant == 12) {
      CHECK_CGK(cgk_cuda::conv_fwd_nhwc("conv_fwd", g12, w_taps, x_nhwc, nullptr, dout, 0, 0));
      return;
    }
    cgk_cuda::conv_gemm_force_engine(variant - 2);
    cgk_cuda::conv_gemm_force_splits(splits);
    if (pass == Pass::Forward) CHECK_CGK(cgk_conv2d_forward(&p, dx_, dw_, nullptr, dout));
    else if (pass == Pass::BackwardData) CHECK_CGK(cgk_conv2d_backward_data(&p, ddy, dw_, dout));
    else CHECK_CGK(cgk_conv2d_backward_weight(&p, dx_, ddy, dout));
  };
  CHECK_CGK(cgk_fill(dout, NAN, out_n));  // poison: an unwritten output fails validation
  launch();
  CHECK_CGK(cgk_sync());
  std::vector<float> got(out_n);
  CHECK_CGK(cgk_download(got.data(), dout, out_n));
  // Validate a fixed random sample of outputs (the full reference would take minutes on the CPU).
  std::mt19937 pick(7);
  double max_rel = 0, scale = 1e-30;
  std::vector<std::pair<size_t, double>> refs;
  for (int t = 0; t < 400; ++t) {
    const size_t i = pick() % out_n;
    const double r = reference(p, pass, x, w, dy, i);
    refs.push_back({i, r});
    scale = std::fmax(scale, std::fabs(r));
  }
  for (auto& [i, r] : refs) max_rel = std::fmax(max_rel, std::isnan(got[i]) ? INFINITY : std::fabs(got[i] - r) / scale);
  // TF32 keeps 10 mantissa bits, BF16 7: about 8x the rounding.
  const double bound = variant == 7 || variant == 8   ? 2e-2
                       : variant == 9 || variant >= 11 ? 5e-3
                       : variant >= 3 && variant <= 5  ? 5e-3
                                                       : 1e-4;  // 10: FP32
  const bool ok = max_rel <= bound;
  if (!ok) ++failures;
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  launch();  // warm-up
  cudaEventRecord(start, cgk_cuda::stream());
  for (int r = 0; r < repeats; ++r) launch();
  cudaEventRecord(stop, cgk_cuda::stream());
  cudaEventSynchronize(stop);
  float ms = 0;
  cudaEventElapsedTime(&ms, start, stop);
  ms /= repeats;
  const double flops = 2.0 * p.n * p.c_out * p.h_out * p.w_out * (double)p.c_in * p.kh * p.kw;
  const char* pass_name = pass == Pass::Forward ? "fwd" : pass == Pass::BackwardData ? "bwd-data" : "bwd-weight";
  char label[32];
  if (splits > 0) std::snprintf(label, sizeof label, "variant %d split %-2d", variant, splits);
  else std::snprintf(label, sizeof label, "variant %d", variant);
  std::printf("%-4s %-28s %-10s %-18s  %9.4f ms  %9.1f GFLOP/s  max err/max|ref| %.1e\n", ok ? "ok" : "FAIL", L.name,
              pass_name, label, ms, flops / (ms * 1e6), max_rel);
  if (ok) timings.push_back({L.name, pass_name, label, variant, ms, flops / (ms * 1e6)});
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  if (x_nhwc) cgk_free(x_nhwc);
  if (w_taps) cgk_free(w_taps);
}

}  // namespace

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::atoi(argv[1]) : 20;
  // `small`: the same layers at batch 2 and 64px instead of 256px, for the CPU emulator
  // (node scripts/build-cuda-emu.js --program cuda/dev/conv_fwd.cu), which checks this program
  // itself before GPU time is spent on it.
  const bool small = argc > 2 && std::string(argv[2]) == "small";
  const int b32 = small ? 2 : 128, s256 = small ? 64 : 256;
  if (cgk_init(0) != CGK_OK) {
    std::fprintf(stderr, "conv_fwd: %s\n", cgk_last_error());
    return 2;
  }
  const bool tensor_cores = cgk_cuda::device_props().major >= 8;
  // Variant 9 needs compute capability 9.0 and wgmma code (an sm_90a build, or the emulator).
  const bool hopper_build = cgk_cuda::wg::available();
  if (!hopper_build) std::printf("variant 9 (wgmma) skipped: %s\n", cgk_cuda::device_props().major == 9 ? "this build has no sm_90a code" : "not compute capability 9.0");
  std::printf("%s\n", cgk_device_info());
  const Layer layers[] = {
      {"32px b128 stem 7x7 3->64", conv(b32, 3, 38, 64, 7, 1, 0)},
      {"32px b128 down 3x3s2 64->128", conv(b32, 64, 32, 128, 3, 2, 1)},
      {"32px b128 res 3x3 256", conv(b32, 256, 10, 256, 3, 1, 0)},
      {"32px b128 D 4x4s2 3->64", conv(b32, 3, 32, 64, 4, 2, 1)},
      {"32px b128 D 4x4s2 64->128", conv(b32, 64, 16, 128, 4, 2, 1)},
      {"32px b128 D 4x4s1 256->512", conv(b32, 256, 4, 512, 4, 1, 1)},
      {"32px b128 D 4x4s1 512->1", conv(b32, 512, 3, 1, 4, 1, 1)},
      {"32px b128 head 7x7 64->3", conv(b32, 64, 38, 3, 7, 1, 0)},
      {"256px b1 stem 7x7 3->64", conv(1, 3, s256 + 6, 64, 7, 1, 0)},
      {"256px b1 down 3x3s2 64->128", conv(1, 64, s256, 128, 3, 2, 1)},
      {"256px b1 res 3x3 256", conv(1, 256, s256 / 4 + 2, 256, 3, 1, 0)},
      {"256px b1 D 4x4s1 512->1", conv(1, 512, s256 / 8 - 1, 1, 4, 1, 1)},
      {"256px b1 head 7x7 64->3", conv(1, 64, s256 + 6, 3, 7, 1, 0)},
  };
  std::mt19937 rng(42);
  for (const Layer& L : layers) {
    const cgk_conv& p = L.p;
    const auto x = random_vec((size_t)p.n * p.c_in * p.h_in * p.w_in, rng, 1.f);
    const auto w = random_vec((size_t)p.c_out * p.c_in * p.kh * p.kw, rng, 0.1f);
    const auto dy = random_vec((size_t)p.n * p.c_out * p.h_out * p.w_out, rng, 1.f);
    float *dx = to_device(x), *dw = to_device(w), *ddy = to_device(dy);
    const size_t out_max = std::max({dy.size(), x.size(), w.size()});
    float* dout = cgk_alloc(out_max);
    for (Pass pass : {Pass::Forward, Pass::BackwardData, Pass::BackwardWeight}) {
      for (int variant = 1; variant <= 12; ++variant) {
        if (variant == 1 && pass != Pass::Forward) continue;
        if ((variant == 3 || variant == 4 || variant == 5 || (variant >= 7 && variant <= 9)) && !tensor_cores) continue;
        if ((variant == 4 || variant == 5 || (variant >= 7 && variant <= 9)) && !tc_takes(p, pass)) continue;
        if (variant == 9 && !hopper_build) continue;
        if (variant == 6 && pass_shape(p, pass).M > 8) continue;
        if (variant == 10 && !direct_takes(p, pass)) continue;
        if (variant >= 11 && (!tensor_cores || !nhwc_takes(p, pass))) continue;
        run_variant(L, pass, variant, x, w, dy, dx, dw, ddy, dout, repeats);
      }
    }
    if (tensor_cores)
      for (Pass pass : {Pass::Forward, Pass::BackwardData, Pass::BackwardWeight}) {
        if (!tc_takes(p, pass)) continue;
        for (int splits : {1, 2, 4, 8, 16}) run_variant(L, pass, 4, x, w, dy, dx, dw, ddy, dout, repeats, splits);
      }
    for (Pass pass : {Pass::Forward, Pass::BackwardData, Pass::BackwardWeight})
      if (direct_takes(p, pass))
        for (int splits : {1, 2, 4, 8, 16}) run_variant(L, pass, 10, x, w, dy, dx, dw, ddy, dout, repeats, splits);
    cgk_free(dx);
    cgk_free(dw);
    cgk_free(ddy);
    cgk_free(dout);
  }
  cgk_cuda::conv_gemm_force_engine(-1);
  cgk_cuda::conv_gemm_force_splits(0);
  // Per layer and pass: the fastest validated run, and the TF32 default (variant 4, automatic
  // splits), the BF16 default (variant 8) and the Hopper engine (variant 9) against it.
  std::printf("\nfastest per layer and pass (validated runs; tc = variant 4, bf16 = variant 8, wgmma = variant 9):\n");
  for (size_t i = 0; i < timings.size(); ++i) {
    bool first = true;
    for (size_t j = 0; j < i; ++j) first = first && !(timings[j].layer == timings[i].layer && timings[j].pass == timings[i].pass);
    if (!first) continue;
    const Timing* best = nullptr;
    double tc_ms = 0, bf16_ms = 0, wgmma_ms = 0;
    for (const Timing& t : timings) {
      if (t.layer != timings[i].layer || t.pass != timings[i].pass) continue;
      if (!best || t.ms < best->ms) best = &t;
      if (t.label == "variant 4") tc_ms = t.ms;
      if (t.label == "variant 8") bf16_ms = t.ms;
      if (t.label == "variant 9") wgmma_ms = t.ms;
    }
    std::printf("  %-28s %-10s %-18s %9.4f ms %9.1f GFLOP/s", best->layer.c_str(), best->pass.c_str(), best->label.c_str(),
                best->ms, best->gflops);
    if (tc_ms > 0) std::printf("   tc %.2fx", tc_ms / best->ms);
    if (bf16_ms > 0) std::printf("   bf16 %.2fx", bf16_ms / best->ms);
    if (wgmma_ms > 0) std::printf("   wgmma %.2fx", wgmma_ms / best->ms);
    std::printf("\n");
  }
  std::printf("%s\n", failures ? "conv_fwd: validation FAILED" : "conv_fwd: all variants validated");
  return failures ? 1 : 0;
}
