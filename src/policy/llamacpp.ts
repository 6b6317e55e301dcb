/**
 * A policy backed by llama.cpp through node-llama-cpp (an optional dependency, imported only when this
 * backend is used). It serves a GGUF file, e.g. one written by `prl export-gguf`.
 *
 * llama.cpp only evaluates tokens and returns next-token probabilities (`controlledEvaluate`);
 * sampling is done here in JS with prl's seeded `Rng`, so that a seed gives the same samples every time,
 * top-k / top-p mean exactly what they mean in the engine, and every sampled token comes with its exact
 * log-prob. Prefixes already in the KV cache are reused (n samples of one prompt evaluate it once).
 *
 * This file is the model on token ids (evaluate, score, sample, swap adapters); opening llama.cpp is in
 * llamacpp-load.ts, the sampling arithmetic in llamacpp-sampling.ts, the Policy adapter in
 * llamacpp-backend.ts.
 */
import type { ControlledEvaluateInputItem, LlamaContext, LlamaContextSequence, LlamaModel, Llama, Token } from 'node-llama-cpp';
import { PromptError, inputError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { createContext, importNodeLlamaCpp, loadModel, refuseAbortingVocab, type LlamaCppOptions } from './llamacpp-load.js';
import { logSumExp, sampleFromLogits } from './llamacpp-sampling.js';

export type { LlamaCppOptions } from './llamacpp-load.js';

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
    await refuseAbortingVocab(nlc, options.modelPath);
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
      model = await loadModel(llama, options);
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
    const context = await createContext(model, options);
    return new LlamaCppPolicy(llama, model, context, context.getSequence(), vocabSize, options);
  }

  /**
   * Serves a new adapter and/or model: the context is disposed and a fresh one created with `lora`
   * (node-llama-cpp applies adapters per context); the model is reloaded first when `modelPath` or
   * `reloadModel` asks, which also frees every adapter the old model loaded. Waits for calls in flight.
   */
  swap(change: LlamaCppSwap): Promise<void> {
    return this.serialised(async () => {
      const next: LlamaCppOptions = { ...this.options, lora: change.lora, modelPath: change.modelPath ?? this.options.modelPath };
      if (change.modelPath !== undefined) await refuseAbortingVocab(await importNodeLlamaCpp(), change.modelPath);
      await this.context.dispose();
      if (change.modelPath !== undefined || change.reloadModel === true) {
        await this.model.dispose();
        this.model = await loadModel(this.llama, next);
        const vocabSize = this.model.fileInfo.metadata.tokenizer?.ggml?.tokens?.length;
        if (vocabSize !== this.vocabSize) throw inputError(next.modelPath, `has ${vocabSize} tokens, the model it replaces ${this.vocabSize}`);
      }
      this.context = await createContext(this.model, next);
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

