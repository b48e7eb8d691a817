// Winograd F(4x4, 3x3) convolution (winograd.h).
//
// One-dimensional F(4, 3) computes 4 outputs of a 3-tap correlation y[i] = sum_r g[r] d[i + r]
// from a 6-sample input tile d:  y = AT [(G g) . (BT d)]  with the interpolation points
// 0, +-1, +-2 and infinity; in two dimensions  Y = AT [(G g GT) . (BT d B)] A.  Summed over input
// channels, the elementwise product becomes, for each of the 36 transform points xi, a GEMM
//   forward          M[xi][tile x c_out] = V[xi][tile x c_in] * U[xi][c_in x c_out]
// with V = BT d B (input tiles) and U = G g GT (filters), then Y = AT M A per tile.
//
// Backward data is the forward's adjoint: dy's 4x4 tiles are transformed by A (E = A e AT),
//   backward data    P[xi][tile x c_in] = E[xi][tile x c_out] * U[xi]^T[c_out x c_in]
// and each tile's 6x6 patch B P BT is added into dx at the tile's input window (neighbouring
// windows overlap by 2). It costs what the forward costs; the correlation of padded dy instead
// would take 3x3 tiles for a residual block's 10x10 input where the forward takes 2x2.
//
// Backward weight uses the dual algorithm F(3, 4): per tile, the 3x3 filter gradient is the
// correlation of a 6x6 input tile with a 4x4 tile of dy, dw = GT [(A e AT) . (BT d B)] G
// (swap the roles of the output and the filter in F(4, 3)'s trilinear form), so
//   backward weight  M[xi][c_out x c_in] = sum over tiles E[xi][tile x c_out]^T * V[xi][tile x c_in]
// with E = A e AT (dy tiles) and V the forward's input transform, then dw = GT M G.
//
// Tiles are processed in chunks sized so a chunk's transformed tiles stay in L3; the 36 GEMMs
// of a chunk are the pool's tasks (each GEMM runs on one thread with that thread's workspace).
// When a batch is one chunk (batch 16 at 32x32), forward and backward data go 96 output columns
// at a time and backward weight 32 output channels at a time, so U and M stay in cache. Every
// transformed operand is stored blocked, [row][16-column group][36 points][16] (rows padded by
// a cache line), so that each transform reads or writes one sequential stream. Every sum is in a
// fixed order, so results do not depend on the thread count.
//
// Error: the transforms scale by up to 8 and 1/24, so rounding grows. For a 256->256 residual
// conv on unit-scale data, against a float64 sum: rms error 3e-6 of the output's rms, max 6e-5
// (a direct product: 3e-7, 1.3e-6). That is ten times the direct error, a hundred times below
// TF32's, and what cuDNN's and oneDNN's Winograd paths accept for training.
#include "winograd.h"

#include "arch.h"
#if CGK_X86
#include <immintrin.h>
#else
// Off x86 the kernels are not built (arch.h), and the tiling helpers below serve only them.
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-const-variable"
#endif

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gemm.h"
#include "runtime.h"
#include "threads.h"

