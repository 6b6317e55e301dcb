/** `prl advantages`: per-token advantages for rollouts in JSONL, so any trainer can use prl's estimators. */
import { Command, Option } from 'commander';
import { DEFAULT_ADVANTAGE_OPTIONS, estimatorList, formatStepSplit, parseStepSplit, rolloutAdvantages, ROLLOUT_ESTIMATORS, type AdvantageOptions } from '../../algos/index.js';
import { parseRollouts } from '../../train/rollout-io.js';
import { parseJsonl } from '../../util/fs.js';
import { readInput, writeOutput } from '../io.js';
import { numberFlag, positiveFlag } from '../options.js';

export function register(program: Command): void {
  const d = DEFAULT_ADVANTAGE_OPTIONS;
  program
    .command('advantages')
    .description(
      'Per-token advantages for rollouts. Input JSONL lines: {"group", "reward", "mask", "logprobs_old", "logprobs_ref", ' +
        '"text"?, "token_offsets"?, "token_ids"?}; output lines {"advantages": [..]} in input order, 0 where the mask is 0.\n\nEstimators:\n' +
        estimatorList(ROLLOUT_ESTIMATORS),
    )
    .addOption(new Option('--estimator <name>', 'advantage estimator').choices(ROLLOUT_ESTIMATORS).default(d.estimator))
    .option('--eta <E>', 'PRL KL temperature (beta = 1/eta)', (raw: string) => positiveFlag(raw, '--eta'), d.eta)
    .option('--beta <B>', 'FRPO future-KL coefficient', (raw: string) => numberFlag(raw, '--beta', 0), d.beta)
    .addOption(new Option('--kl <estimator>', 'FRPO per-token KL estimator').choices(['k1', 'k3']).default(d.kl))
    .option('--step-split <spec>', 'PRL steps: length:L, text:DELIM (JSON escapes, e.g. text:\\n\\n) or tokens:ID,ID', formatStepSplit(d.stepSplit))
    .addOption(new Option('--std <mode>', 'group std: unbiased (torch.std), population, none (Dr. GRPO)').choices(['unbiased', 'population', 'none']).default(d.std))
    .option('--input <file>', 'read rollouts from FILE instead of stdin')
    .option('--output <file>', 'write advantages to FILE (atomically) instead of stdout')
    .action((opts: Record<string, unknown>) => {
      const options: AdvantageOptions = {
        estimator: opts.estimator as AdvantageOptions['estimator'],
        eta: opts.eta as number,
        beta: opts.beta as number,
        kl: opts.kl as AdvantageOptions['kl'],
        stepSplit: parseStepSplit(opts.stepSplit as string),
        std: opts.std as AdvantageOptions['std'],
      };
      const { text, source } = readInput(opts.input as string | undefined);
      const rollouts = parseRollouts(parseJsonl(text, source), source, options);
      const lines = rolloutAdvantages(rollouts, options).map((adv) => JSON.stringify({ advantages: Array.from(adv) }) + '\n');
      writeOutput(opts.output as string | undefined, lines.join(''));
    });
}
