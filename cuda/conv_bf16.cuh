// The BF16 engine of the implicit-GEMM convolution (--precision bf16; see conv_gemm.cuh for the
// three GEMMs): conv_tc.cuh's tiles (128x128, or 64x128 where a 128-row tile would be half
// idle; BK = 32; 4 warps of (BM/2)x64) and its plans, but the operands sit in shared memory as
// packed bfloat16 pairs instead of floats:
//   - half the shared-memory bytes per multiply-add, which bound a 4-warp mma.sync engine on
//     sm_90 (a warp's 64x64 tile reads 128 bytes of fragments per m16n8k8 TF32 mma, as much as
//     shared memory delivers per clock);
//   - one 32-bit load per fragment register and no conversion in the inner loop;
//   - mma.sync m16n8k16: half the mma instructions of TF32 for the same work.
// cp.async cannot convert, so each thread gathers the next slice into registers while the
// tensor cores work on the current one (global latency hides behind the multiply), then packs
// and stores it: two shared-memory stages, one barrier per slice.
//
// A packed word holds k 2j (bits 0-15) and 2j+1 of one row or column, which is what an m16n8k16
// fragment register holds. Layouts, in 32-bit words (rows padded so that the fragment loads hit
// 32 distinct banks, as conv_tc.cuh's float layouts):
//   A tile:  [BM rows m][16 pairs + 4]
//   B tile:  Fwd/Dgrad [16 pairs][128 columns + 8]; Wgrad [128 columns][16 pairs + 4]
// A thread that gathers single k values (the 4-byte A path, Wgrad's B) gets its pair's other
// half from the neighbouring lane with a shuffle.
//
// cuda/dev/emu/conv_tc_check.cc runs this code on the CPU emulator; conv_gemm.cu launches it.
#pragma once

#include "conv_tc.cuh"

