// The sm_90a primitives of the wgmma convolution engine (conv_wgmma.cuh): shared-memory matrix
// descriptors, the warpgroup MMA m64n128k8 with TF32 operands, its fence/commit/wait, and the
// proxy fence that makes generic-proxy writes (cp.async) visible to the tensor cores. They
// compile to nothing except for sm_90a (conv_wgmma.cu is built for that arch alone); with
// -DCGK_CUDA_EMU they call the CPU emulator of cuda/dev/emu.
#pragma once

#include <cstdint>

namespace cgk_cuda {

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define CGK_SM90A 1
#endif

// The 64-bit descriptor of a K-major operand without swizzle: 8-row x 16-byte core matrices of
// 128 contiguous bytes; lbo = bytes to the next core matrix along k, sbo = along the rows.
// Bits: start address >> 4 in 0-13, lbo >> 4 in 16-29, sbo >> 4 in 32-45, swizzle 0 in 62-63.
__device__ __forceinline__ uint64_t smem_desc(const float* tile, uint32_t lbo, uint32_t sbo) {
#ifdef CGK_CUDA_EMU
  const uint64_t start = ::emu::smem_offset(tile);
#else
  const uint64_t start = static_cast<uint32_t>(__cvta_generic_to_shared(tile));
#endif
  return ((start >> 4) & 0x3FFF) | (uint64_t((lbo >> 4) & 0x3FFF) << 16) | (uint64_t((sbo >> 4) & 0x3FFF) << 32);
}

// Generic-proxy writes to shared memory (st.shared, cp.async) become visible to wgmma.
__device__ __forceinline__ void fence_proxy_async() {
#ifdef CGK_CUDA_EMU
#elif defined(CGK_SM90A)
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

// Orders this warpgroup's register and shared-memory accesses before the wgmma that follow.
__device__ __forceinline__ void wgmma_fence() {
#ifdef CGK_CUDA_EMU
  ::emu::wgmma_fence();
#elif defined(CGK_SM90A)
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}

__device__ __forceinline__ void wgmma_commit() {
#ifdef CGK_CUDA_EMU
  ::emu::wgmma_commit();
#elif defined(CGK_SM90A)
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}

// Waits until at most PENDING committed groups of this warpgroup's wgmma are in flight.
template <int PENDING>
__device__ __forceinline__ void wgmma_wait() {
#ifdef CGK_CUDA_EMU
  ::emu::wgmma_wait(PENDING);
#elif defined(CGK_SM90A)
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(PENDING) : "memory");
#endif
}

// Keeps the compiler from moving accesses of an accumulator across the asynchronous window
// (between a wgmma and the wait that completes it).
__device__ __forceinline__ void fence_operand(float& r) {
#if defined(CGK_SM90A) && !defined(CGK_CUDA_EMU)
  asm volatile("" : "+f"(r)::"memory");
#else
  (void)r;
#endif
}

// d += A (64x8, descriptor da) * B^T (B 128x8, descriptor db), TF32 operands (read truncated),
// FP32 accumulators, asynchronous until wgmma_wait. Accumulator r of lane l in warp w of the
// warpgroup is (row 16 w + l / 4 + 8 ((r / 2) % 2), column 2 (l % 4) + r % 2 + 8 (r / 4)).
__device__ __forceinline__ void wgmma_m64n128k8_tf32(float (&d)[64], uint64_t da, uint64_t db) {
#ifdef CGK_CUDA_EMU
  ::emu::wgmma_m64n128k8_tf32(d, da, db);
#elif defined(CGK_SM90A)
  // scale-d is a predicate: 1 adds to d (the kernel zeroes d first).
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k8.f32.tf32.tf32 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
      "%64, %65, p, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
        "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
        "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
        "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
        "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
        "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
        "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(da), "l"(db), "r"(1));
#else
  (void)d; (void)da; (void)db;
#endif
}

}  // namespace cgk_cuda
