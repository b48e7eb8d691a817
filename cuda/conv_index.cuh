// Index math of the implicit-GEMM convolution (see conv_gemm.cuh): the GEMM shape of each kind,
// and how a GEMM element maps onto the NCHW tensors. Host-callable too, so
// cuda/dev/conv_index_check.cu can verify the mapping against a direct convolution on a machine
// without a GPU.
#pragma once

#include <cstdint>

#include "conv_gemm.cuh"

namespace cgk_cuda {

template <class T>
__host__ __device__ __forceinline__ T cgk_load(const T* p) {
#ifdef __CUDA_ARCH__
  return __ldg(p);
#else
  return *p;
#endif
}

// Division by a run-time constant as a multiply-high and a shift (the round-up method, as
// PyTorch's IntDivider): integer division is a long instruction sequence on the GPU, and the
// gathers divide every reduction index. Exact for 0 <= n < 2^31, which the host checks
// (conv_gemm keeps every index below 2^31).
struct FastDiv {
  uint32_t divisor = 1, magic = 1, shift = 0;
  FastDiv() = default;
  __host__ explicit FastDiv(uint32_t d) : divisor(d) {
    for (shift = 0; shift < 32; ++shift)
      if ((1u << shift) >= d) break;
    const uint64_t one = 1;
    magic = (uint32_t)(((one << 32) * ((one << shift) - d)) / d + 1);
  }
  __host__ __device__ __forceinline__ int div(int n) const {
#ifdef __CUDA_ARCH__
    const uint32_t t = __umulhi((uint32_t)n, magic);
#else
    const uint32_t t = (uint32_t)(((uint64_t)(uint32_t)n * magic) >> 32);
#endif
    return (int)((t + (uint32_t)n) >> shift);
  }
};

// The geometry plus its divisors, built once per launch on the host.
struct ConvIndex : ConvGeom {
  FastDiv by_khw, by_kw, by_hw, by_wo, by_sh, by_sw;
};

inline ConvIndex make_index(const ConvGeom& g) {
  ConvIndex ix;
  static_cast<ConvGeom&>(ix) = g;
  ix.by_khw = FastDiv((uint32_t)(g.kh * g.kw));
  ix.by_kw = FastDiv((uint32_t)g.kw);
  ix.by_hw = FastDiv((uint32_t)(g.Ho * g.Wo));
  ix.by_wo = FastDiv((uint32_t)g.Wo);
  ix.by_sh = FastDiv((uint32_t)g.sh);
  ix.by_sw = FastDiv((uint32_t)g.sw);
  return ix;
}

struct GemmShape {
  int M, N, K;  // out[M, N] = A[M, K] * B[K, N] in the GEMM view
};

__host__ __device__ inline GemmShape gemm_shape(ConvKind kind, const ConvGeom& g) {
  const int khw = g.kh * g.kw;
  if (kind == ConvKind::Wgrad) return {g.M, g.C * khw, g.n * g.Ho * g.Wo};
  return {g.M, g.n * g.Ho * g.Wo, g.C * khw};
}

// What a thread knows about its fixed B column.
struct Column {
  bool valid;
  int a, b, c;  // Fwd/Dgrad: n, ho, wo of the output pixel; Wgrad: c, r, s of the weight
};

template <ConvKind KIND>
__host__ __device__ __forceinline__ Column decode_column(const ConvIndex& g, int col, int ncols) {
  Column cl{col < ncols, 0, 0, 0};
  if (!cl.valid) return cl;
  if (KIND == ConvKind::Wgrad) {
    const int khw = g.kh * g.kw;
    cl.a = g.by_khw.div(col);
    const int rs = col - cl.a * khw;
    cl.b = g.by_kw.div(rs);
    cl.c = rs - cl.b * g.kw;
  } else {
    const int hw = g.Ho * g.Wo;
    cl.a = g.by_hw.div(col);
    const int p = col - cl.a * hw;
    cl.b = g.by_wo.div(p);
    cl.c = p - cl.b * g.Wo;
  }
  return cl;
}

// A[m, k] for the thread's fixed row m (< M) and k (< K).
template <ConvKind KIND>
__host__ __device__ __forceinline__ float load_a(const ConvIndex& g, const float* __restrict__ A, int m, int k, int K) {
  if (KIND == ConvKind::Fwd) return cgk_load(A + (size_t)m * K + k);
  if (KIND == ConvKind::Dgrad) {
    const int khw = g.kh * g.kw;
    const int c = g.by_khw.div(k), rs = k - c * khw;
    return cgk_load(A + ((size_t)c * g.M + m) * khw + rs);
  }
  const int hw = g.Ho * g.Wo;
  const int nb = g.by_hw.div(k), p = k - nb * hw;
  return cgk_load(A + ((size_t)nb * g.M + m) * hw + p);
}

// B[k, col] gathered from `in` for the thread's fixed column.
template <ConvKind KIND>
__host__ __device__ __forceinline__ float load_b(const ConvIndex& g, const float* __restrict__ in, const Column& cl, int k) {
  int nb, c, hi, wi;
  if (KIND == ConvKind::Wgrad) {
    const int hw = g.Ho * g.Wo;
    nb = g.by_hw.div(k);
    const int p = k - nb * hw;
    const int ho = g.by_wo.div(p), wo = p - ho * g.Wo;
    c = cl.a;
    hi = ho * g.sh - g.ph + cl.b;
    wi = wo * g.sw - g.pw + cl.c;
  } else {
    const int khw = g.kh * g.kw;
    c = g.by_khw.div(k);
    const int rs = k - c * khw;
    const int r = g.by_kw.div(rs), s = rs - r * g.kw;
    nb = cl.a;
    if (KIND == ConvKind::Fwd) {
      hi = cl.b * g.sh - g.ph + r;
      wi = cl.c * g.sw - g.pw + s;
    } else {
      const int hn = cl.b + g.ph - r, wn = cl.c + g.pw - s;
      if (hn < 0 || wn < 0) return 0.f;
      hi = g.by_sh.div(hn);
      wi = g.by_sw.div(wn);
      if (hi * g.sh != hn || wi * g.sw != wn) return 0.f;
    }
  }
  if ((unsigned)hi >= (unsigned)g.Hi || (unsigned)wi >= (unsigned)g.Wi) return 0.f;
  return cgk_load(in + (((size_t)nb * g.C + c) * g.Hi + hi) * g.Wi + wi);
}

// Fwd/Dgrad: the output offset of GEMM column col's pixel at m = 0, and the step from m to m + 1
// (one output plane), dense or placed (ConvGeom::out_*).
__host__ __device__ __forceinline__ size_t output_column(const ConvIndex& g, int col, size_t* row_step) {
  const int hw = g.Ho * g.Wo;
  const int nb = g.by_hw.div(col), p = col - nb * hw;
  if (g.out_sh == 1 && g.out_sw == 1) {
    *row_step = hw;
    return (size_t)nb * g.M * hw + p;
  }
  const int ho = g.by_wo.div(p), wo = p - ho * g.Wo;
  *row_step = (size_t)g.out_h * g.out_w;
  return (size_t)nb * g.M * *row_step + (size_t)(g.out_h0 + g.out_sh * ho) * g.out_w + g.out_w0 + g.out_sw * wo;
}

// Offset in the output tensor of GEMM element (m, col), unsplit.
__host__ __device__ __forceinline__ size_t output_offset(ConvKind kind, const ConvIndex& g, const GemmShape& s, int m,
                                                         int col) {
  if (kind == ConvKind::Wgrad) return (size_t)m * s.N + col;
  size_t row_step;
  const size_t off = output_column(g, col, &row_step);
  return off + (size_t)m * row_step;
}

// Writes one GEMM result (at most one a thread per (m, col); the kernels of conv_gemm.cu and
// conv_direct.cuh). Unsplit: into the tensor layout, with bias. Split: raw into the
// partial buffer [split][M][N].
template <ConvKind KIND>
__device__ __forceinline__ void store_c(const ConvIndex& g, const GemmShape& s, float* out, const float* bias, int m,
                                        int col, float v, bool split) {
  if (m >= s.M || col >= s.N) return;
  if (split) {
    out[(size_t)blockIdx.z * s.M * s.N + (size_t)m * s.N + col] = v;
  } else {
    if (KIND != ConvKind::Wgrad && bias) v += __ldg(bias + m);
    out[output_offset(KIND, g, s, m, col)] = v;
  }
}

// A Dgrad as Fwd GEMMs, one per output phase. Output row ho = a + sh i (phase a < sh) is
// reached only by kernel rows r = r0 + sh u, the ones with r = a + ph (mod sh), from input row
// hi = i + q - u, where q = (a + ph - r0) / sh; likewise for columns. So each phase (a, b) is a
// stride-1 Fwd GEMM over the phase's U x V kernel taps, flipped (u' = U - 1 - u, padding
// U - 1 - q), writing every sh-th row and sw-th column of the output: at stride 2 a quarter of
// the reduction of the Dgrad GEMM, which multiplies the stride holes as zeros. At stride 1 it is
// the one phase: the forward convolution of the gradient with the flipped weight (padding
// kh - 1 - ph), whose A rows are contiguous (16-byte loads) and whose gather needs no division.
// The weight [C][M][kh][kw] is repacked into each phase's [M][C][U][V] (dgrad_phase_index), one
// after the other in one buffer.
constexpr int kMaxPhaseStride = 8;
struct DgradPhases {
  int sh, sw;
  int U[kMaxPhaseStride], r0[kMaxPhaseStride], q[kMaxPhaseStride];   // per row phase a
  int V[kMaxPhaseStride], s0[kMaxPhaseStride], qw[kMaxPhaseStride];  // per column phase b
  long long offset[kMaxPhaseStride * kMaxPhaseStride];               // repacked weight of phase (a, b)
  long long total;                                                   // floats of all of them
};

// The phases of a Dgrad geometry; false where they do not apply: a stride above
// kMaxPhaseStride, or a kernel smaller than the stride (some phase has no taps).
inline bool plan_dgrad_phases(const ConvGeom& g, DgradPhases* t) {
  if (g.sh > kMaxPhaseStride || g.sw > kMaxPhaseStride || g.kh < g.sh || g.kw < g.sw) return false;
  t->sh = g.sh;
  t->sw = g.sw;
  for (int a = 0; a < g.sh; ++a) {
    t->r0[a] = (a + g.ph) % g.sh;
    t->U[a] = (g.kh - t->r0[a] + g.sh - 1) / g.sh;
    t->q[a] = (a + g.ph - t->r0[a]) / g.sh;
  }
  for (int b = 0; b < g.sw; ++b) {
    t->s0[b] = (b + g.pw) % g.sw;
    t->V[b] = (g.kw - t->s0[b] + g.sw - 1) / g.sw;
    t->qw[b] = (b + g.pw - t->s0[b]) / g.sw;
  }
  long long at = 0;
  for (int a = 0; a < g.sh; ++a)
    for (int b = 0; b < g.sw; ++b) {
      t->offset[a * g.sw + b] = at;
      at += ((long long)g.M * g.C * t->U[a] * t->V[b] + 3) / 4 * 4;  // 16-byte aligned starts
    }
  t->total = at;
  return true;
}

// Phase (a, b) as a Fwd GEMM: gathers `in` as the Dgrad does, writes its placed output pixels.
inline ConvGeom dgrad_phase_geometry(const ConvGeom& g, const DgradPhases& t, int a, int b) {
  ConvGeom p = g;
  p.Ho = g.Ho > a ? (g.Ho - a + g.sh - 1) / g.sh : 0;
  p.Wo = g.Wo > b ? (g.Wo - b + g.sw - 1) / g.sw : 0;
  p.kh = t.U[a];
  p.kw = t.V[b];
  p.sh = p.sw = 1;
  p.ph = t.U[a] - 1 - t.q[a];  // may be negative: an offset into the input
  p.pw = t.V[b] - 1 - t.qw[b];
  p.out_h = g.Ho;
  p.out_w = g.Wo;
  p.out_sh = g.sh;
  p.out_sw = g.sw;
  p.out_h0 = a;
  p.out_w0 = b;
  return p;
}

// Where the Dgrad weight's element i = ((c M + m) kh + r) kw + s goes in the repacked buffer.
__host__ __device__ inline long long dgrad_phase_index(const DgradPhases& t, const ConvGeom& g, long long i) {
  const int s = (int)(i % g.kw), r = (int)(i / g.kw % g.kh);
  const long long cm = i / ((long long)g.kh * g.kw);
  const int m = (int)(cm % g.M), c = (int)(cm / g.M);
  const int a = ((r - g.ph) % t.sh + t.sh) % t.sh, b = ((s - g.pw) % t.sw + t.sw) % t.sw;
  const int u = t.U[a] - 1 - r / t.sh, v = t.V[b] - 1 - s / t.sw;
  return t.offset[a * t.sw + b] + (((long long)m * g.C + c) * t.U[a] + u) * t.V[b] + v;
}

// How many ways to split a GEMM's reduction: enough that `blocks` output blocks become about
// `target`, but no more than `depth_units` (K over the least depth a split should have) or `cap`.
inline int split_count(long blocks, long target, long depth_units, long cap) {
  if (blocks >= target) return 1;
  const long by_fill = (target + blocks - 1) / blocks;
  long n = by_fill < depth_units ? by_fill : depth_units;
  if (n > cap) n = cap;
  return n < 1 ? 1 : (int)n;
}

enum class ConvOp { Conv2dForward, Conv2dBackwardData, Conv2dBackwardWeight, ConvT2dForward, ConvT2dBackwardData, ConvT2dBackwardWeight };

// Which implicit GEMM runs each op, over which geometry. The operands: forward and backward-data
// take A = the weight and gather the activation (x, or dy); backward-weight takes A = dy and
// gathers x for conv2d, and A = x gathering dy for conv-transpose2d.
inline void plan_conv(ConvOp op, const cgk_conv* p, ConvKind* kind, ConvGeom* g) {
  // x gathered, y's spatial size walked by the GEMM, c_out output channels.
  const ConvGeom direct = {p->n, p->c_in, p->h_in, p->w_in, p->c_out, p->h_out, p->w_out,
                           p->kh, p->kw, p->sh, p->sw, p->ph, p->pw};
  // y (or dy) gathered, x's spatial size walked, c_in output channels.
  const ConvGeom swapped = {p->n, p->c_out, p->h_out, p->w_out, p->c_in, p->h_in, p->w_in,
                            p->kh, p->kw, p->sh, p->sw, p->ph, p->pw};
  switch (op) {
    case ConvOp::Conv2dForward: *kind = ConvKind::Fwd; *g = direct; return;
    // dx[n, c_in, hi, wi] = sum over (c_out, r, s) of w[c_out, c_in, r, s] dy[n, c_out, (hi+ph-r)/sh, ...]
    case ConvOp::Conv2dBackwardData: *kind = ConvKind::Dgrad; *g = swapped; return;
    case ConvOp::Conv2dBackwardWeight: *kind = ConvKind::Wgrad; *g = direct; return;
    // The transpose's forward is the backward-data of the conv2d whose input is y: gather x
    // (c_in channels, h_in) into y (c_out, h_out) with the weight read as [c_in, c_out, k].
    case ConvOp::ConvT2dForward: *kind = ConvKind::Dgrad; *g = direct; return;
    // A plain conv2d of dy: dx[n, c_in, hi, wi] = sum w[c_in, (c_out, r, s)] dy at hi*sh - ph + r.
    case ConvOp::ConvT2dBackwardData: *kind = ConvKind::Fwd; *g = swapped; return;
    // dw[c_in, c_out, r, s] = sum over (n, hi, wi) of x[n, c_in, hi, wi] dy[n, c_out, hi*sh-ph+r, ...]
    case ConvOp::ConvT2dBackwardWeight: *kind = ConvKind::Wgrad; *g = swapped; return;
  }
}

}  // namespace cgk_cuda
