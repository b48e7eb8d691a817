// Standalone validate-then-benchmark driver for the conv/GEMM kernels, without Node. Build from
// the repository root with
//   g++ -std=c++17 -O3 -pthread -Inative/include -Inative/cpu native/cpu/dev/conv_bench.cc
//       native/cpu/gemm.cc native/cpu/conv.cc native/cpu/winograd.cc native/cpu/layout.cc
//       native/cpu/linear.cc native/cpu/peak.cc native/cpu/runtime.cc native/cpu/threads.cc
//       -o /tmp/conv_bench
// (add -DCGK_GEMM_BLOCK_K=.. -DCGK_GEMM_BLOCK_N=.. -DCGK_GEMM_BLOCK_M=.. to try cache blocks) and
// run `/tmp/conv_bench [threads] [batch] [repeat]`. It checks all three passes of assorted shapes
// against a naive loop at every SIMD level, the kernels' own shape errors, then times the
// residual 3x3 256->256 conv at 8x8. CPU_TIME=1 reports GFLOP per CPU-second of the process
// against the peak measured the same way, which stays meaningful while other jobs load the cores.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include <time.h>

#include "cgk.h"

namespace {

struct Shape {
  cgk_conv p;
  const char* name;
};

cgk_conv make(int n, int ci, int h, int w, int co, int k, int s, int pad) {
  cgk_conv p{};
  p.n = n; p.c_in = ci; p.h_in = h; p.w_in = w; p.c_out = co;
  p.kh = p.kw = k; p.sh = p.sw = s; p.ph = p.pw = pad;
  p.h_out = (h + 2 * pad - k) / s + 1;
  p.w_out = (w + 2 * pad - k) / s + 1;
  return p;
}

float at(const std::vector<float>& x, const cgk_conv& p, int n, int c, int y, int xx) {
  if (y < 0 || y >= p.h_in || xx < 0 || xx >= p.w_in) return 0;
  return x[((size_t(n) * p.c_in + c) * p.h_in + y) * p.w_in + xx];
}

void naive_forward(const cgk_conv& p, const std::vector<float>& x, const std::vector<float>& w, std::vector<float>& y) {
  for (int n = 0; n < p.n; n++)
    for (int co = 0; co < p.c_out; co++)
      for (int oy = 0; oy < p.h_out; oy++)
        for (int ox = 0; ox < p.w_out; ox++) {
          double s = 0;
          for (int ci = 0; ci < p.c_in; ci++)
            for (int ky = 0; ky < p.kh; ky++)
              for (int kx = 0; kx < p.kw; kx++)
                s += double(w[((size_t(co) * p.c_in + ci) * p.kh + ky) * p.kw + kx]) *
                     at(x, p, n, ci, oy * p.sh + ky - p.ph, ox * p.sw + kx - p.pw);
          y[((size_t(n) * p.c_out + co) * p.h_out + oy) * p.w_out + ox] = float(s);
        }
}

// dx and dw by brute force from the definition.
void naive_backward(const cgk_conv& p, const std::vector<float>& x, const std::vector<float>& w,
                    const std::vector<float>& dy, std::vector<float>& dx, std::vector<float>& dw) {
  std::vector<double> dxd(dx.size(), 0), dwd(dw.size(), 0);
  for (int n = 0; n < p.n; n++)
    for (int co = 0; co < p.c_out; co++)
      for (int oy = 0; oy < p.h_out; oy++)
        for (int ox = 0; ox < p.w_out; ox++) {
          double g = dy[((size_t(n) * p.c_out + co) * p.h_out + oy) * p.w_out + ox];
          for (int ci = 0; ci < p.c_in; ci++)
            for (int ky = 0; ky < p.kh; ky++)
              for (int kx = 0; kx < p.kw; kx++) {
                int iy = oy * p.sh + ky - p.ph, ix = ox * p.sw + kx - p.pw;
                if (iy < 0 || iy >= p.h_in || ix < 0 || ix >= p.w_in) continue;
                size_t xi = ((size_t(n) * p.c_in + ci) * p.h_in + iy) * p.w_in + ix;
                size_t wi = ((size_t(co) * p.c_in + ci) * p.kh + ky) * p.kw + kx;
                dxd[xi] += g * w[wi];
                dwd[wi] += g * x[xi];
              }
        }
  for (size_t i = 0; i < dx.size(); i++) dx[i] = float(dxd[i]);
  for (size_t i = 0; i < dw.size(); i++) dw[i] = float(dwd[i]);
}

double max_rel(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0, scale = 1e-6;
  for (float v : b) scale = std::max(scale, double(std::fabs(v)));
  for (size_t i = 0; i < a.size(); i++) worst = std::max(worst, std::fabs(double(a[i]) - b[i]) / scale);
  return worst;
}

void fill(std::vector<float>& v, std::mt19937& rng) {
  std::uniform_real_distribution<float> d(-1, 1);
  for (float& f : v) f = d(rng);
}

bool validate(const cgk_conv& p) {
  std::mt19937 rng(42);
  std::vector<float> x(size_t(p.n) * p.c_in * p.h_in * p.w_in), w(size_t(p.c_out) * p.c_in * p.kh * p.kw),
      dy(size_t(p.n) * p.c_out * p.h_out * p.w_out);
  fill(x, rng); fill(w, rng); fill(dy, rng);
  std::vector<float> y_ref(dy.size()), dx_ref(x.size()), dw_ref(w.size());
  naive_forward(p, x, w, y_ref);
  naive_backward(p, x, w, dy, dx_ref, dw_ref);
  bool ok = true;
  for (int level = cgk_simd_level(); level >= 0; level--) {
    cgk_set_simd(level);
    std::vector<float> y(dy.size(), NAN), dx(x.size(), NAN), dw(w.size(), NAN);
    int s1 = cgk_conv2d_forward(&p, x.data(), w.data(), nullptr, y.data());
    int s2 = cgk_conv2d_backward_data(&p, dy.data(), w.data(), dx.data());
    int s3 = cgk_conv2d_backward_weight(&p, x.data(), dy.data(), dw.data());
    double e1 = max_rel(y, y_ref), e2 = max_rel(dx, dx_ref), e3 = max_rel(dw, dw_ref);
    bool good = !s1 && !s2 && !s3 && e1 < 1e-5 && e2 < 1e-5 && e3 < 1e-5;
    printf("  simd %d n%d %dx%dx%d -> %d k%d s%d p%d: fwd %.2e bwd-data %.2e bwd-weight %.2e %s %s\n", level, p.n,
           p.c_in, p.h_in, p.w_in, p.c_out, p.kh, p.sh, p.ph, e1, e2, e3, good ? "ok" : "FAIL",
           (s1 || s2 || s3) ? cgk_last_error() : "");
    ok = ok && good;
  }
  cgk_set_simd(-1);
  return ok;
}

// Process CPU time: on a machine shared with other jobs, FLOPs per CPU-second of this process
// against the peak measured the same way gives the kernel's efficiency regardless of load.
double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}
double wall_seconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

