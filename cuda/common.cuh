// Shared by every cuda/<family>.cu: the one stream, error reporting through cgk_last_error,
// argument checks, launch geometry and the device scratch used by two-stage reductions.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <cstdarg>
#include <cstdio>
#include <string>

#include "cgk.h"

namespace cgk_cuda {

// Sets the thread's last-error message and returns the status, so call sites read
// `return fail(CGK_ERR_ARG, "...")`.
int fail(int status, const std::string& message);
int fail_arg(const char* fn, const std::string& what);

// printf into a std::string, for argument messages that name values.
inline std::string strf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
inline std::string strf(const char* fmt, ...) {
  char buf[512];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  return buf;
}

// Lazily initialises device 0 (or the device cgk_init chose) and returns CGK_OK, or the reason
// the backend cannot run.
int ensure_ready(const char* fn);
cudaStream_t stream();
const cudaDeviceProp& device_props();
// The GEMM operand precision in effect (CGK_PRECISION_*; see cgk_set_precision): TF32 by default
// on sm_80+, as PyTorch allows for cuDNN convolutions.
int precision();

// Internal allocations (workspaces) through the caching allocator; NULL on failure with the
// message already set.
float* scratch_alloc(size_t n_floats);
void scratch_free(float* p);

// A device buffer of kPartials doubles that two-stage reductions use between their two kernels;
// one stream makes sharing it safe.
constexpr int kPartials = 1024;
double* reduction_partials();

// "fp32", "tf32" or "bf16" for a CGK_PRECISION_* value.
const char* precision_name(int precision);
// s as a JSON string literal, quotes included.
std::string json_string(const std::string& s);

// A two-way setting from the environment: true when $name is `on`, false when it is `off`,
// `fallback` when it is unset or empty; any other value warns once on stderr and gives fallback.
bool env_switch(const char* name, const char* on, const char* off, bool fallback);

// Checks the launch that just happened (no sync) and reports it under the function's name.
int check_launch(const char* fn);

inline unsigned grid_for(size_t n, int threads = 256) {
  size_t blocks = (n + threads - 1) / threads;
  // A grid-stride loop covers the rest: more blocks than this adds scheduling, not bandwidth.
  const size_t cap = 65535u * 8u;
  if (blocks > cap) blocks = cap;
  if (blocks == 0) blocks = 1;
  return static_cast<unsigned>(blocks);
}

}  // namespace cgk_cuda

// A dynamically sized shared-memory array of `type` named `name` (16-byte aligned); the CPU
// emulator of cuda/dev/emu hands out its per-block buffer instead.
#ifdef CGK_CUDA_EMU
#define CGK_DYNAMIC_SMEM(type, name) type* name = static_cast<type*>(::emu::dynamic_smem())
#else
#define CGK_DYNAMIC_SMEM(type, name) extern __shared__ __align__(16) type name[]
#endif

// Entry-point prologue: device ready, then argument checks in the body.
#define CGK_READY(fn)                                    \
  do {                                                   \
    int _st = ::cgk_cuda::ensure_ready(fn);              \
    if (_st != CGK_OK) return _st;                       \
  } while (0)

#define CGK_REQUIRE(cond, fn, what)                      \
  do {                                                   \
    if (!(cond)) return ::cgk_cuda::fail_arg(fn, what);  \
  } while (0)

#define CGK_GRID_STRIDE(i, n) \
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

// Launches a 1-D grid-stride kernel over n elements and returns the launch status.
#define CGK_LAUNCH_1D(fn, kernel, n, ...)                                            \
  do {                                                                               \
    if ((n) == 0) return CGK_OK;                                                     \
    kernel<<<grid_for(n), 256, 0, stream()>>>(__VA_ARGS__);                          \
    return check_launch(fn);                                                         \
  } while (0)
