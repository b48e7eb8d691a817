/**
 * ReportWriter keeps runs/<name>/report.html current while training runs, without slowing it.
 *
 * The trainer calls `update()` as often as it likes (after each log flush, each epoch); at most one
 * build runs at a time and builds are at least `minIntervalMs` apart, with a trailing build so the
 * last update is never lost. A report that fails to build must not stop training: the error goes
 * to `onError` (by default one warning on stderr) and the next update tries again.
 */
import { buildReport } from './report';
import type { ImageCache } from './samples';

export interface ReportWriterOptions {
  /** least time between two builds; default 10 s */
  minIntervalMs?: number;
  onError?: (err: Error) => void;
}

export class ReportWriter {
  readonly runDir: string;
  private readonly minIntervalMs: number;
  private readonly onError: (err: Error) => void;
  private readonly imageCache: ImageCache = new Map();
  private lastBuildMs = -Infinity;
  private building: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private dirty = false;
  private finished = false;
  private warned = false;
  /** builds completed, for tests and for the trainer's own logging */
  builds = 0;

  constructor(runDir: string, options: ReportWriterOptions = {}) {
    this.runDir = runDir;
    this.minIntervalMs = options.minIntervalMs ?? 10_000;
    this.onError = options.onError ?? ((err) => this.warnOnce(err));
  }

  /** Asks for a rebuild soon; returns at once. A no-op after final(). */
  update(): void {
    if (this.finished) return;
    this.dirty = true;
    this.schedule();
  }

  /** Waits for any build in flight, then builds once more, the run no longer live. Returns the report path. */
  async final(): Promise<string | undefined> {
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.building;
    try {
      const file = await buildReport(this.runDir, { imageCache: this.imageCache });
      this.builds++;
      return file;
    } catch (err) {
      this.onError(err as Error);
      return undefined;
    }
  }

  private schedule(): void {
    if (this.building || this.timer || !this.dirty || this.finished) return;
    const wait = this.lastBuildMs + this.minIntervalMs - Date.now();
    if (wait > 0) {
      // unref: a pending report must not keep a finished process alive.
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.schedule();
      }, wait);
      this.timer.unref();
      return;
    }
    this.dirty = false;
    this.building = this.build().finally(() => {
      this.building = undefined;
      this.schedule();
    });
  }

  private async build(): Promise<void> {
    this.lastBuildMs = Date.now();
    try {
      await buildReport(this.runDir, { live: true, imageCache: this.imageCache });
      this.builds++;
    } catch (err) {
      this.onError(err as Error);
    }
  }

  private warnOnce(err: Error): void {
    if (this.warned) return;
    this.warned = true;
    process.stderr.write(`cgtrain: warning: the training report could not be written (${err.message}); training goes on\n`);
  }
}
