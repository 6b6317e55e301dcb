// LoRA adapters as llama.cpp adapter GGUFs: the layout convert_lora_to_gguf.py writes (read back with
// the GGUF reader), and, where node-llama-cpp runs, base GGUF + adapter GGUF scored by llama.cpp give
// prl's adapter log-probs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelConfig } from '../../src/engine/config.js';
import { readGgufHeader, readGgufTensorF32 } from '../../src/engine/gguf.js';
import { exportGguf, permuteForLlamaRope, type HfModel } from '../../src/engine/gguf-export.js';
import { exportLoraGguf } from '../../src/engine/gguf-lora.js';
import { FallbackKernels } from '../../src/engine/kernels/fallback.js';
import { LoraAdapter, type LoraOptions } from '../../src/engine/lora.js';
import { Arena } from '../../src/engine/memory.js';
import { LlamaModel } from '../../src/engine/model.js';
import { LlamaCppPolicy } from '../../src/policy/llamacpp.js';
import { Rng } from '../../src/util/rng.js';
import { tinyConfig, tinyModel } from '../helpers/tiny-llama.js';

/** prl's model of `hf` with an attached adapter whose A and B are both random. */
function adapted(hf: HfModel, options: LoraOptions, seed: number): { model: LlamaModel; adapter: LoraAdapter } {
  const arena = new Arena(0);
  const model = new LlamaModel(hf.config, arena, new FallbackKernels(), { trainable: false });
  const byName = new Map(hf.tensors.map((t) => [t.name, t.data]));
  for (const p of model.parameters()) p.data.set(byName.get(p.name)!);
  const adapter = new LoraAdapter(hf.config, arena, options);
  const rng = new Rng(seed);
  adapter.initRandom(rng);
  for (const p of adapter.parameters()) if (p.name.includes('lora_B')) p.data.forEach((_, i) => (p.data[i] = 0.2 * rng.normal()));
  model.attachAdapter(adapter);
  return { model, adapter };
}

test('adapter GGUF layout: general.type adapter, alpha = scale · rank, lora_a (r, in) / lora_b (out, r), B rows permuted for llama q/k', () => {
  const config: ModelConfig = tinyConfig('llama');
  const { adapter } = adapted(tinyModel(config, 1), { rank: 4, alpha: 8, rslora: true, targets: ['q', 'k', 'down'] }, 2);
  const dir = mkdtempSync(join(tmpdir(), 'prl-gguf-lora-'));
  try {
    const path = join(dir, 'a.gguf');
    exportLoraGguf(adapter, config, path);
    const bytes = new Uint8Array(readFileSync(path));
    const header = readGgufHeader(bytes);
    const md = (key: string) => header.metadata.get(key)?.value;
    assert.equal(md('general.type'), 'adapter');
    assert.equal(md('adapter.type'), 'lora');
    assert.equal(md('general.architecture'), 'llama');
    assert.equal(md('adapter.lora.alpha'), Math.fround((8 / Math.sqrt(4)) * 4)); // rsLoRA scale 4 = alpha' / rank
    const shapes = new Map(header.tensors.map((t) => [t.name, t.shape]));
    assert.equal(shapes.size, 2 * 3 * 2);
    assert.deepEqual(shapes.get('blk.1.attn_q.weight.lora_a'), [4, config.hiddenSize]);
    assert.deepEqual(shapes.get('blk.1.attn_q.weight.lora_b'), [config.numAttentionHeads * config.headDim, 4]);
    assert.deepEqual(shapes.get('blk.0.ffn_down.weight.lora_a'), [4, config.intermediateSize]);
    const pair = adapter.layers[1].k!;
    assert.deepEqual(readGgufTensorF32(bytes, header, 'blk.1.attn_k.weight.lora_a'), pair.a);
    assert.deepEqual(readGgufTensorF32(bytes, header, 'blk.1.attn_k.weight.lora_b'), permuteForLlamaRope(pair.b, pair.outDim, config.numKeyValueHeads));
    assert.notDeepEqual(readGgufTensorF32(bytes, header, 'blk.1.attn_k.weight.lora_b'), pair.b);
    assert.deepEqual(readGgufTensorF32(bytes, header, 'blk.0.ffn_down.weight.lora_b'), adapter.layers[0].down!.b);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const CASES: Array<[string, 'llama' | 'qwen2', LoraOptions]> = [
  ['llama (q/k rows permuted), all targets', 'llama', { rank: 4 }],
  ['qwen2 (biases, tied), rsLoRA on q/v/up', 'qwen2', { rank: 3, alpha: 5, rslora: true, targets: ['q', 'v', 'up'] }],
];

for (const [label, arch, options] of CASES) {
  test(`llama.cpp base GGUF + adapter GGUF give prl's adapter log-probs: ${label}`, async (t) => {
    const hf = tinyModel(tinyConfig(arch), 11);
    const { model, adapter } = adapted(hf, options, 12);
    const dir = mkdtempSync(join(tmpdir(), 'prl-gguf-lora-'));
    try {
      exportGguf(hf, join(dir, 'base.gguf'));
      exportLoraGguf(adapter, hf.config, join(dir, 'adapter.gguf'));
      let policy: LlamaCppPolicy;
      try {
        policy = await LlamaCppPolicy.load({ modelPath: join(dir, 'base.gguf'), lora: join(dir, 'adapter.gguf'), contextSize: 64, threads: 1 });
      } catch (err) {
        t.skip(`node-llama-cpp cannot run here: ${(err as Error).message}`);
        return;
      }
      try {
        const sequence = [1, 10, 11, 12, 40, 3, 30, 31, 20, 21, 22];
        const prompt = sequence.slice(0, 3), continuation = sequence.slice(3);
        const [fromLlamaCpp] = await policy.score([{ prompt, continuation }]);
        const T = sequence.length - 1;
        const logp = model.forward(Int32Array.from(sequence.slice(0, T)), Int32Array.from(sequence.slice(1)), 1, T);
        const ours = Array.from(logp.subarray(prompt.length - 1));
        let worst = 0;
        ours.forEach((lp, i) => (worst = Math.max(worst, Math.abs(lp - fromLlamaCpp[i]))));
        assert.ok(worst < 2e-3, `worst |prl - llama.cpp| = ${worst}`);
        model.adapterEnabled = false;
        const base = Array.from(model.forward(Int32Array.from(sequence.slice(0, T)), Int32Array.from(sequence.slice(1)), 1, T).subarray(prompt.length - 1));
        assert.ok(base.some((lp, i) => Math.abs(lp - fromLlamaCpp[i]) > 1e-2), 'llama.cpp applied the adapter');
      } finally {
        await policy.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
