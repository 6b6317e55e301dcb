/** Flag parsing shared by the PAV commands (label, verifier, search): errors name the flag. */
import { inputError } from '../util/errors.js';

/** An integer flag >= min. */
export function intFlag(flag: string, raw: string, min: number): number {
  const x = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(x) || x < min) throw inputError(flag, `expected an integer >= ${min}, got ${JSON.stringify(raw)}`);
  return x;
}

/** A finite number flag >= min. */
export function numberFlag(flag: string, raw: string, min: number): number {
  const x = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(x) || x < min) throw inputError(flag, `expected a number >= ${min}, got ${JSON.stringify(raw)}`);
  return x;
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
