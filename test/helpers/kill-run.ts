/** Starts `prl ARGS` and kills it with SIGKILL as soon as `path` exists (e.g. a checkpoint), for resume tests. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../cli/run-cli.js';

export async function killWhenExists(args: string[], path: string): Promise<void> {
  const child = spawn(process.execPath, [join(repoRoot, 'dist/src/cli/main.js'), ...args], { stdio: 'ignore' });
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (existsSync(path)) {
        clearInterval(timer);
        child.kill('SIGKILL');
        resolve();
      }
    }, 5);
    child.on('exit', () => {
      clearInterval(timer);
      reject(new Error('the run ended before it could be killed'));
    });
  });
  await new Promise((resolve) => child.on('close', resolve));
}
