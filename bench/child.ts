/**
 * Runs one benchmark program as a child process and reads the JSON object it prints last.
 * Every implementation runs in its own process, so one's threads, memory and JIT state cannot
 * slow the next, and a crash or hang costs one measurement instead of the whole run.
 */
import { spawn } from 'child_process';

export interface ChildResult {
  /** The last line of stdout that parses as a JSON object. */
  json: Record<string, unknown>;
  seconds: number;
}

/** The last stdout line that is a JSON object (libraries print banners around it). */
export function lastJsonLine(stdout: string): Record<string, unknown> | null {
  const lines = stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('{'));
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const value: unknown = JSON.parse(lines[i]);
      if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
    } catch {
      // not JSON: keep looking further up
    }
  }
  return null;
}

/** Spawns `command args`, kills it after `timeoutMs`, and rejects with the tail of its stderr on failure. */
export function runJsonChild(command: string, args: string[], timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${command}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = (Date.now() - started) / 1000;
      const tail = stderr.trim().split('\n').slice(-3).join(' | ');
      if (timedOut) return reject(new Error(`timed out after ${Math.round(timeoutMs / 1000)} s`));
      if (code !== 0) return reject(new Error(`exit ${code ?? signal}${tail ? `: ${tail}` : ''}`));
      const json = lastJsonLine(stdout);
      if (!json) return reject(new Error(`printed no JSON object${tail ? ` (stderr: ${tail})` : ''}`));
      resolve({ json, seconds });
    });
  });
}
