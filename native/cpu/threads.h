// The CPU backend's one persistent thread pool. Every kernel parallelises through these calls;
// no kernel creates threads. Work submitted while the pool is busy (a nested call from inside a
// task, or a second JavaScript thread) runs serially on the calling thread, so calls never
// deadlock and never oversubscribe the cores.
#ifndef CGK_CPU_THREADS_H
#define CGK_CPU_THREADS_H

#include <cstddef>
#include <functional>

namespace cgk {

// Resizes the pool (threads >= 1, counting the calling thread). Called by cgk_init.
void set_num_threads(int threads);
int num_threads();
// Cores this process may run on (its CPU affinity mask), the size used when none is given.
int default_num_threads();

// Runs fn(i) for every i in [0, n), tasks handed out dynamically across the pool (in chunks of
// consecutive indices when n is much larger than the pool). The call returns once every index
// has run; it does not wait for workers that had not woken by then (the caller runs their share).
// Use it when each index is a sizeable piece of work (a plane, a tile, a GEMM block).
// fn runs on worker threads: a `thread_local` named inside fn is the WORKER's copy, not the
// caller's, so take pointers to the caller's thread_local scratch before the call.
void parallel_for(size_t n, const std::function<void(size_t i)>& fn);

// Runs fn(begin, end) over [0, n) cut into contiguous chunks of at least `grain` elements
// (one chunk per thread at most a few per thread); serial when n < 2 * grain. Use it for
// streaming kernels where a per-index call would cost more than the work.
void parallel_range(size_t n, size_t grain, const std::function<void(size_t begin, size_t end)>& fn);

// Whether the calling thread is running a task of a parallel region, or a SerialScope (where a
// nested parallel_for runs serially on it).
bool in_parallel_region();

// While alive (and `serial`), the calling thread's parallel_for and parallel_range calls run
// serially on it, as nested ones do. For kernels too small to gain from the pool: below some
// size a second core costs more than it brings (its wake-up, and the data one core writes and
// the other reads moving between their caches), and one core finishes sooner.
class SerialScope {
 public:
  explicit SerialScope(bool serial);
  ~SerialScope();
  SerialScope(const SerialScope&) = delete;
  SerialScope& operator=(const SerialScope&) = delete;

 private:
  bool saved_;
};

// A sensible grain for memory-bound elementwise loops (elements per chunk).
constexpr size_t kElementwiseGrain = 1 << 15;

}  // namespace cgk

#endif  // CGK_CPU_THREADS_H
