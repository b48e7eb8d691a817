// Packed SGEMM (see gemm.h). Loop structure, per pool task (a range of N, or of M):
//
//   A is packed once, up front and shared: [M/MR panels][K][MR], so every task reads the same
//   weights (or dY) from L2/L3 instead of re-packing them per block.
//   for each NC block of columns:
//     for each MC block of rows (all rows when C is a plain matrix, else the writer's buffer):
//       for each KC slice of depth:     pack B[KC x NC] as NR-wide panels (L2-resident)
//         for each NR panel:            its KC x NR micro-panel is reused from L1/L2 ...
//           for each MR panel:          ... while A micro-panels stream from L2
//             micro-kernel: MR x NR accumulators in registers, C tile (+)= A panel * B panel
//       hand the finished MC x NC block to the writer (bias, NCHW scatter, col2im)
// Keeping the MC block's C tiles hot between KC slices is what makes the col2im writer cheap:
// the block is written once, while still in L2.
//
// The micro-kernels keep the whole C tile in registers (AVX-512: 8 x 48 = 24 zmm accumulators,
// 3 vector loads and 8 broadcasts per 24 FMAs), so the FMA units, not loads, set the pace. With
// BInPlace, the AVX-512 and AVX2 kernels load B vectors straight from the image and skip packing.
#include "gemm.h"

#include "arch.h"
#if CGK_X86
// GCC 12 reports its own AVX-512 intrinsics as uninitialized (false positives, see simd.h).
#ifndef __clang__  // (a GCC-only warning)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <numeric>
#include <utility>
#include <vector>

#include "float_runs.h"
#include "runtime.h"
#include "threads.h"

#if CGK_X86
#define CGK_TARGET_AVX512 __attribute__((target("avx512f,avx512vl,fma")))
#define CGK_TARGET_AVX2 __attribute__((target("avx2,fma")))
#endif

