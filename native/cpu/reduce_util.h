// Parallel sums in double for reductions and mean losses. The range is cut into at most
// kMaxChunks chunks whose partial sums sit on the stack (no allocation) and are added in chunk
// order, so the result does not depend on how the pool schedules the chunks.
#ifndef CGK_CPU_REDUCE_UTIL_H
#define CGK_CPU_REDUCE_UTIL_H

#include <algorithm>
#include <cstddef>

#include "threads.h"

namespace cgk {

constexpr size_t kMaxChunks = 64;
constexpr size_t kReduceGrain = 1 << 14;

// partial(begin, end) returns the sum of the terms in [begin, end) as a double.
template <class Partial>
double parallel_sum(size_t n, Partial partial) {
  if (n == 0) return 0.0;
  size_t chunks = std::min(kMaxChunks, (n + kReduceGrain - 1) / kReduceGrain);
  if (chunks <= 1) return partial(size_t(0), n);
  size_t chunk = (n + chunks - 1) / chunks;
  double sums[kMaxChunks] = {};
  parallel_for(chunks, [&](size_t c) {
    size_t begin = c * chunk;
    sums[c] = begin < n ? partial(begin, std::min(n, begin + chunk)) : 0.0;
  });
  double total = 0;
  for (size_t c = 0; c < chunks; c++) total += sums[c];
  return total;
}

}  // namespace cgk

#endif  // CGK_CPU_REDUCE_UTIL_H
