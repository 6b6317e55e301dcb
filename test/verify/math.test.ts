import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  answersEquivalent,
  extractBoxed,
  extractBoxes,
  extractFinalAnswer,
  gradeAnswer,
  predictionAnswer,
  referenceAnswer,
} from '../../src/verify/math.js';

// dist/test/verify/ -> repository root; the data sit beside the repository (../shared/data/math in CI
// and in the main checkout; a worktree under /work/wt/ finds them at /work/shared).
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const dataDir = [path.resolve(repoRoot, '../shared/data/math'), path.resolve(repoRoot, '../../shared/data/math')]
  .find((dir) => existsSync(path.join(dir, 'math500.jsonl'))) ?? path.resolve(repoRoot, '../shared/data/math');

function loadRows(name: string): Array<Record<string, unknown>> {
  return readFileSync(path.join(dataDir, `${name}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

test('extraction: every balanced \\boxed / \\fbox, then Minerva\'s closing line, ####, "the answer is", "Answer:"', () => {
  assert.equal(extractBoxed('a \\boxed{1} b \\boxed{\\frac{1}{2}} c'), '\\frac{1}{2}');
  assert.deepEqual(extractBoxes('a \\boxed{1} b \\fbox{\\{2\\}} c \\boxed 3'), ['1', '\\{2\\}', '3']);
  assert.equal(extractFinalAnswer('$\\boxed{2}$ and $\\boxed{3}$'), '2, 3');
  assert.equal(extractFinalAnswer('$\\boxed{\\{1, 2\\}}$ and $\\boxed{4}$'), '1, 2, 4');
  assert.equal(extractFinalAnswer('\\boxed{5} again \\boxed{ 5 }'), '5');
  // The grader tells equal boxes apart by value: a mixed number and its improper fraction are one answer.
  assert.deepEqual(gradeAnswer('\\boxed{15\\frac{39}{40}}, that is \\boxed{\\frac{639}{40}}', '\\frac{639}{40}'),
    { correct: true, extracted: '15\\frac{39}{40}', timedOut: false });
  assert.equal(extractFinalAnswer('Final Answer: The final answer is $x = 3$. I hope it is correct.'), '$x = 3$');
  assert.equal(extractFinalAnswer('so\n**Final Answer:** 17\n'), '17');
  assert.equal(extractFinalAnswer('Answer: $2$'), '$2$');
  assert.equal(extractFinalAnswer('The answer is in the box below.\n#### 9'), '9');
  assert.equal(extractBoxed('\\boxed{\\{1, 2\\}}'), '\\{1, 2\\}');
  assert.equal(extractBoxed('so \\fbox{x^{2}}.'), 'x^{2}');
  assert.equal(extractBoxed('$\\boxed 5$'), '5');
  assert.equal(extractBoxed('\\boxed{unbalanced'), null);
  assert.equal(extractFinalAnswer('work\n#### 1,234\n'), '1,234');
  assert.equal(extractFinalAnswer('Thus the answer is $\\frac{3}{4}$.'), '$\\frac{3}{4}$');
  assert.equal(extractFinalAnswer('no answer here'), null);
  assert.deepEqual(gradeAnswer('I think 5', '5'), { correct: false, extracted: null, timedOut: false });
  // A field that holds only the answer is read whole when it has no box or closing line.
  assert.equal(predictionAnswer('x \\geq 5'), 'x \\geq 5');
  assert.equal(predictionAnswer('\\boxed{7}'), '7');
  assert.equal(predictionAnswer('  '), null);
  assert.deepEqual(gradeAnswer('x >= 5', '[5, \\infty)', { predictionOnly: true }), { correct: true, extracted: 'x >= 5', timedOut: false });
});

test('hand cases: equivalent forms are equal, different answers are not', () => {
  const equal: Array<[string, string]> = [
    ['\\frac{1}{2}', '0.5'],
    ['\\dfrac12', '0.5'],
    ['\\dfrac12', '\\frac{1}{2}'],
    ['(3, \\frac{\\pi}{2})', '\\left( 3, \\frac{\\pi}{2} \\right)'],
    ['10\\%', '10'],
    ['x=5', '5'],
    ['\\text{(C)}', 'C'],
    ['(C)', '\\text{C}'],
    ['[-2, 7]', 'x \\in [-2,7]'],
    ['\\left(\\frac{3}{5},\\frac{8}{3}\\right]', '(0.6, \\frac83]'],
    ['(-\\infty, 0] \\cup (1, \\infty)', '(1,\\infty)\\cup(-\\infty,0]'],
    ['-2, 1', '1,-2'],
    ['\\{1\\pm\\sqrt{5},-2\\}', '-2, 1-\\sqrt5, 1+\\sqrt5'],
    ['x^2+2x+1', '(x+1)^2'],
    ['\\frac{\\sqrt{3}}{3}', '\\frac{1}{\\sqrt3}'],
    ['10,\\!080', '10080'],
    ['\\$32,\\!348', '32348'],
    ['137 \\frac{1}{2}', '137.5'],
    ['30^\\circ', '30'],
    ['5.4 \\text{ cents}', '5.4'],
    ['\\frac{270}7\\text{ degrees}', '\\frac{270}{7}'],
    ['\\begin{pmatrix} 1/5 \\\\ -18/5 \\end{pmatrix}', '\\begin{pmatrix}0.2\\\\-3.6\\end{pmatrix}'],
    ['6 - 5i', '-5i+6'],
    ['y = 2x + 3', '3+2x'],
    ['5x - 7y + 11z + 4 = 0', '-10x + 14y - 22z - 8 = 0'],
    ['\\text{Evelyn}', 'evelyn'],
    ['204_5', '204_{5}'],
  ];
  for (const [a, b] of equal) assert.ok(answersEquivalent(a, b), `${a} == ${b}`);
  const different: Array<[string, string]> = [
    ['\\frac{1}{2}', '\\frac{1}{3}'],
    ['0.5', '0.50001'],
    ['[1, 2)', '(1, 2]'],
    ['(1, 2)', '(2, 1)'],
    ['1, 2', '1, 2, 3'],
    ['\\text{(C)}', 'B'],
    ['x^2+2x+1', '(x-1)^2'],
    ['\\text{east}', 'west'],
    ['5x - 7y + 11z + 4 = 0', '5x - 7y + 11z - 4 = 0'],
    ['2\\sqrt{2}', '2.828'],
    ['10', ''],
  ];
  for (const [a, b] of different) assert.ok(!answersEquivalent(a, b), `${a} != ${b}`);
});

test('MATH500: reference solutions grade correct against their own answers, wrong against a neighbour\'s', () => {
  const rows = loadRows('math500');
  assert.equal(rows.length, 500);
  const selfFailures: string[] = [];
  let shiftedCorrect = 0;
  for (let i = 0; i < rows.length; i++) {
    const solution = String(rows[i].solution);
    const own = gradeAnswer(solution, String(rows[i].answer));
    if (!own.correct) selfFailures.push(`${i}: ${own.extracted} vs ${String(rows[i].answer)}`);
    if (gradeAnswer(solution, String(rows[(i + 1) % rows.length].answer)).correct) shiftedCorrect++;
  }
  assert.deepEqual(selfFailures, []);
  // Neighbouring problems share an answer a few times (e.g. both 3); at most 2% may come out right.
  assert.ok(shiftedCorrect <= 10, `${shiftedCorrect} shifted answers graded correct`);
});

test('the other datasets\' answer fields parse and grade against themselves without throwing', () => {
  for (const name of ['aime24', 'amc23', 'minerva_math', 'olympiad_bench']) {
    const rows = loadRows(name).slice(0, 40);
    for (let i = 0; i < rows.length; i++) {
      const reference = referenceAnswer(rows[i].answer);
      assert.ok(reference !== null && reference !== '', `${name}:${i + 1}: no reference answer`);
      assert.ok(gradeAnswer(`The result is \\boxed{${reference}}.`, reference).correct, `${name}:${i + 1}: ${reference}`);
      // A different problem's answer exercises the parser on every form; it must not throw.
      answersEquivalent(reference, referenceAnswer(rows[(i + 1) % rows.length].answer)!);
    }
  }
  assert.equal(referenceAnswer("['$\\\\frac{1}{2 n+2}$']"), '$\\frac{1}{2 n+2}$');
  assert.equal(referenceAnswer("['1', '2']"), '1, 2');
  assert.equal(referenceAnswer(27), '27');
});