namespace cgk {

std::atomic<int> g_conv_algo{CGK_CONV_AUTO};

namespace {

constexpr int kLanes = 16;  // channels per transform (one zmm, or two ymm)
constexpr int kAlpha = 6;   // transform tile side
constexpr int kPoints = kAlpha * kAlpha;
constexpr int kTile = 4;    // output tile side
constexpr int kWeightBlockRows = 32;  // output channels per block of backward weight's GEMMs
constexpr int kColumnBlock = 96;      // output columns per block of forward / backward-data GEMMs

// The 36 points' blocks are strided by their size plus 64 bytes: sizes are often powers of two
// (256 x 256 filters, 64 tiles x 256 channels), and a transform touches all 36 blocks at once,
// which at a power-of-two stride all map to the same cache set and evict one another.
inline size_t point_stride(size_t floats) { return floats + 16; }

// ---- tiles ----------------------------------------------------------------------------------------

// The 4x4 output tiles of an h_out x w_out map over n samples, numbered sample-major.
struct Tiling {
  int n, th, tw;
  Tiling(int n_, int h_out, int w_out) : n(n_), th((h_out + kTile - 1) / kTile), tw((w_out + kTile - 1) / kTile) {}
  int per_sample() const { return th * tw; }
  int count() const { return n * th * tw; }
};

// Tiles per chunk: the transformed tiles of one chunk (36 x chunk x channels floats, for the
// wider side) stay within about 8 MiB (a 32-image batch of 8x8 maps at 256 channels, 4.7 MiB,
// is one chunk: 6-11% faster than two, and batch 128 as 3 chunks rather than 5 is about 4%
// faster); chunks are balanced and a multiple of 8 rows (the GEMM's register tile) where possible.
// All tiles up to `one_chunk_bytes` are one chunk (see kForwardOneChunkBytes).
constexpr size_t kChunkBytes = size_t(8) << 20;
int chunk_tiles(int tiles, int channels, size_t one_chunk_bytes) {
  const size_t tile_bytes = sizeof(float) * kPoints * size_t(channels);
  if (size_t(tiles) * tile_bytes <= one_chunk_bytes) return tiles;
  const int most = std::max(8, int(kChunkBytes / tile_bytes) / 8 * 8);
  const int chunks = (tiles + most - 1) / most;
  return std::min(tiles, ((tiles + chunks - 1) / chunks + 7) / 8 * 8);
}

// Where output tile t lies: its sample and the map position of its first output.
struct TilePos {
  int sample, oy0, ox0;
};
inline TilePos tile_pos(const Tiling& tl, int t) {
  const int tile = t % tl.per_sample();
  return TilePos{t / tl.per_sample(), (tile / tl.tw) * kTile, (tile % tl.tw) * kTile};
}

// The padding around an input map: pad cells on each side, zeros or the map's reflection.
struct Edges {
  int ph, pw;
  bool reflect;
};

// The map index that position pos of a padded row (or column) of `size` cells reads: pos itself
// inside the map, its mirror image in reflection padding (pad < size), or -1 for a zero (zero
// padding, and everything beyond the padding, which only clipped outputs ever see).
inline int source_index(int pos, int size, int pad, bool reflect) {
  if (pos >= 0 && pos < size) return pos;
  if (!reflect || pos < -pad || pos >= size + pad) return -1;
  return pos < 0 ? -pos : 2 * (size - 1) - pos;
}


// 64-byte aligned, so whole-vector stores never split across cache lines (a split store costs
// two line writes, and these buffers are written a vector at a time).
float* scratch(std::vector<float>& buffer, size_t floats) {
  if (buffer.size() < floats + 16) buffer.resize(floats + 16);
  const uintptr_t base = reinterpret_cast<uintptr_t>(buffer.data());
  return reinterpret_cast<float*>((base + 63) & ~uintptr_t(63));
}


// The 36 transformed filters (G g GT)[xi] of every 3x3 filter g = w[co][ci] (w [c_out, c_in,
// 3, 3]), as the B operand of the point GEMMs: rows r and columns s are (ci, co) for the forward
// (by_input) and (co, ci) for backward data. Blocked so that the transform writes one sequential
// stream: U[r][s / 16][xi][s % 16], i.e. all 36 points of 16 columns are 2304 contiguous bytes
// (a layout of [xi][r][s] takes 36 interleaved write streams, and stores that miss the cache
// then wait on one another: it ran at a quarter of the speed). Padding lanes hold zeros.
// Rows are one cache line longer than their groups: the in-place GEMM kernels read a 16-column
// group down all rows, and at 36 x 64 bytes per group a row of 16 groups is 9 x 4096 bytes, so
// without the extra line every row's vector of a column group maps to the same L1 set (8 ways
// for a K of 256) and each load went to L2. With it the rows walk through all 64 sets: the
// forward of a 256->256 conv ran about 25% faster (8x8 maps at batch 128, a 64x64 map at batch 1)
// and the fused backward about 8% (Zen 3, two threads, the two builds alternating in one process).
constexpr ptrdiff_t kBlock = kPoints * kLanes;  // floats of one 16-column group's 36 points
inline ptrdiff_t blocked_row(int cols) { return ptrdiff_t((cols + kLanes - 1) / kLanes) * kBlock + kLanes; }
inline size_t filter_floats(int rows, int cols) { return size_t(rows) * blocked_row(cols); }

// Columns [begin, begin + count) of a blocked operand (begin a multiple of 16): the range of
// output (or input) channels one pass of the GEMMs and the final transform covers.
struct Cols {
  int begin, count;
  int groups() const { return (count + kLanes - 1) / kLanes; }
  int channel(int group) const { return begin + group * kLanes; }
  int lanes(int group) const { return std::min(kLanes, count - group * kLanes); }
};

// ---- the GEMMs --------------------------------------------------------------------------------------

// The B operand of one point's GEMM: B[k][j] = data[k * row + (j / 16) * group + j % 16], which
// describes both a row-major matrix (row = n, group = 16) and the blocked filters (group = 36 x 16).
struct GroupedB {
  const float* data;
  ptrdiff_t row, group;
  float at(int k, int j) const { return data[k * row + (j / kLanes) * group + j % kLanes]; }
};

class GroupedBPacker final : public BPacker {
 public:
  explicit GroupedBPacker(GroupedB b) : b_(b) {}
  void pack(float* dst, int nr, int k0, int kc, int j0, int cols) const override {
    for (int kk = 0; kk < kc; kk++)
      for (int jj = 0; jj < nr; jj++) dst[kk * nr + jj] = jj < cols ? b_.at(k0 + kk, j0 + jj) : 0.0f;
  }

