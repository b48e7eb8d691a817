/**
 * Loading and selecting a native backend. The CPU addon is built by `npm install` (node-gyp);
 * the CUDA addon is optional (`npm run build:cuda`). When CUDA cannot run, the error says why
 * and what fixes it, so `--device cuda` never fails with a bare dlopen message.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Binding } from './binding';

export type BackendKind = 'cpu' | 'cuda';

/** Parsed cgk_device_info() (see docs/architecture.md); fields that do not apply are absent. */
export interface DeviceInfo {
  backend: BackendKind;
  available: boolean;
  reason: string | null;
  threads?: number;
  simd?: 'avx512' | 'avx2' | 'scalar';
  cpu?: { model: string; features: string[] };
  driverVersion?: number | string;
  runtimeVersion?: number | string;
  devices?: { name: string; totalMemory: number; computeCapability: string }[];
  /** the operand precision of convolutions and linear layers in effect */
  precision?: PrecisionName;
  /** CUDA: whether convolution GEMMs are tuned per shape (cgk_set_conv_tuning) */
  convTuning?: boolean;
  /** CUDA: true for the CPU emulator of cuda/dev/emu (tests), never for a real device */
  emulated?: boolean;
  [key: string]: unknown;
}

export interface Backend {
  kind: BackendKind;
  binding: Binding;
  info: DeviceInfo;
}

export interface LoadOptions {
  /** CPU: thread-pool size (0 or absent = all cores or $CGTRAIN_THREADS). CUDA: ignored. */
  threads?: number;
  /** CUDA device ordinal (default 0). */
  device?: number;
  /** suppress the one-line notice `auto` prints on stderr */
  quiet?: boolean;
  /**
   * Operand precision of convolutions and linear layers (--precision). `auto` (default) keeps
   * the backend's own: fp32 on the CPU, tf32 on CUDA GPUs with tensor cores.
   */
  precision?: PrecisionName | 'auto';
}

/** The --precision names and their cgk_precision_id values (see native/include/cgk.h). */
export const PRECISIONS = { fp32: 0, tf32: 1, bf16: 2 } as const;
export type PrecisionName = keyof typeof PRECISIONS;
export const PRECISION_CHOICES = ['auto', 'fp32', 'tf32', 'bf16'] as const;

/** Applies options.precision to a freshly loaded backend; the error names the option and the fix. */
function applyPrecision(kind: BackendKind, binding: Binding, precision: LoadOptions['precision']): void {
  // An addon built before --precision existed ($CGTRAIN_CPU_ADDON may point at one) has its own.
  const settable = typeof binding.setPrecision === 'function';
  // -1: the backend's default (another load in this process may have changed it).
  if (precision === undefined || precision === 'auto') {
    if (settable) binding.setPrecision(-1);
    return;
  }
  if (!settable) throw new Error(`cgtrain: --precision ${precision}: this ${kind} addon build predates --precision; rebuild it or use --precision auto`);
  if (!(precision in PRECISIONS)) {
    throw new Error(`cgtrain: unknown precision '${String(precision)}', expected ${PRECISION_CHOICES.join(', ')}`);
  }
  try {
    binding.setPrecision(PRECISIONS[precision]);
  } catch (err) {
    const fix = kind === 'cpu'
      ? 'use --precision fp32 (or auto) on the CPU, or --device cuda on an NVIDIA GPU of compute capability 8.0 or newer'
      : 'use --precision fp32 (or auto) on this GPU';
    const reason = (err as Error).message.replace(/^cgtrain \w+: setPrecision: (cgk_set_precision: )?/, '');
    throw new Error(`cgtrain: --precision ${precision} cannot run on ${kind === 'cpu' ? 'the CPU' : 'this CUDA device'}: ${reason}.\n  Fix: ${fix}.`);
  }
}

/**
 * Runs fn with the backend's convolutions and linear layers in fp32, then restores the
 * precision in effect. For work that measures rather than trains: the export check compares two
 * graphs, and evaluation computes features and the dot products behind KID and PRDC, which TF32
 * or BF16 operands would blur (and make a GPU's metrics differ from the CPU's).
 */
export function inFp32<T>(backend: Backend, fn: () => T): T {
  const restore = switchToFp32(backend);
  try {
    return fn();
  } finally {
    restore();
  }
}

