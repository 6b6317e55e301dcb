import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedGrader } from '../../src/verify/bounded.js';
import { compareAnswers, gradeAnswer } from '../../src/verify/math.js';

function timed<T>(run: () => T): { value: T; ms: number } {
  const start = performance.now();
  const value = run();
  return { value, ms: performance.now() - start };
}

// Each of these once hung or ran for seconds in the Compute Engine (a 10-digit factorial took 21 s).
const PATHOLOGICAL = [
  '10^{10^{10^{10}}}',
  '2^{10^{10}}',
  '(10^{10})!',
  '\\sum_{k=1}^{10^9} k',
  '\\sum_{k=1}^{100000} k^3',
  '\\prod_{k=1}^{\\infty} k',
  // A runaway generation: longer than any answer, refused before parsing.
  `${'x^2+'.repeat(300)}1`,
];

test('in-process: a pathological answer is judged unequal and timed out, well within the bound', () => {
  gradeAnswer('\\boxed{1}', '1/1'); // the engine's one-time start-up is not part of any bound
  for (const answer of PATHOLOGICAL) {
    const { value, ms } = timed(() => gradeAnswer(`so \\boxed{${answer}}`, '5', { timeoutMs: 2000 }));
    assert.equal(value.correct, false, answer);
    assert.equal(value.timedOut, true, answer);
    assert.ok(ms < 2000, `${answer.slice(0, 20)}: ${ms.toFixed(0)} ms`);
  }
});

test('in-process: the clock is checked between steps, and an ordinary pair is not marked timed out', () => {
  // A list of 8 expressions makes dozens of engine comparisons; with no time left it stops at once.
  const many = Array.from({ length: 8 }, (_, i) => `\\sqrt{${i + 2}}+x`).join(', ');
  const reversed = many.split(', ').reverse().join(', ');
  assert.deepEqual(compareAnswers(many, reversed), { equal: true, timedOut: false });
  const { value, ms } = timed(() => compareAnswers(many, reversed, { timeoutMs: 0 }));
  assert.deepEqual(value, { equal: false, timedOut: true });
  assert.ok(ms < 200, `${ms.toFixed(0)} ms`);
  assert.deepEqual(compareAnswers('\\frac{1}{2}', '1/3'), { equal: false, timedOut: false });
});

test('worker: an evaluation past the bound is cut off at the deadline, and the next pair is graded normally', () => {
  // Pairs that need no engine call, so that only the slow one depends on this machine's speed.
  const grader = new BoundedGrader({ timeoutMs: 20 });
  try {
    assert.deepEqual(grader.grade('so \\boxed{7}', '7'), { correct: true, extracted: '7', timedOut: false });
    // 10^4 exact fractions pass the size limits but take hundreds of ms to add.
    const slow = timed(() => grader.grade('\\boxed{\\sum_{k=1}^{10000} \\frac{1}{k^2}}', '7'));
    assert.deepEqual(slow.value, { correct: false, extracted: '\\sum_{k=1}^{10000} \\frac{1}{k^2}', timedOut: true });
    assert.ok(slow.ms < 400, `${slow.ms.toFixed(0)} ms`);
    assert.equal(grader.killed, 1);
    assert.deepEqual(grader.grade('\\boxed{8}', '8'), { correct: true, extracted: '8', timedOut: false });
  } finally {
    grader.close();
  }
});
