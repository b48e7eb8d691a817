// The direct engine: stride-1 convolutions with at most 8 output channels (the generator's
// 64 -> 3 head, the backward-data of its 3 -> 64 stem and of the PatchGAN's first layer, the
// one-channel PatchGAN output), computed tile by tile from shared memory in exact FP32.
//
// These GEMMs have 1-8 rows, so a tensor-core tile would spend 90% or more of its work on
// padding rows, and the skinny engine (one column a thread, every operand gathered with its own
// index decode) ran the 64 -> 3 head's forward at 3 TFLOP/s and its weight gradient at 1: 17 ms
// of a 91 ms training step on an H200. Here a block stages a patch of the input (and of the
// weights, or of dy) in shared memory once and every value read from it feeds 4-8 FMAs:
//
//   Fwd   (the Fwd GEMM of conv_gemm.cuh, dense or a backward-data phase's placed output): a
//         block computes a TH x TW tile of output pixels of one image for all M channels, 4
//         adjacent pixels of one row a thread, walking the input channels kCC at a time. A
//         kernel row's 4 + kw - 1 inputs come in three 16-byte loads and the taps' weights (all
//         M of a tap contiguous) as broadcasts.
//   Wgrad dw[m, c, r, s] = sum over (n, ho, wo) of dy[n, m, ho, wo] x[n, c, ho - ph + r, wo - pw + s]:
//         a block owns one input channel c and a run of (image, 16 x 32 pixel tile) units; a
//         thread owns one kernel row r and one tile row, and keeps all M x kw sums of its row.
//         The threads' sums meet in shared memory, added in a fixed order.
//
// Both split their reduction (Fwd: input channels, Wgrad: units) only to fill the GPU; the
// partials [split][M][N] are added in split order by conv_gemm.cu's finalize, so results are
// deterministic. Eligibility (conv_gemm.cu, direct_applies): stride 1, kernels up to 8 x 8, and
// output planes of at least 64 pixels; the rest stays on the skinny engine.
#pragma once

#include "conv_index.cuh"

