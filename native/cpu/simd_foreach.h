// Compiles the file named by CGK_SIMD_BODY once per SIMD level (see simd.h). Include it after
// defining CGK_SIMD_BODY; the body sees `L`, the lane type, and must not include headers.
// No include guard: a .cc may include it once per body file.
#ifndef CGK_SIMD_BODY
#error "define CGK_SIMD_BODY before including simd_foreach.h"
#endif

namespace cgk_scalar {
using L = cgk::simd_lanes::Scalar;
#include CGK_SIMD_BODY
}  // namespace cgk_scalar

#if CGK_X86
#ifdef __clang__  // clang has no GCC target pragmas: the attribute on every function instead
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
namespace cgk_avx2 {
using L = cgk::simd_lanes::Avx2;
#include CGK_SIMD_BODY
}  // namespace cgk_avx2
#ifdef __clang__
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#ifdef __clang__  // clang has no GCC target pragmas: the attribute on every function instead
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx2,fma")
#endif
namespace cgk_avx512 {
using L = cgk::simd_lanes::Avx512;
#include CGK_SIMD_BODY
}  // namespace cgk_avx512
#ifdef __clang__
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif  // CGK_X86

#undef CGK_SIMD_BODY
