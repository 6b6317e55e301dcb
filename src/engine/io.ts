/**
 * Model folders <-> live models: the one place that joins checkpoints, tokenizers and `LlamaModel`.
 */
import { loadModelFolder, saveModelFolder } from './checkpoint.js';
import type { Engine } from './kernels/index.js';
import type { Kernels } from './kernels/types.js';
import { LlamaModel, type LlamaModelOptions } from './model.js';
import { CharTokenizer, type Tokenizer } from './tokenizer.js';
import { FallbackKernels } from './kernels/fallback.js';
import { Arena } from './memory.js';
import { Rng } from '../util/rng.js';
import type { ModelConfig } from './config.js';
import { PrlError } from '../util/errors.js';
import { mergeAdapter } from './lora.js';
import { assertFits, planPlacement, type MemoryPlan } from './memory-estimate.js';
import { loadPeftAdapter } from './peft.js';
import { widenBf16, type WeightArray } from './bf16.js';

export interface LoadedModel {
  model: LlamaModel;
  tokenizer: Tokenizer;
}

export interface LoadModelOptions extends Omit<LlamaModelOptions, 'bf16Weights'> {
  /**
   * Hold a frozen model's matrices in bfloat16 (LlamaModelOptions.bf16Weights). Default: yes when the model
   * is frozen and the checkpoint stores them as BF16 (exact: the same numbers in half the memory).
   */
  bf16Weights?: boolean;
  /** A PEFT LoRA folder to attach; the base is then frozen unless `trainable` is true. */
  adapter?: string;
  /**
   * What the model will hold besides its weights, for placing its layers over the arena's 4 GiB segments
   * (only models past one segment are affected). Default: AdamW moments over a trainable model, training
   * activations for 4 x 512 rows, and a sampling state for 8 sequences of 1,024 positions.
   */
  work?: Pick<MemoryPlan, 'optimizer' | 'trainRows' | 'sample' | 'loraRank' | 'loraTargets'>;
  /**
   * When the model is frozen, mark its weights constant so that the native provider pre-packs them
   * (`markFrozenWeights`): default true for float32 weights, false for a model held in bfloat16 (held so to
   * save memory; its packed float32 copy costs about 2x its float32 bytes in RSS). false saves that memory
   * at the cost of decode speed (about 2.7x tokens/s at the 0.5B shape, bench/RESULTS.md).
   */
  prepack?: boolean;
}

/** LoadModelOptions.work's default. */
const DEFAULT_WORK = { trainRows: 4 * 512, sample: { batch: 8, maxT: 1024 } };

/**
 * Loads a Hugging Face-layout folder (config.json, safetensors, tokenizer.json) into the engine;
 * `{ trainable: false }` for a model that is never trained (no gradient block).
 */
export function loadModel(dir: string, engine: Engine, options: LoadModelOptions = {}): LoadedModel {
  const { model, tokenizer } = loadModelWeights(dir, engine, options);
  if (!tokenizer) throw new PrlError(`${dir}: no tokenizer.json (prl needs one to turn text into token ids)`);
  return { model, tokenizer };
}

/** Loads a model folder whose tokenizer is optional (work on token ids needs none). */
export function loadModelWeights(dir: string, engine: Engine, options: LoadModelOptions = {}): { model: LlamaModel; tokenizer: Tokenizer | undefined } {
  const folder = loadModelFolder(dir);
  try {
    const trainable = options.trainable ?? options.adapter === undefined;
    const bf16Weights = options.bf16Weights ?? (!trainable && folder.storesBf16Matrices());
    const work = { optimizer: trainable, ...DEFAULT_WORK, ...options.work };
    const plan: MemoryPlan = { config: folder.config, trainable, bf16Weights, recompute: options.recompute, ...work, baseBytes: engine.arena.usedBytes, segmentBaseBytes: engine.arena.baseBytes };
    // Refuse before allocating (a model past the machine would otherwise fail half-loaded); the weights alone decide.
    const hints = trainable ? ['load it frozen (no gradients: inference, scoring, or the base under a LoRA adapter; a BF16 checkpoint is then held in 16 bits)'] : [];
    assertFits({ ...plan, optimizer: false, trainRows: 0, sample: undefined, loraRank: 0 }, `${dir}: the ${trainable ? 'trainable' : 'frozen'} model`, hints);
    const layerSegments = options.layerSegments ?? planPlacement(plan);
    const model = new LlamaModel(folder.config, engine.arena, engine.kernels, { trainable, recompute: options.recompute, layerSegments, bf16Weights });
    folder.fillTensors(model.parameters());
    // A model held in bfloat16 was held so to save memory; its packed float32 copy would take 2x its weights.
    if (!trainable && (options.prepack ?? !bf16Weights)) markFrozenWeights(engine.kernels, model);
    if (options.adapter !== undefined) model.attachAdapter(loadPeftAdapter(options.adapter, folder.config, engine.arena, layerSegments));
    return { model, tokenizer: folder.tokenizer };
  } finally {
    folder.close();
  }
}

/**
 * Tells `kernels` that `model`'s weights will not change (`Kernels.markConstant` on each of its weight
 * blocks): the native provider then pre-packs each forward projection and LM-head chunk on its first use,
 * so decode matmuls run 3-12x and 16-row prefill ones 2-4x faster (training row counts ~1x), for a packed
 * copy of the weights in native memory (RSS +2x their bytes with glibc's default malloc; bench/RESULTS.md
 * "Pre-packed constant weights"); the wasm and ts providers ignore it. Call it only on a frozen model whose weights
 * are final, and `unmarkFrozenWeights` before writing them (merge, reload) or when dropping the model.
 */
