/**
 * Model folders <-> live models: the one place that joins checkpoints, tokenizers and `LlamaModel`.
 */
import { loadModelFolder, saveModelFolder } from './checkpoint.js';
import type { Engine } from './kernels/index.js';
import { LlamaModel } from './model.js';
import type { Tokenizer } from './tokenizer.js';
import type { ModelConfig } from './config.js';
import { PrlError } from '../util/errors.js';

export interface LoadedModel {
  model: LlamaModel;
  tokenizer: Tokenizer;
}

/** Loads a Hugging Face-layout folder (config.json, safetensors, tokenizer.json) into the engine. */
export function loadModel(dir: string, engine: Engine): LoadedModel {
  const folder = loadModelFolder(dir);
  try {
    if (!folder.tokenizer) throw new PrlError(`${dir}: no tokenizer.json (prl needs one to turn text into token ids)`);
    const model = new LlamaModel(folder.config, engine.arena, engine.kernels);
    folder.fillTensors(model.parameters());
    return { model, tokenizer: folder.tokenizer };
  } finally {
    folder.close();
  }
}

/** A fresh model with the same config and weights as `source` (e.g. the frozen RL reference). */
export function cloneModel(source: LlamaModel, engine: Engine): LlamaModel {
  const copy = new LlamaModel(source.config, engine.arena, engine.kernels);
  copy.weights.set(source.weights);
  return copy;
}

/** Saves weights (F32), config and tokenizer as a Hugging Face-layout folder, atomically. */
export function saveModel(dir: string, model: LlamaModel, tokenizer: Tokenizer): void {
  saveModelFolder(dir, model.config, model.parameters(), tokenizer);
}

export type { ModelConfig };
