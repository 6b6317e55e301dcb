// The PAV verifier: head + trunk backward against finite differences, save/load, and on arith a verifier
// trained on labelled traces ranks the first wrong step below the correct steps before it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PRESETS, type ModelConfig } from '../../src/engine/config.js';
import { createEngine, type Engine } from '../../src/engine/kernels/index.js';
import { FallbackKernels } from '../../src/engine/kernels/fallback.js';
import { Arena } from '../../src/engine/memory.js';
import { LlamaModel } from '../../src/engine/model.js';
import { arithTask } from '../../src/tasks/arith.js';
import { taskTokenizer } from '../../src/tasks/codec.js';
import {
  balancedClassWeights,
  calibration,
  createVerifier,
  loadVerifier,
  pavScores,
  saveVerifier,
  traceReadouts,
  trainVerifier,
  verifierLossAndBackward,
  verifierPredict,
  type VerifierExample,
} from '../../src/pav/verifier.js';
import { Rng } from '../../src/util/rng.js';

const CONFIG: ModelConfig = { ...PRESETS.tiny, vocabSize: 13, hiddenSize: 16, intermediateSize: 24, numAttentionHeads: 2, numKeyValueHeads: 1, headDim: 8, maxPositionEmbeddings: 32 };

function fallbackEngine(): Engine {
  return { arena: new Arena(0), kernels: new FallbackKernels() };
}

test('verifier loss: head and trunk gradients match central finite differences of the weighted soft-label cross-entropy', () => {
  const engine = fallbackEngine();
  const model = new LlamaModel(CONFIG, engine.arena, engine.kernels);
  const rng = new Rng(1);
  for (const p of model.parameters()) for (let i = 0; i < p.data.length; i++) p.data[i] = p.name.endsWith('norm.weight') ? 1 + 0.2 * rng.normal() : 0.3 * rng.normal();
  const v = createVerifier(model, engine, rng);
  for (let c = 0; c < v.head.length; c++) v.head[c] = 0.5 * rng.normal();
  const batch: VerifierExample[] = [
    { tokens: [1, 5, 7, 2, 9, 3], positions: [1, 3, 5], targets: [0.2, 0.9, 0.6], group: 'a' },
    { tokens: [1, 4, 4, 8], positions: [0, 3], targets: [0.05, 0.45], group: 'b' },
  ];
  const weight = balancedClassWeights(batch.flatMap((e) => e.targets));
  assert.ok(Math.abs(weight(0.9) - 5 / 4) < 1e-12 && Math.abs(weight(0.2) - 5 / 6) < 1e-12, 'N / (2 N_c) by hand');
  model.zeroGrad();
  v.headGrad.fill(0);
  verifierLossAndBackward(v, batch, weight);
  const analytic = { trunk: Float64Array.from(model.grads), head: Float64Array.from(v.headGrad) };
  const loss = (): number => {
    // Loss only: gradients into throwaway buffers.
    model.zeroGrad();
    return verifierLossAndBackward(v, batch, weight);
  };
  const check = (values: Float32Array, grads: Float64Array, i: number, name: string): void => {
    const h = 1e-2;
    const saved = values[i];
    values[i] = saved + h;
    const plus = loss();
    values[i] = saved - h;
    const minus = loss();
    values[i] = saved;
    const numeric = (plus - minus) / (2 * h);
    assert.ok(Math.abs(grads[i] - numeric) <= 2e-4 + 3e-2 * Math.abs(numeric), `${name}[${i}]: grad ${grads[i]} vs numeric ${numeric}`);
  };
  for (let c = 0; c <= CONFIG.hiddenSize; c += 3) check(v.head, analytic.head, c, 'head');
  let checked = 0;
  const base = model.weights.byteOffset;
  for (const p of model.parameters()) {
    if (p.name === 'lm_head.weight') continue;
    const start = (p.data.byteOffset - base) / 4;
    const picks = p.name === 'model.embed_tokens.weight' ? [5 * CONFIG.hiddenSize + 3, 8 * CONFIG.hiddenSize] : [rng.int(p.data.length), rng.int(p.data.length)];
    for (const i of picks) {
      check(model.weights, analytic.trunk, start + i, p.name);
      checked++;
    }
  }
  assert.ok(checked >= 20);
  assert.ok(analytic.trunk.some((g) => Math.abs(g) > 1e-3), 'the trunk gets a gradient');
});

