// The CUDA runtime API calls the backend makes (cuda/runtime.cu and the kernels' hosts), for the
// emulated addon of scripts/build-cuda-emu.js: device memory is host memory, every launch has
// already finished when it returns (so streams and events are trivial), and the one device is
// described as an sm_90 part with 4 multiprocessors (few enough that split-K paths run on
// small test shapes). $CGTRAIN_EMU_DEVICE_MB (default 8192) sets its memory, so out-of-memory
// handling can be tested.
#include <atomic>
#include <chrono>
#include <map>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "cuda_emu.h"

struct CUstream_st {
  int unused;
};
struct CUevent_st {
  double seconds;
};

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

CUstream_st g_stream;

size_t device_bytes() {
  static const size_t bytes = [] {
    const char* mb = std::getenv("CGTRAIN_EMU_DEVICE_MB");
    const long v = mb ? std::atol(mb) : 0;
    return size_t(v > 0 ? v : 8192) << 20;
  }();
  return bytes;
}

std::mutex g_mem_mutex;
// base -> rounded bytes, ordered so a read's block is found by address
std::map<const unsigned char*, size_t>& g_device_blocks = *new std::map<const unsigned char*, size_t>;
size_t g_device_used = 0;
std::atomic<unsigned long> g_frees{0};  // each cudaFree invalidates the readers' cached blocks

// emu::check_global_read's test: [p, p + bytes) inside one live cudaMalloc block. Kernels read
// the same few tensors over and over, so each thread keeps the last blocks it found.
bool inside_device_block(const void* p, size_t bytes) {
  struct Cached {
    const unsigned char *lo = nullptr, *hi = nullptr;
  };
  thread_local Cached cache[4];
  thread_local unsigned long cache_frees = 0;
  thread_local int next = 0;
  const auto* q = static_cast<const unsigned char*>(p);
  const unsigned long frees = g_frees.load(std::memory_order_relaxed);
  if (cache_frees != frees) {
    for (Cached& c : cache) c = Cached{};
    cache_frees = frees;
  }
  for (const Cached& c : cache)
    if (q >= c.lo && q + bytes <= c.hi) return true;
  std::lock_guard<std::mutex> lock(g_mem_mutex);
  auto it = g_device_blocks.upper_bound(q);
  if (it == g_device_blocks.begin()) return false;
  --it;
  if (q + bytes > it->first + it->second) return false;
  cache[next] = Cached{it->first, it->first + it->second};
  next = (next + 1) % 4;
  return true;
}

const bool g_read_check_installed = (emu::set_global_read_check(inside_device_block), true);

}  // namespace



cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* v) {
  *v = 13000;
  return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int* v) {
  *v = 13000;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : cudaErrorInvalidDevice; }
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (device != 0) return cudaErrorInvalidDevice;
  std::memset(p, 0, sizeof *p);
  std::strncpy(p->name, "cgtrain CUDA emulator (CPU)", sizeof p->name - 1);
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = 4;
  p->totalGlobalMem = device_bytes();
  p->sharedMemPerBlock = 48 * 1024;
  p->sharedMemPerBlockOptin = 227 * 1024;
  p->sharedMemPerMultiprocessor = 228 * 1024;
  p->maxThreadsPerBlock = 1024;
  p->warpSize = 32;
  p->regsPerBlock = 65536;
  return cudaSuccess;
}
cudaError_t cudaGetLastError(void) { return cudaSuccess; }
const char* cudaGetErrorName(cudaError_t e) { return e == cudaSuccess ? "cudaSuccess" : "cudaErrorEmulated"; }
const char* cudaGetErrorString(cudaError_t e) { return e == cudaSuccess ? "no error" : "emulated error"; }
cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attr, const void*) {
  std::memset(attr, 0, sizeof *attr);
  attr->maxThreadsPerBlock = 1024;
  return cudaSuccess;
}
cudaError_t cudaFuncSetAttribute(const void* kernel, cudaFuncAttribute attr, int value) {
  if (value < 0 || value > 227 * 1024) return cudaErrorInvalidValue;
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) emu::set_smem_opt_in(kernel, value);
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int) {
  *s = &g_stream;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaMalloc(void** p, size_t bytes) {
  std::lock_guard<std::mutex> lock(g_mem_mutex);
  const size_t rounded = (bytes + 255) / 256 * 256;
  *p = nullptr;
  if (rounded > device_bytes() - g_device_used) return cudaErrorMemoryAllocation;
  *p = std::aligned_alloc(256, rounded ? rounded : 256);
  if (!*p) return cudaErrorMemoryAllocation;
  g_device_blocks[static_cast<const unsigned char*>(*p)] = rounded;
  g_device_used += rounded;
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  std::lock_guard<std::mutex> lock(g_mem_mutex);
  auto it = g_device_blocks.find(static_cast<const unsigned char*>(p));
  if (it != g_device_blocks.end()) {
    g_device_used -= it->second;
    g_device_blocks.erase(it);
    g_frees.fetch_add(1, std::memory_order_relaxed);
  }
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMallocHost(void** p, size_t bytes) {
  *p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
cudaError_t cudaFreeHost(void* p) {
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
  std::lock_guard<std::mutex> lock(g_mem_mutex);
  *free_bytes = device_bytes() - g_device_used;
  *total = device_bytes();
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, cudaMemcpyKind, cudaStream_t) {
  emu::count_copy();
  if (!emu::skipping_kernels()) std::memmove(dst, src, count);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int value, size_t count, cudaStream_t) {
  emu::count_copy();
  if (!emu::skipping_kernels()) std::memset(p, value, count);
  return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t* e) {
  *e = new CUevent_st{0};
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int) { return cudaEventCreate(e); }
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
  e->seconds = now_seconds();
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  *ms = (float)((b->seconds - a->seconds) * 1000.0);
  return cudaSuccess;
}


cudaError_t cudaHostAlloc(void** p, size_t bytes, unsigned int) { return cudaMallocHost(p, bytes); }
