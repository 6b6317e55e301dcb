/**
 * What a trainer updates: every weight of the policy (full fine-tuning), or a LoRA adapter on a frozen
 * base (`loraRank > 0`; Hu et al. 2021, as PEFT does it). The adapter's reference is the base itself:
 * scoring with the adapter switched off gives the frozen reference of PRL/FRPO/PPO without a second copy.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Engine } from '../engine/kernels/index.js';
import { LORA_TARGETS, LoraAdapter, type LoraTarget } from '../engine/lora.js';
import type { LlamaModel } from '../engine/model.js';
import type { Trainable } from '../engine/optim.js';
import { inputError } from '../util/errors.js';
import type { Rng } from '../util/rng.js';

/** The LoRA options every trainer config has (`--lora-rank`, `--lora-alpha`, `--lora-targets`, `--rslora`). */
export interface LoraSettings {
  loraRank: number;
  loraAlpha?: number;
  loraTargets: string;
  rslora: boolean;
}

/** The parameters an optimiser step moves, with their gradients to clear before each step. */
export interface TrainedParameters extends Trainable {
  zeroGrad(): void;
  /** The LoRA adapter, or null for full fine-tuning. */
  readonly adapter: LoraAdapter | null;
}

/** `q,v,down` -> the targets, checked; errors name `--lora-targets`. */
export function parseLoraTargets(text: string): LoraTarget[] {
  const names = text.split(',').map((t) => t.trim()).filter(Boolean);
  for (const n of names) if (!(LORA_TARGETS as readonly string[]).includes(n)) throw inputError('loraTargets', `unknown module ${JSON.stringify(n)}; expected some of ${LORA_TARGETS.join(', ')}`);
  if (names.length === 0) throw inputError('loraTargets', 'names no module');
  return names as LoraTarget[];
}

/**
 * The parameters to train on `model`: the model itself, or a fresh adapter (A from `rng`, B = 0, so the
 * first forward equals the base's) attached to it. The model must be loaded frozen for LoRA.
 */
export function trainedParameters(model: LlamaModel, engine: Engine, settings: LoraSettings, rng: Rng): TrainedParameters {
  if (settings.loraRank === 0) return wholeModel(model);
  const adapter = new LoraAdapter(model.config, engine.arena, { rank: settings.loraRank, alpha: settings.loraAlpha, rslora: settings.rslora, targets: parseLoraTargets(settings.loraTargets) }, model.layerSegments);
  adapter.initRandom(rng);
  model.attachAdapter(adapter);
  return adapterParameters(adapter);
}

/** Full fine-tuning: every weight of `model`. */
export function wholeModel(model: LlamaModel): TrainedParameters {
  return { shards: model.shards, parameters: () => model.parameters(), zeroGrad: () => model.zeroGrad(), adapter: null };
}

/** LoRA: the adapter's A and B alone. */
export function adapterParameters(adapter: LoraAdapter): TrainedParameters {
  return { shards: adapter.shards, parameters: () => adapter.parameters(), zeroGrad: () => adapter.zeroGrad(), adapter };
}

/** Runs `work` on the base model alone (the adapter switched off), e.g. the reference log-probs. */
export function withoutAdapter<T>(model: LlamaModel, work: () => T): T {
  const was = model.adapterEnabled;
  model.adapterEnabled = false;
  try {
    return work();
  } finally {
    model.adapterEnabled = was;
  }
}

/**
 * SHA-256 of a model folder's weights (every *.safetensors file, in name order): an adapter trained on
 * one base must not be resumed or applied on another.
 */
export async function baseModelHash(dir: string): Promise<string> {
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort() : [];
  if (files.length === 0) throw inputError(dir, 'no *.safetensors weights to hash');
  const hash = createHash('sha256');
  for (const f of files) {
    hash.update(`${f}\0`);
    for await (const chunk of createReadStream(join(dir, f))) hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}
