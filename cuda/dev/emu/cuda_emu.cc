// The fiber scheduler behind cuda_emu.h (see there for what is emulated and how).
#include "cuda_emu.h"

#include <ucontext.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

namespace emu {

uint3 thread_idx, block_idx;
dim3 block_dim, grid_dim;

namespace {

constexpr size_t kStackBytes = 256 * 1024;

// ---- fiber contexts ----------------------------------------------------------------------------
// On x86-64 a switch saves the callee-saved registers, MXCSR and the x87 control word on the old
// stack and loads them from the new one: about 20 ns, against a microsecond for swapcontext,
// which also saves the signal mask with a system call. Elsewhere: ucontext.
#if defined(__x86_64__)
extern "C" void cgk_emu_switch(void** save_sp, void* load_sp);
asm(R"(
  .text
  .p2align 4
  .type cgk_emu_switch, @function
cgk_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size cgk_emu_switch, .-cgk_emu_switch
)");

struct Context {
  void* sp = nullptr;
};
inline void switch_context(Context& from, Context& to) { cgk_emu_switch(&from.sp, to.sp); }
// A fresh stack whose first switch "returns" into entry(), as if entry had been called.
inline void make_context(Context& c, std::vector<char>& stack, void (*entry)()) {
  uintptr_t top = reinterpret_cast<uintptr_t>(stack.data() + stack.size()) & ~uintptr_t(15);
  top -= 8;  // entry sees rsp = 8 (mod 16), as after a call
  auto* sp = reinterpret_cast<uint64_t*>(top);
  *--sp = reinterpret_cast<uint64_t>(entry);  // ret target
  for (int i = 0; i < 6; ++i) *--sp = 0;      // rbp rbx r12 r13 r14 r15
  *--sp = (uint64_t)0x1F80 | ((uint64_t)0x037F << 32);  // MXCSR, x87 control word
  c.sp = sp;
}
#else
struct Context {
  ucontext_t uc;
};
inline void switch_context(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
inline void make_context(Context& c, std::vector<char>& stack, void (*entry)()) {
  getcontext(&c.uc);
  c.uc.uc_stack.ss_sp = stack.data();
  c.uc.uc_stack.ss_size = stack.size();
  c.uc.uc_link = nullptr;
  makecontext(&c.uc, entry, 0);
}
#endif

struct Copy {
  void* dst;
  const void* src;
  int bytes, src_bytes;
};

struct Fiber {
  Context ctx;
  std::vector<char> stack;
  uint3 tid;
  bool done = false;
  std::vector<Copy> open;               // issued, not yet committed
  std::deque<std::vector<Copy>> groups;  // committed, not yet retired
  unsigned long shuffles = 0;            // shuffles done: picks the buffer of the next one
  unsigned long stores = 0;              // cp.async issued: the n-th of each lane is one warp store
};

struct WarpSlot {
  const uint32_t* a;
  const uint32_t* b;
  float* d;
};

struct Warp {
  WarpSlot slot[32];
  int arrived = 0, lanes = 0;
  unsigned long generation = 0;
  uint64_t shfl_values[2][32];
  int shfl_arrived = 0;
  unsigned long shfl_generation = 0;
};

Context g_scheduler;
std::vector<Fiber> g_fibers;
std::vector<Warp> g_warps;
int g_current = 0;
int g_block_arrived = 0;
unsigned long g_block_generation = 0;
unsigned long g_progress = 0;  // bumped whenever some fiber gets further
std::vector<unsigned char> g_smem;
const std::function<void()>* g_body = nullptr;
bool g_waited = false;  // some thread of this launch waited for others (barrier, mma, shuffle)
bool g_direct = false;  // threads run as plain calls: waiting is impossible

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "cuda emulator: %s (block %u,%u,%u thread %u,%u,%u)\n", what, block_idx.x, block_idx.y,
               block_idx.z, thread_idx.x, thread_idx.y, thread_idx.z);
  // Exit status 3 without running destructors: this may run on a fiber's stack, where exit()'s
  // cleanup crashes (status 139 instead of 3).
  std::fflush(nullptr);
  std::_Exit(3);
}

void yield() { switch_context(g_fibers[g_current].ctx, g_scheduler); }

// Every collective starts here.
void collective(const char* what) {
  if (g_direct) {
    static char msg[160];
    std::snprintf(msg, sizeof msg, "%s in a later block of a kernel whose block 0 never waited: the emulator ran this "
                  "launch's threads as plain calls", what);
    die(msg);
  }
  g_waited = true;
}

void fiber_main() {
  (*g_body)();
  Fiber& f = g_fibers[g_current];
  if (!f.open.empty() || !f.groups.empty()) {
    // Legal in CUDA only if the data is never read; the emulator drops them, as a kernel that
    // exits without waiting cannot rely on them.
    f.open.clear();
    f.groups.clear();
  }
  f.done = true;
  ++g_progress;
  switch_context(f.ctx, g_scheduler);
  die("a finished fiber was resumed");
}

int linear_tid() { return g_current; }

float tf32_truncate(uint32_t bits) { return __uint_as_float(bits & 0xffffe000u); }

}  // namespace

