/**
 * A LoRA adapter -> a llama.cpp LoRA adapter GGUF, laid out as llama.cpp's convert_lora_to_gguf.py
 * writes one: `general.type = adapter`, `adapter.type = lora`, `adapter.lora.alpha`, and per adapted
 * module `blk.N.<tensor>.weight.lora_a` (r, in) and `.lora_b` (out, r) in F32, named as the base
 * export names the module's weight. llama.cpp loads it beside the base GGUF (`--lora`, or
 * node-llama-cpp's `lora` context option) and adds scale · B A x to the layer.
 *
 * For the `llama` architecture the base export permutes q/k rows into llama.cpp's interleaved RoPE
 * order; W + B A keeps that meaning only if B's rows (the output rows) get the same permutation, A's
 * rows (the rank) none.
 */
import type { ModelConfig } from './config.js';
import { GGUF_DEFAULT_ALIGNMENT, writeGguf, type GgufTensorInput, type GgufValue } from './gguf.js';
import { ggufTensorName, permuteForLlamaRope } from './gguf-export.js';
import { LORA_MODULES, type LoraAdapter } from './lora.js';
import { writeFileAtomic } from '../util/fs.js';

export function loraToGguf(adapter: LoraAdapter, config: ModelConfig, name = 'prl'): { metadata: Map<string, GgufValue>; tensors: GgufTensorInput[] } {
  const { rank, targets } = adapter.config;
  const metadata = new Map<string, GgufValue>([
    ['general.architecture', { type: 'string', value: config.modelType }],
    ['general.type', { type: 'string', value: 'adapter' }],
    ['general.name', { type: 'string', value: name }],
    ['general.alignment', { type: 'uint32', value: GGUF_DEFAULT_ALIGNMENT }],
    ['adapter.type', { type: 'string', value: 'lora' }],
    // llama.cpp scales by alpha / rank; an effective alpha of scale · rank keeps rsLoRA's alpha / sqrt(rank).
    ['adapter.lora.alpha', { type: 'float32', value: Math.fround(adapter.scale * rank) }],
  ]);
  const tensors: GgufTensorInput[] = [];
  adapter.layers.forEach((layer, l) => {
    for (const t of targets) {
      const pair = layer[t]!;
      const base = ggufTensorName(`model.layers.${l}.${LORA_MODULES[t]}.weight`);
      let b = pair.b;
      if (config.modelType === 'llama' && t === 'q') b = permuteForLlamaRope(b, pair.outDim, config.numAttentionHeads);
      if (config.modelType === 'llama' && t === 'k') b = permuteForLlamaRope(b, pair.outDim, config.numKeyValueHeads);
      tensors.push({ name: `${base}.lora_a`, shape: [rank, pair.inDim], data: pair.a }, { name: `${base}.lora_b`, shape: [pair.outDim, rank], data: b });
    }
  });
  return { metadata, tensors };
}

/** Writes `adapter` (for a base of `config`) as a llama.cpp LoRA GGUF at `outPath`, atomically; returns its size in bytes. */
export function exportLoraGguf(adapter: LoraAdapter, config: ModelConfig, outPath: string): number {
  const { metadata, tensors } = loraToGguf(adapter, config);
  const bytes = writeGguf(metadata, tensors);
  writeFileAtomic(outPath, bytes);
  return bytes.length;
}
