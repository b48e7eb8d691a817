// Runtime of the CUDA backend: device selection, the reason CUDA cannot run, the one stream,
// the caching allocator, pinned-memory uploads, and the measured FMA peak.
//
// The addon links cudart statically, so it loads on a machine with no driver; every entry point
// then fails with the reason cgk_device_info() reports instead of crashing.
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common.cuh"

#ifndef CGK_CUDA_ARCHS
#define CGK_CUDA_ARCHS "unknown"
#endif

namespace cgk_cuda {

namespace {

thread_local std::string t_last_error;

struct Runtime {
  bool initialised = false;
  int status = CGK_OK;       // CGK_OK when the device is usable
  std::string reason;        // why it is not, for cgk_device_info and errors
  int device = 0;
  cudaStream_t stream = nullptr;
  cudaDeviceProp props{};
  double* partials = nullptr;
  int precision = CGK_PRECISION_FP32;  // cgk_set_precision
};
// Never destroyed: buffer finalizers may still call cgk_free while the process exits, after
// static destructors would have run.
Runtime& g_rt = *new Runtime;
std::atomic<bool> g_ready{false};
std::recursive_mutex& g_rt_mutex = *new std::recursive_mutex;

std::string error_text(cudaError_t err) {
  return std::to_string(static_cast<int>(err)) + ": " + cudaGetErrorName(err);
}

std::string version_text(int v) {
  if (v <= 0) return "";
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

// The reason CUDA cannot run on this machine, or "" when a device is there. Distinguishes no
// driver (35 with driver version 0), a driver older than the runtime (35 with a version, or 36),
// and no device (100), because each has a different fix.
std::string probe_reason(int* device_count) {
  *device_count = 0;
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  cudaError_t err = cudaGetDeviceCount(device_count);
  if (err == cudaSuccess && *device_count > 0) return "";
  cudaGetLastError();  // clear the sticky-free error so later calls start clean
  const std::string call = "cudaGetDeviceCount returned " + error_text(err);
  if (err == cudaSuccess) return "no CUDA device (cudaGetDeviceCount found 0 devices)";
  if (err == cudaErrorInsufficientDriver && driver == 0) return "no CUDA driver (" + call + ")";
  if (err == cudaErrorInsufficientDriver || err == cudaErrorCallRequiresNewerDriver) {
    return "CUDA driver too old: it supports CUDA " + version_text(driver) + ", this addon needs CUDA " +
           version_text(runtime) + " (" + call + ")";
  }
  if (err == cudaErrorNoDevice) return "no CUDA device (" + call + ")";
  return "CUDA cannot start (" + call + ")";
}

__global__ void probe_kernel(int* p) {
  if (p) *p = 1;
}


// The precision a device starts at: TF32 where tensor cores take it (as PyTorch's cuDNN default),
// else FP32; $CGTRAIN_CUDA_PRECISION (fp32, tf32, bf16) or $CGTRAIN_CUDA_TF32=0 (fp32) override
// it. A reduced precision the device cannot run falls back to FP32 with a warning.
int default_precision(bool tensor_cores) {
  int p = tensor_cores ? CGK_PRECISION_TF32 : CGK_PRECISION_FP32;
  const char* tf32_env = std::getenv("CGTRAIN_CUDA_TF32");
  if (tf32_env && std::strcmp(tf32_env, "0") == 0) p = CGK_PRECISION_FP32;
  if (const char* env = std::getenv("CGTRAIN_CUDA_PRECISION"); env && *env) {
    if (!std::strcmp(env, "fp32")) p = CGK_PRECISION_FP32;
    else if (!std::strcmp(env, "tf32")) p = CGK_PRECISION_TF32;
    else if (!std::strcmp(env, "bf16")) p = CGK_PRECISION_BF16;
    else std::fprintf(stderr, "cgtrain: CGTRAIN_CUDA_PRECISION=%s is not one of fp32, tf32, bf16; using %s\n", env, precision_name(p));
  }
  if (p != CGK_PRECISION_FP32 && !tensor_cores) {
    std::fprintf(stderr, "cgtrain: %s needs compute capability 8.0 or newer; using fp32\n", precision_name(p));
    p = CGK_PRECISION_FP32;
  }
  return p;
}

int init_locked(int ordinal) {
  if (g_rt.initialised && g_rt.status == CGK_OK && g_rt.device == ordinal) return CGK_OK;
  if (g_rt.initialised && g_rt.status == CGK_OK && g_rt.device != ordinal) {
    return fail(CGK_ERR_ARG, "cgk_init: the CUDA backend is already running on device " +
                                 std::to_string(g_rt.device) + "; one process uses one device");
  }
  g_rt.initialised = true;
  int count = 0;
  g_rt.reason = probe_reason(&count);
  if (!g_rt.reason.empty()) {
    g_rt.status = CGK_ERR_DEVICE;
    return fail(CGK_ERR_DEVICE, g_rt.reason);
  }
  if (ordinal < 0 || ordinal >= count) {
    g_rt.status = CGK_ERR_ARG;
    g_rt.reason = "device ordinal " + std::to_string(ordinal) + " does not exist (this machine has " +
                  std::to_string(count) + " CUDA device" + (count == 1 ? "" : "s") + ")";
    g_rt.initialised = false;  // a later cgk_init with a valid ordinal may still succeed
    return fail(CGK_ERR_ARG, g_rt.reason);
  }
  cudaError_t err = cudaSetDevice(ordinal);
  if (err == cudaSuccess) err = cudaGetDeviceProperties(&g_rt.props, ordinal);
  if (err != cudaSuccess) {
    g_rt.status = CGK_ERR_DEVICE;
    g_rt.reason = "cannot open CUDA device " + std::to_string(ordinal) + " (" + error_text(err) + ")";
    return fail(CGK_ERR_DEVICE, g_rt.reason);
  }
  if (g_rt.props.major * 10 + g_rt.props.minor < 75) {
    g_rt.status = CGK_ERR_UNSUPPORTED;
    g_rt.reason = std::string("CUDA device ") + g_rt.props.name + " has compute capability " +
                  std::to_string(g_rt.props.major) + "." + std::to_string(g_rt.props.minor) +
                  "; this addon needs 7.5 or newer";
    return fail(g_rt.status, g_rt.reason);
  }
  // A missing kernel image (an arch this build did not include and no PTX the driver can JIT)
  // shows up here rather than as a failure in the middle of training.
  cudaFuncAttributes attrs;
  err = cudaFuncGetAttributes(&attrs, reinterpret_cast<const void*>(probe_kernel));
  if (err != cudaSuccess) {
    cudaGetLastError();
    g_rt.status = CGK_ERR_UNSUPPORTED;
    g_rt.reason = std::string("this addon has no code for ") + g_rt.props.name + " (sm_" +
                  std::to_string(g_rt.props.major) + std::to_string(g_rt.props.minor) +
                  "; built for " CGK_CUDA_ARCHS "): rebuild with CGTRAIN_CUDA_ARCHS=" +
                  std::to_string(g_rt.props.major) + std::to_string(g_rt.props.minor) +
                  " npm run build:cuda (" + error_text(err) + ")";
    return fail(g_rt.status, g_rt.reason);
  }
  err = cudaStreamCreateWithFlags(&g_rt.stream, cudaStreamNonBlocking);
  if (err == cudaSuccess) err = cudaMalloc(&g_rt.partials, kPartials * sizeof(double));
  if (err != cudaSuccess) {
    g_rt.status = CGK_ERR_DEVICE;
    g_rt.reason = "cannot set up CUDA device " + std::to_string(ordinal) + " (" + error_text(err) + ")";
    return fail(CGK_ERR_DEVICE, g_rt.reason);
  }
  g_rt.precision = default_precision(g_rt.props.major >= 8);
  g_rt.device = ordinal;
  g_rt.status = CGK_OK;
  g_rt.reason.clear();
  g_ready.store(true, std::memory_order_release);
  return CGK_OK;
}

// ---- caching allocator ----------------------------------------------------------------------
//
// cudaMalloc/cudaFree synchronise the device and cost tens of microseconds, and a training step
// allocates the same sizes every iteration, so freed blocks go to a free list keyed by their
// rounded size and are handed out again. Rounding to 4 steps per power of two bounds the waste
// at 25% while letting nearby sizes share blocks. One stream orders every kernel, so a block
// freed by the host can be reused by work enqueued later without an event.

struct Allocator {
  std::mutex mutex;
  std::unordered_map<void*, size_t> live;                 // pointer -> rounded bytes
  std::unordered_map<size_t, std::vector<void*>> free_lists;  // rounded bytes -> cached blocks
  size_t in_use = 0, cached = 0, peak = 0;
};
Allocator& g_alloc = *new Allocator;  // never destroyed, as g_rt

size_t round_bytes(size_t bytes) {
  const size_t min_block = 512;
  if (bytes <= min_block) return min_block;
  size_t pow2 = min_block;
  while (pow2 * 2 < bytes) pow2 *= 2;  // pow2 < bytes <= 2*pow2
  const size_t step = pow2 / 4;
  return (bytes + step - 1) / step * step;
}

void release_cache_locked() {
  for (auto& entry : g_alloc.free_lists) {
    for (void* p : entry.second) cudaFree(p);
  }
  g_alloc.free_lists.clear();
  g_alloc.cached = 0;
}

std::string mib(size_t bytes) {
  char buf[32];
  if (bytes < (size_t(1) << 20)) std::snprintf(buf, sizeof buf, "%.1f KiB", bytes / 1024.0);
  else std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / (1024.0 * 1024.0));
  return buf;
}

// ---- pinned staging for uploads ---------------------------------------------------------------
//
// Host arrays from JavaScript are pageable; cudaMemcpyAsync from pageable memory is synchronous.
// Copying into a pinned buffer first lets the upload return at once and overlap the copy with the
// kernels already queued; an event per buffer says when it may be overwritten.

constexpr size_t kStageFloats = size_t(4) << 20;  // 16 MiB per buffer
struct Staging {
  float* host[2] = {nullptr, nullptr};
  cudaEvent_t done[2] = {nullptr, nullptr};
  int next = 0;
};
Staging g_stage;

// cgk_timer_mark's events: made as marks need them and kept for the next rounds.
struct Timer {
  std::mutex mutex;
  std::vector<cudaEvent_t> events;
  int count = 0;  // marks since the last cgk_timer_read
};
Timer g_timer;

int ensure_staging() {
  if (g_stage.host[0]) return CGK_OK;
  for (int i = 0; i < 2; ++i) {
    cudaError_t err = cudaMallocHost(&g_stage.host[i], kStageFloats * sizeof(float));
    if (err == cudaSuccess) err = cudaEventCreateWithFlags(&g_stage.done[i], cudaEventDisableTiming);
    if (err != cudaSuccess) return fail(CGK_ERR_DEVICE, "cgk_upload: cannot allocate pinned staging memory (" + error_text(err) + ")");
  }
  return CGK_OK;
}

}  // namespace

int fail(int status, const std::string& message) {
  t_last_error = message;
  return status;
}

int fail_arg(const char* fn, const std::string& what) { return fail(CGK_ERR_ARG, std::string(fn) + ": " + what); }

int ensure_ready(const char* fn) {
  if (g_ready.load(std::memory_order_acquire)) return CGK_OK;  // every kernel call passes here
  std::lock_guard<std::recursive_mutex> lock(g_rt_mutex);
  if (!g_rt.initialised) init_locked(g_rt.device);
  if (g_rt.status != CGK_OK) return fail(g_rt.status, std::string(fn) + ": CUDA is not available: " + g_rt.reason);
  return CGK_OK;
}

cudaStream_t stream() { return g_rt.stream; }
const cudaDeviceProp& device_props() { return g_rt.props; }
int precision() { return g_rt.precision; }
double* reduction_partials() { return g_rt.partials; }

int check_launch(const char* fn) {
  cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess) return CGK_OK;
  return fail(CGK_ERR_DEVICE, std::string(fn) + ": kernel launch failed (" + error_text(err) + ")");
}

