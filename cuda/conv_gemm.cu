// The implicit-GEMM engines behind conv.cu and linear.cu (see conv_gemm.cuh for the three GEMMs).
//
// Both engines stage a BK-deep slice of A and of the gathered operand in shared memory and
// prefetch the next slice into registers while the current one is multiplied, so global-load
// latency hides behind arithmetic. Each thread keeps its A row and its B column fixed for the
// whole reduction, so the expensive index decode of a column (n, ho, wo) or (c, r, s) happens
// once per block, and only the reduction index is decoded per load.
#include <algorithm>
#include <atomic>

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "conv_gemm.cuh"
#include "conv_index.cuh"
#include "conv_bf16.cuh"
#include "conv_direct.cuh"
#include "conv_tune.cuh"
#include "conv_wgmma.cuh"

namespace cgk_cuda {

namespace {

// Engines: -1 automatic, then the ConvEngine values.
enum ConvEngine {
  kSimt = 0, kMma64 = 1, kTc = 2, kTcTrunc = 3, kSkinny = 4, kTcBf16 = 5, kBf16 = 6, kWgmma = 7, kDirect = 8, kTcNhwc = 9
};
std::atomic<int> g_forced_engine{-1};
std::atomic<int> g_forced_splits{0};

// $CGTRAIN_CUDA_CONV picks an engine for every convolution: auto (default), simt, mma64, tc,
// tc-trunc, tc-bf16, bf16, wgmma, skinny, direct, tc-nhwc. An engine that cannot take a GEMM (tensor cores below sm_80, tc with
// fewer than 64 output channels or very large tensors, skinny with more than 8) falls back to the
// automatic choice. Forcing a tensor-core engine implies its operand format whatever the
// precision setting (tc and mma64: TF32; tc-bf16 and bf16: BF16; wgmma: TF32 as stored, on
// compute capability 9.0 only). direct and skinny take GEMMs of at most 8 rows only.
int env_engine() {
  static const int engine = [] {
    const char* v = std::getenv("CGTRAIN_CUDA_CONV");
    if (!v || !*v || !std::strcmp(v, "auto")) return -1;
    if (!std::strcmp(v, "simt")) return (int)kSimt;
    if (!std::strcmp(v, "mma64")) return (int)kMma64;
    if (!std::strcmp(v, "tc")) return (int)kTc;
    if (!std::strcmp(v, "tc-trunc")) return (int)kTcTrunc;
    if (!std::strcmp(v, "skinny")) return (int)kSkinny;
    if (!std::strcmp(v, "tc-bf16")) return (int)kTcBf16;
    if (!std::strcmp(v, "bf16")) return (int)kBf16;
    if (!std::strcmp(v, "wgmma")) return (int)kWgmma;
    if (!std::strcmp(v, "direct")) return (int)kDirect;
    if (!std::strcmp(v, "tc-nhwc")) return (int)kTcNhwc;
    std::fprintf(stderr, "cgtrain: CGTRAIN_CUDA_CONV=%s is not one of auto, simt, mma64, tc, tc-trunc, tc-bf16, bf16, wgmma, skinny, direct, tc-nhwc; using auto\n", v);
    return -1;
  }();
  return engine;
}

// Where a GEMM's kernel writes: `out` itself, or for a split reduction a scratch buffer
// [splits][M][N] whose partials finish() adds into `out` in split order (with the bias).
template <ConvKind KIND>
struct SplitOutput {
  float* partials = nullptr;
  float* target = nullptr;
  int open(int splits, const GemmShape& s, float* out) {
    target = out;
    if (splits <= 1) return CGK_OK;
    partials = scratch_alloc((size_t)splits * s.M * s.N);
    if (!partials) return CGK_ERR_OOM;
    target = partials;
    return CGK_OK;
  }
  void finish(const ConvIndex& ix, const GemmShape& s, int splits, const float* bias, float* out) {
    if (!partials) return;
    tc::finalize_kernel<KIND><<<grid_for((size_t)s.M * s.N), 256, 0, stream()>>>(ix, s, partials, splits, bias, out);
    scratch_free(partials);  // stream order keeps it alive for the kernels above
  }
};

// ---- SIMT FP32 engine: 64x64 tile, BK 16, 256 threads, 4x4 outputs per thread ----------------

constexpr int kSimtBM = 64, kSimtBN = 64, kSimtBK = 16;

template <ConvKind KIND>
__global__ void __launch_bounds__(256) conv_gemm_simt_kernel(ConvIndex g, GemmShape s, const float* __restrict__ A,
                                                              const float* __restrict__ in,
                                                              const float* __restrict__ bias, float* __restrict__ out,
                                                              int k_per_split) {
  // +4 keeps the transposed stores of A from landing in one bank.
  __shared__ float As[kSimtBK][kSimtBM + 4];
  __shared__ float Bs[kSimtBK][kSimtBN + 4];
  const int tid = threadIdx.x;
  const int m0 = blockIdx.y * kSimtBM, n0 = blockIdx.x * kSimtBN;
  const int k_begin = blockIdx.z * k_per_split, k_end = min(s.K, k_begin + k_per_split);

  const int a_row = tid / 4, a_k = (tid % 4) * 4;  // 4 consecutive k of one row: contiguous in A
  const int b_col = tid % 64, b_k = tid / 64;      // one column, k = b_k + 4 i: coalesced along columns
  const bool a_valid = m0 + a_row < s.M;
  const Column cl = decode_column<KIND>(g, n0 + b_col, s.N);

  float a_reg[4], b_reg[4];
  auto fetch = [&](int k0) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int k = k0 + a_k + i;
      a_reg[i] = (a_valid && k < k_end) ? load_a<KIND>(g, A, m0 + a_row, k, s.K) : 0.f;
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int k = k0 + b_k + 4 * i;
      b_reg[i] = (cl.valid && k < k_end) ? load_b<KIND>(g, in, cl, k) : 0.f;
    }
  };

