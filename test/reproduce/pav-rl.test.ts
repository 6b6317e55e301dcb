import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agreement, armsOf, newcombeDifference, runPavRl, sampleEfficiency, stepsToThreshold, type PavRlResults } from '../../src/reproduce/pav-rl/index.js';
import { getExperiment } from '../../src/reproduce/index.js';
import { createProgress } from '../../src/util/progress.js';
import { useIsolatedCache } from '../helpers/isolated-cache.js';
import { microPavRl } from '../helpers/micro-pav-rl.js';

useIsolatedCache();

const quiet = createProgress(process.stderr, 1, true);

test('stepsToThreshold: the first evaluated step at or above the threshold; the last step when never reached', () => {
  const curve = [
    { step: 0, value: 0.1 },
    { step: 10, value: 0.45 },
    { step: 20, value: 0.5 },
    { step: 30, value: 0.4 },
    { step: 40, value: 0.9 },
  ];
  assert.deepEqual(stepsToThreshold(curve, 0.5), { steps: 20, reached: true });
  assert.deepEqual(stepsToThreshold(curve, 0.05), { steps: 0, reached: true });
  assert.deepEqual(stepsToThreshold(curve, 0.85), { steps: 40, reached: true });
  assert.deepEqual(stepsToThreshold(curve, 0.95), { steps: 40, reached: false });
});

test('sampleEfficiency: exact when both reach, a lower bound when outcome-only never does, an upper bound the other way', () => {
  assert.deepEqual(sampleEfficiency({ steps: 300, reached: true }, { steps: 60, reached: true }), { ratio: 5, bound: 'exact' });
  // Outcome-only used its whole budget (300) without reaching it: PAV is at least 300 / 50 = 6x.
  assert.deepEqual(sampleEfficiency({ steps: 300, reached: false }, { steps: 50, reached: true }), { ratio: 6, bound: 'lower bound' });
  assert.deepEqual(sampleEfficiency({ steps: 40, reached: true }, { steps: 100, reached: false }), { ratio: 0.4, bound: 'upper bound' });
  assert.deepEqual(sampleEfficiency({ steps: 100, reached: false }, { steps: 100, reached: false }), { ratio: null, bound: 'neither' });
  assert.deepEqual(sampleEfficiency({ steps: 0, reached: true }, { steps: 0, reached: true }), { ratio: 1, bound: 'exact' });
});

test('newcombeDifference is close to the Wald interval for large balanced samples and asymmetric near 1', () => {
  const d = newcombeDifference(500, 1000, 400, 1000);
  const wald = 1.96 * Math.sqrt((0.5 * 0.5) / 1000 + (0.4 * 0.6) / 1000);
  assert.ok(Math.abs(d.mean - 0.1) < 1e-12);
  assert.ok(Math.abs(d.lo - (0.1 - wald)) < 0.002 && Math.abs(d.hi - (0.1 + wald)) < 0.002, JSON.stringify(d));
  const high = newcombeDifference(1000, 1000, 990, 1000);
  assert.ok(high.lo > 0 && high.hi < 0.02 && high.hi - 0.01 < 0.01 - high.lo + 0.01, JSON.stringify(high));
});

test('agreement: Pearson correlation, mean absolute error and spreads of (exact, learned) pairs', () => {
  const a = agreement([
    [0, 1],
    [1, 3],
    [2, 5],
  ]);
  assert.equal(a.correlation, 1);
  assert.equal(a.mae, 2); // |0-1| + |1-3| + |2-5| = 6, over 3
  assert.equal(a.sdExact, Number(Math.sqrt(2 / 3).toPrecision(3)));
  assert.equal(a.sdLearned, Number((2 * Math.sqrt(2 / 3)).toPrecision(3)));
  assert.equal(agreement([[0, 1], [1, 0]]).correlation, -1);
});