const char* precision_name(int p) { return p == CGK_PRECISION_BF16 ? "bf16" : p == CGK_PRECISION_TF32 ? "tf32" : "fp32"; }

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

bool env_switch(const char* name, const char* on, const char* off, bool fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  if (!std::strcmp(v, on)) return true;
  if (!std::strcmp(v, off)) return false;
  std::fprintf(stderr, "cgtrain: %s=%s is not %s or %s; using %s\n", name, v, on, off, fallback ? on : off);
  return fallback;
}

float* scratch_alloc(size_t n_floats) { return cgk_alloc(n_floats); }
void scratch_free(float* p) { cgk_free(p); }

}  // namespace cgk_cuda

using namespace cgk_cuda;

extern "C" {

const char* cgk_last_error(void) { return t_last_error.c_str(); }
const char* cgk_backend_name(void) { return "cuda"; }

int cgk_init(int threads) {
  std::lock_guard<std::recursive_mutex> lock(g_rt_mutex);
  return init_locked(threads);
}

// CUDA has no thread pool; the parallelism a caller can reason about is the multiprocessors.
int cgk_num_threads(void) {
  if (ensure_ready("cgk_num_threads") != CGK_OK) return 0;
  return g_rt.props.multiProcessorCount;
}


const char* cgk_device_info(void) {
  static thread_local std::string json;
  std::lock_guard<std::recursive_mutex> lock(g_rt_mutex);
  if (!g_rt.initialised) init_locked(g_rt.device);
  int driver = 0, runtime = 0, count = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    count = 0;
    cudaGetLastError();
  }
  const bool available = g_rt.status == CGK_OK;
  json = "{\"backend\":\"cuda\",\"available\":";
  json += available ? "true" : "false";
  json += ",\"reason\":" + (available ? std::string("null") : json_string(g_rt.reason));
  if (driver > 0) json += ",\"driverVersion\":" + json_string(version_text(driver));
  json += ",\"runtimeVersion\":" + json_string(version_text(runtime));
  json += ",\"archs\":" + json_string(CGK_CUDA_ARCHS);
#ifdef CGK_CUDA_EMU
  json += ",\"emulated\":true";  // scripts/build-cuda-emu.js: kernels run on the CPU emulator
  json += ",\"launches\":" + std::to_string(::emu::launch_count()) + ",\"copies\":" + std::to_string(::emu::copy_count());
  if (::emu::skipping_kernels()) json += ",\"kernelsSkipped\":true";
#endif
  if (available) {
    json += ",\"device\":" + std::to_string(g_rt.device);
    json += std::string(",\"precision\":\"") + precision_name(g_rt.precision) + "\"";
    json += std::string(",\"convTuning\":") + (cgk_conv_tuning() ? "true" : "false");
  }
  json += ",\"devices\":[";
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
      cudaGetLastError();
      continue;
    }
    if (i) json += ",";
    json += "{\"name\":" + json_string(p.name) + ",\"totalMemory\":" + std::to_string(p.totalGlobalMem) +
            ",\"computeCapability\":\"" + std::to_string(p.major) + "." + std::to_string(p.minor) +
            "\",\"multiprocessors\":" + std::to_string(p.multiProcessorCount) + "}";
  }
  json += "]}";
  return json.c_str();
}