  const int ty = tid / 16, tx = tid % 16;
  float acc[4][4] = {};
  fetch(k_begin);
  for (int k0 = k_begin; k0 < k_end; k0 += kSimtBK) {
#pragma unroll
    for (int i = 0; i < 4; ++i) As[a_k + i][a_row] = a_reg[i];
#pragma unroll
    for (int i = 0; i < 4; ++i) Bs[b_k + 4 * i][b_col] = b_reg[i];
    __syncthreads();
    if (k0 + kSimtBK < k_end) fetch(k0 + kSimtBK);
#pragma unroll
    for (int kk = 0; kk < kSimtBK; ++kk) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = As[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
  const bool split = gridDim.z > 1;
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) store_c<KIND>(g, s, out, bias, m0 + ty + 16 * i, n0 + tx + 16 * j, acc[i][j], split);
}

// ---- TF32 tensor-core engine: 64x64 tile, BK 16, 4 warps of 32x32, mma.sync m16n8k8 ------------
//
// Operands are rounded to TF32 (cvt.rna) once, when they enter shared memory. Rows of 72 floats
// make the fragment reads (lane = 4 g + t reads row t, column g) hit 32 distinct banks.

constexpr int kMmaBM = 64, kMmaBN = 64, kMmaBK = 16, kMmaPad = 8;

__device__ __forceinline__ float to_tf32(float x) { return __uint_as_float(tf32_bits<true>(x)); }

template <ConvKind KIND>
__global__ void __launch_bounds__(128) conv_gemm_tf32_kernel(ConvIndex g, GemmShape s, const float* __restrict__ A,
                                                              const float* __restrict__ in,
                                                              const float* __restrict__ bias, float* __restrict__ out,
                                                              int k_per_split) {
  __shared__ float As[kMmaBK][kMmaBM + kMmaPad];
  __shared__ float Bs[kMmaBK][kMmaBN + kMmaPad];
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int m0 = blockIdx.y * kMmaBM, n0 = blockIdx.x * kMmaBN;
  const int k_begin = blockIdx.z * k_per_split, k_end = min(s.K, k_begin + k_per_split);

  const int a_row = tid / 2, a_k = (tid % 2) * 8;  // 8 consecutive k of one row
  const int b_col = tid % 64, b_k = tid / 64;      // k = b_k + 2 i
  const bool a_valid = m0 + a_row < s.M;
  const Column cl = decode_column<KIND>(g, n0 + b_col, s.N);

  float a_reg[8], b_reg[8];
  auto fetch = [&](int k0) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int k = k0 + a_k + i;
      a_reg[i] = (a_valid && k < k_end) ? load_a<KIND>(g, A, m0 + a_row, k, s.K) : 0.f;
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int k = k0 + b_k + 2 * i;
      b_reg[i] = (cl.valid && k < k_end) ? load_b<KIND>(g, in, cl, k) : 0.f;
    }
  };

  const int wm = (warp / 2) * 32, wn = (warp % 2) * 32;  // the warp's 32x32 sub-tile
  const int gq = lane / 4, tq = lane % 4;
  float acc[2][4][4] = {};
  fetch(k_begin);
  for (int k0 = k_begin; k0 < k_end; k0 += kMmaBK) {
#pragma unroll
    for (int i = 0; i < 8; ++i) As[a_k + i][a_row] = to_tf32(a_reg[i]);
#pragma unroll
    for (int i = 0; i < 8; ++i) Bs[b_k + 2 * i][b_col] = to_tf32(b_reg[i]);
    __syncthreads();
    if (k0 + kMmaBK < k_end) fetch(k0 + kMmaBK);
#pragma unroll
    for (int kk = 0; kk < kMmaBK; kk += 8) {
      uint32_t af[2][4], bf[4][2];
#pragma unroll
      for (int mt = 0; mt < 2; ++mt) {
        const int r = wm + mt * 16 + gq;
        af[mt][0] = __float_as_uint(As[kk + tq][r]);
        af[mt][1] = __float_as_uint(As[kk + tq][r + 8]);
        af[mt][2] = __float_as_uint(As[kk + tq + 4][r]);
        af[mt][3] = __float_as_uint(As[kk + tq + 4][r + 8]);
      }
#pragma unroll
      for (int nt = 0; nt < 4; ++nt) {
        const int c = wn + nt * 8 + gq;
        bf[nt][0] = __float_as_uint(Bs[kk + tq][c]);
        bf[nt][1] = __float_as_uint(Bs[kk + tq + 4][c]);
      }
#pragma unroll
      for (int mt = 0; mt < 2; ++mt)
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) mma_m16n8k8_tf32(acc[mt][nt], af[mt], bf[nt]);
    }
    __syncthreads();
  }
  const bool split = gridDim.z > 1;
