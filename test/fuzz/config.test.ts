/** Trainer config files (JSON and YAML) under mutation: a resolved config, or a PrlError naming the file. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { configFromFlags } from '../../src/cli/config-flags.js';
import { rlConfigSchema, sftConfigSchema } from '../../src/train/config.js';
import { PrlError } from '../../src/util/errors.js';
import { runPrl } from '../cli/run-cli.js';
import { expectValueOrPlaceError, fuzzRuns, jsonText, mutatedJson, toJsonText } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'prl-fuzz-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const rl = { task: 'arith', taskOptions: { operations: 3 }, estimator: 'prl', steps: 20, promptsPerStep: 4, groupSize: 5, eta: 100, stepSplit: 'text:\\n', topP: 0.9, lr: 2e-5, seed: 1 };
const sft = { task: 'planted', preset: 'tiny', examples: 100, steps: 10, batchSize: 8, lrSchedule: 'cosine', warmupSteps: 2 };

/** YAML that stresses the parser: aliases, merge keys, tags, deep flow nesting, duplicate keys. */
const hostileYaml = fc.constantFrom(
  'a: &a [1, 2]\nb: *a\n',
  'x: &x {steps: 3}\n<<: *x\n',
  'steps: !!binary aGVsbG8=\n',
  'steps: !!js/function "() => 1"\n',
  'steps: 1\nsteps: 2\n',
  'seed: ' + '['.repeat(10_000) + ']'.repeat(10_000) + '\n',
  'l0: &l0 [x, x, x, x, x, x, x, x, x]\nl1: &l1 [*l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0]\nl2: &l2 [*l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1]\nl3: [*l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2]\n',
  '? [a, b]\n: 1\n',
  '- 1\n- 2\n',
  '"\\ud800": 1\n',
  '%YAML 9.9\n---\nsteps: 1\n',
);

for (const [name, schema, valid] of [['rl', rlConfigSchema, rl], ['sft', sftConfigSchema, sft]] as const) {
  test(`${name} config, JSON: wrong types, huge numbers, NaN-like strings, deep nesting`, () => {
    const path = join(dir, `${name}.json`);
    fc.assert(
      fc.property(jsonText(valid), (text) => {
        writeFileSync(path, text);
        expectValueOrPlaceError(path, () => configFromFlags(schema, { config: path }));
      }),
      fuzzRuns(200),
    );
  });

  test(`${name} config, YAML: mutated documents and hostile YAML`, () => {
    const path = join(dir, `${name}.yaml`);
    // JSON is YAML too, which is how the deeply nested values get in: the YAML writer overflows the stack on them.
    const yamlText = fc.oneof(mutatedJson(valid).map((doc) => toJsonText(doc)), mutatedJson(valid).filter((doc) => !toJsonText(doc).includes('[[[[')).map((doc) => toYaml(doc) ?? ''), hostileYaml, fc.string({ unit: 'binary', maxLength: 200 }));
    fc.assert(
      fc.property(yamlText, (text) => {
        writeFileSync(path, text);
        expectValueOrPlaceError(path, () => configFromFlags(schema, { config: path }));
      }),
      fuzzRuns(200),
    );
  });
}

test('a YAML config nested 10000 brackets deep is refused by name (the yaml parser aborts the process on it)', () => {
  const path = join(dir, 'deep.yaml');
  writeFileSync(path, 'seed: ' + '['.repeat(10_000) + ']'.repeat(10_000) + '\n');
  assert.throws(() => configFromFlags(rlConfigSchema, { config: path }), (err: Error) => err instanceof PrlError && err.message === `${path}: brackets nested more than 64 deep`);
});

test('prl rl --resume names a run folder config.json that is not an object', () => {
  const run = join(dir, 'run');
  mkdirSync(run, { recursive: true });
  writeFileSync(join(run, 'config.json'), 'null');
  const result = runPrl(['rl', '--resume', run, '--quiet']);
  assert.equal(result.status, 1);
  assert.equal(result.stderr, `prl: ${join(run, 'config.json')}: expected an object of options\n`);
});
