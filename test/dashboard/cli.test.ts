/** `prl dashboard` as a user runs it: the address on stdout, a line per request, SIGINT stops it cleanly; a missing --runs folder fails clearly. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, runPrl } from '../cli/run-cli.js';
import { makeRun, metricsRow } from './fixtures.js';

test('prl dashboard serves the runs, logs each request, and exits 0 on SIGINT', async () => {
  const runs = mkdtempSync(join(tmpdir(), 'prl-dashboard-cli-'));
  try {
    makeRun(join(runs, 'one')).appendRow('metrics.jsonl', metricsRow(1));
    const child = spawn(process.execPath, [`${repoRoot}dist/src/cli/main.js`, 'dashboard', '--runs', runs, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const deadline = Date.now() + 20_000;
    while (!/http:\/\/127\.0\.0\.1:\d+\//.test(stdout)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no address printed: ${stdout}${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const url = /http:\/\/127\.0\.0\.1:\d+\//.exec(stdout)![0];
    const listed = (await (await fetch(`${url}api/runs`)).json()) as { runs: Array<{ id: string }> };
    assert.deepEqual(listed.runs.map((r) => r.id), ['one']);
    child.kill('SIGINT');
    assert.equal(await exited, 0, stderr);
    assert.match(stderr, /^GET \/api\/runs 200 \d+ms$/m);
    assert.match(stderr, /prl dashboard: stopped/);
  } finally {
    rmSync(runs, { recursive: true, force: true });
  }
});

test('prl dashboard with a --runs folder that does not exist exits non-zero and says so', () => {
  const run = runPrl(['dashboard', '--runs', '/nonexistent/prl-runs', '--port', '0']);
  assert.equal(run.status, 1);
  assert.equal(run.stderr, 'prl: --runs /nonexistent/prl-runs: no such directory\n');
});
