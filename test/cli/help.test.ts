// The CLI helps: --version, defaults and required options in --help, a mistyped flag's suggestion first,
// the same short flags across commands, and time left on long commands.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { countReporter } from '../../src/util/progress.js';
import { repoRoot, runPrl } from './run-cli.js';

test('prl --version prints the package version', () => {
  const version = (JSON.parse(readFileSync(`${repoRoot}package.json`, 'utf8')) as { version: string }).version;
  for (const flag of ['--version', '-V']) {
    const run = runPrl([flag]);
    assert.equal(run.status, 0);
    assert.equal(run.stdout.trim(), version);
  }
});

test('--help shows every config option\'s default and marks required options', () => {
  const rl = runPrl(['rl', '--help']).stdout.replace(/\s+/g, ' ');
  assert.match(rl, /--lr <value> .*\(default: 0\.00002\)/);
  assert.match(rl, /--estimator <value> .*\(default: grpo\)/);
  assert.match(rl, /--group-size <value> .*\(default: 5\)/);
  assert.match(rl, /--task-options <value> .*\(default: \{\}\)/);
  const evalHelp = runPrl(['eval', '--help']).stdout.replace(/\s+/g, ' ');
  for (const flag of ['--policy', '--data', '--out']) assert.match(evalHelp, new RegExp(`${flag} <[a-z]+> [^-]*\\(required\\)`), flag);
  assert.match(evalHelp, /-n, --n <count>/, 'eval takes -n as generate does');
});

test('a mistyped flag: the error and its suggestion first, a pointer to --help instead of the whole help', () => {
  const run = runPrl(['rl', '--step', '3']);
  assert.equal(run.status, 1);
  const lines = run.stderr.trim().split('\n');
  assert.match(lines[0], /unknown option '--step'/);
  assert.match(run.stderr, /Did you mean --steps\?/);
  assert.match(lines.at(-1)!, /run 'prl rl --help' for usage/);
  assert.doesNotMatch(run.stderr, /Options:/);
});

test('countReporter says how much is done and about how long is left, from the rate of this run', () => {
  const written: string[] = [];
  const stream = { isTTY: false, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream;
  const report = countReporter('eval', 'problems', { stream });
  report(10, 30); // resumed with 10 done: they do not count towards the rate
  const spin = performance.now();
  while (performance.now() - spin < 20);
  report(20, 30);
  report(30, 30);
  assert.match(written[0], /^eval: 10\/30 problems, 0:00 spent, about \? left\n$/);
  assert.match(written[1], /^eval: 20\/30 problems, 0:00 spent, about 0:00 left\n$/);
  assert.match(written.at(-1)!, /^eval: 30\/30 problems, .* done\n$/);
  const quiet: string[] = [];
  countReporter('eval', 'problems', { stream: { isTTY: false, write: (s: string) => quiet.push(s) } as unknown as NodeJS.WriteStream, quiet: true })(1, 2);
  assert.deepEqual(quiet, []);
});

test("prl demo's first progress line reports a rate of the same order as the final one", () => {
  const run = runPrl(['demo', '--seconds', '3']);
  assert.equal(run.status, 0, run.stderr);
  const first = Number(/training: step 1 .* (\d+) tokens\/s/.exec(run.stderr)?.[1]);
  const final = Number(/Trained \d+ steps \(\d+ tokens, (\d+) tokens\/s\)/.exec(run.stdout)?.[1]);
  assert.ok(first > 0 && final > 0, run.stderr);
  assert.ok(first < 5 * final, `first ${first} tokens/s against ${final} over the run`);
});
