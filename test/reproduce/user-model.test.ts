// `prl reproduce prl-vs-grpo --model DIR [--adapter] [--lora-rank] --task math`: the experiment runs end to end
// on a user's byte-level BPE checkpoint (micro budget), its report names the model, a rerun with other weights
// at the same path trains anew, and an adapter is merged in before the runs. pav-search and pav-rl likewise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPrlVsGrpo, withUserModel, type PrlVsGrpoResults, type PrlVsGrpoSettings } from '../../src/reproduce/prl-vs-grpo/index.js';
import { runPavRl, withUserModel as withUserRlModel, type PavRlResults, type PavRlSettings } from '../../src/reproduce/pav-rl/index.js';
import { runPavSearch, withUserModel as withUserSearchModel, type PavSearchResults, type PavSearchSettings } from '../../src/reproduce/pav-search/index.js';
import { defineExperiment } from '../../src/reproduce/types.js';
import { baseModelHash } from '../../src/train/lora-training.js';
import { createProgress } from '../../src/util/progress.js';
import { makeUserCheckpoint } from './user-model-folder.js';

const quiet = createProgress(process.stderr, 1, true);

/** prl-vs-grpo at a test budget: GRPO, RAFT and one PRL setting, 2 RL steps, 4 held-out problems x 4 samples. */
const MICRO: PrlVsGrpoSettings = {
  seeds: 1,
  task: 'arith',
  taskOptions: {},
  start: { recipe: {} }, // replaced by the user's model
  rl: { steps: 2, promptsPerStep: 2, groupSize: 3, lr: 1e-3, evalEvery: 1, evalProblems: 4, evalSamples: 2, samplesPerStep: 2, threads: 1 },
  splits: ['text:\\n'],
  etas: [1],
  finalEval: { problems: 4, samples: 4 },
};
const micro = defineExperiment('prl-vs-grpo', 'micro', { quick: MICRO, full: MICRO }, withUserModel, runPrlVsGrpo);

