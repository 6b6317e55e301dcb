/**
 * How reproductions round and print numbers: results.json keeps 4 decimals (3 significant digits for
 * ratios and nats), so that reruns diff cleanly and reports read easily.
 */
import type { MeanInterval } from './stats.js';

export function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

/** Rounded to 4 decimals. */
export function r4(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

/** Rounded to 3 significant digits. */
export function sig(x: number): number {
  return Number(x.toPrecision(3));
}

/** With an explicit sign, for differences: +0.0123, -0.004. */
export function signed(x: number): string {
  return `${x >= 0 ? '+' : ''}${r4(x)}`;
}

/** A mean and its interval, each rounded to 4 decimals. */
export function roundInterval(m: MeanInterval): MeanInterval {
  return { mean: r4(m.mean), ...(m.lo === undefined ? {} : { lo: r4(m.lo), hi: r4(m.hi!) }) };
}

/** Rounded to 4 significant digits, for values whose small differences matter (the didactic A^mu). */
export function sig4(x: number): number {
  return Number(x.toPrecision(4));
}
