/**
 * Errors a user can act on. Every failure caused by input (a file, a flag, a server) is a
 * `PrlError` whose message names the place: file, line, field or tensor. The CLI prints the
 * message alone (no stack) and exits with `exitCode`; anything else is a bug and keeps its stack.
 */
export class PrlError extends Error {
  readonly exitCode: number;
  constructor(message: string, options: { cause?: unknown; exitCode?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PrlError';
    this.exitCode = options.exitCode ?? 1;
  }
}

/**
 * A prompt this policy cannot take: a character its tokenizer lacks, or more positions than the model
 * has. Evaluation skips and counts such a problem instead of stopping the run.
 */
export class PromptError extends PrlError {
  constructor(message: string) {
    super(message);
    this.name = 'PromptError';
  }
}

/** `where` names the place, e.g. `run.json: steps` or `in.jsonl:3: reward`. */
export function inputError(where: string, problem: string): PrlError {
  return new PrlError(`${where}: ${problem}`);
}

/** Short, JSON-ish rendering of a bad value for error messages. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  return typeof value;
}
