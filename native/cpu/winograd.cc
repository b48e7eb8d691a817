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
// transformed operand is stored blocked, [row][16-column group][36 points][16], so that each
// transform reads or writes one sequential stream. Every sum is in a fixed order, so results do
// not depend on the thread count.
//
// Error: the transforms scale by up to 8 and 1/24, so rounding grows. For a 256->256 residual
// conv on unit-scale data, against a float64 sum: rms error 3e-6 of the output's rms, max 6e-5
// (a direct product: 3e-7, 1.3e-6). That is ten times the direct error, a hundred times below
// TF32's, and what cuDNN's and oneDNN's Winograd paths accept for training.
#include "winograd.h"

#include <immintrin.h>

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

constexpr int kLanes = 16;  // channels per transform (one zmm)
constexpr int kAlpha = 6;   // transform tile side
constexpr int kPoints = kAlpha * kAlpha;
constexpr int kTile = 4;    // output tile side
constexpr int kWeightBlockRows = 32;  // output channels per block of backward weight's GEMMs
constexpr int kColumnBlock = 96;      // output columns per block of forward / backward-data GEMMs

// The 36 points' blocks are strided by their size plus 64 bytes: sizes are often powers of two
// (256 x 256 filters, 64 tiles x 256 channels), and a transform touches all 36 blocks at once,
// which at a power-of-two stride all map to the same cache set and evict one another.
inline size_t point_stride(size_t floats) { return floats + 16; }

// F(4, 3) with points 0, 1, -1, 2, -2, infinity. Its matrices, which the maps below (MapBT, MapG,
// MapAT and their transposes) compute with their shared sums written out:
//   BT = [ 4  0 -5  0  1  0 ]    G = [  1/4     0     0  ]    AT = [ 1  1  1  1  1  0 ]
//        [ 0 -4 -4  1  1  0 ]        [ -1/6  -1/6  -1/6  ]         [ 0  1 -1  2 -2  0 ]
//        [ 0  4 -4 -1  1  0 ]        [ -1/6   1/6  -1/6  ]         [ 0  1  1  4  4  0 ]
//        [ 0 -2 -1  2  1  0 ]        [  1/24  1/12  1/6  ]         [ 0  1 -1  8 -8  1 ]
//        [ 0  2 -1 -2  1  0 ]        [  1/24 -1/12  1/6  ]
//        [ 0  4  0 -5  0  1 ]        [  0     0     1    ]

// Everything between the push_options/pop_options pairs is compiled for AVX-512 (lambdas
// included, which a function attribute does not reach); it runs only when applies() said so.
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,fma")

// The six one-dimensional maps of F(4, 3), each applied to 16 lanes: v[p * s] in, o[i * os]
// out. Written out by hand with the sums they share (the pairs of rows that differ only in the
// signs of the odd terms), they take 10-14 vector operations where the plain matrix products
// take 18-24; the results differ from the plain products only in rounding.
#define CGK_MAP_IO const __m512* v, int s, __m512* o, int os
#define CGK_ALWAYS_INLINE __attribute__((always_inline)) static inline
inline __m512 c16(float c) { return _mm512_set1_ps(c); }

// BT (6 -> 6): the input tiles' transform.
struct MapBT {
  static constexpr int kIn = 6, kOut = 6;
  CGK_ALWAYS_INLINE void apply(CGK_MAP_IO) {
    const __m512 d0 = v[0], d1 = v[s], d2 = v[2 * s], d3 = v[3 * s], d4 = v[4 * s], d5 = v[5 * s];
    const __m512 a = _mm512_fmadd_ps(c16(-4), d2, d4), b = _mm512_fmadd_ps(c16(-4), d1, d3);
    const __m512 c = _mm512_sub_ps(d4, d2), e = _mm512_sub_ps(d3, d1);
    o[0] = _mm512_fmadd_ps(c16(4), d0, _mm512_fmadd_ps(c16(-5), d2, d4));
    o[os] = _mm512_add_ps(a, b);
    o[2 * os] = _mm512_sub_ps(a, b);
    o[3 * os] = _mm512_fmadd_ps(c16(2), e, c);
    o[4 * os] = _mm512_fmadd_ps(c16(-2), e, c);
    o[5 * os] = _mm512_fmadd_ps(c16(4), d1, _mm512_fmadd_ps(c16(-5), d3, d5));
  }
};

// B = BT^T (6 -> 6): the adjoint of the input transform (backward data's last step).
struct MapB {
  static constexpr int kIn = 6, kOut = 6;
  CGK_ALWAYS_INLINE void apply(CGK_MAP_IO) {
    const __m512 p0 = v[0], p1 = v[s], p2 = v[2 * s], p3 = v[3 * s], p4 = v[4 * s], p5 = v[5 * s];
    const __m512 s12 = _mm512_add_ps(p1, p2), d12 = _mm512_sub_ps(p2, p1);
    const __m512 s34 = _mm512_add_ps(p3, p4), d34 = _mm512_sub_ps(p4, p3);
    o[0] = _mm512_mul_ps(c16(4), p0);
    o[os] = _mm512_fmadd_ps(c16(4), _mm512_add_ps(d12, p5), _mm512_add_ps(d34, d34));
    o[2 * os] = _mm512_fnmsub_ps(c16(4), s12, _mm512_fmadd_ps(c16(5), p0, s34));
    o[3 * os] = _mm512_fnmsub_ps(c16(2), d34, _mm512_fmadd_ps(c16(5), p5, d12));
    o[4 * os] = _mm512_add_ps(_mm512_add_ps(p0, s12), s34);
    o[5 * os] = p5;
  }
};

