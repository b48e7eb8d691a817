/**
 * One training process per run directory. Two processes on one run (a `--continue-train` typed
 * while the first is still going in another terminal, or two demos started at once) would append
 * to the same log and overwrite each other's checkpoints. `<runDir>/train.lock` names the owner:
 * created atomically with its content (a hard link of a temp file), removed when the session ends
 * (also on process.exit), and taken over when its process is gone (a killed run leaves it behind).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const LOCK_FILE = 'train.lock';

interface LockOwner {
  pid: number;
  host: string;
  started: string;
}

export class RunLockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunLockedError';
  }
}

/** Whether a process with this pid runs on this machine (EPERM: it exists, owned by another user). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(file: string): LockOwner | null {
  try {
    const owner = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<LockOwner>;
    return Number.isInteger(owner.pid) && typeof owner.host === 'string' ? (owner as LockOwner) : null;
  } catch {
    return null; // gone meanwhile, or not ours to read: treated as stale below
  }
}

/** The lock's owner while it holds the lock: a live process on this host, or any on another. */
function liveOwner(file: string): LockOwner | null {
  const owner = readOwner(file);
  return owner && (owner.host !== os.hostname() || processAlive(owner.pid)) ? owner : null;
}

/** Whether a training process holds this run directory now. */
export function runLocked(runDir: string): boolean {
  return liveOwner(path.join(runDir, LOCK_FILE)) !== null;
}

/**
 * Takes the run's lock or throws RunLockedError naming the process that holds it. Returns the
 * release function (idempotent). A lock whose process is gone on this host is replaced; one from
 * another host (a shared runs directory) cannot be checked and is respected.
 */
export function acquireRunLock(runDir: string, runName: string): () => void {
  const file = path.join(runDir, LOCK_FILE);
  const me: LockOwner = { pid: process.pid, host: os.hostname(), started: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    try {
      createWithContent(file, `${JSON.stringify(me)}\n`);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw lockError(err, file, runName);
      const owner = liveOwner(file);
      if (owner) {
        throw new RunLockedError(
          `run '${runName}' is being trained by process ${owner.pid} on ${owner.host} (since ${owner.started}; ${file}). ` +
            'Stop that run first, or delete the lock file if that process is not a cgtrain training run.',
        );
      }
      fs.rmSync(file, { force: true }); // stale: its process is gone (or the file is unreadable)
    }
  }
  let held = true;
  const release = (): void => {
    if (!held) return;
    held = false;
    process.off('exit', release);
    if (readOwner(file)?.pid === process.pid) fs.rmSync(file, { force: true });
  };
  process.on('exit', release);
  return release;
}

/**
 * Creates `file` holding `content` in one step, or throws EEXIST: the content goes to a private
 * temp file that is then hard-linked into place, so no other process ever reads an empty lock
 * (which it would take for a stale one). Where hard links are not supported, O_EXCL create then
 * write.
 */
function createWithContent(file: string, content: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, content);
  try {
    fs.linkSync(temp, file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw err;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
    fs.writeFileSync(file, content, { flag: 'wx' });
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

function lockError(err: unknown, file: string, runName: string): Error {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'EEXIST') return new RunLockedError(`run '${runName}': another process took ${file} at the same moment; try again`);
  return new Error(`run '${runName}': cannot create the lock file ${file}: ${e.message}`);
}