#pragma unroll
  for (int mt = 0; mt < 2; ++mt)
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) {
      const int r = m0 + wm + mt * 16 + gq, c = n0 + wn + nt * 8 + 2 * tq;
      store_c<KIND>(g, s, out, bias, r, c, acc[mt][nt][0], split);
      store_c<KIND>(g, s, out, bias, r, c + 1, acc[mt][nt][1], split);
      store_c<KIND>(g, s, out, bias, r + 8, c, acc[mt][nt][2], split);
      store_c<KIND>(g, s, out, bias, r + 8, c + 1, acc[mt][nt][3], split);
    }
}

// ---- skinny engine: GEMMs of at most 8 rows (3-channel heads, 1-channel outputs) -------------
//
// A 64- or 128-row tile would spend 90% or more of its multiply-adds on padding rows. Here each
// thread owns one column and keeps all MT rows in registers; the block stages a chunk of A's
// rows in shared memory (read as broadcasts) and every thread gathers its own B elements, so the
// work is the GEMM's own. Exact FP32 products, k in order within a split (deterministic).

constexpr int kSkinnyThreads = 128, kSkinnyChunk = 128;

template <ConvKind KIND, int MT>
__global__ void __launch_bounds__(kSkinnyThreads) conv_skinny_kernel(ConvIndex g, GemmShape s, const float* __restrict__ A,
                                                                     const float* __restrict__ in,
                                                                     const float* __restrict__ bias,
                                                                     float* __restrict__ out, int k_per_split) {
  __shared__ float As[kSkinnyChunk][MT];
  const int col = blockIdx.x * kSkinnyThreads + threadIdx.x;
  const Column cl = decode_column<KIND>(g, col, s.N);
  const int k_begin = blockIdx.z * k_per_split, k_end = min(s.K, k_begin + k_per_split);
  float acc[MT];
#pragma unroll
  for (int m = 0; m < MT; ++m) acc[m] = 0.f;
  for (int k0 = k_begin; k0 < k_end; k0 += kSkinnyChunk) {
    const int len = min(kSkinnyChunk, k_end - k0);
    __syncthreads();  // the previous chunk has been read
    for (int i = threadIdx.x; i < kSkinnyChunk * MT; i += kSkinnyThreads) {
      const int kk = i / MT, m = i % MT;
      As[kk][m] = (m < s.M && kk < len) ? load_a<KIND>(g, A, m, k0 + kk, s.K) : 0.f;
    }
    __syncthreads();
    if (!cl.valid) continue;
    for (int kk = 0; kk < len; ++kk) {
      const float b = load_b<KIND>(g, in, cl, k0 + kk);
#pragma unroll
      for (int m = 0; m < MT; ++m) acc[m] = fmaf(As[kk][m], b, acc[m]);
    }
  }
  const bool split = gridDim.z > 1;
#pragma unroll
  for (int m = 0; m < MT; ++m) store_c<KIND>(g, s, out, bias, m, col, acc[m], split);
}

template <ConvKind KIND>
int run_skinny(const char* fn, const ConvGeom& g, const GemmShape& s, const float* A, const float* in, const float* bias,
               float* out) {
  const unsigned gx = (unsigned)((s.N + kSkinnyThreads - 1) / kSkinnyThreads);
  // Split the reduction until there are about 4 blocks per multiprocessor, keeping at least 4
  // chunks of k per split.
  int splits = split_count(gx, 4L * device_props().multiProcessorCount, s.K / (4L * kSkinnyChunk), 64);
  const int k_per_split = (s.K + splits - 1) / splits;
  splits = (s.K + k_per_split - 1) / k_per_split;
  SplitOutput<KIND> o;
  if (int st = o.open(splits, s, out)) return st;
  const ConvIndex ix = make_index(g);
  const dim3 grid(gx, 1, splits);
  if (s.M <= 1) conv_skinny_kernel<KIND, 1><<<grid, kSkinnyThreads, 0, stream()>>>(ix, s, A, in, bias, o.target, k_per_split);
  else if (s.M <= 4) conv_skinny_kernel<KIND, 4><<<grid, kSkinnyThreads, 0, stream()>>>(ix, s, A, in, bias, o.target, k_per_split);
  else conv_skinny_kernel<KIND, 8><<<grid, kSkinnyThreads, 0, stream()>>>(ix, s, A, in, bias, o.target, k_per_split);
  o.finish(ix, s, splits, bias, out);
  return check_launch(fn);
}

}  // namespace

// The direct engine (conv_direct.cuh) takes stride-1 Fwd and Wgrad GEMMs of at most 8 rows
// with kernels up to 8 x 8 over output planes of at least 64 pixels (smaller planes would leave
// its tiles mostly empty: the PatchGAN output at 32x32, linear layers); a Fwd's images are its
// grid's y index (at most 65535).
bool conv_direct_applies(ConvKind kind, const ConvGeom& g) {
  return (kind == ConvKind::Wgrad || (kind == ConvKind::Fwd && g.n <= 65535)) && gemm_shape(kind, g).M <= 8 &&
         g.sh == 1 && g.sw == 1 && g.kh <= dir::kMaxK && g.kw <= dir::kMaxK && (long)g.Ho * g.Wo >= 64;
}