int cgk_simd_level(void) { return 0; }

int cgk_set_simd(int level) {
  if (level <= 0) return CGK_OK;
  return fail(CGK_ERR_UNSUPPORTED, "cgk_set_simd: the CUDA backend has no SIMD levels (level " +
                                       std::to_string(level) + "; expected -1 or 0)");
}

// The CUDA kernels are direct; the algorithm setting is kept so callers can read it back.
static int g_conv_algo = CGK_CONV_AUTO;

int cgk_set_conv_algo(int algo) {
  if (algo != CGK_CONV_DIRECT && algo != CGK_CONV_AUTO && algo != CGK_CONV_WINOGRAD) {
    return fail(CGK_ERR_ARG, "cgk_set_conv_algo: algo = " + std::to_string(algo) +
                                 ", expected 0 (direct), 1 (auto) or 2 (Winograd)");
  }
  g_conv_algo = algo;
  return CGK_OK;
}

int cgk_conv_algo(void) { return g_conv_algo; }

int cgk_set_precision(int p) {
  if (p != -1 && p != CGK_PRECISION_FP32 && p != CGK_PRECISION_TF32 && p != CGK_PRECISION_BF16)
    return fail(CGK_ERR_ARG, "cgk_set_precision: precision = " + std::to_string(p) +
                                 ", expected -1 (default), 0 (fp32), 1 (tf32) or 2 (bf16)");
  if (int st = ensure_ready("cgk_set_precision")) return st;
  if (p == -1) p = default_precision(g_rt.props.major >= 8);
  if (p != CGK_PRECISION_FP32 && g_rt.props.major < 8) {
    return fail(CGK_ERR_UNSUPPORTED, std::string("cgk_set_precision: ") + precision_name(p) + " needs tensor cores of compute capability 8.0 or newer; " +
                                         g_rt.props.name + " has " + std::to_string(g_rt.props.major) + "." +
                                         std::to_string(g_rt.props.minor) + " (use fp32)");
  }
  g_rt.precision = p;
  return CGK_OK;
}

