/**
 * `prl reproduce <name|all> [--quick] [--seeds K] --out DIR`: runs a registered reproduction of the
 * papers' findings (src/reproduce/) and prints a summary table with each experiment's headline and
 * report. `all` writes every experiment into DIR/<name>/ and the index DIR/index.html.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { intFlag } from '../options.js';
import { EXPERIMENTS, reproduce } from '../../reproduce/index.js';
import { USER_MODEL_TASKS, type UserModelOptions } from '../../reproduce/user-model.js';
import { inputError } from '../../util/errors.js';
import { createProgress, formatDuration } from '../../util/progress.js';

interface ReproduceFlags {
  quick?: boolean;
  seeds?: string;
  out: string;
  threads?: string;
  model?: string;
  adapter?: string;
  loraRank?: string;
  task?: string;
  taskOptions?: string;
}

/** `--model DIR [--adapter ADIR] [--lora-rank R] [--task T] [--task-options JSON]`, or none of them. */
function userModelFlags(flags: ReproduceFlags): UserModelOptions | undefined {
  if (flags.model === undefined) {
    const stray = (['adapter', 'loraRank', 'task', 'taskOptions'] as const).find((k) => flags[k] !== undefined);
    if (stray) throw inputError(`--${stray.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, 'goes with --model DIR (the checkpoint to reproduce on)');
    return undefined;
  }
  let taskOptions: Record<string, unknown> | undefined;
  if (flags.taskOptions !== undefined) {
    try {
      taskOptions = JSON.parse(flags.taskOptions) as Record<string, unknown>;
    } catch (err) {
      throw inputError('--task-options', `not valid JSON (${(err as Error).message})`);
    }
    if (typeof taskOptions !== 'object' || taskOptions === null || Array.isArray(taskOptions)) throw inputError('--task-options', 'expected a JSON object');
  }
  return {
    model: flags.model,
    adapter: flags.adapter,
    loraRank: flags.loraRank === undefined ? undefined : intFlag(flags.loraRank, '--lora-rank'),
    task: flags.task,
    taskOptions,
  };
}

export function register(program: Command): void {
  program
    .command('reproduce')
    .description(`reproduce a paper finding and write its report: ${[...EXPERIMENTS.map((e) => e.name), 'all'].join(', ')}`)
    .argument('<name>', 'experiment name, or "all"')
    .option('--quick', 'a smoke run of about a minute each (small models, few seeds and steps): checks the pipeline, proves little')
    .option('--seeds <k>', 'training seeds (default: the experiment\'s own count for quick or full runs)')
    .option('--threads <n>', 'kernel worker threads (results do not depend on it)')
    .option('--model <dir>', 'run on your own Hugging Face checkpoint instead of the experiment\'s tiny warm-started model (experiments that take one)')
    .option('--adapter <dir>', 'with --model: a PEFT adapter on it, merged in before the runs start')
    .option('--lora-rank <r>', 'with --model: train the RL runs as LoRA adapters of rank r (default 0: every weight)')
    .option('--task <name>', `with --model: the task to run on (${USER_MODEL_TASKS.join(', ')}; default math)`)
    .option('--task-options <json>', 'with --model: the task\'s options, e.g. {"trainData": "train.jsonl", "evalData": "test.jsonl"}')
    .requiredOption('--out <dir>', 'output folder (for "all": one sub-folder per experiment and index.html)')
    .addHelpText('after', `\nExperiments:\n${EXPERIMENTS.map((e) => `  ${e.name.padEnd(14)} ${e.description}${e.takesModel === true ? ' [takes --model]' : ''}`).join('\n')}\n`)
    .action(async (name: string, flags: ReproduceFlags) => {
      const seeds = flags.seeds === undefined ? undefined : intFlag(flags.seeds, '--seeds');
      const threads = flags.threads === undefined ? undefined : intFlag(flags.threads, '--threads');
      const progress = createProgress(process.stderr);
      const userModel = userModelFlags(flags);
      const { rows, index } = await reproduce(name, { quick: flags.quick === true, seeds, threads, out: resolve(flags.out), progress, userModel });
      const table = [['experiment', 'time', 'headline', 'report'], ...rows.map((r) => [r.experiment, formatDuration(r.seconds), r.headline, r.report])];
      const widths = [0, 1].map((c) => Math.max(...table.map((row) => row[c].length)));
      process.stdout.write('\n' + table.map((row) => `${row[0].padEnd(widths[0])}  ${row[1].padEnd(widths[1])}  ${row[2]}\n${' '.repeat(widths[0] + widths[1] + 4)}${row[3]}`).join('\n') + '\n');
      if (index) process.stdout.write(`\nindex of all reports: ${index}\n`);
    });
}

