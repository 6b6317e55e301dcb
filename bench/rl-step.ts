/**
 * Wall time of an RL step on arith, and where it goes: sampling (KV-cache generation of G responses
 * per prompt), scoring (teacher-forced reference log-probs) and the update (policy forward, backward,
 * AdamW), as shares of the step (medians over steps). The model is a fresh `small` policy, so response
 * lengths are those of an untrained model; the engine's own peer comparison is `npm run bench`.
 *
 *   node dist/bench/rl-step.js [--estimator prl] [--steps 6] [--threads 2]
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createEngine } from '../src/engine/kernels/index.js';
import { LlamaModel } from '../src/engine/model.js';
import { PRESETS } from '../src/engine/config.js';
import { saveModel } from '../src/engine/io.js';
import { getTask } from '../src/tasks/index.js';
import { taskTokenizer } from '../src/tasks/codec.js';
import { resolveConfig, rlConfigSchema } from '../src/train/config.js';
import { runRl, type RlMetricsRow } from '../src/train/rl.js';
import { Rng } from '../src/util/rng.js';

const { values } = parseArgs({ options: { estimator: { type: 'string', default: 'prl' }, steps: { type: 'string', default: '6' }, threads: { type: 'string', default: '2' } } });
const steps = Number(values.steps);
const threads = Number(values.threads);

const root = mkdtempSync(join(tmpdir(), 'prl-bench-rl-'));
const modelDir = join(root, 'model');
{
  const engine = await createEngine({ threads });
  const tokenizer = taskTokenizer(getTask('arith'));
  const model = new LlamaModel({ ...PRESETS.small, vocabSize: tokenizer.vocabSize }, engine.arena, engine.kernels);
  model.initRandom(new Rng(0));
  saveModel(modelDir, model, tokenizer);
  await engine.kernels.dispose();
}
const config = resolveConfig(rlConfigSchema, { task: 'arith', model: modelDir, estimator: values.estimator, steps, evalEvery: 0, checkpointEvery: steps, threads, samplesPerStep: 0 }, 'bench');
await runRl(config, join(root, 'run'), { quiet: true });
const rows = readFileSync(join(root, 'run', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as RlMetricsRow);
const timed = rows.slice(1); // the first step pays for buffer allocation
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const stepS = median(timed.map((r) => r.time!.step_s));
const share = (key: 'sample_s' | 'score_s' | 'update_s'): string => `${((100 * median(timed.map((r) => r.time![key]))) / stepS).toFixed(0)}%`;
const tokensPerS = median(timed.map((r) => r.time!.tokens_per_s));
const responseTokens = median(timed.map((r) => r.response_tokens!));
console.log(
  JSON.stringify({
    name: 'rl-step',
    estimator: values.estimator,
    batch: `${config.promptsPerStep} prompts x ${config.groupSize}`,
    response_tokens: responseTokens,
    step_ms: +(stepS * 1000).toFixed(1),
    sample: share('sample_s'),
    score: share('score_s'),
    update: share('update_s'),
    generated_tokens_per_s: Math.round(tokensPerS),
    threads,
  }),
);
