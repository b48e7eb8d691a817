/**
 * Times FID's linear algebra on Inception-sized features, the part of an evaluation that runs in
 * JavaScript: the covariances, the route fid() takes to tr(sqrt(S1 S2)), and with --compare the
 * square-root route it replaced (two eigendecompositions with vectors and two dense products),
 * checking both give the same value.
 *
 *   node dist/bench/fid.js [--dim 2048] [--samples 10000] [--compare]     (= npm run bench:fid --)
 *
 * Features are uniform noise from a fixed seed: the work does not depend on the values.
 */
import { performance } from 'perf_hooks';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { fid, traceSqrtProduct } from '../src/eval/fid';
import { matmul, meanAndCovariance, sqrtPsd, symmetricEigen, symmetrize, type FeatureMatrix } from '../src/eval/linalg';

function noise(n: number, d: number, seed: number): FeatureMatrix {
  let s = seed;
  const data = new Float32Array(n * d);
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    data[i] = s / 4294967296 - 0.5;
  }
  return { data, n, d };
}

function timed<T>(f: () => T): [T, number] {
  const start = performance.now();
  const value = f();
  return [value, (performance.now() - start) / 1000];
}

const args = yargs(hideBin(process.argv))
  .option('dim', { type: 'number', default: 2048, describe: 'feature width (Inception pool3: 2048)' })
  .option('samples', { type: 'number', default: 10000, describe: 'images per set' })
  .option('compare', { type: 'boolean', default: false, describe: 'also time the square-root route (slow: minutes at 2048-d)' })
  .strict()
  .parseSync();

const d = args.dim;
const n = args.samples;
const x = noise(n, d, 1);
const y = noise(n, d, 2);
const [s1, covSeconds] = timed(() => meanAndCovariance(x).cov);
const s2 = meanAndCovariance(y).cov;
console.log(`covariance of ${n} x ${d}: ${covSeconds.toFixed(2)} s`);
if (n > d) {
  const [t, seconds] = timed(() => traceSqrtProduct(s1, s2, d));
  console.log(`tr(sqrt(S1 S2)), Cholesky route: ${seconds.toFixed(2)} s`);
  if (args.compare) {
    const [reference, refSeconds] = timed(() => {
      const h = sqrtPsd(s1, d);
      let sum = 0;
      for (const v of symmetricEigen(symmetrize(matmul(matmul(h, s2, d), h, d), d), d).values) sum += Math.sqrt(Math.max(v, 0));
      return sum;
    });
    console.log(`tr(sqrt(S1 S2)), square-root route: ${refSeconds.toFixed(2)} s (${(refSeconds / seconds).toFixed(1)}x); relative difference ${(Math.abs(t - reference) / reference).toExponential(1)}`);
  }
}
const [value, fidSeconds] = timed(() => fid(x, y));
console.log(`fid() end to end (both covariances and the route it takes): ${fidSeconds.toFixed(2)} s, FID ${value.toFixed(4)}`);
