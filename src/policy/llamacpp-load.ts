/**
 * Opening llama.cpp through node-llama-cpp (an optional dependency, imported only when this backend
 * is used): the module itself, a GGUF model (refusing vocabularies that would abort the process) and
 * a context with an optional LoRA adapter. LlamaCppPolicy (llamacpp.ts) uses these to load and swap.
 */
import type { LlamaContext, LlamaModel, Llama } from 'node-llama-cpp';
import { PrlError, inputError } from '../util/errors.js';
import { llamaCppVocabProblem } from '../engine/gguf-export.js';

export interface LlamaCppOptions {
  modelPath: string; // a .gguf file
  contextSize?: number; // tokens of KV cache; default min(model's context_length, 4096)
  threads?: number; // CPU threads; default: node-llama-cpp's choice (all cores)
  gpu?: boolean; // offload to a GPU if node-llama-cpp finds one (node-llama-cpp's gpu: 'auto'); default false (CPU, reproducible)
  lora?: string; // a llama.cpp LoRA adapter GGUF (prl export-gguf --adapter) applied at scale 1
}

export type NodeLlamaCpp = typeof import('node-llama-cpp');

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

/** A clear error instead of the process abort llama.cpp gives on some character-level vocabularies (see llamaCppVocabProblem). */
export async function refuseAbortingVocab(nlc: NodeLlamaCpp, modelPath: string): Promise<void> {
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

/** The GGUF at options.modelPath, on the GPU only with `gpu: true`; a load failure names the file. */
export async function loadModel(llama: Llama, options: LlamaCppOptions): Promise<LlamaModel> {
  try {
    return await llama.loadModel({ modelPath: options.modelPath, gpuLayers: options.gpu === true ? 'auto' : 0 });
  } catch (err) {
    throw inputError(options.modelPath, `llama.cpp could not load the model (${(err as Error).message})`);
  }
}

/** A one-sequence context with F32 KV cache and options.lora applied; a failure names the adapter (or model). */
export async function createContext(model: LlamaModel, options: LlamaCppOptions): Promise<LlamaContext> {
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
