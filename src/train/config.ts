/**
 * Trainer configuration: one typed object per trainer, every option with its default, a doc line and
 * the paper it comes from (cleanRL / TRL style). A run is configured by a JSON or YAML file
 * (`--config run.json`), by flags, or both: flags override the file, and the resolved config is saved
 * in the run folder. Invalid values are refused naming the field: `steps: expected a positive integer,
 * got "many"`.
 */
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import { ESTIMATOR_NAMES, parseStepSplit, type EstimatorName } from '../algos/index.js';
import { describeValue, inputError, PrlError } from '../util/errors.js';
import { readTextFile } from '../util/fs.js';

const positiveInt = () => z.number({ error: 'expected a positive integer' }).int({ error: 'expected a positive integer' }).positive({ error: 'expected a positive integer' });
const nonNegativeInt = () => z.number({ error: 'expected a non-negative integer' }).int({ error: 'expected a non-negative integer' }).nonnegative({ error: 'expected a non-negative integer' });
const positive = () => z.number({ error: 'expected a positive number' }).positive({ error: 'expected a positive number' });
const nonNegative = () => z.number({ error: 'expected a number >= 0' }).nonnegative({ error: 'expected a number >= 0' });
const probability = () => z.number({ error: 'expected a number in (0, 1]' }).gt(0, { error: 'expected a number in (0, 1]' }).lte(1, { error: 'expected a number in (0, 1]' });
const oneOf = <T extends string>(values: readonly [T, ...T[]]) => z.enum(values, { error: `expected one of ${values.join(', ')}` });
const stepSplitSpec = () =>
  z.string({ error: 'expected a step split' }).refine(
    (s) => {
      if (s === 'task') return true;
      try {
        parseStepSplit(s);
        return true;
      } catch {
        return false;
      }
    },
    { error: 'expected "task", length:L, text:DELIM or tokens:ID,ID' },
  );

/** Options of the optimiser and the update, shared by `prl sft` and `prl rl`. */
const optimisation = {
  lr: positive().default(1e-4).describe('Peak learning rate of AdamW.'),
  lrSchedule: oneOf(['constant', 'cosine']).default('constant').describe('`constant`, or `cosine` (linear warmup then cosine decay to 10%), as in TRL/verl.'),
  warmupSteps: nonNegativeInt().default(0).describe('Warmup steps of the cosine schedule.'),
  weightDecay: nonNegative().default(0).describe('AdamW\'s decoupled weight decay (Loshchilov & Hutter), on matrices only.'),
  maxGradNorm: positive().default(1.0).describe('Global gradient-norm clip (verl\'s default 1.0).'),
};

/** LoRA (Hu et al. 2021; PEFT's defaults): rank 0 trains every weight, rank r > 0 an adapter on a frozen base. */
const lora = {
  loraRank: nonNegativeInt().default(0).describe('LoRA rank r; 0 = full fine-tuning. With r > 0 the base is frozen and only the adapter trains (the reference is the base itself).'),
  loraAlpha: positive().optional().describe('LoRA alpha; the update is scaled by alpha / r (default alpha = 2r, PEFT-style).'),
  loraTargets: z.string({ error: 'expected a comma-separated list of modules' }).default('q,k,v,o,gate,up,down').describe('Modules that get an adapter: any of q, k, v, o, gate, up, down.'),
  rslora: z.boolean({ error: 'expected true or false' }).default(false).describe('rsLoRA (Kalajdzievski 2023): scale alpha / sqrt(r) instead of alpha / r.'),
};

/** Options that never change a run's numbers, so a resumed run may change them. */
export const RESULT_NEUTRAL_OPTIONS: readonly string[] = ['threads', 'recompute', 'requestTimeout', 'serverWait', 'apiKeyEnv', 'syncDir'];

/** Options of a run folder, shared by both trainers. */
const runFolder = {
  seed: nonNegativeInt().default(0).describe('Seed of everything random in the run: same seed, same numbers, on any thread count.'),
  checkpointEvery: positiveInt().default(10).describe('Write a checkpoint every N steps (and at the end).'),
  keepCheckpoints: positiveInt().default(2).describe('Checkpoints kept on disk (oldest removed first).'),
  threads: positiveInt().optional().describe('Kernel worker threads (default: env PRL_THREADS, else the core count). Results do not depend on it.'),
  provider: oneOf(['wasm', 'native']).optional().describe('Kernel provider (default wasm): `native` runs matmuls on onnxruntime-node\'s MLAS (about 3x faster), falling back to wasm with one line when it cannot load. Results differ between providers in the last bits.'),
  // Memory of the trained model.
  recompute: z.boolean({ error: 'expected true or false' }).default(false).describe('Per-layer activation checkpointing: backward recomputes each layer from its input, keeping one layer of activations instead of all (less memory, about a quarter more step time; gradients identical).'),
};