int cgk_precision(void) { return ensure_ready("cgk_precision") == CGK_OK ? g_rt.precision : CGK_PRECISION_FP32; }

// Eight independent FMA chains per thread keep the pipelines full (FMA latency is 4 cycles, and
// a multiprocessor issues for several warps); the result is written only when impossible so the
// compiler cannot drop the work.
__global__ void fma_chain_kernel(float seed, int iterations, float* sink) {
  float a0 = seed + threadIdx.x, a1 = a0 + 1, a2 = a0 + 2, a3 = a0 + 3;
  float a4 = a0 + 4, a5 = a0 + 5, a6 = a0 + 6, a7 = a0 + 7;
  const float m = 0.999999f, c = 1e-7f;
  for (int i = 0; i < iterations; ++i) {
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      a0 = fmaf(a0, m, c); a1 = fmaf(a1, m, c); a2 = fmaf(a2, m, c); a3 = fmaf(a3, m, c);
      a4 = fmaf(a4, m, c); a5 = fmaf(a5, m, c); a6 = fmaf(a6, m, c); a7 = fmaf(a7, m, c);
    }
  }
  const float total = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
  if (total == -1.2345f) *sink = total;
}

int cgk_peak_gflops(double seconds, double* out) {
  CGK_READY("cgk_peak_gflops");
  CGK_REQUIRE(out != nullptr, "cgk_peak_gflops", "out must not be NULL");
  CGK_REQUIRE(seconds > 0 && seconds <= 60, "cgk_peak_gflops", "seconds must be in (0, 60]");
  const int threads = 256, blocks = g_rt.props.multiProcessorCount * 8;
  int iterations = 256;
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  fma_chain_kernel<<<blocks, threads, 0, g_rt.stream>>>(1.0f, 16, reinterpret_cast<float*>(g_rt.partials));  // warm-up
  double best = 0, spent = 0;
  while (spent < seconds) {
    cudaEventRecord(start, g_rt.stream);
    fma_chain_kernel<<<blocks, threads, 0, g_rt.stream>>>(1.0f, iterations, reinterpret_cast<float*>(g_rt.partials));
    cudaEventRecord(stop, g_rt.stream);
    cudaError_t err = cudaEventSynchronize(stop);
    if (err != cudaSuccess) {
      cudaEventDestroy(start);
      cudaEventDestroy(stop);
      return fail(CGK_ERR_DEVICE, "cgk_peak_gflops: " + error_text(err));
    }
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    spent += ms / 1000.0;
    const double flops = 2.0 * 8 * 16 * double(iterations) * threads * blocks;
    if (ms > 0) best = std::max(best, flops / (ms * 1e6));
    if (ms < 50 && iterations < (1 << 24)) iterations *= 2;  // grow until one launch is long
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  *out = best;
  return check_launch("cgk_peak_gflops");
}

float* cgk_alloc(size_t n_floats) {
  if (ensure_ready("cgk_alloc") != CGK_OK) return nullptr;
  if (n_floats > (SIZE_MAX / 8) / sizeof(float)) {
    fail(CGK_ERR_ARG, "cgk_alloc: n_floats " + std::to_string(n_floats) + " is too large");
    return nullptr;
  }
  const size_t bytes = round_bytes(n_floats * sizeof(float));
  std::lock_guard<std::mutex> lock(g_alloc.mutex);
  void* p = nullptr;
  auto it = g_alloc.free_lists.find(bytes);
  if (it != g_alloc.free_lists.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    g_alloc.cached -= bytes;
  } else {
    cudaError_t err = cudaMalloc(&p, bytes);
    if (err != cudaSuccess) {
      cudaGetLastError();
      const size_t cached_before = g_alloc.cached;
      release_cache_locked();
      err = cudaMalloc(&p, bytes);
      if (err != cudaSuccess) {
        cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        fail(CGK_ERR_OOM, "CUDA out of memory allocating " + mib(bytes) + " (in use " + mib(g_alloc.in_use) +
                              ", cached " + mib(cached_before) + ", device free " + mib(free_b) + " of " +
                              mib(total_b) + ")");
        return nullptr;
      }
    }
  }
  g_alloc.live[p] = bytes;
  g_alloc.in_use += bytes;
  g_alloc.peak = std::max(g_alloc.peak, g_alloc.in_use);
  return static_cast<float*>(p);
}

void cgk_free(float* p) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(g_alloc.mutex);
  auto it = g_alloc.live.find(p);
  if (it == g_alloc.live.end()) {
    fail(CGK_ERR_ARG, "cgk_free: pointer was not allocated by cgk_alloc (or was freed already)");
    return;
  }
  const size_t bytes = it->second;
  g_alloc.live.erase(it);
  g_alloc.in_use -= bytes;
  g_alloc.free_lists[bytes].push_back(p);
  g_alloc.cached += bytes;
}

