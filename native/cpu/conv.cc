// Convolution and transposed convolution as packed GEMMs over the whole batch (gemm.h).
//
// With K = c_in*kh*kw rows of the unfolded image and P = n*h_out*w_out pixels:
//   forward          Y[c_out x P]  = W[c_out x K] * cols(X)[K x P]      B packed straight from X
//   backward data    dcols[K x P]  = W^T[K x c_out] * dY[c_out x P]     written by col2im into dX
//   backward weight  dW[c_out x K] = dY[c_out x P] * cols(X)^T[P x K]   B packed from X, transposed
// Folding the batch into the GEMM's N keeps N large even for 8x8 feature maps, and no unfolded
// image is ever stored: the packers read X (or dY) as they fill each L2-sized panel.
//
// Shapes where packing the unfolded image would cost more than the multiply-adds (few output
// channels, as in the generator's 7x7 layers) take other routes:
//   - forward, stride 1, no padding, output rows multiples of 16 (AVX2, AVX-512): B read in place;
//   - backward data with c_out < 32, stride 1: the forward conv of padded dY with flipped weights
//     (computed up to a third wider when that lets it read dY in place);
//   - backward weight, stride 1, no padding, rows multiples of 16 (AVX-512) or 8 (AVX2), kernel
//     width 3 or 7: summed directly from the image with per-task partial sums.
// Conv-transpose2d is the same three products with the roles swapped: its forward is conv2d's
// backward data and its backward data is conv2d's forward (see conv_transpose2d_shape).
// Reflection padding (cgk_conv.pad_mode) goes to Winograd as is, and to every other route as a
// reflection-padded copy of the input (see padded_view).
#include "arch.h"
#if CGK_X86
#include <immintrin.h>
#endif

#include <algorithm>
#include <climits>
#include <cstring>
#include <mutex>
#include <optional>
#include <vector>

#include "float_runs.h"
#include "gemm.h"
#include "runtime.h"
#include "threads.h"
#include "winograd.h"

#if CGK_X86
#define CGK_TARGET_AVX512 __attribute__((target("avx512f,avx512vl,fma")))
#define CGK_TARGET_AVX2 __attribute__((target("avx2,fma")))
#endif

namespace cgk {
namespace {

// A conv2d description in the conv2d sense (conv-transpose calls are converted to it).
struct ConvShape {
  int n, c_in, h_in, w_in, c_out, h_out, w_out, kh, kw, sh, sw, ph, pw;
  bool reflect = false;  // reflection padding (conv2d only; see conv_reflect below)
  int kernel_area() const { return kh * kw; }
  int unfolded_rows() const { return c_in * kh * kw; }
  int out_plane() const { return h_out * w_out; }
  int pixels() const { return n * h_out * w_out; }
  size_t in_plane() const { return size_t(h_in) * w_in; }
};

// Walks columns [j0, j0 + cols) of the pixel axis as runs of one output row (same n, oy).
struct PixelRun {
  int col;  // offset of the run from j0
  int len;
  int n, oy, ox;
};

template <typename F>
inline void for_each_pixel_run(const ConvShape& s, int j0, int cols, F&& f) {
  int hw = s.out_plane();
  int n = j0 / hw, p = j0 % hw;
  int oy = p / s.w_out, ox = p % s.w_out;
  for (int col = 0; col < cols;) {
    int len = std::min(s.w_out - ox, cols - col);
    f(PixelRun{col, len, n, oy, ox});
    col += len;
    ox = 0;
    if (++oy == s.h_out) {
      oy = 0;
      n++;
    }
  }
}

// Collects row pieces and moves them in batches through copy_runs / add_runs (gemm.h), so each
// piece costs a few instructions; flushed when full and on destruction.
class RunBatch {
 public:
  explicit RunBatch(bool accumulate) : accumulate_(accumulate) {}
  RunBatch(const RunBatch&) = delete;
  RunBatch& operator=(const RunBatch&) = delete;
  ~RunBatch() { flush(); }
  void push(float* dst, const float* src, int len, int stride = 1) {
    if (len <= 0) return;
    runs_[count_++] = Run{dst, src, len, stride};
    if (count_ == kCapacity) flush();
  }
  void flush() {
    if (count_ == 0) return;
    if (accumulate_) {
      add_runs(runs_, count_);
    } else {
      copy_runs(runs_, count_);
    }
    count_ = 0;
  }

