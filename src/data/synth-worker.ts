/** Worker thread body: renders one range of the synthetic set (see renderSynthParallel). */
import { parentPort, workerData } from 'worker_threads';
import { renderSynthHouseNumbers } from './synth';

const { seed, start, count } = workerData as { seed: number; start: number; count: number };
const set = renderSynthHouseNumbers(seed, count, start);
parentPort!.postMessage(set, [set.pixels.buffer as ArrayBuffer, set.labels.buffer as ArrayBuffer]);
