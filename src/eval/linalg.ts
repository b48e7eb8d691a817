/**
 * Dense double-precision linear algebra for the feature statistics (128x128 for the digit
 * classifier, 2048x2048 for Inception): mean and covariance, a symmetric eigendecomposition by
 * cyclic Jacobi rotations, and the PSD square root built on it. Jacobi is chosen over a faster
 * tridiagonal QR because it is short, unconditionally stable for symmetric input and accurate
 * for tiny eigenvalues, which is what FID's matrix square root needs.
 * Matrices are row-major Float64Array of n*n values.
 */

/** Feature vectors: n rows of d values, row-major. */
export interface FeatureMatrix {
  data: Float32Array | Float64Array;
  n: number;
  d: number;
}

export function checkFeatures(what: string, f: FeatureMatrix, minRows = 1): void {
  if (!Number.isInteger(f.n) || !Number.isInteger(f.d) || f.d < 1 || f.data.length !== f.n * f.d) {
    throw new Error(`${what}: feature matrix claims ${f.n} x ${f.d} but holds ${f.data.length} values`);
  }
  if (f.n < minRows) throw new Error(`${what}: needs at least ${minRows} feature vectors, got ${f.n}`);
}

/** Column means and the unbiased (n - 1) covariance, as numpy's np.cov(rowvar=False). */
/** The mean of each column (feature), in float64. */
export function columnMeans(f: FeatureMatrix): Float64Array {
  const { n, d, data } = f;
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += data[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= n;
  return mean;
}

export function meanAndCovariance(f: FeatureMatrix): { mean: Float64Array; cov: Float64Array } {
  checkFeatures('covariance', f, 2);
  const { n, d, data } = f;
  const mean = columnMeans(f);
  const cov = new Float64Array(d * d);
  // Eight centred rows at a time (rank-8 updates of the upper triangle, mirrored below): the
  // d x d accumulator streams through memory n / 8 times instead of n times (3x faster at 1024-d).
  const r = new Float64Array(8 * d);
  for (let i0 = 0; i0 < n; i0 += 8) {
    r.fill(0); // a short last block adds zero rows
    for (let t = 0; t < 8 && i0 + t < n; t++) for (let j = 0; j < d; j++) r[t * d + j] = data[(i0 + t) * d + j] - mean[j];
    for (let a = 0; a < d; a++) {
      const r0 = r[a], r1 = r[d + a], r2 = r[2 * d + a], r3 = r[3 * d + a];
      const r4 = r[4 * d + a], r5 = r[5 * d + a], r6 = r[6 * d + a], r7 = r[7 * d + a];
      const base = a * d;
      for (let b = a; b < d; b++) {
        cov[base + b] += r0 * r[b] + r1 * r[d + b] + r2 * r[2 * d + b] + r3 * r[3 * d + b]
          + r4 * r[4 * d + b] + r5 * r[5 * d + b] + r6 * r[6 * d + b] + r7 * r[7 * d + b];
      }
    }
  }
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      const v = cov[a * d + b] / (n - 1);
      cov[a * d + b] = v;
      cov[b * d + a] = v;
    }
  }
  return { mean, cov };
}

export function trace(a: Float64Array, n: number): number {
  let t = 0;
  for (let i = 0; i < n; i++) t += a[i * n + i];
  return t;
}

/** c = a b for n x n matrices. */
export function matmul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      if (aik === 0) continue;
      const bRow = k * n;
      const cRow = i * n;
      for (let j = 0; j < n; j++) c[cRow + j] += aik * b[bRow + j];
    }
  }
  return c;
}

/** Averages a with its transpose in place (removes rounding asymmetry before an eigensolve). */
export function symmetrize(a: Float64Array, n: number): Float64Array {
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const v = 0.5 * (a[i * n + j] + a[j * n + i]);
      a[i * n + j] = v;
      a[j * n + i] = v;
    }
  }
  return a;
}

export interface Eigen {
  /** eigenvalues (unsorted, in the order of the vectors) */
  values: Float64Array;
  /** eigenvectors as the columns of a row-major n x n matrix */
  vectors: Float64Array;
  sweeps: number;
}

function offDiagonalSquares(a: Float64Array, n: number): number {
  let s = 0;
  for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) s += a[p * n + q] * a[p * n + q];
  return s;
}

