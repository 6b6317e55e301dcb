/**
 * `prl eval` against `prl serve` under faults: the server killed and restarted mid-run, 500s and
 * hung requests injected by a proxy, a wrong URL or model name. A finished run must hold every
 * problem exactly once, with exactly the samples of an undisturbed `engine:` run of the same model.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ProblemResult } from '../../src/eval/evaluate.js';
import { repoRoot, runPrl } from '../cli/run-cli.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { makeTinyModelFolder } from '../helpers/model-folder.js';
import { startPrlServe } from '../helpers/prl-serve.js';

const model = makeTinyModelFolder(6, 'prl-eval-faults-');
const work = dirname(model);
const data = join(work, 'sums.jsonl');
const PROBLEMS = 8;
const evalArgs = (policy: string, out: string): string[] => ['eval', '--policy', policy, '--data', data, '--out', out, '--n', '3', '--max-tokens', '20', '--concurrency', '2', '--seed', '4'];
let reference: ProblemResult[];

function results(path: string): ProblemResult[] {
  return readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ProblemResult).sort((a, b) => Number(a.id) - Number(b.id));
}

/** Runs prl eval in the background (so the test can break the server meanwhile). */
function runEvalAsync(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [`${repoRoot}dist/src/cli/main.js`, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PRL_THREADS: '1' } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
  return new Promise((resolve) => child.once('exit', (code) => {
    clearTimeout(timer);
    resolve({ code, stdout, stderr });
  }));
}

before(() => {
  writeFileSync(data, Array.from({ length: PROBLEMS }, (_, i) => JSON.stringify({ id: i, problem: `${i}+${i}=?`, answer: String(2 * i) })).join('\n') + '\n');
  const out = join(work, 'engine.jsonl');
  const run = runPrl(evalArgs(`engine:${model}`, out));
  assert.equal(run.status, 0, run.stderr);
  reference = results(out);
  assert.equal(reference.length, PROBLEMS);
});
after(() => rmSync(work, { recursive: true, force: true }));

test('the server killed and restarted during an openai evaluation: the run finishes, nothing lost or counted twice', async () => {
  let server = await startPrlServe(model);
  const port = Number(new URL(server.url).port);
  const out = join(work, 'restart.jsonl');
  const running = runEvalAsync(evalArgs(`openai:${server.url}?model=model&retries=8&timeoutMs=5000`, out));
  // Kill the server once some problems are done, restart it on the same port.
  const deadline = Date.now() + 15_000;
  while (!(existsSync(out) && readFileSync(out, 'utf8').split('\n').length > 2) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await server.stop('SIGKILL');
  await new Promise((r) => setTimeout(r, 300));
  server = await startPrlServe(model, [], port);
  try {
    const run = await running;
    assert.equal(run.code, 0, run.stderr);
    const got = results(out);
    assert.equal(got.length, PROBLEMS, 'every problem exactly once');
    assert.deepEqual(got, reference, 'the same samples as an undisturbed engine run');
    const summary = JSON.parse(run.stdout) as Record<string, { problems: number }>;
    assert.equal(summary.sums.problems, PROBLEMS);
  } finally {
    await server.stop();
  }
  // The run went on against the restarted server (it was not already over when the first died).
  const served = Number(/stopped after (\d+) requests/.exec(server.stderr())?.[1]);
  assert.ok(served >= 1, `the restarted server served ${served} requests`);
});

test('500s and hung requests injected by a proxy are retried; results are unchanged', async () => {
  const server = await startPrlServe(model);
  const proxy = await startFaultProxy(new URL(server.url).origin, (k) => (k === 3 ? 'hang' : k % 3 === 1 ? { status: 500 } : 'pass'));
  try {
    const out = join(work, 'faults.jsonl');
    const run = await runEvalAsync(evalArgs(`openai:${proxy.url}?model=model&retries=6&timeoutMs=1500`, out));
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(results(out), reference);
    assert.ok(proxy.log.some((f) => f === 'hang') && proxy.log.filter((f) => typeof f === 'object').length >= 2, 'the faults were met');
  } finally {
    await proxy.close();
    await server.stop();
  }
});

test('a wrong URL or model name is a clear error', async () => {
  const server = await startPrlServe(model);
  try {
    const wrongModel = runPrl(evalArgs(`openai:${server.url}?model=nope`, join(work, 'x.jsonl')));
    assert.equal(wrongModel.status, 1);
    assert.match(wrongModel.stderr, /model "nope" is not served; available: model/);
  } finally {
    await server.stop();
  }
  const port = new URL(server.url).port; // now closed
  const wrongUrl = runPrl(evalArgs(`openai:http://127.0.0.1:${port}/v1?retries=0`, join(work, 'y.jsonl')));
  assert.equal(wrongUrl.status, 1);
  assert.equal(wrongUrl.stderr, `prl: connection refused: is a server running at http://127.0.0.1:${port}/v1?\n`);
});