test('prl-vs-grpo on a user checkpoint (math, LoRA r2): runs, names the model, reruns only when the weights change', { timeout: 120_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'prl-user-model-'));
  try {
    const user = makeUserCheckpoint(root);
    const out = join(root, 'out');
    const options = { quick: true, out, threads: 1, progress: quiet, userModel: { model: user.model, loraRank: 2, task: 'math', taskOptions: user.taskOptions } };
    const first = await micro.run(options);
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as PrlVsGrpoResults;
    const hash = await baseModelHash(user.model);
    assert.match(results.headline, new RegExp(`model ${user.model}.*task math`));
    assert.match(results.title, /math task, from model/);
    assert.equal((results.config.userModel as { modelSha256: string }).modelSha256, hash);
    const report = readFileSync(first.report, 'utf8');
    assert.ok(report.includes(`${user.model} (sha256 ${hash.slice(0, 12)})`), 'the report names the model and its hash');
    const run = join(out, 'runs', 'grpo', 'seed-0');
    const config = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(config.task, 'math');
    assert.equal(config.loraRank, 2);
    assert.equal(config.model, user.model);
    assert.ok(existsSync(join(run, 'adapter', 'adapter_config.json')), 'the RL run trained a LoRA adapter');
    const prompt = (JSON.parse(readFileSync(join(run, 'samples.jsonl'), 'utf8').split('\n')[0]) as { prompt: string }).prompt;
    assert.match(prompt, /^<\|user\|>What is \d+ \+ 1\?[\s\S]*<\|assistant\|>$/, 'prompts go through the chat template');
    const finalEval = JSON.parse(readFileSync(join(run, 'final-eval.json'), 'utf8')) as { n: number; correct: number[]; userModel: { modelSha256: string } };
    assert.equal(finalEval.n, 4);
    assert.equal(finalEval.correct.length, 4);
    assert.equal(finalEval.userModel.modelSha256, hash);

    // Same model, same settings: the cached run is reused (a marker in its folder survives).
    const marker = join(run, 'marker');
    writeFileSync(marker, '');
    await micro.run(options);
    assert.ok(existsSync(marker), 'the same model and settings reuse the run');

    // Other weights at the same path: not the same run.
    rmSync(user.model, { recursive: true });
    makeUserCheckpoint(root, 'model', 2);
    assert.notEqual(await baseModelHash(user.model), hash);
    await micro.run(options);
    assert.ok(!existsSync(marker), 'another model at the same path trains anew');
    const rerun = JSON.parse(readFileSync(join(run, 'final-eval.json'), 'utf8')) as { userModel: { modelSha256: string } };
    assert.equal(rerun.userModel.modelSha256, await baseModelHash(user.model));

    // The adapter the run trained, given back as --adapter: merged into out2/start-model, named in the report.
    const adapter = join(root, 'adapter');
    rmSync(adapter, { recursive: true, force: true });
    cpSync(join(run, 'adapter'), adapter, { recursive: true });
    const out2 = join(root, 'out2');
    const withAdapter = await micro.run({ ...options, out: out2, userModel: { ...options.userModel, adapter, loraRank: 0 } });
    assert.ok(existsSync(join(out2, 'start-model', 'config.json')), 'the adapter is merged into the start model');
    const config2 = JSON.parse(readFileSync(join(out2, 'runs', 'grpo', 'seed-0', 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(config2.model, join(out2, 'start-model'));
    assert.equal(config2.loraRank, 0);
    const adapterHash = await baseModelHash(adapter);
    assert.ok(readFileSync(withAdapter.report, 'utf8').includes(`with adapter ${adapter} (sha256 ${adapterHash.slice(0, 12)})`));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

/** pav-search at a test budget: 6 problems labelled (2 seeds x 2 rollouts), 5 verifier steps, 2 problems searched. */
const MICRO_SEARCH: PavSearchSettings = {
  pav: {
    taskOptions: {},
    start: { recipe: {} }, // replaced by the user's model
    labels: { problems: 6, nCov: 2, nMc: 2, prover: 'bok:4', strategy: 'random', temperature: 1, seed: 0, chunk: 3 },
    verifier: { steps: 5, batchSize: 4, lr: 1e-3, warmupSteps: 1, heldOutFraction: 0.34, seed: 0 },
  },
  problems: 2,
  temperature: 1,
  bestOfN: [1, 2],
  beamWidths: [1, 2],
  children: 2,
  primaryAlpha: 0.5,
  gridAlphas: [],
  gridWidths: [],
  seed: 0,
  resamples: 50,
};

test('pav-search on a user checkpoint (math): labels, verifier and searches run on it, and the report names it', { timeout: 120_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'prl-user-search-'));
  const cache = process.env.PRL_CACHE_DIR;
  process.env.PRL_CACHE_DIR = join(root, 'cache'); // the labels and verifier are cached there, not in the user's cache
  try {
    const user = makeUserCheckpoint(root);
    const out = join(root, 'out');
    const search = defineExperiment('pav-search', 'micro', { quick: MICRO_SEARCH, full: MICRO_SEARCH }, withUserSearchModel, runPavSearch);
    const outcome = await search.run({ quick: true, out, threads: 1, progress: quiet, userModel: { model: user.model, task: 'math', taskOptions: user.taskOptions } });
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as PavSearchResults;
    const hash = await baseModelHash(user.model);
    assert.equal(results.pav.policy, user.model);
    assert.match(results.headline, new RegExp(`^Quick run: On model ${user.model} \\(sha256 ${hash.slice(0, 12)}\\), task math`));
    assert.ok(results.pav.labels.traces > 0, 'the user model was labelled');
    assert.equal(results.curves.length >= 2, true);
    assert.ok(readFileSync(outcome.report, 'utf8').includes(`${user.model} (sha256 ${hash.slice(0, 12)})`));

    // Other weights at the same path: relabelled and searched anew, not read from the caches.
    rmSync(user.model, { recursive: true });
    makeUserCheckpoint(root, 'model', 2);
    const labelsBefore = JSON.stringify(results.pav.labels);
    await search.run({ quick: true, out, threads: 1, progress: quiet, userModel: { model: user.model, task: 'math', taskOptions: user.taskOptions } });
    const again = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as PavSearchResults;
    assert.match(again.headline, new RegExp(`sha256 ${(await baseModelHash(user.model)).slice(0, 12)}`));
    assert.notEqual(JSON.stringify(again.pav.labels), labelsBefore, 'the new weights were labelled');
  } finally {
    if (cache === undefined) delete process.env.PRL_CACHE_DIR;
    else process.env.PRL_CACHE_DIR = cache;
    rmSync(root, { recursive: true, force: true });
  }
});

test('pav-rl on a user checkpoint (math, LoRA r2): only the arith arms, on its task, from its verifier; the report names it', { timeout: 120_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'prl-user-pav-rl-'));
  const cache = process.env.PRL_CACHE_DIR;
  process.env.PRL_CACHE_DIR = join(root, 'cache');
  try {
    const user = makeUserCheckpoint(root);
    const out = join(root, 'out');
    const microRl: PavRlSettings = {
      seeds: 1,
      planted: null,
      arith: {
        pav: MICRO_SEARCH.pav,
        alphas: [1],
        rl: { steps: 2, promptsPerStep: 2, groupSize: 3, lr: 1e-3, evalEvery: 1, evalProblems: 4, evalSamples: 2, samplesPerStep: 2, threads: 1 },
        thresholds: { from: 'warm-start', values: [0.02] },
        finalEval: { problems: 4, samples: 4 },
      },
    };
    const experiment = defineExperiment('pav-rl', 'micro', { quick: microRl, full: microRl }, withUserRlModel, runPavRl);
    const outcome = await experiment.run({ quick: true, out, threads: 1, progress: quiet, userModel: { model: user.model, loraRank: 2, task: 'math', taskOptions: user.taskOptions } });
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as PavRlResults;
    const hash = await baseModelHash(user.model);
    assert.deepEqual(Object.keys(results.arms), ['arith-outcome', 'arith-pav-alpha1']);
    assert.equal(results.arms['arith-pav-alpha1'].label, 'math: PAV, Bo4 verifier (alpha 1)');
    assert.match(results.headline, new RegExp(`^On model ${user.model} \\(sha256 ${hash.slice(0, 12)}\\), task math`));
    const config = JSON.parse(readFileSync(join(out, 'runs', 'arith-pav-alpha1', 'seed-0', 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(config.task, 'math');
    assert.equal(config.model, user.model);
    assert.equal(config.loraRank, 2);
    assert.equal(config.estimator, 'pav');
    assert.ok(readFileSync(outcome.report, 'utf8').includes(`${user.model} (sha256 ${hash.slice(0, 12)})`));
  } finally {
    if (cache === undefined) delete process.env.PRL_CACHE_DIR;
    else process.env.PRL_CACHE_DIR = cache;
    rmSync(root, { recursive: true, force: true });
  }
});
