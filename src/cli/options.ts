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

/** commander collector for repeatable flags (`--stop a --stop b`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Turns the escapes \n, \t and \\ of a command-line string into characters (stop strings, templates). */
export function unescapeFlag(value: string): string {
  return value.replace(/\\(n|t|\\)/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : '\\'));
}
