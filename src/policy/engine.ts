/**
 * The `engine:DIR` backend: prl's own CPU engine behind the Policy interface. A model folder is loaded
 * into a fresh engine (`loadModel`); sampling is one `generate` call for all prompts x n (each
 * completion draws from its own seeded stream, see `seeds.ts`), scoring is `scoreSequences`.
 *
 * Conventions (shared with `prl serve`, which is a face of this backend):
 * - Text prompts are encoded without specials and, when the tokenizer has a BOS token, get it in
 *   front (as HF Llama tokenizers add it). Id prompts are used as given.
 * - A completion ends at an end-of-sequence id (config `eos_token_id` and the tokenizer's EOS; the id
 *   stays in `tokens`, its text does not enter `text`) or once its text contains a stop string (the
 *   tokens are kept, the text is cut before the stop string, as the interface says).
 * - `logprobs` are the model's at temperature 1 without top-k/top-p: what RL ratios and KL need,
 *   whatever distribution the token was drawn from.
 */
import { endOfSequenceIds, loadModel } from '../engine/io.js';
import type { LlamaModel } from '../engine/model.js';
import { createEngine, type Engine, type EngineOptions } from '../engine/kernels/index.js';
import { generate, scoreSequences } from '../engine/sampler.js';
import { prefixDecodeOffsets, type Tokenizer } from '../engine/tokenizer.js';
import { PrlError, PromptError, describeValue, inputError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { continuationStart } from './offsets.js';
import { formatPolicySpec } from './spec.js';
import { choiceRng, promptSeed } from './seeds.js';
import type { Completion, Policy, PolicyCapabilities, Prompt, SampleRequest, ScoreItem, ScoreRequest, ScoredContinuation } from './types.js';

/** Sampling settings shared by every completion of one `generate` call. */
export interface GenerationParams {
  temperature: number;
  topP: number;
  topK: number;
  stop: readonly string[];
}

/** One completion to generate: its prompt ids, token budget and random stream. */
export interface GenerationJob {
  prompt: number[];
  maxTokens: number;
  rng: Rng;
}

/** A completion with token ids (what the engine and `prl serve` produce). */
export interface IdCompletion extends Completion {
  tokens: number[];
}

/**
 * Runs `jobs` as ONE batched `generate` call (the longest budget for all; shorter budgets are cut
 * afterwards, which changes nothing because every job has its own random stream), then turns ids into
 * text, offsets and finish reasons.
 */
export function generateCompletions(model: LlamaModel, tokenizer: Tokenizer, jobs: readonly GenerationJob[], params: GenerationParams): IdCompletion[] {
  if (jobs.length === 0) return [];
  const maxNewTokens = Math.max(...jobs.map((j) => j.maxTokens));
  const stopTokens = new Set(endOfSequenceIds(model.config, tokenizer));
  const stopStrings = params.stop.filter((s) => s.length > 0);
  const decode = (ids: number[]): string => tokenizer.decode(ids);
  const results = generate(
    model,
    jobs.map((j) => j.prompt),
    {
      maxNewTokens,
      temperature: params.temperature,
      topP: params.topP,
      topK: params.topK,
      stopTokens: [...stopTokens],
      stopStrings,
      decode,
      rngs: jobs.map((j) => j.rng),
    },
  );
  return results.map((r, i) => {
    const budget = jobs[i].maxTokens;
    let tokens = r.tokens;
    let logprobs = r.logprobs;
    let finishReason: 'stop' | 'length' = r.finishReason;
    if (tokens.length > budget) {
      tokens = tokens.slice(0, budget);
      logprobs = logprobs.slice(0, budget);
      finishReason = 'length';
    }
    return completionFromIds(tokenizer, tokens, logprobs, finishReason, stopTokens, stopStrings);
  });
}

/**
 * Text, offsets and finish reason of sampled ids. A final end-of-sequence id gives no text; the
 * text is cut before the first stop string (a budget-cut completion may still contain one, which
 * then also ends it with 'stop').
 */
function completionFromIds(
  tokenizer: Tokenizer,
  tokens: number[],
  logprobs: number[],
  finishReason: 'stop' | 'length',
  stopTokens: ReadonlySet<number>,
  stopStrings: readonly string[],
): IdCompletion {
  const endsWithEos = tokens.length > 0 && stopTokens.has(tokens[tokens.length - 1]);
  const textIds = endsWithEos ? tokens.slice(0, -1) : tokens;
  let text = tokenizer.decode(textIds);
  const decodeIds = (ids: number[]): string => tokenizer.decode(ids);
  let offsets = prefixDecodeOffsets(text, textIds, decodeIds);
  if (endsWithEos) {
    offsets.push(text.length);
    finishReason = 'stop';
  }
  const cut = firstStop(text, stopStrings);
  if (cut >= 0) {
    text = text.slice(0, cut);
    offsets = offsets.map((o) => Math.min(o, cut));
    finishReason = 'stop';
  }
  return { text, tokens, logprobs, offsets, finishReason };
}

/** Index of the earliest occurrence of any stop string, or -1. */
function firstStop(text: string, stops: readonly string[]): number {
  let best = -1;
  for (const s of stops) {
    const at = text.indexOf(s);
    if (at >= 0 && (best < 0 || at < best)) best = at;
  }
  return best;
}

/** Prompt ids: text is encoded (BOS in front when the tokenizer has one); ids are checked. */
export function encodePrompt(tokenizer: Tokenizer, vocabSize: number, prompt: Prompt, where: string): number[] {
  let ids: number[];
  if (typeof prompt === 'string') {
    try {
      ids = tokenizer.encode(prompt).ids;
    } catch (err) {
      throw new PromptError(`${where}: ${(err as Error).message}`);
    }
    if (tokenizer.bosId !== undefined) ids.unshift(tokenizer.bosId);
  } else {
    if (!Array.isArray(prompt)) throw inputError(where, 'expected text or an array of token ids');
    ids = checkIds(prompt, vocabSize, where);
  }
  if (ids.length === 0) throw inputError(where, 'is empty (and the tokenizer has no BOS token to start from)');
  return ids;
}

export function checkIds(ids: readonly number[], vocabSize: number, where: string): number[] {
  ids.forEach((id, t) => {
    if (!(Number.isInteger(id) && id >= 0 && id < vocabSize)) throw inputError(`${where}[${t}]`, `token id ${describeValue(id)} is outside the vocabulary [0, ${vocabSize})`);
  });
  return [...ids];
}

/** Checks a SampleRequest the way every caller of the engine backend needs. */
function validateSampleRequest(r: SampleRequest): void {
  if (!Array.isArray(r.prompts)) throw new PrlError('sample: prompts must be an array');
  if (!(Number.isInteger(r.n) && r.n >= 1)) throw inputError('sample: n', `must be an integer >= 1, got ${String(r.n)}`);
  if (!(Number.isInteger(r.maxTokens) && r.maxTokens >= 1)) throw inputError('sample: maxTokens', `must be an integer >= 1, got ${String(r.maxTokens)}`);
  if (!(typeof r.temperature === 'number' && r.temperature >= 0 && Number.isFinite(r.temperature))) throw inputError('sample: temperature', `must be >= 0, got ${String(r.temperature)}`);
}

export interface EnginePolicyOptions extends EngineOptions {
  /** Name shown in messages (default `engine:DIR`). */
  name?: string;
  /** A PEFT LoRA adapter folder to load on top of the model. */
  adapter?: string;
}

/** prl's engine as a Policy. Calls run one at a time (the model has one set of buffers). */
export class EnginePolicy implements Policy {
  readonly capabilities: PolicyCapabilities = { seed: true, tokenIds: true, topK: true };
  /** Streams of unseeded requests: deterministic per process, different per call. */
  private readonly unseeded = new Rng(0x5eed);
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  /**
   * Wraps a live model. `onClose` frees what the caller wants freed with the policy (e.g. the
   * engine's worker threads when the policy owns the engine).
   */
  constructor(
    readonly name: string,
    readonly model: LlamaModel,
    readonly tokenizer: Tokenizer,
    private readonly onClose: () => Promise<void> = async () => {},
  ) {}

  get vocabSize(): number {
    return this.model.config.vocabSize;
  }

  /** Runs `work` after every earlier call has finished (the engine is not re-entrant). */
  serialised<T>(work: () => T | Promise<T>): Promise<T> {
    const run = this.queue.then(() => {
      if (this.closed) throw new PrlError(`${this.name}: policy closed`);
      return work();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  sample(request: SampleRequest): Promise<Completion[][]> {
    return this.serialised(() => {
      validateSampleRequest(request);
      const prompts = request.prompts.map((p, i) => encodePrompt(this.tokenizer, this.vocabSize, p, `sample: prompts[${i}]`));
      const positions = this.model.config.maxPositionEmbeddings;
      prompts.forEach((ids, i) => {
        if (ids.length + request.maxTokens > positions) {
          throw new PromptError(`sample: prompts[${i}]: ${ids.length} prompt tokens + max_tokens ${request.maxTokens} exceed max_position_embeddings = ${positions}`);
        }
      });
      const base = request.seed ?? this.unseeded.nextU32() >>> 1;
      const jobs: GenerationJob[] = [];
      prompts.forEach((prompt, i) => {
        const seed = promptSeed(base, i);
        for (let j = 0; j < request.n; j++) jobs.push({ prompt, maxTokens: request.maxTokens, rng: choiceRng(seed, j) });
      });
      const params: GenerationParams = { temperature: request.temperature, topP: request.topP ?? 1, topK: request.topK ?? 0, stop: request.stop ?? [] };
      const flat = generateCompletions(this.model, this.tokenizer, jobs, params);
      return prompts.map((_, i) => flat.slice(i * request.n, (i + 1) * request.n));
    });
  }

  score(request: ScoreRequest): Promise<ScoredContinuation[]> {
    return this.serialised(() => {
      if (!Array.isArray(request.items)) throw new PrlError('score: items must be an array');
      const prepared = request.items.map((item, i) => this.prepareScore(item, `score: items[${i}]`));
      const logprobs = scoreSequences(this.model, prepared.map((p) => p.sequence));
      return prepared.map((p, i) => ({
        tokens: p.tokens,
        logprobs: logprobs[i].slice(p.sequence.length - 1 - p.tokens.length),
        offsets: p.offsets,
        exactBoundary: p.exactBoundary,
      }));
    });
  }

  /** The full sequence to teacher-force and which of its tokens belong to the continuation. */
  private prepareScore(item: ScoreItem, where: string): { sequence: number[]; tokens: number[]; offsets: number[]; exactBoundary: boolean } {
    const { prompt, continuation } = item;
    if (typeof continuation === 'string' && typeof prompt === 'string') {
      // Tokenise prompt + continuation together, as the model would have seen them.
      const bos = this.tokenizer.bosId !== undefined ? [this.tokenizer.bosId] : [];
      const encoded = this.tokenizer.encode(prompt + continuation);
      const ids = [...bos, ...encoded.ids];
      if (ids.length === 0) throw inputError(`${where}.prompt`, 'is empty (and the tokenizer has no BOS token to start from)');
      const { start, exact } = continuationStart(encoded.offsets, prompt.length, prompt.length + continuation.length);
      if (bos.length + start === 0) throw inputError(`${where}.prompt`, 'is empty (and the tokenizer has no BOS token to start from)');
      return {
        sequence: ids,
        tokens: encoded.ids.slice(start),
        offsets: encoded.offsets.slice(start).map((o) => Math.max(0, o - prompt.length)),
        exactBoundary: exact,
      };
    }
    const promptIds = encodePrompt(this.tokenizer, this.vocabSize, prompt, `${where}.prompt`);
    const tokens = typeof continuation === 'string' ? this.tokenizer.encode(continuation).ids : checkIds(continuation, this.vocabSize, `${where}.continuation`);
    const text = this.tokenizer.decode(tokens);
    return { sequence: [...promptIds, ...tokens], tokens, offsets: prefixDecodeOffsets(text, tokens, (ids) => this.tokenizer.decode(ids)), exactBoundary: true };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.queue;
    this.closed = true;
    await this.onClose();
  }
}

/** Opens `engine:DIR[?adapter=ADIR]`: a fresh engine (own memory and threads) with the folder's model and tokenizer. */
export async function openEnginePolicy(dir: string, options: EnginePolicyOptions = {}): Promise<EnginePolicy> {
  const engine: Engine = await createEngine(options);
  try {
    const { model, tokenizer } = loadModel(dir, engine, { trainable: false, adapter: options.adapter });
    return new EnginePolicy(options.name ?? formatPolicySpec({ kind: 'engine', dir, adapter: options.adapter }), model, tokenizer, () => engine.kernels.dispose());
  } catch (err) {
    await engine.kernels.dispose();
    throw err;
  }
}
