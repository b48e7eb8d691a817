// Layout kernels: reflection and zero padding, nearest 2x upsampling, channel concat/split.
// All parallelise over planes (nc); backward of reflection padding gathers per input pixel
// (each output is summed from at most 4 mirrored positions per axis), so no atomics are needed.
#include <cstring>

#include "runtime.h"
#include "threads.h"

namespace {

int check_pad(const char* fn, const void* in, const void* out, int nc, int h, int w, int top, int bottom, int left,
              int right, bool reflection) {
  CGK_CHECK(nc >= 0 && h >= 1 && w >= 1, "%s: nc = %d, h = %d, w = %d, expected nc >= 0 and h, w >= 1", fn, nc, h, w);
  CGK_CHECK(top >= 0 && bottom >= 0 && left >= 0 && right >= 0, "%s: negative padding (%d, %d, %d, %d)", fn, top,
            bottom, left, right);
  if (reflection) {
    CGK_CHECK(top < h && bottom < h && left < w && right < w,
              "%s: reflection padding (%d, %d, %d, %d) must be smaller than the input %dx%d", fn, top, bottom, left,
              right, h, w);
  }
  CGK_CHECK(nc == 0 || (in && out), "%s: NULL buffer", fn);
  return CGK_OK;
}

// Source index of padded coordinate o (in [0, size + before + after)) under reflection:
// torch.nn.ReflectionPad2d mirrors without repeating the edge (abc|dcb... is "dcb|abcd|cba").
inline int reflect(int o, int before, int size) {
  int i = o - before;
  if (i < 0) i = -i;
  if (i >= size) i = 2 * (size - 1) - i;
  return i;
}

// Short rows (the 8-float rows of a residual block's 8x8 maps) as plain loops the compiler
// vectorises inline.
inline void copy_row(float* __restrict dst, const float* __restrict src, int n) {
  for (int i = 0; i < n; i++) dst[i] = src[i];
}
inline void add_row(float* __restrict dst, const float* __restrict src, int n) {
  for (int i = 0; i < n; i++) dst[i] += src[i];
}

template <bool reflection>
void pad_forward_plane(const float* x, float* y, int h, int w, int top, int left, int hp, int wp) {
  for (int oy = 0; oy < hp; oy++) {
    float* row = y + static_cast<size_t>(oy) * wp;
    int iy = oy - top;
    if (!reflection && (iy < 0 || iy >= h)) {
      memset(row, 0, sizeof(float) * wp);
      continue;
    }
    if (reflection) iy = reflect(oy, top, h);
    const float* src = x + static_cast<size_t>(iy) * w;
    for (int ox = 0; ox < left; ox++) row[ox] = reflection ? src[reflect(ox, left, w)] : 0.0f;
    memcpy(row + left, src, sizeof(float) * w);
    for (int ox = left + w; ox < wp; ox++) row[ox] = reflection ? src[reflect(ox, left, w)] : 0.0f;
  }
}

// dx[iy, ix] = sum of dy over the padded positions that read (iy, ix): the interior is copied
// (so dx needs no zeroing), then the mirrored rows above and below add their interiors, then
// every padded row's mirrored columns add into the row it reads.
void reflection_pad_backward_plane(const float* __restrict dy, float* __restrict dx, int h, int w, int top, int left,
                                   int hp, int wp) {
  for (int iy = 0; iy < h; iy++) copy_row(dx + static_cast<size_t>(iy) * w, dy + static_cast<size_t>(iy + top) * wp + left, w);
  for (int oy = 0; oy < hp; oy++) {
    if (oy >= top && oy < top + h) continue;
    add_row(dx + static_cast<size_t>(reflect(oy, top, h)) * w, dy + static_cast<size_t>(oy) * wp + left, w);
  }
  for (int oy = 0; oy < hp; oy++) {
    const float* row = dy + static_cast<size_t>(oy) * wp;
    float* dst = dx + static_cast<size_t>(reflect(oy, top, h)) * w;
    for (int ox = 0; ox < left; ox++) dst[left - ox] += row[ox];
    for (int ox = left + w; ox < wp; ox++) dst[2 * (w - 1) - (ox - left)] += row[ox];
  }
}

}  // namespace

