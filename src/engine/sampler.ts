/**
 * Batched generation with a KV cache, and teacher-forced scoring.
 *
 * Generation: each prompt is prefilled into its own cache slot (prompts may differ in length), then all
 * sequences decode in lockstep, one token per step, each at its own position. Per sampled token we
 * return two log-probs:
 * - `logprobs`: log p(token | prefix) under the model's UNMODIFIED distribution (temperature 1, no top-k/p).
 *   This is the policy probability that RL objectives (importance ratios, KL) need.
 * - `samplingLogprobs`: log q(token | prefix) under the distribution actually sampled from (after
 *   temperature, top-k, top-p); 0 for greedy decoding. Equal to `logprobs` when temperature = 1 and no
 *   filtering is used.
 * Same inputs + same Rng state = same outputs, on any kernel thread count (kernels are bit-identical
 * across thread counts, and random draws happen here in a fixed order: step by step, sequence by sequence).
 * The per-token arithmetic (softmax, temperature, top-k / top-p, the draw) is ./sampling-rows.ts.
 */
import { inputError } from '../util/errors.js';
import type { Rng } from '../util/rng.js';
import { PREFILL_CHUNK, type LlamaModel } from './model.js';
import type { Draw, SamplingRows } from './sampling-rows.js';

export interface SampleOptions {
  maxNewTokens: number;
  /** 0 = greedy (argmax). Default 1. */
  temperature?: number;
  /** Nucleus sampling: keep the smallest set of most likely tokens whose mass reaches topP. Default 1 (off). */
  topP?: number;
  /** Keep only the topK most likely tokens. Default 0 (off). */
  topK?: number;
  /** Generation of a sequence stops after it samples one of these ids (the id is kept in the output). */
  stopTokens?: number[];
  /** Generation stops once the decoded completion contains one of these strings (the tokens are kept). */
  stopStrings?: string[];
  /** Turns completion ids into text; required with stopStrings, so the sampler needs no tokenizer. */
  decode?: (ids: number[]) => string;
  /** One stream for all draws (in order: step, then sequence). */
  rng?: Rng;
  /**
   * One stream per prompt instead of `rng`: a sequence's samples then do not depend on which other
   * sequences share the batch (a server can batch requests of different clients and keep their seeds).
   */
  rngs?: Rng[];
}

export interface SampleResult {
  /** The completion, without the prompt. */
  tokens: number[];
  /** log p(token) under the model at temperature 1 without filtering (for RL). */
  logprobs: number[];
  /** log q(token) under the sampling distribution actually used (0 for greedy). */
  samplingLogprobs: number[];
  finishReason: 'stop' | 'length';
}

/** Generates completions for `prompts` (token ids) with the model's KV cache; see the module comment. */
export function generate(model: LlamaModel, prompts: number[][], options: SampleOptions): SampleResult[] {
  const V = model.config.vocabSize;
  const temperature = options.temperature ?? 1;
  const topP = options.topP ?? 1;
  const topK = options.topK ?? 0;
  const maxNew = options.maxNewTokens;
  validateSampling(prompts, V, temperature, topP, topK, maxNew, options);
  const B = prompts.length;
  const rngOf = sequenceRngs(options, B);
  const results: SampleResult[] = prompts.map(() => ({ tokens: [], logprobs: [], samplingLogprobs: [], finishReason: 'length' }));
  if (B === 0 || maxNew === 0) return results;

  // The last sampled token is never fed back, so positions 0 .. len + maxNew - 2 are cached.
  const maxLen = Math.max(...prompts.map((p) => p.length));
  model.prepareInference(B, maxLen + maxNew - 1);
  const stopTokens = new Set(options.stopTokens ?? []);
  const stopStrings = options.stopStrings ?? [];

  // Prefill: each prompt into its slot, in chunks; keep the logits of its last token.
  const rows = model.samplingRows();
  const nextLogits = rows.buffers.logits; // (B, V) in engine memory, for the sampling kernels
  const chunkTokens = new Int32Array(PREFILL_CHUNK);
  const chunkPos = new Int32Array(1);
  for (let b = 0; b < B; b++) {
    const prompt = prompts[b];
    for (let start = 0; start < prompt.length; start += PREFILL_CHUNK) {
      const len = Math.min(PREFILL_CHUNK, prompt.length - start);
      for (let t = 0; t < len; t++) chunkTokens[t] = prompt[start + t];
      chunkPos[0] = start;
      const logits = model.forwardCached(chunkTokens, 1, len, chunkPos, b);
      if (start + len === prompt.length) nextLogits.set(logits, b * V);
    }
  }

  const budgets = new Int32Array(B).fill(maxNew);
  const starts = Int32Array.from(prompts, (p) => p.length);
  decodeLockstep(model, rows, nextLogits, results, budgets, starts, { temperature, topK, topP, stopTokens, stopStrings, decode: options.decode, rngOf });
  return results;
}

