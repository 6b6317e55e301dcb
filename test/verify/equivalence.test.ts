import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gradeAnswer } from '../../src/verify/math.js';
import { EQUIVALENCE_CASES } from './equivalence-cases.js';

function verdict(prediction: string, reference: string): boolean {
  return gradeAnswer(prediction, reference, { predictionOnly: true }).correct;
}

test('the case table covers every kind in both directions', () => {
  const kinds = new Map<string, Set<boolean>>();
  for (const c of EQUIVALENCE_CASES) kinds.set(c.kind, (kinds.get(c.kind) ?? new Set()).add(c.equal));
  const oneWay = [...kinds].filter(([kind, seen]) => seen.size < 2 && kind !== 'strict' && kind !== 'basics').map(([kind]) => kind);
  assert.deepEqual(oneWay, []);
  assert.ok(kinds.size >= 12, `only ${kinds.size} kinds`);
});

test('every case of the table is graded as labelled (equal and not equal)', () => {
  const wrong = EQUIVALENCE_CASES.filter((c) => verdict(c.prediction, c.reference) !== c.equal)
    .map((c) => `line ${c.line} (${c.kind}): ${JSON.stringify(c.prediction)} vs ${JSON.stringify(c.reference)} should be ${c.equal ? 'equal' : 'unequal'}`);
  assert.deepEqual(wrong, []);
});

test('the verdict does not depend on which side is the reference for bare answers', () => {
  // Boxes and closing lines only make sense on the model's side; bare answers must grade symmetrically.
  const bare = EQUIVALENCE_CASES.filter((c) => !/\\boxed|answer|####|\n/i.test(c.prediction));
  const asymmetric = bare.filter((c) => verdict(c.reference, c.prediction) !== c.equal)
    .map((c) => `line ${c.line}: ${c.reference} vs ${c.prediction}`);
  assert.deepEqual(asymmetric, []);
});
