import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/util/rng.js';
import {
  arithTask,
  checkArithSteps,
  evaluateExpression,
  extractArithAnswer,
  formatExpression,
  type ArithExpression,
} from '../../src/tasks/arith.js';
import type { TextProblem } from '../../src/tasks/types.js';

function problemOf(expression: ArithExpression, answer: number): TextProblem {
  return { id: 'hand', prompt: `Q: ${formatExpression(expression)}\n`, answer: String(answer), meta: { expression } };
}

const handExpr: ArithExpression = { operands: [17, 25, 3, 8], operators: ['+', '*', '-'] };

test('the canonical trace of a hand example: * first, then left to right', () => {
  const task = arithTask({ trainSize: 10, evalSize: 10, errorRate: 0 });
  assert.equal(evaluateExpression(handExpr), 84);
  const problem = problemOf(handExpr, 84);
  assert.equal(problem.prompt, 'Q: 17+25*3-8\n');
  const good = '25*3=75\n17+75=92\n92-8=84\nA: 84';
  assert.equal(task.reward(problem, good), 1);
  assert.deepEqual(task.checkSteps!(problem, good), { steps: 4, firstWrong: null });
  // Left to right for - and +: 10-4+3 = 9, not 3.
  assert.equal(evaluateExpression({ operands: [10, 4, 3], operators: ['-', '+'] }), 9);
  assert.equal(evaluateExpression({ operands: [2, 3, 4, 5], operators: ['*', '+', '*'] }), 26);
});

test('reward parses the first A: line robustly; a missing answer is 0', () => {
  const task = arithTask({ trainSize: 10, evalSize: 10 });
  const problem = problemOf(handExpr, 84);
  assert.equal(task.reward(problem, '25*3=75\n17+75=92\n92-8=84\nA:84'), 1);
  assert.equal(task.reward(problem, 'A:  84 \n'), 1);
  assert.equal(task.reward(problem, 'A: +84.'), 1);
  assert.equal(task.reward(problem, '25*3=75\n17+75=92\n92-8=84'), 0);
  assert.equal(task.reward(problem, 'A: 83\nA: 84'), 0);
  assert.equal(task.reward(problem, 'A: 840'), 0);
  assert.equal(task.reward(problem, ''), 0);
  assert.equal(extractArithAnswer('x\nA: -12\n'), '-12');
  assert.equal(extractArithAnswer('A: twelve'), null);
});

test('checkSteps finds the first wrong step, not the later ones it propagates to', () => {
  const problem = problemOf(handExpr, 84);
  assert.deepEqual(checkArithSteps(problem, '25*3=75\n17+75=93\n93-8=85\nA: 85'), {
    steps: 4, firstWrong: 1, reason: 'wrong result',
  });
  assert.equal(checkArithSteps(problem, '17+25=42\n42*3=126\nA: 126').firstWrong, 0);
  assert.equal(checkArithSteps(problem, '25*3=75\n17+75=92\n92-8=84\nA: 83').firstWrong, 3);
  assert.equal(checkArithSteps(problem, '25*3=75\n17+75=92').firstWrong, 2);
  assert.equal(checkArithSteps(problem, '25*3=75\nA: 84').firstWrong, 1);
});

test('splits are fixed by the seed, disjoint, and their answers are the true values', () => {
  const a = arithTask({ trainSize: 300, evalSize: 100, seed: 5 });
  const b = arithTask({ trainSize: 300, evalSize: 100, seed: 5 });
  assert.deepEqual(a.trainProblems(), b.trainProblems());
  assert.deepEqual(a.evalProblems(), b.evalProblems());
  assert.notDeepEqual(arithTask({ trainSize: 300, evalSize: 100, seed: 6 }).evalProblems(), a.evalProblems());
  const evalPrompts = new Set(a.evalProblems().map((p) => p.prompt));
  assert.equal(evalPrompts.size, 100);
  assert.ok(a.trainProblems().every((p) => !evalPrompts.has(p.prompt)));
  for (const p of a.evalProblems()) {
    // Independent reference: JavaScript's own precedence rules on the expression text.
    const text = p.prompt.slice(3, -1);
    assert.match(text, /^\d{1,2}([+\-*]\d{1,2}){3}$/);
    assert.equal(p.answer, String(Function(`return (${text});`)()));
  }
});

