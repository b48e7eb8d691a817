// Padding, nearest upsampling and channel concat/split. Every backward is written as a gather
// (each input element sums the outputs that came from it, in a fixed order) rather than an
// atomicAdd scatter, so gradients are deterministic and match the CPU run to rounding.
#include "common.cuh"

using namespace cgk_cuda;

namespace {

__device__ __forceinline__ int reflect(int i, int size) {
  if (i < 0) return -i;
  if (i >= size) return 2 * (size - 1) - i;
  return i;
}

__global__ void reflection_pad_forward_kernel(const float* x, float* y, int nc, int h, int w, int top, int left,
                                              int ho, int wo) {
  const size_t total = (size_t)nc * ho * wo;
  CGK_GRID_STRIDE(i, total) {
    const int ox = (int)(i % wo), oy = (int)((i / wo) % ho);
    const size_t plane = i / ((size_t)wo * ho);
    y[i] = x[(plane * h + reflect(oy - top, h)) * w + reflect(ox - left, w)];
  }
}

// The padded coordinates (at most 3) whose reflection lands on input coordinate i.
__device__ __forceinline__ int reflection_sources(int i, int size, int before, int after, int* out) {
  int count = 0;
  out[count++] = i + before;
  if (i > 0 && i <= before) out[count++] = before - i;                                  // mirrored left
  if (i < size - 1 && 2 * (size - 1) - i <= size - 1 + after) out[count++] = before + 2 * (size - 1) - i;  // mirrored right
  return count;
}

__global__ void reflection_pad_backward_kernel(const float* dy, float* dx, int nc, int h, int w, int top,
                                               int bottom, int left, int right, int ho, int wo) {
  const size_t total = (size_t)nc * h * w;
  CGK_GRID_STRIDE(i, total) {
    const int ix = (int)(i % w), iy = (int)((i / w) % h);
    const size_t plane = i / ((size_t)w * h);
    int ys[3], xs[3];
    const int ny = reflection_sources(iy, h, top, bottom, ys);
    const int nx = reflection_sources(ix, w, left, right, xs);
    const float* src = dy + plane * ho * wo;
    float sum = 0.f;
    for (int a = 0; a < ny; ++a)
      for (int b = 0; b < nx; ++b) sum += src[(size_t)ys[a] * wo + xs[b]];
    dx[i] = sum;
  }
}

__global__ void zero_pad_forward_kernel(const float* x, float* y, int nc, int h, int w, int top, int left, int ho,
                                        int wo) {
  const size_t total = (size_t)nc * ho * wo;
  CGK_GRID_STRIDE(i, total) {
    const int ix = (int)(i % wo) - left, iy = (int)((i / wo) % ho) - top;
    const size_t plane = i / ((size_t)wo * ho);
    y[i] = (iy >= 0 && iy < h && ix >= 0 && ix < w) ? x[(plane * h + iy) * w + ix] : 0.f;
  }
}

__global__ void zero_pad_backward_kernel(const float* dy, float* dx, int nc, int h, int w, int top, int left, int ho,
                                         int wo) {
  const size_t total = (size_t)nc * h * w;
  CGK_GRID_STRIDE(i, total) {
    const int ix = (int)(i % w), iy = (int)((i / w) % h);
    const size_t plane = i / ((size_t)w * h);
    dx[i] = dy[(plane * ho + iy + top) * wo + ix + left];
  }
}

__global__ void upsample2x_forward_kernel(const float* x, float* y, int nc, int h, int w) {
  const int ho = 2 * h, wo = 2 * w;
  const size_t total = (size_t)nc * ho * wo;
  CGK_GRID_STRIDE(i, total) {
    const int ox = (int)(i % wo), oy = (int)((i / wo) % ho);
    const size_t plane = i / ((size_t)wo * ho);
    y[i] = x[(plane * h + oy / 2) * w + ox / 2];
  }
}

__global__ void upsample2x_backward_kernel(const float* dy, float* dx, int nc, int h, int w) {
  const int wo = 2 * w;
  const size_t total = (size_t)nc * h * w;
  CGK_GRID_STRIDE(i, total) {
    const int ix = (int)(i % w), iy = (int)((i / w) % h);
    const size_t plane = i / ((size_t)w * h);
    const float* src = dy + (plane * 2 * h + 2 * iy) * wo + 2 * ix;
    dx[i] = (src[0] + src[1]) + (src[wo] + src[wo + 1]);
  }
}

__global__ void concat_channels_kernel(const float* a, const float* b, float* y, int n, int ca, int cb, int hw) {
  const int c = ca + cb;
  const size_t total = (size_t)n * c * hw;
  CGK_GRID_STRIDE(i, total) {
    const int p = (int)(i % hw), ch = (int)((i / hw) % c);
    const size_t batch = i / ((size_t)hw * c);
    y[i] = ch < ca ? a[(batch * ca + ch) * hw + p] : b[(batch * cb + ch - ca) * hw + p];
  }
}

__global__ void split_channels_kernel(const float* y, float* a, float* b, int n, int ca, int cb, int hw) {
  const int c = ca + cb;
  const size_t total = (size_t)n * c * hw;
  CGK_GRID_STRIDE(i, total) {
    const int p = (int)(i % hw), ch = (int)((i / hw) % c);
    const size_t batch = i / ((size_t)hw * c);
    if (ch < ca) a[(batch * ca + ch) * hw + p] = y[i];
    else b[(batch * cb + ch - ca) * hw + p] = y[i];
  }
}

std::string pad_text(int nc, int h, int w, int top, int bottom, int left, int right) {
  return "nc=" + std::to_string(nc) + ", h=" + std::to_string(h) + ", w=" + std::to_string(w) + ", pads (top " +
         std::to_string(top) + ", bottom " + std::to_string(bottom) + ", left " + std::to_string(left) +
         ", right " + std::to_string(right) + ")";
}

int check_pad(const char* fn, bool reflection, const void* a, const void* b, int nc, int h, int w, int top,
              int bottom, int left, int right) {
  if (nc > 0 && (!a || !b)) return fail_arg(fn, "NULL buffer");
  if (nc < 0 || h <= 0 || w <= 0) return fail_arg(fn, pad_text(nc, h, w, top, bottom, left, right) + ": expected nc >= 0 and h, w > 0");
  if (top < 0 || bottom < 0 || left < 0 || right < 0)
    return fail_arg(fn, pad_text(nc, h, w, top, bottom, left, right) + ": pads must be >= 0");
  if (reflection && (top >= h || bottom >= h || left >= w || right >= w))
    return fail_arg(fn, pad_text(nc, h, w, top, bottom, left, right) + ": reflection padding must be smaller than the size it pads");
  return CGK_OK;
}

}  // namespace

