// Measured FP32 FMA peak: every pool thread runs independent FMA chains that never touch memory,
// enough of them to cover FMA latency times the number of FMA pipes, so the figure is the FMA
// throughput of the cores at the SIMD level in use. Kernel benchmarks report a fraction of it.
// On arm64 the scalar level's loops are vectorised with NEON by the compiler, so its peak is
// NEON's (4 lanes).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <vector>

#include "arch.h"
#include "runtime.h"
#include "threads.h"

#if CGK_X86
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace {

constexpr int kChains = 16;        // 16 independent accumulators: 4-cycle latency x 2 pipes, twice over
constexpr long kInnerSteps = 1 << 12;

// Each function returns the FMAs it ran per lane-vector, and a value derived from the chains so
// the compiler cannot drop them.
#if CGK_X86
__attribute__((target("avx512f,fma"))) float chains_avx512(long rounds) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; i++) acc[i] = _mm512_set1_ps(0.001f * i);
  const __m512 mul = _mm512_set1_ps(0.999999f), add = _mm512_set1_ps(1e-7f);
  for (long r = 0; r < rounds; r++) {
    for (long s = 0; s < kInnerSteps; s++) {
#pragma GCC unroll 16
      for (int i = 0; i < kChains; i++) acc[i] = _mm512_fmadd_ps(acc[i], mul, add);
    }
  }
  __m512 total = acc[0];
  for (int i = 1; i < kChains; i++) total = _mm512_add_ps(total, acc[i]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, total);
  float sum = 0;
  for (float v : lanes) sum += v;
  return sum;
}

__attribute__((target("avx2,fma"))) float chains_avx2(long rounds) {
  __m256 acc[kChains];
  for (int i = 0; i < kChains; i++) acc[i] = _mm256_set1_ps(0.001f * i);
  const __m256 mul = _mm256_set1_ps(0.999999f), add = _mm256_set1_ps(1e-7f);
  for (long r = 0; r < rounds; r++) {
    for (long s = 0; s < kInnerSteps; s++) {
#pragma GCC unroll 16
      for (int i = 0; i < kChains; i++) acc[i] = _mm256_fmadd_ps(acc[i], mul, add);
    }
  }
  alignas(32) float lanes[8];
  __m256 total = acc[0];
  for (int i = 1; i < kChains; i++) total = _mm256_add_ps(total, acc[i]);
  _mm256_store_ps(lanes, total);
  float sum = 0;
  for (float v : lanes) sum += v;
  return sum;
}
#endif  // CGK_X86

#if defined(__aarch64__)
float chains_neon(long rounds) {
  float32x4_t acc[kChains];
  for (int i = 0; i < kChains; i++) acc[i] = vdupq_n_f32(0.001f * i);
  const float32x4_t mul = vdupq_n_f32(0.999999f), add = vdupq_n_f32(1e-7f);
  for (long r = 0; r < rounds; r++) {
    for (long s = 0; s < kInnerSteps; s++) {
#pragma GCC unroll 16
      for (int i = 0; i < kChains; i++) acc[i] = vfmaq_f32(add, acc[i], mul);
    }
  }
  float32x4_t total = acc[0];
  for (int i = 1; i < kChains; i++) total = vaddq_f32(total, acc[i]);
  return vaddvq_f32(total);
}
#endif

[[maybe_unused]] float chains_scalar(long rounds) {  // (arm64 runs chains_neon)
  float acc[kChains];
  for (int i = 0; i < kChains; i++) acc[i] = 0.001f * i;
  for (long r = 0; r < rounds; r++)
    for (long s = 0; s < kInnerSteps; s++)
      for (int i = 0; i < kChains; i++) acc[i] = acc[i] * 0.999999f + 1e-7f;
  float sum = 0;
  for (float v : acc) sum += v;
  return sum;
}

// Floating-point operations of one round (one FMA = 2 flops per lane).
double flops_per_round(int level) {
#if defined(__aarch64__)
  (void)level;
  const int lanes = 4;
#else
  int lanes = level >= cgk::kAvx512 ? 16 : level == cgk::kAvx2 ? 8 : 1;
#endif
  return 2.0 * lanes * kChains * kInnerSteps;
}

float run_chains(int level, long rounds) {
#if CGK_X86
  if (level >= cgk::kAvx512) return chains_avx512(rounds);
  if (level == cgk::kAvx2) return chains_avx2(rounds);
  return chains_scalar(rounds);
#elif defined(__aarch64__)
  (void)level;
  return chains_neon(rounds);
#else
  (void)level;
  return chains_scalar(rounds);
#endif
}

}  // namespace

extern "C" int cgk_peak_gflops(double seconds, double* out) {
  CGK_CHECK_PTR(out, "cgk_peak_gflops");
  CGK_CHECK(seconds > 0 && seconds <= 60, "cgk_peak_gflops: seconds = %g, expected in (0, 60]", seconds);
  using Clock = std::chrono::steady_clock;
  const int level = cgk::simd();
  const int threads = cgk::num_threads();
  // Calibrate the rounds per timing slice on this thread (about 10 ms), then every pool thread
  // runs slices until the time is up; the rate is the work of all threads over the wall time.
  long rounds = 1;
  for (;;) {
    auto t0 = Clock::now();
    volatile float sink = run_chains(level, rounds);
    (void)sink;
    double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    if (dt > 0.01 || rounds > (1L << 30)) break;
    rounds *= 2;
  }
  std::vector<double> work(threads, 0.0);
  std::atomic<float> sink{0};
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  cgk::parallel_for(size_t(threads), [&](size_t t) {
    float local = 0;
    while (Clock::now() < deadline) {
      local += run_chains(level, rounds);
      work[t] += flops_per_round(level) * rounds;
    }
    sink.store(local, std::memory_order_relaxed);
  });
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  double total = 0;
  for (double w : work) total += w;
  *out = total / elapsed / 1e9;
  return CGK_OK;
}
