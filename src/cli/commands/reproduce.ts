/**
 * `prl reproduce <name|all> [--quick] [--seeds K] --out DIR`: runs a registered reproduction of the
 * papers' findings (src/reproduce/) and prints a summary table with each experiment's headline and
 * report. `all` writes every experiment into DIR/<name>/ and the index DIR/index.html.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { intFlag } from '../options.js';
import { EXPERIMENTS, reproduce } from '../../reproduce/index.js';
import { createProgress, formatDuration } from '../../util/progress.js';

interface ReproduceFlags {
  quick?: boolean;
  seeds?: string;
  out: string;
  threads?: string;
}

export function register(program: Command): void {
  program
    .command('reproduce')
    .description(`reproduce a paper finding and write its report: ${[...EXPERIMENTS.map((e) => e.name), 'all'].join(', ')}`)
    .argument('<name>', 'experiment name, or "all"')
    .option('--quick', 'a smoke run of about a minute each (small models, few seeds and steps): checks the pipeline, proves little')
    .option('--seeds <k>', 'training seeds (default: the experiment\'s own count for quick or full runs)')
    .option('--threads <n>', 'kernel worker threads (results do not depend on it)')
    .requiredOption('--out <dir>', 'output folder (for "all": one sub-folder per experiment and index.html)')
    .addHelpText('after', `\nExperiments:\n${EXPERIMENTS.map((e) => `  ${e.name.padEnd(14)} ${e.description}`).join('\n')}\n`)
    .action(async (name: string, flags: ReproduceFlags) => {
      const seeds = flags.seeds === undefined ? undefined : intFlag(flags.seeds, '--seeds');
      const threads = flags.threads === undefined ? undefined : intFlag(flags.threads, '--threads');
      const progress = createProgress(process.stderr);
      const { rows, index } = await reproduce(name, { quick: flags.quick === true, seeds, threads, out: resolve(flags.out), progress });
      const table = [['experiment', 'time', 'headline', 'report'], ...rows.map((r) => [r.experiment, formatDuration(r.seconds), r.headline, r.report])];
      const widths = [0, 1].map((c) => Math.max(...table.map((row) => row[c].length)));
      process.stdout.write('\n' + table.map((row) => `${row[0].padEnd(widths[0])}  ${row[1].padEnd(widths[1])}  ${row[2]}\n${' '.repeat(widths[0] + widths[1] + 4)}${row[3]}`).join('\n') + '\n');
      if (index) process.stdout.write(`\nindex of all reports: ${index}\n`);
    });
}

