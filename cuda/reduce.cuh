// Deterministic two-stage reductions in double, as the CPU backend sums (native/cpu/reduce.cc,
// loss.cc): a grid whose size depends only on n writes one partial per block (each thread sums
// a fixed stride of elements, then a fixed tree inside the block), and a single block adds the
// partials in a fixed tree. The same n always adds in the same order, so losses are bit-stable
// from run to run and across resumes. Double costs little here: reductions are memory-bound.
#pragma once

#include "common.cuh"

namespace cgk_cuda {

constexpr int kReduceThreads = 256;

// Sums `value` over the block; the result is valid in thread 0.
template <int Threads, class T>
__device__ __forceinline__ T block_sum(T value, T* shared) {
  shared[threadIdx.x] = value;
  __syncthreads();
#pragma unroll
  for (int s = Threads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
    __syncthreads();
  }
  return shared[0];
}

template <class Term>
__global__ void reduce_partials_kernel(Term term, size_t n, double* partials) {
  __shared__ double shared[kReduceThreads];
  double acc = 0.0;
  for (size_t i = blockIdx.x * (size_t)kReduceThreads + threadIdx.x; i < n; i += (size_t)gridDim.x * kReduceThreads)
    acc += term(i);
  const double total = block_sum<kReduceThreads>(acc, shared);
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

// out[0] = (float)(sum of partials / divisor).
__global__ void reduce_final_kernel(const double* partials, int count, double divisor, float* out);

inline unsigned reduce_grid(size_t n) {
  size_t blocks = (n + kReduceThreads - 1) / kReduceThreads;
  if (blocks > (size_t)kPartials) blocks = kPartials;
  return blocks == 0 ? 1u : (unsigned)blocks;
}

// out[0] = sum over i < n of term(i) (a double), divided by divisor.
template <class Term>
int reduce_to_scalar(const char* fn, Term term, size_t n, double divisor, float* out) {
  const unsigned blocks = reduce_grid(n);
  double* partials = reduction_partials();
  reduce_partials_kernel<Term><<<blocks, kReduceThreads, 0, stream()>>>(term, n, partials);
  reduce_final_kernel<<<1, kPartials, 0, stream()>>>(partials, (int)blocks, divisor, out);
  return check_launch(fn);
}

}  // namespace cgk_cuda
