/**
 * Files written whole or not at all: the bytes go to a temp file beside the target (same
 * directory, so the rename stays on one filesystem), are flushed, and the temp file is renamed
 * over the target. Any failure (a full disk, a vanished directory, a throwing writer) removes the
 * temp file and leaves the target as it was. Temp names end in `.tmp` and are unique per process
 * and write, so two writers never share one.
 */
import * as fs from 'fs';
import * as path from 'path';

let writes = 0;

function tempPath(file: string): string {
  return `${file}.${process.pid}-${++writes}.tmp`;
}

/** The data, or a writer that writes through the open file descriptor (large files in pieces). */
export type AtomicContent = string | Uint8Array | ((fd: number) => void);

/** Writes `file` atomically, creating its directory; fsyncs before the rename. */
export function writeFileAtomicSync(file: string, content: AtomicContent): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const temp = tempPath(file);
  try {
    const fd = fs.openSync(temp, 'w');
    try {
      if (typeof content === 'function') content(fd);
      else fs.writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, file);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw err;
  }
}

/** The same without blocking the event loop (report pages, sample grids, caches). */
export async function writeFileAtomic(file: string, content: string | Uint8Array): Promise<void> {
  await fs.promises.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const temp = tempPath(file);
  try {
    await fs.promises.writeFile(temp, content);
    await fs.promises.rename(temp, file);
  } catch (err) {
    await fs.promises.rm(temp, { force: true });
    throw err;
  }
}

/** Copies `source` to `dest` atomically. */
export function copyFileAtomicSync(source: string, dest: string): void {
  const temp = tempPath(dest);
  try {
    fs.copyFileSync(source, temp);
    fs.renameSync(temp, dest);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw err;
  }
}