namespace cgk {
namespace {

// Depth and width of the cache blocks. KC x NR floats of B must sit in L1 next to the streaming
// A panels; KC x NC of B and MC x NC of C in L2 (1 MiB per core here).
#ifndef CGK_GEMM_BLOCK_K  // overridable for tuning builds of native/cpu/dev drivers
#define CGK_GEMM_BLOCK_K 192
#define CGK_GEMM_BLOCK_N 384
#define CGK_GEMM_BLOCK_M 256
#endif
constexpr int kBlockK = CGK_GEMM_BLOCK_K;
constexpr int kBlockN = CGK_GEMM_BLOCK_N;
constexpr int kBlockM = CGK_GEMM_BLOCK_M;
// Depth up to this is taken as one slice: a second, thin slice (K = 256 as 192 + 64) would pack
// B again for every row block and reload the C block for little work.
constexpr int kMaxSingleSlice = kBlockK * 4 / 3;

inline int slice_depth(int k) { return k <= kMaxSingleSlice ? k : kBlockK; }

// Depth of one step of packing A up front (see gemm()).
constexpr int kPackDepth = 64;

// Pieces of a product per pool thread (see gemm()).
constexpr int kPiecesPerThread = 3;

#if CGK_X86
constexpr int kAvx512Rows = 8, kAvx512Vectors = 3;  // 8 x 48
constexpr int kAvx2Rows = 6, kAvx2Vectors = 2;      // 6 x 16
#endif
constexpr int kScalarRows = 4, kScalarCols = 16;    // 4 x 16

// c (ldc) = [c +] a * b for a `rows` x nr tile; a is [kc][a_stride], b is [kc][nr].
using MicroKernel = void (*)(int kc, const float* a, int a_stride, const float* b, float* c, ptrdiff_t ldc,
                             bool accumulate);

#if CGK_X86
template <int ROWS, int NV>
CGK_TARGET_AVX512 void kernel_avx512(int kc, const float* __restrict a, int a_stride, const float* __restrict b,
                                     float* __restrict c, ptrdiff_t ldc, bool accumulate) {
  __m512 acc[ROWS][NV];
#pragma GCC unroll 16
  for (int i = 0; i < ROWS; i++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps();
#pragma GCC unroll 2
  for (int k = 0; k < kc; k++) {
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) bv[v] = _mm512_load_ps(b + 16 * v);
#pragma GCC unroll 16
    for (int i = 0; i < ROWS; i++) {
      __m512 ai = _mm512_set1_ps(a[i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a += a_stride;
    b += 16 * NV;
  }
#pragma GCC unroll 16
  for (int i = 0; i < ROWS; i++) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      float* p = c + i * ldc + 16 * v;
      __m512 r = accumulate ? _mm512_add_ps(_mm512_loadu_ps(p), acc[i][v]) : acc[i][v];
      _mm512_storeu_ps(p, r);
    }
  }
}

#endif  // CGK_X86

// As kernel_avx512, with the B vectors loaded straight from `bases[v] + offsets[k]` (BInPlace):
// no packing, so layers with few output channels are not bound by copying their unfolded input.
// C's vectors are `ldv` floats apart along a row (16: a plain tile; a grouped C written in place);
// `accumulate` adds the tile to C instead of overwriting it.
using InPlaceKernel = void (*)(int kc, const float* a, int a_stride, const int* offsets, const float* const* bases,
                               float* c, ptrdiff_t ldc, ptrdiff_t ldv, bool accumulate);

#if CGK_X86
template <int ROWS, int NV>
CGK_TARGET_AVX512 void kernel_in_place_avx512(int kc, const float* __restrict a, int a_stride,
                                              const int* __restrict offsets, const float* const* bases,
                                              float* __restrict c, ptrdiff_t ldc, ptrdiff_t ldv, bool accumulate) {
  __m512 acc[ROWS][NV];
  const float* base[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; v++) base[v] = bases[v];
#pragma GCC unroll 16
  for (int i = 0; i < ROWS; i++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps();
#pragma GCC unroll 2
  for (int k = 0; k < kc; k++) {
    const int off = offsets[k];
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) bv[v] = _mm512_loadu_ps(base[v] + off);
#pragma GCC unroll 16
    for (int i = 0; i < ROWS; i++) {
      __m512 ai = _mm512_set1_ps(a[i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a += a_stride;
  }
#pragma GCC unroll 16
  for (int i = 0; i < ROWS; i++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      float* p = c + i * ldc + v * ldv;
      _mm512_storeu_ps(p, accumulate ? _mm512_add_ps(_mm512_loadu_ps(p), acc[i][v]) : acc[i][v]);
    }
}

// kernel_in_place_avx512 for AVX2: each 16-column group (NV of them) is two ymm per row.
template <int ROWS, int NV>
CGK_TARGET_AVX2 void kernel_in_place_avx2(int kc, const float* __restrict a, int a_stride, const int* __restrict offsets,
                                          const float* const* bases, float* __restrict c, ptrdiff_t ldc, ptrdiff_t ldv,
                                          bool accumulate) {
  __m256 acc[ROWS][2 * NV];
  const float* base[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; v++) base[v] = bases[v];
#pragma GCC unroll 16
  for (int i = 0; i < ROWS; i++)
#pragma GCC unroll 4
    for (int v = 0; v < 2 * NV; v++) acc[i][v] = _mm256_setzero_ps();
#pragma GCC unroll 2
  for (int k = 0; k < kc; k++) {
    const int off = offsets[k];
    __m256 bv[2 * NV];
#pragma GCC unroll 4
    for (int v = 0; v < 2 * NV; v++) bv[v] = _mm256_loadu_ps(base[v / 2] + off + 8 * (v % 2));
#pragma GCC unroll 16
    for (int i = 0; i < ROWS; i++) {
      __m256 ai = _mm256_broadcast_ss(a + i);
#pragma GCC unroll 4
      for (int v = 0; v < 2 * NV; v++) acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a += a_stride;
  }
#pragma GCC unroll 16
  for (int i = 0; i < ROWS; i++)
#pragma GCC unroll 4
    for (int v = 0; v < 2 * NV; v++) {
      float* p = c + i * ldc + (v / 2) * ldv + 8 * (v % 2);
      _mm256_storeu_ps(p, accumulate ? _mm256_add_ps(_mm256_loadu_ps(p), acc[i][v]) : acc[i][v]);
    }
}

template <int ROWS, int NV>
CGK_TARGET_AVX2 void kernel_avx2(int kc, const float* __restrict a, int a_stride, const float* __restrict b,
                                 float* __restrict c, ptrdiff_t ldc, bool accumulate) {
  __m256 acc[ROWS][NV];
#pragma GCC unroll 16
  for (int i = 0; i < ROWS; i++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[i][v] = _mm256_setzero_ps();
#pragma GCC unroll 2
  for (int k = 0; k < kc; k++) {
    __m256 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) bv[v] = _mm256_load_ps(b + 8 * v);
#pragma GCC unroll 16
    for (int i = 0; i < ROWS; i++) {
      __m256 ai = _mm256_broadcast_ss(a + i);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a += a_stride;
    b += 8 * NV;
  }
#pragma GCC unroll 16
  for (int i = 0; i < ROWS; i++) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      float* p = c + i * ldc + 8 * v;
      __m256 r = accumulate ? _mm256_add_ps(_mm256_loadu_ps(p), acc[i][v]) : acc[i][v];
      _mm256_storeu_ps(p, r);
    }
  }
}

#endif  // CGK_X86

// The portable path: plain loops the compiler may vectorise with the baseline ISA only.
template <int ROWS>
void kernel_scalar(int kc, const float* __restrict a, int a_stride, const float* __restrict b, float* __restrict c,
                   ptrdiff_t ldc, bool accumulate) {
  float acc[ROWS][kScalarCols] = {};
  for (int k = 0; k < kc; k++) {
    for (int i = 0; i < ROWS; i++) {
      float ai = a[i];
      for (int j = 0; j < kScalarCols; j++) acc[i][j] += ai * b[j];
    }
    a += a_stride;
    b += kScalarCols;
  }
  for (int i = 0; i < ROWS; i++)
    for (int j = 0; j < kScalarCols; j++) c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc[i][j] : acc[i][j];
}

struct KernelSet {
  GemmTile tile;
  MicroKernel by_rows[16];  // by_rows[r - 1] computes r rows
  InPlaceKernel in_place[4][16];  // [16-column groups - 1][rows - 1]; empty for the scalar path
};

#if CGK_X86
template <int NV, size_t... R>
KernelSet make_avx512(std::index_sequence<R...>) {
  static_assert(NV == 3, "the in-place kernel table below lists 1 to 3 vectors");
  return {{kAvx512Rows, 16 * NV},
          {&kernel_avx512<int(R) + 1, NV>...},
          {{&kernel_in_place_avx512<int(R) + 1, 1>...},
           {&kernel_in_place_avx512<int(R) + 1, 2>...},
           {&kernel_in_place_avx512<int(R) + 1, 3>...}}};
}
template <int NV, size_t... R>
KernelSet make_avx2(std::index_sequence<R...>) {
  static_assert(NV == 2, "the AVX2 tile is one 16-column group: two ymm");
  return {{kAvx2Rows, 8 * NV}, {&kernel_avx2<int(R) + 1, NV>...}, {{&kernel_in_place_avx2<int(R) + 1, 1>...}}};
}
#endif  // CGK_X86
template <size_t... R>
KernelSet make_scalar(std::index_sequence<R...>) {
  return {{kScalarRows, kScalarCols}, {&kernel_scalar<int(R) + 1>...}, {}};
}

const KernelSet& kernels_for(int level) {
  static const KernelSet scalar = make_scalar(std::make_index_sequence<kScalarRows>());
#if CGK_X86
  static const KernelSet avx512 = make_avx512<kAvx512Vectors>(std::make_index_sequence<kAvx512Rows>());
  static const KernelSet avx2 = make_avx2<kAvx2Vectors>(std::make_index_sequence<kAvx2Rows>());
  if (level >= kAvx512) return avx512;
  if (level == kAvx2) return avx2;
#endif
  (void)level;
  return scalar;
}

// A 64-byte aligned float buffer that only grows, so steady-state calls never allocate.
class GrowBuffer {
 public:
  GrowBuffer() = default;
  GrowBuffer(const GrowBuffer&) = delete;
  GrowBuffer& operator=(const GrowBuffer&) = delete;
  GrowBuffer(GrowBuffer&& other) noexcept : data_(other.data_), capacity_(other.capacity_) {
    other.data_ = nullptr;
    other.capacity_ = 0;
  }
  ~GrowBuffer() { std::free(data_); }
  // Returns nullptr when the allocation fails.
  float* reserve(size_t floats) {
    if (floats <= capacity_) return data_;
    size_t bytes = ((floats * sizeof(float)) + 63) & ~size_t(63);
    void* fresh = std::aligned_alloc(64, bytes);
    if (!fresh) return nullptr;
    std::free(data_);
    data_ = static_cast<float*>(fresh);
    capacity_ = bytes / sizeof(float);
    return data_;
  }

 private:
  float* data_ = nullptr;
  size_t capacity_ = 0;
};

struct TaskBuffers {
  GrowBuffer b_panels;
  GrowBuffer c_block;
  float* b = nullptr;
  float* c = nullptr;
};

struct Workspace {
  std::mutex mu;  // one GEMM at a time owns the buffers (kernels are called from one JS thread)
  GrowBuffer a_packed;
  std::vector<TaskBuffers> tasks;
};

Workspace& workspace() {
  static Workspace* instance = new Workspace();  // leaked: no teardown order issues at exit
  return *instance;
}

// A GEMM called from inside a pool task (Winograd runs 36 of them as one region's tasks) runs
// serially on that thread with that thread's own buffers, so GEMMs on different threads do not
// queue on the shared workspace's lock.
Workspace& thread_workspace() {
  static thread_local Workspace* instance = new Workspace();  // leaked, like the pool's threads
  return *instance;
}

inline int round_up(int x, int to) { return (x + to - 1) / to * to; }

// Row/column range of one pool task.
struct TaskRange {
  int m0, m1, j0, j1;
};

std::vector<TaskRange> split_n(const GemmProblem& p, int tasks) {
  std::vector<TaskRange> ranges;
  int g = std::max(1, p.n_granule);
  int n_granules = (p.n + g - 1) / g;
  for (int t = 0; t < tasks; t++) {
    int j0 = std::min(p.n, int(int64_t(n_granules) * t / tasks) * g);
    int j1 = std::min(p.n, int(int64_t(n_granules) * (t + 1) / tasks) * g);
    ranges.push_back({0, p.m, j0, j1});
  }
  return ranges;
}

std::vector<TaskRange> split_m(const GemmProblem& p, int tasks, int mr) {
  std::vector<TaskRange> ranges;
  int gm = std::lcm(p.m_split_granule, mr);
  int m_granules = (p.m + gm - 1) / gm;
  for (int t = 0; t < tasks; t++) {
    int m0 = std::min(p.m, int(int64_t(m_granules) * t / tasks) * gm);
    int m1 = std::min(p.m, int(int64_t(m_granules) * (t + 1) / tasks) * gm);
    ranges.push_back({m0, m1, 0, p.n});
  }
  return ranges;
}

// The micro-kernel work of the busiest task: its rows and columns rounded up to whole tiles.
double busiest_task(const std::vector<TaskRange>& ranges, int mr, int nr) {
  double most = 0;
  for (const TaskRange& r : ranges) {
    most = std::max(most, double(round_up(r.m1 - r.m0, mr)) * round_up(r.j1 - r.j0, nr));
  }
  return most;
}

// Splits N among the tasks unless splitting M (when the problem allows it) leaves the busiest
// task clearly less work: few columns (a 3x3 PatchGAN map, N = 144) split two ways leave each
// task 72 columns, two 48-wide panels of which a quarter is padding, or three 48-wide granules
// split 1:2.
// A split of M gives every piece all of N, so each packs the whole of B: then it uses one piece
// per thread, or the packing (a PatchGAN's unfolded 4x4 image, element by element) is repeated
// pieces-per-thread times over.
std::vector<TaskRange> split_work(const GemmProblem& p, int pieces, int threads, int mr, int nr) {
  std::vector<TaskRange> by_n = split_n(p, pieces);
  if (pieces == 1 || p.m_split_granule <= 0) return by_n;
  std::vector<TaskRange> by_m = split_m(p, pieces, mr);
  if (busiest_task(by_m, mr, nr) >= 0.9 * busiest_task(by_n, mr, nr)) return by_n;
  return split_m(p, threads, mr);
}

// Adds (or copies) the valid rows x cols of a computed nr-wide tile into a row-major C.
void store_partial_tile(const float* tile, int nr, float* c, ptrdiff_t ldc, int rows, int cols, bool accumulate) {
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < cols; j++) c[i * ldc + j] = accumulate ? c[i * ldc + j] + tile[i * nr + j] : tile[i * nr + j];
}

// One MC x NC block of C: every KC slice of B is packed, then multiplied by all MR panels of the
// block, so the block's C tiles stay in L2 between slices.
// The in-place variant of run_block: each C tile takes the whole depth in registers and goes to
// the writer's buffer once.
void run_block_in_place(const GemmProblem& p, const KernelSet& ks, const float* a_packed, TaskBuffers& buf, int mc0,
                        int mc, int jc, int nc) {
  const int mr = ks.tile.mr, nr = ks.tile.nr;
  const ptrdiff_t ldc_buf = round_up(kBlockN, nr);
  for (int q = 0; q * nr < nc; q++) {
    const int vectors = std::min(nr, nc - q * nr) / 16;
    const float* bases[4];
    for (int v = 0; v < vectors; v++) bases[v] = p.b_in_place->column_base(jc + q * nr + 16 * v);
    for (int i = 0; i < mc; i += mr) {
      const int rows = std::min(mr, mc - i);
      const float* a_panel = a_packed + size_t((mc0 + i) / mr) * p.k * mr;
      if (p.c_grouped) {
        // Straight into the caller's grouped C: column group g of row m at m * c_row + g * c_group.
        float* c = p.c_grouped + ptrdiff_t(mc0 + i) * p.c_row + ptrdiff_t((jc + q * nr) / 16) * p.c_group;
        ks.in_place[vectors - 1][rows - 1](p.k, a_panel, mr, p.b_in_place->offsets, bases, c, p.c_row, p.c_group,
                                           p.c_grouped_add);
      } else {
        ks.in_place[vectors - 1][rows - 1](p.k, a_panel, mr, p.b_in_place->offsets, bases,
                                           buf.c + size_t(i) * ldc_buf + q * nr, ldc_buf, 16, false);
      }
    }
  }
  if (!p.c_grouped) p.writer->write(buf.c, ldc_buf, mc0, mc, jc, nc);
}

// b_is_packed: the caller already packed this NC block's only KC slice (depth <= kMaxSingleSlice), so
// row blocks after the first reuse it instead of packing it again.
void run_block(const GemmProblem& p, const KernelSet& ks, const float* a_packed, TaskBuffers& buf, int mc0, int mc,
               int jc, int nc, bool b_is_packed) {
  if (p.b_in_place && ks.in_place[0][0]) return run_block_in_place(p, ks, a_packed, buf, mc0, mc, jc, nc);
  const int mr = ks.tile.mr, nr = ks.tile.nr;
  const int panels = (nc + nr - 1) / nr;
  const ptrdiff_t ldc_buf = round_up(kBlockN, nr);
  alignas(64) float edge_tile[16 * 64];
  const int depth = slice_depth(p.k);
  for (int kc0 = 0; kc0 < p.k; kc0 += depth) {
    const int kc = std::min(depth, p.k - kc0);
    for (int q = 0; q < panels && !b_is_packed; q++) {
      p.b->pack(buf.b + size_t(q) * kc * nr, nr, kc0, kc, jc + q * nr, std::min(nr, nc - q * nr));
    }
    const bool accumulate = kc0 > 0;
    for (int q = 0; q < panels; q++) {
      const float* b_panel = buf.b + size_t(q) * kc * nr;
      const int cols = std::min(nr, nc - q * nr);
      for (int i = 0; i < mc; i += mr) {
        const int rows = std::min(mr, mc - i);
        const float* a_panel = a_packed + size_t((mc0 + i) / mr) * p.k * mr + size_t(kc0) * mr;
        MicroKernel kernel = ks.by_rows[rows - 1];
        if (p.writer) {
          kernel(kc, a_panel, mr, b_panel, buf.c + size_t(i) * ldc_buf + q * nr, ldc_buf, accumulate);
          continue;
        }
        float* c = p.c + size_t(mc0 + i) * p.ldc + jc + q * nr;
        if (cols == nr) {
          kernel(kc, a_panel, mr, b_panel, c, p.ldc, accumulate);
        } else {
          kernel(kc, a_panel, mr, b_panel, edge_tile, nr, false);
          store_partial_tile(edge_tile, nr, c, p.ldc, rows, cols, accumulate);
        }
      }
    }
  }
  if (p.writer) p.writer->write(buf.c, ldc_buf, mc0, mc, jc, nc);
}

// With a writer, C goes through a per-task buffer of kBlockM rows; written straight to a C
// matrix, all rows of the range form one block, so each packed B slice serves every row.
// Blocks must start on a packed A panel, so kBlockM is rounded down to the tile: 252 rows for
// the AVX2 tile of 6 (a block at row 256 would read the A panel of rows 252..257).
int rows_per_block(const GemmProblem& p, const TaskRange& r, int mr) {
  return p.writer ? std::max(mr, kBlockM / mr * mr) : r.m1 - r.m0;
}

void run_task(const GemmProblem& p, const KernelSet& ks, const float* a_packed, const TaskRange& r, TaskBuffers& buf) {
  if (p.prologue) p.prologue(r.m0, r.m1, r.j0, r.j1);
  if (r.m0 >= r.m1 || r.j0 >= r.j1) return;
  const int block_rows = rows_per_block(p, r, ks.tile.mr);
  for (int jc = r.j0; jc < r.j1; jc += kBlockN) {
    const int nc = std::min(kBlockN, r.j1 - jc);
    const bool single_slice = p.k <= kMaxSingleSlice;
    for (int mc0 = r.m0; mc0 < r.m1; mc0 += block_rows) {
      run_block(p, ks, a_packed, buf, mc0, std::min(block_rows, r.m1 - mc0), jc, nc, single_slice && mc0 > r.m0);
    }
  }
}

int check_problem(const GemmProblem& p) {
  CGK_CHECK(p.m > 0 && p.n > 0 && p.k > 0, "gemm: m = %d, n = %d, k = %d, expected all > 0", p.m, p.n, p.k);
  CGK_CHECK(p.a && p.b, "gemm: the A and B packers must both be given");
  CGK_CHECK((p.c != nullptr) != (p.writer != nullptr), "gemm: give exactly one of a C matrix or a C writer");
  CGK_CHECK(!p.c || p.ldc >= p.n, "gemm: ldc = %td, expected >= n = %d", p.ldc, p.n);
  CGK_CHECK(!p.b_in_place || (p.writer && p.b_in_place->offsets && p.n % 16 == 0 && p.n_granule % 16 == 0),
            "gemm: in-place B needs a writer, offsets, and n and n_granule multiples of 16");
  CGK_CHECK(!p.c_grouped || p.b_in_place, "gemm: a grouped C is written in place only with an in-place B");
  return CGK_OK;
}

}  // namespace

namespace {

#if CGK_X86
// dst[t] = src[2t] for t < len: even lanes of pairs of vectors.
CGK_TARGET_AVX512 void copy_stride2_avx512(float* dst, const float* src, int len) {
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  for (int t = 0; t < len; t += 16) {
    const int c = std::min(16, len - t), span = 2 * c - 1;  // source floats this chunk reads
    const __mmask16 lo = __mmask16(span >= 16 ? 0xffff : (1u << span) - 1);
    const __mmask16 hi = __mmask16(span > 16 ? (1u << (span - 16)) - 1 : 0);
    __m512 a = _mm512_maskz_loadu_ps(lo, src + 2 * t), b = _mm512_maskz_loadu_ps(hi, src + 2 * t + 16);
    _mm512_mask_storeu_ps(dst + t, __mmask16((1u << c) - 1), _mm512_permutex2var_ps(a, even, b));
  }
}

// dst[2t] += src[t] for t < len: src spread to the even lanes of two vectors.
CGK_TARGET_AVX512 void add_stride2_avx512(float* dst, const float* src, int len) {
  const __m512i spread_lo = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
  const __m512i spread_hi = _mm512_set_epi32(15, 15, 14, 14, 13, 13, 12, 12, 11, 11, 10, 10, 9, 9, 8, 8);
  for (int t = 0; t < len; t += 16) {
    const int c = std::min(16, len - t), span = 2 * c - 1;  // destination floats this chunk spans
    __m512 v = _mm512_maskz_loadu_ps(__mmask16((1u << c) - 1), src + t);
    const __mmask16 lo = __mmask16(0x5555 & (span >= 16 ? 0xffff : (1u << span) - 1));
    const __mmask16 hi = __mmask16(0x5555 & (span > 16 ? (1u << (span - 16)) - 1 : 0));
    float* d = dst + 2 * t;
    _mm512_mask_storeu_ps(d, lo, _mm512_add_ps(_mm512_maskz_loadu_ps(lo, d), _mm512_permutexvar_ps(spread_lo, v)));
    if (hi) {
      _mm512_mask_storeu_ps(d + 16, hi,
                            _mm512_add_ps(_mm512_maskz_loadu_ps(hi, d + 16), _mm512_permutexvar_ps(spread_hi, v)));
    }
  }
}

#endif  // CGK_X86

void copy_strided_scalar(const Run& r) {
  if (!r.src) {
    for (int t = 0; t < r.len; t++) r.dst[t] = 0.0f;
    return;
  }
  for (int t = 0; t < r.len; t++) r.dst[t] = r.src[size_t(t) * r.stride];
}

#if CGK_X86
CGK_TARGET_AVX512 void copy_runs_avx512(const Run* runs, int count) {
  for (int r = 0; r < count; r++) {
    float* dst = runs[r].dst;
    const float* src = runs[r].src;
    const int len = runs[r].len;
    if (src && runs[r].stride != 1) {
      if (runs[r].stride == 2) {
        copy_stride2_avx512(dst, src, len);
      } else {
        copy_strided_scalar(runs[r]);
      }
      continue;
    }
    if (src) {
      copy_floats_avx512(dst, src, len);
    } else {
      int t = 0;
      for (; t + 16 <= len; t += 16) _mm512_storeu_ps(dst + t, _mm512_setzero_ps());
      if (t < len) _mm512_mask_storeu_ps(dst + t, __mmask16((1u << (len - t)) - 1), _mm512_setzero_ps());
    }
  }
}

CGK_TARGET_AVX512 void add_runs_avx512(const Run* runs, int count) {
  for (int r = 0; r < count; r++) {
    float* dst = runs[r].dst;
    const float* src = runs[r].src;
    const int len = runs[r].len;
    if (runs[r].stride != 1) {
      if (runs[r].stride == 2) {
        add_stride2_avx512(dst, src, len);
      } else {
        for (int t = 0; t < len; t++) dst[size_t(t) * runs[r].stride] += src[t];
      }
      continue;
    }
    add_floats_avx512(dst, src, len);
  }
}

// copy_runs_avx512 and add_runs_avx512 for AVX2: whole ymm where they fit, scalar tails.
CGK_TARGET_AVX2 void copy_runs_avx2(const Run* runs, int count) {
  for (int r = 0; r < count; r++) {
    float* dst = runs[r].dst;
    const float* src = runs[r].src;
    const int len = runs[r].len, stride = runs[r].stride;
    int t = 0;
    if (!src) {
      for (; t + 8 <= len; t += 8) _mm256_storeu_ps(dst + t, _mm256_setzero_ps());
      for (; t < len; t++) dst[t] = 0.0f;
    } else if (stride == 1) {
      for (; t + 8 <= len; t += 8) _mm256_storeu_ps(dst + t, _mm256_loadu_ps(src + t));
      for (; t < len; t++) dst[t] = src[t];
    } else {
      if (stride == 2) {
        // 8 outputs read src[2t .. 2t + 15]; the last of those exists when an output follows.
        for (; t + 8 < len; t += 8) {
          const __m256 a = _mm256_loadu_ps(src + 2 * t), b = _mm256_loadu_ps(src + 2 * t + 8);
          // [a0 a2 b0 b2 | a4 a6 b4 b6], then 64-bit pairs in the order 0 2 1 3
          const __m256 evens = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
          _mm256_storeu_ps(dst + t, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(evens), _MM_SHUFFLE(3, 1, 2, 0))));
        }
      }
      for (; t < len; t++) dst[t] = src[size_t(t) * stride];
    }
  }
}

CGK_TARGET_AVX2 void add_runs_avx2(const Run* runs, int count) {
  for (int r = 0; r < count; r++) {
    float* dst = runs[r].dst;
    const float* src = runs[r].src;
    const int len = runs[r].len, stride = runs[r].stride;
    int t = 0;
    if (stride == 1) {
      for (; t + 8 <= len; t += 8) _mm256_storeu_ps(dst + t, _mm256_add_ps(_mm256_loadu_ps(dst + t), _mm256_loadu_ps(src + t)));
    }
    for (; t < len; t++) dst[size_t(t) * stride] += src[t];
  }
}

// The classic three-stage 16x16 transpose: 32-bit, 64-bit, then 128-bit lane interleaves. With
// cols < 16, only the first cols columns of src are read and the first cols rows of dst written.
CGK_TARGET_AVX512 void transpose16_avx512(float* dst, ptrdiff_t ld_dst, const float* src, ptrdiff_t ld_src, int cols = 16) {
  __m512 r[16], t[16];
  const __mmask16 in = cols >= 16 ? __mmask16(0xffff) : __mmask16((1u << cols) - 1);
  for (int i = 0; i < 16; i++) r[i] = _mm512_maskz_loadu_ps(in, src + i * ld_src);
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++) {
    r[4 * i + 0] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int h = 0; h < 2; h++) {
    for (int i = 0; i < 4; i++) {
      t[8 * h + i] = _mm512_shuffle_f32x4(r[8 * h + i], r[8 * h + 4 + i], 0x88);
      t[8 * h + 4 + i] = _mm512_shuffle_f32x4(r[8 * h + i], r[8 * h + 4 + i], 0xdd);
    }
  }
  for (int i = 0; i < 8; i++) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
    r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xdd);
  }
  for (int i = 0; i < std::min(cols, 16); i++) _mm512_storeu_ps(dst + i * ld_dst, r[i]);
}