 private:
  static constexpr int kCapacity = 256;
  Run runs_[kCapacity];
  int count_ = 0;
  bool accumulate_;
};

// The t in [0, len) with ix0 + t*stride inside [0, w): [*lo, *hi).
inline void valid_steps(int ix0, int stride, int len, int w, int* lo, int* hi) {
  *lo = std::clamp(ix0 >= 0 ? 0 : (-ix0 + stride - 1) / stride, 0, len);
  *hi = std::clamp(w - ix0 <= 0 ? 0 : (w - ix0 + stride - 1) / stride, *lo, len);
}

// out[t] = row[ix0 + t*sw] for t in [0, len), zero where the index leaves [0, w_in).
inline void gather_row(RunBatch& batch, float* out, const float* row, int ix0, int len, int sw, int w_in) {
  int lo, hi;
  valid_steps(ix0, sw, len, w_in, &lo, &hi);
  batch.push(out, nullptr, lo);
  batch.push(out + lo, row + ix0 + ptrdiff_t(lo) * sw, hi - lo, sw);
  batch.push(out + hi, nullptr, len - hi);
}

// One output row piece [col, col + len) of a pixel range, with what every unfolded row needs to
// find its source: the window origin (iy0, ix0) and the sample's offset in the image.
struct RowRun {
  int col, len, iy0, ix0;
  size_t sample;
};
constexpr int kMaxRowRuns = 64;

// Runs of pixels [j0, j0 + cols), cols <= kMaxRowRuns; returns their count.
inline int row_runs(const ConvShape& s, size_t sample_size, int j0, int cols, RowRun* out) {
  int count = 0;
  for_each_pixel_run(s, j0, cols, [&](const PixelRun& r) {
    out[count++] = RowRun{r.col, r.len, r.oy * s.sh - s.ph, r.ox * s.sw - s.pw, size_t(r.n) * sample_size};
  });
  return count;
}

// Stride 1 without padding (a conv after an explicit reflection pad, as in every residual
// block): every window lies inside the image, so each run is one straight copy or add and needs
// no bounds or batching. These move it with plain vector loads (the fold at AVX2 too): a residual
// block's 8-float rows are a single ymm move, where the generic run path costs several times that.
[[maybe_unused]] inline bool unpadded_stride1(const ConvShape& s) { return s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0; }

#if CGK_X86
CGK_TARGET_AVX512 void unfold_runs_avx512(float* out, const float* window, int w_in, const RowRun* runs, int count) {
  for (int q = 0; q < count; q++) {
    const RowRun& r = runs[q];
    copy_floats_avx512(out + r.col, window + r.sample + ptrdiff_t(r.iy0) * w_in + r.ix0, r.len);
  }
}

// The col2im counterpart: window[...] += src[run.col + t].
CGK_TARGET_AVX512 void fold_runs_avx512(float* window, const float* src, int w_in, const RowRun* runs, int count) {
  for (int q = 0; q < count; q++) {
    const RowRun& r = runs[q];
    add_floats_avx512(window + r.sample + ptrdiff_t(r.iy0) * w_in + r.ix0, src + r.col, r.len);
  }
}

CGK_TARGET_AVX2 void fold_runs_avx2(float* window, const float* src, int w_in, const RowRun* runs, int count) {
  for (int q = 0; q < count; q++) {
    const RowRun& r = runs[q];
    add_floats_avx2(window + r.sample + ptrdiff_t(r.iy0) * w_in + r.ix0, src + r.col, r.len);
  }
}
#endif  // CGK_X86

// Unfolded-image row (ci, ky, kx) over the pixels of `runs` into out[run.col ...].
inline void unfold_row(RunBatch& batch, const ConvShape& s, const float* x, int ci, int ky, int kx, const RowRun* runs,
                       int count, float* out) {
  const float* channel = x + size_t(ci) * s.in_plane();
  // (UnfoldedImageB takes stride 1 and 2 to unfold_panel_avx2 instead at AVX2 and AVX-512.)
#if CGK_X86
  if (unpadded_stride1(s) && simd() >= kAvx512) {
    unfold_runs_avx512(out, channel + size_t(ky) * s.w_in + kx, s.w_in, runs, count);
    return;
  }
#endif
  if (s.w_out < 8) {
    // Rows this short cost more to describe as runs than to copy element by element.
    for (int q = 0; q < count; q++) {
      const RowRun& r = runs[q];
      int iy = r.iy0 + ky;
      float* o = out + r.col;
      if (unsigned(iy) >= unsigned(s.h_in)) {
        for (int t = 0; t < r.len; t++) o[t] = 0.0f;
        continue;
      }
      const float* row = channel + r.sample + size_t(iy) * s.w_in;
      for (int t = 0, ix = r.ix0 + kx; t < r.len; t++, ix += s.sw) o[t] = unsigned(ix) < unsigned(s.w_in) ? row[ix] : 0.0f;
    }
    return;
  }
  for (int q = 0; q < count; q++) {
    const RowRun& r = runs[q];
    int iy = r.iy0 + ky;
    if (unsigned(iy) >= unsigned(s.h_in)) {
      batch.push(out + r.col, nullptr, r.len);
      continue;
    }
    const float* row = channel + r.sample + size_t(iy) * s.w_in;
    int ix0 = r.ix0 + kx;
    if (s.sw == 1 && ix0 >= 0 && ix0 + r.len <= s.w_in) {
      batch.push(out + r.col, row + ix0, r.len, 1);
      continue;
    }
    gather_row(batch, out + r.col, row, ix0, r.len, s.sw, s.w_in);
  }
}

// At AVX2 and AVX-512, unfolded rows of stride 1 or 2 a whole panel at a time (rows k0 .. k0 + kc - 1 into
// dst[kk * ld + run.col ...]): masked loads read a row and zero its padding at once (lanes masked
// off may point outside the image: they are not read); at stride 2 two loads cover 16 source
// floats and their even lanes are kept. A panel of a small map holds a few short runs (two
// 8-pixel rows per 16 columns), and a call per unfolded row, with its run batch, cost several
// times the copies. Stores are whole ymm while they stay inside the first `width` floats of a
// row: what they write past a run (image values or zeros) is overwritten by the runs after it
// (runs come in column order), and the callers fill or ignore the columns past the last run.
// The AVX-512 level uses these ymm loops too: against its per-row run copies they took a
// 2 x 8->16 stride-2 3x3 conv of 32x32 maps from 36 to 22 us, and the 16x16 128->256 one of a
// batch of 16 from 170 to 199 GFLOP/s (Zen 5, bench/kernels).
#if CGK_X86
template <int kStride>
CGK_TARGET_AVX2 void unfold_panel_avx2(float* dst, ptrdiff_t ld, int width, const ConvShape& s, const float* x, int k0,
                                       int kc, const RowRun* runs, int count) {
  static_assert(kStride == 1 || kStride == 2, "stride 1 or 2");
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i none = _mm256_set1_epi32(-1), w_in = _mm256_set1_epi32(s.w_in);
  const int area = s.kernel_area();
  const size_t plane = s.in_plane();
  // Run and 8 columns outer, kernel tap next (its masks), channels inner: the inner loop is
  // the loads and a store.
  for (int q = 0; q < count; q++) {
    const RowRun& r = runs[q];
    for (int t = 0; t < r.len; t += 8) {
      const bool whole = r.col + t + 8 <= width;
      float* o = dst + r.col + t;
      for (int tap = 0; tap < area; tap++) {
        const int ky = tap / s.kw, kx = tap % s.kw, iy = r.iy0 + ky, ix0 = r.ix0 + kx + kStride * t;
        const int first = std::max(0, (k0 - tap + area - 1) / area), end = (k0 + kc - tap + area - 1) / area;
        if (first >= end) continue;
        const bool row_inside = unsigned(iy) < unsigned(s.h_in);
        // Source floats ix0 .. ix0 + 8 * kStride - 1, 8 at a time.
        __m256i valid[kStride];
        for (int h = 0; h < kStride; h++) {
          const __m256i ix = _mm256_add_epi32(_mm256_set1_epi32(ix0 + 8 * h), lanes);
          valid[h] = row_inside ? _mm256_and_si256(_mm256_cmpgt_epi32(ix, none), _mm256_cmpgt_epi32(w_in, ix)) : _mm256_setzero_si256();
        }
        const float* src = x + r.sample + ptrdiff_t(iy) * s.w_in + ix0;
        for (int ci = first; ci < end; ci++) {
          const float* from = src + ci * plane;
          __m256 v = _mm256_maskload_ps(from, valid[0]);
          if constexpr (kStride == 2) {
            // [a0 a2 b0 b2 | a4 a6 b4 b6], then 64-bit pairs in the order 0 2 1 3
            const __m256 evens = _mm256_shuffle_ps(v, _mm256_maskload_ps(from + 8, valid[1]), _MM_SHUFFLE(2, 0, 2, 0));
            v = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(evens), _MM_SHUFFLE(3, 1, 2, 0)));
          }
          float* out = o + ptrdiff_t(ci * area + tap - k0) * ld;
          if (whole) {
            _mm256_storeu_ps(out, v);
          } else {
            alignas(32) float tail[8];
            _mm256_store_ps(tail, v);
            for (int i = 0; i < std::min(8, r.len - t); i++) out[i] = tail[i];
          }
        }
      }
    }
  }
}

#endif  // CGK_X86

// The panel unfold for this shape (AVX2 and AVX-512), or null.
using PanelUnfold = void (*)(float*, ptrdiff_t, int, const ConvShape&, const float*, int, int, const RowRun*, int);
#if CGK_X86
inline PanelUnfold panel_unfold_avx2(const ConvShape& s) {
  if (simd() < kAvx2) return nullptr;
  if (s.sw == 1) return unfold_panel_avx2<1>;
  if (s.sw == 2) return unfold_panel_avx2<2>;
  return nullptr;
}
#else
inline PanelUnfold panel_unfold_avx2(const ConvShape&) { return nullptr; }
#endif

// Maps narrower than 8 pixels (the discriminator's last layers: 4x4, 3x3, 2x2) make runs too
// short to copy as runs, and element-by-element copies cost a sixth of those layers' time.
// Their unfolded rows are gathered instead: a table holds, for each kernel tap, every column's
// source offset from the first sample's origin (-1 in padding and past the last column), and
// each unfolded row is one masked 16-lane gather per 16 columns (two 8-lane ones at AVX2).
constexpr int kGatherCols = 64, kGatherTaps = 64;
static_assert(kGatherCols == kMaxRowRuns, "the transposed packer gathers kMaxRowRuns pixels at a time");
inline int round_up16(int v) { return (v + 15) / 16 * 16; }

