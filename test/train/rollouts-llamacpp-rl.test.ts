/**
 * `prl rl --rollout llamacpp` end to end on a byte-level BPE checkpoint (llama.cpp refuses prl's character-level
 * task vocabularies): a LoRA run whose every step samples in llama.cpp from the adapter of the step before.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPrl } from '../cli/run-cli.js';
import { instructFolder } from '../helpers/instruct-model.js';

const rows = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);

test('prl rl --rollout llamacpp: whole groups from the previous step\'s adapter, with engine log-probs that match the trainer\'s', () => {
  const root = mkdtempSync(join(tmpdir(), 'prl-rl-llamacpp-'));
  const { dir } = instructFolder(root);
  const data = join(root, 'p.jsonl');
  writeFileSync(data, ['the cat', 'a dog', 'one two'].map((problem, i) => JSON.stringify({ problem, answer: String(i) })).join('\n') + '\n');
  const out = join(root, 'run');
  const steps = 3;
  const G = 2;
  const P = 2;
  const result = runPrl(['rl', '--task', 'math', '--task-options', JSON.stringify({ trainData: data, evalData: data }), '--model', dir, '--lora-rank', '2', '--lr', '1e-2',
    '--steps', String(steps), '--prompts-per-step', String(P), '--group-size', String(G), '--samples-per-step', String(P * G), '--eval-every', '0', '--max-new-tokens', '6',
    '--threads', '1', '--quiet', '--rollout', 'llamacpp:threads=1', '--out', out]);
  assert.equal(result.status, 0, result.stderr);
  const metrics = rows(join(out, 'metrics.jsonl')).filter((r) => r.step !== 0);
  assert.equal(metrics.length, steps);
  for (const row of metrics) {
    // Same f32 weights in both engines: the mismatch is rounding, and the cap never binds.
    assert.ok(typeof row.rollout_logprob_diff === 'number' && row.rollout_logprob_diff < 1e-3, `step ${row.step}: ${row.rollout_logprob_diff}`);
    assert.equal(row.tis_capped_frac, 0);
  }
  const samples = rows(join(out, 'samples.jsonl'));
  for (let step = 1; step <= steps; step++) {
    const ofStep = samples.filter((s) => s.step === step);
    assert.equal(ofStep.length, P * G, `step ${step}`);
    for (const s of ofStep) assert.equal(s.policy_version, step - 1);
  }
});