export function markFrozenWeights(kernels: Kernels, model: LlamaModel): void {
  for (const block of weightBlocks(model)) kernels.markConstant?.(block);
}

/** Withdraws `markFrozenWeights` and frees what the provider pre-packed for `model`. */
export function unmarkFrozenWeights(kernels: Kernels, model: LlamaModel): void {
  for (const block of weightBlocks(model)) kernels.unmarkConstant?.(block);
}

/** The model's weight blocks: per arena segment it spans, the float32 block and the bfloat16 one if held. */
function weightBlocks(model: LlamaModel): WeightArray[] {
  return model.shards.flatMap((shard) => (shard.weights16 ? [shard.weights, shard.weights16] : [shard.weights]));
}

/** A fresh model with the same config and weights as `source` (e.g. the frozen RL reference). */
export function cloneModel(source: LlamaModel, engine: Engine): LlamaModel {
  const copy = new LlamaModel(source.config, engine.arena, engine.kernels, { layerSegments: source.layerSegments });
  const from = new Map(source.parameters().map((p) => [p.name, p.data]));
  for (const p of copy.parameters()) {
    const data = from.get(p.name)!;
    if (data instanceof Uint16Array) widenBf16(data, p.data as Float32Array);
    else p.data.set(data);
  }
  return copy;
}

/** Saves weights (F32), config and tokenizer as a Hugging Face-layout folder, atomically. */
export function saveModel(dir: string, model: LlamaModel, tokenizer: Tokenizer): void {
  saveModelFolder(dir, model.config, model.parameters(), tokenizer);
}

/**
 * Writes `outDir` (atomically replaced if it exists): the model of `modelDir` with the PEFT adapter of
 * `adapterDir` merged in (W + scale · B A), a plain HF folder that needs no adapter support.
 */
export function mergeAdapterFolder(modelDir: string, adapterDir: string, outDir: string): void {
  const folder = loadModelFolder(modelDir);
  try {
    // Only parameter storage is needed: plain memory and the reference kernels, no threads.
    const arena = new Arena(0);
    const model = new LlamaModel(folder.config, arena, new FallbackKernels(), { trainable: false });
    folder.fillTensors(model.parameters());
    mergeAdapter(loadPeftAdapter(adapterDir, folder.config, arena), model.parameters());
    saveModelFolder(outDir, model.config, model.parameters(), folder.tokenizer);
  } finally {
    folder.close();
  }
}

export type { ModelConfig };

/** Printable ASCII (space to '~') and newline: the default alphabet of a character tokenizer. */
export const DEFAULT_ALPHABET = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('') + '\n';

/**
 * The character tokenizer of a fresh model: `<bos>` (id 0), `<eos>` (id 1), with `unk` an `<unk>` (id 2)
 * that every character outside the alphabet becomes, then one token per character of `alphabet` in order.
 */
export function defaultCharTokenizer(alphabet: string = DEFAULT_ALPHABET, options: { unk?: boolean } = {}): CharTokenizer {
  const specialTokens = options.unk ? ['<bos>', '<eos>', '<unk>'] : ['<bos>', '<eos>'];
  return new CharTokenizer({ alphabet, specialTokens, bos: '<bos>', eos: '<eos>', unk: options.unk ? '<unk>' : undefined });
}

/**
 * Writes a randomly initialised model folder: `config` (with the tokenizer's vocabulary size and BOS/EOS
 * ids when a tokenizer is given; a token-id model keeps its own vocab_size and gets no tokenizer.json),
 * weights ~ N(0, std²) (HF's initializer_range 0.02 by default), norms 1, biases 0. Returns the config written.
 */
export function initModelFolder(dir: string, config: ModelConfig, tokenizer: Tokenizer | undefined, seed: number, std = 0.02): ModelConfig {
  const full: ModelConfig = { ...config };
  if (tokenizer !== undefined) {
    full.vocabSize = tokenizer.vocabSize;
    if (tokenizer.bosId !== undefined) full.bosTokenId = tokenizer.bosId;
    if (tokenizer.eosId !== undefined) full.eosTokenId = tokenizer.eosId;
  }
  // Only parameter storage is needed: plain memory and the reference kernels, no threads.
  const model = new LlamaModel(full, new Arena(0), new FallbackKernels(), { trainable: false });
  model.initRandom(new Rng(seed));
  if (std !== 0.02) {
    for (const p of model.parameters()) if (!p.name.endsWith('norm.weight') && !p.name.endsWith('.bias')) for (let i = 0; i < p.data.length; i++) p.data[i] *= std / 0.02;
  }
  saveModelFolder(dir, model.config, model.parameters(), tokenizer);
  return full;
}

/**
 * The ids that end a completion: the tokenizer's EOS first, then config.json's and generation_config.json's
 * eos_token_id(s) (`loadModelFolder` merges the two).
 */
export function endOfSequenceIds(config: ModelConfig, tokenizer: Tokenizer | undefined): number[] {
  const ids = tokenizer?.eosId === undefined ? [] : [tokenizer.eosId];
  return [...new Set([...ids, ...[config.eosTokenId ?? []].flat()])];
}
