import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/util/rng.js';
import { runPrl, runReference } from './run-cli.js';

function randomSamples(rng: Rng, problems: number, n: number, withAnswers: boolean): string {
  return Array.from({ length: problems }, (_, id) => {
    const skill = rng.next();
    const answers = Array.from({ length: n }, () => (rng.next() < 0.1 ? null : String(rng.int(4))));
    const correct = withAnswers ? answers.map((a) => a === '0') : Array.from({ length: n }, () => rng.next() < skill);
    return JSON.stringify(withAnswers ? { id, correct, answers } : { id, correct });
  }).join('\n');
}

test('prl metrics agrees with the Python reference (exact binomials) on random samples to 1e-9', () => {
  const rng = new Rng(4);
  for (const [n, withAnswers] of [[16, true], [16, false], [5, true], [1, false]] as Array<[number, boolean]>) {
    const input = randomSamples(rng, 40, n, withAnswers);
    const r = runPrl(['metrics', '--resamples', '200'], input);
    assert.equal(r.status, 0, r.stderr);
    const ours = JSON.parse(r.stdout) as Record<string, unknown>;
    const ref = JSON.parse(runReference(['metrics'], input)) as Record<string, number>;
    assert.deepEqual(Object.keys(ours).filter((k) => k !== 'ci95'), Object.keys(ref));
    for (const [key, value] of Object.entries(ref)) assert.ok(Math.abs((ours[key] as number) - value) < 1e-9, `n=${n} ${key}: ${String(ours[key])} vs ${value}`);
    const ci = ours.ci95 as Record<string, [number, number]>;
    for (const key of Object.keys(ref).filter((k) => k.includes('@'))) assert.ok(ci[key][0] <= ref[key] + 1e-12 && ref[key] <= ci[key][1] + 1e-12, key);
  }
  {
    const keys = Object.keys(JSON.parse(runPrl(['metrics'], randomSamples(rng, 3, 16, true)).stdout) as object);
    assert.deepEqual(keys, ['problems', 'n', 'avg@16', 'pass@1', 'pass@2', 'pass@4', 'pass@8', 'pass@16', 'maj@16', 'ci95']);
  }
});

test('prl metrics: the same seed gives the same intervals, another seed other ones', () => {
  const input = randomSamples(new Rng(8), 30, 8, false);
  const a = runPrl(['metrics', '--seed', '3'], input).stdout;
  assert.equal(runPrl(['metrics', '--seed', '3'], input).stdout, a);
  assert.notEqual(runPrl(['metrics', '--seed', '4'], input).stdout, a);
});

test('prl metrics: bad input names the line and field', () => {
  const cases: Array<[string, string]> = [
    ['{"id": 1, "correct": [true, false]}\n{"id": 2, "correct": [true]}', '<stdin>:2: correct: expected 2 samples (as on line 1), got 1'],
    ['{"id": 1, "correct": [true, 1]}', '<stdin>:1: correct: expected a boolean at index 1'],
    ['{"correct": [true]}', '<stdin>:1: id: missing'],
    ['{"id": 1, "correct": [true, false], "answers": ["1"]}', '<stdin>:1: answers: expected 2 answers'],
    ['', '<stdin>: no problems (the input is empty)'],
  ];
  for (const [input, message] of cases) {
    const r = runPrl(['metrics'], input);
    assert.equal(r.status, 1, r.stderr);
    assert.ok(r.stderr.startsWith(`prl: ${message}`), `expected "${message}", got "${r.stderr}"`);
  }
});
