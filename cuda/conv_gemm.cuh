// Implicit-GEMM convolution: every conv/conv-transpose pass (and every linear pass, as a 1x1
// conv) is one of three GEMMs whose operands are gathered from NCHW tensors on the fly, so no
// im2col buffer is ever written:
//
//   Fwd:   out[n,M,Ho,Wo] = sum_{k=(c,r,s)} A[m, k]            * in[n, c, ho*sh-ph+r, wo*sw-pw+s]
//          A = weight [M, C, kh, kw]                (conv2d forward, conv-transpose backward-data)
//   Dgrad: out[n,M,Ho,Wo] = sum_{k=(c,r,s)} A[c, m, r, s]      * in[n, c, (ho+ph-r)/sh, (wo+pw-s)/sw]
//          (terms whose division is inexact or out of range are zero)
//          A = weight [C, M, kh, kw]                (conv2d backward-data, conv-transpose forward)
//   Wgrad: out[M, C, kh, kw] = sum_{j=(n,ho,wo)} A[n, m, ho, wo] * in[n, c, ho*sh-ph+r, wo*sw-pw+s]
//          A = the gradient-side tensor             (conv2d and conv-transpose backward-weight)
//
// Engines compute the tiles (conv_gemm.cu picks one): a SIMT FP32 kernel (any arch, exact FP32
// products), for at most 8 rows a direct kernel (stride 1, conv_direct.cuh) or else a skinny
// SIMT one, a 64x64 TF32 tensor-core kernel (mma.sync
// m16n8k8, sm_80+), the 128x128 TF32 kernel of conv_tc.cuh with a cp.async pipeline (the
// default on sm_80+ for GEMMs of 64 rows or more), and under --precision bf16 the BF16 kernel of
// conv_bf16.cuh. When a GEMM has too few output tiles to fill
// the GPU (weight gradients, small late layers) the reduction is split: each split writes a
// partial tile and a finalize kernel adds the partials in split order, so results stay
// deterministic.
#pragma once

#include "common.cuh"

namespace cgk_cuda {

enum class ConvKind { Fwd, Dgrad, Wgrad };

struct ConvGeom {
  int n, C, Hi, Wi;  // the gathered tensor `in`
  int M, Ho, Wo;     // output channels and the spatial size the GEMM columns (or rows of A) walk
  int kh, kw, sh, sw, ph, pw;
  // Fwd/Dgrad: where output pixel (ho, wo) goes. Dense (the default): (ho, wo) of an Ho x Wo
  // plane. Placed (out_sh or out_sw > 1): (out_h0 + out_sh ho, out_w0 + out_sw wo) of an
  // out_h x out_w plane, the output phases of a strided backward-data (conv_gemm.cu).
  int out_h = 0, out_w = 0, out_sh = 1, out_sw = 1, out_h0 = 0, out_w0 = 0;
};

// Runs one implicit GEMM. bias (may be NULL) is added per output channel m (Fwd/Dgrad only). A
// Dgrad runs as Fwd GEMMs instead, one per output phase (one at stride 1; see conv_index.cuh).
int conv_gemm(const char* fn, ConvKind kind, const ConvGeom& g, const float* A, const float* in,
              const float* bias, float* out);

// Whether the direct engine (conv_direct.cuh) takes this GEMM; the automatic choice where it does.
bool conv_direct_applies(ConvKind kind, const ConvGeom& g);

// The tc engine on NHWC input (conv_tc.cuh, NHWC; the "tc-nhwc" engine, a TF32 tuning candidate
// for Fwd GEMMs over a multiple of 32 input channels): nchw_to_nhwc turns x [n][C][hw] into
// [n][hw][C], weight_taps_last w [M][C][khw] into [M][khw][C], and conv_fwd_nhwc runs the Fwd
// GEMM of g over them with bm-row tiles and `splits` reduction splits (0: the tc plan's).
bool conv_nhwc_applies(ConvKind kind, const ConvGeom& g);
void nchw_to_nhwc(const float* x, float* y, int n, int C, int hw);
void weight_taps_last(const float* w, float* out, int M, int C, int khw);
int conv_fwd_nhwc(const char* fn, const ConvGeom& g, const float* w_taps, const float* in_nhwc, const float* bias,
                  float* out, int bm, int splits);

// Forces an engine for tests and cuda/dev: -1 automatic (or $CGTRAIN_CUDA_CONV), 0 SIMT FP32,
// 1 TF32 mma 64x64 tiles, 2 TF32 mma 128x128 tiles with cp.async (conv_tc.cuh), 3 the same with
// truncated instead of rounded TF32 operands, 4 the skinny SIMT engine for GEMMs of at most 8
// rows, 5 tc with BF16 operands, 6 the BF16 engine, 7 the Hopper wgmma engine, 8 the direct
// engine (conv_direct.cuh: stride-1 GEMMs of at most 8 rows, the automatic choice there;
// skinny takes the rest of those), 9 tc on NHWC input. Engines 2-9 fall back to automatic for
// GEMMs they do not take.
void conv_gemm_force_engine(int engine);
// cuda/dev: the tc and direct engines split every reduction this many ways (as far as its
// depth allows); 0 restores the automatic choice.
void conv_gemm_force_splits(int splits);

}  // namespace cgk_cuda
