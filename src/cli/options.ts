/** Flag parsing shared by the commands: each error names the flag. */
import { inputError } from '../util/errors.js';

/** An integer flag >= `min`. */
export function intFlag(value: string, flag: string, min = 1): number {
  const n = Number(value);
  if (!(value.trim() !== '' && Number.isInteger(n) && n >= min)) throw inputError(flag, `must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  return n;
}

/** A finite number flag within [min, max]. */
export function numberFlag(value: string, flag: string, min = -Infinity, max = Infinity): number {
  const n = Number(value);
  if (!(value.trim() !== '' && Number.isFinite(n) && n >= min && n <= max)) throw inputError(flag, `must be a number in [${min}, ${max}], got ${JSON.stringify(value)}`);
  return n;
}

/** A JSON object flag such as '{"operations": 3}'. */
export function jsonObjectFlag(flag: string, raw: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw inputError(flag, `expected a JSON object such as '{"operations": 3}', got ${JSON.stringify(raw)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw inputError(flag, `expected a JSON object, got ${JSON.stringify(raw)}`);
  return value as Record<string, unknown>;
}

/** A finite number flag > 0. */
export function positiveFlag(value: string, flag: string): number {
  const n = Number(value);
  if (!(value.trim() !== '' && Number.isFinite(n) && n > 0)) throw inputError(flag, `expected a positive number, got ${JSON.stringify(value)}`);
  return n;
}

/** commander collector for repeatable flags (`--stop a --stop b`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Turns the escapes \n, \t and \\ of a command-line string into characters (stop strings, templates). */
export function unescapeFlag(value: string): string {
  return value.replace(/\\(n|t|\\)/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : '\\'));
}
