// Checks of the emulator's own rules (cuda_emu.h), each a mode that should run or should stop:
//   smem-default  48 KiB of dynamic shared memory without opting in: runs
//   smem-opted    64 KiB after cudaFuncSetAttribute(MaxDynamicSharedMemorySize, 64 KiB): runs
//   smem-other    64 KiB after opting another kernel in: stops, as a GPU refuses the launch
//   smem-short    64 KiB after opting in to 56 KiB: stops
//   smem-missing  64 KiB without opting in: stops
//   race-war      a thread overwrites shared memory its lower neighbour has yet to read, with no
//                 barrier between: wrong (exit 1) when the threads run last first
//                 ($CGTRAIN_EMU_REVERSE=1), right in the default order
//   race-raw      a thread reads what its higher neighbour has yet to write: wrong in the default
//                 order, right last first
//   race-blocks   every block writes the same element, and the last block's value is taken
//                 for the result: right in the default order, wrong last-first (the blocks run
//                 in reverse too)
// So a race the barriers do not order shows in one of the two orders; the checks run both.
//   read-inside   a kernel reads the last float of a cudaMalloc block with __ldg and cp.async:
//                 runs
//   read-past     the same __ldg one float further: stops (outside every device allocation)
//   async-past    a cp.async of the 16 bytes just past the block: stops
// Built with g++ -DCGK_CUDA_EMU -include cuda/dev/emu/cuda_emu.h ... cuda_emu.cc cudart_emu.cc
// (test/gpu/host-checks.test.ts).
#include <cstdio>
#include <cstring>

namespace {

constexpr int kThreads = 64;
float g_out[kThreads];

__global__ void smem_kernel(float* out) {
  float* smem = static_cast<float*>(emu::dynamic_smem());
  smem[threadIdx.x] = 1.f;
  if (threadIdx.x == 0) out[0] = smem[0];
}
__global__ void other_kernel(float* out) {
  if (threadIdx.x == 0) out[0] = 2.f;
}

// Each thread t < kThreads - 1 reports its neighbour's value t + 1; `war` drops the barrier
// between the read and the overwrite, else the one between the write and the read.
__global__ void race_kernel(float* out, bool war) {
  float* s = static_cast<float*>(emu::dynamic_smem());
  const int t = threadIdx.x;
  s[t] = (float)t;
  if (war) __syncthreads();
  const float v = t + 1 < kThreads ? s[t + 1] : (float)(t + 1);
  if (!war) __syncthreads();
  if (t + 1 < kThreads) s[t] = -1.f;  // the next phase's data (the last thread, which runs first
                                      // after a barrier in the default order, has none)
  __syncthreads();
  out[t] = v;
}

// Each block stores its index into the same element, a race between blocks.
__global__ void blocks_kernel(float* out) {
  if (threadIdx.x == 0) out[0] = (float)blockIdx.x;
}

// Reads src[at] with __ldg and 16 bytes at src + at4 with cp.async (when at4 >= 0).
__global__ void read_kernel(const float* src, int at, int at4, float* out) {
  float* smem = static_cast<float*>(emu::dynamic_smem());
  if (at4 >= 0) {
    emu::cp_async(smem, src + at4, 16, 16);
    emu::cp_async_commit();
    emu::cp_async_wait(0);
  }
  if (threadIdx.x == 0) out[0] = __ldg(src + at) + (at4 >= 0 ? smem[0] : 0.f);
}

int read(const char* mode) {
  constexpr int kFloats = 64;  // a 256-byte block: the emulated cudaMalloc's granularity
  float* d = nullptr;
  if (cudaMalloc(reinterpret_cast<void**>(&d), kFloats * sizeof(float)) != cudaSuccess) return std::printf("FAIL cudaMalloc\n"), 1;
  for (int i = 0; i < kFloats; ++i) d[i] = 1.f;
  const bool past = !std::strcmp(mode, "read-past"), async_past = !std::strcmp(mode, "async-past");
  emu::launch_kernel(emu::LaunchConfig(dim3(1), dim3(32), 64), read_kernel, d, past ? kFloats : kFloats - 1,
                     async_past ? kFloats : kFloats - 4, g_out);
  std::printf("read %g\n", g_out[0]);
  cudaFree(d);
  return g_out[0] == 2.f ? 0 : 1;
}

int smem(const char* mode) {
  auto opt_in = [](const void* k, int bytes) {
    if (cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes) != cudaSuccess) {
      std::printf("FAIL cudaFuncSetAttribute(%d) refused\n", bytes);
      std::exit(1);
    }
  };
  size_t bytes = 64 * 1024;
  if (!std::strcmp(mode, "smem-default")) bytes = 48 * 1024;
  else if (!std::strcmp(mode, "smem-opted")) opt_in(reinterpret_cast<const void*>(smem_kernel), 64 * 1024);
  else if (!std::strcmp(mode, "smem-other")) opt_in(reinterpret_cast<const void*>(other_kernel), 64 * 1024);
  else if (!std::strcmp(mode, "smem-short")) opt_in(reinterpret_cast<const void*>(smem_kernel), 56 * 1024);
  emu::launch_kernel(emu::LaunchConfig(dim3(1), dim3(32), bytes), smem_kernel, g_out);
  std::printf("launched with %zu bytes: out %g\n", bytes, g_out[0]);
  return g_out[0] == 1.f ? 0 : 1;
}

int race(bool war) {
  emu::launch_kernel(emu::LaunchConfig(dim3(1), dim3(kThreads), kThreads * sizeof(float)), race_kernel, g_out, war);
  int wrong = 0;
  for (int t = 0; t < kThreads; ++t) wrong += g_out[t] != (float)(t + 1);
  std::printf("%s order: %d of %d threads read a wrong value\n", emu::reverse_order() ? "last-first" : "default", wrong,
              kThreads);
  return wrong ? 1 : 0;
}

int race_blocks() {
  constexpr int kBlocks = 8;
  emu::launch_kernel(emu::LaunchConfig(dim3(kBlocks), dim3(32)), blocks_kernel, g_out);
  std::printf("%s order: block %g wrote last\n", emu::reverse_order() ? "last-first" : "default", g_out[0]);
  return g_out[0] == kBlocks - 1 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  if (!std::strncmp(mode, "smem-", 5)) {
    if (std::strcmp(mode, "smem-default") && std::strcmp(mode, "smem-opted") && std::strcmp(mode, "smem-other") &&
        std::strcmp(mode, "smem-short") && std::strcmp(mode, "smem-missing"))
      return std::printf("FAIL unknown mode '%s'\n", mode), 2;
    return smem(mode);
  }
  if (!std::strcmp(mode, "race-war")) return race(true);
  if (!std::strcmp(mode, "race-raw")) return race(false);
  if (!std::strcmp(mode, "race-blocks")) return race_blocks();
  if (!std::strcmp(mode, "read-inside") || !std::strcmp(mode, "read-past") || !std::strcmp(mode, "async-past")) return read(mode);
  std::printf("FAIL unknown mode '%s'\n", mode);
  return 2;
}
