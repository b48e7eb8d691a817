/**
 * The whole native surface, typed once. native/addon/ implements exactly this object for both
 * addons (cgtrain_cpu.node and cgtrain_cuda.node); nothing else in the TypeScript touches the
 * raw addon. Each function maps one-to-one onto a cgk_* function of native/include/cgk.h (the
 * name in camelCase, the same argument order), with these differences:
 *  - memory is a `Buf` handle (a buffer of float32 on the backend's device) that knows its size;
 *    the glue checks that every buffer holds at least the elements the shape needs and throws a
 *    JavaScript Error naming the argument otherwise;
 *  - the cgk_conv struct is a ConvParams object, or the same fields packed into an Int32Array
 *    (packConv: what the ops pass, read in one call instead of 16 property lookups);
 *  - errors are thrown as Error objects whose message starts with "cgtrain <backend>: <fn>:".
 */

/** An opaque handle to `size` float32 values in backend memory (host RAM or GPU memory). */
export interface Buf {
  readonly __cgkBuf: never;
}

/** cgk_conv: one description for conv2d and conv-transpose2d (see cgk.h for the shape rules). */
export interface ConvParams {
  n: number;
  cIn: number;
  hIn: number;
  wIn: number;
  cOut: number;
  hOut: number;
  wOut: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  /** output_padding of conv-transpose2d (0 for conv2d) */
  oph: number;
  opw: number;
  /** conv2d padding: 0 zeros (the default), 1 reflection (ReflectionPad2d then an unpadded conv; pad < input) */
  padMode?: number;
}

/** ConvParams' fields in cgk_conv's order: the layout of a packed ConvParams. */
const CONV_FIELDS = ['n', 'cIn', 'hIn', 'wIn', 'cOut', 'hOut', 'wOut', 'kh', 'kw', 'sh', 'sw', 'ph', 'pw', 'oph', 'opw', 'padMode'] as const;

/** A ConvParams packed into an Int32Array of CONV_FIELDS (see packConv). */
export type PackedConv = Int32Array;

/**
 * p as the glue reads it fastest: an Int32Array of its 16 fields. Reading a ConvParams object
 * costs the glue 16 property lookups, most of a convolution call's host time (1.6 of 2.2 us
 * on the emulated CUDA addon, kernels skipped). Where a field is not an int32, p itself, so the
 * glue's message names the field.
 */
export function packConv(p: ConvParams): ConvParams | PackedConv {
  const packed = new Int32Array(CONV_FIELDS.length);
  for (let i = 0; i < CONV_FIELDS.length; i++) {
    const field = CONV_FIELDS[i];
    const value = field === 'padMode' ? p.padMode ?? 0 : p[field]; // padMode alone is optional
    packed[i] = value;
    if (packed[i] !== value) return p;
  }
  return packed;
}

/** The ConvParams of either form (for the profiler's per-shape table). */
export function convParamsOf(p: unknown): ConvParams | null {
  if (p instanceof Int32Array && p.length === CONV_FIELDS.length) {
    const out = {} as Record<(typeof CONV_FIELDS)[number], number>;
    CONV_FIELDS.forEach((field, i) => (out[field] = p[i]));
    return out;
  }
  if (typeof p === 'object' && p !== null && 'kh' in p && 'cIn' in p && 'cOut' in p) return p as ConvParams;
  return null;
}

export interface MemoryStats {
  inUse: number;
  cached: number;
  peak: number;
}

export interface Binding {
  backendName(): 'cpu' | 'cuda';
  /** CPU: thread-pool size (0 = all cores or $CGTRAIN_THREADS). CUDA: device ordinal. */
  init(threads: number): void;
  numThreads(): number;
  /** JSON text describing the backend and device (see cgk_device_info). */
  deviceInfo(): string;
  simdLevel(): number;
  /** Force a SIMD level (0 scalar, 1 AVX2, 2 AVX-512) up to the machine's best; -1 = best. */
  setSimd(level: number): void;
  /** 3x3 stride-1 convolution algorithm: 0 direct, 1 auto (Winograd where it pays), 2 Winograd. */
  convAlgo(): number;
  setConvAlgo(algo: number): void;
  /** GEMM operand precision (cgk_set_precision): 0 fp32, 1 tf32, 2 bf16. The CPU takes only 0. */
  precision(): number;
  setPrecision(precision: number): void;
  /** CUDA convolution tuning per GEMM shape (cgk_set_conv_tuning): 1 on, 0 off, -1 the default. The CPU takes only 0 and -1. */
  convTuning(): number;
  setConvTuning(on: number): void;
  /** JSON array of the tuned GEMMs (see cgk_conv_tuning_report and backend/tuning.ts). */
  convTuningReport(): string;
  peakGflops(seconds: number): number;

