/** Argument checks shared by the ops: each names the op, the argument and what was expected. */
import { Tensor, shapeString } from '../tensor';

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function expectSameShape(op: string, a: Tensor, b: Tensor, aName = 'a', bName = 'b'): void {
  if (!sameShape(a.shape, b.shape)) {
    throw new Error(`${op}: ${aName} ${shapeString(a.shape)} and ${bName} ${shapeString(b.shape)} must have the same shape`);
  }
  if (a.backend !== b.backend) throw new Error(`${op}: ${aName} and ${bName} live on different backends`);
}

export function expectRank(op: string, t: Tensor, rank: number, what = 'input', layout = ''): void {
  if (t.shape.length !== rank) {
    throw new Error(`${op}: ${what} must have ${rank} dimensions${layout ? ` (${layout})` : ''}, got ${shapeString(t.shape)}`);
  }
}

export function expectNCHW(op: string, t: Tensor, what = 'input'): [number, number, number, number] {
  expectRank(op, t, 4, what, 'N, C, H, W');
  return t.shape as unknown as [number, number, number, number];
}
