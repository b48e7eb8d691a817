// The large-tile tensor-core engine of the implicit-GEMM convolution (see conv_gemm.cuh for the
// three GEMMs it computes): 128x128 output tiles (64x128 for GEMMs of 64 rows and the like),
// BK = 32, 4 warps of 64x64 (32x64), and a STAGES-deep cp.async pipeline that gathers the next
// slices straight into shared memory (zero fill for padding and tails) while the current one is
// multiplied. The operands stay float32 in shared memory; the fragment loads turn them into the
// tensor cores' operands, by precision (PREC):
//   kTf32      TF32 rounded to nearest (cvt.rna), mma.sync m16n8k8: the default, as PyTorch's
//   kTf32Trunc TF32 as stored (the tensor cores drop the low 13 bits), m16n8k8
//   kBf16      BF16 rounded to nearest even (cvt.rn.bf16x2), mma.sync m16n8k16 at twice the
//              TF32 rate; products accumulate in float32 (--precision bf16)
//
// Shared-memory layouts, chosen so that both the gathers' stores and the fragment loads hit 32
// distinct banks:
//   A tile:  [128 rows m][32 k + 4]   loaded along k (contiguous in every A tensor)
//   B tile:  Fwd/Dgrad [32 k][128 columns + 8], loaded along the columns (consecutive output
//            pixels: contiguous input rows); Wgrad [128 columns][32 k + 4], loaded along k
//            (consecutive pixels of one plane)
// BF16 fragments hold two k per register (k 2t and 2t+1 of a 16-k step); since the reduction
// may visit k in any order as long as A and B agree, lane t packs the floats at positions t and
// t+4 (and t+8, t+12) instead, so BF16 reads exactly the TF32 positions: the same layouts, the
// same conflict-free loads, the same shared memory (2 blocks a multiprocessor on sm_90).
// Each thread keeps its gather position across the reduction: Fwd/Dgrad threads own one column
// and step (c, r, s) incrementally; Wgrad threads own one k per slice and read the block's
// column table (c, r, s) from shared memory. So a gathered element costs a few integer ops, not
// the divisions of the generic index math.
//
// Host side: tc_plan() says whether a GEMM can run here and with which grid; conv_gemm.cu
// launches it. cuda/dev/emu/conv_tc_check.cc runs this same code on the CPU emulator.
#pragma once

#include <algorithm>

#include "conv_index.cuh"
#include "mma_sm80.cuh"