  alloc(nFloats: number): Buf;
  /** Returns the memory to the caching allocator now; the handle must not be used again. */
  free(buf: Buf): void;
  size(buf: Buf): number;
  /** Copies src into dst starting at dstOffset (floats). */
  upload(dst: Buf, src: Float32Array, dstOffset?: number): void;
  /** Copies dst.length floats from src starting at srcOffset into dst. */
  download(src: Buf, dst: Float32Array, srcOffset?: number): void;
  sync(): void;
  /** cgk_timer_mark: records a mark in call order (CUDA: an event on the stream), returns its index */
  timerMark(): number;
  /** cgk_timer_read: waits for the last mark; ms from mark 0 to each mark; clears the marks */
  timerRead(): Float64Array;
  memoryStats(): MemoryStats;
  emptyCache(): void;

  // elementwise (n elements; offsets only on copy)
  fill(y: Buf, value: number, n: number): void;
  copy(dst: Buf, dstOffset: number, src: Buf, srcOffset: number, n: number): void;
  /** blocks of `block` floats: pairs = [dstBlock, srcBlock, ...]; dst blocks distinct, none also a src block of the same buffer; on CUDA one launch per 64 pairs */
  copyBlocks(dst: Buf, src: Buf, block: number, pairs: Int32Array): void;
  add(a: Buf, b: Buf, y: Buf, n: number): void;
  sub(a: Buf, b: Buf, y: Buf, n: number): void;
  mul(a: Buf, b: Buf, y: Buf, n: number): void;
  affine(x: Buf, alpha: number, beta: number, y: Buf, n: number): void;
  axpy(alpha: number, x: Buf, y: Buf, n: number): void;
  scaleBy(x: Buf, alpha: Buf, y: Buf, n: number): void;

  // activations
  reluForward(x: Buf, y: Buf, n: number): void;
  reluBackward(x: Buf, dy: Buf, dx: Buf, n: number): void;
  leakyReluForward(x: Buf, slope: number, y: Buf, n: number): void;
  leakyReluBackward(x: Buf, slope: number, dy: Buf, dx: Buf, n: number): void;
  tanhForward(x: Buf, y: Buf, n: number): void;
  tanhBackward(y: Buf, dy: Buf, dx: Buf, n: number): void;
  sigmoidForward(x: Buf, y: Buf, n: number): void;
  sigmoidBackward(y: Buf, dy: Buf, dx: Buf, n: number): void;
  /** seed: a non-negative integer below 2^53. */
  dropoutForward(x: Buf, p: number, seed: number, mask: Buf, y: Buf, n: number): void;

  // layout
  reflectionPadForward(x: Buf, y: Buf, nc: number, h: number, w: number, top: number, bottom: number, left: number, right: number): void;
  reflectionPadBackward(dy: Buf, dx: Buf, nc: number, h: number, w: number, top: number, bottom: number, left: number, right: number): void;
  zeroPadForward(x: Buf, y: Buf, nc: number, h: number, w: number, top: number, bottom: number, left: number, right: number): void;
  zeroPadBackward(dy: Buf, dx: Buf, nc: number, h: number, w: number, top: number, bottom: number, left: number, right: number): void;
  upsampleNearest2xForward(x: Buf, y: Buf, nc: number, h: number, w: number): void;
  upsampleNearest2xBackward(dy: Buf, dx: Buf, nc: number, h: number, w: number): void;
  concatChannels(a: Buf, b: Buf, y: Buf, n: number, ca: number, cb: number, hw: number): void;
  splitChannels(y: Buf, a: Buf, b: Buf, n: number, ca: number, cb: number, hw: number): void;

  // convolution
  conv2dForward(p: ConvParams | PackedConv, x: Buf, w: Buf, bias: Buf | null, y: Buf): void;
  conv2dBackwardData(p: ConvParams | PackedConv, dy: Buf, w: Buf, dx: Buf): void;
  conv2dBackwardWeight(p: ConvParams | PackedConv, x: Buf, dy: Buf, dw: Buf): void;
  /** conv2dBackwardData and conv2dBackwardWeight in one call (the CPU's Winograd path transforms dy once for both). */
  conv2dBackward(p: ConvParams | PackedConv, x: Buf, dy: Buf, w: Buf, dx: Buf, dw: Buf): void;
  biasBackward(dy: Buf, db: Buf, n: number, c: number, hw: number): void;
  convTranspose2dForward(p: ConvParams | PackedConv, x: Buf, w: Buf, bias: Buf | null, y: Buf): void;
  convTranspose2dBackwardData(p: ConvParams | PackedConv, dy: Buf, w: Buf, dx: Buf): void;
  convTranspose2dBackwardWeight(p: ConvParams | PackedConv, x: Buf, dy: Buf, dw: Buf): void;

  // fully connected
  linearForward(x: Buf, w: Buf, bias: Buf | null, y: Buf, n: number, inF: number, outF: number): void;
  linearBackwardData(dy: Buf, w: Buf, dx: Buf, n: number, inF: number, outF: number): void;
  linearBackwardWeight(x: Buf, dy: Buf, dw: Buf, db: Buf | null, n: number, inF: number, outF: number): void;

