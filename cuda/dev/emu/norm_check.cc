// Runs the instance/batch norm group kernels (cuda/norm_kernels.cuh) on the CPU emulator of
// cuda/dev/emu against a double-precision reference: groups of every thread count (32 to 512),
// group counts that leave a block partly empty, gamma/beta present and absent, running stats;
// and the split kernels of instance norm (several blocks a plane, float and float4 loads).
//
// Build and run (from the repository root; g++ and the CUDA headers, no GPU):
//   g++ -std=c++17 -O2 -DCGK_CUDA_EMU -include cuda/dev/emu/cuda_emu.h -I/usr/local/cuda/include \
//       -Inative/include -Icuda cuda/dev/emu/norm_check.cc cuda/dev/emu/cuda_emu.cc -o /tmp/norm_check
//   /tmp/norm_check
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <type_traits>
#include <vector>

#include "norm_kernels.cuh"

using namespace cgk_cuda;

namespace {

int failures = 0, runs = 0;

void expect_close(const char* what, const char* shape, const std::vector<float>& got, const std::vector<double>& want,
                  double rtol, double atol) {
  double worst = 0;
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double err = std::isnan(got[i]) ? INFINITY : std::fabs(got[i] - want[i]);
    worst = std::fmax(worst, err);
    if (!(err <= atol + rtol * std::fabs(want[i])) && bad++ == 0) first = i;
  }
  ++runs;
  if (bad) ++failures;
  std::printf("%-4s %-26s %-40s max err %.1e", bad ? "FAIL" : "ok", what, shape, worst);
  if (bad) std::printf("  (%zu wrong; [%zu] = %g, expected %g)", bad, first, got[first], want[first]);
  std::printf("\n");
}