namespace {

template <ConvKind KIND>
int run_direct(const char* fn, const ConvGeom& g, const GemmShape& s, const float* A, const float* in,
               const float* bias, float* out) {
  const long sms = device_props().multiProcessorCount;
  const ConvIndex ix = make_index(g);
  SplitOutput<KIND> o;
  int splits = 1;
  if constexpr (KIND == ConvKind::Wgrad) {
    // units <= n Ho Wo, which conv_gemm keeps inside int
    const int tiles_w = (g.Wo + dir::kWTW - 1) / dir::kWTW, tiles = tiles_w * ((g.Ho + dir::kWTH - 1) / dir::kWTH);
    const long units = (long)g.n * tiles;
    // Splits of the units until about 4 blocks a multiprocessor (each keeps at least 2 units).
    const int forced = g_forced_splits.load();
    const int splits0 = forced > 0 ? (int)std::min<long>(forced, units) : split_count(g.C, 4 * sms, std::max(1L, units / 2), 256);
    const int upu = (int)((units + splits0 - 1) / splits0);
    splits = (int)((units + upu - 1) / upu);
    if (int st = o.open(splits, s, out)) return st;
    const dim3 grid(g.C, 1, splits);
    if (s.M <= 1) dir::conv_direct_wgrad_kernel<1><<<grid, dir::kThreads, 0, stream()>>>(ix, s, A, in, o.target, tiles_w, tiles, upu);
    else if (s.M <= 4) dir::conv_direct_wgrad_kernel<4><<<grid, dir::kThreads, 0, stream()>>>(ix, s, A, in, o.target, tiles_w, tiles, upu);
    else dir::conv_direct_wgrad_kernel<8><<<grid, dir::kThreads, 0, stream()>>>(ix, s, A, in, o.target, tiles_w, tiles, upu);
  } else {
    const int tx = dir::fwd_tile_threads(g.Ho, g.Wo), tw = 4 * tx, th = dir::kThreads / tx;
    const int tiles_w = (g.Wo + tw - 1) / tw;
    const long tiles = (long)tiles_w * ((g.Ho + th - 1) / th);
    // Split the input channels until about 8 blocks a multiprocessor, keeping 2 stages a split:
    // the blocks wait on their staging loads, so more of them hide it better. On an H200 (cuda/dev
    // conv_fwd, variant 10) the 64 -> 3 head at 32x32 batch 128 took 0.23 ms at 2 splits, 0.17
    // at 4 and 8; at 256x256 batch 1 0.13 ms at 2, 0.087 at 8; the PatchGAN stem's backward-data
    // phases 0.22 ms at 1, 0.14 at 8.
    const long stages = (g.C + dir::kCC - 1) / dir::kCC;
    const int forced = g_forced_splits.load();
    splits = forced > 0 ? (int)std::min<long>(forced, stages) : split_count(tiles * g.n, 8 * sms, std::max(1L, stages / 2), 64);
    const int cps = (int)((stages + splits - 1) / splits) * dir::kCC;
    splits = (g.C + cps - 1) / cps;
    if (int st = o.open(splits, s, out)) return st;
    const dim3 grid((unsigned)tiles, g.n, splits);
    if (s.M <= 1) dir::conv_direct_fwd_kernel<1><<<grid, dir::kThreads, 0, stream()>>>(ix, s, A, in, bias, o.target, tx, tiles_w, cps);
    else if (s.M <= 4) dir::conv_direct_fwd_kernel<4><<<grid, dir::kThreads, 0, stream()>>>(ix, s, A, in, bias, o.target, tx, tiles_w, cps);
    else dir::conv_direct_fwd_kernel<8><<<grid, dir::kThreads, 0, stream()>>>(ix, s, A, in, bias, o.target, tx, tiles_w, cps);
  }
  o.finish(ix, s, splits, bias, out);
  return check_launch(fn);
}

// Whether the 3-stage tc kernel with BM-row tiles fits this GPU's shared memory.
bool deep_tc_fits(int bm) { return device_props().sharedMemPerBlockOptin >= tc::smem_bytes(3, bm); }

// The tensor-core engine of conv_tc.cuh with BM-row tiles and PREC operands (on an NHWC input
// when NHWC): a 3-stage pipeline where the GPU's shared memory allows it (unless `stages` is 2),
// else 2 stages.
template <ConvKind KIND, int PREC, int BM, bool NHWC = false>
int run_tc(const char* fn, const tc::Plan& plan, const ConvGeom& g, const GemmShape& s, const float* A,
           const float* in, const float* bias, float* out, int stages) {
  const bool deep = stages != 2 && deep_tc_fits(BM);
  const size_t smem = tc::smem_bytes(deep ? 3 : 2, BM);
  auto kernel = deep ? tc::conv_tc_kernel<KIND, 3, PREC, BM, NHWC> : tc::conv_tc_kernel<KIND, 2, PREC, BM, NHWC>;
  // Above 48 KiB of dynamic shared memory a kernel has to opt in, once per kernel.
  static std::once_flag opted_in[2];
  static cudaError_t opt_in_status[2];
  std::call_once(opted_in[deep], [&] {
    opt_in_status[deep] = cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel),
                                               cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
  });
  if (const cudaError_t attr_err = opt_in_status[deep])
    return fail(CGK_ERR_DEVICE, std::string(fn) + ": cannot give the convolution kernel " + std::to_string(smem) +
                                  " bytes of shared memory: " + cudaGetErrorString(attr_err));
  SplitOutput<KIND> o;
  if (int st = o.open(plan.splits, s, out)) return st;
  const ConvIndex ix = make_index(g);
  kernel<<<dim3(plan.gx, plan.gy, plan.splits), tc::kThreads, smem, stream()>>>(ix, s, A, in, bias, o.target,
                                                                                plan.k_per_split, plan.a_vec);
  o.finish(ix, s, plan.splits, bias, out);
  return check_launch(fn);
}

