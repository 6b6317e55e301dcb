import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const main = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const dir = mkdtempSync(path.join(tmpdir(), 'prl-grade-'));

function prl(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('prl grade: accuracy as the last stdout line, graded records written, progress on stderr', () => {
  const data = path.join(dir, 'r.jsonl');
  writeFileSync(data, [
    { out: 'so \\boxed{\\dfrac12}', ref: '0.5' },
    { out: '#### 1,000', ref: 1000 },
    { out: 'The answer is 7.', ref: '\\boxed{8}' },
    { out: 'no answer', ref: '3' },
  ].map((r) => JSON.stringify(r)).join('\n') + '\n');
  const output = path.join(dir, 'graded.jsonl');
  const r = prl('grade', '--data', data, '--response-field', 'out', '--answer-field', 'ref', '--output', output);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.deepEqual(JSON.parse(lines[lines.length - 1]), { n: 4, correct: 2, accuracy: 0.5, timedOut: 0 });
  assert.match(r.stderr, /graded 4\/4/);
  const graded = readFileSync(output, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(graded.map((g) => [g.correct, g.extracted]), [[true, '\\dfrac12'], [true, '1,000'], [false, '7'], [false, null]]);
});

test('prl grade: a missing field is an error naming the line and field, with a non-zero exit', () => {
  const data = path.join(dir, 'bad.jsonl');
  writeFileSync(data, '{"response": "\\\\boxed{1}", "answer": "1"}\n{"answer": "2"}\n');
  const r = prl('grade', '--data', data);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /bad\.jsonl:2: response: missing/);
});

test('prl grade --pred-field: bare final answers; a pathological one counts as timed out without holding up the run', () => {
  const data = path.join(dir, 'pred.jsonl');
  writeFileSync(data, [
    { pred: 'x >= 5', gold: '[5, \\infty)' },
    { pred: '(p,q)=(3,2)', gold: '(3,2)' },
    { pred: '32, 349', gold: '32349' },
    { pred: '10^{10^{10^{10}}}', gold: '7' },
  ].map((r) => JSON.stringify(r)).join('\n') + '\n');
  const output = path.join(dir, 'pred-graded.jsonl');
  const start = Date.now();
  const r = prl('grade', '--data', data, '--pred-field', 'pred', '--answer-field', 'gold', '--timeout-ms', '500', '--output', output);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.deepEqual(JSON.parse(lines[lines.length - 1]), { n: 4, correct: 2, accuracy: 0.5, timedOut: 1 });
  const graded = readFileSync(output, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(graded.map((g) => [g.correct, g.timedOut]), [[true, false], [true, false], [false, false], [false, true]]);
  assert.ok(Date.now() - start < 20_000);
});

test('prl grade: --timeout-ms must be a positive integer', () => {
  const data = path.join(dir, 'one.jsonl');
  writeFileSync(data, '{"response": "\\\\boxed{1}", "answer": "1"}\n');
  const r = prl('grade', '--data', data, '--timeout-ms', 'soon');
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /--timeout-ms: must be an integer >= 1, got "soon"/);
});
