/**
 * Frozen models and LoRA against full fine-tuning, per preset, measured in one run on one engine:
 * arena bytes of the model (trainable: weights + grads; frozen: weights), of the trainable state
 * (grads + AdamW moments: the whole model's, or a rank-r adapter's), and the median wall time of one
 * training step (forward, backward, AdamW) on a (B, T) batch of random tokens.
 *
 *   node dist/bench/lora.js [--rank 8] [--batch 8] [--seq 64] [--iters 7] [--threads 2]
 */
import { parseArgs } from 'node:util';
import { PRESETS, type PresetName } from '../src/engine/config.js';
import { createEngine } from '../src/engine/kernels/index.js';
import { LoraAdapter } from '../src/engine/lora.js';
import { LlamaModel } from '../src/engine/model.js';
import { AdamW } from '../src/engine/optim.js';
import { Rng } from '../src/util/rng.js';

const { values } = parseArgs({
  options: {
    rank: { type: 'string', default: '8' },
    batch: { type: 'string', default: '8' },
    seq: { type: 'string', default: '64' },
    iters: { type: 'string', default: '7' },
    threads: { type: 'string', default: '2' },
  },
});
const [rank, B, T, iters, threads] = [values.rank, values.batch, values.seq, values.iters, values.threads].map(Number);
const N = B * T;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

for (const preset of ['tiny', 'small'] as PresetName[]) {
  const config = PRESETS[preset];
  const rng = new Rng(0);
  const tokens = Int32Array.from({ length: N }, () => rng.int(config.vocabSize));
  const targets = Int32Array.from({ length: N }, () => rng.int(config.vocabSize));
  const dlogp = new Float32Array(N).fill(-1 / N);

  const engine = await createEngine({ threads });
  let mark = engine.arena.usedBytes;
  const full = new LlamaModel(config, engine.arena, engine.kernels);
  full.initRandom(rng);
  const trainableModelBytes = engine.arena.usedBytes - mark;
  const fullOpt = new AdamW(full, engine.arena, engine.kernels, { lr: 1e-4 });
  mark = engine.arena.usedBytes;
  const base = new LlamaModel(config, engine.arena, engine.kernels, { trainable: false });
  base.initRandom(rng);
  const frozenModelBytes = engine.arena.usedBytes - mark;
  const adapter = new LoraAdapter(config, engine.arena, { rank });
  adapter.initRandom(rng);
  base.attachAdapter(adapter);
  const loraOpt = new AdamW(adapter, engine.arena, engine.kernels, { lr: 1e-4 });

  const fullStep = (): void => {
    full.zeroGrad();
    full.forward(tokens, targets, B, T);
    full.backward(dlogp);
    fullOpt.update();
  };
  const loraStep = (): void => {
    adapter.zeroGrad();
    base.forward(tokens, targets, B, T);
    base.backward(dlogp);
    loraOpt.update();
  };
  // Warm-up steps allocate the activations; then the two alternate, so that load from other processes
  // falls on both alike.
  fullStep();
  loraStep();
  const fullMs: number[] = [];
  const loraMs: number[] = [];
  for (let i = 0; i < iters; i++) {
    for (const [step, ms] of [[fullStep, fullMs], [loraStep, loraMs]] as const) {
      const start = performance.now();
      step();
      ms.push(performance.now() - start);
    }
  }
  await engine.kernels.dispose();
  const fullStateBytes = full.grads.byteLength + 2 * full.weights.byteLength;
  const adapterStateBytes = adapter.grads.byteLength + 2 * adapter.weights.byteLength;

  console.log(
    JSON.stringify({
      name: 'lora',
      preset,
      parameters: full.numParameters,
      adapter_parameters: adapter.parameters().reduce((s, p) => s + p.data.length, 0),
      rank,
      batch: `${B}x${T}`,
      model_bytes_trainable: trainableModelBytes,
      model_bytes_frozen: frozenModelBytes,
      trainable_state_bytes_full: fullStateBytes,
      trainable_state_bytes_lora: adapterStateBytes,
      step_ms_full: +median(fullMs).toFixed(1),
      step_ms_lora: +median(loraMs).toFixed(1),
      threads,
    }),
  );
}
