// The sm_80+ primitives of the tensor-core convolution (conv_tc.cuh): asynchronous global ->
// shared copies with zero fill, ldmatrix, the TF32 mma.sync m16n8k8 and the BF16 mma.sync m16n8k16. Below sm_80 they compile to
// nothing (the host never launches those kernels there). With -DCGK_CUDA_EMU they call the CPU
// emulator of cuda/dev/emu, which checks the kernels on a machine without a GPU.
#pragma once

#include <cstdint>

namespace cgk_cuda {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define CGK_SM80 1
#endif

// Copies BYTES (4 or 16; both addresses aligned to it) from global to shared memory without
// waiting; when !valid, writes BYTES zeros and reads nothing (src must still be a valid pointer).
template <int BYTES>
__device__ __forceinline__ void cp_async_zfill(float* smem, const float* gmem, bool valid) {
  static_assert(BYTES == 4 || BYTES == 16, "cp.async copies 4 or 16 bytes here");
#ifdef CGK_CUDA_EMU
  ::emu::cp_async(smem, gmem, BYTES, valid ? BYTES : 0);
#elif defined(CGK_SM80)
  const uint32_t dst = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  const int src_bytes = valid ? BYTES : 0;
  if constexpr (BYTES == 16) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem), "r"(src_bytes));
  } else {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(dst), "l"(gmem), "r"(src_bytes));
  }
#else
  (void)smem; (void)gmem; (void)valid;
#endif
}

// Closes the group of copies issued since the last commit.
__device__ __forceinline__ void cp_async_commit() {
#ifdef CGK_CUDA_EMU
  ::emu::cp_async_commit();
#elif defined(CGK_SM80)
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}

// Waits until at most PENDING committed groups are still in flight.
template <int PENDING>
__device__ __forceinline__ void cp_async_wait() {
#ifdef CGK_CUDA_EMU
  ::emu::cp_async_wait(PENDING);
#elif defined(CGK_SM80)
  asm volatile("cp.async.wait_group %0;\n" ::"n"(PENDING));
#endif
}

// ldmatrix.sync.aligned.m8n8.x4.shared.b16: four 8x8 matrices of 16-bit elements, that is of
// 8 rows x 4 32-bit words. Lanes 8j .. 8j + 7 give the addresses of matrix j's rows (16 bytes
// each, 16-byte aligned, in shared memory); lane l receives in r[j] word l % 4 of row l / 4 of
// matrix j: for 32-bit elements (TF32, or pairs), element (l / 4, l % 4), the (g, t) of an mma
// fragment. One instruction where four 32-bit shared loads would be.
template <class T>
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const T* row) {
  static_assert(sizeof(T) == 4, "rows of 32-bit words");
#ifdef CGK_CUDA_EMU
  const uint64_t mine = reinterpret_cast<uint64_t>(row);
  if (mine % 16) ::emu::fatal("ldmatrix: a row address is not 16-byte aligned");
  const int lane = ::emu::lane_id();
  for (int j = 0; j < 4; ++j) r[j] = reinterpret_cast<const uint32_t*>(::emu::shfl(mine, 8 * j + lane / 4))[lane % 4];
#elif defined(CGK_SM80)
  const uint32_t a = static_cast<uint32_t>(__cvta_generic_to_shared(row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(a));
#else
  (void)row;
  r[0] = r[1] = r[2] = r[3] = 0;
#endif
}

// The bits of x as a TF32 operand: rounded to nearest (ties away), or as stored, in which case
// the tensor core ignores the low 13 mantissa bits (truncation).
template <bool ROUND>
__device__ __forceinline__ uint32_t tf32_bits(float x) {
#if defined(CGK_SM80) && !defined(CGK_CUDA_EMU)
  if constexpr (ROUND) {
    uint32_t r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return r;
  }
#endif
#ifdef CGK_CUDA_EMU
  if constexpr (ROUND) {
    // cvt.rna.tf32.f32: round the 13 dropped bits to nearest, ties away from zero.
    uint32_t u = __float_as_uint(x);
    if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;
    return u;
  }
#endif
  return __float_as_uint(x);
}

// d += a * b for one 16x8x8 tile (row-major A, column-major B; fragments as the PTX ISA lays
// them out for .tf32: with g = lane / 4, t = lane % 4, a = {(g,t), (g+8,t), (g,t+4), (g+8,t+4)},
// b = {(k=t, n=g), (k=t+4, n=g)}, d = {(g,2t), (g,2t+1), (g+8,2t), (g+8,2t+1)}).
__device__ __forceinline__ void mma_m16n8k8_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#ifdef CGK_CUDA_EMU
  ::emu::mma_m16n8k8_tf32(d, a, b);
#elif defined(CGK_SM80)
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
  (void)d; (void)a; (void)b;
#endif
}

// Two floats as a pair of BF16 operands, rounded to nearest even (cvt.rn.bf16x2.f32): lo in bits
// 0-15 (the lower k index of a fragment register), hi in bits 16-31.
__device__ __forceinline__ uint32_t bf16x2_bits(float lo, float hi) {
#if defined(CGK_SM80) && !defined(CGK_CUDA_EMU)
  uint32_t r;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
#else
  auto round = [](float x) -> uint32_t {
    const uint32_t u = __float_as_uint(x);
    if ((u & 0x7f800000u) == 0x7f800000u) return (u >> 16) | ((u & 0xffffu) ? 0x40u : 0u);  // inf, quiet NaN
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  };
  return round(lo) | (round(hi) << 16);
#endif
}

// d += a * b for one 16x8x16 tile of BF16 operands, FP32 accumulation (row-major A, column-major
// B; fragments as the PTX ISA lays them out for .bf16, two k per register, lower k in the low
// half: with g = lane / 4, t = lane % 4, a = {(g, 2t..2t+1), (g+8, 2t..2t+1), (g, 2t+8..2t+9),
// (g+8, 2t+8..2t+9)}, b = {(k = 2t..2t+1, n = g), (k = 2t+8..2t+9, n = g)}, d as for m16n8k8).
__device__ __forceinline__ void mma_m16n8k16_bf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#ifdef CGK_CUDA_EMU
  ::emu::mma_m16n8k16_bf16(d, a, b);
#elif defined(CGK_SM80)
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
  (void)d; (void)a; (void)b;
#endif
}

}  // namespace cgk_cuda
