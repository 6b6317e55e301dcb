/**
 * Where `prl rl` gets its rollouts (issue 17): the trainer keeps the policy in-process and hands
 * each new version of its weights to a rollout engine, which samples the next steps' responses.
 * Engines: prl's own (in-process, today's numbers), llama.cpp through node-llama-cpp, and fleets of
 * OpenAI-compatible servers (vLLM, SGLang, `prl serve --enable-lora`).
 */
import type { LoraAdapter } from '../../engine/lora.js';
import type { LlamaModel } from '../../engine/model.js';

/** The trainer's weights at one version (= optimiser steps taken). */
export interface PublishedWeights {
  /** Steps trained so far; 0 is the starting model. Samples report the version that made them. */
  version: number;
  /** The policy as trained (the base, frozen when `adapter` is set). */
  model: LlamaModel;
  /** The LoRA adapter being trained, or undefined for full fine-tuning. */
  adapter?: LoraAdapter;
}

export interface RolloutRequest {
  /** The RL step these rollouts feed (key of every sample: step, prompt, sample). */
  step: number;
  /** Prompt token ids, one per problem. */
  prompts: readonly (readonly number[])[];
  /** Responses per prompt (the group size G). */
  n: number;
  maxNewTokens: number;
  temperature: number;
  topP: number;
  /** Generation ends at the first of these ids, which is kept as the response's last token. */
  stopIds: readonly number[];
  /** Seed of this step's sampling (same seed, same engine: same responses where the engine can). */
  seed: number;
}

/** One sampled response. */
export interface RolloutSample {
  /** Response token ids (ends with a stop id when generation stopped on one). */
  tokens: number[];
  /**
   * The engine's log-prob of each token at temperature 1 (the behaviour policy's), same length
   * as `tokens`; NaN where the engine did not report one (the trainer's own is used there).
   */
  logprobs: Float64Array;
  /** The weight version that generated it. */
  policyVersion: number;
}

export interface RolloutEngine {
  /** For logs: the spec, without secrets. */
  readonly name: string;
  /**
   * True when sampling runs outside the trainer's thread (servers, llama.cpp), so generation for
   * later steps can overlap the current update (`--async-steps`).
   */
  readonly overlaps: boolean;
  /** Makes `weights` the version later `sample` calls use; resolves once the engine serves it. */
  publish(weights: PublishedWeights): Promise<void>;
  /** `result[i]` has `request.n` samples of `request.prompts[i]`, in order. */
  sample(request: RolloutRequest): Promise<RolloutSample[][]>;
  /** Frees the engine's resources (unloads adapters, closes models); later calls fail. */
  close(): Promise<void>;
}

/** `--rollout llamacpp:quant=...,gpu=...,reload=K,threads=N`. */
export interface LlamaCppRolloutOptions {
  /** Tensor type of the exported base GGUF. */
  quant: 'f32' | 'f16' | 'q8_0';
  /** `auto`: offload to a GPU when node-llama-cpp finds one; `off`: CPU only. */
  gpu: 'auto' | 'off';
  /** Reload the model every K adapter swaps (llama.cpp frees adapters only with their model). */
  reloadEvery: number;
  /** llama.cpp threads; default the trainer's. */
  threads?: number;
}

/** What an engine needs to know about the run. */
export interface RolloutContext {
  /** The run's name, prefix of versioned adapter names (`<run>-v<step>`). */
  runName: string;
  /** A folder this process writes weight files to (GGUFs, PEFT folders) that the engines can read. */
  syncDir: string;
  /** The starting model's Hugging Face folder (config, tokenizer). */
  modelDir: string;
  /** The trainer's thread count. */
  threads: number;
  /** One line of progress for the user. */
  log(line: string): void;
}
