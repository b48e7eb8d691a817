// conv2d and conv-transpose2d (forward, backward-data, backward-weight) and the bias gradient.
// Each maps onto one of the three implicit GEMMs of conv_gemm.cuh; argument checks and messages
// are the CPU backend's (native/cpu/conv.cc) so both backends reject the same inputs alike.
#include <algorithm>
#include <climits>

#include "conv_gemm.cuh"
#include "conv_index.cuh"
#include "reduce.cuh"

using namespace cgk_cuda;

namespace {

int check_positive(const cgk_conv* p, const char* fn) {
  CGK_REQUIRE(p != nullptr, fn, "p is NULL");
  const struct {
    const char* name;
    int value;
  } dims[] = {{"n", p->n},         {"c_in", p->c_in}, {"h_in", p->h_in}, {"w_in", p->w_in}, {"c_out", p->c_out},
              {"h_out", p->h_out}, {"w_out", p->w_out}, {"kh", p->kh},   {"kw", p->kw},     {"sh", p->sh},
              {"sw", p->sw}};
  for (const auto& d : dims)
    if (d.value < 1) return fail_arg(fn, strf("%s = %d, expected >= 1", d.name, d.value));
  if (p->ph < 0 || p->pw < 0) return fail_arg(fn, strf("padding (ph, pw) = (%d, %d), expected >= 0", p->ph, p->pw));
  if (p->pad_mode != CGK_PAD_ZEROS && p->pad_mode != CGK_PAD_REFLECT)
    return fail_arg(fn, strf("pad_mode = %d, expected %d (zeros) or %d (reflect)", p->pad_mode, CGK_PAD_ZEROS,
                             CGK_PAD_REFLECT));
  return CGK_OK;
}

int check_sizes(const cgk_conv* p, const char* fn) {
  const double limit = double(INT_MAX);
  const double out_px = double(p->n) * p->h_out * p->w_out, in_px = double(p->n) * p->h_in * p->w_in;
  const double unfolded = double(std::max(p->c_in, p->c_out)) * p->kh * p->kw;
  if (out_px > limit || in_px > limit || unfolded > limit)
    return fail_arg(fn, "shape too large (batch x spatial and c_in x kh x kw must stay below 2^31)");
  return CGK_OK;
}

int check_conv2d(const cgk_conv* p, const char* fn) {
  if (int st = check_positive(p, fn)) return st;
  if (p->pad_mode == CGK_PAD_REFLECT && (p->ph >= p->h_in || p->pw >= p->w_in))
    return fail_arg(fn, strf("reflection padding (ph, pw) = (%d, %d) must be smaller than the input %dx%d", p->ph, p->pw,
                             p->h_in, p->w_in));
  if (p->pad_mode == CGK_PAD_REFLECT && double(p->n) * p->c_in > double(INT_MAX))
    return fail_arg(fn, "shape too large (n x c_in must stay below 2^31 for reflection padding)");
  if (p->oph != 0 || p->opw != 0)
    return fail_arg(fn, strf("output_padding (oph, opw) = (%d, %d), expected 0 for conv2d", p->oph, p->opw));
  if (p->h_in + 2 * p->ph < p->kh || p->w_in + 2 * p->pw < p->kw)
    return fail_arg(fn, strf("kernel %dx%d is larger than the padded input %dx%d", p->kh, p->kw, p->h_in + 2 * p->ph,
                             p->w_in + 2 * p->pw));
  const int h_out = (p->h_in + 2 * p->ph - p->kh) / p->sh + 1, w_out = (p->w_in + 2 * p->pw - p->kw) / p->sw + 1;
  if (p->h_out != h_out || p->w_out != w_out)
    return fail_arg(fn, strf("output %dx%d, expected %dx%d = (in + 2*pad - kernel)/stride + 1 for input %dx%d, "
                             "kernel %dx%d, stride %dx%d, padding %dx%d",
                             p->h_out, p->w_out, h_out, w_out, p->h_in, p->w_in, p->kh, p->kw, p->sh, p->sw, p->ph,
                             p->pw));
  return check_sizes(p, fn);
}

int check_conv_transpose2d(const cgk_conv* p, const char* fn) {
  if (int st = check_positive(p, fn)) return st;
  if (p->pad_mode != CGK_PAD_ZEROS)
    return fail_arg(fn, strf("pad_mode = %d, expected %d (zeros) for conv-transpose2d", p->pad_mode, CGK_PAD_ZEROS));
  if (p->oph < 0 || p->opw < 0 || p->oph >= p->sh || p->opw >= p->sw)
    return fail_arg(fn, strf("output_padding (oph, opw) = (%d, %d), expected 0 <= output_padding < stride (%d, %d)",
                             p->oph, p->opw, p->sh, p->sw));
  const long h_out = long(p->h_in - 1) * p->sh - 2L * p->ph + p->kh + p->oph;
  const long w_out = long(p->w_in - 1) * p->sw - 2L * p->pw + p->kw + p->opw;
  if (p->h_out != h_out || p->w_out != w_out)
    return fail_arg(fn, strf("output %dx%d, expected %ldx%ld = (in - 1)*stride - 2*pad + kernel + output_padding for "
                             "input %dx%d, kernel %dx%d, stride %dx%d, padding %dx%d, output_padding %dx%d",
                             p->h_out, p->w_out, h_out, w_out, p->h_in, p->w_in, p->kh, p->kw, p->sh, p->sw, p->ph,
                             p->pw, p->oph, p->opw));
  return check_sizes(p, fn);
}

// Runs op through its implicit GEMM (see plan_conv in conv_index.cuh).
int run_conv(const char* fn, ConvOp op, const cgk_conv* p, const float* A, const float* in, const float* bias, float* out) {
  ConvKind kind;
  ConvGeom g;
  plan_conv(op, p, &kind, &g);
  return conv_gemm(fn, kind, g, A, in, bias, out);
}

// Reflection padding (pad_mode CGK_PAD_REFLECT) as cgk.h defines it: ReflectionPad2d(ph, pw),
// then the unpadded conv. The padded input is made in scratch memory for the forward and the
// weight gradient, and the backward-data writes the padded input's gradient there, folded back
// onto x by the pad's backward: the kernels of cgk_reflection_pad_*, so the results are those of
// the separate ops. (The CPU backend fuses the pad into its convolutions; here a fused gather
// would put a reflection into every engine's inner loop, for one pad kernel less a conv.)
struct Reflected {
  cgk_conv q;     // the unpadded conv over the padded input
  size_t padded;  // floats of the padded input
};

Reflected reflected(const cgk_conv* p) {
  Reflected r{*p, 0};
  r.q.h_in = p->h_in + 2 * p->ph;
  r.q.w_in = p->w_in + 2 * p->pw;
  r.q.ph = r.q.pw = 0;
  r.q.pad_mode = CGK_PAD_ZEROS;
  r.padded = (size_t)p->n * p->c_in * r.q.h_in * r.q.w_in;
  return r;
}

// Runs op (the forward or the weight gradient: x is the GEMM's gathered input) over x
// reflection-padded into scratch memory.
int run_on_padded_input(const char* fn, ConvOp op, const cgk_conv* p, const float* A, const float* x,
                        const float* bias, float* out) {
  const Reflected r = reflected(p);
  float* xp = scratch_alloc(r.padded);
  if (!xp) return CGK_ERR_OOM;
  int st = cgk_reflection_pad_forward(x, xp, p->n * p->c_in, p->h_in, p->w_in, p->ph, p->ph, p->pw, p->pw);
  if (st == CGK_OK) st = run_conv(fn, op, &r.q, A, xp, bias, out);
  scratch_free(xp);  // stream order keeps it alive for the kernels above
  return st;
}

// db[c] = sum over n and hw, in two deterministic stages. A block per channel alone (64 or 3
// blocks for a generator's late layers, each walking 256 planes) left most of the GPU idle:
// 8 ms of a 91 ms training step on an H200. Now each channel's planes are cut into units of at
// most kBiasChunk elements (unit u: plane u / per_plane, piece u % per_plane), consecutive runs
// of `per_block` units go to the blocks of a grid (channels x splits), each block writes one
// partial, and a second kernel adds each channel's partials in split order. Small planes (one
// unit each) are walked as one flat range, so a block of 64-pixel planes keeps all its threads
// loading. float4 loads where the planes allow. The split depends on the shape only, so a shape
// always sums alike.
constexpr int kBiasChunk = 4096, kBiasBlocks = 1024;

// This thread's share of `len` elements (float4s when V4) laid out as rows of row_len,
// row_stride floats apart: element f is row f / row_len, offset f % row_len.
template <bool V4>
__device__ __forceinline__ float bias_sum_rows(const float* base, size_t row_stride, int row_len, int len) {
  float acc = 0.f;
  for (int f = threadIdx.x; f < len; f += kReduceThreads) {
    const int row = f / row_len, i = f - row * row_len;
    if (V4) {
      const float4 v = __ldg(reinterpret_cast<const float4*>(base + row * row_stride) + i);
      acc += (v.x + v.y) + (v.z + v.w);
    } else {
      acc += __ldg(base + row * row_stride + i);
    }
  }
  return acc;
}

__global__ void bias_partials_kernel(const float* __restrict__ dy, float* __restrict__ partials, int n, int c, int hw,
                                     int per_plane, int per_block, bool vec4) {
  __shared__ float shared[kReduceThreads];
  const int ch = blockIdx.x, split = blockIdx.y, units = n * per_plane;
  const int u_begin = split * per_block, u_end = min(units, u_begin + per_block);
  const size_t row_stride = (size_t)c * hw;
  float acc = 0.f;
  if (per_plane == 1) {  // planes u_begin .. u_end - 1 of this channel, as one flat range
    const float* base = dy + ((size_t)u_begin * c + ch) * hw;
    const int rows = u_end - u_begin;
    acc = vec4 ? bias_sum_rows<true>(base, row_stride, hw / 4, rows * (hw / 4))
               : bias_sum_rows<false>(base, row_stride, hw, rows * hw);
  } else {
    for (int u = u_begin; u < u_end; ++u) {
      const int b = u / per_plane, begin = (u % per_plane) * kBiasChunk, len = min(hw, begin + kBiasChunk) - begin;
      const float* base = dy + ((size_t)b * c + ch) * hw + begin;  // begin is a multiple of 4
      acc += vec4 ? bias_sum_rows<true>(base, 0, len / 4, len / 4) : bias_sum_rows<false>(base, 0, len, len);
    }
  }
  const float total = block_sum<kReduceThreads>(acc, shared);
  if (threadIdx.x == 0) partials[(size_t)ch * gridDim.y + split] = total;
}

__global__ void bias_finish_kernel(const float* __restrict__ partials, float* __restrict__ db, int c, int splits) {
  CGK_GRID_STRIDE(ch, (size_t)c) {
    double sum = 0.0;
    for (int j = 0; j < splits; ++j) sum += partials[ch * splits + j];
    db[ch] = (float)sum;
  }
}

}  // namespace

