/**
 * The part of an experiment's `results.json` that the index page reads. Each experiment writes
 * `DIR/results.json` (this header plus whatever numbers it wants) and `DIR/report.html`.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { inputError } from '../util/errors.js';
import { readJsonFile, writeFileAtomic, writeJsonAtomic } from '../util/fs.js';

export const resultsHeaderSchema = z.looseObject({
  /** Short machine name, e.g. "prl-gsm8k-tiny". */
  experiment: z.string().min(1),
  /** Human title, e.g. "PRL vs GRPO on synthetic arithmetic". */
  title: z.string().min(1),
  /** The one-line result shown on the index page. */
  headline: z.string(),
  /** True when the numbers are synthetic (examples, demos). */
  example: z.boolean().optional(),
  /** ISO time the experiment finished; shown on the index, used to sort nothing. */
  finishedAt: z.string().optional(),
});

export type ResultsHeader = z.infer<typeof resultsHeaderSchema>;

/** Reads and checks `path` (a results.json); a bad field is a PrlError naming the file and field. */
export function readResultsHeader(path: string): ResultsHeader {
  const parsed = resultsHeaderSchema.safeParse(readJsonFile(path));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.length === 0 ? '(top level)' : issue.path.join('.');
    throw inputError(`${path}: ${field}`, issue.message);
  }
  return parsed.data;
}

/** Writes `dir/results.json` then `dir/report.html`, each atomically. */
export function writeExperimentReport(dir: string, results: ResultsHeader, html: string): void {
  resultsHeaderSchema.parse(results);
  writeJsonAtomic(join(dir, 'results.json'), results);
  writeFileAtomic(join(dir, 'report.html'), html);
}