namespace cgk_cuda {
namespace tc {

// BM (the tile's rows) is 128, or 64 for GEMMs whose rows would leave half a 128-row tile idle
// (the 64-channel layers); the 4 warps then hold 32x64 each.
constexpr int kBN = 128, kBK = 32, kThreads = 128;
constexpr int kColumnTable = 2 * kBN;  // Wgrad: per column, its offset and (r << 16 | s)

constexpr int kRowK = kBK + 4;     // floats per row of a [row][k] tile
constexpr int kRowN = kBN + 8;     // floats per row of a [k][column] tile
constexpr int kBTileKN = kBK * kRowN;
constexpr int kBTileNK = kBN * kRowK;
constexpr int kBTile = kBTileKN > kBTileNK ? kBTileKN : kBTileNK;

// The tensor cores' operand formats (see the top of this file).
enum Prec { kTf32 = 0, kTf32Trunc = 1, kBf16 = 2 };

__host__ __device__ constexpr int a_tile_floats(int bm) { return bm * kRowK; }
__host__ __device__ constexpr int stage_floats(int bm) { return a_tile_floats(bm) + kBTile; }
__host__ __device__ constexpr size_t smem_bytes(int stages, int bm) {
  return sizeof(float) * ((size_t)stages * stage_floats(bm) + kColumnTable);
}

// Adds the split partials [split][M][N] in split order and writes the tensor layout (with bias).
template <ConvKind KIND>
__global__ void finalize_kernel(ConvIndex g, GemmShape s, const float* __restrict__ partials, int splits,
                                const float* __restrict__ bias, float* __restrict__ out) {
  const size_t total = (size_t)s.M * s.N;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
    float v = 0.f;
    for (int z = 0; z < splits; ++z) v += partials[(size_t)z * total + i];
    const int m = (int)(i / s.N), col = (int)(i % s.N);
    if (KIND != ConvKind::Wgrad && bias) v += bias[m];
    out[output_offset(KIND, g, s, m, col)] = v;
  }
}

// ---- The gathers of the three large-tile engines (this file, conv_bf16.cuh, conv_wgmma.cuh) ----
//
// Each engine stores what these find in its own layout (cp.async into float tiles, or registers
// packed into bfloat16 pairs); the index math lives here once.

// Where A's element (m, k) sits: A[a_base(k) + m * a_step], contiguous along k.
template <ConvKind KIND>
__device__ __forceinline__ int a_step(const ConvIndex& g, const GemmShape& s) {
  return KIND == ConvKind::Fwd ? s.K : KIND == ConvKind::Dgrad ? g.kh * g.kw : g.Ho * g.Wo;
}
template <ConvKind KIND>
__device__ __forceinline__ int a_base(const ConvIndex& g, const GemmShape& s, int k) {
  if (KIND == ConvKind::Fwd) return k;
  if (KIND == ConvKind::Dgrad) {
    const int khw = g.kh * g.kw, c = g.by_khw.div(k);
    return c * s.M * khw + (k - c * khw);
  }
  const int hw = g.Ho * g.Wo, nb = g.by_hw.div(k);
  return nb * s.M * hw + (k - nb * hw);
}

// Fwd/Dgrad: the gathered elements of one GEMM column (output pixel `col`), walked along
// k = (c, r, s) with a few integer ops per element instead of the generic index math's divisions.
template <ConvKind KIND>
struct ColumnGather {
  bool valid;
  const float* sample;
  int h0, w0;  // Fwd: input row hi = h0 + r; Dgrad: hi = (h0 - r) / sh when exact
  int c = 0, r = 0, q = 0;
  __device__ ColumnGather(const ConvIndex& g, const float* in, int col, int ncols) {
    const Column cl = KIND == ConvKind::Wgrad ? Column{false, 0, 0, 0} : decode_column<KIND>(g, col, ncols);
    valid = cl.valid;
    sample = in + (size_t)(cl.valid ? cl.a : 0) * g.C * g.Hi * g.Wi;
    h0 = KIND == ConvKind::Fwd ? cl.b * g.sh - g.ph : cl.b + g.ph;
    w0 = KIND == ConvKind::Fwd ? cl.c * g.sw - g.pw : cl.c + g.pw;
  }
  __device__ void seek(const ConvIndex& g, int k) {
    c = g.by_khw.div(k);
    const int rs = k - c * (g.kh * g.kw);
    r = g.by_kw.div(rs);
    q = rs - r * g.kw;
  }
  // The element at the current k and whether it exists (not padding, a stride hole, or
  // !in_range; src is only meaningful when ok); then steps to k + 1.
  __device__ const float* next(const ConvIndex& g, bool in_range, bool& ok) {
    ok = valid && in_range;
    int hi, wi;
    if (KIND == ConvKind::Fwd) {
      hi = h0 + r;
      wi = w0 + q;
    } else {
      const int hn = h0 - r, wn = w0 - q;
      if (g.sh == 1 && g.sw == 1) {
        hi = hn;
        wi = wn;
      } else {
        ok = ok && hn >= 0 && wn >= 0;
        hi = g.by_sh.div(max(hn, 0));
        wi = g.by_sw.div(max(wn, 0));
        ok = ok && hi * g.sh == hn && wi * g.sw == wn;
      }
    }
    ok = ok && (unsigned)hi < (unsigned)g.Hi && (unsigned)wi < (unsigned)g.Wi;
    const float* src = sample + (c * g.Hi + hi) * g.Wi + wi;
    if (++q == g.kw) {
      q = 0;
      if (++r == g.kh) {
        r = 0;
        ++c;
      }
    }
    return src;
  }
};

// Wgrad: the block's kBN columns (c, r, s) as a table in shared memory: per column its offset
// (c * Hi + r) * Wi + s, or -1 past the GEMM, and (r << 16) | s. Ends with a barrier.
__device__ __forceinline__ void fill_column_table(const ConvIndex& g, int ncols, int n0, int* table) {
  const int khw = g.kh * g.kw;
  for (int j = threadIdx.x; j < kBN; j += blockDim.x) {
    const int col = n0 + j;
    if (col < ncols) {
      const int c = g.by_khw.div(col), rs = col - c * khw;
      const int r = g.by_kw.div(rs), q = rs - r * g.kw;
      table[j] = (c * g.Hi + r) * g.Wi + q;
      table[kBN + j] = (r << 16) | q;
    } else {
      table[j] = -1;
      table[kBN + j] = 0;
    }
  }
  __syncthreads();
}

// Wgrad: the gathered elements of one k, a pixel (n, ho, wo) of the gradient, for the table's
// columns.
struct PixelGather {
  long long base = 0;
  int hb, wb;
  bool k_ok;
  __device__ PixelGather(const ConvIndex& g, int k, int k_end) : k_ok(k < k_end) {
    int nb = 0, ho = 0, wo = 0;
    if (k_ok) {
      const int hw = g.Ho * g.Wo;
      nb = g.by_hw.div(k);
      const int p = k - nb * hw;
      ho = g.by_wo.div(p);
      wo = p - ho * g.Wo;
    }
    hb = ho * g.sh - g.ph;
    wb = wo * g.sw - g.pw;
    base = (long long)nb * g.C * g.Hi * g.Wi + (long long)hb * g.Wi + wb;
  }
  // Whether column j of the table has an element here, and its offset in `in`.
  __device__ bool at(const ConvIndex& g, const int* table, int j, long long& offset) const {
    const int off = table[j], rq = table[kBN + j];
    offset = base + off;
    return k_ok && off >= 0 && (unsigned)(hb + (rq >> 16)) < (unsigned)g.Hi && (unsigned)(wb + (rq & 0xffff)) < (unsigned)g.Wi;
  }
};

// Where each lane points ldmatrix.x4 (mma_sm80.cuh) in the [row][k] tiles of the tc and bf16
// engines (k in 32-bit words: floats, or packed bf16 pairs): A's m16 tile over 8 k gives
// registers (g, t), (g+8, t), (g, t+4), (g+8, t+4); two n8 tiles of a [column][k] B over 8 k
// give b0, b1 of the first, then of the second. They are the positions 32-bit loads fetched.
struct FragmentLanes {
  int a_row, a_k, b_col, b_k;
  __device__ explicit FragmentLanes(int lane)
      : a_row((lane & 7) + 8 * ((lane >> 3) & 1)), a_k(4 * (lane >> 4)), b_col((lane & 7) + 8 * (lane >> 4)),
        b_k(4 * ((lane >> 3) & 1)) {}
};

// The epilogue of a warp's (16 MT)x64 sub-tile at (row0, col0): raw partials [split][M][N]
// (gridDim.z > 1), or the tensor layout with bias. acc holds the mma.sync accumulator fragments
// (per 16x8 tile: (g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1)).
template <ConvKind KIND, int MT>
__device__ __forceinline__ void store_tile(const ConvIndex& g, const GemmShape& s, const float (&acc)[MT][8][4],
                                           const float* __restrict__ bias, float* __restrict__ out, int row0, int col0,
                                           int gq, int tq) {
  const bool split = gridDim.z > 1;
#pragma unroll
  for (int nt = 0; nt < 8; ++nt)
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const int col = col0 + nt * 8 + 2 * tq + e;
      if (col >= s.N) continue;
      // Offset of (m = 0, col); rows step by hw (Fwd/Dgrad NCHW) or N (Wgrad, partials).
      size_t col_off;
      size_t row_step;
      if (split) {
        col_off = (size_t)blockIdx.z * s.M * s.N + col;
        row_step = s.N;
      } else if (KIND == ConvKind::Wgrad) {
        col_off = col;
        row_step = s.N;
      } else {
        col_off = output_column(g, col, &row_step);
      }
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int m = row0 + mt * 16 + gq + 8 * h;
          if (m >= s.M) continue;
          float v = acc[mt][nt][2 * h + e];
          if (!split && KIND != ConvKind::Wgrad && bias) v += __ldg(bias + m);
          out[col_off + (size_t)m * row_step] = v;
        }
    }
}

