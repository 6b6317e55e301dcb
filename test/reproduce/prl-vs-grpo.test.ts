import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { methodsOf, runPrlVsGrpo, type PrlVsGrpoResults } from '../../src/reproduce/prl-vs-grpo/index.js';
import { getExperiment, reproduce, type Experiment } from '../../src/reproduce/index.js';
import { createProgress } from '../../src/util/progress.js';
import { microPrlVsGrpo } from '../helpers/micro-prl-vs-grpo.js';

const quiet = createProgress(process.stderr, 1, true);

test('prl-vs-grpo on a micro budget writes results.json and a report with its charts, claims and traces', { timeout: 60_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'prl-reproduce-'));
  try {
    const settings = microPrlVsGrpo(root);
    const micro: Experiment = {
      name: 'prl-vs-grpo',
      description: 'micro',
      takesModel: true,
      run: async (o) => ({ headline: (await runPrlVsGrpo(settings, { ...o, threads: 1 })).headline, report: join(o.out, 'report.html') }),
    };
    const { rows, index } = await reproduce('all', { quick: true, out: root, progress: quiet }, [micro]);
    const dir = join(root, 'prl-vs-grpo');
    const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as PrlVsGrpoResults;
    assert.equal(results.experiment, 'prl-vs-grpo');
    assert.equal(results.quick, true);
    assert.equal(results.seeds, 1);
    assert.equal(rows[0].headline, results.headline);
    assert.match(results.headline, /^Quick run: /);
    const ids = methodsOf(settings).map((m) => m.id);
    assert.deepEqual(ids, ['grpo', 'raft', 'prl-newline-eta1']);
    assert.deepEqual(Object.keys(results.methods), ids);
    for (const id of ids) {
      const method = results.methods[id];
      assert.deepEqual(method.curves.map((c) => c.step), [0, 1, 2]);
      // maj@n is reported only when every problem has an extracted answer, which a random model does not give.
      assert.deepEqual(Object.keys(method.final).filter((k) => !k.startsWith('maj@')).sort(), ['avg@4', 'pass@1', 'pass@2', 'pass@4']);
      // The final avg@4 is the mean of correct / n over problems in the run's own final evaluation.
      const final = JSON.parse(readFileSync(join(dir, 'runs', id, 'seed-0', 'final-eval.json'), 'utf8')) as { correct: number[]; n: number };
      assert.equal(final.correct.length, 4);
      assert.ok(Math.abs(method.final['avg@4'].mean - final.correct.reduce((a, c) => a + c / 4, 0) / 4) < 1e-4);
      assert.equal(method.final['avg@4'].interval, 'bootstrap over problems (1 seed)');
      assert.ok(method.final['pass@1'].mean <= method.final['pass@4'].mean);
    }
    assert.equal(results.methods['prl-newline-eta1'].eta, 1);
    assert.equal(typeof results.methods['prl-newline-eta1'].kl.overEta, 'number');
    assert.equal(results.methods.grpo.kl.overEta, undefined);
    assert.equal(results.comparisons.length, 2 * 2, 'RAFT and PRL against GRPO on avg@n and pass@n');
    assert.deepEqual(results.claims.map((c) => typeof c.held), ['string', 'string']);

    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    assert.equal(html.match(/<figure class="chart"><svg/g)?.length, 3, 'bars, training curves, pass@k');
    assert.ok(html.includes('<section class="findings" id="findings"><h2>Findings</h2>') && html.includes('<th>Verdict</th>'), 'the findings table');
    assert.ok(html.includes('smoke run'), 'the quick run says so');
    assert.ok((html.match(/<span class="step"/g)?.length ?? 0) > 0, 'traces with coloured steps');
    assert.ok(readFileSync(index!, 'utf8').includes('href="prl-vs-grpo/report.html"'));

    // A second run reuses the finished runs instead of training again.
    const before = statSync(join(dir, 'runs', 'grpo', 'seed-0', 'metrics.jsonl')).mtimeMs;
    await runPrlVsGrpo(settings, { out: dir, quick: true, threads: 1, progress: quiet });
    assert.equal(statSync(join(dir, 'runs', 'grpo', 'seed-0', 'metrics.jsonl')).mtimeMs, before);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('an unknown experiment name is refused, naming the known ones', () => {
  assert.throws(() => getExperiment('pav-nope'), /pav-nope.*unknown \(known: prl-vs-grpo, .*all\)/);
});
