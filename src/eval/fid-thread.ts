/**
 * FID off the main thread. On Inception-sized sets (10,000 x 2048 features) FID is about a minute
 * of JavaScript; on a worker thread the evaluation goes on meanwhile (KID and PRDC on the
 * backend, a Ctrl-C noticed). Small sets (digit features, a few hundred images) are computed in
 * place: a worker's start costs more than they do.
 */
import * as path from 'path';
import { Worker } from 'worker_threads';
import { fid } from './fid';
import { checkFeatures, type FeatureMatrix } from './linalg';

/** Below this many multiply-adds (about n d^2, the covariances) FID runs in place. */
export const FID_WORKER_MIN_WORK = 1e9;

export function fidOffThread(x: FeatureMatrix, y: FeatureMatrix, options: { signal?: AbortSignal; minWork?: number } = {}): Promise<number> {
  checkFeatures('FID', x, 2);
  checkFeatures('FID', y, 2);
  const work = Math.max(x.n, y.n) * x.d * x.d;
  if (work < (options.minWork ?? FID_WORKER_MIN_WORK)) return Promise.resolve(fid(x, y));
  const signal = options.signal;
  return new Promise<number>((resolve, reject) => {
    signal?.throwIfAborted();
    const worker = new Worker(path.join(__dirname, 'fid-worker.js'), { workerData: { x, y } });
    let settled = false;
    const finish = (f: () => void): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      f();
    };
    const onAbort = (): void => {
      finish(() => reject(signal!.reason));
      void worker.terminate();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (value: number) => finish(() => resolve(value)));
    worker.once('error', (err) => finish(() => reject(err)));
    worker.once('exit', (code) => finish(() => reject(new Error(`FID: its worker thread exited with code ${code} before answering`))));
  });
}
