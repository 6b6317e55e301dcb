/** Spawns the built CLI and the Python reference for end-to-end tests. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from dist/test/cli/). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runPrl(args: string[], input = ''): Run {
  const r = spawnSync(process.execPath, [`${repoRoot}dist/src/cli/main.js`, ...args], { input, encoding: 'utf8', cwd: repoRoot });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function runReference(args: string[], input: string): string {
  const r = spawnSync('python3', [`${repoRoot}test/reference/algos_reference.py`, ...args], { input, encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`python reference failed: ${r.stderr}`);
  return r.stdout;
}