namespace cgk_cuda {
namespace dir {

constexpr int kThreads = 128, kMaxK = 8;

// ---- Fwd ---------------------------------------------------------------------------------
constexpr int kCC = 4;  // input channels a stage
// Tiles: TX threads across (TW = 4 TX pixels), 128 / TX rows: 16x32, 32x16 or 64x8 pixels.
// Rows of TW + 8 floats hold the TW + kw - 1 inputs a row needs and the three 16-byte loads.
constexpr int kFwdPatchFloats = 1080;  // max over TX of (TH + kMaxK - 1) (TW + 8): TX = 16, 15 x 72

// The tile width in threads (4, 8 or 16) that wastes the fewest pixels on a Ho x Wo plane
// (ties: the wider, for longer loads).
inline int fwd_tile_threads(int Ho, int Wo) {
  int best = 16;
  long best_area = -1;
  for (int tx : {16, 8, 4}) {
    const int tw = 4 * tx, th = kThreads / tx;
    const long area = (long)((Wo + tw - 1) / tw) * tw * ((Ho + th - 1) / th) * th;
    if (best_area < 0 || area < best_area) best = tx, best_area = area;
  }
  return best;
}

template <int MT>
__device__ __forceinline__ void load_taps(const float* p, float (&w)[MT]) {
  if constexpr (MT % 4 == 0) {
#pragma unroll
    for (int i = 0; i < MT; i += 4) {
      const float4 v = *reinterpret_cast<const float4*>(p + i);
      w[i] = v.x, w[i + 1] = v.y, w[i + 2] = v.z, w[i + 3] = v.w;
    }
  } else {
#pragma unroll
    for (int i = 0; i < MT; ++i) w[i] = p[i];
  }
}

// 12 consecutive floats from a 16-byte aligned address.
__device__ __forceinline__ void load12(const float* p, float (&v)[12]) {
#pragma unroll
  for (int i = 0; i < 12; i += 4) {
    const float4 q = *reinterpret_cast<const float4*>(p + i);
    v[i] = q.x, v[i + 1] = q.y, v[i + 2] = q.z, v[i + 3] = q.w;
  }
}

// Grid: (tiles of the plane, n, channel splits of c_per_split channels, a multiple of kCC).
template <int MT>
__global__ void __launch_bounds__(kThreads) conv_direct_fwd_kernel(ConvIndex g, GemmShape s, const float* __restrict__ A,
                                                                   const float* __restrict__ in,
                                                                   const float* __restrict__ bias,
                                                                   float* __restrict__ out, int tx_count, int tiles_w,
                                                                   int c_per_split) {
  __shared__ __align__(16) float xs[kCC * kFwdPatchFloats];
  __shared__ __align__(16) float ws[kCC * kMaxK * kMaxK * MT];
  const int TX = tx_count, TW = 4 * TX, TH = kThreads / TX;
  const int tid = threadIdx.x, tx = tid % TX, ty = tid / TX;
  const int nb = blockIdx.y;
  const int ho0 = (blockIdx.x / tiles_w) * TH, wo0 = (blockIdx.x % tiles_w) * TW;
  const int IH = TH + g.kh - 1, pitch = TW + 8, khw = g.kh * g.kw;
  const int c_begin = blockIdx.z * c_per_split, c_end = min(g.C, c_begin + c_per_split);
  float acc[MT][4];
#pragma unroll
  for (int m = 0; m < MT; ++m)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[m][j] = 0.f;

  for (int c0 = c_begin; c0 < c_end; c0 += kCC) {
    __syncthreads();  // the previous stage has been read
    const int patch = IH * pitch;
    for (int i = tid; i < kCC * patch; i += kThreads) {
      const int cc = i / patch, rc = i - cc * patch, row = rc / pitch, col = rc - row * pitch;
      const int c = c0 + cc, hi = ho0 + row - g.ph, wi = wo0 + col - g.pw;
      float v = 0.f;
      if (c < c_end && (unsigned)hi < (unsigned)g.Hi && (unsigned)wi < (unsigned)g.Wi)
        v = __ldg(in + (((size_t)nb * g.C + c) * g.Hi + hi) * g.Wi + wi);
      xs[i] = v;
    }
    for (int i = tid; i < kCC * khw * MT; i += kThreads) {
      const int m = i % MT, tap = i / MT, cc = tap / khw, rs = tap - cc * khw;
      const int c = c0 + cc;
      ws[i] = (m < s.M && c < c_end) ? __ldg(A + ((size_t)m * g.C + c) * khw + rs) : 0.f;
    }
    __syncthreads();
    const int cn = min(kCC, c_end - c0);
    for (int cc = 0; cc < cn; ++cc)
      for (int r = 0; r < g.kh; ++r) {
        float xv[12];
        load12(xs + cc * patch + (ty + r) * pitch + 4 * tx, xv);
        const float* taps = ws + (cc * khw + r * g.kw) * MT;
#pragma unroll
        for (int t = 0; t < kMaxK; ++t) {
          if (t < g.kw) {
            float w[MT];
            load_taps<MT>(taps + t * MT, w);
#pragma unroll
            for (int m = 0; m < MT; ++m)
#pragma unroll
              for (int j = 0; j < 4; ++j) acc[m][j] = fmaf(w[m], xv[j + t], acc[m][j]);
          }
        }
      }
  }

  const int ho = ho0 + ty;
  if (ho >= g.Ho) return;
  const bool split = gridDim.z > 1;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const int wo = wo0 + 4 * tx + j;
    if (wo >= g.Wo) continue;
#pragma unroll
    for (int m = 0; m < MT; ++m)
      store_c<ConvKind::Fwd>(g, s, out, bias, m, (nb * g.Ho + ho) * g.Wo + wo, acc[m][j], split);
  }
}

// ---- Wgrad -------------------------------------------------------------------------------
constexpr int kWTH = 16, kWTW = 32;
// Rows of the x patch: kWTW + kMaxK - 1 inputs and the 16-byte loads need 40 floats; 44 puts the
// 8 rows a quarter-warp reads (one per kernel row) on distinct banks.
constexpr int kWPitch = kWTW + 12;

template <int MT>
__host__ __device__ constexpr int wgrad_smem_floats() {
  const int staged = MT * kWTH * kWTW + (kWTH + kMaxK - 1) * kWPitch;
  const int reduce = kThreads * MT * kMaxK;
  return staged > reduce ? staged : reduce;
}

// Grid: (C, 1, splits); split z adds units [z upu, (z + 1) upu) of the n x tiles units, a unit
// being image u / tiles and tile u % tiles (tiles_w across). A = dy [n][M][Ho][Wo], in = x.
template <int MT>
__global__ void __launch_bounds__(kThreads) conv_direct_wgrad_kernel(ConvIndex g, GemmShape s, const float* __restrict__ A,
                                                                     const float* __restrict__ in,
                                                                     float* __restrict__ out, int tiles_w, int tiles,
                                                                     int units_per_split) {
  __shared__ __align__(16) float smem[wgrad_smem_floats<MT>()];
  float* ds = smem;                        // [m][row][col], zero outside the plane
  float* xs = smem + MT * kWTH * kWTW;     // [row][col], the tile's input rows and kw - 1 more
  const int tid = threadIdx.x, r = tid % kMaxK, q = tid / kMaxK;  // kernel row r, tile row q
  const int c = blockIdx.x;
  const int units = g.n * tiles;
  const int u_begin = blockIdx.z * units_per_split, u_end = min(units, u_begin + units_per_split);
  float acc[MT][kMaxK];
#pragma unroll
  for (int m = 0; m < MT; ++m)
#pragma unroll
    for (int t = 0; t < kMaxK; ++t) acc[m][t] = 0.f;

  for (int u = u_begin; u < u_end; ++u) {
    const int nb = u / tiles, tile = u - nb * tiles;
    const int ho0 = (tile / tiles_w) * kWTH, wo0 = (tile % tiles_w) * kWTW;
    __syncthreads();  // the previous unit has been read
    for (int i = tid; i < MT * kWTH * kWTW; i += kThreads) {
      const int col = i % kWTW, row = (i / kWTW) % kWTH, m = i / (kWTW * kWTH);
      const int ho = ho0 + row, wo = wo0 + col;
      float v = 0.f;
      if (m < s.M && ho < g.Ho && wo < g.Wo) v = __ldg(A + (((size_t)nb * s.M + m) * g.Ho + ho) * g.Wo + wo);
      ds[i] = v;
    }
    for (int i = tid; i < (kWTH + kMaxK - 1) * kWPitch; i += kThreads) {
      const int row = i / kWPitch, col = i - row * kWPitch;
      const int hi = ho0 + row - g.ph, wi = wo0 + col - g.pw;
      float v = 0.f;
      if ((unsigned)hi < (unsigned)g.Hi && (unsigned)wi < (unsigned)g.Wi)
        v = __ldg(in + (((size_t)nb * g.C + c) * g.Hi + hi) * g.Wi + wi);
      xs[i] = v;
    }
    __syncthreads();
    if (r < g.kh) {
#pragma unroll 2
      for (int w0 = 0; w0 < kWTW; w0 += 4) {
        float xv[12];
        load12(xs + (q + r) * kWPitch + w0, xv);
        float d[MT][4];
#pragma unroll
        for (int m = 0; m < MT; ++m) {
          const float4 v = *reinterpret_cast<const float4*>(ds + (m * kWTH + q) * kWTW + w0);
          d[m][0] = v.x, d[m][1] = v.y, d[m][2] = v.z, d[m][3] = v.w;
        }
#pragma unroll
        for (int t = 0; t < kMaxK; ++t) {
          if (t < g.kw) {
#pragma unroll
            for (int m = 0; m < MT; ++m)
#pragma unroll
              for (int j = 0; j < 4; ++j) acc[m][t] = fmaf(d[m][j], xv[j + t], acc[m][t]);
          }
        }
      }
    }
  }

  // The 16 tile rows' sums of each (m, r, s), added in row order.
  __syncthreads();
  float* red = smem;  // [q][r][m][t]
#pragma unroll
  for (int m = 0; m < MT; ++m)
#pragma unroll
    for (int t = 0; t < kMaxK; ++t) red[((q * kMaxK + r) * MT + m) * kMaxK + t] = acc[m][t];
  __syncthreads();
  const bool split = gridDim.z > 1;
  for (int o = tid; o < kMaxK * MT * kMaxK; o += kThreads) {
    const int t = o % kMaxK, m = (o / kMaxK) % MT, rr = o / (kMaxK * MT);
    if (m >= s.M || rr >= g.kh || t >= g.kw) continue;
    float v = 0.f;
    for (int qq = 0; qq < kWTH; ++qq) v += red[((qq * kMaxK + rr) * MT + m) * kMaxK + t];
    store_c<ConvKind::Wgrad>(g, s, out, nullptr, m, (c * g.kh + rr) * g.kw + t, v, split);
  }
}

}  // namespace dir
}  // namespace cgk_cuda