template <typename F>
void time_cpu(const char* what, double flops, int repeat, double peak_per_cpu_s, F&& f) {
  f();
  std::vector<double> t;
  for (int r = 0; r < repeat; r++) {
    double c0 = cpu_seconds();
    f();
    t.push_back(cpu_seconds() - c0);
  }
  std::sort(t.begin(), t.end());
  double best = flops / t[0] / 1e9, median = flops / t[t.size() / 2] / 1e9;
  printf("  %-12s per CPU-s: best %6.1f GFLOP (%5.1f%% of peak)  median %6.1f (%5.1f%%)\n", what, best,
         100 * best / peak_per_cpu_s, median, 100 * median / peak_per_cpu_s);
}

// The kernels check shapes themselves (the addon glue checks first, so only C callers see these).
bool check_shape_errors() {
  float buf[4096] = {};
  cgk_conv bad = make(1, 2, 8, 8, 3, 3, 1, 1);
  bad.h_out = 7;
  int status = cgk_conv2d_forward(&bad, buf, buf, nullptr, buf);
  bool ok = status == CGK_ERR_ARG && strstr(cgk_last_error(), "output 7x8, expected 8x8");
  printf("  conv2d bad h_out: status %d, \"%s\" %s\n", status, cgk_last_error(), ok ? "ok" : "FAIL");
  cgk_conv t = make(1, 2, 4, 4, 3, 3, 2, 1);
  t.h_out = t.w_out = 8;
  t.oph = t.opw = 1;
  bool ok_t = cgk_conv_transpose2d_forward(&t, buf, buf, nullptr, buf) == CGK_OK;
  t.oph = t.opw = 2;
  int status_t = cgk_conv_transpose2d_forward(&t, buf, buf, nullptr, buf);
  ok_t = ok_t && status_t == CGK_ERR_ARG && strstr(cgk_last_error(), "output_padding");
  printf("  conv_transpose2d output_padding 2 at stride 2: status %d, \"%s\" %s\n", status_t, cgk_last_error(),
         ok_t ? "ok" : "FAIL");
  return ok && ok_t;
}