interface DecodeSettings {
  temperature: number;
  topK: number;
  topP: number;
  stopTokens: Set<number>;
  stopStrings: string[];
  decode?: (ids: number[]) => string;
  rngOf: (b: number) => Rng;
}

/**
 * Decodes every sequence in lockstep from its prefilled cache slot b, starting with `logits` (B, V) in
 * engine memory: sequence b has budget budgets[b] and its first new token sits at position starts[b].
 * Finished sequences keep running (cheaper than moving caches) but are ignored.
 */
function decodeLockstep(model: LlamaModel, rows: SamplingRows, logits: Float32Array, results: SampleResult[], budgets: Int32Array, starts: Int32Array, d: DecodeSettings): void {
  const B = results.length;
  const maxNew = Math.max(0, ...budgets);
  const drawn: Draw = { token: 0, logprob: 0, samplingLogprob: 0 };
  const active = Uint8Array.from(budgets, (m) => (m > 0 ? 1 : 0));
  let activeCount = active.reduce((s, x) => s + x, 0);
  const stepTokens = new Int32Array(B);
  const stepPos = new Int32Array(B);
  for (let step = 0; step < maxNew && activeCount > 0; step++) {
    rows.weigh(logits, B, d.temperature); // every row's exp passes, in kernels
    for (let b = 0; b < B; b++) {
      if (!active[b]) continue;
      rows.draw(b, d, d.rngOf(b), drawn);
      const r = results[b];
      r.tokens.push(drawn.token);
      r.logprobs.push(drawn.logprob);
      r.samplingLogprobs.push(drawn.samplingLogprob);
      if (d.stopTokens.has(drawn.token) || (d.stopStrings.length > 0 && containsAny(d.decode!(r.tokens), d.stopStrings))) {
        r.finishReason = 'stop';
        active[b] = 0;
        activeCount--;
      } else if (r.tokens.length >= budgets[b]) {
        active[b] = 0;
        activeCount--;
      }
      stepTokens[b] = drawn.token;
    }
    if (activeCount === 0 || step === maxNew - 1) break;
    for (let b = 0; b < B; b++) stepPos[b] = starts[b] + step;
    logits = model.forwardCached(stepTokens, B, 1, stepPos, 0); // a view into engine memory
  }
}

/** The stream sequence b draws from: its own (`rngs`) or the shared one (`rng`). */
function sequenceRngs(options: SampleOptions, B: number): (b: number) => Rng {
  const { rng, rngs } = options;
  if (rngs !== undefined) {
    if (rngs.length !== B) throw inputError('sampling: rngs', `needs one Rng per prompt (${B}), got ${rngs.length}`);
    return (b) => rngs[b];
  }
  if (rng === undefined) throw inputError('sampling', 'needs rng or rngs');
  return () => rng;
}

function containsAny(text: string, needles: string[]): boolean {
  for (const needle of needles) if (text.includes(needle)) return true;
  return false;
}