/** inFp32 for asynchronous work; nothing else may use the backend meanwhile (the precision is per process). */
export async function inFp32Async<T>(backend: Backend, fn: () => Promise<T>): Promise<T> {
  const restore = switchToFp32(backend);
  try {
    return await fn();
  } finally {
    restore();
  }
}

/** Sets fp32 and returns what puts the previous precision back (nothing to do where it already was fp32). */
function switchToFp32(backend: Backend): () => void {
  const b = backend.binding;
  if (typeof b.precision !== 'function' || b.precision() === PRECISIONS.fp32) return () => {};
  const before = b.precision();
  b.setPrecision(PRECISIONS.fp32);
  return () => b.setPrecision(before);
}

/** The directory holding cgtrain's package.json, found by walking up from this file. */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        if (JSON.parse(fs.readFileSync(manifest, 'utf8')).name === 'cgtrain') return dir;
      } catch {
        // an unreadable package.json is not ours; keep walking up
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cgtrain: cannot find the package root above ${__dirname}`);
    dir = parent;
  }
}

/** $CGTRAIN_CPU_ADDON / $CGTRAIN_CUDA_ADDON point at another build (e.g. to compare two builds' speed). */
export function cpuAddonPath(): string {
  return process.env.CGTRAIN_CPU_ADDON || path.join(packageRoot(), 'build', 'Release', 'cgtrain_cpu.node');
}

export function cudaAddonPath(): string {
  return process.env.CGTRAIN_CUDA_ADDON || path.join(packageRoot(), 'cuda', 'build', 'Release', 'cgtrain_cuda.node');
}

const bindingCache = new Map<string, Binding>();
const initialised = new Set<Binding>();

function requireAddon(file: string): Binding {
  let binding = bindingCache.get(file);
  if (!binding) {
    binding = require(file) as Binding;
    bindingCache.set(file, binding);
  }
  return binding;
}

function parseInfo(binding: Binding): DeviceInfo {
  return JSON.parse(binding.deviceInfo()) as DeviceInfo;
}

function loadCpu(options: LoadOptions): Backend {
  const file = cpuAddonPath();
  if (!fs.existsSync(file)) {
    throw new Error(
      `cgtrain: the CPU addon is not built (${file} is missing).\n` +
        `  Fix: run 'npm run build:native' in ${packageRoot()} (needs a C++17 compiler and python3 for node-gyp).`,
    );
  }
  const binding = requireAddon(file);
  const threads = options.threads ?? 0;
  if (!Number.isInteger(threads) || threads < 0) {
    throw new Error(`cgtrain: threads must be a non-negative integer, got ${threads}`);
  }
  // init(0) picks all cores or $CGTRAIN_THREADS; later loads keep the pool unless asked.
  if (threads > 0 || !initialised.has(binding)) {
    binding.init(threads);
    initialised.add(binding);
  }
  binding.setConvAlgo(convAlgoFromEnv());
  applyPrecision('cpu', binding, options.precision);
  return { kind: 'cpu', binding, info: parseInfo(binding) };
}

/**
 * The host-memory helpers of the CPU addon (image bytes to float32 for the data loader), without
 * starting its thread pool; null when the addon is not built, so callers fall back to TypeScript.
 */
export function hostHelpers(): Pick<Binding, 'hostBytesToFloat'> | null {
  if (hostHelpersCache === undefined) {
    const file = cpuAddonPath();
    hostHelpersCache = fs.existsSync(file) ? requireAddon(file) : null;
  }
  return hostHelpersCache;
}
let hostHelpersCache: Binding | null | undefined;

/** The 3x3 convolution algorithm names of $CGTRAIN_CONV_ALGO and their cgk_conv_algo_id values. */
export const CONV_ALGOS = { direct: 0, auto: 1, winograd: 2 } as const;
export type ConvAlgoName = keyof typeof CONV_ALGOS;

/** The algorithm 3x3 convolutions actually run with: Winograd needs the CPU backend at AVX2 or AVX-512. */
export function convAlgoInEffect(kind: BackendKind, simd: unknown, algo: number): ConvAlgoName {
  if (kind !== 'cpu' || (simd !== 'avx512' && simd !== 'avx2') || algo === CONV_ALGOS.direct) return 'direct';
  return algo === CONV_ALGOS.winograd ? 'winograd' : 'auto';
}

/**
 * $CGTRAIN_CONV_ALGO: `auto` (default: Winograd F(4x4, 3x3) where it pays), `direct` (never; the
 * bit-for-bit behaviour of earlier releases, and the comparison point) or `winograd` (always).
 */
export function convAlgoFromEnv(): number {
  const value = (process.env.CGTRAIN_CONV_ALGO ?? 'auto').trim().toLowerCase();
  if (value in CONV_ALGOS) return CONV_ALGOS[value as keyof typeof CONV_ALGOS];
  throw new Error(`cgtrain: CGTRAIN_CONV_ALGO='${process.env.CGTRAIN_CONV_ALGO}' is not an algorithm; expected ${Object.keys(CONV_ALGOS).join(', ')}`);
}

/** The fix for a CUDA failure, keyed on the cudaGetDeviceCount status in its reason. */
export function cudaFix(reason: string): string {
  const code = /\b(?:returned|code|error)\s*(\d+)/i.exec(reason)?.[1];
  if (code === '35' || /InsufficientDriver|no CUDA driver/i.test(reason)) {
    return 'install the NVIDIA driver (nvidia-smi must work), or run with --device cpu';
  }
  if (code === '36' || /CallRequiresNewerDriver|driver too old|newer driver/i.test(reason)) {
    return 'update the NVIDIA driver to one that supports this CUDA runtime, or run with --device cpu';
  }
  if (code === '100' || /NoDevice|no CUDA device/i.test(reason)) {
    const visible = process.env.CUDA_VISIBLE_DEVICES;
    return visible !== undefined
      ? `CUDA_VISIBLE_DEVICES='${visible}' hides every GPU: unset it or list a GPU index, or run with --device cpu`
      : 'this machine has no NVIDIA GPU visible to the driver; run with --device cpu';
  }
  return 'run `cgtrain doctor` for details, or run with --device cpu';
}

/** Why CUDA cannot run here, with the fix; null when it can. Never throws. */
export function cudaUnavailableReason(): string | null {
  const file = cudaAddonPath();
  if (!fs.existsSync(file)) {
    return `the CUDA addon is not built (${file} is missing).\n  Fix: run 'npm run build:cuda' (needs nvcc from the CUDA toolkit, sm_75 or newer).`;
  }
  let binding: Binding;
  try {
    binding = requireAddon(file);
  } catch (err) {
    return `the CUDA addon at ${file} failed to load: ${(err as Error).message}.\n  Fix: rebuild it with 'npm run build:cuda'.`;
  }
  let info: DeviceInfo;
  try {
    info = parseInfo(binding);
  } catch (err) {
    return `the CUDA addon could not describe its device: ${(err as Error).message}`;
  }
  if (info.available) return null;
  const reason = info.reason ?? 'the CUDA runtime reports no usable device';
  return `${reason}.\n  Fix: ${cudaFix(reason)}.`;
}

function loadCuda(options: LoadOptions): Backend {
  const reason = cudaUnavailableReason();
  if (reason !== null) throw new Error(`cgtrain: CUDA cannot run: ${reason}`);
  const binding = requireAddon(cudaAddonPath());
  const ordinal = options.device ?? 0;
  if (!Number.isInteger(ordinal) || ordinal < 0) {
    throw new Error(`cgtrain: CUDA device must be a non-negative integer, got ${ordinal}`);
  }
  binding.init(ordinal);
  applyPrecision('cuda', binding, options.precision);
  return { kind: 'cuda', binding, info: parseInfo(binding) };
}

/** Loads a backend. `auto` uses CUDA when it can run, else the CPU, and says which on stderr. */
export function loadBackend(kind: BackendKind | 'auto', options: LoadOptions = {}): Backend {
  if (kind === 'cpu') return loadCpu(options);
  if (kind === 'cuda') return loadCuda(options);
  if (kind !== 'auto') throw new Error(`cgtrain: unknown device '${String(kind)}', expected cpu, cuda or auto`);
  if (cudaUnavailableReason() === null) {
    const backend = loadCuda(options);
    if (!options.quiet) process.stderr.write(`cgtrain: running on CUDA (${backend.info.devices?.[0]?.name ?? 'GPU'})\n`);
    return backend;
  }
  const backend = loadCpu(options);
  if (!options.quiet) {
    process.stderr.write(`cgtrain: running on the CPU (${backend.info.simd}, ${backend.info.threads} threads); CUDA is not available (see 'cgtrain doctor')\n`);
  }
  return backend;
}

export { doctorReport, doctorData, type DoctorData } from './doctor';
