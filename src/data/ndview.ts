/**
 * Host-side image views on ndarray: an image is a strided view over its bytes or floats, so HWC->CHW,
 * crops, flips and grid tiles are view arithmetic (transpose, lo/hi, step) and one copy loop
 * that walks the strides. ndarray's generic get/set is not used in loops: copyView reads the
 * view's offset and strides directly, which keeps a 256x256x3 copy well under a millisecond.
 */
import ndarray from 'ndarray';
import type { NdArray, Data } from 'ndarray';
import { hostHelpers } from '../backend/device';

export type View = NdArray<Data<number>>;

export function hwcView(data: Data<number>, h: number, w: number, c: number): View {
  return ndarray(data, [h, w, c]);
}

export function chwView(data: Data<number>, c: number, h: number, w: number, offset = 0): View {
  return ndarray(data, [c, h, w], [h * w, w, 1], offset);
}

/** A CHW view of HWC data, cropped to (top, left, height, width), mirrored left-right when flip. */
export function cropFlipChw(hwc: View, top: number, left: number, height: number, width: number, flip: boolean): View {
  let view = hwc.hi(top + height, left + width, hwc.shape[2]).lo(top, left, 0);
  if (flip) view = view.step(1, -1, 1);
  return view.transpose(2, 0, 1);
}

/** dst[...] = map(src[...]) for two 3-D views of the same shape. */
export function copyView(dst: View, src: View, map?: Float32Array): void {
  checkSameShape('copyView', dst, src);
  const [n0, n1, n2] = src.shape;
  const s = src.data as ArrayLike<number>, d = dst.data as { [i: number]: number };
  const [ss0, ss1, ss2] = src.stride, [ds0, ds1, ds2] = dst.stride;
  for (let i = 0; i < n0; i++) {
    for (let j = 0; j < n1; j++) {
      let si = src.offset + i * ss0 + j * ss1;
      let di = dst.offset + i * ds0 + j * ds1;
      if (map) {
        for (let k = 0; k < n2; k++, si += ss2, di += ds2) d[di] = map[s[si]];
      } else {
        for (let k = 0; k < n2; k++, si += ss2, di += ds2) d[di] = s[si];
      }
    }
  }
}

/**
 * copyView specialised to uint8 source and float32 target, for a CHW view of HWC bytes (the
 * folder loader's hot path): the view's offset, strides and shape go to the native addon's
 * hostBytesToFloat (native/host/image.cc), about 0.05 ms for a 256x256 RGB image against 0.25 ms
 * for the TypeScript loop below, which remains the reference and the fallback when the addon is
 * not built. Crops and flips (negative column stride) are only strides, so need no special case.
 */
export function copyBytesToFloat(dst: View, src: View, map: Float32Array): void {
  checkSameShape('copyBytesToFloat', dst, src);
  const native = hostHelpers();
  if (!native) return copyBytesToFloatJs(dst, src, map);
  native.hostBytesToFloat(src.data as Uint8Array, src.offset, src.stride, src.shape, dst.data as Float32Array, dst.offset, dst.stride, map);
}

function checkSameShape(fn: string, dst: View, src: View): void {
  const [n0, n1, n2] = src.shape;
  if (dst.shape[0] !== n0 || dst.shape[1] !== n1 || dst.shape[2] !== n2) {
    throw new Error(`${fn}: shapes differ (${dst.shape.join('x')} vs ${src.shape.join('x')})`);
  }
}

/**
 * The TypeScript copyBytesToFloat. With the element types fixed V8 keeps the loop monomorphic;
 * the source is read in memory order (pixels along a row, the few channels innermost). For
 * three channels the row is taken four pixels at a time, so each channel plane gets four
 * consecutive stores (0.23 instead of 0.32 ms for a 256x256 RGB image).
 */
export function copyBytesToFloatJs(dst: View, src: View, map: Float32Array): void {
  checkSameShape('copyBytesToFloat', dst, src);
  const [channels, rows, cols] = src.shape;
  const s = src.data as Uint8Array, d = dst.data as Float32Array;
  const [sc, sr, sx] = src.stride, [dc, dr, dx] = dst.stride;
  if (channels === 3 && dx === 1) {
    const sc2 = 2 * sc, sx2 = 2 * sx, sx3 = 3 * sx, sx4 = 4 * sx;
    for (let r = 0; r < rows; r++) {
      let si = src.offset + r * sr;
      let d0 = dst.offset + r * dr, d1 = d0 + dc, d2 = d1 + dc;
      const end = d0 + cols, end4 = d0 + (cols & ~3);
      for (; d0 < end4; d0 += 4, d1 += 4, d2 += 4, si += sx4) {
        const p1 = si + sx, p2 = si + sx2, p3 = si + sx3;
        d[d0] = map[s[si]]; d[d0 + 1] = map[s[p1]]; d[d0 + 2] = map[s[p2]]; d[d0 + 3] = map[s[p3]];
        d[d1] = map[s[si + sc]]; d[d1 + 1] = map[s[p1 + sc]]; d[d1 + 2] = map[s[p2 + sc]]; d[d1 + 3] = map[s[p3 + sc]];
        d[d2] = map[s[si + sc2]]; d[d2 + 1] = map[s[p1 + sc2]]; d[d2 + 2] = map[s[p2 + sc2]]; d[d2 + 3] = map[s[p3 + sc2]];
      }
      for (; d0 < end; d0++, d1++, d2++, si += sx) {
        d[d0] = map[s[si]];
        d[d1] = map[s[si + sc]];
        d[d2] = map[s[si + sc2]];
      }
    }
    return;
  }
  for (let r = 0; r < rows; r++) {
    let si = src.offset + r * sr;
    let di = dst.offset + r * dr;
    for (let x = 0; x < cols; x++, si += sx, di += dx) {
      for (let c = 0; c < channels; c++) d[di + c * dc] = map[s[si + c * sc]];
    }
  }
}