bool small_map_gather_applies(const ConvShape& s) {
  return s.w_out < 8 && s.kernel_area() <= kGatherTaps && simd() >= kAvx2 &&
         double(kGatherCols) * s.c_in * s.in_plane() < double(INT_MAX);
}

struct GatherTable {
  alignas(64) int offsets[kGatherTaps][kGatherCols];
  int n0 = 0;
  // Pixels [j0, j0 + cols), entries up to `width` (a multiple of 16, <= kGatherCols).
  void build(const ConvShape& s, int j0, int cols, int width) {
    const int hw = s.out_plane();
    const size_t sample = size_t(s.c_in) * s.in_plane();
    n0 = j0 / hw;
    for (int j = 0; j < width; j++) {
      const int p = j0 + j, n = p / hw, q = p % hw, oy = q / s.w_out, ox = q % s.w_out;
      for (int ky = 0; ky < s.kh; ky++)
        for (int kx = 0; kx < s.kw; kx++) {
          const int iy = oy * s.sh + ky - s.ph, ix = ox * s.sw + kx - s.pw;
          const bool inside = j < cols && unsigned(iy) < unsigned(s.h_in) && unsigned(ix) < unsigned(s.w_in);
          offsets[ky * s.kw + kx][j] = inside ? int((n - n0) * sample + size_t(iy) * s.w_in + ix) : -1;
        }
    }
  }
  const float* sample_base(const ConvShape& s, const float* x) const { return x + size_t(n0) * s.c_in * s.in_plane(); }
};

#if CGK_X86
// out[j] = channel[offsets[j]] (0 where the offset is -1) for j < width (a multiple of 16).
CGK_TARGET_AVX512 void gather_unfolded_avx512(float* out, const float* channel, const int* offsets, int width) {
  for (int v = 0; v < width; v += 16) {
    const __m512i idx = _mm512_load_si512(offsets + v);
    const __mmask16 m = _mm512_cmpge_epi32_mask(idx, _mm512_setzero_si512());
    _mm512_storeu_ps(out + v, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, channel, 4));
  }
}

// The same with 8-lane AVX2 gathers.
CGK_TARGET_AVX2 void gather_unfolded_avx2(float* out, const float* channel, const int* offsets, int width) {
  for (int v = 0; v < width; v += 8) {
    const __m256i idx = _mm256_load_si256(reinterpret_cast<const __m256i*>(offsets + v));
    const __m256 m = _mm256_castsi256_ps(_mm256_cmpgt_epi32(idx, _mm256_set1_epi32(-1)));
    _mm256_storeu_ps(out + v, _mm256_mask_i32gather_ps(_mm256_setzero_ps(), channel, idx, m, 4));
  }
}

inline void gather_unfolded(float* out, const float* channel, const int* offsets, int width) {
  if (simd() >= kAvx512) return gather_unfolded_avx512(out, channel, offsets, width);
  gather_unfolded_avx2(out, channel, offsets, width);
}
#else
// Never reached (small_map_gather_applies needs AVX2), but plain and correct.
inline void gather_unfolded(float* out, const float* channel, const int* offsets, int width) {
  for (int j = 0; j < width; j++) out[j] = offsets[j] >= 0 ? channel[offsets[j]] : 0.0f;
}
#endif

// B[k = (ci, ky, kx)][j = (n, oy, ox)] = x[n, ci, oy*sh + ky - ph, ox*sw + kx - pw] (implicit im2col).
class UnfoldedImageB final : public BPacker {
 public:
  UnfoldedImageB(const ConvShape& s, const float* x) : s_(s), x_(x) {}
  void pack(float* dst, int nr, int k0, int kc, int j0, int cols) const override {
    if (nr % 16 == 0 && nr <= kGatherCols && small_map_gather_applies(s_)) {
      GatherTable table;
      table.build(s_, j0, cols, nr);
      const float* base = table.sample_base(s_, x_);
      for (int kk = 0; kk < kc; kk++) {
        const int r = k0 + kk, ci = r / s_.kernel_area(), tap = r % s_.kernel_area();
        gather_unfolded(dst + size_t(kk) * nr, base + size_t(ci) * s_.in_plane(), table.offsets[tap], nr);
      }
      return;
    }
    int ci = k0 / s_.kernel_area(), ky = (k0 % s_.kernel_area()) / s_.kw, kx = k0 % s_.kw;
    RunBatch batch(false);
    for (int c0 = 0; c0 < cols; c0 += kMaxRowRuns) {
      RowRun runs[kMaxRowRuns];
      const int count = row_runs(s_, s_.c_in * s_.in_plane(), j0 + c0, std::min(kMaxRowRuns, cols - c0), runs);
      if (const PanelUnfold unfold = panel_unfold_avx2(s_)) {
        unfold(dst + c0, nr, nr - c0, s_, x_, k0, kc, runs, count);
        continue;
      }
      for (int kk = 0, ci1 = ci, ky1 = ky, kx1 = kx; kk < kc; kk++) {
        unfold_row(batch, s_, x_, ci1, ky1, kx1, runs, count, dst + size_t(kk) * nr + c0);
        if (++kx1 == s_.kw) {
          kx1 = 0;
          if (++ky1 == s_.kh) {
            ky1 = 0;
            ci1++;
          }
        }
      }
    }
    for (int kk = 0; kk < kc; kk++) batch.push(dst + size_t(kk) * nr + cols, nullptr, nr - cols);
  }

 private:
  ConvShape s_;
  const float* x_;
};

// B[k = co][j = (n, p)] = dy[n, co, p].
class OutputGradB final : public BPacker {
 public:
  OutputGradB(const ConvShape& s, const float* dy) : s_(s), dy_(dy) {}
  void pack(float* dst, int nr, int k0, int kc, int j0, int cols) const override {
    const int hw = s_.out_plane();
    RunBatch batch(false);
    for (int kk = 0; kk < kc; kk++) {
      float* out = dst + size_t(kk) * nr;
      for (int col = 0, j = j0; col < cols;) {
        int n = j / hw, p = j % hw, len = std::min(hw - p, cols - col);
        batch.push(out + col, dy_ + (size_t(n) * s_.c_out + k0 + kk) * hw + p, len);
        col += len;
        j += len;
      }
      batch.push(out + cols, nullptr, nr - cols);
    }
  }

 private:
  ConvShape s_;
  const float* dy_;
};

// A[m = co][k = (n, p)] = dy[n, co, p].
class OutputGradA final : public APacker {
 public:
  OutputGradA(const ConvShape& s, const float* dy) : s_(s), dy_(dy) {}
  void pack(float* dst, int mr, int m0, int rows, int k0, int kc) const override {
    const int hw = s_.out_plane();
    for (int kk = 0, j = k0; kk < kc;) {
      int n = j / hw, p = j % hw, len = std::min(hw - p, kc - kk);
      if (rows == mr) {
        transpose_into_panel(dst + size_t(kk) * mr, mr, dy_ + (size_t(n) * s_.c_out + m0) * hw + p, hw, rows, len);
        kk += len;
        j += len;
        continue;
      }
      for (int i = 0; i < rows; i++) {
        const float* src = dy_ + (size_t(n) * s_.c_out + m0 + i) * hw + p;
        float* out = dst + size_t(kk) * mr + i;
        for (int t = 0; t < len; t++) out[size_t(t) * mr] = src[t];
      }
      for (int i = rows; i < mr; i++)
        for (int t = 0; t < len; t++) dst[size_t(kk + t) * mr + i] = 0.0f;
      kk += len;
      j += len;
    }
  }

