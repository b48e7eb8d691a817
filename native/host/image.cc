// Host-memory image conversion, compiled into both addons (it touches no device memory): the
// data loader's decoded bytes become float32 tensors here. The TypeScript side describes the
// source as an ndarray view (a crop, a mirror, HWC read as CHW: an offset and three strides),
// so one strided loop serves every case; the plain-TypeScript reference is copyBytesToFloatJs
// in src/data/ndview.ts, and the two must agree exactly (the same 256-entry table).
#include <cstdint>

#include "cgk.h"

extern "C" int cgk_host_bytes_to_float(const uint8_t* src, const int64_t src_strides[3], const int64_t shape[3],
                                       float* dst, const int64_t dst_strides[3], const float* table) {
  const int64_t s0 = src_strides[0], s1 = src_strides[1], s2 = src_strides[2];
  const int64_t d0 = dst_strides[0], d1 = dst_strides[1], d2 = dst_strides[2];
  for (int64_t i = 0; i < shape[0]; i++) {
    for (int64_t j = 0; j < shape[1]; j++) {
      const uint8_t* s = src + i * s0 + j * s1;
      float* d = dst + i * d0 + j * d1;
      if (d2 == 1) {
        // The common case (a CHW row): contiguous stores, source bytes `s2` apart (3 for RGB,
        // -3 mirrored). Four at a time keeps the table loads independent.
        int64_t k = 0;
        for (; k + 4 <= shape[2]; k += 4) {
          const float a = table[s[k * s2]], b = table[s[(k + 1) * s2]];
          const float c = table[s[(k + 2) * s2]], e = table[s[(k + 3) * s2]];
          d[k] = a;
          d[k + 1] = b;
          d[k + 2] = c;
          d[k + 3] = e;
        }
        for (; k < shape[2]; k++) d[k] = table[s[k * s2]];
      } else {
        for (int64_t k = 0; k < shape[2]; k++) d[k * d2] = table[s[k * s2]];
      }
    }
  }
  return CGK_OK;
}