// NHWC (Fwd only; the tc-nhwc engine of conv_gemm.cu, a tuning candidate not yet timed on a
// GPU): `in` is the input in NHWC order, A the weight as [M][kh][kw][C], k = (r, s, c), and C a
// multiple of kBK, so a slice is 32 consecutive channels of one tap: B comes in 16-byte cp.async
// chunks (8 a thread) into the [column][k] tile Wgrad uses, instead of one 4-byte gather per
// element.
template <ConvKind KIND, int STAGES, int PREC, int BM, bool NHWC = false>
__global__ void __launch_bounds__(kThreads) conv_tc_kernel(const ConvIndex g, const GemmShape s,
                                                           const float* __restrict__ A, const float* __restrict__ in,
                                                           const float* __restrict__ bias, float* __restrict__ out,
                                                           int k_per_split, bool a_vec) {
  static_assert(BM == 128 || BM == 64, "tiles of 128 or 64 rows");
  static_assert(!NHWC || KIND == ConvKind::Fwd, "NHWC is a Fwd layout");
  constexpr bool kColK = KIND == ConvKind::Wgrad || NHWC;  // B tile [column][k], else [k][column]
  constexpr int kStage = stage_floats(BM), kATile = a_tile_floats(BM);
  constexpr int MT = BM / 32;  // m16 tiles per warp (2 x 2 warps)
  CGK_DYNAMIC_SMEM(float, smem);
  int* const col_table = reinterpret_cast<int*>(smem + STAGES * kStage);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * kBN;
  const int k_begin = blockIdx.z * k_per_split, k_end = min(s.K, k_begin + k_per_split);
  const int n_slices = (k_end - k_begin + kBK - 1) / kBK;

  // ---- A: 16-byte chunks (tid % 8 of rows tid / 8 + 16 i; the host allows this only when 4
  // consecutive k from a multiple of 4 are contiguous and K % 4 == 0), or one float each
  // (lane = k, rows warp + 4 i) ----
  auto load_a = [&](float* tile, int k0) {
    if (a_vec) {
      const int kc = tid & 7, k = k0 + 4 * kc;
      const bool k_ok = k < k_end;
      const int base = k_ok ? a_base<KIND>(g, s, k) : 0;
#pragma unroll
      for (int i = 0; i < BM / 16; ++i) {
        const int row = (tid >> 3) + 16 * i, m = m0 + row;
        const bool ok = k_ok && m < s.M;
        cp_async_zfill<16>(tile + row * kRowK + 4 * kc, ok ? A + base + m * a_step<KIND>(g, s) : A, ok);
      }
    } else {
      const int k = k0 + lane;
      const bool k_ok = k < k_end;
      const int base = k_ok ? a_base<KIND>(g, s, k) : 0;
#pragma unroll 8
      for (int i = 0; i < BM / 4; ++i) {
        const int row = warp + 4 * i, m = m0 + row;
        const bool ok = k_ok && m < s.M;
        cp_async_zfill<4>(tile + row * kRowK + lane, ok ? A + base + m * a_step<KIND>(g, s) : A, ok);
      }
    }
  };

  // ---- B for Fwd/Dgrad: the thread's column is output pixel n0 + tid ----
  ColumnGather<KIND> column(g, in, n0 + tid, s.N);
  auto load_b_columns = [&](float* tile, int k0) {
    column.seek(g, k0);
#pragma unroll 8
    for (int kk = 0; kk < kBK; ++kk) {
      bool ok;
      const float* src = column.next(g, k0 + kk < k_end, ok);
      cp_async_zfill<4>(tile + kk * kRowN + tid, ok ? src : in, ok);
    }
  };

  // ---- B for Wgrad: columns (c, r, s) from the table; lane = k (a pixel of the gradient) ----
  if (KIND == ConvKind::Wgrad) fill_column_table(g, s.N, n0, col_table);
  auto load_b_pixels = [&](float* tile, int k0) {
    const PixelGather px(g, k0 + lane, k_end);
#pragma unroll 8
    for (int i = 0; i < kBN / 4; ++i) {
      const int j = warp + 4 * i;
      long long off;
      const bool ok = px.at(g, col_table, j, off);
      cp_async_zfill<4>(tile + j * kRowK + lane, ok ? in + off : in, ok);
    }
  };

  // ---- B for Fwd from NHWC: chunk tid % 8 (4 channels) of columns tid / 8 + 16 i; each
  // column's sample offset and first input row and column, decoded once ----
  constexpr int kNhwcCols = NHWC ? kBN / 16 : 1;
  int nhwc_base[kNhwcCols], nhwc_h[kNhwcCols], nhwc_w[kNhwcCols];
  if constexpr (NHWC) {
#pragma unroll
    for (int i = 0; i < kNhwcCols; ++i) {
      const Column cl = decode_column<KIND>(g, n0 + (tid >> 3) + 16 * i, s.N);
      nhwc_base[i] = cl.valid ? cl.a * g.Hi * g.Wi : -1;
      nhwc_h[i] = cl.b * g.sh - g.ph;
      nhwc_w[i] = cl.c * g.sw - g.pw;
    }
  }
  auto load_b_nhwc = [&](float* tile, int k0) {
    const int tap = k0 / g.C, c = k0 - tap * g.C + 4 * (tid & 7);
    const int r = g.by_kw.div(tap), q = tap - r * g.kw;
    const bool k_ok = k0 < k_end;
#pragma unroll
    for (int i = 0; i < kNhwcCols; ++i) {
      const int hi = nhwc_h[i] + r, wi = nhwc_w[i] + q;
      const bool ok = k_ok && nhwc_base[i] >= 0 && (unsigned)hi < (unsigned)g.Hi && (unsigned)wi < (unsigned)g.Wi;
      const int col = (tid >> 3) + 16 * i;
      cp_async_zfill<16>(tile + col * kRowK + 4 * (tid & 7), ok ? in + (nhwc_base[i] + hi * g.Wi + wi) * g.C + c : in,
                         ok);
    }
  };

  auto load_slice = [&](int stage, int k0) {
    float* tile = smem + stage * kStage;
    load_a(tile, k0);
    if constexpr (NHWC) load_b_nhwc(tile + kATile, k0);
    else if (KIND == ConvKind::Wgrad) load_b_pixels(tile + kATile, k0);
    else load_b_columns(tile + kATile, k0);
  };

  // ---- the warp's (BM/2)x64 sub-tile: MT x 8 mma tiles of 16x8 ----
  const int wm = (warp >> 1) * (BM / 2), wn = (warp & 1) * 64;
  const int gq = lane >> 2, tq = lane & 3;
  float acc[MT][8][4];
#pragma unroll
  for (int i = 0; i < MT; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;

  // Fragments of the [row][k] tiles (A, and B for Wgrad) come through ldmatrix.x4
  // (FragmentLanes); for BF16 fragments of B, one n8 tile over 16 k: column l & 7 at k 4 (l >> 3).
  // B for Fwd/Dgrad is [k][column]: 32-bit loads.
  const FragmentLanes fl(lane);
  const int a_row = fl.a_row, a_k = fl.a_k, b_col = fl.b_col, b_k = fl.b_k;
  const int b16_col = lane & 7, b16_k = 4 * (lane >> 3);
  auto multiply = [&](int stage) {
    const float* As = smem + stage * kStage;
    const float* Bs = As + kATile;
    auto f = [](uint32_t bits) { return __uint_as_float(bits); };
    if constexpr (PREC == kBf16) {
      // Logical k (2t, 2t+1, 2t+8, 2t+9) of the 16-k step sits at positions (t, t+4, t+8, t+12).
#pragma unroll
      for (int ks = 0; ks < kBK; ks += 16) {
        uint32_t af[MT][4], bf[8][2];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          uint32_t lo[4], hi[4];  // (g, t), (g+8, t), (g, t+4), (g+8, t+4), then 8 k further
          ldmatrix_x4(lo, As + (wm + mt * 16 + a_row) * kRowK + ks + a_k);
          ldmatrix_x4(hi, As + (wm + mt * 16 + a_row) * kRowK + ks + 8 + a_k);
          af[mt][0] = bf16x2_bits(f(lo[0]), f(lo[2]));
          af[mt][1] = bf16x2_bits(f(lo[1]), f(lo[3]));
          af[mt][2] = bf16x2_bits(f(hi[0]), f(hi[2]));
          af[mt][3] = bf16x2_bits(f(hi[1]), f(hi[3]));
        }
#pragma unroll
        for (int nt = 0; nt < 8; ++nt) {
          if (kColK) {
            uint32_t r[4];  // (g, t), (g, t+4), (g, t+8), (g, t+12)
            ldmatrix_x4(r, Bs + (wn + nt * 8 + b16_col) * kRowK + ks + b16_k);
            bf[nt][0] = bf16x2_bits(f(r[0]), f(r[1]));
            bf[nt][1] = bf16x2_bits(f(r[2]), f(r[3]));
          } else {
            const float* p = Bs + (ks + tq) * kRowN + wn + nt * 8 + gq;
            bf[nt][0] = bf16x2_bits(p[0], p[4 * kRowN]);
            bf[nt][1] = bf16x2_bits(p[8 * kRowN], p[12 * kRowN]);
          }
        }
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
          for (int nt = 0; nt < 8; ++nt) mma_m16n8k16_bf16(acc[mt][nt], af[mt], bf[nt]);
      }
    } else {
      constexpr bool kRound = PREC == kTf32;
#pragma unroll
      for (int ks = 0; ks < kBK; ks += 8) {
        uint32_t af[MT][4], bf[8][2];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          uint32_t r[4];
          ldmatrix_x4(r, As + (wm + mt * 16 + a_row) * kRowK + ks + a_k);
#pragma unroll
          for (int e = 0; e < 4; ++e) af[mt][e] = tf32_bits<kRound>(f(r[e]));
        }
        if (kColK) {
#pragma unroll
          for (int nt = 0; nt < 8; nt += 2) {
            uint32_t r[4];  // b0, b1 of tile nt, then of tile nt + 1
            ldmatrix_x4(r, Bs + (wn + nt * 8 + b_col) * kRowK + ks + b_k);
            bf[nt][0] = tf32_bits<kRound>(f(r[0]));
            bf[nt][1] = tf32_bits<kRound>(f(r[1]));
            bf[nt + 1][0] = tf32_bits<kRound>(f(r[2]));
            bf[nt + 1][1] = tf32_bits<kRound>(f(r[3]));
          }
        } else {
#pragma unroll
          for (int nt = 0; nt < 8; ++nt) {
            const float* p = Bs + (ks + tq) * kRowN + wn + nt * 8 + gq;
            bf[nt][0] = tf32_bits<kRound>(p[0]);
            bf[nt][1] = tf32_bits<kRound>(p[4 * kRowN]);
          }
        }
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
          for (int nt = 0; nt < 8; ++nt) mma_m16n8k8_tf32(acc[mt][nt], af[mt], bf[nt]);
      }
    }
  };

  // ---- the pipeline: STAGES - 1 slices in flight while one is multiplied ----
