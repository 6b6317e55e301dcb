/**
 * `prl grade`: grades a JSONL of responses against reference answers with the math grader.
 * Progress goes to stderr; the last line of stdout is `{"n", "correct", "accuracy", "timedOut"}`.
 * Each pair runs in a worker thread that is terminated at `--timeout-ms` (verify/bounded.ts), so a
 * pathological answer costs at most that and counts as wrong and timed out.
 */
import type { Command } from 'commander';
import { intFlag } from '../options.js';
import { inputError } from '../../util/errors.js';
import { readJsonl, writeFileAtomic } from '../../util/fs.js';
import { BoundedGrader } from '../../verify/bounded.js';
import { DEFAULT_TIMEOUT_MS, referenceAnswer } from '../../verify/math.js';

export interface GradeSummary {
  n: number;
  correct: number;
  accuracy: number;
  /** Pairs cut short by the time bound (or refused as too costly to evaluate), graded wrong. */
  timedOut: number;
}

export interface GradeFileOptions {
  /** Field of the full response text (its final answer is extracted). */
  responseField: string;
  /** Field of the reference answer. */
  answerField: string;
  /** Field holding only the final answer; replaces `responseField` when set. */
  predField?: string;
  timeoutMs?: number;
  /** Where to write each record plus `correct`, `extracted` and `timedOut` (JSONL). */
  output?: string;
}

/**
 * Grades every record of `data`. A missing field is an error naming file, line and field.
 */
export function gradeFile(
  data: string,
  options: GradeFileOptions,
  progress: (done: number, total: number) => void = () => {},
): GradeSummary {
  const records = readJsonl(data);
  const textField = options.predField ?? options.responseField;
  const grader = new BoundedGrader({ timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS, predictionOnly: options.predField !== undefined });
  const graded: string[] = [];
  let correct = 0;
  let timedOut = 0;
  try {
    records.forEach(({ line, value }, i) => {
      const where = `${data}:${line}`;
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw inputError(where, 'not a JSON object');
      const record = value as Record<string, unknown>;
      const text = record[textField];
      if (typeof text !== 'string') throw inputError(`${where}: ${textField}`, 'missing or not a string');
      const reference = referenceAnswer(record[options.answerField]);
      if (reference === null) throw inputError(`${where}: ${options.answerField}`, 'missing or not an answer (string, number or list)');
      const grade = grader.grade(text, reference);
      if (grade.correct) correct++;
      if (grade.timedOut) timedOut++;
      if (options.output !== undefined) {
        try {
          graded.push(JSON.stringify({ ...record, ...grade }));
        } catch (err) {
          // JSON.parse reads nesting that JSON.stringify overflows the stack on.
          throw inputError(where, `cannot be written back (${(err as Error).message})`);
        }
      }
      progress(i + 1, records.length);
    });
  } finally {
    grader.close();
  }
  if (options.output !== undefined) writeFileAtomic(options.output, graded.map((l) => l + '\n').join(''));
  return { n: records.length, correct, accuracy: records.length === 0 ? 0 : correct / records.length, timedOut };
}

export function register(program: Command): void {
  program
    .command('grade')
    .description('Grade a JSONL of responses against reference answers by mathematical equivalence.')
    .requiredOption('--data <file>', 'JSONL with one response per line')
    .option('--response-field <name>', 'field holding the response text', 'response')
    .option('--pred-field <name>', 'field holding only the final answer (instead of --response-field)')
    .option('--answer-field <name>', 'field holding the reference answer', 'answer')
    .option('--timeout-ms <ms>', 'time bound of one comparison; past it the pair is wrong and counted as timed out', String(DEFAULT_TIMEOUT_MS))
    .option('--output <file>', 'write the records with "correct", "extracted" and "timedOut" added (JSONL)')
    .action((opts: { data: string; responseField: string; predField?: string; answerField: string; timeoutMs: string; output?: string }) => {
      const summary = gradeFile(opts.data, {
        responseField: opts.responseField,
        answerField: opts.answerField,
        predField: opts.predField,
        timeoutMs: intFlag(opts.timeoutMs, '--timeout-ms'),
        output: opts.output,
      }, (done, total) => {
        if (done % 100 === 0 || done === total) process.stderr.write(`graded ${done}/${total}\n`);
      });
      process.stdout.write(JSON.stringify(summary) + '\n');
    });
}
