// Runtime of the CPU backend: errors, initialisation, SIMD level and the device-info JSON.
#include "runtime.h"

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#if defined(__APPLE__)
#include <sys/sysctl.h>
#endif

#include "arch.h"
#include "threads.h"

namespace {

// cgk_timer_mark's host clock readings (ms) since the last cgk_timer_read, per calling thread.
std::vector<double>& timer_marks() {
  thread_local std::vector<double> marks;
  return marks;
}

thread_local char t_last_error[1024] = "";

int vset_error(int code, const char* fmt, va_list args) {
  vsnprintf(t_last_error, sizeof(t_last_error), fmt, args);
  return code;
}

const char* simd_name(int level) {
  return level >= cgk::kAvx512 ? "avx512" : level == cgk::kAvx2 ? "avx2" : "scalar";
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out;
}

std::string cpu_model() {
#if defined(__APPLE__)
  char brand[256];
  size_t size = sizeof brand;
  if (sysctlbyname("machdep.cpu.brand_string", brand, &size, nullptr, 0) == 0) return std::string(brand);
#endif
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  }
  return "unknown";
}

std::string cpu_features_json() {
#if !CGK_X86
  // Only the scalar level is built off x86 (arch.h); on arm64 the compiler vectorises it with NEON.
#if defined(__aarch64__)
  return "[\"neon\"]";
#else
  return "[]";
#endif
#else
  __builtin_cpu_init();
  struct Feature {
    const char* name;
    bool present;
  };
  const Feature features[] = {
      {"sse4.2", static_cast<bool>(__builtin_cpu_supports("sse4.2"))},
      {"avx", static_cast<bool>(__builtin_cpu_supports("avx"))},
      {"avx2", static_cast<bool>(__builtin_cpu_supports("avx2"))},
      {"fma", static_cast<bool>(__builtin_cpu_supports("fma"))},
      {"avx512f", static_cast<bool>(__builtin_cpu_supports("avx512f"))},
      {"avx512dq", static_cast<bool>(__builtin_cpu_supports("avx512dq"))},
      {"avx512bw", static_cast<bool>(__builtin_cpu_supports("avx512bw"))},
      {"avx512vl", static_cast<bool>(__builtin_cpu_supports("avx512vl"))},
      {"avx512vnni", static_cast<bool>(__builtin_cpu_supports("avx512vnni"))},
  };
  std::string out = "[";
  bool first = true;
  for (const Feature& f : features) {
    if (!f.present) continue;
    out += first ? "\"" : ",\"";
    out += f.name;
    out += '"';
    first = false;
  }
  return out + "]";
#endif
}

}  // namespace

namespace cgk {

int detect_simd_level() {
#if CGK_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return kAvx2;
#endif
  return kScalar;
}

std::atomic<int> g_simd_level{detect_simd_level()};

}  // namespace cgk