// G (3 -> 6): the filters' transform.
struct MapG {
  static constexpr int kIn = 3, kOut = 6;
  CGK_ALWAYS_INLINE void apply(CGK_MAP_IO) {
    const __m512 g0 = v[0], g1 = v[s], g2 = v[2 * s];
    const __m512 sum = _mm512_add_ps(g0, g2);
    const __m512 t = _mm512_fmadd_ps(c16(1.0f / 24), g0, _mm512_mul_ps(c16(1.0f / 6), g2));
    const __m512 u = _mm512_mul_ps(c16(1.0f / 12), g1);
    o[0] = _mm512_mul_ps(c16(1.0f / 4), g0);
    o[os] = _mm512_mul_ps(c16(-1.0f / 6), _mm512_add_ps(sum, g1));
    o[2 * os] = _mm512_mul_ps(c16(1.0f / 6), _mm512_sub_ps(g1, sum));
    o[3 * os] = _mm512_add_ps(t, u);
    o[4 * os] = _mm512_sub_ps(t, u);
    o[5 * os] = g2;
  }
};

// GT (6 -> 3): the weight gradient's final transform.
struct MapGT {
  static constexpr int kIn = 6, kOut = 3;
  CGK_ALWAYS_INLINE void apply(CGK_MAP_IO) {
    const __m512 m0 = v[0], m1 = v[s], m2 = v[2 * s], m3 = v[3 * s], m4 = v[4 * s], m5 = v[5 * s];
    const __m512 s12 = _mm512_add_ps(m1, m2), d12 = _mm512_sub_ps(m2, m1);
    const __m512 s34 = _mm512_add_ps(m3, m4), d34 = _mm512_sub_ps(m3, m4);
    o[0] = _mm512_fmadd_ps(c16(1.0f / 4), m0, _mm512_fmadd_ps(c16(-1.0f / 6), s12, _mm512_mul_ps(c16(1.0f / 24), s34)));
    o[os] = _mm512_fmadd_ps(c16(1.0f / 6), d12, _mm512_mul_ps(c16(1.0f / 12), d34));
    o[2 * os] = _mm512_fmadd_ps(c16(1.0f / 6), _mm512_sub_ps(s34, s12), m5);
  }
};

// AT (6 -> 4): the output tiles' transform.
struct MapAT {
  static constexpr int kIn = 6, kOut = 4;
  CGK_ALWAYS_INLINE void apply(CGK_MAP_IO) {
    const __m512 m0 = v[0], m1 = v[s], m2 = v[2 * s], m3 = v[3 * s], m4 = v[4 * s], m5 = v[5 * s];
    const __m512 s12 = _mm512_add_ps(m1, m2), d12 = _mm512_sub_ps(m1, m2);
    const __m512 s34 = _mm512_add_ps(m3, m4), d34 = _mm512_sub_ps(m3, m4);
    o[0] = _mm512_add_ps(_mm512_add_ps(m0, s12), s34);
    o[os] = _mm512_fmadd_ps(c16(2), d34, d12);
    o[2 * os] = _mm512_fmadd_ps(c16(4), s34, s12);
    o[3 * os] = _mm512_fmadd_ps(c16(8), d34, _mm512_add_ps(d12, m5));
  }
};

// A = AT^T (4 -> 6): the output gradient tiles' transform.
struct MapA {
  static constexpr int kIn = 4, kOut = 6;
  CGK_ALWAYS_INLINE void apply(CGK_MAP_IO) {
    const __m512 e0 = v[0], e1 = v[s], e2 = v[2 * s], e3 = v[3 * s];
    const __m512 s02 = _mm512_add_ps(e0, e2), s13 = _mm512_add_ps(e1, e3);
    const __m512 u = _mm512_fmadd_ps(c16(4), e2, e0), w = _mm512_fmadd_ps(c16(8), e3, _mm512_add_ps(e1, e1));
    o[0] = e0;
    o[os] = _mm512_add_ps(s02, s13);
    o[2 * os] = _mm512_sub_ps(s02, s13);
    o[3 * os] = _mm512_add_ps(u, w);
    o[4 * os] = _mm512_sub_ps(u, w);
    o[5 * os] = e3;
  }
};
#undef CGK_MAP_IO

