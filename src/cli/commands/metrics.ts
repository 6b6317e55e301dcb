/** `prl metrics`: avg@n, pass@k and maj@n with bootstrap intervals from per-sample correctness in JSONL. */
import type { Command } from 'commander';
import { intFlag } from '../options.js';
import { evaluateSamples, parseSamples } from '../../eval/sample-io.js';
import { parseJsonl } from '../../util/fs.js';
import { readInput, writeOutput } from '../io.js';

export function register(program: Command): void {
  program
    .command('metrics')
    .description(
      'Metrics over n samples per problem. Input JSONL lines: {"id", "correct": [bool..], "answers"?: [string|null..]}; ' +
        'prints {"avg@n", "pass@k" (k = 1, 2, 4, .., n), "maj@n" (with answers), "ci95": {metric: [lo, hi]}}.',
    )
    .option('--seed <n>', 'bootstrap seed', (raw: string) => intFlag(raw, '--seed', 0), 0)
    .option('--resamples <n>', 'bootstrap resamples', (raw: string) => intFlag(raw, '--resamples', 1), 1000)
    .option('--input <file>', 'read samples from FILE instead of stdin')
    .option('--output <file>', 'write the JSON to FILE (atomically) instead of stdout')
    .action((opts: { seed: number; resamples: number; input?: string; output?: string }) => {
      const { text, source } = readInput(opts.input);
      const metrics = evaluateSamples(parseSamples(parseJsonl(text, source), source), opts.seed, opts.resamples);
      writeOutput(opts.output, JSON.stringify(metrics, null, 2) + '\n');
    });
}

