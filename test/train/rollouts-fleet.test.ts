/**
 * `prl rl --rollout openai:URL,URL` against two `prl serve --enable-lora` processes: one killed with
 * SIGKILL mid-run and restarted on its port; async steps; bad input; the API key stays out of the run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, runPrl } from '../cli/run-cli.js';
import { startPrlServe, type ServeProcess } from '../helpers/prl-serve.js';
import { killWhenExists } from '../helpers/kill-run.js';
import { makeTaskModel } from '../helpers/task-model.js';

const P = 2;
const G = 3;
const RUN = ['rl', '--task', 'arith', '--estimator', 'prl', '--eta', '10', '--lr', '1e-3', '--lora-rank', '4', '--max-new-tokens', '16', '--prompts-per-step', String(P), '--group-size', String(G), '--samples-per-step', String(P * G), '--eval-every', '0', '--threads', '1', '--quiet', '--request-timeout', '20', '--server-wait', '30'];
const SECRET = 'sk-test-never-in-the-run-folder-81f3';

function rows(dir: string, file: string): Array<Record<string, unknown>> {
  return readFileSync(join(dir, file), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Runs `prl ...` without blocking this process (the test kills servers meanwhile). */
function runAsync(args: string[]): { done: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, [`${repoRoot}dist/src/cli/main.js`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.resume();
  return { done: new Promise((resolve) => child.once('exit', (code) => resolve({ code, stderr }))) };
}

async function waitForStep(out: string, step: number, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (rows(out, 'metrics.jsonl').some((r) => (r.step as number) >= step)) return;
    } catch {
      // Not written yet.
    }
    if (Date.now() > until) throw new Error(`no step ${step} in ${out} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Every file of the run folder, read as text, must not hold the key. */
function assertNoSecret(dir: string): void {
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const path = join(dir, name);
    if (statSync(path).isFile()) assert.ok(!readFileSync(path).toString('latin1').includes(SECRET), `${path} holds the API key`);
  }
}

test('PRL with LoRA on two prl serve processes, one SIGKILLed mid-run and restarted: whole groups every step, each once, TIS metrics in every row', async () => {
  const root = mkdtempSync(join(tmpdir(), 'prl-fleet-'));
  const model = makeTaskModel(join(root, 'model'), 'arith');
  const servers: ServeProcess[] = [await startPrlServe(model, ['--enable-lora', '--quiet']), await startPrlServe(model, ['--enable-lora', '--quiet'])];
  try {
    const out = join(root, 'run');
    const steps = 80;
    const run = runAsync([...RUN, '--model', model, '--steps', String(steps), '--checkpoint-every', '20', '--rollout', `openai:${servers[0].url},${servers[1].url}`, '--api-key', SECRET, '--out', out]);
    await waitForStep(out, 2);
    const port = new URL(servers[0].url).port;
    await servers[0].stop('SIGKILL');
    const stepsAtKill = rows(out, 'metrics.jsonl').length;
    await waitForStep(out, stepsAtKill + 1);
    // Restarted without --quiet: its request lines show that it got adapters and work again.
    servers[0] = await startPrlServe(model, ['--enable-lora'], Number(port));
    const stepsAtRestart = rows(out, 'metrics.jsonl').length;
    assert.ok(stepsAtKill < steps && stepsAtRestart < steps, `killed after ${stepsAtKill}, restarted after ${stepsAtRestart} of ${steps} steps`);
    const { code, stderr } = await run.done;
    assert.equal(code, 0, stderr);
    const metrics = rows(out, 'metrics.jsonl');
    assert.deepEqual(metrics.map((r) => r.step), Array.from({ length: steps }, (_, i) => i + 1));
    for (const r of metrics) {
      assert.ok(typeof r.rollout_logprob_diff === 'number' && typeof r.tis_capped_frac === 'number', JSON.stringify(r));
      // Same engine on both sides: the server's log-probs match the trainer's re-scoring closely.
      assert.ok((r.rollout_logprob_diff as number) < 1e-3, `step ${String(r.step)}: diff ${String(r.rollout_logprob_diff)}`);
      assert.equal(r.tis_capped_frac, 0);
      assert.equal(r.staleness, 0);
    }
    const samples = rows(out, 'samples.jsonl');
    // Whole groups, each sample once: P * G rows per step, each (step, problem) holding G samples.
    for (let step = 1; step <= steps; step++) {
      const mine = samples.filter((s) => s.step === step);
      assert.equal(mine.length, P * G, `step ${step}`);
      assert.ok(mine.every((s) => s.policy_version === step - 1));
    }
    assert.equal(samples.length, steps * P * G);
    assertNoSecret(out);
    const restartedLog = servers[0].stderr();
    assert.match(restartedLog, /load_lora_adapter/);
    assert.match(restartedLog, /completions/);
  } finally {
    await Promise.all(servers.map((s) => s.stop('SIGKILL')));
  }
});

test('--async-steps 1 on a server: staleness <= 1, policy_version one behind from step 2; a synchronous run resumed after SIGKILL repeats its numbers', async () => {
  const root = mkdtempSync(join(tmpdir(), 'prl-fleet-async-'));
  const model = makeTaskModel(join(root, 'model'), 'arith');
  const server = await startPrlServe(model, ['--enable-lora', '--quiet']);
  try {
    const out = join(root, 'run');
    const r = runPrl([...RUN, '--model', model, '--steps', '4', '--async-steps', '1', '--rollout', `openai:${server.url}`, '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    const metrics = rows(out, 'metrics.jsonl');
    assert.deepEqual(metrics.map((m) => m.staleness), [0, 1, 1, 1]);
    const versions = rows(out, 'samples.jsonl').map((s) => [s.step, s.policy_version]);
    for (const [step, version] of versions) assert.equal(version, Math.max(0, (step as number) - 2));

    // Synchronous, seeded: a run SIGKILLed after a checkpoint and resumed ends with the uninterrupted run's numbers.
    const args = (dir: string) => [...RUN, '--model', model, '--steps', '5', '--checkpoint-every', '1', '--rollout', `openai:${server.url}`, '--out', dir];
    const whole = join(root, 'whole');
    const first = runPrl(args(whole));
    assert.equal(first.status, 0, first.stderr);
    const broken = join(root, 'broken');
    await killWhenExists(args(broken), join(broken, 'checkpoints/step-3'));
    const resumed = runPrl(['rl', '--resume', broken, '--quiet']);
    assert.equal(resumed.status, 0, resumed.stderr);
    const withoutTimes = (list: Array<Record<string, unknown>>) => list.map(({ time: _time, ...rest }) => rest);
    assert.deepEqual(withoutTimes(rows(broken, 'metrics.jsonl')), withoutTimes(rows(whole, 'metrics.jsonl')));
    assert.deepEqual(rows(broken, 'samples.jsonl'), rows(whole, 'samples.jsonl'));
  } finally {
    await server.stop('SIGKILL');
  }
});

test('bad input: a server without --enable-lora names the flags, an unreachable URL is named, an unwritable --sync-dir is refused before step 1', async () => {
  const root = mkdtempSync(join(tmpdir(), 'prl-fleet-bad-'));
  const model = makeTaskModel(join(root, 'model'), 'arith');
  const plain = await startPrlServe(model, ['--quiet']);
  try {
    const noLora = runPrl([...RUN, '--model', model, '--steps', '1', '--rollout', `openai:${plain.url}`, '--out', join(root, 'a')]);
    assert.notEqual(noLora.status, 0);
    assert.match(noLora.stderr, /--enable-lora/);
    assert.match(noLora.stderr, /VLLM_ALLOW_RUNTIME_LORA_UPDATING=True/);
    const unreachable = runPrl([...RUN, '--model', model, '--steps', '1', '--rollout', 'openai:http://127.0.0.1:9', '--out', join(root, 'b')]);
    assert.notEqual(unreachable.status, 0);
    assert.match(unreachable.stderr, /http:\/\/127\.0\.0\.1:9 does not answer/);
    writeFileSync(join(root, 'file'), 'x');
    const badSync = runPrl([...RUN, '--model', model, '--steps', '1', '--rollout', `openai:${plain.url}`, '--sync-dir', join(root, 'file', 'sync'), '--out', join(root, 'c')]);
    assert.notEqual(badSync.status, 0);
    assert.match(badSync.stderr, /--sync-dir .*not writable/);
    const metricsFile = join(root, 'c', 'metrics.jsonl');
    assert.ok(!existsSync(metricsFile) || readFileSync(metricsFile, 'utf8').trim() === '', 'no step ran');
  } finally {
    await plain.stop('SIGKILL');
  }
});

test('a rank above the server\'s --max-lora-rank passes its message on, full fine-tuning on a LoRA-only server recommends --lora-rank, every server down past --server-wait stops with --resume', async () => {
  const root = mkdtempSync(join(tmpdir(), 'prl-fleet-down-'));
  const model = makeTaskModel(join(root, 'model'), 'arith');
  const server = await startPrlServe(model, ['--enable-lora', '--max-lora-rank', '2', '--quiet']);
  try {
    const rollout = ['--rollout', `openai:${server.url}`];
    const tooBig = runPrl([...RUN, '--model', model, '--steps', '1', ...rollout, '--out', join(root, 'a')]);
    assert.notEqual(tooBig.status, 0);
    assert.match(tooBig.stderr, /LoRA rank 4 is greater than max_lora_rank 2/);
    const full = runPrl([...RUN.filter((a, i, all) => a !== '--lora-rank' && all[i - 1] !== '--lora-rank'), '--model', model, '--steps', '1', ...rollout, '--out', join(root, 'b')]);
    assert.notEqual(full.status, 0);
    assert.match(full.stderr, /full fine-tuning .*--lora-rank/);
    const out = join(root, 'c');
    const run = runAsync([...RUN, '--lora-rank', '2', '--model', model, '--steps', '200', '--checkpoint-every', '1', '--server-wait', '1', ...rollout, '--out', out]);
    await waitForStep(out, 1);
    await server.stop('SIGKILL');
    const { code, stderr } = await run.done;
    assert.notEqual(code, 0);
    assert.match(stderr, new RegExp(`every server has been down for more than 1 s \\(--server-wait\\): ${server.url.replace(/\/v1$/, '').replace(/[.]/g, '\\.')}`));
    assert.match(stderr, /last checkpoint \(.*step-\d+, step \d+\)/);
    assert.match(stderr, new RegExp(`--resume ${out.replace(/[.]/g, '\\.')}`));
  } finally {
    await server.stop('SIGKILL');
  }
});