extern "C" {

int cgk_reflection_pad_forward(const float* x, float* y, int nc, int h, int w, int top, int bottom, int left, int right) {
  int err = check_pad("cgk_reflection_pad_forward", x, y, nc, h, w, top, bottom, left, right, true);
  if (err) return err;
  int hp = h + top + bottom, wp = w + left + right;
  cgk::parallel_for(nc, [&](size_t p) {
    pad_forward_plane<true>(x + p * h * w, y + p * hp * wp, h, w, top, left, hp, wp);
  });
  return CGK_OK;
}

int cgk_reflection_pad_backward(const float* dy, float* dx, int nc, int h, int w, int top, int bottom, int left, int right) {
  int err = check_pad("cgk_reflection_pad_backward", dy, dx, nc, h, w, top, bottom, left, right, true);
  if (err) return err;
  int hp = h + top + bottom, wp = w + left + right;
  cgk::parallel_for(nc, [&](size_t p) {
    reflection_pad_backward_plane(dy + p * hp * wp, dx + p * h * w, h, w, top, left, hp, wp);
  });
  return CGK_OK;
}

int cgk_zero_pad_forward(const float* x, float* y, int nc, int h, int w, int top, int bottom, int left, int right) {
  int err = check_pad("cgk_zero_pad_forward", x, y, nc, h, w, top, bottom, left, right, false);
  if (err) return err;
  int hp = h + top + bottom, wp = w + left + right;
  cgk::parallel_for(nc, [&](size_t p) {
    pad_forward_plane<false>(x + p * h * w, y + p * hp * wp, h, w, top, left, hp, wp);
  });
  return CGK_OK;
}

int cgk_zero_pad_backward(const float* dy, float* dx, int nc, int h, int w, int top, int bottom, int left, int right) {
  int err = check_pad("cgk_zero_pad_backward", dy, dx, nc, h, w, top, bottom, left, right, false);
  if (err) return err;
  int hp = h + top + bottom, wp = w + left + right;
  cgk::parallel_for(nc, [&](size_t p) {
    const float* src = dy + p * hp * wp + static_cast<size_t>(top) * wp + left;
    float* dst = dx + p * h * w;
    for (int iy = 0; iy < h; iy++) memcpy(dst + static_cast<size_t>(iy) * w, src + static_cast<size_t>(iy) * wp, sizeof(float) * w);
  });
  return CGK_OK;
}

int cgk_upsample_nearest2x_forward(const float* x, float* y, int nc, int h, int w) {
  CGK_CHECK(nc >= 0 && h >= 0 && w >= 0, "cgk_upsample_nearest2x_forward: negative shape [%d, %d, %d]", nc, h, w);
  if (size_t(nc) * h * w == 0) return CGK_OK;
  CGK_CHECK(x && y, "cgk_upsample_nearest2x_forward: NULL buffer");
  cgk::parallel_for(nc, [&](size_t p) {
    const float* src = x + p * h * w;
    float* dst = y + p * 4 * h * w;
    for (int iy = 0; iy < h; iy++) {
      float* row = dst + static_cast<size_t>(2 * iy) * 2 * w;
      for (int ix = 0; ix < w; ix++) row[2 * ix] = row[2 * ix + 1] = src[static_cast<size_t>(iy) * w + ix];
      memcpy(row + 2 * w, row, sizeof(float) * 2 * w);
    }
  });
  return CGK_OK;
}

int cgk_upsample_nearest2x_backward(const float* dy, float* dx, int nc, int h, int w) {
  CGK_CHECK(nc >= 0 && h >= 0 && w >= 0, "cgk_upsample_nearest2x_backward: negative shape [%d, %d, %d]", nc, h, w);
  if (size_t(nc) * h * w == 0) return CGK_OK;
  CGK_CHECK(dy && dx, "cgk_upsample_nearest2x_backward: NULL buffer");
  cgk::parallel_for(nc, [&](size_t p) {
    const float* src = dy + p * 4 * h * w;
    float* dst = dx + p * h * w;
    for (int iy = 0; iy < h; iy++) {
      const float* r0 = src + static_cast<size_t>(2 * iy) * 2 * w;
      const float* r1 = r0 + 2 * w;
      for (int ix = 0; ix < w; ix++) {
        dst[static_cast<size_t>(iy) * w + ix] = (r0[2 * ix] + r0[2 * ix + 1]) + (r1[2 * ix] + r1[2 * ix + 1]);
      }
    }
  });
  return CGK_OK;
}

int cgk_concat_channels(const float* a, const float* b, float* y, int n, int ca, int cb, int hw) {
  CGK_CHECK(n >= 0 && ca >= 0 && cb >= 0 && hw >= 0, "cgk_concat_channels: negative shape (n %d, ca %d, cb %d, hw %d)", n, ca, cb, hw);
  size_t sa = size_t(ca) * hw, sb = size_t(cb) * hw;
  if (size_t(n) * (sa + sb) == 0) return CGK_OK;
  CGK_CHECK(y && (sa == 0 || a) && (sb == 0 || b), "cgk_concat_channels: NULL buffer");
  cgk::parallel_for(n, [&](size_t i) {
    if (sa) memcpy(y + i * (sa + sb), a + i * sa, sizeof(float) * sa);
    if (sb) memcpy(y + i * (sa + sb) + sa, b + i * sb, sizeof(float) * sb);
  });
  return CGK_OK;
}

int cgk_split_channels(const float* y, float* a, float* b, int n, int ca, int cb, int hw) {
  CGK_CHECK(n >= 0 && ca >= 0 && cb >= 0 && hw >= 0, "cgk_split_channels: negative shape (n %d, ca %d, cb %d, hw %d)", n, ca, cb, hw);
  size_t sa = size_t(ca) * hw, sb = size_t(cb) * hw;
  if (size_t(n) * (sa + sb) == 0) return CGK_OK;
  CGK_CHECK(y && (sa == 0 || a) && (sb == 0 || b), "cgk_split_channels: NULL buffer");
  cgk::parallel_for(n, [&](size_t i) {
    if (sa) memcpy(a + i * sa, y + i * (sa + sb), sizeof(float) * sa);
    if (sb) memcpy(b + i * sb, y + i * (sa + sb) + sa, sizeof(float) * sb);
  });
  return CGK_OK;
}

}  // extern "C"
