/**
 * `llamacpp:FILE.gguf` as a prl Policy: LlamaCppBackend adapts LlamaCppPolicy (llamacpp.ts) to the
 * Policy interface (BOS, stop strings, text scoring), and openLlamaCppPolicy opens one from a spec.
 */
import { inputError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { prefixDecodeOffsets } from '../engine/tokenizer.js';
import { LlamaCppPolicy, type LlamaCppOptions } from './llamacpp.js';
import { continuationStart } from './offsets.js';
import type { Completion, Policy, PolicyCapabilities, Prompt, SampleRequest, ScoreRequest, ScoredContinuation } from './types.js';

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

  async sample(request: SampleRequest): Promise<Completion[][]> {
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

  async score(request: ScoreRequest): Promise<ScoredContinuation[]> {
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