void syncthreads() {
  collective("__syncthreads");
  const unsigned long gen = g_block_generation;
  ++g_progress;
  if (++g_block_arrived == (int)g_fibers.size()) {
    g_block_arrived = 0;
    ++g_block_generation;
    return;
  }
  while (g_block_generation == gen) yield();
}

void* dynamic_smem() { return g_smem.data(); }

namespace {

float bf16_value(uint32_t bits16) { return __uint_as_float(bits16 << 16); }

// One warp-collective mma.sync m16n8kK: every lane parks its fragments; the last to arrive
// unpacks the warp's A (16xK) and B (Kx8) with `unpack(lane, slot, A, B)`, computes D = A B + C
// in double (the tensor cores' products of these operands are exact; the sum is rounded once)
// and hands every lane its four results.
template <int K, class Unpack>
void warp_mma(const char* what, float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], Unpack unpack) {
  collective(what);
  const int tid = linear_tid(), lane = tid % 32;
  Warp& w = g_warps[tid / 32];
  const unsigned long gen = w.generation;
  w.slot[lane] = {a, b, d};
  ++g_progress;
  if (++w.arrived < w.lanes) {
    while (w.generation == gen) yield();
    return;
  }
  if (w.lanes != 32) die("mma.sync needs all 32 lanes of the warp");
  float A[16][K], B[K][8], C[16][8];
  for (int l = 0; l < 32; ++l) {
    const int g = l / 4, t = l % 4;
    const WarpSlot& s = w.slot[l];
    unpack(g, t, s, A, B);
    C[g][2 * t] = s.d[0];
    C[g][2 * t + 1] = s.d[1];
    C[g + 8][2 * t] = s.d[2];
    C[g + 8][2 * t + 1] = s.d[3];
  }
  for (int l = 0; l < 32; ++l) {
    const int g = l / 4, t = l % 4;
    auto dot = [&](int r, int c) {
      double acc = C[r][c];
      for (int k = 0; k < K; ++k) acc += (double)A[r][k] * B[k][c];
      return (float)acc;
    };
    float* out = w.slot[l].d;
    out[0] = dot(g, 2 * t);
    out[1] = dot(g, 2 * t + 1);
    out[2] = dot(g + 8, 2 * t);
    out[3] = dot(g + 8, 2 * t + 1);
  }
  w.arrived = 0;
  ++w.generation;
}

}  // namespace

void mma_m16n8k8_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  // PTX ISA, mma.m16n8k8 .tf32: g = lane / 4, t = lane % 4.
  warp_mma<8>("mma.sync", d, a, b, [](int g, int t, const WarpSlot& s, float (&A)[16][8], float (&B)[8][8]) {
    A[g][t] = tf32_truncate(s.a[0]);
    A[g + 8][t] = tf32_truncate(s.a[1]);
    A[g][t + 4] = tf32_truncate(s.a[2]);
    A[g + 8][t + 4] = tf32_truncate(s.a[3]);
    B[t][g] = tf32_truncate(s.b[0]);
    B[t + 4][g] = tf32_truncate(s.b[1]);
  });
}