 private:
  ConvShape s_;
  const float* dy_;
};

// B[k = (n, oy, ox)][j = (ci, ky, kx)] = x[n, ci, oy*sh + ky - ph, ox*sw + kx - pw]: the unfolded
// image transposed. Sixteen unfolded rows at a time are gathered along image rows into a small
// buffer, then transposed into sixteen panel columns.
class UnfoldedImageTransposedB final : public BPacker {
 public:
  UnfoldedImageTransposedB(const ConvShape& s, const float* x) : s_(s), x_(x) {}
  void pack(float* dst, int nr, int k0, int kc, int j0, int cols) const override {
    constexpr int kGroup = 16, kSpan = kMaxRowRuns;
    alignas(64) float rows_buf[kGroup * kSpan];
    for (int kk0 = 0; kk0 < kc; kk0 += kSpan) {
      const int span = std::min(kSpan, kc - kk0);
      RowRun runs[kMaxRowRuns];
      const int count = row_runs(s_, s_.c_in * s_.in_plane(), k0 + kk0, span, runs);
      std::optional<GatherTable> table;
      if (small_map_gather_applies(s_)) table.emplace().build(s_, k0 + kk0, span, round_up16(span));
      for (int g = 0; g < nr; g += kGroup) {
        const int group_rows = std::clamp(cols - g, 0, std::min(kGroup, nr - g));
        if (table) {
          const float* base = table->sample_base(s_, x_);
          for (int i = 0; i < group_rows; i++) {
            const int r = j0 + g + i, ci = r / s_.kernel_area(), tap = r % s_.kernel_area();
            gather_unfolded(rows_buf + i * kSpan, base + size_t(ci) * s_.in_plane(), table->offsets[tap], round_up16(span));
          }
        } else if (const PanelUnfold unfold = panel_unfold_avx2(s_)) {
          unfold(rows_buf, kSpan, kSpan, s_, x_, j0 + g, group_rows, runs, count);
        } else {
          RunBatch batch(false);
          for (int i = 0; i < group_rows; i++) {
            int r = j0 + g + i;
            int ci = r / s_.kernel_area(), ky = (r % s_.kernel_area()) / s_.kw, kx = r % s_.kw;
            unfold_row(batch, s_, x_, ci, ky, kx, runs, count, rows_buf + i * kSpan);
          }
        }
        float* out = dst + size_t(kk0) * nr + g;
        transpose_into_panel(out, nr, rows_buf, kSpan, group_rows, span);
        const int width = std::min(kGroup, nr - g);
        for (int kk = 0; kk < span; kk++)
          for (int i = group_rows; i < width; i++) out[size_t(kk) * nr + i] = 0.0f;
      }
    }
  }

 private:
  ConvShape s_;
  const float* x_;
};

// y[n, m, p] = C[m, (n, p)] + bias[m].
class NchwWriter final : public CWriter {
 public:
  NchwWriter(const ConvShape& s, const float* bias, float* y) : s_(s), bias_(bias), y_(y) {}
  void write(const float* c, ptrdiff_t ldc, int m0, int rows, int j0, int cols) const override {
    const int hw = s_.out_plane();
    for (int i = 0; i < rows; i++) {
      const int m = m0 + i;
      const float b = bias_ ? bias_[m] : 0.0f;
      const float* src = c + i * ldc;
      for (int col = 0, j = j0; col < cols;) {
        int n = j / hw, p = j % hw, len = std::min(hw - p, cols - col);
        float* out = y_ + (size_t(n) * s_.c_out + m) * hw + p;
        for (int t = 0; t < len; t++) out[t] = src[col + t] + b;
        col += len;
        j += len;
      }
    }
  }

 private:
  ConvShape s_;
  const float* bias_;
  float* y_;
};

// dx[n, ci, oy*sh + ky - ph, ox*sw + kx - pw] += C[(ci, ky, kx), (n, oy, ox)] (col2im). Tasks own
// whole samples or whole input channels, so no two tasks add into the same element.
class Col2ImWriter final : public CWriter {
 public:
  Col2ImWriter(const ConvShape& s, float* dx) : s_(s), dx_(dx) {}
  void write(const float* c, ptrdiff_t ldc, int m0, int rows, int j0, int cols) const override {
    RunBatch batch(true);
    const size_t sample_size = size_t(s_.c_in) * s_.in_plane();
    for (int c0 = 0; c0 < cols; c0 += kMaxRowRuns) {
      RowRun runs[kMaxRowRuns];
      const int count = row_runs(s_, sample_size, j0 + c0, std::min(kMaxRowRuns, cols - c0), runs);
      // Kernel tap outer, channel inner: consecutive adds then land in different channels. Taps
      // of one channel overlap shifted by a float, and adding them back to back would make each
      // load wait for the store before it (a failed store-to-load forward).
      const int area = s_.kernel_area();
      for (int tap = 0; tap < area; tap++) {
        const int ky = tap / s_.kw, kx = tap % s_.kw;
        for (int ci = m0 / area; ci * area < m0 + rows; ci++) {
          const int i = ci * area + tap - m0;
          if (i < 0 || i >= rows) continue;
          add_row(batch, c + i * ldc + c0, dx_ + size_t(ci) * s_.in_plane(), ky, kx, runs, count);
        }
      }
    }
  }

 private:
  // Adds one unfolded row (ky, kx) of gradients back onto the image channel.
  void add_row(RunBatch& batch, const float* src, float* channel, int ky, int kx, const RowRun* runs, int count) const {
#if CGK_X86
    if (unpadded_stride1(s_) && simd() >= kAvx2) {
      float* window = channel + size_t(ky) * s_.w_in + kx;
      if (simd() >= kAvx512) {
        fold_runs_avx512(window, src, s_.w_in, runs, count);
      } else {
        fold_runs_avx2(window, src, s_.w_in, runs, count);
      }
      return;
    }
#endif
    for (int q = 0; q < count; q++) {
      const RowRun& run = runs[q];
      int iy = run.iy0 + ky;
      if (unsigned(iy) >= unsigned(s_.h_in)) continue;
      float* row = channel + run.sample + size_t(iy) * s_.w_in;
      const float* v = src + run.col;
      int ix0 = run.ix0 + kx, lo, hi;
      valid_steps(ix0, s_.sw, run.len, s_.w_in, &lo, &hi);
      batch.push(row + ix0 + ptrdiff_t(lo) * s_.sw, v + lo, hi - lo, s_.sw);
    }
  }

  ConvShape s_;
  float* dx_;
};

// ---- argument checks ----------------------------------------------------------------------------

int check_positive(const cgk_conv* p, const char* fn) {
  CGK_CHECK_PTR(p, fn);
  const struct {
    const char* name;
    int value;
  } dims[] = {{"n", p->n},       {"c_in", p->c_in}, {"h_in", p->h_in}, {"w_in", p->w_in}, {"c_out", p->c_out},
              {"h_out", p->h_out}, {"w_out", p->w_out}, {"kh", p->kh},     {"kw", p->kw},     {"sh", p->sh},
              {"sw", p->sw}};
  for (const auto& d : dims) CGK_CHECK(d.value >= 1, "%s: %s = %d, expected >= 1", fn, d.name, d.value);
  CGK_CHECK(p->ph >= 0 && p->pw >= 0, "%s: padding (ph, pw) = (%d, %d), expected >= 0", fn, p->ph, p->pw);
  return CGK_OK;
}

