// The Hopper engine of the implicit-GEMM convolution (see conv_gemm.cuh for the three GEMMs):
// WG warpgroups (128 threads each) per (64 WG)x128 tile, each warpgroup multiplying its 64 rows
// of A by the tile's shared 128 columns of B, BK = 32, wgmma.mma_async m64n128k8 with TF32
// operands read by the tensor cores straight from shared memory (no fragment loads through
// registers, which bound the mma.sync engines on sm_90: docs/cuda.md, "Precision"), and the
// 3-stage cp.async pipeline and gathers of conv_tc.cuh. Two warpgroups (128-row tiles) gather
// each B slice once for twice the MMAs: half the gather instructions per multiply-add, at 98
// KiB of shared memory a block (two blocks a multiprocessor) against 74 KiB for one.
//
// TF32 wgmma takes K-major operands only: both tiles are [row or column][k], in the no-swizzle
// canonical layout of 8-row x 16-byte core matrices (128 contiguous bytes each): element
// (row, k) of a tile sits at float ((row / 8) * 8 + k / 4) * 32 + (row % 8) * 4 + k % 4. A k8
// step is two core matrices along k (LBO = 128 bytes apart); the next 8 rows are SBO = 1024
// bytes on.
//
// Opt-in (CGTRAIN_CUDA_CONV=wgmma) until a GPU run has validated it; built for sm_90a only
// (conv_wgmma.cu) and launched only on compute capability 9.0. cuda/dev/emu/conv_tc_check.cc
// runs it on the CPU emulator, whose warpgroup MMA reads shared memory at the wait that
// completes it, so a stage refilled too early gives wrong numbers there too.
#pragma once

#include "conv_tc.cuh"
#include "mma_sm90.cuh"

