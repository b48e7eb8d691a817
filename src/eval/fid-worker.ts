/** Worker thread body: the FID of two feature sets (see fidOffThread in ./fid-thread.ts). */
import { parentPort, workerData } from 'worker_threads';
import { fid } from './fid';
import type { FeatureMatrix } from './linalg';

const { x, y } = workerData as { x: FeatureMatrix; y: FeatureMatrix };
parentPort!.postMessage(fid(x, y));