  // normalisation
  instanceNormForward(x: Buf, gamma: Buf | null, beta: Buf | null, y: Buf, mean: Buf, rstd: Buf, n: number, c: number, hw: number, eps: number): void;
  instanceNormBackward(dy: Buf, x: Buf, mean: Buf, rstd: Buf, gamma: Buf | null, dx: Buf, dgamma: Buf | null, dbeta: Buf | null, n: number, c: number, hw: number): void;
  /** Instance norm then ReLU in one pass each way; CPU addon only (absent from the CUDA addon). */
  instanceNormReluForward?(x: Buf, gamma: Buf | null, beta: Buf | null, y: Buf, mean: Buf, rstd: Buf, n: number, c: number, hw: number, eps: number): void;
  instanceNormReluBackward?(dy: Buf, x: Buf, mean: Buf, rstd: Buf, gamma: Buf | null, beta: Buf | null, dx: Buf, dgamma: Buf | null, dbeta: Buf | null, n: number, c: number, hw: number): void;
  batchNormForwardTrain(x: Buf, gamma: Buf | null, beta: Buf | null, y: Buf, mean: Buf, rstd: Buf, runningMean: Buf | null, runningVar: Buf | null, n: number, c: number, hw: number, eps: number, momentum: number): void;
  batchNormForwardEval(x: Buf, gamma: Buf | null, beta: Buf | null, y: Buf, runningMean: Buf, runningVar: Buf, n: number, c: number, hw: number, eps: number): void;
  batchNormBackward(dy: Buf, x: Buf, mean: Buf, rstd: Buf, gamma: Buf | null, dx: Buf, dgamma: Buf | null, dbeta: Buf | null, n: number, c: number, hw: number): void;

  // pooling and reductions
  maxPool2dForward(x: Buf, y: Buf, argmax: Buf, nc: number, h: number, w: number, k: number, s: number, p: number, hOut: number, wOut: number): void;
  maxPool2dBackward(dy: Buf, argmax: Buf, dx: Buf, nc: number, h: number, w: number, hOut: number, wOut: number): void;
  globalAvgPoolForward(x: Buf, y: Buf, nc: number, hw: number): void;
  globalAvgPoolBackward(dy: Buf, dx: Buf, nc: number, hw: number): void;
  sum(x: Buf, out: Buf, n: number): void;
  mean(x: Buf, out: Buf, n: number): void;
  sumBackward(dout: Buf, dx: Buf, n: number): void;
  meanBackward(dout: Buf, dx: Buf, n: number): void;

  // losses
  l1LossForward(x: Buf, t: Buf, out: Buf, n: number): void;
  l1LossBackward(x: Buf, t: Buf, dout: Buf, dx: Buf, n: number): void;
  mseLossForward(x: Buf, t: Buf, out: Buf, n: number): void;
  mseLossBackward(x: Buf, t: Buf, dout: Buf, dx: Buf, n: number): void;
  bceLogitsForward(x: Buf, t: Buf, out: Buf, n: number): void;
  bceLogitsBackward(x: Buf, t: Buf, dout: Buf, dx: Buf, n: number): void;
  focalLossForward(x: Buf, t: Buf, alpha: number, gamma: number, out: Buf, n: number): void;
  focalLossBackward(x: Buf, t: Buf, alpha: number, gamma: number, dout: Buf, dx: Buf, n: number): void;
  ghmcLossForward(x: Buf, t: Buf, bins: number, momentum: number, acc: Buf, weights: Buf, out: Buf, n: number): void;
  ghmcLossBackward(x: Buf, t: Buf, weights: Buf, dout: Buf, dx: Buf, n: number): void;
  softmaxXentForward(logits: Buf, labels: Buf, probs: Buf, out: Buf, n: number, k: number): void;
  softmaxXentBackward(probs: Buf, labels: Buf, dout: Buf, dlogits: Buf, n: number, k: number): void;
  softmaxForward(logits: Buf, probs: Buf, n: number, k: number): void;

  // optimiser: all arrays have the same length; sizes are taken from the param buffers.
  adamStep(params: Buf[], grads: Buf[], m: Buf[], v: Buf[], lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number): void;

  // host memory (typed arrays, no Buf; the same code in both addons)
  /**
   * dst[dstOffset + i*ds[0] + j*ds[1] + k*ds[2]] = table[src[srcOffset + i*ss[0] + j*ss[1] + k*ss[2]]]
   * over shape [i, j, k]: an ndarray view of decoded image bytes into float32 (strides may be
   * negative; every index is checked against the arrays' lengths).
   */
  hostBytesToFloat(src: Uint8Array, srcOffset: number, srcStrides: number[], shape: number[], dst: Float32Array, dstOffset: number, dstStrides: number[], table: Float32Array): void;
}

type BindingFunction = (...args: unknown[]) => unknown;

/**
 * A copy of `binding` whose functions are what `wrap(name, fn)` returns (values are copied as
 * they are): the profiler times calls this way, bench/host counts them.
 */
export function wrapBinding(binding: Binding, wrap: (name: string, fn: BindingFunction) => BindingFunction): Binding {
  const source = binding as unknown as Record<string, unknown>;
  const wrapped: Record<string, unknown> = {};
  for (const key of Object.keys(source)) {
    const value = source[key];
    wrapped[key] = typeof value === 'function' ? wrap(key, (...args: unknown[]) => (value as BindingFunction).apply(binding, args)) : value;
  }
  return wrapped as unknown as Binding;
}