CGK_TARGET_AVX512 void transpose_into_panel_avx512(float* dst, ptrdiff_t ld_dst, const float* src, ptrdiff_t ld_src,
                                                   int cols) {
  int kk = 0;
  for (; kk + 16 <= cols; kk += 16) transpose16_avx512(dst + kk * ld_dst, ld_dst, src + kk, ld_src);
  if (kk < cols) transpose16_avx512(dst + kk * ld_dst, ld_dst, src + kk, ld_src, cols - kk);
}
#endif  // CGK_X86

}  // namespace

void copy_runs(const Run* runs, int count) {
#if CGK_X86
  if (simd() >= kAvx512) return copy_runs_avx512(runs, count);
  if (simd() >= kAvx2) return copy_runs_avx2(runs, count);
#endif
  for (int r = 0; r < count; r++) copy_strided_scalar(runs[r]);
}

void add_runs(const Run* runs, int count) {
#if CGK_X86
  if (simd() >= kAvx512) return add_runs_avx512(runs, count);
  if (simd() >= kAvx2) return add_runs_avx2(runs, count);
#endif
  for (int r = 0; r < count; r++)
    for (int t = 0; t < runs[r].len; t++) runs[r].dst[size_t(t) * runs[r].stride] += runs[r].src[t];
}