#pragma unroll
  for (int st = 0; st < STAGES - 1; ++st) {
    if (st < n_slices) load_slice(st, k_begin + st * kBK);
    cp_async_commit();
  }
  for (int t = 0; t < n_slices; ++t) {
    cp_async_wait<STAGES - 2>();  // slice t has landed (for this thread) ...
    __syncthreads();              // ... for every thread, and slice t - 1's buffer is free
    const int next = t + STAGES - 1;
    if (next < n_slices) load_slice(next % STAGES, k_begin + next * kBK);
    cp_async_commit();
    multiply(t % STAGES);
  }
  cp_async_wait<0>();

  store_tile<KIND, MT>(g, s, acc, bias, out, m0 + wm, n0 + wn, gq, tq);
}

// How one GEMM runs on this engine.
struct Plan {
  bool eligible = false;  // else use another engine
  int splits = 1, k_per_split = 0;
  unsigned gx = 0, gy = 0;
  int bm = 128;  // tile rows
  bool a_vec = false;
};

// The plan with the reduction cut into `splits` parts of whole slices (fewer if K is short).
inline Plan with_splits(Plan p, const GemmShape& s, int splits) {
  p.k_per_split = ((s.K + splits - 1) / splits + kBK - 1) / kBK * kBK;
  p.splits = (s.K + p.k_per_split - 1) / p.k_per_split;
  return p;
}

