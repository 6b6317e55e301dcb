/**
 * `prl grade`: grades a JSONL of responses against reference answers with the math grader.
 * Progress goes to stderr; the last line of stdout is `{"n", "correct", "accuracy"}`.
 */
import type { Command } from 'commander';
import { inputError } from '../../util/errors.js';
import { readJsonl, writeFileAtomic } from '../../util/fs.js';
import { gradeAnswer, referenceAnswer } from '../../verify/math.js';

export interface GradeSummary {
  n: number;
  correct: number;
  accuracy: number;
}

/**
 * Grades every record of `data`: `responseField` is the model's response text, `answerField` the reference.
 * With `output`, writes each record plus `correct` and `extracted` as JSONL. A missing field is an error
 * naming file, line and field.
 */
export function gradeFile(
  data: string,
  responseField: string,
  answerField: string,
  output?: string,
  progress: (done: number, total: number) => void = () => {},
): GradeSummary {
  const records = readJsonl(data);
  const graded: string[] = [];
  let correct = 0;
  records.forEach(({ line, value }, i) => {
    const where = `${data}:${line}`;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw inputError(where, 'not a JSON object');
    const record = value as Record<string, unknown>;
    const response = record[responseField];
    if (typeof response !== 'string') throw inputError(`${where}: ${responseField}`, 'missing or not a string');
    const reference = referenceAnswer(record[answerField]);
    if (reference === null) throw inputError(`${where}: ${answerField}`, 'missing or not an answer (string, number or list)');
    const grade = gradeAnswer(response, reference);
    if (grade.correct) correct++;
    if (output !== undefined) {
      try {
        graded.push(JSON.stringify({ ...record, correct: grade.correct, extracted: grade.extracted }));
      } catch (err) {
        // JSON.parse reads nesting that JSON.stringify overflows the stack on.
        throw inputError(where, `cannot be written back (${(err as Error).message})`);
      }
    }
    progress(i + 1, records.length);
  });
  if (output !== undefined) writeFileAtomic(output, graded.map((l) => l + '\n').join(''));
  return { n: records.length, correct, accuracy: records.length === 0 ? 0 : correct / records.length };
}

export function register(program: Command): void {
  program
    .command('grade')
    .description('Grade a JSONL of responses against reference answers by mathematical equivalence.')
    .requiredOption('--data <file>', 'JSONL with one response per line')
    .option('--response-field <name>', 'field holding the response text', 'response')
    .option('--answer-field <name>', 'field holding the reference answer', 'answer')
    .option('--output <file>', 'write the records with "correct" and "extracted" added (JSONL)')
    .action((opts: { data: string; responseField: string; answerField: string; output?: string }) => {
      const summary = gradeFile(opts.data, opts.responseField, opts.answerField, opts.output, (done, total) => {
        if (done % 100 === 0 || done === total) process.stderr.write(`graded ${done}/${total}\n`);
      });
      process.stdout.write(JSON.stringify(summary) + '\n');
    });
}