int cgk_upload(float* dst, const float* host_src, size_t n) {
  CGK_READY("cgk_upload");
  CGK_REQUIRE(dst && host_src, "cgk_upload", "dst and host_src must not be NULL");
  if (n == 0) return CGK_OK;
  int st = ensure_staging();
  if (st != CGK_OK) return st;
  for (size_t done = 0; done < n;) {
    const size_t chunk = std::min(kStageFloats, n - done);
    const int b = g_stage.next;
    g_stage.next ^= 1;
    cudaError_t err = cudaEventSynchronize(g_stage.done[b]);  // the previous copy out of this buffer
    if (err == cudaSuccess) {
      std::memcpy(g_stage.host[b], host_src + done, chunk * sizeof(float));
      err = cudaMemcpyAsync(dst + done, g_stage.host[b], chunk * sizeof(float), cudaMemcpyHostToDevice, g_rt.stream);
    }
    if (err == cudaSuccess) err = cudaEventRecord(g_stage.done[b], g_rt.stream);
    if (err != cudaSuccess) return fail(CGK_ERR_DEVICE, "cgk_upload: " + error_text(err));
    done += chunk;
  }
  return CGK_OK;
}

int cgk_download(float* host_dst, const float* src, size_t n) {
  CGK_READY("cgk_download");
  CGK_REQUIRE(host_dst && src, "cgk_download", "host_dst and src must not be NULL");
  if (n == 0) return CGK_OK;
  cudaError_t err = cudaMemcpyAsync(host_dst, src, n * sizeof(float), cudaMemcpyDeviceToHost, g_rt.stream);
  if (err == cudaSuccess) err = cudaStreamSynchronize(g_rt.stream);
  if (err != cudaSuccess) return fail(CGK_ERR_DEVICE, "cgk_download: " + error_text(err));
  return CGK_OK;
}

