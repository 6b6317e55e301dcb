import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProblemSamples } from '../../src/pav/search.js';
import { accuracyAtTokens, bestOfNEnvelope, bootstrapRatio, ratioAtEqualAccuracy, runPavSearch, sampleMethodsAt, type PavSearchResults, type PerProblem } from '../../src/reproduce/pav-search/index.js';
import { createProgress } from '../../src/util/progress.js';
import { Rng } from '../../src/util/rng.js';
import { useIsolatedCache } from '../helpers/isolated-cache.js';
import { microPavSearch } from '../helpers/micro-pav-search.js';

useIsolatedCache();

const quiet = createProgress(process.stderr, 1, true);

test('pav-search on a micro budget: results, compute consistent with the cached samples, report, and a resumed run reuses everything', { timeout: 60_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'prl-pav-search-'));
  try {
    const settings = microPavSearch(root);
    const out = join(root, 'pav-search');
    const results: PavSearchResults = await runPavSearch(settings, { out, quick: true, threads: 1, progress: quiet });
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')), JSON.parse(JSON.stringify(results)));
    assert.equal(results.experiment, 'pav-search');
    assert.match(results.headline, /^Quick run: /);
    assert.deepEqual(results.curves.map((c) => c.id), ['bon', 'maj', 'wmaj', 'pass', 'beam-alpha0.5', 'beam-alpha1']);
    assert.deepEqual(results.curves[0].points.map((p) => p.n), [1, 2, 4]);
    assert.deepEqual(results.curves[4].points.map((p) => p.n), [1, 2], 'the primary alpha at every width');
    assert.deepEqual(results.curves[5].points.map((p) => p.n), [1], 'a grid alpha at the grid widths');

    // Labels and verifier: 8 problems x 2 seeds, two held out.
    assert.equal(results.pav.labels.traces, 16);
    assert.equal(results.pav.verifier.trainTraces + results.pav.verifier.heldOutTraces, 16);
    assert.equal(results.pav.verifier.heldOutTraces, 4);

    // Compute from the cached samples: best-of-N's tokens are N samples' tokens, so N = 1 costs a quarter of N = 4;
    // pass@4 is the share of problems with a correct sample; every method draws the same samples.
    const samples = (JSON.parse(readFileSync(join(out, 'search', 'samples-4.json'), 'utf8')) as { value: ProblemSamples[] }).value;
    assert.equal(samples.length, 4);
    const total = samples.reduce((a, s) => a + s.tokens.reduce((x, y) => x + y, 0), 0) / 4;
    const bon = results.curves[0].points;
    assert.ok(Math.abs(bon[2].tokensPerProblem - total) < 0.06, `${bon[2].tokensPerProblem} vs ${total}`);
    assert.ok(Math.abs(bon[0].tokensPerProblem - total / 4) < 0.06);
    for (const c of results.curves.slice(0, 4)) assert.deepEqual(c.points.map((p) => p.tokensPerProblem), bon.map((p) => p.tokensPerProblem));
    assert.equal(results.curves[3].points[2].accuracy, samples.filter((s) => s.rewards.some((r) => r >= 1)).length / 4);
    // Beam search: every round samples C = 3 children per kept beam, and each point's accuracy lies in its interval.
    for (const width of settings.beamWidths) {
      const beams = (JSON.parse(readFileSync(join(out, 'search', `beam-alpha0.5-B${width}.json`), 'utf8')) as { value: Array<{ steps: number; tokens: number; history: unknown[] }> }).value;
      for (const b of beams) {
        assert.equal(b.steps % 3, 0, 'C = 3 children per expanded beam');
        assert.ok(b.steps >= width * 3, 'the prompt is expanded by B x C first steps');
        assert.ok(b.tokens >= b.steps, 'a sampled step has at least one token');
        assert.ok(b.history.length >= 1 && b.history.length <= b.steps / 3);
      }
      const point = results.curves[4].points.find((p) => p.n === width)!;
      assert.equal(point.tokensPerProblem, Math.round((beams.reduce((a, b) => a + b.tokens, 0) / 4) * 10) / 10);
    }
    for (const c of results.curves) for (const p of c.points) assert.ok(p.lo <= p.accuracy && p.accuracy <= p.hi, `${c.id} ${p.n}`);
    assert.deepEqual(results.ratios.map((r) => [r.alpha, r.against]), [[0.5, 'max-n'], [0.5, 'best-n'], [1, 'max-n'], [1, 'best-n']]);
    assert.equal(results.ratios[0].reference.n, 4);
    const best = bon.reduce((a, p) => (p.accuracy > a.accuracy || (p.accuracy === a.accuracy && p.tokensPerProblem < a.tokensPerProblem) ? p : a));
    assert.equal(results.ratios[1].reference.n, best.n, 'against the most accurate best-of-N');
    for (const r of results.ratios) {
      if (r.reachedAt === null) continue;
      assert.ok(r.reachedAt.accuracy >= r.reference.accuracy);
      assert.ok(Math.abs(r.ratio! - r.reference.tokensPerProblem / r.reachedAt.tokensPerProblem) < 1e-3);
    }
    assert.equal(results.claims.length, 2);

    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.equal(html.match(/<figure class="chart"><svg/g)?.length, 2, 'accuracy against tokens and against samples');
    assert.ok(html.includes('<section class="findings" id="findings"><h2>Findings</h2>') && html.includes('<th>Verdict</th>'), 'the findings table');
    assert.ok(html.includes('smoke run'));
    assert.ok((html.match(/<span class="step"/g)?.length ?? 0) > 0, 'beam traces with coloured steps');

    // A second run finds labels, verifier and every search cached and gives the same numbers.
    const before = statSync(join(out, 'search', 'beam-alpha0.5-B2.json')).mtimeMs;
    const again = await runPavSearch(settings, { out, quick: true, threads: 1, progress: quiet });
    assert.equal(statSync(join(out, 'search', 'beam-alpha0.5-B2.json')).mtimeMs, before);
    assert.deepEqual(again.curves, results.curves);
    assert.deepEqual(again.pav, results.pav);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('ratio at equal accuracy on a hand-made curve: the cheapest width reaching the reference, or none', () => {
  const reference = { accuracy: 0.5, tokensPerProblem: 1000 };
  const curve = [
    { n: 1, accuracy: 0.4, tokensPerProblem: 100 },
    { n: 4, accuracy: 0.6, tokensPerProblem: 400 },
    { n: 2, accuracy: 0.5, tokensPerProblem: 250 },
    { n: 8, accuracy: 0.7, tokensPerProblem: 800 },
  ];
  const found = ratioAtEqualAccuracy(reference, curve)!;
  assert.equal(found.at.n, 2, 'equal accuracy counts as reaching');
  assert.equal(found.ratio, 4);
  assert.equal(ratioAtEqualAccuracy({ accuracy: 0.71, tokensPerProblem: 1000 }, curve), null);
  // Between 400 and 800 tokens, halfway in log tokens (sqrt(400 * 800)), accuracy is halfway.
  assert.ok(Math.abs(accuracyAtTokens(curve, Math.sqrt(400 * 800)) - 0.65) < 1e-12);
  assert.equal(accuracyAtTokens(curve, 50), 0.4);
  assert.equal(accuracyAtTokens(curve, 5000), 0.7);
  // A best-of-N that falls with N: at 900 tokens the best affordable is N at 300 tokens (0.6), not the 0.2 the curve has there.
  const falling = [
    { accuracy: 0.3, tokensPerProblem: 100 },
    { accuracy: 0.6, tokensPerProblem: 300 },
    { accuracy: 0.2, tokensPerProblem: 1000 },
  ];
  assert.equal(bestOfNEnvelope(falling, 900), 0.6);
  assert.ok(Math.abs(bestOfNEnvelope(falling, Math.sqrt(100 * 300)) - 0.45) < 1e-12, 'between points the interpolated curve');
  assert.equal(bestOfNEnvelope(falling, 50), 0.3);
});

test('bootstrap of the ratio: a candidate right whenever the reference is, at a quarter of its tokens, gives 4 on every resample; one never right never reaches', () => {
  const reference: PerProblem = { n: 8, correct: [1, 0, 1, 1, 0, 1], tokens: [80, 80, 80, 80, 80, 80], samples: [8, 8, 8, 8, 8, 8] };
  const cheap: PerProblem = { n: 2, correct: [1, 0, 1, 1, 0, 1], tokens: [20, 20, 20, 20, 20, 20], samples: [6, 6, 6, 6, 6, 6] };
  const never: PerProblem = { n: 1, correct: [0, 0, 0, 0, 0, 0], tokens: [5, 5, 5, 5, 5, 5], samples: [3, 3, 3, 3, 3, 3] };
  assert.deepEqual(bootstrapRatio([reference], [never, cheap], new Rng(1), 300), { lo: 4, hi: 4, reachedShare: 1 });
  const none = bootstrapRatio([{ ...reference, correct: [1, 1, 1, 1, 1, 1] }], [never], new Rng(1), 300);
  assert.deepEqual(none, { lo: null, hi: null, reachedShare: 0 });
  // Several references: each resample takes the most accurate (here the all-right one at 80 tokens), not the cheapest.
  const right: PerProblem = { ...reference, correct: [1, 1, 1, 1, 1, 1] };
  const cheapRight: PerProblem = { ...cheap, correct: [1, 1, 1, 1, 1, 1] };
  assert.deepEqual(bootstrapRatio([never, right], [cheapRight], new Rng(2), 300), { lo: 4, hi: 4, reachedShare: 1 });
});

test('sample methods at N average over disjoint blocks; pass@N is the unbiased estimator', () => {
  const s: ProblemSamples = { tokens: [10, 20, 30, 40], rewards: [0, 1, 0, 0], answers: ['3', '5', '3', null], orm: [0.9, 0.2, 0.1, 0.3], rightAnswer: '5' };
  const at1 = sampleMethodsAt([s], 1);
  assert.equal(at1.bon.correct[0], 0.25);
  assert.equal(at1.bon.tokens[0], 25);
  const at2 = sampleMethodsAt([s], 2);
  // Blocks [0, 1] and [2, 3]: the ORM picks sample 0 (wrong) and sample 3 (wrong); majority: a tie ('3' vs '5', first seen '3') and '3'.
  assert.equal(at2.bon.correct[0], 0);
  assert.equal(at2.maj.correct[0], 0);
  assert.equal(at2.bon.tokens[0], 50);
  assert.ok(Math.abs(at2.pass.correct[0] - 0.5) < 1e-12, 'pass@2 from 4 samples with 1 correct: 1 - C(3,2)/C(4,2)');
  const at4 = sampleMethodsAt([s], 4);
  // Weighted vote over all four: '3' gets 0.9 + 0.1, '5' gets 0.2.
  assert.equal(at4.wmaj.correct[0], 0);
  assert.equal(at4.pass.correct[0], 1);
});
