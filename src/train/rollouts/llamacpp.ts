/**
 * `--rollout llamacpp[:quant=...,gpu=...,reload=K,threads=N]`: rollouts sampled by llama.cpp through
 * node-llama-cpp while the trainer keeps the weights (issue 17).
 *
 * Weights reach llama.cpp as files under the sync folder:
 * - the base, exported once as `<run>-base.<quant>.gguf` from the run's model folder;
 * - with LoRA, each published adapter as a llama.cpp LoRA GGUF `<run>-v<version>.gguf`, loaded on a fresh
 *   context over the same model. node-llama-cpp caches adapters by path and frees them only with their
 *   model, so every version gets its own file name and the model is reloaded every `reloadEvery` swaps:
 *   memory stays bounded. A file is deleted as soon as a newer version is served (llama.cpp holds the
 *   adapter in memory once loaded).
 * - with full fine-tuning, the trained weights re-exported as `<run>-v<version>.<quant>.gguf` and reloaded.
 *
 * Sampling is JS-driven from llama.cpp's next-token distribution (see LlamaCppPolicy), so a seed gives the
 * same responses every time and each sampled token comes with its exact log-prob at temperature 1.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadModelFolder } from '../../engine/checkpoint.js';
import { exportGguf, hfModelFromLlamaModel, llamaCppTokenizerProblem } from '../../engine/gguf-export.js';
import { exportLoraGguf } from '../../engine/gguf-lora.js';
import { LlamaCppPolicy } from '../../policy/llamacpp.js';
import { PrlError, inputError } from '../../util/errors.js';
import { readJsonFile } from '../../util/fs.js';
import type { LlamaCppRolloutOptions, PublishedWeights, RolloutContext, RolloutEngine, RolloutRequest, RolloutSample } from './types.js';

/** Creates the sync folder, refusing one this process cannot write (before the first step, not after it). */
function prepareSyncDir(syncDir: string): void {
  try {
    mkdirSync(syncDir, { recursive: true });
  } catch (err) {
    throw inputError(`--sync-dir ${syncDir}`, `cannot be created (${(err as Error).message})`);
  }
}

class LlamaCppRollouts implements RolloutEngine {
  readonly overlaps = true;
  /** Publishes and samples run one at a time, in call order, so each sample knows the version that made it. */
  private chain: Promise<unknown> = Promise.resolve();
  private version = 0;
  /** The adapter or full-weight file served now (deleted when the next version replaces it). */
  private servedFile: string | undefined;
  /** Adapter paths loaded since the model was last (re)loaded: loading one again would hit node-llama-cpp's cache. */
  private loadedSinceReload = new Set<string>();
  private swapsSinceReload = 0;
  private closed = false;

  constructor(
    readonly name: string,
    private readonly policy: LlamaCppPolicy,
    private readonly options: LlamaCppRolloutOptions,
    private readonly context: RolloutContext,
    private readonly tokenizerJson: unknown,
  ) {}

  private serialised<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new PrlError(`${this.name}: used after close`));
    const run = this.chain.then(work, work);
    this.chain = run.catch(() => undefined);
    return run;
  }

  publish(weights: PublishedWeights): Promise<void> {
    return this.serialised(async () => {
      const { syncDir, runName } = this.context;
      const previous = this.servedFile;
      if (weights.adapter !== undefined) {
        const path = join(syncDir, `${runName}-v${weights.version}.gguf`);
        exportLoraGguf(weights.adapter, weights.model.config, path);
        this.swapsSinceReload++;
        const reloadModel = this.swapsSinceReload >= this.options.reloadEvery || this.loadedSinceReload.has(path);
        await this.policy.swap({ lora: path, reloadModel });
        if (reloadModel) {
          this.swapsSinceReload = 0;
          this.loadedSinceReload.clear();
        }
        this.loadedSinceReload.add(path);
        this.servedFile = path;
      } else {
        const path = join(syncDir, `${runName}-v${weights.version}.${this.options.quant}.gguf`);
        exportGguf(hfModelFromLlamaModel(weights.model, this.tokenizerJson), path, this.options.quant);
        await this.policy.swap({ modelPath: path });
        this.swapsSinceReload = 0;
        this.loadedSinceReload.clear();
        this.servedFile = path;
      }
      if (previous !== undefined && previous !== this.servedFile) rmSync(previous, { force: true });
      this.version = weights.version;
    });
  }

  sample(request: RolloutRequest): Promise<RolloutSample[][]> {
    return this.serialised(async () => {
      const policyVersion = this.version;
      const groups = await this.policy.sampleTokens({
        prompts: request.prompts,
        n: request.n,
        temperature: request.temperature,
        topP: request.topP,
        maxTokens: request.maxNewTokens,
        stopIds: request.stopIds,
        seed: request.seed,
      });
      return groups.map((group) => group.map((s) => ({ tokens: s.tokens, logprobs: Float64Array.from(s.logprobs), policyVersion })));
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.chain;
    this.closed = true;
    await this.policy.close();
    if (this.servedFile !== undefined) rmSync(this.servedFile, { force: true });
  }
}

/**
 * Exports the run's base model to `<syncDir>/<run>-base.<quant>.gguf` and opens llama.cpp on it. The first `publish` then brings it to the trainer's version.
 */
export async function openLlamaCppRollouts(options: LlamaCppRolloutOptions, context: RolloutContext): Promise<RolloutEngine> {
  if (!Number.isInteger(options.reloadEvery) || options.reloadEvery < 1) {
    throw inputError('--rollout llamacpp:reload', `must be a positive integer, got ${options.reloadEvery}`);
  }
  prepareSyncDir(context.syncDir);
  const tokenizerPath = join(context.modelDir, 'tokenizer.json');
  const tokenizerJson = readJsonFile(tokenizerPath);
  const folder = loadModelFolder(context.modelDir);
  const basePath = join(context.syncDir, `${context.runName}-base.${options.quant}.gguf`);
  try {
    const problem = llamaCppTokenizerProblem(tokenizerJson, folder.config);
    if (problem !== undefined) {
      throw inputError(tokenizerPath, `--rollout llamacpp: llama.cpp cannot load this tokenizer (${problem}); use a byte-level BPE model or --rollout engine`);
    }
    context.log(`llama.cpp rollouts: exporting the base to ${basePath} (${options.quant})`);
    exportGguf({ config: folder.config, tensors: folder.readAllTensors(), tokenizerJson }, basePath, options.quant);
  } finally {
    folder.close();
  }
  const threads = options.threads ?? context.threads;
  const policy = await LlamaCppPolicy.load({ modelPath: basePath, threads, gpu: options.gpu === 'auto' });
  const name = `llamacpp:quant=${options.quant},gpu=${options.gpu},reload=${options.reloadEvery},threads=${threads}`;
  return new LlamaCppRollouts(name, policy, options, context, tokenizerJson);
}
