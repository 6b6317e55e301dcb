import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { rlConfigSchema, resolveConfig, flagValue } from '../../src/train/config.js';
import { addConfigFlags, configFromFlags } from '../../src/cli/config-flags.js';

function parseFlags(argv: string[]): Record<string, unknown> {
  const command = addConfigFlags(new Command('rl').option('--config <file>').exitOverride(), rlConfigSchema);
  command.parse(argv, { from: 'user' });
  return command.opts();
}

test('defaults fill every field and follow SPEC.md', () => {
  const config = resolveConfig(rlConfigSchema, {}, 'test');
  assert.equal(config.estimator, 'grpo');
  assert.equal(config.groupSize, 5);
  assert.equal(config.clipRatio, 0.2);
  assert.equal(config.dualClip, 3);
  assert.equal(config.lossAggregation, 'token-mean');
  assert.equal(config.klCoef, 0);
  assert.equal(config.std, 'unbiased');
  assert.equal(config.ppoEpochs, 1);
  assert.equal(config.miniBatches, 1);
});

test('an invalid flag value is refused naming the field and the value', () => {
  assert.throws(() => configFromFlags(rlConfigSchema, parseFlags(['--steps', 'many'])), /flags: steps: expected a positive integer, got "many"/);
  assert.throws(() => configFromFlags(rlConfigSchema, parseFlags(['--steps', '2.5'])), /steps: expected a positive integer, got 2\.5/);
  assert.throws(() => configFromFlags(rlConfigSchema, parseFlags(['--estimator', 'ppo'])), /estimator: expected one of grpo, rloo, reinforce, prl, prl-raw, frpo, raft, pav, got "ppo"/);
  assert.throws(() => configFromFlags(rlConfigSchema, parseFlags(['--step-split', 'lines'])), /stepSplit: expected "task", length:L/);
  assert.throws(() => configFromFlags(rlConfigSchema, parseFlags(['--task-options', '{oops'])), /--task-options: expected a JSON object/);
});

test('flags override the config file; unknown file fields are refused; YAML works', () => {
  const dir = mkdtempSync(join(tmpdir(), 'prl-config-'));
  const json = join(dir, 'run.json');
  writeFileSync(json, JSON.stringify({ estimator: 'prl', eta: 200, steps: 9 }));
  const config = configFromFlags(rlConfigSchema, parseFlags(['--config', json, '--steps', '3', '--step-split', 'text:\\n']));
  assert.equal(config.estimator, 'prl');
  assert.equal(config.eta, 200);
  assert.equal(config.steps, 3);
  assert.equal(config.stepSplit, 'text:\\n');

  writeFileSync(json, JSON.stringify({ stepz: 3 }));
  assert.throws(() => configFromFlags(rlConfigSchema, parseFlags(['--config', json])), /run\.json: stepz: unknown option/);
  writeFileSync(json, JSON.stringify({ eta: -1 }));
  assert.throws(() => configFromFlags(rlConfigSchema, parseFlags(['--config', json])), /run\.json: eta: expected a positive number, got -1/);

  const yaml = join(dir, 'run.yaml');
  writeFileSync(yaml, 'estimator: frpo\nbeta: 0.05\ntaskOptions:\n  operations: 2\n');
  const fromYaml = configFromFlags(rlConfigSchema, parseFlags(['--config', yaml]));
  assert.equal(fromYaml.estimator, 'frpo');
  assert.equal(fromYaml.beta, 0.05);
  assert.deepEqual(fromYaml.taskOptions, { operations: 2 });
});

test('flag text becomes numbers and booleans only when it is one', () => {
  assert.equal(flagValue('3'), 3);
  assert.equal(flagValue('1e-4'), 1e-4);
  assert.equal(flagValue('-0.5'), -0.5);
  assert.equal(flagValue('true'), true);
  assert.equal(flagValue('3x'), '3x');
  assert.equal(flagValue('length:16'), 'length:16');
});