// sm_count: multiprocessors to fill; a_aligned16: A's address is a multiple of 16 bytes. The
// engine keeps every element offset of A, of `in` and of `out` in int, so larger tensors go to
// the generic engines.
inline Plan tc_plan(ConvKind kind, const ConvGeom& g, const GemmShape& s, int sm_count, bool a_aligned16) {
  Plan p;
  const long long in_elems = (long long)g.n * g.C * g.Hi * g.Wi;
  const long long out_elems = (long long)s.M * s.N;
  const long long a_elems = kind == ConvKind::Wgrad ? (long long)g.n * g.M * g.Ho * g.Wo : (long long)s.M * s.K;
  const long long limit = 0x7fffffffLL;
  if (s.M < 64 || s.K < 1 || in_elems > limit || out_elems > limit || a_elems > limit) return p;
  if ((long long)g.C * g.Hi * g.Wi > limit || g.kh >= (1 << 15) || g.kw >= (1 << 15)) return p;
  p.eligible = true;
  p.gx = (unsigned)((s.N + kBN - 1) / kBN);
  // 64-row tiles where 128-row ones would leave half a tile idle: M <= 64, or a last tile of at
  // most 64 rows (M = 192: three 64-row tiles instead of two 128-row ones).
  p.bm = s.M % 128 != 0 && s.M % 128 <= 64 ? 64 : 128;
  p.gy = (unsigned)((s.M + p.bm - 1) / p.bm);
  // Split the reduction when the tiles leave multiprocessors idle, keeping at least 8 slices of
  // work per split.
  const int splits = split_count((long)p.gx * p.gy, sm_count, s.K / (8L * kBK), 32);
  p = with_splits(p, s, splits);
  p.a_vec = a_aligned16 &&
            ((kind == ConvKind::Fwd && s.K % 4 == 0) || (kind == ConvKind::Wgrad && (g.Ho * g.Wo) % 4 == 0));
  return p;
}

}  // namespace tc
}  // namespace cgk_cuda
