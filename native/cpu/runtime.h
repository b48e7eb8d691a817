// Internal runtime of the CPU backend: error reporting and the active SIMD level. Every CPU
// kernel file (including the convolution/GEMM kernels) includes this header.
#ifndef CGK_CPU_RUNTIME_H
#define CGK_CPU_RUNTIME_H

#include <atomic>
#include <cstddef>

#include "cgk.h"

// Formats a message into this thread's last-error slot and returns CGK_ERR_ARG, so argument
// checks read `if (n < 0) return cgk_set_error("cgk_fill: n = %d, expected >= 0", n);`.
// The slot is per thread: call it on the calling thread (after a parallel region, from a flag
// the tasks set), never inside a pool task, or the caller will not see the message.
extern "C" int cgk_set_error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// The same with an explicit status code (CGK_ERR_OOM, CGK_ERR_UNSUPPORTED, ...).
extern "C" int cgk_set_error_code(int code, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

namespace cgk {

// SIMD levels as in cgk.h: 0 scalar, 1 AVX2+FMA, 2 AVX-512F.
enum SimdLevel { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

// The level kernels dispatch on; lowered by cgk_set_simd so tests can compare paths.
extern std::atomic<int> g_simd_level;
inline int simd() { return g_simd_level.load(std::memory_order_relaxed); }

// The best level this CPU and OS support (cpuid + XCR0 via __builtin_cpu_supports).
int detect_simd_level();

}  // namespace cgk

// Argument checks shared by the kernels: return the error from the enclosing function.
#define CGK_CHECK(cond, ...)                       \
  do {                                             \
    if (!(cond)) return cgk_set_error(__VA_ARGS__); \
  } while (0)
#define CGK_CHECK_PTR(p, fn) CGK_CHECK((p) != nullptr, "%s: %s is NULL", fn, #p)

#endif  // CGK_CPU_RUNTIME_H
