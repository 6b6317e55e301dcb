// Bad input to `prl reproduce --model`: each is refused before any training, naming the flag and the problem;
// every registered experiment says whether it takes a model, and why not where it does not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXPERIMENTS, reproduce } from '../../src/reproduce/index.js';
import { resolveUserModel } from '../../src/reproduce/user-model.js';
import type { Experiment } from '../../src/reproduce/types.js';
import { createProgress } from '../../src/util/progress.js';
import { runPrl } from '../cli/run-cli.js';
import { makeUserCheckpoint } from './user-model-folder.js';

const quiet = createProgress(process.stderr, 1, true);

test('every experiment says whether it takes --model; where not, a reason; prl-vs-grpo, pav-search and pav-rl take one', () => {
  for (const e of EXPERIMENTS) {
    assert.ok(e.takesModel === true || e.takesModel.reason.length > 20, `${e.name}: takesModel`);
  }
  for (const name of ['prl-vs-grpo', 'pav-search', 'pav-rl']) assert.equal(EXPERIMENTS.find((e) => e.name === name)!.takesModel, true, name);
  assert.notEqual(EXPERIMENTS.find((e) => e.name === 'pav-didactic')!.takesModel, true);
});

test('bad --model, --adapter, --lora-rank, --task and --task-options are named', async () => {
  const root = mkdtempSync(join(tmpdir(), 'prl-user-inputs-'));
  try {
    const user = makeUserCheckpoint(root);
    const out = join(root, 'out');
    const ok = { model: user.model, task: 'math', taskOptions: user.taskOptions };
    await assert.rejects(resolveUserModel({ ...ok, model: join(root, 'missing') }, out), /--model: .*missing is not a folder/);
    mkdirSync(join(root, 'empty'));
    await assert.rejects(resolveUserModel({ ...ok, model: join(root, 'empty') }, out), /--model: .*empty has no config\.json/);
    await assert.rejects(resolveUserModel({ ...ok, adapter: user.model }, out), /--adapter: .*has no adapter_config\.json/);
    await assert.rejects(resolveUserModel({ ...ok, loraRank: -1 }, out), /--lora-rank: must be a whole number >= 0/);
    await assert.rejects(resolveUserModel({ ...ok, task: 'planted' }, out), /--task: "planted" cannot run on a user model \(known: math, arith\)/);
    await assert.rejects(resolveUserModel({ ...ok, task: 'poetry' }, out), /--task: "poetry"/);
    await assert.rejects(resolveUserModel({ ...ok, taskOptions: { trainData: user.taskOptions.trainData } }, out), /--task-options: evalData: .*give both/);
    await assert.rejects(resolveUserModel({ ...ok, taskOptions: { trainData: join(root, 'nope.jsonl'), evalData: join(root, 'nope.jsonl') } }, out), /nope\.jsonl/);
    const resolved = await resolveUserModel(ok, out);
    assert.equal(resolved.startModel, user.model);
    assert.equal(resolved.loraRank, 0);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('an experiment that cannot take a model: an error for it alone, skipped (with its reason) under all', async () => {
  const ran: string[] = [];
  const fake = (name: string, takesModel: Experiment['takesModel']): Experiment => ({
    name,
    description: name,
    takesModel,
    run: async (o) => {
      ran.push(name);
      return { headline: name, report: join(o.out, 'report.html') };
    },
  });
  const experiments = [fake('didactic', { reason: 'its task exists only for its own vocabulary' }), fake('takes', true)];
  const root = mkdtempSync(join(tmpdir(), 'prl-user-all-'));
  try {
    const userModel = { model: join(root, 'whatever') };
    await assert.rejects(reproduce('didactic', { quick: true, out: root, progress: quiet, userModel }, experiments), /--model: didactic cannot run on a user model: its task exists only/);
    assert.deepEqual(ran, []);
    const { rows } = await reproduce('all', { quick: true, out: root, progress: quiet, userModel }, experiments);
    assert.deepEqual(rows.map((r) => r.experiment), ['takes']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('prl reproduce: --adapter without --model, bad --task-options JSON, and a didactic experiment with --model are refused', () => {
  const stray = runPrl(['reproduce', 'prl-vs-grpo', '--adapter', '/tmp/a', '--out', '/tmp/prl-never']);
  assert.notEqual(stray.status, 0);
  assert.match(stray.stderr, /--adapter: goes with --model DIR/);
  const json = runPrl(['reproduce', 'prl-vs-grpo', '--model', '/tmp/m', '--task-options', '{oops', '--out', '/tmp/prl-never']);
  assert.notEqual(json.status, 0);
  assert.match(json.stderr, /--task-options: not valid JSON/);
  const didactic = runPrl(['reproduce', 'pav-didactic', '--model', '/tmp/m', '--out', '/tmp/prl-never']);
  assert.notEqual(didactic.status, 0);
  assert.match(didactic.stderr, /--model: pav-didactic cannot run on a user model: the planted task is didactic/);
  const help = runPrl(['reproduce', '--help']);
  assert.match(help.stdout, /prl-vs-grpo .*\[takes --model\]/);
});