template <typename F>
void time_it(const char* what, double flops, int repeat, double peak, F&& f) {
  f();
  std::vector<double> t;
  for (int r = 0; r < repeat; r++) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  double best = flops / t[0] / 1e9, median = flops / t[t.size() / 2] / 1e9;
  printf("  %-12s best %7.1f GFLOP/s (%5.1f%% of peak)  median %7.1f (%5.1f%%)  %.2f ms\n", what, best,
         100 * best / peak, median, 100 * median / peak, t[0] * 1e3);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 2, batch = argc > 2 ? atoi(argv[2]) : 128,
      repeat = argc > 3 ? atoi(argv[3]) : 10;
  cgk_init(threads);
  bool ok = true;
  const cgk_conv checks[] = {make(2, 3, 9, 7, 5, 3, 1, 1), make(3, 4, 10, 10, 6, 4, 2, 1), make(2, 5, 8, 11, 7, 7, 1, 3),
                             make(1, 9, 6, 6, 20, 1, 1, 0), make(5, 16, 10, 10, 16, 3, 1, 0), make(2, 8, 7, 9, 3, 3, 2, 1),
                             make(3, 5, 22, 38, 3, 7, 1, 0), make(2, 3, 18, 19, 21, 3, 1, 0),
                             make(2, 5, 9, 9, 40, 3, 1, 1), make(3, 6, 7, 8, 33, 4, 1, 2),
                             make(2, 3, 40, 37, 5, 3, 2, 1), make(2, 4, 12, 35, 33, 4, 2, 1)};
  for (const cgk_conv& p : checks) ok = validate(p) && ok;
  ok = check_shape_errors() && ok;
  double peak = 0, w0 = wall_seconds(), c0 = cpu_seconds();
  cgk_peak_gflops(1.0, &peak);
  double peak_cpu = peak * (wall_seconds() - w0) / (cpu_seconds() - c0);
  printf("peak %.1f GFLOP/s on %d threads (%.1f per CPU-second), simd %d\n", peak, cgk_num_threads(), peak_cpu,
         cgk_simd_level());
  cgk_conv p = make(batch, 256, 10, 10, 256, 3, 1, 0);
  const char* only = getenv("ONLY");
  std::vector<float> x(size_t(p.n) * p.c_in * 100), w(256 * 256 * 9), y(size_t(p.n) * 256 * 64), dx(x.size()), dw(w.size());
  std::mt19937 rng(1);
  fill(x, rng); fill(w, rng); fill(y, rng);
  double flops = 2.0 * 256 * 2304 * double(p.n) * 64;
  printf("residual 3x3 256->256 8x8 batch %d\n", batch);
  if (getenv("CPU_TIME")) {
    time_cpu("forward", flops, repeat, peak_cpu, [&] { cgk_conv2d_forward(&p, x.data(), w.data(), nullptr, y.data()); });
    time_cpu("bwd-data", flops, repeat, peak_cpu, [&] { cgk_conv2d_backward_data(&p, y.data(), w.data(), dx.data()); });
    time_cpu("bwd-weight", flops, repeat, peak_cpu, [&] { cgk_conv2d_backward_weight(&p, x.data(), y.data(), dw.data()); });
    return ok ? 0 : 1;
  }
  if (!only || *only == 'f') time_it("forward", flops, repeat, peak, [&] { cgk_conv2d_forward(&p, x.data(), w.data(), nullptr, y.data()); });
  if (!only || *only == 'd') time_it("bwd-data", flops, repeat, peak, [&] { cgk_conv2d_backward_data(&p, y.data(), w.data(), dx.data()); });
  if (!only || *only == 'w') time_it("bwd-weight", flops, repeat, peak, [&] { cgk_conv2d_backward_weight(&p, x.data(), y.data(), dw.data()); });
  return ok ? 0 : 1;
}
