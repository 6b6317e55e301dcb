/**
 * Shared pieces of the parser fuzz tests: the property every parser must keep (a value, or a
 * PrlError naming the place, in bounded time) and structure-aware mutations of valid inputs.
 */
import fc from 'fast-check';
import { PrlError } from '../../src/util/errors.js';

/** Every property runs with a fixed seed, so a failure reproduces; the report shows the shrunk input and its error. */
export function fuzzRuns(numRuns: number): fc.Parameters<unknown> {
  return { seed: 1, numRuns, includeErrorInReport: true };
}

/** Generous per-input limit: a parser that loops or allocates from a claimed size blows through it. */
export const PER_INPUT_MS = 2000;

function checkFailure(err: unknown, place: string, started: number): void {
  if (!(err instanceof PrlError)) {
    const e = err as Error;
    throw new Error(`expected a value or a PrlError, got ${e?.name}: ${e?.message}`, { cause: err });
  }
  if (!err.message.includes(place)) throw new Error(`the error does not name ${place}: ${err.message}`);
  checkTime(started);
}

function checkTime(started: number): void {
  const ms = performance.now() - started;
  if (ms > PER_INPUT_MS) throw new Error(`took ${ms.toFixed(0)} ms (limit ${PER_INPUT_MS} ms)`);
}

/** Runs `parse`: it must return, or throw a PrlError whose message contains `place`, within the time limit. */
export function expectValueOrPlaceError(place: string, parse: () => unknown): void {
  const started = performance.now();
  try {
    parse();
  } catch (err) {
    checkFailure(err, place, started);
    return;
  }
  checkTime(started);
}

/** Bytes that are not the format at all. */
export const arbitraryBytes = fc.uint8Array({ maxLength: 512 });

/** Little-endian u64s a length or count field may claim: 2^60, past 2^53, all ones, and just past a small file. */
const HUGE_U64 = [2n ** 60n, 2n ** 53n + 1n, 2n ** 64n - 1n, 2n ** 32n, 2n ** 31n, 4096n];

/**
 * Mutations of a valid file: flipped bytes, truncation, random bytes appended, and a u64 at some
 * offset overwritten with a huge length, as a corrupted or hostile header would claim.
 */
export function mutatedBytes(valid: Uint8Array): fc.Arbitrary<Uint8Array> {
  const n = valid.length;
  const flips = fc.array(fc.tuple(fc.nat(n - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }).map((changes) => {
    const out = Uint8Array.from(valid);
    for (const [at, value] of changes) out[at] = value;
    return out;
  });
  const truncated = fc.nat(n - 1).map((k) => valid.slice(0, k));
  const extended = fc.uint8Array({ minLength: 1, maxLength: 64 }).map((tail) => Uint8Array.from([...valid, ...tail]));
  const hugeField = fc.tuple(fc.nat(Math.max(0, n - 8)), fc.constantFrom(...HUGE_U64)).map(([at, value]) => {
    const out = Uint8Array.from(valid);
    new DataView(out.buffer).setBigUint64(at, value, true);
    return out;
  });
  return fc.oneof(flips, truncated, extended, hugeField);
}

/** Values that break a parser's assumptions about a JSON field. */
const HOSTILE_VALUES: unknown[] = [
  null,
  -1,
  0,
  1.5,
  2 ** 31,
  2 ** 40,
  2 ** 60,
  1e308,
  -1e308,
  'NaN',
  'Infinity',
  '-0',
  '',
  'x'.repeat(300),
  '__proto__',
  [],
  {},
  true,
  [null],
  [1, 'a', null],
  { content: null },
  deepArray(50_000),
];

/** `[[[...]]]` nested `depth` deep: JSON.parse takes it, a recursive walk or JSON.stringify does not. */
export function deepArray(depth: number): unknown {
  let v: unknown = [];
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** Paths to the values inside `value`; only the first few members of each object or array, so that a long vocabulary does not drown out the other fields. */
function paths(value: unknown, prefix: PropertyKey[] = [], out: PropertyKey[][] = []): PropertyKey[][] {
  out.push(prefix);
  if (Array.isArray(value)) value.slice(0, 4).forEach((v, i) => paths(v, [...prefix, i], out));
  else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value).slice(0, 8)) paths(v, [...prefix, k], out);
  return out;
}

function withValueAt(root: unknown, path: PropertyKey[], replace: (old: unknown) => unknown): unknown {
  if (path.length === 0) return replace(root);
  const copy: Record<PropertyKey, unknown> = Array.isArray(root) ? [...(root as unknown[])] as unknown as Record<PropertyKey, unknown> : { ...(root as object) };
  const [head, ...rest] = path;
  copy[head] = withValueAt(copy[head], rest, replace);
  return copy;
}

/**
 * Structure-aware JSON mutations of a valid document: one to three values replaced by a wrong type,
 * a huge or fractional number, a NaN-like string, deep nesting; or a key removed.
 */
export function mutatedJson(valid: unknown): fc.Arbitrary<unknown> {
  const all = paths(valid);
  const replacement = fc.oneof({ arbitrary: fc.constantFrom(...HOSTILE_VALUES), weight: 4 }, { arbitrary: fc.jsonValue({ maxDepth: 2 }), weight: 1 }, { arbitrary: fc.constant(undefined), weight: 1 });
  const one = fc.tuple(fc.nat(all.length - 1), replacement);
  return fc.array(one, { minLength: 1, maxLength: 3 }).map((changes) =>
    changes.reduce<unknown>((doc, [i, value]) => {
      const path = all[i];
      if (value !== undefined || path.length === 0) return withValueAt(doc, path, () => value);
      const parent = path.slice(0, -1);
      const key = path[path.length - 1];
      return withValueAt(doc, parent, (p) => {
        if (typeof p !== 'object' || p === null) return p;
        const copy = Array.isArray(p) ? [...(p as unknown[])] : { ...(p as Record<PropertyKey, unknown>) };
        delete (copy as Record<PropertyKey, unknown>)[key];
        return copy;
      });
    }, valid),
  );
}

/** JSON text: any JSON value, or a mutation of `valid`, or text that is barely JSON. */
export function jsonText(valid: unknown): fc.Arbitrary<string> {
  return fc.oneof(
    mutatedJson(valid).map(toJsonText),
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.constantFrom('', '{', '[1,', '"\\ud800"', '{"a":1}{', '1e999', '-', '\u0000', '['.repeat(10_000) + ']'.repeat(10_000)),
  );
}

/**
 * JSON text of `value`. JSON.stringify overflows the stack on the deep arrays above, so they are
 * written as a marker and expanded in the text.
 */
export function toJsonText(value: unknown): string {
  const text = JSON.stringify(value, (_key, x: unknown) => (Array.isArray(x) && depthOf(x) > 1000 ? `\u0000deep${depthOf(x)}\u0000` : x)) ?? 'null';
  return text.replace(/"\\u0000deep(\d+)\\u0000"/g, (_m, d: string) => '['.repeat(Number(d)) + ']'.repeat(Number(d)));
}

function depthOf(x: unknown): number {
  let d = 0;
  while (Array.isArray(x) && x.length === 1) {
    d++;
    x = x[0];
  }
  return d;
}