#if CGK_X86
namespace {
CGK_TARGET_AVX2 void transpose8_rows_avx2(float* dst, ptrdiff_t ld_dst, const float* src, ptrdiff_t ld, int kc);
}  // namespace
#endif

void transpose_into_panel(float* dst, ptrdiff_t ld_dst, const float* src, ptrdiff_t ld_src, int rows, int cols) {
#if CGK_X86
  if (rows == 16 && simd() >= kAvx512) return transpose_into_panel_avx512(dst, ld_dst, src, ld_src, cols);
  if (rows == 16 && simd() >= kAvx2) {  // two 8-row halves (Winograd's channel blocks at AVX2)
    transpose8_rows_avx2(dst, ld_dst, src, ld_src, cols);
    return transpose8_rows_avx2(dst + 8, ld_dst, src + 8 * ld_src, ld_src, cols);
  }
  if (rows == 8 && simd() >= kAvx2) return transpose8_rows_avx2(dst, ld_dst, src, ld_src, cols);
#endif
  for (int kk = 0; kk < cols; kk++)
    for (int r = 0; r < rows; r++) dst[kk * ld_dst + r] = src[r * ld_src + kk];
}

GemmTile gemm_tile(int simd_level) { return kernels_for(simd_level).tile; }

size_t packed_a_floats(int m, int k) {
  const int mr = gemm_tile(simd()).mr;
  return size_t((m + mr - 1) / mr) * mr * k;
}