// Sizes the GEMM indexes with int must fit: pixels, unfolded rows, and every tensor's element count.
int check_sizes(const ConvShape& s, const char* fn) {
  const double limit = double(INT_MAX);
  CGK_CHECK(double(s.n) * s.h_out * s.w_out <= limit && double(s.c_in) * s.kh * s.kw <= limit &&
                double(s.n) * s.h_in * s.w_in <= limit,
            "%s: shape too large (batch x spatial and c_in x kh x kw must stay below 2^31)", fn);
  return CGK_OK;
}

int conv2d_shape(const cgk_conv* p, const char* fn, ConvShape* out) {
  if (int status = check_positive(p, fn)) return status;
  CGK_CHECK(p->oph == 0 && p->opw == 0, "%s: output_padding (oph, opw) = (%d, %d), expected 0 for conv2d", fn, p->oph,
            p->opw);
  CGK_CHECK(p->pad_mode == CGK_PAD_ZEROS || p->pad_mode == CGK_PAD_REFLECT,
            "%s: pad_mode = %d, expected %d (zeros) or %d (reflect)", fn, p->pad_mode, CGK_PAD_ZEROS, CGK_PAD_REFLECT);
  CGK_CHECK(p->pad_mode != CGK_PAD_REFLECT || (p->ph < p->h_in && p->pw < p->w_in),
            "%s: reflection padding (ph, pw) = (%d, %d) must be smaller than the input %dx%d", fn, p->ph, p->pw,
            p->h_in, p->w_in);
  CGK_CHECK(p->h_in + 2 * p->ph >= p->kh && p->w_in + 2 * p->pw >= p->kw,
            "%s: kernel %dx%d is larger than the padded input %dx%d", fn, p->kh, p->kw, p->h_in + 2 * p->ph,
            p->w_in + 2 * p->pw);
  int h_out = (p->h_in + 2 * p->ph - p->kh) / p->sh + 1, w_out = (p->w_in + 2 * p->pw - p->kw) / p->sw + 1;
  CGK_CHECK(p->h_out == h_out && p->w_out == w_out,
            "%s: output %dx%d, expected %dx%d = (in + 2*pad - kernel)/stride + 1 for input %dx%d, kernel %dx%d, "
            "stride %dx%d, padding %dx%d",
            fn, p->h_out, p->w_out, h_out, w_out, p->h_in, p->w_in, p->kh, p->kw, p->sh, p->sw, p->ph, p->pw);
  *out = {p->n, p->c_in, p->h_in, p->w_in, p->c_out, p->h_out, p->w_out, p->kh, p->kw, p->sh, p->sw, p->ph, p->pw,
          p->pad_mode == CGK_PAD_REFLECT};
  return check_sizes(*out, fn);
}

// The conv2d whose backward-data is this conv-transpose2d's forward: its input is the transpose's
// output and its output the transpose's input; the weight [c_in_t, c_out_t, kh, kw] is already
// laid out as that conv2d's [c_out, c_in, kh, kw].
int conv_transpose2d_shape(const cgk_conv* p, const char* fn, ConvShape* out) {
  if (int status = check_positive(p, fn)) return status;
  CGK_CHECK(p->pad_mode == CGK_PAD_ZEROS, "%s: pad_mode = %d, expected %d (zeros) for conv-transpose2d", fn, p->pad_mode,
            CGK_PAD_ZEROS);
  CGK_CHECK(p->oph >= 0 && p->opw >= 0 && p->oph < p->sh && p->opw < p->sw,
            "%s: output_padding (oph, opw) = (%d, %d), expected 0 <= output_padding < stride (%d, %d)", fn, p->oph,
            p->opw, p->sh, p->sw);
  long h_out = long(p->h_in - 1) * p->sh - 2L * p->ph + p->kh + p->oph;
  long w_out = long(p->w_in - 1) * p->sw - 2L * p->pw + p->kw + p->opw;
  CGK_CHECK(p->h_out == h_out && p->w_out == w_out,
            "%s: output %dx%d, expected %ldx%ld = (in - 1)*stride - 2*pad + kernel + output_padding for input %dx%d, "
            "kernel %dx%d, stride %dx%d, padding %dx%d, output_padding %dx%d",
            fn, p->h_out, p->w_out, h_out, w_out, p->h_in, p->w_in, p->kh, p->kw, p->sh, p->sw, p->ph, p->pw, p->oph,
            p->opw);
  *out = {p->n, p->c_out, p->h_out, p->w_out, p->c_in, p->h_in, p->w_in, p->kh, p->kw, p->sh, p->sw, p->ph, p->pw};
  return check_sizes(*out, fn);
}

// ---- the three products ----------------------------------------------------------------------------

// 3x3, stride 1, padding <= 2: a candidate for Winograd (winograd.h decides whether it pays).
std::optional<Conv3x3> as_conv3x3(const ConvShape& s) {
  if (s.kh != 3 || s.kw != 3 || s.sh != 1 || s.sw != 1) return std::nullopt;
  return Conv3x3{s.n, s.c_in, s.h_in, s.w_in, s.c_out, s.h_out, s.w_out, s.ph, s.pw, s.reflect};
}


// Reflection padding: Winograd reads reflected windows and folds the data gradient back itself;
// every other path runs unpadded on a reflection-padded copy of x (and folds a padded dx), as
// ReflectionPad2d followed by the conv would. The copies live in grow-only per-thread buffers.
ConvShape padded_view(const ConvShape& s) {
  ConvShape p = s;
  p.h_in += 2 * s.ph;
  p.w_in += 2 * s.pw;
  p.ph = p.pw = 0;
  p.reflect = false;
  return p;
}

float* padded_buffer(const ConvShape& s, std::vector<float>& buffer) {
  const ConvShape p = padded_view(s);
  buffer.resize(size_t(p.n) * p.c_in * p.in_plane());
  return buffer.data();
}

int reflect_pad(const ConvShape& s, const float* x, float* padded) {
  return cgk_reflection_pad_forward(x, padded, s.n * s.c_in, s.h_in, s.w_in, s.ph, s.ph, s.pw, s.pw);
}

int reflect_fold(const ConvShape& s, const float* padded_grad, float* dx) {
  return cgk_reflection_pad_backward(padded_grad, dx, s.n * s.c_in, s.h_in, s.w_in, s.ph, s.ph, s.pw, s.pw);
}

// The unfolded image read in place: for stride 1 and no padding, unfolded row (ci, ky, kx) of
// output pixel (n, oy, ox) is x at a fixed offset from x[n, 0, oy, ox], and when output rows are
// multiples of 16 wide every 16 aligned columns are 16 consecutive floats.
class UnfoldedImageInPlace final : public BInPlace {
 public:
  UnfoldedImageInPlace(const ConvShape& s, const float* x, std::vector<int>& offsets) : s_(s), x_(x) {
    offsets.resize(s.unfolded_rows());
    for (int r = 0; r < s.unfolded_rows(); r++) {
      int ci = r / s.kernel_area(), ky = (r % s.kernel_area()) / s.kw, kx = r % s.kw;
      offsets[r] = int(ci * s.in_plane() + ky * s.w_in + kx);
    }
    this->offsets = offsets.data();
  }
  static bool applies(const ConvShape& s) {
    return s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0 && s.w_out % 16 == 0 &&
           double(s.c_in) * s.in_plane() < double(INT_MAX);
  }
  const float* column_base(int j) const override {
    int n = j / s_.out_plane(), p = j % s_.out_plane();
    return x_ + size_t(n) * s_.c_in * s_.in_plane() + size_t(p / s_.w_out) * s_.w_in + p % s_.w_out;
  }

