// Contiguous float runs moved with AVX-512 (the add also with AVX2): the copy and add used where
// im2col-style packing and its reverse (conv's unfold/fold and GEMM's packing runs) move one row
// of a window at a time.
#ifndef CGK_CPU_FLOAT_RUNS_H
#define CGK_CPU_FLOAT_RUNS_H

#include "arch.h"

#if CGK_X86
#include <immintrin.h>

namespace cgk {

// dst[0..len) = src[0..len)
__attribute__((target("avx512f,avx512vl,fma"))) inline void copy_floats_avx512(float* dst, const float* src, int len) {
  int t = 0;
  for (; t + 16 <= len; t += 16) _mm512_storeu_ps(dst + t, _mm512_loadu_ps(src + t));
  if (t + 8 <= len) {
    _mm256_storeu_ps(dst + t, _mm256_loadu_ps(src + t));
    t += 8;
  }
  if (t < len) {
    __mmask16 m = __mmask16((1u << (len - t)) - 1);
    _mm512_mask_storeu_ps(dst + t, m, _mm512_maskz_loadu_ps(m, src + t));
  }
}

// dst[0..len) += src[0..len)
__attribute__((target("avx512f,avx512vl,fma"))) inline void add_floats_avx512(float* dst, const float* src, int len) {
  int t = 0;
  for (; t + 16 <= len; t += 16) _mm512_storeu_ps(dst + t, _mm512_add_ps(_mm512_loadu_ps(dst + t), _mm512_loadu_ps(src + t)));
  // Plain moves where they fit: a masked load cannot take its data from an earlier store still
  // in flight, so masked read-modify-writes of nearby rows serialise.
  if (t + 8 <= len) {
    _mm256_storeu_ps(dst + t, _mm256_add_ps(_mm256_loadu_ps(dst + t), _mm256_loadu_ps(src + t)));
    t += 8;
  }
  if (t < len) {
    __mmask16 m = __mmask16((1u << (len - t)) - 1);
    _mm512_mask_storeu_ps(dst + t, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, dst + t), _mm512_maskz_loadu_ps(m, src + t)));
  }
}

// The add at AVX2: whole ymm, then one xmm, then single floats (AVX2's masked stores are slow on
// AMD cores).
__attribute__((target("avx2,fma"))) inline void add_floats_avx2(float* dst, const float* src, int len) {
  int t = 0;
  for (; t + 8 <= len; t += 8) _mm256_storeu_ps(dst + t, _mm256_add_ps(_mm256_loadu_ps(dst + t), _mm256_loadu_ps(src + t)));
  if (t + 4 <= len) {
    _mm_storeu_ps(dst + t, _mm_add_ps(_mm_loadu_ps(dst + t), _mm_loadu_ps(src + t)));
    t += 4;
  }
  for (; t < len; t++) dst[t] += src[t];
}

}  // namespace cgk
#endif  // CGK_X86

#endif
