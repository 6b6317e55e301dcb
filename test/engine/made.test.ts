// MADE against an independent float64 reference: log-probabilities, the autoregressive property,
// gradients by central finite differences, and the sampler's distribution.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEngine } from '../../src/engine/kernels/index.js';
import { MadeModel, type MadeConfig } from '../../src/engine/made.js';
import { AdamW } from '../../src/engine/optim.js';
import { Rng } from '../../src/util/rng.js';

type Params = Array<{ w: Float64Array; b: Float64Array; nIn: number; nOut: number }>;

function paramsOf(model: MadeModel): Params {
  const p = model.parameters();
  const out: Params = [];
  for (let i = 0; i < p.length; i += 2) out.push({ w: Float64Array.from(p[i].data), b: Float64Array.from(p[i + 1].data), nOut: p[i].shape[0], nIn: p[i].shape[1] });
  return out;
}

/** log p(x_d | x_<d) for one sequence, in float64 with plain loops. */
function referenceLogProbs(params: Params, config: MadeConfig, tokens: readonly number[]): number[] {
  const { vocabSize: V, length: D } = config;
  let x = new Float64Array(D * V);
  tokens.forEach((t, d) => (x[d * V + t] = 1));
  params.forEach(({ w, b, nIn, nOut }, l) => {
    const y = new Float64Array(nOut);
    for (let o = 0; o < nOut; o++) {
      let s = b[o];
      for (let i = 0; i < nIn; i++) s += w[o * nIn + i] * x[i];
      y[o] = l + 1 < params.length ? Math.max(0, s) : s;
    }
    x = y;
  });
  return tokens.map((t, d) => {
    const row = Array.from(x.subarray(d * V, (d + 1) * V));
    const max = Math.max(...row);
    return row[t] - max - Math.log(row.reduce((z, v) => z + Math.exp(v - max), 0));
  });
}

const CONFIG: MadeConfig = { vocabSize: 4, length: 4, hidden: [12, 9] };

function randomTokens(rng: Rng, count: number, config = CONFIG): number[][] {
  return Array.from({ length: count }, () => Array.from({ length: config.length }, () => rng.int(config.vocabSize)));
}

test('MADE: log-probabilities match a float64 reference, and position d sees only the tokens before it', async () => {
  const { arena, kernels } = await createEngine({ threads: 1 });
  try {
    const model = new MadeModel(CONFIG, arena, kernels, new Rng(1));
    const tokens = randomTokens(new Rng(2), 5);
    const logp = Array.from(model.logProbs(tokens));
    const params = paramsOf(model);
    tokens.forEach((seq, b) => referenceLogProbs(params, CONFIG, seq).forEach((ref, d) => assert.ok(Math.abs(logp[b * 4 + d] - ref) < 1e-5, `b ${b} d ${d}: ${logp[b * 4 + d]} vs ${ref}`)));
    // Changing the token at position q leaves positions < q exactly as they were and moves some position > q.
    for (let q = 0; q < 4; q++) {
      const changed = tokens.map((seq) => seq.map((t, d) => (d === q ? (t + 1) % 4 : t)));
      const after = Array.from(model.logProbs(changed));
      let movedLater = false;
      for (let b = 0; b < tokens.length; b++) {
        for (let d = 0; d < q; d++) assert.equal(after[b * 4 + d], logp[b * 4 + d], `position ${d} saw position ${q}`);
        for (let d = q + 1; d < 4; d++) movedLater ||= after[b * 4 + d] !== logp[b * 4 + d];
      }
      if (q < 3) assert.ok(movedLater, `no position after ${q} depends on it`);
    }
  } finally {
    await kernels.dispose();
  }
});