function validateSampling(prompts: number[][], V: number, temperature: number, topP: number, topK: number, maxNew: number, options: SampleOptions): void {
  if (!(Number.isInteger(maxNew) && maxNew >= 0)) throw inputError('sampling: maxNewTokens', `must be a non-negative integer, got ${maxNew}`);
  if (!(temperature >= 0 && Number.isFinite(temperature))) throw inputError('sampling: temperature', `must be >= 0, got ${temperature}`);
  if (!(topP > 0 && topP <= 1)) throw inputError('sampling: topP', `must be in (0, 1], got ${topP}`);
  if (!(Number.isInteger(topK) && topK >= 0)) throw inputError('sampling: topK', `must be a non-negative integer, got ${topK}`);
  if ((options.stopStrings?.length ?? 0) > 0 && !options.decode) throw inputError('sampling: stopStrings', 'need a decode function');
  prompts.forEach((prompt, b) => {
    if (prompt.length === 0) throw inputError(`prompts[${b}]`, 'is empty; a prompt needs at least one token (e.g. BOS)');
    checkIds(prompt, V, `prompts[${b}]`);
  });
}

function checkIds(ids: number[], V: number, where: string): void {
  for (let t = 0; t < ids.length; t++) {
    if (!(Number.isInteger(ids[t]) && ids[t] >= 0 && ids[t] < V)) throw inputError(`${where}[${t}]`, `token id ${ids[t]} is outside the vocabulary [0, ${V})`);
  }
}

export interface ScoreOptions {
  /** Sequences per forward pass (default 8); sequences are grouped by length to limit padding. */
  batchSize?: number;
}

export interface ScoredSequences {
  /** Per sequence, log p(tok[t+1] | tok[0..t]) for t = 0 .. len-2. */
  logprobs: number[][];
  /** Per sequence, the entropy (nats) of the next-token distribution at t = 0 .. len-2. */
  entropies: number[][];
}

/**
 * Teacher-forced scoring: per sequence, log p(tok[t+1] | tok[0..t]) for t = 0 .. len-2. Sequences of
 * different lengths share a batch (padded, padding has target -1); rows do not interact, so the numbers
 * do not depend on how sequences are batched. Uses the model's training buffers (do not call between a
 * forward and its backward).
 */
export function scoreSequences(model: LlamaModel, sequences: number[][], options: ScoreOptions = {}): number[][] {
  return scoreWith(model, sequences, options, false).logprobs;
}

/** `scoreSequences` plus the per-position entropy of the model's distribution (RL metrics). */
export function scoreSequencesWithEntropy(model: LlamaModel, sequences: number[][], options: ScoreOptions = {}): ScoredSequences {
  return scoreWith(model, sequences, options, true);
}

function scoreWith(model: LlamaModel, sequences: number[][], options: ScoreOptions, withEntropy: boolean): ScoredSequences {
  const batchSize = options.batchSize ?? 8;
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw inputError('scoring: batchSize', `must be a positive integer, got ${batchSize}`);
  sequences.forEach((seq, i) => checkIds(seq, model.config.vocabSize, `sequences[${i}]`));
  const logprobs: number[][] = sequences.map(() => []);
  const entropies: number[][] = sequences.map(() => []);
  const byLength = sequences.map((_, i) => i).filter((i) => sequences[i].length >= 2);
  byLength.sort((a, b) => sequences[a].length - sequences[b].length || a - b);
  for (let start = 0; start < byLength.length; start += batchSize) {
    const batch = byLength.slice(start, start + batchSize);
    const T = sequences[batch[batch.length - 1]].length - 1; // inputs are tok[0..len-2]
    const B = batch.length;
    const tokens = new Int32Array(B * T);
    const targets = new Int32Array(B * T).fill(-1);
    batch.forEach((i, b) => {
      const seq = sequences[i];
      for (let t = 0; t < seq.length - 1; t++) {
        tokens[b * T + t] = seq[t];
        targets[b * T + t] = seq[t + 1];
      }
    });
    const logp = model.forward(tokens, targets, B, T);
    const entropy = withEntropy ? model.entropy() : null;
    batch.forEach((i, b) => {
      const n = sequences[i].length - 1;
      logprobs[i] = Array.from(logp.subarray(b * T, b * T + n));
      if (entropy) entropies[i] = Array.from(entropy.subarray(b * T, b * T + n));
    });
  }
  return { logprobs, entropies };
}

export interface PrefixSampleOptions extends SampleOptions {
  /** Per-prefix token budgets (default: `maxNewTokens` for all); a sequence stops with 'length' at its own. */
  maxNewTokensEach?: readonly number[];
  /** Cache slots per batch (default 256); prefixes are processed in groups of floor(maxSlots / n). */
  maxSlots?: number;
}

