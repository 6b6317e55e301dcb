/**
 * What the reproductions share about the `prl rl` run folders they train: reading a run's JSONL rows, and the
 * held-out evaluation of its final checkpoint, seeded by the training seed alone so that every method or arm
 * of one seed is evaluated on the same samples' randomness.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createEngine } from '../engine/kernels/index.js';
import { endOfSequenceIds, loadModel } from '../engine/io.js';
import type { LlamaModel } from '../engine/model.js';
import type { Tokenizer } from '../engine/tokenizer.js';
import { chatRenderer } from '../tasks/chat.js';
import { getTask } from '../tasks/index.js';
import { createCodec, type TaskCodec } from '../tasks/codec.js';
import { evaluatePolicy, evaluationSeed } from '../train/evaluate.js';
import { RESULT_NEUTRAL_OPTIONS, type RlConfig } from '../train/config.js';
import { readJsonFile, readJsonl } from '../util/fs.js';

/** The pseudo-step of the final evaluation's seed: past any real step, the same for every arm. */
export const FINAL_EVAL_STEP = 1_000_000;

export interface FinalEvaluation {
  metrics: Record<string, unknown>;
  /** Correct samples per problem, out of `n`. */
  correct: number[];
  n: number;
}

/** What a run's final checkpoint holds: a model folder, or (LoRA runs) the start model and the checkpoint's adapter. */
export interface RunWeights {
  model: string;
  adapter?: string;
}

/** The weights of a finished run's checkpoint folder: its `adapter/` on `startModel` when it trained one. */
export function checkpointWeights(checkpointDir: string, startModel: string): RunWeights {
  const adapter = join(checkpointDir, 'adapter');
  return existsSync(adapter) ? { model: startModel, adapter } : { model: checkpointDir };
}

/**
 * The task seen through a model folder's tokenizer as `prl rl` sees it: text prompts rendered with its chat
 * template when it has one, and a response ended by any of its end ids (generation_config.json may list several).
 */
export function modelCodec(task: string, taskOptions: Record<string, unknown>, model: LlamaModel, tokenizer: Tokenizer): TaskCodec {
  const specials = {
    bosToken: tokenizer.bosId === undefined ? undefined : tokenizer.tokenText(tokenizer.bosId),
    eosToken: tokenizer.eosId === undefined ? undefined : tokenizer.tokenText(tokenizer.eosId),
  };
  return createCodec(getTask(task, taskOptions), tokenizer, {
    chatPrompt: tokenizer.chatTemplate === undefined ? undefined : chatRenderer(tokenizer.chatTemplate, specials),
    endIds: endOfSequenceIds(model.config, tokenizer),
  });
}

/** n samples at temperature 1 on each of the first `problems` held-out problems of `task`, from `weights`. */
export async function finalEvaluation(
  weights: string | RunWeights,
  task: string,
  taskOptions: Record<string, unknown>,
  finalEval: { problems: number; samples: number },
  seed: number,
  threads?: number,
): Promise<FinalEvaluation> {
  const engine = await createEngine({ threads });
  try {
    const { model: dir, adapter } = typeof weights === 'string' ? { model: weights, adapter: undefined } : weights;
    const { model, tokenizer } = loadModel(dir, engine, { trainable: false, adapter });
    const codec = modelCodec(task, taskOptions, model, tokenizer);
    const problems = codec.problems('eval').slice(0, finalEval.problems);
    const { metrics, problems: samples } = evaluatePolicy(model, codec, problems, {
      samples: finalEval.samples,
      temperature: 1,
      maxNewTokens: codec.maxNewTokens,
      seed: evaluationSeed(seed, FINAL_EVAL_STEP),
    });
    return { metrics: metrics as unknown as Record<string, unknown>, correct: samples.map((p) => p.correct.filter(Boolean).length), n: finalEval.samples };
  } finally {
    await engine.kernels.dispose();
  }
}

/** The rows of a run's JSONL file (metrics.jsonl, samples.jsonl); none when the run has not written it yet. */
export function readRunRows<T = Record<string, unknown>>(path: string): T[] {
  return existsSync(path) ? readJsonl(path).map((r) => r.value as T) : [];
}

/** A JSON file beside a cached run and the value one of its fields must hold for the run to be reused. */
export interface RunRecord {
  path: string;
  field: string;
  value: unknown;
}

/**
 * Whether the finished run in `dir` was made by `config` (options that change no number aside) and
 * every record holds its value: a cached run is reused only then, so a rerun with other settings trains anew.
 */
export function isSameRun(dir: string, config: RlConfig, records: readonly RunRecord[] = []): boolean {
  if (!existsSync(join(dir, 'summary.json')) || !existsSync(join(dir, 'config.json'))) return false;
  for (const { path, field, value } of records) {
    if (!existsSync(path) || JSON.stringify((readJsonFile(path) as Record<string, unknown>)[field]) !== JSON.stringify(value)) return false;
  }
  const comparable = (c: Record<string, unknown>): string => JSON.stringify(Object.fromEntries(Object.entries(c).filter(([k]) => !RESULT_NEUTRAL_OPTIONS.includes(k))));
  return comparable(readJsonFile(join(dir, 'config.json')) as Record<string, unknown>) === comparable(config);
}