void mma_m16n8k16_bf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  // PTX ISA, mma.m16n8k16 .bf16: two k per register, the lower k in bits 0-15.
  warp_mma<16>("mma.sync", d, a, b, [](int g, int t, const WarpSlot& s, float (&A)[16][16], float (&B)[16][8]) {
    for (int h = 0; h < 2; ++h) {
      const int k = 2 * t + h, shift = 16 * h;
      A[g][k] = bf16_value((s.a[0] >> shift) & 0xffffu);
      A[g + 8][k] = bf16_value((s.a[1] >> shift) & 0xffffu);
      A[g][k + 8] = bf16_value((s.a[2] >> shift) & 0xffffu);
      A[g + 8][k + 8] = bf16_value((s.a[3] >> shift) & 0xffffu);
      B[k][g] = bf16_value((s.b[0] >> shift) & 0xffffu);
      B[k + 8][g] = bf16_value((s.b[1] >> shift) & 0xffffu);
    }
  });
}

int lane_id() { return linear_tid() % 32; }

void fatal(const char* what) { die(what); }

// ---- warpgroup MMA ----------------------------------------------------------------------------

namespace {

struct WgmmaOp {
  uint64_t da, db;
  float* d[128];
};

// One warpgroup's state: four consecutive warps (threads 128 w .. 128 w + 127) issue, commit
// and wait for their MMAs on their own.
struct Warpgroup {
  std::vector<WgmmaOp> open;                // issued since the last commit
  std::deque<std::vector<WgmmaOp>> groups;  // committed, not yet retired
  float* slot[128];
  uint64_t desc[128][2];
  int arrived = 0;
  unsigned long generation = 0;
};
std::vector<Warpgroup> g_wgs;

// Every thread of the caller's warpgroup arrives; the last runs `last(wg)`, the others wait.
template <class Last>
void warpgroup_collective(const char* what, Last last) {
  collective(what);
  if (g_fibers.size() % 128 != 0) die("wgmma needs blocks of whole warpgroups (a multiple of 128 threads)");
  Warpgroup& wg = g_wgs[linear_tid() / 128];
  const unsigned long gen = wg.generation;
  ++g_progress;
  if (++wg.arrived < 128) {
    while (wg.generation == gen) yield();
    return;
  }
  last(wg);
  wg.arrived = 0;
  ++wg.generation;
}

// Element (row, k) of a K-major, no-swizzle operand: 8-row x 16-byte core matrices.
float operand_at(uint64_t desc, int row, int k) {
  if ((desc >> 62) != 0) die("wgmma: the emulator reads only descriptors without swizzle");
  const size_t start = (desc & 0x3FFF) << 4, lbo = ((desc >> 16) & 0x3FFF) << 4, sbo = ((desc >> 32) & 0x3FFF) << 4;
  const size_t byte = start + (row / 8) * sbo + (k / 4) * lbo + (row % 8) * 16 + (k % 4) * 4;
  if (byte + 4 > g_smem.size()) die("wgmma: an operand reaches past dynamic shared memory");
  uint32_t bits;
  std::memcpy(&bits, g_smem.data() + byte, 4);
  return tf32_truncate(bits);
}

// The bytes an operand of `rows` x 8 reads: from its start to the end of its last core matrix.
std::pair<size_t, size_t> operand_bytes(uint64_t desc, int rows) {
  const size_t start = (desc & 0x3FFF) << 4, lbo = ((desc >> 16) & 0x3FFF) << 4, sbo = ((desc >> 32) & 0x3FFF) << 4;
  return {start, start + (rows / 8 - 1) * sbo + lbo + 128};
}

// On a GPU a cp.async may land at any time before its wait: one still pending into the bytes an
// MMA reads means the kernel refilled a stage before the MMA reading it completed.
void check_no_refill(uint64_t desc, int rows) {
  const auto [lo, hi] = operand_bytes(desc, rows);
  const unsigned char* base = g_smem.data();
  auto hits = [&](const Copy& c) {
    const size_t at = static_cast<const unsigned char*>(c.dst) - base;
    return at < hi && at + c.bytes > lo;
  };
  for (const Fiber& f : g_fibers) {
    for (const Copy& c : f.open)
      if (hits(c)) die("wgmma: a cp.async into the shared memory an unfinished wgmma reads (wait for the wgmma before refilling its stage)");
    for (const auto& group : f.groups)
      for (const Copy& c : group)
        if (hits(c)) die("wgmma: a cp.async into the shared memory an unfinished wgmma reads (wait for the wgmma before refilling its stage)");
  }
}

void run_wgmma(const WgmmaOp& op) {
  check_no_refill(op.da, 64);
  check_no_refill(op.db, 128);
  float A[64][8], B[128][8];
  for (int m = 0; m < 64; ++m)
    for (int k = 0; k < 8; ++k) A[m][k] = operand_at(op.da, m, k);
  for (int n = 0; n < 128; ++n)
    for (int k = 0; k < 8; ++k) B[n][k] = operand_at(op.db, n, k);
  for (int t = 0; t < 128; ++t) {
    const int w = t / 32, l = t % 32;  // warp and lane within the warpgroup
    for (int r = 0; r < 64; ++r) {
      const int m = 16 * w + l / 4 + 8 * ((r / 2) % 2), n = 2 * (l % 4) + r % 2 + 8 * (r / 4);
      double acc = op.d[t][r];
      for (int k = 0; k < 8; ++k) acc += (double)A[m][k] * B[n][k];
      op.d[t][r] = (float)acc;
    }
  }
}

}  // namespace

