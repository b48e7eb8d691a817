// One persistent pool of worker threads. The caller of a parallel region works too, so a pool
// of T threads has T-1 workers. Tasks are handed out through one atomic counter (dynamic
// scheduling), which balances uneven tasks without per-task queues.
#include "threads.h"

#include "arch.h"

#if defined(__linux__)
#include <sched.h>
#endif

#include <algorithm>
#include <cstdlib>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace cgk {
namespace {

thread_local bool t_inside_region = false;

class ThreadPool {
 public:
  int size() {
    std::lock_guard<std::mutex> region(region_mu_);
    return static_cast<int>(workers_.size()) + 1;
  }

  void resize(int threads) {
    std::lock_guard<std::mutex> region(region_mu_);
    stop_workers();
    // The generation is read here, not in the new thread: a thread that starts late would
    // otherwise see the next region's generation as "already seen" and never join it.
    uint64_t generation = generation_;
    for (int i = 1; i < threads; i++) workers_.emplace_back([this, generation] { worker_loop(generation); });
  }

  // Runs task(0..n-1) on the pool; returns false (running nothing) when a region is already
  // active, so the caller runs serially instead of waiting or deadlocking.
  //
  // The caller waits only for the workers that joined the region, not for every worker to wake:
  // on a loaded machine a sleeping worker may not run for a scheduler tick (milliseconds), and a
  // small kernel would otherwise wait that long after the caller had done all of its tasks.
  // Once the caller has drained the tasks it closes the region; a worker waking later skips it.
  bool try_run(size_t n, const std::function<void(size_t)>& task) {
    std::unique_lock<std::mutex> region(region_mu_, std::try_to_lock);
    if (!region.owns_lock() || t_inside_region) return false;
    if (workers_.empty()) return false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      task_ = &task;
      n_tasks_ = n;
      next_.store(0, std::memory_order_relaxed);
      open_ = true;
      joined_ = 0;
      error_ = nullptr;
      generation_++;
      published_.store(generation_, std::memory_order_release);
    }
    wake_.notify_all();
    drain();
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = false;  // from here joined_ only falls
    }
    // A worker that joined usually finishes within microseconds of the caller: wait for it
    // spinning before sleeping (a futex wake-up costs tens of microseconds, on every region).
    for (int spin = 0; spin < kSpins && joined_.load(std::memory_order_acquire) != 0; spin++) pause();
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [this] { return joined_ == 0; });
    task_ = nullptr;
    if (error_) std::rethrow_exception(error_);
    return true;
  }

 private:
  void drain() {
    t_inside_region = true;
    try {
      for (;;) {
        size_t i = next_.fetch_add(1, std::memory_order_relaxed);
        if (i >= n_tasks_) break;
        (*task_)(i);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
      next_.store(n_tasks_, std::memory_order_relaxed);
    }
    t_inside_region = false;
  }

  void worker_loop(uint64_t seen) {
    for (;;) {
      // Kernels come back to back (a step is thousands of regions, tens of microseconds apart):
      // watch for the next one for a moment before sleeping on the condition variable.
      for (int spin = 0; spin < kSpins && published_.load(std::memory_order_acquire) == seen &&
                         !stopping_.load(std::memory_order_relaxed);
           spin++) {
        pause();
      }
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        if (!open_) continue;  // woke after the caller finished this region alone
        joined_++;
      }
      drain();
      std::lock_guard<std::mutex> lock(mu_);
      if (--joined_ == 0) done_.notify_one();
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      stopping_.store(true, std::memory_order_relaxed);
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
    stop_ = false;
    stopping_.store(false, std::memory_order_relaxed);
  }

  // About 30 microseconds of polling (a pause is tens of cycles).
  static constexpr int kSpins = 2000;
  static void pause() {
#if CGK_X86
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }

  std::mutex region_mu_;  // one parallel region at a time; also guards resizing
  std::mutex mu_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  uint64_t generation_ = 0;
  bool stop_ = false;
  const std::function<void(size_t)>* task_ = nullptr;
  size_t n_tasks_ = 0;
  std::atomic<size_t> next_{0};
  bool open_ = false;  // the current region still admits workers
  // Workers inside the current region; changed under mu_, read without it by the caller's spin.
  std::atomic<int> joined_{0};
  std::atomic<uint64_t> published_{0};  // generation_, for the workers' spin
  std::atomic<bool> stopping_{false};
  std::exception_ptr error_;
};

// Leaked on purpose: joining workers from a static destructor at process exit races with
// Node's own teardown.
ThreadPool& pool() {
  static ThreadPool* instance = new ThreadPool();
  return *instance;
}

std::atomic<int> g_threads{0};

}  // namespace

int default_num_threads() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return std::max(1u, std::thread::hardware_concurrency());
}

namespace {

// A kernel called before cgk_init starts the pool here: $CGTRAIN_THREADS when it is a valid
// count (cgk_init reports a bad one), else every core of the affinity mask.
void ensure_started() {
  if (g_threads.load(std::memory_order_acquire) != 0) return;
  const char* env = getenv("CGTRAIN_THREADS");
  char* end = nullptr;
  long parsed = env ? strtol(env, &end, 10) : 0;
  bool valid = env && *env && *end == '\0' && parsed >= 1 && parsed <= 4096;
  set_num_threads(valid ? static_cast<int>(parsed) : default_num_threads());
}

}  // namespace

void set_num_threads(int threads) {
  threads = std::max(1, threads);
  pool().resize(threads);
  g_threads.store(threads, std::memory_order_release);
}

bool in_parallel_region() { return t_inside_region; }

SerialScope::SerialScope(bool serial) : saved_(t_inside_region) {
  if (serial) t_inside_region = true;
}
SerialScope::~SerialScope() { t_inside_region = saved_; }

int num_threads() {
  ensure_started();
  return g_threads.load(std::memory_order_acquire);
}

void parallel_for(size_t n, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  if (n > 1) {
    ensure_started();
    // Many small tasks (the 4096 8x8 planes of a residual block's norm or padding) are handed
    // out in chunks of consecutive indices: one atomic grab per task would make the two cores
    // fight over the counter's cache line for longer than the work takes. Eight chunks per
    // thread still balance uneven progress.
    const size_t chunks = size_t(num_threads()) * 8;
    if (n > 2 * chunks) {
      const size_t chunk = (n + chunks - 1) / chunks;
      const std::function<void(size_t)> run_chunk = [&](size_t c) {
        const size_t end = std::min(n, (c + 1) * chunk);
        for (size_t i = c * chunk; i < end; i++) fn(i);
      };
      if (pool().try_run((n + chunk - 1) / chunk, run_chunk)) return;
    } else if (pool().try_run(n, fn)) {
      return;
    }
  }
  for (size_t i = 0; i < n; i++) fn(i);
}

void parallel_range(size_t n, size_t grain, const std::function<void(size_t, size_t)>& fn) {
  if (n == 0) return;
  grain = std::max<size_t>(grain, 1);
  size_t threads = static_cast<size_t>(num_threads());
  if (threads <= 1 || n < 2 * grain || t_inside_region) {
    fn(0, n);
    return;
  }
  // A few chunks per thread absorbs uneven progress (another process on the same core).
  size_t chunks = std::min(n / grain, threads * 4);
  size_t chunk = (n + chunks - 1) / chunks;
  chunk = (chunk + 15) & ~size_t(15);  // whole 64-byte lines per chunk: no false sharing
  chunks = (n + chunk - 1) / chunk;
  parallel_for(chunks, [&](size_t c) {
    size_t begin = c * chunk;
    fn(begin, std::min(n, begin + chunk));
  });
}

}  // namespace cgk
