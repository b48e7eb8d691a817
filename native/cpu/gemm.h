// Packed single-precision GEMM, the engine under convolution and linear layers.
//
// C[m, j] = sum_k A[m, k] * B[k, j], with A and B never read in place: callers describe them by
// packers that write register-tile panels (A as [k][MR], B as [k][NR]). That lets a convolution
// pack B straight from the image (implicit im2col) and lets backward passes read transposes
// without materialising them. C is either a row-major matrix (overwritten) or handed block by
// block to a writer (bias add, NCHW scatter, col2im accumulation).
//
// Micro-kernels: AVX-512 (MR x NR = 8 x 48), AVX2+FMA (6 x 16) and a portable one, chosen
// from cgk::simd() at every call. The product is cut into a few pieces per thread, handed out
// dynamically; work buffers belong to the thread running a piece and grow to the largest problem
// seen, so the hot path does not allocate after warm-up.
#ifndef CGK_CPU_GEMM_H
#define CGK_CPU_GEMM_H

#include <cstddef>
#include <functional>

namespace cgk {

// The register tile of the micro-kernel at a SIMD level: A panels are [k][mr], B panels [k][nr].
struct GemmTile {
  int mr;
  int nr;
};
GemmTile gemm_tile(int simd_level);

// Writes rows [m0, m0 + rows) x depth [k0, k0 + kc) of A into dst[kk * mr + i]; rows < mr, the
// rows from `rows` to mr - 1 must be written as zeros.
class APacker {
 public:
  virtual ~APacker() = default;
  virtual void pack(float* dst, int mr, int m0, int rows, int k0, int kc) const = 0;
};

// Writes depth [k0, k0 + kc) x columns [j0, j0 + cols) of B into dst[kk * nr + jj]; columns from
// `cols` to nr - 1 must be written as zeros.
class BPacker {
 public:
  virtual ~BPacker() = default;
  virtual void pack(float* dst, int nr, int k0, int kc, int j0, int cols) const = 0;
};

// Receives finished blocks of C: element (m, j) at c[(m - m0) * ldc + (j - j0)].
class CWriter {
 public:
  virtual ~CWriter() = default;
  virtual void write(const float* c, ptrdiff_t ldc, int m0, int rows, int j0, int cols) const = 0;
};

// A[m, k] = data[m * row_stride + k * col_stride] (and likewise for B[k, j]).
class StridedAPacker final : public APacker {
 public:
  StridedAPacker(const float* data, ptrdiff_t row_stride, ptrdiff_t col_stride)
      : data_(data), row_stride_(row_stride), col_stride_(col_stride) {}
  void pack(float* dst, int mr, int m0, int rows, int k0, int kc) const override;

 private:
  const float* data_;
  ptrdiff_t row_stride_, col_stride_;
};

class StridedBPacker final : public BPacker {
 public:
  StridedBPacker(const float* data, ptrdiff_t row_stride, ptrdiff_t col_stride)
      : data_(data), row_stride_(row_stride), col_stride_(col_stride) {}
  void pack(float* dst, int nr, int k0, int kc, int j0, int cols) const override;

 private:
  const float* data_;
  ptrdiff_t row_stride_, col_stride_;
};

// B read in place, without packing: B[k, j] = column_base(j)[offsets[k]], where the 16 columns
// from any multiple of 16 are 16 consecutive floats (e.g. a stride-1 unpadded convolution whose
// output rows are multiples of 16 wide). Used by the AVX-512 and AVX2 paths (not the scalar one).
class BInPlace {
 public:
  virtual ~BInPlace() = default;
  virtual const float* column_base(int j) const = 0;
  const int* offsets = nullptr;  // k entries
};

struct GemmProblem {
  int m = 0, n = 0, k = 0;
  const APacker* a = nullptr;
  const BPacker* b = nullptr;
  // Optional: when set, n is a multiple of 16 and the AVX2 or AVX-512 level is active, B is read in place
  // (the packer is still required for the other levels).
  const BInPlace* b_in_place = nullptr;
  // Optional: A already packed by pack_a() (the packer is then not called), for a caller that
  // multiplies one A by several B (Winograd's transformed tiles by blocks of filters).
  const float* a_packed = nullptr;
  // Optional, with b_in_place: where the in-place kernels store C (overwritten, or added to
  // with c_grouped_add) instead of handing blocks to the writer:
  // C[m, j] = c_grouped[m * c_row + (j / 16) * c_group + j % 16]. The writer is still required
  // (the scalar level uses it, and must then do the same).
  float* c_grouped = nullptr;
  ptrdiff_t c_row = 0, c_group = 0;
  bool c_grouped_add = false;
  // Exactly one of: a row-major C (overwritten), or a writer that receives each block once.
  float* c = nullptr;
  ptrdiff_t ldc = 0;
  const CWriter* writer = nullptr;
  // Pieces split N into ranges aligned to n_granule columns; when m_split_granule > 0 and
  // splitting M leaves the busiest piece clearly less tile work (few columns), one piece per
  // thread splits M into ranges aligned to m_split_granule rows (rounded up to the tile) instead.
  // A writer must be safe for the ranges it is given.
  int n_granule = 1;
  int m_split_granule = 0;
  // Runs before each piece is computed, with its ranges [m0, m1) x [j0, j1)
  // (e.g. zeroing the part of the output a col2im writer accumulates into).
  std::function<void(int m0, int m1, int j0, int j1)> prologue;
};

// Computes the product; returns CGK_OK or an error code with cgk_last_error set.
int gemm(const GemmProblem& problem);

// A [m x k] packed as gemm() packs it at the current SIMD level, into packed_a_floats(m, k)
// floats at dst (serially: callers run it inside their own pool tasks).
size_t packed_a_floats(int m, int k);
void pack_a(const APacker& a, int m, int k, float* dst);

// ---- helpers for packers and writers: short row pieces are what convolution moves ------------

// len floats from src to dst, or zeros when src is null. `stride` steps the image side: the
// source of a copy (dst[t] = src[t * stride]) and the destination of an add
// (dst[t * stride] += src[t]), as a strided convolution reads and writes its input.
struct Run {
  float* dst;
  const float* src;
  int len;
  int stride;
};
// Executes a batch of runs (one call per batch, so the per-run cost is a few instructions even
// for the 8-float rows of an 8x8 feature map); vector moves at the AVX2 and AVX-512 levels.
void copy_runs(const Run* runs, int count);
// dst[t * stride] += src[t] for each run (src never null).
void add_runs(const Run* runs, int count);
// dst[kk * ld_dst + r] = src[r * ld_src + kk] for r < rows (<= 16), kk < cols: turns up to 16
// rows of an unfolded image into the columns of a packed panel.
void transpose_into_panel(float* dst, ptrdiff_t ld_dst, const float* src, ptrdiff_t ld_src, int rows, int cols);

}  // namespace cgk

#endif  // CGK_CPU_GEMM_H
