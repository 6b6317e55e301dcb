import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../src/util/rng.js';
import { runPrl, runReference } from './run-cli.js';

/** A random batch of rollouts: groups of 1..5, padded masks with holes, text cut into tokens at random. */
function randomRollouts(rng: Rng, groups: number): string {
  const pieces = ['a', 'b ', '\n', '\n\n', 'x\n', '\nThe', '=', '7'];
  const lines: string[] = [];
  for (let g = 0; g < groups; g++) {
    const G = 1 + rng.int(5);
    for (let i = 0; i < G; i++) {
      const T = 1 + rng.int(24);
      const valid = rng.int(T + 1);
      const mask = Array.from({ length: T }, (_, t) => (t < valid && rng.next() < 0.9 ? 1 : 0));
      const tokens = Array.from({ length: T }, () => pieces[rng.int(pieces.length)]);
      const offsets = tokens.map((_, t) => tokens.slice(0, t).join('').length);
      const old = Array.from({ length: T }, () => -4 * rng.next());
      lines.push(
        JSON.stringify({
          group: rng.next() < 0.5 ? `g${g}` : g,
          reward: rng.next() < 0.3 ? rng.next() : rng.int(2),
          mask,
          logprobs_old: old,
          logprobs_ref: old.map((x) => Math.min(0, x + 0.7 * rng.normal())),
          text: tokens.join(''),
          token_offsets: offsets,
          token_ids: tokens.map((p) => pieces.indexOf(p)),
        }),
      );
    }
  }
  return lines.join('\n') + '\n';
}

function parseAdvantages(stdout: string): number[][] {
  return stdout.trim().split('\n').map((l) => (JSON.parse(l) as { advantages: number[] }).advantages);
}

const configs: string[][] = [
  ['--estimator', 'grpo'],
  ['--estimator', 'grpo', '--std', 'population'],
  ['--estimator', 'grpo', '--std', 'none'],
  ['--estimator', 'rloo'],
  ['--estimator', 'reinforce'],
  ['--estimator', 'prl'],
  ['--estimator', 'prl', '--eta', '1', '--step-split', 'length:3'],
  ['--estimator', 'prl', '--eta', '5', '--step-split', 'length:1', '--std', 'none'],
  ['--estimator', 'prl', '--eta', '2', '--step-split', 'text:\\n\\n'],
  ['--estimator', 'prl', '--eta', '2', '--step-split', 'text:\\n'],
  ['--estimator', 'prl', '--eta', '3', '--step-split', 'tokens:2,4'],
  ['--estimator', 'prl-raw', '--eta', '4'],
  ['--estimator', 'frpo'],
  ['--estimator', 'frpo', '--beta', '0.3', '--kl', 'k3', '--std', 'population'],
];

test('prl advantages agrees with the independent Python reference on random batches to 1e-5', () => {
  const rng = new Rng(2026);
  for (const args of configs) {
    const input = randomRollouts(rng, 6);
    const ours = runPrl(['advantages', ...args], input);
    assert.equal(ours.status, 0, ours.stderr);
    const ref = parseAdvantages(runReference(['advantages', ...args], input));
    const got = parseAdvantages(ours.stdout);
    assert.equal(got.length, ref.length);
    got.forEach((row, i) => {
      assert.equal(row.length, ref[i].length, `${args.join(' ')} line ${i + 1}`);
      row.forEach((x, t) => assert.ok(Math.abs(x - ref[i][t]) <= 1e-5 * Math.max(1, Math.abs(ref[i][t])), `${args.join(' ')} line ${i + 1} token ${t}: ${x} vs ${ref[i][t]}`));
    });
  }
});

test('prl advantages: --input and --output files, output written whole', () => {
  const dir = mkdtempSync(join(tmpdir(), 'prl-adv-'));
  try {
    const input = randomRollouts(new Rng(1), 3);
    writeFileSync(join(dir, 'in.jsonl'), input);
    const r = runPrl(['advantages', '--estimator', 'frpo', '--input', join(dir, 'in.jsonl'), '--output', join(dir, 'out', 'adv.jsonl')]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(readFileSync(join(dir, 'out', 'adv.jsonl'), 'utf8'), runPrl(['advantages', '--estimator', 'frpo'], input).stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const good = { group: 1, reward: 1, mask: [1, 1, 1], logprobs_old: [-1, -1, -1], logprobs_ref: [-1, -2, -1] };

test('prl advantages: bad input is an error naming the line and field, with exit code 1', () => {
  const cases: Array<[string[], string, string]> = [
    [['--estimator', 'prl'], JSON.stringify(good) + '\n' + JSON.stringify({ ...good, logprobs_ref: [-1, -1] }), '<stdin>:2: logprobs_ref: expected 3 numbers (the length of mask), got 2'],
    [['--estimator', 'frpo'], JSON.stringify({ ...good, logprobs_old: undefined }), '<stdin>:1: logprobs_old: missing'],
    [['--estimator', 'grpo'], JSON.stringify({ ...good, reward: 'NaN' }), '<stdin>:1: reward: expected a finite number'],
    [['--estimator', 'prl'], JSON.stringify({ ...good, logprobs_old: [-1, null, -1] }), '<stdin>:1: logprobs_old: expected a finite number at index 1'],
    [['--estimator', 'grpo'], '{"group": 1, "reward": NaN, "mask": [1]}', '<stdin>:1: not valid JSON'],
    [['--estimator', 'grpo'], JSON.stringify({ ...good, mask: [1, 2, 0] }), '<stdin>:1: mask: expected 0 or 1 at index 1'],
    [['--estimator', 'grpo'], '\n\n', '<stdin>: no rollouts (the input is empty)'],
    [['--estimator', 'prl', '--step-split', 'text:\\n'], JSON.stringify(good), '<stdin>:1: token_offsets: missing'],
    [['--estimator', 'prl', '--step-split', 'text:\\n'], JSON.stringify({ ...good, text: 'ab', token_offsets: [0, 2, 1] }), '<stdin>:1: token_offsets: offsets must not decrease'],
    [['--estimator', 'prl', '--step-split', 'lines'], JSON.stringify(good), 'step split "lines"'],
    [['--estimator', 'prl', '--eta', '0'], JSON.stringify(good), '--eta: expected a positive number'],
  ];
  for (const [args, input, message] of cases) {
    const r = runPrl(['advantages', ...args], input);
    assert.equal(r.status, 1, `${message}: ${r.stderr}`);
    assert.ok(r.stderr.startsWith(`prl: ${message}`), `expected "${message}", got "${r.stderr}"`);
  }
  const missing = runPrl(['advantages', '--input', '/nonexistent/in.jsonl']);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /\/nonexistent\/in\.jsonl: no such file/);
});