// out[i][j] = sum_{p,q} M(i, p) in[p][q] M(j, q) for 16 lanes at once, M one of the maps above:
// in is [kIn * kIn] vectors, out [kOut * kOut]. Columns first (mid = M in), then rows (out = mid MT).
template <typename Map>
CGK_ALWAYS_INLINE void transform(const __m512* in, __m512* out) {
  constexpr int B = Map::kIn, A = Map::kOut;
  __m512 mid[A * B];
#pragma GCC unroll 8
  for (int q = 0; q < B; q++) Map::apply(in + q, B, mid + q, B);
#pragma GCC unroll 8
  for (int i = 0; i < A; i++) Map::apply(mid + i * B, 1, out + i * A, 1);
}
#undef CGK_ALWAYS_INLINE

// The first `lanes` floats at src, the rest zero.
inline __m512 load_lanes(const float* src, int lanes) {
  return lanes == kLanes ? _mm512_loadu_ps(src) : _mm512_maskz_loadu_ps(__mmask16((1u << lanes) - 1), src);
}
inline void store_lanes(float* dst, __m512 v, int lanes) {
  if (lanes == kLanes) {
    _mm512_storeu_ps(dst, v);
  } else {
    _mm512_mask_storeu_ps(dst, __mmask16((1u << lanes) - 1), v);
  }
}

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
int chunk_tiles(int tiles, int channels) {
  const int most = std::max(8, int((size_t(8) << 20) / (sizeof(float) * kPoints * size_t(channels))) / 8 * 8);
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

// Lanes [0, lanes) of a vector.
inline __mmask16 lane_mask(int lanes) { return __mmask16(lanes == kLanes ? 0xffff : (1u << lanes) - 1); }

// 64-byte aligned, so whole-vector stores never split across cache lines (a split store costs
// two line writes, and these buffers are written a vector at a time).
float* scratch(std::vector<float>& buffer, size_t floats) {
  if (buffer.size() < floats + 16) buffer.resize(floats + 16);
  const uintptr_t base = reinterpret_cast<uintptr_t>(buffer.data());
  return reinterpret_cast<float*>((base + 63) & ~uintptr_t(63));
}

// The Side x Side window at padded position (y0, x0) of a channel block (block[pos][16], an
// h x w map with edges e): win[pos].
template <int Side>
inline void load_window(const float* block, int h, int w, int y0, int x0, const Edges& e, __m512* win) {
  int ry[Side], rx[Side];
  for (int i = 0; i < Side; i++) ry[i] = source_index(y0 + i, h, e.ph, e.reflect);
  for (int j = 0; j < Side; j++) rx[j] = source_index(x0 + j, w, e.pw, e.reflect);
  for (int i = 0; i < Side; i++)
    for (int j = 0; j < Side; j++) {
      const bool inside = ry[i] >= 0 && rx[j] >= 0;
      win[i * Side + j] = inside ? _mm512_load_ps(block + (ptrdiff_t(ry[i]) * w + rx[j]) * kLanes) : _mm512_setzero_ps();
    }
}

// out[xi][t - t0][c] = (L win LT)[xi] for every output tile t of a chunk and channel c, where
// win is the Side x Side window of x (NCHW, h x w maps, padded by e) at the tile's origin,
// and L is 6 x Side. out's rows are c floats apart and its
// points `point_stride` apart.
// One task per (sample, 16-channel group): its 16 planes are first transposed into a
// channel-blocked copy, block[pos][16] (16x16 transposes, zeros in lanes past c), small enough
// to stay in the core's cache while the sample's tiles read their windows from it: a window of
// 16 channels is then one vector load per position instead of a 16-lane gather, and each
// element is transposed once although 6x6 windows at stride 4 overlap.
template <int Side, typename L>
void tile_transform(const float* x, int c, int h, int w, const Edges& e, const Tiling& tl, int t0, int t1,
                    float* out, size_t point_stride) {
  const int groups = (c + kLanes - 1) / kLanes, per_sample = tl.per_sample();
  const int s0 = t0 / per_sample, s1 = (t1 - 1) / per_sample + 1;
  const size_t plane = size_t(h) * w;
  parallel_for(size_t(s1 - s0) * groups, [&](size_t task) {
    static thread_local std::vector<float> block_buffer;
    const int sample = s0 + int(task / groups), group = int(task % groups);
    const int c0 = group * kLanes, lanes = std::min(kLanes, c - c0);
    float* block = scratch(block_buffer, plane * kLanes);
    if (lanes < kLanes) std::memset(block, 0, sizeof(float) * plane * kLanes);
    transpose_into_panel(block, kLanes, x + (size_t(sample) * c + c0) * plane, ptrdiff_t(plane), lanes, int(plane));
    const int first = std::max(t0, sample * per_sample), last = std::min(t1, (sample + 1) * per_sample);
    for (int t = first; t < last; t++) {
      const TilePos at = tile_pos(tl, t);
      __m512 win[Side * Side], points[kPoints];
      load_window<Side>(block, h, w, at.oy0 - e.ph, at.ox0 - e.pw, e, win);
      transform<L>(win, points);
      float* dst = out + size_t(t - t0) * c + c0;
      for (int xi = 0; xi < kPoints; xi++) store_lanes(dst + xi * point_stride, points[xi], lanes);
    }
  });
}

// V = BT d B for the 6x6 input tiles d (x padded by e) of the forward and backward weight.
void input_transform(const float* x, int c, int h, int w, const Edges& e, const Tiling& tl, int t0, int t1, float* v,
                     size_t point_stride) {
  tile_transform<kAlpha, MapBT>(x, c, h, w, e, tl, t0, t1, v, point_stride);
}

// E = A e AT for the 4x4 tiles e of an output gradient (backward data and backward weight).
void grad_transform(const float* dy, int c_out, int h_out, int w_out, const Tiling& tl, int t0, int t1, float* e,
                    size_t point_stride) {
  tile_transform<kTile, MapA>(dy, c_out, h_out, w_out, Edges{0, 0, false}, tl, t0, t1, e, point_stride);
}

// The 36 transformed filters (G g GT)[xi] of every 3x3 filter g = w[co][ci] (w [c_out, c_in,
// 3, 3]), as the B operand of the point GEMMs: rows r and columns s are (ci, co) for the forward
// (by_input) and (co, ci) for backward data. Blocked so that the transform writes one sequential
// stream: U[r][s / 16][xi][s % 16], i.e. all 36 points of 16 columns are 2304 contiguous bytes
// (a layout of [xi][r][s] takes 36 interleaved write streams, and stores that miss the cache
// then wait on one another: it ran at a quarter of the speed). Padding lanes hold zeros.
constexpr ptrdiff_t kBlock = kPoints * kLanes;  // floats of one 16-column group's 36 points
inline ptrdiff_t blocked_row(int cols) { return ptrdiff_t((cols + kLanes - 1) / kLanes) * kBlock; }
inline size_t filter_floats(int rows, int cols) { return size_t(rows) * blocked_row(cols); }

// Columns [begin, begin + count) of a blocked operand (begin a multiple of 16): the range of
// output (or input) channels one pass of the GEMMs and the final transform covers.
struct Cols {
  int begin, count;
  int groups() const { return (count + kLanes - 1) / kLanes; }
  int channel(int group) const { return begin + group * kLanes; }
  int lanes(int group) const { return std::min(kLanes, count - group * kLanes); }
};

// Columns `cols` only; `stream` writes with non-temporal stores (all of U, larger than the
// caches, read once by the GEMMs) instead of leaving a column block in cache for them.
void filter_transform(const float* w, int c_out, int c_in, bool by_input, Cols cols, bool stream, float* u) {
  const int rows = by_input ? c_in : c_out;
  const int groups = cols.groups(), row_blocks = (rows + kLanes - 1) / kLanes;
  // A task takes 16 rows x the columns, a group of 16 columns at a time. Its 256 filters are
  // 16 runs of 144 floats in w in both layouts, turned into vectors by 16x16 transposes.
  parallel_for(size_t(row_blocks), [&](size_t block) {
    const int r0 = int(block) * kLanes, r1 = std::min(rows, r0 + kLanes);
    alignas(64) float g[kLanes * 9 * kLanes];  // [row - r0][tap][lane]
    for (int group = 0; group < groups; group++) {
      const int s0 = cols.channel(group), lanes = cols.lanes(group);
      if (lanes < kLanes || r1 - r0 < kLanes) std::memset(g, 0, sizeof g);
      if (by_input) {
        // lane l = output channel s0 + l: w[s0 + l][r0 .. r1)[9] is one run of (r1 - r0) * 9
        transpose_into_panel(g, kLanes, w + (size_t(s0) * c_in + r0) * 9, ptrdiff_t(c_in) * 9, lanes, (r1 - r0) * 9);
      } else {
        // lane l = input channel s0 + l: w[r][s0 .. s0 + lanes)[9] is one run per row r
        for (int r = r0; r < r1; r++)
          transpose_into_panel(g + (r - r0) * 9 * kLanes, kLanes, w + (size_t(r) * c_in + s0) * 9, 9, lanes, 9);
      }
      for (int r = r0; r < r1; r++) {
        const __m512* taps = reinterpret_cast<const __m512*>(g + (r - r0) * 9 * kLanes);
        float* dst = u + (size_t(r) * groups + group) * kPoints * kLanes;
        if (stream) {
          __m512 out[kPoints];
          transform<MapG>(taps, out);
          for (int xi = 0; xi < kPoints; xi++) _mm512_stream_ps(dst + xi * kLanes, out[xi]);
        } else {
          transform<MapG>(taps, reinterpret_cast<__m512*>(dst));
        }
      }
    }
    if (stream) _mm_sfence();  // the streaming stores are visible before the GEMMs read them
  });
}

// y[sample][co][tile] = (AT M A) (+ bias) from M[xi][t - t0][co] (rows c_out apart), clipped to
// the h_out x w_out map.
void output_transform(const float* m, Cols cols, int c_out, int h_out, int w_out, const Tiling& tl, int t0, int t1,
                      const float* bias, float* y) {
  const int groups = cols.groups();
  // One task per tile, all its channel groups in it.
  parallel_for(size_t(t1 - t0), [&](size_t row) {
    for (int group = 0; group < groups; group++) {
      const int t = t0 + int(row), co0 = cols.channel(group);
      const int lanes = cols.lanes(group);
      const TilePos at = tile_pos(tl, t);
      __m512 in[kPoints], out[kTile * kTile];
      const float* src = m + (size_t(t - t0) * groups + group) * kPoints * kLanes;
      for (int xi = 0; xi < kPoints; xi++) in[xi] = _mm512_load_ps(src + xi * kLanes);
      transform<MapAT>(in, out);
      const int rows = std::min(kTile, h_out - at.oy0), width = std::min(kTile, w_out - at.ox0);
      // Scalar stores: on Zen 4 they beat vector scatters (measured).
      alignas(64) float values[kTile * kTile][kLanes];
      const __m512 b = bias ? _mm512_maskz_loadu_ps(lane_mask(lanes), bias + co0) : _mm512_setzero_ps();
      for (int k = 0; k < kTile * kTile; k++) _mm512_store_ps(values[k], _mm512_add_ps(out[k], b));
      for (int l = 0; l < lanes; l++) {
        float* dst = y + (size_t(at.sample) * c_out + co0 + l) * h_out * w_out + size_t(at.oy0) * w_out + at.ox0;
        for (int i = 0; i < rows; i++)
          for (int j = 0; j < width; j++) dst[i * w_out + j] = values[i * kTile + j][l];
      }
    }
  });
}

// Backward data's last step, the adjoint of input_transform: for every output tile, the 6x6
// patch B P BT of P[xi][t - t0][ci] is added into dx at the tile's input window (windows of
// neighbouring tiles overlap by 2; zero padding drops what falls outside the image, reflection
// adds it to the cell it mirrors). A task owns whole channel planes of one sample, so the
// overlapping adds never race. dx must be zeroed first.
void input_adjoint(const float* p, Cols cols, int c_in, int h, int w, const Edges& e, const Tiling& tl, int t0,
                   int t1, float* dx) {
  const int groups = cols.groups();
  const int s0 = t0 / tl.per_sample(), s1 = (t1 - 1) / tl.per_sample() + 1;
  const size_t plane = size_t(h) * w;
  // One task per sample (its tiles' windows overlap), all its channel groups in it. Each group's
  // patches are summed in a channel-blocked copy of the sample's map (block[pos][16], one vector
  // add per window cell), which then goes back to the 16 planes by 16x16 transposes: scalar adds
  // straight into the planes, 16 per cell, were most of this step's time.
  parallel_for(size_t(s1 - s0), [&](size_t row) {
    static thread_local std::vector<float> block_buffer, planes_buffer;
    float* block = scratch(block_buffer, plane * kLanes);
    float* planes = scratch(planes_buffer, plane * kLanes);
    const int sample = s0 + int(row);
    const int first = std::max(t0, sample * tl.per_sample()), last = std::min(t1, (sample + 1) * tl.per_sample());
    for (int group = 0; group < groups; group++) {
      const int c0 = cols.channel(group), lanes = cols.lanes(group);
      std::memset(block, 0, sizeof(float) * plane * kLanes);
      for (int t = first; t < last; t++) {
        const TilePos at = tile_pos(tl, t);
        __m512 in[kPoints], out[kPoints];
        const float* src = p + (size_t(t - t0) * groups + group) * kPoints * kLanes;
        for (int xi = 0; xi < kPoints; xi++) in[xi] = _mm512_load_ps(src + xi * kLanes);
        transform<MapB>(in, out);
        // The window's cells that reach dx (zero padding drops the rest, reflection folds it).
        int ry[kAlpha], rx[kAlpha];
        for (int i = 0; i < kAlpha; i++) {
          ry[i] = source_index(at.oy0 - e.ph + i, h, e.ph, e.reflect);
          rx[i] = source_index(at.ox0 - e.pw + i, w, e.pw, e.reflect);
        }
        for (int i = 0; i < kAlpha; i++) {
          if (ry[i] < 0) continue;
          float* cells = block + size_t(ry[i]) * w * kLanes;
          for (int j = 0; j < kAlpha; j++) {
            if (rx[j] < 0) continue;
            float* cell = cells + size_t(rx[j]) * kLanes;
            _mm512_store_ps(cell, _mm512_add_ps(_mm512_load_ps(cell), out[i * kAlpha + j]));
          }
        }
      }
      // planes[l][pos] = block[pos][l], 16 positions at a time; then dx's planes += them.
      for (size_t p0 = 0; p0 < plane; p0 += kLanes) {
        const int count = int(std::min<size_t>(kLanes, plane - p0));
        transpose_into_panel(planes + p0, ptrdiff_t(plane), block + p0 * kLanes, kLanes, count, kLanes);
      }
      for (int l = 0; l < lanes; l++) {
        float* dst = dx + (size_t(sample) * c_in + c0 + l) * plane;
        const float* sum = planes + size_t(l) * plane;
        size_t i = 0;
        for (; i + kLanes <= plane; i += kLanes) _mm512_storeu_ps(dst + i, _mm512_add_ps(_mm512_loadu_ps(dst + i), _mm512_loadu_ps(sum + i)));
        for (; i < plane; i++) dst[i] += sum[i];
      }
    }
  });
}

// dw[co][ci] = (GT M G) from M[xi][co][ci].
void weight_output_transform(const float* m, int c_out, int c_in, float* dw) {
  const int groups = (c_in + kLanes - 1) / kLanes;
  // One task per output channel, all its input-channel groups in it.
  parallel_for(size_t(c_out), [&](size_t row) {
    for (int group = 0; group < groups; group++) {
      const int co = int(row), ci0 = group * kLanes;
      const int lanes = std::min(kLanes, c_in - ci0);
      __m512 in[kPoints];
      alignas(64) float out[9 * kLanes];
      const float* src = m + (size_t(co) * groups + group) * kPoints * kLanes;
      for (int xi = 0; xi < kPoints; xi++) in[xi] = _mm512_load_ps(src + xi * kLanes);
      transform<MapGT>(in, reinterpret_cast<__m512*>(out));
      float* dst = dw + (size_t(co) * c_in + ci0) * 9;
      for (int l = 0; l < lanes; l++)
        for (int k = 0; k < 9; k++) dst[l * 9 + k] = out[k * kLanes + l];
    }
  });
}

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

// Read in place by the AVX-512 kernel (16 columns from a multiple of 16 are contiguous).
class GroupedBInPlace final : public BInPlace {
 public:
  GroupedBInPlace(GroupedB b, const int* row_offsets) : b_(b) { offsets = row_offsets; }
  const float* column_base(int j) const override { return b_.data + (j / kLanes) * b_.group + j % kLanes; }

 private:
  GroupedB b_;
};

// Stores (or adds) each block of C into C[m][j] = data[m * row + (j / 16) * group + j % 16]: the
// blocked layout [m][j / 16][xi][16] (group = 36 x 16) that the next transform reads as one
// sequential stream, or a row-major matrix (group = 16).
class GroupedWriter final : public CWriter {
 public:
  GroupedWriter(float* data, ptrdiff_t row, ptrdiff_t group, bool accumulate)
      : data_(data), row_(row), group_(group), accumulate_(accumulate) {}
  void write(const float* c, ptrdiff_t ldc, int m0, int rows, int j0, int cols) const override {
    for (int i = 0; i < rows; i++) {
      const float* src = c + i * ldc;
      for (int j = j0; j < j0 + cols;) {  // j0 is a multiple of 16 (n_granule)
        const int len = std::min(kLanes - j % kLanes, j0 + cols - j);
        float* dst = data_ + (m0 + i) * row_ + (j / kLanes) * group_ + j % kLanes;
        __m512 v = load_lanes(src + (j - j0), len);
        if (accumulate_) v = _mm512_add_ps(v, load_lanes(dst, len));
        store_lanes(dst, v, len);
        j += len;
      }
    }
  }

 private:
  float* data_;
  ptrdiff_t row_, group_;
  bool accumulate_;
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

int run_point_gemms(const PointGemms& q) {
  // The in-place path needs whole 16-float column groups (the AVX-512 kernel).
  static thread_local std::vector<int> offsets;
  const bool in_place = q.n % 16 == 0;
  if (in_place) {
    offsets.resize(q.k);
    for (int r = 0; r < q.k; r++) offsets[r] = int(r * q.b_row);
  }
  const int* offsets_data = offsets.data();  // the caller's thread_local, not each worker's
  std::atomic<int> failed{CGK_OK};
  parallel_for(kPoints, [&](size_t xi) {
    const GroupedB operand{q.b + xi * q.b_point, q.b_row, q.b_group};
    StridedAPacker a(q.a + xi * q.a_point, q.a_rs, q.a_cs);
    GroupedBPacker b(operand);
    GroupedBInPlace b_in_place(operand, offsets_data);
    GroupedWriter writer(q.c + xi * q.c_point, q.c_row, q.c_group, q.accumulate);
    GemmProblem g;
    g.m = q.m;
    g.n = q.n;
    g.k = q.k;
    g.a = &a;
    if (q.a_packed) g.a_packed = q.a_packed + xi * q.a_packed_point;
    g.b = &b;
    g.writer = &writer;
    g.n_granule = 16;
    if (in_place) g.b_in_place = &b_in_place;
    if (in_place && !q.accumulate) {  // the kernels store C where the writer would have put it
      g.c_grouped = q.c + xi * q.c_point;
      g.c_row = q.c_row;
      g.c_group = q.c_group;
    }
    if (int status = gemm(g)) failed.store(status);
  });
  return failed.load();
}

// Packs A[xi] (rows `m`, depth `k`, row-major with points `a_point` apart) for every point once,
// for the column blocks that each multiply it again.
void pack_points(const float* a, size_t a_point, int m, int k, float* packed, size_t packed_point) {
  parallel_for(kPoints, [&](size_t xi) { pack_a(StridedAPacker(a + xi * a_point, k, 1), m, k, packed + xi * packed_point); });
}


#pragma GCC pop_options

// Multiply-adds of the GEMMs per direct multiply-add: 36 per 4x4 tile against 9 per output.
double arithmetic_ratio(int h_out, int w_out) {
  const Tiling tl(1, h_out, w_out);
  return 36.0 * tl.per_sample() / (9.0 * h_out * w_out);
}

bool applies(const Conv3x3& s) {
  const int algo = g_conv_algo.load(std::memory_order_relaxed);
  if (algo == CGK_CONV_DIRECT || simd() < kAvx512) return false;
  if (s.ph < 0 || s.ph > 2 || s.pw < 0 || s.pw > 2) return false;
  if (algo == CGK_CONV_WINOGRAD) return true;
  // Transforms cost about as much as a GEMM with 16 channels; tile waste must leave a clear gain.
  return s.c_in >= 32 && s.c_out >= 32 && arithmetic_ratio(s.h_out, s.w_out) <= 0.6;
}

// Chunks of output tiles for one product.
struct Chunks {
  Tiling tl;
  int size;
  explicit Chunks(const Conv3x3& s)
      : tl(s.n, s.h_out, s.w_out), size(chunk_tiles(tl.count(), std::max(s.c_in, s.c_out))) {}
  // Output columns per pass: with one chunk, blocks of 96 (two 48-wide GEMM panels) whose
  // transformed filters (36 x rows x 96 floats) stay in L3 between their transform and their
  // GEMMs; with several chunks the whole filter transform, streamed once and reused by every
  // chunk (a column block would be transformed again for each).
  int column_block(int cols) const { return size >= tl.count() ? std::min(cols, kColumnBlock) : cols; }
};

}  // namespace

bool winograd_forward_applies(const Conv3x3& s) { return applies(s); }
bool winograd_backward_data_applies(const Conv3x3& s) { return applies(s); }
bool winograd_backward_weight_applies(const Conv3x3& s) { return applies(s); }

#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,fma")

namespace {

// What forward and backward data share: per chunk of tiles, the tiles' transform A (depth =
// the filters' input side wide); per block of output columns, the filters' transform U, the 36
// GEMMs C[xi] = A[xi] * U[xi] and the finishing transform of C. by_input: U's rows are w's
// input channels (forward), else its output channels (backward data, the adjoint).
// after_chunk(t0, t1, a, a_point) runs once a chunk's columns are done, while A is still there
// (the fused backward reuses the gradient's transform for the weights).
template <typename TransformTiles, typename Finish, typename AfterChunk>
int point_product(const Chunks& ch, const float* w, int c_out, int c_in, bool by_input, TransformTiles transform_tiles,
                  Finish finish, AfterChunk after_chunk) {
  static thread_local std::vector<float> u_buffer, a_buffer, c_buffer, packed_buffer;
  const int depth = by_input ? c_in : c_out, width = by_input ? c_out : c_in;
  const int block = ch.column_block(width);
  float* u = scratch(u_buffer, filter_floats(depth, block));
  float* a = scratch(a_buffer, size_t(kPoints) * point_stride(size_t(ch.size) * depth));
  float* c = scratch(c_buffer, filter_floats(ch.size, block));
  // With several column blocks A is packed once for all of them (else each GEMM packs it).
  const size_t packed_point = block < width ? point_stride(packed_a_floats(ch.size, depth)) : 0;
  float* packed = block < width ? scratch(packed_buffer, kPoints * packed_point) : nullptr;
  if (block == width) filter_transform(w, c_out, c_in, by_input, Cols{0, width}, true, u);
  for (int t0 = 0; t0 < ch.tl.count(); t0 += ch.size) {
    const int t1 = std::min(ch.tl.count(), t0 + ch.size), tiles = t1 - t0;
    const size_t a_point = point_stride(size_t(tiles) * depth);
    transform_tiles(t0, t1, a, a_point);
    if (packed) pack_points(a, a_point, tiles, depth, packed, packed_point);
    for (int c0 = 0; c0 < width; c0 += block) {
      const Cols cols{c0, std::min(block, width - c0)};
      if (block < width) filter_transform(w, c_out, c_in, by_input, cols, false, u);
      PointGemms q{tiles, cols.count, depth, a, a_point, depth, 1, packed, packed_point, u, kLanes, blocked_row(cols.count),
                   kBlock, c, kLanes, blocked_row(cols.count), kBlock, false};
      if (int status = run_point_gemms(q)) return status;
      finish(c, cols, t0, t1);
    }
    if (int status = after_chunk(t0, t1, a, a_point)) return status;
  }
  return CGK_OK;
}

const auto kNothingAfter = [](int, int, const float*, size_t) { return CGK_OK; };

// Backward weight given each chunk's gradient transform E ([xi][tile][c_out], points e_point
// apart): M[xi] [co x ci] (+)= E[xi]^T [co x tiles] * V[xi] [tiles x ci], then dw = G-side
// transform of M. With one chunk (a batch's tiles fit in L3) the GEMMs and the final transform
// go a block of output channels at a time, so M stays in cache between them (all of M is 36
// times the weights, 9.4 MB for 256x256, written and read back through memory otherwise).
class WeightPass {
 public:
  WeightPass(const Conv3x3& s, const Chunks& ch, const float* x, float* dw)
      : s_(s), ch_(ch), x_(x), dw_(dw), one_chunk_(ch.size >= ch.tl.count()),
        block_rows_(one_chunk_ ? std::min(s.c_out, kWeightBlockRows) : s.c_out) {
    static thread_local std::vector<float> v_buffer, m_buffer;
    v_ = scratch(v_buffer, size_t(kPoints) * point_stride(size_t(ch.size) * s.c_in));
    m_ = scratch(m_buffer, filter_floats(block_rows_, s.c_in));
  }

  int chunk(int t0, int t1, const float* e, size_t e_point) {
    const int tiles = t1 - t0;
    const size_t v_point = point_stride(size_t(tiles) * s_.c_in);
    input_transform(x_, s_.c_in, s_.h_in, s_.w_in, Edges{s_.ph, s_.pw, s_.reflect}, ch_.tl, t0, t1, v_, v_point);
    for (int co0 = 0; co0 < s_.c_out; co0 += block_rows_) {
      const int rows = std::min(block_rows_, s_.c_out - co0);
      PointGemms q{rows, s_.c_in, tiles, e + co0, e_point, 1, s_.c_out, nullptr, 0, v_, v_point, s_.c_in, kLanes,
                   m_, kLanes, blocked_row(s_.c_in), kBlock, t0 > 0};
      if (int status = run_point_gemms(q)) return status;
      if (one_chunk_) weight_output_transform(m_, rows, s_.c_in, dw_ + size_t(co0) * s_.c_in * 9);
    }
    return CGK_OK;
  }

  void finish() {
    if (!one_chunk_) weight_output_transform(m_, s_.c_out, s_.c_in, dw_);
  }

 private:
  const Conv3x3& s_;
  const Chunks& ch_;
  const float* x_;
  float* dw_;
  const bool one_chunk_;
  const int block_rows_;
  float *v_, *m_;
};

void zero(float* p, size_t n) {
  parallel_range(n, kElementwiseGrain, [&](size_t begin, size_t end) { std::memset(p + begin, 0, sizeof(float) * (end - begin)); });
}

}  // namespace

int winograd_forward(const Conv3x3& s, const float* x, const float* w, const float* bias, float* y) {
  const Chunks ch(s);
  // M[xi] [tiles x co] = V[xi] [tiles x ci] * U[xi] [ci x co], then Y = AT M A
  return point_product(
      ch, w, s.c_out, s.c_in, true,
      [&](int t0, int t1, float* v, size_t v_point) {
        input_transform(x, s.c_in, s.h_in, s.w_in, Edges{s.ph, s.pw, s.reflect}, ch.tl, t0, t1, v, v_point);
      },
      [&](const float* m, Cols cols, int t0, int t1) {
        output_transform(m, cols, s.c_out, s.h_out, s.w_out, ch.tl, t0, t1, bias, y);
      },
      kNothingAfter);
}

// P[xi] [tiles x ci] = E[xi] [tiles x co] * U[xi]^T [co x ci], then dx += B P BT per tile; with
// dw, each chunk's E also serves the weight gradient (WeightPass) before the next overwrites it.
int winograd_backward(const Conv3x3& s, const float* x, const float* dy, const float* w, float* dx, float* dw) {
  const Chunks ch(s);
  zero(dx, size_t(s.n) * s.c_in * s.h_in * s.w_in);
  const auto transform = [&](int t0, int t1, float* e, size_t e_point) {
    grad_transform(dy, s.c_out, s.h_out, s.w_out, ch.tl, t0, t1, e, e_point);
  };
  const auto adjoint = [&](const float* p, Cols cols, int t0, int t1) {
    input_adjoint(p, cols, s.c_in, s.h_in, s.w_in, Edges{s.ph, s.pw, s.reflect}, ch.tl, t0, t1, dx);
  };
  if (!dw) return point_product(ch, w, s.c_out, s.c_in, false, transform, adjoint, kNothingAfter);
  WeightPass weights(s, ch, x, dw);
  const int status = point_product(ch, w, s.c_out, s.c_in, false, transform, adjoint,
                                   [&](int t0, int t1, const float* e, size_t e_point) { return weights.chunk(t0, t1, e, e_point); });
  if (status) return status;
  weights.finish();
  return CGK_OK;
}

int winograd_backward_data(const Conv3x3& s, const float* dy, const float* w, float* dx) {
  return winograd_backward(s, nullptr, dy, w, dx, nullptr);
}

int winograd_backward_weight(const Conv3x3& s, const float* x, const float* dy, float* dw) {
  static thread_local std::vector<float> e_buffer;
  const Chunks ch(s);
  float* e = scratch(e_buffer, size_t(kPoints) * point_stride(size_t(ch.size) * s.c_out));
  WeightPass weights(s, ch, x, dw);
  for (int t0 = 0; t0 < ch.tl.count(); t0 += ch.size) {
    const int t1 = std::min(ch.tl.count(), t0 + ch.size);
    const size_t e_point = point_stride(size_t(t1 - t0) * s.c_out);
    grad_transform(dy, s.c_out, s.h_out, s.w_out, ch.tl, t0, t1, e, e_point);
    if (int status = weights.chunk(t0, t1, e, e_point)) return status;
  }
  weights.finish();
  return CGK_OK;
}

#pragma GCC pop_options

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
