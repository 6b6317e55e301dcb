// One estimator table: the config schema, `prl advantages`, `prl rl --help` and the README all list
// exactly the estimators of ESTIMATORS.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULT_ADVANTAGE_OPTIONS, ESTIMATOR_NAMES, ESTIMATORS, ROLLOUT_ESTIMATORS, rolloutAdvantages, type Rollout } from '../../src/algos/index.js';
import { rlConfigSchema } from '../../src/train/config.js';
import { runPrl } from '../cli/run-cli.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

test('the README lists every estimator with its summary, source and whether prl advantages runs it', () => {
  const readme = readFileSync(`${root}README.md`, 'utf8');
  const rows = readme.split('\n').filter((line) => /^\| `[a-z-]+` \| .* \| (yes|no) \|$/.test(line));
  const expected = ESTIMATOR_NAMES.map((name) => {
    const e = ESTIMATORS[name];
    return `| \`${name}\` | ${e.summary} | ${e.source} | ${'fromRollouts' in e ? 'yes' : 'no'} |`;
  });
  assert.deepEqual(rows, expected);
});

test('prl rl accepts exactly the table\'s estimators, and both help texts list them', () => {
  for (const name of ESTIMATOR_NAMES) assert.equal(rlConfigSchema.shape.estimator.parse(name), name);
  assert.throws(() => rlConfigSchema.shape.estimator.parse('ppo'));
  const rlHelp = runPrl(['rl', '--help']).stdout;
  for (const name of ESTIMATOR_NAMES) assert.match(rlHelp, new RegExp(`^\\s*${name}: `, 'm'), `rl --help lists ${name}`);
  const advHelp = runPrl(['advantages', '--help']).stdout;
  for (const name of ESTIMATOR_NAMES) {
    const listed = new RegExp(`^\\s*${name}: `, 'm').test(advHelp);
    assert.equal(listed, (ROLLOUT_ESTIMATORS as readonly string[]).includes(name), `advantages --help and ${name}`);
  }
});

test('the table dispatches: rloo through rolloutAdvantages is r minus the mean of the others', () => {
  const rollouts: Rollout[] = [1, 0, 0].map((reward, i) => ({ line: i + 1, group: 'g', reward, mask: [1, 1, 0] }));
  const adv = rolloutAdvantages(rollouts, { ...DEFAULT_ADVANTAGE_OPTIONS, estimator: 'rloo' });
  assert.deepEqual(adv.map((a) => Array.from(a)), [[1, 1, 0], [-0.5, -0.5, 0], [-0.5, -0.5, 0]]);
});
