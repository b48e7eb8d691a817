// Reference pieces shared by the host-side convolution checks in cuda/dev: the direct
// definitions of conv2d and conv-transpose2d (every op is a sum over the same product terms)
// and shape helpers. Plain C++; no GPU needed.
#pragma once

#include <cstddef>
#include <random>
#include <vector>

#include "cgk.h"

namespace conv_ref {

using Vec = std::vector<float>;

inline Vec random_vec(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  Vec v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// Direct definitions. x [n, ci, hi, wi], y [n, co, ho, wo]; conv2d weight [co, ci, kh, kw],
// conv-transpose2d weight [ci, co, kh, kw]. `visit` calls f(x index, y index, weight index) for
// every product term of the forward op; all six ops are sums over these same terms.
template <class F>
void visit_terms(const cgk_conv& p, bool transpose, F f) {
  for (int n = 0; n < p.n; ++n)
    for (int ci = 0; ci < p.c_in; ++ci)
      for (int co = 0; co < p.c_out; ++co)
        for (int r = 0; r < p.kh; ++r)
          for (int s = 0; s < p.kw; ++s) {
            const size_t wi = transpose ? (((size_t)ci * p.c_out + co) * p.kh + r) * p.kw + s
                                        : (((size_t)co * p.c_in + ci) * p.kh + r) * p.kw + s;
            if (!transpose) {
              for (int oh = 0; oh < p.h_out; ++oh)
                for (int ow = 0; ow < p.w_out; ++ow) {
                  const int ih = oh * p.sh - p.ph + r, iw = ow * p.sw - p.pw + s;
                  if (ih < 0 || ih >= p.h_in || iw < 0 || iw >= p.w_in) continue;
                  f((((size_t)n * p.c_in + ci) * p.h_in + ih) * p.w_in + iw,
                    (((size_t)n * p.c_out + co) * p.h_out + oh) * p.w_out + ow, wi);
                }
            } else {
              for (int ih = 0; ih < p.h_in; ++ih)
                for (int iw = 0; iw < p.w_in; ++iw) {
                  const int oh = ih * p.sh - p.ph + r, ow = iw * p.sw - p.pw + s;
                  if (oh < 0 || oh >= p.h_out || ow < 0 || ow >= p.w_out) continue;
                  f((((size_t)n * p.c_in + ci) * p.h_in + ih) * p.w_in + iw,
                    (((size_t)n * p.c_out + co) * p.h_out + oh) * p.w_out + ow, wi);
                }
            }
          }
}

inline cgk_conv conv(int n, int ci, int hi, int wi, int co, int kh, int kw, int sh, int sw, int ph, int pw) {
  return {n, ci, hi, wi, co, (hi + 2 * ph - kh) / sh + 1, (wi + 2 * pw - kw) / sw + 1, kh, kw, sh, sw, ph, pw, 0, 0};
}
inline cgk_conv conv_t(int n, int ci, int hi, int wi, int co, int kh, int kw, int sh, int sw, int ph, int pw, int oph, int opw) {
  return {n, ci, hi, wi, co, (hi - 1) * sh - 2 * ph + kh + oph, (wi - 1) * sw - 2 * pw + kw + opw, kh, kw, sh, sw, ph, pw, oph, opw};
}

}  // namespace conv_ref