// The BF16 engine of conv_bf16.cuh (packed pairs in shared memory; 41 KiB, no opt-in needed).
template <ConvKind KIND, int BM>
int run_bf16(const char* fn, const tc::Plan& plan, const ConvGeom& g, const GemmShape& s, const float* A,
             const float* in, const float* bias, float* out) {
  SplitOutput<KIND> o;
  if (int st = o.open(plan.splits, s, out)) return st;
  const ConvIndex ix = make_index(g);
  bf::conv_bf16_kernel<KIND, BM><<<dim3(plan.gx, plan.gy, plan.splits), bf::kThreads, bf::smem_bytes(BM), stream()>>>(
      ix, s, A, in, bias, o.target, plan.k_per_split, plan.a_vec);
  o.finish(ix, s, plan.splits, bias, out);
  return check_launch(fn);
}

// The 64x64 engines (SIMT FP32, or TF32 mma.sync), with `splits` reduction splits.
template <ConvKind KIND>
int run_small_tiles(const char* fn, bool mma, int splits, const ConvGeom& g, const GemmShape& s, const float* A,
                    const float* in, const float* bias, float* out) {
  const int bm = mma ? kMmaBM : kSimtBM, bn = mma ? kMmaBN : kSimtBN, bk = mma ? kMmaBK : kSimtBK;
  const unsigned gx = (s.N + bn - 1) / bn, gy = (s.M + bm - 1) / bm;
  if (gy > 65535u) return fail_arg(fn, "too many output channels for one launch (" + std::to_string(s.M) + ")");
  const int k_per_split = ((s.K + splits - 1) / splits + bk - 1) / bk * bk;
  splits = (s.K + k_per_split - 1) / k_per_split;
  SplitOutput<KIND> o;
  if (int st = o.open(splits, s, out)) return st;
  const dim3 grid(gx, gy, splits);
  const ConvIndex ix = make_index(g);
  if (mma) {
    conv_gemm_tf32_kernel<KIND><<<grid, 128, 0, stream()>>>(ix, s, A, in, bias, o.target, k_per_split);
  } else {
    conv_gemm_simt_kernel<KIND><<<grid, 256, 0, stream()>>>(ix, s, A, in, bias, o.target, k_per_split);
  }
  o.finish(ix, s, splits, bias, out);
  return check_launch(fn);
}

// The small-tile engines split the reduction when their tiles alone would leave multiprocessors
// idle; each split keeps at least 8 BK-slices of work so the partial traffic stays small next
// to the arithmetic.
int small_tile_splits(const GemmShape& s, bool mma) {
  const int bm = mma ? kMmaBM : kSimtBM, bn = mma ? kMmaBN : kSimtBN, bk = mma ? kMmaBK : kSimtBK;
  const long tiles = (long)((s.N + bn - 1) / bn) * ((s.M + bm - 1) / bm);
  return split_count(tiles, 2L * device_props().multiProcessorCount, s.K / (8L * bk), 64);
}

// The large-tile plan for a choice's tile height and splits.
tc::Plan plan_for(tc::Plan p, const GemmShape& s, int bm, int splits) {
  p.bm = bm;
  p.gy = (unsigned)((s.M + bm - 1) / bm);
  return tc::with_splits(p, s, splits);
}

}  // namespace

// ---- tc on NHWC input (conv_tc.cuh, NHWC) ----------------------------------------------------

bool conv_nhwc_applies(ConvKind kind, const ConvGeom& g) {
  // n <= 65535: the transpose's grid has an image a z index.
  return kind == ConvKind::Fwd && g.C % tc::kBK == 0 && g.n <= 65535 && (long long)g.n * g.C * g.Hi * g.Wi <= INT32_MAX;
}

namespace {

// x [n][C][hw] -> [n][hw][C] through 32x32 shared-memory tiles.
__global__ void nchw_to_nhwc_kernel(const float* __restrict__ x, float* __restrict__ y, int C, int hw) {
  __shared__ float tile[32][33];
  const int nb = blockIdx.z, c0 = blockIdx.y * 32, p0 = blockIdx.x * 32;
  const float* xs = x + (size_t)nb * C * hw;
  float* ys = y + (size_t)nb * C * hw;
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    const int c = c0 + i, p = p0 + threadIdx.x;
    tile[i][threadIdx.x] = c < C && p < hw ? __ldg(xs + (size_t)c * hw + p) : 0.f;
  }
  __syncthreads();
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    const int p = p0 + i, c = c0 + threadIdx.x;
    if (p < hw && c < C) ys[(size_t)p * C + c] = tile[threadIdx.x][i];
  }
}

// w [M][C][khw] -> [M][khw][C].
__global__ void weight_taps_last_kernel(const float* __restrict__ w, float* __restrict__ out, int C, int khw,
                                        size_t total) {
  CGK_GRID_STRIDE(i, total) {
    const int rs = (int)(i % khw), c = (int)(i / khw % C);
    const size_t m = i / ((size_t)khw * C);
    out[(m * khw + rs) * C + c] = w[i];
  }
}

}  // namespace

void nchw_to_nhwc(const float* x, float* y, int n, int C, int hw) {
  nchw_to_nhwc_kernel<<<dim3((hw + 31) / 32, (C + 31) / 32, n), dim3(32, 8), 0, stream()>>>(x, y, C, hw);
}

