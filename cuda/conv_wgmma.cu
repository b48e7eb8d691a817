// The Hopper wgmma engine's launches (see conv_wgmma.cuh). This file alone is compiled for
// sm_90a (cuda/CMakeLists.txt): wgmma exists only there, and an sm_90 image of the same kernel
// would be empty. conv_gemm.cu calls wg::launch only on compute capability 9.0.
#include <mutex>

#include "conv_wgmma.cuh"

namespace cgk_cuda {
namespace wg {

namespace {

// Writes 1 where the kernels of this file hold wgmma code.
__global__ void probe_kernel(int* out) {
#if defined(CGK_SM90A) || defined(CGK_CUDA_EMU)
  *out = 1;
#else
  *out = 0;
#endif
}

template <ConvKind KIND, int WG>
int launch_kind(const ConvIndex& ix, const GemmShape& s, const float* A, const float* in, const float* bias,
                float* target, unsigned gx, unsigned gy, int splits, int k_per_split, bool a_vec) {
  constexpr size_t smem = Tile<WG>::kSmemBytes;
  // Above 48 KiB of dynamic shared memory a kernel has to opt in, once per kernel.
  static std::once_flag opted_in;
  static cudaError_t opt_in_status;
  std::call_once(opted_in, [] {
    opt_in_status = cudaFuncSetAttribute(reinterpret_cast<const void*>(conv_wgmma_kernel<KIND, WG>),
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
  });
  if (opt_in_status != cudaSuccess) return fail(CGK_ERR_DEVICE, std::string("wgmma convolution: cannot give the kernel ") +
                                                                    std::to_string(smem) + " bytes of shared memory: " +
                                                                    cudaGetErrorString(opt_in_status));
  conv_wgmma_kernel<KIND, WG><<<dim3(gx, gy, splits), Tile<WG>::kThreads, smem, stream()>>>(ix, s, A, in, bias, target,
                                                                                           k_per_split, a_vec);
  return CGK_OK;
}

template <ConvKind KIND>
int launch_tile(int bm, const ConvIndex& ix, const GemmShape& s, const float* A, const float* in, const float* bias,
                float* target, unsigned gx, unsigned gy, int splits, int k_per_split, bool a_vec) {
  if (bm == 128) return launch_kind<KIND, 2>(ix, s, A, in, bias, target, gx, gy, splits, k_per_split, a_vec);
  if (bm == 64) return launch_kind<KIND, 1>(ix, s, A, in, bias, target, gx, gy, splits, k_per_split, a_vec);
  return fail(CGK_ERR_ARG, "wgmma convolution: tiles of " + std::to_string(bm) + " rows, expected 64 or 128");
}

}  // namespace

bool available() {
  static std::once_flag asked;
  static bool result = false;
  std::call_once(asked, [] {
    const cudaDeviceProp& p = device_props();
    if (p.major != 9 || p.minor != 0) return;
    int* flag = nullptr;
    int host = 0;
    if (cudaMalloc(&flag, sizeof(int)) != cudaSuccess) {
      cudaGetLastError();
      return;
    }
    probe_kernel<<<1, 1, 0, stream()>>>(flag);
    if (cudaGetLastError() == cudaSuccess && cudaMemcpyAsync(&host, flag, sizeof(int), cudaMemcpyDeviceToHost, stream()) == cudaSuccess &&
        cudaStreamSynchronize(stream()) == cudaSuccess)
      result = host == 1;
    cudaGetLastError();  // no image for this device: the engine is just not available
    cudaFree(flag);
  });
  return result;
}

int launch(ConvKind kind, int bm, const ConvIndex& ix, const GemmShape& s, const float* A, const float* in,
           const float* bias, float* target, unsigned gx, unsigned gy, int splits, int k_per_split, bool a_vec) {
  switch (kind) {
    case ConvKind::Fwd: return launch_tile<ConvKind::Fwd>(bm, ix, s, A, in, bias, target, gx, gy, splits, k_per_split, a_vec);
    case ConvKind::Dgrad: return launch_tile<ConvKind::Dgrad>(bm, ix, s, A, in, bias, target, gx, gy, splits, k_per_split, a_vec);
    case ConvKind::Wgrad: return launch_tile<ConvKind::Wgrad>(bm, ix, s, A, in, bias, target, gx, gy, splits, k_per_split, a_vec);
  }
  return fail(CGK_ERR_ARG, "wgmma convolution: unknown kind");
}

}  // namespace wg
}  // namespace cgk_cuda