uint64_t smem_offset(const void* p) {
  const auto* q = static_cast<const unsigned char*>(p);
  if (q < g_smem.data() || q >= g_smem.data() + g_smem.size()) die("wgmma: a descriptor points outside dynamic shared memory");
  if ((q - g_smem.data()) % 16 != 0) die("wgmma: a descriptor address is not a multiple of 16 bytes");
  return (uint64_t)(q - g_smem.data());
}

void wgmma_fence() { warpgroup_collective("wgmma.fence", [](Warpgroup&) {}); }

void wgmma_m64n128k8_tf32(float (&d)[64], uint64_t da, uint64_t db) {
  const int t = linear_tid() % 128;
  Warpgroup& mine = g_wgs[linear_tid() / 128];
  mine.slot[t] = d;
  mine.desc[t][0] = da;
  mine.desc[t][1] = db;
  warpgroup_collective("wgmma.mma_async", [](Warpgroup& wg) {
    WgmmaOp op;
    op.da = wg.desc[0][0];
    op.db = wg.desc[0][1];
    for (int i = 0; i < 128; ++i) {
      if (wg.desc[i][0] != op.da || wg.desc[i][1] != op.db) die("wgmma: the threads of a warpgroup passed different descriptors");
      op.d[i] = wg.slot[i];
    }
    wg.open.push_back(op);
  });
}

void wgmma_commit() {
  warpgroup_collective("wgmma.commit_group", [](Warpgroup& wg) {
    wg.groups.push_back(std::move(wg.open));
    wg.open.clear();
  });
}

void wgmma_wait(int pending) {
  warpgroup_collective("wgmma.wait_group", [pending](Warpgroup& wg) {
    while ((int)wg.groups.size() > pending) {
      for (const WgmmaOp& op : wg.groups.front()) run_wgmma(op);
      wg.groups.pop_front();
    }
  });
}

void wgmma_block_end() {
  for (const Warpgroup& wg : g_wgs)
    if (!wg.open.empty() || !wg.groups.empty()) die("a block ended with wgmma not waited for");
}

uint64_t shfl(uint64_t mine, int src_lane) {
  collective("__shfl_xor_sync");
  const int tid = linear_tid(), lane = tid % 32;
  Warp& w = g_warps[tid / 32];
  if (w.lanes != 32) die("shuffles need all 32 lanes of the warp");
  Fiber& f = g_fibers[tid];
  const int buf = (int)(f.shuffles++ % 2);
  w.shfl_values[buf][lane] = mine;
  const unsigned long gen = w.shfl_generation;
  ++g_progress;
  if (++w.shfl_arrived == w.lanes) {
    w.shfl_arrived = 0;
    ++w.shfl_generation;
  } else {
    while (w.shfl_generation == gen) yield();
  }
  return w.shfl_values[buf][src_lane];
}

