/**
 * `prl eval` never reports old results as new: a rerun on the same --out resumes only with the same
 * settings. A problem the model cannot take is skipped and counted, not fatal; `prl init`'s defaults
 * take the bundled math sets.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, runPrl } from '../cli/run-cli.js';
import { makeTinyModelFolder } from '../helpers/model-folder.js';

const work = mkdtempSync(join(tmpdir(), 'prl-eval-settings-'));
after(() => rmSync(work, { recursive: true, force: true }));
const model = makeTinyModelFolder(3, 'prl-eval-settings-model-');
const data = join(work, 'sums.jsonl');
writeFileSync(data, ['1+1', '2+3', '4+4'].map((p, i) => JSON.stringify({ id: i, problem: `${p}=?`, answer: String(eval(p)) })).join('\n') + '\n');
const evalArgs = (out: string, ...extra: string[]): string[] => ['eval', '--policy', `engine:${model}`, '--data', data, '--out', out, '--n', '2', '--max-tokens', '6', '--seed', '1', ...extra];
const lines = (path: string): Array<Record<string, unknown>> => readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

test('a rerun with other settings is refused naming the setting; the same settings resume; --overwrite starts afresh', () => {
  const out = join(work, 'results.jsonl');
  const first = runPrl(evalArgs(out));
  assert.equal(first.status, 0, first.stderr);
  const before = readFileSync(out, 'utf8');

  const cases: Array<[string[], RegExp]> = [
    [['--temperature', '0.5'], /--temperature was 1, now 0\.5/],
    [['--max-tokens', '7'], /--max-tokens was 6, now 7/],
  ];
  for (const [extra, message] of cases) {
    const args = evalArgs(out).filter((a, i, all) => !(extra.includes(a) || extra.includes(all[i - 1])));
    const other = runPrl([...args, ...extra]);
    assert.equal(other.status, 1, other.stderr);
    assert.match(other.stderr, message);
    assert.match(other.stderr, /--overwrite/);
    assert.equal(readFileSync(out, 'utf8'), before, 'the old results are untouched');
  }
  const otherSeed = runPrl([...evalArgs(out).slice(0, -2), '--seed', '2']);
  assert.match(otherSeed.stderr, /--seed was 1, now 2/);
  const otherPolicy = runPrl(evalArgs(out).map((a) => (a === `engine:${model}` ? `engine:${work}/elsewhere` : a)));
  assert.match(otherPolicy.stderr, /--policy was "engine:/);

  const same = runPrl(evalArgs(out));
  assert.equal(same.status, 0, same.stderr);
  assert.equal(same.stdout, first.stdout, 'the same settings resume: same metrics');
  assert.equal(readFileSync(out, 'utf8'), before, 'nothing sampled twice');

  const fresh = runPrl([...evalArgs(out).slice(0, -2), '--seed', '2', '--overwrite']);
  assert.equal(fresh.status, 0, fresh.stderr);
  assert.equal(lines(out).length, 3);
  assert.notEqual(readFileSync(out, 'utf8'), before, 'new samples');
  assert.match(readFileSync(`${out}.settings.json`, 'utf8'), /"--seed": 2/);
});

test('an output without recorded settings is not resumed', () => {
  const out = join(work, 'foreign.jsonl');
  writeFileSync(out, '');
  const run = runPrl(evalArgs(out));
  assert.equal(run.status, 1);
  assert.match(run.stderr, /foreign\.jsonl exists but records no settings/);
});

test('problems the model cannot take (a character outside its alphabet, too many positions) are skipped and counted', () => {
  const odd = join(work, 'odd.jsonl');
  writeFileSync(odd, [
    { id: 'ok', problem: '1+1=?', answer: '2' },
    { id: 'tab', problem: '1\t+1=?', answer: '2' },
    { id: 'long', problem: 'x'.repeat(300), answer: '1' }, // the tiny preset has 256 positions
  ].map((r) => JSON.stringify(r)).join('\n') + '\n');
  const out = join(work, 'odd-results.jsonl');
  const run = runPrl(['eval', '--policy', `engine:${model}`, '--data', odd, '--out', out, '--n', '1', '--max-tokens', '4']);
  assert.equal(run.status, 0, run.stderr);
  const metrics = JSON.parse(run.stdout) as Record<string, { skipped: number; 'avg@1': number }>;
  assert.equal(metrics.odd.skipped, 2);
  assert.match(run.stderr, /odd: skipped 2 problem/);
  const skipped = Object.fromEntries(lines(out).filter((l) => 'skipped' in l).map((l) => [l.id, l.skipped as string]));
  assert.match(skipped.tab, /"\\t" at offset 1 is not in the vocabulary/);
  assert.match(skipped.long, /\d+ prompt tokens \+ max_tokens 4 exceed max_position_embeddings = 256/);
});

test('prl init\'s defaults take every problem of the five bundled math sets (alphabet and positions)', () => {
  const fresh = join(work, 'init-model');
  assert.equal(runPrl(['init', '--preset', 'tiny', '--out', fresh]).status, 0);
  const sets = ['aime24', 'amc23', 'math500', 'minerva_math', 'olympiad_bench'];
  const out = join(work, 'math-sets.jsonl');
  const data = sets.flatMap((set) => ['--data', `${repoRoot}../shared/data/math/${set}.jsonl`]);
  const run = runPrl(['eval', '--policy', `engine:${fresh}`, ...data, '--out', out, '--n', '1', '--max-tokens', '1']);
  assert.equal(run.status, 0, run.stderr);
  const metrics = JSON.parse(run.stdout) as Record<string, { problems: number; skipped: number }>;
  for (const set of sets) assert.deepEqual([metrics[set].skipped, metrics[set].problems > 0], [0, true], set);
});
