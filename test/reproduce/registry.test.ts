// The registry's plumbing: defineExperiment picks quick or full settings, applies --seeds where the
// settings have seeds and refuses it where they do not; the shared number formats round as documented.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mean } from '../../src/algos/index.js';
import { roundInterval, sig, signed } from '../../src/reproduce/numbers.js';
import { defineExperiment, type RunnerOptions } from '../../src/reproduce/types.js';
import { createProgress } from '../../src/util/progress.js';

const progress = createProgress(process.stderr, 1, true);

test('defineExperiment: quick or full settings, --seeds applied, the report path under out', async () => {
  const seen: Array<{ settings: { seeds: number; steps: number }; options: RunnerOptions }> = [];
  const experiment = defineExperiment('toy', 'a toy', { quick: { seeds: 1, steps: 5 }, full: { seeds: 3, steps: 50 } }, { reason: 'a toy' }, async (settings, options) => {
    seen.push({ settings, options });
    return { headline: `${settings.seeds} x ${settings.steps}` };
  });
  const quick = await experiment.run({ quick: true, out: '/runs/toy', progress });
  assert.deepEqual(quick, { headline: '1 x 5', report: '/runs/toy/report.html' });
  const full = await experiment.run({ quick: false, seeds: 5, threads: 2, out: '/runs/toy', progress });
  assert.equal(full.headline, '5 x 50');
  assert.equal(seen[1].options.threads, 2);
  assert.equal(seen[1].options.quick, false);
});

test('defineExperiment: --seeds on an experiment without seeds is an error naming the flag', async () => {
  const experiment = defineExperiment('seedless', 'no seeds', { quick: { problems: 4 }, full: { problems: 300 } }, { reason: 'a toy' }, async () => ({ headline: 'ran' }));
  await assert.rejects(experiment.run({ quick: true, seeds: 3, out: '/runs/x', progress }), /--seeds.*seedless has no training seeds/);
  assert.equal((await experiment.run({ quick: true, out: '/runs/x', progress })).headline, 'ran');
});

test('number formats: 4-decimal intervals, signed differences, 3 significant digits, empty mean 0', () => {
  assert.deepEqual(roundInterval({ mean: 0.123456, lo: 0.1, hi: 0.987654 }), { mean: 0.1235, lo: 0.1, hi: 0.9877 });
  assert.deepEqual(roundInterval({ mean: 0.5 }), { mean: 0.5 });
  assert.equal(signed(0.01234), '+0.0123');
  assert.equal(signed(-0.004), '-0.004');
  assert.equal(sig(43.1234), 43.1);
  assert.equal(mean([]), 0);
  assert.equal(mean([1, 2, 6]), 3);
});