test('MADE: backward equals central finite differences of the float64 reference; masked weights get no gradient', async () => {
  const { arena, kernels } = await createEngine({ threads: 1 });
  try {
    const model = new MadeModel(CONFIG, arena, kernels, new Rng(3));
    const rng = new Rng(4);
    const tokens = randomTokens(rng, 3);
    const coef = Float32Array.from({ length: 12 }, () => rng.normal());
    const loss = (params: Params) => tokens.reduce((sum, seq, b) => sum + referenceLogProbs(params, CONFIG, seq).reduce((s, lp, d) => s + coef[b * 4 + d] * lp, 0), 0);
    model.logProbs(tokens);
    const dlogp = arena.allocF32(12);
    dlogp.set(coef);
    model.zeroGrad();
    model.backward(dlogp);
    const params = paramsOf(model);
    const grads = model.parameters().map((p) => p.grad);
    const h = 1e-6;
    let checked = 0;
    params.forEach((layer, l) => {
      for (const [which, values, grad] of [['weight', layer.w, grads[2 * l]], ['bias', layer.b, grads[2 * l + 1]]] as const) {
        for (let i = 0; i < values.length; i++) {
          const masked = which === 'weight' && values[i] === 0;
          if (masked) {
            assert.equal(grad[i], 0, `layer ${l} masked weight ${i} has a gradient`);
            continue;
          }
          const keep = values[i];
          values[i] = keep + h;
          const up = loss(params);
          values[i] = keep - h;
          const down = loss(params);
          values[i] = keep;
          const fd = (up - down) / (2 * h);
          assert.ok(Math.abs(grad[i] - fd) <= 1e-4 + 1e-3 * Math.abs(fd), `layer ${l} ${which} ${i}: ${grad[i]} vs ${fd}`);
          checked++;
        }
      }
    });
    assert.ok(checked > 100, `only ${checked} parameters checked`);
  } finally {
    await kernels.dispose();
  }
});

test('MADE: AdamW updates leave masked weights at zero', async () => {
  const { arena, kernels } = await createEngine({ threads: 1 });
  try {
    const model = new MadeModel(CONFIG, arena, kernels, new Rng(5));
    const zeros = model.parameters().filter((p) => p.shape.length === 2).map((p) => Array.from(p.data.keys()).filter((i) => p.data[i] === 0));
    const optimizer = new AdamW(model, arena, kernels, { lr: 1e-2 });
    const rng = new Rng(6);
    const dlogp = arena.allocF32(8 * 4).fill(-1);
    for (let step = 0; step < 5; step++) {
      model.logProbs(randomTokens(rng, 8));
      model.zeroGrad();
      model.backward(dlogp);
      optimizer.update();
    }
    model.parameters().filter((p) => p.shape.length === 2).forEach((p, l) => zeros[l].forEach((i) => assert.equal(p.data[i], 0)));
    assert.ok(zeros.every((z) => z.length > 0));
  } finally {
    await kernels.dispose();
  }
});

test('MADE: samples follow the model distribution; after the end token every position is the end token', async () => {
  const { arena, kernels } = await createEngine({ threads: 1 });
  try {
    const config: MadeConfig = { vocabSize: 3, length: 2, hidden: [4] };
    const model = new MadeModel(config, arena, kernels, new Rng(7));
    // Exact probabilities of the 9 sequences from the model's own log-probabilities (float64 reference agrees above).
    const all = Array.from({ length: 9 }, (_, i) => [Math.floor(i / 3), i % 3]);
    const logp = model.logProbs(all);
    const exact = all.map((_, i) => Math.exp(logp[2 * i] + logp[2 * i + 1]));
    assert.ok(Math.abs(exact.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    const rng = new Rng(8);
    const counts = new Array<number>(9).fill(0);
    const draws = 20000;
    for (let k = 0; k < draws / 500; k++) for (const [a, b] of model.sample(500, rng)) counts[a * 3 + b]++;
    exact.forEach((p, i) => {
      const sd = Math.sqrt((draws * p * (1 - p)));
      assert.ok(Math.abs(counts[i] - draws * p) < 5 * sd + 1, `sequence ${all[i]}: ${counts[i]} draws, expected ${(draws * p).toFixed(1)}`);
    });
    const ended = model.sample(2000, rng, { endToken: 1 });
    assert.ok(ended.some(([a]) => a === 1));
    for (const [a, b] of ended) if (a === 1) assert.equal(b, 1);
  } finally {
    await kernels.dispose();
  }
});