int cgk_sync(void) {
  CGK_READY("cgk_sync");
  cudaError_t err = cudaStreamSynchronize(g_rt.stream);
  if (err != cudaSuccess) return fail(CGK_ERR_DEVICE, "cgk_sync: a kernel failed (" + error_text(err) + ")");
  return CGK_OK;
}

int cgk_timer_mark(int* index) {
  CGK_READY("cgk_timer_mark");
  CGK_REQUIRE(index != nullptr, "cgk_timer_mark", "index must not be NULL");
  std::lock_guard<std::mutex> lock(g_timer.mutex);
  if (g_timer.count >= CGK_TIMER_MARKS)
    return fail_arg("cgk_timer_mark", std::to_string(CGK_TIMER_MARKS) + " marks since the last cgk_timer_read, the most there can be");
  if ((size_t)g_timer.count == g_timer.events.size()) {  // events are made once and kept
    cudaEvent_t e = nullptr;
    if (cudaError_t err = cudaEventCreate(&e)) return fail(CGK_ERR_DEVICE, "cgk_timer_mark: " + error_text(err));
    g_timer.events.push_back(e);
  }
  if (cudaError_t err = cudaEventRecord(g_timer.events[g_timer.count], g_rt.stream))
    return fail(CGK_ERR_DEVICE, "cgk_timer_mark: " + error_text(err));
  *index = g_timer.count++;
  return CGK_OK;
}