/** One Jacobi rotation zeroing a[p][q] (Golub & Van Loan, sym.schur2), applied to a and v. */
function rotate(a: Float64Array, v: Float64Array, n: number, p: number, q: number): void {
  const apq = a[p * n + q];
  const tau = (a[q * n + q] - a[p * n + p]) / (2 * apq);
  const t = (tau >= 0 ? 1 : -1) / (Math.abs(tau) + Math.sqrt(1 + tau * tau));
  const c = 1 / Math.sqrt(1 + t * t);
  const s = t * c;
  for (let k = 0; k < n; k++) {
    const akp = a[k * n + p];
    const akq = a[k * n + q];
    a[k * n + p] = c * akp - s * akq;
    a[k * n + q] = s * akp + c * akq;
  }
  for (let k = 0; k < n; k++) {
    const apk = a[p * n + k];
    const aqk = a[q * n + k];
    a[p * n + k] = c * apk - s * aqk;
    a[q * n + k] = s * apk + c * aqk;
  }
  for (let k = 0; k < n; k++) {
    const vkp = v[k * n + p];
    const vkq = v[k * n + q];
    v[k * n + p] = c * vkp - s * vkq;
    v[k * n + q] = s * vkp + c * vkq;
  }
}

/** Above this size the Householder + QL solver is used: Jacobi's ~30 n^3 flops get slow (Inception's 2048). */
export const JACOBI_MAX_N = 256;

/**
 * Eigendecomposition of a symmetric matrix, A = V diag(values) V^T: cyclic Jacobi up to
 * JACOBI_MAX_N, Householder tridiagonalisation + implicit QL above (both stable for symmetric input).
 */
export function symmetricEigen(input: Float64Array, n: number): Eigen {
  return n <= JACOBI_MAX_N ? jacobiEigen(input, n) : tridiagonalQlEigen(input, n);
}

/**
 * Cyclic Jacobi sweeps. Converges quadratically; stops when the off-diagonal mass is below 1e-30
 * of the total.
 */
export function jacobiEigen(input: Float64Array, n: number, maxSweeps = 60): Eigen {
  if (input.length !== n * n) throw new Error(`symmetricEigen: expected ${n}x${n} = ${n * n} values, got ${input.length}`);
  const a = symmetrize(Float64Array.from(input), n);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let total = 0;
  for (let i = 0; i < a.length; i++) total += a[i] * a[i];
  let sweeps = 0;
  for (; sweeps < maxSweeps; sweeps++) {
    if (offDiagonalSquares(a, n) <= 1e-30 * total) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        // An entry negligible against both diagonal entries is left alone (as in EISPACK jacobi).
        const apq = Math.abs(a[p * n + q]);
        if (apq === 0 || apq < 1e-18 * Math.min(Math.abs(a[p * n + p]), Math.abs(a[q * n + q]))) continue;
        rotate(a, v, n, p, q);
      }
    }
  }
  if (sweeps === maxSweeps && offDiagonalSquares(a, n) > 1e-20 * total) {
    throw new Error(`symmetricEigen: no convergence after ${maxSweeps} Jacobi sweeps on a ${n}x${n} matrix (non-finite input?)`);
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i];
  return { values, vectors: v, sweeps };
}

/**
 * Householder reduction to tridiagonal form (tred2) then the implicit QL algorithm (tql2), as in
 * EISPACK and JAMA's EigenvalueDecomposition. About 9 n^3 flops instead of Jacobi's 30 n^3.
 * The working matrix is stored transposed in `v` so that the QL rotations, which combine two
 * columns of V, run over contiguous memory.
 */
export function tridiagonalQlEigen(input: Float64Array, n: number): Eigen {
  if (input.length !== n * n) throw new Error(`symmetricEigen: expected ${n}x${n} = ${n * n} values, got ${input.length}`);
  // vt[j * n + k] = V[k][j]: V's columns are vt's rows.
  const vt = symmetrize(Float64Array.from(input), n);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  tred2(vt, d, e, n);
  tql2(vt, d, e, n);
  const vectors = new Float64Array(n * n);
  for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) vectors[k * n + j] = vt[j * n + k];
  return { values: d, vectors, sweeps: 0 };
}

/** The eigenvalues of a symmetric matrix, without the vectors (Householder + QL without rotating V). */
export function symmetricEigenvalues(input: Float64Array, n: number): Float64Array {
  if (n <= JACOBI_MAX_N) return jacobiEigen(input, n).values;
  if (input.length !== n * n) throw new Error(`symmetricEigen: expected ${n}x${n} = ${n * n} values, got ${input.length}`);
  const vt = symmetrize(Float64Array.from(input), n);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  tred2(vt, d, e, n, false);
  tql2(vt, d, e, n, false);
  return d;
}

