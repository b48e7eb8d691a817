/**
 * Plain JavaScript reference implementations of the layers the exporters emit, written straight
 * from PyTorch's definitions (NCHW, float64 accumulation). They let the ONNX graph tests check
 * each exporter's semantics without the native addon.
 */
export interface Nchw {
  data: Float32Array;
  shape: [number, number, number, number];
}

const at = (s: Nchw['shape'], n: number, c: number, y: number, x: number) => ((n * s[1] + c) * s[2] + y) * s[3] + x;

export function refConv2d(x: Nchw, w: Float32Array, wShape: number[], bias: Float32Array | null, stride: number, pad: number): Nchw {
  const [n, cIn, h, wd] = x.shape;
  const [cOut, , kh, kw] = wShape;
  const hOut = Math.floor((h + 2 * pad - kh) / stride) + 1;
  const wOut = Math.floor((wd + 2 * pad - kw) / stride) + 1;
  const shape: Nchw['shape'] = [n, cOut, hOut, wOut];
  const out = new Float32Array(n * cOut * hOut * wOut);
  for (let b = 0; b < n; b++)
    for (let o = 0; o < cOut; o++)
      for (let oy = 0; oy < hOut; oy++)
        for (let ox = 0; ox < wOut; ox++) {
          let acc = bias ? bias[o] : 0;
          for (let i = 0; i < cIn; i++)
            for (let ky = 0; ky < kh; ky++)
              for (let kx = 0; kx < kw; kx++) {
                const iy = oy * stride - pad + ky;
                const ix = ox * stride - pad + kx;
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                acc += x.data[at(x.shape, b, i, iy, ix)] * w[((o * cIn + i) * kh + ky) * kw + kx];
              }
          out[at(shape, b, o, oy, ox)] = acc;
        }
  return { data: out, shape };
}

/** Conv-transpose as the scatter of each input pixel through the kernel (PyTorch's definition). */
export function refConvTranspose2d(x: Nchw, w: Float32Array, wShape: number[], bias: Float32Array | null, stride: number, pad: number, outPad: number): Nchw {
  const [n, cIn, h, wd] = x.shape;
  const [, cOut, kh, kw] = wShape;
  const hOut = (h - 1) * stride - 2 * pad + kh + outPad;
  const wOut = (wd - 1) * stride - 2 * pad + kw + outPad;
  const shape: Nchw['shape'] = [n, cOut, hOut, wOut];
  const out = new Float64Array(n * cOut * hOut * wOut);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < cIn; i++)
      for (let iy = 0; iy < h; iy++)
        for (let ix = 0; ix < wd; ix++) {
          const v = x.data[at(x.shape, b, i, iy, ix)];
          for (let o = 0; o < cOut; o++)
            for (let ky = 0; ky < kh; ky++)
              for (let kx = 0; kx < kw; kx++) {
                const oy = iy * stride - pad + ky;
                const ox = ix * stride - pad + kx;
                if (oy < 0 || oy >= hOut || ox < 0 || ox >= wOut) continue;
                out[at(shape, b, o, oy, ox)] += v * w[((i * cOut + o) * kh + ky) * kw + kx];
              }
        }
  if (bias) for (let b = 0; b < n; b++) for (let o = 0; o < cOut; o++) for (let p = 0; p < hOut * wOut; p++) out[(b * cOut + o) * hOut * wOut + p] += bias[o];
  return { data: Float32Array.from(out), shape };
}

export function refReflectionPad(x: Nchw, p: number): Nchw {
  const [n, c, h, w] = x.shape;
  const shape: Nchw['shape'] = [n, c, h + 2 * p, w + 2 * p];
  const reflect = (i: number, size: number) => (i < 0 ? -i : i >= size ? 2 * (size - 1) - i : i);
  const out = new Float32Array(n * c * shape[2] * shape[3]);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < shape[2]; y++)
        for (let xx = 0; xx < shape[3]; xx++) out[at(shape, b, ch, y, xx)] = x.data[at(x.shape, b, ch, reflect(y - p, h), reflect(xx - p, w))];
  return { data: out, shape };
}

/** Per-(n, c) normalisation with the given statistics source: the instance (IN) or fixed running values (BN eval). */
export function refNorm(x: Nchw, eps: number, gamma: Float32Array | null, beta: Float32Array | null, running?: { mean: Float32Array; variance: Float32Array }): Nchw {
  const [n, c, h, w] = x.shape;
  const hw = h * w;
  const out = new Float32Array(x.data.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++) {
      const base = (b * c + ch) * hw;
      let mean = 0;
      let variance = 0;
      if (running) {
        mean = running.mean[ch];
        variance = running.variance[ch];
      } else {
        for (let i = 0; i < hw; i++) mean += x.data[base + i];
        mean /= hw;
        for (let i = 0; i < hw; i++) variance += (x.data[base + i] - mean) ** 2;
        variance /= hw;
      }
      const scale = (gamma ? gamma[ch] : 1) / Math.sqrt(variance + eps);
      for (let i = 0; i < hw; i++) out[base + i] = (x.data[base + i] - mean) * scale + (beta ? beta[ch] : 0);
    }
  return { data: out, shape: x.shape };
}

export function refMap(x: Nchw, f: (v: number) => number): Nchw {
  return { data: x.data.map(f), shape: x.shape };
}

export function refUpsample2x(x: Nchw): Nchw {
  const [n, c, h, w] = x.shape;
  const shape: Nchw['shape'] = [n, c, 2 * h, 2 * w];
  const out = new Float32Array(x.data.length * 4);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < 2 * h; y++) for (let xx = 0; xx < 2 * w; xx++) out[at(shape, b, ch, y, xx)] = x.data[at(x.shape, b, ch, y >> 1, xx >> 1)];
  return { data: out, shape };
}

export function refConcat(a: Nchw, b: Nchw): Nchw {
  const [n, ca, h, w] = a.shape;
  const cb = b.shape[1];
  const hw = h * w;
  const out = new Float32Array(n * (ca + cb) * hw);
  for (let i = 0; i < n; i++) {
    out.set(a.data.subarray(i * ca * hw, (i + 1) * ca * hw), i * (ca + cb) * hw);
    out.set(b.data.subarray(i * cb * hw, (i + 1) * cb * hw), (i * (ca + cb) + ca) * hw);
  }
  return { data: out, shape: [n, ca + cb, h, w] };
}

/** y[n, o] = sum_i x[n, i] w[o, i] + b[o]. */
export function refLinear(x: Float32Array, n: number, inF: number, w: Float32Array, bias: Float32Array | null, outF: number): Float32Array {
  const out = new Float32Array(n * outF);
  for (let b = 0; b < n; b++)
    for (let o = 0; o < outF; o++) {
      let acc = bias ? bias[o] : 0;
      for (let i = 0; i < inF; i++) acc += x[b * inF + i] * w[o * inF + i];
      out[b * outF + o] = acc;
    }
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
