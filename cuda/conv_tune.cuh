// Convolution tuning (cgk_set_conv_tuning), as cudnn.benchmark does it: the first time a GEMM
// shape runs, every way conv_gemm.cu has of computing it at the precision in effect is timed on
// the real operands, and the fastest is kept for the rest of the process. conv_gemm.cu lists
// the candidates and launches them; this file times them, keeps the choices and reports them.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "conv_gemm.cuh"

namespace cgk_cuda {

// One way to run a GEMM: an engine (conv_gemm.cu's ConvEngine, named by engine_name), its tile
// height (0 for the engines with one), the number of reduction splits, and for the tc engine its
// pipeline depth (0: the deepest that fits the GPU's shared memory; 2: two stages, less shared
// memory a block, so more blocks a multiprocessor).
struct ConvChoice {
  int engine = 0, bm = 0, splits = 1, stages = 0;
  bool operator==(const ConvChoice& o) const {
    return engine == o.engine && bm == o.bm && splits == o.splits && stages == o.stages;
  }
};

// Whether tuning is on (cgk_set_conv_tuning; $CGTRAIN_CUDA_TUNE=0 turns the default off).
bool conv_tuning_on();

// What identifies a tuned GEMM: its kind and geometry, the operand precision, and whether A is
// 16-byte aligned (the large-tile engines then load it in vectors).
struct ConvTuneKey {
  ConvKind kind;
  ConvGeom g;
  int precision;
  bool a_aligned;
};

// The choice kept for `key`, or nullptr when it has not been tuned yet.
const ConvChoice* conv_tuned(const ConvTuneKey& key);

// The values a GEMM writes, for the verification below: element (p, r, c) of `planes` planes of
// rows x cols sits at data[p * plane_stride + first + r * row_stride + c * col_stride] (a dense
// output, or one output phase of a strided backward-data, which writes every sh-th row and
// sw-th column).
struct TuneOutput {
  float* data;
  size_t planes, plane_stride;
  int rows, cols;
  int first, row_stride, col_stride;
  size_t count() const { return planes * rows * cols; }
  __host__ __device__ size_t offset(size_t i) const {
    const size_t p = i / ((size_t)rows * cols);
    const int rc = (int)(i - p * rows * cols), r = rc / cols, c = rc - r * cols;
    return p * plane_stride + first + (size_t)r * row_stride + (size_t)c * col_stride;
  }
};

// Times each candidate with `launch` (a warm-up run, then the mean of a few), then the ones
// `refine` proposes from the fastest so far (variants of it worth a try only there), and keeps
// the fastest for `key` in *chosen. A candidate that cannot run (no scratch memory, a launch
// refused) is skipped; a device fault ends the tuning with its error. Every candidate's result
// is checked against a reference: `oracle`'s result (run once, untimed: the exact-FP32 engine,
// so the rule's own engine is checked too), or where there is none or it cannot run, the first
// candidate's. One that differs by more than the precision allows (max_diff_allowed) is
// rejected, so tuning never keeps a fast but wrong kernel; when every candidate is rejected the
// rule's choice runs, as untuned. `heuristic` is what runs without tuning: the report shows
// both. The kernels leave `out` with the last candidate's result, so the caller launches
// *chosen afterwards.
int conv_tune(const ConvTuneKey& key, const std::vector<ConvChoice>& candidates, const ConvChoice& heuristic,
              const ConvChoice* oracle, const TuneOutput& out,
              const std::function<int(const ConvChoice&)>& launch,
              const std::function<std::vector<ConvChoice>(const ConvChoice&)>& refine, ConvChoice* chosen);

// How far a candidate's result may differ from the reference's, as max |diff| / max |ref|: two
// GEMMs of the same operand precision differ by rounding and summation order (about 1e-3 in
// TF32, a few 1e-3 in BF16); a wrong tile or index is off by the size of the values.
double max_diff_allowed(int precision);

// The engine names of conv_gemm.cu, for the report.
const char* engine_name(int engine);

}  // namespace cgk_cuda
