// Run-time SIMD dispatch for the non-convolution kernels. Each hot loop is written once against
// a vector "lane" type L (Scalar, Avx2, Avx512) in a *_body.inc file; simd_foreach.h compiles
// that file three times, each inside a `#pragma GCC target` region of its own namespace, and
// CGK_SELECT picks the namespace cgk::simd() names. So one binary runs on any x86-64 and tests
// can force every path. (A template over L would not do: GCC refuses to inline the AVX-512
// intrinsics into a template body compiled for the default target.)
#ifndef CGK_CPU_SIMD_H
#define CGK_CPU_SIMD_H

#include "arch.h"  // CGK_X86

#if CGK_X86
// GCC 12's AVX-512 intrinsics build results on _mm512_undefined_ps(), which its own
// -Wmaybe-uninitialized then reports at every inlined use; the warnings are false positives.
#ifndef __clang__  // (a GCC-only warning)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#endif

#include <cmath>
#include <cstddef>

#include "runtime.h"

#if CGK_X86
#define CGK_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define CGK_TARGET_AVX512 __attribute__((target("avx512f,avx512dq,avx2,fma")))
#endif
#define CGK_INLINE inline __attribute__((always_inline))

namespace cgk {
namespace simd_lanes {

// One float per "vector": the reference path every other path is tested against.
struct Scalar {
  using V = float;
  static constexpr int kWidth = 1;
  static CGK_INLINE V load(const float* p) { return *p; }
  static CGK_INLINE void store(float* p, V v) { *p = v; }
  static CGK_INLINE V set1(float x) { return x; }
  static CGK_INLINE V add(V a, V b) { return a + b; }
  static CGK_INLINE V sub(V a, V b) { return a - b; }
  static CGK_INLINE V mul(V a, V b) { return a * b; }
  static CGK_INLINE V div(V a, V b) { return a / b; }
  static CGK_INLINE V fma(V a, V b, V c) { return a * b + c; }  // not fused: plain C semantics
  static CGK_INLINE V max(V a, V b) { return a > b ? a : b; }
  static CGK_INLINE V min(V a, V b) { return a < b ? a : b; }
  static CGK_INLINE V sqrt(V a) { return std::sqrt(a); }
  static CGK_INLINE V abs(V a) { return std::fabs(a); }
  // x > 0 ? a : b
  static CGK_INLINE V select_pos(V x, V a, V b) { return x > 0.0f ? a : b; }
  static CGK_INLINE float reduce_add(V v) { return v; }
  static CGK_INLINE V exp(V x) { return std::exp(x); }
};

#if CGK_X86
struct Avx2 {
  using V = __m256;
  static constexpr int kWidth = 8;
  static CGK_INLINE CGK_TARGET_AVX2 V load(const float* p) { return _mm256_loadu_ps(p); }
  static CGK_INLINE CGK_TARGET_AVX2 void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static CGK_INLINE CGK_TARGET_AVX2 V set1(float x) { return _mm256_set1_ps(x); }
  static CGK_INLINE CGK_TARGET_AVX2 V add(V a, V b) { return _mm256_add_ps(a, b); }
  static CGK_INLINE CGK_TARGET_AVX2 V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static CGK_INLINE CGK_TARGET_AVX2 V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static CGK_INLINE CGK_TARGET_AVX2 V div(V a, V b) { return _mm256_div_ps(a, b); }
  static CGK_INLINE CGK_TARGET_AVX2 V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static CGK_INLINE CGK_TARGET_AVX2 V max(V a, V b) { return _mm256_max_ps(a, b); }
  static CGK_INLINE CGK_TARGET_AVX2 V min(V a, V b) { return _mm256_min_ps(a, b); }
  static CGK_INLINE CGK_TARGET_AVX2 V sqrt(V a) { return _mm256_sqrt_ps(a); }
  static CGK_INLINE CGK_TARGET_AVX2 V abs(V a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static CGK_INLINE CGK_TARGET_AVX2 V select_pos(V x, V a, V b) {
    return _mm256_blendv_ps(b, a, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ));
  }
  static CGK_INLINE CGK_TARGET_AVX2 float reduce_add(V v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
  }
  // Cephes expf: 2^k * e^r with |r| <= ln2/2, a degree-6 polynomial for e^r; within 2 ulp.
  static CGK_INLINE CGK_TARGET_AVX2 V exp(V x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.33654f)), _mm256_set1_ps(88.37626f));
    V k = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    V r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
    V p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i pow2 = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(pow2));
  }
};

struct Avx512 {
  using V = __m512;
  static constexpr int kWidth = 16;
  static CGK_INLINE CGK_TARGET_AVX512 V load(const float* p) { return _mm512_loadu_ps(p); }
  static CGK_INLINE CGK_TARGET_AVX512 void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static CGK_INLINE CGK_TARGET_AVX512 V set1(float x) { return _mm512_set1_ps(x); }
  static CGK_INLINE CGK_TARGET_AVX512 V add(V a, V b) { return _mm512_add_ps(a, b); }
  static CGK_INLINE CGK_TARGET_AVX512 V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static CGK_INLINE CGK_TARGET_AVX512 V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static CGK_INLINE CGK_TARGET_AVX512 V div(V a, V b) { return _mm512_div_ps(a, b); }
  static CGK_INLINE CGK_TARGET_AVX512 V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static CGK_INLINE CGK_TARGET_AVX512 V max(V a, V b) { return _mm512_max_ps(a, b); }
  static CGK_INLINE CGK_TARGET_AVX512 V min(V a, V b) { return _mm512_min_ps(a, b); }
  static CGK_INLINE CGK_TARGET_AVX512 V sqrt(V a) { return _mm512_sqrt_ps(a); }
  static CGK_INLINE CGK_TARGET_AVX512 V abs(V a) { return _mm512_abs_ps(a); }
  static CGK_INLINE CGK_TARGET_AVX512 V select_pos(V x, V a, V b) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ), b, a);
  }
  // By hand: GCC 12's _mm512_reduce_add_ps trips -Wmaybe-uninitialized inside its own header.
  static CGK_INLINE CGK_TARGET_AVX512 float reduce_add(V v) {
    __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
  }
  static CGK_INLINE CGK_TARGET_AVX512 V exp(V x) {  // the same Cephes expf as Avx2::exp
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.33654f)), _mm512_set1_ps(88.37626f));
    V k = _mm512_roundscale_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f)),
                               _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    V r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), r);
    V p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    __m512i pow2 = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(k), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(pow2));
  }
};
#endif  // CGK_X86

}  // namespace simd_lanes
}  // namespace cgk

// The implementation namespace of the active level: CGK_SELECT(add_range)(a, b, y, begin, end)
// calls cgk_avx512::add_range, cgk_avx2::add_range or cgk_scalar::add_range (see simd_foreach.h).
#if CGK_X86
#define CGK_SELECT(fn) \
  (cgk::simd() >= cgk::kAvx512 ? cgk_avx512::fn : cgk::simd() >= cgk::kAvx2 ? cgk_avx2::fn : cgk_scalar::fn)
#else
#define CGK_SELECT(fn) (cgk_scalar::fn)
#endif

#endif  // CGK_CPU_SIMD_H
