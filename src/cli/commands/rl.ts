import type { Command } from 'commander';
import { estimatorList } from '../../algos/index.js';
import { rlConfigSchema } from '../../train/config.js';
import { rlProver } from '../../pav/rl.js';
import { runRl } from '../../train/rl.js';
import { inputError } from '../../util/errors.js';
import { addConfigFlags, configFromFlags, resumeConfig } from '../config-flags.js';

export function register(program: Command): void {
  const command = program
    .command('rl')
    .description(`RL on a task with outcome or process rewards.\n\nEstimators (--estimator):\n${estimatorList()}`)
    .option('--config <file>', 'JSON or YAML config; flags override it')
    .option('--out <dir>', 'run folder (config.json, metrics.jsonl, samples.jsonl, checkpoints/, summary.json)')
    .option('--resume <dir>', 'continue the run in DIR from its last checkpoint')
    .option('-q, --quiet', 'no progress output (errors and the final summary only)');
  addConfigFlags(command, rlConfigSchema).action(async (opts: Record<string, unknown>) => {
    if (typeof opts.resume === 'string') {
      const config = resumeConfig(rlConfigSchema, opts.resume, opts);
      const summary = await runRl(config, opts.resume, { resume: true, quiet: opts.quiet === true, prover: rlProver(config) });
      console.log(JSON.stringify(summary));
      return;
    }
    if (typeof opts.out !== 'string') throw inputError('--out', 'required (the run folder), or --resume DIR');
    const config = configFromFlags(rlConfigSchema, opts);
    const summary = await runRl(config, opts.out, { quiet: opts.quiet === true, prover: rlProver(config) });
    console.log(JSON.stringify(summary));
  });
}