extern "C" {

int cgk_set_error(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  int code = vset_error(CGK_ERR_ARG, fmt, args);
  va_end(args);
  return code;
}

int cgk_set_error_code(int code, const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  vset_error(code, fmt, args);
  va_end(args);
  return code;
}

const char* cgk_last_error(void) { return t_last_error; }
const char* cgk_backend_name(void) { return "cpu"; }

int cgk_init(int threads) {
  if (threads < 0) return cgk_set_error("cgk_init: threads = %d, expected >= 0 (0 = all cores)", threads);
  if (threads == 0) {
    const char* env = getenv("CGTRAIN_THREADS");
    if (env && *env) {
      char* end = nullptr;
      long parsed = strtol(env, &end, 10);
      if (*end != '\0' || parsed < 1 || parsed > 4096) {
        return cgk_set_error("cgk_init: CGTRAIN_THREADS='%s', expected an integer from 1 to 4096", env);
      }
      threads = static_cast<int>(parsed);
    }
  }
  if (threads == 0) threads = cgk::default_num_threads();
  cgk::set_num_threads(threads);
  return CGK_OK;
}

int cgk_num_threads(void) { return cgk::num_threads(); }

int cgk_simd_level(void) { return cgk::simd(); }

int cgk_set_simd(int level) {
  int best = cgk::detect_simd_level();
  if (level == -1) level = best;
  if (level < 0 || level > 2) return cgk_set_error("cgk_set_simd: level = %d, expected -1, 0, 1 or 2", level);
  if (level > best) {
    return cgk_set_error_code(CGK_ERR_UNSUPPORTED, "cgk_set_simd: level %d (%s) is not supported by this CPU (best is %d, %s)",
                              level, simd_name(level), best, simd_name(best));
  }
  cgk::g_simd_level.store(level, std::memory_order_relaxed);
  return CGK_OK;
}

// The CPU kernels multiply in float32; there is nothing to round to.
int cgk_set_precision(int precision) {
  if (precision == CGK_PRECISION_FP32 || precision == -1) return CGK_OK;
  if (precision == CGK_PRECISION_TF32 || precision == CGK_PRECISION_BF16) {
    return cgk_set_error_code(CGK_ERR_UNSUPPORTED,
                              "cgk_set_precision: the CPU backend computes in fp32 only (asked for %s); tf32 and bf16 "
                              "need the CUDA backend on a GPU of compute capability 8.0 or newer",
                              precision == CGK_PRECISION_TF32 ? "tf32" : "bf16");
  }
  return cgk_set_error("cgk_set_precision: precision = %d, expected -1 (default), 0 (fp32), 1 (tf32) or 2 (bf16)", precision);
}

int cgk_precision(void) { return CGK_PRECISION_FP32; }

// The CPU has one kernel per case, chosen by rule: nothing to time.
int cgk_set_conv_tuning(int on) {
  if (on == -1 || on == 0) return CGK_OK;
  if (on == 1)
    return cgk_set_error_code(CGK_ERR_UNSUPPORTED,
                              "cgk_set_conv_tuning: the CPU backend picks its convolution kernels by rule "
                              "(cgk_set_conv_algo); tuning is the CUDA backend's");
  return cgk_set_error("cgk_set_conv_tuning: on = %d, expected -1 (default), 0 (off) or 1 (on)", on);
}

int cgk_conv_tuning(void) { return 0; }

const char* cgk_conv_tuning_report(void) { return "[]"; }

const char* cgk_device_info(void) {
  thread_local std::string json;
  json = "{\"backend\":\"cpu\",\"available\":true,\"reason\":null,\"threads\":" + std::to_string(cgk::num_threads()) +
         ",\"simd\":\"" + simd_name(cgk::simd()) + "\",\"simdBest\":\"" + simd_name(cgk::detect_simd_level()) +
         "\",\"precision\":\"fp32\",\"cpu\":{\"model\":\"" + json_escape(cpu_model()) + "\",\"features\":" + cpu_features_json() + "}}";
  return json.c_str();
}

int cgk_sync(void) { return CGK_OK; }

int cgk_timer_mark(int* index) {
  CGK_CHECK_PTR(index, "cgk_timer_mark");
  std::vector<double>& marks = timer_marks();
  CGK_CHECK(marks.size() < CGK_TIMER_MARKS, "cgk_timer_mark: %d marks since the last cgk_timer_read, the most there can be",
            CGK_TIMER_MARKS);
  marks.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count());
  *index = static_cast<int>(marks.size() - 1);
  return CGK_OK;
}

int cgk_timer_read(double* ms, int capacity, int* count) {
  CGK_CHECK_PTR(count, "cgk_timer_read");
  CGK_CHECK(capacity >= 0 && (capacity == 0 || ms != nullptr), "cgk_timer_read: ms is NULL or capacity %d < 0", capacity);
  std::vector<double>& marks = timer_marks();
  *count = static_cast<int>(marks.size());
  for (int i = 0; i < *count && i < capacity; ++i) ms[i] = marks[i] - marks[0];
  marks.clear();
  return CGK_OK;
}

}  // extern "C"
