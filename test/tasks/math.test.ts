import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { getTask } from '../../src/tasks/index.js';
import { mathTask } from '../../src/tasks/math.js';

const dir = mkdtempSync(path.join(tmpdir(), 'prl-math-'));
const file = path.join(dir, 'p.jsonl');
writeFileSync(file, [
  JSON.stringify({ question: 'What is 1/2 + 0?', final: '\\frac{1}{2}', unique_id: 'a' }),
  JSON.stringify({ question: 'Solve x+1=3.', final: "['2']" }),
].join('\n') + '\n');

test('math task: configurable fields and template; reward by equivalence, not string match', () => {
  const task = mathTask({ evalData: file, problemField: 'question', answerField: 'final', template: 'Problem: {problem}\nAnswer:' });
  const problems = task.evalProblems();
  assert.deepEqual(problems.map((p) => p.id), ['a', `${file}:2`]);
  assert.equal(problems[0].prompt, 'Problem: What is 1/2 + 0?\nAnswer:');
  assert.equal(problems[1].answer, '2');
  assert.equal(task.reward(problems[0], 'so it is \\boxed{0.5}'), 1);
  assert.equal(task.reward(problems[0], 'so it is \\boxed{\\dfrac{1}{3}}'), 0);
  assert.equal(task.reward(problems[1], 'The answer is $x = 2$.'), 1);
  assert.equal(task.reward(problems[1], 'no final answer'), 0);
  assert.deepEqual(task.trainProblems(), []);
});

test('math task: a missing field is an error naming file, line and field', () => {
  assert.throws(() => mathTask({ evalData: file }), new RegExp(`p\\.jsonl:1: problem`));
  assert.throws(() => mathTask({ evalData: file, problemField: 'question', answerField: 'nope' }), /p\.jsonl:1: nope/);
  assert.throws(() => mathTask({}), /trainData and\/or evalData/);
});

test('registry: makes each task by name, coerces numeric strings, rejects unknown names and options', () => {
  const arith = getTask('arith', { operations: '2', trainSize: 50, evalSize: 20 });
  assert.equal(arith.kind, 'text');
  assert.equal(arith.evalProblems().length, 20);
  assert.match(arith.evalProblems()[0].prompt, /^Q: \d+[+\-*]\d+[+\-*]\d+\n$/);
  const planted = getTask('planted', { target: '1,2', length: 4 });
  assert.equal(planted.kind, 'tokens');
  assert.equal(planted.kind === 'tokens' && planted.reward(planted.trainProblems()[0], [0, 1, 2, 14]), 1);
  assert.equal(getTask('math', { evalData: file, problemField: 'question', answerField: 'final' }).name, 'math');
  assert.throws(() => getTask('chess'), /unknown task "chess" \(known: arith, math, planted\)/);
  assert.throws(() => getTask('arith', { steps: 3 }), /task arith: steps: unknown option/);
  assert.throws(() => getTask('arith', { operations: 'three' }), /task arith: operations: expected a number/);
});