 private:
  ConvShape s_;
  const float* x_;
};

int conv_forward(const ConvShape& s, const float* x, const float* w, const float* bias, float* y) {
  if (auto c = as_conv3x3(s); c && winograd_forward_applies(*c)) return winograd_forward(*c, x, w, bias, y);
  if (s.reflect) {
    static thread_local std::vector<float> padded;
    float* xp = padded_buffer(s, padded);
    if (int status = reflect_pad(s, x, xp)) return status;
    return conv_forward(padded_view(s), xp, w, bias, y);
  }
  StridedAPacker weights(w, s.unfolded_rows(), 1);
  UnfoldedImageB columns(s, x);
  NchwWriter writer(s, bias, y);
  // Grow-only: the offsets table is rebuilt per call but never reallocated in steady state.
  static thread_local std::vector<int> offsets;
  std::optional<UnfoldedImageInPlace> in_place;
  if (simd() >= kAvx2 && UnfoldedImageInPlace::applies(s)) in_place.emplace(s, x, offsets);
  GemmProblem g;
  g.m = s.c_out;
  g.n = s.pixels();
  g.k = s.unfolded_rows();
  g.a = &weights;
  g.b = &columns;
  g.writer = &writer;
  g.n_granule = gemm_tile(simd()).nr;
  g.m_split_granule = 1;
  if (in_place) {
    g.b_in_place = &*in_place;
    g.n_granule = 16;
  }
  return gemm(g);
}

// Few output channels make the col2im GEMM's depth (c_out) too small to hide the col2im. For
// stride 1, dx is instead the forward convolution of dy, zero-padded by kernel - 1 - padding,
// with the weights flipped in space and c_in/c_out swapped: more multiply-adds when the
// padding is small, but an efficient GEMM (and the in-place path when it applies).
bool backward_data_as_forward(const ConvShape& s) {
  return s.c_out < 32 && s.sh == 1 && s.sw == 1 && s.ph <= s.kh - 1 && s.pw <= s.kw - 1;
}

// The width the forward conv of conv_backward_data_as_forward computes: dx's own, or rounded up to
// a multiple of 16 when that lets the GEMM read its input in place (UnfoldedImageInPlace) for at
// most a third more columns (38-wide padded maps of a 32x32 stem: 48). Packing the unfolded
// input costs far more than the extra columns when the conv has few output channels.
int as_forward_width(const ConvShape& s) {
  const int wide = (s.w_in + 15) / 16 * 16;
  return simd() >= kAvx2 && wide != s.w_in && 3 * wide <= 4 * s.w_in ? wide : s.w_in;
}

int conv_backward_data_as_forward(const ConvShape& s, const float* dy, const float* w, float* dx) {
  const int pad_h = s.kh - 1 - s.ph, pad_w = s.kw - 1 - s.pw;
  const int width = as_forward_width(s);  // the forward's output width: dx's, or wider
  const ConvShape f{s.n, s.c_out, s.h_out + 2 * pad_h, width + s.kw - 1, s.c_in, s.h_in, width,
                    s.kh, s.kw, 1, 1, 0, 0};
  if (int status = check_sizes(f, "cgk_conv2d_backward_data")) return status;
  // Grow-only scratch, reused by every call on this thread.
  static thread_local std::vector<float> padded, flipped, wide;
  padded.resize(size_t(f.n) * f.c_in * f.in_plane());
  flipped.resize(size_t(s.c_in) * s.c_out * s.kernel_area());
  float* padded_data = padded.data();  // the caller's thread_local, not each worker's
  parallel_for(size_t(f.n) * f.c_in, [&](size_t plane) {
    float* out = padded_data + plane * f.in_plane();
    const float* in = dy + plane * s.out_plane();
    std::memset(out, 0, sizeof(float) * f.in_plane());
    for (int oy = 0; oy < s.h_out; oy++) {
      std::memcpy(out + size_t(oy + pad_h) * f.w_in + pad_w, in + size_t(oy) * s.w_out, sizeof(float) * s.w_out);
    }
  });
  const int area = s.kernel_area();
  for (int co = 0; co < s.c_out; co++)
    for (int ci = 0; ci < s.c_in; ci++)
      for (int t = 0; t < area; t++)
        flipped[(size_t(ci) * s.c_out + co) * area + (area - 1 - t)] = w[(size_t(co) * s.c_in + ci) * area + t];
  if (width == s.w_in) return conv_forward(f, padded.data(), flipped.data(), nullptr, dx);
  // Wider: the first w_in columns of every row are dx (the rest saw only the zero padding).
  wide.resize(size_t(f.n) * f.c_out * f.out_plane());
  if (int status = conv_forward(f, padded.data(), flipped.data(), nullptr, wide.data())) return status;
  const float* wide_data = wide.data();
  parallel_range(size_t(s.n) * s.c_in * s.h_in, 64, [&](size_t begin, size_t end) {
    for (size_t row = begin; row < end; row++) std::memcpy(dx + row * s.w_in, wide_data + row * width, sizeof(float) * s.w_in);
  });
  return CGK_OK;
}

int conv_backward_data(const ConvShape& s, const float* dy, const float* w, float* dx) {
  if (auto c = as_conv3x3(s); c && winograd_backward_data_applies(*c)) return winograd_backward_data(*c, dy, w, dx);
  if (s.reflect) {
    static thread_local std::vector<float> padded;
    float* dxp = padded_buffer(s, padded);
    if (int status = conv_backward_data(padded_view(s), dy, w, dxp)) return status;
    return reflect_fold(s, dxp, dx);
  }
  if (backward_data_as_forward(s)) return conv_backward_data_as_forward(s, dy, w, dx);
  StridedAPacker weights_t(w, 1, s.unfolded_rows());
  OutputGradB grads(s, dy);
  Col2ImWriter writer(s, dx);
  GemmProblem g;
  g.m = s.unfolded_rows();
  g.n = s.pixels();
  g.k = s.c_out;
  g.a = &weights_t;
  g.b = &grads;
  g.writer = &writer;
  g.n_granule = s.out_plane();  // whole samples per task: col2im windows overlap inside a sample
  g.m_split_granule = s.kernel_area();  // or whole input channels
  const int area = s.kernel_area(), hw_out = s.out_plane();
  g.prologue = [&](int m0, int m1, int j0, int j1) {
    int c0 = m0 / area, c1 = (m1 + area - 1) / area;
    int n0 = j0 / hw_out, n1 = (j1 + hw_out - 1) / hw_out;
    for (int n = n0; n < n1; n++) {
      std::memset(dx + (size_t(n) * s.c_in + c0) * s.in_plane(), 0, sizeof(float) * (c1 - c0) * s.in_plane());
    }
  };
  return gemm(g);
}

// ---- direct backward weight: stride 1, no padding, output rows multiples of the vector width ------
//
// For few output channels the GEMM's M (c_out) is too small to amortise packing the unfolded
// image, which is c_in*kh*kw times larger than the image. Here dw is summed straight from the
// image instead: for one (sample, ci, ky) and a group of output channels, COG x KW vector
// accumulators collect dy[co] * x shifted by kx over 16 (AVX-512) or 8 (AVX2) output pixels at a
// time (each x vector serves COG FMAs, each dy vector KW). Per-task partial sums keep 16 lanes
// per weight (AVX2 fills the first 8); one pass at the end reduces lanes and tasks.

