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
    .option('-q, --quiet', 'no progress output (errors and the final summary only)')
    .option('--api-key <key>', 'API key of the --rollout openai: servers (default: the variable named by --api-key-env); never written to the run folder or logs');
  addConfigFlags(command, rlConfigSchema).action(async (opts: Record<string, unknown>) => {
    if (typeof opts.resume === 'string') {
      const config = resumeConfig(rlConfigSchema, opts.resume, opts);
      const summary = await runRl(config, opts.resume, { resume: true, quiet: opts.quiet === true, prover: rlProver(config), apiKey: apiKeyOf(opts) });
      console.log(JSON.stringify(summary));
      return;
    }
    if (typeof opts.out !== 'string') throw inputError('--out', 'required (the run folder), or --resume DIR');
    const config = configFromFlags(rlConfigSchema, opts);
    const summary = await runRl(config, opts.out, { quiet: opts.quiet === true, prover: rlProver(config), apiKey: apiKeyOf(opts) });
    console.log(JSON.stringify(summary));
  });
}

/** `--api-key`, kept out of the config (and so out of config.json). */
function apiKeyOf(opts: Record<string, unknown>): string | undefined {
  return typeof opts.apiKey === 'string' && opts.apiKey !== '' ? opts.apiKey : undefined;
}