void weight_taps_last(const float* w, float* out, int M, int C, int khw) {
  const size_t total = (size_t)M * C * khw;
  weight_taps_last_kernel<<<grid_for(total), 256, 0, stream()>>>(w, out, C, khw, total);
}

int conv_fwd_nhwc(const char* fn, const ConvGeom& g, const float* w_taps, const float* in_nhwc, const float* bias,
                  float* out, int bm, int splits) {
  const GemmShape s = gemm_shape(ConvKind::Fwd, g);
  tc::Plan plan = tc::tc_plan(ConvKind::Fwd, g, s, device_props().multiProcessorCount, true);
  if (!plan.eligible || !conv_nhwc_applies(ConvKind::Fwd, g))
    return fail_arg(fn, "the NHWC engine takes Fwd GEMMs of 64 rows or more over a multiple of 32 channels");
  plan = plan_for(plan, s, bm == 64 || bm == 128 ? bm : plan.bm, splits > 0 ? splits : plan.splits);
  return plan.bm == 64 ? run_tc<ConvKind::Fwd, tc::kTf32, 64, true>(fn, plan, g, s, w_taps, in_nhwc, bias, out, 0)
                       : run_tc<ConvKind::Fwd, tc::kTf32, 128, true>(fn, plan, g, s, w_taps, in_nhwc, bias, out, 0);
}

