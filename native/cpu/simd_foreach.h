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

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace cgk_avx2 {
using L = cgk::simd_lanes::Avx2;
#include CGK_SIMD_BODY
}  // namespace cgk_avx2
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx2,fma")
namespace cgk_avx512 {
using L = cgk::simd_lanes::Avx512;
#include CGK_SIMD_BODY
}  // namespace cgk_avx512
#pragma GCC pop_options

#undef CGK_SIMD_BODY
