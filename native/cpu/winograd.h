// Winograd F(4x4, 3x3) convolution: the three products of a 3x3, stride-1 convolution with
// 36 multiplies per 4x4 output tile instead of 144 (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2015). The residual blocks' 256->256 convolutions are three
// quarters of a CycleGAN training step's arithmetic; this is how the step beats the FMA peak's
// images/s bound of a direct convolution.
//
// Each product becomes 36 independent GEMMs, one per point of the 6x6 transform domain, run by
// the packed GEMM of gemm.h (one GEMM per pool task). Transforms are vectorised over 16 channels
// (one zmm at AVX-512, two ymm at AVX2). Used at the AVX2 and AVX-512 levels, for at least 32
// input and output channels and maps whose 4x4 tiles waste little: conv.cc asks the *_applies
// functions below before each product.
#ifndef CGK_CPU_WINOGRAD_H
#define CGK_CPU_WINOGRAD_H

namespace cgk {

// A 3x3, stride-1 conv2d: x [n, c_in, h_in, w_in], w [c_out, c_in, 3, 3], y [n, c_out, h_out, w_out]
// with h_out = h_in + 2*ph - 2 (padding ph, pw in 0..2: zeros, or reflection when `reflect`).
struct Conv3x3 {
  int n, c_in, h_in, w_in, c_out, h_out, w_out, ph, pw;
  bool reflect = false;
};

// Whether the product is worth the Winograd path at the current SIMD level and algorithm
// setting (cgk_set_conv_algo): channels, tile waste, padding.
bool winograd_forward_applies(const Conv3x3& s);
bool winograd_backward_data_applies(const Conv3x3& s);
bool winograd_backward_weight_applies(const Conv3x3& s);

// The three products; same contracts as conv.cc's (outputs overwritten, bias may be null).
int winograd_forward(const Conv3x3& s, const float* x, const float* w, const float* bias, float* y);
int winograd_backward_data(const Conv3x3& s, const float* dy, const float* w, float* dx);
int winograd_backward_weight(const Conv3x3& s, const float* x, const float* dy, float* dw);
// Both backward products in one pass over dy: each chunk's gradient transform serves backward
// data and then backward weight (dw may be null: backward data alone). The same bits as the
// two separate calls.
int winograd_backward(const Conv3x3& s, const float* x, const float* dy, const float* w, float* dx, float* dw);

}  // namespace cgk

#endif  // CGK_CPU_WINOGRAD_H
