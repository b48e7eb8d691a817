/** Errors of the data pipeline: each names the file (or thing) and what was expected of it. */
export class DataError extends Error {
  constructor(readonly source: string, problem: string) {
    super(`${source}: ${problem}`);
    this.name = 'DataError';
  }
}

/**
 * An error's message on one line. Decoders (libvips through sharp) repeat the same warning lines
 * several times; each distinct line is kept once, in order, joined with '; '.
 */
export function describeError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const lines = [...new Set(message.split('\n').map((line) => line.trim()).filter((line) => line.length > 0))];
  return lines.join('; ');
}