namespace {

// One warp store being gathered: the byte offset each lane stores to.
struct WarpStore {
  int arrived = 0, bytes = 0;
  bool mixed = false;  // lanes of different sizes: not one instruction, not counted
  size_t offset[32];
};
std::map<std::pair<int, unsigned long>, WarpStore> g_warp_stores;  // (warp, n-th store of its lanes)
StoreStats g_store_stats;

void count_store(const WarpStore& st, int lanes) {
  const int per_phase = 128 / st.bytes;
  unsigned long long waves = 0;
  for (int p0 = 0; p0 < lanes; p0 += per_phase) {
    std::vector<size_t> words[32];
    for (int l = p0; l < std::min(lanes, p0 + per_phase); ++l)
      for (int w = 0; w < st.bytes / 4; ++w) {
        const size_t word = st.offset[l] / 4 + w;
        std::vector<size_t>& bank = words[word % 32];
        if (std::find(bank.begin(), bank.end(), word) == bank.end()) bank.push_back(word);
      }
    size_t most = 1;
    for (const auto& bank : words) most = std::max(most, bank.size());
    waves += most;
  }
  ++g_store_stats.instructions;
  g_store_stats.wavefronts += waves;
  g_store_stats.ideal += ((size_t)lanes * st.bytes + 127) / 128;
}

void record_store(const void* dst, int bytes) {
  const int tid = linear_tid();
  Fiber& f = g_fibers[tid];
  Warp& w = g_warps[tid / 32];
  WarpStore& st = g_warp_stores[{tid / 32, f.stores++}];
  if (st.arrived > 0 && st.bytes != bytes) st.mixed = true;
  st.bytes = bytes;
  st.offset[tid % 32] = static_cast<const unsigned char*>(dst) - g_smem.data();
  if (++st.arrived == w.lanes) {
    if (!st.mixed) count_store(st, w.lanes);
    g_warp_stores.erase({tid / 32, f.stores - 1});
  }
}

}  // namespace

StoreStats smem_store_stats() { return g_store_stats; }
void reset_smem_store_stats() { g_store_stats = StoreStats{}; }

void cp_async(void* dst, const void* src, int bytes, int src_bytes) {
  if (bytes != 4 && bytes != 8 && bytes != 16) die("cp.async size must be 4, 8 or 16 bytes");
  if (reinterpret_cast<uintptr_t>(dst) % bytes != 0) die("cp.async destination is not aligned to its size");
  if (src_bytes > 0 && reinterpret_cast<uintptr_t>(src) % bytes != 0) die("cp.async source is not aligned to its size");
  const auto* lo = g_smem.data();
  const auto* p = static_cast<const unsigned char*>(dst);
  if (p < lo || p + bytes > lo + g_smem.size()) die("cp.async destination is outside dynamic shared memory");
  if (src_bytes > 0) check_global_read(src, src_bytes, "cp.async");
  g_fibers[linear_tid()].open.push_back({dst, src, bytes, src_bytes});
  record_store(dst, bytes);
}

void cp_async_commit() {
  Fiber& f = g_fibers[linear_tid()];
  f.groups.push_back(std::move(f.open));
  f.open.clear();
}

void cp_async_wait(int pending) {
  Fiber& f = g_fibers[linear_tid()];
  while ((int)f.groups.size() > pending) {
    for (const Copy& c : f.groups.front()) {
      std::memset(c.dst, 0, c.bytes);
      if (c.src_bytes > 0) std::memcpy(c.dst, c.src, c.src_bytes);
    }
    f.groups.pop_front();
  }
}

namespace {
unsigned long long g_launches = 0, g_copies = 0;
std::mutex g_opt_in_mutex;
std::map<const void*, int> g_opt_in;  // kernel -> bytes of dynamic shared memory it opted in to
}

unsigned long long launch_count() { return g_launches; }
unsigned long long copy_count() { return g_copies; }
void count_copy() { ++g_copies; }

bool skipping_kernels() {
  static const bool skip = [] {
    const char* v = std::getenv("CGTRAIN_EMU_SKIP_KERNELS");
    return v && !std::strcmp(v, "1");
  }();
  return skip;
}

namespace {
int g_order = -1;  // -1: not yet read from $CGTRAIN_EMU_REVERSE
}

void set_reverse_order(bool reverse) { g_order = reverse; }

bool reverse_order() {
  if (g_order < 0) {
    const char* v = std::getenv("CGTRAIN_EMU_REVERSE");
    g_order = v && std::strcmp(v, "1") == 0;
  }
  return g_order == 1;
}

void set_smem_opt_in(const void* kernel, int bytes) {
  std::lock_guard<std::mutex> lock(g_opt_in_mutex);
  g_opt_in[kernel] = bytes;
}

namespace {
GlobalReadCheck g_global_read_check = nullptr;
}

void set_global_read_check(GlobalReadCheck check) { g_global_read_check = check; }

void check_global_read(const void* p, size_t bytes, const char* what) {
  if (!g_global_read_check || g_global_read_check(p, bytes)) return;
  char message[160];
  std::snprintf(message, sizeof message, "%s reads %zu bytes at %p, outside every device allocation (a GPU may fault)",
                what, bytes, p);
  die(message);
}

