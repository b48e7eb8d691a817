/**
 * `cgtrain doctor`: what this machine offers cgtrain (CPU model and SIMD level, threads, an
 * optional measured FMA peak) and whether CUDA can run here, and if not, why and how to fix it.
 */
import * as fs from 'fs';
import * as os from 'os';
import { convAlgoFromEnv, convAlgoInEffect, cpuAddonPath, cudaAddonPath, cudaUnavailableReason, loadBackend, type DeviceInfo } from './device';

export interface DoctorOptions {
  /** run the FMA peak benchmark for about this many seconds per backend (0 = skip) */
  peakSeconds?: number;
}

export interface DoctorData {
  node: string;
  platform: string;
  cpu: {
    addon: string;
    built: boolean;
    error?: string;
    info?: DeviceInfo;
    peakGflops?: number;
  };
  cuda: {
    addon: string;
    built: boolean;
    available: boolean;
    reason: string | null;
    info?: DeviceInfo;
    peakGflops?: number;
  };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function cpuSection(options: DoctorOptions): DoctorData['cpu'] {
  const section: DoctorData['cpu'] = { addon: cpuAddonPath(), built: fs.existsSync(cpuAddonPath()) };
  try {
    const backend = loadBackend('cpu', { quiet: true });
    section.info = backend.info;
    if (options.peakSeconds && options.peakSeconds > 0) section.peakGflops = backend.binding.peakGflops(options.peakSeconds);
  } catch (err) {
    section.error = errorText(err);
  }
  return section;
}

function cudaSection(options: DoctorOptions): DoctorData['cuda'] {
  const addon = cudaAddonPath();
  const reason = cudaUnavailableReason();
  const section: DoctorData['cuda'] = { addon, built: fs.existsSync(addon), available: reason === null, reason };
  if (!section.built) return section;
  try {
    const binding = require(addon) as { deviceInfo(): string };
    section.info = JSON.parse(binding.deviceInfo()) as DeviceInfo;
    if (reason === null && options.peakSeconds && options.peakSeconds > 0) {
      section.peakGflops = loadBackend('cuda', { quiet: true }).binding.peakGflops(options.peakSeconds);
    }
  } catch (err) {
    section.reason = section.reason ?? errorText(err);
  }
  return section;
}

/** The facts `cgtrain doctor --json` prints. Never throws: failures become fields. */
export function doctorData(options: DoctorOptions = {}): DoctorData {
  return {
    node: process.version,
    platform: `${os.platform()} ${os.arch()} ${os.release()}`,
    cpu: cpuSection(options),
    cuda: cudaSection(options),
  };
}

function formatBytes(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

/** How 3x3 stride-1 convolutions run: Winograd needs the AVX2 or AVX-512 level ($CGTRAIN_CONV_ALGO). */
function convAlgoLine(simd: unknown): string {
  let algo: number;
  try {
    algo = convAlgoFromEnv();
  } catch (err) {
    return (err as Error).message;
  }
  const setting = `CGTRAIN_CONV_ALGO=${process.env.CGTRAIN_CONV_ALGO ?? 'auto'}`;
  switch (convAlgoInEffect('cpu', simd, algo)) {
    case 'winograd':
      return `Winograd F(4x4,3x3) always (${setting})`;
    case 'auto':
      return `Winograd F(4x4,3x3) where it pays, else direct (${setting})`;
    default:
      return simd === 'avx512' || simd === 'avx2' ? `direct (${setting})` : `direct (Winograd needs AVX2 or AVX-512; ${setting})`;
  }
}

/** The SIMD level, the best one when another is forced, and what "scalar" means off x86 (native/cpu/arch.h). */
export function simdText(simd: unknown, best: unknown, arch: string = process.arch): string {
  const forced = best && best !== simd ? ` (best ${String(best)})` : '';
  const portable = simd === 'scalar' && arch !== 'x64' && arch !== 'ia32' ? ' (the portable kernels, which the compiler vectorises for this CPU, NEON on arm64; AVX2/AVX-512 paths are x86-only)' : '';
  return `${String(simd)}${forced}${portable}`;
}

function cpuLines(cpu: DoctorData['cpu']): string[] {
  const lines = [`CPU backend`, `  addon:        ${cpu.addon} (${cpu.built ? 'built' : 'MISSING'})`];
  if (cpu.error) return [...lines, `  error:        ${cpu.error}`];
  const info = cpu.info!;
  lines.push(
    `  cpu:          ${info.cpu?.model ?? 'unknown'} (${os.cpus().length} logical cores)`,
    `  features:     ${info.cpu?.features.join(' ') || 'none detected'}`,
    `  simd:         ${simdText(info.simd, info.simdBest)}`,
    `  threads:      ${info.threads}${process.env.CGTRAIN_THREADS ? ` (CGTRAIN_THREADS=${process.env.CGTRAIN_THREADS})` : ''}`,
    `  3x3 convs:    ${convAlgoLine(info.simd)}`,
  );
  if (cpu.peakGflops !== undefined) lines.push(`  fp32 peak:    ${cpu.peakGflops.toFixed(1)} GFLOP/s (measured FMA loop)`);
  return lines;
}

function cudaLines(cuda: DoctorData['cuda']): string[] {
  const lines = [`CUDA backend`, `  addon:        ${cuda.addon} (${cuda.built ? 'built' : 'not built'})`];
  const info = cuda.info;
  if (info?.driverVersion !== undefined) lines.push(`  driver:       ${String(info.driverVersion)}`);
  if (info?.runtimeVersion !== undefined) lines.push(`  runtime:      ${String(info.runtimeVersion)}`);
  for (const [i, device] of (info?.devices ?? []).entries()) {
    lines.push(
      `  device ${i}:     ${device.name}, ${formatBytes(device.totalMemory)}, compute capability ${device.computeCapability}`,
    );
  }
  if (cuda.peakGflops !== undefined) lines.push(`  fp32 peak:    ${cuda.peakGflops.toFixed(1)} GFLOP/s (measured FMA chain)`);
  if (info?.precision !== undefined) {
    lines.push(`  convs:        ${info.precision} operands by default (--precision; tensor cores take tf32 and bf16 on compute capability 8.0+)`);
    if (info.convTuning !== undefined) {
      lines.push(`  conv engines: ${info.convTuning ? 'timed per shape on first use, the fastest kept ($CGTRAIN_CUDA_TUNE=0: by rule)' : 'chosen by rule ($CGTRAIN_CUDA_TUNE=0)'}`);
    }
  }
  lines.push(cuda.available ? '  status:       available' : `  status:       unavailable: ${cuda.reason ?? 'unknown reason'}`);
  return lines;
}

/** The text `cgtrain doctor` prints. */
export function doctorReport(options: DoctorOptions = {}): string {
  const data = doctorData(options);
  const device = data.cuda.available ? 'cuda' : data.cpu.error ? 'none (build the CPU addon)' : 'cpu';
  return [
    `cgtrain doctor`,
    `  node:         ${data.node} on ${data.platform}`,
    '',
    ...cpuLines(data.cpu),
    '',
    ...cudaLines(data.cuda),
    '',
    `--device auto would run on: ${device}`,
  ].join('\n');
}
