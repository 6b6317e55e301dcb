/** Runs `prl serve` as a child process on a free loopback port, for end-to-end and fault tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { repoRoot } from '../cli/run-cli.js';

export interface ServeProcess {
  url: string;
  child: ChildProcess;
  /** Resolves with the exit code after SIGTERM (or any exit). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  stderr(): string;
}

/** Starts `prl serve --model DIR` (extra flags appended) and waits for its "listening on URL" line. */
export function startPrlServe(model: string, extra: string[] = [], port = 0): Promise<ServeProcess> {
  const child = spawn(process.execPath, [`${repoRoot}dist/src/cli/main.js`, 'serve', '--model', model, '--port', String(port), '--threads', '1', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`prl serve did not start in 20 s: ${stderr}`));
    }, 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      const match = /listening on (\S+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve({
          url: match[1],
          child,
          stderr: () => stderr,
          stop(signal: NodeJS.Signals = 'SIGTERM') {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            return exited;
          },
        });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`prl serve exited with ${code}: ${stderr}`));
    });
  });
}
