/**
 * Host-side image views on ndarray: an image is a strided view over its bytes or floats, so HWC->CHW,
 * crops, flips and grid tiles are view arithmetic (transpose, lo/hi, step) and one copy loop
 * that walks the strides. ndarray's generic get/set is not used in loops: copyView reads the
 * view's offset and strides directly, which keeps a 256x256x3 copy well under a millisecond.
 */
import ndarray from 'ndarray';
import type { NdArray, Data } from 'ndarray';

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
  const [n0, n1, n2] = src.shape;
  if (dst.shape[0] !== n0 || dst.shape[1] !== n1 || dst.shape[2] !== n2) {
    throw new Error(`copyView: shapes differ (${dst.shape.join('x')} vs ${src.shape.join('x')})`);
  }
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
 * folder loader's hot path). With the element types fixed V8 keeps the loop monomorphic, and
 * walking pixels with the few channels innermost reads the decoded bytes in memory order.
 */
export function copyBytesToFloat(dst: View, src: View, map: Float32Array): void {
  const [channels, rows, cols] = src.shape;
  if (dst.shape[0] !== channels || dst.shape[1] !== rows || dst.shape[2] !== cols) {
    throw new Error(`copyBytesToFloat: shapes differ (${dst.shape.join('x')} vs ${src.shape.join('x')})`);
  }
  const s = src.data as Uint8Array, d = dst.data as Float32Array;
  const [sc, sr, sx] = src.stride, [dc, dr, dx] = dst.stride;
  for (let r = 0; r < rows; r++) {
    let si = src.offset + r * sr;
    let di = dst.offset + r * dr;
    if (channels === 3) {
      for (let x = 0; x < cols; x++, si += sx, di += dx) {
        d[di] = map[s[si]];
        d[di + dc] = map[s[si + sc]];
        d[di + 2 * dc] = map[s[si + 2 * sc]];
      }
    } else {
      for (let x = 0; x < cols; x++, si += sx, di += dx) {
        for (let c = 0; c < channels; c++) d[di + c * dc] = map[s[si + c * sc]];
      }
    }
  }
}