int cgk_timer_read(double* ms, int capacity, int* count) {
  CGK_READY("cgk_timer_read");
  CGK_REQUIRE(count != nullptr && capacity >= 0 && (capacity == 0 || ms != nullptr), "cgk_timer_read",
              "count must not be NULL, capacity >= 0, and ms not NULL when capacity > 0");
  std::lock_guard<std::mutex> lock(g_timer.mutex);
  const int n = g_timer.count;
  g_timer.count = 0;
  *count = n;
  if (n == 0) return CGK_OK;
  if (cudaError_t err = cudaEventSynchronize(g_timer.events[n - 1]))
    return fail(CGK_ERR_DEVICE, "cgk_timer_read: a kernel failed (" + error_text(err) + ")");
  for (int i = 0; i < n && i < capacity; ++i) {
    float t = 0.f;
    if (cudaError_t err = cudaEventElapsedTime(&t, g_timer.events[0], g_timer.events[i]))
      return fail(CGK_ERR_DEVICE, "cgk_timer_read: " + error_text(err));
    ms[i] = t;
  }
  return CGK_OK;
}

int cgk_memory_stats(size_t* in_use, size_t* cached, size_t* peak) {
  std::lock_guard<std::mutex> lock(g_alloc.mutex);
  if (in_use) *in_use = g_alloc.in_use;
  if (cached) *cached = g_alloc.cached;
  if (peak) *peak = g_alloc.peak;
  return CGK_OK;
}

int cgk_empty_cache(void) {
  std::lock_guard<std::mutex> lock(g_alloc.mutex);
  if (g_rt.status == CGK_OK && g_rt.initialised) release_cache_locked();
  return CGK_OK;
}

}  // extern "C"