#if CGK_X86
template <int COG, int KW>
CGK_TARGET_AVX512 void dw_direct_rows(const float* dy, size_t dy_plane, const float* x, int w_in, int h_out, int w_out,
                                      float* partial, size_t partial_co_stride) {
  __m512 acc[COG][KW];
#pragma GCC unroll 8
  for (int c = 0; c < COG; c++)
#pragma GCC unroll 8
    for (int k = 0; k < KW; k++) acc[c][k] = _mm512_setzero_ps();
  for (int oy = 0; oy < h_out; oy++) {
    const float* x_row = x + size_t(oy) * w_in;
    const float* dy_row = dy + size_t(oy) * w_out;
    for (int ox = 0; ox < w_out; ox += 16) {
      __m512 d[COG];
#pragma GCC unroll 8
      for (int c = 0; c < COG; c++) d[c] = _mm512_loadu_ps(dy_row + c * dy_plane + ox);
#pragma GCC unroll 8
      for (int k = 0; k < KW; k++) {
        __m512 xv = _mm512_loadu_ps(x_row + ox + k);
#pragma GCC unroll 8
        for (int c = 0; c < COG; c++) acc[c][k] = _mm512_fmadd_ps(d[c], xv, acc[c][k]);
      }
    }
  }
#pragma GCC unroll 8
  for (int c = 0; c < COG; c++)
#pragma GCC unroll 8
    for (int k = 0; k < KW; k++) {
      float* p = partial + c * partial_co_stride + 16 * k;
      _mm512_storeu_ps(p, _mm512_add_ps(_mm512_loadu_ps(p), acc[c][k]));
    }
}

// dw_direct_rows with 8 pixels a step in ymm registers (16 of them: smaller groups than AVX-512's).
template <int COG, int KW>
CGK_TARGET_AVX2 void dw_direct_rows_avx2(const float* dy, size_t dy_plane, const float* x, int w_in, int h_out,
                                         int w_out, float* partial, size_t partial_co_stride) {
  __m256 acc[COG][KW];
#pragma GCC unroll 8
  for (int c = 0; c < COG; c++)
#pragma GCC unroll 8
    for (int k = 0; k < KW; k++) acc[c][k] = _mm256_setzero_ps();
  for (int oy = 0; oy < h_out; oy++) {
    const float* x_row = x + size_t(oy) * w_in;
    const float* dy_row = dy + size_t(oy) * w_out;
    for (int ox = 0; ox < w_out; ox += 8) {
      __m256 d[COG];
#pragma GCC unroll 8
      for (int c = 0; c < COG; c++) d[c] = _mm256_loadu_ps(dy_row + c * dy_plane + ox);
#pragma GCC unroll 8
      for (int k = 0; k < KW; k++) {
        __m256 xv = _mm256_loadu_ps(x_row + ox + k);
#pragma GCC unroll 8
        for (int c = 0; c < COG; c++) acc[c][k] = _mm256_fmadd_ps(d[c], xv, acc[c][k]);
      }
    }
  }
#pragma GCC unroll 8
  for (int c = 0; c < COG; c++)
#pragma GCC unroll 8
    for (int k = 0; k < KW; k++) {
      float* p = partial + c * partial_co_stride + 16 * k;
      _mm256_storeu_ps(p, _mm256_add_ps(_mm256_loadu_ps(p), acc[c][k]));
    }
}

#endif  // CGK_X86

using DirectRowsKernel = void (*)(const float*, size_t, const float*, int, int, int, float*, size_t);

// Kernels for kernel widths 3 and 7 (the CycleGAN shapes), by output-channel group size, and the
// output pixels each call steps by (output rows must be multiples of it).
struct DirectWeightKernels {
  int group, pixels;
  DirectRowsKernel by_group[8];  // [channels in the group - 1]
};

const DirectWeightKernels* direct_weight_kernels(int kw) {
#if CGK_X86
  if (simd() >= kAvx512) {
    static const DirectWeightKernels k3 = {8, 16, {&dw_direct_rows<1, 3>, &dw_direct_rows<2, 3>, &dw_direct_rows<3, 3>,
                                                   &dw_direct_rows<4, 3>, &dw_direct_rows<5, 3>, &dw_direct_rows<6, 3>,
                                                   &dw_direct_rows<7, 3>, &dw_direct_rows<8, 3>}};
    static const DirectWeightKernels k7 = {3, 16, {&dw_direct_rows<1, 7>, &dw_direct_rows<2, 7>, &dw_direct_rows<3, 7>}};
    return kw == 3 ? &k3 : kw == 7 ? &k7 : nullptr;
  }
  if (simd() >= kAvx2) {
    // COG x KW accumulators and an x vector in 16 ymm; the dy vectors can be FMA memory operands.
    static const DirectWeightKernels k3 = {4, 8, {&dw_direct_rows_avx2<1, 3>, &dw_direct_rows_avx2<2, 3>,
                                                  &dw_direct_rows_avx2<3, 3>, &dw_direct_rows_avx2<4, 3>}};
    static const DirectWeightKernels k7 = {2, 8, {&dw_direct_rows_avx2<1, 7>, &dw_direct_rows_avx2<2, 7>}};
    return kw == 3 ? &k3 : kw == 7 ? &k7 : nullptr;
  }
#endif
  (void)kw;
  return nullptr;
}

size_t direct_partial_size(const ConvShape& s) { return size_t(s.c_out) * s.unfolded_rows() * 16; }

bool backward_weight_direct_applies(const ConvShape& s) {
  // The partial sums must stay cache-sized (a few MiB per task), which bounds c_out * c_in.
  const DirectWeightKernels* kernels = direct_weight_kernels(s.kw);
  return kernels && s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0 && s.w_out % kernels->pixels == 0 &&
         direct_partial_size(s) <= (size_t(1) << 20);
}

int conv_backward_weight_direct(const ConvShape& s, const float* x, const float* dy, float* dw) {
  const DirectWeightKernels& kernels = *direct_weight_kernels(s.kw);
  const int tasks = std::max(1, std::min(num_threads(), s.n));
  const size_t partial_size = direct_partial_size(s), co_stride = size_t(s.unfolded_rows()) * 16;
  static std::mutex mu;  // the grow-only partial buffers belong to one call at a time
  static std::vector<std::vector<float>> partials;
  std::lock_guard<std::mutex> lock(mu);
  if (partials.size() < size_t(tasks)) partials.resize(tasks);
  parallel_for(size_t(tasks), [&](size_t t) {
    std::vector<float>& partial = partials[t];
    partial.assign(partial_size, 0.0f);
    const int n0 = int(int64_t(s.n) * t / tasks), n1 = int(int64_t(s.n) * (t + 1) / tasks);
    for (int n = n0; n < n1; n++)
      for (int ci = 0; ci < s.c_in; ci++)
        for (int ky = 0; ky < s.kh; ky++) {
          const float* x_rows = x + (size_t(n) * s.c_in + ci) * s.in_plane() + size_t(ky) * s.w_in;
          for (int co = 0; co < s.c_out; co += kernels.group) {
            const int group = std::min(kernels.group, s.c_out - co);
            const float* dy_planes = dy + (size_t(n) * s.c_out + co) * s.out_plane();
            float* out = partial.data() + co * co_stride + (size_t(ci) * s.kh + ky) * s.kw * 16;
            kernels.by_group[group - 1](dy_planes, s.out_plane(), x_rows, s.w_in, s.h_out, s.w_out, out, co_stride);
          }
        }
  });
  const size_t weights = size_t(s.c_out) * s.unfolded_rows();
  parallel_range(weights, 1024, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; i++) {
      double total = 0.0;
      for (int t = 0; t < tasks; t++)
        for (int lane = 0; lane < 16; lane++) total += partials[t][i * 16 + lane];
      dw[i] = float(total);
    }
  });
  return CGK_OK;
}