namespace {

// Runs one choice. `plan` is the large-tile plan of this GEMM (eligible when the choice is a
// large-tile engine).
template <ConvKind KIND>
int launch_choice(const char* fn, const ConvChoice& c, const tc::Plan& plan, const ConvGeom& g, const GemmShape& s,
                  const float* A, const float* in, const float* bias, float* out) {
  switch (c.engine) {
    case kSkinny: return run_skinny<KIND>(fn, g, s, A, in, bias, out);
    case kSimt: return run_small_tiles<KIND>(fn, false, c.splits, g, s, A, in, bias, out);
    case kMma64: return run_small_tiles<KIND>(fn, true, c.splits, g, s, A, in, bias, out);
  }
  const tc::Plan p = plan_for(plan, s, c.bm, c.splits);
  switch (c.engine) {
    case kTcNhwc: {
      // The input and the weight reordered into scratch, then the GEMM: tuning times the three.
      const size_t in_n = (size_t)g.n * g.C * g.Hi * g.Wi, w_n = (size_t)s.M * s.K;
      float* x_nhwc = scratch_alloc(in_n);
      float* w_taps = x_nhwc ? scratch_alloc(w_n) : nullptr;
      int st = w_taps ? CGK_OK : CGK_ERR_OOM;
      if (st == CGK_OK) {
        nchw_to_nhwc(in, x_nhwc, g.n, g.C, g.Hi * g.Wi);
        weight_taps_last(A, w_taps, s.M, g.C, g.kh * g.kw);
        st = conv_fwd_nhwc(fn, g, w_taps, x_nhwc, bias, out, c.bm, c.splits);
      }
      if (w_taps) scratch_free(w_taps);  // stream order keeps them alive for the kernels above
      if (x_nhwc) scratch_free(x_nhwc);
      return st;
    }
    case kWgmma: {
      SplitOutput<KIND> o;
      if (int st = o.open(p.splits, s, out)) return st;
      const ConvIndex ix = make_index(g);
      if (int st = wg::launch(KIND, c.bm, ix, s, A, in, bias, o.target, p.gx, p.gy, p.splits, p.k_per_split, p.a_vec))
        return st;
      o.finish(ix, s, p.splits, bias, out);
      return check_launch(fn);
    }
    case kBf16:
      return c.bm == 64 ? run_bf16<KIND, 64>(fn, p, g, s, A, in, bias, out) : run_bf16<KIND, 128>(fn, p, g, s, A, in, bias, out);
    case kTcBf16:
      return c.bm == 64 ? run_tc<KIND, tc::kBf16, 64>(fn, p, g, s, A, in, bias, out, c.stages)
                        : run_tc<KIND, tc::kBf16, 128>(fn, p, g, s, A, in, bias, out, c.stages);
    case kTcTrunc:
      return c.bm == 64 ? run_tc<KIND, tc::kTf32Trunc, 64>(fn, p, g, s, A, in, bias, out, c.stages)
                        : run_tc<KIND, tc::kTf32Trunc, 128>(fn, p, g, s, A, in, bias, out, c.stages);
    default:
      return c.bm == 64 ? run_tc<KIND, tc::kTf32, 64>(fn, p, g, s, A, in, bias, out, c.stages)
                        : run_tc<KIND, tc::kTf32, 128>(fn, p, g, s, A, in, bias, out, c.stages);
  }
}

// Whether the wgmma engine is among the tuning candidates: on compute capability 9.0 unless
// $CGTRAIN_CUDA_WGMMA=0. Opt-in until the first H200 run (2026-11-29) passed its parity tests
// and had tuning keep it for 22 of 84 GEMM shapes at 32x32 (step 91.4 -> 87.3 ms).
bool wgmma_tunable() {
  static const bool on = env_switch("CGTRAIN_CUDA_WGMMA", "1", "0", true);
  return on && wg::available();
}

// Without tuning: the large-tile engines where they take the GEMM, with the precision in effect
// (tc for TF32, bf16 for BF16); else the 64x64 one (TF32, also under BF16); exact FP32 when the
// precision is fp32. A forced engine that cannot take the GEMM falls back to that choice.
ConvChoice heuristic_choice(int forced, int prec, const tc::Plan& plan, ConvKind kind, const ConvGeom& g,
                            const GemmShape& s) {
  const bool tf32 = prec != CGK_PRECISION_FP32;
  if (tf32 && forced != kMma64 && plan.eligible && plan.gy <= 65535u) {
    if (forced == kWgmma && wg::available()) return {kWgmma, plan.bm, plan.splits};
    if (forced == kTcNhwc && conv_nhwc_applies(kind, g)) return {kTcNhwc, plan.bm, plan.splits};
    const int engine = prec == CGK_PRECISION_BF16 ? (forced == kTcBf16 ? kTcBf16 : kBf16) : forced == kTcTrunc ? kTcTrunc : kTc;
    return {engine, plan.bm, plan.splits};
  }
  return {tf32 ? kMma64 : kSimt, 0, small_tile_splits(s, tf32)};
}

// What tuning times for a GEMM the large-tile engines take: the engine of the precision with
// both tile heights and a range of splits (as far as the reduction is deep enough and the
// blocks stay within 16 per multiprocessor), the other BF16 engine under BF16, the 64x64 engine,
// and under TF32 the wgmma engine where it may run.
std::vector<ConvChoice> tuning_candidates(int prec, const tc::Plan& plan, ConvKind kind, const ConvGeom& g,
                                          const GemmShape& s, const ConvChoice& heuristic) {
  std::vector<ConvChoice> list{heuristic};
  const long sms = device_props().multiProcessorCount;
  auto add = [&](int engine, int bm, int splits) {
    const tc::Plan p = plan_for(plan, s, bm, splits);
    const ConvChoice c{engine, bm, p.splits};
    if (p.gy > 65535u || (long)p.gx * p.gy * p.splits > 16 * sms) return;  // past 16 blocks per SM splits only add traffic
    if (std::find(list.begin(), list.end(), c) == list.end()) list.push_back(c);
  };
  // Both tile heights (128 only above 64 rows) with each split count.
  auto add_all = [&](int engine) {
    for (int bm : {128, 64}) {
      if (bm == 128 && s.M <= 64) continue;
      for (int sp : {plan.splits, 1, 2, 4, 8, 16, 32}) add(engine, bm, sp);  // deep, narrow GEMMs (weight gradients at batch 1) want many
    }
  };
  add_all(prec == CGK_PRECISION_BF16 ? kBf16 : kTc);
  if (prec == CGK_PRECISION_BF16) add(kTcBf16, plan.bm, plan.splits);
  if (prec == CGK_PRECISION_TF32 && wgmma_tunable()) add_all(kWgmma);
  // The tc engine on an NHWC copy (an experiment: kept only where it wins, transposes included),
  // with the rule's tile height and splits.
  if (prec == CGK_PRECISION_TF32 && conv_nhwc_applies(kind, g)) add(kTcNhwc, plan.bm, plan.splits);
  const ConvChoice small{kMma64, 0, small_tile_splits(s, true)};
  if (std::find(list.begin(), list.end(), small) == list.end()) list.push_back(small);
  return list;
}

// The values a GEMM writes (conv_tune.cuh): out[M][N] for Wgrad; else n x M planes of Ho x Wo,
// dense or, for an output phase, every out_sh-th row and out_sw-th column of out_h x out_w.
TuneOutput written_by(ConvKind kind, const ConvGeom& g, const GemmShape& s, float* out) {
  if (kind == ConvKind::Wgrad) return {out, 1, (size_t)s.M * s.N, s.M, s.N, 0, s.N, 1};
  const bool placed = g.out_sh != 1 || g.out_sw != 1;
  const int w = placed ? g.out_w : g.Wo;
  const size_t plane = placed ? (size_t)g.out_h * g.out_w : (size_t)g.Ho * g.Wo;
  return {out, (size_t)g.n * g.M, plane, g.Ho, g.Wo, placed ? g.out_h0 * w + g.out_w0 : 0, g.out_sh * w, g.out_sw};
}

template <ConvKind KIND>
int run(const char* fn, const ConvGeom& g, const float* A, const float* in, const float* bias, float* out) {
  const GemmShape s = gemm_shape(KIND, g);
  if (s.M == 0 || s.N == 0) return CGK_OK;
  int forced = g_forced_engine.load() >= 0 ? g_forced_engine.load() : env_engine();
  // The FP32 engines for at most 8 rows leave the other GEMMs to the automatic choice (with
  // the precision in effect and tuning), not to a tensor-core engine's format.
  if ((forced == kSkinny || forced == kDirect) && s.M > 8) forced = -1;
  const int forced_splits = g_forced_splits.load();
  const bool tensor_cores = device_props().major >= 8;
  // At most 8 rows: the direct engine where it applies, else the skinny one, unless another
  // engine is forced.
  if (s.M <= 8 && (forced < 0 || forced == kSkinny || forced == kDirect)) {
    if (forced != kSkinny && conv_direct_applies(KIND, g)) return run_direct<KIND>(fn, g, s, A, in, bias, out);
    return run_skinny<KIND>(fn, g, s, A, in, bias, out);
  }
  // A forced engine implies its operand format.
  const int prec = forced >= 0 ? (forced == kSimt || !tensor_cores             ? CGK_PRECISION_FP32
                                  : forced == kTcBf16 || forced == kBf16        ? CGK_PRECISION_BF16
                                                                                : CGK_PRECISION_TF32)
                               : precision();
  const bool aligned = reinterpret_cast<uintptr_t>(A) % 16 == 0;
  tc::Plan plan;
  if (prec != CGK_PRECISION_FP32) plan = tc::tc_plan(KIND, g, s, device_props().multiProcessorCount, aligned);
  if (forced_splits > 0 && plan.eligible) plan = tc::with_splits(plan, s, forced_splits);
  ConvChoice choice = heuristic_choice(forced, prec, plan, KIND, g, s);
  auto launch = [&](const ConvChoice& c) { return launch_choice<KIND>(fn, c, plan, g, s, A, in, bias, out); };
  // Tuning picks among the ways of one precision; forcing an engine or splits bypasses it.
  if (plan.eligible && forced < 0 && forced_splits == 0 && conv_tuning_on()) {
    const ConvTuneKey key{KIND, g, prec, aligned};
    if (const ConvChoice* tuned = conv_tuned(key)) {
      choice = *tuned;
    } else {
      // The fastest tc configuration also tries two stages (more blocks a multiprocessor).
      auto refine = [](const ConvChoice& best) {
        std::vector<ConvChoice> more;
        if ((best.engine == kTc || best.engine == kTcBf16) && best.stages == 0 && deep_tc_fits(best.bm)) {
          ConvChoice two = best;
          two.stages = 2;
          more.push_back(two);
        }
        return more;
      };
      // The reference every candidate is checked against: the exact-FP32 SIMT engine, once.
      const ConvChoice fp32{kSimt, 0, small_tile_splits(s, false)};
      if (int st = conv_tune(key, tuning_candidates(prec, plan, KIND, g, s, choice), choice, &fp32, written_by(KIND, g, s, out),
                             launch, refine, &choice))
        return st;
    }
  }
  return launch(choice);
}

// $CGTRAIN_CUDA_DGRAD=gemm keeps a backward-data as one Dgrad GEMM (that multiplies the stride
// holes as zeros when strided; for comparison); the default runs it as Fwd GEMMs by phase.
bool dgrad_by_phase() {
  static const bool on = env_switch("CGTRAIN_CUDA_DGRAD", "phases", "gemm", true);
  return on;
}

__global__ void repack_dgrad_weight_kernel(const DgradPhases t, const ConvGeom g, const float* __restrict__ A,
                                           float* __restrict__ out, size_t n) {
  CGK_GRID_STRIDE(i, n) out[dgrad_phase_index(t, g, (long long)i)] = A[i];
}

// A Dgrad as one Fwd GEMM per output phase (conv_index.cuh, DgradPhases; one phase at stride 1):
// the weight repacked once per call, then the phases, each tuned and split on its own.
int dgrad_by_phases(const char* fn, const ConvGeom& g, const DgradPhases& t, const float* A, const float* in,
                    const float* bias, float* out) {
  float* w = scratch_alloc((size_t)t.total);
  if (!w) return CGK_ERR_OOM;
  const size_t n = (size_t)g.C * g.M * g.kh * g.kw;
  repack_dgrad_weight_kernel<<<grid_for(n), 256, 0, stream()>>>(t, g, A, w, n);
  int st = check_launch(fn);
  for (int a = 0; a < g.sh && st == CGK_OK; ++a)
    for (int b = 0; b < g.sw && st == CGK_OK; ++b) {
      const ConvGeom p = dgrad_phase_geometry(g, t, a, b);
      if (p.Ho > 0 && p.Wo > 0) st = run<ConvKind::Fwd>(fn, p, w + t.offset[a * g.sw + b], in, bias, out);
    }
  scratch_free(w);  // stream order keeps it alive for the kernels above
  return st;
}

}  // namespace