#define CGK_CONV_PTRS(fn, a, b, c)                                        \
  CGK_REQUIRE((a) != nullptr, fn, #a " is NULL");                         \
  CGK_REQUIRE((b) != nullptr, fn, #b " is NULL");                         \
  CGK_REQUIRE((c) != nullptr, fn, #c " is NULL")

extern "C" {

int cgk_conv2d_forward(const cgk_conv* p, const float* x, const float* w, const float* bias, float* y) {
  const char* fn = "cgk_conv2d_forward";
  CGK_READY(fn);
  if (int st = check_conv2d(p, fn)) return st;
  CGK_CONV_PTRS(fn, x, w, y);
  if (p->pad_mode == CGK_PAD_REFLECT) return run_on_padded_input(fn, ConvOp::Conv2dForward, p, w, x, bias, y);
  return run_conv(fn, ConvOp::Conv2dForward, p, w, x, bias, y);
}

int cgk_conv2d_backward_data(const cgk_conv* p, const float* dy, const float* w, float* dx) {
  const char* fn = "cgk_conv2d_backward_data";
  CGK_READY(fn);
  if (int st = check_conv2d(p, fn)) return st;
  CGK_CONV_PTRS(fn, dy, w, dx);
  if (p->pad_mode == CGK_PAD_REFLECT) {
    const Reflected r = reflected(p);
    float* dxp = scratch_alloc(r.padded);
    if (!dxp) return CGK_ERR_OOM;
    int st = run_conv(fn, ConvOp::Conv2dBackwardData, &r.q, w, dy, nullptr, dxp);
    if (st == CGK_OK)
      st = cgk_reflection_pad_backward(dxp, dx, p->n * p->c_in, p->h_in, p->w_in, p->ph, p->ph, p->pw, p->pw);
    scratch_free(dxp);
    return st;
  }
  return run_conv(fn, ConvOp::Conv2dBackwardData, p, w, dy, nullptr, dx);
}

int cgk_conv2d_backward_weight(const cgk_conv* p, const float* x, const float* dy, float* dw) {
  const char* fn = "cgk_conv2d_backward_weight";
  CGK_READY(fn);
  if (int st = check_conv2d(p, fn)) return st;
  CGK_CONV_PTRS(fn, x, dy, dw);
  if (p->pad_mode == CGK_PAD_REFLECT) return run_on_padded_input(fn, ConvOp::Conv2dBackwardWeight, p, dy, x, nullptr, dw);
  return run_conv(fn, ConvOp::Conv2dBackwardWeight, p, dy, x, nullptr, dw);
}

// Nothing to share on the GPU: the two products, one after the other on the stream.
int cgk_conv2d_backward(const cgk_conv* p, const float* x, const float* dy, const float* w, float* dx, float* dw) {
  if (int st = cgk_conv2d_backward_data(p, dy, w, dx)) return st;
  return cgk_conv2d_backward_weight(p, x, dy, dw);
}

int cgk_bias_backward(const float* dy, float* db, int n, int c, int hw) {
  const char* fn = "cgk_bias_backward";
  CGK_READY(fn);
  CGK_REQUIRE(dy != nullptr, fn, "dy is NULL");
  CGK_REQUIRE(db != nullptr, fn, "db is NULL");
  if (n < 1 || c < 1 || hw < 1) return fail_arg(fn, strf("(n, c, hw) = (%d, %d, %d), expected all >= 1", n, c, hw));
  const int per_plane = (hw + kBiasChunk - 1) / kBiasChunk, units = n * per_plane;
  // Splits: enough blocks to fill the GPU (about kBiasBlocks), at most one per unit (so at most
  // kBiasBlocks of them, inside a grid's y limit).
  const int wanted = std::min(units, std::max(1, (kBiasBlocks + c - 1) / c));
  const int per_block = (units + wanted - 1) / wanted, splits = (units + per_block - 1) / per_block;
  float* partials = scratch_alloc((size_t)c * splits);
  if (!partials) return CGK_ERR_OOM;
  const bool vec4 = hw % 4 == 0 && reinterpret_cast<uintptr_t>(dy) % 16 == 0;
  bias_partials_kernel<<<dim3(c, splits), kReduceThreads, 0, stream()>>>(dy, partials, n, c, hw, per_plane, per_block,
                                                                          vec4);
  bias_finish_kernel<<<grid_for(c), 256, 0, stream()>>>(partials, db, c, splits);
  scratch_free(partials);  // stream order keeps it alive for the kernels above
  return check_launch(fn);
}

int cgk_conv_transpose2d_forward(const cgk_conv* p, const float* x, const float* w, const float* bias, float* y) {
  const char* fn = "cgk_conv_transpose2d_forward";
  CGK_READY(fn);
  if (int st = check_conv_transpose2d(p, fn)) return st;
  CGK_CONV_PTRS(fn, x, w, y);
  return run_conv(fn, ConvOp::ConvT2dForward, p, w, x, bias, y);
}

int cgk_conv_transpose2d_backward_data(const cgk_conv* p, const float* dy, const float* w, float* dx) {
  const char* fn = "cgk_conv_transpose2d_backward_data";
  CGK_READY(fn);
  if (int st = check_conv_transpose2d(p, fn)) return st;
  CGK_CONV_PTRS(fn, dy, w, dx);
  return run_conv(fn, ConvOp::ConvT2dBackwardData, p, w, dy, nullptr, dx);
}

int cgk_conv_transpose2d_backward_weight(const cgk_conv* p, const float* x, const float* dy, float* dw) {
  const char* fn = "cgk_conv_transpose2d_backward_weight";
  CGK_READY(fn);
  if (int st = check_conv_transpose2d(p, fn)) return st;
  CGK_CONV_PTRS(fn, x, dy, dw);
  return run_conv(fn, ConvOp::ConvT2dBackwardWeight, p, x, dy, nullptr, dw);
}

}  // extern "C"
