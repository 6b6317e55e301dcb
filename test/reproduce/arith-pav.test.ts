import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine } from '../../src/engine/kernels/index.js';
import { loadModel } from '../../src/engine/io.js';
import { prepareArithPav, type ArithPavSettings } from '../../src/reproduce/arith-pav.js';
import { createProgress } from '../../src/util/progress.js';
import { useIsolatedCache } from '../helpers/isolated-cache.js';
import { makeTaskModel } from '../helpers/task-model.js';

useIsolatedCache();

const quiet = createProgress(process.stderr, 1, true);
const TASK_OPTIONS = { operations: 2, trainSize: 40, evalSize: 8 };

/** Every parameter of a model folder's model, flattened. */
async function weightsOf(dir: string): Promise<Float32Array[]> {
  const engine = await createEngine({ threads: 1 });
  try {
    return loadModel(dir, engine).model.parameters().map((p) => Float32Array.from(p.data));
  } finally {
    await engine.kernels.dispose();
  }
}

test("the verifier's start option: its trunk starts from the given model, gets its own cache folder, and reuses the labels", { timeout: 30_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'prl-arith-pav-'));
  try {
    const policy = makeTaskModel(join(root, 'policy'), 'arith', TASK_OPTIONS, 'tiny', 1);
    const other = makeTaskModel(join(root, 'other'), 'arith', TASK_OPTIONS, 'tiny', 2);
    // lr 0: one optimiser step leaves the trunk as it started, so the saved verifier shows its starting weights.
    const settings: ArithPavSettings = {
      taskOptions: TASK_OPTIONS,
      start: { model: policy },
      labels: { problems: 4, nCov: 2, nMc: 2, prover: 'bok:4', strategy: 'random', temperature: 1, seed: 0, chunk: 4 },
      verifier: { steps: 1, batchSize: 4, lr: 0, warmupSteps: 0, heldOutFraction: 0.25, seed: 0 },
    };
    const byPolicy = await prepareArithPav(settings, { progress: quiet, threads: 1 });
    // Mark the cached labels' stats: a relabelling would compute them anew, a reuse copies the mark.
    const labelsMeta = join(byPolicy.labels, '..', 'labels.json');
    const meta = JSON.parse(readFileSync(labelsMeta, 'utf8')) as { stats: { seconds: number } };
    writeFileSync(labelsMeta, JSON.stringify({ ...meta, stats: { ...meta.stats, seconds: 12345 } }));
    const byOther = await prepareArithPav({ ...settings, verifier: { ...settings.verifier, start: { model: other } } }, { progress: quiet, threads: 1 });

    assert.equal(byOther.policy, policy, 'the policy is unchanged');
    assert.notEqual(byOther.verifier, byPolicy.verifier, 'a different trunk is cached under a different key');
    assert.deepEqual(byOther.stats.labels, { ...byPolicy.stats.labels, seconds: 12345 });
    assert.equal(readFileSync(byOther.labels, 'utf8'), readFileSync(byPolicy.labels, 'utf8'), 'the labels are reused, not redrawn');

    const [policyWeights, otherWeights] = [await weightsOf(policy), await weightsOf(other)];
    assert.notDeepEqual(policyWeights, otherWeights, 'the two starts differ');
    assert.deepEqual(await weightsOf(byOther.verifier), otherWeights);
    assert.deepEqual(await weightsOf(byPolicy.verifier), policyWeights);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("the verifier's start must share the policy's tokenizer", { timeout: 30_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'prl-arith-pav-'));
  try {
    const settings: ArithPavSettings = {
      taskOptions: TASK_OPTIONS,
      start: { model: makeTaskModel(join(root, 'policy'), 'arith', TASK_OPTIONS) },
      labels: { problems: 2, nCov: 1, nMc: 1, prover: 'policy', strategy: 'random', temperature: 1, seed: 0, chunk: 2 },
      verifier: { steps: 1, batchSize: 2, lr: 0, warmupSteps: 0, heldOutFraction: 0.5, seed: 0, start: { model: makeTaskModel(join(root, 'planted'), 'planted', {}) } },
    };
    await assert.rejects(prepareArithPav(settings, { progress: quiet, threads: 1 }), /planted: tokenizer\.json: the verifier's trunk must share the policy's tokenizer/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
