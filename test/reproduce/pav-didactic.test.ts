import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { passAtK } from '../../src/algos/index.js';
import { accuracyCurve, armConfig, armId, compareArms, firstReach, passCurve, proverStrength, runPavDidactic, type ArmSpec, type PavDidacticResults } from '../../src/reproduce/pav-didactic/index.js';
import { wilsonInterval } from '../../src/pav/labels.js';
import { EXPERIMENTS } from '../../src/reproduce/index.js';
import { PAPER_PLANTED, PlantedProver, PlantedValues } from '../../src/tasks/planted.js';
import { runRl } from '../../src/train/rl.js';
import { rlProver } from '../../src/pav/rl.js';
import { createProgress } from '../../src/util/progress.js';
import { microPavDidactic, microPavDidacticMade } from '../helpers/micro-pav-didactic.js';

const quiet = createProgress(process.stderr, 1, true);

function rewards(dir: string): number[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { step: number; reward?: number })
    .filter((r) => r.reward !== undefined)
    .map((r) => r.reward!);
}

test('pav-didactic on a micro budget: results.json from the runs\' own numbers, pass@N from raw counts, and a report', { timeout: 60_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'prl-pav-didactic-'));
  try {
    const settings = microPavDidactic(root);
    const out = join(root, 'pav-didactic');
    const results = await runPavDidactic(settings, { out, quick: true, threads: 1, progress: quiet });
    const onDisk = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as PavDidacticResults;
    assert.equal(onDisk.experiment, 'pav-didactic');
    assert.equal(onDisk.headline, results.headline);

    const effective: ArmSpec = { alpha: 1, gamma: 10, iterations: 4, passAtIteration: 2 };
    const outcome: ArmSpec = { ...effective, alpha: 0 };
    const runDir = (arm: ArmSpec, seed: number) => join(out, 'runs', armId(arm), `seed-${seed}`);
    // Curves: windows of 2 iterations, mean over the 2 seeds of each run's batch rewards, iterations increasing.
    for (const [arm, curve] of [[effective, onDisk.curves.effective], [outcome, onDisk.curves.outcome]] as const) {
      assert.deepEqual(curve.map((p) => p.iteration), [2, 4]);
      const perSeed = [0, 1].map((s) => rewards(runDir(arm, s)));
      perSeed.forEach((r) => assert.equal(r.length, 4, 'the two legs of a run log each iteration once'));
      curve.forEach((p, w) => {
        const expected = (perSeed[0][2 * w] + perSeed[0][2 * w + 1] + perSeed[1][2 * w] + perSeed[1][2 * w + 1]) / 4;
        assert.ok(Math.abs(p.accuracy - expected) < 1e-4, `window ${w}: ${p.accuracy} vs ${expected}`);
        assert.equal(typeof p.lo, 'number', 'two seeds give an interval');
      });
    }
    // A random model never reaches 90%: the reach is censored and says so.
    assert.deepEqual(onDisk.reach.effective.perSeed, [null, null]);
    assert.equal(onDisk.reach.outcome.lowerBound, true);
    assert.equal(onDisk.reach.ratio, null);

    assert.deepEqual(onDisk.gamma_sweep.map((g) => g.gamma), [1, 10]);
    for (const g of onDisk.gamma_sweep) assert.ok(Math.abs(g.gain.mean - (g.accuracy - onDisk.sweep_baseline.accuracy)) < 2e-4);
    // The sweep's gamma = 10 entry is (a)'s seed-0 effective run, not a second training.
    assert.ok(Math.abs(onDisk.gamma_sweep[1].accuracy - rewards(runDir(effective, 0)).reduce((a, b) => a + b, 0) / 4) < 1e-4);

    // pass@N for N = 2..16 from the raw counts in each run's pass-at-n.json, non-decreasing in N.
    const pass = onDisk.pass_at_n;
    for (const [arm, curve] of [[effective, pass.effective], [outcome, pass.outcome]] as const) {
      assert.deepEqual(curve.map((p) => p.n), [2, 4, 8, 16]);
      const counts = [0, 1].map((s) => (JSON.parse(readFileSync(join(runDir(arm, s), 'pass-at-n.json'), 'utf8')) as { correct: number; samples: number }).correct);
      curve.forEach((p, i) => {
        const expected = (passAtK(64, counts[0], p.n) + passAtK(64, counts[1], p.n)) / 2;
        assert.ok(Math.abs(p.pass - expected) < 1e-4);
        if (i > 0) assert.ok(p.pass >= curve[i - 1].pass);
      });
    }
    // With no correct sample, outcome-only (alpha = 0) has all-zero advantages and does not move the policy:
    // at iteration 2 it samples exactly what the warm start samples with the same seed. The effective reward does move it.
    assert.ok(rewards(runDir(outcome, 0)).every((r) => r === 0));
    const traceOf = (policy: string) => onDisk.traces.filter((t) => t.policy.startsWith(policy)).map((t) => t.tokens.join(','));
    assert.deepEqual(traceOf('outcome only'), traceOf('warm start'));
    assert.notDeepEqual(traceOf('effective reward'), traceOf('warm start'));
    // Trace colours are the exact A^mu of the gamma = 10 prover.
    const values = new PlantedValues(new PlantedProver(PAPER_PLANTED, 10));
    const trace = onDisk.traces[0];
    values.responseAdvantages(trace.tokens).forEach((a, t) => assert.ok(Math.abs(a - trace.advantages[t]) <= 1e-3 * Math.max(1e-6, Math.abs(a))));

    // The sensitivity pair (a second Llama): its own runs (own start model, 6 iterations, no pass@N leg) in runs/weak-warm-start/,
    // its curves and reach read from their metrics, and its warm start's accuracy from its own draws.
    const weak = onDisk.sensitivity!['weak-warm-start'];
    assert.equal(weak.seeds, 2);
    assert.equal(weak.iterations, 6);
    assert.equal(weak.warmStart.model, join(root, 'weak-model'));
    assert.equal(weak.warmStart.sftIterations, null);
    assert.equal(weak.warmStart.samples, 64);
    assert.equal(weak.warmStart.correct.length, 3, 'warmStartDraws draws of passAt.samples');
    const weakCorrect = weak.warmStart.correct.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(weak.warmStart.accuracy.mean - weakCorrect / 192) < 1e-6);
    // The main warm start: its first `seeds` draws are (c)'s pass@N draws; all 3 give its accuracy (Wilson interval).
    assert.deepEqual(onDisk.warmStart.correct.slice(0, 2), onDisk.pass_at_n.correct.warm_start);
    assert.equal(onDisk.warmStart.correct.length, 3);
    assert.equal(onDisk.warmStart.sftIterations, null);
    const [wlo, whi] = wilsonInterval(weakCorrect, 192);
    assert.ok(Math.abs(weak.warmStart.accuracy.lo! - wlo) < 1e-4 && Math.abs(weak.warmStart.accuracy.hi! - whi) < 1e-4);
    const weakEffective: ArmSpec = { alpha: 1, gamma: 10, iterations: 6 };
    const weakOutcome: ArmSpec = { ...weakEffective, alpha: 0 };
    const weakDir = (arm: ArmSpec, seed: number) => join(out, 'runs', 'weak-warm-start', armId(arm), `seed-${seed}`);
    for (const [arm, curve] of [[weakEffective, weak.curves.effective], [weakOutcome, weak.curves.outcome]] as const) {
      assert.deepEqual(curve.map((p) => p.iteration), [2, 4, 6]);
      const perSeed = [0, 1].map((s) => rewards(weakDir(arm, s)));
      perSeed.forEach((r) => assert.equal(r.length, 6));
      curve.forEach((p, w) => {
        const expected = (perSeed[0][2 * w] + perSeed[0][2 * w + 1] + perSeed[1][2 * w] + perSeed[1][2 * w + 1]) / 4;
        assert.ok(Math.abs(p.accuracy - expected) < 1e-4, `weak window ${w}: ${p.accuracy} vs ${expected}`);
      });
      const config = JSON.parse(readFileSync(join(weakDir(arm, 0), 'config.json'), 'utf8')) as { model: string; steps: number };
      assert.equal(config.model, join(root, 'weak-model'));
      assert.equal(config.steps, 6);
    }
    assert.deepEqual(weak.reach, compareArms([0, 1].map((s) => rewards(weakDir(weakEffective, s))), [0, 1].map((s) => rewards(weakDir(weakOutcome, s))), 0.9, 2));
    // The claims table states which warm start each efficiency number comes from; the headline is one short sentence.
    assert.match(onDisk.claims[0].ours, /warm start: tiny Llama \(a given model folder\)/);
    assert.match(onDisk.claims[1].claim, /^Sensitivity: the same comparison with tiny Llama \(a given model folder\)/);
    assert.match(onDisk.headline, /^Quick run: the effective reward reached \d+% accuracy .* than outcome-only RL \(paper: about 10x\); the best prover in the sweep was gamma \d+\.$/);

    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.equal(html.match(/<figure class="chart"><svg/g)?.length, 4, 'accuracy curves, weak-warm-start curves, gamma sweep, pass@N');
    assert.ok(html.includes('Sensitivity: tiny Llama'));
    assert.ok(html.includes('<section class="findings" id="findings"><h2>Findings</h2>') && html.includes('<th>Verdict</th>'), 'the findings table');
    assert.ok((html.match(/<span class="step"/g)?.length ?? 0) > 0, 'traces with coloured tokens');

    // A second run reuses every finished run.
    const before = statSync(join(runDir(effective, 0), 'metrics.jsonl')).mtimeMs;
    const weakBefore = statSync(join(weakDir(weakOutcome, 1), 'metrics.jsonl')).mtimeMs;
    await runPavDidactic(settings, { out, quick: true, threads: 1, progress: quiet });
    assert.equal(statSync(join(runDir(effective, 0), 'metrics.jsonl')).mtimeMs, before);
    assert.equal(statSync(join(weakDir(weakOutcome, 1), 'metrics.jsonl')).mtimeMs, weakBefore);

    // The two legs (RL to iteration 2, pass@N, resume to 4) are the same run as one uninterrupted run.
    const single = join(root, 'single');
    const singleConfig = armConfig(effective, 1, (settings.start as { model: string }).model, settings, 4, 1);
    await runRl(singleConfig, single, { quiet: true, prover: rlProver(singleConfig) });
    assert.deepEqual(rewards(single), rewards(runDir(effective, 1)));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('pav-didactic with the MADE policy on a micro budget: curves and pass@N from the runs\' files, reuse, and the transformer beside it', { timeout: 60_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'prl-pav-didactic-made-'));
  try {
    const settings = microPavDidacticMade(root);
    const out = join(root, 'pav-didactic');
    await runPavDidactic(settings, { out, quick: true, threads: 1, progress: quiet });
    const onDisk = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as PavDidacticResults;
    const effective: ArmSpec = { alpha: 1, gamma: 10, iterations: 4, passAtIteration: 2 };
    const outcome: ArmSpec = { ...effective, alpha: 0 };
    type MadeRun = { accuracy: number[]; pass: { samples: number; correct: number } };
    const runOf = (arm: ArmSpec, seed: number) => JSON.parse(readFileSync(join(out, 'runs', armId(arm), `seed-${seed}.json`), 'utf8')) as MadeRun;
    assert.equal(onDisk.warmStart.policy, 'MADE 16x16');
    assert.equal(onDisk.warmStart.sftIterations, 5);
    for (const [arm, curve] of [[effective, onDisk.curves.effective], [outcome, onDisk.curves.outcome]] as const) {
      const perSeed = [0, 1].map((s) => runOf(arm, s).accuracy);
      perSeed.forEach((r) => assert.equal(r.length, 4));
      curve.forEach((p, w) => {
        const expected = (perSeed[0][2 * w] + perSeed[0][2 * w + 1] + perSeed[1][2 * w] + perSeed[1][2 * w + 1]) / 4;
        assert.ok(Math.abs(p.accuracy - expected) < 1e-4, `window ${w}: ${p.accuracy} vs ${expected}`);
      });
      const counts = [0, 1].map((s) => runOf(arm, s).pass.correct);
      const curvePass = arm.alpha === 0 ? onDisk.pass_at_n.outcome : onDisk.pass_at_n.effective;
      assert.ok(Math.abs(curvePass[0].pass - (passAtK(64, counts[0], 2) + passAtK(64, counts[1], 2)) / 2) < 1e-4);
    }
    // A barely trained MADE never samples the target here, so outcome-only has zero advantages and does not move:
    // its pass@N draws (same sampling stream) are the warm start's. The effective reward moves it.
    assert.ok(runOf(outcome, 0).accuracy.every((a) => a === 0));
    const traceOf = (policy: string) => onDisk.traces.filter((t) => t.policy.startsWith(policy)).map((t) => t.tokens.join(','));
    assert.deepEqual(traceOf('outcome only'), traceOf('warm start'));
    assert.notDeepEqual(traceOf('effective reward'), traceOf('warm start'));
    // The transformer pair: prl rl run folders under runs/transformer/, its curves from their metrics.
    const transformer = onDisk.sensitivity!.transformer;
    assert.equal(transformer.warmStart.policy, 'tiny Llama');
    const llamaRewards = [0, 1].map((s) => rewards(join(out, 'runs', 'transformer', armId({ alpha: 1, gamma: 10, iterations: 4 }), `seed-${s}`)));
    assert.ok(Math.abs(transformer.curves.effective[0].accuracy - (llamaRewards[0][0] + llamaRewards[0][1] + llamaRewards[1][0] + llamaRewards[1][1]) / 4) < 1e-4);
    assert.match(onDisk.claims[0].ours, /warm start: MADE 16x16 after 5 SFT iterations/);
    // The Monte Carlo sweep: its own runs (outcome-only baseline shared), each gain against that baseline, and its own claim row.
    const monteCarlo = onDisk.gamma_sweep_monte_carlo!;
    assert.equal(monteCarlo.rollouts, 4);
    assert.deepEqual(monteCarlo.points.map((g) => g.gamma), [1, 10]);
    for (const g of monteCarlo.points) {
      const run = runOf({ alpha: 1, gamma: g.gamma, iterations: 4, proverRollouts: 4 }, 0);
      assert.ok(Math.abs(g.accuracy - run.accuracy.reduce((a, b) => a + b, 0) / 4) < 1e-4);
      assert.ok(Math.abs(g.gain.mean - (g.accuracy - onDisk.sweep_baseline.accuracy)) < 2e-4);
    }
    assert.deepEqual(onDisk.claims.filter((c) => c.claim.startsWith('Only provers in a middle band')).map((c) => /Monte Carlo/.test(c.claim)), [false, true]);
    // A second invocation reuses every run; deleting one run reruns it to the same numbers (seeded, in process).
    const path = join(out, 'runs', armId(effective), 'seed-1.json');
    const before = readFileSync(path, 'utf8');
    const mtime = statSync(path).mtimeMs;
    await runPavDidactic(settings, { out, quick: true, threads: 1, progress: quiet });
    assert.equal(statSync(path).mtimeMs, mtime);
    rmSync(path);
    await runPavDidactic(settings, { out, quick: true, threads: 2, progress: quiet });
    const again = JSON.parse(readFileSync(path, 'utf8')) as MadeRun & { seconds: number };
    const first = JSON.parse(before) as MadeRun & { seconds: number };
    assert.deepEqual({ ...again, seconds: 0 }, { ...first, seconds: 0 }, 'the same numbers on 2 threads as on 1');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('pav-didactic: the Monte Carlo sweep needs the MADE policy', async () => {
  const root = mkdtempSync(join(tmpdir(), 'prl-pav-didactic-mc-'));
  try {
    const settings = microPavDidactic(root);
    await assert.rejects(runPavDidactic({ ...settings, sweep: { ...settings.sweep, proverRollouts: 4 } }, { out: join(root, 'out'), quick: true, threads: 1, progress: quiet }), /sweep\.proverRollouts.*MADE policy only/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('compareArms: ratio of mean iterations, a lower bound when outcome-only never reaches, none when the effective arm does not', () => {
  const reached = (t: number, n: number) => Array.from({ length: n }, (_, i) => (i + 1 >= t ? 1 : 0));
  // Effective reaches at 2 and 4 (window 1), outcome-only at 6 and never within 10 (counted as 10): (6 + 10) / 2 / 3.
  const c = compareArms([reached(2, 10), reached(4, 10)], [reached(6, 10), reached(99, 10)], 0.9, 1);
  assert.deepEqual(c.effective.perSeed, [2, 4]);
  assert.deepEqual(c.outcome.perSeed, [6, null]);
  assert.equal(c.ratio, Number((8 / 3).toPrecision(4)));
  assert.equal(c.ratioLowerBound, true);
  assert.equal(c.perSeedRatio, undefined);
  const both = compareArms([reached(2, 10), reached(4, 10)], [reached(6, 10), reached(8, 10)], 0.9, 1);
  assert.deepEqual(both.perSeedRatio!.perSeed, [3, 2]);
  assert.equal(compareArms([reached(99, 10)], [reached(2, 10)], 0.9, 1).ratio, null);
});

test('firstReach reads the first iteration whose trailing window reaches the threshold', () => {
  assert.equal(firstReach([0, 0.95, 0.9, 1], 0.9, 2), 3);
  assert.equal(firstReach([0.95, 0.9], 0.9, 1), 1);
  assert.equal(firstReach([0.95, 0.5, 0.95], 0.9, 2), null);
  assert.equal(firstReach([1], 0.9, 2), null, 'a window longer than the run never fills');
});

test('accuracyCurve averages windows over seeds with a t interval; passCurve uses the unbiased estimator per seed', () => {
  const curve = accuracyCurve([[0, 1, 1, 1], [0, 0, 1, 0]], 2);
  assert.deepEqual(curve.map((p) => [p.iteration, p.accuracy]), [[2, 0.25], [4, 0.75]]);
  // Per-seed window means 0.5 and 0: mean 0.25, sd 0.3536, t(1) = 12.706, half-width 12.706 * 0.3536 / sqrt(2) = 3.1765.
  assert.ok(Math.abs(curve[0].lo! - (0.25 - 3.1765)) < 1e-3);
  const pass = passCurve([{ samples: 8, correct: 1, traces: [] }, { samples: 8, correct: 3, traces: [] }], 4);
  // pass@2 from 8 samples with c correct: 1 - C(8-c, 2) / C(8, 2).
  assert.deepEqual(pass.map((p) => p.n), [2, 4]);
  assert.ok(Math.abs(pass[0].pass - ((1 - 21 / 28 + (1 - 10 / 28)) / 2)) < 1e-4);
});

test('proverStrength: mu(gamma) succeeds more often as gamma grows, and gamma = 1 (uniform) barely distinguishes actions', () => {
  const [weak, mid, strong] = [1, 10, 50].map(proverStrength);
  assert.ok(weak.v0 < mid.v0 && mid.v0 < strong.v0);
  // Uniform over 15 tokens: the chance of y* in 10 tokens is tiny, so its progress is tiny.
  assert.ok(weak.v0 < 1e-4 && weak.meanAbsAdvantage < 1e-4);
  assert.ok(mid.meanAbsAdvantage > 100 * weak.meanAbsAdvantage);
});

test('pav-didactic is registered', () => {
  assert.ok(EXPERIMENTS.some((e) => e.name === 'pav-didactic'));
});
