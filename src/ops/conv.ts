/**
 * conv2d and convTranspose2d (PyTorch semantics: zero padding, or for conv2d reflection padding:
 * ReflectionPad2d and an unpadded conv in one op, fused into the kernels on the CPU backend). The backward computes only what
 * is needed: no data gradient into the real images of the first layer, no weight gradient for a
 * frozen discriminator; and the forward saves x only when the weight needs a gradient and w only
 * when x does.
 */
import { packConv, type ConvParams } from '../backend/binding';
import { Tensor, needsGrad, record, shapeString } from '../tensor';
import { expectNCHW } from './check';
import { opCounters } from './counters';

export interface ConvOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  /** conv-transpose only */
  outputPadding?: number | [number, number];
  /** conv2d only: 'reflect' pads with the input's reflection (as torch's padding_mode='reflect') */
  paddingMode?: 'zeros' | 'reflect';
}

function pair(v: number | [number, number] | undefined, fallback: number): [number, number] {
  if (v === undefined) return [fallback, fallback];
  return typeof v === 'number' ? [v, v] : v;
}

function convParams(op: string, x: Tensor, w: Tensor, transpose: boolean, o: ConvOptions): ConvParams {
  const [n, cIn, hIn, wIn] = expectNCHW(op, x);
  if (w.shape.length !== 4) throw new Error(`${op}: weight must be 4-D, got ${shapeString(w.shape)}`);
  const [sh, sw] = pair(o.stride, 1);
  const [ph, pw] = pair(o.padding, 0);
  const [oph, opw] = transpose ? pair(o.outputPadding, 0) : [0, 0];
  const reflect = o.paddingMode === 'reflect';
  if (o.paddingMode !== undefined && o.paddingMode !== 'zeros' && !reflect) {
    throw new Error(`${op}: paddingMode must be 'zeros' or 'reflect', got ${JSON.stringify(o.paddingMode)}`);
  }
  if (reflect && transpose) throw new Error(`${op}: paddingMode 'reflect' is for conv2d only`);
  const wIn0 = w.shape[transpose ? 0 : 1];
  if (wIn0 !== cIn) {
    throw new Error(`${op}: input has ${cIn} channels but weight ${shapeString(w.shape)} expects ${wIn0} (${transpose ? '[c_in, c_out, kh, kw]' : '[c_out, c_in, kh, kw]'})`);
  }
  const cOut = w.shape[transpose ? 1 : 0];
  const kh = w.shape[2];
  const kw = w.shape[3];
  const hOut = transpose ? (hIn - 1) * sh - 2 * ph + kh + oph : Math.floor((hIn + 2 * ph - kh) / sh) + 1;
  const wOut = transpose ? (wIn - 1) * sw - 2 * pw + kw + opw : Math.floor((wIn + 2 * pw - kw) / sw) + 1;
  if (hOut <= 0 || wOut <= 0) {
    throw new Error(`${op}: input ${shapeString(x.shape)} is too small for kernel ${kh}x${kw}, stride ${sh}, padding ${ph} (output ${hOut}x${wOut})`);
  }
  if (reflect && (ph >= hIn || pw >= wIn)) {
    throw new Error(`${op}: reflection padding ${ph}x${pw} must be smaller than the input ${shapeString(x.shape)}`);
  }
  return { n, cIn, hIn, wIn, cOut, hOut, wOut, kh, kw, sh, sw, ph, pw, oph, opw, padMode: reflect ? 1 : 0 };
}

function checkBias(op: string, bias: Tensor | null | undefined, cOut: number): void {
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== cOut)) {
    throw new Error(`${op}: bias must have shape [${cOut}], got ${shapeString(bias.shape)}`);
  }
}

/** The three kernels of a convolution kind; conv2d and convTranspose2d share everything else. */
interface ConvKernels {
  forward: 'conv2dForward' | 'convTranspose2dForward';
  backwardData: 'conv2dBackwardData' | 'convTranspose2dBackwardData';
  backwardWeight: 'conv2dBackwardWeight' | 'convTranspose2dBackwardWeight';
}

const CONV2D: ConvKernels = { forward: 'conv2dForward', backwardData: 'conv2dBackwardData', backwardWeight: 'conv2dBackwardWeight' };
const CONV_TRANSPOSE2D: ConvKernels = {
  forward: 'convTranspose2dForward', backwardData: 'convTranspose2dBackwardData', backwardWeight: 'convTranspose2dBackwardWeight',
};

function convolve(op: string, kernels: ConvKernels, x: Tensor, w: Tensor, bias: Tensor | null, options: ConvOptions): Tensor {
  const transposed = kernels === CONV_TRANSPOSE2D;
  const p = convParams(op, x, w, transposed, options);
  checkBias(op, bias, p.cOut);
  const y = Tensor.empty([p.n, p.cOut, p.hOut, p.wOut], x.backend);
  const packed = packConv(p);
  x.binding[kernels.forward](packed, x.buf, w.buf, bias ? bias.buf : null, y.buf);
  // MACs as the reference benchmark counts them: per output element for conv, per input element for conv-transpose.
  if (opCounters.countMacs) opCounters.macs += transposed ? x.size * p.cOut * p.kh * p.kw : y.size * p.cIn * p.kh * p.kw;
  if (!needsGrad(x, w, bias)) return y;
  const saved = [w.requiresGrad ? x : null, x.requiresGrad ? w : null].filter((t): t is Tensor => t !== null);
  return record(op, y, [x, w, bias], saved, (gy) => {
    let dx: Tensor | null = null;
    let dw: Tensor | null = null;
    let db: Tensor | null = null;
    if (x.requiresGrad) dx = Tensor.empty(x.shape, x.backend);
    if (w.requiresGrad) dw = Tensor.empty(w.shape, w.backend);
    if (dx && dw && !transposed) {
      x.binding.conv2dBackward(packed, x.buf, gy.buf, w.buf, dx.buf, dw.buf);
    } else {
      if (dx) x.binding[kernels.backwardData](packed, gy.buf, w.buf, dx.buf);
      if (dw) x.binding[kernels.backwardWeight](packed, x.buf, gy.buf, dw.buf);
    }
    if (bias && bias.requiresGrad) {
      db = Tensor.empty(bias.shape, bias.backend);
      x.binding.biasBackward(gy.buf, db.buf, p.n, p.cOut, p.hOut * p.wOut);
    }
    return [dx, dw, db];
  });
}

export function conv2d(x: Tensor, w: Tensor, bias: Tensor | null = null, options: ConvOptions = {}): Tensor {
  return convolve('conv2d', CONV2D, x, w, bias, options);
}

export function convTranspose2d(x: Tensor, w: Tensor, bias: Tensor | null = null, options: ConvOptions = {}): Tensor {
  return convolve('convTranspose2d', CONV_TRANSPOSE2D, x, w, bias, options);
}