/** Where `prl rl` samples its rollouts (issue 17, docs/rollouts.md). */
const rollouts = {
  rollout: z.string({ error: 'expected a rollout engine' }).default('engine').describe('Rollout engine: `engine` (prl\'s own, in-process), `llamacpp[:quant=f32|f16|q8_0,gpu=auto|off,reload=K,threads=N]`, or `openai:URL[,URL...]` (vLLM, SGLang or `prl serve --enable-lora` servers; docs/rollouts.md).'),
  syncDir: z.string({ error: 'expected a folder' }).optional().describe('Folder the trainer writes each weight version to and the servers read (a shared path); default OUT/sync.'),
  serverKind: oneOf(['auto', 'vllm', 'sglang']).default('auto').describe('How `openai:` servers load adapters: vLLM\'s /v1/load_lora_adapter, SGLang\'s /load_lora_adapter, or `auto` (probe).'),
  tisCap: nonNegative().default(2).describe('Truncated importance sampling cap C: per-token weight min(pi_old/mu, C) on the policy gradient, mu the engine\'s sampling prob; 0 = off (Yao et al. 2025 "Your efficient RL framework secretly brings you off-policy RL training"; verl\'s rollout correction).'),
  asyncSteps: nonNegativeInt().default(0).describe('Generate up to K steps ahead while the current step trains (K = 0: synchronous); staleness <= K, corrected by the PPO ratio and TIS (decoupled PPO, Hilton et al. 2021; AReaL).'),
  requestTimeout: positive().default(300).describe('Seconds before a rollout request to a server is abandoned and retried on another.'),
  serverWait: positive().default(600).describe('Seconds every server may be down before the run stops (after its last checkpoint; continue with --resume).'),
  apiKeyEnv: z.string({ error: 'expected an environment variable name' }).default('OPENAI_API_KEY').describe('Environment variable holding the servers\' API key (never written to the run folder); `--api-key` overrides it.'),
};

export const rlConfigSchema = z.object({
  task: oneOf(['arith', 'planted', 'math']).default('arith').describe('Task to train on: `arith` (synthetic multi-step arithmetic), `planted` (PAV\'s didactic task), `math` (JSONL).'),
  taskOptions: z.record(z.string(), z.unknown()).default({}).describe('Task knobs, passed to the task (e.g. {"operations": 3} for arith, {"evalData": "..."} for math).'),
  model: z.string().optional().describe('Model folder to start from; default: the task\'s built-in warm start (trained on first use, cached).'),
  reference: z.string().optional().describe('Frozen reference for the KL terms (SPEC: the policy at the start of RL); default: the starting model.'),
  estimator: oneOf<EstimatorName>(ESTIMATOR_NAMES).default('grpo').describe(`Advantage estimator: ${ESTIMATOR_NAMES.join(', ')} (src/algos/estimators.ts; \`prl rl --help\` says what each does).`),
  steps: positiveInt().default(50).describe('RL steps (one rollout batch and one update each).'),
  promptsPerStep: positiveInt().default(8).describe('Prompts per step.'),
  groupSize: positiveInt().default(5).describe('Responses per prompt, G (PRL authors: 5).'),
  temperature: positive().default(1.0).describe('Sampling temperature of rollouts (PRL v2: 1.0).'),
  topP: probability().default(1.0).describe('Nucleus sampling of rollouts (1 = off).'),
  maxNewTokens: positiveInt().optional().describe('Tokens per response; default: the task\'s budget.'),
  chatTemplate: oneOf(['auto', 'none']).default('auto').describe('Text prompts of a model folder with a chat_template in tokenizer_config.json: `auto` renders each as the user turn (as an instruct model was trained), `none` feeds the raw prompt.'),
  std: oneOf(['unbiased', 'population', 'none']).default('unbiased').describe('Group-advantage normalisation: torch.std\'s unbiased std (GRPO), population std (FRPO paper), none (Dr. GRPO).'),
  eta: positive().default(100).describe('PRL: eta of the KL-regularised objective, beta = 1/eta (authors: 1, 100, 200).'),
  stepSplit: stepSplitSpec().default('task').describe('PRL: where steps end: `task` (the task\'s own delimiter or step length), length:L, text:DELIM, tokens:IDS.'),
  beta: nonNegative().default(0.01).describe('FRPO: future-KL coefficient beta (v2 paper: 0.01).'),
  kl: oneOf(['k1', 'k3']).default('k1').describe('FRPO: per-token KL estimator k1 or k3.'),
  alpha: nonNegative().default(1).describe('PAV: weight of the prover\'s progress A^mu in the effective reward Q^pi + alpha A^mu (paper: RL 5.0 for 2B, 3.0 for 9B; didactic 1.0).'),
  prover: z.string().optional().describe('PAV: the prover mu: `oracle:gamma=G` (exact, planted; paper: gamma = 10) or a verifier folder from `prl verifier train`.'),
  clipRatio: positive().default(0.2).describe('PPO clip range epsilon (SPEC: 0.2).'),
  dualClip: positive().default(3).describe('Dual-clip constant c for negative advantages (SPEC: 3).'),
  lossAggregation: oneOf(['token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum']).default('token-mean').describe('Loss aggregation: token-mean (verl default), seq-mean-token-mean, seq-mean-token-sum.'),
  klCoef: nonNegative().default(0).describe('Coefficient of the KL loss to the reference (SPEC default 0).'),
  klLoss: oneOf(['k1', 'k3']).default('k3').describe('KL loss estimator: k1, or k3 ("low_var_kl", clamped to [-10, 10]).'),
  ppoEpochs: positiveInt().default(1).describe('Passes over each rollout batch (SPEC: 1).'),
  miniBatches: positiveInt().default(1).describe('Mini-batches per pass (SPEC: 1).'),
  ...optimisation,
  lr: positive().default(2e-5).describe('Peak learning rate of AdamW (RL moves a warm-started policy gently).'),
  evalEvery: nonNegativeInt().default(10).describe('Evaluate on the held-out split every N steps (and before the first and after the last step); 0 = never.'),
  evalProblems: positiveInt().default(64).describe('Held-out problems per evaluation (the first N of the eval split).'),
  evalSamples: positiveInt().default(4).describe('Samples per held-out problem, n of avg@n and pass@k.'),
  evalTemperature: positive().default(1.0).describe('Sampling temperature of evaluations (the papers: 1.0).'),
  ...rollouts,
  samplesPerStep: nonNegativeInt().default(2).describe('Traces written to samples.jsonl per step, with their per-token rewards and advantages.'),
  ...lora,
  ...runFolder,
});
export type RlConfig = z.infer<typeof rlConfigSchema>;

