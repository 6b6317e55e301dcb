/**
 * `prl report --runs DIR [--out FILE]`: rebuilds the index page over every experiment folder
 * under DIR (a folder holding results.json and report.html), written atomically.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { inputError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { findExperiments, renderIndexPage } from '../../report/index-page.js';

export interface ReportOptions {
  runs: string;
  out?: string;
}

/** Writes the index and returns its path and how many experiments it lists. */
export function buildIndex(options: ReportOptions): { out: string; count: number } {
  const runs = resolve(options.runs);
  if (!existsSync(runs) || !statSync(runs).isDirectory()) throw inputError(`--runs ${options.runs}`, 'not a directory');
  const out = resolve(options.out ?? join(runs, 'index.html'));
  const entries = findExperiments(runs, dirname(out));
  writeFileAtomic(out, renderIndexPage({ title: 'prl experiments', entries }));
  return { out, count: entries.length };
}

export function register(program: Command): void {
  program
    .command('report')
    .description('Rebuild the index page over the experiment folders (results.json + report.html) under a runs directory.')
    .requiredOption('--runs <dir>', 'directory holding experiment folders')
    .option('--out <file>', 'where to write the index (default: <runs>/index.html)')
    .action((options: ReportOptions) => {
      const { out, count } = buildIndex(options);
      process.stdout.write(`wrote ${out} (${count} experiment${count === 1 ? '' : 's'})\n`);
    });
}
