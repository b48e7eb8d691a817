// Caching allocator of the CPU backend. Sizes are rounded up to a bucket (4 buckets per power
// of two, so at most 25% waste), freed blocks go to that bucket's free list, and after the first
// training step every allocation is a pop from a list: no malloc on the hot path. Each block
// carries a 64-byte header holding its bucket size, so free() needs no lookup table (and so
// allocates nothing itself); the data after the header stays 64-byte aligned.
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "runtime.h"

namespace {

constexpr size_t kAlign = 64;
constexpr size_t kHeader = 64;
constexpr size_t kMinBlock = 256;  // bytes of data; tiny tensors share one bucket

struct BlockHeader {
  size_t bucket_bytes;
  size_t magic;
};
constexpr size_t kMagicLive = 0x6367746b4c495645ull;  // "cgtkLIVE"
constexpr size_t kMagicFree = 0x6367746b46524545ull;  // "cgtkFREE"

size_t bucket_size(size_t bytes) {
  if (bytes <= kMinBlock) return kMinBlock;
  int top = 63 - __builtin_clzll(bytes - 1);  // 2^top < bytes <= 2^(top+1)
  size_t quarter = size_t(1) << (top - 2);     // 4 buckets per power of two
  return (bytes + quarter - 1) / quarter * quarter;
}

struct Allocator {
  std::mutex mu;
  std::map<size_t, std::vector<BlockHeader*>> free_lists;  // bucket bytes -> cached blocks
  size_t in_use = 0, cached = 0, peak = 0;

  void release_cached() {
    for (auto& entry : free_lists) {
      for (BlockHeader* block : entry.second) free(block);
    }
    free_lists.clear();
    cached = 0;
  }
};

Allocator& allocator() {
  static Allocator* instance = new Allocator();  // leaked: outlives addon finalizers at exit
  return *instance;
}

BlockHeader* header_of(float* p) {
  return reinterpret_cast<BlockHeader*>(reinterpret_cast<char*>(p) - kHeader);
}

float* data_of(BlockHeader* block) {
  return reinterpret_cast<float*>(reinterpret_cast<char*>(block) + kHeader);
}

}  // namespace

extern "C" {

float* cgk_alloc(size_t n_floats) {
  if (n_floats > (SIZE_MAX - kHeader - kAlign) / sizeof(float) / 2) {
    cgk_set_error_code(CGK_ERR_OOM, "cgk_alloc: %zu floats is more than can be addressed", n_floats);
    return nullptr;
  }
  size_t bucket = bucket_size(n_floats * sizeof(float));
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  BlockHeader* block = nullptr;
  auto it = a.free_lists.find(bucket);
  if (it != a.free_lists.end() && !it->second.empty()) {
    block = it->second.back();
    it->second.pop_back();
    a.cached -= bucket;
  } else {
    block = static_cast<BlockHeader*>(aligned_alloc(kAlign, kHeader + bucket));
    if (!block && a.cached > 0) {  // give the cache back to the system and retry once
      a.release_cached();
      block = static_cast<BlockHeader*>(aligned_alloc(kAlign, kHeader + bucket));
    }
    if (!block) {
      cgk_set_error_code(CGK_ERR_OOM, "cgk_alloc: out of memory allocating %zu floats (%zu bytes)", n_floats, bucket);
      return nullptr;
    }
    block->bucket_bytes = bucket;
  }
  block->magic = kMagicLive;
  a.in_use += bucket;
  if (a.in_use > a.peak) a.peak = a.in_use;
  return data_of(block);
}

void cgk_free(float* p) {
  if (!p) return;
  BlockHeader* block = header_of(p);
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  if (block->magic != kMagicLive) return;  // double free or foreign pointer: ignore rather than corrupt
  block->magic = kMagicFree;
  a.in_use -= block->bucket_bytes;
  a.cached += block->bucket_bytes;
  a.free_lists[block->bucket_bytes].push_back(block);
}

int cgk_upload(float* dst, const float* host_src, size_t n) {
  CGK_CHECK(n == 0 || (dst && host_src), "cgk_upload: NULL pointer with n = %zu", n);
  if (n) memcpy(dst, host_src, n * sizeof(float));
  return CGK_OK;
}

int cgk_download(float* host_dst, const float* src, size_t n) {
  CGK_CHECK(n == 0 || (host_dst && src), "cgk_download: NULL pointer with n = %zu", n);
  if (n) memcpy(host_dst, src, n * sizeof(float));
  return CGK_OK;
}

int cgk_memory_stats(size_t* in_use, size_t* cached, size_t* peak) {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  if (in_use) *in_use = a.in_use;
  if (cached) *cached = a.cached;
  if (peak) *peak = a.peak;
  return CGK_OK;
}

int cgk_empty_cache(void) {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  a.release_cached();
  return CGK_OK;
}

}  // extern "C"
