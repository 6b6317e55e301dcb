import type { Command } from 'commander';
import { join } from 'node:path';
import { rlConfigSchema } from '../../train/config.js';
import { runRl } from '../../train/rl.js';
import { readConfigFile, resolveConfig } from '../../train/config.js';
import { inputError } from '../../util/errors.js';
import { addConfigFlags, configFromFlags } from '../config-flags.js';

export function register(program: Command): void {
  const command = program
    .command('rl')
    .description('RL on a task with outcome or process rewards (grpo, rloo, reinforce, prl, prl-raw, frpo, raft)')
    .option('--config <file>', 'JSON or YAML config; flags override it')
    .option('--out <dir>', 'run folder (config.json, metrics.jsonl, samples.jsonl, checkpoints/, summary.json)')
    .option('--resume <dir>', 'continue the run in DIR from its last checkpoint')
    .option('--quiet', 'no progress output');
  addConfigFlags(command, rlConfigSchema).action(async (opts: Record<string, unknown>) => {
    if (typeof opts.resume === 'string') {
      const configPath = join(opts.resume, 'config.json');
      const config = resolveConfig(rlConfigSchema, readConfigFile(configPath), configPath);
      const summary = await runRl(config, opts.resume, { resume: true, quiet: opts.quiet === true });
      console.log(JSON.stringify(summary));
      return;
    }
    if (typeof opts.out !== 'string') throw inputError('--out', 'required (the run folder), or --resume DIR');
    const config = configFromFlags(rlConfigSchema, opts);
    const summary = await runRl(config, opts.out, { quiet: opts.quiet === true });
    console.log(JSON.stringify(summary));
  });
}