void check_dynamic_smem(const void* kernel, size_t bytes) {
  constexpr size_t kDefault = 48 * 1024;
  if (bytes <= kDefault) return;
  std::lock_guard<std::mutex> lock(g_opt_in_mutex);
  const auto it = g_opt_in.find(kernel);
  const size_t allowed = it == g_opt_in.end() ? kDefault : std::max(kDefault, (size_t)it->second);
  if (bytes > allowed) {
    std::fprintf(stderr,
                 "cuda emulator: a launch asks for %zu bytes of dynamic shared memory; this kernel may have %zu (above "
                 "48 KiB it must opt in with cudaFuncSetAttribute(cudaFuncAttributeMaxDynamicSharedMemorySize))\n",
                 bytes, allowed);
    std::fflush(nullptr);
    std::_Exit(3);  // at the launch, before any block: die() would name the previous launch's thread
  }
}

void launch(dim3 grid, dim3 block, size_t smem_bytes, const std::function<void()>& body) {
  const int threads = (int)(block.x * block.y * block.z);
  if (threads < 1 || threads > 1024) die("block size must be 1..1024 threads");
  ++g_launches;
  if (skipping_kernels()) return;
  grid_dim = grid;
  block_dim = block;
  g_body = &body;
  g_fibers.resize(threads);
  for (Fiber& f : g_fibers)
    if (f.stack.empty()) f.stack.resize(kStackBytes);
  g_warps.assign((threads + 31) / 32, Warp{});
  for (int w = 0; w < (int)g_warps.size(); ++w) g_warps[w].lanes = std::min(32, threads - 32 * w);
  g_smem.assign(smem_bytes, 0xff);
  g_waited = false;
  g_direct = false;
  const bool reverse = reverse_order();
  bool first_block = true;
  // Blocks run one after another, in reverse too when the threads do: blocks that write the
  // same element, or one that reads what another writes, then differ between the two orders.
  for (unsigned bz0 = 0; bz0 < grid.z; ++bz0)
    for (unsigned by0 = 0; by0 < grid.y; ++by0)
      for (unsigned bx0 = 0; bx0 < grid.x; ++bx0) {
        block_idx = reverse ? uint3{grid.x - 1 - bx0, grid.y - 1 - by0, grid.z - 1 - bz0} : uint3{bx0, by0, bz0};
        std::fill(g_smem.begin(), g_smem.end(), 0xff);  // NaN in every float
        g_block_arrived = 0;
        g_wgs.assign((threads + 127) / 128, Warpgroup{});
        g_warp_stores.clear();
        for (int i = 0; i < threads; ++i) {
          Fiber& f = g_fibers[i];
          f.done = false;
          f.open.clear();
          f.groups.clear();
          f.shuffles = 0;
          f.stores = 0;
          f.tid = {(unsigned)(i % block.x), (unsigned)((i / block.x) % block.y), (unsigned)(i / (block.x * block.y))};
        }
        for (Warp& w : g_warps) w.arrived = w.shfl_arrived = 0;
        g_direct = !first_block && !g_waited;
        first_block = false;
        if (g_direct) {
          for (int j = 0; j < threads; ++j) {
            const int i = reverse ? threads - 1 - j : j;
            g_current = i;
            thread_idx = g_fibers[i].tid;
            body();
          }
          continue;
        }
        for (int i = 0; i < threads; ++i) {
          Fiber& f = g_fibers[i];
          make_context(f.ctx, f.stack, fiber_main);
        }
        for (;;) {
          int alive = 0;
          const unsigned long before = g_progress;
          for (int j = 0; j < threads; ++j) {
            const int i = reverse ? threads - 1 - j : j;
            if (g_fibers[i].done) continue;
            ++alive;
            g_current = i;
            thread_idx = g_fibers[i].tid;
            switch_context(g_scheduler, g_fibers[i].ctx);
          }
          if (alive == 0) break;
          if (g_progress == before) {
            g_current = 0;
            thread_idx = g_fibers[0].tid;
            die("deadlock: every live thread waits at a barrier that can never complete");
          }
        }
        if (g_block_arrived != 0) die("threads exited while others waited at __syncthreads");
        wgmma_block_end();
      }
  g_direct = false;
}

}  // namespace emu