test('pav-rl on a micro budget writes results.json and a report with curves, thresholds, verifier checks and traces', { timeout: 120_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'prl-pav-rl-'));
  try {
    const settings = microPavRl(root);
    const out = join(root, 'pav-rl');
    const results = await runPavRl(settings, { out, quick: true, threads: 1, progress: quiet });
    const onDisk = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as PavRlResults;
    assert.equal(onDisk.experiment, 'pav-rl');
    assert.equal(onDisk.headline, results.headline);
    assert.match(results.headline, /^Quick run: /);
    const ids = armsOf(settings).map((a) => a.id);
    assert.deepEqual(ids, ['planted-outcome', 'planted-pav-oracle', 'planted-pav-learned', 'arith-outcome', 'arith-pav-alpha3']);
    assert.deepEqual(Object.keys(results.arms), ids);
    for (const id of ids) {
      const arm = results.arms[id];
      const steps = id.startsWith('planted') ? [0, 1, 2, 3] : [0, 1, 2];
      assert.deepEqual(arm.curves.map((c) => c.step), steps);
      for (const c of arm.curves) assert.ok(c.lo! <= c.avg && c.avg <= c.hi!, `${id}: the interval holds its mean`);
      // Final accuracy is the run's own final evaluation: correct / n averaged over problems.
      const final = JSON.parse(readFileSync(join(out, 'runs', id, 'seed-0', 'final-eval.json'), 'utf8')) as { correct: number[]; n: number };
      assert.ok(Math.abs(arm.final.mean - final.correct.reduce((a, c) => a + c / final.n, 0) / final.correct.length) < 1e-4);
      assert.equal(arm.thresholds.length, 1);
      assert.equal(arm.thresholds[0].perSeed.length, 1);
      assert.equal(arm.difference === undefined, arm.estimator === 'rloo', `${id}: PAV arms carry a difference to outcome-only`);
      assert.equal(arm.thresholds[0].efficiency === undefined, arm.estimator === 'rloo');
    }
    assert.equal(results.arms['planted-outcome'].final.interval, 'Wilson over samples (1 seed, 1 problem)');
    assert.equal(results.arms['arith-pav-alpha3'].difference!.interval, 'paired bootstrap over problems (1 seed)');
    // Warm-start thresholds are gains over each run's step-0 accuracy.
    const arith = results.arms['arith-outcome'];
    assert.ok(Math.abs(arith.thresholds[0].threshold - (arith.curves[0].avg + 0.02)) < 1e-4);
    // The PAV run trained against the learned verifier folder, the oracle run against the exact prover.
    const configOf = (id: string) => JSON.parse(readFileSync(join(out, 'runs', id, 'seed-0', 'config.json'), 'utf8')) as { prover?: string; estimator: string; alpha: number };
    assert.equal(configOf('planted-pav-oracle').prover, 'oracle:gamma=10');
    assert.equal(configOf('planted-pav-learned').prover, join(out, 'planted-verifier'));
    assert.equal(configOf('arith-pav-alpha3').alpha, 3);
    assert.equal(configOf('arith-outcome').estimator, 'rloo');
    assert.ok(results.plantedVerifier!.prefixes > 0 && Math.abs(results.plantedVerifier!.q.correlation) <= 1);
    assert.ok(results.arithVerifier!.labels.traces > 0);
    assert.equal(results.claims.length, 4, 'two arith claims, the oracle and the learned didactic claims');

    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.equal(html.match(/<figure class="chart"><svg/g)?.length, 2, 'one curve chart per task');
    assert.ok(html.includes('<th>Verdict</th>'), 'the findings table');
    assert.ok(html.includes('smoke run'));
    assert.ok((html.match(/<span class="step"/g)?.length ?? 0) > 0, 'traces with coloured steps');

    // A second run reuses every finished run and the planted verifier.
    const before = statSync(join(out, 'runs', 'planted-pav-learned', 'seed-0', 'metrics.jsonl')).mtimeMs;
    const verifierBefore = statSync(join(out, 'planted-verifier', 'prepare.json')).mtimeMs;
    await runPavRl(settings, { out, quick: true, threads: 1, progress: quiet });
    assert.equal(statSync(join(out, 'runs', 'planted-pav-learned', 'seed-0', 'metrics.jsonl')).mtimeMs, before);
    assert.equal(statSync(join(out, 'planted-verifier', 'prepare.json')).mtimeMs, verifierBefore);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('pav-rl is registered', () => {
  assert.equal(getExperiment('pav-rl').name, 'pav-rl');
});
