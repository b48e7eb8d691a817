// The emulator's dynamic shared memory rule (cuda_emu.h, check_dynamic_smem): a launch with more
// than 48 KiB must follow cudaFuncSetAttribute(MaxDynamicSharedMemorySize) of at least that much
// for the same kernel, as a GPU requires. Run with one argument:
//   default  48 KiB without opting in: runs
//   opted    64 KiB after opting in to 64 KiB: runs
//   other    64 KiB after opting another kernel in: stops with the emulator's message
//   short    64 KiB after opting in to 56 KiB: stops
//   missing  64 KiB without opting in: stops
// Built with g++ -DCGK_CUDA_EMU -include cuda/dev/emu/cuda_emu.h ... cuda_emu.cc cudart_emu.cc
// (test/gpu/host-checks.test.ts).
#include <cstdio>
#include <cstring>

static float g_out[1];

__global__ void kernel_a(float* out) {
  float* smem = static_cast<float*>(emu::dynamic_smem());
  smem[threadIdx.x] = 1.f;
  if (threadIdx.x == 0) out[0] = smem[0];
}
__global__ void kernel_b(float* out) {
  if (threadIdx.x == 0) out[0] = 2.f;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  auto opt_in = [](const void* k, int bytes) {
    if (cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes) != cudaSuccess) {
      std::printf("FAIL cudaFuncSetAttribute(%d) refused\n", bytes);
      std::exit(1);
    }
  };
  size_t bytes = 64 * 1024;
  if (!std::strcmp(mode, "default")) bytes = 48 * 1024;
  else if (!std::strcmp(mode, "opted")) opt_in(reinterpret_cast<const void*>(kernel_a), 64 * 1024);
  else if (!std::strcmp(mode, "other")) opt_in(reinterpret_cast<const void*>(kernel_b), 64 * 1024);
  else if (!std::strcmp(mode, "short")) opt_in(reinterpret_cast<const void*>(kernel_a), 56 * 1024);
  else if (std::strcmp(mode, "missing") != 0) {
    std::printf("FAIL unknown mode '%s'\n", mode);
    return 2;
  }
  emu::launch_kernel(emu::LaunchConfig(dim3(1), dim3(32), bytes), kernel_a, g_out);
  std::printf("launched with %zu bytes: out %g\n", bytes, g_out[0]);
  return g_out[0] == 1.f ? 0 : 1;
}