// One norm forward + backward: instance (groups = n * c, planes 1) or batch (groups = c, planes n).
// chunks > 1: the split kernels of instance norm, that many blocks a plane, W floats a load.
void check(int n, int c, int hw, bool batch, bool affine, std::mt19937& rng, int chunks = 1, int W = 1) {
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  const size_t total = (size_t)n * c * hw;
  std::vector<float> x(total), dy(total), gamma(c), beta(c), run_mean(c, 0.1f), run_var(c, 0.9f);
  for (auto& v : x) v = 3.f * u(rng) + 0.5f;
  for (auto& v : dy) v = u(rng);
  for (auto& v : gamma) v = 1.f + 0.5f * u(rng);
  for (auto& v : beta) v = u(rng);
  const int groups = batch ? c : n * c, planes = batch ? n : 1;
  const size_t plane_stride = (size_t)c * hw, count = (size_t)planes * hw;
  const float eps = 1e-5f, momentum = 0.1f;
  auto at = [&](int g, int p, int i) { return (size_t)g * hw + (size_t)p * plane_stride + i; };

  // Reference.
  std::vector<double> y_ref(total), mean_ref(groups), rstd_ref(groups), dx_ref(total), dg_ref(c, 0), db_ref(c, 0);
  std::vector<double> rm_ref(run_mean.begin(), run_mean.end()), rv_ref(run_var.begin(), run_var.end());
  for (int g = 0; g < groups; ++g) {
    const int ch = g % c;
    double s = 0, sq = 0;
    for (int p = 0; p < planes; ++p)
      for (int i = 0; i < hw; ++i) s += x[at(g, p, i)];
    const double m = s / count;
    for (int p = 0; p < planes; ++p)
      for (int i = 0; i < hw; ++i) sq += (x[at(g, p, i)] - m) * (x[at(g, p, i)] - m);
    const double r = 1 / std::sqrt(sq / count + eps);
    mean_ref[g] = m;
    rstd_ref[g] = r;
    if (batch) {
      rm_ref[ch] = (1 - momentum) * rm_ref[ch] + momentum * m;
      rv_ref[ch] = (1 - momentum) * rv_ref[ch] + momentum * sq / (count - 1);
    }
    const double gm = affine ? gamma[ch] : 1, bt = affine ? beta[ch] : 0;
    double sdy = 0, sdyx = 0;
    for (int p = 0; p < planes; ++p)
      for (int i = 0; i < hw; ++i) {
        const size_t k = at(g, p, i);
        y_ref[k] = (x[k] - m) * r * gm + bt;
        sdy += dy[k];
        sdyx += dy[k] * (x[k] - m) * r;
      }
    for (int p = 0; p < planes; ++p)
      for (int i = 0; i < hw; ++i) {
        const size_t k = at(g, p, i);
        dx_ref[k] = gm * r * (dy[k] - sdy / count - (x[k] - m) * r * sdyx / count);
      }
    dg_ref[ch] += sdyx;
    db_ref[ch] += sdy;
  }

  // Kernels.
  std::vector<float> y(total, NAN), mean(groups, NAN), rstd(groups, NAN), dx(total, NAN), dgamma(c, NAN), dbeta(c, NAN);
  std::vector<double> sums(2 * (size_t)groups, NAN);
  const int t = norm::threads_per_group(count);
  if (chunks > 1) {
    namespace sp = norm::split;
    const size_t blocks = (size_t)groups * chunks, len = sp::chunk_len(hw, chunks);
    std::vector<double> p1(blocks, NAN), p2(blocks, NAN);
    const float* g = affine ? gamma.data() : nullptr;
    const float* b = affine ? beta.data() : nullptr;
    auto run = [&](auto w) {
      constexpr int V = decltype(w)::value;
      emu::launch(dim3(blocks), dim3(sp::kThreads), 0, [&] { sp::sum_kernel<V>(x.data(), p1.data(), hw, chunks, len); });
      emu::launch(dim3(blocks), dim3(sp::kThreads), 0, [&] { sp::sqdev_kernel<V>(x.data(), p1.data(), p2.data(), hw, chunks, len); });
      emu::launch(dim3(blocks), dim3(sp::kThreads), 0, [&] {
        sp::normalize_kernel<V, false>(x.data(), g, b, y.data(), mean.data(), rstd.data(), p1.data(), p2.data(), c, hw, chunks, len, eps);
      });
      std::fill(p1.begin(), p1.end(), NAN);
      std::fill(p2.begin(), p2.end(), NAN);
      emu::launch(dim3(blocks), dim3(sp::kThreads), 0, [&] {
        sp::grad_sums_kernel<V, false>(dy.data(), x.data(), mean.data(), rstd.data(), g, nullptr, p1.data(), p2.data(), c, hw, chunks, len);
      });
      emu::launch(dim3(blocks), dim3(sp::kThreads), 0, [&] {
        sp::dx_kernel<V, false>(dy.data(), x.data(), mean.data(), rstd.data(), g, nullptr, dx.data(), p1.data(), p2.data(),
                                sums.data(), sums.data() + groups, c, hw, chunks, len);
      });
    };
    if (W == 4) run(std::integral_constant<int, 4>{});
    else run(std::integral_constant<int, 1>{});
  } else norm::with_group_threads(count, [&](auto tag) {
    constexpr int T = decltype(tag)::value;
    const dim3 grid(norm::group_blocks(groups, T)), block(norm::block_threads(T));
    emu::launch(grid, block, 0, [&] {
      norm::forward_kernel<T, false>(x.data(), affine ? gamma.data() : nullptr, affine ? beta.data() : nullptr, y.data(),
                              mean.data(), rstd.data(), batch ? run_mean.data() : nullptr,
                              batch ? run_var.data() : nullptr, groups, c, hw, planes, plane_stride, eps, momentum);
    });
    emu::launch(grid, block, 0, [&] {
      norm::backward_kernel<T, false>(dy.data(), x.data(), mean.data(), rstd.data(), affine ? gamma.data() : nullptr, nullptr, dx.data(),
                               sums.data(), sums.data() + groups, groups, c, hw, planes, plane_stride);
    });
  });
  if (affine)
    emu::launch(dim3((c + 127) / 128), dim3(128), 0, [&] {
      norm::param_grads_kernel(sums.data(), sums.data() + groups, groups, c, dgamma.data(), dbeta.data());
    });

  char shape[96];
  if (chunks > 1) std::snprintf(shape, sizeof shape, "n%d c%d hw%d%s, %d blocks/plane, %s", n, c, hw, affine ? " affine" : "", chunks, W == 4 ? "float4" : "float");
  else std::snprintf(shape, sizeof shape, "n%d c%d hw%d%s, %d threads/group", n, c, hw, affine ? " affine" : "", t);
  const char* kind = batch ? "batch" : "instance";
  char what[64];
  auto name = [&](const char* part) {
    std::snprintf(what, sizeof what, "%s norm %s", kind, part);
    return what;
  };
  expect_close(name("y"), shape, y, y_ref, 2e-5, 2e-5);
  expect_close(name("mean"), shape, mean, mean_ref, 1e-5, 1e-6);
  expect_close(name("rstd"), shape, rstd, rstd_ref, 1e-5, 1e-6);
  expect_close(name("dx"), shape, dx, dx_ref, 1e-4, 2e-5);
  if (affine) {
    expect_close(name("dgamma"), shape, dgamma, dg_ref, 1e-4, 1e-4);
    expect_close(name("dbeta"), shape, dbeta, db_ref, 1e-4, 1e-4);
  }
  if (batch) {
    expect_close(name("running mean"), shape, run_mean, rm_ref, 1e-5, 1e-6);
    expect_close(name("running var"), shape, run_var, rv_ref, 1e-5, 1e-6);
  }
}

}  // namespace

int main() {
  std::mt19937 rng(7);
  check(3, 5, 1, false, true, rng);      // 15 groups of 1 element: 32 threads each, 8 per block
  check(4, 5, 64, false, false, rng);    // a 32x32 batch-128 generator's 8x8 planes, scaled down
  check(2, 9, 300, false, true, rng);    // 64 threads a group, 4 groups a block, the last block partial
  check(1, 3, 1000, false, true, rng);   // 128 threads
  check(3, 2, 1500, false, true, rng);   // 256 threads, one group a block
  check(2, 2, 2500, false, false, rng);  // 512 threads, one group a block
  check(4, 3, 20, true, true, rng);      // batch norm: 80 elements a channel
  check(8, 2, 700, true, false, rng);    // batch norm: 5600 elements a channel
  // The split kernels (few, large planes): chunk counts that divide the plane and that leave a
  // short last chunk, float and float4 loads.
  check(1, 2, 4096, false, true, rng, 4, 4);
  check(1, 3, 5000, false, true, rng, 3, 4);
  check(2, 1, 3001, false, false, rng, 5, 1);
  check(1, 2, 16384, false, true, rng, 7, 1);
  check(1, 1, 2048, false, false, rng, 64, 4);  // chunks of 32 elements: most threads idle
  std::printf("split plan: 64 planes of 65536 on 132 SMs -> %d blocks a plane; 256 of 4096 -> %d\n",
              norm::split::chunks_for(64, 65536, 132), norm::split::chunks_for(256, 4096, 132));
  std::printf("%s (%d runs)\n", failures ? "norm emulator check FAILED" : "norm emulator check passed", runs);
  return failures ? 1 : 0;
}