namespace cgk_cuda {
namespace bf {

constexpr int kBN = tc::kBN, kBK = tc::kBK, kThreads = tc::kThreads;
constexpr int kPairs = kBK / 2;      // packed words per row of k
constexpr int kRowP = kPairs + 4;    // words per row of a [row][pair] tile
constexpr int kRowN = kBN + 8;       // words per row of a [pair][column] tile
constexpr int kBTile = kPairs * kRowN > kBN * kRowP ? kPairs * kRowN : kBN * kRowP;
constexpr int kColumnTable = tc::kColumnTable;

__host__ __device__ constexpr int a_tile_words(int bm) { return bm * kRowP; }
__host__ __device__ constexpr int stage_words(int bm) { return a_tile_words(bm) + kBTile; }
// Two stages and the Wgrad column table: 41 KiB for 128-row tiles, under the 48 KiB a kernel
// gets without opting in.
__host__ __device__ constexpr size_t smem_bytes(int bm) { return sizeof(uint32_t) * (2 * (size_t)stage_words(bm) + kColumnTable); }

template <ConvKind KIND, int BM>
__global__ void __launch_bounds__(kThreads) conv_bf16_kernel(const ConvIndex g, const GemmShape s,
                                                             const float* __restrict__ A, const float* __restrict__ in,
                                                             const float* __restrict__ bias, float* __restrict__ out,
                                                             int k_per_split, bool a_vec) {
  static_assert(BM == 128 || BM == 64, "tiles of 128 or 64 rows");
  constexpr int kStage = stage_words(BM), kATile = a_tile_words(BM);
  constexpr int MT = BM / 32;      // m16 tiles per warp (2 x 2 warps)
  constexpr int kAVec = BM / 16;   // 16-byte A chunks per thread and slice
  constexpr int kAOne = BM / 4;    // single A values per thread and slice
  CGK_DYNAMIC_SMEM(uint32_t, smem);
  int* const col_table = reinterpret_cast<int*>(smem + 2 * kStage);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * kBN;
  const int k_begin = blockIdx.z * k_per_split, k_end = min(s.K, k_begin + k_per_split);
  const int n_slices = (k_end - k_begin + kBK - 1) / kBK;

  // The next slice's A: 16-byte path, chunk tid % 8 (k 4 kc .. 4 kc + 3) of rows tid / 8 + 16 i;
  // else one value each, lane = k, rows warp + 4 i.
  float ra[kAOne];
  auto fetch_a = [&](int k0) {
    if (a_vec) {
      const int kc = tid & 7, k = k0 + 4 * kc;
      const bool k_ok = k < k_end;  // the host allows this path only when K % 4 == 0
      const int base = k_ok ? tc::a_base<KIND>(g, s, k) : 0;
#pragma unroll
      for (int i = 0; i < kAVec; ++i) {
        const int m = m0 + (tid >> 3) + 16 * i;
        float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
        if (k_ok && m < s.M) v = __ldg(reinterpret_cast<const float4*>(A + base + m * tc::a_step<KIND>(g, s)));
        ra[4 * i] = v.x;
        ra[4 * i + 1] = v.y;
        ra[4 * i + 2] = v.z;
        ra[4 * i + 3] = v.w;
      }
    } else {
      const int k = k0 + lane;
      const bool k_ok = k < k_end;
      const int base = k_ok ? tc::a_base<KIND>(g, s, k) : 0;
#pragma unroll
      for (int i = 0; i < kAOne; ++i) {
        const int m = m0 + warp + 4 * i;
        ra[i] = k_ok && m < s.M ? __ldg(A + base + m * tc::a_step<KIND>(g, s)) : 0.f;
      }
    }
  };
  auto store_a = [&](uint32_t* tile) {
    if (a_vec) {
      const int kc = tid & 7;
#pragma unroll
      for (int i = 0; i < kAVec; ++i) {
        uint32_t* p = tile + ((tid >> 3) + 16 * i) * kRowP + 2 * kc;
        p[0] = bf16x2_bits(ra[4 * i], ra[4 * i + 1]);
        p[1] = bf16x2_bits(ra[4 * i + 2], ra[4 * i + 3]);
      }
    } else {
#pragma unroll
      for (int i = 0; i < kAOne; ++i) {
        const float other = __shfl_xor_sync(0xffffffffu, ra[i], 1);
        if (!(lane & 1)) tile[(warp + 4 * i) * kRowP + (lane >> 1)] = bf16x2_bits(ra[i], other);
      }
    }
  };

  // ---- B for Fwd/Dgrad: the thread's column is output pixel n0 + tid; it walks (c, r, s) ----
  float rb[kBK];
  tc::ColumnGather<KIND> column(g, in, n0 + tid, s.N);
  auto fetch_b_columns = [&](int k0) {
    column.seek(g, k0);
#pragma unroll
    for (int kk = 0; kk < kBK; ++kk) {
      bool ok;
      const float* src = column.next(g, k0 + kk < k_end, ok);
      rb[kk] = ok ? __ldg(src) : 0.f;
    }
  };
  auto store_b_columns = [&](uint32_t* tile) {
#pragma unroll
    for (int j = 0; j < kPairs; ++j) tile[j * kRowN + tid] = bf16x2_bits(rb[2 * j], rb[2 * j + 1]);
  };

  // ---- B for Wgrad: columns (c, r, s) from the table; lane = k (a pixel of the gradient) ----
  if (KIND == ConvKind::Wgrad) tc::fill_column_table(g, s.N, n0, col_table);
  auto fetch_b_pixels = [&](int k0) {
    const tc::PixelGather px(g, k0 + lane, k_end);
#pragma unroll
    for (int i = 0; i < kBN / 4; ++i) {
      long long off;
      rb[i] = px.at(g, col_table, warp + 4 * i, off) ? __ldg(in + off) : 0.f;
    }
  };
  auto store_b_pixels = [&](uint32_t* tile) {
#pragma unroll
    for (int i = 0; i < kBN / 4; ++i) {
      const float other = __shfl_xor_sync(0xffffffffu, rb[i], 1);
      if (!(lane & 1)) tile[(warp + 4 * i) * kRowP + (lane >> 1)] = bf16x2_bits(rb[i], other);
    }
  };

  auto fetch = [&](int k0) {
    fetch_a(k0);
    if (KIND == ConvKind::Wgrad) fetch_b_pixels(k0);
    else fetch_b_columns(k0);
  };
  auto store = [&](int stage) {
    uint32_t* tile = smem + stage * kStage;
    store_a(tile);
    if (KIND == ConvKind::Wgrad) store_b_pixels(tile + kATile);
    else store_b_columns(tile + kATile);
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

  // Word (row, pair j) holds k 2j and 2j+1: the fragment registers are (g, pairs t and t+4 of
  // the 8-pair step), the positions of TF32 fragments, so the [row][pair] tiles (A, and B for
  // Wgrad) load them with ldmatrix.x4 as the tc engine does (tc::FragmentLanes; rows 80 bytes
  // apart: conflict-free); B for Fwd/Dgrad is [pair][column]: single loads.
  const tc::FragmentLanes fl(lane);
  const int a_row = fl.a_row, a_pair = fl.a_k, b_col = fl.b_col, b_pair = fl.b_k;
  auto multiply = [&](int stage) {
    const uint32_t* As = smem + stage * kStage;
    const uint32_t* Bs = As + kATile;
#pragma unroll
    for (int js = 0; js < kPairs; js += 8) {
      uint32_t af[MT][4], bfr[8][2];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) ldmatrix_x4(af[mt], As + (wm + mt * 16 + a_row) * kRowP + js + a_pair);
      if (KIND == ConvKind::Wgrad) {
#pragma unroll
        for (int nt = 0; nt < 8; nt += 2) {
          uint32_t r[4];  // b0, b1 of tile nt, then of tile nt + 1
          ldmatrix_x4(r, Bs + (wn + nt * 8 + b_col) * kRowP + js + b_pair);
          bfr[nt][0] = r[0];
          bfr[nt][1] = r[1];
          bfr[nt + 1][0] = r[2];
          bfr[nt + 1][1] = r[3];
        }
      } else {
#pragma unroll
        for (int nt = 0; nt < 8; ++nt) {
          const uint32_t* p = Bs + (js + tq) * kRowN + wn + nt * 8 + gq;
          bfr[nt][0] = p[0];
          bfr[nt][1] = p[4 * kRowN];
        }
      }
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int nt = 0; nt < 8; ++nt) mma_m16n8k16_bf16(acc[mt][nt], af[mt], bfr[nt]);
    }
  };

  // ---- the pipeline: slice t + 1 travels into registers while slice t is multiplied ----
  if (n_slices > 0) {
    fetch(k_begin);
    store(0);
  }
  __syncthreads();
  for (int t = 0; t < n_slices; ++t) {
    const bool more = t + 1 < n_slices;
    if (more) fetch(k_begin + (t + 1) * kBK);
    multiply(t & 1);
    // The other stage was last read in iteration t - 1, before the barrier that ended it.
    if (more) store((t + 1) & 1);
    __syncthreads();
  }

  tc::store_tile<KIND, MT>(g, s, acc, bias, out, m0 + wm, n0 + wn, gq, tq);
}

}  // namespace bf
}  // namespace cgk_cuda
