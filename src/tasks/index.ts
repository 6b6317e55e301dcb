/**
 * The task registry: `getTask(name, options)` makes any task by name, for the CLI and config files.
 * Options come as plain values (from YAML or flags); numeric strings are accepted where a number is due.
 */
import { PrlError, describeValue, inputError } from '../util/errors.js';
import { arithTask, DEFAULT_ARITH, type ArithOptions } from './arith.js';
import { DEFAULT_MATH, mathTask, type MathTaskOptions } from './math.js';
import { plantedTask, type PlantedTaskOptions } from './planted.js';
import type { Task } from './types.js';

export type { Task, TextTask, TokenTask, TextProblem, TokenProblem, SftExample, StepCheck } from './types.js';

export const TASK_NAMES = ['arith', 'math', 'planted'] as const;
export type TaskName = (typeof TASK_NAMES)[number];

function numberOption(name: string, key: string, value: unknown): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw inputError(`task ${name}: ${key}`, `expected a number, got ${describeValue(value)}`);
  return n;
}

/** Checks option keys against the task's known ones and coerces them to the defaults' types. */
function coerce<T extends object>(name: string, options: Record<string, unknown>, defaults: T, extra: readonly string[] = []): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    const known = key in defaults || extra.includes(key);
    if (!known) throw inputError(`task ${name}: ${key}`, `unknown option (known: ${[...Object.keys(defaults), ...extra].join(', ')})`);
    const reference = (defaults as Record<string, unknown>)[key];
    out[key] = typeof reference === 'number' ? numberOption(name, key, value) : value;
  }
  return out as Partial<T>;
}

/** Makes the task `name` with `options` (unknown names and options are errors listing the known ones). */
export function getTask(name: string, options: Record<string, unknown> = {}): Task {
  switch (name) {
    case 'arith':
      return arithTask(coerce<ArithOptions>(name, options, DEFAULT_ARITH));
    case 'math':
      return mathTask(coerce<MathTaskOptions>(name, options, DEFAULT_MATH, ['trainData', 'evalData']));
    case 'planted': {
      const defaults = { vocabSize: 15, eosToken: 14, length: 10, sftGamma: 5 };
      const o = coerce<PlantedTaskOptions>(name, options, defaults, ['target']);
      if (o.target !== undefined) {
        const raw = o.target as unknown;
        const list = typeof raw === 'string' ? raw.split(',') : raw;
        if (!Array.isArray(list)) throw inputError('task planted: target', `expected a list of ids, got ${describeValue(raw)}`);
        o.target = list.map((v) => numberOption(name, 'target', v));
      }
      return plantedTask(o);
    }
    default:
      throw new PrlError(`unknown task ${JSON.stringify(name)} (known: ${TASK_NAMES.join(', ')})`);
  }
}