 private:
  GroupedB b_;
};

// Read in place by the in-place GEMM kernels (16 columns from a multiple of 16 are contiguous).
class GroupedBInPlace final : public BInPlace {
 public:
  GroupedBInPlace(GroupedB b, const int* row_offsets) : b_(b) { offsets = row_offsets; }
  const float* column_base(int j) const override { return b_.data + (j / kLanes) * b_.group + j % kLanes; }

 private:
  GroupedB b_;
};
// For each of the 36 points: C[xi] (+)= A[xi] * B[xi], with A [m x k] described by (row stride,
// column stride), B [k x n] and C [m x n] grouped by 16 columns (GroupedB, GroupedWriter).
// One GEMM per pool task.
struct PointGemms {
  int m, n, k;
  const float* a;
  size_t a_point;
  ptrdiff_t a_rs, a_cs;
  const float* a_packed;  // optional: every point's A already packed (pack_points), a_packed_point apart
  size_t a_packed_point;
  const float* b;
  size_t b_point;
  ptrdiff_t b_row, b_group;
  float* c;  // C[xi][m][j] = c[xi * c_point + m * c_row + (j / 16) * c_group + j % 16]
  size_t c_point;
  ptrdiff_t c_row, c_group;
  bool accumulate;
};

// Multiply-adds of the GEMMs per direct multiply-add: 36 per 4x4 tile against 9 per output.
double arithmetic_ratio(int h_out, int w_out) {
  const Tiling tl(1, h_out, w_out);
  return 36.0 * tl.per_sample() / (9.0 * h_out * w_out);
}

bool applies(const Conv3x3& s) {
  const int algo = g_conv_algo.load(std::memory_order_relaxed);
  if (algo == CGK_CONV_DIRECT || simd() < kAvx2) return false;
  if (s.ph < 0 || s.ph > 2 || s.pw < 0 || s.pw > 2) return false;
  if (algo == CGK_CONV_WINOGRAD) return true;
  // Transforms cost about as much as a GEMM with 16 channels; tile waste must leave a clear gain.
  return s.c_in >= 32 && s.c_out >= 32 && arithmetic_ratio(s.h_out, s.w_out) <= 0.6;
}

// The forward holds one chunk-sized operand (the input tiles), the backward two (the gradient's
// tiles, then the input's for the weights), so a forward whose tiles fit in 12 MiB runs as one
// chunk: a 64x64 map at 256 channels (9.4 MB of tiles, two chunks of 8 MiB) then lets the filters
// go in cache-sized column blocks (bench/conv-ab, Zen 3: that forward 10-14% faster). Larger
// chunks elsewhere were no faster: batch 128 at 8x8 as 2 chunks instead of 3 ran 0-8% slower, the
// backward at 64x64 in one 12 MiB chunk no faster, in 16 MiB 7-18% slower.
constexpr size_t kForwardOneChunkBytes = size_t(12) << 20;
constexpr size_t kBackwardOneChunkBytes = kChunkBytes;
// A whole filter transform up to this size is stored normally, for its GEMMs to find in cache;
// streamed past the caches, a small one was read back from memory: on one thread of a Zen 5 VM
// a 2 x 64->64 8x8 forward took 122 us streamed, 52 us not (32 channels: 32 against 26 us).
constexpr size_t kStreamFilterBytes = size_t(1) << 20;

// Chunks of output tiles for one product.
struct Chunks {
  Tiling tl;
  int size;
  Chunks(const Conv3x3& s, size_t one_chunk_bytes)
      : tl(s.n, s.h_out, s.w_out), size(chunk_tiles(tl.count(), std::max(s.c_in, s.c_out), one_chunk_bytes)) {}
  // Output columns per pass: with one chunk, blocks of 96 (two 48-wide GEMM panels) whose
  // transformed filters (36 x rows x 96 floats) stay in L3 between their transform and their
  // GEMMs; with several chunks the whole filter transform, streamed once and reused by every
  // chunk (a column block would be transformed again for each).
  int column_block(int cols) const { return size >= tl.count() ? std::min(cols, kColumnBlock) : cols; }
};


// ---- the 16-lane vectors of the two SIMD levels ---------------------------------------------------
// (x86 only: elsewhere simd() is kScalar and applies() keeps Winograd off.)
#if CGK_X86

#define CGK_LANES_INLINE static inline __attribute__((always_inline))
#define CGK_TARGET_512 __attribute__((target("avx512f,avx512vl,fma")))
#define CGK_TARGET_256 __attribute__((target("avx2,fma")))

// AVX-512: one zmm. load/store need 64-byte alignment; the *_lanes forms take the first `lanes`
// floats (the rest read as zeros, and are not written).
struct Lanes512 {
  using V = __m512;
  CGK_LANES_INLINE CGK_TARGET_512 V zero() { return _mm512_setzero_ps(); }
  CGK_LANES_INLINE CGK_TARGET_512 V set1(float c) { return _mm512_set1_ps(c); }
  CGK_LANES_INLINE CGK_TARGET_512 V add(V a, V b) { return _mm512_add_ps(a, b); }
  CGK_LANES_INLINE CGK_TARGET_512 V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  CGK_LANES_INLINE CGK_TARGET_512 V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  CGK_LANES_INLINE CGK_TARGET_512 V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }    // a b + c
  CGK_LANES_INLINE CGK_TARGET_512 V fnmsub(V a, V b, V c) { return _mm512_fnmsub_ps(a, b, c); }  // -(a b) - c
  CGK_LANES_INLINE CGK_TARGET_512 V load(const float* p) { return _mm512_load_ps(p); }
  CGK_LANES_INLINE CGK_TARGET_512 V loadu(const float* p) { return _mm512_loadu_ps(p); }
  CGK_LANES_INLINE CGK_TARGET_512 void store(float* p, V v) { _mm512_store_ps(p, v); }
  CGK_LANES_INLINE CGK_TARGET_512 void storeu(float* p, V v) { _mm512_storeu_ps(p, v); }
  CGK_LANES_INLINE CGK_TARGET_512 void stream(float* p, V v) { _mm512_stream_ps(p, v); }
  CGK_LANES_INLINE CGK_TARGET_512 V load_lanes(const float* p, int lanes) {
    return lanes == kLanes ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(__mmask16((1u << lanes) - 1), p);
  }
  CGK_LANES_INLINE CGK_TARGET_512 void store_lanes(float* p, V v, int lanes) {
    if (lanes == kLanes) {
      _mm512_storeu_ps(p, v);
    } else {
      _mm512_mask_storeu_ps(p, __mmask16((1u << lanes) - 1), v);
    }
  }
};

// AVX2: the 16 lanes as two ymm (lanes 0-7, 8-15), so both levels share every blocked layout.
struct Lanes256x2 {
  struct V {
    __m256 lo, hi;
  };
  CGK_LANES_INLINE CGK_TARGET_256 V zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
  CGK_LANES_INLINE CGK_TARGET_256 V set1(float c) { return {_mm256_set1_ps(c), _mm256_set1_ps(c)}; }
  CGK_LANES_INLINE CGK_TARGET_256 V add(V a, V b) { return {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
  CGK_LANES_INLINE CGK_TARGET_256 V sub(V a, V b) { return {_mm256_sub_ps(a.lo, b.lo), _mm256_sub_ps(a.hi, b.hi)}; }
  CGK_LANES_INLINE CGK_TARGET_256 V mul(V a, V b) { return {_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)}; }
  CGK_LANES_INLINE CGK_TARGET_256 V fmadd(V a, V b, V c) {
    return {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
  }
  CGK_LANES_INLINE CGK_TARGET_256 V fnmsub(V a, V b, V c) {
    return {_mm256_fnmsub_ps(a.lo, b.lo, c.lo), _mm256_fnmsub_ps(a.hi, b.hi, c.hi)};
  }
  CGK_LANES_INLINE CGK_TARGET_256 V load(const float* p) { return {_mm256_load_ps(p), _mm256_load_ps(p + 8)}; }
  CGK_LANES_INLINE CGK_TARGET_256 V loadu(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
  CGK_LANES_INLINE CGK_TARGET_256 void store(float* p, V v) {
    _mm256_store_ps(p, v.lo);
    _mm256_store_ps(p + 8, v.hi);
  }
  CGK_LANES_INLINE CGK_TARGET_256 void storeu(float* p, V v) {
    _mm256_storeu_ps(p, v.lo);
    _mm256_storeu_ps(p + 8, v.hi);
  }
  CGK_LANES_INLINE CGK_TARGET_256 void stream(float* p, V v) {
    _mm256_stream_ps(p, v.lo);
    _mm256_stream_ps(p + 8, v.hi);
  }
  // Lane i of the half that starts at lane `first` is on when first + i < lanes.
  CGK_LANES_INLINE CGK_TARGET_256 __m256i mask(int lanes, int first) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes - first), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  CGK_LANES_INLINE CGK_TARGET_256 V load_lanes(const float* p, int lanes) {
    if (lanes == kLanes) return loadu(p);
    return {_mm256_maskload_ps(p, mask(lanes, 0)), _mm256_maskload_ps(p + 8, mask(lanes, 8))};
  }
  CGK_LANES_INLINE CGK_TARGET_256 void store_lanes(float* p, V v, int lanes) {
    if (lanes == kLanes) return storeu(p, v);
    _mm256_maskstore_ps(p, mask(lanes, 0), v.lo);
    _mm256_maskstore_ps(p + 8, mask(lanes, 8), v.hi);
  }
};

#undef CGK_LANES_INLINE
#undef CGK_TARGET_512
#undef CGK_TARGET_256
#endif  // CGK_X86

}  // namespace

// Fewer than 16 tiles leave the point GEMMs' 16-column panels part empty, and the direct forward
// at AVX2 unfolds small maps cheaply (conv.cc's unfold_panel_avx2). On Zen 3 (one thread,
// 3 runs each) the direct forward won there up to 64 channels (two 8x8 maps: 52 against 80 us at
// 32 channels, 174 against 226 us at 64; one map at 64: 102 against 177 us) and lost from 128
// (one 8x8 map at 256 channels: 1700 against 1060 us) and from 16 tiles (four 8x8 maps at 32
// channels: even; at 64: 332 against 277 us). The backward products keep Winograd (a small
// training step ran no faster without it), and the AVX-512 level is unchanged (not measured).
bool winograd_forward_applies(const Conv3x3& s) {
  if (g_conv_algo.load(std::memory_order_relaxed) == CGK_CONV_AUTO && simd() == kAvx2 &&
      Tiling(s.n, s.h_out, s.w_out).count() < 16 && std::min(s.c_in, s.c_out) <= 64) {
    return false;
  }
  return applies(s);
}
bool winograd_backward_data_applies(const Conv3x3& s) { return applies(s); }
bool winograd_backward_weight_applies(const Conv3x3& s) { return applies(s); }


namespace {

// ---- the kernels, once per SIMD level (winograd_body.inc); applies() keeps the scalar level out ----
// Between each push_options/pop_options pair everything is compiled for that level (lambdas
// included, which a function attribute does not reach).

#if CGK_X86
#ifdef __clang__  // clang has no GCC target pragmas: the attribute on every function instead
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,fma")
#endif
namespace wino_avx512 {
using W = Lanes512;
#include "winograd_body.inc"
}  // namespace wino_avx512
#ifdef __clang__
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#ifdef __clang__  // clang has no GCC target pragmas: the attribute on every function instead
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
namespace wino_avx2 {
using W = Lanes256x2;
#include "winograd_body.inc"
}  // namespace wino_avx2
#ifdef __clang__
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif  // CGK_X86

}  // namespace

#if CGK_X86
namespace {

// Small products run on the calling thread alone (SerialScope): their transforms and 36 GEMMs
// are microseconds each, and a second core made them slower, not faster: the filters' transform
// is rewritten every call in lines the other core read the call before, and the tiles' and
// outputs' transforms cross between the cores too. The limits on output tiles x channels (the
// wider side) are where two threads began to win on a 2-core Zen 5 VM (AVX-512, bench of
// 2026-11-29, 1 and 2 threads in turn, best of two rounds, 8x8 and 16x16 maps): forward at
// 32 channels one thread to batch 8 (55 us either way; batch 2: 20 against 27 us), at 256 to
// batch 1 (489 against 655 us; batch 2 lost 11% serially, batch 4 would lose 12%); the fused
// backward, heavier per tile, from 16 tiles at 32 channels (batch 2: 37 against 43 us).
constexpr long kSerialForwardWork = 2048, kSerialBackwardWork = 512;

bool run_serially(const Conv3x3& s, long limit) {
  return long(Tiling(s.n, s.h_out, s.w_out).count()) * std::max(s.c_in, s.c_out) < limit;
}

}  // namespace

int winograd_forward(const Conv3x3& s, const float* x, const float* w, const float* bias, float* y) {
  SerialScope serial(run_serially(s, kSerialForwardWork));
  return simd() >= kAvx512 ? wino_avx512::forward(s, x, w, bias, y) : wino_avx2::forward(s, x, w, bias, y);
}

int winograd_backward(const Conv3x3& s, const float* x, const float* dy, const float* w, float* dx, float* dw) {
  SerialScope serial(run_serially(s, kSerialBackwardWork));
  return simd() >= kAvx512 ? wino_avx512::backward(s, x, dy, w, dx, dw) : wino_avx2::backward(s, x, dy, w, dx, dw);
}
#else
// Never called: applies() is false at the scalar level, the only one built here.
static int winograd_unsupported() {
  return cgk_set_error_code(CGK_ERR_UNSUPPORTED, "Winograd convolution: built for x86-64 (AVX2, AVX-512) only");
}

int winograd_forward(const Conv3x3&, const float*, const float*, const float*, float*) { return winograd_unsupported(); }

int winograd_backward(const Conv3x3&, const float*, const float*, const float*, float*, float*) {
  return winograd_unsupported();
}
#endif

int winograd_backward_data(const Conv3x3& s, const float* dy, const float* w, float* dx) {
  return winograd_backward(s, nullptr, dy, w, dx, nullptr);
}

int winograd_backward_weight(const Conv3x3& s, const float* x, const float* dy, float* dw) {
#if CGK_X86
  SerialScope serial(run_serially(s, kSerialBackwardWork));
  return simd() >= kAvx512 ? wino_avx512::backward_weight(s, x, dy, dw) : wino_avx2::backward_weight(s, x, dy, dw);
#else
  (void)s, (void)x, (void)dy, (void)dw;
  return winograd_unsupported();
#endif
}

}  // namespace cgk

extern "C" {

int cgk_set_conv_algo(int algo) {
  CGK_CHECK(algo == CGK_CONV_DIRECT || algo == CGK_CONV_AUTO || algo == CGK_CONV_WINOGRAD,
            "cgk_set_conv_algo: algo = %d, expected 0 (direct), 1 (auto) or 2 (Winograd)", algo);
  cgk::g_conv_algo.store(algo);
  return CGK_OK;
}

int cgk_conv_algo(void) { return cgk::g_conv_algo.load(); }

}  // extern "C"