void pack_a(const APacker& a, int m, int k, float* dst) {
  const int mr = gemm_tile(simd()).mr;
  for (int m0 = 0; m0 < m; m0 += mr) a.pack(dst + size_t(m0) * k, mr, m0, std::min(mr, m - m0), 0, k);
}

#if CGK_X86
namespace {

// dst[kk * 8 + i] = src[kk * ld + i]: eight contiguous floats per depth step (a column-major A).
CGK_TARGET_AVX2 void copy_rows8_avx2(float* dst, const float* src, ptrdiff_t ld, int kc) {
  for (int kk = 0; kk < kc; kk++) _mm256_storeu_ps(dst + kk * 8, _mm256_loadu_ps(src + kk * ld));
}

// dst[kk * ld_dst + i] = src[i * ld + kk] for 8 rows and kk < kc: the 8x8 in-register transpose
// (unpack, shuffle, permute) per 8 columns, scalar for the last kc % 8.
CGK_TARGET_AVX2 void transpose8_rows_avx2(float* dst, ptrdiff_t ld_dst, const float* src, ptrdiff_t ld, int kc) {
  int kk = 0;
  for (; kk + 8 <= kc; kk += 8) {
    __m256 r[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * ld + kk);
    __m256 t[8], u[8];
    for (int i = 0; i < 4; i++) {
      t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int h = 0; h < 2; h++) {  // rows 0-3, rows 4-7
      const __m256 *a = t + 4 * h, *b = t + 4 * h + 2;
      u[4 * h + 0] = _mm256_shuffle_ps(a[0], b[0], _MM_SHUFFLE(1, 0, 1, 0));
      u[4 * h + 1] = _mm256_shuffle_ps(a[0], b[0], _MM_SHUFFLE(3, 2, 3, 2));
      u[4 * h + 2] = _mm256_shuffle_ps(a[1], b[1], _MM_SHUFFLE(1, 0, 1, 0));
      u[4 * h + 3] = _mm256_shuffle_ps(a[1], b[1], _MM_SHUFFLE(3, 2, 3, 2));
    }
    float* out = dst + kk * ld_dst;
    for (int c = 0; c < 4; c++) {
      _mm256_storeu_ps(out + c * ld_dst, _mm256_permute2f128_ps(u[c], u[4 + c], 0x20));
      _mm256_storeu_ps(out + (c + 4) * ld_dst, _mm256_permute2f128_ps(u[c], u[4 + c], 0x31));
    }
  }
  for (; kk < kc; kk++)
    for (int i = 0; i < 8; i++) dst[kk * ld_dst + i] = src[i * ld + kk];
}

}  // namespace
#endif  // CGK_X86