/**
 * `n` continuations of each prefix, sharing one prefill per prefix: the prefix is run once into the
 * first of its n cache slots, whose keys and values are then copied into the other n - 1 (Monte Carlo
 * rollouts from a step boundary, beam expansions). Within one group of prefixes the draws, tokens and
 * log-probs equal `generate` on the prompts repeated n times (prefix 0 n times, then prefix 1, ...),
 * since rows never interact and copied caches hold the same numbers a prefill would write.
 */
export function generateFromPrefixes(model: LlamaModel, prefixes: number[][], n: number, options: PrefixSampleOptions): SampleResult[][] {
  const V = model.config.vocabSize;
  const temperature = options.temperature ?? 1;
  const topP = options.topP ?? 1;
  const topK = options.topK ?? 0;
  if (!(Number.isInteger(n) && n >= 1)) throw inputError('sampling: n', `must be a positive integer, got ${n}`);
  const budgets = options.maxNewTokensEach ?? prefixes.map(() => options.maxNewTokens);
  if (budgets.length !== prefixes.length) throw inputError('sampling: maxNewTokensEach', `has ${budgets.length} budgets for ${prefixes.length} prefixes`);
  budgets.forEach((m, i) => validateSampling([prefixes[i]], V, temperature, topP, topK, m, options));
  const maxSlots = options.maxSlots ?? 256;
  const perGroup = Math.max(1, Math.floor(maxSlots / n));
  const out: SampleResult[][] = [];
  for (let start = 0; start < prefixes.length; start += perGroup) {
    const group = prefixes.slice(start, start + perGroup);
    const results = sharedPrefixGroup(model, group, budgets.slice(start, start + perGroup), n, temperature, topK, topP, options);
    for (let p = 0; p < group.length; p++) out.push(results.slice(p * n, (p + 1) * n));
  }
  return out;
}

function sharedPrefixGroup(model: LlamaModel, prefixes: number[][], budgets: readonly number[], n: number, temperature: number, topK: number, topP: number, options: SampleOptions): SampleResult[] {
  const V = model.config.vocabSize;
  const B = prefixes.length * n;
  const results: SampleResult[] = Array.from({ length: B }, () => ({ tokens: [], logprobs: [], samplingLogprobs: [], finishReason: 'length' }));
  const maxNew = Math.max(0, ...budgets);
  if (B === 0 || maxNew === 0) return results;
  const maxLen = Math.max(...prefixes.map((p) => p.length));
  model.prepareInference(B, maxLen + maxNew - 1);
  const stopTokens = new Set(options.stopTokens ?? []);
  const stopStrings = options.stopStrings ?? [];

  const rngOf = sequenceRngs(options, B);
  const rows = model.samplingRows();
  const nextLogits = rows.buffers.logits; // (B, V) in engine memory, for the sampling kernels
  const chunkTokens = new Int32Array(PREFILL_CHUNK);
  const chunkPos = new Int32Array(1);
  prefixes.forEach((prefix, p) => {
    const slot = p * n;
    for (let start = 0; start < prefix.length; start += PREFILL_CHUNK) {
      const len = Math.min(PREFILL_CHUNK, prefix.length - start);
      for (let t = 0; t < len; t++) chunkTokens[t] = prefix[start + t];
      chunkPos[0] = start;
      const logits = model.forwardCached(chunkTokens, 1, len, chunkPos, slot);
      if (start + len === prefix.length) for (let j = 0; j < n; j++) nextLogits.set(logits, (slot + j) * V);
    }
    model.copyCacheSlot(slot, Array.from({ length: n - 1 }, (_, j) => slot + 1 + j), prefix.length);
  });

  const perSequence = (values: readonly number[]): Int32Array => Int32Array.from({ length: B }, (_, b) => values[Math.floor(b / n)]);
  decodeLockstep(model, rows, nextLogits, results, perSequence(budgets), perSequence(prefixes.map((p) => p.length)), {
    temperature,
    topK,
    topP,
    stopTokens,
    stopStrings,
    decode: options.decode,
    rngOf,
  });
  return results;
}