test('calibration table and ECE by hand; BoK PAV scores from Q^pi predictions', () => {
  const { ece, table } = calibration([0.05, 0.15, 0.12, 0.95], [0, 0.5, 0, 1], 10);
  // Bins: [0.0-0.1): p 0.05, y 0; [0.1-0.2): p 0.135, y 0.25; [0.9-1.0): p 0.95, y 1.
  assert.equal(table.length, 3);
  assert.ok(Math.abs(ece - (0.25 * 0.05 + 0.5 * 0.115 + 0.25 * 0.05)) < 1e-12, String(ece));
  const engine = fallbackEngine();
  const v = createVerifier(new LlamaModel(CONFIG, engine.arena, engine.kernels), engine, new Rng(0), { prover: 'bok:4' });
  const { q, advantages } = pavScores(v, [0.5, 0.5, 0.25]);
  assert.ok(Math.abs(q[1] - (1 - 0.75 ** 4)) < 1e-12);
  assert.ok(Math.abs(advantages[0]) < 1e-12 && Math.abs(advantages[1] - (1 - 0.75 ** 4 - 0.9375)) < 1e-12);
});

/**
 * Synthetic arith traces with exact labels. Each reduction copies a wrong operand with probability e
 * (a slip the step checker calls "not the next reduction") and then computes correctly from it, so the
 * answer ends wrong: Q(prefix) = 0 from the first wrong step on, (1 - e)^(reductions left) before it,
 * and the answer line's Q is the reward. Operand slips need a copy check, which a tiny model learns in
 * a unit test's budget; result slips need arithmetic, which takes longer (see bench/pav-search.ts).
 */
function syntheticExamples(count: number, seed: number, errorRate: number) {
  const task = arithTask({ operations: 2, operators: '+', trainSize: 200, evalSize: 10, seed });
  const tokenizer = taskTokenizer(task);
  const problems = task.trainProblems();
  const rng = new Rng(seed + 100);
  return Array.from({ length: count }, (_, i) => {
    const problem = problems[rng.int(problems.length)];
    const operands = problem.prompt.slice(3, -1).split('+').map(Number);
    let value = operands[0];
    const lines: string[] = [];
    for (let h = 1; h < operands.length; h++) {
      const left = rng.next() < errorRate ? value + (1 + rng.int(9)) : value;
      value = left + operands[h];
      lines.push(`${left}+${operands[h]}=${value}`);
    }
    lines.push(`A: ${value}`);
    const response = lines.join('\n');
    const steps = lines.map((l, h) => (h < lines.length - 1 ? l + '\n' : l));
    const { firstWrong } = task.checkSteps!(problem, response);
    const n = lines.length - 1;
    const targets = [(1 - errorRate) ** n, ...steps.map((_, h) => (firstWrong !== null && h >= firstWrong ? 0 : h < n ? (1 - errorRate) ** (n - 1 - h) : 1))];
    return { ...traceReadouts(tokenizer, problem.prompt, steps), targets, group: String(i), firstWrong, tokenizer };
  });
}

test('arith: a verifier trained on labelled traces ranks the first wrong step below the correct steps before it (held out); save/load keeps it', async () => {
  const engine = await createEngine({ threads: 1 });
  try {
    const train = syntheticExamples(3000, 1, 0.5);
    const heldOut = syntheticExamples(300, 2, 0.5);
    const tokenizer = train[0].tokenizer;
    const model = new LlamaModel({ ...PRESETS.tiny, vocabSize: tokenizer.vocabSize }, engine.arena, engine.kernels);
    const rng = new Rng(3);
    model.initRandom(rng);
    const v = createVerifier(model, engine, rng);
    trainVerifier(v, engine, train, { steps: 600, batchSize: 32, lr: 3e-3, warmupSteps: 30, maxGradNorm: 1, rng });
    const predictions = verifierPredict(v, heldOut.map((e) => e.tokens), heldOut.map((e) => e.positions));
    let wins = 0;
    let pairs = 0;
    heldOut.forEach((e, i) => {
      if (e.firstWrong === null || e.firstWrong < 1) return;
      const q = predictions[i].slice(1); // readout 0 is the prompt
      for (let j = 0; j < e.firstWrong; j++) {
        pairs++;
        wins += q[e.firstWrong] < q[j] ? 1 : q[e.firstWrong] === q[j] ? 0.5 : 0;
      }
    });
    assert.ok(pairs >= 30, `${pairs} pairs`);
    console.log(`ranking: first wrong step below an earlier correct step in ${wins}/${pairs} pairs`);
    assert.ok(wins / pairs > 0.65, `first wrong step ranked below earlier correct steps in only ${wins}/${pairs} pairs (chance 0.5)`);

    const dir = join(mkdtempSync(join(tmpdir(), 'prl-verifier-')), 'v');
    saveVerifier(dir, v, tokenizer);
    const loaded = loadVerifier(dir, engine).verifier;
    const again = verifierPredict(loaded, heldOut.slice(0, 5).map((e) => e.tokens), heldOut.slice(0, 5).map((e) => e.positions));
    assert.deepEqual(again, predictions.slice(0, 5));
  } finally {
    await engine.kernels.dispose();
  }
});