const char* engine_name(int engine) {
  static const char* const names[] = {"simt",  "mma64", "tc",    "tc-trunc", "skinny",
                                      "tc-bf16", "bf16", "wgmma", "direct",   "tc-nhwc"};
  return engine >= 0 && engine < (int)(sizeof names / sizeof *names) ? names[engine] : "?";
}

void conv_gemm_force_engine(int engine) { g_forced_engine.store(engine); }
void conv_gemm_force_splits(int splits) { g_forced_splits.store(splits); }

int conv_gemm(const char* fn, ConvKind kind, const ConvGeom& g, const float* A, const float* in, const float* bias,
              float* out) {
  // Element offsets are int inside the kernels' index math on 32-bit operands; keep each GEMM
  // dimension and the gathered tensor's plane products inside int.
  const long long n_cols = (long long)g.n * g.Ho * g.Wo, k_conv = (long long)g.C * g.kh * g.kw;
  if (n_cols > INT32_MAX || k_conv > INT32_MAX || (long long)g.M * g.C * g.kh * g.kw > INT32_MAX)
    return fail_arg(fn, "the convolution is too large for one launch (" + std::to_string(n_cols) + " output pixels, " +
                            std::to_string(k_conv) + " reduction terms)");
  switch (kind) {
    case ConvKind::Fwd: return run<ConvKind::Fwd>(fn, g, A, in, bias, out);
    case ConvKind::Dgrad: {
      DgradPhases phases;
      if (dgrad_by_phase() && plan_dgrad_phases(g, &phases)) return dgrad_by_phases(fn, g, phases, A, in, bias, out);
      return run<ConvKind::Dgrad>(fn, g, A, in, bias, out);
    }
    case ConvKind::Wgrad: return run<ConvKind::Wgrad>(fn, g, A, in, nullptr, out);
  }
  return fail_arg(fn, "unknown convolution kind");
}

}  // namespace cgk_cuda
