import type { Command } from 'commander';
import { sftConfigSchema } from '../../train/config.js';
import { runSft } from '../../train/sft.js';
import { inputError } from '../../util/errors.js';
import { addConfigFlags, configFromFlags } from '../config-flags.js';

export function register(program: Command): void {
  const command = program
    .command('sft')
    .description("supervised fine-tuning on a task's corpus (the warm start before RL)")
    .option('--config <file>', 'JSON or YAML config; flags override it')
    .option('--out <dir>', 'run folder; the model lands in DIR/model')
    .option('-q, --quiet', 'no progress output (errors and the final summary only)');
  addConfigFlags(command, sftConfigSchema).action(async (opts: Record<string, unknown>) => {
    if (typeof opts.out !== 'string') throw inputError('--out', 'required (the run folder)');
    const summary = await runSft(configFromFlags(sftConfigSchema, opts), opts.out, { quiet: opts.quiet === true });
    console.log(JSON.stringify(summary));
  });
}