void StridedAPacker::pack(float* dst, int mr, int m0, int rows, int k0, int kc) const {
  const float* base = data_ + m0 * row_stride_ + ptrdiff_t(k0) * col_stride_;
#if CGK_X86
  if (col_stride_ == 1 && mr == 8 && rows == 8 && simd() >= kAvx2) {
    // Row-major A (weights, Winograd tiles): a transpose per 8x8 block.
    return transpose8_rows_avx2(dst, 8, base, row_stride_, kc);
  }
#endif
  if (row_stride_ == 1) {
    // Column-major A (a transpose read in place): each depth step is `rows` contiguous floats.
#if CGK_X86
    if (mr == 8 && rows == 8 && simd() >= kAvx2) return copy_rows8_avx2(dst, base, col_stride_, kc);
#endif
    for (int kk = 0; kk < kc; kk++) {
      const float* src = base + kk * col_stride_;
      for (int i = 0; i < mr; i++) dst[kk * mr + i] = i < rows ? src[i] : 0.0f;
    }
    return;
  }
  for (int i = 0; i < rows; i++) {
    const float* src = data_ + (m0 + i) * row_stride_ + ptrdiff_t(k0) * col_stride_;
    for (int kk = 0; kk < kc; kk++) dst[kk * mr + i] = src[kk * col_stride_];
  }
  for (int i = rows; i < mr; i++)
    for (int kk = 0; kk < kc; kk++) dst[kk * mr + i] = 0.0f;
}