int conv_backward_weight(const ConvShape& s, const float* x, const float* dy, float* dw) {
  if (auto c = as_conv3x3(s); c && winograd_backward_weight_applies(*c)) return winograd_backward_weight(*c, x, dy, dw);
  if (s.reflect) {
    static thread_local std::vector<float> padded;
    float* xp = padded_buffer(s, padded);
    if (int status = reflect_pad(s, x, xp)) return status;
    return conv_backward_weight(padded_view(s), xp, dy, dw);
  }
  if (backward_weight_direct_applies(s)) return conv_backward_weight_direct(s, x, dy, dw);
  OutputGradA grads(s, dy);
  UnfoldedImageTransposedB columns_t(s, x);
  GemmProblem g;
  g.m = s.c_out;
  g.n = s.unfolded_rows();
  g.k = s.pixels();
  g.a = &grads;
  g.b = &columns_t;
  g.c = dw;
  g.ldc = s.unfolded_rows();
  g.n_granule = gemm_tile(simd()).nr;
  g.m_split_granule = 1;
  return gemm(g);
}

}  // namespace
}  // namespace cgk

using cgk::ConvShape;

extern "C" {

int cgk_conv2d_forward(const cgk_conv* p, const float* x, const float* w, const float* bias, float* y) {
  static const char* fn = "cgk_conv2d_forward";
  ConvShape s;
  if (int status = cgk::conv2d_shape(p, fn, &s)) return status;
  CGK_CHECK_PTR(x, fn);
  CGK_CHECK_PTR(w, fn);
  CGK_CHECK_PTR(y, fn);
  return cgk::conv_forward(s, x, w, bias, y);
}

int cgk_conv2d_backward_data(const cgk_conv* p, const float* dy, const float* w, float* dx) {
  static const char* fn = "cgk_conv2d_backward_data";
  ConvShape s;
  if (int status = cgk::conv2d_shape(p, fn, &s)) return status;
  CGK_CHECK_PTR(dy, fn);
  CGK_CHECK_PTR(w, fn);
  CGK_CHECK_PTR(dx, fn);
  return cgk::conv_backward_data(s, dy, w, dx);
}

int cgk_conv2d_backward_weight(const cgk_conv* p, const float* x, const float* dy, float* dw) {
  static const char* fn = "cgk_conv2d_backward_weight";
  ConvShape s;
  if (int status = cgk::conv2d_shape(p, fn, &s)) return status;
  CGK_CHECK_PTR(x, fn);
  CGK_CHECK_PTR(dy, fn);
  CGK_CHECK_PTR(dw, fn);
  return cgk::conv_backward_weight(s, x, dy, dw);
}

int cgk_conv2d_backward(const cgk_conv* p, const float* x, const float* dy, const float* w, float* dx, float* dw) {
  static const char* fn = "cgk_conv2d_backward";
  ConvShape s;
  if (int status = cgk::conv2d_shape(p, fn, &s)) return status;
  CGK_CHECK_PTR(x, fn);
  CGK_CHECK_PTR(dy, fn);
  CGK_CHECK_PTR(w, fn);
  CGK_CHECK_PTR(dx, fn);
  CGK_CHECK_PTR(dw, fn);
  // Winograd shares the gradient's transform between the two products; elsewhere there is
  // nothing to share and the two run one after the other.
  if (auto c = cgk::as_conv3x3(s); c && cgk::winograd_backward_data_applies(*c) && cgk::winograd_backward_weight_applies(*c)) {
    return cgk::winograd_backward(*c, x, dy, w, dx, dw);
  }
  if (int status = cgk::conv_backward_data(s, dy, w, dx)) return status;
  return cgk::conv_backward_weight(s, x, dy, dw);
}

int cgk_conv_transpose2d_forward(const cgk_conv* p, const float* x, const float* w, const float* bias, float* y) {
  static const char* fn = "cgk_conv_transpose2d_forward";
  ConvShape s;
  if (int status = cgk::conv_transpose2d_shape(p, fn, &s)) return status;
  CGK_CHECK_PTR(x, fn);
  CGK_CHECK_PTR(w, fn);
  CGK_CHECK_PTR(y, fn);
  if (int status = cgk::conv_backward_data(s, x, w, y)) return status;
  if (!bias) return CGK_OK;
  // y is the conv view's dx: [n, c_in_view = transpose's c_out, plane].
  const size_t plane = s.in_plane();
  cgk::parallel_for(size_t(s.n) * s.c_in, [&](size_t nc) {
    float b = bias[nc % s.c_in];
    float* row = y + nc * plane;
    for (size_t i = 0; i < plane; i++) row[i] += b;
  });
  return CGK_OK;
}

int cgk_conv_transpose2d_backward_data(const cgk_conv* p, const float* dy, const float* w, float* dx) {
  static const char* fn = "cgk_conv_transpose2d_backward_data";
  ConvShape s;
  if (int status = cgk::conv_transpose2d_shape(p, fn, &s)) return status;
  CGK_CHECK_PTR(dy, fn);
  CGK_CHECK_PTR(w, fn);
  CGK_CHECK_PTR(dx, fn);
  return cgk::conv_forward(s, dy, w, nullptr, dx);
}

int cgk_conv_transpose2d_backward_weight(const cgk_conv* p, const float* x, const float* dy, float* dw) {
  static const char* fn = "cgk_conv_transpose2d_backward_weight";
  ConvShape s;
  if (int status = cgk::conv_transpose2d_shape(p, fn, &s)) return status;
  CGK_CHECK_PTR(x, fn);
  CGK_CHECK_PTR(dy, fn);
  CGK_CHECK_PTR(dw, fn);
  // In the conv view the transpose's dy is the image and its x is the output gradient.
  return cgk::conv_backward_weight(s, dy, x, dw);
}

int cgk_bias_backward(const float* dy, float* db, int n, int c, int hw) {
  static const char* fn = "cgk_bias_backward";
  CGK_CHECK_PTR(dy, fn);
  CGK_CHECK_PTR(db, fn);
  CGK_CHECK(n >= 1 && c >= 1 && hw >= 1, "%s: (n, c, hw) = (%d, %d, %d), expected all >= 1", fn, n, c, hw);
  cgk::parallel_for(size_t(c), [&](size_t ch) {
    // Eight interleaved partial sums, combined in a fixed order: the compiler keeps them in one
    // vector (a single running float sum is a chain of dependent adds, 4 cycles per element),
    // and every SIMD level gets the same bits.
    constexpr int kLanes = 8;
    double total = 0.0;
    for (int i = 0; i < n; i++) {
      const float* plane = dy + (size_t(i) * c + ch) * hw;
      float lanes[kLanes] = {};
      int t = 0;
      for (; t + kLanes <= hw; t += kLanes)
        for (int l = 0; l < kLanes; l++) lanes[l] += plane[t + l];
      float partial = 0.0f;
      for (; t < hw; t++) partial += plane[t];
      for (int l = 0; l < kLanes; l++) partial += lanes[l];
      total += partial;
    }
    db[ch] = float(total);
  });
  return CGK_OK;
}

}  // extern "C"
