/**
 * A policy backed by llama.cpp through node-llama-cpp (an optional dependency, imported only when this
 * backend is used). It serves a GGUF file, e.g. one written by `prl export-gguf`.
 *
 * llama.cpp only evaluates tokens and returns next-token probabilities (`controlledEvaluate`);
 * sampling is done here in JS with prl's seeded `Rng`, so that a seed gives the same samples every time,
 * top-k / top-p mean exactly what they mean in the engine, and every sampled token comes with its exact
 * log-prob. Prefixes already in the KV cache are reused (n samples of one prompt evaluate it once).
 */
import type { ControlledEvaluateInputItem, LlamaContext, LlamaContextSequence, LlamaModel, Llama, Token } from 'node-llama-cpp';
import { PrlError, PromptError, inputError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { llamaCppVocabProblem } from '../engine/gguf-export.js';
import { prefixDecodeOffsets } from '../engine/tokenizer.js';
import { continuationStart } from './offsets.js';
import type { Completion, Policy, PolicyCapabilities, Prompt, SampleRequest as PolicySampleRequest, ScoreRequest as PolicyScoreRequest, ScoredContinuation } from './types.js';

export interface LlamaCppOptions {
  modelPath: string; // a .gguf file
  contextSize?: number; // tokens of KV cache; default min(model's context_length, 4096)
  threads?: number; // CPU threads; default: node-llama-cpp's choice (all cores)
  gpu?: boolean; // offload to a GPU if node-llama-cpp finds one (node-llama-cpp's gpu: 'auto'); default false (CPU, reproducible)
  lora?: string; // a llama.cpp LoRA adapter GGUF (prl export-gguf --adapter) applied at scale 1
}

export interface SampleRequest {
  prompts: Array<string | number[]>;
  n: number; // samples per prompt
  temperature: number; // 0 = greedy
  topP?: number;
  topK?: number;
  maxTokens: number;
  stop?: string[];
  seed?: number;
}

export interface Sample {
  text: string;
  tokens: number[];
  /** log p(token) under softmax(logits / temperature) (temperature 0: the raw logits), before top-k/top-p. */
  logprobs: number[];
  offsets: number[]; // offsets[i] = index in `text` where token i's text starts
  finishReason: 'stop' | 'length';
}

/** Sampling on token ids for RL rollouts: generation ends at the first stop id (kept) or after `maxTokens`. */
export interface TokenSampleRequest {
  prompts: readonly (readonly number[])[];
  n: number; // samples per prompt
  temperature: number; // 0 = greedy
  topP?: number;
  maxTokens: number;
  stopIds: readonly number[];
  seed: number;
}

export interface TokenSample {
  tokens: number[];
  /** log p(token) under softmax(logits) at temperature 1 with no truncation, whatever the sampling temperature. */
  logprobs: number[];
}

export interface ScoreRequest {
  prompt: number[] | string;
  continuation: number[] | string;
}

type NodeLlamaCpp = typeof import('node-llama-cpp');

/** The node-llama-cpp module, or a PrlError that says how to get it. */
export async function importNodeLlamaCpp(): Promise<NodeLlamaCpp> {
  try {
    return await import('node-llama-cpp');
  } catch (err) {
    throw new PrlError(
      `the llama.cpp backend needs the optional package node-llama-cpp (npm install node-llama-cpp): ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** log(sum(exp(x))) computed stably. */
function logSumExp(x: Float64Array): number {
  let max = -Infinity;
  for (const v of x) if (v > max) max = v;
  let sum = 0;
  for (const v of x) sum += Math.exp(v - max);
  return max + Math.log(sum);
}

/**
 * Samples one token from `logits` (V). temperature 0 is argmax. Otherwise the distribution is
 * softmax(logits / T) restricted to the top-k tokens, then to the smallest top set whose probability
 * reaches top-p (nucleus sampling, Holtzman et al. 2019), renormalised. Returns the token and its
 * log-prob under the untruncated softmax(logits / T): the number a policy-gradient ratio needs.
 */
export function sampleFromLogits(
  logits: Float64Array,
  temperature: number,
  topK: number | undefined,
  topP: number | undefined,
  rng: Rng,
): { token: number; logprob: number } {
  const V = logits.length;
  if (temperature <= 0) {
    let best = 0;
    for (let i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
    return { token: best, logprob: logits[best] - logSumExp(logits) };
  }
  const scaled = new Float64Array(V);
  for (let i = 0; i < V; i++) scaled[i] = logits[i] / temperature;
  const lse = logSumExp(scaled);
  // Ties keep id order, so the candidate list (and hence the sample) is fully determined by the logits.
  const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => scaled[b] - scaled[a] || a - b);
  let keep = topK !== undefined && topK > 0 ? Math.min(topK, V) : V;
  if (topP !== undefined && topP < 1) {
    let cumulative = 0;
    for (let i = 0; i < keep; i++) {
      cumulative += Math.exp(scaled[order[i]] - lse);
      if (cumulative >= topP) {
        keep = i + 1;
        break;
      }
    }
  }
  let mass = 0;
  for (let i = 0; i < keep; i++) mass += Math.exp(scaled[order[i]] - lse);
  let u = rng.next() * mass;
  let token = order[keep - 1];
  for (let i = 0; i < keep; i++) {
    u -= Math.exp(scaled[order[i]] - lse);
    if (u < 0) {
      token = order[i];
      break;
    }
  }
  return { token, logprob: scaled[token] - lse };
}

/** What `LlamaCppPolicy.swap` changes: a new adapter and/or model, on a fresh context. */
export interface LlamaCppSwap {
  /** The LoRA adapter GGUF of the new context; undefined: none. Use a new path per version: node-llama-cpp caches adapters by path. */
  lora?: string;
  /** A new GGUF to serve (implies a reload), e.g. re-exported fully fine-tuned weights. */
  modelPath?: string;
  /** Reload the model even if the path is unchanged: llama.cpp frees adapters only with their model. */
  reloadModel?: boolean;
}

export class LlamaCppPolicy {
  /** Serialises calls: the backend has one KV-cache sequence. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly llama: Llama,
    private model: LlamaModel,
    private context: LlamaContext,
    private sequence: LlamaContextSequence,
    readonly vocabSize: number,
    private options: LlamaCppOptions,
  ) {}

  /** Loads a GGUF model (prebuilt llama.cpp binaries; never builds or downloads); on a GPU only with `gpu: true`. */
  static async load(options: LlamaCppOptions): Promise<LlamaCppPolicy> {
    const nlc = await importNodeLlamaCpp();
    await LlamaCppPolicy.refuseAbortingVocab(nlc, options.modelPath);
    const llama = await nlc.getLlama({
      gpu: options.gpu === true ? 'auto' : false,
      build: 'never',
      usePrebuiltBinaries: true,
      skipDownload: true,
      progressLogs: false,
      logLevel: nlc.LlamaLogLevel.error,
    });
    let model: LlamaModel;
    try {
      model = await LlamaCppPolicy.loadModel(llama, options);
    } catch (err) {
      await llama.dispose();
      throw err;
    }
    const vocabSize = model.fileInfo.metadata.tokenizer?.ggml?.tokens?.length;
    if (vocabSize === undefined) {
      await model.dispose();
      await llama.dispose();
      throw inputError(options.modelPath, 'has no tokenizer.ggml.tokens');
    }
    const context = await LlamaCppPolicy.createContext(model, options);
    return new LlamaCppPolicy(llama, model, context, context.getSequence(), vocabSize, options);
  }

  /** A clear error instead of the process abort llama.cpp gives on some character-level vocabularies (see llamaCppVocabProblem). */
  private static async refuseAbortingVocab(nlc: NodeLlamaCpp, modelPath: string): Promise<void> {
    let model: string | undefined, tokens: readonly string[] | undefined;
    try {
      const info = await nlc.readGgufFileInfo(modelPath, { readTensorInfo: false });
      model = info.metadata.tokenizer?.ggml?.model;
      tokens = info.metadata.tokenizer?.ggml?.tokens;
    } catch (err) {
      throw inputError(modelPath, `is not a readable GGUF file (${(err as Error).message})`);
    }
    const problem = model === undefined || tokens === undefined ? undefined : llamaCppVocabProblem(model, tokens);
    if (problem !== undefined) throw inputError(modelPath, `llama.cpp cannot load this model: ${problem}`);
  }

  private static async loadModel(llama: Llama, options: LlamaCppOptions): Promise<LlamaModel> {
    try {
      return await llama.loadModel({ modelPath: options.modelPath, gpuLayers: options.gpu === true ? 'auto' : 0 });
    } catch (err) {
      throw inputError(options.modelPath, `llama.cpp could not load the model (${(err as Error).message})`);
    }
  }

  private static async createContext(model: LlamaModel, options: LlamaCppOptions): Promise<LlamaContext> {
    const contextSize = options.contextSize ?? Math.min(model.trainContextSize, 4096);
    try {
      return await model.createContext({
        contextSize,
        sequences: 1,
        batchSize: Math.min(contextSize, 512),
        threads: options.threads,
        flashAttention: false,
        // llama.cpp keeps K and V in F16 by default, which costs ~1e-2 in log-probs; F32 matches the engine.
        experimentalKvCacheKeyType: 'F32',
        experimentalKvCacheValueType: 'F32',
        lora: options.lora,
      });
    } catch (err) {
      throw inputError(options.lora ?? options.modelPath, `llama.cpp could not create a context (${(err as Error).message})`);
    }
  }

  /**
   * Serves a new adapter and/or model: the context is disposed and a fresh one created with `lora`
   * (node-llama-cpp applies adapters per context); the model is reloaded first when `modelPath` or
   * `reloadModel` asks, which also frees every adapter the old model loaded. Waits for calls in flight.
   */
  swap(change: LlamaCppSwap): Promise<void> {
    return this.serialised(async () => {
      const next: LlamaCppOptions = { ...this.options, lora: change.lora, modelPath: change.modelPath ?? this.options.modelPath };
      if (change.modelPath !== undefined) await LlamaCppPolicy.refuseAbortingVocab(await importNodeLlamaCpp(), change.modelPath);
      await this.context.dispose();
      if (change.modelPath !== undefined || change.reloadModel === true) {
        await this.model.dispose();
        this.model = await LlamaCppPolicy.loadModel(this.llama, next);
        const vocabSize = this.model.fileInfo.metadata.tokenizer?.ggml?.tokens?.length;
        if (vocabSize !== this.vocabSize) throw inputError(next.modelPath, `has ${vocabSize} tokens, the model it replaces ${this.vocabSize}`);
      }
      this.context = await LlamaCppPolicy.createContext(this.model, next);
      this.sequence = this.context.getSequence();
      this.options = next;
    });
  }

  get contextSize(): number {
    return this.context.contextSize;
  }

  /** Token ids of `text` as llama.cpp's tokenizer gives them (no BOS added; special tokens not parsed). */
  tokenize(text: string): number[] {
    return this.model.tokenize(text, false);
  }

  /** Text of `tokens`; control tokens (EOS, ...) give no text. */
  detokenize(tokens: number[]): string {
    return this.model.detokenize(tokens as Token[], false);
  }

  /** The BOS token id, if the model has one. */
  get bosToken(): number | undefined {
    return this.model.tokens.bos ?? undefined;
  }

  /** Whether `token` ends generation (EOS, EOT, ...). */
  isEndOfGeneration(token: number): boolean {
    return this.model.isEogToken(token as Token);
  }

  private toTokens(input: string | number[], where: string): number[] {
    const tokens = typeof input === 'string' ? this.tokenize(input) : input;
    for (const t of tokens) {
      if (!Number.isInteger(t) || t < 0 || t >= this.vocabSize) throw inputError(where, `token id ${t} is outside [0, ${this.vocabSize})`);
    }
    return tokens;
  }

  private serialised<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Puts `tokens` in the KV cache and returns the next-token log-probs log softmax(logits) after each
   * position in `logitsAt` (ascending). The cached prefix shared with the previous call is kept, except
   * from the first position whose log-probs are wanted, which must be evaluated again to produce them.
   *
   * node-llama-cpp 3.21 exposes no raw logits, only the probabilities after its sampler chain; with
   * temperature 1 and top-k, top-p, min-p disabled that chain is the plain softmax. A probability that
   * underflows float32 (log p < ~-103) comes back as -Infinity.
   */
  private async evaluate(tokens: number[], logitsAt: number[]): Promise<Float64Array[]> {
    if (tokens.length > this.contextSize) {
      throw new PromptError(`llama.cpp: ${tokens.length} tokens do not fit the context of ${this.contextSize}`);
    }
    const seq = this.sequence;
    const { firstDifferentIndex } = seq.compareContextTokens(tokens as Token[]);
    const keep = Math.min(firstDifferentIndex, logitsAt.length > 0 ? logitsAt[0] : tokens.length);
    if (keep < seq.nextTokenIndex) await seq.eraseContextTokenRanges([{ start: keep, end: seq.nextTokenIndex }]);
    const wanted = new Set(logitsAt);
    const plainSoftmax = { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } };
    const input: ControlledEvaluateInputItem[] = tokens
      .slice(keep)
      .map((t, i) => (wanted.has(keep + i) ? [t as Token, { generateNext: plainSoftmax }] : (t as Token)));
    const out = await seq.controlledEvaluate(input);
    return logitsAt.map((pos) => {
      const probabilities = out[pos - keep]?.next.probabilities;
      if (probabilities === undefined) throw new Error(`llama.cpp returned no probabilities for position ${pos}`);
      const logprobs = new Float64Array(this.vocabSize).fill(-Infinity);
      for (const [token, p] of probabilities) logprobs[token] = Math.log(p);
      return logprobs;
    });
  }

  /** Per-token log p(continuation_t | prompt, continuation_<t) for each request (teacher forcing). */
  score(requests: ScoreRequest[]): Promise<number[][]> {
    return this.serialised(async () => {
      const results: number[][] = [];
      for (let r = 0; r < requests.length; r++) {
        const prompt = this.toTokens(requests[r].prompt, `score request ${r}: prompt`);
        const continuation = this.toTokens(requests[r].continuation, `score request ${r}: continuation`);
        if (prompt.length === 0) throw inputError(`score request ${r}: prompt`, 'is empty; the first token needs a context');
        const positions = continuation.map((_, t) => prompt.length - 1 + t);
        const logits = await this.evaluate([...prompt, ...continuation], positions);
        results.push(continuation.map((token, t) => logits[t][token] - logSumExp(logits[t])));
      }
      return results;
    });
  }

  /**
   * `n` samples per prompt. A sample ends with 'stop' at an end-of-generation token (kept in `tokens`,
   * giving no text) or once its text contains a stop string (kept in the text, so that text, tokens and
   * offsets agree), else with 'length' after `maxTokens` tokens or at the end of the context.
   */
  sample(request: SampleRequest): Promise<Sample[][]> {
    return this.serialised(async () => {
      const rng = new Rng(request.seed ?? 0);
      const stops = (request.stop ?? []).filter((s) => s.length > 0);
      const results: Sample[][] = [];
      for (let p = 0; p < request.prompts.length; p++) {
        const prompt = this.toTokens(request.prompts[p], `sample prompt ${p}`);
        if (prompt.length === 0) throw inputError(`sample prompt ${p}`, 'is empty');
        const group: Sample[] = [];
        for (let i = 0; i < request.n; i++) group.push(await this.sampleOne(prompt, request, stops, rng.fork()));
        results.push(group);
      }
      return results;
    });
  }

  /**
   * `n` samples per prompt on token ids (RL rollouts): the distribution is the same as `sample`'s, the
   * reported log-prob is the behaviour policy's at temperature 1 (the number a PPO ratio compares with).
   * Same seed, same model: same samples.
   */
  sampleTokens(request: TokenSampleRequest): Promise<TokenSample[][]> {
    return this.serialised(async () => {
      const rng = new Rng(request.seed);
      const stops = new Set(request.stopIds);
      const results: TokenSample[][] = [];
      for (let p = 0; p < request.prompts.length; p++) {
        const prompt = this.toTokens([...request.prompts[p]], `rollout prompt ${p}`);
        if (prompt.length === 0) throw inputError(`rollout prompt ${p}`, 'is empty');
        const group: TokenSample[] = [];
        for (let i = 0; i < request.n; i++) {
          const sampleRng = rng.fork();
          const tokens: number[] = [];
          const logprobs: number[] = [];
          const budget = Math.min(request.maxTokens, this.contextSize - prompt.length);
          while (tokens.length < budget) {
            const context = [...prompt, ...tokens];
            const [logits] = await this.evaluate(context, [context.length - 1]);
            const { token } = sampleFromLogits(logits, request.temperature, undefined, request.topP, sampleRng);
            tokens.push(token);
            logprobs.push(logits[token] - logSumExp(logits));
            if (stops.has(token)) break;
          }
          group.push({ tokens, logprobs });
        }
        results.push(group);
      }
      return results;
    });
  }

  private async sampleOne(prompt: number[], request: SampleRequest, stops: string[], rng: Rng): Promise<Sample> {
    const tokens: number[] = [];
    const logprobs: number[] = [];
    const offsets: number[] = [];
    let text = '';
    let finishReason: Sample['finishReason'] = 'length';
    const budget = Math.min(request.maxTokens, this.contextSize - prompt.length);
    while (tokens.length < budget) {
      const context = [...prompt, ...tokens];
      const [logits] = await this.evaluate(context, [context.length - 1]);
      const { token, logprob } = sampleFromLogits(logits, request.temperature, request.topK, request.topP, rng);
      tokens.push(token);
      logprobs.push(logprob);
      offsets.push(text.length);
      const before = text.length;
      text = this.detokenize(tokens);
      if (this.isEndOfGeneration(token)) {
        finishReason = 'stop';
        break;
      }
      const searchFrom = Math.max(0, before - Math.max(0, ...stops.map((s) => s.length)) + 1);
      if (stops.some((s) => text.indexOf(s, searchFrom) >= 0)) {
        finishReason = 'stop';
        break;
      }
    }
    return { text, tokens, logprobs, offsets, finishReason };
  }

  /** Frees the context, model and llama.cpp instance. */
  async close(): Promise<void> {
    await this.queue;
    await this.context.dispose();
    await this.model.dispose();
    await this.llama.dispose();
  }
}

/**
 * `llamacpp:FILE.gguf` as a Policy: `LlamaCppPolicy` with the interface's conventions, the same as the
 * engine backend's: text prompts get BOS in front when the model has one; a stop string is cut from
 * `text` (its tokens stay); text scoring tokenises prompt + continuation together.
 */
export class LlamaCppBackend implements Policy {
  readonly capabilities: PolicyCapabilities = { seed: true, tokenIds: true, topK: true };
  /** Streams of unseeded requests: deterministic per process, different per call. */
  private readonly unseeded = new Rng(0x5eed);

  constructor(
    readonly name: string,
    readonly llama: LlamaCppPolicy,
  ) {}

  private promptIds(prompt: Prompt, where: string): number[] {
    if (typeof prompt !== 'string') {
      for (const [t, id] of prompt.entries()) {
        if (!(Number.isInteger(id) && id >= 0 && id < this.llama.vocabSize)) throw inputError(`${where}[${t}]`, `token id ${id} is outside [0, ${this.llama.vocabSize})`);
      }
      return [...prompt];
    }
    const bos = this.llama.bosToken;
    return [...(bos === undefined ? [] : [bos]), ...this.llama.tokenize(prompt)];
  }

  async sample(request: PolicySampleRequest): Promise<Completion[][]> {
    const prompts = request.prompts.map((p, i) => this.promptIds(p, `sample: prompts[${i}]`));
    const stops = (request.stop ?? []).filter((s) => s.length > 0);
    const samples = await this.llama.sample({
      prompts,
      n: request.n,
      temperature: request.temperature,
      topP: request.topP,
      topK: request.topK,
      maxTokens: request.maxTokens,
      stop: stops,
      seed: request.seed ?? this.unseeded.nextU32() >>> 1,
    });
    return samples.map((group) =>
      group.map((s) => {
        let cut = -1;
        for (const stop of stops) {
          const at = s.text.indexOf(stop);
          if (at >= 0 && (cut < 0 || at < cut)) cut = at;
        }
        const text = cut >= 0 ? s.text.slice(0, cut) : s.text;
        return { text, tokens: s.tokens, logprobs: s.logprobs, offsets: s.offsets.map((o) => Math.min(o, text.length)), finishReason: s.finishReason };
      }),
    );
  }

  async score(request: PolicyScoreRequest): Promise<ScoredContinuation[]> {
    const detokenize = (ids: number[]): string => this.llama.detokenize(ids);
    const prepared = request.items.map(({ prompt, continuation }, i) => {
      const where = `score: items[${i}]`;
      if (typeof prompt === 'string' && typeof continuation === 'string') {
        const full = prompt + continuation;
        const ids = this.llama.tokenize(full);
        const offsets = prefixDecodeOffsets(full, ids, detokenize);
        const { start, exact } = continuationStart(offsets, prompt.length, full.length);
        const bos = this.llama.bosToken;
        const promptIds = [...(bos === undefined ? [] : [bos]), ...ids.slice(0, start)];
        return { promptIds, tokens: ids.slice(start), offsets: offsets.slice(start).map((o) => Math.max(0, o - prompt.length)), exact };
      }
      const promptIds = this.promptIds(prompt, `${where}.prompt`);
      const tokens = typeof continuation === 'string' ? this.llama.tokenize(continuation) : [...continuation];
      return { promptIds, tokens, offsets: prefixDecodeOffsets(detokenize(tokens), tokens, detokenize), exact: true };
    });
    const logprobs = await this.llama.score(prepared.map((p) => ({ prompt: p.promptIds, continuation: p.tokens })));
    return prepared.map((p, i) => ({ tokens: p.tokens, logprobs: logprobs[i], offsets: p.offsets, exactBoundary: p.exact }));
  }

  close(): Promise<void> {
    return this.llama.close();
  }
}

/**
 * Opens `llamacpp:FILE.gguf` on the CPU. One thread by default: llama.cpp's threads spin while they
 * wait, and on a busy 2-core machine its default (all cores) made a 12-token sample 500x slower
 * (38 s instead of 70 ms for the tiny test model).
 */
export async function openLlamaCppPolicy(file: string, options: Omit<LlamaCppOptions, 'modelPath'> = {}): Promise<LlamaCppBackend> {
  return new LlamaCppBackend(`llamacpp:${file}`, await LlamaCppPolicy.load({ threads: 1, ...options, modelPath: file }));
}