namespace cgk_cuda {
namespace wg {

constexpr int kBN = 128, kBK = 32, kStages = 3;
constexpr int kBTile = kBN * kBK;
constexpr int kColumnTable = tc::kColumnTable;
constexpr uint32_t kLbo = 128, kSbo = 8 * 128;

// The tile of WG warpgroups: 64 WG rows, 128 WG threads.
template <int WG>
struct Tile {
  static constexpr int kBM = 64 * WG, kThreads = 128 * WG, kWarps = 4 * WG;
  static constexpr int kATile = kBM * kBK, kStage = kATile + kBTile;
  static constexpr size_t kSmemBytes = sizeof(float) * ((size_t)kStages * kStage + kColumnTable);
};

// Float index of (row, k) in a tile of the canonical layout.
__host__ __device__ constexpr int at(int row, int k) { return ((row >> 3) * (kBK / 4) + (k >> 2)) * 32 + (row & 7) * 4 + (k & 3); }

template <ConvKind KIND, int WG>
__global__ void __launch_bounds__(Tile<WG>::kThreads) conv_wgmma_kernel(const ConvIndex g, const GemmShape s,
                                                                        const float* __restrict__ A,
                                                                        const float* __restrict__ in,
                                                                        const float* __restrict__ bias,
                                                                        float* __restrict__ out, int k_per_split,
                                                                        bool a_vec) {
  using T = Tile<WG>;
  constexpr int kBM = T::kBM, kThreads = T::kThreads, kWarps = T::kWarps, kATile = T::kATile, kStage = T::kStage;
  CGK_DYNAMIC_SMEM(float, smem);
  int* const col_table = reinterpret_cast<int*>(smem + kStages * kStage);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int group = warp / 4, gwarp = warp % 4;  // the thread's warpgroup, and its warp there
  const int m0 = blockIdx.y * kBM, n0 = blockIdx.x * kBN;
  const int k_begin = blockIdx.z * k_per_split, k_end = min(s.K, k_begin + k_per_split);
  const int n_slices = (k_end - k_begin + kBK - 1) / kBK;

  auto load_a = [&](float* tile, int k0) {
    if (a_vec) {
      // 16-byte chunks c = tid + threads i: chunk kc = (c / 8) % 8 (k 4 kc .. 4 kc + 3, the same
      // for all of a thread's chunks) of row 8 (c / 64) + c % 8, one core-matrix row each. Eight
      // consecutive lanes (one phase of a 16-byte store) fill eight rows of one core matrix:
      // 128 bytes on all 32 banks.
      const int kc = (tid >> 3) & 7, k = k0 + 4 * kc;
      const bool k_ok = k < k_end;
      const int base = k_ok ? tc::a_base<KIND>(g, s, k) : 0;
#pragma unroll
      for (int i = 0; i < kBM * 8 / kThreads; ++i) {
        const int c = tid + kThreads * i, row = (c & 7) + 8 * (c >> 6), m = m0 + row;
        const bool ok = k_ok && m < s.M;
        cp_async_zfill<16>(tile + at(row, 4 * kc), ok ? A + base + m * tc::a_step<KIND>(g, s) : A, ok);
      }
    } else {
      // 4 bytes at a time, lane = k: a warp store covers 8 rows (lane / 4 apart) x 4 k, all 32
      // banks (as the Wgrad B loads below); over the loop a lane takes every row
      // warp + lane / 4 (mod warps), the warps together all of them.
      const int k = k0 + lane;
      const bool k_ok = k < k_end;
      const int base = k_ok ? tc::a_base<KIND>(g, s, k) : 0;
#pragma unroll 8
      for (int i = 0; i < kBM / kWarps; ++i) {
        const int row = (warp + kWarps * i + (lane >> 2)) % kBM, m = m0 + row;
        const bool ok = k_ok && m < s.M;
        cp_async_zfill<4>(tile + at(row, lane), ok ? A + base + m * tc::a_step<KIND>(g, s) : A, ok);
      }
    }
  };

  // ---- B for Fwd/Dgrad: the thread's column is output pixel n0 + tid % 128; it walks (c, r, s),
  // the k of its warpgroup's share of the slice (all of it with one warpgroup, half with two).
  // Element (col, k) lands on bank 4 (col % 8) + k % 4, so a warp's 32 columns storing one k
  // would hit 8 banks 4 times; each group of 8 columns starts `skew` = (col / 8) % 4 further
  // into its share instead (and wraps around to the start), which puts every store of the warp
  // on 32 banks ----
  constexpr int kColumnK = kBK / WG;
  const int col = tid % kBN, k_first = (tid / kBN) * kColumnK, skew = (col >> 3) & 3;
  tc::ColumnGather<KIND> column(g, in, n0 + col, s.N);
  auto load_b_columns = [&](float* tile, int k0) {
    column.seek(g, k0 + k_first + skew);
#pragma unroll 8
    for (int j = 0; j < kColumnK; ++j) {
      int kk = k_first + skew + j;
      if (kk >= k_first + kColumnK) {
        kk -= kColumnK;
        if (kk == k_first) column.seek(g, k0 + k_first);
      }
      bool ok;
      const float* src = column.next(g, k0 + kk < k_end, ok);
      cp_async_zfill<4>(tile + at(col, kk), ok ? src : in, ok);
    }
  };

  // ---- B for Wgrad: columns (c, r, s) from the table; lane = k (a pixel of the gradient). A
  // warp's store covers 8 columns (lane / 4 apart) x 4 k, all 32 banks; over the loop a lane
  // takes every column j = warp + lane / 4 (mod warps), and the warps together all 128 ----
  if (KIND == ConvKind::Wgrad) tc::fill_column_table(g, s.N, n0, col_table);
  auto load_b_pixels = [&](float* tile, int k0) {
    const tc::PixelGather px(g, k0 + lane, k_end);
#pragma unroll 8
    for (int i = 0; i < kBN / kWarps; ++i) {
      const int j = (warp + kWarps * i + (lane >> 2)) % kBN;
      long long off;
      const bool ok = px.at(g, col_table, j, off);
      cp_async_zfill<4>(tile + at(j, lane), ok ? in + off : in, ok);
    }
  };

  auto load_slice = [&](int stage, int k0) {
    float* tile = smem + stage * kStage;
    load_a(tile, k0);
    if (KIND == ConvKind::Wgrad) load_b_pixels(tile + kATile, k0);
    else load_b_columns(tile + kATile, k0);
  };

  float acc[64];
#pragma unroll
  for (int r = 0; r < 64; ++r) acc[r] = 0.f;

  // ---- the pipeline: 2 slices in flight while the tensor cores work on one ----
#pragma unroll
  for (int st = 0; st < kStages - 1; ++st) {
    if (st < n_slices) load_slice(st, k_begin + st * kBK);
    cp_async_commit();
  }
  for (int t = 0; t < n_slices; ++t) {
    cp_async_wait<kStages - 2>();  // slice t has landed (for this thread) ...
    fence_proxy_async();           // ... and is visible to the tensor cores ...
    __syncthreads();               // ... for every thread
    const float* As = smem + (t % kStages) * kStage + at(64 * group, 0);  // this warpgroup's 64 rows
    const float* Bs = smem + (t % kStages) * kStage + kATile;
#pragma unroll
    for (int r = 0; r < 64; ++r) fence_operand(acc[r]);
    wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < kBK / 8; ++ks) {
      // k8 step ks: core matrices 2 ks and 2 ks + 1 along k, 64 floats further on.
      wgmma_m64n128k8_tf32(acc, smem_desc(As + 64 * ks, kLbo, kSbo), smem_desc(Bs + 64 * ks, kLbo, kSbo));
    }
    wgmma_commit();
    // Slice t - 1's MMAs are done: its stage, (t + 2) % 3, can be refilled. Every thread fills
    // rows of both warpgroups, so with two the other's MMAs must be done too.
    wgmma_wait<1>();
#pragma unroll
    for (int r = 0; r < 64; ++r) fence_operand(acc[r]);
    if (WG > 1) __syncthreads();
    const int next = t + kStages - 1;
    if (next < n_slices) load_slice(next % kStages, k_begin + next * kBK);
    cp_async_commit();
  }
  wgmma_wait<0>();
#pragma unroll
  for (int r = 0; r < 64; ++r) fence_operand(acc[r]);
  cp_async_wait<0>();

  // ---- epilogue: accumulator r is (64 group + 16 gwarp + l / 4 + 8 ((r / 2) % 2), 2 (l % 4) + r % 2 + 8 (r / 4)),
  // the layout tc::store_tile takes for one m16 tile and eight n8 tiles, twice ----
  const int gq = lane >> 2, tq = lane & 3;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    float part[1][8][4];
#pragma unroll
    for (int nt = 0; nt < 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) part[0][nt][e] = acc[4 * (8 * half + nt) + e];
    tc::store_tile<KIND, 1>(g, s, part, bias, out, m0 + 64 * group + 16 * gwarp, n0 + 64 * half, gq, tq);
  }
}

// True when this device runs the engine: compute capability 9.0 and the kernels were built
// with wgmma (sm_90a, or the CPU emulator). Asked of the device once, then remembered.
bool available();

// Launches the kernel of bm-row tiles (64: one warpgroup, 128: two) for one GEMM (conv_wgmma.cu,
// built for sm_90a): grid (ceil(N / 128), ceil(M / bm), splits) writing `target` (the output,
// or the split partials).
int launch(ConvKind kind, int bm, const ConvIndex& ix, const GemmShape& s, const float* A, const float* in,
           const float* bias, float* target, unsigned gx, unsigned gy, int splits, int k_per_split, bool a_vec);

}  // namespace wg
}  // namespace cgk_cuda
