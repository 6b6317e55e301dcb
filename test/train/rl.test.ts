import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPrl } from '../cli/run-cli.js';
import { killWhenExists } from '../helpers/kill-run.js';
import { makeTaskModel } from '../helpers/task-model.js';
import { loadModelFolder } from '../../src/engine/checkpoint.js';


async function runCli(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const r = runPrl(args);
  return { code: r.status, stderr: r.stderr };
}

function rows(dir: string, file = 'metrics.jsonl'): Array<Record<string, unknown>> {
  return readFileSync(join(dir, file), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Metrics rows without their wall-clock figures: identical runs must agree on everything else. */
function withoutTimes(list: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return list.map(({ time: _time, ...rest }) => rest);
}

const SMALL_RUN = ['--prompts-per-step', '2', '--group-size', '3', '--eval-problems', '4', '--eval-samples', '2', '--threads', '1', '--quiet'];

test('a PRL run on arith writes its run folder: config, metrics, per-step traces, checkpoints, summary', async () => {
  const root = mkdtempSync(join(tmpdir(), 'prl-rl-'));
  const model = makeTaskModel(join(root, 'model'), 'arith');
  const out = join(root, 'run');
  // A random model earns no reward; a small k1 KL loss still moves it, so that PRL's KL terms come alive.
  const result = await runCli(['rl', '--task', 'arith', '--model', model, '--estimator', 'prl', '--eta', '10', '--kl-coef', '0.05', '--kl-loss', 'k1', '--lr', '1e-3', '--steps', '3', '--eval-every', '2', '--checkpoint-every', '2', '--max-new-tokens', '24', '--out', out, ...SMALL_RUN]);
  assert.equal(result.code, 0, result.stderr);
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(config.estimator, 'prl');
  assert.equal(config.model, model);
  const metrics = rows(out);
  assert.deepEqual(metrics.map((r) => r.step), [0, 1, 2, 3]);
  assert.ok(metrics[0].eval && metrics[2].eval && metrics[3].eval && !metrics[1].eval);
  for (const row of metrics.slice(1)) {
    for (const key of ['reward', 'kl_ref', 'entropy', 'clip_frac', 'grad_norm', 'adv_std']) assert.equal(typeof row[key], 'number', key);
    // One update per batch from the rollout policy itself: every ratio is exactly 1, nothing clipped.
    assert.equal(row.clip_frac, 0);
    // Before the first update the policy is the reference, to the bit.
    if (row.step === 1) assert.equal(row.kl_ref, 0);
    else assert.notEqual(row.kl_ref, 0);
  }
  const traces = rows(out, 'samples.jsonl');
  assert.equal(traces.length, 3 * 2);
  for (const trace of traces) {
    const steps = trace.steps as Array<{ text: string; advantage: number }>;
    assert.equal(steps.map((s) => s.text).join(''), trace.response);
    // PRL fills each step with the value at its end: the advantages are constant within a step.
    const advantages = trace.advantages as number[];
    assert.equal(advantages.length, (trace.tokens as string[]).length);
  }
  assert.ok(existsSync(join(out, 'checkpoints/step-2/model.safetensors')));
  assert.ok(existsSync(join(out, 'checkpoints/step-3/trainer.json')));
  assert.ok(existsSync(join(out, 'summary.json')));
  const again = await runCli(['rl', '--task', 'arith', '--model', model, '--steps', '1', '--out', out, ...SMALL_RUN]);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /already holds a run; continue it with --resume/);
});

test('a run killed with SIGKILL and resumed ends with the same metrics as an uninterrupted run', async () => {
  const root = mkdtempSync(join(tmpdir(), 'prl-resume-'));
  const model = makeTaskModel(join(root, 'model'), 'planted');
  const args = (out: string) => ['rl', '--task', 'planted', '--model', model, '--estimator', 'frpo', '--steps', '8', '--eval-every', '3', '--checkpoint-every', '1', '--seed', '11', '--lr', '1e-3', '--out', out, ...SMALL_RUN];
  const whole = join(root, 'whole');
  assert.equal((await runCli(args(whole))).code, 0);

  const broken = join(root, 'broken');
  await killWhenExists(args(broken), join(broken, 'checkpoints/step-4'));
  // Resuming keeps the run's settings: a different one is refused, naming it; the thread count may change.
  const changed = await runCli(['rl', '--resume', broken, '--lr', '2e-3', '--quiet']);
  assert.equal(changed.code, 1);
  assert.match(changed.stderr, /--lr: 0\.002 differs from the run's 0\.001 in .*broken\/config\.json/);
  const resumed = await runCli(['rl', '--resume', broken, '--threads', '2', '--lr', '1e-3', '--quiet']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.deepEqual(withoutTimes(rows(broken)), withoutTimes(rows(whole)));
  assert.deepEqual(rows(broken, 'samples.jsonl'), rows(whole, 'samples.jsonl'));
});

test('a NaN loss stops the run with a diagnostic and keeps the last good checkpoint', async () => {
  const root = mkdtempSync(join(tmpdir(), 'prl-nan-'));
  const model = makeTaskModel(join(root, 'model'), 'planted');
  const out = join(root, 'run');
  // A k1 KL loss has a gradient even where the policy equals the reference, and a learning rate this
  // large sends the weights to infinity with the first update.
  const result = await runCli(['rl', '--task', 'planted', '--model', model, '--steps', '20', '--lr', '1e30', '--max-grad-norm', '1e30', '--kl-coef', '1', '--kl-loss', 'k1', '--eval-every', '0', '--checkpoint-every', '1', '--out', out, ...SMALL_RUN]);
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /stopped before the update \(the last checkpoint is intact\)/);
  const metrics = rows(out);
  const last = metrics[metrics.length - 1].step as number;
  const folder = loadModelFolder(join(out, `checkpoints/step-${last}`));
  assert.equal(folder.config.vocabSize, 16);
  folder.close();
});