/**
 * The lower Cholesky factor L of a symmetric positive definite matrix (a = L L^T), or null when
 * a pivot is not positive (a singular or indefinite matrix).
 */
export function cholesky(a: Float64Array, n: number): Float64Array | null {
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const rowJ = j * n;
    let diag = a[rowJ + j];
    for (let k = 0; k < j; k++) diag -= l[rowJ + k] * l[rowJ + k];
    if (!(diag > 0)) return null;
    const ljj = Math.sqrt(diag);
    l[rowJ + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      const rowI = i * n;
      let s = a[rowI + j];
      for (let k = 0; k < j; k++) s -= l[rowI + k] * l[rowJ + k];
      l[rowI + j] = s / ljj;
    }
  }
  return l;
}

/**
 * Householder tridiagonalisation; V (accessed as V[k][j] = vt[j * n + k]) accumulates the
 * transforms unless `vectors` is false (then only d and e are made).
 */
function tred2(vt: Float64Array, d: Float64Array, e: Float64Array, n: number, vectors = true): void {
  const V = (k: number, j: number) => vt[j * n + k];
  const setV = (k: number, j: number, value: number) => {
    vt[j * n + k] = value;
  };
  for (let j = 0; j < n; j++) d[j] = V(n - 1, j);
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = V(i - 1, j);
        setV(i, j, 0);
        setV(j, i, 0);
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        setV(j, i, f);
        g = e[j] + V(j, j) * f;
        // V[k][j] for k = j+1..i-1 is a contiguous run of vt's row j.
        const row = j * n;
        for (let k = j + 1; k <= i - 1; k++) {
          g += vt[row + k] * d[k];
          e[k] += vt[row + k] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        const row = j * n;
        for (let k = j; k <= i - 1; k++) vt[row + k] -= f * e[k] + g * d[k];
        d[j] = V(i - 1, j);
        setV(i, j, 0);
      }
    }
    d[i] = h;
  }
  if (!vectors) {
    // the tridiagonal's diagonal stays on V's diagonal; the accumulation below would only move it
    for (let j = 0; j < n; j++) d[j] = V(j, j);
    e[0] = 0;
    return;
  }
  for (let i = 0; i < n - 1; i++) {
    setV(n - 1, i, V(i, i));
    setV(i, i, 1);
    const h = d[i + 1];
    if (h !== 0) {
      const col = (i + 1) * n;
      for (let k = 0; k <= i; k++) d[k] = vt[col + k] / h;
      for (let j = 0; j <= i; j++) {
        const row = j * n;
        let g = 0;
        for (let k = 0; k <= i; k++) g += vt[col + k] * vt[row + k];
        for (let k = 0; k <= i; k++) vt[row + k] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) setV(k, i + 1, 0);
  }
  for (let j = 0; j < n; j++) {
    d[j] = V(n - 1, j);
    setV(n - 1, j, 0);
  }
  setV(n - 1, n - 1, 1);
  e[0] = 0;
}

/**
 * Implicit QL iterations on the tridiagonal (d, e); rotations accumulate into V's columns (vt's
 * rows) unless `vectors` is false (eigenvalues only: O(n^2) instead of ~3 n^3).
 */
function tql2(vt: Float64Array, d: Float64Array, e: Float64Array, n: number, vectors = true): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      let iterations = 0;
      do {
        if (++iterations > 60) throw new Error(`symmetricEigen: QL did not converge for eigenvalue ${l} of a ${n}x${n} matrix (non-finite input?)`);
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          if (!vectors) continue;
          const a = i * n;
          const b = (i + 1) * n;
          for (let k = 0; k < n; k++) {
            const hk = vt[b + k];
            vt[b + k] = s * vt[a + k] + c * hk;
            vt[a + k] = c * vt[a + k] - s * hk;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
}

/** V diag(f(values)) V^T. */
export function fromEigen(e: Eigen, n: number, f: (lambda: number) => number): Float64Array {
  const out = new Float64Array(n * n);
  const fv = e.values.map(f);
  const v = e.vectors;
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += v[i * n + k] * fv[k] * v[j * n + k];
      out[i * n + j] = s;
      out[j * n + i] = s;
    }
  }
  return out;
}

/**
 * The PSD square root of a symmetric positive semi-definite matrix. Eigenvalues below zero can
 * only be rounding noise of a covariance, so they are clipped to 0 rather than giving NaN.
 */
export function sqrtPsd(a: Float64Array, n: number): Float64Array {
  return fromEigen(symmetricEigen(a, n), n, (l) => Math.sqrt(Math.max(l, 0)));
}
