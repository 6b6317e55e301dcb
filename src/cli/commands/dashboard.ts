/**
 * `prl dashboard --runs DIR [--host 127.0.0.1] [--port 8080]`: a live page over the training runs
 * under DIR (src/dashboard/server.ts): their curves side by side, updating while they train, and the
 * sampled responses of any step with per-token advantages. Binds to loopback unless `--host` says
 * otherwise; stops on SIGINT or SIGTERM.
 */
import type { Command } from 'commander';
import { startDashboard } from '../../dashboard/server.js';
import { intFlag } from '../options.js';

interface DashboardFlags {
  runs: string;
  host: string;
  port: string;
  quiet?: boolean;
}

export function register(program: Command): void {
  program
    .command('dashboard')
    .description('Serve a live page of the runs under a folder: curves side by side as they train, and sampled responses with per-token advantages.')
    .requiredOption('--runs <dir>', 'folder searched (5 levels deep) for run folders (config.json + metrics.jsonl)')
    .option('--host <address>', 'interface to bind (loopback by default; another address exposes your runs to that network)', '127.0.0.1')
    .option('--port <n>', 'port; 0 picks a free one', '8080')
    .option('--quiet', 'no line per request')
    .action(async (opts: DashboardFlags) => {
      const server = await startDashboard({
        runsDir: opts.runs,
        host: opts.host,
        port: intFlag(opts.port, '--port', 0),
        log: opts.quiet ? undefined : (line) => process.stderr.write(line + '\n'),
      });
      process.stdout.write(`prl dashboard: ${server.url} (runs under ${opts.runs}; Ctrl-C stops)\n`);
      await new Promise<void>((resolveStop) => {
        process.once('SIGINT', () => resolveStop());
        process.once('SIGTERM', () => resolveStop());
      });
      await server.close();
      process.stderr.write('prl dashboard: stopped\n');
    });
}
