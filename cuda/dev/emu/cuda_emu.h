// A CPU emulator for the subset of CUDA that the tensor-core convolution kernels use, so their
// tiling, cp.async pipeline and mma fragment layouts can be checked on a machine without a GPU.
// Not a simulator of timing: a block's threads run as fibers on one OS thread, switching only
// at the points where CUDA threads wait for each other:
//   __syncthreads()      the block barrier
//   mma_m16n8k8_tf32     warp-collective: the last lane to arrive computes all 32 lanes' results
//   mma_m16n8k16_bf16    from the fragments as the PTX ISA lays them out (TF32 operands truncated
//                        as the tensor cores read them; BF16 operands as packed)
//   cp.async             deferred: a copy lands in shared memory only when cp.async.wait_group
//                        retires its committed group, so a missing wait or commit reads stale or
//                        poisoned data instead of passing by luck
//   __shfl_xor_sync      warp-collective, double-buffered so a fast lane cannot overwrite a value
//                        a slow lane has yet to read (ldmatrix, in mma_sm80.cuh, is built on it:
//                        each lane's row address goes round the warp, and a misaligned one stops
//                        the program)
//   wgmma (sm_90a)       warpgroup-collective; computed at the wait that retires its group
// Dynamic shared memory is poisoned with NaN at the start of every block.
//
// Compile the kernel source with g++ and -DCGK_CUDA_EMU -include cuda/dev/emu/cuda_emu.h, plus
// cuda_emu.cc (see cuda/dev/emu/conv_tc_check.cc). Blocks run one after another, so a
// function-local `static` array stands in for a __shared__ one, and atomics are plain updates.
// scripts/build-cuda-emu.js builds the whole CUDA addon this way (with cudart_emu.cc for the
// runtime API and kernel<<<...>>>(...) rewritten into emu::launch_kernel), so the parity tests
// can run every CUDA kernel on a machine without a GPU.
//
// Speed: a block's threads are fibers only while the kernel may need them: when block 0 of a
// launch never waits at a barrier or a warp collective, the other blocks' threads run as plain
// calls one after another (a kernel that waits in a later block only then stops with an error).
#pragma once

#ifndef CGK_CUDA_EMU
#error "cuda_emu.h is for the CPU emulation build (-DCGK_CUDA_EMU)"
#endif

#define __global__
#define __device__
#define __host__
#define __shared__ static
#define __launch_bounds__(...)

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>

using std::max;
using std::min;

namespace emu {

extern uint3 thread_idx, block_idx;
extern dim3 block_dim, grid_dim;

void syncthreads();
void* dynamic_smem();
// D = A * B + D for one m16n8k8 TF32 tile; every lane of the warp passes its own fragments.
void mma_m16n8k8_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]);
// D = A * B + D for one m16n8k16 tile of BF16 operands (two per register, lower k in bits 0-15).
void mma_m16n8k16_bf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]);
void cp_async(void* dst, const void* src, int bytes, int src_bytes);
void cp_async_commit();
void cp_async_wait(int pending);
// Runs body once per thread of every block of the grid; smem_bytes of dynamic shared memory.
void launch(dim3 grid, dim3 block, size_t smem_bytes, const std::function<void()>& body);
// The order the scheduler runs a block's threads between waits: thread 0 first (the default),
// or with set_reverse_order(true) or $CGTRAIN_EMU_REVERSE=1 the last first, and the blocks of a
// launch too. A shared-memory race the barriers do not order (a thread overwriting what another
// has yet to read, or reading what another has yet to write), or blocks writing the same
// element, shows in one order or the other, so the checks run both.
void set_reverse_order(bool reverse);
bool reverse_order();
// Kernel launches, and device copies and fills (cudaMemcpyAsync, cudaMemsetAsync), so far. With
// $CGTRAIN_EMU_SKIP_KERNELS=1 both are counted but not done, so what remains of a backend call is
// its host side (bench/host.ts measures it); results are then meaningless.
unsigned long long launch_count();
unsigned long long copy_count();
void count_copy();
bool skipping_kernels();
// The 8 bytes of `mine` from every lane of the warp; returns lane `src`'s.
uint64_t shfl(uint64_t mine, int src_lane);
int lane_id();
// Warpgroup MMA (sm_90a), for blocks of whole warpgroups (128 threads each). Descriptors hold
// shared-memory offsets (smem_offset) as on the GPU. An MMA is recorded when issued and computed
// at the wgmma_wait that completes its group, reading shared memory then, so a kernel that
// refills a stage before waiting reads the new data, as it could on the GPU.
uint64_t smem_offset(const void* p);
void wgmma_fence();
void wgmma_commit();
void wgmma_wait(int pending);
void wgmma_m64n128k8_tf32(float (&d)[64], uint64_t da, uint64_t db);
// Stops the program with the message and the current block and thread (a GPU would fault).
[[noreturn]] void fatal(const char* what);