extern "C" {

int cgk_reflection_pad_forward(const float* x, float* y, int nc, int h, int w, int top, int bottom, int left,
                               int right) {
  const char* fn = "cgk_reflection_pad_forward";
  CGK_READY(fn);
  if (int st = check_pad(fn, true, x, y, nc, h, w, top, bottom, left, right)) return st;
  const int ho = h + top + bottom, wo = w + left + right;
  const size_t total = (size_t)nc * ho * wo;
  CGK_LAUNCH_1D(fn, reflection_pad_forward_kernel, total, x, y, nc, h, w, top, left, ho, wo);
}

int cgk_reflection_pad_backward(const float* dy, float* dx, int nc, int h, int w, int top, int bottom, int left,
                                int right) {
  const char* fn = "cgk_reflection_pad_backward";
  CGK_READY(fn);
  if (int st = check_pad(fn, true, dy, dx, nc, h, w, top, bottom, left, right)) return st;
  const int ho = h + top + bottom, wo = w + left + right;
  const size_t total = (size_t)nc * h * w;
  CGK_LAUNCH_1D(fn, reflection_pad_backward_kernel, total, dy, dx, nc, h, w, top, bottom, left, right, ho, wo);
}

int cgk_zero_pad_forward(const float* x, float* y, int nc, int h, int w, int top, int bottom, int left, int right) {
  const char* fn = "cgk_zero_pad_forward";
  CGK_READY(fn);
  if (int st = check_pad(fn, false, x, y, nc, h, w, top, bottom, left, right)) return st;
  const int ho = h + top + bottom, wo = w + left + right;
  const size_t total = (size_t)nc * ho * wo;
  CGK_LAUNCH_1D(fn, zero_pad_forward_kernel, total, x, y, nc, h, w, top, left, ho, wo);
}

int cgk_zero_pad_backward(const float* dy, float* dx, int nc, int h, int w, int top, int bottom, int left,
                          int right) {
  const char* fn = "cgk_zero_pad_backward";
  CGK_READY(fn);
  if (int st = check_pad(fn, false, dy, dx, nc, h, w, top, bottom, left, right)) return st;
  const int ho = h + top + bottom, wo = w + left + right;
  const size_t total = (size_t)nc * h * w;
  CGK_LAUNCH_1D(fn, zero_pad_backward_kernel, total, dy, dx, nc, h, w, top, left, ho, wo);
}

int cgk_upsample_nearest2x_forward(const float* x, float* y, int nc, int h, int w) {
  const char* fn = "cgk_upsample_nearest2x_forward";
  CGK_READY(fn);
  CGK_REQUIRE(nc >= 0 && h >= 0 && w >= 0, fn, strf("negative shape [%d, %d, %d]", nc, h, w));
  CGK_REQUIRE(x && y, fn, "NULL buffer");
  const size_t total = (size_t)nc * 4 * h * w;
  CGK_LAUNCH_1D(fn, upsample2x_forward_kernel, total, x, y, nc, h, w);
}

int cgk_upsample_nearest2x_backward(const float* dy, float* dx, int nc, int h, int w) {
  const char* fn = "cgk_upsample_nearest2x_backward";
  CGK_READY(fn);
  CGK_REQUIRE(nc >= 0 && h >= 0 && w >= 0, fn, strf("negative shape [%d, %d, %d]", nc, h, w));
  CGK_REQUIRE(dy && dx, fn, "NULL buffer");
  const size_t total = (size_t)nc * h * w;
  CGK_LAUNCH_1D(fn, upsample2x_backward_kernel, total, dy, dx, nc, h, w);
}

int cgk_concat_channels(const float* a, const float* b, float* y, int n, int ca, int cb, int hw) {
  const char* fn = "cgk_concat_channels";
  CGK_READY(fn);
  CGK_REQUIRE(n >= 0 && ca >= 0 && cb >= 0 && hw >= 0, fn, strf("negative shape (n %d, ca %d, cb %d, hw %d)", n, ca, cb, hw));
  // A side with no elements may be NULL (it is never read), as on the CPU.
  CGK_REQUIRE(y && (a || (size_t)n * ca * hw == 0) && (b || (size_t)n * cb * hw == 0), fn, "NULL buffer");
  const size_t total = (size_t)n * (ca + cb) * hw;
  CGK_LAUNCH_1D(fn, concat_channels_kernel, total, a, b, y, n, ca, cb, hw);
}

int cgk_split_channels(const float* y, float* a, float* b, int n, int ca, int cb, int hw) {
  const char* fn = "cgk_split_channels";
  CGK_READY(fn);
  CGK_REQUIRE(n >= 0 && ca >= 0 && cb >= 0 && hw >= 0, fn, strf("negative shape (n %d, ca %d, cb %d, hw %d)", n, ca, cb, hw));
  CGK_REQUIRE(y && (a || (size_t)n * ca * hw == 0) && (b || (size_t)n * cb * hw == 0), fn, "NULL buffer");
  const size_t total = (size_t)n * (ca + cb) * hw;
  CGK_LAUNCH_1D(fn, split_channels_kernel, total, y, a, b, n, ca, cb, hw);
}

}  // extern "C"