test('every character of prompts and responses is in the alphabet', () => {
  const task = arithTask({ trainSize: 200, evalSize: 50 });
  const alphabet = new Set(task.alphabet);
  for (const ex of task.sftCorpus!(200, new Rng(1))) {
    for (const ch of ex.prompt + ex.response) assert.ok(alphabet.has(ch), `char ${JSON.stringify(ch)}`);
    assert.ok(ex.response.length <= task.maxResponseChars);
  }
});

test('the warm-start corpus: erroneous traces propagate consistently to a wrong answer at the set rate', () => {
  const task = arithTask({ trainSize: 1000, evalSize: 100, errorRate: 0.3 });
  const corpus = task.sftCorpus!(2000, new Rng(9));
  assert.deepEqual(corpus, task.sftCorpus!(2000, new Rng(9)));
  const problems = new Map(task.trainProblems().map((p) => [p.prompt, p]));
  let correct = 0;
  for (const ex of corpus) {
    const problem = problems.get(ex.prompt)!;
    const check = task.checkSteps!(problem, ex.response);
    assert.equal(ex.correct, task.reward(problem, ex.response) === 1);
    if (ex.correct) correct++;
    // A flawed trace: its first error is a wrong result, and every later step is right from what came before.
    const lines = ex.response.split('\n');
    for (const line of lines.slice(0, -1)) {
      const [lhs, rhs] = line.split('=');
      const m = /^(-?\d+)([+\-*])(\d+)$/.exec(lhs)!;
      assert.ok(m, line);
      if (check.firstWrong === null) assert.equal(Number(rhs), Function(`return (${m[1]})${m[2]}(${m[3]});`)());
    }
    if (!ex.correct) assert.equal(check.reason, 'wrong result');
  }
  // P(all 3 steps right) = 0.7^3 = 0.343 (a cancelled error can only raise it slightly).
  const rate = correct / corpus.length;
  assert.ok(rate > 0.31 && rate < 0.39, `correct rate ${rate}`);
  assert.ok(arithTask({ trainSize: 100, evalSize: 10, errorRate: 0 }).sftCorpus!(100, new Rng(2)).every((e) => e.correct));
});

test('a fresh corpus draws new problems for every example, never an eval one, with correct steps at errorRate 0', () => {
  const options = { operations: 2, trainSize: 300, evalSize: 300, errorRate: 0 };
  const fresh = arithTask({ ...options, corpus: 'fresh' });
  // The splits do not depend on the corpus.
  assert.deepEqual(fresh.evalProblems(), arithTask(options).evalProblems());
  assert.deepEqual(fresh.trainProblems(), arithTask(options).trainProblems());
  const evalPrompts = new Set(fresh.evalProblems().map((p) => p.prompt));
  const trainPrompts = new Set(fresh.trainProblems().map((p) => p.prompt));
  const corpus = fresh.sftCorpus!(3000, new Rng(4));
  assert.ok(corpus.every((e) => !evalPrompts.has(e.prompt) && e.correct));
  // 9000 expressions, 300 of them in the train split: a split-bound corpus would have at most 300 prompts.
  const distinct = new Set(corpus.map((e) => e.prompt));
  assert.ok(distinct.size > 2000, `${distinct.size} distinct prompts`);
  assert.ok(corpus.filter((e) => trainPrompts.has(e.prompt)).length < 300, 'about 1 in 30 from the train split by chance');
  assert.deepEqual(corpus.slice(0, 50), fresh.sftCorpus!(50, new Rng(4)));
});

test('bad options are errors that name the field', () => {
  assert.throws(() => arithTask({ corpus: 'all' as 'train' }), /arith: corpus/);
  assert.throws(() => arithTask({ operators: '+/' }), /arith: operators/);
  assert.throws(() => arithTask({ errorRate: 2 }), /arith: errorRate/);
  assert.throws(() => arithTask({ maxDigits: 1, operations: 1, trainSize: 100, evalSize: 10 }), /arith: trainSize/);
});