void StridedBPacker::pack(float* dst, int nr, int k0, int kc, int j0, int cols) const {
  for (int kk = 0; kk < kc; kk++) {
    const float* src = data_ + ptrdiff_t(k0 + kk) * row_stride_ + ptrdiff_t(j0) * col_stride_;
    float* out = dst + size_t(kk) * nr;
    if (col_stride_ == 1) {
      std::memcpy(out, src, sizeof(float) * cols);
    } else {
      for (int jj = 0; jj < cols; jj++) out[jj] = src[jj * col_stride_];
    }
    for (int jj = cols; jj < nr; jj++) out[jj] = 0.0f;
  }
}

int gemm(const GemmProblem& p) {
  if (int status = check_problem(p)) return status;
  const KernelSet& ks = kernels_for(simd());
  const int mr = ks.tile.mr, nr = ks.tile.nr;
  // Small products are not worth waking the pool for.
  const double flops = 2.0 * p.m * double(p.n) * p.k;
  const bool nested = in_parallel_region();
  const int threads = nested || flops < 2e6 ? 1 : std::max(1, num_threads());
  // A few pieces per thread, handed out dynamically: when another process takes a core for a
  // while (or a worker wakes late), the other thread takes over its pieces instead of waiting
  // at the end of the product for a fixed half. Each piece still spans whole cache blocks.
  const int pieces = threads == 1 ? 1 : threads * kPiecesPerThread;
  std::vector<TaskRange> ranges = split_work(p, pieces, threads, mr, nr);

  Workspace& ws = nested ? thread_workspace() : workspace();
  std::lock_guard<std::mutex> lock(ws.mu);
  const int a_panels = (p.m + mr - 1) / mr;
  float* packing = p.a_packed ? nullptr : ws.a_packed.reserve(size_t(a_panels) * mr * p.k);
  if (!p.a_packed && !packing) return cgk_set_error_code(CGK_ERR_OOM, "gemm: cannot allocate %d x %d packed A", p.m, p.k);
  const float* a_packed = p.a_packed ? p.a_packed : packing;
  // Buffers belong to a slot, one per thread that may run a piece at the same time.
  if (ws.tasks.size() < size_t(threads)) ws.tasks.resize(threads);
  int rows = 1;
  for (const TaskRange& r : ranges) rows = std::max(rows, std::min(kBlockM, r.m1 - r.m0));
  rows = round_up(rows, mr);
  for (int t = 0; t < threads; t++) {
    TaskBuffers& buf = ws.tasks[t];
    buf.b = buf.b_panels.reserve(size_t(slice_depth(p.k)) * round_up(kBlockN, nr));
    buf.c = p.writer ? buf.c_block.reserve(size_t(rows) * round_up(kBlockN, nr)) : nullptr;
    if (!buf.b || (p.writer && !buf.c)) return cgk_set_error_code(CGK_ERR_OOM, "gemm: cannot allocate work buffers");
  }

  // A panels are packed once per call and shared; a few panels per pool task.
  const int panels_per_task = std::max(1, a_panels / (4 * threads));
  const int pack_tasks = p.a_packed ? 0 : (a_panels + panels_per_task - 1) / panels_per_task;
  // A task's panels go a depth block at a time: a column-major A (a transpose read in place)
  // then reads each source row once as one run across all its panels, instead of a few floats
  // per row at a large stride for every panel (which missed the TLB on every row).
  auto pack_panels = [&](size_t t) {
    int first = int(t) * panels_per_task, last = std::min(a_panels, first + panels_per_task);
    for (int k0 = 0; k0 < p.k; k0 += kPackDepth) {
      const int kc = std::min(kPackDepth, p.k - k0);
      for (int panel = first; panel < last; panel++) {
        p.a->pack(packing + size_t(panel) * p.k * mr + size_t(k0) * mr, mr, panel * mr, std::min(mr, p.m - panel * mr), k0, kc);
      }
    }
  };
  if (threads == 1) {
    for (int t = 0; t < pack_tasks; t++) pack_panels(t);
    run_task(p, ks, a_packed, ranges[0], ws.tasks[0]);
  } else {
    parallel_for(pack_tasks, pack_panels);
    std::vector<std::atomic<bool>> busy(threads);
    for (auto& b : busy) b.store(false, std::memory_order_relaxed);
    parallel_for(ranges.size(), [&](size_t t) {
      // At most `threads` pieces run at once, so a free slot always exists.
      int slot = 0;
      for (;; slot = (slot + 1) % threads) {
        bool expected = false;
        if (busy[slot].compare_exchange_strong(expected, true, std::memory_order_acquire)) break;
      }
      run_task(p, ks, a_packed, ranges[t], ws.tasks[slot]);
      busy[slot].store(false, std::memory_order_release);
    });
  }
  return CGK_OK;
}

}  // namespace cgk
