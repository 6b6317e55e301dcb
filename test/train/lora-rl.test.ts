// prl rl --lora-rank: an adapter on a frozen base (PAV with the exact planted prover, so even a policy that
// never succeeds yet gets a gradient). The reference is the base itself (KL 0 before the first
// update), a run killed and resumed ends with the same numbers, the final adapter lands in OUT/adapter as a
// PEFT folder that --adapter reads, and a checkpoint is refused on a base whose weights changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPrl } from '../cli/run-cli.js';
import { killWhenExists } from '../helpers/kill-run.js';
import { makeTaskModel } from '../helpers/task-model.js';

const rows = (dir: string, file = 'metrics.jsonl'): Array<Record<string, unknown>> =>
  readFileSync(join(dir, file), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
const withoutTimes = (list: Array<Record<string, unknown>>) => list.map(({ time: _time, ...rest }) => rest);

test('RL on a LoRA adapter: base as reference, exact resume after SIGKILL, OUT/adapter, and a changed base refused', async () => {
  const root = mkdtempSync(join(tmpdir(), 'prl-lora-rl-'));
  const model = makeTaskModel(join(root, 'model'), 'planted');
  const args = (out: string) => [
    'rl', '--task', 'planted', '--model', model, '--estimator', 'pav', '--prover', 'oracle:gamma=10', '--lora-rank', '4', '--lora-targets', 'q,v,down',
    '--steps', '6', '--eval-every', '3', '--checkpoint-every', '1', '--seed', '5', '--lr', '3e-3', '--out', out,
    '--prompts-per-step', '2', '--group-size', '3', '--eval-problems', '4', '--eval-samples', '2', '--threads', '1', '--quiet',
  ];
  const whole = join(root, 'whole');
  const run = runPrl(args(whole));
  assert.equal(run.status, 0, run.stderr);
  const metrics = rows(whole);
  const first = metrics.find((r) => r.step === 1)!;
  assert.ok(Math.abs(first.kl_ref as number) < 1e-6, `B = 0: the adapted policy is the base before the first update (kl_ref ${first.kl_ref})`);
  assert.ok((metrics.at(-1)!.kl_ref as number) > 1e-6, 'then it moves away from its base');

  // The final adapter is a PEFT folder that the engine reads back.
  const config = JSON.parse(readFileSync(join(whole, 'adapter', 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual([config.r, config.lora_alpha, config.base_model_name_or_path], [4, 8, model]);
  assert.deepEqual(config.target_modules, ['q_proj', 'v_proj', 'down_proj']);
  assert.ok(existsSync(join(whole, 'checkpoints', 'step-6', 'adapter', 'adapter_model.safetensors')));
  assert.equal(existsSync(join(whole, 'checkpoints', 'step-6', 'model.safetensors')), false, 'no copy of the frozen base per checkpoint');

  const broken = join(root, 'broken');
  await killWhenExists(args(broken), join(broken, 'checkpoints/step-3'));
  const resumed = runPrl(['rl', '--resume', broken, '--quiet']);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.deepEqual(withoutTimes(rows(broken)), withoutTimes(metrics));
  assert.deepEqual(readFileSync(join(broken, 'adapter', 'adapter_model.safetensors')), readFileSync(join(whole, 'adapter', 'adapter_model.safetensors')));

  // A base whose weights changed under a run: its checkpoint is refused.
  const weights = join(model, 'model.safetensors');
  const bytes = readFileSync(weights);
  bytes[bytes.length - 1] ^= 1;
  writeFileSync(weights, bytes);
  const stale = runPrl(['rl', '--resume', whole, '--steps', '6', '--quiet']);
  assert.equal(stale.status, 1);
  assert.match(stale.stderr, /the adapter was trained on another base/);
});