export const sftConfigSchema = z.object({
  task: oneOf(['arith', 'planted', 'math']).default('arith').describe('Task whose supervised corpus to train on.'),
  taskOptions: z.record(z.string(), z.unknown()).default({}).describe('Task knobs, passed to the task.'),
  model: z.string().optional().describe('Model folder to start from; default: a fresh model of `preset` with the task\'s tokenizer.'),
  preset: oneOf(['tiny', 'small', 'bench']).default('small').describe('Architecture of a fresh model (`tiny`, `small`, `bench`).'),
  examples: positiveInt().default(20000).describe('Supervised examples drawn from the task\'s corpus.'),
  steps: positiveInt().default(600).describe('Optimiser steps.'),
  batchSize: positiveInt().default(32).describe('Sequences per step.'),
  ...optimisation,
  lr: positive().default(3e-3).describe('Peak learning rate of AdamW.'),
  lrSchedule: oneOf(['constant', 'cosine']).default('cosine').describe('`constant`, or `cosine` (linear warmup then cosine decay to 10%).'),
  warmupSteps: nonNegativeInt().default(20).describe('Warmup steps of the cosine schedule.'),
  ...lora,
  ...runFolder,
  checkpointEvery: positiveInt().default(200).describe('Save the model every N steps (and at the end).'),
});
export type SftConfig = z.infer<typeof sftConfigSchema>;

/** Reads a JSON or YAML config file into a plain object (validation comes later, with flags merged). */
export function readConfigFile(path: string): Record<string, unknown> {
  const text = readTextFile(path);
  const yaml = path.endsWith('.yaml') || path.endsWith('.yml');
  if (yaml && flowNesting(text) > MAX_YAML_NESTING) throw inputError(path, `brackets nested more than ${MAX_YAML_NESTING} deep`);
  let value: unknown;
  try {
    value = yaml ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw inputError(path, `not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'} (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw inputError(path, 'expected an object of options');
  return value as Record<string, unknown>;
}

/**
 * The yaml parser slows down with the nesting of flow collections and, at 10000 levels, aborts the
 * process (out of memory in V8's RegExp compiler), which no try/catch survives. No config nests
 * more than a few levels, so deeper text is refused before it reaches the parser.
 */
const MAX_YAML_NESTING = 64;

/** The deepest `[`/`{` nesting in `text`, counting brackets inside quotes too (erring towards refusal). */
function flowNesting(text: string): number {
  let depth = 0;
  let deepest = 0;
  for (const ch of text) {
    if (ch === '[' || ch === '{') deepest = Math.max(deepest, ++depth);
    else if ((ch === ']' || ch === '}') && depth > 0) depth--;
  }
  return deepest;
}

/**
 * Validates `raw` against `schema`; the first problem becomes an error naming the field (and the file
 * when the value came from one). Unknown fields are refused, since a typo would otherwise be ignored.
 */
export function resolveConfig<S extends z.ZodObject>(schema: S, raw: Record<string, unknown>, source: string): z.infer<S> {
  const known = new Set(Object.keys(schema.shape));
  for (const key of Object.keys(raw)) {
    if (!known.has(key)) throw inputError(`${source}: ${key}`, `unknown option (known: ${[...known].join(', ')})`);
  }
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue.path.join('.');
  const value = issue.path.reduce<unknown>((v, k) => (v as Record<PropertyKey, unknown> | undefined)?.[k as PropertyKey], raw);
  throw new PrlError(`${source}: ${path}: ${issue.message}, got ${describeValue(value)}`);
}

/** A flag's text as the JSON value it stands for: numbers and booleans parsed, anything else kept as text. */
export function flagValue(text: string): unknown {
  if (/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(text)) return Number(text);
  if (text === 'true' || text === 'false') return text === 'true';
  return text;
}
