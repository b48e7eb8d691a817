// Max pooling (with argmax for the backward) and global average pooling, parallel over planes.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

#include "runtime.h"
#include "threads.h"

extern "C" {

int cgk_max_pool2d_forward(const float* x, float* y, float* argmax, int nc, int h, int w, int k, int s, int p, int h_out,
                           int w_out) {
  CGK_CHECK(nc >= 0 && h >= 1 && w >= 1 && k >= 1 && s >= 1 && p >= 0 && 2 * p <= k,
            "cgk_max_pool2d_forward: nc %d, h %d, w %d, k %d, s %d, p %d: expected sizes >= 1 and 0 <= p <= k/2", nc, h,
            w, k, s, p);
  CGK_CHECK(h + 2 * p >= k && w + 2 * p >= k && h_out == (h + 2 * p - k) / s + 1 && w_out == (w + 2 * p - k) / s + 1,
            "cgk_max_pool2d_forward: h_out x w_out = %dx%d does not match input %dx%d, k %d, s %d, p %d", h_out, w_out,
            h, w, k, s, p);
  if (nc == 0) return CGK_OK;
  CGK_CHECK(x && y && argmax, "cgk_max_pool2d_forward: NULL buffer");
  cgk::parallel_for(nc, [&](size_t plane) {
    const float* xp = x + plane * h * w;
    float* yp = y + plane * h_out * w_out;
    float* ap = argmax + plane * h_out * w_out;
    for (int oy = 0; oy < h_out; oy++) {
      int y0 = oy * s - p, y1 = std::min(y0 + k, h);
      y0 = std::max(y0, 0);
      for (int ox = 0; ox < w_out; ox++) {
        int x0 = ox * s - p, x1 = std::min(x0 + k, w);
        x0 = std::max(x0, 0);
        float best = -std::numeric_limits<float>::infinity();
        int best_index = y0 * w + x0;
        for (int iy = y0; iy < y1; iy++) {
          for (int ix = x0; ix < x1; ix++) {
            float v = xp[iy * w + ix];
            if (v > best || std::isnan(v)) {  // NaN propagates, as in PyTorch
              best = v;
              best_index = iy * w + ix;
              if (std::isnan(v)) goto done;
            }
          }
        }
      done:
        yp[oy * w_out + ox] = best;
        ap[oy * w_out + ox] = static_cast<float>(best_index);
      }
    }
  });
  return CGK_OK;
}

int cgk_max_pool2d_backward(const float* dy, const float* argmax, float* dx, int nc, int h, int w, int h_out, int w_out) {
  CGK_CHECK(nc >= 0 && h >= 1 && w >= 1 && h_out >= 1 && w_out >= 1,
            "cgk_max_pool2d_backward: nc %d, h %d, w %d, h_out %d, w_out %d: expected sizes >= 1", nc, h, w, h_out, w_out);
  if (nc == 0) return CGK_OK;
  CGK_CHECK(dy && argmax && dx, "cgk_max_pool2d_backward: NULL buffer");
  std::atomic<long> bad{-1};
  const int plane_in = h * w, plane_out = h_out * w_out;
  cgk::parallel_for(nc, [&](size_t plane) {
    float* dxp = dx + plane * plane_in;
    memset(dxp, 0, sizeof(float) * plane_in);
    for (int o = 0; o < plane_out; o++) {
      float a = argmax[plane * plane_out + o];
      int idx = static_cast<int>(a);
      if (!(a >= 0 && a < plane_in) || static_cast<float>(idx) != a) {
        bad.store(static_cast<long>(plane * plane_out + o));
        continue;
      }
      dxp[idx] += dy[plane * plane_out + o];
    }
  });
  if (bad.load() >= 0) {
    return cgk_set_error("cgk_max_pool2d_backward: argmax[%ld] = %g is not an index into a %dx%d plane", bad.load(),
                         argmax[bad.load()], h, w);
  }
  return CGK_OK;
}

int cgk_global_avg_pool_forward(const float* x, float* y, int nc, int hw) {
  CGK_CHECK(nc >= 0 && hw >= 1, "cgk_global_avg_pool_forward: nc = %d, hw = %d, expected nc >= 0, hw >= 1", nc, hw);
  if (nc == 0) return CGK_OK;
  CGK_CHECK(x && y, "cgk_global_avg_pool_forward: NULL buffer");
  cgk::parallel_for(nc, [&](size_t plane) {
    const float* xp = x + plane * hw;
    double s = 0;
    for (int i = 0; i < hw; i++) s += xp[i];
    y[plane] = static_cast<float>(s / hw);
  });
  return CGK_OK;
}

int cgk_global_avg_pool_backward(const float* dy, float* dx, int nc, int hw) {
  CGK_CHECK(nc >= 0 && hw >= 1, "cgk_global_avg_pool_backward: nc = %d, hw = %d, expected nc >= 0, hw >= 1", nc, hw);
  if (nc == 0) return CGK_OK;
  CGK_CHECK(dy && dx, "cgk_global_avg_pool_backward: NULL buffer");
  cgk::parallel_for(nc, [&](size_t plane) {
    float g = dy[plane] / static_cast<float>(hw);
    float* dxp = dx + plane * hw;
    for (int i = 0; i < hw; i++) dxp[i] = g;
  });
  return CGK_OK;
}

}  // extern "C"
