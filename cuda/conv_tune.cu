// Convolution tuning: the choices per GEMM shape, their timing and the report (see conv_tune.cuh).
#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "conv_index.cuh"
#include "conv_tune.cuh"

namespace cgk_cuda {

namespace {

constexpr int kTimedRuns = 3;  // per candidate, after one warm-up run

struct Timed {
  ConvChoice choice;
  float ms = -1;      // mean of the timed runs; -1 when it could not run
  std::string error;  // why it could not, or why it was rejected
  double diff = -1;   // max |result - reference| / max |reference|; -1 when not compared
  bool rejected = false;
};

struct Tuned {
  ConvTuneKey key;
  ConvChoice chosen, heuristic;
  std::vector<Timed> candidates;
  std::string reference;  // what the results were checked against ("" when nothing was)
};

std::atomic<int> g_tuning{-1};  // -1: the default ($CGTRAIN_CUDA_TUNE)
std::mutex g_mutex;
std::map<std::array<int, 18>, Tuned> g_tuned;  // guarded by g_mutex
std::string g_report;                       // the last report, kept alive for the C caller

bool default_tuning() {
  static const bool on = env_switch("CGTRAIN_CUDA_TUNE", "1", "0", true);
  return on;
}

std::array<int, 18> flatten(const ConvTuneKey& k) {
  const ConvGeom& g = k.g;
  return {(int)k.kind, g.n, g.C, g.Hi, g.Wi, g.M, g.Ho, g.Wo, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.out_sh, g.out_sw, k.precision, k.a_aligned};
}

const char* kind_name(ConvKind k) { return k == ConvKind::Fwd ? "fwd" : k == ConvKind::Dgrad ? "dgrad" : "wgrad"; }

std::string choice_json(const ConvChoice& c, float ms) {
  std::string s = strf("{\"engine\":\"%s\",\"bm\":%d,\"splits\":%d,\"stages\":%d", engine_name(c.engine), c.bm,
                       c.splits, c.stages);
  if (ms >= 0) s += strf(",\"ms\":%.5f", ms);
  return s;
}

float time_of(const Tuned& t, const ConvChoice& c) {
  for (const Timed& x : t.candidates)
    if (x.choice == c) return x.ms;
  return -1;
}

std::string report_json() {
  std::lock_guard<std::mutex> lock(g_mutex);
  std::string json = "[";
  for (const auto& [flat, t] : g_tuned) {
    const ConvGeom& g = t.key.g;
    const GemmShape s = gemm_shape(t.key.kind, g);
    if (json.size() > 1) json += ",";
    json += strf("{\"kind\":\"%s\",\"precision\":\"%s\",\"M\":%d,\"N\":%d,\"K\":%d,", kind_name(t.key.kind),
                 precision_name(t.key.precision), s.M, s.N, s.K);
    json += strf("\"geometry\":{\"n\":%d,\"C\":%d,\"Hi\":%d,\"Wi\":%d,\"M\":%d,\"Ho\":%d,\"Wo\":%d,\"kh\":%d,\"kw\":%d,"
                 "\"sh\":%d,\"sw\":%d,\"ph\":%d,\"pw\":%d,\"outSh\":%d,\"outSw\":%d},",
                 g.n, g.C, g.Hi, g.Wi, g.M, g.Ho, g.Wo, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.out_sh, g.out_sw);
    json += "\"chosen\":" + choice_json(t.chosen, time_of(t, t.chosen)) + "},";
    json += "\"heuristic\":" + choice_json(t.heuristic, time_of(t, t.heuristic)) + "},";
    if (!t.reference.empty()) json += "\"reference\":" + json_string(t.reference) + ",";
    json += "\"candidates\":[";
    for (size_t i = 0; i < t.candidates.size(); ++i) {
      const Timed& x = t.candidates[i];
      json += (i ? "," : "") + choice_json(x.choice, x.ms);
      if (x.diff >= 0) json += std::isfinite(x.diff) ? strf(",\"diff\":%.3e", x.diff) : ",\"diff\":null";
      if (x.rejected) json += ",\"rejected\":true";
      if (!x.error.empty()) json += ",\"error\":" + json_string(x.error);
      json += "}";
    }
    json += "]}";
  }
  return json + "]";
}

// Runs `launch(c)` kTimedRuns times between two events; the mean in ms, or -1 with the error.
int time_runs(const std::function<int(const ConvChoice&)>& launch, const ConvChoice& c, float* ms) {
  static cudaEvent_t start = nullptr, stop = nullptr;
  if (!start && (cudaEventCreate(&start) != cudaSuccess || cudaEventCreate(&stop) != cudaSuccess))
    return fail(CGK_ERR_DEVICE, "convolution tuning: cannot create timing events");
  cudaEventRecord(start, stream());
  for (int r = 0; r < kTimedRuns; ++r)
    if (int st = launch(c)) return st;
  cudaEventRecord(stop, stream());
  if (cudaError_t err = cudaEventSynchronize(stop))
    return fail(CGK_ERR_DEVICE, std::string("convolution tuning: ") + engine_name(c.engine) + " failed on the device (" +
                                    cudaGetErrorString(err) + ")");
  float total = 0;
  cudaEventElapsedTime(&total, start, stop);
  *ms = total / kTimedRuns;
  return CGK_OK;
}

// ---- verification: each candidate's result against the reference's ----

constexpr int kCompareThreads = 256, kCompareBlocks = kPartials / 2;

// NaN counts as infinitely far: a candidate that makes one is rejected.
__device__ __forceinline__ float magnitude(float v) { return v != v ? INFINITY : fabsf(v); }

// The reference: a compact copy of the values the GEMM wrote.
__global__ void keep_reference_kernel(const TuneOutput out, float* __restrict__ ref, size_t n) {
  CGK_GRID_STRIDE(i, n) ref[i] = out.data[out.offset(i)];
}

// Per block: partials[b] = max |out - ref|, partials[kCompareBlocks + b] = max |ref|.
__global__ void __launch_bounds__(kCompareThreads) max_diff_kernel(const TuneOutput out, const float* __restrict__ ref,
                                                                   size_t n, double* __restrict__ partials) {
  __shared__ float diffs[kCompareThreads], refs[kCompareThreads];
  float d = 0.f, r = 0.f;
  CGK_GRID_STRIDE(i, n) {
    d = fmaxf(d, magnitude(out.data[out.offset(i)] - ref[i]));
    r = fmaxf(r, magnitude(ref[i]));
  }
  diffs[threadIdx.x] = d;
  refs[threadIdx.x] = r;
  __syncthreads();
  for (int s = kCompareThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) {
      diffs[threadIdx.x] = fmaxf(diffs[threadIdx.x], diffs[threadIdx.x + s]);
      refs[threadIdx.x] = fmaxf(refs[threadIdx.x], refs[threadIdx.x + s]);
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    partials[blockIdx.x] = diffs[0];
    partials[kCompareBlocks + blockIdx.x] = refs[0];
  }
}

// max |out - ref| / max |ref| (0 when both are all zeros); waits for the device. *ref_finite is
// false when the reference itself holds an infinity or NaN (nothing to check).
int relative_diff(const TuneOutput& out, const float* ref, double* diff, bool* ref_finite) {
  const size_t n = out.count();
  size_t blocks = (n + kCompareThreads - 1) / kCompareThreads;
  blocks = std::max<size_t>(1, std::min<size_t>(blocks, kCompareBlocks));
  double* partials = reduction_partials();
  max_diff_kernel<<<(unsigned)blocks, kCompareThreads, 0, stream()>>>(out, ref, n, partials);
  double host[kPartials];
  if (cudaError_t err = cudaMemcpyAsync(host, partials, sizeof host, cudaMemcpyDeviceToHost, stream()); err == cudaSuccess) {
    if (cudaError_t sync = cudaStreamSynchronize(stream())) return fail(CGK_ERR_DEVICE, std::string("convolution tuning: ") + cudaGetErrorString(sync));
  } else {
    return fail(CGK_ERR_DEVICE, std::string("convolution tuning: ") + cudaGetErrorString(err));
  }
  double d = 0, r = 0;
  for (size_t b = 0; b < blocks; ++b) {
    d = std::max(d, host[b]);
    r = std::max(r, host[kCompareBlocks + b]);
  }
  *ref_finite = std::isfinite(r);
  *diff = d == 0 ? 0.0 : r > 0 ? d / r : INFINITY;
  return CGK_OK;
}

#ifdef CGK_CUDA_EMU
// Tests of the emulated addon: $CGTRAIN_CUDA_TUNE_CORRUPT=<engine> spoils that engine's results
// during tuning (times 1.5), so the tests see verification reject it. Real builds have no hook.
__global__ void spoil_kernel(const TuneOutput out, size_t n) {
  CGK_GRID_STRIDE(i, n) out.data[out.offset(i)] *= 1.5f;
}

void spoil_if_asked(const ConvChoice& c, const TuneOutput& out) {
  const char* v = std::getenv("CGTRAIN_CUDA_TUNE_CORRUPT");
  if (v && !std::strcmp(v, engine_name(c.engine))) spoil_kernel<<<grid_for(out.count()), 256, 0, stream()>>>(out, out.count());
}
#else
void spoil_if_asked(const ConvChoice&, const TuneOutput&) {}
#endif

}  // namespace

double max_diff_allowed(int precision) { return precision == CGK_PRECISION_BF16 ? 5e-2 : 1e-2; }

bool conv_tuning_on() {
  const int t = g_tuning.load();
  return t < 0 ? default_tuning() : t == 1;
}

const ConvChoice* conv_tuned(const ConvTuneKey& key) {
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = g_tuned.find(flatten(key));
  return it == g_tuned.end() ? nullptr : &it->second.chosen;  // map nodes never move
}

int conv_tune(const ConvTuneKey& key, const std::vector<ConvChoice>& candidates, const ConvChoice& heuristic,
              const ConvChoice* oracle, const TuneOutput& out, const std::function<int(const ConvChoice&)>& launch,
              const std::function<std::vector<ConvChoice>(const ConvChoice&)>& refine, ConvChoice* chosen) {
  Tuned t{key, heuristic, heuristic, {}, ""};
  float best = -1;      // the fastest candidate that agreed with the reference
  float best_ran = -1;  // the fastest that ran at all
  ConvChoice fastest_ran = heuristic;
  bool heuristic_ran = false;
  int first_status = CGK_OK;  // when nothing runs, the first failure is the answer, as without tuning
  std::string first_error;
  // The reference: the oracle's result (the exact-FP32 engine), else the first candidate that
  // runs. Without scratch memory for its copy, or with non-finite values in it, nothing is checked.
  float* reference = nullptr;
  bool checking = true;
  const double allowed = max_diff_allowed(key.precision);
  auto keep_reference = [&](const char* name) {
    reference = scratch_alloc(out.count());
    checking = reference != nullptr;
    if (checking) {
      keep_reference_kernel<<<grid_for(out.count()), 256, 0, stream()>>>(out, reference, out.count());
      t.reference = name;
    }
  };
  auto verify = [&](Timed& x) -> int {
    if (!checking) return CGK_OK;
    if (!reference) {
      keep_reference(engine_name(x.choice.engine));
      if (checking) x.diff = 0;
      return CGK_OK;
    }
    bool finite = true;
    if (int st = relative_diff(out, reference, &x.diff, &finite)) return st;
    if (!finite) {
      checking = false;
      t.reference.clear();
      x.diff = -1;
    } else if (!(x.diff <= allowed)) {
      x.rejected = true;
      x.error = strf("its result differs from the reference (%s) by %.3g of the largest value, more than the %.0e "
                     "that %s rounding explains", t.reference.c_str(), x.diff, allowed, precision_name(key.precision));
    }
    return CGK_OK;
  };
  // The oracle runs once, untimed; if it cannot (scratch memory for its splits), the first
  // candidate is the reference instead.
  if (oracle) {
    int st = launch(*oracle);
    if (st == CGK_OK) {
      spoil_if_asked(*oracle, out);
      keep_reference(engine_name(oracle->engine));
    } else {
      if (cudaError_t err = cudaStreamSynchronize(stream()); err != cudaSuccess)
        return fail(CGK_ERR_DEVICE, std::string("convolution tuning: ") + cgk_last_error());
      cudaGetLastError();
    }
  }
  auto time_all = [&](const std::vector<ConvChoice>& list) -> int {
    for (const ConvChoice& c : list) {
      Timed x{c};
      int st = launch(c);  // warm-up: loads the kernel, opts it into its shared memory
      if (st == CGK_OK) st = time_runs(launch, c, &x.ms);
      if (st == CGK_OK) {
        spoil_if_asked(c, out);
        if (int vs = verify(x)) return vs;
      }
      if (st != CGK_OK) {
        x.ms = -1;
        x.error = cgk_last_error();
        if (first_status == CGK_OK) {
          first_status = st;
          first_error = x.error;
        }
        // A fault poisons the context: every later call fails too, so stop here with its error.
        if (cudaError_t err = cudaStreamSynchronize(stream()); err != cudaSuccess)
          return fail(CGK_ERR_DEVICE, "convolution tuning: " + x.error);
        cudaGetLastError();  // a refused launch leaves nothing behind
      } else {
        if (c == heuristic) heuristic_ran = true;
        if (best_ran < 0 || x.ms < best_ran) {
          best_ran = x.ms;
          fastest_ran = c;
        }
        if (!x.rejected && (best < 0 || x.ms < best)) {
          best = x.ms;
          t.chosen = c;
        }
      }
      t.candidates.push_back(x);
    }
    return CGK_OK;
  };
  int st = time_all(candidates);
  if (st == CGK_OK && best >= 0 && refine) {
    std::vector<ConvChoice> more;
    for (const ConvChoice& c : refine(t.chosen))
      if (std::none_of(t.candidates.begin(), t.candidates.end(), [&](const Timed& x) { return x.choice == c; })) more.push_back(c);
    st = time_all(more);
  }
  if (reference) scratch_free(reference);  // stream order keeps it alive for the kernels above
  if (st != CGK_OK) return st;
  if (best_ran < 0) return first_status == CGK_OK ? fail(CGK_ERR_ARG, "convolution tuning: no candidates") : fail(first_status, first_error);
  // None agreed with the reference (a wrong reference, or a GEMM whose sums cancel far below
  // their terms): run what runs untuned, the rule's choice; the report shows every rejection.
  if (best < 0) t.chosen = heuristic_ran ? heuristic : fastest_ran;
  *chosen = t.chosen;
  std::lock_guard<std::mutex> lock(g_mutex);
  g_tuned.emplace(flatten(key), std::move(t));
  return CGK_OK;
}

}  // namespace cgk_cuda

using namespace cgk_cuda;

int cgk_set_conv_tuning(int on) {
  if (on != -1 && on != 0 && on != 1)
    return fail(CGK_ERR_ARG, "cgk_set_conv_tuning: on = " + std::to_string(on) + ", expected -1 (default), 0 (off) or 1 (on)");
  g_tuning.store(on);
  return CGK_OK;
}

int cgk_conv_tuning(void) { return conv_tuning_on() ? 1 : 0; }

const char* cgk_conv_tuning_report(void) {
  std::string json = report_json();
  std::lock_guard<std::mutex> lock(g_mutex);
  g_report = std::move(json);
  return g_report.c_str();
}