// Shared-memory bank conflicts of the cp.async stores since the last reset: the n-th cp.async of
// each lane of a warp is taken as one warp instruction (true of the unconditional, zero-filling
// loads of the conv engines), split into phases of 128 bytes (32 lanes of 4 bytes, 16 of 8, 8 of
// 16) as the hardware does; a phase takes as many wavefronts as the most distinct 4-byte words
// any one of the 32 banks holds. ideal = the wavefronts without conflicts.
struct StoreStats {
  unsigned long long instructions = 0, wavefronts = 0, ideal = 0;
};
StoreStats smem_store_stats();
void reset_smem_store_stats();

// kernel<<<grid, block[, smem[, stream]]>>>(args...), as rewritten by scripts/build-cuda-emu.js.
struct LaunchConfig {
  dim3 grid, block;
  size_t smem;
  LaunchConfig(dim3 g, dim3 b, size_t s = 0, cudaStream_t = nullptr) : grid(g), block(b), smem(s) {}
};
// A GPU refuses a launch with more than 48 KiB of dynamic shared memory unless that kernel has
// opted in (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes)):
// the emulated cudaFuncSetAttribute records each kernel's opt-in, and a launch past it stops the
// program, naming the sizes.
void set_smem_opt_in(const void* kernel, int bytes);
// Global memory a kernel reads with cp.async or __ldg must lie inside one device allocation, as
// a read past it may fault on a GPU: the emulated runtime (cudart_emu.cc) installs the check
// over its cudaMalloc blocks; programs without it (conv_tc_check.cc, on host vectors) check
// nothing.
using GlobalReadCheck = bool (*)(const void* p, size_t bytes);
void set_global_read_check(GlobalReadCheck check);
void check_global_read(const void* p, size_t bytes, const char* what);
void check_dynamic_smem(const void* kernel, size_t bytes);
template <class Kernel, class... Args>
void launch_kernel(const LaunchConfig& cfg, Kernel kernel, Args... args) {
  check_dynamic_smem(reinterpret_cast<const void*>(kernel), cfg.smem);
  launch(cfg.grid, cfg.block, cfg.smem, [&] { kernel(args...); });
}

}  // namespace emu

#define threadIdx (::emu::thread_idx)
#define blockIdx (::emu::block_idx)
#define blockDim (::emu::block_dim)
#define gridDim (::emu::grid_dim)

inline void __syncthreads() { emu::syncthreads(); }
// A GPU faults on a load that is not aligned to its size (a float4 needs 16 bytes).
template <class T>
inline T __ldg(const T* p) {
  if (reinterpret_cast<uintptr_t>(p) % alignof(T) != 0) emu::fatal("__ldg address is not aligned to its type");
  emu::check_global_read(p, sizeof(T), "__ldg");
  return *p;
}
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

template <class T>
inline T __shfl_xor_sync(unsigned /*mask*/, T v, int lane_mask, int width = 32) {
  static_assert(sizeof(T) <= 8, "shuffles move at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  const int lane = emu::lane_id();
  const int src = (lane & ~(width - 1)) | ((lane ^ lane_mask) & (width - 1));
  bits = emu::shfl(bits, src);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

// One OS thread runs every CUDA thread, one at a time: atomics are plain updates.
template <class T>
inline T atomicAdd(T* p, T v) {
  const T old = *p;
  *p = old + v;
  return old;
}

// Round-to-nearest intrinsics: the host's IEEE operations (build with -ffp-contract=off).
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
